//! The browser side, served by the dev server: the chat page (`/`, its script
//! `/chat.js`), the
//! inspector (`/inspect`, its data at `/v1/inspect` behind the admin key), and
//! the JavaScript client (`/client.js`, `/client.d.ts`). The files live in
//! `web/` and are embedded at build time: no bundler, no files to deploy.

use actix_web::{get, web, HttpRequest, HttpResponse};

use super::rest::ApiError;
use super::AppState;

const INDEX: &str = include_str!("../../web/index.html");
const INSPECT: &str = include_str!("../../web/inspect.html");
const CHAT_JS: &str = include_str!("../../web/chat.js");
const CLIENT_JS: &str = include_str!("../../web/client.js");
const CLIENT_DTS: &str = include_str!("../../web/client.d.ts");

fn file(content_type: &str, body: &'static str) -> HttpResponse {
    HttpResponse::Ok()
        .content_type(content_type)
        .insert_header(("Cache-Control", "no-cache"))
        .body(body)
}

#[utoipa::path(tag = "web", responses((status = 200, description = "The chat page")))]
#[get("/")]
async fn index() -> HttpResponse {
    file("text/html; charset=utf-8", INDEX)
}

#[utoipa::path(tag = "web", responses((status = 200, description = "The inspector page")))]
#[get("/inspect")]
async fn inspect_page() -> HttpResponse {
    file("text/html; charset=utf-8", INSPECT)
}

#[utoipa::path(tag = "web", responses((status = 200, description = "The chat page's script (ES module)")))]
#[get("/chat.js")]
async fn chat_js() -> HttpResponse {
    file("text/javascript; charset=utf-8", CHAT_JS)
}

#[utoipa::path(tag = "web", responses((status = 200, description = "The JavaScript client (ES module)")))]
#[get("/client.js")]
async fn client_js() -> HttpResponse {
    file("text/javascript; charset=utf-8", CLIENT_JS)
}

#[utoipa::path(tag = "web", responses((status = 200, description = "TypeScript declarations of the client")))]
#[get("/client.d.ts")]
async fn client_dts() -> HttpResponse {
    file("application/typescript; charset=utf-8", CLIENT_DTS)
}

/// The inspector's data: guarded like REST (the admin key when set).
#[utoipa::path(tag = "operations", responses((status = 200, description = "Engine snapshot: conversations, users, recent events, metrics")))]
#[get("/v1/inspect")]
async fn inspect_data(s: web::Data<AppState>, req: HttpRequest) -> Result<HttpResponse, ApiError> {
    s.auth.rest_caller(&req, &s.engine.config().limits)?;
    Ok(HttpResponse::Ok().json(s.engine.inspect().await))
}

/// Registers the web routes.
pub(crate) fn routes(cfg: &mut utoipa_actix_web::service_config::ServiceConfig) {
    cfg.service(index)
        .service(inspect_page)
        .service(chat_js)
        .service(client_js)
        .service(client_dts)
        .service(inspect_data);
}
