//! The store under a simulated power cut: a backend that keeps two images, what
//! was written and what was synced, and after the "cut" reopens from the synced
//! one. Anything acknowledged before the cut must be in it.

use std::collections::HashSet;
use std::sync::{Arc, Condvar, Mutex};

use redb::{ReadableDatabase, ReadableTableMetadata, StorageBackend};

use super::{Batch, Store, Write};

#[derive(Debug, Default)]
struct Disk {
    written: Vec<u8>,
    synced: Vec<u8>,
}

/// A disk whose unsynced writes a power cut loses.
#[derive(Debug, Clone, Default)]
struct Volatile(Arc<Mutex<Disk>>);

impl Volatile {
    fn lock(&self) -> std::sync::MutexGuard<'_, Disk> {
        self.0.lock().unwrap_or_else(|p| p.into_inner())
    }
    /// The disk as it is after power comes back: only what was synced.
    fn after_cut(&self) -> Volatile {
        let synced = self.lock().synced.clone();
        Volatile(Arc::new(Mutex::new(Disk {
            written: synced.clone(),
            synced,
        })))
    }
}

/// A runtime to wait for the store's answers on.
fn runtime() -> tokio::runtime::Runtime {
    tokio::runtime::Builder::new_current_thread()
        .build()
        .expect("runtime")
}

fn range() -> std::io::Error {
    std::io::Error::other("out of range")
}

impl StorageBackend for Volatile {
    fn len(&self) -> Result<u64, std::io::Error> {
        Ok(self.lock().written.len() as u64)
    }
    fn read(&self, offset: u64, out: &mut [u8]) -> Result<(), std::io::Error> {
        let d = self.lock();
        let o = usize::try_from(offset).map_err(|_| range())?;
        let src = d.written.get(o..o + out.len()).ok_or_else(range)?;
        out.copy_from_slice(src);
        Ok(())
    }
    fn set_len(&self, len: u64) -> Result<(), std::io::Error> {
        let len = usize::try_from(len).map_err(|_| range())?;
        self.lock().written.resize(len, 0);
        Ok(())
    }
    fn sync_data(&self) -> Result<(), std::io::Error> {
        let mut d = self.lock();
        d.synced = d.written.clone();
        Ok(())
    }
    fn write(&self, offset: u64, data: &[u8]) -> Result<(), std::io::Error> {
        let mut d = self.lock();
        let o = usize::try_from(offset).map_err(|_| range())?;
        let dst = d.written.get_mut(o..o + data.len()).ok_or_else(range)?;
        dst.copy_from_slice(data);
        Ok(())
    }
}

fn message(conv: u8, index: u64) -> Write {
    Write::Message {
        key: ([conv; 16], index),
        record: Some(format!("m{conv}-{index}").into_bytes()),
    }
}

/// What writers were told is committed, and a wake-up for each.
type Acks = (Mutex<Vec<(u8, u64)>>, Condvar);

#[test]
fn nothing_acknowledged_is_lost_to_a_power_cut() {
    for round in 0..5u64 {
        let (tables, log) = (Volatile::default(), Volatile::default());
        let (store, recovered) =
            Store::open_backend(tables.clone(), log.clone(), 10).expect("fresh store");
        assert!(recovered.conversations.is_empty());
        let store = Arc::new(store);
        // Acks are recorded under this lock, and the cut is taken under it: an
        // ack recorded before the cut happened before the cut.
        let acked: Arc<Acks> = Arc::default();
        let writers: Vec<_> = (0..4u8)
            .map(|w| {
                let (store, acked) = (store.clone(), acked.clone());
                std::thread::spawn(move || {
                    let rt = runtime();
                    for i in 0..400u64 {
                        let mut b = Batch::default();
                        b.0.push(conversation([w; 16]));
                        b.0.push(message(w, i));
                        let done = store.submit(b);
                        if rt.block_on(done).is_ok_and(|r| r.is_ok()) {
                            let mut a = acked.0.lock().unwrap_or_else(|p| p.into_inner());
                            a.push((w, i));
                            acked.1.notify_all();
                        }
                    }
                })
            })
            .collect();
        // Cut the power part way through: after a number of acks that
        // differs each round, while writers are still committing.
        let (after, before) = {
            let target = 1 + 150 * round as usize;
            let mut a = acked.0.lock().unwrap_or_else(|p| p.into_inner());
            while a.len() < target {
                a = acked.1.wait(a).unwrap_or_else(|p| p.into_inner());
            }
            // The journal's image first: the tables' may only be newer,
            // as the fold only ever goes ahead of what the journal forgets.
            let log = log.after_cut();
            ((tables.after_cut(), log), a.clone())
        };
        for w in writers {
            let _ = w.join();
        }
        assert!(
            !before.is_empty(),
            "round {round}: nothing acknowledged before the cut"
        );
        let (_store, recovered) =
            Store::open_backend(after.0, after.1, 10).expect("reopens after the cut");
        let kept: HashSet<(u8, u64)> = recovered
            .conversations
            .iter()
            .flat_map(|c| c.messages.iter().map(|(i, _)| (c.id[0], *i)))
            .collect();
        let lost: Vec<_> = before.iter().filter(|k| !kept.contains(k)).collect();
        assert!(
            lost.is_empty(),
            "round {round}: acknowledged, then lost: {lost:?}"
        );
    }
}

/// A disk whose fsync starts failing once `fail` is set.
#[derive(Debug, Clone, Default)]
struct Failing(Volatile, Arc<std::sync::atomic::AtomicBool>);

impl StorageBackend for Failing {
    fn len(&self) -> Result<u64, std::io::Error> {
        self.0.len()
    }
    fn read(&self, offset: u64, out: &mut [u8]) -> Result<(), std::io::Error> {
        self.0.read(offset, out)
    }
    fn set_len(&self, len: u64) -> Result<(), std::io::Error> {
        self.0.set_len(len)
    }
    fn sync_data(&self) -> Result<(), std::io::Error> {
        if self.1.load(std::sync::atomic::Ordering::SeqCst) {
            return Err(std::io::Error::other("the disk is gone"));
        }
        self.0.sync_data()
    }
    fn write(&self, offset: u64, data: &[u8]) -> Result<(), std::io::Error> {
        self.0.write(offset, data)
    }
}

#[test]
fn a_failed_fsync_fails_that_commit_and_every_later_one() {
    let disk = Failing::default();
    let (store, _) =
        Store::open_backend(Volatile::default(), disk.clone(), 10).expect("fresh store");
    let rt = runtime();
    let batch = |i: u64| Batch(vec![message(1, i)]);
    assert!(rt.block_on(store.submit(batch(0))).is_ok_and(|r| r.is_ok()));
    assert!(store.failed().borrow().is_none());
    disk.1.store(true, std::sync::atomic::Ordering::SeqCst);
    let r = rt.block_on(store.submit(batch(1))).expect("answered");
    assert!(matches!(r, Err(super::StoreError::Commit(_))), "{r:?}");
    assert!(
        store.failed().borrow().is_some(),
        "the failure is announced"
    );
    // Even once the disk is back, nothing more is acknowledged.
    disk.1.store(false, std::sync::atomic::Ordering::SeqCst);
    let r = rt.block_on(store.submit(batch(2))).expect("answered");
    assert!(r.is_err());
}

#[test]
fn a_failed_fold_stops_acknowledgements_too() {
    let tables = Failing::default();
    let (store, _) =
        Store::open_backend(tables.clone(), Volatile::default(), 10).expect("fresh store");
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_time()
        .build()
        .expect("runtime");
    let batch = |i: u64| Batch(vec![message(1, i)]);
    tables.1.store(true, std::sync::atomic::Ordering::SeqCst);
    // The journal still commits: this one is acknowledged, and its fold fails.
    assert!(rt.block_on(store.submit(batch(0))).is_ok_and(|r| r.is_ok()));
    let mut failed = store.failed();
    let seen = rt
        .block_on(failed.wait_for(|f| f.is_some()))
        .map(|f| f.clone());
    assert!(matches!(seen, Ok(Some(super::StoreError::Commit(_)))));
    let r = rt.block_on(store.submit(batch(1))).expect("answered");
    assert!(r.is_err(), "nothing is acknowledged after a failed fold");
}

#[test]
fn a_store_reopened_holds_what_was_folded_and_what_was_not() {
    let (tables, log) = (Volatile::default(), Volatile::default());
    let rt = runtime();
    {
        let (store, _) = Store::open_backend(tables.clone(), log.clone(), 10).expect("fresh store");
        for i in 0..300 {
            assert!(rt
                .block_on(store.submit(Batch(vec![message(2, i)])))
                .is_ok_and(|r| r.is_ok()));
        }
        // Dropped: folds the rest and empties the journal.
    }
    let (store, recovered) = Store::open_backend(tables.clone(), log.clone(), 10).expect("reopens");
    assert_eq!(recovered.conversations.len(), 0, "no conversation record");
    for i in 300..310 {
        assert!(rt
            .block_on(store.submit(Batch(vec![conversation([2; 16]), message(2, i)])))
            .is_ok_and(|r| r.is_ok()));
    }
    // A crash now: the last ones may be in the journal only.
    let l = log.after_cut();
    let t = tables.after_cut();
    let (_store, recovered) = Store::open_backend(t, l, 10).expect("reopens after a crash");
    let conv = &recovered.conversations[0];
    let indexes: Vec<u64> = conv.messages.iter().map(|(i, _)| *i).collect();
    assert_eq!(indexes, (0..310).collect::<Vec<_>>());
}

#[test]
fn a_format_1_store_is_read_with_its_in_file_journal_and_upgraded() {
    let tables = Volatile::default();
    {
        let db = redb::Database::builder()
            .create_with_backend(tables.clone())
            .expect("redb");
        let w = db.begin_write().expect("txn");
        {
            let mut meta = w.open_table(super::META).expect("meta");
            meta.insert("format", 1).expect("insert");
            let mut record = Vec::new();
            super::journal::encode(&conversation([3; 16]), &mut record);
            super::journal::encode(&message(3, 0), &mut record);
            let mut j = w.open_table(super::JOURNAL).expect("journal");
            j.insert(0, record.as_slice()).expect("insert");
        }
        w.commit().expect("commit");
    }
    let (store, recovered) =
        Store::open_backend(tables.clone(), Volatile::default(), 10).expect("opens");
    assert_eq!(recovered.conversations.len(), 1);
    assert_eq!(recovered.conversations[0].messages.len(), 1);
    drop(store);
    let db = redb::Database::builder()
        .create_with_backend(tables)
        .expect("redb");
    let r = redb::ReadableDatabase::begin_read(&db).expect("read");
    let meta = r.open_table(super::META).expect("meta");
    let format = meta.get("format").expect("get").map(|v| v.value());
    assert_eq!(
        format,
        Some(super::FORMAT),
        "format-1 readers are now refused"
    );
}

#[test]
fn a_fold_keeps_the_last_write_of_each_record_and_the_replay_window() {
    let (tables, log) = (Volatile::default(), Volatile::default());
    let rt = runtime();
    let id = [3; 16];
    let window = 4;
    {
        let (store, _) =
            Store::open_backend(tables.clone(), log.clone(), window).expect("fresh store");
        let mut pending = Vec::new();
        // Queued together, so that the fold meets them in one group.
        for seq in 1..=10u64 {
            let mut b = vec![
                Write::Conversation {
                    id,
                    record: format!("{{\"v\":{seq}}}").into_bytes(),
                },
                Write::Counters {
                    id,
                    counters: (seq, seq, 1, seq),
                },
                message(3, seq),
                Write::Event {
                    key: (id, seq),
                    record: format!("e{seq}").into_bytes(),
                    drop_below: (seq + 1).saturating_sub(window as u64),
                },
            ];
            // Message 2 is edited at each op, then removed at the last.
            b.push(Write::Message {
                key: (id, 2),
                record: (seq < 10).then(|| format!("edit {seq}").into_bytes()),
            });
            pending.push(store.submit(Batch(b)));
        }
        for p in pending {
            assert!(rt.block_on(p).is_ok_and(|r| r.is_ok()));
        }
        // Dropped: folds everything.
    }
    // Read back with a wider window: what the fold dropped is not there.
    let (_store, recovered) = Store::open_backend(tables, log, 100).expect("reopens");
    let conv = &recovered.conversations[0];
    assert_eq!(conv.record, b"{\"v\":10}");
    assert_eq!(conv.counters, (10, 10, 1, 10));
    let indexes: Vec<u64> = conv.messages.iter().map(|(i, _)| *i).collect();
    assert_eq!(indexes, [1, 3, 4, 5, 6, 7, 8, 9, 10], "message 2 removed");
    let events: Vec<u64> = conv.events.iter().map(|(s, _)| *s).collect();
    assert_eq!(
        events,
        [7, 8, 9, 10],
        "only the last {window} events are kept"
    );
}

fn event(id: [u8; 16], seq: u64, drop_below: u64) -> Write {
    Write::Event {
        key: (id, seq),
        record: format!("e{seq}").into_bytes(),
        drop_below,
    }
}

/// Folds each group in a transaction of its own, as the fold thread does.
fn fold_groups(db: &redb::Database, groups: &[Vec<Write>]) {
    for g in groups {
        let w = db.begin_write().expect("txn");
        super::fold::apply(&w, g.iter()).expect("folds");
        w.commit().expect("commit");
    }
}

fn seqs_read_back(db: &redb::Database, window: usize) -> Vec<u64> {
    let r = super::recover::read_all(db, None::<&redb::Database>, "<test>".as_ref(), window)
        .expect("reads back");
    r.conversations
        .iter()
        .flat_map(|c| c.events.iter().map(|(s, _)| *s))
        .collect()
}

fn conversation(id: [u8; 16]) -> Write {
    Write::Conversation {
        id,
        record: b"{}".to_vec(),
    }
}

#[test]
fn events_that_left_the_window_stay_gone_though_their_row_remains() {
    let db = redb::Database::builder()
        .create_with_backend(Volatile::default())
        .expect("redb");
    super::recover::stamp_format(&db, "<test>".as_ref()).expect("stamped");
    let id = [4; 16];
    // A window of 4: the first fold's row holds 2..=5, the second's 6 and 7,
    // after which 2 and 3 have left the window but their row has not.
    fold_groups(
        &db,
        &[
            std::iter::once(conversation(id))
                .chain((1..=5).map(|s| event(id, s, (s + 1).saturating_sub(4))))
                .collect(),
            (6..=7).map(|s| event(id, s, s + 1 - 4)).collect(),
        ],
    );
    // Read back with a wider window: still only what the window held.
    assert_eq!(seqs_read_back(&db, 100), [4, 5, 6, 7]);
    assert_eq!(seqs_read_back(&db, 3), [5, 6, 7]);
    // Once its last event has left the window, the row goes.
    fold_groups(&db, &[(8..=10).map(|s| event(id, s, s + 1 - 4)).collect()]);
    let r = db.begin_read().expect("read");
    let rows =
        ReadableTableMetadata::len(&r.open_table(super::EVENT_ROWS).expect("table")).expect("len");
    assert_eq!(rows, 2, "the rows ending at 7 and 10");
    assert_eq!(seqs_read_back(&db, 100), [7, 8, 9, 10]);
}

fn events_read_back(db: &redb::Database) -> Vec<(u64, String)> {
    let r = super::recover::read_all(db, None::<&redb::Database>, "<test>".as_ref(), 100)
        .expect("reads back");
    r.conversations
        .iter()
        .flat_map(|c| c.events.iter())
        .map(|(s, r)| (*s, String::from_utf8_lossy(r).into_owned()))
        .collect()
}

fn rewrite(id: [u8; 16], seq: u64, drop_below: u64) -> Write {
    Write::Event {
        key: (id, seq),
        record: format!("e{seq}, whole").into_bytes(),
        drop_below,
    }
}

#[test]
fn an_event_written_again_replaces_its_record_in_the_row_that_holds_it() {
    let db = redb::Database::builder()
        .create_with_backend(Volatile::default())
        .expect("redb");
    super::recover::stamp_format(&db, "<test>".as_ref()).expect("stamped");
    let id = [6; 16];
    // A window of 7. Rows end at 3 and 6; 8 is written and written again in
    // the fold that adds it; then 2 (which has left the window by then, and
    // so stays out) and 4, in a row of an earlier fold, with 9; then 6 alone
    // (the key of its row: written as a new row, it would replace the row
    // and lose 5); then 10.
    fold_groups(
        &db,
        &[
            std::iter::once(conversation(id))
                .chain((1..=3).map(|s| event(id, s, 0)))
                .collect(),
            (4..=6).map(|s| event(id, s, 0)).collect(),
            vec![event(id, 7, 1), event(id, 8, 2), rewrite(id, 8, 2)],
            vec![rewrite(id, 2, 3), rewrite(id, 4, 3), event(id, 9, 3)],
            vec![rewrite(id, 6, 3)],
            vec![event(id, 10, 4), rewrite(id, 1, 4)],
        ],
    );
    let rows = |db: &redb::Database| {
        let r = db.begin_read().expect("read");
        let t = r.open_table(super::EVENT_ROWS).expect("table");
        ReadableTableMetadata::len(&t).expect("len")
    };
    assert_eq!(
        rows(&db),
        4,
        "rows end at 6, 8, 9 and 10: no rewrite adds one"
    );
    let seq = |s: u64, whole: bool| (s, format!("e{s}{}", if whole { ", whole" } else { "" }));
    assert_eq!(
        events_read_back(&db),
        [
            seq(4, true),
            seq(5, false),
            seq(6, true),
            seq(7, false),
            seq(8, true),
            seq(9, false),
            seq(10, false)
        ]
    );
}

#[test]
fn a_format_2_store_keeps_its_event_rows_until_the_window_passes_them() {
    let db = redb::Database::builder()
        .create_with_backend(Volatile::default())
        .expect("redb");
    let id = [5; 16];
    {
        // Store format 2: one row per event, in `events`.
        let w = db.begin_write().expect("txn");
        {
            w.open_table(super::META)
                .expect("meta")
                .insert("format", 2)
                .expect("insert");
            w.open_table(super::CONVERSATIONS)
                .expect("conversations")
                .insert(id, b"{}".as_slice())
                .expect("insert");
            w.open_table(super::COUNTERS).expect("counters");
            for t in [super::PARTICIPANTS, super::MESSAGES] {
                w.open_table(t).expect("table");
            }
            w.open_table(super::USERS).expect("users");
            let mut t = w.open_table(super::EVENTS).expect("events");
            for seq in 1..=3u64 {
                t.insert((id, seq), format!("e{seq}").as_bytes())
                    .expect("insert");
            }
        }
        w.commit().expect("commit");
    }
    assert_eq!(seqs_read_back(&db, 4), [1, 2, 3]);
    super::recover::stamp_format(&db, "<test>".as_ref()).expect("upgraded");
    fold_groups(&db, &[(4..=6).map(|s| event(id, s, s + 1 - 4)).collect()]);
    assert_eq!(seqs_read_back(&db, 4), [3, 4, 5, 6]);
    let r = db.begin_read().expect("read");
    let old =
        ReadableTableMetadata::len(&r.open_table(super::EVENTS).expect("events")).expect("len");
    assert_eq!(old, 1, "the old rows below the window are gone");
}

fn messages_read_back(db: &redb::Database) -> Vec<(u64, Vec<u8>)> {
    let r = super::recover::read_all(db, None::<&redb::Database>, "<test>".as_ref(), 10)
        .expect("reads back");
    r.conversations
        .into_iter()
        .flat_map(|c| c.messages)
        .collect()
}

fn message_rows(db: &redb::Database) -> Vec<u64> {
    let r = db.begin_read().expect("read");
    let t = r.open_table(super::MESSAGE_ROWS).expect("rows");
    let keys = redb::ReadableTable::iter(&t).expect("iter");
    keys.map(|row| row.expect("row").0.value().1).collect()
}

fn set(id: [u8; 16], index: u64, record: Option<&str>) -> Write {
    Write::Message {
        key: (id, index),
        record: record.map(|r| r.as_bytes().to_vec()),
    }
}

#[test]
fn messages_go_in_rows_of_many_and_a_change_rewrites_the_row_that_holds_it() {
    let db = redb::Database::builder()
        .create_with_backend(Volatile::default())
        .expect("redb");
    super::recover::stamp_format(&db, "<test>".as_ref()).expect("stamped");
    let id = [6; 16];
    let row = super::message_rows::ROW_MESSAGES as u64;
    // One fold of 2½ rows' worth, then one of a single message.
    let first: Vec<Write> = std::iter::once(conversation(id))
        .chain((0..row * 5 / 2).map(|i| set(id, i, Some(&format!("m{i}")))))
        .collect();
    fold_groups(&db, &[first, vec![set(id, row * 5 / 2, Some("last"))]]);
    assert_eq!(
        message_rows(&db),
        [row - 1, 2 * row - 1, row * 5 / 2 - 1, row * 5 / 2]
    );
    // The oldest row's messages evicted, one in the second row edited and one
    // removed, a new message added: one fold.
    let mut change: Vec<Write> = (0..row).map(|i| set(id, i, None)).collect();
    change.push(set(id, row + 1, Some("edited")));
    change.push(set(id, row + 2, None));
    change.push(set(id, row * 5 / 2 + 1, Some("new")));
    fold_groups(&db, &[change]);
    assert_eq!(
        message_rows(&db),
        [2 * row - 1, row * 5 / 2 - 1, row * 5 / 2, row * 5 / 2 + 1],
        "the emptied row is gone, the new message has a row of its own"
    );
    let back = messages_read_back(&db);
    let mut expected: Vec<(u64, Vec<u8>)> = (row..row * 5 / 2)
        .filter(|i| *i != row + 2)
        .map(|i| (i, format!("m{i}").into_bytes()))
        .collect();
    expected[1].1 = b"edited".to_vec();
    expected.push((row * 5 / 2, b"last".to_vec()));
    expected.push((row * 5 / 2 + 1, b"new".to_vec()));
    assert_eq!(back, expected);
    // A message added and removed within one fold is never written.
    fold_groups(
        &db,
        &[vec![
            set(id, row * 3, Some("brief")),
            set(id, row * 3, None),
        ]],
    );
    assert_eq!(messages_read_back(&db).len(), expected.len());
    // Deleting the conversation takes its rows.
    fold_groups(&db, &[vec![Write::DeleteConversation { id }]]);
    assert!(message_rows(&db).is_empty());
}

#[test]
fn a_format_3_store_has_its_messages_moved_into_rows_at_its_first_open() {
    let db = redb::Database::builder()
        .create_with_backend(Volatile::default())
        .expect("redb");
    let (a, b) = ([7; 16], [8; 16]);
    {
        let w = db.begin_write().expect("txn");
        {
            w.open_table(super::META)
                .expect("meta")
                .insert("format", 3)
                .expect("insert");
            let mut convs = w.open_table(super::CONVERSATIONS).expect("conversations");
            let mut msgs = w.open_table(super::MESSAGES).expect("messages");
            for id in [a, b] {
                convs.insert(id, b"{}".as_slice()).expect("insert");
                for i in (0..100).filter(|i| i % 7 != 3) {
                    msgs.insert((id, i), format!("m{i}").as_bytes())
                        .expect("insert");
                }
            }
            w.open_table(super::COUNTERS).expect("counters");
            w.open_table(super::PARTICIPANTS).expect("participants");
            w.open_table(super::EVENTS).expect("events");
            w.open_table(super::EVENT_ROWS).expect("event rows");
            w.open_table(super::USERS).expect("users");
        }
        w.commit().expect("commit");
    }
    super::recover::stamp_format(&db, "<test>".as_ref()).expect("upgraded");
    let expected: Vec<(u64, Vec<u8>)> = (0..100)
        .filter(|i| i % 7 != 3)
        .map(|i| (i, format!("m{i}").into_bytes()))
        .collect();
    let twice: Vec<_> = expected.iter().chain(&expected).cloned().collect();
    assert_eq!(messages_read_back(&db), twice);
    assert_eq!(message_rows(&db).len(), 4, "two rows a conversation");
    let r = db.begin_read().expect("read");
    let old =
        ReadableTableMetadata::len(&r.open_table(super::MESSAGES).expect("old")).expect("len");
    assert_eq!(old, 0, "the old table is emptied");
    // The moved rows take changes like any other.
    drop(r);
    fold_groups(&db, &[vec![set(a, 0, None), set(a, 99, Some("edited"))]]);
    let back = messages_read_back(&db);
    assert_eq!(back.first().map(|m| m.0), Some(1));
    assert!(back.contains(&(99, b"edited".to_vec())));
}

fn user(identity: &str, record: &str, first: bool) -> Write {
    let (identity, record) = (identity.to_string(), record.as_bytes().to_vec());
    if first {
        Write::NewUser { identity, record }
    } else {
        Write::User { identity, record }
    }
}

fn users_read_back(r: &super::Recovered) -> Vec<(String, String)> {
    let text = |b: &Vec<u8>| String::from_utf8_lossy(b).into_owned();
    r.users.iter().map(|(i, b)| (i.clone(), text(b))).collect()
}

/// A user's first record is kept only while the store has none for it, when
/// folded into the tables and across a power cut. (Read back from a journal
/// record, the same rule holds: `snapshot.rs`'s test goes that way.)
#[test]
fn a_first_user_record_never_replaces_a_profile() {
    let (tables, log) = (Volatile::default(), Volatile::default());
    let rt = runtime();
    let writes = |p: &str| {
        [
            user(&format!("{p}ana"), "first", true),
            user(&format!("{p}ana"), "profile", false),
            user(&format!("{p}ana"), "first again", true),
            user(&format!("{p}bob"), "first", true),
            user(&format!("{p}bob"), "first again", true),
        ]
    };
    {
        let (store, _) = Store::open_backend(tables.clone(), log.clone(), 10).expect("fresh store");
        // Queued together, so that the fold meets them in one group.
        let pending: Vec<_> = writes("")
            .into_iter()
            .map(|w| store.submit(Batch(vec![w])))
            .collect();
        for p in pending {
            assert!(rt.block_on(p).is_ok_and(|r| r.is_ok()));
        }
    }
    let (store, recovered) = Store::open_backend(tables.clone(), log.clone(), 10).expect("reopens");
    let want = |p: &str| {
        vec![
            (format!("{p}ana"), "profile".to_string()),
            (format!("{p}bob"), "first".to_string()),
        ]
    };
    assert_eq!(users_read_back(&recovered), want(""));
    for w in writes("x-") {
        assert!(rt
            .block_on(store.submit(Batch(vec![w])))
            .is_ok_and(|r| r.is_ok()));
    }
    // A crash now: the last ones may be in the journal only.
    let (l, t) = (log.after_cut(), tables.after_cut());
    let (_store, recovered) = Store::open_backend(t, l, 10).expect("reopens after a crash");
    let mut all = want("");
    all.extend(want("x-"));
    assert_eq!(users_read_back(&recovered), all);
}
