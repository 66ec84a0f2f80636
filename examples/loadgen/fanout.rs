//! `fanout`: one room, subscribers receive what publishers send, with at most
//! `window` messages in flight (or at a fixed rate per publisher).

use std::sync::atomic::{AtomicU64, Ordering::Relaxed};
use std::sync::Arc;
use std::time::{Duration, Instant};

use futures_util::{SinkExt, StreamExt};
use tokio::sync::Notify;
use tokio_tungstenite::tungstenite::Message as Ws;

use super::{
    conversation, payload, publish_frame, report, sample, settle, subscribe, Args, Conn, Protocol,
    Sub, Tally,
};

/// Waits until fewer than `window` messages are in flight (sent and not yet
/// delivered to every subscriber), then counts one more as sent. False when
/// nothing was delivered for 5 s (deliveries lost).
async fn claim(sent: &AtomicU64, tally: &Tally, window: u64) -> bool {
    let mut completed = tally.completed.subscribe();
    loop {
        let s = sent.load(Relaxed);
        if s.saturating_sub(*completed.borrow_and_update()) < window {
            if sent.compare_exchange(s, s + 1, Relaxed, Relaxed).is_ok() {
                return true;
            }
            continue;
        }
        if tokio::time::timeout(Duration::from_secs(5), completed.changed())
            .await
            .is_err()
        {
            return false;
        }
    }
}

pub async fn fanout(
    args: Args,
    subscribers: usize,
    publishers: usize,
    messages: usize,
    window: u64,
    rate: Option<f64>,
    size: usize,
) -> Result<(), Box<dyn std::error::Error + Send + Sync>> {
    let run = std::process::id();
    let subs: Vec<String> = (0..subscribers).map(|i| format!("s{run}-{i}")).collect();
    let pubs: Vec<String> = (0..publishers).map(|i| format!("p{run}-{i}")).collect();
    let members = [subs.clone(), pubs.clone()].concat();
    let room_first = !args.connect_first || args.protocol == Protocol::Socketio;
    let mut room = String::new();
    if room_first {
        room = conversation(&args, &members).await?;
    }
    let t0 = Instant::now();
    let per = messages / publishers.max(1);
    let tally = Tally::new(per * publishers, subscribers);
    let (stop_all, stop) = tokio::sync::watch::channel(false);
    let mut readers = Vec::new();
    for s in &subs {
        let c = Sub::open(&args, s, &room).await?;
        readers.push(tokio::spawn(subscribe(c, t0, tally.clone(), stop.clone())));
    }
    let mut pub_conns = Vec::new();
    for p in &pubs {
        pub_conns.push(Conn::open(&args, p, Some(&room)).await?);
    }
    if !room_first {
        room = conversation(&args, &members).await?;
    }
    settle(&args).await;
    let before = sample(&args);
    let start = t0.elapsed();
    let sent = Arc::new(AtomicU64::new(0));
    let mut writers = Vec::new();
    let finished = Arc::new(Notify::new());
    // Sends the server answered with an error (colloquy only: the peer's
    // `msg` has no answer), so that a short count says why.
    let refused = Arc::new(AtomicU64::new(0));
    for (p, conn) in pub_conns.into_iter().enumerate() {
        let (room, tally, sent, finished, refused) = (
            room.clone(),
            tally.clone(),
            sent.clone(),
            finished.clone(),
            refused.clone(),
        );
        writers.push(tokio::spawn(async move {
            let mut tick = rate.map(|r| tokio::time::interval(Duration::from_secs_f64(1.0 / r)));
            // The publisher's own socket gets answers (and, in colloquy, its own
            // messages): read and drop them so they never back up.
            let (mut sink, mut stream) = conn.ws.split();
            let drain = tokio::spawn(async move {
                while let Some(Ok(frame)) = stream.next().await {
                    if let Ws::Text(t) = frame {
                        if t.starts_with("{\"re\"") && t.contains("\"ok\":false") {
                            refused.fetch_add(1, Relaxed);
                        }
                    }
                }
            });
            for i in 0..per {
                match tick.as_mut() {
                    Some(t) => {
                        t.tick().await;
                    }
                    // A message is in flight until every subscriber has it;
                    // the publishers share the window, each send claiming a slot.
                    None => {
                        if !claim(&sent, &tally, window).await {
                            eprintln!("subscribers stopped receiving: stopping early");
                            return;
                        }
                    }
                }
                let frame = publish_frame(conn.proto, &room, &payload(p * per + i, t0, size));
                if sink.send(Ws::Text(frame.into())).await.is_err() {
                    break;
                }
                if rate.is_some() {
                    sent.fetch_add(1, Relaxed);
                }
            }
            // Keep reading until the run is over: a socket closed with unread data
            // is reset, and the server would lose the last requests.
            finished.notified().await;
            let _ = sink.close().await;
            drain.abort();
        }));
    }
    while sent.load(Relaxed) < (per * publishers) as u64 && writers.iter().any(|w| !w.is_finished())
    {
        tokio::time::sleep(Duration::from_millis(5)).await;
    }
    let expected = (per * publishers * subscribers) as u64;
    let deadline = Instant::now() + Duration::from_secs(10);
    while tally.received.load(Relaxed) < expected && Instant::now() < deadline {
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    let after = sample(&args);
    let elapsed = Duration::from_nanos(tally.last_ns.load(Relaxed)).saturating_sub(start);
    finished.notify_waiters();
    for w in writers {
        let _ = w.await;
    }
    let _ = stop_all.send(true);
    let mut short = Vec::new();
    for (i, r) in readers.into_iter().enumerate() {
        if let Ok(mut seen) = r.await {
            let total = (per * publishers) as u64;
            if (seen.len() as u64) < total {
                seen.sort_unstable();
                let missing: Vec<String> = (0..total)
                    .filter(|s| seen.binary_search(s).is_err())
                    .take(5)
                    .map(|s| s.to_string())
                    .collect();
                short.push(format!(
                    "#{i}: {} (missing {})",
                    seen.len(),
                    missing.join(" ")
                ));
            }
        }
    }
    if !short.is_empty() {
        eprintln!("subscribers short of messages: {}", short.join(", "));
    }
    let refused = refused.load(Relaxed);
    if refused > 0 {
        eprintln!("sends the server refused (an error answer): {refused}");
    }
    let how = rate.map_or(format!("max rate, window {window}"), |r| {
        format!("{r} msg/s per publisher")
    });
    report(&format!("fanout: {subscribers} subscribers, {publishers} publisher(s), {} messages of {size} B, {how}", per * publishers), &tally, expected, elapsed, before, after);
    Ok(())
}
