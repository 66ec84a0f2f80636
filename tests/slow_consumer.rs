//! A client that never reads is dropped and its memory freed.
//!
//! Its own test binary: it measures this process's RSS, which tests running
//! beside it in the same process would disturb.

#[path = "server/util.rs"]
mod util;

use std::time::Duration;

use colloquy::server::ServerConfig;
use colloquy::testing::TestServer;
use colloquy::{Config, Limits};
use serde_json::json;
use util::*;

/// This process's resident memory, in KiB, after asking the allocator to
/// return the free pages it keeps (glibc keeps a freed peak mapped otherwise,
/// which is not memory in use).
fn rss_kib() -> usize {
    #[cfg(all(target_os = "linux", target_env = "gnu"))]
    // SAFETY: malloc_trim only releases free memory back to the OS.
    unsafe {
        libc::malloc_trim(0);
    }
    std::fs::read_to_string("/proc/self/status")
        .ok()
        .and_then(|s| {
            s.lines()
                .find(|l| l.starts_with("VmRSS:"))
                .and_then(|l| l.split_whitespace().nth(1)?.parse().ok())
        })
        .unwrap_or(0)
}

/// One malloc arena for the whole process. glibc gives a thread that finds its
/// arena busy an arena of its own, and `malloc_trim` does not return the free
/// top of such an arena to the OS: memory the server freed could then still
/// count in RSS (seen under CPU contention, ~15 MiB in one extra arena while
/// heaptrack showed under 1 MiB live). With one arena, RSS shows what is freed.
fn one_arena() {
    #[cfg(all(target_os = "linux", target_env = "gnu"))]
    // SAFETY: mallopt only changes the allocator's settings; called before the
    // server's threads start.
    unsafe {
        libc::mallopt(libc::M_ARENA_MAX, 1);
    }
}

#[actix_rt::test]
async fn a_client_that_never_reads_is_closed_4008_and_its_memory_freed() {
    one_arena();
    // A short history and replay window, so that what the conversation keeps
    // does not grow: any growth left would be the sleeper's.
    let limits = Limits {
        max_history: 100,
        replay_window: 100,
        ..Limits::default()
    };
    let server = TestServer::with(
        Config {
            limits,
            ..Config::for_tests()
        },
        ServerConfig {
            workers: Some(1),
            // The sleeper reads its close frame only once the publishing is
            // done, which takes seconds on a busy machine: longer than that,
            // or the write deadline would reap its socket first (no close frame).
            write_timeout: Duration::from_secs(60),
            ..ServerConfig::default()
        },
    );
    let mut reader = Ws::connect(&server, "reader").await;
    let id = group(&mut reader, &["sleeper"]).await;
    drop(reader);
    let mut sleeper = Ws::connect(&server, "sleeper").await;
    let engine = server.engine().clone();
    let publish = |n: usize| {
        let engine = engine.clone();
        let id = id.clone();
        async move {
            let body = "y".repeat(1000);
            for _ in 0..n {
                let _ = engine
                    .request_as(colloquy::Caller::Service, json!({"op": "message.send", "conversation": id, "body": body, "author": "bot"}))
                    .await;
            }
        }
    };
    // The reader's session must be gone too, or its outbox would fill as well.
    for _ in 0..200 {
        if engine.metrics().sessions_open == 1 {
            break;
        }
        actix_rt::time::sleep(Duration::from_millis(10)).await;
    }
    assert_eq!(
        engine.metrics().sessions_open,
        1,
        "only the sleeper is connected"
    );
    let before = rss_kib();
    publish(20_000).await;
    let closed = engine
        .metrics()
        .sessions_closed
        .iter()
        .find(|(r, _)| *r == "slow_consumer")
        .map(|x| x.1);
    assert_eq!(closed, Some(1), "closed as a slow consumer");
    let after = rss_kib();
    // 20,000 frames of 1.3 KB went by, the outbox held up to 8 MiB of them:
    // what is left must be well under that.
    assert!(
        after < before + 3 * 1024,
        "RSS grew from {before} to {after} KiB"
    );
    assert_eq!(
        sleeper.close_code(Duration::from_secs(10)).await,
        Some(4008)
    );
}
