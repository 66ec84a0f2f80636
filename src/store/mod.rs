//! The durable journal behind `--data-dir`: a store thread that appends
//! whatever has queued to a journal file in one transaction (group commit),
//! and a fold thread that brings keyed tables in a second file up to date
//! from it, off the acknowledgement path (`fold.rs`).
//!
//! The store knows keys and bytes, not conversations: the conversation layer
//! encodes its records (`conversation/persist.rs`) and hands over a [`Batch`]
//! per op. [`Store::submit`] answers once the batch is on disk (redb commits
//! with an fsync), so a caller that waits for it before answering never
//! acknowledges anything a power cut could take back. A commit that fails
//! fails every batch in it and every batch after: the store is then
//! [`failed`](Store::failed) and the server stops.

mod event_rows;
mod fold;
mod journal;
mod message_rows;
mod recover;
mod rows;
pub(crate) mod snapshot;
#[cfg(test)]
mod tests;

use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU64, Ordering::Relaxed};
use std::sync::mpsc::{sync_channel, Receiver, SyncSender, TryRecvError};
use std::sync::{Arc, Mutex};
use std::thread::JoinHandle;

use redb::{Database, TableDefinition};
use tokio::sync::{oneshot, watch};

pub(crate) use recover::{Recovered, RecoveredConversation};

/// The format of what we keep in the files, above redb's own. A store written
/// by a newer colloquy is refused rather than misread. Format 1 kept its
/// journal inside the tables' file; 2 keeps it in a file of its own (which a
/// colloquy that reads only 1 would not know to read back, hence the bump);
/// 3 keeps the replay window in `event_rows`, several events a row, where 2
/// would not look; 4 keeps messages in `message_rows`, several a row; 5 may
/// keep a `messageAdded` event as a reference to its message's record, which
/// 4 would not know how to read; 6 may hold `NewUser` writes in its journal.
const FORMAT: u64 = 6;

/// The keyed tables, inside `--data-dir`.
const FILE: &str = "colloquy.redb";
/// The journal, beside them.
const JOURNAL_FILE: &str = "journal.redb";

/// Batches queued for the store thread before submitters wait: enough for
/// every conversation actor to have a few ops in flight.
const QUEUE: usize = 16 * 1024;

/// Batches committed together at most: bounds one transaction's size.
const GROUP: usize = 4096;

pub(crate) type Key = ([u8; 16], u64);

const META: TableDefinition<&str, u64> = TableDefinition::new("meta");
const CONVERSATIONS: TableDefinition<[u8; 16], &[u8]> = TableDefinition::new("conversations");
/// Per conversation: last seq, next message index, next participant place,
/// last message time. Written with every change, so counters never go back.
const COUNTERS: TableDefinition<[u8; 16], (u64, u64, u64, u64)> = TableDefinition::new("counters");
const PARTICIPANTS: TableDefinition<Key, &[u8]> = TableDefinition::new("participants");
/// Messages as store format 3 and before kept them, one a row: moved into
/// `message_rows` when such a store is first opened as format 4.
const MESSAGES: TableDefinition<Key, &[u8]> = TableDefinition::new("messages");
/// Messages: several of a conversation a row, keyed by the highest index the
/// row covers (`message_rows.rs`).
const MESSAGE_ROWS: TableDefinition<Key, &[u8]> = TableDefinition::new("message_rows");
/// The replay window as store format 2 kept it, one event a row, keyed by seq:
/// read back, and emptied as the window moves on.
const EVENTS: TableDefinition<Key, &[u8]> = TableDefinition::new("events");
/// The replay window: a conversation's events of one fold a row, keyed by the
/// last one's seq (`event_rows.rs`).
const EVENT_ROWS: TableDefinition<Key, &[u8]> = TableDefinition::new("event_rows");
const USERS: TableDefinition<&str, &[u8]> = TableDefinition::new("users");
/// Commits not yet folded into the tables above, in commit order (`journal.rs`):
/// the only table of the journal file (and, in format 1, one of the tables').
const JOURNAL: TableDefinition<u64, &[u8]> = TableDefinition::new("journal");

/// Commits handed to the fold thread before the store thread waits for it:
/// a fold that falls behind slows acknowledgements instead of growing memory.
const FOLD_QUEUE: usize = 1024;

/// Why the store cannot be opened or written.
#[derive(Debug, Clone, thiserror::Error)]
pub enum StoreError {
    /// The data dir path exists and is not a directory.
    #[error("{0} is not a directory")]
    NotADirectory(PathBuf),
    /// The directory or its file could not be opened.
    #[error("cannot open {path}: {reason}")]
    Open {
        /// The file or directory.
        path: PathBuf,
        /// What went wrong, in words.
        reason: String,
    },
    /// The file was written by a newer colloquy.
    #[error(
        "{path} holds store format {found}; this colloquy reads format {FORMAT} (upgrade colloquy)"
    )]
    NewerFormat {
        /// The file.
        path: PathBuf,
        /// Its format.
        found: u64,
    },
    /// A record could not be read back.
    #[error("{path} is damaged: {reason}")]
    Corrupt {
        /// The file.
        path: PathBuf,
        /// What could not be read.
        reason: String,
    },
    /// A commit failed; nothing of it (or after it) was acknowledged.
    #[error("storage failed: {0}")]
    Commit(String),
}

/// One change to record.
#[derive(Debug)]
pub(crate) enum Write {
    Conversation {
        id: [u8; 16],
        record: Vec<u8>,
    },
    Counters {
        id: [u8; 16],
        counters: (u64, u64, u64, u64),
    },
    DeleteConversation {
        id: [u8; 16],
    },
    Participant {
        key: Key,
        record: Option<Vec<u8>>,
    },
    Message {
        key: Key,
        record: Option<Vec<u8>>,
    },
    /// A kept event; `drop_below` forgets this conversation's events with a
    /// lower seq (the replay window moved on).
    Event {
        key: Key,
        record: Vec<u8>,
        drop_below: u64,
    },
    User {
        identity: String,
        record: Vec<u8>,
    },
    /// A user's first record, kept only while the store holds none for it:
    /// an op that names a user (adds it to a conversation) keeps it known
    /// across restarts without overwriting a profile `User` wrote.
    NewUser {
        identity: String,
        record: Vec<u8>,
    },
}

/// The changes of one op, committed together.
#[derive(Debug, Default)]
pub(crate) struct Batch(pub Vec<Write>);

/// What the store thread is told.
enum Job {
    Commit(Batch, oneshot::Sender<Result<(), StoreError>>),
}

/// A running store. Dropping it (or [`Store::close`]) lets the threads finish
/// what is queued and close the files.
pub(crate) struct Store {
    tx: Mutex<Option<SyncSender<Job>>>,
    thread: Mutex<Option<JoinHandle<()>>>,
    health: Health,
    counts: Arc<Counts>,
}

/// Commits and the batches they held, since the store opened.
#[derive(Debug, Default)]
struct Counts {
    commits: AtomicU64,
    batches: AtomicU64,
}

/// Whether the store still works, shared by its two threads: the first
/// failure of either is the store's, and nothing is acknowledged after it.
#[derive(Clone)]
struct Health(Arc<watch::Sender<Option<StoreError>>>);

impl Health {
    fn fail(&self, e: StoreError) {
        self.0.send_if_modified(|now| {
            if now.is_some() {
                return false;
            }
            log::error!("{e}; nothing more is acknowledged");
            *now = Some(e);
            true
        });
    }

    fn broken(&self) -> Option<StoreError> {
        self.0.borrow().clone()
    }
}

impl std::fmt::Debug for Store {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Store").finish_non_exhaustive()
    }
}

impl Store {
    /// Opens (or creates) the store in `dir`, reads everything back and hands
    /// it to `decode`. An existing store is first read through read-only
    /// handles: one that is unreadable, of a newer format, or that `decode`
    /// refuses is left exactly as it was. Only then is it opened for writing
    /// (where redb completes its own recovery after an unclean stop).
    pub fn open<T>(
        dir: &Path,
        window: usize,
        decode: impl FnOnce(Recovered) -> Result<T, String>,
    ) -> Result<(Store, T), StoreError> {
        let open_err = |path: &Path, reason: String| StoreError::Open {
            path: path.to_path_buf(),
            reason,
        };
        match std::fs::metadata(dir) {
            Ok(m) if !m.is_dir() => return Err(StoreError::NotADirectory(dir.to_path_buf())),
            Ok(_) => {}
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => {
                std::fs::create_dir_all(dir).map_err(|e| open_err(dir, e.to_string()))?;
            }
            Err(e) => return Err(open_err(dir, e.to_string())),
        }
        let path = dir.join(FILE);
        let log_path = dir.join(JOURNAL_FILE);
        let mut decode = Some(decode);
        let mut decoded = None;
        let exists = |p: &Path| std::fs::metadata(p).is_ok_and(|m| m.len() > 0);
        if exists(&log_path) && !exists(&path) {
            // Someone removed the tables: starting afresh would lose the
            // journal's records for good.
            return Err(StoreError::Corrupt {
                path: path.clone(),
                reason: format!("it is missing, and {} is there", log_path.display()),
            });
        }
        if exists(&path) {
            let ro = |p: &Path| match Database::builder().open_read_only(p) {
                Ok(db) => Ok(Some(db)),
                // Not closed cleanly: the writable open below repairs it.
                Err(redb::DatabaseError::RepairAborted) => Ok(None),
                Err(e) => Err(open_err(p, describe(&e))),
            };
            let tables = ro(&path)?;
            let log = if exists(&log_path) {
                ro(&log_path)?.map(Some)
            } else {
                Some(None)
            };
            if let (Some(tables), Some(log)) = (tables, log) {
                let r = recover::read_all(&tables, log.as_ref(), &path, window)?;
                drop((tables, log));
                decoded = decode.take().map(|d| d(r)).transpose().map_err(|reason| {
                    StoreError::Corrupt {
                        path: path.clone(),
                        reason,
                    }
                })?;
            }
        }
        let tables = Database::builder()
            .create(&path)
            .map_err(|e| open_err(&path, describe(&e)))?;
        let log = Database::builder()
            .create(&log_path)
            .map_err(|e| open_err(&log_path, describe(&e)))?;
        Store::start(tables, log, &path, window, decoded, decode)
    }

    /// Like [`open`](Store::open), over any redb backends (the power-cut
    /// test's): one for the tables, one for the journal.
    #[cfg(test)]
    pub fn open_backend(
        tables: impl redb::StorageBackend,
        log: impl redb::StorageBackend,
        window: usize,
    ) -> Result<(Store, Recovered), StoreError> {
        let path = PathBuf::from("<backend>");
        let open_err = |e: redb::DatabaseError| StoreError::Open {
            path: path.clone(),
            reason: e.to_string(),
        };
        let tables = Database::builder()
            .create_with_backend(tables)
            .map_err(open_err)?;
        let log = Database::builder()
            .create_with_backend(log)
            .map_err(open_err)?;
        Store::start(tables, log, &path, window, None, Some(Ok))
    }

    fn start<T>(
        tables: Database,
        log: Database,
        path: &Path,
        window: usize,
        decoded: Option<T>,
        decode: Option<impl FnOnce(Recovered) -> Result<T, String>>,
    ) -> Result<(Store, T), StoreError> {
        recover::stamp_format(&tables, path)?;
        let next = fold::at_start(&tables, &log, path)?;
        let decoded = match (decoded, decode) {
            (Some(d), _) => d,
            (None, Some(decode)) => {
                decode(recover::read_all(&tables, None::<&Database>, path, window)?).map_err(
                    |reason| StoreError::Corrupt {
                        path: path.to_path_buf(),
                        reason,
                    },
                )?
            }
            (None, None) => {
                return Err(StoreError::Corrupt {
                    path: path.to_path_buf(),
                    reason: "read twice".into(),
                })
            }
        };
        let (tx, rx) = sync_channel(QUEUE);
        let health = Health(Arc::new(watch::channel(None).0));
        let counts = Arc::new(Counts::default());
        let spawn_err = |e: std::io::Error| StoreError::Open {
            path: path.to_path_buf(),
            reason: e.to_string(),
        };
        let (to_fold, folds) = sync_channel(FOLD_QUEUE);
        let folded = Arc::new(AtomicU64::new(next));
        let (f, h) = (folded.clone(), health.clone());
        let folder = std::thread::Builder::new()
            .name("colloquy-fold".into())
            .spawn(move || fold::run(tables, folds, f, h))
            .map_err(spawn_err)?;
        let committer = Committer {
            db: log,
            next,
            forgotten: next,
            folded,
            health: health.clone(),
            counts: counts.clone(),
            record: Vec::new(),
        };
        let thread = std::thread::Builder::new()
            .name("colloquy-store".into())
            .spawn(move || committer.run(rx, to_fold, folder))
            .map_err(spawn_err)?;
        Ok((
            Store {
                tx: Mutex::new(Some(tx)),
                thread: Mutex::new(Some(thread)),
                health,
                counts,
            },
            decoded,
        ))
    }

    /// Queues a batch; the answer comes once it is committed (or failed). When
    /// the queue is full this waits for the store thread: backpressure on the
    /// actors, never an unbounded queue.
    pub fn submit(&self, batch: Batch) -> oneshot::Receiver<Result<(), StoreError>> {
        let (done, rx) = oneshot::channel();
        let tx = self.tx.lock().unwrap_or_else(|p| p.into_inner()).clone();
        match tx {
            Some(tx) => {
                if let Err(std::sync::mpsc::SendError(Job::Commit(_, done))) =
                    tx.send(Job::Commit(batch, done))
                {
                    let _ = done.send(Err(StoreError::Commit("the store is closed".into())));
                }
            }
            None => {
                let _ = done.send(Err(StoreError::Commit("the store is closed".into())));
            }
        }
        rx
    }

    /// Transactions committed and the batches they held, since opening.
    pub fn counts(&self) -> (u64, u64) {
        (
            self.counts.commits.load(Relaxed),
            self.counts.batches.load(Relaxed),
        )
    }

    /// Resolves with the error once a commit (or a fold) has failed.
    pub fn failed(&self) -> watch::Receiver<Option<StoreError>> {
        self.health.0.subscribe()
    }

    /// Commits what is queued, folds it, closes the files and joins the
    /// threads.
    pub fn close(&self) {
        self.tx.lock().unwrap_or_else(|p| p.into_inner()).take();
        if let Some(t) = self.thread.lock().unwrap_or_else(|p| p.into_inner()).take() {
            let _ = t.join();
        }
    }
}

impl Drop for Store {
    fn drop(&mut self) {
        self.close();
    }
}

/// redb's error in words a user can act on.
fn describe(e: &redb::DatabaseError) -> String {
    match e {
        redb::DatabaseError::DatabaseAlreadyOpen => {
            "another colloquy (or another program) has this store open".into()
        }
        redb::DatabaseError::UpgradeRequired(v) => {
            format!("the file is in an older redb format ({v}) that needs an upgrade")
        }
        other => other.to_string(),
    }
}

/// The store thread's state: the journal file and where it stands.
struct Committer {
    db: Database,
    /// The number of the next journal record.
    next: u64,
    /// Records below this are deleted from the journal.
    forgotten: u64,
    /// Records below this are folded into the tables (published by the fold
    /// thread once durable there).
    folded: Arc<AtomicU64>,
    health: Health,
    counts: Arc<Counts>,
    /// The record being encoded, kept between commits.
    record: Vec<u8>,
}

/// A record buffer grown past this (by a burst of large media) is let go.
const RECORD_KEEP: usize = 4 * 1024 * 1024;

impl Committer {
    /// Waits for a batch, takes every batch queued behind it, appends them as
    /// one journal record in one transaction, answers them all, then hands
    /// them to the fold thread.
    fn run(
        mut self,
        rx: Receiver<Job>,
        to_fold: SyncSender<fold::Committed>,
        folder: JoinHandle<()>,
    ) {
        while let Ok(first) = rx.recv() {
            let mut jobs = vec![first];
            while jobs.len() < GROUP {
                match rx.try_recv() {
                    Ok(j) => jobs.push(j),
                    Err(TryRecvError::Empty | TryRecvError::Disconnected) => break,
                }
            }
            let result = match self.health.broken() {
                Some(e) => Err(e),
                None => self.append(&jobs),
            };
            // A failure is announced before anyone hears of it.
            if let Err(e) = &result {
                self.health.fail(e.clone());
            }
            let mut batches = Vec::with_capacity(jobs.len());
            for Job::Commit(batch, done) in jobs {
                let _ = done.send(result.clone());
                batches.push(batch);
            }
            if result.is_ok() {
                self.counts.commits.fetch_add(1, Relaxed);
                self.counts.batches.fetch_add(batches.len() as u64, Relaxed);
                // Blocks while the fold is FOLD_QUEUE commits behind.
                if to_fold.send((self.next - 1, batches)).is_err() {
                    self.health
                        .fail(StoreError::Commit("the fold thread stopped".into()));
                }
            }
        }
        drop(to_fold);
        let _ = folder.join();
        if self.health.broken().is_none() {
            // Leave an empty journal behind a clean stop.
            if let Err(e) = self.forget() {
                log::warn!("the journal is emptied at the next start: {e}");
            }
        }
        log::debug!("store closed");
    }

    /// Appends a group of batches as the next journal record, durably, and
    /// deletes the records the tables now hold.
    fn append(&mut self, jobs: &[Job]) -> Result<(), StoreError> {
        let fail = |e: &dyn std::fmt::Display| StoreError::Commit(e.to_string());
        // One buffer for every commit: grown afresh, a record of tens of
        // kilobytes was reallocated and copied a dozen times per commit.
        let record = &mut self.record;
        record.clear();
        for Job::Commit(batch, _) in jobs {
            for w in &batch.0 {
                journal::encode(w, record);
            }
        }
        let folded = self.folded.load(Relaxed);
        let txn = self.db.begin_write().map_err(|e| fail(&e))?;
        txn.open_table(JOURNAL)
            .and_then(|mut t| {
                if folded > self.forgotten {
                    t.retain_in(self.forgotten..folded, |_, _| false)?;
                }
                t.insert(self.next, self.record.as_slice())
                    .map(drop)
                    .map_err(Into::into)
            })
            .map_err(|e| fail(&e))?;
        txn.commit().map_err(|e| fail(&e))?;
        if self.record.capacity() > RECORD_KEEP {
            self.record = Vec::new();
        }
        self.forgotten = self.forgotten.max(folded);
        self.next += 1;
        Ok(())
    }

    /// Deletes the records the tables hold.
    fn forget(&mut self) -> Result<(), StoreError> {
        let fail = |e: &dyn std::fmt::Display| StoreError::Commit(e.to_string());
        let folded = self.folded.load(Relaxed);
        if folded <= self.forgotten {
            return Ok(());
        }
        let txn = self.db.begin_write().map_err(|e| fail(&e))?;
        txn.open_table(JOURNAL)
            .and_then(|mut t| {
                t.retain_in(self.forgotten..folded, |_, _| false)
                    .map_err(Into::into)
            })
            .map_err(|e| fail(&e))?;
        txn.commit().map_err(|e| fail(&e))?;
        self.forgotten = folded;
        Ok(())
    }
}
