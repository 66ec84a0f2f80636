//! Every REST route, as the service and as a user (X-Identity).

use colloquy::testing::TestServer;
use serde_json::{json, Value};

use crate::util::*;

#[actix_rt::test]
async fn conversations_as_the_service_and_as_users() {
    let server = TestServer::start();
    let rest = Rest::new(&server);
    // The service creates: no creator, no admin, caller fields of a non-participant.
    let (s, c) = rest
        .post(
            "/v1/conversations",
            None,
            json!({"friendly_name": "svc", "participants": ["alice"]}),
        )
        .await;
    assert_eq!(s, 201);
    assert_eq!(
        (c["created_by"].clone(), c["status"].clone()),
        (Value::Null, json!("not_participating"))
    );
    let id = c["id"].as_str().unwrap();
    // A user creates: it is the admin.
    let (s, mine) = rest
        .post(
            "/v1/conversations",
            Some("bob"),
            json!({"unique_name": "bobs"}),
        )
        .await;
    assert_eq!(
        (s, mine["created_by"].as_str(), mine["status"].as_str()),
        (201, Some("bob"), Some("joined"))
    );

    let (s, all) = rest.get("/v1/conversations", None).await;
    assert_eq!((s, all["items"].as_array().unwrap().len()), (200, 2));
    let (_, alices) = rest.get("/v1/conversations?identity=alice", None).await;
    assert_eq!(alices["items"].as_array().unwrap().len(), 1);
    let (_, bobs) = rest.get("/v1/conversations?page_size=5", Some("bob")).await;
    assert_eq!(bobs["items"][0]["unique_name"], "bobs");
    assert_eq!(
        rest.get("/v1/conversations?page_size=500", None).await.0,
        400
    );

    assert_eq!(
        rest.get(&format!("/v1/conversations/{id}"), None).await.0,
        200
    );
    assert_eq!(
        rest.get("/v1/conversations/bobs", Some("alice")).await.1["status"],
        "not_participating"
    );
    let (s, u) = rest
        .patch(
            &format!("/v1/conversations/{id}"),
            Some("alice"),
            json!({"friendly_name": "renamed"}),
        )
        .await;
    assert_eq!((s, u["friendly_name"].as_str()), (200, Some("renamed")));
    assert_eq!(
        rest.patch(
            &format!("/v1/conversations/{id}"),
            Some("eve"),
            json!({"friendly_name": "x"})
        )
        .await
        .0,
        403
    );
    // Alice is a member, not an admin; the service may delete anything.
    assert_eq!(
        rest.delete(&format!("/v1/conversations/{id}"), Some("alice"))
            .await
            .0,
        403
    );
    let (s, body) = rest.delete(&format!("/v1/conversations/{id}"), None).await;
    assert_eq!((s, body), (204, Value::Null));
    let (s, e) = rest.get(&format!("/v1/conversations/{id}"), None).await;
    assert_eq!((s, e["error"]["code"].as_str()), (404, Some("not_found")));
}

#[actix_rt::test]
async fn participants_routes() {
    let server = TestServer::start();
    let rest = Rest::new(&server);
    let (_, c) = rest
        .post("/v1/conversations", Some("alice"), json!({}))
        .await;
    let base = format!(
        "/v1/conversations/{}/participants",
        c["id"].as_str().unwrap()
    );
    let (s, p) = rest
        .post(&base, None, json!({"identity": "bob", "role": "admin"}))
        .await;
    assert_eq!((s, p["role"].as_str()), (201, Some("admin")));
    assert_eq!(
        rest.post(&base, Some("carol"), json!({"identity": "dave"}))
            .await
            .0,
        403
    );
    assert_eq!(
        rest.post(&base, Some("alice"), json!({"identity": "bob"}))
            .await
            .0,
        409
    );
    let (s, nc) = rest
        .post(
            &base,
            Some("alice"),
            json!({"proxy_address": "+1", "address": "+2"}),
        )
        .await;
    assert_eq!((s, nc["kind"].as_str()), (201, Some("non_chat")));
    let (s, list) = rest.get(&format!("{base}?page_size=2"), Some("bob")).await;
    assert_eq!(
        (
            s,
            list["items"].as_array().unwrap().len(),
            list["has_next"].as_bool()
        ),
        (200, 2, Some(true))
    );
    let (_, more) = rest
        .get(
            &format!("{base}?cursor={}", list["next_cursor"].as_str().unwrap()),
            Some("bob"),
        )
        .await;
    assert_eq!(more["items"].as_array().unwrap().len(), 1);
    assert_eq!(
        rest.get(&format!("{base}/bob"), Some("alice")).await.1["identity"],
        "bob"
    );
    assert_eq!(rest.get(&format!("{base}/bob"), Some("eve")).await.0, 403);
    assert_eq!(rest.get(&format!("{base}/nobody"), None).await.0, 404);
    let (s, up) = rest
        .patch(
            &format!("{base}/bob"),
            Some("bob"),
            json!({"attributes": {"a": 1}}),
        )
        .await;
    assert_eq!((s, up["attributes"].clone()), (200, json!({"a": 1})));
    assert_eq!(
        rest.patch(
            &format!("{base}/alice"),
            Some("bob"),
            json!({"role": "member"})
        )
        .await
        .0,
        200
    );
    assert_eq!(
        rest.delete(
            &format!("{base}/{}", nc["id"].as_str().unwrap()),
            Some("alice")
        )
        .await
        .0,
        403
    );
    assert_eq!(
        rest.delete(
            &format!("{base}/{}", nc["id"].as_str().unwrap()),
            Some("bob")
        )
        .await
        .0,
        204
    );
    assert_eq!(
        rest.delete(&format!("{base}/alice"), Some("alice")).await.0,
        204
    );
}

#[actix_rt::test]
async fn messages_and_reactions_routes() {
    let server = TestServer::start();
    let rest = Rest::new(&server);
    let mut bob = Ws::connect(&server, "bob").await;
    let (_, c) = rest
        .post(
            "/v1/conversations",
            Some("alice"),
            json!({"participants": ["bob"]}),
        )
        .await;
    let id = c["id"].as_str().unwrap();
    bob.event("conversationAdded").await;
    let base = format!("/v1/conversations/{id}/messages");
    // The service must name the author.
    assert_eq!(rest.post(&base, None, json!({"body": "x"})).await.0, 400);
    let (s, m) = rest
        .post(
            &base,
            None,
            json!({"body": "from the service", "author": "system"}),
        )
        .await;
    assert_eq!(
        (s, m["author"].as_str(), m["index"].as_u64()),
        (201, Some("system"), Some(0))
    );
    assert_eq!(bob.event("messageAdded").await["data"]["id"], m["id"]);
    let (s, m2) = rest
        .post(
            &base,
            Some("alice"),
            json!({"body": "hi", "client_id": "c1"}),
        )
        .await;
    assert_eq!((s, m2["body"].as_str()), (201, Some("hi")));
    let (s, again) = rest
        .post(
            &base,
            Some("alice"),
            json!({"body": "hi", "client_id": "c1"}),
        )
        .await;
    assert_eq!((s, again["id"].clone()), (200, m2["id"].clone()));
    assert_eq!(
        rest.post(&base, Some("eve"), json!({"body": "x"})).await.0,
        403
    );
    assert_eq!(
        rest.post(&base, Some("alice"), json!({"body": "x".repeat(17 * 1024)}))
            .await
            .0,
        413
    );

    let (s, page) = rest
        .get(
            &format!("{base}?page_size=1&direction=forward"),
            Some("bob"),
        )
        .await;
    assert_eq!((s, page["items"][0]["index"].as_u64()), (200, Some(0)));
    assert_eq!(
        rest.get(&format!("{base}?page_size=0"), Some("bob"))
            .await
            .0,
        400
    );
    assert_eq!(
        rest.get(&format!("{base}/1"), Some("bob")).await.1["body"],
        "hi"
    );
    assert_eq!(
        rest.get(&format!("{base}/{}", m2["id"].as_str().unwrap()), None)
            .await
            .1["index"],
        1
    );
    assert_eq!(
        rest.patch(&format!("{base}/1"), Some("bob"), json!({"body": "no"}))
            .await
            .0,
        403
    );
    let (s, edited) = rest
        .patch(&format!("{base}/1"), Some("alice"), json!({"body": "hey"}))
        .await;
    assert_eq!((s, edited["edited"].as_bool()), (200, Some(true)));

    let (s, r) = rest
        .post(
            &format!("{base}/1/reactions"),
            Some("bob"),
            json!({"reaction": "🎉"}),
        )
        .await;
    assert_eq!(s, 201);
    let (s, r2) = rest
        .post(
            &format!("{base}/1/reactions"),
            Some("bob"),
            json!({"reaction": "🎉"}),
        )
        .await;
    assert_eq!((s, r2["id"].clone()), (200, r["id"].clone()));
    assert_eq!(
        rest.post(
            &format!("{base}/1/reactions"),
            None,
            json!({"reaction": "x"})
        )
        .await
        .0,
        400
    );
    assert_eq!(
        rest.post(
            &format!("{base}/1/reactions"),
            None,
            json!({"reaction": "x", "identity": "svc"})
        )
        .await
        .0,
        201
    );
    assert_eq!(
        rest.delete(
            &format!("/v1/reactions/{}", r["id"].as_str().unwrap()),
            Some("carol")
        )
        .await
        .0,
        403
    );
    assert_eq!(
        rest.delete(
            &format!("/v1/reactions/{}", r["id"].as_str().unwrap()),
            Some("bob")
        )
        .await
        .0,
        204
    );
    assert_eq!(
        rest.delete(
            &format!("/v1/reactions/{}", r["id"].as_str().unwrap()),
            Some("bob")
        )
        .await
        .0,
        404
    );
    assert_eq!(rest.delete(&format!("{base}/1"), Some("bob")).await.0, 403);
    assert_eq!(
        rest.delete(&format!("{base}/1"), Some("alice")).await.0,
        204
    );
    assert_eq!(rest.get(&format!("{base}/1"), None).await.0, 404);
}

#[actix_rt::test]
async fn users_feed_and_the_open_endpoints() {
    let server = TestServer::start();
    let rest = Rest::new(&server);
    let _alice = Ws::connect(&server, "alice").await;
    let (s, u) = rest.get("/v1/users/alice", None).await;
    assert_eq!((s, u["online"].as_bool()), (200, Some(true)));
    assert_eq!(rest.get("/v1/users/nobody", None).await.1["online"], false);
    let (_, c) = rest
        .post(
            "/v1/conversations",
            Some("alice"),
            json!({"participants": ["bob"]}),
        )
        .await;
    let id = c["id"].as_str().unwrap();
    rest.post(
        &format!("/v1/conversations/{id}/messages"),
        Some("bob"),
        json!({"body": "b"}),
    )
    .await;
    let (s, convs) = rest.get("/v1/users/alice/conversations", None).await;
    assert_eq!((s, convs["items"].as_array().unwrap().len()), (200, 1));
    assert_eq!(
        convs["items"][0]["status"], "not_participating",
        "asked by the service"
    );
    let (_, own) = rest
        .get("/v1/users/alice/conversations", Some("alice"))
        .await;
    assert_eq!(
        (
            own["items"][0]["status"].as_str(),
            own["items"][0]["unread_messages_count"].as_u64()
        ),
        (Some("joined"), Some(1))
    );
    assert_eq!(
        rest.get("/v1/users/alice/conversations", Some("bob"))
            .await
            .0,
        403
    );
    let (s, feed) = rest.get("/v1/messages?identity=alice&limit=10", None).await;
    assert_eq!((s, feed["items"].as_array().unwrap().len()), (200, 1));
    assert_eq!(
        rest.get("/v1/messages?limit=10", Some("bob")).await.1["items"][0]["body"],
        "b"
    );
    assert_eq!(rest.get("/v1/messages", None).await.0, 400);
    assert_eq!(
        rest.get("/healthz", None).await,
        (200, json!({"status": "ok"}))
    );
    let (s, metrics) = rest.get("/metrics", None).await;
    let text = metrics.as_str().unwrap_or_default().to_string();
    assert_eq!(s, 200);
    for name in [
        "colloquy_sessions_open 1",
        "colloquy_conversations 1",
        "colloquy_messages_stored 1",
        "colloquy_events_delivered_total",
        "colloquy_frames_dropped_total",
        "colloquy_sessions_closed_total{reason=\"slow_consumer\"}",
    ] {
        assert!(text.contains(name), "{name} missing from\n{text}");
    }
    assert_eq!(
        rest.get("/nope", None).await.1["error"]["code"],
        "not_found"
    );
}

#[actix_rt::test]
async fn bad_bodies_and_headers() {
    let server = TestServer::start();
    let rest = Rest::new(&server);
    let client = awc::Client::new();
    let url = format!("{}/v1/conversations", server.url());
    let mut res = client
        .post(&url)
        .insert_header(("content-type", "application/json"))
        .send_body("{nope")
        .await
        .unwrap();
    assert_eq!(res.status().as_u16(), 400);
    let body: Value = serde_json::from_slice(&res.body().await.unwrap()).unwrap();
    assert_eq!(body["error"]["code"], "bad_request");
    assert_eq!(
        client
            .post(&url)
            .send_body("[1]")
            .await
            .unwrap()
            .status()
            .as_u16(),
        400
    );
    let big = format!(r#"{{"attributes":"{}"}}"#, "x".repeat(300 * 1024));
    assert_eq!(
        client
            .post(&url)
            .send_body(big)
            .await
            .unwrap()
            .status()
            .as_u16(),
        413
    );
    assert_eq!(
        rest.post("/v1/conversations", Some(""), json!({})).await.0,
        400
    );
    assert_eq!(
        rest.post("/v1/conversations", None, json!({"friendly_name": 5}))
            .await
            .0,
        400
    );
    assert_eq!(
        rest.post(
            "/v1/conversations",
            None,
            json!({"attributes": {"a": "x".repeat(17 * 1024)}})
        )
        .await
        .0,
        413
    );
}

#[actix_rt::test]
async fn openapi_describes_every_route() {
    let server = TestServer::builder().jwt_secret("s").admin_key("k").start();
    let (status, doc) = Rest::new(&server).get("/openapi.json", None).await;
    assert_eq!(status, 200);
    let routes = [
        ("/v1/conversations", "post"),
        ("/v1/conversations", "get"),
        ("/v1/conversations/{c}", "get"),
        ("/v1/conversations/{c}", "patch"),
        ("/v1/conversations/{c}", "delete"),
        ("/v1/conversations/{c}/participants", "get"),
        ("/v1/conversations/{c}/participants", "post"),
        ("/v1/conversations/{c}/participants/{p}", "get"),
        ("/v1/conversations/{c}/participants/{p}", "patch"),
        ("/v1/conversations/{c}/participants/{p}", "delete"),
        ("/v1/conversations/{c}/messages", "get"),
        ("/v1/conversations/{c}/messages", "post"),
        ("/v1/conversations/{c}/messages/{m}", "get"),
        ("/v1/conversations/{c}/messages/{m}", "patch"),
        ("/v1/conversations/{c}/messages/{m}", "delete"),
        ("/v1/conversations/{c}/messages/{m}/reactions", "post"),
        ("/v1/reactions/{id}", "delete"),
        ("/v1/users/{identity}", "get"),
        ("/v1/users/{identity}/conversations", "get"),
        ("/v1/messages", "get"),
        ("/v1/tokens", "post"),
        ("/healthz", "get"),
        ("/metrics", "get"),
    ];
    for (path, method) in routes {
        assert!(
            doc["paths"][path][method].is_object(),
            "{method} {path} is not described"
        );
    }
    for schema in [
        "Conversation",
        "Participant",
        "Message",
        "User",
        "Reaction",
        "Media",
        "AddNonChat",
        "ErrorBody",
    ] {
        assert!(
            doc["components"]["schemas"][schema].is_object(),
            "schema {schema} missing"
        );
    }
}

/// Every `$ref` in `v`, as `#/components/schemas/NAME` names.
fn refs(v: &Value, out: &mut Vec<String>) {
    match v {
        Value::Object(m) => {
            if let Some(Value::String(r)) = m.get("$ref") {
                out.push(r.trim_start_matches("#/components/schemas/").to_string());
            }
            m.values().for_each(|v| refs(v, out));
        }
        Value::Array(a) => a.iter().for_each(|v| refs(v, out)),
        _ => {}
    }
}

#[actix_rt::test]
async fn openapi_is_exact_for_this_server() {
    let server = TestServer::builder().admin_key("k").start();
    let (_, doc) = Rest::new(&server).get("/openapi.json", None).await;
    let mut named = Vec::new();
    refs(&doc, &mut named);
    for name in named {
        assert!(
            doc["components"]["schemas"][&name].is_object(),
            "$ref to a missing schema {name}"
        );
    }
    assert_eq!(
        doc["components"]["securitySchemes"]["admin_key"]["scheme"],
        "bearer"
    );
    assert_eq!(doc["paths"]["/healthz"]["get"]["security"], json!([]));
    // Dev mode mints no tokens; the WebSocket upgrade is not an OpenAPI operation.
    assert!(doc["paths"]["/v1/tokens"].is_null() && doc["paths"]["/v1/ws"].is_null());
    let list = &doc["paths"]["/v1/conversations/{c}/participants"]["get"]["parameters"];
    let page_size = list
        .as_array()
        .unwrap()
        .iter()
        .find(|p| p["name"] == "page_size")
        .unwrap();
    assert_eq!(
        (
            page_size["schema"]["minimum"].as_u64(),
            page_size["schema"]["maximum"].as_u64()
        ),
        (Some(1), Some(1000))
    );
    let create = &doc["components"]["schemas"]["CreateConversation"]["properties"];
    assert_eq!(create["participants"]["items"]["maxLength"], 256);
    for status in ["4XX", "5XX"] {
        assert!(doc["paths"]["/v1/conversations"]["post"]["responses"][status].is_object());
    }

    // A served path asked with another method: 405, naming the methods.
    let admin = server.rest().admin_key(Some("k"));
    let res = admin
        .as_service()
        .call("PUT".parse().unwrap(), "/v1/conversations", None)
        .await
        .unwrap();
    assert_eq!(res.status, 405);
    assert_eq!(res.body["error"]["code"], "bad_request");
    let (status, _) = Rest::with_admin(&server, "k")
        .get("/v1/nowhere", None)
        .await;
    assert_eq!(status, 404);
}

#[actix_rt::test]
async fn web_pages_client_and_inspector() {
    let server = TestServer::builder().admin_key("k").start();
    let open = Rest::new(&server);
    for (path, needle) in [
        ("/", "<title>colloquy</title>"),
        ("/inspect", "colloquy inspector"),
        ("/client.js", "export async function connect"),
        ("/client.d.ts", "export class Client"),
    ] {
        let (status, body) = open.get(path, None).await;
        assert_eq!(status, 200, "{path}");
        assert!(
            body.as_str().is_some_and(|b| b.contains(needle)),
            "{path} lacks {needle}"
        );
    }
    // The inspector's data is guarded like REST.
    assert_eq!(open.get("/v1/inspect", None).await.0, 401);
    let admin = Rest::with_admin(&server, "k");
    let mut alice = Ws::connect(&server, "alice").await;
    let id = group(&mut alice, &["bob"]).await;
    alice
        .ok(json!({"op": "message.send", "conversation": id, "body": "hi"}))
        .await;
    let (status, snap) = admin.get("/v1/inspect", None).await;
    assert_eq!(status, 200);
    assert_eq!(snap["conversations"][0]["messages_count"], 1);
    let members = snap["conversations"][0]["members"].as_array().unwrap();
    assert!(members.contains(&json!({"identity": "alice", "sessions": 1})));
    assert!(snap["users"]
        .as_array()
        .unwrap()
        .iter()
        .any(|u| u["identity"] == "alice" && u["online"] == true));
    assert_eq!(snap["recent_events"][0]["event"], "messageAdded");
}
