//! The web dashboard (`wharf daemon --ui ADDR`): static assets embedded in
//! the binary (`ui/` at the crate's root: plain ES modules, no build step,
//! xterm.js vendored from npm by `scripts/ui-vendor.sh`), the Engine API
//! under `/api` (the same router as the socket's: nothing the UI does
//! bypasses the API's checks), a WebSocket for exec terminals (`ws.rs`, a
//! client of that same router), and Compose verbs (`compose.rs`, the
//! `wharf` binary run against the daemon's own socket).
//!
//! Never open by accident: a loopback address serves without a token, any
//! other only with one (`--ui-token`). The token is never a cookie (cookies
//! are not kept apart by port: every container's published port on the
//! host would get it): the page keeps it in `sessionStorage` and sends it
//! as `Authorization: Bearer`; a terminal's WebSocket, which cannot carry
//! headers, presents a one-time ticket (`POST /ui/ticket`, 30 s). The page
//! itself (`/`, `/assets/`) is public code and served without the token.
//! Against other sites in the same browser: every request's `Host` must
//! be the dashboard's own (no DNS rebinding), `/api` and `/ui` requests
//! must carry `X-Wharf-UI` (which a cross-site page cannot send without a
//! preflight this server never grants) and a same-origin `Origin` when
//! they have one, WebSockets a same-origin `Origin` always; a strict CSP.

mod assets;
mod compose;
mod ws;

use std::net::SocketAddr;
use std::sync::Arc;

use hyper::body::Incoming;
use hyper::header::HeaderValue;
use hyper::{Method, Request, Response, StatusCode};

use crate::body::{full, Body};
use crate::error::ApiError;
use crate::State;

/// `--ui`: where the dashboard listens, and its token.
#[derive(Debug, Clone)]
pub struct UiConfig {
    pub addr: SocketAddr,
    /// Required for any address but loopback.
    pub token: Option<String>,
}

impl UiConfig {
    /// Refuses what would open the dashboard by accident.
    pub fn check(&self) -> Result<(), String> {
        if !self.addr.ip().is_loopback() && self.token.is_none() {
            return Err(format!(
                "--ui {}: a non-loopback address needs --ui-token (the dashboard can do everything the API can)",
                self.addr
            ));
        }
        let token_char = |c: char| c.is_ascii_alphanumeric() || "._~-".contains(c);
        if self.token.as_deref().is_some_and(|t| t.len() < 16 || !t.chars().all(token_char)) {
            return Err("--ui-token: at least 16 characters of [A-Za-z0-9._~-]".into());
        }
        Ok(())
    }
}

/// How long a terminal's ticket is good for.
const TICKET_TTL: std::time::Duration = std::time::Duration::from_secs(30);

/// The dashboard's state: its config and the terminal tickets handed out.
pub struct Ui {
    config: UiConfig,
    tickets: std::sync::Mutex<std::collections::HashMap<String, std::time::Instant>>,
}

impl Ui {
    fn ticket(&self) -> String {
        let t = wharf_common::ids::new_id();
        let mut all = self.tickets.lock().unwrap_or_else(|p| p.into_inner());
        all.retain(|_, at| at.elapsed() < TICKET_TTL);
        all.insert(t.clone(), std::time::Instant::now());
        t
    }

    /// Takes a ticket: good once, within its time.
    fn redeem(&self, t: &str) -> bool {
        let mut all = self.tickets.lock().unwrap_or_else(|p| p.into_inner());
        all.remove(t).is_some_and(|at| at.elapsed() < TICKET_TTL)
    }
}

/// A JSON answer (the API's shape, `{"message"}` for errors).
fn json(status: StatusCode, value: &serde_json::Value) -> Response<Body> {
    crate::routes::json(status, value).unwrap_or_else(|_| Response::new(full("")))
}

fn error(status: StatusCode, message: &str) -> Response<Body> {
    json(status, &serde_json::json!({ "message": message }))
}

/// Equal in time whatever the content (the token is a secret).
fn same_secret(a: &[u8], b: &[u8]) -> bool {
    a.len() == b.len() && a.iter().zip(b).fold(0u8, |acc, (x, y)| acc | (x ^ y)) == 0
}

fn header<'a>(req: &'a Request<Incoming>, name: &str) -> Option<&'a str> {
    req.headers().get(name).and_then(|v| v.to_str().ok())
}

/// The hosts the dashboard answers to: its address, and `localhost` for loopback.
fn host_allowed(ui: &UiConfig, host: Option<&str>) -> bool {
    let Some(host) = host else { return false };
    if ui.token.is_some() {
        // Behind a token any name may lead here (a proxy, a DNS name).
        return true;
    }
    // `name[:port]`, `[v6][:port]`; no port is 80.
    let (name, port) =
        match host.rsplit_once(':').filter(|(n, p)| !n.ends_with(':') && p.bytes().all(|b| b.is_ascii_digit())) {
            Some((n, p)) if !host.ends_with(']') => (n, p.parse::<u16>().ok()),
            _ => (host, Some(80)),
        };
    let ip = ui.addr.ip().to_string();
    let bracketed = format!("[{ip}]");
    port == Some(ui.addr.port())
        && (name.eq_ignore_ascii_case("localhost") || name == ip || (ui.addr.is_ipv6() && name == bracketed))
}

/// A request of the dashboard's own pages: `X-Wharf-UI`, and a same-origin `Origin` if any.
fn from_our_pages(req: &Request<Incoming>) -> bool {
    header(req, "X-Wharf-UI").is_some() && origin_ok(req, false)
}

/// `Origin` (when the browser sent one) is this dashboard's.
fn origin_ok(req: &Request<Incoming>, required: bool) -> bool {
    match (header(req, "Origin"), header(req, "Host")) {
        (Some(o), Some(h)) => o == format!("http://{h}") || o == format!("https://{h}"),
        (None, _) => !required,
        _ => false,
    }
}

fn authorized(ui: &UiConfig, req: &Request<Incoming>) -> bool {
    let Some(token) = &ui.token else { return true };
    header(req, "Authorization")
        .and_then(|a| a.strip_prefix("Bearer "))
        .is_some_and(|t| same_secret(t.as_bytes(), token.as_bytes()))
}

/// One request to the dashboard's listener.
pub async fn handle(state: Arc<State>, ui: Arc<Ui>, mut req: Request<Incoming>) -> Response<Body> {
    if !host_allowed(&ui.config, header(&req, "Host")) {
        return error(StatusCode::MISDIRECTED_REQUEST, "this dashboard does not answer to that host name");
    }
    let path = req.uri().path().to_string();
    let page = path == "/" || path == "/index.html" || path.starts_with("/assets/");
    let terminal = path.starts_with("/ws/exec/");
    // The page is public code; the terminal proves itself with its ticket.
    if !page && !terminal && !authorized(&ui.config, &req) {
        return error(StatusCode::UNAUTHORIZED, "the dashboard's token is needed (Authorization: Bearer)");
    }
    let mut resp = if let Some(rest) = path.strip_prefix("/api/") {
        if !from_our_pages(&req) {
            return error(StatusCode::FORBIDDEN, "API requests come from the dashboard's own pages (X-Wharf-UI)");
        }
        if req.headers().contains_key("Upgrade") {
            return error(StatusCode::BAD_REQUEST, "no upgrades through /api: terminals use /ws/exec");
        }
        let uri = match req.uri().query() {
            Some(q) => format!("/{rest}?{q}"),
            None => format!("/{rest}"),
        };
        match uri.parse() {
            Ok(u) => *req.uri_mut() = u,
            Err(_) => return error(StatusCode::BAD_REQUEST, "bad path"),
        }
        match crate::routes::route(state, req).await {
            Ok(r) => r,
            Err(never) => match never {},
        }
    } else if let Some(id) = path.strip_prefix("/ws/exec/") {
        if !origin_ok(&req, true) {
            return error(StatusCode::FORBIDDEN, "a terminal opens from the dashboard's own pages (Origin)");
        }
        let q = crate::query::Query::parse(req.uri().query());
        if !q.get("ticket").is_some_and(|t| ui.redeem(t)) {
            return error(StatusCode::UNAUTHORIZED, "a terminal needs a ticket (POST /ui/ticket), good once for 30 s");
        }
        ws::exec(state, req, id.to_string()).await.unwrap_or_else(|e| error(e.status, &e.message))
    } else if path.starts_with("/ui/") {
        if !from_our_pages(&req) {
            return error(StatusCode::FORBIDDEN, "requests come from the dashboard's own pages (X-Wharf-UI)");
        }
        if path == "/ui/ticket" && req.method() == Method::POST {
            json(StatusCode::OK, &serde_json::json!({ "ticket": ui.ticket() }))
        } else {
            compose::handle(state, req).await.unwrap_or_else(|e: ApiError| error(e.status, &e.message))
        }
    } else {
        assets::serve(req.method(), &path)
            .unwrap_or_else(|| error(StatusCode::NOT_FOUND, &format!("page not found: {path}")))
    };
    let h = resp.headers_mut();
    h.insert("X-Content-Type-Options", HeaderValue::from_static("nosniff"));
    h.insert("Referrer-Policy", HeaderValue::from_static("no-referrer"));
    h.insert(
        "Content-Security-Policy",
        HeaderValue::from_static(
            // xterm.js writes its theme into a <style> element: inline styles, no inline scripts.
            "default-src 'self'; style-src 'self' 'unsafe-inline'; img-src 'self' data:; frame-ancestors 'none'; base-uri 'none'",
        ),
    );
    resp
}

/// Binds `ui.addr` (an error if it cannot: the daemon does not start
/// without the dashboard it was asked for), then serves it on a task.
pub async fn start(state: Arc<State>, ui: UiConfig) -> std::io::Result<()> {
    ui.check().map_err(std::io::Error::other)?;
    let listener = tokio::net::TcpListener::bind(ui.addr).await?;
    tracing::info!("dashboard on http://{}", listener.local_addr()?);
    tokio::spawn(accept(state, Arc::new(Ui { config: ui, tickets: Default::default() }), listener));
    Ok(())
}

async fn accept(state: Arc<State>, ui: Arc<Ui>, listener: tokio::net::TcpListener) {
    loop {
        let stream = match listener.accept().await {
            Ok((s, _)) => s,
            Err(e) => {
                // Out of descriptors, say: a moment for some to close.
                tracing::warn!("dashboard accept: {e}");
                tokio::time::sleep(std::time::Duration::from_millis(100)).await;
                continue;
            }
        };
        let (state, ui) = (state.clone(), ui.clone());
        tokio::spawn(async move {
            let service = hyper::service::service_fn(move |req| {
                let (state, ui) = (state.clone(), ui.clone());
                async move { Ok::<_, std::convert::Infallible>(handle(state, ui, req).await) }
            });
            let io = hyper_util::rt::TokioIo::new(stream);
            if let Err(e) =
                hyper::server::conn::http1::Builder::new().serve_connection(io, service).with_upgrades().await
            {
                tracing::debug!("dashboard connection: {e}");
            }
        });
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn never_open_by_accident() {
        let ui =
            |addr: &str, token: Option<&str>| UiConfig { addr: addr.parse().unwrap(), token: token.map(Into::into) };
        assert!(ui("127.0.0.1:8080", None).check().is_ok());
        assert!(ui("[::1]:8080", None).check().is_ok());
        assert!(ui("0.0.0.0:8080", None).check().is_err());
        assert!(ui("10.1.2.3:8080", Some("short")).check().is_err());
        assert!(ui("10.1.2.3:8080", Some("0123456789abcdef;x")).check().is_err(), "a cookie or URL breaker");
        assert!(ui("0.0.0.0:8080", Some("0123456789abcdef")).check().is_ok());
        let lo = ui("127.0.0.1:8080", None);
        assert!(host_allowed(&lo, Some("127.0.0.1:8080")) && host_allowed(&lo, Some("LOCALHOST:8080")));
        assert!(!host_allowed(&lo, Some("evil.example:8080")) && !host_allowed(&lo, None), "DNS rebinding");
        assert!(!host_allowed(&lo, Some("127.0.0.1:8081")) && !host_allowed(&lo, Some("127.0.0.1")));
        assert!(host_allowed(&ui("127.0.0.1:80", None), Some("127.0.0.1")), "no port is 80");
        let v6 = ui("[::1]:8080", None);
        assert!(host_allowed(&v6, Some("[::1]:8080")) && !host_allowed(&v6, Some("[::2]:8080")));
        let t = Ui { config: lo.clone(), tickets: Default::default() };
        let ticket = t.ticket();
        assert!(t.redeem(&ticket) && !t.redeem(&ticket), "a ticket is good once");
        assert!(!t.redeem("made-up"));
        assert!(same_secret(b"abc", b"abc") && !same_secret(b"abc", b"abd") && !same_secret(b"abc", b"ab"));
    }
}
