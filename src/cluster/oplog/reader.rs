//! Reading the log in order, whatever happens to the NATS servers.
//!
//! The reader is an ordered JetStream consumer. It lives on one server, and
//! making one needs JetStream's metadata leader. So when a server dies, a
//! node's reader may die with it, and a new one cannot be made until the
//! surviving servers have elected a metadata leader (seconds). Meanwhile the
//! stream itself goes on taking entries, if its own leader lives. Entries are
//! then read one by one with direct gets, which any server holding the stream
//! answers with no leader at all, until a reader is open again.

use std::future::Future;
use std::time::Duration;

use async_nats::jetstream::{self, consumer, stream::Stream};
use futures_util::StreamExt;
use tokio::sync::watch;

use super::{Applier, Entry, Flow};
use crate::cluster::SUBJECT;

/// How often the reader checks that it keeps up with the stream, and how long
/// it may stay behind it without applying anything before it is reopened.
/// While it stays so, no op asked on this node is answered and none of its
/// sessions gets an event, so the wait is short: a reader reopened for
/// nothing only reads again what it already has, and skips it.
const STALL_CHECK: Duration = Duration::from_millis(250);
const STALLED: Duration = Duration::from_secs(1);
/// How long opening a reader may take. While JetStream elects a leader the
/// server does not answer at all, and a reader asked for just before the
/// leader is there would wait this long for nothing: another is asked for.
const OPEN_WITHIN: Duration = Duration::from_secs(1);
/// How long after a reader could not be opened another is asked for.
const RETRY_AFTER: Duration = Duration::from_millis(250);
/// While no reader is open: how often the entries after the last one read
/// are fetched by direct gets, and how long one get may take.
const DIRECT_EVERY: Duration = Duration::from_millis(50);
const DIRECT_WITHIN: Duration = Duration::from_millis(500);
/// Entries read by direct gets before the reader being opened is looked at
/// again (a node starting far behind reads most of them through it).
const DIRECT_AT_ONCE: usize = 64;

/// The entry a reader delivered; `None` without JetStream's metadata.
fn delivered(message: jetstream::Message) -> Option<Entry> {
    let info = message.info().ok()?;
    let (seq, published) = (
        info.stream_sequence,
        millis(info.published.unix_timestamp_nanos()),
    );
    Some(Entry {
        seq,
        published,
        headers: message.message.headers,
        payload: message.message.payload,
    })
}

/// The stream's timestamp in ms: the same whichever way the entry was read.
pub(super) fn millis(nanos: i128) -> u64 {
    u64::try_from(nanos / 1_000_000).unwrap_or(0)
}

/// What the reader loop waits for.
enum Next {
    Entry(Option<std::result::Result<Box<jetstream::Message>, consumer::pull::OrderedError>>),
    Check,
    Reconnected,
    Gone,
}

impl Applier {
    /// Reads the log from the first entry not applied yet, and reopens its
    /// reader when the client reconnects or the reader stalls behind the
    /// stream (a NATS server holding the reader died: the client's own
    /// recovery waits for two missed 15 s heartbeats, far too long for a chat).
    pub(super) async fn run(mut self, stream: Stream, mut connections: watch::Receiver<u64>) {
        // The first connection is not a reconnection.
        connections.borrow_and_update();
        let mut reader: Option<consumer::pull::Ordered> = None;
        let mut check = tokio::time::interval(STALL_CHECK);
        let mut progress = tokio::time::Instant::now();
        let mut seen = 0;
        let mut gone = self.gone.clone();
        loop {
            let Some(messages) = reader.as_mut() else {
                let Some(opened) = self.reopen(&stream).await else {
                    return;
                };
                ::log::info!("reading the log after entry {}", self.started);
                reader = Some(opened);
                progress = tokio::time::Instant::now();
                continue;
            };
            let next = tokio::select! {
                n = messages.next() => Next::Entry(n.map(|r| r.map(Box::new))),
                _ = check.tick() => Next::Check,
                Ok(()) = connections.changed() => Next::Reconnected,
                Ok(()) = gone.changed() => Next::Gone,
            };
            match next {
                Next::Entry(Some(Ok(message))) => {
                    let Some(entry) = delivered(*message) else {
                        ::log::error!("a log message without JetStream metadata; skipped");
                        continue;
                    };
                    if let Flow::Stop = self.handle(entry, &stream).await {
                        return;
                    }
                }
                Next::Entry(Some(Err(e))) => ::log::warn!("reading the log: {e}"),
                Next::Entry(None) => reader = None,
                Next::Gone => return,
                Next::Reconnected => {
                    ::log::info!("NATS reconnected: reopening the log's reader");
                    reader = None;
                }
                Next::Check => {
                    let applied = self.progress.applied();
                    if applied != seen {
                        (seen, progress) = (applied, tokio::time::Instant::now());
                    } else if progress.elapsed() > STALLED && self.behind(&stream, applied).await {
                        ::log::warn!(
                            "the log's reader stalled after entry {applied}; reopening it"
                        );
                        reader = None;
                    }
                }
            }
        }
    }

    /// Opens a reader from the first entry not started yet, retrying until
    /// one opens, and reads entries by direct gets meanwhile. `None` when
    /// the node stops.
    async fn reopen(&mut self, stream: &Stream) -> Option<consumer::pull::Ordered> {
        self.rechecked = false;
        loop {
            let opening = tokio::time::timeout(OPEN_WITHIN, open(stream.clone(), self.from()));
            let why = match self.reading_directly_until(stream, opening).await? {
                Ok(Ok(opened)) => return Some(opened),
                Ok(Err(e)) => e,
                Err(_) => "no answer".to_string(),
            };
            ::log::warn!("cannot open the log's reader ({why}); retrying");
            let pause = tokio::time::sleep(RETRY_AFTER);
            self.reading_directly_until(stream, pause).await?;
        }
    }

    /// Waits for `until`, reading entries by direct gets meanwhile. `None`
    /// when the node stops.
    async fn reading_directly_until<F: Future>(
        &mut self,
        stream: &Stream,
        until: F,
    ) -> Option<F::Output> {
        tokio::pin!(until);
        loop {
            tokio::select! {
                out = &mut until => return Some(out),
                () = tokio::time::sleep(DIRECT_EVERY) => {
                    if *self.gone.borrow() {
                        return None;
                    }
                    if let Flow::Stop = self.read_direct(stream).await {
                        return None;
                    }
                }
            }
        }
    }

    /// Applies up to [`DIRECT_AT_ONCE`] entries after the last one started,
    /// fetched one by one by direct gets, stopping at one that is not there
    /// (yet) or a get that fails; as a reader opened then would, it first
    /// reads again the entry last read. A reader opened later skips what was
    /// read here.
    async fn read_direct(&mut self, stream: &Stream) -> Flow {
        for _ in 0..DIRECT_AT_ONCE {
            let seq = if self.rechecked {
                self.started + 1
            } else {
                self.from()
            };
            // The first entry from `seq` on, as a reader would deliver it.
            let get = stream.direct_get_next_for_subject(SUBJECT, Some(seq));
            let Ok(Ok(m)) = tokio::time::timeout(DIRECT_WITHIN, get).await else {
                return Flow::Go;
            };
            let entry = Entry {
                seq: m.sequence,
                published: millis(m.time.unix_timestamp_nanos()),
                headers: Some(m.headers),
                payload: m.payload,
            };
            if let Flow::Stop = self.handle(entry, stream).await {
                return Flow::Stop;
            }
        }
        Flow::Go
    }

    /// Where a reader opened now starts: at the entry last read, which must
    /// come again as it was (the log did not go back: `gone.rs`), or after
    /// the last entry started where none was read (a start from a snapshot).
    fn from(&self) -> u64 {
        match self.progress.read() {
            Some(read) if read.seq == self.started => read.seq,
            _ => self.started + 1,
        }
    }

    /// Whether the stream holds entries past `applied`: this node appended
    /// one, or (asked only then, as the answer can be slow while JetStream
    /// elects a leader) the stream says so.
    async fn behind(&self, stream: &Stream, applied: u64) -> bool {
        if self.appends.last.load(std::sync::atomic::Ordering::Relaxed) > applied {
            return true;
        }
        match tokio::time::timeout(STALLED, stream.get_info()).await {
            Ok(Ok(info)) => info.state.last_sequence > applied,
            _ => false,
        }
    }
}

/// A reader from entry `from`.
async fn open(stream: Stream, from: u64) -> std::result::Result<consumer::pull::Ordered, String> {
    let deliver_policy = match from {
        0 | 1 => consumer::DeliverPolicy::All,
        n => consumer::DeliverPolicy::ByStartSequence { start_sequence: n },
    };
    let consumer = stream
        .create_consumer(consumer::pull::OrderedConfig {
            filter_subject: SUBJECT.into(),
            deliver_policy,
            ..Default::default()
        })
        .await
        .map_err(|e| e.to_string())?;
    consumer.messages().await.map_err(|e| e.to_string())
}
