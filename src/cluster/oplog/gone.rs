//! Noticing that the log this node joined is gone.
//!
//! A log deleted and made again (by hand, or by a node started after the
//! NATS servers lost their storage) starts over without the state this node
//! holds. Applying that log's entries on this state, or answering from it,
//! would leave this node unlike the nodes that joined that log, so the node
//! stops; restarted, it joins the log as it is. A log is known by when it
//! was made, which every server holding it answers alike.
//!
//! How many entries the stream holds is no sign: while the stream has no
//! leader, any server holding it answers with what it has, which can be
//! fewer entries than a node has applied.
//!
//! A log can also go back: its NATS servers' storage put back from an older
//! copy (a backup restored, a disk image rolled back). It is the same log,
//! made at the same time, but it ends before entries this node applied, or
//! holds other entries in their places. The node would skip the entries up
//! to the last place it applied (its own appends among them, so their
//! askers would wait in vain) and apply the ones after on a state they were
//! not appended on; so it stops. The last entry it read is asked for, from
//! the stream's leader: gone, with nothing after it, or stored at another
//! time, twice in a row, it is not this node's history.
//!
//! A log that is missing is waited for (the node takes no writes meanwhile,
//! and its `/healthz` says why): whether it is gone for good is not a node's
//! to say.
//!
//! The check is a task of its own: asking JetStream about the stream can
//! take a second while it elects a leader, and the reader must not wait.

use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::Duration;

use async_nats::jetstream::{self, stream::RawMessageErrorKind, stream::Stream};
use tokio::sync::watch;

use super::{Progress, Read};
use crate::cluster::{STREAM, SUBJECT};
use crate::engine::Engine;

/// How often the stream is looked at, and how long an answer may take.
const EVERY: Duration = Duration::from_secs(2);
const WITHIN: Duration = Duration::from_secs(1);

/// What the watcher shares with the reader and the node's status.
pub(super) struct Watch {
    /// When the stream this node joined was made (ns since the epoch).
    pub made: i128,
    /// Whether JetStream last said the stream is not there.
    pub missing: Arc<AtomicBool>,
    /// Set once the log is gone; the reader stops on it.
    pub gone: watch::Sender<bool>,
}

impl Watch {
    /// Looks at the stream every [`EVERY`], and at once when the client
    /// connects again (a log goes back only while its servers are down),
    /// until the log is found gone or gone back (then fails `engine`) or the
    /// node stops.
    pub(super) async fn run(
        self,
        stream: Stream,
        progress: Arc<Progress>,
        mut connections: watch::Receiver<u64>,
        engine: Engine,
    ) {
        let mut every = tokio::time::interval(EVERY);
        // A log that went back is believed on the second look at the same
        // entry: a stream leader just elected may not have stored yet all
        // that was agreed before, and an entry missing for a moment is no
        // reason to stop a node.
        let mut doubted = None;
        loop {
            tokio::select! {
                _ = every.tick() => {}
                Ok(()) = connections.changed() => {}
                () = self.gone.closed() => return,
            }
            let why = match self.look(&stream, &progress).await {
                None => {
                    doubted = None;
                    continue;
                }
                Some(Finding::WentBack(read, how)) if doubted != Some(read) => {
                    doubted = Some(read);
                    ::log::warn!("the log may have gone back ({how}); looking again");
                    continue;
                }
                Some(Finding::WentBack(_, how)) => ahead_of_the_log(&how),
                Some(Finding::Gone(why)) => why,
            };
            engine.fail(why);
            self.gone.send_replace(true);
            return;
        }
    }

    /// How the stream is not the log this node joined, if it is not.
    async fn look(&self, stream: &Stream, progress: &Progress) -> Option<Finding> {
        let info = match tokio::time::timeout(WITHIN, stream.get_info()).await {
            Ok(Ok(info)) => info,
            Ok(Err(e)) if not_found(&e) => {
                if !self.missing.swap(true, Ordering::Relaxed) {
                    ::log::error!(
                        "{}: deleted, or its NATS servers lost their storage. This node takes no \
                         writes until it is back; a node started meanwhile makes a new, empty \
                         log, and then this one stops",
                        not_there()
                    );
                }
                return None;
            }
            // No answer yet (a leader being elected): asked again later.
            _ => return None,
        };
        self.missing.store(false, Ordering::Relaxed);
        if info.created.unix_timestamp_nanos() == self.made {
            let read = progress.read()?;
            let how = went_back(stream, read, info.state.last_sequence).await?;
            return Some(Finding::WentBack(read, how));
        }
        let applied = progress.applied();
        Some(Finding::Gone(format!(
            "copy of the cluster's state is of a log that is gone: the stream {STREAM} was made \
             again (deleted, or its NATS servers lost their storage), and this node had applied \
             {applied} entries of the old one: restart it to join the new log"
        )))
    }
}

/// What a look at the stream found wrong.
enum Finding {
    /// The log was made again, and why the node stops.
    Gone(String),
    /// The log went back behind `Read`, the last entry this node read, and
    /// how that shows.
    WentBack(Read, String),
}

/// What shows a log went back and took new entries since.
pub(super) fn another_entry(seq: u64) -> String {
    format!("the log's entry {seq}, which this node applied, is another entry now")
}

/// Why a node whose log went back stops; `how` says what it found.
pub(super) fn ahead_of_the_log(how: &str) -> String {
    format!(
        "copy of the cluster's state is ahead of the log: {how}. The log went back (its NATS \
         servers' storage put back from an older copy?), and what was acknowledged after the \
         place it went back to is lost: restart this node to join the log as it is"
    )
}

/// How the log is not the history this node read, up to `read`, if it is
/// not: `last` is the stream's last entry, as its info said.
///
/// The entry is asked of the stream's leader (a raw get; direct gets are
/// answered by any server, from a copy that may be behind), which holds
/// every entry any node has read. No answer, while a leader is elected,
/// says nothing; an entry trimmed behind a snapshot, with entries after it,
/// is not this check's business (the reader stops on that).
async fn went_back(stream: &Stream, read: Read, last: u64) -> Option<String> {
    let asked = stream.get_first_raw_message_by_subject(SUBJECT, read.seq);
    let Read { seq, published } = read;
    match tokio::time::timeout(WITHIN, asked).await {
        Ok(Ok(m)) if m.sequence == seq => {
            let stored = super::reader::millis(m.time.unix_timestamp_nanos());
            (stored != published).then(|| another_entry(seq))
        }
        // The leader says nothing is there from `seq` on, and the stream's
        // info agrees (an info can come from a server's own copy).
        Ok(Err(e)) if e.kind() == RawMessageErrorKind::NoMessageFound && last < seq => Some(
            format!("the log ends at entry {last}, and this node applied entries up to {seq}"),
        ),
        _ => None,
    }
}

/// What a node says while the log is missing: in its log, on `/healthz`,
/// and to a write.
pub(super) fn not_there() -> String {
    format!("the cluster's log (the JetStream stream {STREAM}) is not there")
}

/// Whether JetStream said the stream is not there.
fn not_found(e: &jetstream::context::RequestError) -> bool {
    std::error::Error::source(e)
        .and_then(|s| s.downcast_ref::<jetstream::Error>())
        .is_some_and(|e| e.error_code() == jetstream::ErrorCode::STREAM_NOT_FOUND)
}
