//! The floor: a bare WebSocket room broadcaster, what a server costs when it
//! does nothing but move frames (no ids, no `seq`, no history, no acks). It
//! speaks just enough of socket.io's framing for the load generator's
//! `--protocol socketio`: the Engine.IO open, the namespace connect (`40`),
//! `join` with its ack, and `msg`, whose frame it sends, as received, to the
//! others in the sender's rooms. Prints `listening on http://ADDR`.
//!
//! One thread (pin it to a core with taskset, as the other servers are); each
//! frame is received once and its bytes shared by every recipient; each
//! connection's writer flushes whatever is queued in one write; Nagle off.

use std::cell::RefCell;
use std::collections::HashMap;
use std::rc::Rc;

use futures_util::{SinkExt, StreamExt};
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::mpsc;
use tokio_tungstenite::tungstenite::{Message, Utf8Bytes};

/// The members of each room: connection number and its writer's queue.
type Rooms = Rc<RefCell<HashMap<String, Vec<(u64, mpsc::Sender<Utf8Bytes>)>>>>;

/// Frames queued per connection; with the load generator's bounded window
/// this never fills, and a frame that would not fit is dropped (the load
/// generator reports it lost).
const QUEUE: usize = 4096;

const OPEN: &str = r#"0{"sid":"floor","upgrades":[],"pingInterval":25000,"pingTimeout":20000,"maxPayload":1000000}"#;

#[tokio::main(flavor = "current_thread")]
async fn main() -> std::io::Result<()> {
    let bind = std::env::args().nth(1).unwrap_or_else(|| "127.0.0.1:0".into());
    let listener = TcpListener::bind(&bind).await?;
    println!("listening on http://{}", listener.local_addr()?);
    let rooms = Rooms::default();
    let local = tokio::task::LocalSet::new();
    local
        .run_until(async move {
            let mut next = 0;
            loop {
                let (tcp, _) = listener.accept().await?;
                tcp.set_nodelay(true)?;
                next += 1;
                tokio::task::spawn_local(serve(tcp, next, rooms.clone()));
            }
        })
        .await
}

async fn serve(tcp: TcpStream, me: u64, rooms: Rooms) {
    let Ok(ws) = tokio_tungstenite::accept_async(tcp).await else {
        return;
    };
    let (mut sink, mut stream) = ws.split();
    let (tx, mut rx) = mpsc::channel::<Utf8Bytes>(QUEUE);
    let writer = tokio::task::spawn_local(async move {
        while let Some(first) = rx.recv().await {
            let mut frame = Some(first);
            while let Some(f) = frame {
                if sink.feed(Message::Text(f)).await.is_err() {
                    return;
                }
                frame = rx.try_recv().ok();
            }
            if sink.flush().await.is_err() {
                return;
            }
        }
    });
    let _ = tx.try_send(OPEN.into());
    let mut joined: Vec<String> = Vec::new();
    while let Some(Ok(m)) = stream.next().await {
        let Message::Text(text) = m else { continue };
        if text.as_str() == "40" {
            let _ = tx.try_send("40".into());
        } else if let Some(rest) = text.as_str().strip_prefix(r#"421["join",""#) {
            let room = rest.trim_end_matches("\"]").to_string();
            let mut all = rooms.borrow_mut();
            all.entry(room.clone()).or_default().push((me, tx.clone()));
            joined.push(room);
            let _ = tx.try_send(r#"431["joined"]"#.into());
        } else if text.as_str().starts_with(r#"42["msg","#) {
            let all = rooms.borrow();
            for room in &joined {
                for (who, peer) in all.get(room).into_iter().flatten() {
                    if *who != me {
                        // A clone shares the received bytes.
                        let _ = peer.try_send(text.clone());
                    }
                }
            }
        }
    }
    let mut all = rooms.borrow_mut();
    for room in &joined {
        if let Some(members) = all.get_mut(room) {
            members.retain(|(who, _)| *who != me);
        }
    }
    writer.abort();
}
