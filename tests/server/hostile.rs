//! What probes with fuzzers and hostile clients found, one test each, at the
//! byte level where a library would not misbehave for us.

use std::time::Duration;

use colloquy::server::ServerConfig;
use colloquy::testing::TestServer;
use colloquy::Config;
use serde_json::json;

use crate::raw::*;
use crate::util::*;

fn closed(server: &TestServer, reason: &str) -> u64 {
    server
        .engine()
        .metrics()
        .sessions_closed
        .iter()
        .find(|(r, _)| *r == reason)
        .map_or(0, |(_, n)| *n)
}

/// Waits (bounded) until the engine has counted `want` closes for `reason`
/// (a session is counted once its actor has stopped, just after the close frame).
async fn counted(server: &TestServer, reason: &str, want: u64) -> u64 {
    for _ in 0..250 {
        let n = closed(server, reason);
        if n >= want {
            return n;
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    closed(server, reason)
}

#[actix_rt::test]
async fn a_frame_announcing_too_much_is_refused_from_its_header() {
    let server = TestServer::start();
    let mut c = Raw::connect(server.addr(), "alice").await;
    // 64 MiB announced, not one byte of it sent: nothing to buffer.
    c.send(&header_only(TEXT, 64 << 20)).await;
    assert_eq!(c.close_code().await, Some(1009));
    // A fragmented message whose next fragment would pass the limit, likewise.
    let mut c = Raw::connect(server.addr(), "bob").await;
    c.send(&frame(false, 0, TEXT, b"{\"op\":")).await;
    let limit = Config::for_tests().limits.max_frame_bytes as u64;
    c.send(&header_only(CONTINUATION, limit)).await;
    assert_eq!(c.close_code().await, Some(1009));
}

#[actix_rt::test]
async fn many_fragments_in_one_write_are_answered_at_once() {
    let server = TestServer::start();
    let mut c = Raw::connect(server.addr(), "alice").await;
    let text = br#"{"id": 5, "op": "ping", "padding": "0123456789abcdefghijklmnopqrstuvwxyz"}"#;
    let mut burst = frame(false, 0, TEXT, &text[..1]);
    for b in &text[1..text.len() - 1] {
        burst.extend(frame(false, 0, CONTINUATION, std::slice::from_ref(b)));
    }
    burst.extend(frame(true, 0, CONTINUATION, &text[text.len() - 1..]));
    c.send(&burst).await;
    let answer = c.json().await.expect("an answer without sending more");
    assert_eq!(answer["re"], 5);
    assert_eq!(answer["data"], json!({"pong": true}));
}

#[actix_rt::test]
async fn reserved_bits_close_1002_as_a_protocol_error() {
    let server = TestServer::start();
    for rsv in [0x40, 0x20, 0x10, 0x70] {
        let mut c = Raw::connect(server.addr(), "alice").await;
        c.send(&frame(true, rsv, TEXT, br#"{"op":"ping"}"#)).await;
        assert_eq!(c.close_code().await, Some(1002), "rsv {rsv:#x}");
    }
    assert_eq!(counted(&server, "protocol_error", 4).await, 4);
    assert_eq!(closed(&server, "client_closed"), 0);
}

#[actix_rt::test]
async fn an_unsupported_version_gets_426_naming_13() {
    let server = TestServer::start();
    let (_, status, head) = upgrade(
        server.addr(),
        "/v1/ws?identity=alice",
        "Sec-WebSocket-Version: 8\r\n",
    )
    .await;
    assert_eq!(status, 426);
    assert!(
        head.to_ascii_lowercase()
            .contains("sec-websocket-version: 13\r\n"),
        "{head}"
    );
}

#[actix_rt::test]
async fn every_ping_in_a_burst_gets_its_pong_in_order() {
    let server = TestServer::start();
    let mut c = Raw::connect(server.addr(), "alice").await;
    let n = 300u32;
    let burst: Vec<u8> = (0..n)
        .flat_map(|i| frame(true, 0, PING, &i.to_be_bytes()))
        .collect();
    c.send(&burst).await;
    for i in 0..n {
        match c.next(WAIT).await {
            Some(Got::Pong(p)) => assert_eq!(p, i.to_be_bytes(), "pong {i}"),
            other => panic!("pong {i}: got {other:?}"),
        }
    }
}

#[actix_rt::test]
async fn invalid_utf8_in_a_middle_fragment_fails_at_once() {
    let server = TestServer::start();
    let mut c = Raw::connect(server.addr(), "alice").await;
    c.send(&frame(false, 0, TEXT, b"{\"op\": \"")).await;
    c.send(&frame(
        false,
        0,
        CONTINUATION,
        b"\xce\xba\xe1\xbd\xb9\xcf\x83\xcf\x84\xed\xa0\x80",
    ))
    .await;
    // No last fragment: the connection must fail on what it has.
    assert_eq!(c.close_code().await, Some(1007));
    // A code point split across fragments is fine.
    let mut c = Raw::connect(server.addr(), "bob").await;
    c.send(&frame(
        false,
        0,
        TEXT,
        b"{\"id\": 1, \"op\": \"ping\", \"x\": \"\xce",
    ))
    .await;
    c.send(&frame(true, 0, CONTINUATION, b"\xba\"}")).await;
    assert_eq!(c.json().await.expect("an answer")["ok"], true);
}

#[actix_rt::test]
async fn ids_are_echoed_exactly_as_written() {
    let server = TestServer::start();
    let mut c = Raw::connect(server.addr(), "alice").await;
    for id in [
        "123456789012345678901234567890",
        "18446744073709551617",
        "-0.000000000000000000001",
        "7.50",
        r#""x\"y""#,
    ] {
        c.request(&format!(r#"{{"id": {id}, "op": "ping"}}"#)).await;
        match c.next(WAIT).await {
            Some(Got::Text(t)) => {
                assert!(t.starts_with(&format!(r#"{{"re":{id},"#)), "{id}: {t}")
            }
            other => panic!("{id}: got {other:?}"),
        }
    }
}

/// A user who reconnects while messages keep coming: live events reach the
/// new session before its replay does, and must not show twice or out of order.
#[actix_rt::test]
async fn a_resuming_session_sees_each_seq_once_and_in_order() {
    let server = TestServer::start();
    let mut alice = Ws::connect(&server, "alice").await;
    let mut bob = Ws::connect(&server, "bob").await;
    let id = group(&mut alice, &["bob"]).await;
    bob.event("conversationAdded").await;
    let send = |n: u32| json!({"op": "message.send", "conversation": id, "body": n.to_string()});
    alice.ok(send(1)).await;
    let last_seen = bob.event("messageAdded").await["seq"].as_u64().unwrap();
    bob.close().await;
    for n in 2..=4 {
        alice.ok(send(n)).await;
    }
    let mut bob = Raw::connect(server.addr(), "bob").await;
    // These reach bob's new session before it asks for the replay.
    for n in 5..=6 {
        alice.ok(send(n)).await;
    }
    bob.request(&format!(
        r#"{{"id": 1, "op": "events.replay", "conversation": "{id}", "since_seq": {last_seen}}}"#
    ))
    .await;
    let mut seqs = Vec::new();
    loop {
        let f = bob.json().await.expect("a frame");
        if f.get("re").is_some() {
            assert_eq!(f["data"], json!({"recovered": true, "last_seq": 6}));
            break;
        }
        seqs.push(f["seq"].as_u64().unwrap());
    }
    assert_eq!(seqs, vec![2, 3, 4, 5, 6]);
    // Live again afterwards.
    alice.ok(send(7)).await;
    assert_eq!(bob.json().await.unwrap()["seq"], 7);
}

/// A client that does not resume still gets its events, once the resume
/// window has passed (or at its first request).
#[actix_rt::test]
async fn a_silent_new_session_gets_held_events_after_the_window() {
    let (clock, hand) = colloquy::Clock::manual(1_700_000_000_000);
    let server = TestServer::with(
        Config {
            clock,
            ..Config::for_tests()
        },
        ServerConfig {
            workers: Some(1),
            ..ServerConfig::default()
        },
    );
    let mut alice = Ws::connect(&server, "alice").await;
    let id = group(&mut alice, &["bob"]).await;
    let mut tab1 = Raw::connect(server.addr(), "bob").await;
    let mut tab2 = Raw::connect(server.addr(), "bob").await;
    for n in 1..=3 {
        alice
            .ok(json!({"op": "message.send", "conversation": id, "body": n.to_string()}))
            .await;
    }
    // Held while the tabs may still resume...
    assert_eq!(tab1.next(QUIET).await, None);
    // ...and delivered, in order, once the resume window has passed.
    hand.advance(ServerConfig::default().resume_window);
    for tab in [&mut tab1, &mut tab2] {
        let mut seqs = Vec::new();
        for _ in 0..3 {
            seqs.push(tab.json().await.expect("an event")["seq"].as_u64());
        }
        assert_eq!(seqs, vec![Some(1), Some(2), Some(3)]);
    }
}
