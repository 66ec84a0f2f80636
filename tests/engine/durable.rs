//! An engine with a data dir: a clean stop and a restart keep everything that
//! was acknowledged; counters continue; bad data dirs are refused and left alone.

use std::path::Path;

use colloquy::{Config, Engine, ErrorCode};
use serde_json::{json, Value};

use crate::history::{feed_both_ways, in_feed_order, same};
use crate::util::{group, quiet, send, SessionExt};

fn durable(dir: &Path) -> Engine {
    durable_with(dir, |_| {})
}

fn durable_with(dir: &Path, f: impl FnOnce(&mut Config)) -> Engine {
    let mut c = Config::for_tests();
    c.data_dir = Some(dir.to_path_buf());
    f(&mut c);
    Engine::start(c).expect("engine starts on its data dir")
}

/// Everything a user can read of one conversation.
async fn snapshot(s: &colloquy::Session, conv: &str) -> Value {
    let get = s
        .ok(json!({"op": "conversation.get", "conversation": conv}))
        .await;
    let messages = s
        .ok(json!({"op": "message.list", "conversation": conv, "page_size": 100}))
        .await;
    let participants = s
        .ok(json!({"op": "participant.list", "conversation": conv}))
        .await;
    let unread = s
        .ok(json!({"op": "unread.count", "conversation": conv}))
        .await;
    json!({"get": get, "messages": messages, "participants": participants, "unread": unread})
}

#[tokio::test]
async fn a_clean_restart_keeps_everything_and_counters_continue() {
    let dir = tempfile::tempdir().expect("temp dir");
    let e = durable(dir.path());
    let alice = e.connect("alice").await.expect("alice");
    let bob = e.connect("bob").await.expect("bob");
    let conv = alice
        .ok(
            json!({"op": "conversation.create", "friendly_name": "office", "unique_name": "office",
                   "attributes": {"floor": 3}, "participants": ["bob"]}),
        )
        .await["id"]
        .as_str()
        .expect("id")
        .to_string();
    let c = conv.as_str();
    let first = alice
        .ok(json!({"op": "message.send", "conversation": c, "body": "one", "client_id": "k1"}))
        .await;
    alice
        .ok(
            json!({"op": "message.send", "conversation": c, "body": "two",
                   "media": [{"content_type": "text/plain", "filename": "a.txt", "data": "aGk="}]}),
        )
        .await;
    bob.ok(json!({"op": "message.send", "conversation": c, "body": "three"}))
        .await;
    alice
        .ok(json!({"op": "message.edit", "conversation": c, "message": 0, "body": "one, edited"}))
        .await;
    alice
        .ok(json!({"op": "message.delete", "conversation": c, "message": 1}))
        .await;
    let reaction = bob
        .ok(json!({"op": "reaction.add", "conversation": c, "message": 0, "reaction": "👍"}))
        .await["id"]
        .clone();
    bob.ok(json!({"op": "read.advance", "conversation": c, "index": 0}))
        .await;
    bob.ok(
        json!({"op": "participant.update", "conversation": c, "participant": "bob",
                  "attributes": {"desk": 7}}),
    )
    .await;
    bob.ok(
        json!({"op": "conversation.set_notification_level", "conversation": c, "level": "muted"}),
    )
    .await;
    alice
        .ok(json!({"op": "conversation.update", "conversation": c, "attributes": {"floor": 4}}))
        .await;
    alice
        .ok(json!({"op": "user.update", "friendly_name": "Alice A."}))
        .await;
    let direct = alice
        .ok(json!({"op": "conversation.direct", "identity": "carol"}))
        .await["id"]
        .clone();
    let gone = group(&alice, &[]).await;
    alice
        .ok(json!({"op": "conversation.delete", "conversation": gone}))
        .await;
    let sms = group(&alice, &[]).await;
    alice
        .ok(
            json!({"op": "participant.add_non_chat", "conversation": sms,
                   "proxy_address": "+15550002222", "address": "+15550001111"}),
        )
        .await;
    let bound = |e: &Engine| {
        let e = e.clone();
        async move {
            let keys = e.conversations_bound_to("+15550001111").await;
            keys.iter().map(|k| k.1.to_string()).collect::<Vec<_>>()
        }
    };
    assert_eq!(bound(&e).await, [sms.as_str()]);
    let last_seq = alice
        .ok(json!({"op": "events.replay", "conversation": c, "since_seq": 0}))
        .await["last_seq"]
        .as_u64()
        .expect("last_seq");
    let (a_before, b_before) = (snapshot(&alice, c).await, snapshot(&bob, c).await);
    e.shutdown();

    let e = durable(dir.path());
    let alice = e.connect("alice").await.expect("alice");
    let bob = e.connect("bob").await.expect("bob");
    assert_eq!(snapshot(&alice, c).await, a_before);
    assert_eq!(snapshot(&bob, c).await, b_before);
    assert_eq!(bound(&e).await, [sms.as_str()]);
    let listed = &a_before["messages"]["items"];
    assert_eq!(listed[0]["body"], "one, edited");
    assert_eq!(listed[0]["reactions"][0]["id"], reaction);
    assert_eq!(b_before["get"]["last_read_message_index"], 0);
    assert_eq!(b_before["get"]["notification_level"], "muted");
    // The unique name, the direct pair and the profile are back too.
    let by_name = alice
        .ok(json!({"op": "conversation.get", "conversation": "office"}))
        .await;
    assert_eq!(by_name["id"], c);
    let again = alice
        .ok(json!({"op": "conversation.direct", "identity": "carol"}))
        .await;
    assert_eq!(again["id"], direct);
    let users = alice
        .ok(json!({"op": "presence.get", "identities": ["alice"]}))
        .await;
    assert_eq!(users["items"][0]["friendly_name"], "Alice A.");
    assert_eq!(
        alice
            .fails(json!({"op": "conversation.get", "conversation": gone}))
            .await,
        ErrorCode::NotFound
    );
    // Indexes and seqs continue; none is reused.
    let next = alice
        .ok(json!({"op": "message.send", "conversation": c, "body": "four"}))
        .await;
    assert_eq!(next["index"], 3);
    let ev = bob.event_skipping("messageAdded").await;
    assert_eq!(ev.seq, Some(last_seq + 1));
    // A resent client_id answers the first message.
    let resent = alice
        .ok(json!({"op": "message.send", "conversation": c, "body": "one", "client_id": "k1"}))
        .await;
    assert_eq!(
        (resent["id"].clone(), resent["index"].clone()),
        (first["id"].clone(), first["index"].clone())
    );
    // Replay across the restart resends what was first delivered.
    let r = alice
        .ok(json!({"op": "events.replay", "conversation": c, "since_seq": last_seq - 2}))
        .await;
    assert_eq!(r["recovered"], true);
    quiet(&[&alice, &bob]);
    e.shutdown();
}

#[tokio::test]
async fn after_a_restart_replay_holds_exactly_the_window() {
    let dir = tempfile::tempdir().expect("temp dir");
    let e = durable_with(dir.path(), |c| c.limits.replay_window = 5);
    let alice = e.connect("alice").await.expect("alice");
    let conv = group(&alice, &[]).await;
    for i in 0..10 {
        send(&alice, &conv, &format!("m{i}")).await;
    }
    let live: Vec<_> = alice
        .drain()
        .into_iter()
        .filter(|e| e.seq.is_some())
        .collect();
    e.shutdown();

    let e = durable_with(dir.path(), |c| c.limits.replay_window = 5);
    let alice = e.connect("alice").await.expect("alice");
    let last = live.last().and_then(|e| e.seq).expect("a seq");
    let r = alice
        .ok(json!({"op": "events.replay", "conversation": conv, "since_seq": last - 5}))
        .await;
    assert_eq!(
        (r["recovered"].clone(), r["last_seq"].clone()),
        (json!(true), json!(last))
    );
    let replayed = alice.drain();
    assert_eq!(replayed.len(), 5);
    for (got, was) in replayed.iter().zip(&live[live.len() - 5..]) {
        assert_eq!((got.seq, &got.data), (was.seq, &was.data));
    }
    let r = alice
        .ok(json!({"op": "events.replay", "conversation": conv, "since_seq": last - 6}))
        .await;
    assert_eq!(r["recovered"], false);
    e.shutdown();
}

#[tokio::test]
async fn replay_across_restarts_resends_each_message_as_first_delivered() {
    // A new message's event is stored as a reference to the message; it must
    // come back as first delivered after the message is edited, reacted to,
    // deleted or evicted, before a restart and after one.
    let dir = tempfile::tempdir().expect("temp dir");
    let limits = |c: &mut Config| {
        c.limits.replay_window = 100;
        c.limits.max_history = 4;
    };
    let mut live = Vec::new();
    let e = durable_with(dir.path(), limits);
    let alice = e.connect("alice").await.expect("alice");
    let conv = group(&alice, &[]).await;
    let c = conv.as_str();
    let op = |op: &str, extra: Value| {
        let mut v = json!({"op": op, "conversation": c});
        if let (Some(v), Value::Object(m)) = (v.as_object_mut(), extra) {
            v.extend(m);
        }
        v
    };
    for i in 0..6 {
        send(&alice, c, &format!("m{i}")).await;
    }
    alice
        .ok(op(
            "message.edit",
            json!({"message": 4, "body": "m4, edited"}),
        ))
        .await;
    alice
        .ok(op("reaction.add", json!({"message": 3, "reaction": "👍"})))
        .await;
    alice.ok(op("message.delete", json!({"message": 5}))).await;
    live.extend(alice.drain());
    e.shutdown();

    let e = durable_with(dir.path(), limits);
    let alice = e.connect("alice").await.expect("alice");
    alice
        .ok(op(
            "message.edit",
            json!({"message": 2, "body": "m2, edited"}),
        ))
        .await;
    send(&alice, c, "m6").await;
    live.extend(alice.drain());
    e.shutdown();

    let e = durable_with(dir.path(), limits);
    let alice = e.connect("alice").await.expect("alice");
    let first = live.iter().find_map(|e| e.seq).expect("a seq");
    let r = alice
        .ok(op("events.replay", json!({"since_seq": first - 1})))
        .await;
    assert_eq!(r["recovered"], true);
    let replayed = alice.drain();
    let seqs = |v: &[colloquy::Event]| v.iter().map(|e| e.seq).collect::<Vec<_>>();
    let live: Vec<_> = live.into_iter().filter(|e| e.seq.is_some()).collect();
    assert_eq!(seqs(&replayed), seqs(&live));
    for (got, was) in replayed.iter().zip(&live) {
        assert_eq!(
            (&got.event, &got.data),
            (&was.event, &was.data),
            "seq {:?}",
            was.seq
        );
    }
    assert!(live.iter().filter(|e| e.event == "messageAdded").count() == 7);
    e.shutdown();
}

#[tokio::test]
async fn past_the_history_cap_a_restart_keeps_exactly_what_the_log_held() {
    let dir = tempfile::tempdir().expect("temp dir");
    let cap = |c: &mut Config| c.limits.max_history = 100;
    let e = durable_with(dir.path(), cap);
    let alice = e.connect("alice").await.expect("alice");
    let conv = group(&alice, &[]).await;
    let c = conv.as_str();
    // Stored many to a row: the oldest are evicted row by row, and edits
    // and a delete land in rows written by earlier folds.
    for i in 0..250 {
        send(&alice, c, &format!("m{i}")).await;
    }
    for i in [150, 199, 200, 249] {
        alice
            .ok(
                json!({"op": "message.edit", "conversation": c, "message": i,
                       "body": format!("m{i}, edited")}),
            )
            .await;
    }
    alice
        .ok(json!({"op": "message.delete", "conversation": c, "message": 180}))
        .await;
    let list = json!({"op": "message.list", "conversation": c, "page_size": 100});
    let before = alice.ok(list.clone()).await;
    e.shutdown();

    let e = durable_with(dir.path(), cap);
    let alice = e.connect("alice").await.expect("alice");
    let after = alice.ok(list).await;
    assert_eq!(after, before);
    let items = after["items"].as_array().expect("items");
    let first = items.iter().map(|m| m["index"].as_u64()).min().flatten();
    assert_eq!(first, Some(150), "the evicted messages stay gone");
    assert!(items
        .iter()
        .any(|m| m["index"] == 199 && m["body"] == "m199, edited"));
    assert_eq!(send(&alice, c, "after").await, 250);
    quiet(&[&alice]);
    e.shutdown();
}

/// Every byte of every file under `dir`, to check nothing was touched.
fn contents(dir: &Path) -> Vec<(std::path::PathBuf, Vec<u8>)> {
    let mut all: Vec<_> = std::fs::read_dir(dir)
        .expect("readable")
        .filter_map(|e| e.ok())
        .map(|e| {
            let p = e.path();
            let bytes = std::fs::read(&p).unwrap_or_default();
            (p, bytes)
        })
        .collect();
    all.sort();
    all
}

fn refused(dir: &Path) -> String {
    let mut c = Config::for_tests();
    c.data_dir = Some(dir.to_path_buf());
    match Engine::start(c) {
        Ok(_) => panic!("{} should be refused", dir.display()),
        Err(e) => e.to_string(),
    }
}

#[test]
fn bad_data_dirs_are_refused_and_left_alone() {
    let root = tempfile::tempdir().expect("temp dir");
    // A file where the directory should be.
    let file = root.path().join("not-a-dir");
    std::fs::write(&file, b"hello").expect("write");
    assert!(refused(&file).contains("not a directory"));
    assert_eq!(std::fs::read(&file).expect("read"), b"hello");

    // A store file that is not a store.
    let junk = root.path().join("junk");
    std::fs::create_dir(&junk).expect("mkdir");
    let noise: Vec<u8> = (0..64 * 1024u32)
        .map(|i| (i.wrapping_mul(2_654_435_761) >> 13) as u8)
        .collect();
    std::fs::write(junk.join("colloquy.redb"), &noise).expect("write");
    let before = contents(&junk);
    let why = refused(&junk);
    assert!(why.contains("colloquy.redb"), "{why}");
    assert!(contents(&junk) == before, "a damaged store was changed");

    // A store written by a newer colloquy.
    let newer = root.path().join("newer");
    std::fs::create_dir(&newer).expect("mkdir");
    {
        let db = redb::Database::create(newer.join("colloquy.redb")).expect("redb");
        let w = db.begin_write().expect("txn");
        {
            let mut t = w
                .open_table(redb::TableDefinition::<&str, u64>::new("meta"))
                .expect("table");
            t.insert("format", 99).expect("insert");
        }
        w.commit().expect("commit");
    }
    let before = contents(&newer);
    let why = refused(&newer);
    assert!(why.contains("format 99"), "{why}");
    assert!(contents(&newer) == before, "a newer store was changed");

    // A good store beside a journal file that is not a journal.
    let journal = root.path().join("journal");
    durable(&journal).shutdown();
    std::fs::write(journal.join("journal.redb"), &noise).expect("write");
    let before = contents(&journal);
    let why = refused(&journal);
    assert!(why.contains("journal.redb"), "{why}");
    assert!(
        contents(&journal) == before,
        "a damaged journal was changed"
    );

    // A journal without the tables it belongs to.
    std::fs::remove_file(journal.join("colloquy.redb")).expect("rm");
    let before = contents(&journal);
    let why = refused(&journal);
    assert!(why.contains("missing"), "{why}");
    assert!(contents(&journal) == before, "a lone journal was changed");

    // An existing empty directory is a fresh store.
    let empty = root.path().join("empty");
    std::fs::create_dir(&empty).expect("mkdir");
    let e = durable(&empty);
    e.shutdown();
}

/// A user's first-seen time (the Twilio face's `date_created`) is when it was
/// first made a participant or connected, also after a restart, whose clock
/// reads later; and a user who has left every conversation is still known,
/// and whether `user.update` made a profile.
#[tokio::test]
async fn a_restart_keeps_every_user_and_when_each_was_first_known() {
    let dir = tempfile::tempdir().expect("temp dir");
    let start = 1_700_000_000_000;
    let (clock, hand) = colloquy::Clock::manual(start);
    let e = durable_with(dir.path(), |c| c.clock = clock);
    let alice = e.connect("alice").await.expect("alice");
    let conv = alice
        .ok(json!({"op": "conversation.create", "participants": ["bob"]}))
        .await["id"]
        .clone();
    hand.advance(std::time::Duration::from_secs(60));
    alice
        .ok(json!({"op": "participant.add", "conversation": conv, "identity": "carol"}))
        .await;
    hand.advance(std::time::Duration::from_secs(60));
    alice
        .ok(json!({"op": "participant.remove", "conversation": conv, "participant": "carol"}))
        .await;
    alice
        .ok(json!({"op": "user.update", "friendly_name": "Alice"}))
        .await;
    let dave = e.connect("dave").await.expect("dave");
    let known = |e: &Engine| -> Vec<(String, u64)> {
        e.users()
            .into_iter()
            .map(|u| (u.user.identity.to_string(), u.created_at))
            .collect()
    };
    let want = vec![
        ("alice".to_string(), start),
        ("bob".to_string(), start),
        ("carol".to_string(), start + 60_000),
        ("dave".to_string(), start + 120_000),
    ];
    assert_eq!(known(&e), want);
    drop((alice, dave));
    e.shutdown();
    let later = colloquy::Clock::manual(start + 3_600_000).0;
    let e = durable_with(dir.path(), |c| c.clock = later);
    assert_eq!(known(&e), want, "after a restart");
    let alice = e.user("alice").expect("alice");
    assert_eq!(alice.user.friendly_name.as_deref(), Some("Alice"));
    assert_eq!(alice.updated_at, start + 120_000);
    // Her profile was made before: making it again is refused.
    let alice = e.connect("alice").await.expect("alice");
    let again = json!({"op": "user.update", "friendly_name": "A", "new": true});
    assert_eq!(alice.fails(again).await, colloquy::ErrorCode::Conflict);
    drop(alice);
    e.shutdown();
}

#[tokio::test]
async fn after_a_restart_the_feed_finds_every_conversations_messages() {
    // More conversations than a feed page asks at first, their newest
    // messages in creation order but one, a log message in the first.
    let dir = tempfile::tempdir().expect("temp dir");
    let start = 1_700_000_000_000;
    let (clock, hand) = colloquy::Clock::manual(start);
    let e = durable_with(dir.path(), |c| c.clock = clock);
    let alice = e.connect("alice").await.expect("alice");
    let mut convs = Vec::new();
    for i in 0..20 {
        convs.push(group(&alice, &[]).await);
        send(&alice, &convs[i], "hello").await;
        hand.advance(std::time::Duration::from_millis(10));
    }
    alice
        .ok(json!({"op": "participant.add", "conversation": convs[0], "identity": "bob"}))
        .await;
    let all = in_feed_order(&alice, &convs).await;
    drop(alice);
    e.shutdown();
    let later = colloquy::Clock::manual(start + 3_600_000).0;
    let e = durable_with(dir.path(), |c| c.clock = later);
    let alice = e.connect("alice").await.expect("alice");
    let since = json!({"op": "message.feed", "limit": 2, "since": start + 50});
    let [back, forward] = feed_both_ways(&alice, since).await;
    same(&back, &all[5..], "since, back");
    same(&forward, &all[5..], "since, forward");
    let [back, _] = feed_both_ways(&alice, json!({"op": "message.feed", "limit": 1})).await;
    same(&back, &all, "limit 1, back");
    e.shutdown();
}

/// Which conversation holds an exclusive binding survives a restart: the
/// pair a closed conversation holds is still free, an open one's still held.
#[tokio::test]
async fn exclusive_bindings_and_closed_states_survive_a_restart() {
    let dir = tempfile::tempdir().expect("temp dir");
    let e = durable(dir.path());
    let alice = e.connect("alice").await.expect("alice");
    let (closed, open) = (group(&alice, &[]).await, group(&alice, &[]).await);
    let bind = |conv: &str, proxy: &str| {
        json!({"op": "participant.add_non_chat", "conversation": conv, "exclusive": true,
               "proxy_address": proxy, "address": "+15550002"})
    };
    alice.ok(bind(&closed, "+15550001")).await;
    alice
        .ok(json!({"op": "conversation.update", "conversation": closed, "state": "closed"}))
        .await;
    alice.ok(bind(&open, "+15550009")).await;
    e.shutdown();

    let e = durable(dir.path());
    let alice = e.connect("alice").await.expect("alice");
    let holder = |proxy: &'static str| {
        let e = e.clone();
        async move {
            e.binding_holder("+15550002", proxy)
                .await
                .map(|c| c.to_string())
        }
    };
    assert_eq!(holder("+15550001").await, None);
    assert_eq!(holder("+15550009").await, Some(open.clone()));
    assert_eq!(
        alice.fails(bind(&closed, "+15550009")).await,
        ErrorCode::Conflict
    );
    alice.ok(bind(&open, "+15550001")).await;
    e.shutdown();
}
