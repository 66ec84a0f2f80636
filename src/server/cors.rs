//! Cross-origin access, so that a page served from another origin can import
//! `/client.js` and call the REST API it uses (`--cors-origin`).
//!
//! In dev mode (no `--jwt-secret`) any origin may, unless origins are listed:
//! the server trusts `?identity=` anyway. With a JWT secret only the listed
//! origins may (none by default). WebSockets are not subject to CORS.

use actix_cors::Cors;
use actix_web::http::header;

/// Checks an origin as given on the command line: `*`, or
/// `scheme://host[:port]` with no path; spaces around it (a list written
/// `a, b`) dropped.
pub fn check_origin(o: &str) -> Result<String, String> {
    let o = o.trim();
    if o == "*" {
        return Ok(o.to_string());
    }
    let rest = o
        .strip_prefix("http://")
        .or_else(|| o.strip_prefix("https://"))
        .ok_or_else(|| format!("{o:?} is not an origin: it starts with http:// or https://"))?;
    if rest.is_empty() || rest.contains(['/', '?', '#', ' ']) {
        return Err(format!(
            "{o:?} is not an origin: scheme://host[:port], no path (e.g. http://localhost:5173)"
        ));
    }
    Ok(o.to_string())
}

/// The CORS policy for the listed origins, in dev mode or not.
pub(crate) fn policy(origins: &[String], dev_mode: bool) -> Cors {
    let base = Cors::default()
        .allowed_methods(["GET", "POST", "PATCH", "PUT", "DELETE"])
        .allowed_headers([
            header::CONTENT_TYPE,
            header::AUTHORIZATION,
            header::HeaderName::from_static("x-identity"),
        ])
        .max_age(3600);
    let any = origins.iter().any(|o| o == "*") || (dev_mode && origins.is_empty());
    if any {
        return base.allow_any_origin().send_wildcard();
    }
    origins
        .iter()
        .filter_map(|o| check_origin(o).ok())
        .fold(base, |c, o| c.allowed_origin(&o))
}
