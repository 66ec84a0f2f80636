//! The JetStream floor: appends entries to a stream like colloquy's log (one
//! subject, file storage, as many replicas as servers) at a fixed rate, from
//! one client per server in turn, each append awaited as colloquy awaits
//! its own, and reads them back on every server the way the nodes would.
//! It prints the CPU the NATS servers spent per entry (read from `/proc`),
//! which is what a cluster of colloquy nodes cannot spend less than.
//!
//! `benches/jetstream.sh` starts the servers and runs it.

use std::future::IntoFuture;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::time::Duration;

use async_nats::jetstream::{self, consumer, stream};
use clap::{Parser, ValueEnum};
use futures_util::stream::{FuturesUnordered, StreamExt};

#[derive(Parser)]
struct Args {
    /// The NATS servers' client URLs, comma-separated; one client each.
    #[arg(long)]
    urls: String,
    /// The NATS servers' process ids, comma-separated, for their CPU time.
    #[arg(long)]
    pids: String,
    /// Entries appended per second, spread over the clients in turn.
    #[arg(long, default_value_t = 1000, value_parser = clap::value_parser!(u64).range(1..))]
    rate: u64,
    #[arg(long, default_value_t = 10, value_parser = clap::value_parser!(u64).range(1..))]
    seconds: u64,
    /// Bytes per entry (an op of colloquy's log is some 300 bytes of JSON).
    #[arg(long, default_value_t = 300)]
    payload: usize,
    /// How each client reads the entries back.
    #[arg(long, value_enum, default_value_t = Readers::Consumer)]
    readers: Readers,
}

#[derive(Clone, Copy, PartialEq, ValueEnum)]
enum Readers {
    /// Nobody reads: the appends alone.
    None,
    /// An ordered pull consumer per client, as colloquy's nodes read the log.
    Consumer,
    /// A plain subscription per client to a copy the stream republishes.
    Republish,
}

const STREAM: &str = "FLOOR";
const SUBJECT: &str = "floor.log";
const COPY: &str = "floor.copy";

#[tokio::main]
async fn main() -> Result<(), Box<dyn std::error::Error>> {
    let args = Args::parse();
    let pids: Vec<u32> = args
        .pids
        .split(',')
        .map(str::parse)
        .collect::<Result<_, _>>()?;
    let mut clients = Vec::new();
    for url in args.urls.split(',') {
        // The servers may be starting still.
        let client = async_nats::ConnectOptions::new()
            .retry_on_initial_connect()
            .connect(url)
            .await?;
        clients.push(client);
    }
    let js = jetstream::new(clients.first().ok_or("no --urls given")?.clone());
    let _ = js.delete_stream(STREAM).await;
    let config = stream::Config {
        name: STREAM.into(),
        subjects: vec![SUBJECT.into()],
        num_replicas: clients.len(),
        storage: stream::StorageType::File,
        republish: (args.readers == Readers::Republish).then(|| stream::Republish {
            source: SUBJECT.into(),
            destination: COPY.into(),
            headers_only: false,
        }),
        ..Default::default()
    };
    // Servers just started take some seconds to elect JetStream's leader.
    let mut tries = 0;
    while let Err(e) = js.create_stream(config.clone()).await {
        tries += 1;
        if tries == 60 {
            return Err(e.into());
        }
        tokio::time::sleep(Duration::from_millis(500)).await;
    }

    let read = Arc::new(AtomicU64::new(0));
    for client in &clients {
        let read = read.clone();
        match args.readers {
            Readers::None => {}
            Readers::Consumer => {
                let stream = jetstream::new(client.clone()).get_stream(STREAM).await?;
                let mut entries = stream
                    .create_consumer(consumer::pull::OrderedConfig {
                        filter_subject: SUBJECT.into(),
                        ..Default::default()
                    })
                    .await?
                    .messages()
                    .await?;
                tokio::spawn(async move {
                    while let Some(Ok(_)) = entries.next().await {
                        read.fetch_add(1, Ordering::Relaxed);
                    }
                });
            }
            Readers::Republish => {
                let mut copies = client.subscribe(COPY).await?;
                tokio::spawn(async move {
                    while copies.next().await.is_some() {
                        read.fetch_add(1, Ordering::Relaxed);
                    }
                });
            }
        }
    }
    // Let the stream's and the readers' making settle before counting.
    tokio::time::sleep(Duration::from_millis(500)).await;

    let total = args.rate * args.seconds;
    let payload = bytes::Bytes::from(vec![b'x'; args.payload]);
    let contexts: Vec<_> = clients.iter().cloned().map(jetstream::new).collect();
    let before = cpu_ticks(&pids)?;
    let started = std::time::Instant::now();
    let mut acks = FuturesUnordered::new();
    let mut tick = tokio::time::interval(Duration::from_nanos(1_000_000_000 / args.rate));
    tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Burst);
    let mut sent = 0;
    while sent < total || !acks.is_empty() {
        tokio::select! {
            _ = tick.tick(), if sent < total => {
                let js = &contexts[sent as usize % contexts.len()];
                acks.push(js.publish(SUBJECT, payload.clone()).await?.into_future());
                sent += 1;
            }
            Some(ack) = acks.next() => { ack?; }
        }
    }
    let took = started.elapsed().as_secs_f64();
    let expected = match args.readers {
        Readers::None => 0,
        _ => total * clients.len() as u64,
    };
    for _ in 0..100 {
        if read.load(Ordering::Relaxed) >= expected {
            break;
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    let after = cpu_ticks(&pids)?;
    let hz = 100.0; // USER_HZ on Linux
    let per_entry = (after - before) as f64 / hz * 1e6 / total as f64;
    println!(
        "{total} entries of {} B at {}/s in {took:.1} s, readers {}: NATS servers {per_entry:.0} CPU-µs per entry; {} of {expected} read back",
        args.payload,
        args.rate,
        args.readers.to_possible_value().map(|v| v.get_name().to_string()).unwrap_or_default(),
        read.load(Ordering::Relaxed),
    );
    Ok(())
}

/// User and system CPU time of the processes, in clock ticks.
fn cpu_ticks(pids: &[u32]) -> Result<u64, Box<dyn std::error::Error>> {
    let mut ticks = 0;
    for pid in pids {
        let stat = std::fs::read_to_string(format!("/proc/{pid}/stat"))?;
        // The fields after the command name, which may hold spaces.
        let fields: Vec<&str> = stat
            .rsplit_once(')')
            .map(|(_, rest)| rest.split_whitespace().collect())
            .unwrap_or_default();
        for i in [11, 12] {
            ticks += fields.get(i).ok_or("short /proc stat")?.parse::<u64>()?;
        }
    }
    Ok(ticks)
}
