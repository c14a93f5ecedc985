//! Healthcheck probes: while a container with a healthcheck runs, its probe
//! command is exec'd every interval (killed at the timeout, exit code -1 as
//! Docker), the result recorded in the health state (`health.rs`) and a
//! `health_status` event emitted when the status changes.

use std::path::PathBuf;
use std::sync::Arc;
use std::time::SystemTime;

use tokio::io::AsyncReadExt;
use tokio::net::unix::pipe;

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
    let nonce = wharf_common::ids::new_id()[..12].to_string();
    let pid_file = Container::dir(&root, &c.id).join(format!("health-{nonce}.pid"));
    let config = ExecConfig { cmd: hc.command(), ..Default::default() };
    let process = {
        let (root, id) = (root.clone(), c.id.clone());
        tokio::task::spawn_blocking(move || exec::process(&root, &id, &config)).await
    };
    let process = match process {
        Ok(Ok(p)) => p,
        Ok(Err(e)) => return failed(e.to_string()),
        Err(e) => return failed(e.to_string()),
    };
    let result = match probe_run(engine, exe, c, process, &pid_file, hc).await {
        Ok(p) => p,
        Err(e) => failed(format!("health check: {e}")),
    };
    let _ = std::fs::remove_file(&pid_file);
    result
}

/// The probe's run: output (stdout then stderr, bounded), exit code, or the timeout.
async fn probe_run(
    engine: &Arc<Engine>,
    exe: &std::path::Path,
    c: &Container,
    process: oci_spec::runtime::Process,
    pid_file: &std::path::Path,
    hc: &Healthcheck,
) -> crate::Result<Probe> {
    let start = now();
    let pipes = exec::Pipes::new(false, true, true)?;
    let io = |fd: Option<std::os::fd::OwnedFd>| {
        fd.map(pipe::Receiver::from_owned_fd).transpose().map_err(crate::EngineError::io("pipe", "probe output"))
    };
    let (mut out, mut err) = (io(pipes.stdout)?, io(pipes.stderr)?);
    let run = exec::spawn(engine.exec_runtime(&c.runtime, exe), &c.id, process, pipes.fds, pid_file);
    let finished = async {
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
        let (code, error) = run.await.unwrap_or((-1, None));
        o.extend(e);
        if let Some(error) = error {
            o.extend(error.into_bytes());
        }
        (code, String::from_utf8_lossy(&o).into_owned())
    };
    Ok(match tokio::time::timeout(hc.timeout(), finished).await {
        Ok((exit_code, output)) => Probe { start, end: now(), exit_code, output },
        Err(_) => {
            // The probe itself runs inside the container: kill it there.
            if let Some(pid) = exec::exec_pid(pid_file) {
                crate::model::kill_process(pid);
            }
            Probe {
                start,
                end: now(),
                exit_code: -1,
                output: format!("Health check exceeded timeout ({:?})", hc.timeout()),
            }
        }
    })
}
