//! Checks of client values against the engine's limits (`PROTOCOL.md` §7).
//!
//! Every check runs before any state changes, so a refused request changes nothing.

use std::io;

use base64::engine::general_purpose::STANDARD;
use base64::Engine as _;
use bytes::Bytes;
use serde_json::{Map, Value};

use crate::config::Limits;
use crate::error::{Error, Result};
use crate::model::{check_name, Identity, Media, MediaId};
use crate::protocol::MediaIn;

struct Counter(usize);

impl io::Write for Counter {
    fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
        self.0 += buf.len();
        Ok(buf.len())
    }
    fn flush(&mut self) -> io::Result<()> {
        Ok(())
    }
}

/// Serialized size of a JSON value, without building the string.
pub fn json_size(v: &Value) -> usize {
    let mut c = Counter(0);
    let _ = serde_json::to_writer(&mut c, v);
    c.0
}

/// `attributes`, `details`: any JSON up to the size limit.
pub fn json_field(field: &str, v: &Value, limits: &Limits) -> Result<()> {
    if json_size(v) > limits.max_json_bytes {
        return Err(Error::too_large(format!(
            "{field} is over {} bytes serialized",
            limits.max_json_bytes
        )));
    }
    Ok(())
}

/// `metadata`: a flat object of strings, numbers and booleans (null too when
/// `allow_null`, meaning "remove this key" in an update).
pub fn metadata(m: &Map<String, Value>, allow_null: bool, limits: &Limits) -> Result<()> {
    for (k, v) in m {
        match v {
            Value::String(_) | Value::Number(_) | Value::Bool(_) => {}
            Value::Null if allow_null => {}
            _ => {
                return Err(Error::bad(format!(
                    "metadata.{k} must be a string, number or boolean"
                )))
            }
        }
    }
    let size = json_size(&Value::Object(m.clone()));
    if size > limits.max_json_bytes {
        return Err(Error::too_large(format!(
            "metadata is over {} bytes serialized",
            limits.max_json_bytes
        )));
    }
    Ok(())
}

/// A name field (unique_name, friendly_name, …).
pub fn name(field: &str, s: &str, limits: &Limits) -> Result<()> {
    check_name(field, s, limits.max_name_chars)
}

/// An identity given by a client.
pub fn identity(s: &str, limits: &Limits) -> Result<Identity> {
    Identity::parse(s, limits.max_name_chars)
}

/// A message body.
pub fn body(b: &str, limits: &Limits) -> Result<()> {
    if b.len() > limits.max_body_bytes {
        return Err(Error::too_large(format!(
            "body is over {} bytes",
            limits.max_body_bytes
        )));
    }
    Ok(())
}

/// Decodes and checks media items.
pub fn media(items: &[MediaIn], limits: &Limits) -> Result<Vec<Media>> {
    if items.len() > limits.max_media_items {
        return Err(Error::too_large(format!(
            "at most {} media items per message",
            limits.max_media_items
        )));
    }
    items
        .iter()
        .map(|m| {
            if m.content_type.is_empty() {
                return Err(Error::bad("media content_type must not be empty"));
            }
            name("media content_type", &m.content_type, limits)?;
            if let Some(f) = &m.filename {
                name("media filename", f, limits)?;
            }
            // Refuse oversized content before decoding it: base64 is 4 chars per 3 bytes.
            if m.data.len() / 4 * 3 > limits.max_media_bytes + 3 {
                return Err(Error::too_large(format!(
                    "a media item is over {} bytes",
                    limits.max_media_bytes
                )));
            }
            let data = STANDARD
                .decode(m.data.as_bytes())
                .map_err(|e| Error::bad(format!("media data is not base64: {e}")))?;
            if data.len() > limits.max_media_bytes {
                return Err(Error::too_large(format!(
                    "a media item is over {} bytes",
                    limits.max_media_bytes
                )));
            }
            Ok(Media {
                id: MediaId::new(),
                content_type: m.content_type.clone(),
                filename: m.filename.clone(),
                size: data.len(),
                data: Bytes::from(data),
            })
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn metadata_must_be_flat() {
        let l = Limits::default();
        let ok = json!({"a": 1, "b": "x", "c": true});
        assert!(metadata(ok.as_object().unwrap(), false, &l).is_ok());
        let nested = json!({"a": {"b": 1}});
        assert!(metadata(nested.as_object().unwrap(), false, &l).is_err());
        let null = json!({"a": null});
        assert!(metadata(null.as_object().unwrap(), false, &l).is_err());
        assert!(metadata(null.as_object().unwrap(), true, &l).is_ok());
    }

    #[test]
    fn sizes() {
        let l = Limits::default();
        assert_eq!(json_size(&json!({"a":1})), 7);
        let big = json!({"a": "x".repeat(16 * 1024)});
        assert_eq!(
            json_field("attributes", &big, &l).unwrap_err().code(),
            crate::error::ErrorCode::TooLarge
        );
        let m = MediaIn {
            content_type: "image/png".into(),
            filename: None,
            data: STANDARD.encode(vec![0u8; 128 * 1024 + 1]),
        };
        assert_eq!(
            media(&[m], &l).unwrap_err().code(),
            crate::error::ErrorCode::TooLarge
        );
        let bad = MediaIn {
            content_type: "image/png".into(),
            filename: None,
            data: "%%%".into(),
        };
        assert_eq!(
            media(&[bad], &l).unwrap_err().code(),
            crate::error::ErrorCode::BadRequest
        );
    }
}
