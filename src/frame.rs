//! An encoded frame, in the encoding every client gets by default (v1 JSON)
//! and, made on first need and then shared, the compact one (`docs/PROTOCOL.md`,
//! "Compact frames").
//!
//! An event is serialized once however many sessions get it: cloning a
//! [`Frame`] bumps a reference count. A session that asked for compact frames
//! takes [`Frame::encoded`]`(Encoding::Compact)`; the first such session
//! makes that form from the v1 bytes and every later one shares it, so an
//! event costs one extra encoding only when some recipient wants it.

use std::fmt;
use std::ops::Deref;
use std::sync::{Arc, OnceLock};

use bytestring::ByteString;
use serde_json::Value;

/// How a session wants its frames.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub enum Encoding {
    /// The contract's JSON, every field present.
    #[default]
    V1,
    /// The same JSON, members in the same order, without those whose value
    /// is `null`, `[]` or `{}`.
    Compact,
}

impl Encoding {
    /// Parses `?encoding=`: `v1` or `compact`.
    pub fn parse(s: &str) -> Option<Encoding> {
        match s {
            "v1" => Some(Encoding::V1),
            "compact" => Some(Encoding::Compact),
            _ => None,
        }
    }
}

/// An encoded text frame, shared by every recipient.
#[derive(Clone)]
pub struct Frame(Arc<Forms>);

struct Forms {
    v1: ByteString,
    compact: OnceLock<ByteString>,
}

impl Frame {
    /// The frame in the given encoding.
    pub fn encoded(&self, e: Encoding) -> ByteString {
        match e {
            Encoding::V1 => self.0.v1.clone(),
            Encoding::Compact => self.compact().clone(),
        }
    }

    /// The frame's text in the given encoding, borrowed: a writer copies it
    /// into its batch from here, without a reference count to bump and drop.
    pub fn text(&self, e: Encoding) -> &str {
        match e {
            Encoding::V1 => &self.0.v1,
            Encoding::Compact => self.compact(),
        }
    }

    fn compact(&self) -> &ByteString {
        self.0
            .compact
            .get_or_init(|| ByteString::from(compact(&self.0.v1)))
    }

    /// The v1 text.
    pub fn as_str(&self) -> &str {
        &self.0.v1
    }
}

impl From<String> for Frame {
    fn from(s: String) -> Frame {
        Frame(Arc::new(Forms {
            v1: ByteString::from(s),
            compact: OnceLock::new(),
        }))
    }
}

impl From<&str> for Frame {
    fn from(s: &str) -> Frame {
        Frame::from(s.to_string())
    }
}

impl Deref for Frame {
    type Target = str;
    fn deref(&self) -> &str {
        &self.0.v1
    }
}

impl AsRef<str> for Frame {
    fn as_ref(&self) -> &str {
        &self.0.v1
    }
}

impl PartialEq for Frame {
    fn eq(&self, other: &Frame) -> bool {
        self.0.v1 == other.0.v1
    }
}

impl Eq for Frame {}

impl fmt::Debug for Frame {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        fmt::Debug::fmt(&*self.0.v1, f)
    }
}

impl fmt::Display for Frame {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0.v1)
    }
}

/// Members whose value is free JSON of the user's: sent as they are (a
/// `null` inside, or a `null` attributes, means something), except that an
/// empty object is left out like any other.
const FREE_JSON: [&str; 3] = ["attributes", "metadata", "details"];

/// The compact form of a v1 frame: every member whose value is `null`, `[]`
/// or `{}` (once its own members are compacted) left out, the others in the
/// order v1 has them. A frame that is not JSON (never one of ours) is passed
/// on as it is.
pub fn compact(v1: &str) -> String {
    let Ok(mut v) = serde_json::from_str::<Json>(v1) else {
        return v1.to_string();
    };
    v.strip();
    serde_json::to_string(&v).unwrap_or_else(|_| v1.to_string())
}

/// JSON that keeps its members in order (`serde_json::Value` sorts them
/// unless the whole build turns on `preserve_order`).
enum Json {
    Scalar(Value),
    Array(Vec<Json>),
    Object(Vec<(String, Json)>),
}

impl Json {
    fn strip(&mut self) {
        match self {
            Json::Object(members) => members.retain_mut(|(k, x)| {
                if FREE_JSON.contains(&k.as_str()) {
                    return !matches!(x, Json::Object(o) if o.is_empty());
                }
                x.strip();
                !x.is_empty()
            }),
            Json::Array(a) => a.iter_mut().for_each(Json::strip),
            Json::Scalar(_) => {}
        }
    }

    fn is_empty(&self) -> bool {
        match self {
            Json::Scalar(v) => v.is_null(),
            Json::Array(a) => a.is_empty(),
            Json::Object(o) => o.is_empty(),
        }
    }
}

impl<'de> serde::Deserialize<'de> for Json {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Json, D::Error> {
        d.deserialize_any(JsonVisitor)
    }
}

struct JsonVisitor;

impl<'de> serde::de::Visitor<'de> for JsonVisitor {
    type Value = Json;

    fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("JSON")
    }
    fn visit_unit<E>(self) -> Result<Json, E> {
        Ok(Json::Scalar(Value::Null))
    }
    fn visit_bool<E>(self, b: bool) -> Result<Json, E> {
        Ok(Json::Scalar(Value::Bool(b)))
    }
    fn visit_i64<E>(self, n: i64) -> Result<Json, E> {
        Ok(Json::Scalar(Value::from(n)))
    }
    fn visit_u64<E>(self, n: u64) -> Result<Json, E> {
        Ok(Json::Scalar(Value::from(n)))
    }
    fn visit_f64<E>(self, n: f64) -> Result<Json, E> {
        Ok(Json::Scalar(Value::from(n)))
    }
    fn visit_str<E>(self, s: &str) -> Result<Json, E> {
        Ok(Json::Scalar(Value::String(s.to_string())))
    }
    fn visit_string<E>(self, s: String) -> Result<Json, E> {
        Ok(Json::Scalar(Value::String(s)))
    }
    fn visit_seq<A: serde::de::SeqAccess<'de>>(self, mut seq: A) -> Result<Json, A::Error> {
        let mut items = Vec::new();
        while let Some(x) = seq.next_element()? {
            items.push(x);
        }
        Ok(Json::Array(items))
    }
    fn visit_map<A: serde::de::MapAccess<'de>>(self, mut map: A) -> Result<Json, A::Error> {
        let mut members = Vec::new();
        while let Some(kv) = map.next_entry()? {
            members.push(kv);
        }
        Ok(Json::Object(members))
    }
}

impl serde::Serialize for Json {
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        use serde::ser::{SerializeMap, SerializeSeq};
        match self {
            Json::Scalar(v) => v.serialize(s),
            Json::Array(items) => {
                let mut seq = s.serialize_seq(Some(items.len()))?;
                for x in items {
                    seq.serialize_element(x)?;
                }
                seq.end()
            }
            Json::Object(members) => {
                let mut map = s.serialize_map(Some(members.len()))?;
                for (k, x) in members {
                    map.serialize_entry(k, x)?;
                }
                map.end()
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn empties_go_and_everything_else_stays() {
        let v1 = json!({
            "event": "messageAdded", "conversation": "c", "seq": 3,
            "data": {"message": {
                "id": "m", "index": 0, "body": null, "kind": null, "media": [],
                "reactions": [], "edited": false, "ts": 1.5, "reply_to": null,
                "attributes": {}, "metadata": {}, "details": {"who": null, "a": []},
                "nested": {"x": null, "y": {}}, "list": [null, {}, 0],
            }}
        });
        let c: Value = serde_json::from_str(&compact(&v1.to_string())).expect("json");
        assert_eq!(
            c,
            json!({
                "event": "messageAdded", "conversation": "c", "seq": 3,
                "data": {"message": {
                    "id": "m", "index": 0, "edited": false, "ts": 1.5,
                    "details": {"who": null, "a": []},
                    "list": [null, {}, 0],
                }}
            })
        );
        // A user's own null attributes are kept: absent would read as {}.
        let c = compact(r#"{"attributes":null,"x":{"attributes":{"k":null}}}"#);
        assert_eq!(c, r#"{"attributes":null,"x":{"attributes":{"k":null}}}"#);
    }

    /// Text that looks like an empty member inside a string, escapes in
    /// names and strings, spacing and nesting: only real empty members go.
    #[test]
    fn only_empty_members_go_whatever_the_text_holds() {
        for (v1, want) in [
            (
                r#"{"body":"{\"a\":null} []","n":null,"t":"null"}"#,
                r#"{"body":"{\"a\":null} []","t":"null"}"#,
            ),
            (r#"{"k\"ey":1,"\u00e9":null}"#, r#"{"k\"ey":1}"#),
            (
                r#" { "a" : [ { "b" : null } , [ ] ] , "c" : { } , "attributes" : { } } "#,
                r#"{"a":[{},[]]}"#,
            ),
            (
                r#"{"details":{"x":null},"d":[{"e":{"f":[]}}],"n":-1.5}"#,
                r#"{"details":{"x":null},"d":[{}],"n":-1.5}"#,
            ),
            (r#"{"a":{"b":{"c":null}}}"#, "{}"),
            (r#"[null,{"a":null}]"#, "[null,{}]"),
            ("12", "12"),
            (r#"{"a":1} trailing"#, r#"{"a":1} trailing"#),
        ] {
            assert_eq!(compact(v1), want, "{v1}");
        }
    }

    #[test]
    fn the_compact_form_is_made_once_and_shared() {
        let f = Frame::from(r#"{"a":null,"b":1}"#);
        let g = f.clone();
        assert_eq!(&*f.encoded(Encoding::Compact), r#"{"b":1}"#);
        assert_eq!(&*f.encoded(Encoding::V1), r#"{"a":null,"b":1}"#);
        let (x, y) = (f.encoded(Encoding::Compact), g.encoded(Encoding::Compact));
        assert_eq!(x.as_bytes().as_ptr(), y.as_bytes().as_ptr());
        assert_eq!(compact("not json"), "not json");
        // Members keep v1's order: `event` (or `re`) still comes first.
        assert_eq!(
            compact(r#"{"event":"x","z":null,"data":{"b":1,"a":[]},"conversation":"c"}"#),
            r#"{"event":"x","data":{"b":1},"conversation":"c"}"#
        );
    }
}
