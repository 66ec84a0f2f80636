//! The single node's flags, on every node.

use std::time::{Duration, Instant};

use colloquy::client::{Client, ClientConfig};
use colloquy::testing::Rest;
use reqwest::Method;
use serde_json::json;

use super::harness::*;
use super::ONE_AT_A_TIME;

/// The single node's flags work the same on every node of a cluster: REST
/// wants the admin key, a token minted on one node opens a session on
/// another, `?identity=` alone opens none, typing ends after
/// `--typing-timeout-ms` (not the default 5 s) on a node other than the
/// typist's, and the Twilio face wants its account on every node and sees
/// what another node's face wrote.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_single_node_flags_hold_on_every_node() {
    let _one = ONE_AT_A_TIME.lock().await;
    let nats = Nats::start();
    let flags = [
        "--jwt-secret",
        "the cluster's secret",
        "--admin-key",
        "the cluster's key",
        "--typing-timeout-ms",
        "300",
        "--twilio-account-sid",
        TWILIO_SID,
        "--twilio-auth-token",
        "the cluster's token",
    ];
    let (a, b) = (node_with(&nats, "a", &flags), node_with(&nats, "b", &flags));
    let mint = |at: &Node, key: Option<&'static str>, who: &str| {
        let rest = Rest::new(&at.url).admin_key(key);
        let body = json!({"identity": who});
        async move { rest.post("/v1/tokens", body).await.expect("answered") }
    };
    for node in [&a, &b] {
        let refused = mint(node, None, "mallory").await;
        assert_eq!(refused.status, 401, "{}", refused.body);
        assert_eq!(refused.body["error"]["code"], "unauthorized");
    }
    let token = |at: &Node, who: &str| {
        let minted = mint(at, Some("the cluster's key"), who);
        async move {
            let minted = minted.await;
            assert_eq!(minted.status, 200, "{}", minted.body);
            minted.body["token"].as_str().expect("a token").to_string()
        }
    };
    let session = |on: &Node, token: Option<String>| {
        let mut config = ClientConfig::new(&on.url).reconnect(false);
        config = match &token {
            Some(t) => config.token(t),
            None => config.identity("mallory"),
        };
        Client::connect(config)
    };
    let alice = session(&a, Some(token(&b, "alice").await))
        .await
        .expect("alice on a, with a token from b");
    let bob = session(&b, Some(token(&a, "bob").await))
        .await
        .expect("bob on b, with a token from a");
    assert!(
        session(&b, None).await.is_err(),
        "?identity= alone opened a session"
    );

    let created = alice
        .request_json(json!({"op": "conversation.create", "participants": ["bob"]}))
        .await
        .expect("created");
    let cid = created["id"].as_str().expect("an id").to_string();
    let mut bobs = bob.subscribe();
    alice
        .request_json(json!({"op": "typing.start", "conversation": cid}))
        .await
        .expect("typing");
    let wait = Duration::from_secs(10);
    let typist = expect(&mut bobs, wait, "typingStarted", typing(true)).await;
    assert_eq!(typist, "alice");
    let started = Instant::now();
    let typist = expect(&mut bobs, wait, "typingEnded", typing(false)).await;
    assert_eq!(typist, "alice");
    assert!(
        started.elapsed() < Duration::from_secs(3),
        "typing ended after {:?}: not the 300 ms given",
        started.elapsed()
    );

    // The Twilio face: its account on every node; a conversation made on a
    // (listed on b), a participant added on b (in carol's list on a), a
    // message posted on a by its unique name, all read back on b.
    let twilio = |on: &Node, password: &str, method: Method, path: &str, form: &str| {
        let request = reqwest::Client::new()
            .request(method, format!("{}/twilio/conversations/v1{path}", on.url))
            .basic_auth(TWILIO_SID, Some(password))
            .header("Content-Type", "application/x-www-form-urlencoded")
            .body(form.to_string());
        async move {
            let r = request.send().await.expect("answered");
            let status = r.status().as_u16();
            (status, r.json::<serde_json::Value>().await.expect("JSON"))
        }
    };
    let token = "the cluster's token";
    for node in [&a, &b] {
        let (status, _) = twilio(node, "wrong", Method::GET, "/Conversations", "").await;
        assert_eq!(status, 401, "a wrong auth token on {}", node.url);
    }
    let form = "FriendlyName=Support&UniqueName=support";
    let (status, made) = twilio(&a, token, Method::POST, "/Conversations", form).await;
    assert_eq!(status, 201, "{made}");
    let sid = made["sid"].as_str().expect("a sid");
    let (status, read) = twilio(&b, token, Method::GET, &format!("/Conversations/{sid}"), "").await;
    assert_eq!(
        (status, &read["unique_name"]),
        (200, &json!("support")),
        "{read}"
    );
    let records = |list: &serde_json::Value| list["conversations"].as_array().cloned();
    // Lists wait for the log too: what a made is listed on b at once.
    let (status, listed) = twilio(&b, token, Method::GET, "/Conversations", "").await;
    assert_eq!(status, 200, "{listed}");
    let all = records(&listed).unwrap_or_default();
    assert!(all.iter().any(|c| c["sid"] == sid), "{listed}");
    let path = format!("/Conversations/{sid}/Participants");
    let (status, p) = twilio(&b, token, Method::POST, &path, "Identity=carol").await;
    assert_eq!(status, 201, "{p}");
    let (_, carols) = twilio(&a, token, Method::GET, "/Users/carol/Conversations", "").await;
    let theirs = records(&carols).unwrap_or_default();
    let theirs: Vec<_> = theirs.iter().map(|c| &c["conversation_sid"]).collect();
    assert_eq!(theirs, [&json!(sid)], "{carols}");
    let form = "Author=carol&Body=hello+from+a";
    let path = "/Conversations/support/Messages";
    let (status, m) = twilio(&a, token, Method::POST, path, form).await;
    assert_eq!(status, 201, "{m}");
    let (status, listed) = twilio(
        &b,
        token,
        Method::GET,
        &format!("/Conversations/{sid}/Messages"),
        "",
    )
    .await;
    assert_eq!(status, 200, "{listed}");
    let bodies: Vec<_> = listed["messages"]
        .as_array()
        .expect("messages")
        .iter()
        .map(|m| (m["author"].clone(), m["body"].clone()))
        .collect();
    assert_eq!(bodies, vec![(json!("carol"), json!("hello from a"))]);
}

/// Any account sid of Twilio's form: `AC` and 32 hex digits.
const TWILIO_SID: &str = "AC00112233445566778899aabbccddeeff";
