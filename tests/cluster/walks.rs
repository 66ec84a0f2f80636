//! The random walk (`tests/support/walk/`) over three nodes embedded in this
//! process, on a real NATS cluster: each user's tabs on any node, each op
//! asked on its tab's node, one step in five two to four at once on
//! their nodes. After every step, once each node has applied
//! the log, every session's events are checked as on one engine; at the end,
//! every count agrees with what it counts and every node reads the same.
//! Past small limits, each node has a server and the tabs are WebSockets
//! to them. The first node lives through every seed; the other two join for one
//! seed each, from a snapshot and the log after it, and must read what the
//! first, which applied it all as it came, reads. Halfway through each seed
//! a NATS server is killed, and a quarter later started again on its
//! storage, or (every other seed) stopped and let go: the walk goes on
//! through the failover.

use colloquy::cluster::{Cluster, ClusterConfig};
use colloquy::server::ServerConfig;
use colloquy::testing::TestServer;
use colloquy::{Clock, Config, Engine};

use super::harness::{signal, Nats};
use super::walk::{seeds, small_limits, Walk, Walked, START_MS};
use super::ONE_AT_A_TIME;

/// Snapshots this often, so that the walks cross several.
const SNAPSHOT_EVERY: u64 = 40;

fn join(nats: &Nats, config: &Config, id: String) -> (Engine, Cluster) {
    let engine = Engine::start(config.clone()).expect("engine starts");
    let joining = ClusterConfig {
        urls: nats.urls.clone(),
        node_id: id,
        snapshot_every: SNAPSHOT_EVERY,
        append_wait: ClusterConfig::APPEND_WAIT,
        tls: Default::default(),
        key_file: None,
    };
    let cluster = Cluster::join(&engine, joining).expect("joins");
    (engine, cluster)
}

/// A server over a node, for tabs that are WebSockets; its requests are not
/// limited (the walk reads each socket up to a ping's answer every step).
fn serve(node: &Engine) -> TestServer {
    let unlimited = ServerConfig {
        rate_limit: 0,
        ..ServerConfig::default()
    };
    TestServer::on(node.clone(), unlimited)
}

/// Walks `count` seeds from `base` over three nodes of `config`: the first
/// lives through them all, the other two join for one seed each. With
/// `sockets`, each node has a server and the tabs are WebSockets to them.
async fn walk_seeds(base: u64, count: u64, mut config: Config, sockets: bool) {
    let _one = ONE_AT_A_TIME.lock().await;
    let mut nats = Nats::start();
    // The nodes share one clock, which the walks move.
    let (clock, hand) = Clock::manual(START_MS);
    config.clock = clock;
    let (first, _first_joined) = join(&nats, &config, "walk-first".into());
    let first_server = sockets.then(|| serve(&first));
    let mut walked = Walked::default();
    for seed in seeds(base, count) {
        let (b, b_joined) = join(&nats, &config, format!("walk-{seed}-b"));
        let (c, c_joined) = join(&nats, &config, format!("walk-{seed}-c"));
        let nodes = vec![first.clone(), b.clone(), c.clone()];
        let clock = hand.clone();
        let servers = sockets.then(|| (serve(&b), serve(&c)));
        let mut walk = match (&first_server, &servers) {
            (Some(first), Some((b, c))) => {
                let urls = [first, b, c].map(|s| format!("ws://{}/v1/ws", s.addr()));
                Walk::on_sockets(seed, config.clone(), nodes, urls.to_vec(), clock).await
            }
            _ => Walk::over(seed, config.clone(), nodes, clock).await,
        };
        walk.side_by_side();
        walk.steps(100).await;
        // One NATS server dies and comes back on its storage, or (every
        // other seed) stalls and is let go: the nodes connected to it fail
        // over, readers reopen, appends are retried, and a stalled leader of
        // the log comes back to find another elected.
        let troubled = (seed % 3) as usize;
        let stalls = seed % 2 == 1;
        if stalls {
            signal("-STOP", nats.pid(troubled));
        } else {
            nats.kill(troubled);
        }
        walk.steps(50).await;
        if stalls {
            signal("-CONT", nats.pid(troubled));
        } else {
            nats.restart(troubled);
        }
        walk.steps(50).await;
        walk.agree().await;
        walk.nodes_agree().await;
        walked.add(&walk);
        drop(walk);
        drop((b_joined, c_joined));
        drop(servers);
        b.shutdown();
        c.shutdown();
    }
    walked.were_enough();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn walks_over_three_nodes_keep_every_rule_and_read_the_same() {
    walk_seeds(3_000, 3, Config::for_tests(), false).await;
}

/// Evicted messages, among others, in the snapshots nodes join from.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn walks_past_small_limits_over_three_nodes_read_the_same() {
    walk_seeds(5_000, 2, small_limits(), true).await;
}
