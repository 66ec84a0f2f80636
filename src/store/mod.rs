//! The durable journal behind `--data-dir`: a redb file and one store thread
//! that commits whatever has queued in one transaction (group commit).
//!
//! The store knows keys and bytes, not conversations: the conversation layer
//! encodes its records (`conversation/persist.rs`) and hands over a [`Batch`]
//! per op. [`Store::submit`] answers once the batch is on disk (redb commits
//! with an fsync), so a caller that waits for it before answering never
//! acknowledges anything a power cut could take back. A commit that fails
//! fails every batch in it and every batch after: the store is then
//! [`failed`](Store::failed) and the server stops.

mod journal;
mod recover;
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

/// The format of what we keep in the file, above redb's own. A store written
/// by a newer colloquy is refused rather than misread.
const FORMAT: u64 = 1;

/// The file inside `--data-dir`.
const FILE: &str = "colloquy.redb";

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
const MESSAGES: TableDefinition<Key, &[u8]> = TableDefinition::new("messages");
const EVENTS: TableDefinition<Key, &[u8]> = TableDefinition::new("events");
const USERS: TableDefinition<&str, &[u8]> = TableDefinition::new("users");
/// Commits not yet folded into the tables above, in commit order (`journal.rs`).
const JOURNAL: TableDefinition<u64, &[u8]> = TableDefinition::new("journal");

/// Journal records folded at once when the store is idle...
const FOLD_IDLE: usize = 64;
/// ...and at most, busy or not: bounds the journal and the batches kept for it.
const FOLD_MAX: usize = 1024;

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
}

/// The changes of one op, committed together.
#[derive(Debug, Default)]
pub(crate) struct Batch(pub Vec<Write>);

/// What the store thread is told.
enum Job {
    Commit(Batch, oneshot::Sender<Result<(), StoreError>>),
}

/// A running store. Dropping it (or [`Store::close`]) lets the thread finish
/// what is queued and close the file.
pub(crate) struct Store {
    tx: Mutex<Option<SyncSender<Job>>>,
    thread: Mutex<Option<JoinHandle<()>>>,
    failed: watch::Receiver<Option<StoreError>>,
    counts: Arc<Counts>,
}

/// Commits and the batches they held, since the store opened.
#[derive(Debug, Default)]
struct Counts {
    commits: AtomicU64,
    batches: AtomicU64,
}

impl std::fmt::Debug for Store {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Store").finish_non_exhaustive()
    }
}

impl Store {
    /// Opens (or creates) the store in `dir`, reads everything back and hands
    /// it to `decode`. An existing store is first read through a read-only
    /// handle: one that is unreadable, of a newer format, or that `decode`
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
        let mut decode = Some(decode);
        let mut decoded = None;
        if std::fs::metadata(&path).is_ok_and(|m| m.len() > 0) {
            match Database::builder().open_read_only(&path) {
                Ok(ro) => {
                    let r = recover::read_all(&ro, &path, window)?;
                    drop(ro);
                    decoded = decode.take().map(|d| d(r)).transpose().map_err(|reason| {
                        StoreError::Corrupt {
                            path: path.clone(),
                            reason,
                        }
                    })?;
                }
                // Not closed cleanly: the writable open below repairs it.
                Err(redb::DatabaseError::RepairAborted) => {}
                Err(e) => return Err(open_err(&path, describe(&e))),
            }
        }
        let db = Database::builder()
            .create(&path)
            .map_err(|e| open_err(&path, describe(&e)))?;
        Store::start(db, &path, window, decoded, decode)
    }

    /// Like [`open`](Store::open), over any redb backend (the power-cut test's).
    #[cfg(test)]
    pub fn open_backend(
        backend: impl redb::StorageBackend,
        window: usize,
    ) -> Result<(Store, Recovered), StoreError> {
        let path = PathBuf::from("<backend>");
        let db = Database::builder()
            .create_with_backend(backend)
            .map_err(|e| StoreError::Open {
                path: path.clone(),
                reason: e.to_string(),
            })?;
        Store::start(db, &path, window, None, Some(Ok))
    }

    fn start<T>(
        db: Database,
        path: &Path,
        window: usize,
        decoded: Option<T>,
        decode: Option<impl FnOnce(Recovered) -> Result<T, String>>,
    ) -> Result<(Store, T), StoreError> {
        recover::stamp_format(&db, path)?;
        fold_at_start(&db, path)?;
        let decoded = match (decoded, decode) {
            (Some(d), _) => d,
            (None, Some(decode)) => {
                decode(recover::read_all(&db, path, window)?).map_err(|reason| {
                    StoreError::Corrupt {
                        path: path.to_path_buf(),
                        reason,
                    }
                })?
            }
            (None, None) => {
                return Err(StoreError::Corrupt {
                    path: path.to_path_buf(),
                    reason: "read twice".into(),
                })
            }
        };
        let (tx, rx) = sync_channel(QUEUE);
        let (fail_tx, failed) = watch::channel(None);
        let counts = Arc::new(Counts::default());
        let c = counts.clone();
        let thread = std::thread::Builder::new()
            .name("colloquy-store".into())
            .spawn(move || run(db, rx, fail_tx, &c))
            .map_err(|e| StoreError::Open {
                path: path.to_path_buf(),
                reason: e.to_string(),
            })?;
        Ok((
            Store {
                tx: Mutex::new(Some(tx)),
                thread: Mutex::new(Some(thread)),
                failed,
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

    /// Resolves with the error once a commit has failed.
    pub fn failed(&self) -> watch::Receiver<Option<StoreError>> {
        self.failed.clone()
    }

    /// Commits what is queued, closes the file and joins the thread.
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

/// The store thread: waits for a batch, takes every batch queued behind it,
/// commits them in one transaction and answers them all.
fn run(
    db: Database,
    rx: Receiver<Job>,
    failed: watch::Sender<Option<StoreError>>,
    counts: &Counts,
) {
    let mut broken: Option<StoreError> = None;
    let mut next = 0u64;
    // Committed to the journal, not yet folded into the tables.
    let mut unfolded: Vec<Batch> = Vec::new();
    let fail = |e: StoreError, broken: &mut Option<StoreError>| {
        if broken.is_none() {
            log::error!("{e}; nothing more is acknowledged");
            *broken = Some(e.clone());
            failed.send_replace(Some(e));
        }
    };
    loop {
        let first = match rx.try_recv() {
            Ok(j) => j,
            Err(TryRecvError::Disconnected) => break,
            Err(TryRecvError::Empty) => {
                // Idle: a good moment to fold.
                if broken.is_none() && unfolded.len() >= FOLD_IDLE {
                    match fold(&db, &unfolded, next) {
                        Ok(()) => unfolded.clear(),
                        Err(e) => fail(e, &mut broken),
                    }
                }
                match rx.recv() {
                    Ok(j) => j,
                    Err(_) => break,
                }
            }
        };
        let mut jobs = vec![first];
        while jobs.len() < GROUP {
            match rx.try_recv() {
                Ok(j) => jobs.push(j),
                Err(TryRecvError::Empty | TryRecvError::Disconnected) => break,
            }
        }
        let result = match &broken {
            Some(e) => Err(e.clone()),
            None => append(&db, next, &jobs),
        };
        if result.is_ok() {
            next += 1;
            counts.commits.fetch_add(1, Relaxed);
            counts.batches.fetch_add(jobs.len() as u64, Relaxed);
        }
        // A failure is announced before anyone hears of it.
        if let Err(e) = &result {
            fail(e.clone(), &mut broken);
        }
        let ok = result.is_ok();
        for Job::Commit(batch, done) in jobs {
            let _ = done.send(result.clone());
            if ok {
                unfolded.push(batch);
            }
        }
        if ok && unfolded.len() >= FOLD_MAX {
            // Busy for long: fold anyway, so that the journal stays short.
            match fold(&db, &unfolded, next) {
                Ok(()) => unfolded.clear(),
                Err(e) => fail(e, &mut broken),
            }
        }
    }
    if broken.is_none() && !unfolded.is_empty() {
        if let Err(e) = fold(&db, &unfolded, next) {
            log::warn!("the journal is folded at the next start: {e}");
        }
    }
    log::debug!("store closed");
}

/// Appends a group of batches to the journal as record `seq`, durably.
fn append(db: &Database, seq: u64, jobs: &[Job]) -> Result<(), StoreError> {
    let fail = |e: &dyn std::fmt::Display| StoreError::Commit(e.to_string());
    let mut record = Vec::new();
    for Job::Commit(batch, _) in jobs {
        for w in &batch.0 {
            journal::encode(w, &mut record);
        }
    }
    let txn = db.begin_write().map_err(|e| fail(&e))?;
    txn.open_table(JOURNAL)
        .and_then(|mut t| {
            t.insert(seq, record.as_slice())
                .map(drop)
                .map_err(Into::into)
        })
        .map_err(|e| fail(&e))?;
    txn.commit().map_err(|e| fail(&e))
}

/// Applies journaled batches to the tables and empties the journal below
/// `next`. Not fsynced by itself: until a later append makes it durable, a
/// crash returns to the journal as it was, which is read back at start.
fn fold(db: &Database, batches: &[Batch], next: u64) -> Result<(), StoreError> {
    let fail = |e: &dyn std::fmt::Display| StoreError::Commit(e.to_string());
    let mut txn = db.begin_write().map_err(|e| fail(&e))?;
    txn.set_durability(redb::Durability::None)
        .map_err(|e| fail(&e))?;
    apply(&txn, batches.iter().flat_map(|b| b.0.iter()))?;
    txn.open_table(JOURNAL)
        .and_then(|mut t| t.retain_in(..next, |_, _| false).map_err(Into::into))
        .map_err(|e| fail(&e))?;
    txn.commit().map_err(|e| fail(&e))
}

/// Folds whatever the journal holds (a crash before a fold) into the tables,
/// durably. Runs at start, before the store takes commits.
fn fold_at_start(db: &Database, path: &Path) -> Result<(), StoreError> {
    let corrupt = |e: &dyn std::fmt::Display| StoreError::Corrupt {
        path: path.to_path_buf(),
        reason: e.to_string(),
    };
    let txn = db.begin_write().map_err(|e| corrupt(&e))?;
    let mut writes = Vec::new();
    {
        let t = txn.open_table(JOURNAL).map_err(|e| corrupt(&e))?;
        for row in redb::ReadableTable::iter(&t).map_err(|e| corrupt(&e))? {
            let (_, v) = row.map_err(|e| corrupt(&e))?;
            writes.extend(journal::decode(v.value()).map_err(|e| corrupt(&e))?);
        }
    }
    if writes.is_empty() {
        return Ok(());
    }
    apply(&txn, writes.iter()).map_err(|e| corrupt(&e))?;
    txn.open_table(JOURNAL)
        .and_then(|mut t| t.retain(|_, _| false).map_err(Into::into))
        .map_err(|e| corrupt(&e))?;
    txn.commit().map_err(|e| corrupt(&e))
}

/// Applies writes to the keyed tables.
fn apply<'a>(
    txn: &redb::WriteTransaction,
    writes: impl Iterator<Item = &'a Write>,
) -> Result<(), StoreError> {
    let fail = |e: &dyn std::fmt::Display| StoreError::Commit(e.to_string());
    let mut convs = txn.open_table(CONVERSATIONS).map_err(|e| fail(&e))?;
    let mut counters = txn.open_table(COUNTERS).map_err(|e| fail(&e))?;
    let mut parts = txn.open_table(PARTICIPANTS).map_err(|e| fail(&e))?;
    let mut msgs = txn.open_table(MESSAGES).map_err(|e| fail(&e))?;
    let mut events = txn.open_table(EVENTS).map_err(|e| fail(&e))?;
    let mut users = txn.open_table(USERS).map_err(|e| fail(&e))?;
    for w in writes {
        let r = match w {
            Write::Conversation { id, record } => convs.insert(id, record.as_slice()).map(drop),
            Write::Counters { id, counters: c } => counters.insert(id, c).map(drop),
            Write::DeleteConversation { id } => {
                let all = (*id, 0)..=(*id, u64::MAX);
                convs
                    .remove(id)
                    .and_then(|_| counters.remove(id))
                    .and_then(|_| parts.retain_in(all.clone(), |_, _| false))
                    .and_then(|_| msgs.retain_in(all.clone(), |_, _| false))
                    .and_then(|_| events.retain_in(all, |_, _| false))
            }
            Write::Participant { key, record } => put(&mut parts, key, record),
            Write::Message { key, record } => put(&mut msgs, key, record),
            Write::Event {
                key,
                record,
                drop_below,
            } => {
                let r = events.insert(key, record.as_slice()).map(drop);
                if r.is_ok() && *drop_below > 0 {
                    let old = (key.0, 0)..(key.0, *drop_below);
                    events.retain_in(old, |_, _| false)
                } else {
                    r
                }
            }
            Write::User { identity, record } => {
                users.insert(identity.as_str(), record.as_slice()).map(drop)
            }
        };
        r.map_err(|e| fail(&e))?;
    }
    Ok(())
}

fn put(
    t: &mut redb::Table<Key, &[u8]>,
    key: &Key,
    record: &Option<Vec<u8>>,
) -> Result<(), redb::StorageError> {
    match record {
        Some(r) => t.insert(key, r.as_slice()).map(drop),
        None => t.remove(key).map(drop),
    }
}
