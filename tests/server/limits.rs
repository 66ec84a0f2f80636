//! The limits of §7 over the wire, and how sessions end.

use std::time::Duration;

use colloquy::server::ServerConfig;
use colloquy::testing::TestServer;
use colloquy::{Config, Limits};
use serde_json::json;

use crate::util::*;

fn server_with(limits: Limits, server: ServerConfig) -> TestServer {
    TestServer::with(
        Config {
            limits,
            ..Config::for_tests()
        },
        ServerConfig {
            workers: Some(1),
            ..server
        },
    )
}

/// A server whose sessions may send `rate` requests a second (0: unlimited).
fn server_with_rate(rate: u32) -> TestServer {
    server_with(
        Limits::default(),
        ServerConfig {
            rate_limit: rate,
            ..ServerConfig::default()
        },
    )
}

#[actix_rt::test]
async fn oversized_content_is_too_large_and_an_oversized_frame_closes_1009() {
    let server = TestServer::start();
    let mut alice = Ws::connect(&server, "alice").await;
    let id = group(&mut alice, &[]).await;
    let body = "x".repeat(16 * 1024 + 1);
    assert_eq!(
        alice
            .fails(json!({"op": "message.send", "conversation": id, "body": body}))
            .await,
        "too_large"
    );
    let attrs = json!({"a": "x".repeat(16 * 1024)});
    assert_eq!(
        alice
            .fails(
                json!({"op": "message.send", "conversation": id, "body": "x", "attributes": attrs})
            )
            .await,
        "too_large"
    );
    assert_eq!(
        alice
            .ok(json!({"op": "message.count", "conversation": id}))
            .await["count"],
        0
    );
    let huge =
        json!({"id": 1, "op": "message.send", "conversation": id, "body": "x".repeat(300 * 1024)});
    alice.send_text(huge.to_string()).await;
    assert_eq!(alice.close_code(WAIT).await, Some(1009));
}

#[actix_rt::test]
async fn a_fragmented_request_over_the_frame_limit_closes_1009() {
    use actix_http::ws::Item;
    use awc::ws::Message;
    let server = server_with(
        Limits {
            max_frame_bytes: 1024,
            ..Limits::default()
        },
        ServerConfig::default(),
    );
    let mut alice = Ws::connect(&server, "alice").await;
    let part = "x".repeat(600);
    alice
        .send_frame(Message::Continuation(Item::FirstText(part.clone().into())))
        .await;
    alice
        .send_frame(Message::Continuation(Item::Continue(part.into())))
        .await;
    assert_eq!(alice.close_code(WAIT).await, Some(1009));
}

#[actix_rt::test]
async fn requests_beyond_the_rate_are_refused_then_abuse_closes_1008() {
    let server = server_with_rate(5);
    let mut alice = Ws::connect(&server, "alice").await;
    // The burst is twice the rate: 10 pass, the 11th is refused.
    for i in 0..10 {
        assert_eq!(
            alice.ok(json!({"op": "ping"})).await,
            json!({"pong": true}),
            "request {i}"
        );
    }
    assert_eq!(alice.fails(json!({"op": "ping"})).await, "rate_limited");
    // Keep hammering: a second's worth of refusals beyond the burst closes the session.
    for i in 0..40 {
        alice
            .send_text(json!({"id": 100 + i, "op": "ping"}).to_string())
            .await;
    }
    assert_eq!(alice.close_code(WAIT).await, Some(1008));
}

#[actix_rt::test]
async fn binary_frames_count_against_the_rate_too() {
    let server = server_with_rate(5);
    let mut alice = Ws::connect(&server, "alice").await;
    for _ in 0..10 {
        alice
            .send_frame(awc::ws::Message::Binary("{}".into()))
            .await;
        let answer = alice.recv_json().await.expect("an answer");
        assert_eq!(answer["error"]["code"], "bad_request");
    }
    assert_eq!(alice.fails(json!({"op": "ping"})).await, "rate_limited");
}

#[actix_rt::test]
async fn a_client_whose_window_is_full_is_reaped_by_the_write_deadline() {
    let limits = Limits {
        max_outbox_bytes: 512 * 1024 * 1024,
        ..Limits::default()
    };
    let server = server_with(
        limits,
        ServerConfig {
            write_timeout: Duration::from_millis(300),
            ..ServerConfig::default()
        },
    );
    let mut owner = Ws::connect(&server, "owner").await;
    let id = group(&mut owner, &["stuck"]).await;
    drop(owner);
    let _stuck = Ws::connect(&server, "stuck").await;
    let engine = server.engine().clone();
    let body = "z".repeat(16 * 1024);
    let t0 = std::time::Instant::now();
    // Fill every buffer between us and the client (kernel, HTTP, channel), then some.
    for _ in 0..2000 {
        let _ = engine
            .request_as(
                colloquy::Caller::Service,
                json!({"op": "message.send", "conversation": id, "body": body, "author": "bot"}),
            )
            .await;
        if reaped(&engine) {
            break;
        }
    }
    let deadline = std::time::Instant::now() + Duration::from_secs(5);
    while !reaped(&engine) && std::time::Instant::now() < deadline {
        actix_rt::time::sleep(Duration::from_millis(20)).await;
    }
    assert!(reaped(&engine), "reaped after {:?}", t0.elapsed());
    // The connection itself goes too, though the client still reads nothing.
    let port = server.addr().port();
    let deadline = std::time::Instant::now() + Duration::from_secs(5);
    while server_connections(port) > 0 && std::time::Instant::now() < deadline {
        actix_rt::time::sleep(Duration::from_millis(50)).await;
    }
    assert_eq!(
        server_connections(port),
        0,
        "the stuck connection was dropped"
    );
}

/// Established TCP connections whose local port is `port` (the server's side).
fn server_connections(port: u16) -> usize {
    let table = std::fs::read_to_string("/proc/net/tcp").unwrap_or_default();
    table
        .lines()
        .skip(1)
        .filter(|l| {
            let cols: Vec<&str> = l.split_whitespace().collect();
            let local_port = cols
                .get(1)
                .and_then(|a| a.rsplit(':').next())
                .and_then(|p| u16::from_str_radix(p, 16).ok());
            local_port == Some(port) && cols.get(3) == Some(&"01")
        })
        .count()
}

fn reaped(engine: &colloquy::Engine) -> bool {
    engine
        .metrics()
        .sessions_closed
        .iter()
        .any(|(r, n)| *r == "write_timeout" && *n == 1)
}

/// A server on a manual clock: heartbeat every 25 s, idle close after 60 s.
fn server_on_manual_clock() -> (TestServer, colloquy::ManualClock) {
    let (clock, hand) = colloquy::Clock::manual(1_700_000_000_000);
    let server = TestServer::with(
        colloquy::Config {
            clock,
            ..colloquy::Config::for_tests()
        },
        ServerConfig {
            workers: Some(1),
            ..ServerConfig::default()
        },
    );
    (server, hand)
}

#[actix_rt::test]
async fn heartbeat_pings_and_silence_closes_1001() {
    let (server, clock) = server_on_manual_clock();
    let mut alice = Ws::connect(&server, "alice").await;
    let mut bob = Ws::connect(&server, "bob").await;
    clock.advance(Duration::from_secs(25));
    for ws in [&mut alice, &mut bob] {
        match ws.frame(WAIT).await {
            Some(awc::ws::Frame::Ping(_)) => {}
            other => panic!("expected a ping, got {other:?}"),
        }
    }
    // Bob speaks at 50 s; alice says nothing (not even pong).
    clock.advance(Duration::from_secs(25));
    assert_eq!(bob.ok(json!({"op": "ping"})).await, json!({"pong": true}));
    clock.advance(Duration::from_secs(10));
    assert_eq!(alice.close_code(WAIT).await, Some(1001));
    // Bob, heard 10 s ago, stays until 60 s after that.
    clock.advance(Duration::from_secs(49));
    assert_eq!(bob.ok(json!({"op": "ping"})).await, json!({"pong": true}));
    clock.advance(Duration::from_secs(60));
    assert_eq!(bob.close_code(WAIT).await, Some(1001));
}

#[test]
fn shutdown_closes_every_session_with_1001() {
    let server = TestServer::start();
    let addr = server.addr();
    let rt = actix_rt::System::new();
    rt.block_on(async move {
        let mut a = Ws::connect(&server, "alice").await;
        let mut b = Ws::connect(&server, "bob").await;
        let stopping = std::thread::spawn(move || server.stop());
        assert_eq!(a.close_code(WAIT).await, Some(1001));
        assert_eq!(b.close_code(WAIT).await, Some(1001));
        stopping.join().expect("stops");
    });
    assert!(
        std::net::TcpStream::connect(addr).is_err(),
        "no longer listening"
    );
}

#[actix_rt::test]
async fn a_reader_that_pauses_gets_every_frame_in_order_once_it_reads_again() {
    let server = server_with_rate(0);
    let mut alice = Ws::connect(&server, "alice").await;
    let mut bob = Ws::connect(&server, "bob").await;
    let id = group(&mut alice, &["bob"]).await;
    bob.event_skipping("conversationAdded").await;
    // Megabytes for bob while he does not read: more than the socket buffers
    // hold (so his writer stalls and takes over from the flusher), less than
    // his 8 MiB outbox.
    let body = "x".repeat(10 * 1024);
    for i in 0..600 {
        alice
            .ok(json!({"op": "message.send", "conversation": id, "body": body, "attributes": {"i": i}}))
            .await;
    }
    let mut last_seq = 0;
    for i in 0..600 {
        let e = bob.event_skipping("messageAdded").await;
        assert_eq!(e["data"]["attributes"]["i"], i);
        let seq = e["seq"].as_u64().expect("seq");
        assert!(seq > last_seq, "seq {seq} after {last_seq}");
        last_seq = seq;
    }
    bob.ok(json!({"op": "ping"})).await;
}
