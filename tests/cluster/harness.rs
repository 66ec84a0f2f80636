//! What the cluster tests share: a NATS cluster, colloquy nodes on it, and
//! clients that wait for events.

use std::future::Future;
use std::net::{TcpListener, TcpStream};
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use colloquy::client::{Client, ClientConfig, ClientEvent, EventKind, EventStream};
use colloquy::testing::Rest;
use serde_json::json;

use super::child::{self, Proc};

/// `n` distinct free ports. The listeners are held until all are taken: a
/// port let go at once may be handed out again by the next bind, and a NATS
/// server given another's route port as its client port fails to start
/// (seen once in CI: "attempted to connect to route port", then JetStream
/// without its quorum).
pub fn free_ports(n: usize) -> Vec<u16> {
    let held: Vec<TcpListener> = (0..n)
        .map(|_| TcpListener::bind("127.0.0.1:0").expect("a free port"))
        .collect();
    held.iter()
        .map(|l| l.local_addr().expect("its address").port())
        .collect()
}

/// The pinned nats-server, installed once by the project's script.
pub fn nats_server() -> PathBuf {
    let root = Path::new(env!("CARGO_MANIFEST_DIR"));
    let out = Command::new(root.join("scripts/nats-server"))
        .stderr(Stdio::inherit())
        .output()
        .expect("scripts/nats-server runs (it needs python3)");
    assert!(out.status.success(), "scripts/nats-server failed");
    PathBuf::from(String::from_utf8_lossy(&out.stdout).trim())
}

/// Three NATS servers in one cluster, with JetStream on temporary storage.
pub struct Nats {
    servers: Vec<Option<Proc>>,
    bin: PathBuf,
    /// Each server's flags, to start it again on the same ports and storage.
    flags: Vec<Vec<String>>,
    pub urls: Vec<String>,
    /// Each server's client port.
    ports: Vec<u16>,
    /// Each server's HTTP monitoring port.
    monitor: Vec<u16>,
    dir: PathBuf,
}

impl Nats {
    pub fn start() -> Nats {
        Nats::launch(3, true, &[])
    }

    /// One server with JetStream, not clustered, started with `extra` flags
    /// (`--user`, `--auth` …).
    pub fn single(extra: &[&str]) -> Nats {
        Nats::launch(1, true, extra)
    }

    /// One server with JetStream that takes messages of at most `bytes`
    /// (`max_payload`; 1 MiB by default).
    pub fn taking_at_most(bytes: usize) -> Nats {
        let conf =
            std::env::temp_dir().join(format!("colloquy-nats-{}.conf", uuid::Uuid::new_v4()));
        std::fs::write(&conf, format!("max_payload: {bytes}\n")).expect("written");
        // Read at start: the server listens once it has read it.
        let nats = Nats::single(&["-c", conf.to_str().expect("a UTF-8 path")]);
        let _ = std::fs::remove_file(&conf);
        nats
    }

    /// Three servers in one cluster, none running JetStream (started
    /// without `-js`, as a newcomer may).
    pub fn without_jetstream() -> Nats {
        Nats::launch(3, false, &[])
    }

    fn launch(n: usize, jetstream: bool, extra: &[&str]) -> Nats {
        let dir = std::env::temp_dir().join(format!("colloquy-nats-{}", uuid::Uuid::new_v4()));
        let ports = free_ports(3 * n);
        let (client, rest) = ports.split_at(n);
        let (cluster, monitor) = rest.split_at(n);
        let monitor = monitor.to_vec();
        let routes = cluster
            .iter()
            .map(|p| format!("nats-route://127.0.0.1:{p}"))
            .collect::<Vec<_>>()
            .join(",");
        let flags: Vec<Vec<String>> = (0..n)
            .map(|i| {
                let mut f: Vec<String> = ["--name", &format!("n{i}"), "-a", "127.0.0.1"]
                    .into_iter()
                    .map(String::from)
                    .collect();
                f.extend(["-p".into(), client[i].to_string()]);
                f.extend(["-m".into(), monitor[i].to_string()]);
                if n > 1 {
                    f.extend(["--cluster_name".into(), "test".into()]);
                    f.extend([
                        "--cluster".into(),
                        format!("nats://127.0.0.1:{}", cluster[i]),
                    ]);
                    f.extend(["--routes".into(), routes.clone()]);
                }
                if jetstream {
                    let store = dir.join(format!("n{i}"));
                    f.extend(["-js".into(), "--store_dir".into()]);
                    f.push(store.to_string_lossy().into_owned());
                }
                f.extend(extra.iter().map(|e| e.to_string()));
                f
            })
            .collect();
        let urls = client
            .iter()
            .map(|p| format!("nats://127.0.0.1:{p}"))
            .collect();
        let mut nats = Nats {
            servers: (0..n).map(|_| None).collect(),
            bin: nats_server(),
            flags,
            urls,
            ports: client.to_vec(),
            monitor,
            dir,
        };
        for i in 0..n {
            nats.restart(i);
        }
        nats
    }

    /// Starts server `i` (again, after [`Nats::kill`]: on its ports and
    /// storage), and waits until it listens.
    pub fn restart(&mut self, i: usize) {
        let child = Command::new(&self.bin)
            .args(&self.flags[i])
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .expect("nats-server starts");
        self.servers[i] = Some(Proc(child));
        let deadline = Instant::now() + Duration::from_secs(20);
        while TcpStream::connect(("127.0.0.1", self.ports[i])).is_err() {
            assert!(Instant::now() < deadline, "nats-server did not listen");
            std::thread::sleep(Duration::from_millis(50));
        }
    }

    /// A JetStream client of the test's own, to look at or meddle with
    /// what the nodes keep.
    pub async fn jetstream(&self) -> async_nats::jetstream::Context {
        let client = async_nats::connect(self.urls.clone())
            .await
            .expect("the test reaches NATS");
        async_nats::jetstream::new(client)
    }

    pub fn kill(&mut self, i: usize) {
        self.servers[i] = None;
    }

    /// Server `i`'s process id, for [`signal`].
    pub fn pid(&self, i: usize) -> u32 {
        self.servers[i].as_ref().expect("server running").0.id()
    }

    /// Makes server `i` the leader of the log's stream (asking the leader
    /// to step down in its favour), and waits until every server says so.
    pub async fn lead_the_log(&self, i: usize) {
        let client = async_nats::connect(self.urls.clone())
            .await
            .expect("the test reaches NATS");
        let name = format!("n{i}");
        let deadline = Instant::now() + Duration::from_secs(30);
        while self
            .log_leaders(None)
            .await
            .iter()
            .any(|l| l.as_deref() != Some(&*name))
        {
            assert!(Instant::now() < deadline, "{name} never led the log");
            let ask = serde_json::json!({"placement": {"preferred": name}}).to_string();
            let _ = client
                .request("$JS.API.STREAM.LEADER.STEPDOWN.COLLOQUY", ask.into())
                .await;
            tokio::time::sleep(Duration::from_millis(500)).await;
        }
    }

    /// Which server (`n0` …) each live server but `skip` (one stopped,
    /// whose monitor would not answer) takes for the leader of the log's
    /// stream.
    pub async fn log_leaders(&self, skip: Option<usize>) -> Vec<Option<String>> {
        let mut leaders = Vec::new();
        for i in (0..self.servers.len()).filter(|&i| Some(i) != skip) {
            if self.servers[i].is_some() {
                leaders.push(self.log_leader_seen_by(i).await);
            }
        }
        leaders
    }

    /// Which server server `i` takes for the leader of the log's stream,
    /// from its own monitoring endpoint: its own view, however stale.
    pub fn log_leader_seen_by(&self, i: usize) -> impl Future<Output = Option<String>> {
        let rest = Rest::new(&format!("http://127.0.0.1:{}", self.monitor[i]));
        async move {
            let jsz = rest.get("/jsz?accounts=true&streams=true").await;
            let jsz = jsz.expect("the monitor answers").body;
            let accounts = jsz["account_details"].as_array().into_iter().flatten();
            accounts
                .flat_map(|a| a["stream_detail"].as_array().into_iter().flatten())
                .find(|s| s["name"] == "COLLOQUY")
                .and_then(|s| s["cluster"]["leader"].as_str().map(String::from))
        }
    }

    /// Copies server `i`'s storage aside (kill it first), to be put back
    /// with [`Nats::put_storage_back`]: a backup.
    pub fn copy_storage(&self, i: usize) {
        let (store, copy) = self.storage(i);
        let _ = std::fs::remove_dir_all(&copy);
        copy_dir(&store, &copy);
    }

    /// Puts server `i`'s storage back as [`Nats::copy_storage`] copied it
    /// (kill it first): a backup restored.
    pub fn put_storage_back(&self, i: usize) {
        let (store, copy) = self.storage(i);
        std::fs::remove_dir_all(&store).expect("the storage is removed");
        copy_dir(&copy, &store);
    }

    /// Server `i`'s storage, and where a copy of it goes.
    fn storage(&self, i: usize) -> (PathBuf, PathBuf) {
        let store = self.dir.join(format!("n{i}"));
        (store, self.dir.join(format!("n{i}-copy")))
    }

    /// Each live server's answer to the monitoring endpoint `path`
    /// (`/connz`, `/jsz`), by the server's number.
    async fn monitored(&self, path: &str) -> Vec<(usize, serde_json::Value)> {
        let mut answers = Vec::new();
        for (i, port) in self.monitor.iter().enumerate() {
            if self.servers[i].is_some() {
                let rest = Rest::new(&format!("http://127.0.0.1:{port}"));
                let answer = rest.get(path).await.expect("the monitor answers");
                answers.push((i, answer.body));
            }
        }
        answers
    }

    /// JetStream API requests the live servers have handled, together.
    pub async fn api_requests(&self) -> u64 {
        let jsz = self.monitored("/jsz").await;
        jsz.iter()
            .map(|(_, j)| j["api"]["total"].as_u64().expect("api.total in /jsz"))
            .sum()
    }

    /// The server that the NATS client named `name` is connected to, from
    /// each live server's list of connections.
    pub async fn serving(&self, name: &str) -> usize {
        for (i, connz) in self.monitored("/connz").await {
            let mut connections = connz["connections"].as_array().into_iter().flatten();
            if connections.any(|c| c["name"] == name) {
                return i;
            }
        }
        panic!("no NATS server serves {name}")
    }
}

impl Drop for Nats {
    fn drop(&mut self) {
        self.servers.clear();
        let _ = std::fs::remove_dir_all(&self.dir);
    }
}

/// Copies the directory `from` (files and directories only) to `to`.
fn copy_dir(from: &Path, to: &Path) {
    std::fs::create_dir_all(to).expect("a directory is made");
    for entry in std::fs::read_dir(from).expect("the directory is read") {
        let entry = entry.expect("an entry");
        let target = to.join(entry.file_name());
        if entry.file_type().expect("its type").is_dir() {
            copy_dir(&entry.path(), &target);
        } else {
            std::fs::copy(entry.path(), &target).expect("a file is copied");
        }
    }
}

/// A colloquy node of the cluster.
pub struct Node {
    pub proc: Proc,
    pub url: String,
}

pub fn node(nats: &Nats, id: &str) -> Node {
    node_with(nats, id, &[])
}

pub fn node_with(nats: &Nats, id: &str, args: &[&str]) -> Node {
    node_at(&nats.urls.join(","), id, args)
}

/// A node given the `--nats` URLs.
pub fn node_at(urls: &str, id: &str, args: &[&str]) -> Node {
    let log = std::env::var("NODE_LOG").unwrap_or("error".into());
    let mut all = vec!["--node-id", id, "--nats", urls];
    all.extend(args);
    let (proc, url) = child::colloquy(&all, &log);
    Node { proc, url }
}

/// Starts a node with `args` that must refuse to start: exit 1, never
/// listening. Answers what it said on stderr.
pub fn refused(nats: &Nats, args: &[&str]) -> String {
    refused_at(&nats.urls.join(","), args)
}

/// [`refused`], given the `--nats` URLs.
pub fn refused_at(urls: &str, args: &[&str]) -> String {
    let out = Command::new(env!("CARGO_BIN_EXE_colloquy"))
        .args(["--bind", "127.0.0.1:0", "--nats", urls])
        .args(args)
        .env("RUST_LOG", "error")
        .stdin(Stdio::null())
        .output()
        .expect("the binary runs");
    assert_eq!(out.status.code(), Some(1));
    assert!(out.stdout.is_empty(), "it never listened");
    String::from_utf8_lossy(&out.stderr).into_owned()
}

/// A node started with `args` is refused at once, not after 30 s of
/// retrying: exit 1 within 10 s, saying `why`. Answers what it said.
pub fn refused_quickly(urls: &str, args: &[&str], why: &str) -> String {
    let started = Instant::now();
    let err = refused_at(urls, args);
    assert!(
        started.elapsed() < Duration::from_secs(10),
        "refused at once, not after retrying: {:?}",
        started.elapsed()
    );
    assert!(err.contains(why), "{err}");
    err
}

pub async fn connect(node: &Node, who: &str) -> Client {
    let config = ClientConfig::new(&node.url)
        .identity(who)
        .reconnect(false)
        .request_timeout(Duration::from_secs(40));
    Client::connect(config).await.expect("connects")
}

/// The value of the `/metrics` series `name`.
pub async fn metric(rest: &Rest, name: &str) -> u64 {
    let text = rest.get("/metrics").await.expect("answers").body;
    let text = text.as_str().expect("text");
    text.lines()
        .find_map(|l| l.strip_prefix(name)?.strip_prefix(' ')?.parse().ok())
        .unwrap_or_else(|| panic!("no {name} in {text}"))
}

/// The next event `pick` takes, within `wait`; panics with `what` otherwise.
pub async fn expect<T>(
    events: &mut EventStream,
    wait: Duration,
    what: &str,
    mut pick: impl FnMut(&ClientEvent) -> Option<T>,
) -> T {
    let deadline = tokio::time::Instant::now() + wait;
    loop {
        let left = deadline.saturating_duration_since(tokio::time::Instant::now());
        match events.next_within(left).await {
            Some(e) => {
                if let Some(t) = pick(&e) {
                    return t;
                }
            }
            None => panic!("no {what} within {wait:?}"),
        }
    }
}

/// `(seq, message id)` of the next `n` messageAdded of `conversation`.
pub async fn messages(
    events: &mut EventStream,
    conversation: &str,
    n: usize,
) -> Vec<(u64, String)> {
    let mut got = Vec::with_capacity(n);
    while got.len() < n {
        let m = expect(events, Duration::from_secs(60), "messageAdded", |e| match (
            &e.kind,
            &e.conversation,
            e.seq,
        ) {
            (EventKind::MessageAdded(m), Some(c), Some(seq)) if c == conversation => {
                Some((seq, m.id.to_string()))
            }
            (EventKind::Lagged(n), _, _) => panic!("the client lagged by {n}"),
            _ => None,
        })
        .await;
        got.push(m);
    }
    got
}

pub fn status_of(who: &'static str) -> impl FnMut(&ClientEvent) -> Option<String> {
    move |e| match &e.kind {
        EventKind::UserStatus {
            identity, status, ..
        } if identity.as_str() == who => Some(status.clone()),
        _ => None,
    }
}

/// Picks `typingStarted` (`started`) or `typingEnded`, answering the typist.
pub fn typing(started: bool) -> impl FnMut(&ClientEvent) -> Option<String> {
    move |e| match (&e.kind, started) {
        (EventKind::TypingStarted { identity }, true)
        | (EventKind::TypingEnded { identity }, false) => Some(identity.to_string()),
        _ => None,
    }
}

/// Sends until acknowledged, with one `client_id`, so that a retry across a
/// failover is never stored twice; answers the message's id.
pub async fn send(client: &Client, conversation: &str, body: &str) -> String {
    let deadline = Instant::now() + Duration::from_secs(40);
    let client_id = uuid::Uuid::new_v4().to_string();
    loop {
        let req = json!({"op": "message.send", "conversation": conversation,
                         "body": body, "client_id": client_id});
        match client.request_json(req).await {
            Ok(v) => return v["id"].as_str().expect("an id").to_string(),
            Err(e) => {
                assert!(Instant::now() < deadline, "{body} never acknowledged: {e}");
                tokio::time::sleep(Duration::from_millis(200)).await;
            }
        }
    }
}

/// `n` sends from `client`, one after another, with the bodies `{label}0`
/// …; answers their ids.
pub async fn sends(client: &Client, conversation: &str, label: &str, n: usize) -> Vec<String> {
    let mut ids = Vec::with_capacity(n);
    for i in 0..n {
        ids.push(send(client, conversation, &format!("{label}{i}")).await);
    }
    ids
}

/// Sends a signal (`-STOP`, `-CONT`) to a child process.
pub fn signal(sig: &str, pid: u32) {
    let ok = Command::new("kill").args([sig, &pid.to_string()]).status();
    assert!(ok.is_ok_and(|s| s.success()), "kill {sig}");
}

pub fn assert_gap_free(seen: &[(u64, String)]) {
    for w in seen.windows(2) {
        assert_eq!(w[1].0, w[0].0 + 1, "seq must go up by one: {w:?}");
    }
}

/// The log entries of the snapshots the cluster's key names, the latest
/// first: a whole snapshot and the deltas on it (the key holds
/// `entry:size` words).
pub async fn snapshot_chain(js: &async_nats::jetstream::Context) -> Vec<u64> {
    let latest = js
        .get_key_value("COLLOQUY_SNAPSHOT")
        .await
        .expect("the snapshot key")
        .get("latest")
        .await
        .expect("read")
        .expect("a snapshot is named");
    let text = std::str::from_utf8(&latest).expect("text");
    text.split(' ')
        .map(|link| {
            let entry = link.split(':').next().unwrap_or_default();
            entry.parse().unwrap_or_else(|_| panic!("{text:?}"))
        })
        .collect()
}

/// The exit code of `child`, which must exit within `within` (`what` says
/// why it should have).
pub async fn exit_code_within(
    child: &mut std::process::Child,
    within: Duration,
    what: &str,
) -> Option<i32> {
    let deadline = Instant::now() + within;
    loop {
        if let Some(status) = child.try_wait().expect("waits") {
            return status.code();
        }
        assert!(
            Instant::now() < deadline,
            "no exit within {within:?}: {what}"
        );
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}
