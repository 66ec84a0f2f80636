//! The realtime mapping over a real WebSocket, and credentials in every mode.

use colloquy::testing::TestServer;
use serde_json::{json, Value};

use super::*;
use crate::util::*;

#[actix_rt::test]
async fn every_change_arrives_live_on_the_socket_and_back() {
    let server = TestServer::start();
    let tw = Twilio::new(&server);
    let mut ws = Ws::connect(&server, "wendy").await;
    let c = tw.create("/Conversations", &[("UniqueName", "live")]).await;
    let ch = c["sid"].as_str().unwrap().to_string();
    let id = uuid_of(&ch);
    let p = tw
        .create(
            &format!("/Conversations/{ch}/Participants"),
            &[("Identity", "wendy")],
        )
        .await;
    let added = ws.event_skipping("conversationAdded").await;
    assert_eq!(added["data"]["id"], id);

    let m = tw
        .create(
            &format!("/Conversations/{ch}/Messages"),
            &[
                ("Author", "bot"),
                ("Body", "hello"),
                ("Attributes", r#"{"a":[1]}"#),
            ],
        )
        .await;
    let live = loop {
        // Adding wendy after creation logged her join first.
        let e = ws.event_skipping("messageAdded").await;
        if e["data"]["subtype"] == "chat" {
            break e["data"].clone();
        }
    };
    assert_eq!(live["id"], uuid_of(m["sid"].as_str().unwrap()));
    assert_eq!(
        (
            live["index"].clone(),
            live["body"].clone(),
            live["author"].clone()
        ),
        (m["index"].clone(), json!("hello"), json!("bot"))
    );
    assert_eq!(
        live["attributes"],
        json!({"a": [1]}),
        "parsed JSON on the socket"
    );

    let msid = m["sid"].as_str().unwrap();
    tw.post(
        &format!("/Conversations/{ch}/Messages/{msid}"),
        &[("Body", "hello!")],
    )
    .await;
    let upd = ws.event_skipping("messageUpdated").await;
    assert!(upd["data"]["update_reasons"]
        .as_array()
        .unwrap()
        .contains(&json!("body")));
    tw.delete(&format!("/Conversations/{ch}/Messages/{msid}"))
        .await;
    assert_eq!(
        ws.event_skipping("messageRemoved").await["data"]["id"],
        uuid_of(msid)
    );
    tw.post(&format!("/Conversations/{ch}"), &[("FriendlyName", "Live")])
        .await;
    let cu = ws.event_skipping("conversationUpdated").await;
    assert!(cu["data"]["update_reasons"]
        .as_array()
        .unwrap()
        .contains(&json!("friendly_name")));
    let admin = tw.all("/Roles").await[0]["sid"]
        .as_str()
        .unwrap()
        .to_string();
    tw.post(
        &format!(
            "/Conversations/{ch}/Participants/{}",
            p["sid"].as_str().unwrap()
        ),
        &[("RoleSid", &admin)],
    )
    .await;
    let pu = ws.event_skipping("participantUpdated").await;
    assert!(pu["data"]["update_reasons"]
        .as_array()
        .unwrap()
        .contains(&json!("role")));

    // The socket's message is in the list at once, with its participant sid.
    let own = ws
        .ok(json!({"op": "message.send", "conversation": id, "body": "from the socket"}))
        .await;
    let listed = tw.all(&format!("/Conversations/{ch}/Messages")).await;
    let back = listed
        .iter()
        .find(|m| m["body"] == "from the socket")
        .expect("listed");
    assert_eq!(
        (
            back["index"].clone(),
            back["author"].clone(),
            back["participant_sid"].clone()
        ),
        (own["index"].clone(), json!("wendy"), p["sid"].clone())
    );

    tw.delete(&format!("/Conversations/{ch}/Participants/wendy"))
        .await;
    let removed = ws.event_skipping("conversationRemoved").await;
    assert_eq!(
        (
            removed["data"]["id"].as_str(),
            removed["data"]["reason"].as_str()
        ),
        (Some(id.as_str()), Some("removed"))
    );
}

#[actix_rt::test]
async fn credentials_are_checked_first_in_every_mode() {
    let wrong = |tw: &Twilio| Twilio {
        base: tw.base.clone(),
        http: tw.http.clone(),
        user: tw.user.clone(),
        password: "wrong".into(),
    };
    // Account mode: the configured sid and token only.
    let server = TestServer::builder().twilio_account(SID, "secret").start();
    let good = Twilio::with(&server, SID, "secret");
    assert_eq!(good.create("/Conversations", &[]).await["account_sid"], SID);
    refused(wrong(&good).get("/Conversations").await, 401, 20003);
    refused(wrong(&good).get("/Nowhere").await, 401, 20003);
    refused(
        wrong(&good)
            .get("/Conversations/CH00000000000000000000000000000000")
            .await,
        401,
        20003,
    );
    refused(
        Twilio::with(&server, "AC0000000000000000000000000000000f", "secret")
            .get("/Conversations")
            .await,
        401,
        20003,
    );
    let (s, _) = reqwest::get(format!("{}/Conversations", good.base))
        .await
        .map(|r| (r.status().as_u16(), ()))
        .unwrap();
    assert_eq!(s, 401, "no credentials at all");

    // Admin-key mode: the key is the password, any AC… user.
    let server = TestServer::builder().admin_key("key").start();
    let other = "ACffffffffffffffffffffffffffffffff";
    let tw = Twilio::with(&server, other, "key");
    assert_eq!(
        tw.create("/Conversations", &[]).await["account_sid"],
        other,
        "the caller's sid is echoed"
    );
    refused(
        Twilio::with(&server, other, "nope")
            .get("/Conversations")
            .await,
        401,
        20003,
    );
    refused(
        Twilio::with(&server, "someone", "key")
            .get("/Conversations")
            .await,
        401,
        20003,
    );

    // Dev mode: anything, even nothing; a non-sid user gets the zero sid.
    let server = TestServer::start();
    let (s, body) = reqwest::Client::new()
        .post(format!(
            "{}/twilio/conversations/v1/Conversations",
            server.url()
        ))
        .send()
        .await
        .map(|r| (r.status().as_u16(), r))
        .unwrap();
    assert_eq!(s, 201);
    let body: Value = body.json().await.unwrap();
    assert_eq!(body["account_sid"], "AC00000000000000000000000000000000");
    let metrics = reqwest::get(format!("{}/metrics", server.url()))
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    assert!(
        metrics.contains("colloquy_twilio_requests_total 1\n"),
        "{metrics}"
    );
}
