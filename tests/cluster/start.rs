//! What a node does when the NATS servers it is given cannot hold the log,
//! or not every op of it.

use std::io::{BufRead, BufReader, Write};
use std::net::TcpListener;
use std::time::{Duration, Instant};

use base64::Engine as _;
use colloquy::client::ClientError;
use colloquy::ErrorCode;
use serde_json::json;

use super::harness::*;
use super::ONE_AT_A_TIME;

/// NATS servers started without `-js` (the easy mistake: JetStream is off
/// by default) are named at once, with what to do, rather than after 30 s
/// of waiting for a JetStream that will never answer.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn servers_without_jetstream_are_refused_at_once() {
    let _one = ONE_AT_A_TIME.lock().await;
    let nats = Nats::without_jetstream();
    let err = refused_quickly(
        &nats.urls.join(","),
        &["--node-id", "a"],
        "does not run JetStream, nor does any server of its cluster",
    );
    assert!(err.contains("start nats-server with -js"), "{err}");
}

/// A server older than 2.10 (Debian's package is 2.9) lacks what the log
/// relies on: the node names its version and exits 1 at once. The server
/// here is a stand-in that says it is 2.9.25 and answers the handshake.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_server_older_than_2_10_is_refused_at_once() {
    let listener = TcpListener::bind("127.0.0.1:0").expect("a port");
    let url = format!("nats://{}", listener.local_addr().expect("its address"));
    std::thread::spawn(move || {
        for stream in listener.incoming() {
            let Ok(mut stream) = stream else { return };
            let info = r#"INFO {"server_id":"OLD","server_name":"old","version":"2.9.25","go":"go1.19","host":"127.0.0.1","port":4222,"headers":true,"max_payload":1048576,"proto":1}"#;
            let _ = stream.write_all(format!("{info}\r\n").as_bytes());
            // CONNECT and PING come in one write or two; a PONG for each PING.
            let mut reader = BufReader::new(stream.try_clone().expect("a clone"));
            let mut line = String::new();
            while reader.read_line(&mut line).is_ok_and(|n| n > 0) {
                if line.starts_with("PING") {
                    let _ = stream.write_all(b"PONG\r\n");
                }
                line.clear();
            }
        }
    });
    let err = refused_quickly(&url, &["--node-id", "a"], "nats-server 2.9.25");
    assert!(err.contains("needs 2.10 or newer"), "{err}");
}

/// NATS servers set to take messages of at most 64 KiB (`max_payload`; 1 MiB
/// by default): an op that alone is larger is refused with `too_large` at
/// once, rather than retried for 15 s and answered `internal`, and ops
/// asked together go in entries that fit.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_op_larger_than_the_servers_take_is_too_large() {
    let _one = ONE_AT_A_TIME.lock().await;
    let nats = Nats::taking_at_most(65536);
    let a = node(&nats, "a");
    let alice = connect(&a, "alice").await;
    let users: Vec<String> = (0..10).map(|i| format!("u{i}")).collect();
    let made = alice
        .request_json(json!({"op": "conversation.create", "participants": users}))
        .await
        .expect("made");
    let cid = made["id"].as_str().expect("an id").to_string();

    let picture = base64::engine::general_purpose::STANDARD.encode(vec![7u8; 60_000]);
    let started = Instant::now();
    let refused = alice
        .request_json(json!({"op": "message.send", "conversation": cid,
            "media": [{"content_type": "image/png", "data": picture}]}))
        .await;
    match refused {
        Err(ClientError::Api(e)) => {
            assert_eq!(e.code(), ErrorCode::TooLarge, "{e}");
            assert!(e.to_string().contains("max_payload"), "{e}");
        }
        other => panic!("not too_large: {other:?}"),
    }
    assert!(
        started.elapsed() < Duration::from_secs(5),
        "{:?}",
        started.elapsed()
    );

    // Ten sessions sending at once (a session asks one op at a time): what
    // queues behind the appends on their way goes in entries under 64 KiB.
    // How much queues is the scheduler's to say, so this is the whole path
    // once; the limit and the gathering are unit tests in `appender.rs`.
    let mut clients = Vec::new();
    for u in &users {
        clients.push(connect(&a, u).await);
    }
    let body = "x".repeat(15_000);
    let sends = clients.iter().map(|c| {
        let (cid, body) = (cid.clone(), body.clone());
        async move {
            for _ in 0..4 {
                c.request_json(json!({"op": "message.send", "conversation": cid, "body": body}))
                    .await
                    .expect("a 15 KB message, gathered with others under 64 KiB");
            }
        }
    });
    futures_util::future::join_all(sends).await;
    let count = alice
        .request_json(json!({"op": "message.count", "conversation": cid}))
        .await
        .expect("counted");
    assert_eq!(count["count"], 40);
}
