use serde_json::{json, Map, Value};

use super::*;

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

/// Not JSON, or JSON cut short anywhere: passed on as it is, never a panic.
#[test]
fn text_that_is_not_json_is_passed_on() {
    for bad in [
        "",
        "not json",
        "nul",
        "{",
        r#"{"a":1,}"#,
        "[1,]",
        r#"{"a" 1}"#,
        r#"{a:1}"#,
        "01",
        "-",
        "1.",
        "1e",
        r#""\x""#,
        r#""\u12g4""#,
        "\"a\u{1}b\"",
        r#"{"a":1}}"#,
    ] {
        assert_eq!(compact(bad), bad, "{bad:?}");
    }
    let v1 = r#"{"e":"x","d":{"m":{"b":"\"é\\","n":null,"l":[1.5e-3,-0,true,false]}}}"#;
    for cut in 0..v1.len() {
        if let Some(part) = v1.get(..cut) {
            assert_eq!(compact(part), part);
        }
    }
}

/// Deep nesting is left alone rather than recursed into without end.
#[test]
fn deep_nesting_is_passed_on_without_overflowing() {
    let deep = "[".repeat(100_000) + &"]".repeat(100_000);
    assert_eq!(compact(&deep), deep);
    let fine = format!("{}{{\"a\":null}}{}", "[".repeat(100), "]".repeat(100));
    assert_eq!(
        compact(&fine),
        format!("{}{{}}{}", "[".repeat(100), "]".repeat(100))
    );
}

/// The rule as a tree walk: what the one-pass compactor must agree with.
fn strip(v: &mut Value) {
    match v {
        Value::Object(m) => m.retain(|k, x| {
            if ["attributes", "metadata", "details"].contains(&k.as_str()) {
                return !matches!(x, Value::Object(o) if o.is_empty());
            }
            strip(x);
            !(x.is_null() || x == &json!([]) || x == &json!({}))
        }),
        Value::Array(a) => a.iter_mut().for_each(strip),
        _ => {}
    }
}

/// A small deterministic generator of JSON, heavy on empties and on the
/// names the rule treats apart.
struct Gen(u64);

impl Gen {
    fn next(&mut self, n: u64) -> u64 {
        self.0 ^= self.0 << 13;
        self.0 ^= self.0 >> 7;
        self.0 ^= self.0 << 17;
        self.0 % n
    }

    fn value(&mut self, depth: u32) -> Value {
        const KEYS: [&str; 8] = [
            "attributes",
            "metadata",
            "details",
            "a",
            "body",
            "k\"q",
            "é",
            "",
        ];
        const TEXTS: [&str; 6] = ["", "null", "{}", "a \"q\" \\ /", "\u{1}\n\té☃", "[]"];
        match self.next(if depth > 4 { 6 } else { 9 }) {
            0 => Value::Null,
            1 => Value::Bool(self.next(2) == 0),
            2 => json!(self.next(1000) as i64 - 500),
            3 => json!((self.next(10_000) as f64 - 5_000.0) / 7.0),
            4 => Value::String(TEXTS[self.next(6) as usize].into()),
            5 => json!(u64::MAX - self.next(3)),
            6 | 7 => {
                let mut m = Map::new();
                for _ in 0..self.next(4) {
                    m.insert(KEYS[self.next(8) as usize].into(), self.value(depth + 1));
                }
                Value::Object(m)
            }
            _ => Value::Array((0..self.next(4)).map(|_| self.value(depth + 1)).collect()),
        }
    }
}

/// On JSON as serde_json writes it (as every v1 frame is written), the
/// compact text is exactly the tree walk's, written the same way.
#[test]
fn agrees_with_the_rule_on_ten_thousand_documents() {
    let mut g = Gen(0x9e37_79b9_7f4a_7c15);
    for _ in 0..10_000 {
        let mut v = g.value(0);
        let v1 = v.to_string();
        strip(&mut v);
        assert_eq!(compact(&v1), v.to_string(), "{v1}");
    }
}
