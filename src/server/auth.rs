//! Who is calling: WebSocket identities (dev mode or JWT), the REST admin key and
//! `X-Identity`, and minting tokens.

use actix_web::dev::RequestHead;
use actix_web::http::header;
use actix_web::HttpRequest;
use jsonwebtoken::{decode, encode, Algorithm, DecodingKey, EncodingKey, Header, Validation};
use serde::{Deserialize, Serialize};

use crate::config::Limits;
use crate::engine::Caller;
use crate::error::{Error, Result};
use crate::model::{now_ms, Identity};
use crate::validate;

/// Leeway on `exp`, in seconds: the contract allows at most 5.
const EXP_LEEWAY_S: u64 = 5;

/// Longest token lifetime `POST /v1/tokens` mints, in seconds (30 days).
const MAX_TTL_S: u64 = 30 * 24 * 3600;

/// The claims we mint and read. Only `sub` and `exp` are required (`iat` is
/// informational); `nbf`, when present, is enforced by the validation.
#[derive(Debug, Serialize, Deserialize)]
struct Claims {
    sub: String,
    exp: u64,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    iat: Option<u64>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    nbf: Option<u64>,
}

/// How the server authenticates.
#[derive(Clone)]
pub struct Auth {
    jwt: Option<(EncodingKey, DecodingKey)>,
    admin_key: Option<String>,
}

impl std::fmt::Debug for Auth {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Auth")
            .field("jwt", &self.jwt.is_some())
            .field("admin_key", &self.admin_key.is_some())
            .finish()
    }
}

/// The credential of `Authorization: Bearer …`; the scheme name is
/// case-insensitive (RFC 9110 §11.1).
fn bearer(req: &RequestHead) -> Option<&str> {
    let value = req.headers.get(header::AUTHORIZATION)?.to_str().ok()?;
    let (scheme, credential) = value.trim_start().split_once(' ')?;
    scheme
        .eq_ignore_ascii_case("bearer")
        .then_some(credential.trim())
}

pub(crate) fn query_param(req: &RequestHead, name: &str) -> Option<String> {
    let q = web_query(req.uri.query().unwrap_or_default());
    q.into_iter().find(|(k, _)| k == name).map(|(_, v)| v)
}

/// Parses a query string into decoded pairs.
pub(crate) fn web_query(q: &str) -> Vec<(String, String)> {
    serde_urlencoded::from_str::<Vec<(String, String)>>(q).unwrap_or_default()
}

impl Auth {
    /// Dev mode without a secret; JWT mode with one. REST is open without an admin key.
    pub fn new(jwt_secret: Option<&str>, admin_key: Option<&str>) -> Self {
        Auth {
            jwt: jwt_secret.map(|s| {
                (
                    EncodingKey::from_secret(s.as_bytes()),
                    DecodingKey::from_secret(s.as_bytes()),
                )
            }),
            admin_key: admin_key.map(str::to_string),
        }
    }

    /// Whether REST needs the admin key.
    pub fn has_admin_key(&self) -> bool {
        self.admin_key.is_some()
    }

    /// Whether identities are trusted from `?identity=` (no JWT secret).
    pub fn dev_mode(&self) -> bool {
        self.jwt.is_none()
    }

    /// The identity of a WebSocket upgrade, or why it is refused.
    pub fn ws_identity(&self, req: &RequestHead, limits: &Limits) -> Result<Identity> {
        match &self.jwt {
            None => {
                let raw = query_param(req, "identity").ok_or_else(|| {
                    Error::Unauthorized("identity is required (?identity=NAME in dev mode)".into())
                })?;
                validate::identity(&raw, limits)
            }
            Some((_, key)) => {
                let token = query_param(req, "token")
                    .or_else(|| bearer(req).map(str::to_string))
                    .ok_or_else(|| {
                        Error::Unauthorized(
                            "a token is required (?token= or Authorization: Bearer)".into(),
                        )
                    })?;
                let sub = self.verify(key, &token)?;
                validate::identity(&sub, limits).map_err(|_| {
                    Error::Unauthorized("the token's sub is not a valid identity".into())
                })
            }
        }
    }

    fn verify(&self, key: &DecodingKey, token: &str) -> Result<String> {
        let mut v = Validation::new(Algorithm::HS256);
        v.leeway = EXP_LEEWAY_S;
        v.set_required_spec_claims(&["exp", "sub"]);
        let claims = decode::<Claims>(token, key, &v)
            .map_err(|e| Error::Unauthorized(format!("invalid token: {e}")))?
            .claims;
        // Checked here rather than by the validation, which would give `nbf`
        // the same leeway as `exp`: a token is not valid before its time.
        if claims.nbf.is_some_and(|nbf| nbf > now_ms() / 1000) {
            return Err(Error::Unauthorized(
                "invalid token: not valid yet (nbf)".into(),
            ));
        }
        Ok(claims.sub)
    }

    /// Mints a token for `identity` valid for `ttl_s` seconds.
    pub fn mint(&self, identity: &str, ttl_s: u64, limits: &Limits) -> Result<String> {
        let Some((key, _)) = &self.jwt else {
            return Err(Error::bad(
                "the server has no JWT secret (start it with --jwt-secret)",
            ));
        };
        validate::identity(identity, limits)?;
        if ttl_s == 0 || ttl_s > MAX_TTL_S {
            return Err(Error::bad(format!("ttl_s must be from 1 to {MAX_TTL_S}")));
        }
        let iat = now_ms() / 1000;
        let claims = Claims {
            sub: identity.to_string(),
            exp: iat + ttl_s,
            iat: Some(iat),
            nbf: None,
        };
        encode(&Header::new(Algorithm::HS256), &claims, key)
            .map_err(|e| Error::Internal(e.to_string()))
    }

    /// Who a REST request acts for: the admin key first (when set), then
    /// `X-Identity` (a user) or nothing (the service).
    pub fn rest_caller(&self, req: &HttpRequest, limits: &Limits) -> Result<Caller> {
        if let Some(key) = &self.admin_key {
            match bearer(req.head()) {
                Some(given) if constant_time_eq(given.as_bytes(), key.as_bytes()) => {}
                Some(_) => return Err(Error::Unauthorized("wrong admin key".into())),
                None => {
                    return Err(Error::Unauthorized(
                        "REST needs Authorization: Bearer <admin key>".into(),
                    ))
                }
            }
        }
        match req.headers().get("x-identity") {
            None => Ok(Caller::Service),
            Some(v) => {
                let s = v
                    .to_str()
                    .map_err(|_| Error::bad("X-Identity must be text"))?;
                Ok(Caller::User(validate::identity(s, limits)?))
            }
        }
    }
}

/// Compares secrets without leaking where they differ through timing.
fn constant_time_eq(a: &[u8], b: &[u8]) -> bool {
    a.len() == b.len() && a.iter().zip(b).fold(0u8, |acc, (x, y)| acc | (x ^ y)) == 0
}

#[cfg(test)]
mod tests {
    use super::*;
    use actix_web::test::TestRequest;

    #[test]
    fn tokens_round_trip_and_bad_ones_are_refused() {
        let limits = Limits::default();
        let auth = Auth::new(Some("s3cret"), None);
        let t = auth.mint("alice", 60, &limits).unwrap();
        let req = TestRequest::get()
            .uri(&format!("/v1/ws?token={t}"))
            .to_http_request();
        assert_eq!(
            auth.ws_identity(req.head(), &limits).unwrap().as_str(),
            "alice"
        );
        let req = TestRequest::get()
            .insert_header(("Authorization", format!("Bearer {t}")))
            .to_http_request();
        assert_eq!(
            auth.ws_identity(req.head(), &limits).unwrap().as_str(),
            "alice"
        );

        let other = Auth::new(Some("other"), None)
            .mint("alice", 60, &limits)
            .unwrap();
        let req = TestRequest::get()
            .uri(&format!("/v1/ws?token={other}"))
            .to_http_request();
        assert!(matches!(
            auth.ws_identity(req.head(), &limits),
            Err(Error::Unauthorized(_))
        ));

        // alg: none, unsigned.
        use base64::engine::general_purpose::URL_SAFE_NO_PAD;
        use base64::Engine as _;
        let none = format!(
            "{}.{}.",
            URL_SAFE_NO_PAD.encode(br#"{"alg":"none","typ":"JWT"}"#),
            URL_SAFE_NO_PAD.encode(format!(
                r#"{{"sub":"alice","exp":{}}}"#,
                now_ms() / 1000 + 60
            ))
        );
        let req = TestRequest::get()
            .uri(&format!("/v1/ws?token={none}"))
            .to_http_request();
        assert!(matches!(
            auth.ws_identity(req.head(), &limits),
            Err(Error::Unauthorized(_))
        ));

        let expired = encode(
            &Header::new(Algorithm::HS256),
            &Claims {
                sub: "alice".into(),
                exp: now_ms() / 1000 - 60,
                iat: None,
                nbf: None,
            },
            &EncodingKey::from_secret(b"s3cret"),
        )
        .unwrap();
        let req = TestRequest::get()
            .uri(&format!("/v1/ws?token={expired}"))
            .to_http_request();
        assert!(matches!(
            auth.ws_identity(req.head(), &limits),
            Err(Error::Unauthorized(_))
        ));
        assert!(Auth::new(None, None).mint("alice", 60, &limits).is_err());
    }

    #[test]
    fn dev_mode_identities() {
        let limits = Limits::default();
        let auth = Auth::new(None, None);
        let req = TestRequest::get()
            .uri("/v1/ws?identity=bob%20smith")
            .to_http_request();
        assert_eq!(
            auth.ws_identity(req.head(), &limits).unwrap().as_str(),
            "bob smith"
        );
        let req = TestRequest::get().uri("/v1/ws").to_http_request();
        assert!(matches!(
            auth.ws_identity(req.head(), &limits),
            Err(Error::Unauthorized(_))
        ));
        let req = TestRequest::get().uri("/v1/ws?identity=").to_http_request();
        assert!(matches!(
            auth.ws_identity(req.head(), &limits),
            Err(Error::BadRequest(_))
        ));
    }

    #[test]
    fn admin_key_guards_rest() {
        let limits = Limits::default();
        let auth = Auth::new(None, Some("k"));
        let req = TestRequest::get().to_http_request();
        assert!(auth.rest_caller(&req, &limits).is_err());
        let req = TestRequest::get()
            .insert_header(("Authorization", "Bearer k"))
            .insert_header(("X-Identity", "al"))
            .to_http_request();
        assert_eq!(
            auth.rest_caller(&req, &limits).unwrap(),
            Caller::User(Identity::parse("al", 256).unwrap())
        );
    }
}
