//! A room broadcast server on socketioxide, as small as a user would write it:
//! a client emits `join` to enter a room; every `msg` it emits is broadcast to
//! the others in its rooms. Prints `listening on http://ADDR`.
//!
//! Single-threaded tokio runtime: pin it to one core with taskset to compare
//! per-core throughput with colloquy.

use socketioxide::extract::{AckSender, Data, SocketRef};
use socketioxide::SocketIo;

#[tokio::main(flavor = "current_thread")]
async fn main() -> Result<(), Box<dyn std::error::Error>> {
    let bind = std::env::args().nth(1).unwrap_or_else(|| "127.0.0.1:0".into());
    let (layer, io) = SocketIo::new_layer();
    io.ns("/", async |socket: SocketRef| {
        // Acked, so that the client knows it is in the room before load starts
        // (an event sent right after connecting may otherwise meet no handler yet).
        socket.on("join", async |socket: SocketRef, Data::<String>(room), ack: AckSender| {
            socket.join(room);
            let _ = ack.send(&"joined");
        });
        socket.on("msg", async |socket: SocketRef, Data::<serde_json::Value>(data)| {
            let _ = socket.to(socket.rooms()).emit("msg", &data).await;
        });
    });
    let app = axum::Router::new().layer(layer);
    let listener = tokio::net::TcpListener::bind(&bind).await?;
    println!("listening on http://{}", listener.local_addr()?);
    // Nagle off, as colloquy does: a fair comparison of pipelined fanout.
    let listener = axum::serve::ListenerExt::tap_io(listener, |tcp| {
        let _ = tcp.set_nodelay(true);
    });
    axum::serve(listener, app).await?;
    Ok(())
}
