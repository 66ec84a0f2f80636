//! TLS to the NATS servers: a private authority (`--nats-ca`), and a
//! certificate for servers that verify their clients (`--nats-cert`,
//! `--nats-key`). The certificates are made here, valid for a day.

use std::path::{Path, PathBuf};

use rcgen::{
    BasicConstraints, CertificateParams, DnType, ExtendedKeyUsagePurpose, IsCa, Issuer, KeyPair,
    KeyUsagePurpose,
};
use serde_json::json;

use super::harness::*;
use super::ONE_AT_A_TIME;

/// A CA, a server certificate for 127.0.0.1 and a client certificate, as PEM
/// files in `dir`: `ca.pem`, `server.pem`/`server.key`, `client.pem`/`client.key`.
fn make_pki(dir: &Path) {
    let write = |name: &str, pem: String| std::fs::write(dir.join(name), pem).expect("written");
    let mut ca = CertificateParams::new(Vec::<String>::new()).expect("params");
    ca.is_ca = IsCa::Ca(BasicConstraints::Unconstrained);
    ca.distinguished_name
        .push(DnType::CommonName, "colloquy test authority");
    ca.key_usages = vec![
        KeyUsagePurpose::KeyCertSign,
        KeyUsagePurpose::CrlSign,
        KeyUsagePurpose::DigitalSignature,
    ];
    let ca_key = KeyPair::generate().expect("a key");
    write("ca.pem", ca.self_signed(&ca_key).expect("signed").pem());
    let issuer = Issuer::new(ca, ca_key);
    for (name, sans, usage) in [
        (
            "server",
            vec!["127.0.0.1".to_string(), "localhost".to_string()],
            ExtendedKeyUsagePurpose::ServerAuth,
        ),
        (
            "client",
            vec!["colloquy-node".to_string()],
            ExtendedKeyUsagePurpose::ClientAuth,
        ),
    ] {
        let mut params = CertificateParams::new(sans).expect("params");
        params.distinguished_name.push(DnType::CommonName, name);
        params.extended_key_usages = vec![usage];
        params.key_usages = vec![KeyUsagePurpose::DigitalSignature];
        let key = KeyPair::generate().expect("a key");
        let cert = params.signed_by(&key, &issuer).expect("signed");
        write(&format!("{name}.pem"), cert.pem());
        write(&format!("{name}.key"), key.serialize_pem());
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn nodes_reach_nats_over_tls_with_a_private_authority_and_a_client_certificate() {
    let _one = ONE_AT_A_TIME.lock().await;
    let pki = tempfile::tempdir().expect("a temporary dir");
    make_pki(pki.path());
    let file = |name: &str| -> PathBuf { pki.path().join(name) };
    let path = |name: &str| file(name).to_str().expect("a UTF-8 path").to_string();
    let nats = Nats::single(&[
        "--tls",
        "--tlscert",
        &path("server.pem"),
        "--tlskey",
        &path("server.key"),
        "--tlsverify",
        "--tlscacert",
        &path("ca.pem"),
    ]);
    let plain = nats.urls[0].clone();
    let tls = plain.replacen("nats://", "tls://", 1);
    let (ca, cert, key) = (path("ca.pem"), path("client.pem"), path("client.key"));
    let trusted = [
        "--nats-ca",
        ca.as_str(),
        "--nats-cert",
        cert.as_str(),
        "--nats-key",
        key.as_str(),
    ];

    // With the authority and a client certificate, over a tls:// URL and
    // over a nats:// one (--nats-ca makes every connection TLS), nodes work
    // and share a conversation.
    let a = node_at(&tls, "a", &trusted);
    let b = node_at(&plain, "b", &trusted);
    let alice = connect(&a, "alice").await;
    alice
        .request_json(json!({"op": "conversation.create", "unique_name": "over-tls"}))
        .await
        .expect("created through a TLS connection");
    let bob = connect(&b, "bob").await;
    let joined = bob
        .request_json(json!({"op": "conversation.join", "conversation": "over-tls"}))
        .await
        .expect("joined on the other node");
    assert_eq!(joined["unique_name"], "over-tls");

    // Without the authority the server's certificate is not trusted; without
    // a certificate of its own the server does not take the node. Both are
    // refused at once, saying it was the TLS handshake.
    let handshake = "the TLS handshake failed";
    refused_quickly(&tls, &["--node-id", "no-ca"], handshake);
    refused_quickly(&plain, &["--node-id", "no-ca-plain"], handshake);
    refused_quickly(
        &tls,
        &["--node-id", "no-cert", "--nats-ca", ca.as_str()],
        handshake,
    );
    // A file that is not there is named, at once.
    refused_quickly(
        &tls,
        &["--node-id", "typo", "--nats-ca", &path("nowhere.pem")],
        "cannot read --nats-ca",
    );
}
