//! The contract's conversation ops and rules on the pure state: no actor, no
//! runtime, no clock. Each op is driven through [`ConversationState::apply`]
//! and judged by its answer, the effects it appended and the changes it leaves
//! for the journal.

mod indexes;
mod lifecycle;
mod members;
mod messages;
mod stored_events;

use std::sync::Arc;
use std::time::Duration;

use serde_json::{json, Value};

use super::effects::Effect;
use super::{Answer, ConversationState, Shared};
use crate::config::Config;
use crate::delivery::Outbox;
use crate::error::{ErrorCode, Result};
use crate::model::{Caller, ConversationId, Identity, ReactionId};
use crate::protocol::{ConversationOp, CreateConversation, Request, Route};
use crate::store::{RecoveredConversation, Write};

const T0: u64 = 1_700_000_000_000;

fn shared(f: impl FnOnce(&mut Config)) -> Arc<Shared> {
    let mut config = Config::for_tests();
    f(&mut config);
    Arc::new(Shared::new(config))
}

fn user(s: &str) -> Caller {
    Caller::User(Identity::from_stored(s))
}

/// A new conversation made by `creator` (None: the service) at `T0`.
fn create(
    sh: Arc<Shared>,
    creator: Option<&str>,
    req: CreateConversation,
    direct: bool,
) -> Result<ConversationState> {
    let creator = creator.map(Identity::from_stored);
    ConversationState::create(sh, ConversationId::new(), creator, req, direct, T0)
}

/// A group made by alice with bob and carol, its creation effects taken.
fn group() -> ConversationState {
    group_in(shared(|_| {}))
}

fn group_in(sh: Arc<Shared>) -> ConversationState {
    let req = CreateConversation {
        friendly_name: Some("g".into()),
        participants: vec!["bob".into(), "carol".into()],
        ..Default::default()
    };
    let mut st = create(sh, Some("alice"), req, false).expect("created");
    st.announce_created();
    st.out.clear();
    st.discard_changes();
    st
}

/// Marks the description and every participant changed: the journal then
/// takes all that a store holds of them.
fn touch_all(st: &mut ConversationState) {
    st.meta_changed = true;
    for seq in st.members.seqs() {
        st.members.get_mut(seq);
    }
}

/// A request as the wire gives it, routed: it must be a conversation op.
fn conversation_op(json: &Value) -> ConversationOp {
    match Request::from_json(json).expect("a valid request").route() {
        Route::Conversation(_, op) => op,
        Route::Reaction { reaction, .. } => ConversationOp::RemoveReaction(reaction),
        Route::Engine(op) => panic!("{op:?} is not a conversation op"),
    }
}

/// Runs `op` (JSON, without `conversation`) as `who`.
fn answer(st: &mut ConversationState, who: &Caller, mut op: Value) -> Result<Answer> {
    op["conversation"] = json!(st.id.to_string());
    st.apply(
        who,
        conversation_op(&op),
        None,
        (T0 + 1_000, Duration::from_secs(1)),
        None,
    )
}

fn run(st: &mut ConversationState, who: &Caller, op: Value) -> Result<Value> {
    answer(st, who, op).map(|a| a.data.to_json())
}

/// Sends a chat message as `who`; answers the send's answer.
fn send(st: &mut ConversationState, who: &str, body: &str) -> Value {
    ok(st, &user(who), json!({"op": "message.send", "body": body}))
}

/// Runs an op that must answer that it repeated an earlier one.
fn repeated(st: &mut ConversationState, who: &Caller, op: Value) -> Value {
    let a = answer(st, who, op.clone()).unwrap_or_else(|e| panic!("{op} failed: {e}"));
    assert!(a.repeated, "{op} should repeat an earlier op");
    a.data.to_json()
}

fn ok(st: &mut ConversationState, who: &Caller, op: Value) -> Value {
    run(st, who, op.clone()).unwrap_or_else(|e| panic!("{op} failed: {e}"))
}

fn code(st: &mut ConversationState, who: &Caller, op: Value) -> ErrorCode {
    match run(st, who, op.clone()) {
        Ok(v) => panic!("{op} should fail, answered {v}"),
        Err(e) => e.code(),
    }
}

/// The names of the events the last ops appended (taking them; the index
/// changes among them are left out).
fn events(st: &mut ConversationState) -> Vec<String> {
    std::mem::take(&mut st.out)
        .iter()
        .filter_map(|e| {
            let frame = match e {
                Effect::Event(f, ..)
                | Effect::EventTo(_, f)
                | Effect::Membership(_, f)
                | Effect::Typing(f, _, _) => f.to_string(),
                Effect::Replay(_, _) => return Some("replay".into()),
                Effect::Index(_) => return None,
            };
            let v: Value = serde_json::from_str(&frame).unwrap_or_default();
            Some(v["event"].as_str().unwrap_or_default().to_string())
        })
        .collect()
}
