//! The daemon's side of the container lifecycle, async: every started
//! container is followed on its monitor's socket without holding a thread
//! (exit codes for `wait`, AutoRemove, healthcheck probes, adoption when a
//! monitor dies), attach and exec sessions, and the recovery of containers
//! that kept running while the daemon was down. Drivers of the engine (the
//! Docker API today; Compose, a cluster agent or a CRI server tomorrow) call
//! this; it knows nothing of HTTP.

use std::collections::HashMap;
use std::future::Future;
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use tokio::io::AsyncReadExt;
use tokio::net::unix::pipe;
use tokio::sync::{mpsc, watch};

use crate::error::{EngineError, Result};
use crate::exec::{self, ExecConfig, ExecRecord, Execs};
use crate::model::{Container, Status};
use crate::protocol::{self, Kind, Request};
use crate::Engine;

/// What waiters learn when a container's process ends.
#[derive(Debug, Clone, Default)]
pub struct ExitEvent {
    pub generation: u64,
    pub exit_code: Option<i32>,
    pub removed: bool,
}

/// Docker's `wait` conditions.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum WaitCondition {
    NotRunning,
    NextExit,
    Removed,
}

/// An exec started attached: its stdin, its output (ends after the exit is recorded).
pub struct ExecSession {
    pub tty: bool,
    pub stdin: Option<pipe::Sender>,
    pub output: mpsc::Receiver<(Kind, Vec<u8>)>,
}

pub struct Supervisor {
    engine: Arc<Engine>,
    /// The `wharf` binary: monitors and `runtime exec`.
    exe: PathBuf,
    /// Attach requests waiting for their container to start, per container id.
    pending_attach: Mutex<HashMap<String, usize>>,
    exits: Mutex<HashMap<String, watch::Sender<ExitEvent>>>,
    pub execs: Execs,
}

async fn blocking<T: Send + 'static>(f: impl FnOnce() -> Result<T> + Send + 'static) -> Result<T> {
    tokio::task::spawn_blocking(f).await.map_err(|e| EngineError::Other(format!("blocking task: {e}")))?
}

fn running(s: Status) -> bool {
    matches!(s, Status::Running | Status::Paused)
}

impl Supervisor {
    pub fn new(engine: Arc<Engine>, exe: PathBuf) -> Arc<Supervisor> {
        Arc::new(Supervisor {
            engine,
            exe,
            pending_attach: Mutex::new(HashMap::new()),
            exits: Mutex::new(HashMap::new()),
            execs: Execs::default(),
        })
    }

    pub fn engine(&self) -> &Arc<Engine> {
        &self.engine
    }

    pub fn exe(&self) -> &Path {
        &self.exe
    }

    /// `Engine::get` off the async threads.
    pub async fn get(&self, key: &str) -> Result<Container> {
        let (e, key) = (self.engine.clone(), key.to_string());
        blocking(move || e.get(&key)).await
    }

    fn exits(&self, id: &str) -> watch::Receiver<ExitEvent> {
        let mut map = self.exits.lock().unwrap_or_else(|e| e.into_inner());
        map.entry(id.to_string()).or_insert_with(|| watch::channel(ExitEvent::default()).0).subscribe()
    }

    fn publish(&self, id: &str, f: impl FnOnce(&mut ExitEvent)) {
        let mut map = self.exits.lock().unwrap_or_else(|e| e.into_inner());
        let tx = map.entry(id.to_string()).or_insert_with(|| watch::channel(ExitEvent::default()).0);
        tx.send_modify(f);
    }

    /// Follows the containers that kept running while the daemon was down,
    /// and (`by_policy`, a daemon's start) starts those their restart policy says to start.
    pub async fn recover(self: &Arc<Self>, by_policy: bool) {
        let e = self.engine.clone();
        let live: Vec<String> = blocking(move || e.list())
            .await
            .map(|l| {
                l.into_iter()
                    .filter(|c| matches!(c.state.status, Status::Running | Status::Paused | Status::Restarting))
                    .map(|c| c.id)
                    .collect()
            })
            .unwrap_or_else(|e| {
                tracing::warn!("list containers: {e}");
                Vec::new()
            });
        for id in live {
            self.supervise(id);
        }
        if !by_policy {
            return;
        }
        let (e, exe) = (self.engine.clone(), self.exe.clone());
        for id in tokio::task::spawn_blocking(move || e.start_by_policy(&exe)).await.unwrap_or_default() {
            self.supervise(id);
        }
    }

    /// Starts a container under a new monitor; false if it was already running.
    pub async fn start(self: &Arc<Self>, key: &str) -> Result<bool> {
        let c = self.get(key).await?;
        if running(c.state.status) {
            return Ok(false);
        }
        let attachers = self.pending_attach.lock().unwrap_or_else(|e| e.into_inner()).remove(&c.id).unwrap_or(0);
        let (e, id, exe) = (self.engine.clone(), c.id.clone(), self.exe.clone());
        if let Err(err) = blocking(move || e.start(&id, &exe, attachers)).await {
            // Waiters learn that this start ended the container's chance to run.
            let code = protocol::FailureKind::of(&err).exit_code();
            self.publish(&c.id, |ev| {
                ev.generation += 1;
                ev.exit_code = Some(code);
            });
            // As Docker: an AutoRemove container whose start failed is removed
            // (`docker run --rm` waits for that).
            if c.auto_remove {
                let (e, id) = (self.engine.clone(), c.id.clone());
                let _ = blocking(move || {
                    e.cleanup(&id);
                    Ok(())
                })
                .await;
                self.publish(&c.id, |ev| ev.removed = true);
            }
            return Err(err);
        }
        self.supervise(c.id);
        Ok(true)
    }

    /// Waits for a container's exit frame without holding a thread; a monitor
    /// that went away without one has its container adopted.
    async fn wait_exit(&self, id: &str) -> Option<i32> {
        loop {
            if let Some(code) = protocol::wait_exit_async(&self.engine.monitor_socket(id)).await {
                return Some(code);
            }
            // The monitor is gone. If it recorded the exit, the record holds the
            // code; if it died first (killed, crashed), the engine adopts the
            // container. A monitor that is in fact alive (its socket was busy or
            // not yet bound) is waited on again.
            let (e, key, exe) = (self.engine.clone(), id.to_string(), self.exe.clone());
            match blocking(move || e.adopt(&key, &exe)).await {
                Ok(Some(code)) => return Some(code),
                Ok(None) => tokio::time::sleep(Duration::from_millis(50)).await,
                Err(_) => return None,
            }
        }
    }

    /// Follows a running container until it exits for good: records each exit
    /// for waiters, probes its health meanwhile, and removes it if it was
    /// started with AutoRemove.
    pub fn supervise(self: &Arc<Self>, id: String) {
        let me = self.clone();
        tokio::spawn(async move {
            // Without a daemon the helper probes, so that health goes on after this process.
            let probes = match me.engine.helper_serves() {
                true => {
                    let e = me.engine.clone();
                    let key = id.clone();
                    let probed = blocking(move || match e.get(&key)?.healthcheck {
                        Some(_) => e.ensure_resolver(),
                        None => Ok(()),
                    });
                    if let Err(e) = probed.await {
                        tracing::warn!(container = %id, "healthcheck helper: {e}");
                    }
                    None
                }
                false => crate::probes::watch(me.engine.clone(), me.exe.clone(), id.clone()),
            };
            loop {
                let before = me.get(&id).await.map(|c| c.restart_count).unwrap_or(0);
                let code = me.wait_exit(&id).await;
                me.publish(&id, |e| {
                    e.generation += 1;
                    e.exit_code = code;
                });
                // The restart policy runs it again: keep following.
                if !me.get(&id).await.is_ok_and(|c| c.restart_count > before) {
                    break;
                }
            }
            if let Some(p) = probes {
                p.abort();
            }
            let (e, rid) = (me.engine.clone(), id.clone());
            let removed = blocking(move || {
                let c = e.get(&rid)?;
                if c.auto_remove {
                    e.cleanup(&rid);
                    e.emit(&c.event("destroy", &[]));
                    return Ok(true);
                }
                Ok(false)
            })
            .await
            .unwrap_or(false);
            if removed {
                me.execs.forget_container(&id);
                me.publish(&id, |e| e.removed = true);
            }
        });
    }

    /// `wait`: resolves the container now, and returns what resolves when the
    /// condition holds (`None` if the wait was interrupted).
    pub async fn wait(
        self: &Arc<Self>,
        key: &str,
        condition: WaitCondition,
    ) -> Result<impl Future<Output = Option<i32>> + Send + 'static> {
        let c = self.get(key).await?;
        let mut rx = self.exits(&c.id);
        let seen = rx.borrow().generation;
        let stopped =
            !matches!(c.state.status, Status::Running | Status::Paused | Status::Created | Status::Restarting);
        Ok(async move {
            if stopped && condition == WaitCondition::NotRunning {
                return Some(c.state.exit_code);
            }
            loop {
                let e = rx.borrow().clone();
                // "removed" also ends when nothing will remove it (no AutoRemove).
                if e.generation > seen && (condition != WaitCondition::Removed || e.removed || !c.auto_remove) {
                    return e.exit_code;
                }
                if rx.changed().await.is_err() {
                    return None;
                }
            }
        })
    }

    /// `kill`; with SIGKILL it returns once the container has exited (its
    /// state and exit code recorded), as Docker's does.
    pub async fn kill(self: &Arc<Self>, key: &str, signal: i32) -> Result<()> {
        let exited = if signal == 9 { Some(self.wait(key, WaitCondition::NotRunning).await?) } else { None };
        let (e, k) = (self.engine.clone(), key.to_string());
        blocking(move || e.kill(&k, signal)).await?;
        if let Some(exited) = exited {
            if tokio::time::timeout(Duration::from_secs(10), exited).await.is_err() {
                tracing::warn!("{key}: still running 10 s after SIGKILL");
            }
        }
        Ok(())
    }

    /// `stop` with Docker's defaults: the container's stop timeout (10 s) and stop signal (SIGTERM).
    pub async fn stop(&self, key: &str, timeout: Option<u64>, signal: Option<i32>) -> Result<bool> {
        let c = self.get(key).await?;
        let signal = match signal {
            Some(s) => s,
            None => match c.stop_signal.as_deref().filter(|s| !s.is_empty()) {
                Some(s) => wharf_runtime::process::parse_signal(s)?,
                None => 15,
            },
        };
        let t = Duration::from_secs(timeout.unwrap_or(c.stop_timeout.unwrap_or(10)));
        let e = self.engine.clone();
        blocking(move || e.stop(&c.id, t, signal)).await
    }

    pub async fn restart(self: &Arc<Self>, key: &str, timeout: Option<u64>, signal: Option<i32>) -> Result<()> {
        self.stop(key, timeout, signal).await?;
        self.start(key).await?;
        let c = self.get(key).await?;
        self.engine.emit(&c.event("restart", &[]));
        Ok(())
    }

    pub async fn remove(&self, key: &str, force: bool, volumes: bool) -> Result<()> {
        let c = self.get(key).await?;
        let (e, id) = (self.engine.clone(), c.id.clone());
        blocking(move || e.remove(&id, force, volumes)).await?;
        self.execs.forget_container(&c.id);
        self.publish(&c.id, |e| e.removed = true);
        Ok(())
    }

    /// Removes every container that is not running and that `pick` selects;
    /// their ids and the bytes their writable layers held.
    pub async fn prune(&self, pick: impl Fn(&Container) -> bool + Send + 'static) -> Result<(Vec<String>, u64)> {
        let e = self.engine.clone();
        let (ids, bytes) = blocking(move || {
            let (mut out, mut bytes) = (Vec::new(), 0);
            for c in e.list()? {
                if matches!(c.state.status, Status::Exited | Status::Created | Status::Dead) && pick(&c) {
                    // Measured first: what is removed is what was reclaimed.
                    let size = e.rw_size(&c.id).unwrap_or(0);
                    e.remove(&c.id, false, false)?;
                    bytes += size;
                    out.push(c.id);
                }
            }
            Ok((out, bytes))
        })
        .await?;
        for id in &ids {
            self.execs.forget_container(id);
            self.publish(id, |e| e.removed = true);
        }
        Ok((ids, bytes))
    }

    /// Attaches to a container's streams: the monitor connection (output
    /// frames, then the exit frame; stdin frames the other way). A created
    /// container is waited for (its monitor then waits for this client);
    /// `None` once it is neither created nor running (a failed start).
    pub async fn attach(&self, key: &str) -> Result<(Container, impl Future<Output = Option<tokio::net::UnixStream>>)> {
        let c = self.get(key).await?;
        if c.state.status == Status::Created {
            *self.pending_attach.lock().unwrap_or_else(|e| e.into_inner()).entry(c.id.clone()).or_default() += 1;
        }
        self.engine.emit(&c.event("attach", &[]));
        let socket = self.engine.monitor_socket(&c.id);
        let (e, id) = (self.engine.clone(), c.id.clone());
        Ok((c, async move {
            for i in 0u32.. {
                if let Ok(s) = protocol::connect_async(&socket, Request::Attach).await {
                    return Some(s);
                }
                if i % 50 == 49 {
                    let alive = e.get(&id).is_ok_and(|c| matches!(c.state.status, Status::Created | Status::Running));
                    if !alive {
                        return None;
                    }
                }
                tokio::time::sleep(Duration::from_millis(2)).await;
            }
            None
        }))
    }

    /// Sets a running container's terminal size.
    pub async fn resize(&self, key: &str, rows: u16, cols: u16) -> Result<()> {
        let c = self.get(key).await?;
        if !running(c.state.status) {
            return Err(EngineError::Conflict(format!("Container {} is not running", c.id)));
        }
        if c.opts.tty && rows > 0 && cols > 0 {
            let _ = protocol::connect_async(&self.engine.monitor_socket(&c.id), Request::Resize { rows, cols }).await;
        }
        Ok(())
    }

    /// A new exec instance in a running container.
    pub async fn exec_create(&self, key: &str, config: ExecConfig) -> Result<String> {
        let c = self.get(key).await?;
        if c.state.status != Status::Running {
            return Err(EngineError::Conflict(format!("Container {} is not running", c.id)));
        }
        if config.cmd.is_empty() {
            return Err(EngineError::Invalid { what: "exec".into(), reason: "No exec command specified".into() });
        }
        let id = wharf_common::ids::new_id();
        let action = format!("exec_create: {}", config.cmd.join(" "));
        self.engine.emit(&c.event(&action, &[("execID", id.clone())]));
        self.execs.insert(ExecRecord { id: id.clone(), container: c.id, config, ..Default::default() });
        Ok(id)
    }

    /// Starts an exec: detached (`None`), or attached with its session. An
    /// error after this call has checked the instance (an unknown user, an
    /// unreadable passwd) ends the exec with code 126 as Docker's does; the
    /// caller shows it in the exec's stream.
    pub async fn exec_start(self: &Arc<Self>, id: &str, detach: bool) -> Result<Option<ExecSession>> {
        let e = self.execs.get(id)?;
        if e.running || e.exit_code.is_some() {
            return Err(EngineError::Conflict(format!("Exec {id} has already been started")));
        }
        let root = self.engine.root().to_path_buf();
        let process = {
            let (root, c, cfg) = (root.clone(), e.container.clone(), e.config.clone());
            blocking(move || exec::process(&root, &c, &cfg)).await
        };
        let process = match process {
            Ok(p) => p,
            Err(err) => {
                self.execs.update(id, |x| x.exit_code = Some(126));
                return Err(err);
            }
        };
        let pid_file = Container::dir(&root, &e.container).join(format!("exec-{id}.pid"));
        let container = self.get(&e.container).await?;
        let cfg = &e.config;
        let pipes =
            exec::Pipes::new(cfg.attach_stdin && !detach, cfg.attach_stdout && !detach, cfg.attach_stderr && !detach)?;
        let stdin =
            pipes.stdin.map(pipe::Sender::from_owned_fd).transpose().map_err(EngineError::io("pipe", "stdin"))?;
        let mut outputs = Vec::new();
        for (kind, fd) in [(Kind::Stdout, pipes.stdout), (Kind::Stderr, pipes.stderr)] {
            if let Some(fd) = fd {
                outputs.push((kind, pipe::Receiver::from_owned_fd(fd).map_err(EngineError::io("pipe", "output"))?));
            }
        }
        let rt = self.engine.exec_runtime(&container.runtime, &self.exe);
        let run = exec::spawn(rt, &e.container, process, pipes.fds, &pid_file);
        self.execs.update(id, |x| {
            x.running = true;
            x.pid_file = Some(pid_file.clone());
        });
        let action = format!("exec_start: {}", e.config.cmd.join(" "));
        self.engine.emit(&container.event(&action, &[("execID", id.to_string())]));
        let me = self.clone();
        let exec_id = id.to_string();
        let finish = move |code: i32| {
            me.execs.update(&exec_id, |x| {
                x.running = false;
                x.exit_code = Some(code);
            });
            let _ = std::fs::remove_file(&pid_file);
            me.engine
                .emit(&container.event("exec_die", &[("execID", exec_id.clone()), ("exitCode", code.to_string())]));
        };
        if detach {
            tokio::spawn(async move {
                let (code, error) = run.await.unwrap_or((126, None));
                if let Some(e) = error {
                    tracing::warn!("exec: {e}");
                }
                finish(code);
            });
            return Ok(None);
        }
        let (tx, rx) = mpsc::channel::<(Kind, Vec<u8>)>(16);
        tokio::spawn(async move {
            let readers: Vec<_> = outputs
                .into_iter()
                .map(|(kind, mut pipe)| {
                    let tx = tx.clone();
                    tokio::spawn(async move {
                        let mut buf = vec![0u8; 32 << 10];
                        // A client that went away (or detached) leaves the
                        // process running: its output is read and dropped.
                        let mut attached = true;
                        while let Ok(n) = pipe.read(&mut buf).await {
                            if n == 0 {
                                break;
                            }
                            attached = attached && tx.send((kind, buf[..n].to_vec())).await.is_ok();
                        }
                    })
                })
                .collect();
            for r in readers {
                let _ = r.await;
            }
            let (code, error) = run.await.unwrap_or((126, None));
            // The runtime's error is the exec's output, as Docker shows it.
            if let Some(e) = error {
                let _ = tx.send((Kind::Stderr, format!("{e}\r\n").into_bytes())).await;
            }
            // Recorded before the stream ends: clients inspect the exit code next.
            finish(code);
            drop(tx);
        });
        Ok(Some(ExecSession { tty: e.config.tty, stdin, output: rx }))
    }

    /// Resizes an exec's terminal: the pty slave is the exec'd process's stdin.
    pub fn exec_resize(&self, id: &str, rows: u16, cols: u16) -> Result<()> {
        let e = self.execs.get(id)?;
        if !e.running {
            return Err(EngineError::Conflict(format!("Exec {id} is not running")));
        }
        if e.config.tty && rows > 0 && cols > 0 {
            // Until the runtime has written the pid, the terminal is not there yet.
            let pid = e
                .pid_file
                .as_deref()
                .and_then(exec::exec_pid)
                .ok_or_else(|| EngineError::Conflict(format!("Exec {id} has no terminal yet")))?;
            let path = format!("/proc/{pid}/fd/0");
            let tty =
                std::fs::File::options().read(true).write(true).open(&path).map_err(EngineError::io("open", &path))?;
            use std::os::fd::AsFd;
            wharf_runtime::sys::set_winsize(tty.as_fd(), rows, cols).map_err(EngineError::io("resize", &path))?;
        }
        Ok(())
    }

    /// One stats sample of a container (off the async threads).
    pub async fn stats(&self, id: &str) -> Result<crate::stats::Sample> {
        let (e, id) = (self.engine.clone(), id.to_string());
        blocking(move || Ok(crate::stats::sample(e.runtime_for(&id).as_ref(), &id))).await
    }
}
