//! Healthcheck probes: while a container with a healthcheck runs, its probe
//! command is exec'd every interval (killed at the timeout, exit code -1 as
//! Docker), the result recorded in the health state (`health.rs`) and a
//! `health_status` event emitted when the status changes.

use std::path::PathBuf;
use std::process::Stdio;
use std::sync::Arc;
use std::time::SystemTime;

use tokio::io::AsyncReadExt;

use crate::exec::{self, ExecConfig};
use crate::health::{self, Health, Healthcheck, Probe};
use crate::model::{Container, Status};
use crate::Engine;

use wharf_common::time::now;

/// Probes a container for as long as it exists and has a healthcheck; the
/// caller aborts the task when the container is gone for good.
pub fn watch(engine: Arc<Engine>, exe: PathBuf, id: String) -> Option<tokio::task::JoinHandle<()>> {
    let hc = engine.get(&id).ok()?.healthcheck?;
    Some(tokio::spawn(async move {
        let root = engine.root().to_path_buf();
        let mut run: Option<String> = None;
        loop {
            tokio::time::sleep(hc.interval()).await;
            let (e, key) = (engine.clone(), id.clone());
            let Ok(Ok(c)) = tokio::task::spawn_blocking(move || e.get(&key)).await else { return };
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
            let probe = probe(&engine, &exe, &c, &hc).await;
            let mut h = health::load(&root, &id).unwrap_or_default();
            // The start period counts from the container's start, as in Docker.
            let up = c
                .state
                .started_at
                .as_deref()
                .and_then(wharf_common::time::parse_rfc3339)
                .and_then(|t| SystemTime::now().duration_since(t).ok())
                .unwrap_or_default();
            let changed = h.record(probe, &hc, up < hc.start_period());
            if let Err(e) = health::save(&root, &id, &h) {
                tracing::warn!("health of {id}: {e}");
            }
            if changed {
                engine.emit(&c.event(&format!("health_status: {}", h.status), &[]));
            }
        }
    }))
}

/// Runs the probe command in the container; a timeout kills it (exit code -1, as Docker).
async fn probe(engine: &Arc<Engine>, exe: &std::path::Path, c: &Container, hc: &Healthcheck) -> Probe {
    let start = now();
    let failed = |msg: String| Probe { start: start.clone(), end: now(), exit_code: -1, output: msg };
    let root = engine.root().to_path_buf();
    let dir = Container::dir(&root, &c.id);
    let nonce = wharf_common::ids::new_id()[..12].to_string();
    let (file, pid_file) = (dir.join(format!("health-{nonce}.json")), dir.join(format!("health-{nonce}.pid")));
    let config = ExecConfig { cmd: hc.command(), ..Default::default() };
    let written = {
        let (root, id, file) = (root.clone(), c.id.clone(), file.clone());
        tokio::task::spawn_blocking(move || exec::write_process(&root, &id, &config, &file)).await
    };
    match written {
        Ok(Ok(())) => {}
        Ok(Err(e)) => return failed(e.to_string()),
        Err(e) => return failed(e.to_string()),
    }
    let mut cmd = exec::runtime_command(&c.runtime, exe, &root, &file, Some(&pid_file), &c.id);
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
                    if let Some(pid) = exec::exec_pid(&pid_file) {
                        crate::model::kill_process(pid);
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
