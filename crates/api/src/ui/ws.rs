//! `GET /ws/exec/{id}?h=&w=` (WebSocket): an exec's TTY in the browser.
//! The server side is a plain client of the Engine API router over an
//! in-process pipe — `POST /exec/{id}/start` with `Upgrade: tcp`, then
//! `POST /exec/{id}/resize` — so the terminal goes through exactly the
//! checks any API client meets; binary WebSocket messages carry the bytes
//! both ways.

use std::sync::Arc;

use bytes::Bytes;
use futures_util::{SinkExt, StreamExt};
use http_body_util::{BodyExt, Full};
use hyper::body::Incoming;
use hyper::header::HeaderValue;
use hyper::{Request, Response, StatusCode};
use hyper_util::rt::TokioIo;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio_tungstenite::tungstenite::handshake::derive_accept_key;
use tokio_tungstenite::tungstenite::protocol::{CloseFrame, Message, Role};
use tokio_tungstenite::WebSocketStream;

use crate::body::Body;
use crate::error::ApiError;
use crate::State;

/// A connection to the API router in this process.
async fn internal(state: &Arc<State>) -> Result<hyper::client::conn::http1::SendRequest<Full<Bytes>>, ApiError> {
    let (client, server) = tokio::io::duplex(64 << 10);
    let st = state.clone();
    tokio::spawn(async move {
        let service = hyper::service::service_fn(move |r| crate::routes::route(st.clone(), r));
        let _ = hyper::server::conn::http1::Builder::new()
            .serve_connection(TokioIo::new(server), service)
            .with_upgrades()
            .await;
    });
    let (sender, conn) = hyper::client::conn::http1::handshake(TokioIo::new(client))
        .await
        .map_err(|e| ApiError::internal(format!("internal API connection: {e}")))?;
    tokio::spawn(async move {
        let _ = conn.with_upgrades().await;
    });
    Ok(sender)
}

fn post(path: &str, body: &serde_json::Value, upgrade: bool) -> Request<Full<Bytes>> {
    let mut b = Request::post(path).header("Host", "wharf").header("Content-Type", "application/json");
    if upgrade {
        b = b.header("Connection", "Upgrade").header("Upgrade", "tcp");
    }
    b.body(Full::new(Bytes::from(body.to_string()))).expect("static request")
}

/// An API error answer as an [`ApiError`] (its status and message).
async fn failed(resp: Response<Incoming>) -> ApiError {
    let status = resp.status();
    let body = resp.into_body().collect().await.map(|c| c.to_bytes()).unwrap_or_default();
    let message = serde_json::from_slice::<serde_json::Value>(&body)
        .ok()
        .and_then(|v| v["message"].as_str().map(str::to_string))
        .unwrap_or_else(|| String::from_utf8_lossy(&body).into_owned());
    ApiError::new(status, message)
}

/// The terminal's first size. Until the runtime has written the process's
/// pid the terminal is not there (409): asked again, as the docker CLI
/// does, for up to a second.
async fn resize(state: &Arc<State>, id: &str, h: u16, w: u16) -> Result<(), ApiError> {
    let mut last = None;
    for attempt in 0..20 {
        if attempt > 0 {
            tokio::time::sleep(std::time::Duration::from_millis(50)).await;
        }
        let mut api = internal(state).await?;
        let r = api
            .send_request(post(&format!("/exec/{id}/resize?h={h}&w={w}"), &serde_json::json!({}), false))
            .await
            .map_err(|e| ApiError::internal(format!("exec resize: {e}")))?;
        if r.status().is_success() {
            return Ok(());
        }
        let e = failed(r).await;
        if e.status != StatusCode::CONFLICT {
            return Err(e);
        }
        last = Some(e);
    }
    Err(last.expect("tried"))
}

pub async fn exec(state: Arc<State>, mut req: Request<Incoming>, id: String) -> Result<Response<Body>, ApiError> {
    let key = req
        .headers()
        .get("Sec-WebSocket-Key")
        .and_then(|k| k.to_str().ok())
        .filter(|_| {
            req.headers()
                .get("Upgrade")
                .and_then(|u| u.to_str().ok())
                .is_some_and(|u| u.eq_ignore_ascii_case("websocket"))
        })
        .ok_or_else(|| ApiError::bad_request("a WebSocket upgrade is expected"))?
        .to_string();
    // An exec id is hex: nothing that could add a path segment or a query to the internal request.
    if id.is_empty() || id.len() > 128 || !id.chars().all(|c| c.is_ascii_alphanumeric()) {
        return Err(ApiError::bad_request(format!("bad exec id {id:?}")));
    }
    let q = crate::query::Query::parse(req.uri().query());
    let size = match (q.get("h"), q.get("w")) {
        (Some(h), Some(w)) => Some((h.parse::<u16>().ok(), w.parse::<u16>().ok())),
        _ => None,
    };
    // Start the exec before answering 101: its refusal (no such exec, not running) is an HTTP error.
    let mut api = internal(&state).await?;
    let resp = api
        .send_request(post(&format!("/exec/{id}/start"), &serde_json::json!({"Detach": false, "Tty": true}), true))
        .await
        .map_err(|e| ApiError::internal(format!("exec start: {e}")))?;
    if resp.status() != StatusCode::SWITCHING_PROTOCOLS {
        return Err(failed(resp).await);
    }
    let stream = hyper::upgrade::on(resp).await.map_err(|e| ApiError::internal(format!("exec stream: {e}")))?;
    if let Some((Some(h), Some(w))) = size {
        // The session goes on at the default size; the page's next resize is asked (and said) again.
        if let Err(e) = resize(&state, &id, h, w).await {
            tracing::warn!(exec = %id, "the terminal's first size: {}", e.message);
        }
    }
    let upgrade = hyper::upgrade::on(&mut req);
    tokio::spawn(async move {
        let Ok(client) = upgrade.await else { return };
        let ws = WebSocketStream::from_raw_socket(TokioIo::new(client), Role::Server, None).await;
        pump(ws, TokioIo::new(stream)).await;
    });
    let mut r = Response::new(crate::body::empty());
    *r.status_mut() = StatusCode::SWITCHING_PROTOCOLS;
    let h = r.headers_mut();
    h.insert("Upgrade", HeaderValue::from_static("websocket"));
    h.insert("Connection", HeaderValue::from_static("Upgrade"));
    h.insert(
        "Sec-WebSocket-Accept",
        HeaderValue::from_str(&derive_accept_key(key.as_bytes())).map_err(|e| ApiError::internal(e.to_string()))?,
    );
    Ok(r)
}

/// Bytes both ways until either side ends.
async fn pump<S, T>(ws: WebSocketStream<S>, exec: T)
where
    S: tokio::io::AsyncRead + tokio::io::AsyncWrite + Unpin,
    T: tokio::io::AsyncRead + tokio::io::AsyncWrite + Unpin,
{
    let (mut ws_tx, mut ws_rx) = ws.split();
    let (mut ex_rx, mut ex_tx) = tokio::io::split(exec);
    let to_exec = async {
        while let Some(Ok(m)) = ws_rx.next().await {
            let data = match m {
                Message::Binary(b) => b.to_vec(),
                Message::Text(t) => t.as_bytes().to_vec(),
                Message::Close(_) => break,
                _ => continue,
            };
            if ex_tx.write_all(&data).await.is_err() {
                break;
            }
        }
        let _ = ex_tx.shutdown().await;
    };
    let to_ws = async {
        let mut buf = vec![0u8; 16 << 10];
        loop {
            match ex_rx.read(&mut buf).await {
                Ok(0) | Err(_) => break,
                Ok(n) => {
                    if ws_tx.send(Message::Binary(buf[..n].to_vec().into())).await.is_err() {
                        return;
                    }
                }
            }
        }
        let close = CloseFrame { code: 1000.into(), reason: "the process ended".into() };
        let _ = ws_tx.send(Message::Close(Some(close))).await;
    };
    // The process ending ends the session; the browser leaving ends the process's input.
    tokio::select! {
        _ = to_ws => {}
        _ = to_exec => {}
    }
}
