//! A load generator over real WebSockets, for colloquy and for a socket.io peer.
//!
//! ```sh
//! # fanout: S subscribers, P publishers, M messages, at most W in flight (or --rate per publisher)
//! cargo run --release --example loadgen -- fanout --subscribers 100 --messages 20000 --server-pid PID
//! # rooms: R conversations x K members, each member sending at --rate msgs/s for --seconds
//! cargo run --release --example loadgen -- rooms --rooms 100 --members 10 --rate 1 --seconds 10
//! # acks: N senders, each waiting for its answer (run the server with --data-dir for the journal)
//! cargo run --release --example loadgen -- acks --senders 64 --seconds 5 --server-pid PID
//! # conns: C idle connections in conversations of 10; RSS per connection needs --server-pid
//! cargo run --release --example loadgen -- conns --connections 10000 --server-pid PID
//! # the same against the socketioxide peer (benches/peers/socketioxide)
//! cargo run --release --example loadgen -- --protocol socketio --url http://127.0.0.1:9090 fanout ...
//! ```
//!
//! It reports deliveries/s, latency percentiles (send to receipt, one clock: the
//! timestamp travels in the payload), lost deliveries, and with `--server-pid`
//! the server's CPU-µs per delivery and RSS, read from /proc.

use std::sync::atomic::{AtomicU32, AtomicU64, Ordering::Relaxed};
use std::sync::LazyLock;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use clap::{Parser, Subcommand, ValueEnum};
use futures_util::{SinkExt, StreamExt};
use hdrhistogram::Histogram;
use serde_json::json;
use tokio_tungstenite::tungstenite::Message as Ws;

/// `println!` that does not panic when stdout has gone away: the report is
/// often piped into `head` or `grep -m1`, which close the pipe early.
macro_rules! say {
    ($($arg:tt)*) => {{
        use std::io::Write as _;
        let _ = writeln!(std::io::stdout(), $($arg)*);
    }};
}

mod acks;
mod conns;
mod fanout;
mod raw;
mod rooms;

#[derive(Parser, Clone)]
struct Args {
    /// Server base URL; several, comma-separated, spread the connections over
    /// the nodes of a cluster (each identity always to the same node).
    #[arg(long, default_value = "http://127.0.0.1:8080")]
    url: String,
    /// Which server speaks.
    #[arg(long, value_enum, default_value = "colloquy")]
    protocol: Protocol,
    /// The server's pid, to read its CPU time and RSS from /proc.
    #[arg(long)]
    server_pid: Option<u32>,
    /// Runtime threads of the load generator.
    #[arg(long, default_value_t = 1)]
    threads: usize,
    /// How subscribers read: tokio-tungstenite, as a typical Rust client does,
    /// or a minimal in-place frame reader (cheaper for the load generator).
    #[arg(long, value_enum, default_value = "tungstenite")]
    reader: ReaderKind,
    /// tungstenite's read buffer, in bytes. Its default (128 KiB) is zeroed on
    /// every read (tungstenite-rs#547): with 1,000 readers that memset was 58 %
    /// of the load generator's CPU and the load generator, not the server, set
    /// the latency. 4 KiB holds a burst of chat frames.
    #[arg(long, default_value_t = 4096)]
    read_buffer: usize,
    /// colloquy's frame encoding for every connection: v1 JSON or compact
    /// (no null or empty members).
    #[arg(long, default_value = "v1")]
    encoding: String,
    /// fanout: open every connection before the room is made (colloquy; a
    /// socket.io client always joins after it connects). colloquy places a
    /// session with its user's conversations when it connects, so this is
    /// the case where a room's sessions are spread over its arbiters.
    #[arg(long)]
    connect_first: bool,
    #[command(subcommand)]
    mode: Mode,
}

impl Args {
    /// The node a connection keyed by `key` (its identity or path) goes to.
    fn base_for(&self, key: &str) -> &str {
        let urls: Vec<&str> = self.url.split(',').collect();
        // FNV-1a: stable across runs, so a rerun spreads the same way.
        let hash = key.bytes().fold(0xcbf2_9ce4_8422_2325u64, |h, b| {
            (h ^ u64::from(b)).wrapping_mul(0x100_0000_01b3)
        });
        urls[(hash % urls.len() as u64) as usize]
    }

    /// The WebSocket client's configuration: see `read_buffer`.
    fn ws_config(&self) -> Option<tokio_tungstenite::tungstenite::protocol::WebSocketConfig> {
        Some(
            tokio_tungstenite::tungstenite::protocol::WebSocketConfig::default()
                .read_buffer_size(self.read_buffer),
        )
    }

    /// The first node: for REST and metrics.
    fn first(&self) -> &str {
        self.url.split(',').next().unwrap_or(&self.url)
    }
}

#[derive(Clone, Copy, PartialEq, Eq, ValueEnum)]
enum ReaderKind {
    Tungstenite,
    Raw,
}

#[derive(Clone, Copy, PartialEq, Eq, ValueEnum)]
enum Protocol {
    Colloquy,
    Socketio,
}

#[derive(Subcommand, Clone)]
enum Mode {
    /// One room: subscribers receive what publishers send.
    Fanout {
        #[arg(long, default_value_t = 100)]
        subscribers: usize,
        #[arg(long, default_value_t = 1)]
        publishers: usize,
        #[arg(long, default_value_t = 10_000)]
        messages: usize,
        /// Messages in flight (sent, not yet received by the first subscriber).
        #[arg(long, default_value_t = 64)]
        window: u64,
        /// Messages per second per publisher instead of max rate.
        #[arg(long)]
        rate: Option<f64>,
        /// Payload bytes.
        #[arg(long, default_value_t = 100)]
        payload: usize,
    },
    /// Many rooms, every member sending at a fixed rate.
    Rooms {
        #[arg(long, default_value_t = 100)]
        rooms: usize,
        #[arg(long, default_value_t = 10)]
        members: usize,
        #[arg(long, default_value_t = 1.0)]
        rate: f64,
        #[arg(long, default_value_t = 10)]
        seconds: u64,
        #[arg(long, default_value_t = 100)]
        payload: usize,
        /// Each member also says it is typing (`typing.start`) half a period
        /// before each message, as chat clients do while their users type
        /// (colloquy only).
        #[arg(long)]
        typing: bool,
        /// Each member also marks its room read (`read.all`) once it has
        /// unread messages, at most once every this many ms, as chat clients
        /// do with a throttle while their users look at the room (colloquy
        /// only).
        #[arg(long, value_parser = clap::value_parser!(u64).range(1..))]
        read_every_ms: Option<u64>,
    },
    /// Senders that each wait for their answer: acknowledged messages/s and
    /// ack latency (with `--data-dir` on the server: the journal's).
    Acks {
        #[arg(long, default_value_t = 16)]
        senders: usize,
        #[arg(long, default_value_t = 5)]
        seconds: u64,
        /// Messages per second per sender instead of max rate.
        #[arg(long)]
        rate: Option<f64>,
        /// All senders in one conversation instead of one each.
        #[arg(long)]
        shared: bool,
        /// Read instead of send: each asks `message.list` (the 30 newest of
        /// the 30 messages put in its conversation first) and waits for
        /// the answer.
        #[arg(long)]
        read: bool,
    },
    /// Idle connections, for memory per connection.
    Conns {
        #[arg(long, default_value_t = 1000)]
        connections: usize,
        #[arg(long, default_value_t = 10)]
        room_size: usize,
    },
}

type Socket =
    tokio_tungstenite::WebSocketStream<tokio_tungstenite::MaybeTlsStream<tokio::net::TcpStream>>;

/// Server CPU time (µs) and RSS (KiB) from /proc.
fn server_stats(pid: Option<u32>) -> Option<(u64, u64)> {
    let pid = pid?;
    let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).ok()?;
    // Fields after the command name (which may hold spaces): utime is the 12th, stime the 13th.
    let rest = &stat[stat.rfind(')')? + 2..];
    let f: Vec<&str> = rest.split_whitespace().collect();
    let ticks: u64 = f.get(11)?.parse::<u64>().ok()? + f.get(12)?.parse::<u64>().ok()?;
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).ok()?;
    let rss = status
        .lines()
        .find(|l| l.starts_with("VmRSS:"))?
        .split_whitespace()
        .nth(1)?
        .parse()
        .ok()?;
    // USER_HZ is 100 on Linux: a tick is 10 ms.
    Some((ticks * 10_000, rss))
}

struct Conn {
    ws: Socket,
    proto: Protocol,
}

/// A subscriber's connection, read by tokio-tungstenite or [`raw::RawWs`].
struct Sub {
    reader: Reader,
    proto: Protocol,
}

enum Reader {
    Raw(raw::RawWs),
    Tungstenite {
        ws: Box<Socket>,
        /// The last text frame, lent out by `next_text`.
        last: tokio_tungstenite::tungstenite::Utf8Bytes,
    },
}

impl Reader {
    async fn connect(
        args: &Args,
        path: &str,
    ) -> Result<Reader, Box<dyn std::error::Error + Send + Sync>> {
        Ok(match args.reader {
            ReaderKind::Raw => Reader::Raw(raw::RawWs::connect(args.base_for(path), path).await?),
            ReaderKind::Tungstenite => {
                let base = args.base_for(path).replacen("http://", "ws://", 1);
                let url = format!("{base}{path}");
                // Nagle off, like the servers.
                let (ws, _) =
                    tokio_tungstenite::connect_async_with_config(url, args.ws_config(), true)
                        .await?;
                Reader::Tungstenite {
                    ws: Box::new(ws),
                    last: Default::default(),
                }
            }
        })
    }

    /// The payload of the next text frame; None once the server closed.
    /// Cancel-safe: a frame is consumed only when returned.
    async fn next_text(&mut self) -> Option<&[u8]> {
        match self {
            Reader::Raw(ws) => ws.next_text().await,
            Reader::Tungstenite { ws, last } => loop {
                // tungstenite answers pings itself.
                match ws.next().await? {
                    Ok(Ws::Text(t)) => {
                        *last = t;
                        return Some(last.as_bytes());
                    }
                    Ok(Ws::Close(_)) | Err(_) => return None,
                    Ok(_) => {}
                }
            },
        }
    }

    /// Reads until a text frame that starts with `prefix`, answering
    /// Engine.IO pings on the way.
    async fn until(
        &mut self,
        prefix: &[u8],
        what: &str,
    ) -> Result<(), Box<dyn std::error::Error + Send + Sync>> {
        loop {
            let t = self
                .next_text()
                .await
                .ok_or_else(|| format!("closed before {what}"))?;
            if t == b"2" {
                self.send_text("3").await?;
            } else if t.starts_with(prefix) {
                return Ok(());
            }
        }
    }

    async fn send_text(
        &mut self,
        text: &str,
    ) -> Result<(), Box<dyn std::error::Error + Send + Sync>> {
        match self {
            Reader::Raw(ws) => ws.send_text(text).await?,
            Reader::Tungstenite { ws, .. } => ws.send(Ws::Text(text.into())).await?,
        }
        Ok(())
    }
}

impl Sub {
    /// Connects, waits for the greeting, and joins `room`.
    async fn open(
        args: &Args,
        identity: &str,
        room: &str,
    ) -> Result<Sub, Box<dyn std::error::Error + Send + Sync>> {
        let path = match args.protocol {
            Protocol::Colloquy => format!("/v1/ws?identity={identity}&encoding={}", args.encoding),
            Protocol::Socketio => "/socket.io/?EIO=4&transport=websocket".to_string(),
        };
        let mut ws = Reader::connect(args, &path).await?;
        match args.protocol {
            // `ready` first; colloquy members are added when the room is created.
            Protocol::Colloquy => {
                ws.next_text().await.ok_or("closed before ready")?;
            }
            // Engine.IO open, socket.io connect to "/", then join with ack id 1
            // and wait for the ack (`431[...]`). The server pings at once
            // (`2`) and closes a socket that does not answer (`3`).
            Protocol::Socketio => {
                ws.next_text().await.ok_or("closed before open")?;
                ws.send_text("40").await?;
                ws.until(b"40", "connect").await?;
                ws.send_text(&format!(r#"421["join","{room}"]"#)).await?;
                ws.until(b"431", "the join's ack").await?;
            }
        }
        Ok(Sub {
            reader: ws,
            proto: args.protocol,
        })
    }
}

impl Conn {
    async fn open(
        args: &Args,
        identity: &str,
        room: Option<&str>,
    ) -> Result<Conn, Box<dyn std::error::Error + Send + Sync>> {
        let base = args.base_for(identity).replacen("http://", "ws://", 1);
        let url = match args.protocol {
            Protocol::Colloquy => {
                format!(
                    "{base}/v1/ws?identity={identity}&encoding={}",
                    args.encoding
                )
            }
            Protocol::Socketio => format!("{base}/socket.io/?EIO=4&transport=websocket"),
        };
        // Nagle off, like the servers: pipelined small frames would wait for ACKs.
        let (mut ws, _) =
            tokio_tungstenite::connect_async_with_config(url, args.ws_config(), true).await?;
        match args.protocol {
            // `ready` first.
            Protocol::Colloquy => {
                ws.next().await.ok_or("closed before ready")??;
            }
            // Engine.IO open, then the socket.io connect to "/", then the
            // room it sends to (the peer broadcasts to the sender's rooms).
            Protocol::Socketio => {
                ws.next().await.ok_or("closed before open")??;
                ws.send(Ws::Text("40".into())).await?;
                until(&mut ws, "40", "connect").await?;
                if let Some(room) = room {
                    ws.send(Ws::Text(format!(r#"421["join","{room}"]"#).into()))
                        .await?;
                    until(&mut ws, "431", "the join's ack").await?;
                }
            }
        }
        Ok(Conn {
            ws,
            proto: args.protocol,
        })
    }
}

/// Reads until a text frame that starts with `prefix`, answering Engine.IO
/// pings (`2`) on the way: socketioxide pings at once and closes a socket that
/// does not answer.
async fn until(
    ws: &mut Socket,
    prefix: &str,
    what: &str,
) -> Result<(), Box<dyn std::error::Error + Send + Sync>> {
    loop {
        let m = ws
            .next()
            .await
            .ok_or_else(|| format!("closed before {what}"))??;
        match m.to_text() {
            Ok("2") => ws.send(Ws::Text("3".into())).await?,
            Ok(t) if t.starts_with(prefix) => return Ok(()),
            _ => {}
        }
    }
}

/// The frame that sends `body` to `room`.
fn publish_frame(proto: Protocol, room: &str, body: &str) -> String {
    match proto {
        Protocol::Colloquy => {
            json!({"op": "message.send", "conversation": room, "body": body}).to_string()
        }
        Protocol::Socketio => format!(r#"42["msg","{body}"]"#),
    }
}

/// The sequence number and send time carried in a payload `SEQ:NANOS:padding`,
/// found after the protocol's marker without parsing the whole frame.
fn sent_at(frame: &[u8], proto: Protocol) -> Option<(u64, u64)> {
    // Built once: building a finder per frame was 3 % of the load generator.
    use memchr::memmem::Finder;
    static COLLOQUY: LazyLock<Finder<'static>> = LazyLock::new(|| Finder::new(b"\"body\":\""));
    static SOCKETIO: LazyLock<Finder<'static>> = LazyLock::new(|| Finder::new(b"[\"msg\",\""));
    let marker = match proto {
        Protocol::Colloquy => &*COLLOQUY,
        Protocol::Socketio => &*SOCKETIO,
    };
    let mut rest = &frame[marker.find(frame)? + marker.needle().len()..];
    let mut number = || {
        let digits = rest.iter().take_while(|b| b.is_ascii_digit()).count();
        let n = std::str::from_utf8(&rest[..digits]).ok()?.parse().ok()?;
        rest = rest.get(digits + 1..)?;
        Some(n)
    };
    Some((number()?, number()?))
}

fn payload(seq: usize, t0: Instant, size: usize) -> String {
    let mut s = format!("{seq}:{}:", t0.elapsed().as_nanos());
    while s.len() < size {
        s.push('x');
    }
    s
}

/// What subscribers saw.
struct Tally {
    received: AtomicU64,
    last_ns: AtomicU64,
    hist: Mutex<Histogram<u64>>,
    /// Fanout: deliveries of each message so far, and how many make it
    /// delivered to everyone; a message is in flight until then.
    deliveries: Vec<AtomicU32>,
    audience: u32,
    /// Messages every subscriber has received.
    completed: tokio::sync::watch::Sender<u64>,
}

impl Tally {
    /// A tally for `messages` messages each delivered to `audience` readers
    /// (0, 0: no window is kept).
    fn new(messages: usize, audience: usize) -> Arc<Tally> {
        Arc::new(Tally {
            received: AtomicU64::new(0),
            last_ns: AtomicU64::new(0),
            hist: Mutex::new(Histogram::new_with_bounds(1, 60_000_000_000, 3).expect("histogram")),
            deliveries: (0..messages).map(|_| AtomicU32::new(0)).collect(),
            audience: audience as u32,
            completed: tokio::sync::watch::Sender::new(0),
        })
    }
}

/// Reads one subscriber's socket until `stop`, recording latencies.
/// Stop signal for readers: a flag that cannot be missed (a `Notify` would be
/// missed by a reader busy with a frame at that moment).
type Stop = tokio::sync::watch::Receiver<bool>;

async fn subscribe(mut conn: Sub, t0: Instant, tally: Arc<Tally>, mut stop: Stop) -> Vec<u64> {
    let mut rec = Recorder::new(t0, tally);
    loop {
        let proto = conn.proto;
        let text = tokio::select! {
            f = conn.reader.next_text() => f,
            _ = stop.wait_for(|s| *s) => break,
        };
        let Some(text) = text else { break };
        if proto == Protocol::Socketio && text == b"2" {
            let _ = conn.reader.send_text("3").await;
            continue;
        }
        if let Some((seq, sent)) = sent_at(text, proto) {
            rec.record(seq, sent);
        }
    }
    rec.finish()
}

/// One reader's tally: the seqs it saw and its latencies, added to the
/// shared [`Tally`] as they come (counts) and at the end (histogram).
struct Recorder {
    t0: Instant,
    tally: Arc<Tally>,
    seen: Vec<u64>,
    local: Histogram<u64>,
}

impl Recorder {
    fn new(t0: Instant, tally: Arc<Tally>) -> Recorder {
        Recorder {
            t0,
            tally,
            seen: Vec::new(),
            local: Histogram::new_with_bounds(1, 60_000_000_000, 3).expect("histogram"),
        }
    }

    /// A delivery of message `seq`, sent at `sent` ns after t0.
    fn record(&mut self, seq: u64, sent: u64) {
        self.seen.push(seq);
        let now = self.t0.elapsed().as_nanos() as u64;
        let _ = self.local.record(now.saturating_sub(sent).max(1));
        self.tally.received.fetch_add(1, Relaxed);
        self.tally.last_ns.fetch_max(now, Relaxed);
        if let Some(n) = self.tally.deliveries.get(seq as usize) {
            if n.fetch_add(1, Relaxed) + 1 == self.tally.audience {
                self.tally.completed.send_modify(|c| *c += 1);
            }
        }
    }

    fn finish(self) -> Vec<u64> {
        let _ = self.tally.hist.lock().map(|mut h| h.add(&self.local));
        self.seen
    }
}

/// Creates one colloquy conversation with these members over REST; answers its id.
async fn conversation(
    args: &Args,
    members: &[String],
) -> Result<String, Box<dyn std::error::Error + Send + Sync>> {
    if args.protocol == Protocol::Socketio {
        return Ok("bench".into());
    }
    let res: serde_json::Value = reqwest::Client::new()
        .post(format!("{}/v1/conversations", args.first()))
        .json(&json!({"participants": members}))
        .send()
        .await?
        .json()
        .await?;
    Ok(res["id"].as_str().ok_or("no conversation id")?.to_string())
}

/// CPU time of the server and of this load generator (µs), and the server's
/// RSS (KiB), at one moment.
struct Sample {
    server: Option<(u64, u64)>,
    own: Option<u64>,
}

/// CPU time over a wall-clock span, as a percentage of one core.
fn share_of_core(cpu_us: u64, elapsed: Duration) -> f64 {
    100.0 * cpu_us as f64 / elapsed.as_micros().max(1) as f64
}

fn sample(args: &Args) -> Sample {
    Sample {
        server: server_stats(args.server_pid),
        own: server_stats(Some(std::process::id())).map(|(cpu, _)| cpu),
    }
}

/// Waits until the server has done the work the connections brought before
/// a run is measured. In colloquy each connection's `userStatus` goes to every
/// co-member's sessions: for 5,000 subscribers that is 12.5 M deliveries,
/// whose tail a fixed pause left inside the measured run in some runs and not
/// in others. Settled: the server used at most 5 % of a core over 200 ms
/// (its CPU clock counts in 10 ms ticks). Without `--server-pid`, 300 ms.
async fn settle(args: &Args) {
    const QUIET_US: u64 = 10_000;
    const STEP: Duration = Duration::from_millis(200);
    tokio::time::sleep(Duration::from_millis(300)).await;
    let deadline = Instant::now() + Duration::from_secs(60);
    let mut last = server_stats(args.server_pid);
    while let Some((cpu, _)) = last {
        tokio::time::sleep(STEP).await;
        let now = server_stats(args.server_pid);
        match now {
            Some((later, _)) if later.saturating_sub(cpu) <= QUIET_US => return,
            _ if Instant::now() > deadline => {
                eprintln!("server still busy after 60 s: measuring anyway");
                return;
            }
            _ => last = now,
        }
    }
}

/// Prints a run's figures. Each side's share of its core says what
/// saturated: a side near 100 % is what set the rate.
fn report(
    label: &str,
    tally: &Tally,
    expected: u64,
    elapsed: Duration,
    before: Sample,
    after: Sample,
) {
    let cpu = before
        .server
        .zip(after.server)
        .map(|(b, a)| (a.0 - b.0, a.1));
    let own = before.own.zip(after.own).map(|(b, a)| a - b);
    let busy = |cpu_us: u64| share_of_core(cpu_us, elapsed);
    let got = tally.received.load(Relaxed);
    let h = tally.hist.lock().map(|h| h.clone()).expect("histogram");
    let ms = |q: f64| h.value_at_quantile(q) as f64 / 1e6;
    say!("{label}");
    say!(
        "  deliveries      {got} of {expected} (lost {})",
        expected.saturating_sub(got)
    );
    say!(
        "  deliveries/s    {:.0}",
        got as f64 / elapsed.as_secs_f64()
    );
    say!(
        "  latency ms      p50 {:.3}  p99 {:.3}  p999 {:.3}  max {:.3}",
        ms(0.5),
        ms(0.99),
        ms(0.999),
        h.max() as f64 / 1e6
    );
    if let Some((cpu_us, rss)) = cpu {
        say!(
            "  server CPU      {:.3} µs per delivery ({} ms over the run, {:.0} % of a core)",
            cpu_us as f64 / got.max(1) as f64,
            cpu_us / 1000,
            busy(cpu_us)
        );
        say!("  server RSS      {} KiB", rss);
    }
    if let Some(own) = own {
        say!("  load gen CPU    {:.0} % of a core", busy(own));
    }
}

fn main() -> Result<(), Box<dyn std::error::Error + Send + Sync>> {
    let args = Args::parse();
    let rt = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(args.threads.max(1))
        .enable_all()
        .build()?;
    rt.block_on(async move {
        match args.mode.clone() {
            Mode::Fanout {
                subscribers,
                publishers,
                messages,
                window,
                rate,
                payload,
            } => {
                fanout::fanout(
                    args,
                    subscribers,
                    publishers,
                    messages,
                    window,
                    rate,
                    payload,
                )
                .await
            }
            Mode::Rooms {
                rooms: r,
                members,
                rate,
                seconds,
                payload,
                typing,
                read_every_ms,
            } => {
                let habits = rooms::Habits {
                    typing,
                    read_every: read_every_ms.map(Duration::from_millis),
                };
                rooms::rooms(args, r, members, rate, seconds, payload, habits).await
            }
            Mode::Conns {
                connections,
                room_size,
            } => conns::conns(args, connections, room_size).await,
            Mode::Acks {
                senders,
                seconds,
                rate,
                shared,
                read,
            } => acks::acks(args, senders, seconds, rate, shared, read).await,
        }
    })
}
