//! Server tests: a real server on 127.0.0.1:0, real WebSocket and HTTP clients.

mod auth;
mod limits;
mod rest;
mod util;
mod wire;
