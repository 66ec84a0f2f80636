//! In-process fanout: one message delivered to every subscriber of a conversation.
//!
//! Throughput is counted in deliveries (frames handed to sessions). Subscribers
//! drain their outboxes between iterations so that no outbox fills up.

use std::time::Duration;

use colloquy::{Config, Engine, Session};
use criterion::{criterion_group, criterion_main, BenchmarkId, Criterion, Throughput};
use serde_json::json;

fn fanout(c: &mut Criterion) {
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .expect("runtime");
    let mut group = c.benchmark_group("fanout");
    group.measurement_time(Duration::from_secs(5));
    for &subscribers in &[1usize, 10, 100, 1_000] {
        for &(label, size) in &[("100B", 100usize), ("4KiB", 4096)] {
            let engine = Engine::start(Config {
                arbiters: 1,
                ..Config::default()
            })
            .expect("engine");
            let (sender, sessions, id) = rt.block_on(async {
                let sender = engine.connect("sender").await.expect("connect");
                let names: Vec<String> = (1..subscribers).map(|i| format!("s{i}")).collect();
                let conv = sender
                    .request_json(json!({"op": "conversation.create", "participants": names}))
                    .await
                    .expect("create");
                let mut sessions: Vec<Session> = Vec::new();
                for n in &names {
                    sessions.push(engine.connect(n).await.expect("connect"));
                }
                (
                    sender,
                    sessions,
                    conv["id"].as_str().unwrap_or_default().to_string(),
                )
            });
            let body = "x".repeat(size);
            group.throughput(Throughput::Elements(subscribers as u64));
            group.bench_with_input(
                BenchmarkId::new(label, subscribers),
                &subscribers,
                |b, _| {
                    b.iter(|| {
                        rt.block_on(async {
                            sender
                                .request_json(
                                    json!({"op": "message.send", "conversation": id, "body": body}),
                                )
                                .await
                                .expect("send");
                        });
                        while sender.outbox().try_recv().is_some() {}
                        for s in &sessions {
                            while s.outbox().try_recv().is_some() {}
                        }
                    })
                },
            );
            drop(sessions);
            drop(sender);
            engine.shutdown();
        }
    }
    group.finish();
}

criterion_group!(benches, fanout);
criterion_main!(benches);
