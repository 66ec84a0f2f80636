//! `conns`: idle connections in conversations of `room_size`, for the
//! server's memory per connection.

use std::time::{Duration, Instant};

use super::{conversation, server_stats, Args, Protocol, Sub};

pub async fn conns(
    args: Args,
    connections: usize,
    room_size: usize,
) -> Result<(), Box<dyn std::error::Error + Send + Sync>> {
    let run = std::process::id();
    let before = server_stats(args.server_pid);
    let mut open = Vec::with_capacity(connections);
    let started = Instant::now();
    for chunk in 0..connections.div_ceil(room_size) {
        let names: Vec<String> = (0..room_size)
            .map(|m| format!("c{run}-{chunk}-{m}"))
            .collect();
        let room = match args.protocol {
            Protocol::Colloquy => conversation(&args, &names).await?,
            Protocol::Socketio => format!("room{chunk}"),
        };
        for n in names.iter().take(connections - open.len()) {
            open.push(Sub::open(&args, n, &room).await?);
        }
    }
    say!(
        "conns: {} connections open in {:.1} s",
        open.len(),
        started.elapsed().as_secs_f64()
    );
    tokio::time::sleep(Duration::from_secs(3)).await;
    if let (Some((_, rss0)), Some((_, rss1))) = (before, server_stats(args.server_pid)) {
        say!("  server RSS      {rss0} KiB before, {rss1} KiB with them open");
        say!(
            "  per connection  {:.2} KiB",
            (rss1.saturating_sub(rss0)) as f64 / open.len().max(1) as f64
        );
    }
    Ok(())
}
