use super::*;

#[test]
fn parses_ops_and_keeps_id() {
    let (id, req) =
        parse_request(br#"{"id":7,"op":"message.send","conversation":"c","body":"hi","extra":1}"#)
            .unwrap();
    assert_eq!(id.unwrap().get(), "7");
    assert!(
        matches!(req, Request::MessageSend(SendMessage { body: Some(ref b), .. }) if b == "hi")
    );
    let (_, req) = parse_request(br#"{"op":"ping"}"#).unwrap();
    assert!(matches!(req, Request::Ping {}));
}

#[test]
fn bad_frames_are_bad_requests() {
    for bad in [
        &br#"nope"#[..],
        br#"[1]"#,
        br#"{"id":1}"#,
        br#"{"id":1,"op":"nope"}"#,
        br#"{"id":1,"op":5}"#,
        br#"{"id":"x","op":"read.advance","conversation":"c","index":"a"}"#,
    ] {
        let (_, e) = parse_request(bad).unwrap_err();
        assert_eq!(
            e.code(),
            crate::error::ErrorCode::BadRequest,
            "{:?}",
            std::str::from_utf8(bad)
        );
    }
    let (id, _) = parse_request(br#"{"id":"x","op":"nope"}"#).unwrap_err();
    assert_eq!(id.unwrap().get(), r#""x""#);
}

#[test]
fn ids_are_echoed_exactly() {
    for id in [
        "123456789012345678901234567890",
        "-1.50",
        "1e300",
        r#""a\"b""#,
        "18446744073709551617",
    ] {
        let text = format!(r#"{{"id":{id},"op":"ping"}}"#);
        let (re, _) = parse_request(text.as_bytes()).unwrap();
        let answer = encode_answer(&re, &Ok(Reply::Pong { pong: true }));
        assert!(
            answer.starts_with(&format!(r#"{{"re":{id},"ok":true"#)),
            "{answer}"
        );
    }
    for not_an_id in [
        r#"{"id":null,"op":"ping"}"#,
        r#"{"id":[1],"op":"ping"}"#,
        "[1]",
    ] {
        assert!(request_id(not_an_id.as_bytes()).is_none(), "{not_an_id}");
    }
    // An id of another type is a field of the wrong type: refused, `re` null,
    // and the op does not run. A null id is no id.
    for wrong in [
        r#"{"id":{"a":1},"op":"ping"}"#,
        r#"{"id":[1],"op":"ping"}"#,
        r#"{"id":true,"op":"ping"}"#,
    ] {
        let (re, e) = parse_request(wrong.as_bytes()).unwrap_err();
        assert!(re.is_none(), "{wrong}");
        assert_eq!(e.code(), crate::error::ErrorCode::BadRequest, "{wrong}");
    }
    let (re, _) = parse_request(br#"{"id":null,"op":"ping"}"#).unwrap();
    assert!(re.is_none());
    let answer = encode_answer(&None, &Err(Error::bad("no")));
    assert!(
        answer.starts_with(r#"{"re":null,"ok":false,"error":{"#),
        "{answer}"
    );
}

/// The direct parse and the one through a `Value` read every request alike.
#[test]
fn direct_parse_reads_as_the_value_one() {
    for text in [
        r#"{"op":"ping","id":1}"#,
        r#"{"op":"conversation.create","friendly_name":"a\u00e9\"b","attributes":{"x":[1,2.5,{"y":null}]},"metadata":{"k":"v"},"participants":["bob"]}"#,
        r#"{"op":"conversation.update","conversation":"c","unique_name":null,"avatar_url":"u"}"#,
        r#"{"op":"conversation.list","page_size":5,"cursor":"z"}"#,
        r#"{"op":"participant.add","conversation":"c","identity":"bob","role":"admin","attributes":{}}"#,
        r#"{"op":"message.send","conversation":"c","body":"hi","client_id":"k","reply_to":3,"media":[{"content_type":"image/png","data":"AA=="}]}"#,
        r#"{"op":"message.edit","conversation":"c","message":"m1","body":"b"}"#,
        r#"{"op":"message.list","conversation":"c","anchor":7,"page_size":2,"direction":"forward","since":1500}"#,
        r#"{"op":"reaction.add","conversation":"c","message":0,"reaction":"\ud83d\ude00"}"#,
        r#"{"op":"read.advance","conversation":"c","index":18446744073709551615}"#,
        r#"{"op":"events.replay","conversation":"c","since_seq":1}"#,
        r#"{"op":"presence.get","identities":["a","b"]}"#,
        r#"{"op":"user.update","friendly_name":"x","attributes":{"deep":{"a":[true,false]}}}"#,
    ] {
        let direct = parse_request(text.as_bytes()).map(|(_, r)| format!("{r:?}"));
        assert!(direct.is_ok(), "{text}: {:?}", direct.map_err(|e| e.1));
        let value: Value = serde_json::from_str(text).unwrap();
        let via_value = Request::from_json(&value).map(|r| format!("{r:?}"));
        assert_eq!(
            direct.map_err(|(_, e)| e.to_string()),
            via_value.map_err(|e| e.to_string()),
            "{text}"
        );
    }
    // A key written twice is read as its last value, as before.
    let (_, req) =
        parse_request(br#"{"op":"message.send","conversation":"a","conversation":"b","body":"x"}"#)
            .unwrap();
    assert!(
        matches!(req, Request::MessageSend(SendMessage { ref conversation, .. }) if conversation == "b")
    );
    // A tagged array is not a request.
    assert!(parse_request(br#"["ping"]"#).is_err());
}

#[test]
fn absent_and_null_differ() {
    let (_, req) =
        parse_request(br#"{"op":"conversation.update","conversation":"c","unique_name":null}"#)
            .unwrap();
    let Request::ConversationUpdate(u) = req else {
        panic!()
    };
    assert_eq!(u.unique_name, Some(None));
    assert_eq!(u.friendly_name, None);
}

#[test]
fn message_ref_forms() {
    for index in ["3", "3.0"] {
        let text = format!(r#"{{"op":"message.get","conversation":"c","message":{index}}}"#);
        let (_, req) = parse_request(text.as_bytes()).unwrap();
        assert!(matches!(
            req,
            Request::MessageGet {
                message: MessageRef::Index(3),
                ..
            }
        ));
    }
    for bad in ["3.5", "-1", "true", "null"] {
        let text = format!(r#"{{"op":"message.get","conversation":"c","message":{bad}}}"#);
        assert!(parse_request(text.as_bytes()).is_err(), "{bad}");
    }
    let (_, req) =
        parse_request(br#"{"op":"message.get","conversation":"c","message":"abc"}"#).unwrap();
    assert!(matches!(
        req,
        Request::MessageGet {
            message: MessageRef::Id(_),
            ..
        }
    ));
}

#[test]
fn event_frames_are_laid_out_as_the_contract_shows_and_know_where_data_starts() {
    let c = crate::model::ConversationId(uuid::Uuid::nil());
    let data = serde_json::json!({"a": "x\"y", "n": [1, 2]});
    let (f, at) = encode::encode_event_at("messageAdded", Some(c), Some(7), &data);
    assert_eq!(
        f.as_str(),
        r#"{"event":"messageAdded","conversation":"00000000-0000-0000-0000-000000000000","seq":7,"data":{"a":"x\"y","n":[1,2]}}"#
    );
    assert_eq!(
        encode::event_data(&f, at),
        Some(&serde_json::to_vec(&data).unwrap()[..])
    );
    let data_bytes = encode::event_data(&f, at).unwrap();
    let again = encode::event_around("messageAdded", Some(c), Some(7), data_bytes);
    assert_eq!(
        again.map(|(g, a)| (g.as_str().to_string(), a)),
        Some((f.as_str().to_string(), at))
    );
    assert!(encode::event_around("messageAdded", Some(c), Some(7), b"\xff").is_none());
    let personal = encode_event(
        "userStatus",
        None,
        None,
        &serde_json::json!({"online": true}),
    );
    assert_eq!(
        personal.as_str(),
        r#"{"event":"userStatus","data":{"online":true}}"#
    );
    let about = encode_event("typingStarted", Some(c), None, &1);
    assert_eq!(
        about.as_str(),
        r#"{"event":"typingStarted","conversation":"00000000-0000-0000-0000-000000000000","data":1}"#
    );
}

/// What an op can change decides where a cluster runs it and with what.
#[test]
fn each_op_says_what_it_can_change() {
    let req = |v: serde_json::Value| Request::from_json(&v).expect("an op");
    let reads = req(serde_json::json!({"op": "message.list", "conversation": "c"}));
    assert!(!reads.changes_state());
    assert_eq!(reads.confined_to(), None);
    for confined in [
        serde_json::json!({"op": "message.send", "conversation": "c", "body": "hi"}),
        serde_json::json!({"op": "reaction.add", "conversation": "c", "message": 0, "reaction": "x"}),
        serde_json::json!({"op": "typing.start", "conversation": "c"}),
        serde_json::json!({"op": "typing.stop", "conversation": "c"}),
        serde_json::json!({"op": "read.advance", "conversation": "c", "index": 1}),
    ] {
        let op = req(confined.clone());
        assert!(op.changes_state(), "{confined}");
        let typing = confined["op"]
            .as_str()
            .is_some_and(|o| o.starts_with("typing."));
        assert_eq!(op.is_signal(), typing, "{confined}");
        let moved = op.signal_in("id".into());
        assert_eq!(moved.is_some(), typing, "{confined}");
        if let Some(moved) = moved {
            assert_eq!(moved.confined_to().map(String::as_str), Some("id"));
            assert_eq!(moved.is_signal(), typing);
        }
        assert_eq!(
            op.confined_to().map(String::as_str),
            Some("c"),
            "{confined}"
        );
    }
    for beyond in [
        serde_json::json!({"op": "conversation.create"}),
        serde_json::json!({"op": "conversation.update", "conversation": "c", "unique_name": "n"}),
        serde_json::json!({"op": "participant.add", "conversation": "c", "identity": "bob"}),
        serde_json::json!({"op": "reaction.remove", "reaction": "r"}),
        serde_json::json!({"op": "user.update", "friendly_name": "B"}),
    ] {
        let op = req(beyond.clone());
        assert!(op.changes_state(), "{beyond}");
        assert!(!op.is_signal(), "{beyond}");
        assert_eq!(op.confined_to(), None, "{beyond}");
    }
}
