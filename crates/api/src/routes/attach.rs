//! `POST /containers/{id}/attach` (hijacked): the container's output
//! (`stdout`/`stderr` chosen, `logs` replayed first, `stream` live) and its
//! stdin, until it exits, the client goes away or the client's input holds
//! the detach keys (the container keeps running).

use std::sync::Arc;

use hyper::body::Incoming;
use hyper::{Request, Response, StatusCode};
use hyper_util::rt::TokioIo;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use wharf_engine::logs::{Entry, ReadOptions, Stream as LogStream};
use wharf_engine::protocol::{self, Kind};

use super::Reply;
use crate::detach::{self, Scanner};
use crate::error::ApiError;
use crate::query::Query;
use crate::State;

pub async fn attach(state: Arc<State>, req: Request<Incoming>, id: &str, q: &Query) -> Reply {
    let (want_stdin, stdout, stderr) = (q.flag("stdin"), q.flag("stdout"), q.flag("stderr"));
    let (logs, live) = (q.flag("logs"), q.flag("stream"));
    let keys = detach::parse(q.get("detachKeys").unwrap_or(""))
        .map_err(|e| ApiError::bad_request(format!("invalid detachKeys: {e}")))?;
    // Past output first (as Docker: the log up to now), then the live stream.
    let c0 = super::containers::get(&state, id).await?;
    let mut past = Vec::new();
    if logs && (stdout || stderr) && c0.log_path(state.engine.root()).is_some() {
        let (e, cid, tty) = (state.engine.clone(), c0.id.clone(), c0.opts.tty);
        past = super::blocking(move || {
            let mut out = Vec::new();
            let opts = ReadOptions { stdout, stderr, since: None, until: None, tail: None };
            let mut sink = |e: Entry| {
                let kind = if e.stream == LogStream::Stderr { Kind::Stderr } else { Kind::Stdout };
                out.extend(if tty { e.line } else { protocol::encode(kind, &e.line) });
                true
            };
            e.logs(&cid, &opts, false, &mut sink)?;
            Ok(out)
        })
        .await?;
    }
    let (c, monitor) = match live {
        true => {
            let (c, m) = state.sup.attach(id).await?;
            (c, Some(m))
        }
        false => (c0, None),
    };
    let upgrade = hyper::upgrade::on(req);
    let tty = c.opts.tty;
    tokio::spawn(async move {
        let Ok(upgraded) = upgrade.await else { return };
        let (mut cr, mut cw) = tokio::io::split(TokioIo::new(upgraded));
        if !past.is_empty() && cw.write_all(&past).await.is_err() {
            return;
        }
        let monitor = match monitor {
            Some(m) => m.await,
            None => None,
        };
        let Some(monitor) = monitor else {
            let _ = cw.shutdown().await;
            return;
        };
        let (mut mr, mut mw) = monitor.into_split();
        let output = async move {
            while let Ok(Some(f)) = protocol::read_frame_async(&mut mr).await {
                let wanted = match f.kind {
                    Kind::Exit => break,
                    Kind::Stdout => stdout,
                    Kind::Stderr => stderr,
                    _ => true,
                };
                if !wanted {
                    continue;
                }
                let bytes = if tty { f.payload } else { protocol::encode(f.kind, &f.payload) };
                if cw.write_all(&bytes).await.is_err() {
                    break;
                }
            }
            let _ = cw.shutdown().await;
        };
        // Ends (true) when the client's input holds the detach keys.
        let input = async move {
            let mut scanner = Scanner::new(keys);
            let mut buf = vec![0u8; 32 << 10];
            loop {
                match cr.read(&mut buf).await {
                    Ok(0) | Err(_) => break,
                    Ok(n) if want_stdin => {
                        let (pass, detached) = scanner.feed(&buf[..n]);
                        if !pass.is_empty() && mw.write_all(&protocol::encode(Kind::Stdin, &pass)).await.is_err() {
                            break;
                        }
                        if detached {
                            return true;
                        }
                    }
                    Ok(_) => {}
                }
            }
            let _ = mw.shutdown().await;
            // Half-closed: the output still decides when the session ends.
            std::future::pending::<bool>().await
        };
        tokio::select! {
            () = output => {}
            detached = input => if detached {
                state.engine.emit(&c.event("detach", &[]));
            },
        }
    });
    let mut r = Response::new(crate::body::empty());
    *r.status_mut() = StatusCode::SWITCHING_PROTOCOLS;
    let h = r.headers_mut();
    h.insert("Content-Type", "application/vnd.docker.raw-stream".parse().expect("static header"));
    h.insert("Connection", "Upgrade".parse().expect("static header"));
    h.insert("Upgrade", "tcp".parse().expect("static header"));
    Ok(r)
}
