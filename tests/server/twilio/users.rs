//! Users, user conversations, roles, services and the service tree.

use colloquy::testing::TestServer;
use serde_json::{json, Value};

use super::*;
use crate::util::*;

#[actix_rt::test]
async fn users_and_their_conversations() {
    let server = TestServer::start();
    let tw = Twilio::new(&server);
    let u = tw
        .create(
            "/Users",
            &[
                ("Identity", "una"),
                ("FriendlyName", "Una"),
                ("Attributes", r#"{"t":1}"#),
            ],
        )
        .await;
    let us = u["sid"].as_str().unwrap().to_string();
    assert!(us.starts_with("US") && us.len() == 34);
    assert_eq!(
        (
            u["friendly_name"].as_str(),
            u["attributes"].as_str(),
            u["is_online"].as_bool()
        ),
        (Some("Una"), Some(r#"{"t":1}"#), Some(false))
    );
    refused(tw.post("/Users", &[("Identity", "una")]).await, 409, 50201);
    refused(tw.post("/Users", &[("FriendlyName", "x")]).await, 400, 400);
    assert_eq!(tw.get(&format!("/Users/{us}")).await.1["identity"], "una");
    assert_eq!(tw.get("/Users/una").await.1["sid"], us.as_str());
    let (s, up) = tw.post("/Users/una", &[("FriendlyName", "Una B")]).await;
    assert_eq!(
        (s, up["friendly_name"].as_str(), up["attributes"].as_str()),
        (200, Some("Una B"), Some(r#"{"t":1}"#))
    );
    refused(tw.get("/Users/nobody").await, 404, 20404);
    refused(
        tw.get("/Users/US00000000000000000000000000000000").await,
        404,
        20404,
    );
    not_emulated(tw.delete("/Users/una").await);

    // A socket makes a user known and online.
    let mut ws = Ws::connect(&server, "wes").await;
    let wes = tw.get("/Users/wes").await.1;
    assert_eq!(wes["is_online"], true);
    let users: Vec<Value> = tw
        .all("/Users?PageSize=1")
        .await
        .iter()
        .map(|u| u["identity"].clone())
        .collect();
    assert_eq!(users, [json!("una"), json!("wes")]);

    // Unread counts are exact; the read horizon is the participant's.
    let c = tw.create("/Conversations", &[("UniqueName", "uc")]).await;
    let ch = c["sid"].as_str().unwrap();
    tw.create(
        &format!("/Conversations/{ch}/Participants"),
        &[("Identity", "wes")],
    )
    .await;
    let mut last = 0;
    for i in 0..3 {
        last = tw
            .create(
                &format!("/Conversations/{ch}/Messages"),
                &[("Author", "backend"), ("Body", &format!("b{i}"))],
            )
            .await["index"]
            .as_u64()
            .unwrap();
    }
    ws.ok(json!({"op": "message.send", "conversation": "uc", "body": "mine"}))
        .await;
    let wes_sid = wes["sid"].as_str().unwrap();
    let (s, uc) = tw
        .get(&format!("/Users/{wes_sid}/Conversations/{ch}"))
        .await;
    assert_eq!(s, 200, "{uc}");
    assert_eq!(
        uc["unread_messages_count"], 3,
        "own messages are not unread"
    );
    assert_eq!(uc["conversation_sid"], ch);
    assert_eq!(uc["user_sid"], wes_sid);
    for key in [
        "participant_sid",
        "friendly_name",
        "conversation_state",
        "timers",
        "attributes",
        "date_created",
        "created_by",
        "notification_level",
        "unique_name",
        "url",
        "links",
        "last_read_message_index",
    ] {
        assert!(uc.get(key).is_some(), "{key} missing from {uc}");
    }
    let (s, read) = tw
        .post(
            "/Users/wes/Conversations/uc",
            &[
                ("LastReadMessageIndex", &(last - 1).to_string()),
                ("NotificationLevel", "muted"),
            ],
        )
        .await;
    assert_eq!(s, 200, "{read}");
    assert_eq!(
        (
            read["unread_messages_count"].as_u64(),
            read["notification_level"].as_str()
        ),
        (Some(1), Some("muted"))
    );
    let p = tw
        .get(&format!("/Conversations/{ch}/Participants/wes"))
        .await
        .1;
    assert_eq!(p["last_read_message_index"], last - 1);
    let native = server
        .rest()
        .as_user("wes")
        .get("/v1/conversations/uc")
        .await
        .expect("answers")
        .body;
    assert_eq!(native["unread_messages_count"], 1);
    // …and a horizon set on the participant shows on the user conversation.
    tw.post(
        &format!("/Conversations/{ch}/Participants/wes"),
        &[("LastReadMessageIndex", &last.to_string())],
    )
    .await;
    assert_eq!(
        tw.get(&format!("/Users/wes/Conversations/{ch}")).await.1["unread_messages_count"],
        0
    );
    refused(
        tw.post(
            "/Users/wes/Conversations/uc",
            &[("NotificationLevel", "loud")],
        )
        .await,
        400,
        400,
    );
    let listed = tw.all("/Users/wes/Conversations").await;
    assert_eq!(listed.len(), 1);
    assert_eq!(listed[0]["conversation_sid"], ch);
    refused(
        tw.get(&format!("/Users/una/Conversations/{ch}")).await,
        404,
        20404,
    );

    // ParticipantConversations by identity.
    let pc = tw.all("/ParticipantConversations?Identity=wes").await;
    assert_eq!(pc.len(), 1);
    assert_eq!(
        (
            pc[0]["conversation_sid"].as_str(),
            pc[0]["participant_identity"].as_str()
        ),
        (Some(ch), Some("wes"))
    );

    // Leaving through the user: the socket hears it.
    let (s, _) = tw.delete(&format!("/Users/wes/Conversations/{ch}")).await;
    assert_eq!(s, 204);
    let removed = ws.event_skipping("conversationRemoved").await;
    assert_eq!(removed["data"]["reason"], "left");
    assert!(tw.all("/Users/wes/Conversations").await.is_empty());
}

/// `/Users` lists users in the order the engine came to know them (then by
/// identity, within a millisecond), page after page, each once.
#[actix_rt::test]
async fn users_list_in_the_order_they_came() {
    let server = TestServer::start();
    let tw = Twilio::new(&server);
    let made: Vec<String> = (0..30).map(|i| format!("u{i:02}")).collect();
    for identity in &made {
        tw.create("/Users", &[("Identity", identity)]).await;
    }
    let listed: Vec<String> = tw
        .all("/Users?PageSize=7")
        .await
        .iter()
        .map(|u| u["identity"].as_str().unwrap_or_default().to_string())
        .collect();
    assert_eq!(listed, made);
    let (_, last) = tw.get("/Users?PageSize=7&Page=4").await;
    assert_eq!(last["users"].as_array().map(Vec::len), Some(2));
    assert_eq!(last["meta"]["next_page_url"], Value::Null);
}

/// Makes of one user at once: one is 201, the others 409/50201.
#[actix_rt::test]
async fn one_of_many_makes_of_a_user_at_once_makes_it() {
    let server = TestServer::start();
    let tw = Twilio::new(&server);
    for round in 0..5 {
        let identity = format!("twin{round}");
        let form = [("Identity", identity.as_str())];
        let answers =
            futures_util::future::join_all((0..12).map(|_| tw.post("/Users", &form))).await;
        let made = answers.iter().filter(|(s, _)| *s == 201).count();
        assert_eq!(made, 1, "{answers:?}");
        let refused = answers
            .iter()
            .filter(|(s, b)| *s == 409 && b["code"] == 50201);
        assert_eq!(refused.count(), 11, "{answers:?}");
    }
}

#[actix_rt::test]
async fn roles_services_and_the_service_tree() {
    let server = TestServer::start();
    let tw = Twilio::new(&server);
    let roles = tw.all("/Roles").await;
    let names: Vec<&str> = roles
        .iter()
        .map(|r| r["friendly_name"].as_str().unwrap())
        .collect();
    assert_eq!(
        names,
        [
            "channel admin",
            "channel user",
            "service admin",
            "service user"
        ]
    );
    let admin = roles[0]["sid"].as_str().unwrap();
    assert!(admin.starts_with("RL"));
    let (s, r) = tw.get(&format!("/Roles/{admin}")).await;
    assert_eq!((s, r["type"].as_str()), (200, Some("conversation")));
    assert!(r["permissions"].as_array().is_some_and(|p| !p.is_empty()));
    not_emulated(
        tw.post(
            "/Roles",
            &[
                ("FriendlyName", "x"),
                ("Type", "conversation"),
                ("Permission", "sendMessage"),
            ],
        )
        .await,
    );
    not_emulated(
        tw.post(&format!("/Roles/{admin}"), &[("Permission", "sendMessage")])
            .await,
    );
    not_emulated(tw.delete(&format!("/Roles/{admin}")).await);

    let services = tw.all("/Services").await;
    assert_eq!(services.len(), 1);
    let is = services[0]["sid"].as_str().unwrap().to_string();
    assert!(is.starts_with("IS"));
    assert_eq!(
        tw.get(&format!("/Services/{is}")).await.1["sid"],
        is.as_str()
    );
    not_emulated(tw.post("/Services", &[("FriendlyName", "x")]).await);

    // The same tree under the default service, with URLs under it.
    let tree = format!("/Services/{is}");
    let c = tw
        .create(&format!("{tree}/Conversations"), &[("UniqueName", "svc")])
        .await;
    assert_eq!(c["chat_service_sid"], is.as_str());
    assert!(c["url"].as_str().unwrap().contains(&tree), "{}", c["url"]);
    let ch = c["sid"].as_str().unwrap();
    assert_eq!(
        tw.get(&format!("/Conversations/{ch}")).await.0,
        200,
        "one service: both trees see it"
    );
    tw.create(
        &format!("{tree}/Conversations/{ch}/Participants"),
        &[("Identity", "sam")],
    )
    .await;
    tw.create(
        &format!("{tree}/Conversations/{ch}/Messages"),
        &[("Author", "sam"), ("Body", "hi")],
    )
    .await;
    assert_eq!(
        tw.all(&format!("{tree}/Conversations/{ch}/Messages?PageSize=1"))
            .await
            .len(),
        1
    );
    assert_eq!(tw.get(&format!("{tree}/Users/sam")).await.0, 200);
    assert_eq!(tw.all(&format!("{tree}/Roles")).await.len(), 4);
    assert_eq!(tw.get(&format!("{tree}/Configuration")).await.0, 200);
    assert_eq!(
        tw.get(&format!("{tree}/Bindings")).await.1["bindings"],
        json!([])
    );
    refused(
        tw.get(&format!(
            "/Services/IS00000000000000000000000000000000/Conversations/{ch}"
        ))
        .await,
        404,
        20404,
    );
    refused(
        tw.get("/Services/IS00000000000000000000000000000000").await,
        404,
        20404,
    );

    let (s, conf) = tw.get("/Configuration").await;
    assert_eq!(
        (s, conf["default_chat_service_sid"].as_str()),
        (200, Some(is.as_str()))
    );
    not_emulated(
        tw.post("/Configuration", &[("DefaultInactiveTimer", "PT1H")])
            .await,
    );
    assert_eq!(tw.get("/Credentials").await.1["credentials"], json!([]));
    not_emulated(tw.post("/Credentials", &[("Type", "apn")]).await);
    assert_eq!(
        tw.get(&format!("/Conversations/{ch}/Webhooks")).await.1["webhooks"],
        json!([])
    );
    not_emulated(
        tw.post(
            &format!("/Conversations/{ch}/Webhooks"),
            &[("Target", "webhook")],
        )
        .await,
    );
    not_emulated(tw.get("/AddressConfigurations").await);
    not_emulated(tw.get("/Nowhere/At/All").await);
}
