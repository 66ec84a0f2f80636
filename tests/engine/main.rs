//! Engine tests: every op, event and rule of the contract, driven through the
//! public embedding API (in-process sessions, no sockets).

mod access;
mod conversations;
mod durable;
mod history;
mod messages;
mod participants;
mod presence;
mod reading;
mod sequence;
mod typing;
mod util;
#[path = "../support/walk/mod.rs"]
mod walk;
mod walks;
