//! What a node says when the NATS servers it is given cannot hold the log.

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
