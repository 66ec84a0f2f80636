//! A minimal line-based WebSocket client, like `wscat`/`websocat`: every line you
//! type is sent as a text frame, every frame the server sends is printed.
//!
//! ```sh
//! cargo run --example wscat -- 'ws://127.0.0.1:8080/v1/ws?identity=alice'
//! {"id":1,"op":"conversation.create","unique_name":"lobby","participants":["bob"]}
//! ```

use std::io::BufRead;

use awc::ws::{Frame, Message};
use futures_util::{SinkExt, StreamExt};

#[actix_rt::main]
async fn main() -> Result<(), Box<dyn std::error::Error>> {
    let url = std::env::args()
        .nth(1)
        .unwrap_or_else(|| "ws://127.0.0.1:8080/v1/ws?identity=alice".into());
    let (_, mut socket) = awc::Client::new()
        .ws(url.as_str())
        .max_frame_size(64 << 20)
        .connect()
        .await
        .map_err(|e| format!("could not connect to {url}: {e}"))?;
    eprintln!("connected to {url}; type one JSON request per line (Ctrl-D quits)");

    // Stdin blocks, so it gets a thread of its own.
    let (tx, mut lines) = tokio::sync::mpsc::unbounded_channel::<String>();
    std::thread::spawn(move || {
        for line in std::io::stdin().lock().lines().map_while(Result::ok) {
            if tx.send(line).is_err() {
                break;
            }
        }
    });

    loop {
        tokio::select! {
            line = lines.recv() => match line {
                Some(l) if l.trim().is_empty() => {}
                Some(l) => socket.send(Message::Text(l.into())).await?,
                None => {
                    socket.send(Message::Close(None)).await?;
                    return Ok(());
                }
            },
            frame = socket.next() => match frame {
                Some(Ok(Frame::Text(t))) => println!("{}", String::from_utf8_lossy(&t)),
                Some(Ok(Frame::Ping(p))) => socket.send(Message::Pong(p)).await?,
                Some(Ok(Frame::Close(reason))) => {
                    eprintln!("closed by the server: {reason:?}");
                    return Ok(());
                }
                Some(Ok(_)) => {}
                Some(Err(e)) => return Err(e.into()),
                None => return Ok(()),
            },
        }
    }
}
