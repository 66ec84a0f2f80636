//! WebSocket upgrades: authenticate, answer 101, and hand the socket over.
//!
//! actix-http passes every `Upgrade: websocket` request here with its
//! connection, before routing. Taking the socket out of the HTTP layer lets the
//! session run on the engine arbiter next to the conversations it follows, with
//! buffers of its own (none at all while idle); see [`super::ws`].

use actix_codec::Framed;
use actix_http::body::{BodySize, BoxBody, MessageBody};
use actix_http::header::{self, HeaderValue};
use actix_http::ws::HandshakeError;
use actix_http::{h1, ConnectionType, Request, StatusCode};
use actix_web::ResponseError;
use bytes::BytesMut;
use futures_util::SinkExt;
use tokio::net::TcpStream;

use super::auth::query_param;
use super::rest::ApiError;
use super::{ws, AppState};
use crate::error::Error;
use crate::protocol::Encoding;

/// Where WebSockets connect.
pub(crate) const WS_PATH: &str = "/v1/ws";

type Conn = Framed<TcpStream, h1::Codec>;

/// Upgrades one connection, or answers why not and closes it.
pub(crate) async fn upgrade(
    state: actix_web::web::Data<AppState>,
    req: Request,
    mut conn: Conn,
) -> Result<(), actix_web::Error> {
    let head = req.head();
    if head.uri.path() != WS_PATH {
        return refuse(conn, Error::not_found("no such route")).await;
    }
    let identity = match state.auth.ws_identity(head, &state.engine.config().limits) {
        Ok(identity) => identity,
        Err(e) => return refuse(conn, e).await,
    };
    // `?encoding=`: v1 JSON unless the client asks for compact frames.
    let encoding = match query_param(head, "encoding")
        .as_deref()
        .map(Encoding::parse)
    {
        None => Encoding::V1,
        Some(Some(e)) => e,
        Some(None) => {
            let e = Error::bad("encoding must be v1 or compact");
            return refuse(conn, e).await;
        }
    };
    let response = match actix_http::ws::handshake(head) {
        Ok(mut r) => r.finish().drop_body(),
        Err(HandshakeError::UnsupportedVersion) => {
            // RFC 6455 §4.4: 426, naming the version we speak.
            let mut refusal = error_response(Error::bad("unsupported WebSocket version (use 13)"));
            *refusal.status_mut() = StatusCode::UPGRADE_REQUIRED;
            let headers = refusal.headers_mut();
            headers.insert(header::UPGRADE, HeaderValue::from_static("websocket"));
            headers.insert(
                header::SEC_WEBSOCKET_VERSION,
                HeaderValue::from_static("13"),
            );
            return send_refusal(conn, refusal).await;
        }
        Err(e) => return refuse(conn, Error::bad(e.to_string())).await,
    };
    let session = match state
        .engine
        .connect_ready(identity, state.ws.heartbeat.as_millis() as u64)
        .await
    {
        Ok(session) => session,
        Err(e) => return refuse(conn, e).await,
    };
    // A failed send drops the session, which closes it.
    conn.send((response, BodySize::None).into()).await?;
    let parts = conn.into_parts();
    // A copy of the few bytes read past the request frees the HTTP layer's buffer.
    let leftover = BytesMut::from(&parts.read_buf[..]);
    let tcp = parts.io.into_std()?;
    ws::spawn(
        state.engine.session_place(session.identity()),
        tcp,
        leftover,
        session,
        encoding,
        state.ws.clone(),
        state.shutdown.clone(),
    );
    Ok(())
}

/// Answers an upgrade with the error response REST would give, then closes.
async fn refuse(conn: Conn, e: Error) -> Result<(), actix_web::Error> {
    send_refusal(conn, error_response(e)).await
}

fn error_response(e: Error) -> actix_http::Response<BoxBody> {
    ApiError(e).error_response().into()
}

async fn send_refusal(
    mut conn: Conn,
    mut response: actix_http::Response<BoxBody>,
) -> Result<(), actix_web::Error> {
    response
        .head_mut()
        .set_connection_type(ConnectionType::Close);
    let (head, body) = response.into_parts();
    let size = body.size();
    let bytes = actix_web::body::to_bytes(body).await.unwrap_or_default();
    conn.send((head, size).into()).await?;
    conn.send(h1::Message::Chunk(Some(bytes))).await?;
    conn.send(h1::Message::Chunk(None)).await?;
    Ok(())
}
