//! `/openapi.json`: the description utoipa collects from the route
//! declarations, made exact for this server.
//!
//! The macros know each field's type, not the rules the engine enforces on it
//! (lengths, ranges, no control characters, base64), nor which routes this
//! server's configuration serves or guards. [`document`] adds those, from the
//! same limits the engine checks, so that a client generated from the document
//! sends what the server accepts and nothing the server refuses looks valid.

use serde_json::{json, Map, Value};

use crate::config::Limits;

/// Characters the engine refuses in names and identities (Unicode `Cc`).
const NO_CONTROL: &str = "^[^\\u0000-\\u001F\\u007F-\\u009F]*$";

/// Standard base64, padded.
const BASE64: &str = "^(?:[A-Za-z0-9+/]{4})*(?:[A-Za-z0-9+/]{2}==|[A-Za-z0-9+/]{3}=)?$";

/// Paths served by the server but not part of the API (pages, the inspector's
/// data) or not describable in OpenAPI (the WebSocket upgrade).
const NOT_API: [&str; 7] = [
    "/",
    "/chat.js",
    "/client.js",
    "/client.d.ts",
    "/inspect",
    "/v1/inspect",
    "/v1/ws",
];

/// Routes open even when the server has an admin key.
const OPEN: [&str; 2] = ["/healthz", "/metrics"];

/// What of the server's configuration the document depends on.
pub(crate) struct Served<'a> {
    pub limits: &'a Limits,
    pub jwt: bool,
    pub admin_key: bool,
}

/// The OpenAPI document of this server, as JSON text.
pub(crate) fn document(api: utoipa::openapi::OpenApi, served: &Served) -> String {
    let mut doc = serde_json::to_value(api).unwrap_or_default();
    doc["info"] = json!({
        "title": "colloquy",
        "version": env!("CARGO_PKG_VERSION"),
        "description": DESCRIPTION,
    });
    if let Some(paths) = doc["paths"].as_object_mut() {
        paths.retain(|p, _| !NOT_API.contains(&p.as_str()));
        if !served.jwt {
            // Without a secret there is nothing to mint: the route only refuses.
            paths.remove("/v1/tokens");
        }
        for (path, item) in paths.iter_mut() {
            for op in item
                .as_object_mut()
                .into_iter()
                .flat_map(|m| m.values_mut())
            {
                operation(path, op, served);
            }
        }
    }
    optional_bodies(&mut doc);
    if served.admin_key {
        doc["components"]["securitySchemes"] = json!({
            "admin_key": {"type": "http", "scheme": "bearer",
                          "description": "The server's --admin-key."}
        });
        doc["security"] = json!([{"admin_key": []}]);
    }
    schemas(&mut doc["components"]["schemas"], served.limits);
    doc.to_string()
}

fn identity(limits: &Limits) -> Value {
    json!({"type": "string", "minLength": 1, "maxLength": limits.max_name_chars, "pattern": NO_CONTROL})
}

fn name(limits: &Limits, min: usize) -> Value {
    json!({"type": "string", "minLength": min, "maxLength": limits.max_name_chars, "pattern": NO_CONTROL})
}

fn range(min: u64, max: u64) -> Value {
    json!({"type": "integer", "minimum": min, "maximum": max})
}

/// One operation: exact parameters, every status it can answer, and who may call it.
fn operation(path: &str, op: &mut Value, served: &Served) {
    let limits = served.limits;
    let params = op.get_mut("parameters").and_then(Value::as_array_mut);
    for p in params.into_iter().flatten() {
        let schema = match p["name"].as_str().unwrap_or_default() {
            "page_size" if path.ends_with("/participants") => Some(range(1, 1000)),
            "page_size" | "limit" => Some(range(1, 100)),
            "anchor" | "since" | "until" => {
                Some(json!({"type": "integer", "minimum": 0, "maximum": u64::MAX}))
            }
            "identity" => {
                if path == "/v1/messages" {
                    // The service must say whose feed.
                    p["required"] = json!(true);
                }
                Some(identity(limits))
            }
            "cursor" => Some(json!({"type": "string", "minLength": 1})),
            _ => None,
        };
        if let Some(s) = schema {
            p["schema"] = s;
        }
    }
    if OPEN.contains(&path) {
        op["security"] = json!([]);
        return;
    }
    let error = json!({"description": "An error: its code and what went wrong",
        "content": {"application/json": {"schema": {"$ref": "#/components/schemas/ErrorBody"}}}});
    if let Some(responses) = op["responses"].as_object_mut() {
        responses.insert("4XX".into(), error.clone());
        responses.insert("5XX".into(), error);
        for (status, r) in responses.iter_mut() {
            if r.get("description").is_none() {
                r["description"] = json!(describe(status));
            }
        }
    }
}

/// A body whose schema requires no field may be left out (it reads as `{}`).
fn optional_bodies(doc: &mut Value) {
    let schemas = doc["components"]["schemas"].clone();
    let Some(paths) = doc["paths"].as_object_mut() else {
        return;
    };
    for op in paths
        .values_mut()
        .filter_map(Value::as_object_mut)
        .flat_map(|m| m.values_mut())
    {
        let Some(body) = op.get_mut("requestBody") else {
            continue;
        };
        let schema = &body["content"]["application/json"]["schema"];
        let name = schema["$ref"].as_str().and_then(|r| r.rsplit('/').next());
        let required = name
            .map(|n| &schemas[n]["required"])
            .and_then(Value::as_array)
            .is_some_and(|r| !r.is_empty());
        body["required"] = json!(required);
    }
}

fn describe(status: &str) -> &'static str {
    match status {
        "200" => "Done",
        "201" => "Created",
        "204" => "Done; no body",
        _ => "See the body",
    }
}

/// Sets `props[field]` (keeping its description) to `schema`, nullable when
/// the field was.
fn set(props: &mut Map<String, Value>, field: &str, schema: Value) {
    let Some(old) = props.get(field) else { return };
    let nullable = old["type"]
        .as_array()
        .is_some_and(|t| t.contains(&json!("null")))
        || old["oneOf"]
            .as_array()
            .is_some_and(|o| o.contains(&json!({"type": "null"})));
    let mut new = schema;
    if let Some(d) = old.get("description") {
        new["description"] = d.clone();
    }
    if nullable {
        new = json!({"oneOf": [new, {"type": "null"}]});
    }
    props.insert(field.to_string(), new);
}

/// The rules of each request body's fields.
fn schemas(schemas: &mut Value, limits: &Limits) {
    let flat = json!({"type": "object",
        "additionalProperties": {"type": ["string", "number", "boolean"]}});
    let flat_or_null = json!({"type": "object",
        "additionalProperties": {"type": ["string", "number", "boolean", "null"]}});
    let url = json!({"type": "string", "maxLength": 2048});
    // The limit is in bytes; JSON Schema counts characters. ASCII text, what a
    // generated client sends at the edges, has one byte per character.
    let body = json!({"type": "string", "maxLength": limits.max_body_bytes});
    let rules: Vec<(&str, &str, Value)> = vec![
        ("CreateConversation", "friendly_name", name(limits, 0)),
        ("CreateConversation", "unique_name", name(limits, 1)),
        ("CreateConversation", "avatar_url", url.clone()),
        ("CreateConversation", "metadata", flat.clone()),
        (
            "CreateConversation",
            "participants",
            json!({"type": "array", "items": identity(limits)}),
        ),
        ("UpdateConversation", "friendly_name", name(limits, 0)),
        ("UpdateConversation", "unique_name", name(limits, 1)),
        ("UpdateConversation", "avatar_url", url.clone()),
        ("UpdateConversation", "metadata", flat_or_null),
        ("AddParticipant", "identity", identity(limits)),
        ("AddNonChat", "proxy_address", name(limits, 1)),
        ("AddNonChat", "address", name(limits, 1)),
        ("SendMessage", "body", body.clone()),
        ("SendMessage", "metadata", flat),
        ("SendMessage", "author", identity(limits)),
        ("SendMessage", "client_id", name(limits, 0)),
        (
            "SendMessage",
            "media",
            json!({"type": "array", "maxItems": limits.max_media_items,
                   "items": {"$ref": "#/components/schemas/MediaIn"}}),
        ),
        // An edit may empty the body only of a message with media; the schema
        // describes the common case, a text message, which needs one character.
        (
            "EditMessage",
            "body",
            json!({"type": "string", "minLength": 1, "maxLength": limits.max_body_bytes}),
        ),
        ("MediaIn", "content_type", name(limits, 1)),
        ("MediaIn", "filename", name(limits, 0)),
        (
            "MediaIn",
            "data",
            json!({"type": "string", "pattern": BASE64,
                   "maxLength": limits.max_media_bytes.div_ceil(3) * 4}),
        ),
        (
            "ReactionBody",
            "reaction",
            json!({"type": "string", "minLength": 1, "maxLength": limits.max_reaction_chars}),
        ),
        ("ReactionBody", "identity", identity(limits)),
        ("TokenRequest", "identity", identity(limits)),
        ("TokenRequest", "ttl_s", range(1, 30 * 24 * 3600)),
        ("UpdateUser", "friendly_name", name(limits, 0)),
        ("UpdateUser", "avatar_url", url),
    ];
    for (schema, field, rule) in rules {
        let props = schemas
            .get_mut(schema)
            .and_then(|s| s.get_mut("properties"));
        if let Some(props) = props.and_then(Value::as_object_mut) {
            set(props, field, rule);
        }
    }
    // What the service must name, since REST without X-Identity acts as it.
    for (schema, field) in [("SendMessage", "author"), ("ReactionBody", "identity")] {
        let s = &mut schemas[schema];
        if let Some(p) = s["properties"].get_mut(field) {
            if let Some(non_null) = p["oneOf"].get(0).cloned() {
                *p = non_null;
            }
        }
        match s["required"].as_array_mut() {
            Some(r) => r.push(json!(field)),
            None => s["required"] = json!([field]),
        }
    }
    // `attributes` and `details` are any JSON at all, in every object.
    for schema in schemas
        .as_object_mut()
        .into_iter()
        .flat_map(|m| m.values_mut())
    {
        let Some(props) = schema.get_mut("properties").and_then(Value::as_object_mut) else {
            continue;
        };
        for field in ["attributes", "details"] {
            if let Some(p) = props.get_mut(field) {
                let description = p.get("description").cloned();
                *p = json!({});
                if let Some(d) = description {
                    p["description"] = d;
                }
            }
        }
    }
}

const DESCRIPTION: &str = "REST API of the colloquy dev server: the same engine, \
objects and error codes as its WebSocket (GET /v1/ws, an upgrade OpenAPI cannot \
describe; its ops and events are in docs/PROTOCOL.md). A request acts as the \
service (all rights; it names the user where one is needed, e.g. `author`) unless \
it carries `X-Identity: NAME`, when it acts as that user under the user's rules.";

/// Every path the server routes, with its methods: a known path asked with
/// another method is 405 (with `Allow`), not 404.
pub(crate) struct Routes(Vec<(actix_web::dev::ResourceDef, String)>);

impl Routes {
    pub fn of(api: &utoipa::openapi::OpenApi) -> Routes {
        let mut routes: Vec<_> = api
            .paths
            .paths
            .iter()
            .map(|(path, item)| {
                let methods: Vec<&str> = [
                    ("GET", item.get.is_some()),
                    ("POST", item.post.is_some()),
                    ("PUT", item.put.is_some()),
                    ("PATCH", item.patch.is_some()),
                    ("DELETE", item.delete.is_some()),
                ]
                .into_iter()
                .filter_map(|(m, on)| on.then_some(m))
                .collect();
                (
                    actix_web::dev::ResourceDef::new(path.as_str()),
                    methods.join(", "),
                )
            })
            .collect();
        routes.push((
            actix_web::dev::ResourceDef::new("/openapi.json"),
            "GET".into(),
        ));
        Routes(routes)
    }

    /// The methods `path` is served with, if it is served at all.
    pub fn allowed(&self, path: &str) -> Option<&str> {
        self.0
            .iter()
            .find(|(def, _)| def.is_match(path))
            .map(|(_, methods)| methods.as_str())
    }
}
