//! The router: one function from (method, path) to a handler; one file per
//! API resource.

mod attach;
mod build;
mod changes;
mod containers;
mod create;
mod distribution;
mod exec;
mod honoured;
mod image_list;
mod images;
mod inspect;
mod networks;
mod prune;
mod system;
mod update;
mod volumes;

use std::convert::Infallible;
use std::sync::Arc;

use bytes::Bytes;
use http_body_util::BodyExt;
use hyper::body::Incoming;
use hyper::header::{HeaderValue, CONTENT_TYPE};
use hyper::{Method, Request, Response, StatusCode};

use crate::body::{full, Body};
use crate::error::{ApiError, Result};
use crate::query::{strip_version, Query};
use crate::State;

pub type Reply = Result<Response<Body>>;

pub fn json<T: serde::Serialize>(status: StatusCode, value: &T) -> Reply {
    let data = serde_json::to_vec(value).map_err(|e| ApiError::internal(e.to_string()))?;
    let mut r = Response::new(full(data));
    *r.status_mut() = status;
    r.headers_mut().insert(CONTENT_TYPE, HeaderValue::from_static("application/json"));
    Ok(r)
}

pub fn status(code: StatusCode) -> Reply {
    let mut r = Response::new(crate::body::empty());
    *r.status_mut() = code;
    Ok(r)
}

/// Reads a JSON request body (empty body → default).
pub async fn read_json<T: serde::de::DeserializeOwned + Default>(req: Request<Incoming>) -> Result<T> {
    let data = read_body(req).await?;
    if data.iter().all(|b| b.is_ascii_whitespace()) {
        return Ok(T::default());
    }
    serde_json::from_slice(&data).map_err(|e| ApiError::bad_request(format!("invalid JSON body: {e}")))
}

/// A JSON request body, bounded ([`crate::body::MAX_JSON_BODY`]); tarballs are streamed ([`crate::body::reader`]).
pub async fn read_body(req: Request<Incoming>) -> Result<Bytes> {
    let limited = http_body_util::Limited::new(req.into_body(), crate::body::MAX_JSON_BODY);
    match limited.collect().await {
        Ok(c) => Ok(c.to_bytes()),
        Err(e) if e.downcast_ref::<http_body_util::LengthLimitError>().is_some() => Err(ApiError::new(
            StatusCode::PAYLOAD_TOO_LARGE,
            format!("request body larger than {} bytes", crate::body::MAX_JSON_BODY),
        )),
        Err(e) => Err(ApiError::bad_request(format!("read body: {e}"))),
    }
}

/// RFC 3339 → Unix seconds (0 if absent or unparsable), as the API reports times.
pub use wharf_common::time::unix_secs;

/// Runs blocking library work off the async threads.
pub async fn blocking<T: Send + 'static>(f: impl FnOnce() -> Result<T> + Send + 'static) -> Result<T> {
    tokio::task::spawn_blocking(f).await.map_err(|e| ApiError::internal(format!("worker failed: {e}")))?
}

pub async fn route(state: Arc<State>, req: Request<Incoming>) -> Result<Response<Body>, Infallible> {
    let method = req.method().clone();
    // Like Go's mux: handlers see the decoded path.
    let path = crate::query::decode_path(strip_version(req.uri().path()));
    let query = Query::parse(req.uri().query());
    tracing::debug!("{method} {}", req.uri());
    let version_error = crate::query::path_version(req.uri().path())
        .and_then(|v| crate::query::version_error(v, crate::MIN_API_VERSION, crate::API_VERSION));
    let result = match version_error {
        Some(message) => Err(ApiError::bad_request(message)),
        None => dispatch(state, req, &method, &path, &query).await,
    };
    let mut resp = match result {
        Ok(r) => r,
        Err(e) => {
            let mut r = json(e.status, &serde_json::json!({ "message": e.message }))
                .unwrap_or_else(|_| Response::new(full("")));
            *r.status_mut() = e.status;
            r
        }
    };
    let h = resp.headers_mut();
    h.insert("Api-Version", HeaderValue::from_static(crate::API_VERSION));
    h.insert("Ostype", HeaderValue::from_static("linux"));
    h.insert("Server", HeaderValue::from_static(concat!("Wharf/", env!("CARGO_PKG_VERSION"), " (linux)")));
    h.insert("Docker-Experimental", HeaderValue::from_static("false"));
    Ok(resp)
}

async fn dispatch(state: Arc<State>, req: Request<Incoming>, method: &Method, path: &str, q: &Query) -> Reply {
    let seg: Vec<&str> = path.trim_matches('/').split('/').collect();
    match (method, seg.as_slice()) {
        (&Method::GET | &Method::HEAD, ["_ping"]) => system::ping(method),
        (&Method::GET, ["version"]) => system::version(),
        (&Method::GET, ["info"]) => system::info(state).await,
        (&Method::GET, ["system", "df"]) => system::df(state).await,
        (&Method::GET, ["events"]) => system::events(state, q).await,
        (&Method::POST, ["auth"]) => images::auth(state, req).await,
        (&Method::POST, ["commit"]) => containers::commit(state, q).await,
        (&Method::POST, ["build"]) => build::build(state, req, q).await,
        (&Method::POST, ["build", "prune"]) => build::prune(state, q).await,
        (_, ["images", ..]) => images::dispatch(state, req, method, path, q).await,
        (&Method::POST, ["containers", id, "exec"]) => exec::create(state, req, id).await,
        (&Method::POST, ["exec", id, "start"]) => exec::start(state, req, id).await,
        (&Method::GET, ["exec", id, "json"]) => exec::inspect(state, id).await,
        (&Method::POST, ["exec", id, "resize"]) => exec::resize(&state, id, q),
        (_, ["containers", ..]) => containers::dispatch(state, req, method, &seg, q).await,
        (_, ["volumes", ..]) => volumes::dispatch(state, req, method, &seg, q).await,
        (_, ["networks", ..]) => networks::dispatch(state, req, method, &seg, q).await,
        (&Method::GET, ["wharf", "firewall"]) => networks::firewall(state).await,
        (_, ["swarm", ..])
        | (_, ["nodes", ..])
        | (_, ["services", ..])
        | (_, ["tasks", ..])
        | (_, ["secrets", ..])
        | (_, ["configs", ..]) => Err(ApiError::new(
            StatusCode::SERVICE_UNAVAILABLE,
            "This node is not a swarm manager. Wharf does not implement swarm mode.",
        )),
        (_, ["plugins", ..]) => Err(ApiError::not_implemented("plugins are not supported by Wharf")),
        (_, ["session"]) => Err(ApiError::not_implemented(
            "BuildKit sessions are not supported by Wharf: use the classic builder (DOCKER_BUILDKIT=0)",
        )),
        (&Method::GET, ["distribution", name @ .., "json"]) if !name.is_empty() => {
            distribution::inspect(state, req, &name.join("/")).await
        }
        _ => Err(ApiError::not_found(format!("page not found: {method} {path}"))),
    }
}
