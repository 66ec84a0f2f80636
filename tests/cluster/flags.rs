//! The single node's flags, on every node.

use std::time::{Duration, Instant};

use colloquy::client::{Client, ClientConfig, ClientEvent, EventKind};
use colloquy::testing::Rest;
use serde_json::json;

use super::harness::*;
use super::ONE_AT_A_TIME;

/// The single node's flags work the same on every node of a cluster: REST
/// wants the admin key, a token minted on one node opens a session on
/// another, `?identity=` alone opens none, and typing ends after
/// `--typing-timeout-ms` (not the default 5 s) on a node other than the
/// typist's.
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
    let typing = |started: bool| {
        move |e: &ClientEvent| match (&e.kind, started) {
            (EventKind::TypingStarted { identity }, true)
            | (EventKind::TypingEnded { identity }, false) => {
                (identity.as_str() == "alice").then_some(())
            }
            _ => None,
        }
    };
    let wait = Duration::from_secs(10);
    expect(&mut bobs, wait, "typingStarted", typing(true)).await;
    let started = Instant::now();
    expect(&mut bobs, wait, "typingEnded", typing(false)).await;
    assert!(
        started.elapsed() < Duration::from_secs(3),
        "typing ended after {:?}: not the 300 ms given",
        started.elapsed()
    );
}
