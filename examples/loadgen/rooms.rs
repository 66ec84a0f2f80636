//! `rooms`: many small conversations, every member sending at a fixed rate on
//! the one socket it also reads from (the way a chat client does), for the
//! latency of light, spread-out traffic. A member does not count its own
//! messages: colloquy echoes them to the author's session, socket.io does not.

use std::sync::atomic::{AtomicU64, Ordering::Relaxed};
use std::sync::Arc;
use std::time::{Duration, Instant};

use serde_json::json;

use super::{
    conversation, payload, publish_frame, report, sample, sent_at, settle, Args, Protocol,
    Recorder, Stop, Sub, Tally,
};

type BoxError = Box<dyn std::error::Error + Send + Sync>;

/// Payload seqs are `member * SEQS + n`: a reader knows its own messages.
const SEQS: u64 = 1_000_000;

/// What one member does for the run.
struct Plan {
    room: String,
    me: u64,
    /// Where in each period this member sends (0..1): members spread their
    /// sends evenly instead of all sending at the same instant.
    phase: f64,
    rate: f64,
    /// When every member stops sending.
    until: Instant,
    size: usize,
    t0: Instant,
    /// Members still sending; each one leaves once past `until`.
    sending: Arc<AtomicU64>,
    habits: Habits,
}

/// What members do besides sending, as chat clients do.
#[derive(Clone, Copy)]
pub struct Habits {
    /// Say it types half a period before each message.
    pub typing: bool,
    /// Mark the room read once it has unread messages, at most this often.
    pub read_every: Option<Duration>,
}

pub async fn rooms(
    args: Args,
    rooms: usize,
    members: usize,
    rate: f64,
    seconds: u64,
    size: usize,
    habits: Habits,
) -> Result<(), BoxError> {
    if !(rate > 0.0 && rate.is_finite()) {
        return Err("--rate must be a positive number of messages a second".into());
    }
    if (habits.typing || habits.read_every.is_some()) && args.protocol != Protocol::Colloquy {
        return Err("--typing and --read-every-ms are for colloquy only".into());
    }
    let run = std::process::id();
    let t0 = Instant::now();
    let tally = Tally::new(0, 0);
    let (stop_all, stop) = tokio::sync::watch::channel(false);
    let mut joined = Vec::new();
    for r in 0..rooms {
        let names: Vec<String> = (0..members).map(|m| format!("r{run}-{r}-{m}")).collect();
        let room = match args.protocol {
            Protocol::Colloquy => conversation(&args, &names).await?,
            Protocol::Socketio => format!("room{r}"),
        };
        for n in &names {
            joined.push((Sub::open(&args, n, &room).await?, room.clone()));
        }
    }
    settle(&args).await;
    let before = sample(&args);
    let start = t0.elapsed();
    let sent = Arc::new(AtomicU64::new(0));
    let mut tasks = Vec::new();
    let until = Instant::now() + Duration::from_secs(seconds);
    let sending = Arc::new(AtomicU64::new(joined.len() as u64));
    for (i, (sub, room)) in joined.into_iter().enumerate() {
        let plan = Plan {
            room,
            me: i as u64,
            phase: i as f64 / (rooms * members) as f64,
            rate,
            until,
            size,
            t0,
            sending: sending.clone(),
            habits,
        };
        let rec = Recorder::new(t0, tally.clone());
        tasks.push(tokio::spawn(member(
            sub,
            plan,
            rec,
            sent.clone(),
            stop.clone(),
        )));
    }
    // Every message reaches the other members of its room: once every
    // member has sent its last, wait (at most 10 s) for their deliveries.
    while sending.load(Relaxed) > 0 {
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    let expected = || sent.load(Relaxed) * (members as u64 - 1);
    let deadline = Instant::now() + Duration::from_secs(10);
    while Instant::now() < deadline && tally.received.load(Relaxed) < expected() {
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    let after = sample(&args);
    let elapsed = Duration::from_nanos(tally.last_ns.load(Relaxed)).saturating_sub(start);
    let _ = stop_all.send(true);
    for t in tasks {
        let _ = t.await;
    }
    report(
        &format!(
            "rooms: {rooms} x {members} members, {rate} msg/s each{}{}, {seconds} s",
            if habits.typing {
                " (and as many typing.start)"
            } else {
                ""
            },
            match habits.read_every {
                Some(every) => format!(", read.all at most every {} ms", every.as_millis()),
                None => String::new(),
            }
        ),
        &tally,
        expected(),
        elapsed,
        before,
        after,
    );
    Ok(())
}

/// Sends at the plan's rate until its time is up, and reads until `stop`.
async fn member(mut sub: Sub, plan: Plan, mut rec: Recorder, sent: Arc<AtomicU64>, mut stop: Stop) {
    let period = Duration::from_secs_f64(1.0 / plan.rate);
    let first = tokio::time::Instant::now() + period.mul_f64(plan.phase);
    let mut tick = tokio::time::interval_at(first, period);
    let mut typing = tokio::time::interval_at(first + period / 2, period);
    let typed = json!({"op": "typing.start", "conversation": plan.room}).to_string();
    let read = json!({"op": "read.all", "conversation": plan.room}).to_string();
    // Without the habit, the timer still ticks (rarely) but is never acted on.
    let mut reading =
        tokio::time::interval(plan.habits.read_every.unwrap_or(Duration::from_secs(3600)));
    // Late (it is not polled while all is read): one tick, then a period on.
    reading.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    let mut unread = false;
    let mut n = 0;
    let mut done = false;
    loop {
        let sending = Instant::now() < plan.until;
        if !sending && !done {
            done = true;
            plan.sending.fetch_sub(1, Relaxed);
        }
        tokio::select! {
            // Wakes the member at `until`, to leave the senders even if
            // nothing arrives then.
            () = tokio::time::sleep_until(plan.until.into()), if sending => {}
            _ = tick.tick(), if sending => {
                let body = payload((plan.me * SEQS + n) as usize, plan.t0, plan.size);
                let frame = publish_frame(sub.proto, &plan.room, &body);
                if sub.reader.send_text(&frame).await.is_err() {
                    break;
                }
                n += 1;
                sent.fetch_add(1, Relaxed);
            }
            _ = typing.tick(), if sending && plan.habits.typing => {
                if sub.reader.send_text(&typed).await.is_err() {
                    break;
                }
            }
            text = sub.reader.next_text() => {
                let Some(text) = text else { break };
                if sub.proto == Protocol::Socketio && text == b"2" {
                    let _ = sub.reader.send_text("3").await;
                    continue;
                }
                if let Some((seq, at)) = sent_at(text, sub.proto) {
                    if seq / SEQS != plan.me {
                        rec.record(seq, at);
                        unread = true;
                    }
                }
            }
            _ = reading.tick(), if unread && plan.habits.read_every.is_some() => {
                if sub.reader.send_text(&read).await.is_err() {
                    break;
                }
                unread = false;
            }
            // Mapped to (): a watch guard must not live across the handlers' awaits.
            () = async { let _ = stop.wait_for(|s| *s).await; } => break,
        }
    }
    rec.finish();
}
