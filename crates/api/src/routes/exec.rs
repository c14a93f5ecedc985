//! /containers/{id}/exec and /exec/{id}/…: a process run inside a running
//! container through `wharf runtime exec` (the built-in runtime, forked from
//! a fresh single-threaded process), relayed over a hijacked connection.

use std::path::PathBuf;
use std::process::Stdio;
use std::sync::Arc;

use hyper::body::Incoming;
use hyper::{Request, Response, StatusCode};
use hyper_util::rt::TokioIo;
use serde::Deserialize;
use serde_json::json;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use wharf_engine::Status;

use super::{json, read_json, status, Reply};
use crate::error::ApiError;
use crate::State;

#[derive(Debug, Clone, Default, Deserialize)]
#[serde(rename_all = "PascalCase", default)]
pub struct ExecConfig {
    attach_stdin: bool,
    tty: bool,
    cmd: Vec<String>,
    env: Option<Vec<String>>,
    working_dir: String,
    user: String,
    privileged: bool,
}

impl ExecEntry {
    /// A plain command in a container (healthcheck probes).
    pub(crate) fn command(container: &str, cmd: Vec<String>) -> ExecEntry {
        ExecEntry {
            container: container.into(),
            config: ExecConfig { cmd, ..Default::default() },
            ..Default::default()
        }
    }
}

#[derive(Debug, Clone, Default)]
pub struct ExecEntry {
    pub container: String,
    config: ExecConfig,
    pub running: bool,
    pub exit_code: Option<i32>,
    pub pid: i32,
    /// Where the runtime writes the exec'd process's host pid (for resizes).
    pid_file: Option<std::path::PathBuf>,
}

#[derive(Debug, Default, Deserialize)]
#[serde(rename_all = "PascalCase", default)]
struct StartBody {
    detach: bool,
}

pub async fn create(state: Arc<State>, req: Request<Incoming>, id: &str) -> Reply {
    let st = state.clone();
    let key = id.to_string();
    let c = super::blocking(move || Ok(st.engine.get(&key)?)).await?;
    if c.state.status != Status::Running {
        return Err(ApiError::conflict(format!("Container {} is not running", c.id)));
    }
    let config: ExecConfig = read_json(req).await?;
    if config.cmd.is_empty() {
        return Err(ApiError::bad_request("No exec command specified"));
    }
    let exec_id = wharf_engine::run::new_id().map_err(ApiError::from)?;
    let action = format!("exec_create: {}", config.cmd.join(" "));
    state.engine.emit(&c.event(&action, &[("execID", exec_id.clone())]));
    state
        .execs
        .lock()
        .unwrap_or_else(|e| e.into_inner())
        .insert(exec_id.clone(), ExecEntry { container: c.id, config, ..Default::default() });
    json(StatusCode::CREATED, &json!({ "Id": exec_id }))
}

fn entry(state: &State, id: &str) -> Result<ExecEntry, ApiError> {
    state
        .execs
        .lock()
        .unwrap_or_else(|e| e.into_inner())
        .get(id)
        .cloned()
        .ok_or_else(|| ApiError::not_found(format!("No such exec instance: {id}")))
}

fn update(state: &State, id: &str, f: impl FnOnce(&mut ExecEntry)) {
    if let Some(e) = state.execs.lock().unwrap_or_else(|e| e.into_inner()).get_mut(id) {
        f(e);
    }
}

/// `wharf runtime exec --process FILE [--pid-file P] ID`, as a child of the daemon.
pub(crate) fn runtime_exec(
    state: &State,
    process: &std::path::Path,
    pid_file: Option<&std::path::Path>,
    container: &str,
) -> tokio::process::Command {
    let mut cmd = tokio::process::Command::new(&state.config.monitor_exe);
    cmd.arg("runtime").arg("--root").arg(state.engine.root().join("runtime")).arg("exec").arg("--process").arg(process);
    if let Some(p) = pid_file {
        cmd.arg("--pid-file").arg(p);
    }
    cmd.arg(container);
    cmd
}

/// The OCI process for an exec, written to `file`: the container's own
/// process with the exec's overrides. Reads files of the container (its
/// passwd and group), so it runs on a blocking thread, never on a worker.
pub(crate) async fn write_process(state: &Arc<State>, e: &ExecEntry, file: PathBuf) -> Result<(), ApiError> {
    let (st, e) = (state.clone(), e.clone());
    super::blocking(move || {
        let process = process_json(&st, &e)?;
        std::fs::write(&file, process)?;
        Ok(())
    })
    .await
}

fn process_json(state: &State, e: &ExecEntry) -> Result<Vec<u8>, ApiError> {
    let dir = wharf_engine::Container::dir(state.engine.root(), &e.container);
    let spec: oci_spec::runtime::Spec = serde_json::from_slice(&std::fs::read(dir.join("config.json"))?)
        .map_err(|err| ApiError::internal(err.to_string()))?;
    let mut p = spec.process().clone().unwrap_or_default();
    p.set_args(Some(e.config.cmd.clone()));
    p.set_terminal(Some(e.config.tty));
    let mut env = p.env().clone().unwrap_or_default();
    for kv in e.config.env.iter().flatten() {
        let key = kv.split('=').next().unwrap_or(kv);
        env.retain(|x| x.split('=').next() != Some(key));
        env.push(kv.clone());
    }
    p.set_env(Some(env));
    if !e.config.working_dir.is_empty() {
        p.set_cwd(e.config.working_dir.clone().into());
    }
    if !e.config.user.is_empty() {
        let u = wharf_engine::user::resolve(&dir.join("rootfs"), &e.config.user).map_err(ApiError::from)?;
        let mut user = p.user().clone();
        user.set_uid(u.uid);
        user.set_gid(u.gid);
        user.set_additional_gids((!u.additional_gids.is_empty()).then_some(u.additional_gids));
        p.set_user(user);
    }
    if e.config.privileged {
        let caps = wharf_engine::spec::capabilities(&["ALL".into()], &[]).map_err(ApiError::from)?;
        let mut c = oci_spec::runtime::LinuxCapabilities::default();
        c.set_bounding(Some(caps.clone()));
        c.set_effective(Some(caps.clone()));
        c.set_permitted(Some(caps));
        p.set_capabilities(Some(c));
    }
    serde_json::to_vec(&p).map_err(|err| ApiError::internal(err.to_string()))
}

pub async fn start(state: Arc<State>, req: Request<Incoming>, id: &str) -> Reply {
    let e = entry(&state, id)?;
    if e.running || e.exit_code.is_some() {
        return Err(ApiError::conflict(format!("Exec {id} has already been started")));
    }
    let upgrade_wanted = req.headers().get("Upgrade").is_some();
    let (parts, body) = req.into_parts();
    let body: StartBody = read_json(Request::from_parts(parts.clone(), body)).await.unwrap_or_default();
    let file = wharf_engine::Container::dir(state.engine.root(), &e.container).join(format!("exec-{id}.json"));
    if let Err(err) = write_process(&state, &e, file.clone()).await {
        if body.detach {
            return Err(err);
        }
        // As Docker: the client gets its stream, and the error in it (an
        // unknown user, an unreadable passwd), and the exec exits 126.
        update(&state, id, |x| x.exit_code = Some(126));
        let tty = e.config.tty;
        let upgrade = hyper::upgrade::on(Request::from_parts(parts, http_body_util::Empty::<bytes::Bytes>::new()));
        tokio::spawn(async move {
            if let Ok(upgraded) = upgrade.await {
                let mut io = TokioIo::new(upgraded);
                let msg = format!("{}\r\n", err.message);
                let bytes = if tty { msg.into_bytes() } else { wharf_engine::monitor::frame(1, msg.as_bytes()) };
                let _ = io.write_all(&bytes).await;
                let _ = io.shutdown().await;
            }
        });
        return Ok(raw_stream_response(upgrade_wanted));
    }
    let pid_file = file.with_extension("pid");
    let mut cmd = runtime_exec(&state, &file, Some(&pid_file), &e.container);
    cmd.stdin(if e.config.attach_stdin && !body.detach { Stdio::piped() } else { Stdio::null() });
    cmd.stdout(if body.detach { Stdio::null() } else { Stdio::piped() });
    cmd.stderr(if body.detach { Stdio::null() } else { Stdio::piped() });
    let mut child = cmd.spawn()?;
    update(&state, id, |x| {
        x.running = true;
        x.pid = child.id().map(|p| p as i32).unwrap_or(0);
        x.pid_file = Some(pid_file.clone());
    });
    let container = super::blocking({
        let (st, cid) = (state.clone(), e.container.clone());
        move || Ok(st.engine.get(&cid)?)
    })
    .await?;
    let action = format!("exec_start: {}", e.config.cmd.join(" "));
    state.engine.emit(&container.event(&action, &[("execID", id.to_string())]));
    let st = state.clone();
    let exec_id = id.to_string();
    let finish = move |code: i32| {
        update(&st, &exec_id, |x| {
            x.running = false;
            x.exit_code = Some(code);
        });
        let _ = std::fs::remove_file(&file);
        let _ = std::fs::remove_file(&pid_file);
        st.engine.emit(&container.event("exec_die", &[("execID", exec_id.clone()), ("exitCode", code.to_string())]));
    };
    if body.detach {
        tokio::spawn(async move {
            let code = child.wait().await.ok().and_then(|s| s.code()).unwrap_or(-1);
            finish(code);
        });
        return status(StatusCode::OK);
    }
    let tty = e.config.tty;
    let upgrade = hyper::upgrade::on(Request::from_parts(parts, http_body_util::Empty::<bytes::Bytes>::new()));
    tokio::spawn(async move {
        let Ok(upgraded) = upgrade.await else {
            let _ = child.kill().await;
            return;
        };
        let (mut cr, mut cw) = tokio::io::split(TokioIo::new(upgraded));
        let mut out = child.stdout.take();
        let mut err = child.stderr.take();
        let stdin = child.stdin.take();
        // Client → process stdin (raw bytes, as Docker sends them).
        let input = tokio::spawn(async move {
            let Some(mut stdin) = stdin else { return };
            let mut buf = vec![0u8; 32 << 10];
            while let Ok(n) = cr.read(&mut buf).await {
                if n == 0 || stdin.write_all(&buf[..n]).await.is_err() {
                    break;
                }
            }
        });
        let (tx, mut rx) = tokio::sync::mpsc::channel::<(u8, Vec<u8>)>(16);
        for (kind, pipe) in [
            (1u8, out.take().map(|o| Box::new(o) as Box<dyn tokio::io::AsyncRead + Unpin + Send>)),
            (2u8, err.take().map(|e| Box::new(e) as Box<dyn tokio::io::AsyncRead + Unpin + Send>)),
        ] {
            let Some(mut pipe) = pipe else { continue };
            let tx = tx.clone();
            tokio::spawn(async move {
                let mut buf = vec![0u8; 32 << 10];
                while let Ok(n) = pipe.read(&mut buf).await {
                    if n == 0 || tx.send((kind, buf[..n].to_vec())).await.is_err() {
                        break;
                    }
                }
            });
        }
        drop(tx);
        while let Some((kind, data)) = rx.recv().await {
            let bytes = if tty { data } else { wharf_engine::monitor::frame(kind, &data) };
            if cw.write_all(&bytes).await.is_err() {
                break;
            }
        }
        let code = child.wait().await.ok().and_then(|s| s.code()).unwrap_or(-1);
        finish(code);
        input.abort();
        let _ = cw.shutdown().await;
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
    let e = entry(&state, id)?;
    json(
        StatusCode::OK,
        &json!({
            "ID": id, "Running": e.running, "ExitCode": e.exit_code, "ContainerID": e.container, "Pid": e.pid,
            "OpenStdin": e.config.attach_stdin, "OpenStdout": true, "OpenStderr": true, "CanRemove": false, "DetachKeys": "",
            "ProcessConfig": {"tty": e.config.tty, "entrypoint": e.config.cmd.first(), "arguments": e.config.cmd.iter().skip(1).collect::<Vec<_>>(),
                              "privileged": e.config.privileged, "user": e.config.user},
        }),
    )
}

/// Resizes an exec's terminal: the pty slave is the exec'd process's stdin.
pub fn resize(state: &State, id: &str, q: &crate::query::Query) -> Reply {
    let e = entry(state, id)?;
    let (h, w) = (q.dimension("h")?, q.dimension("w")?);
    if !e.running {
        return Err(ApiError::conflict(format!("Exec {id} is not running")));
    }
    let pid =
        e.pid_file.as_ref().and_then(|p| std::fs::read_to_string(p).ok()).and_then(|p| p.trim().parse::<i32>().ok());
    if e.config.tty && h > 0 && w > 0 {
        // Until the runtime has written the pid, the terminal is not there yet.
        let pid = pid.ok_or_else(|| ApiError::conflict(format!("Exec {id} has no terminal yet")))?;
        if let Ok(tty) = std::fs::File::options().read(true).write(true).open(format!("/proc/{pid}/fd/0")) {
            use std::os::fd::AsFd;
            let _ = wharf_runtime::sys::set_winsize(tty.as_fd(), h, w);
        }
    }
    status(StatusCode::OK)
}
