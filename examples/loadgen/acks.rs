//! `acks`: how many `message.send`s per second the server acknowledges, and how
//! fast, with N senders each waiting for its answer before the next send (the
//! way a chat client sends). Run against `--data-dir` to measure the journal:
//! every answer then waits for its commit. With `--read`, the same for
//! `message.list` (on a cluster node, each read first learns where the log
//! stands).

use std::time::{Duration, Instant};

use futures_util::{SinkExt, StreamExt};
use hdrhistogram::Histogram;
use serde_json::json;
use tokio_tungstenite::tungstenite::Message as Ws;

use super::{conversation, sample, share_of_core, Args, Conn};

type BoxError = Box<dyn std::error::Error + Send + Sync>;

/// `senders` connections, one conversation each (or all in one with
/// `shared`), `seconds` long, each at `rate` sends/s (None: as fast as answers come).
pub async fn acks(
    args: Args,
    senders: usize,
    seconds: u64,
    rate: Option<f64>,
    shared: bool,
    read: bool,
) -> Result<(), BoxError> {
    let mut convs: Vec<String> = Vec::new();
    if shared {
        let all: Vec<String> = (0..senders).map(|i| format!("s{i}")).collect();
        let c = conversation(&args, &all).await?;
        convs.resize(senders, c);
    } else {
        for i in 0..senders {
            convs.push(conversation(&args, &[format!("s{i}")]).await?);
        }
    }
    if read {
        fill(&args, &convs).await?;
    }
    let commits_before = store_counts(&args).await;
    let before = sample(&args);
    let t0 = Instant::now();
    let deadline = t0 + Duration::from_secs(seconds);
    let mut tasks = Vec::new();
    for (i, conv) in convs.into_iter().enumerate() {
        let args = args.clone();
        tasks.push(tokio::spawn(async move {
            let mut conn = Conn::open(&args, &format!("s{i}"), None).await?;
            let mut h = Histogram::<u64>::new(3)?;
            let gap = rate.map(|r| Duration::from_secs_f64(1.0 / r));
            let mut next = Instant::now();
            let mut n = 0u64;
            while Instant::now() < deadline {
                if let Some(g) = gap {
                    tokio::time::sleep_until(next.into()).await;
                    next += g;
                }
                let sent = Instant::now();
                let req = if read {
                    json!({"op": "message.list", "id": n, "conversation": conv, "page_size": 30})
                } else {
                    json!({"op": "message.send", "id": n, "conversation": conv, "body": "x".repeat(100)})
                };
                conn.ws.send(Ws::Text(req.to_string().into())).await?;
                // Our own events arrive too; the answer is the frame naming our id.
                loop {
                    let f = conn.ws.next().await.ok_or("closed")??;
                    let t = f.into_text()?;
                    if t.contains("\"re\"") {
                        if !t.contains("\"ok\":true") {
                            return Err(format!("refused: {t}").into());
                        }
                        break;
                    }
                }
                h.record(sent.elapsed().as_micros() as u64)?;
                n += 1;
            }
            Ok::<_, BoxError>(h)
        }));
    }
    let mut all = Histogram::<u64>::new(3)?;
    for t in tasks {
        all.add(t.await??)?;
    }
    let elapsed = t0.elapsed();
    let after = sample(&args);
    let commits_after = store_counts(&args).await;
    let acked = all.len();
    say!(
        "acks: {senders} {}{} {}, {:.1} s",
        if read {
            "readers (message.list)"
        } else {
            "senders"
        },
        if shared {
            " in one conversation"
        } else {
            ", one conversation each"
        },
        rate.map_or("at max rate (one in flight each)".to_string(), |r| format!(
            "at {r} msg/s each"
        )),
        elapsed.as_secs_f64()
    );
    say!(
        "  acknowledged {acked} = {:.0}/s; ack latency p50 {:.2} ms, p99 {:.2} ms, max {:.2} ms",
        acked as f64 / elapsed.as_secs_f64(),
        all.value_at_quantile(0.5) as f64 / 1e3,
        all.value_at_quantile(0.99) as f64 / 1e3,
        all.max() as f64 / 1e3,
    );
    if let (Some((c0, b0)), Some((c1, b1))) = (commits_before, commits_after) {
        let commits = c1.saturating_sub(c0);
        // (A server without --data-dir counts none.)
        if commits > 0 {
            say!(
                "  store: {commits} commits = {:.0} fsyncs/s, {:.1} ops per commit",
                commits as f64 / elapsed.as_secs_f64(),
                b1.saturating_sub(b0) as f64 / commits.max(1) as f64
            );
        }
    }
    let busy = |cpu_us: u64| share_of_core(cpu_us, elapsed);
    if let (Some((u0, _)), Some((u1, rss))) = (before.server, after.server) {
        let used = u1.saturating_sub(u0);
        say!(
            "  server CPU {:.1} µs per ack ({:.0} % of a core), RSS {rss} KiB",
            used as f64 / acked.max(1) as f64,
            busy(used)
        );
    }
    // On a machine the two share, what the load generator spends is what the
    // server cannot have: say it.
    if let (Some(u0), Some(u1)) = (before.own, after.own) {
        let used = u1.saturating_sub(u0);
        say!(
            "  load gen CPU {:.1} µs per ack ({:.0} % of a core)",
            used as f64 / acked.max(1) as f64,
            busy(used)
        );
    }
    Ok(())
}

/// Puts 30 messages of 100 bytes in each conversation (once: shared
/// conversations repeat), through REST as the service.
async fn fill(args: &Args, convs: &[String]) -> Result<(), BoxError> {
    let http = reqwest::Client::new();
    let mut done: Vec<&String> = Vec::new();
    for c in convs {
        if done.contains(&c) {
            continue;
        }
        done.push(c);
        for _ in 0..30 {
            http.post(format!("{}/v1/conversations/{c}/messages", args.first()))
                .json(&json!({"author": "s0", "body": "x".repeat(100)}))
                .send()
                .await?
                .error_for_status()?;
        }
    }
    Ok(())
}

/// The store's commit and batch counters from `/metrics` (None in memory or unreadable).
async fn store_counts(args: &Args) -> Option<(u64, u64)> {
    let text = reqwest::get(format!("{}/metrics", args.first()))
        .await
        .ok()?
        .text()
        .await
        .ok()?;
    let read = |name: &str| {
        text.lines()
            .find(|l| l.starts_with(name))
            .and_then(|l| l.split_whitespace().nth(1))
            .and_then(|v| v.parse::<u64>().ok())
    };
    Some((
        read("colloquy_store_commits_total")?,
        read("colloquy_store_batches_total")?,
    ))
}
