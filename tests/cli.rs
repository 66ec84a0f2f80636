//! The `colloquy` binary as a person runs it: what it says when it starts,
//! when it cannot, and when it is stopped.

use std::io::{BufRead, BufReader, Read};
use std::net::TcpListener;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

fn colloquy(args: &[&str]) -> Command {
    let mut cmd = Command::new(env!("CARGO_BIN_EXE_colloquy"));
    cmd.args(args)
        .env("RUST_LOG", "info")
        .env_remove("COLLOQUY_JWT_SECRET")
        .env_remove("COLLOQUY_ADMIN_KEY")
        .env_remove("COLLOQUY_TWILIO_ACCOUNT_SID")
        .env_remove("COLLOQUY_TWILIO_AUTH_TOKEN")
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped());
    cmd
}

/// Waits for a child to exit, at most `within`; kills it past that.
fn wait(child: &mut Child, within: Duration) -> Option<i32> {
    let deadline = Instant::now() + within;
    while Instant::now() < deadline {
        if let Ok(Some(status)) = child.try_wait() {
            return status.code();
        }
        std::thread::sleep(Duration::from_millis(20));
    }
    let _ = child.kill();
    None
}

/// Starts a server on a free port; answers the child and its first stdout line.
fn start(args: &[&str]) -> (Child, String) {
    let mut all = vec!["--bind", "127.0.0.1:0"];
    all.extend_from_slice(args);
    let mut child = colloquy(&all).spawn().expect("the binary runs");
    let mut line = String::new();
    BufReader::new(child.stdout.as_mut().expect("stdout"))
        .read_line(&mut line)
        .expect("a line");
    (child, line)
}

/// SIGTERM, then everything it wrote to stderr.
fn stop(mut child: Child) -> (Option<i32>, String) {
    // SAFETY: kill(2) on our own child's pid has no memory effects.
    unsafe { libc::kill(child.id() as i32, libc::SIGTERM) };
    let code = wait(&mut child, Duration::from_secs(10));
    let mut err = String::new();
    if let Some(mut e) = child.stderr.take() {
        let _ = e.read_to_string(&mut err);
    }
    (code, err)
}

#[test]
fn it_says_where_everything_is_and_stops_cleanly_on_sigterm() {
    let (child, line) = start(&[]);
    assert!(line.starts_with("listening on http://127.0.0.1:"), "{line}");
    let (code, err) = stop(child);
    assert_eq!(code, Some(0), "SIGTERM exits 0; stderr: {err}");
    for what in ["/inspect", "/openapi.json", "DEV MODE"] {
        assert!(err.contains(what), "the start-up log names {what}: {err}");
    }
}

#[test]
fn a_jwt_secret_without_an_admin_key_is_warned_about() {
    let (child, _) = start(&["--jwt-secret", "s3cret"]);
    let (_, err) = stop(child);
    assert!(err.contains("NO ADMIN KEY"), "{err}");
    let (child, _) = start(&["--jwt-secret", "s3cret", "--admin-key", "k"]);
    let (_, err) = stop(child);
    assert!(
        !err.contains("NO ADMIN KEY") && !err.contains("DEV MODE"),
        "{err}"
    );

    let help = colloquy(&["serve", "--help"]).output().expect("help");
    let help = String::from_utf8_lossy(&help.stdout).replace(char::is_whitespace, "");
    assert!(help.contains("mintatokenforanyidentity"), "{help}");
}

#[test]
fn a_busy_port_or_a_bad_flag_is_one_clear_sentence() {
    let taken = TcpListener::bind("127.0.0.1:0").unwrap();
    let addr = taken.local_addr().unwrap().to_string();
    let out = colloquy(&["--bind", &addr]).output().expect("runs");
    let err = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(1));
    assert!(
        err.contains(&format!(
            "colloquy: cannot listen on {addr}: the port is already in use"
        )),
        "{err}"
    );
    assert!(!err.contains("Os {"), "{err}");
    assert!(out.stdout.is_empty());

    let out = colloquy(&["--bind", "nowhere"]).output().expect("runs");
    assert_eq!(out.status.code(), Some(1));
    assert!(String::from_utf8_lossy(&out.stderr).contains("not an IP:PORT address"));

    let out = colloquy(&["--no-such-flag"]).output().expect("runs");
    assert_eq!(out.status.code(), Some(2));
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(
        err.contains("unexpected argument '--no-such-flag'"),
        "{err}"
    );
}

#[test]
fn a_data_dir_it_cannot_use_stops_it_before_it_listens() {
    let root = tempfile::tempdir().expect("temp dir");
    let file = root.path().join("a-file");
    std::fs::write(&file, b"not a store").expect("write");
    let started = Instant::now();
    let mut child = colloquy(&["--bind", "127.0.0.1:0", "--data-dir"])
        .arg(&file)
        .spawn()
        .expect("runs");
    let code = wait(&mut child, Duration::from_secs(10));
    assert!(started.elapsed() < Duration::from_secs(10));
    assert_eq!(code, Some(1));
    let out = child.wait_with_output().expect("output");
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(
        err.contains("cannot start the engine") && err.contains("is not a directory"),
        "{err}"
    );
    assert!(out.stdout.is_empty(), "it must not say it listens");
    assert_eq!(std::fs::read(&file).expect("read"), b"not a store");

    // The environment variable works like the flag.
    let dir = root.path().join("store");
    let mut cmd = colloquy(&["--bind", "127.0.0.1:0"]);
    cmd.env("COLLOQUY_DATA_DIR", &dir);
    let mut child = cmd.spawn().expect("runs");
    let mut line = String::new();
    BufReader::new(child.stdout.as_mut().expect("stdout"))
        .read_line(&mut line)
        .expect("a line");
    assert!(line.starts_with("listening on"), "{line}");
    let (code, _) = stop(child);
    assert_eq!(code, Some(0));
    assert!(dir.join("colloquy.redb").is_file());
}

#[test]
fn the_twilio_account_needs_both_its_sid_and_its_token() {
    let sid = "AC0123456789abcdef0123456789abcdef";
    let out = colloquy(&["--twilio-account-sid", sid])
        .output()
        .expect("runs");
    assert_eq!(out.status.code(), Some(2), "refused before it listens");
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(err.contains("--twilio-auth-token"), "{err}");
    assert!(out.stdout.is_empty());
    let out = colloquy(&[])
        .env("COLLOQUY_TWILIO_AUTH_TOKEN", "t")
        .output()
        .expect("runs");
    assert_eq!(out.status.code(), Some(2), "the environment counts too");

    // Both: the face is locked, and the log says so instead of DEV MODE.
    let (child, line) = start(&["--twilio-account-sid", sid, "--twilio-auth-token", "t"]);
    assert!(line.starts_with("listening on"), "{line}");
    let (code, err) = stop(child);
    assert_eq!(code, Some(0));
    assert!(
        err.contains("configured account sid and auth token"),
        "{err}"
    );
    let (child, _) = start(&[]);
    let (_, err) = stop(child);
    assert!(
        err.contains("the Twilio face (/twilio) takes any credentials"),
        "{err}"
    );
}

#[test]
fn cluster_flags_are_checked_before_it_starts() {
    let refused = |args: &[&str], says: &str| {
        let out = colloquy(args).output().expect("runs");
        assert_eq!(out.status.code(), Some(2), "{args:?} is refused");
        let err = String::from_utf8_lossy(&out.stderr);
        assert!(err.contains(says), "{args:?}: {err}");
        assert!(out.stdout.is_empty());
    };
    let not_a_url = "not a nats://host:port or tls://host:port URL";
    refused(&["--nats", "http://127.0.0.1:4222"], not_a_url);
    refused(&["--nats", "nats://"], not_a_url);
    refused(&["--nats", "tls://"], not_a_url);
    refused(&["--node-id", "a"], "--nats");
    refused(
        &["--nats", "nats://127.0.0.1:4222", "--node-id", "a b"],
        "node id",
    );
    let dir = tempfile::tempdir().expect("temp dir");
    let dir = dir.path().to_str().expect("utf-8 path");
    refused(
        &["--nats", "nats://127.0.0.1:4222", "--data-dir", dir],
        "--data-dir",
    );
    // TLS and key files: only with --nats, a certificate only with its key,
    // and one key file at a time.
    refused(&["--nats-ca", "ca.pem"], "--nats");
    refused(&["--nats-creds", "a.creds"], "--nats");
    refused(
        &["--nats", "tls://127.0.0.1:4222", "--nats-cert", "c.pem"],
        "--nats-key",
    );
    refused(
        &["--nats", "tls://127.0.0.1:4222", "--nats-key", "k.pem"],
        "--nats-cert",
    );
    refused(
        &[
            "--nats",
            "nats://127.0.0.1:4222",
            "--nats-creds",
            "a.creds",
            "--nats-nkey",
            "a.nk",
        ],
        "--nats-nkey",
    );
}
