//! A random walk over the contract: seeded runs of ops, plausible and
//! hostile (`ask.rs`), from four users with one or two tabs each (sessions
//! in this process, or WebSockets to a server: `line.rs`), each op asked as
//! a wire frame (some of them cut short or garbled; in some walks several at
//! once: `together.rs`; on a server some through its REST or Twilio face:
//! `face.rs`), tabs opened and closed, and the engine's clock moved now and
//! then. After every step:
//! no answer is `internal` or outside the contract's codes, no typist hears
//! its own typing, each tab's `seq` in each conversation goes up by one
//! (`events.replay` sends exactly what it says), and on one engine a user
//! going offline or online is told once to each tab of each user sharing a
//! conversation with it, and to no one else. At the end of a walk, every
//! count agrees with what it counts (`agree.rs`), every list reads the same
//! forwards, backwards and in a window, each feed holds its user's messages
//! in order (`pages.rs`), and a restart on a data dir, or another node of a
//! cluster, reads back exactly the same.
//!
//! `COLLOQUY_WALK_SEEDS=N` walks N seeds per test instead of the few CI runs;
//! `COLLOQUY_WALK_SEED=S` walks seed S alone, as a failure names it;
//! `COLLOQUY_WALK_FROM=F` moves every test's seeds F on (seeds no run has
//! walked);
//! `COLLOQUY_WALK_LONGER=K` walks K times as many steps; and
//! `COLLOQUY_WALK_TRAIL=N` prints the last N steps of a failure (30).

// Shared by the engine's tests and the cluster's, each using part of it.
#![allow(dead_code)]

mod agree;
pub mod ask;
mod events;
pub mod face;
mod known;
mod line;
mod pages;
mod together;

use std::collections::{BTreeMap, HashMap, VecDeque};
use std::fmt::Display;
use std::time::Duration;

use colloquy::{Config, Engine, ManualClock};
use fastrand::Rng;
use serde_json::{json, Value};

use ask::Ask;
use face::Face;
use known::Known;
use line::Line;

pub const USERS: [&str; 4] = ["alice", "bob", "carol", "dave"];

/// Where the walk's clock starts.
pub const START_MS: u64 = 1_700_000_000_000;

/// The contract's error codes (PROTOCOL §6), `internal` left out: no input
/// may cause one.
const CODES: &[&str] = &[
    "bad_request",
    "unauthorized",
    "forbidden",
    "not_found",
    "conflict",
    "too_large",
    "rate_limited",
];

/// How many steps of the trail a failure prints (`COLLOQUY_WALK_TRAIL` for more).
fn trail_len() -> usize {
    env("COLLOQUY_WALK_TRAIL").unwrap_or(30) as usize
}

/// One open session of a user (a browser tab) on a node, and the last
/// `seq` it got in each conversation.
struct Tab {
    user: usize,
    node: usize,
    line: Line,
    seen: HashMap<String, u64>,
}

pub struct Walk {
    seed: u64,
    rng: Rng,
    config: Config,
    /// The engines the tabs are spread over: one, or a cluster's nodes.
    nodes: Vec<Engine>,
    /// Each node's server's WebSocket URL, when the tabs are WebSockets to
    /// it; empty when they are sessions in this process.
    servers: Vec<String>,
    clock: ManualClock,
    /// Every open session: one or two per user.
    tabs: Vec<Tab>,
    /// Per user, the conversations it takes part in, as its events told.
    mine: Vec<Vec<String>>,
    known: Known,
    trail: VecDeque<String>,
    next_id: u64,
    /// The `userStatus` events of the last step: the tab, whose, which.
    heard: Vec<(usize, String, String)>,
    /// Per op, how often it was answered ok and how often refused.
    tally: BTreeMap<String, (u32, u32)>,
    /// Conversation events checked.
    events: u32,
    /// Other ways in than a session (`face.rs`): none on an engine alone.
    faces: Vec<Box<dyn Face>>,
    /// The step's `message.send` or `message.edit` answered ok, and who
    /// asked it: the events it fires must show what it wrote.
    written: Option<(&'static str, Value)>,
    /// Whether some steps ask several ops at once (`together.rs`).
    together: bool,
}

impl Walk {
    /// A walk on one engine started from `config`, on a manual clock.
    pub async fn new(seed: u64, mut config: Config) -> Walk {
        let (clock, hand) = colloquy::Clock::manual(START_MS);
        config.clock = clock;
        let engine = Engine::start(config.clone()).expect("engine starts");
        Walk::over(seed, config, vec![engine], hand).await
    }

    /// A walk over engines already started from `config` (a cluster's
    /// nodes), whose clock `clock` moves.
    pub async fn over(seed: u64, config: Config, nodes: Vec<Engine>, clock: ManualClock) -> Walk {
        Walk::reaching(seed, config, nodes, Vec::new(), clock).await
    }

    /// A walk whose tabs are WebSockets to servers over `nodes` (engines
    /// started from `config`), at `urls` (`ws://ADDR/v1/ws`, with
    /// `?encoding=compact` or not), one a node.
    pub async fn on_sockets(
        seed: u64,
        config: Config,
        nodes: Vec<Engine>,
        urls: Vec<String>,
        clock: ManualClock,
    ) -> Walk {
        Walk::reaching(seed, config, nodes, urls, clock).await
    }

    async fn reaching(
        seed: u64,
        config: Config,
        nodes: Vec<Engine>,
        servers: Vec<String>,
        clock: ManualClock,
    ) -> Walk {
        let mut tabs = Vec::new();
        for user in 0..USERS.len() {
            tabs.push(Tab::open(&nodes, &servers, user % nodes.len(), user).await);
        }
        let mut walk = Walk {
            seed,
            rng: Rng::with_seed(seed),
            config,
            nodes,
            servers,
            clock,
            tabs,
            mine: vec![Vec::new(); USERS.len()],
            known: Known::default(),
            trail: VecDeque::new(),
            next_id: 1,
            heard: Vec::new(),
            tally: Default::default(),
            events: 0,
            faces: Vec::new(),
            written: None,
            together: false,
        };
        walk.open().await;
        walk
    }

    /// Where every walk starts: a group of three and a direct pair, so that
    /// even an unlucky seed has conversations to walk in.
    async fn open(&mut self) {
        let opening = [
            (
                0,
                json!({"op": "conversation.create", "friendly_name": "team", "participants": ["bob", "carol"]}),
            ),
            // The tab of dave (the tabs start in the order of `USERS`).
            (3, json!({"op": "conversation.direct", "identity": "alice"})),
        ];
        for (tab, mut request) in opening {
            request["id"] = json!(self.next_id);
            self.next_id += 1;
            let text = serde_json::to_vec(&request).expect("encodes");
            self.ask(tab, &request, &text, true).await;
        }
    }

    /// Stops every engine of the walk.
    pub fn shutdown(&self) {
        for node in &self.nodes {
            node.shutdown();
        }
    }

    pub async fn steps(&mut self, n: usize) {
        let times = env("COLLOQUY_WALK_LONGER").unwrap_or(1) as usize;
        for _ in 0..n * times {
            self.heard.clear();
            self.written = None;
            self.step().await;
            // On one engine, presence changes only where `reconnect` checks
            // it (across nodes it travels beside the log, in its own time).
            if self.nodes.len() == 1 && !self.heard.is_empty() {
                self.fail(format!("userStatus sent with no change: {:?}", self.heard));
            }
        }
    }

    async fn step(&mut self) {
        if self.together && self.rng.u8(..5) == 0 {
            return self.together().await;
        }
        let tab = self.rng.usize(..self.tabs.len());
        let user = self.tabs[tab].user;
        match self.rng.u8(..100) {
            0..=3 => self.reconnect(tab).await,
            4..=7 => {
                let ms = self.rng.u64(..400);
                self.note(format!("the clock moves {ms} ms"));
                // The timers it fires (typing ending) run on the engine's
                // threads; what they send is checked whenever it comes.
                self.clock.advance(Duration::from_millis(ms));
                self.after(None).await;
            }
            8..=12 => {
                let request = self.request(user);
                let mut text = serde_json::to_vec(&request).expect("encodes");
                self.garble(&mut text);
                // A byte overwritten with itself, or in a way JSON still
                // reads, makes a request all the same: checked as one.
                match serde_json::from_slice::<Value>(&text) {
                    Ok(read) if read.is_object() => self.ask(tab, &read, &text, true).await,
                    _ => self.ask(tab, &request, &text, false).await,
                }
            }
            _ => {
                let request = self.request(user);
                if !self.faces.is_empty() && self.rng.u8(..3) == 0 {
                    let face = self.rng.usize(..self.faces.len());
                    if self.through(face, user, &request).await {
                        return;
                    }
                }
                let text = serde_json::to_vec(&request).expect("encodes");
                self.ask(tab, &request, &text, true).await;
            }
        }
    }

    fn request(&mut self, user: usize) -> Value {
        let mut request = Ask {
            rng: &mut self.rng,
            known: &self.known,
            me: USERS[user],
            mine: &self.mine[user],
            limits: &self.config.limits,
        }
        .request();
        request["id"] = json!(self.next_id);
        self.next_id += 1;
        request
    }

    /// Cuts a frame short, or overwrites one of its bytes.
    fn garble(&mut self, text: &mut Vec<u8>) {
        let at = self.rng.usize(..text.len());
        if self.rng.bool() {
            text.truncate(at);
        } else {
            text[at] = b"{}[]\",:\\\x00\xff"[self.rng.usize(..10)];
        }
    }

    /// Asks `text` as a frame of `tab` and checks the answer and the events
    /// it caused. `whole`: the text is `request` as it was made.
    async fn ask(&mut self, tab: usize, request: &Value, text: &[u8], whole: bool) {
        self.note(format!(
            "{} (tab {tab}) asks {}{}",
            USERS[self.tabs[tab].user],
            shown(&String::from_utf8_lossy(text)),
            if whole { "" } else { " (garbled)" }
        ));
        let frame = self.tabs[tab].line.ask_all(&[text]).await.remove(0);
        let (answer, ok) = self.answered(tab, request, &frame, whole);
        let replay = (ok && whole && request["op"] == "events.replay")
            .then(|| (tab, request["since_seq"].as_u64(), answer["data"].clone()));
        self.after(replay).await;
    }

    /// Reads the answer `frame` that `tab` got to `request` (`whole`: as it
    /// was made), checks it carries its id, and judges it. Answers it, and
    /// whether it was ok.
    fn answered(&mut self, tab: usize, request: &Value, frame: &str, whole: bool) -> (Value, bool) {
        let answer: Value = match serde_json::from_str(frame) {
            Ok(v) => v,
            Err(e) => self.fail(format!("the answer is not JSON ({e}): {frame}")),
        };
        self.note(format!(
            "  tab {tab} answered {}",
            shown(&answer.to_string())
        ));
        if whole && answer["re"] != request["id"] {
            self.fail("the answer does not carry the request's id");
        }
        let op = request["op"].as_str().unwrap_or_default();
        let ok = self.judge(op, self.tabs[tab].user, request, &answer, whole);
        (answer, ok)
    }

    /// Checks an answer's code and learns what an ok one names; `whole`:
    /// to `request` (of `user`) as it was made, counted in the tally under
    /// `key`. Answers whether it was ok.
    fn judge(
        &mut self,
        key: &str,
        user: usize,
        request: &Value,
        answer: &Value,
        whole: bool,
    ) -> bool {
        if whole {
            let t = self.tally.entry(key.to_string()).or_default();
            if answer["ok"] == true {
                t.0 += 1
            } else {
                t.1 += 1
            }
        }
        match answer["ok"].as_bool() {
            Some(true) => {
                if whole {
                    self.known.learn(request, &answer["data"]);
                    if matches!(
                        request["op"].as_str(),
                        Some("message.send" | "message.edit")
                    ) {
                        self.written = Some((USERS[user], request.clone()));
                    }
                }
                true
            }
            Some(false) => {
                let code = answer["error"]["code"].as_str().unwrap_or_default();
                if !CODES.contains(&code) {
                    self.fail(format!("answered the code {code:?}"));
                }
                false
            }
            None => self.fail("the answer has no `ok`"),
        }
    }

    /// Opens a second tab of a user, or closes one of two, or closes the
    /// only one and opens another.
    async fn reconnect(&mut self, tab: usize) {
        let user = self.tabs[tab].user;
        let open = self.tabs.iter().filter(|t| t.user == user).count();
        if open == 1 && self.rng.bool() {
            self.open_tab(user).await;
            return;
        }
        self.note(format!("{} closes tab {tab}", USERS[user]));
        let gone = self.tabs.remove(tab);
        gone.line.close(&self.nodes[gone.node]).await;
        self.after(None).await;
        if open == 1 {
            self.status_told(user, "offline");
            self.open_tab(user).await;
            self.after(None).await;
            self.status_told(user, "online");
        }
    }

    async fn open_tab(&mut self, user: usize) {
        let node = self.rng.usize(..self.nodes.len());
        self.note(format!("{} opens a tab on node {node}", USERS[user]));
        self.tabs
            .push(Tab::open(&self.nodes, &self.servers, node, user).await);
    }

    fn note(&mut self, step: String) {
        if self.trail.len() >= trail_len() {
            self.trail.pop_front();
        }
        self.trail.push_back(step);
    }

    fn fail(&self, why: impl Display) -> ! {
        let trail: Vec<&str> = self.trail.iter().map(String::as_str).collect();
        panic!(
            "walk seed {} (COLLOQUY_WALK_SEED={} to walk it alone): {why}\nthe last steps:\n{}",
            self.seed,
            self.seed,
            trail.join("\n")
        )
    }
}

impl Tab {
    async fn open(nodes: &[Engine], servers: &[String], node: usize, user: usize) -> Tab {
        let server = servers.get(node).map(String::as_str);
        Tab {
            user,
            node,
            line: Line::open(&nodes[node], server, USERS[user]).await,
            seen: HashMap::new(),
        }
    }
}

/// What a test's walks did, summed: walks that mostly met refusals would
/// check little, so the seeds of a test must have had the ops of a chat
/// answered, and conversation events to check.
#[derive(Default)]
pub struct Walked {
    walks: u32,
    events: u32,
    answered: BTreeMap<String, u32>,
}

impl Walked {
    pub fn add(&mut self, walk: &Walk) {
        self.walks += 1;
        self.events += walk.events;
        for (op, (ok, _)) in &walk.tally {
            *self.answered.entry(op.clone()).or_default() += ok;
        }
    }

    /// How many ops a walk had answered ok through the face named `face`.
    pub fn through(&self, face: &str) -> u32 {
        let mine = |op: &&String| op.strip_prefix(face).is_some_and(|o| o.starts_with(' '));
        let all: u32 = self
            .answered
            .iter()
            .filter(|(op, _)| mine(op))
            .map(|(_, n)| n)
            .sum();
        all / self.walks.max(1)
    }

    pub fn were_enough(&self) {
        let ok = |op: &str| self.answered.get(op).copied().unwrap_or(0);
        let core = [
            "conversation.join",
            "message.send",
            "read.advance",
            "reaction.add",
        ];
        let per_walk = |n: u32| n / self.walks.max(1);
        assert!(
            core.iter().all(|op| per_walk(ok(op)) >= 3) && per_walk(self.events) >= 30,
            "the walks did too little to check: {} conversation events in {} walks; ops answered ok: {:?}",
            self.events,
            self.walks,
            self.answered
        );
    }
}

/// A frame as a failure prints it: long values cut.
fn shown(text: &str) -> String {
    if text.len() <= 300 {
        return text.to_string();
    }
    let mut end = 300;
    while !text.is_char_boundary(end) {
        end -= 1;
    }
    format!("{}… ({} bytes)", &text[..end], text.len())
}

fn env(key: &str) -> Option<u64> {
    std::env::var(key).ok().and_then(|v| v.parse().ok())
}

/// The test engine's config with limits small enough for a walk to reach
/// them: full conversations, a replay window smaller than a conversation's
/// events, messages evicted.
pub fn small_limits() -> Config {
    let mut config = Config::for_tests();
    config.limits.max_participants = 3;
    config.limits.replay_window = 6;
    config.limits.max_history = 12;
    config
}

/// The seeds a test walks: `base..base + count`, or the one the environment
/// names; `COLLOQUY_WALK_FROM` adds to `base`, for seeds no run walked yet.
pub fn seeds(base: u64, count: u64) -> Vec<u64> {
    if let Some(seed) = env("COLLOQUY_WALK_SEED") {
        return vec![seed];
    }
    let count = env("COLLOQUY_WALK_SEEDS").unwrap_or(count);
    let base = base + env("COLLOQUY_WALK_FROM").unwrap_or(0);
    (base..base + count).collect()
}
