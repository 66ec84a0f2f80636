//! Connecting a node to NATS: the credentials its URLs carry, or a `.creds`
//! or NKey seed file; TLS; and the outcome of the first connection.

use std::time::Duration;

use tokio::sync::watch;

use super::{credentials, ClusterConfig, ClusterError, KeyFile, READY_WITHIN};

/// Connects to the listed servers, retrying until [`READY_WITHIN`]: the
/// servers of a cluster often start with its nodes. Credentials refused by a
/// server, or a TLS handshake that fails, end it at once: retrying would not
/// change them. `reconnected` counts the client's (re)connections.
///
/// The first connection is tried here, a round over the servers at a time,
/// rather than by the client (`retry_on_initial_connect`), whose retries
/// report no more than "IO error": a failed attempt's error says whether it
/// was a refusal. Once connected, the client reconnects by itself.
pub(super) async fn connect(
    config: &ClusterConfig,
    reconnected: watch::Sender<u64>,
) -> Result<async_nats::Client, ClusterError> {
    let addrs: Vec<async_nats::ServerAddr> = config
        .urls
        .iter()
        .map(|u| {
            u.parse().map_err(|e| ClusterError::Connect {
                urls: "the --nats URLs".into(),
                reason: format!("one is not a NATS URL: {e}"),
            })
        })
        .collect::<Result<_, _>>()?;
    let fail = |reason: String| ClusterError::Connect {
        urls: credentials::shown_all(&config.urls),
        reason,
    };
    let credentials = credentials::from_urls(&addrs).map_err(&fail)?;
    readable(&config.tls).map_err(&fail)?;
    let key = match &config.key_file {
        Some(_) if credentials.is_some() => {
            return Err(fail(
                "the --nats URLs carry credentials and --nats-creds or --nats-nkey gives \
                 others: give them one way"
                    .into(),
            ))
        }
        Some(file) => Some(Key::read(file).map_err(&fail)?),
        None => None,
    };
    let deadline = tokio::time::Instant::now() + READY_WITHIN;
    loop {
        let options = options(
            config,
            credentials.clone(),
            key.clone(),
            reconnected.clone(),
        )
        .map_err(&fail)?;
        let error = match tokio::time::timeout_at(deadline, options.connect(addrs.clone())).await {
            Ok(Ok(client)) => {
                let server = client.server_info();
                return match too_old(&server.version) {
                    Some(why) => Err(fail(format!("{}:{} is {why}", server.host, server.port))),
                    None => Ok(client),
                };
            }
            Ok(Err(e)) => e,
            Err(_) => return Err(fail(format!("no answer within {READY_WITHIN:?}"))),
        };
        if let Some(why) = refusal(&error) {
            return Err(fail(why));
        }
        if tokio::time::Instant::now() > deadline {
            return Err(fail(format!(
                "no answer within {READY_WITHIN:?} (last: {error})"
            )));
        }
        ::log::debug!("NATS not reachable yet: {error}");
        tokio::time::sleep(Duration::from_millis(250)).await;
    }
}

/// Why a server of `version` cannot hold the cluster, if it cannot. 2.10
/// brought what the log relies on: stream metadata (where the log records
/// the cluster's limits; older servers drop it unsaid) and the fixes to
/// compare-and-set on clustered streams (the snapshot key's). A version that
/// does not parse is let through: a build of the server's own, say.
fn too_old(version: &str) -> Option<String> {
    let v = semver::Version::parse(version).ok()?;
    ((v.major, v.minor) < (2, 10)).then(|| {
        format!(
            "nats-server {version}, and the cluster needs 2.10 or newer \
             (scripts/nats-server installs one)"
        )
    })
}

/// What a failed first attempt means, if it is a refusal that another
/// attempt would meet again.
fn refusal(error: &async_nats::ConnectError) -> Option<String> {
    use async_nats::ConnectErrorKind as Kind;
    let text = error.to_string();
    // rustls's refusals reach us as I/O errors: "invalid peer certificate",
    // "received fatal alert: CertificateRequired" and the like.
    let tls = matches!(error.kind(), Kind::Tls)
        || (matches!(error.kind(), Kind::Io)
            && ["certificate", "alert", "tls", "handshake"]
                .iter()
                .any(|w| text.to_ascii_lowercase().contains(w)));
    if matches!(error.kind(), Kind::AuthorizationViolation) {
        Some(
            "the server refused this node (authorization violation): check its credentials \
             (the user and password, or the token, in the --nats URLs, or the file given \
             with --nats-creds or --nats-nkey)"
                .into(),
        )
    } else if tls {
        Some(format!(
            "the TLS handshake failed ({text}): check that --nats-ca names the authority that \
             signed the servers' certificates (the system's are trusted without it), and, for \
             servers that verify their clients, --nats-cert and --nats-key"
        ))
    } else {
        None
    }
}

/// How often the client pings a server that has said nothing: every node's
/// presence heartbeat reaches it every 2 s, so on a live cluster a ping is
/// rarely sent.
const PING_EVERY: Duration = Duration::from_secs(2);

/// The client's options: name, credentials, TLS, and the events that count
/// its connections.
fn options(
    config: &ClusterConfig,
    credentials: Option<credentials::Credentials>,
    key: Option<Key>,
    reconnected: watch::Sender<u64>,
) -> Result<async_nats::ConnectOptions, String> {
    let mut options = async_nats::ConnectOptions::new()
        .name(format!("colloquy {}", config.node_id))
        .connection_timeout(Duration::from_secs(2))
        // A server that stalls (a stopped process, a paused machine, a
        // network dropping packets without a reset) keeps its connection
        // open; the client leaves it on the third ping in a row that goes
        // unanswered, 3 × this after the server's last word. At the default
        // 60 s, a node's appends failed for three minutes while the other
        // servers served.
        .ping_interval(PING_EVERY)
        .event_callback(move |event| {
            if let async_nats::Event::Connected = event {
                reconnected.send_modify(|n| *n += 1);
            }
            async move { ::log::info!("NATS: {event}") }
        });
    match credentials {
        Some(credentials::Credentials::UserAndPassword(user, password)) => {
            options = options.user_and_password(user, password)
        }
        Some(credentials::Credentials::Token(token)) => options = options.token(token),
        None => {}
    }
    match key {
        Some(Key::Creds(text)) => {
            options = options
                .credentials(&text)
                .map_err(|e| format!("--nats-creds is not a .creds file: {e}"))?
        }
        Some(Key::NKey(seed)) => options = options.nkey(seed),
        None => {}
    }
    Ok(with_tls(options, &config.tls))
}

/// What a [`KeyFile`] holds, read (and checked) once at start.
#[derive(Clone)]
enum Key {
    Creds(String),
    NKey(String),
}

impl Key {
    fn read(file: &KeyFile) -> Result<Key, String> {
        let read = |flag: &str, path: &std::path::Path| {
            std::fs::read_to_string(path)
                .map_err(|e| format!("cannot read {flag} {}: {e}", path.display()))
        };
        match file {
            KeyFile::Creds(path) => {
                let text = read("--nats-creds", path)?;
                // Parsed now, so that a wrong file is named at once.
                async_nats::ConnectOptions::new()
                    .credentials(&text)
                    .map_err(|e| {
                        format!("--nats-creds {} is not a .creds file: {e}", path.display())
                    })?;
                Ok(Key::Creds(text))
            }
            KeyFile::NKey(path) => {
                let seed = read("--nats-nkey", path)?.trim().to_string();
                nkeys::KeyPair::from_seed(&seed).map_err(|e| {
                    format!("--nats-nkey {} holds no NKey seed: {e}", path.display())
                })?;
                Ok(Key::NKey(seed))
            }
        }
    }
}

/// Whether the TLS files can be read: a missing one is named at once rather
/// than retried for 30 s.
fn readable(tls: &super::Tls) -> Result<(), String> {
    let files = [("--nats-ca", tls.ca.as_ref())].into_iter().chain(
        tls.client
            .iter()
            .flat_map(|(cert, key)| [("--nats-cert", Some(cert)), ("--nats-key", Some(key))]),
    );
    for (flag, path) in files {
        if let Some(path) = path {
            std::fs::File::open(path)
                .map_err(|e| format!("cannot read {flag} {}: {e}", path.display()))?;
        }
    }
    Ok(())
}

/// The client's options with `tls`.
fn with_tls(
    mut options: async_nats::ConnectOptions,
    tls: &super::Tls,
) -> async_nats::ConnectOptions {
    if let Some(ca) = &tls.ca {
        options = options.add_root_certificates(ca.clone()).require_tls(true);
    }
    if let Some((cert, key)) = &tls.client {
        options = options
            .add_client_certificate(cert.clone(), key.clone())
            .require_tls(true);
    }
    options
}

#[cfg(test)]
mod tests {
    use async_nats::{ConnectError, ConnectErrorKind as Kind};

    use super::*;

    fn io(text: &str) -> ConnectError {
        ConnectError::with_source(Kind::Io, std::io::Error::other(text.to_string()))
    }

    #[test]
    fn a_refused_certificate_or_credentials_end_the_start() {
        let untrusted = refusal(&io("invalid peer certificate: UnknownIssuer"));
        assert!(untrusted.is_some_and(
            |why| why.contains("TLS handshake failed") && why.contains("UnknownIssuer")
        ));
        let no_client_cert = refusal(&io("received fatal alert: CertificateRequired"));
        assert!(no_client_cert.is_some_and(|why| why.contains("TLS handshake failed")));
        assert!(refusal(&ConnectError::new(Kind::Tls)).is_some());
        let refused = refusal(&ConnectError::new(Kind::AuthorizationViolation));
        assert!(refused.is_some_and(|why| why.contains("refused this node")));
    }

    #[test]
    fn a_server_not_up_yet_is_tried_again() {
        assert_eq!(refusal(&io("Connection refused (os error 111)")), None);
        assert_eq!(refusal(&ConnectError::new(Kind::TimedOut)), None);
        assert_eq!(refusal(&ConnectError::new(Kind::Dns)), None);
    }

    #[test]
    fn a_server_older_than_2_10_is_refused() {
        for old in ["2.9.25", "2.2.0", "1.4.1"] {
            let why = too_old(old).expect("refused");
            assert!(
                why.contains(old) && why.contains("needs 2.10 or newer"),
                "{why}"
            );
        }
        for new in [
            "2.10.0",
            "2.10.26",
            "2.15.1",
            "3.0.0",
            "2.11.0-beta.1",
            "a build",
        ] {
            assert_eq!(too_old(new), None, "{new}");
        }
    }

    #[test]
    fn a_key_file_is_checked_when_read() {
        let dir = tempfile::tempdir().expect("a temporary dir");
        let path = |name: &str| dir.path().join(name);
        let seed = nkeys::KeyPair::new_user().seed().expect("a seed");
        std::fs::write(path("ok.nk"), format!("{seed}\n")).expect("written");
        std::fs::write(path("junk.nk"), "SUnot-a-seed").expect("written");
        let read = |name: &str| Key::read(&KeyFile::NKey(path(name)));
        assert!(matches!(read("ok.nk"), Ok(Key::NKey(s)) if s == seed));
        let junk = read("junk.nk").err().expect("refused");
        assert!(
            junk.contains("holds no NKey seed") && junk.contains("junk.nk"),
            "{junk}"
        );
        let missing = read("nowhere.nk").err().expect("refused");
        assert!(missing.contains("cannot read --nats-nkey"), "{missing}");
        let creds = Key::read(&KeyFile::Creds(path("ok.nk")))
            .err()
            .expect("refused");
        assert!(creds.contains("is not a .creds file"), "{creds}");
    }
}
