//! `--append-wait-ms`: while ops keep coming, each waits for the ones
//! asked after it, so that they share a log entry.

use colloquy::testing::Rest;
use serde_json::json;

use super::harness::*;
use super::ONE_AT_A_TIME;

const ENTRIES: &str = "colloquy_cluster_entries_appended_total";

/// A send after a quiet spell goes at once, alone. Four asked right after
/// it (within the second given) wait for one another and go in one entry,
/// each answered with its own message. Without the wait the first of the
/// four goes alone, as soon as it is asked.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn ops_that_keep_coming_wait_to_share_an_entry() {
    let _one = ONE_AT_A_TIME.lock().await;
    let nats = Nats::single(&[]);
    let a = node_with(&nats, "a", &["--append-wait-ms", "1000"]);
    let rest = Rest::new(&a.url);
    let senders: Vec<_> = futures_util::future::join_all(
        (0..4).map(|i| connect(&a, ["alice", "bob", "carol", "dave"][i])),
    )
    .await;
    let made = senders[0]
        .request_json(json!({"op": "conversation.create",
            "participants": ["bob", "carol", "dave"]}))
        .await
        .expect("made after a quiet spell");
    let cid = made["id"].as_str().expect("an id").to_string();
    let before = metric(&rest, ENTRIES).await;
    let sends = senders
        .iter()
        .map(|s| s.request_json(json!({"op": "message.send", "conversation": cid, "body": "hi"})));
    let answers = futures_util::future::join_all(sends).await;
    let mut ids: Vec<String> = answers
        .into_iter()
        .map(|a| a.expect("sent")["id"].as_str().expect("an id").to_string())
        .collect();
    ids.sort();
    ids.dedup();
    assert_eq!(ids.len(), 4, "each its own message");
    assert_eq!(
        metric(&rest, ENTRIES).await - before,
        1,
        "the four sends went in one entry"
    );
}
