//! Who may connect: dev mode, JWTs, the admin key.

use colloquy::server::ServerConfig;
use colloquy::testing::TestServer;
use colloquy::Config;
use serde_json::json;

use crate::util::*;

fn jwt_server() -> TestServer {
    TestServer::with(
        Config::for_tests(),
        ServerConfig {
            jwt_secret: Some("test-secret".into()),
            workers: Some(1),
            ..ServerConfig::default()
        },
    )
}

async fn http_status(url: &str) -> (u16, serde_json::Value) {
    let mut res = awc::Client::new()
        .get(url)
        .insert_header(("Upgrade", "websocket"))
        .send()
        .await
        .expect("http");
    let body = res.body().await.expect("body");
    (
        res.status().as_u16(),
        serde_json::from_slice(&body).unwrap_or_default(),
    )
}

#[actix_rt::test]
async fn dev_mode_needs_a_valid_identity_before_the_upgrade() {
    let server = TestServer::start();
    let base = format!("ws://{}/v1/ws", server.addr());
    assert_eq!(
        connect_url(&base, None).await.err().map(|r| r.status),
        Some(401)
    );
    assert_eq!(
        connect_url(&format!("{base}?identity="), None)
            .await
            .err()
            .map(|r| r.status),
        Some(400)
    );
    let long = "x".repeat(300);
    assert_eq!(
        connect_url(&format!("{base}?identity={long}"), None)
            .await
            .err()
            .map(|r| r.status),
        Some(400)
    );
    assert_eq!(
        connect_url(&format!("{base}?identity=a%07b"), None)
            .await
            .err()
            .map(|r| r.status),
        Some(400)
    );
    let (status, body) = http_status(&format!("{}/v1/ws", server.url())).await;
    assert_eq!(status, 401);
    assert_eq!(body["error"]["code"], "unauthorized");
    let ok = connect_url(&format!("{base}?identity=alice%20smith"), None)
        .await
        .unwrap();
    assert_eq!(ok.ready["data"]["identity"], "alice smith");
}

#[actix_rt::test]
async fn jwt_mode_takes_tokens_and_refuses_everything_else() {
    let server = jwt_server();
    let rest = Rest::new(&server);
    let (status, t) = rest
        .post(
            "/v1/tokens",
            None,
            json!({"identity": "alice", "ttl_s": 60}),
        )
        .await;
    assert_eq!(status, 200);
    let token = t["token"].as_str().unwrap().to_string();
    let base = format!("ws://{}/v1/ws", server.addr());
    let ws = connect_url(&format!("{base}?token={token}"), None)
        .await
        .unwrap();
    assert_eq!(ws.ready["data"]["identity"], "alice");
    let ws = connect_url(&base, Some(&token)).await.unwrap();
    assert_eq!(ws.ready["data"]["identity"], "alice");

    // In JWT mode ?identity= is not trusted.
    assert_eq!(
        connect_url(&format!("{base}?identity=alice"), None)
            .await
            .err()
            .map(|r| r.status),
        Some(401)
    );
    // A bad signature.
    let mut forged = token.clone();
    forged.pop();
    forged.push(if token.ends_with('A') { 'B' } else { 'A' });
    assert_eq!(
        connect_url(&format!("{base}?token={forged}"), None)
            .await
            .err()
            .map(|r| r.status),
        Some(401)
    );
    // alg: none.
    use base64::engine::general_purpose::URL_SAFE_NO_PAD;
    use base64::Engine as _;
    let exp = colloquy::model::now_ms() / 1000 + 600;
    let none = format!(
        "{}.{}.",
        URL_SAFE_NO_PAD.encode(br#"{"alg":"none","typ":"JWT"}"#),
        URL_SAFE_NO_PAD.encode(format!(r#"{{"sub":"alice","exp":{exp}}}"#))
    );
    assert_eq!(
        connect_url(&format!("{base}?token={none}"), None)
            .await
            .err()
            .map(|r| r.status),
        Some(401)
    );
    // Expired beyond the 5 s leeway, and without exp at all.
    let sign = |claims: serde_json::Value| {
        let key = jsonwebtoken::EncodingKey::from_secret(b"test-secret");
        jsonwebtoken::encode(
            &jsonwebtoken::Header::new(jsonwebtoken::Algorithm::HS256),
            &claims,
            &key,
        )
        .unwrap()
    };
    let expired = sign(json!({"sub": "alice", "exp": exp - 3600}));
    assert_eq!(
        connect_url(&format!("{base}?token={expired}"), None)
            .await
            .err()
            .map(|r| r.status),
        Some(401)
    );
    let no_exp = sign(json!({"sub": "alice"}));
    assert_eq!(
        connect_url(&format!("{base}?token={no_exp}"), None)
            .await
            .err()
            .map(|r| r.status),
        Some(401)
    );
    assert_eq!(
        connect_url(&base, None).await.err().map(|r| r.status),
        Some(401)
    );
}

#[actix_rt::test]
async fn tokens_need_a_secret_and_a_valid_request() {
    let server = TestServer::start();
    let (status, body) = Rest::new(&server)
        .post("/v1/tokens", None, json!({"identity": "alice"}))
        .await;
    assert_eq!(
        (status, body["error"]["code"].as_str()),
        (400, Some("bad_request"))
    );
    let server = jwt_server();
    let rest = Rest::new(&server);
    assert_eq!(rest.post("/v1/tokens", None, json!({})).await.0, 400);
    assert_eq!(
        rest.post("/v1/tokens", None, json!({"identity": ""}))
            .await
            .0,
        400
    );
    assert_eq!(
        rest.post("/v1/tokens", None, json!({"identity": "a", "ttl_s": -5}))
            .await
            .0,
        400
    );
}

#[actix_rt::test]
async fn the_admin_key_guards_rest_but_not_health_or_metrics() {
    let server = TestServer::with(
        Config::for_tests(),
        ServerConfig {
            admin_key: Some("k3y".into()),
            workers: Some(1),
            ..ServerConfig::default()
        },
    );
    let open = Rest::new(&server);
    let (status, body) = open.get("/v1/conversations", None).await;
    assert_eq!(
        (status, body["error"]["code"].as_str()),
        (401, Some("unauthorized"))
    );
    assert_eq!(open.post("/v1/conversations", None, json!({})).await.0, 401);
    assert_eq!(open.get("/healthz", None).await.0, 200);
    assert_eq!(open.get("/metrics", None).await.0, 200);
    let wrong = Rest::with_admin(&server, "nope");
    assert_eq!(wrong.get("/v1/conversations", None).await.0, 401);
    let admin = Rest::with_admin(&server, "k3y");
    assert_eq!(admin.get("/v1/conversations", None).await.0, 200);
    assert_eq!(
        admin
            .post(
                "/v1/conversations",
                Some("alice"),
                json!({"friendly_name": "x"})
            )
            .await
            .0,
        201
    );
    // The admin key does not guard the WebSocket, whose users authenticate themselves.
    assert!(connect_url(&server.ws_url("alice"), None).await.is_ok());
}

#[actix_rt::test]
async fn tokens_need_only_sub_and_exp_and_are_not_valid_before_nbf() {
    let server = jwt_server();
    let base = format!("ws://{}/v1/ws", server.addr());
    let sign = |claims: serde_json::Value| {
        let key = jsonwebtoken::EncodingKey::from_secret(b"test-secret");
        let header = jsonwebtoken::Header::new(jsonwebtoken::Algorithm::HS256);
        jsonwebtoken::encode(&header, &claims, &key).unwrap()
    };
    let now = colloquy::model::now_ms() / 1000;
    let minimal = sign(json!({"sub": "alice", "exp": now + 600}));
    let ws = connect_url(&format!("{base}?token={minimal}"), None)
        .await
        .expect("sub and exp are enough");
    assert_eq!(ws.ready["data"]["identity"], "alice");
    let early = sign(json!({"sub": "alice", "exp": now + 600, "nbf": now + 60}));
    assert_eq!(
        connect_url(&format!("{base}?token={early}"), None)
            .await
            .err()
            .map(|r| r.status),
        Some(401)
    );
    let started = sign(json!({"sub": "alice", "exp": now + 600, "nbf": now - 1}));
    assert!(connect_url(&format!("{base}?token={started}"), None)
        .await
        .is_ok());
    // The scheme name of Authorization is case-insensitive.
    for scheme in ["bearer", "BEARER", "Bearer"] {
        let (_, status, _) = crate::raw::upgrade(
            server.addr(),
            "/v1/ws",
            &format!("Sec-WebSocket-Version: 13\r\nAuthorization: {scheme} {minimal}\r\n"),
        )
        .await;
        assert_eq!(status, 101, "{scheme}");
    }
}
