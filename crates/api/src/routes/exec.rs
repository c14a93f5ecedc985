//! /containers/{id}/exec and /exec/{id}/…: Docker's exec wire shapes ⇄ the
//! engine's exec sessions (`wharf_engine::supervise`), relayed over a
//! hijacked connection.

use std::sync::Arc;

use hyper::body::Incoming;
use hyper::{Request, Response, StatusCode};
use hyper_util::rt::TokioIo;
use serde::Deserialize;
use serde_json::json;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use wharf_engine::exec::ExecConfig;
use wharf_engine::protocol::{self, Kind};

use super::{json, read_json, status, Reply};
use crate::error::ApiError;
use crate::State;

/// Docker's `ExecConfig` body.
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(rename_all = "PascalCase", default)]
struct ExecBody {
    attach_stdin: bool,
    attach_stdout: bool,
    attach_stderr: bool,
    detach_keys: String,
    tty: bool,
    cmd: Vec<String>,
    env: Option<Vec<String>>,
    working_dir: String,
    user: String,
    privileged: bool,
}

#[derive(Debug, Default, Deserialize)]
#[serde(rename_all = "PascalCase", default)]
struct StartBody {
    detach: bool,
    tty: bool,
}

pub async fn create(state: Arc<State>, req: Request<Incoming>, id: &str) -> Reply {
    let b: ExecBody = read_json(req).await?;
    crate::detach::parse(&b.detach_keys).map_err(|e| ApiError::bad_request(format!("invalid DetachKeys: {e}")))?;
    let config = ExecConfig {
        cmd: b.cmd,
        env: b.env.unwrap_or_default(),
        working_dir: b.working_dir,
        user: b.user,
        tty: b.tty,
        privileged: b.privileged,
        attach_stdin: b.attach_stdin,
        attach_stdout: b.attach_stdout,
        attach_stderr: b.attach_stderr,
        detach_keys: b.detach_keys,
    };
    let exec_id = state.sup.exec_create(id, config).await?;
    json(StatusCode::CREATED, &json!({ "Id": exec_id }))
}

pub async fn start(state: Arc<State>, req: Request<Incoming>, id: &str) -> Reply {
    // An unknown instance is a 404 before the body is read.
    state.sup.execs.get(id)?;
    let upgrade_wanted = req.headers().get("Upgrade").is_some();
    let (parts, body) = req.into_parts();
    let body: StartBody = read_json(Request::from_parts(parts.clone(), body)).await?;
    // As Docker: the stream is framed by the start request's Tty (the
    // process's terminal is the exec's own).
    let tty = body.tty;
    let upgrade =
        || hyper::upgrade::on(Request::from_parts(parts.clone(), http_body_util::Empty::<bytes::Bytes>::new()));
    let session = match state.sup.exec_start(id, body.detach).await {
        Ok(None) => return status(StatusCode::OK),
        Ok(Some(s)) => s,
        // An instance that is unknown or already started is the request's error.
        Err(err @ (wharf_engine::EngineError::NoSuchExec(_) | wharf_engine::EngineError::Conflict(_))) => {
            return Err(err.into())
        }
        Err(err) if body.detach => return Err(err.into()),
        Err(err) => {
            // As Docker: the client gets its stream, and the error in it (an
            // unknown user, an unreadable passwd); the exec exits 126.
            let up = upgrade();
            let msg = format!("{}\r\n", ApiError::from(err).message);
            tokio::spawn(async move {
                if let Ok(upgraded) = up.await {
                    let mut io = TokioIo::new(upgraded);
                    let bytes = if tty { msg.into_bytes() } else { protocol::encode(Kind::Stdout, msg.as_bytes()) };
                    let _ = io.write_all(&bytes).await;
                    let _ = io.shutdown().await;
                }
            });
            return Ok(raw_stream_response(upgrade_wanted));
        }
    };
    let keys = state.sup.execs.get(id).map(|e| e.config.detach_keys).unwrap_or_default();
    let keys = crate::detach::parse(&keys).unwrap_or_else(|_| crate::detach::DEFAULT.to_vec());
    let up = upgrade();
    tokio::spawn(async move {
        let Ok(upgraded) = up.await else { return };
        let (mut cr, mut cw) = tokio::io::split(TokioIo::new(upgraded));
        let mut session = session;
        let stdin = session.stdin.take();
        // Client → process stdin (raw bytes, as Docker sends them); ends
        // (true) when they hold the detach keys: the process keeps running.
        // On a detach the process's stdin is handed back, to be closed only
        // once the client's stream is: nothing the process says after it
        // reaches a client that has gone.
        let input = async move {
            let Some(mut stdin) = stdin else { return std::future::pending().await };
            let mut scanner = crate::detach::Scanner::new(keys);
            let mut buf = vec![0u8; 32 << 10];
            while let Ok(n) = cr.read(&mut buf).await {
                if n == 0 {
                    break;
                }
                let (pass, detached) = scanner.feed(&buf[..n]);
                if stdin.write_all(&pass).await.is_err() {
                    break;
                }
                if detached {
                    return stdin;
                }
            }
            drop(stdin);
            std::future::pending().await
        };
        let output = async {
            while let Some((kind, data)) = session.output.recv().await {
                let bytes = if tty { data } else { protocol::encode(kind, &data) };
                if cw.write_all(&bytes).await.is_err() {
                    break;
                }
            }
        };
        let held = tokio::select! {
            () = output => None,
            stdin = input => Some(stdin),
        };
        let _ = cw.shutdown().await;
        drop(held);
    });
    Ok(raw_stream_response(upgrade_wanted))
}

/// The response that hands the connection over to a raw stream (101 when the client asked to upgrade).
fn raw_stream_response(upgrade_wanted: bool) -> Response<crate::body::Body> {
    let mut r = Response::new(crate::body::empty());
    if upgrade_wanted {
        *r.status_mut() = StatusCode::SWITCHING_PROTOCOLS;
        let h = r.headers_mut();
        h.insert("Connection", "Upgrade".parse().expect("static header"));
        h.insert("Upgrade", "tcp".parse().expect("static header"));
    }
    r.headers_mut().insert("Content-Type", "application/vnd.docker.raw-stream".parse().expect("static header"));
    r
}

pub async fn inspect(state: Arc<State>, id: &str) -> Reply {
    let e = state.sup.execs.get(id)?;
    json(
        StatusCode::OK,
        &json!({
            "ID": id, "Running": e.running, "ExitCode": e.exit_code, "ContainerID": e.container, "Pid": e.pid(),
            "OpenStdin": e.config.attach_stdin, "OpenStdout": e.config.attach_stdout, "OpenStderr": e.config.attach_stderr, "CanRemove": false, "DetachKeys": e.config.detach_keys,
            "ProcessConfig": {"tty": e.config.tty, "entrypoint": e.config.cmd.first(), "arguments": e.config.cmd.iter().skip(1).collect::<Vec<_>>(),
                              "privileged": e.config.privileged, "user": e.config.user},
        }),
    )
}

/// Resizes an exec's terminal.
pub fn resize(state: &State, id: &str, q: &crate::query::Query) -> Reply {
    let (h, w) = (q.dimension("h")?, q.dimension("w")?);
    state.sup.exec_resize(id, h, w)?;
    status(StatusCode::OK)
}
