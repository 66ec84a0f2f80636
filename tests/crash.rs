//! The dev server with `--data-dir`, killed with SIGKILL while sessions send
//! pipelined messages, 20 times on the same directory: after every restart each
//! acknowledged message is there as it was acknowledged, no index or seq is
//! used twice, and a resent `client_id` answers the message that was stored
//! (whether or not its answer got out). Plus SIGTERM: a clean stop keeps
//! everything and exits 0.

use std::collections::{HashMap, HashSet};
use std::path::Path;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use colloquy::client::{Client, ClientConfig};
use serde_json::{json, Value};

const ROUNDS: usize = 20;
const USERS: [&str; 4] = ["alice", "bob", "carol", "dave"];
/// Requests each session keeps in flight.
const PIPELINE: usize = 4;

#[path = "support/child.rs"]
mod child;
use child::Proc as Server;

/// A server on a free port over `dir`; answers it and its base URL.
fn serve(dir: &Path) -> (Server, String) {
    let dir = dir.to_str().expect("a UTF-8 temp path");
    child::colloquy(&["--data-dir", dir], "error")
}

async fn connect(url: &str, who: &str) -> Client {
    let config = ClientConfig::new(url)
        .identity(who)
        .reconnect(false)
        .request_timeout(Duration::from_secs(10));
    Client::connect(config).await.expect("connects")
}

/// An acknowledged message, as its answer said.
#[derive(Debug, Clone)]
struct Ack {
    conversation: String,
    id: Value,
    index: u64,
    body: String,
    author: &'static str,
}

/// What one round saw before the kill.
#[derive(Default)]
struct Seen {
    acks: Vec<Ack>,
    /// Sent, never answered: (conversation, author, client_id, body).
    unanswered: Vec<(String, &'static str, String, String)>,
    /// The highest seq a session received, per conversation.
    max_seq: HashMap<String, u64>,
}

/// A pseudo-random number from the clock: where in a round the kill lands.
fn jitter(round: usize, below: u64) -> u64 {
    let nanos = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| d.subsec_nanos() as u64);
    (nanos ^ (round as u64).wrapping_mul(0x9E37_79B9_7F4A_7C15)) % below
}

/// Every message of a conversation from `from` on, by index.
async fn messages_from(c: &Client, conv: &str, from: u64) -> HashMap<u64, Value> {
    let mut all = HashMap::new();
    let mut req = json!({"op": "message.list", "conversation": conv, "anchor": from,
                         "direction": "forward", "page_size": 100});
    loop {
        let page = c.request_json(req.clone()).await.expect("message.list");
        for m in page["items"].as_array().into_iter().flatten() {
            all.insert(m["index"].as_u64().expect("index"), m.clone());
        }
        match page["next_cursor"].as_str() {
            Some(cur) => req = json!({"op": "message.list", "conversation": conv, "cursor": cur}),
            None => return all,
        }
    }
}

async fn round(url: &str, convs: &[String], round: usize, child: &mut Server) -> Seen {
    let seen = Arc::new(Mutex::new(Seen::default()));
    let (mut tasks, mut listeners) = (Vec::new(), Vec::new());
    for (u, who) in USERS.iter().enumerate() {
        let client = connect(url, who).await;
        let mut events = client.subscribe();
        let s = seen.clone();
        listeners.push(tokio::spawn(async move {
            while let Some(e) = events.next().await {
                if let (Some(c), Some(seq)) = (e.conversation, e.seq) {
                    let mut s = s.lock().unwrap_or_else(|p| p.into_inner());
                    let m = s.max_seq.entry(c).or_default();
                    *m = (*m).max(seq);
                }
            }
        }));
        for lane in 0..PIPELINE {
            let (client, s, conv) = (
                client.clone(),
                seen.clone(),
                convs[(u + lane) % convs.len()].clone(),
            );
            tasks.push(tokio::spawn(async move {
                for i in 0.. {
                    let client_id = format!("r{round}-{who}-{lane}-{i}");
                    let body = format!("{client_id} says hi");
                    let r = client
                        .request_json(json!({"op": "message.send", "conversation": conv,
                                             "body": body, "client_id": client_id}))
                        .await;
                    let mut s = s.lock().unwrap_or_else(|p| p.into_inner());
                    match r {
                        Ok(a) => s.acks.push(Ack {
                            conversation: conv.clone(),
                            id: a["id"].clone(),
                            index: a["index"].as_u64().expect("index"),
                            body,
                            author: who,
                        }),
                        Err(_) => {
                            s.unanswered.push((conv.clone(), who, client_id, body));
                            return;
                        }
                    }
                }
            }));
        }
    }
    tokio::time::sleep(Duration::from_millis(60 + jitter(round, 300))).await;
    child.0.kill().expect("SIGKILL");
    let _ = child.0.wait();
    for t in tasks {
        let _ = tokio::time::timeout(Duration::from_secs(15), t).await;
    }
    for l in listeners {
        l.abort();
    }
    let mut s = seen.lock().unwrap_or_else(|p| p.into_inner());
    std::mem::take(&mut *s)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sigkill_never_loses_an_acknowledged_message() {
    let dir = tempfile::tempdir().expect("temp dir");
    let (mut child, mut url) = serve(dir.path());
    let admin = connect(&url, "alice").await;
    let mut convs = Vec::new();
    for name in ["one", "two"] {
        let c = admin
            .request_json(json!({"op": "conversation.create", "friendly_name": name,
                                 "participants": ["bob", "carol", "dave"]}))
            .await
            .expect("create");
        convs.push(c["id"].as_str().expect("id").to_string());
    }
    admin.close();
    let mut total = 0;
    for r in 0..ROUNDS {
        let seen = round(&url, &convs, r, &mut child).await;
        assert!(
            !seen.acks.is_empty(),
            "round {r}: nothing was acknowledged before the kill"
        );
        total += seen.acks.len();
        (child, url) = serve(dir.path());
        check(&url, &convs, r, &seen).await;
    }
    drop(child);
    eprintln!("{ROUNDS} rounds, {total} acknowledged messages, none lost");
}

/// After a restart: every ack is there as acknowledged; resends answer the
/// stored message; new messages take fresh indexes and seqs.
async fn check(url: &str, convs: &[String], r: usize, seen: &Seen) {
    let alice = connect(url, "alice").await;
    for conv in convs {
        let acks: Vec<&Ack> = seen
            .acks
            .iter()
            .filter(|a| &a.conversation == conv)
            .collect();
        let from = acks.iter().map(|a| a.index).min().unwrap_or(0);
        let stored = messages_from(&alice, conv, from).await;
        for a in &acks {
            let m = stored
                .get(&a.index)
                .unwrap_or_else(|| panic!("round {r}: acknowledged {a:?} is gone"));
            assert_eq!(
                (&m["id"], m["body"].as_str(), m["author"].as_str()),
                (&a.id, Some(a.body.as_str()), Some(a.author)),
                "round {r}: index {} changed",
                a.index
            );
        }
        // A message that was stored but never answered: its resend finds it.
        for (c, who, client_id, body) in seen.unanswered.iter().filter(|u| &u.0 == conv) {
            let sender = connect(url, who).await;
            let first = stored
                .values()
                .find(|m| m["client_id"].as_str() == Some(client_id.as_str()));
            let again = sender
                .request_json(json!({"op": "message.send", "conversation": c,
                                     "body": body, "client_id": client_id}))
                .await
                .expect("resend");
            if let Some(first) = first {
                assert_eq!(
                    again["id"], first["id"],
                    "round {r}: {client_id} stored twice"
                );
            }
            sender.close();
        }
        // Resent client_ids of acknowledged messages answer the first ones.
        for a in acks.iter().take(8) {
            let sender = connect(url, a.author).await;
            let client_id = a.body.trim_end_matches(" says hi");
            let again = sender
                .request_json(json!({"op": "message.send", "conversation": conv,
                                     "body": a.body, "client_id": client_id}))
                .await
                .expect("resend");
            assert_eq!(
                (&again["id"], again["index"].as_u64()),
                (&a.id, Some(a.index))
            );
            sender.close();
        }
        // Nothing is reused: the next index is past every stored one, the
        // next seq past every one a session saw.
        let top = stored.keys().max().copied().unwrap_or(0);
        let fresh = alice
            .request_json(json!({"op": "message.send", "conversation": conv, "body": "after"}))
            .await
            .expect("send");
        assert!(
            fresh["index"].as_u64().expect("index") > top,
            "round {r}: index reused"
        );
        let replay = alice
            .request_json(json!({"op": "events.replay", "conversation": conv, "since_seq": 0}))
            .await
            .expect("replay");
        let last = replay["last_seq"].as_u64().expect("last_seq");
        let seen_seq = seen.max_seq.get(conv).copied().unwrap_or(0);
        assert!(
            last > seen_seq,
            "round {r}: seq {last} is not past {seen_seq}"
        );
    }
    alice.close();
}

/// SIGTERM with messages just sent: exit 0 within 10 s, everything kept.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sigterm_commits_closes_and_exits_zero() {
    let dir = tempfile::tempdir().expect("temp dir");
    let (mut child, url) = serve(dir.path());
    let alice = connect(&url, "alice").await;
    let c = alice
        .request_json(json!({"op": "conversation.create", "friendly_name": "t"}))
        .await
        .expect("create");
    let conv = c["id"].as_str().expect("id").to_string();
    let mut acked = Vec::new();
    for i in 0..50 {
        let a = alice
            .request_json(
                json!({"op": "message.send", "conversation": conv, "body": format!("m{i}")}),
            )
            .await
            .expect("send");
        acked.push(a["id"].clone());
    }
    // SAFETY: kill(2) on our own child's pid has no memory effects.
    unsafe { libc::kill(child.0.id() as i32, libc::SIGTERM) };
    let started = Instant::now();
    let code = loop {
        if let Ok(Some(status)) = child.0.try_wait() {
            break status.code();
        }
        assert!(
            started.elapsed() < Duration::from_secs(10),
            "no exit within 10 s"
        );
        std::thread::sleep(Duration::from_millis(20));
    };
    assert_eq!(code, Some(0));
    let (_child, url) = serve(dir.path());
    let alice = connect(&url, "alice").await;
    let stored = messages_from(&alice, &conv, 0).await;
    let ids: HashSet<&Value> = stored.values().map(|m| &m["id"]).collect();
    assert!(
        acked.iter().all(|id| ids.contains(id)),
        "a message was lost on SIGTERM"
    );
}
