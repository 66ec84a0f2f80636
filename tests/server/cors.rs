//! Cross-origin use of `/client.js` and REST: any origin in dev mode, only the
//! listed ones with a JWT secret, preflights answered.

use colloquy::server::ServerConfig;
use colloquy::testing::TestServer;

const ELSEWHERE: &str = "http://127.0.0.1:5173";

async fn get_from(server: &TestServer, path: &str, origin: &str) -> reqwest::Response {
    reqwest::Client::new()
        .get(format!("{}{path}", server.url()))
        .header("Origin", origin)
        .send()
        .await
        .expect("answers")
}

async fn preflight(server: &TestServer, path: &str, origin: &str) -> reqwest::Response {
    reqwest::Client::new()
        .request(reqwest::Method::OPTIONS, format!("{}{path}", server.url()))
        .header("Origin", origin)
        .header("Access-Control-Request-Method", "POST")
        .header("Access-Control-Request-Headers", "content-type, x-identity")
        .send()
        .await
        .expect("answers")
}

fn allowed(r: &reqwest::Response) -> Option<String> {
    r.headers()
        .get("access-control-allow-origin")
        .and_then(|v| v.to_str().ok())
        .map(str::to_string)
}

#[tokio::test]
async fn dev_mode_lets_any_origin_import_the_client_and_call_rest() {
    let server = TestServer::start();
    let js = get_from(&server, "/client.js", ELSEWHERE).await;
    assert_eq!(js.status(), 200);
    assert_eq!(allowed(&js).as_deref(), Some("*"));
    let pre = preflight(&server, "/v1/conversations", ELSEWHERE).await;
    assert!(pre.status().is_success(), "{}", pre.status());
    assert!(allowed(&pre).is_some());
    let headers = pre
        .headers()
        .get("access-control-allow-headers")
        .and_then(|v| v.to_str().ok())
        .unwrap_or_default()
        .to_ascii_lowercase();
    assert!(
        headers.contains("x-identity") && headers.contains("content-type"),
        "{headers}"
    );
    // Same-origin requests are unchanged.
    let plain = reqwest::get(format!("{}/client.js", server.url()))
        .await
        .expect("answers");
    assert_eq!(plain.status(), 200);
}

#[tokio::test]
async fn with_a_jwt_secret_only_listed_origins_may() {
    let closed = TestServer::builder()
        .jwt_secret("s3cret")
        .admin_key("k")
        .start();
    let js = get_from(&closed, "/client.js", ELSEWHERE).await;
    assert_eq!(allowed(&js), None, "no origin is listed");
    assert_eq!(js.status(), 200, "the browser, not the server, refuses");
    // The server's own pages send their own origin: always served.
    let own = get_from(&closed, "/client.js", &closed.url()).await;
    assert_eq!(own.status(), 200);
    let post = reqwest::Client::new()
        .post(format!("{}/v1/conversations", closed.url()))
        .header("Origin", closed.url())
        .bearer_auth("k")
        .json(&serde_json::json!({}))
        .send()
        .await
        .expect("answers");
    assert_eq!(post.status(), 201);

    let open = TestServer::builder()
        .server_config(ServerConfig {
            jwt_secret: Some("s3cret".into()),
            admin_key: Some("k".into()),
            workers: Some(1),
            cors_origins: vec![ELSEWHERE.into()],
            ..ServerConfig::default()
        })
        .start();
    let js = get_from(&open, "/client.js", ELSEWHERE).await;
    assert_eq!(allowed(&js).as_deref(), Some(ELSEWHERE));
    let other = get_from(&open, "/client.js", "http://127.0.0.1:9999").await;
    assert_eq!(allowed(&other), None, "an origin not listed");
}

#[test]
fn origins_on_the_command_line_are_checked() {
    use colloquy::server::check_origin;
    assert!(check_origin("http://localhost:5173").is_ok());
    assert!(check_origin("https://chat.example.com").is_ok());
    assert!(check_origin("*").is_ok());
    assert_eq!(
        check_origin(" http://localhost:5173 ").as_deref(),
        Ok("http://localhost:5173"),
        "spaces around it dropped, as in COLLOQUY_CORS_ORIGINS=\"a, b\""
    );
    for bad in [
        "localhost:5173",
        "http://",
        "http://a/b",
        "ftp://x",
        "http://a b",
    ] {
        assert!(check_origin(bad).is_err(), "{bad}");
    }
}
