//! Runs the JavaScript client's unit tests (web/tests, Node's test runner)
//! against a real server, so that `cargo test` covers /client.js too.

use std::process::Command;

use colloquy::testing::TestServer;

#[test]
fn javascript_client_unit_tests() {
    let server = TestServer::start();
    let dir = env!("CARGO_MANIFEST_DIR");
    let out = Command::new("node")
        .args([
            "--experimental-websocket",
            "--test",
            "--test-force-exit",
            "--test-timeout=20000",
            "--test-reporter=spec",
            &format!("{dir}/web/tests/client.test.mjs"),
        ])
        .env("COLLOQUY_URL", server.url())
        .output()
        .expect("node (the machine's Node.js) runs");
    let report = format!(
        "{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    println!("{report}");
    assert!(
        out.status.success(),
        "JavaScript client tests failed:\n{report}"
    );
}
