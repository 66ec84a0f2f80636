//! The Twilio face (`TWILIO.md`) with a stock HTTP client: form bodies, Basic
//! auth, paging by following `meta` URLs, every error, and the realtime
//! mapping seen by a real WebSocket client.

use colloquy::testing::TestServer;
use serde_json::Value;

mod conversations;
mod dates;
mod live;
mod messages;
mod users;

pub const SID: &str = "AC0123456789abcdef0123456789abcdef";

/// A backend speaking Twilio's wire: form bodies, Basic auth.
pub struct Twilio {
    pub base: String,
    pub http: reqwest::Client,
    pub user: String,
    pub password: String,
}

impl Twilio {
    pub fn new(server: &TestServer) -> Twilio {
        Twilio::with(server, SID, "any")
    }

    pub fn with(server: &TestServer, user: &str, password: &str) -> Twilio {
        Twilio {
            base: format!("{}/twilio/conversations/v1", server.url()),
            http: reqwest::Client::new(),
            user: user.into(),
            password: password.into(),
        }
    }

    pub async fn send(
        &self,
        method: reqwest::Method,
        url: &str,
        form: &[(&str, &str)],
    ) -> (u16, Value) {
        let url = if url.starts_with("http") {
            url.to_string()
        } else {
            format!("{}{url}", self.base)
        };
        let mut req = self
            .http
            .request(method.clone(), url)
            .basic_auth(&self.user, Some(&self.password))
            .header("Content-Type", "application/x-www-form-urlencoded");
        if method == reqwest::Method::POST {
            req = req.body(serde_urlencoded::to_string(form).expect("encodes"));
        }
        let r = req.send().await.expect("answers");
        let status = r.status().as_u16();
        let text = r.text().await.expect("a body");
        let body = if text.is_empty() {
            Value::Null
        } else {
            serde_json::from_str(&text).unwrap_or_else(|_| panic!("not JSON: {text}"))
        };
        (status, body)
    }

    pub async fn get(&self, url: &str) -> (u16, Value) {
        self.send(reqwest::Method::GET, url, &[]).await
    }

    pub async fn post(&self, url: &str, form: &[(&str, &str)]) -> (u16, Value) {
        self.send(reqwest::Method::POST, url, form).await
    }

    pub async fn delete(&self, url: &str) -> (u16, Value) {
        self.send(reqwest::Method::DELETE, url, &[]).await
    }

    /// Creates and answers the resource, asserting 201.
    pub async fn create(&self, url: &str, form: &[(&str, &str)]) -> Value {
        let (s, v) = self.post(url, form).await;
        assert_eq!(s, 201, "{v}");
        v
    }

    /// Every record of a list, following `next_page_url` from `url`.
    pub async fn all(&self, url: &str) -> Vec<Value> {
        let mut out = Vec::new();
        let mut next = Some(url.to_string());
        while let Some(u) = next {
            let (s, page) = self.get(&u).await;
            assert_eq!(s, 200, "{page}");
            let key = page["meta"]["key"].as_str().expect("meta.key");
            out.extend(page[key].as_array().expect("records").iter().cloned());
            next = page["meta"]["next_page_url"].as_str().map(str::to_string);
        }
        out
    }
}

/// Asserts Twilio's error body with this status and code.
pub fn refused((status, body): (u16, Value), want_status: u16, want_code: u32) {
    assert_eq!(status, want_status, "{body}");
    assert_eq!(body["code"], want_code, "{body}");
    assert_eq!(body["status"], want_status);
    assert_eq!(
        body["more_info"],
        format!("https://www.twilio.com/docs/errors/{want_code}")
    );
    assert!(body["message"].is_string());
}

/// Asserts the spec's 501: a message and a status, no code.
pub fn not_emulated((status, body): (u16, Value)) {
    assert_eq!(status, 501, "{body}");
    assert_eq!(body["status"], 501);
    assert!(body.get("code").is_none(), "{body}");
    assert!(body["message"]
        .as_str()
        .unwrap_or_default()
        .contains("is not emulated by colloquy"));
}

/// The colloquy id a CH/MB/IM sid stands for.
pub fn uuid_of(sid: &str) -> String {
    let h = &sid[2..];
    format!(
        "{}-{}-{}-{}-{}",
        &h[..8],
        &h[8..12],
        &h[12..16],
        &h[16..20],
        &h[20..]
    )
}

pub fn is_twilio_date(v: &Value) -> bool {
    let s = v.as_str().unwrap_or_default();
    s.len() == 20 && s.ends_with('Z') && s.as_bytes()[10] == b'T' && !s.contains('.')
}
