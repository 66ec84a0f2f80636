//! Server tests: a real server on 127.0.0.1:0, real WebSocket and HTTP clients.

mod auth;
mod compact;
mod cors;
mod durable;
mod faces;
mod hostile;
mod limits;
mod moving;
mod raw;
mod rest;
mod resume;
mod twilio;
mod util;
#[path = "../support/walk/mod.rs"]
mod walk;
mod walks;
mod wire;
