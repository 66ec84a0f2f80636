//! Credentials written in the `--nats` URLs, the way NATS clients take them:
//! `nats://user:password@host:port`, or `nats://token@host:port`.
//!
//! async-nats parses such URLs but sends nothing of their credentials (they
//! must go through its `ConnectOptions`), so a node given them would be
//! refused with no hint why. Here they are read, percent-decoded, and handed
//! to the client; and every URL a node prints has them masked.

use async_nats::ServerAddr;
use percent_encoding::percent_decode_str;

/// What the URLs say to authenticate with.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(super) enum Credentials {
    UserAndPassword(String, String),
    Token(String),
}

/// The one set of credentials the URLs carry (None when none does). The
/// client has one set for every server it fails over to, so URLs that carry
/// different ones are refused rather than one of them silently used.
pub(super) fn from_urls(addrs: &[ServerAddr]) -> Result<Option<Credentials>, String> {
    let mut found: Option<Credentials> = None;
    for addr in addrs.iter().filter(|a| a.has_user_pass()) {
        let decode = |s: &str| {
            percent_decode_str(s)
                .decode_utf8()
                .map(|d| d.into_owned())
                .map_err(|_| format!("{}: its credentials are not UTF-8", shown(addr)))
        };
        let user = decode(addr.username().unwrap_or_default())?;
        let these = match addr.password() {
            Some(password) => Credentials::UserAndPassword(user, decode(password)?),
            None => Credentials::Token(user),
        };
        match &found {
            Some(earlier) if *earlier != these => {
                let why = "the --nats URLs carry different credentials: a node has one set \
                           for every server";
                return Err(why.into());
            }
            _ => found = Some(these),
        }
    }
    Ok(found)
}

/// The `--nats` URLs as they may be printed, comma-separated: credentials
/// masked.
pub(super) fn shown_all(urls: &[String]) -> String {
    let one = |u: &String| {
        u.parse()
            .map_or_else(|_| "(not a NATS URL)".to_string(), |a| shown(&a))
    };
    urls.iter().map(one).collect::<Vec<_>>().join(",")
}

/// `addr` as it may be printed: credentials masked.
fn shown(addr: &ServerAddr) -> String {
    if addr.has_user_pass() {
        format!("{}://***@{}:{}", addr.scheme(), addr.host(), addr.port())
    } else {
        addr.as_url_str().trim_end_matches('/').to_string()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn addrs(urls: &[&str]) -> Vec<ServerAddr> {
        urls.iter()
            .map(|u| u.parse().expect("a NATS URL"))
            .collect()
    }

    #[test]
    fn a_user_and_password_are_read_and_percent_decoded() {
        let a = addrs(&["nats://app:p%40ss%3Aw%2Frd@10.0.0.1:4222"]);
        assert_eq!(
            from_urls(&a),
            Ok(Some(Credentials::UserAndPassword(
                "app".into(),
                "p@ss:w/rd".into()
            )))
        );
    }

    #[test]
    fn a_user_alone_is_a_token() {
        let a = addrs(&["nats://s3cr3t@10.0.0.1:4222"]);
        assert_eq!(from_urls(&a), Ok(Some(Credentials::Token("s3cr3t".into()))));
    }

    #[test]
    fn urls_without_credentials_carry_none_and_may_mix_with_one_set() {
        assert_eq!(from_urls(&addrs(&["nats://10.0.0.1:4222"])), Ok(None));
        let mixed = addrs(&["nats://10.0.0.1:4222", "nats://app:pw@10.0.0.2:4222"]);
        assert_eq!(
            from_urls(&mixed),
            Ok(Some(Credentials::UserAndPassword(
                "app".into(),
                "pw".into()
            )))
        );
    }

    #[test]
    fn different_credentials_are_refused() {
        let a = addrs(&[
            "nats://app:alpha-secret@10.0.0.1:4222",
            "nats://app:beta-secret@10.0.0.2:4222",
        ]);
        let e = from_urls(&a).expect_err("refused");
        assert!(e.contains("different credentials"), "{e}");
        assert!(!e.contains("secret"), "no secret in {e}");
    }

    #[test]
    fn a_printed_url_never_shows_credentials() {
        let a = addrs(&[
            "nats://app:secret@10.0.0.1:4222",
            "nats://tok@h:4223",
            "nats://h:4224",
        ]);
        let printed: Vec<String> = a.iter().map(shown).collect();
        assert_eq!(
            printed,
            [
                "nats://***@10.0.0.1:4222",
                "nats://***@h:4223",
                "nats://h:4224"
            ]
        );
    }
}
