//! Credentials in the `--nats` URLs, as NATS clients take them: a user and
//! password, or a token. A server that refuses them ends the start at once.

use serde_json::json;

use super::harness::*;
use super::ONE_AT_A_TIME;

/// `nats://{credentials}@` the single server of `nats`.
fn with(nats: &Nats, credentials: &str) -> String {
    nats.urls[0].replacen("nats://", &format!("nats://{credentials}@"), 1)
}

/// A node refused by the server: exit 1 within 10 s, saying why, and the
/// secret it was given nowhere in what it printed.
fn refused_without_showing(urls: &str, secret: &str) {
    let err = refused_quickly(urls, &["--node-id", "mallory"], "refused this node");
    assert!(!err.contains(secret), "the secret is not printed: {err}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_user_and_password_in_the_url_are_sent_and_wrong_ones_refused_at_once() {
    let _one = ONE_AT_A_TIME.lock().await;
    let nats = Nats::single(&["--user", "app", "--pass", "p@ss:w/rd"]);
    // Percent-encoded in the URL, as URLs want them.
    let a = node_at(&with(&nats, "app:p%40ss%3Aw%2Frd"), "a", &[]);
    let alice = connect(&a, "alice").await;
    let made = alice
        .request_json(json!({"op": "conversation.create", "unique_name": "behind-auth"}))
        .await
        .expect("the node works through the authenticated connection");
    assert_eq!(made["unique_name"], "behind-auth");

    refused_without_showing(&with(&nats, "app:not-the-password"), "not-the-password");
    refused_without_showing(&nats.urls[0], "p@ss");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_token_in_the_url_is_sent_and_a_wrong_one_refused_at_once() {
    let _one = ONE_AT_A_TIME.lock().await;
    let nats = Nats::single(&["--auth", "the-cluster-token"]);
    let a = node_at(&with(&nats, "the-cluster-token"), "a", &[]);
    let alice = connect(&a, "alice").await;
    alice
        .request_json(json!({"op": "conversation.create"}))
        .await
        .expect("the node works through the authenticated connection");

    refused_without_showing(&with(&nats, "a-guessed-token"), "a-guessed-token");
}
