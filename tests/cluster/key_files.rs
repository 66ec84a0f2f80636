//! Who a node is to NATS, from a file: an NKey seed (`--nats-nkey`), or a
//! `.creds` file (`--nats-creds`) for a server in operator mode, whose
//! operator, accounts and user are made here.

use std::path::Path;

use base64::Engine as _;
use nkeys::KeyPair;
use serde_json::{json, Value};

use super::harness::*;
use super::ONE_AT_A_TIME;

fn write(dir: &Path, name: &str, text: &str) -> String {
    let path = dir.join(name);
    std::fs::write(&path, text).expect("written");
    path.to_str().expect("a UTF-8 path").to_string()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_nkey_seed_file_is_used_and_a_wrong_one_refused_at_once() {
    let _one = ONE_AT_A_TIME.lock().await;
    let dir = tempfile::tempdir().expect("a temporary dir");
    let user = KeyPair::new_user();
    let conf = write(
        dir.path(),
        "nats.conf",
        &format!(
            "authorization {{ users: [ {{ nkey: {} }} ] }}\n",
            user.public_key()
        ),
    );
    let nats = Nats::single(&["-c", &conf]);
    let url = &nats.urls[0];
    let seed = write(dir.path(), "node.nk", &user.seed().expect("a seed"));
    let a = node_at(url, "a", &["--nats-nkey", &seed]);
    let alice = connect(&a, "alice").await;
    alice
        .request_json(json!({"op": "conversation.create", "unique_name": "by-nkey"}))
        .await
        .expect("the node works through its NKey");

    let stranger = KeyPair::new_user().seed().expect("a seed");
    let stranger = write(dir.path(), "stranger.nk", &stranger);
    refused_quickly(
        url,
        &["--node-id", "stranger", "--nats-nkey", &stranger],
        "refused this node",
    );
    refused_quickly(url, &["--node-id", "none"], "refused this node");
    let junk = write(dir.path(), "junk.nk", "not a seed\n");
    refused_quickly(
        url,
        &["--node-id", "junk", "--nats-nkey", &junk],
        "holds no NKey seed",
    );
}

/// A NATS JWT: `claims` with `iss` and `sub` set, signed by `issuer`.
fn jwt(issuer: &KeyPair, subject: &str, name: &str, nats: Value) -> String {
    let b64 = |bytes: &[u8]| base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(bytes);
    let header = b64(br#"{"typ":"JWT","alg":"ed25519-nkey"}"#);
    let claims = json!({
        "jti": uuid::Uuid::new_v4().simple().to_string().to_uppercase(),
        "iat": std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .expect("after 1970")
            .as_secs(),
        "iss": issuer.public_key(),
        "sub": subject,
        "name": name,
        "nats": nats,
    });
    let claims = b64(claims.to_string().as_bytes());
    let signed = format!("{header}.{claims}");
    let signature = issuer.sign(signed.as_bytes()).expect("signed");
    format!("{signed}.{}", b64(&signature))
}

/// An account's JWT, with JetStream (unlimited) or without (the system
/// account may not have it).
fn account(operator: &KeyPair, account: &KeyPair, name: &str, jetstream: bool) -> String {
    let mut unlimited = json!({
        "subs": -1, "data": -1, "payload": -1, "imports": -1, "exports": -1,
        "wildcards": true, "conn": -1, "leaf": -1,
    });
    if jetstream {
        for limit in ["mem_storage", "disk_storage", "streams", "consumer"] {
            unlimited[limit] = json!(-1);
        }
    }
    jwt(
        operator,
        &account.public_key(),
        name,
        json!({"limits": unlimited, "type": "account", "version": 2}),
    )
}

/// A `.creds` file for a new user of `account`: its JWT and its seed.
fn user_creds(account: &KeyPair, name: &str) -> String {
    let user = KeyPair::new_user();
    let jwt = jwt(
        account,
        &user.public_key(),
        name,
        json!({"pub": {}, "sub": {}, "subs": -1, "data": -1, "payload": -1,
               "type": "user", "version": 2}),
    );
    let seed = user.seed().expect("a seed");
    format!(
        "-----BEGIN NATS USER JWT-----\n{jwt}\n------END NATS USER JWT------\n\n\
         -----BEGIN USER NKEY SEED-----\n{seed}\n------END USER NKEY SEED------\n"
    )
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_creds_file_opens_a_server_in_operator_mode_and_a_foreign_one_is_refused() {
    let _one = ONE_AT_A_TIME.lock().await;
    let dir = tempfile::tempdir().expect("a temporary dir");
    let operator = KeyPair::new_operator();
    let (system, app) = (KeyPair::new_account(), KeyPair::new_account());
    let plain = KeyPair::new_account();
    let operator_jwt = jwt(
        &operator,
        &operator.public_key(),
        "test",
        json!({"type": "operator", "version": 2}),
    );
    let conf = write(
        dir.path(),
        "nats.conf",
        &format!(
            "operator: {operator_jwt}\nsystem_account: {sys}\nresolver: MEMORY\n\
             resolver_preload: {{\n  {sys}: {sys_jwt}\n  {app}: {app_jwt}\n  \
             {plain}: {plain_jwt}\n}}\n",
            sys = system.public_key(),
            sys_jwt = account(&operator, &system, "SYS", false),
            app = app.public_key(),
            app_jwt = account(&operator, &app, "app", true),
            plain = plain.public_key(),
            plain_jwt = account(&operator, &plain, "plain", false),
        ),
    );
    let nats = Nats::single(&["-c", &conf]);
    let url = &nats.urls[0];
    let file = write(dir.path(), "node.creds", &user_creds(&app, "node"));
    let a = node_at(url, "a", &["--nats-creds", &file]);
    let alice = connect(&a, "alice").await;
    alice
        .request_json(json!({"op": "conversation.create", "unique_name": "by-creds"}))
        .await
        .expect("the node works through its .creds");

    // A user of an account the server does not know.
    let stranger = user_creds(&KeyPair::new_account(), "stranger");
    let stranger = write(dir.path(), "stranger.creds", &stranger);
    refused_quickly(
        url,
        &["--node-id", "stranger", "--nats-creds", &stranger],
        "refused this node",
    );
    // A user of an account without JetStream: said at once, not after
    // 30 s of waiting for JetStream to answer.
    let plain = write(dir.path(), "plain.creds", &user_creds(&plain, "plain"));
    refused_quickly(
        url,
        &["--node-id", "plain", "--nats-creds", &plain],
        "does not enable JetStream for this node's account",
    );
    let junk = write(dir.path(), "junk.creds", "not a creds file\n");
    refused_quickly(
        url,
        &["--node-id", "junk", "--nats-creds", &junk],
        "is not a .creds file",
    );
}
