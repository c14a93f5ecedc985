//! Healthcheck probes: while a container with a healthcheck runs, the daemon
//! execs its probe every interval (with the timeout), records the result in
//! the engine's health state and emits `health_status` events on changes.

use std::process::Stdio;
use std::sync::Arc;

use tokio::io::AsyncReadExt;
use wharf_engine::health::{self, Health, Healthcheck, Probe};
use wharf_engine::{Container, Status};

use super::exec::{runtime_exec, write_process, ExecEntry};
use crate::State;

fn now() -> String {
    humantime::format_rfc3339_nanos(std::time::SystemTime::now()).to_string()
}

/// Probes a container for as long as it exists and has a healthcheck; the
/// caller aborts the task when the container is gone for good.
pub fn watch(state: Arc<State>, id: String) -> Option<tokio::task::JoinHandle<()>> {
    let root = state.engine.root().to_path_buf();
    let hc = state.engine.get(&id).ok()?.healthcheck?;
    Some(tokio::spawn(async move {
        let mut run: Option<String> = None;
        loop {
            tokio::time::sleep(hc.interval()).await;
            let Ok(c) = super::containers::get(&state, &id).await else { return };
            match c.state.status {
                Status::Running => {}
                Status::Paused | Status::Restarting | Status::Created => continue,
                _ => return,
            }
            // A new run (restart) starts over from "starting".
            if run != c.state.started_at {
                run = c.state.started_at.clone();
                let _ = health::save(&root, &id, &Health::default());
            }
            let probe = probe(&state, &c, &hc).await;
            let mut h = health::load(&root, &id).unwrap_or_default();
            // The start period counts from the container's start, as in Docker.
            let up = c
                .state
                .started_at
                .as_deref()
                .and_then(|t| {
                    humantime::parse_rfc3339_weak(t.trim_end_matches('Z').split('.').next().unwrap_or(t)).ok()
                })
                .and_then(|t| std::time::SystemTime::now().duration_since(t).ok())
                .unwrap_or_default();
            let changed = h.record(probe, &hc, up < hc.start_period());
            if let Err(e) = health::save(&root, &id, &h) {
                tracing::warn!("health of {id}: {e}");
            }
            if changed {
                state.engine.emit(&c.event(&format!("health_status: {}", h.status), &[]));
            }
        }
    }))
}

/// Runs the probe command in the container; a timeout kills it (exit code -1, as Docker).
async fn probe(state: &Arc<State>, c: &Container, hc: &Healthcheck) -> Probe {
    let start = now();
    let failed = |msg: String| Probe { start: start.clone(), end: now(), exit_code: -1, output: msg };
    let dir = Container::dir(state.engine.root(), &c.id);
    let nonce = wharf_engine::run::new_id().map(|id| id[..12].to_string()).unwrap_or_default();
    let (file, pid_file) = (dir.join(format!("health-{nonce}.json")), dir.join(format!("health-{nonce}.pid")));
    if let Err(e) = write_process(state, &ExecEntry::command(&c.id, hc.command()), file.clone()).await {
        return failed(e.message);
    }
    let mut cmd = runtime_exec(state, &file, Some(&pid_file), &c.id);
    cmd.stdin(Stdio::null()).stdout(Stdio::piped()).stderr(Stdio::piped()).kill_on_drop(true);
    let result = match cmd.spawn() {
        Err(e) => failed(format!("health check: {e}")),
        Ok(mut child) => {
            let (mut out, mut err) = (child.stdout.take(), child.stderr.take());
            let run = async {
                let (mut o, mut e) = (Vec::new(), Vec::new());
                let read_out = async {
                    if let Some(s) = out.as_mut() {
                        let _ = s.read_to_end(&mut o).await;
                    }
                };
                let read_err = async {
                    if let Some(s) = err.as_mut() {
                        let _ = s.read_to_end(&mut e).await;
                    }
                };
                tokio::join!(read_out, read_err);
                let code = child.wait().await.ok().and_then(|s| s.code()).unwrap_or(-1);
                o.extend(e);
                (code, String::from_utf8_lossy(&o).into_owned())
            };
            match tokio::time::timeout(hc.timeout(), run).await {
                Ok((code, output)) => Probe { start: start.clone(), end: now(), exit_code: code, output },
                Err(_) => {
                    // The probe itself runs inside the container: kill it there too.
                    if let Some(pid) =
                        std::fs::read_to_string(&pid_file).ok().and_then(|p| p.trim().parse::<i32>().ok())
                    {
                        wharf_engine::containers::kill_process(pid);
                    }
                    failed(format!("Health check exceeded timeout ({:?})", hc.timeout()))
                }
            }
        }
    };
    let _ = std::fs::remove_file(&file);
    let _ = std::fs::remove_file(&pid_file);
    result
}
