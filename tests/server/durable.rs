//! `TestServer` with a data dir: what REST created is there after a restart,
//! and a resent `client_id` still answers 200 with the first message.

use colloquy::testing::TestServer;
use serde_json::json;

#[tokio::test]
async fn a_test_server_on_a_data_dir_keeps_what_it_acknowledged() {
    let dir = tempfile::tempdir().expect("temp dir");
    let (conv, first) = {
        let server = TestServer::builder().data_dir(dir.path()).start();
        let rest = server.rest().as_user("alice");
        let c = rest
            .post("/v1/conversations", json!({"friendly_name": "kept"}))
            .await
            .expect("create");
        assert_eq!(c.status, 201);
        let id = c.body["id"].as_str().expect("id").to_string();
        let m = rest
            .post(
                &format!("/v1/conversations/{id}/messages"),
                json!({"body": "hello", "client_id": "c-1"}),
            )
            .await
            .expect("send");
        assert_eq!(m.status, 201);
        (id, m.body)
    };
    let server = TestServer::builder().data_dir(dir.path()).start();
    let rest = server.rest().as_user("alice");
    let got = rest
        .get(&format!("/v1/conversations/{conv}/messages/0"))
        .await
        .expect("get");
    assert_eq!((got.status, &got.body["id"]), (200, &first["id"]));
    let again = rest
        .post(
            &format!("/v1/conversations/{conv}/messages"),
            json!({"body": "hello", "client_id": "c-1"}),
        )
        .await
        .expect("resend");
    assert_eq!((again.status, &again.body["id"]), (200, &first["id"]));
}
