//! In-process fanout: an event delivered to every subscriber of a conversation.
//!
//! Throughput is in deliveries (frames handed to sessions' outboxes). Only the
//! publish and its fanout are timed; outboxes are drained between iterations,
//! untimed, as a socket writer would on its own thread.

use std::time::{Duration, Instant};

use colloquy::{Caller, Config, Encoding, Engine, Frame, Session};
use criterion::{criterion_group, criterion_main, BenchmarkId, Criterion, Throughput};
use serde_json::json;

struct Room {
    engine: Engine,
    sender: Session,
    sessions: Vec<Session>,
    id: String,
}

impl Room {
    fn drain(&self) {
        while self.sender.outbox().try_recv().is_some() {}
        for s in &self.sessions {
            while s.outbox().try_recv().is_some() {}
        }
    }
}

/// The runtime the benches drive the engine from: one thread, as a client's.
fn current_thread() -> tokio::runtime::Runtime {
    tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .expect("runtime")
}

/// One conversation with `members` connected users, on a one-arbiter engine.
fn room(rt: &tokio::runtime::Runtime, members: usize) -> Room {
    let engine = Engine::start(Config {
        arbiters: 1,
        ..Config::default()
    })
    .expect("engine");
    rt.block_on(async {
        let sender = engine.connect("sender").await.expect("connect");
        let names: Vec<String> = (1..members).map(|i| format!("s{i}")).collect();
        let conv = engine
            .request_as(
                Caller::Service,
                json!({"op": "conversation.create", "participants": ["sender"]}),
            )
            .await
            .expect("create");
        let id = conv["id"].as_str().unwrap_or_default().to_string();
        // Add in chunks through the service: creation takes at most max_participants.
        for n in &names {
            engine
                .request_as(
                    Caller::Service,
                    json!({"op": "participant.add", "conversation": id, "identity": n}),
                )
                .await
                .expect("add");
        }
        let mut sessions = Vec::with_capacity(names.len());
        for n in &names {
            sessions.push(engine.connect(n).await.expect("connect"));
        }
        let r = Room {
            engine: engine.clone(),
            sender,
            sessions,
            id,
        };
        r.drain();
        r
    })
}

/// Messages in flight at once: a busy server never waits for one send to finish
/// before the next arrives, so neither does the bench (a lone request would
/// mostly measure waking the arbiter thread).
const IN_FLIGHT: usize = 32;

fn time_sends(
    rt: &tokio::runtime::Runtime,
    room: &Room,
    iters: u64,
    req: &colloquy::Request,
) -> Duration {
    let mut total = Duration::ZERO;
    for _ in 0..iters {
        let t = Instant::now();
        rt.block_on(async {
            let sends = (0..IN_FLIGHT).map(|_| room.sender.request(req.clone()));
            for r in futures_util::future::join_all(sends).await {
                r.expect("send");
            }
        });
        total += t.elapsed();
        room.drain();
    }
    total
}

fn message_fanout(c: &mut Criterion) {
    let rt = current_thread();
    let mut group = c.benchmark_group("message_fanout");
    group
        .measurement_time(Duration::from_secs(4))
        .warm_up_time(Duration::from_secs(1))
        .sample_size(20);
    for &subscribers in &[1usize, 10, 100, 1_000, 10_000] {
        let room = room(&rt, subscribers);
        for &(label, size) in &[("100B", 100usize), ("4KiB", 4096)] {
            let req =
                json!({"op": "message.send", "conversation": room.id, "body": "x".repeat(size)});
            let req = colloquy::Request::from_json(&req).expect("request");
            group.throughput(Throughput::Elements((subscribers * IN_FLIGHT) as u64));
            group.bench_with_input(
                BenchmarkId::new(label, subscribers),
                &subscribers,
                |b, _| b.iter_custom(|iters| time_sends(&rt, &room, iters, &req)),
            );
        }
        room.engine.shutdown();
    }
    group.finish();
}

/// Typing indicators (personal events, no seq) to 1,000 members.
fn typing_fanout(c: &mut Criterion) {
    let rt = current_thread();
    let mut group = c.benchmark_group("typing_fanout");
    group
        .measurement_time(Duration::from_secs(3))
        .sample_size(20);
    let room = room(&rt, 1_000);
    let start = json!({"op": "typing.start", "conversation": room.id});
    let stop = json!({"op": "typing.stop", "conversation": room.id});
    // A start and a stop each reach the 999 others.
    group.throughput(Throughput::Elements(2 * 999));
    group.bench_function("start_stop_1000", |b| {
        b.iter_custom(|iters| {
            let mut total = Duration::ZERO;
            for _ in 0..iters {
                let t = Instant::now();
                rt.block_on(async {
                    room.sender
                        .request_json(start.clone())
                        .await
                        .expect("start");
                    room.sender.request_json(stop.clone()).await.expect("stop");
                });
                total += t.elapsed();
                room.drain();
            }
            total
        })
    });
    room.engine.shutdown();
    group.finish();
}

/// Presence: a user sharing a conversation with 1,000 others comes online and
/// goes offline (one userStatus to each, each way).
fn presence_fanout(c: &mut Criterion) {
    let rt = current_thread();
    let mut group = c.benchmark_group("presence_fanout");
    group
        .measurement_time(Duration::from_secs(3))
        .sample_size(20);
    let room = room(&rt, 1_000);
    // A member with no session: each connect is a 0→1 change, each close 1→0.
    rt.block_on(room.engine.request_as(
        Caller::Service,
        json!({"op": "participant.add", "conversation": room.id, "identity": "visitor"}),
    ))
    .expect("add");
    group.throughput(Throughput::Elements(2 * 1_000));
    group.bench_function("online_offline_1000", |b| {
        b.iter_custom(|iters| {
            let mut total = Duration::ZERO;
            for _ in 0..iters {
                let t = Instant::now();
                rt.block_on(async {
                    let s = room.engine.connect("visitor").await.expect("connect");
                    s.close(colloquy::CloseReason::ClientClosed).await;
                });
                total += t.elapsed();
                room.drain();
            }
            total
        })
    });
    room.engine.shutdown();
    group.finish();
}

/// 1,000 conversations of 5 members, one message each per iteration, sent
/// concurrently: conversation actors spread over the arbiters (one per core).
fn parallel_rooms(c: &mut Criterion) {
    let rt = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .expect("runtime");
    let mut group = c.benchmark_group("parallel_rooms");
    group
        .measurement_time(Duration::from_secs(4))
        .sample_size(10);
    for &arbiters in &[1usize, 2] {
        let engine = Engine::start(Config {
            arbiters,
            ..Config::default()
        })
        .expect("engine");
        let (ids, sessions) = rt.block_on(async {
            let mut ids = Vec::new();
            let mut sessions = Vec::new();
            for r in 0..1000 {
                let members: Vec<String> = (0..5).map(|m| format!("r{r}m{m}")).collect();
                let conv = engine
                    .request_as(
                        Caller::Service,
                        json!({"op": "conversation.create", "participants": members}),
                    )
                    .await
                    .expect("create");
                ids.push(conv["id"].as_str().unwrap_or_default().to_string());
                for m in &members {
                    sessions.push(engine.connect(m).await.expect("connect"));
                }
            }
            (ids, sessions)
        });
        let drain = || {
            for s in &sessions {
                while s.outbox().try_recv().is_some() {}
            }
        };
        drain();
        group.throughput(Throughput::Elements(1000 * 5));
        group.bench_with_input(BenchmarkId::new("1000x5_arbiters", arbiters), &arbiters, |b, _| {
            b.iter_custom(|iters| {
                let mut total = Duration::ZERO;
                for _ in 0..iters {
                    let t = Instant::now();
                    rt.block_on(async {
                        let sends = ids.iter().map(|id| {
                            let e = engine.clone();
                            let req = json!({"op": "message.send", "conversation": id, "body": "x".repeat(100), "author": "bot"});
                            tokio::spawn(async move { e.request_as(Caller::Service, req).await })
                        });
                        for s in sends.collect::<Vec<_>>() {
                            let _ = s.await;
                        }
                    });
                    total += t.elapsed();
                    drain();
                }
                total
            })
        });
        drop(sessions);
        engine.shutdown();
    }
    group.finish();
}

/// `conversationUpdated` carries each member's own unread count, so it is
/// rendered per member: a rename in a room of 100 connected members, with
/// `history` messages none of them has read, or (`attributes_4KiB`) none
/// but 4 KiB of attributes, in 100 keys. Members whose own fields are alike
/// share a frame; in `attributes_4KiB_read_apart` (100 messages) each has
/// read up to a message of its own, so each frame is made apart.
fn updated_fanout(c: &mut Criterion) {
    let rt = current_thread();
    let mut group = c.benchmark_group("updated_fanout");
    group
        .measurement_time(Duration::from_secs(3))
        .sample_size(20);
    let cases = [
        ("0", 0usize, 0usize, false),
        ("1000", 1_000, 0, false),
        ("10000", 10_000, 0, false),
        ("attributes_4KiB", 0, 100, false),
        ("attributes_4KiB_read_apart", 100, 100, true),
    ];
    for (label, history, attributes, read_apart) in cases {
        let room = room(&rt, 100);
        rt.block_on(async {
            let attributes: serde_json::Map<String, serde_json::Value> = (0..attributes)
                .map(|k| (format!("key{k:03}"), json!("v".repeat(32))))
                .collect();
            let update = json!({"op": "conversation.update", "conversation": room.id,
                "attributes": attributes});
            room.sender.request_json(update).await.expect("attributes");
            for n in 0..history {
                let send = json!({"op": "message.send", "conversation": room.id, "body": "x"});
                room.sender.request_json(send).await.expect("send");
                if n % 500 == 0 {
                    room.drain();
                }
            }
            if read_apart {
                for (i, s) in room.sessions.iter().enumerate() {
                    let read = json!({"op": "read.set", "conversation": room.id, "index": i});
                    s.request_json(read).await.expect("read");
                }
            }
        });
        room.drain();
        let mut name = 0u64;
        group.throughput(Throughput::Elements(100));
        let id = BenchmarkId::new("rename_100", label);
        group.bench_with_input(id, &history, |b, _| {
            b.iter_custom(|iters| {
                let mut total = Duration::ZERO;
                for _ in 0..iters {
                    name += 1;
                    let update = json!({"op": "conversation.update",
                        "conversation": room.id, "friendly_name": format!("room {name}")});
                    let t = Instant::now();
                    rt.block_on(room.sender.request_json(update))
                        .expect("update");
                    total += t.elapsed();
                    room.drain();
                }
                total
            })
        });
        room.engine.shutdown();
    }
    group.finish();
}

/// What a compact session's first copy of an event costs: the compact form
/// made from a `messageAdded` frame (100-byte body) as the engine wrote it.
/// In rooms of five it is shared by few deliveries, so it shows up per delivery.
fn compact_frame(c: &mut Criterion) {
    let rt = current_thread();
    let room = room(&rt, 2);
    let body = "x".repeat(100);
    let req = colloquy::Request::from_json(
        &json!({"op": "message.send", "conversation": room.id, "body": body}),
    )
    .expect("request");
    rt.block_on(room.sender.request(req)).expect("send");
    let added = room.sessions[0].outbox().try_recv().expect("messageAdded");
    let v1 = added.as_str().to_string();
    let mut group = c.benchmark_group("compact_frame");
    group.throughput(Throughput::Bytes(v1.len() as u64));
    group.bench_function("messageAdded", |b| {
        b.iter(|| Frame::from(v1.as_str()).encoded(Encoding::Compact))
    });
    group.finish();
    room.engine.shutdown();
}

criterion_group!(
    benches,
    message_fanout,
    typing_fanout,
    presence_fanout,
    parallel_rooms,
    updated_fanout,
    compact_frame
);
criterion_main!(benches);
