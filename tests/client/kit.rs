use colloquy::testing::TestServer;
use serde_json::json;

use crate::*;

#[tokio::test]
async fn rest_helper_as_service_and_as_user() {
    let server = TestServer::start();
    let rest = server.rest();
    let c = rest
        .as_user("alice")
        .post("/v1/conversations", json!({"friendly_name": "x"}))
        .await
        .unwrap();
    assert_eq!(
        (c.status, c.body["created_by"].as_str()),
        (201, Some("alice"))
    );
    let all = rest.as_service().get("/v1/conversations").await.unwrap();
    assert_eq!(all.body["items"].as_array().unwrap().len(), 1);
    let gone = rest
        .delete(&format!(
            "/v1/conversations/{}",
            c.body["id"].as_str().unwrap()
        ))
        .await
        .unwrap();
    assert_eq!((gone.status, gone.body), (204, serde_json::Value::Null));
}

#[tokio::test]
async fn builder_admin_key_is_sent_by_the_rest_helper() {
    let server = TestServer::builder().admin_key("k").start();
    assert_eq!(
        server.rest().get("/v1/conversations").await.unwrap().status,
        200
    );
    assert_eq!(
        server
            .rest()
            .admin_key(None)
            .get("/v1/conversations")
            .await
            .unwrap()
            .status,
        401
    );
}

#[tokio::test]
async fn builder_jwt_secret_and_connect_mints_tokens() {
    let server = TestServer::builder().jwt_secret("secret").start();
    let alice = server.connect("alice").await.unwrap();
    assert_eq!(alice.ready().identity, "alice");
    assert!(server.token("bob").unwrap().split('.').count() == 3);
}

#[tokio::test]
async fn builder_typing_timeout() {
    let server = TestServer::builder().typing_timeout_ms(50).start();
    let alice = server.connect("alice").await.unwrap();
    let bob = server.connect("bob").await.unwrap();
    let id = group(&alice).await;
    let mut events = bob.conversation(&id).subscribe().await.unwrap();
    alice.conversation(&id).typing().start().await.unwrap();
    let t0 = std::time::Instant::now();
    assert!(matches!(
        next(&mut events).await.kind,
        colloquy::client::EventKind::TypingStarted { .. }
    ));
    assert!(matches!(
        next(&mut events).await.kind,
        colloquy::client::EventKind::TypingEnded { .. }
    ));
    assert!(t0.elapsed() < std::time::Duration::from_secs(2));
}

#[actix_rt::test]
async fn works_under_actix_rt_too() {
    let server = TestServer::start();
    let alice = server.connect("alice").await.unwrap();
    alice.ping().await.unwrap();
    assert_eq!(alice.ready().data["heartbeat_ms"], 25_000);
}

#[test]
fn works_from_a_plain_test() {
    let server = TestServer::start();
    let rt = tokio::runtime::Runtime::new().unwrap();
    rt.block_on(async { server.connect("alice").await.unwrap().ping().await.unwrap() });
}
