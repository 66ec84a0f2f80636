//! Compact frames (`?encoding=compact`): the same events without null and
//! empty members, chosen per connection; everyone else still gets v1.

use colloquy::testing::TestServer;
use serde_json::{json, Value};

use crate::util::{connect_url, group, Ws};

/// Every member of `v` that is null, [] or {} (outside free JSON), by path.
fn empties(v: &Value, path: &str, out: &mut Vec<String>) {
    match v {
        Value::Object(m) => {
            for (k, x) in m {
                let p = format!("{path}.{k}");
                let free = ["attributes", "metadata", "details"].contains(&k.as_str());
                let empty = x.is_null()
                    || x.as_array().is_some_and(|a| a.is_empty())
                    || x.as_object().is_some_and(|o| o.is_empty());
                if empty && !(free && x.is_null()) {
                    out.push(p);
                } else if !free {
                    empties(x, &p, out);
                }
            }
        }
        Value::Array(a) => a.iter().for_each(|x| empties(x, path, out)),
        _ => {}
    }
}

/// `v1` with the members `compact` left out: what a client fills back in.
fn agrees(v1: &Value, compact: &Value) {
    let mut left_out = Vec::new();
    empties(v1, "", &mut left_out);
    assert!(!left_out.is_empty(), "v1 has empty members: {v1}");
    let mut none = Vec::new();
    empties(compact, "", &mut none);
    assert!(none.is_empty(), "compact still has {none:?}: {compact}");
    let mut filled = compact.clone();
    fill(v1, &mut filled);
    assert_eq!(&filled, v1, "compact differs beyond empty members");
}

fn fill(v1: &Value, c: &mut Value) {
    if let (Value::Object(a), Value::Object(b)) = (v1, &mut *c) {
        for (k, x) in a {
            match b.get_mut(k) {
                Some(y) => fill(x, y),
                None => {
                    b.insert(k.clone(), x.clone());
                }
            }
        }
    } else if let (Value::Array(a), Value::Array(b)) = (v1, c) {
        for (x, y) in a.iter().zip(b.iter_mut()) {
            fill(x, y);
        }
    }
}

#[actix_rt::test]
async fn a_compact_session_gets_the_same_events_without_empty_members() {
    let server = TestServer::start();
    let mut alice = Ws::connect(&server, "alice").await;
    let mut bob = connect_url(&format!("{}&encoding=compact", server.ws_url("bob")), None)
        .await
        .expect("compact connects");
    let mut carol = connect_url(&format!("{}&encoding=v1", server.ws_url("carol")), None)
        .await
        .expect("v1 connects");
    let conv = group(&mut alice, &["bob", "carol"]).await;
    alice
        .ok(
            json!({"op": "message.send", "conversation": conv, "body": "hi",
                   "attributes": {"k": null}}),
        )
        .await;
    let on_v1 = carol.event_skipping("messageAdded").await;
    let on_compact = bob.event_skipping("messageAdded").await;
    agrees(&on_v1, &on_compact);
    assert_eq!(
        on_compact["data"]["attributes"],
        json!({"k": null}),
        "user JSON untouched"
    );
    assert!(on_compact["data"].get("reply_to").is_none());
    assert!(on_v1.to_string().len() > on_compact.to_string().len());

    // Answers are compact too; requests are v1 either way.
    let got = bob
        .request(json!({"op": "message.get", "conversation": conv, "message": 0}))
        .await;
    assert_eq!(got["ok"], true, "{got}");
    assert!(got["data"].get("media").is_none(), "{got}");
    assert!(got.get("error").is_none());
}

#[actix_rt::test]
async fn an_unknown_encoding_is_refused_at_connect() {
    let server = TestServer::start();
    let url = format!("{}&encoding=msgpack", server.ws_url("bob"));
    let refused = connect_url(&url, None).await.err().expect("refused");
    assert_eq!(refused.status, 400);
}
