//! How much work this thread's event loop has done that puts frames in
//! outboxes: requests read from its sockets and fanouts from its
//! conversations. A socket writer's flusher (`server/ws/writer.rs`) compares
//! the count across a turn and waits a turn more while it moves, so that one
//! write carries the frames of several messages.

use std::cell::Cell;

thread_local! {
    static WORK: Cell<u64> = const { Cell::new(0) };
}

/// Counts a piece of work on this thread that will put frames in outboxes.
pub fn note_work() {
    WORK.set(WORK.get().wrapping_add(1));
}

/// The count so far on this thread.
pub fn work_done() -> u64 {
    WORK.get()
}
