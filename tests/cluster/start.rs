//! What a node says when the NATS servers it is given cannot hold the log.

use std::io::{BufRead, BufReader, Write};
use std::net::TcpListener;

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
