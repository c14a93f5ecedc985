//! The container store and lifecycle for the daemon: records on disk
//! (`<data-root>/containers/<id>/container.json`), creation from images,
//! and start/stop/kill/wait/attach through each container's monitor
//! process (`monitor.rs`), which outlives the daemon.

use std::fs;
use std::io::{BufRead, BufReader};
use std::os::unix::process::CommandExt;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use wharf_image::snapshot::Snapshotter;

use crate::error::{EngineError, Result};
pub use crate::logs::LogOptions;
pub use crate::model::{kill_process, Container, CreateRequest, RestartPolicy, State, Status};
use crate::{Engine, RunOptions};

/// Docker's view of a container's config: the image's, overridden by the request.
fn merged_config(image: &wharf_image::manifest::RunConfig, opts: &RunOptions) -> wharf_image::manifest::RunConfig {
    let mut m = image.clone();
    if let Some(ep) = &opts.entrypoint {
        m.entrypoint = Some(ep.clone()).filter(|e| !e.is_empty());
        if opts.cmd.is_empty() {
            m.cmd = None;
        }
    }
    if !opts.cmd.is_empty() {
        m.cmd = Some(opts.cmd.clone());
    }
    let mut env = m.env.take().unwrap_or_default();
    for kv in &opts.env {
        let k = kv.split('=').next().unwrap_or(kv);
        env.retain(|e| e.split('=').next() != Some(k));
        env.push(kv.clone());
    }
    m.env = Some(env);
    if let Some(w) = &opts.workdir {
        m.working_dir = Some(w.clone());
    }
    if let Some(u) = &opts.user {
        m.user = Some(u.clone());
    }
    for p in &opts.publish {
        m.exposed_ports.get_or_insert_with(Default::default).insert(p.key(), serde_json::json!({}));
    }
    for v in opts.mounts.iter().filter(|v| v.typ == "volume" && v.source.is_empty()) {
        m.volumes.get_or_insert_with(Default::default).insert(v.target.clone(), serde_json::json!({}));
    }
    m
}

pub(crate) use wharf_common::time::now;

fn valid_name(n: &str) -> bool {
    wharf_common::names::valid(n, 1)
}

/// Docker-style random names: adjective_surname.
fn random_name(id: &str) -> String {
    const LEFT: [&str; 8] = ["brave", "calm", "eager", "gentle", "jolly", "keen", "quiet", "swift"];
    const RIGHT: [&str; 8] = ["babbage", "curie", "darwin", "euler", "hopper", "lovelace", "noether", "turing"];
    let n = u64::from_str_radix(&id[..8], 16).unwrap_or(0);
    format!("{}_{}_{}", LEFT[(n % 8) as usize], RIGHT[((n / 8) % 8) as usize], &id[8..12])
}

impl Engine {
    /// `create`: a container record and its writable layer; nothing runs yet.
    pub fn create(&self, mut req: CreateRequest) -> Result<Container> {
        let runtime = self.runtimes().resolve(req.runtime.as_deref())?;
        if req.opts.init && !runtime.is_builtin() {
            // `--init` is the built-in runtime's own pid 1 (no docker-init binary to bind-mount).
            return Err(EngineError::Invalid {
                what: "runtime".into(),
                reason: format!(
                    "--init needs the built-in runtime ({}), not {}",
                    crate::runtimes::BUILTIN,
                    runtime.name
                ),
            });
        }
        let (_, img) = self.images.resolve(&req.opts.image)?;
        let id = wharf_common::ids::new_id();
        let name = match req.name.clone().filter(|n| !n.is_empty()) {
            Some(n) => {
                let n = n.trim_start_matches('/').to_string();
                if !valid_name(&n) {
                    return Err(EngineError::Invalid {
                        what: "container name".into(),
                        reason: format!("Invalid container name ({n}), only [a-zA-Z0-9][a-zA-Z0-9_.-] are allowed"),
                    });
                }
                n
            }
            None => random_name(&id),
        };
        req.restart_policy.validate()?;
        if req.auto_remove && !req.restart_policy.is_none() {
            return Err(EngineError::Invalid {
                what: "host config".into(),
                reason: "Conflicting options: AutoRemove and a restart policy cannot be used together".into(),
            });
        }
        // Docker's default: swap as large as the memory limit (memory + swap
        // twice the limit), where the kernel accounts swap.
        if let (Some(m), None) = (req.opts.memory.filter(|m| *m > 0), req.opts.memory_swap) {
            if crate::resources::swap_limit_supported() {
                req.opts.memory_swap = Some(m.saturating_mul(2));
            }
        }
        // Fail early on what start would refuse.
        let run_config = wharf_image::Images::run_config(&img);
        crate::spec::command(&run_config, &req.opts)?;
        crate::spec::validate(&req.opts)?;
        crate::modes::validate_request(&req.opts)?;
        let top = self.images.unpack(&img)?;
        let user_spec = req.opts.user.clone().or(run_config.user.clone()).unwrap_or_default();
        self.check_image_user(top.as_ref(), &user_spec)?;
        let healthcheck = crate::health::Healthcheck::merge(run_config.healthcheck.as_ref(), req.healthcheck.as_ref())?;
        let stop_signal = req.stop_signal.clone().filter(|s| !s.is_empty()).or(run_config.stop_signal.clone());
        if let Some(sig) = &stop_signal {
            wharf_runtime::process::parse_signal(sig)?;
        }
        let mut req = req;
        if req.opts.publish_all {
            for key in run_config.exposed_ports.clone().unwrap_or_default().into_keys() {
                for p in crate::network::PortBinding::parse(&key)? {
                    if !req.opts.publish.iter().any(|x| x.key() == p.key()) {
                        req.opts.publish.push(p);
                    }
                }
            }
        }
        let mut labels = run_config.labels.clone().unwrap_or_default();
        labels.extend(req.labels.clone());
        // Image VOLUMEs not covered by a requested mount become anonymous volumes.
        for target in wharf_image::Images::run_config(&img).volumes.unwrap_or_default().into_keys() {
            if !req.opts.mounts.iter().any(|m| m.target == target) {
                req.opts.mounts.push(crate::volumes::MountRequest {
                    typ: "volume".into(),
                    target,
                    ..Default::default()
                });
            }
        }
        let merged = merged_config(&run_config, &req.opts);
        self.resolve_mounts(&mut req.opts.mounts)?;
        crate::spec::capabilities(&req.opts.cap_add, &req.opts.cap_drop)?;
        crate::network::with_primary(&mut req.opts);
        self.check_network(&req.opts)?;
        let dir = Container::dir(self.root(), &id);
        let c = Container {
            id: id.clone(),
            name,
            created: now(),
            image: req.opts.image.clone(),
            image_id: img.id().to_string(),
            opts: req.opts,
            labels,
            auto_remove: req.auto_remove,
            open_stdin: req.open_stdin,
            stdin_once: req.stdin_once,
            restart_policy: req.restart_policy,
            restart_count: 0,
            healthcheck,
            stop_signal,
            stop_timeout: req.stop_timeout,
            log: req.log,
            runtime,
            config: merged,
            state: State::default(),
        };
        {
            // The name registrar: check and claim under one lock, so of concurrent
            // creates (or renames) with one name exactly one wins.
            let _names = self.names_lock()?;
            self.check_name_free(&c.name, &c.id)?;
            fs::create_dir_all(&dir).map_err(EngineError::io("create", &dir))?;
            if let Err(e) = self.save(&c) {
                let _ = fs::remove_dir_all(&dir);
                return Err(e);
            }
        }
        self.emit(&c.event("create", &[]));
        Ok(c)
    }

    pub fn emit(&self, event: &crate::events::Event) {
        crate::events::emit(self.root(), event);
    }

    /// `start`: hands the container to a new monitor process and returns once it runs.
    /// `attachers` clients are about to attach: the monitor waits for them
    /// before the container's process runs, so they miss no output.
    pub fn start(&self, key: &str, monitor_exe: &Path, attachers: usize) -> Result<Container> {
        let c = self.get(key)?;
        match self.start_container(c.clone(), monitor_exe, attachers, false) {
            // Removed while starting (`rm -f` racing `start`): the container is gone, not broken.
            Err(e) if !matches!(e, EngineError::NoSuchContainer(_)) && self.load_exact(&c.id).is_none() => {
                tracing::debug!("start of removed container {}: {e}", c.id);
                Err(EngineError::NoSuchContainer(key.to_string()))
            }
            other => other,
        }
    }

    /// `policy_restart`: started by the restart policy (the restart count is kept).
    pub(crate) fn start_container(
        &self,
        mut c: Container,
        monitor_exe: &Path,
        attachers: usize,
        policy_restart: bool,
    ) -> Result<Container> {
        if matches!(c.state.status, Status::Running | Status::Paused | Status::Restarting) {
            return Ok(c);
        }
        let _ = fs::remove_file(Container::stop_marker(self.root(), &c.id));
        let _ = fs::remove_file(Container::killed_marker(self.root(), &c.id));
        let _ = fs::remove_file(crate::health::path(self.root(), &c.id));
        if c.restart_count != 0 && !policy_restart {
            c = self
                .update(&c.id, |c| {
                    c.restart_count = 0;
                    Ok(())
                })?
                .0;
        }
        let line = match self.monitors() {
            crate::monitor::Monitors::Process => self.spawn_monitor(&c.id, monitor_exe, attachers)?,
            crate::monitor::Monitors::Thread => {
                let report = crate::monitor::spawn_thread(self.sibling(), &c.id, attachers, monitor_exe)?;
                let mut line = String::new();
                BufReader::new(report).read_line(&mut line).map_err(EngineError::io("read monitor", "thread"))?;
                line
            }
        };
        match crate::protocol::StartReport::parse(&line) {
            crate::protocol::StartReport::Ok => self.get(&c.id),
            crate::protocol::StartReport::Failed { kind: crate::protocol::FailureKind::CommandNotFound, message } => {
                Err(EngineError::CommandNotFound(message))
            }
            crate::protocol::StartReport::Failed {
                kind: crate::protocol::FailureKind::CommandNotRunnable,
                message,
            } => Err(EngineError::CommandNotRunnable(message)),
            crate::protocol::StartReport::Failed { message, .. } => Err(EngineError::Other(message)),
        }
    }

    /// `wharf monitor <id>`, a process of its own; its start report.
    fn spawn_monitor(&self, id: &str, monitor_exe: &Path, attachers: usize) -> Result<String> {
        let mut child = Command::new(monitor_exe)
            .arg("--data-root")
            .arg(self.root())
            .arg("--exec-root")
            .arg(self.exec_root())
            .arg("monitor")
            .arg("--attachers")
            .arg(attachers.to_string())
            .arg(id)
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(Stdio::null())
            // Its own process group: signals to the daemon's group do not reach it.
            .process_group(0)
            .spawn()
            .map_err(EngineError::io("spawn monitor", monitor_exe))?;
        let mut line = String::new();
        let stdout = child.stdout.take().ok_or_else(|| EngineError::Other("monitor has no stdout".into()))?;
        BufReader::new(stdout).read_line(&mut line).map_err(EngineError::io("read monitor", monitor_exe))?;
        // The monitor stays alive on its own; reap it in the background when it ends.
        std::thread::spawn(move || {
            let _ = child.wait();
        });
        Ok(line)
    }

    /// Where a container's monitor listens. Unix socket paths are limited to
    /// 108 bytes, so it lives under `<exec-root>/monitor`, keyed by a short hash
    /// of the data root and the container id prefix.
    pub fn monitor_socket(&self, id: &str) -> PathBuf {
        let root = wharf_image::Digest::sha256(self.root().as_os_str().as_encoded_bytes());
        self.monitor_dir().join(format!("{}-{}.sock", &root.hex()[..12], &id[..24.min(id.len())]))
    }

    /// Blocks until the container is not running; returns its exit code (from
    /// the monitor's exit frame, so it is known even if the record is removed).
    pub fn wait(&self, key: &str) -> Result<i32> {
        let c = self.get(key)?;
        if let Some(code) = crate::protocol::wait_exit(&self.monitor_socket(&c.id)) {
            return Ok(code);
        }
        Ok(self.get(&c.id).map(|c| c.state.exit_code).unwrap_or(c.state.exit_code))
    }

    /// Reads a container's log through its driver; with `follow`, keeps
    /// reading until the container stops or `sink` returns false. Blocking.
    pub fn logs(
        &self,
        key: &str,
        opts: &crate::logs::ReadOptions,
        follow: bool,
        sink: &mut dyn FnMut(crate::logs::Entry) -> bool,
    ) -> Result<()> {
        let c = self.get(key)?;
        let (driver, dir) = (c.log.driver(), Container::dir(self.root(), &c.id));
        let mut open = true;
        let pos = crate::logs::read(driver, &dir, &c.id, opts, &mut |e| {
            open = sink(e);
            open
        })?;
        if !follow || !open {
            return Ok(());
        }
        let alive = || {
            self.get(&c.id).is_ok_and(|c| matches!(c.state.status, Status::Running | Status::Paused | Status::Created))
        };
        crate::logs::follow(
            driver,
            &dir,
            &c.id,
            &crate::logs::ReadOptions { tail: None, ..opts.clone() },
            pos,
            &alive,
            sink,
        )
    }

    fn runtime_kill(&self, c: &Container, signal: i32) -> Result<()> {
        // Read only if the monitor dies before the container (see `adopt`); only
        // SIGKILL is certain to end it.
        if signal == 9 {
            let _ = fs::write(Container::killed_marker(self.root(), &c.id), signal.to_string());
        }
        match self.runtime_for(&c.id).kill(&c.id, signal, false) {
            Ok(()) => Ok(()),
            Err(wharf_runtime::RuntimeError::NotRunning) | Err(wharf_runtime::RuntimeError::NotFound(_)) => {
                Err(EngineError::Conflict(format!("Container {} is not running", c.id)))
            }
            Err(e) => Err(e.into()),
        }
    }

    pub fn kill(&self, key: &str, signal: i32) -> Result<()> {
        let c = self.get(key)?;
        if c.state.status != Status::Running && c.state.status != Status::Paused {
            return Err(EngineError::Conflict(format!("Container {} is not running", c.id)));
        }
        self.mark_stopped_by_user(&c)?;
        self.runtime_kill(&c, signal)?;
        self.emit(&c.event("kill", &[("signal", signal.to_string())]));
        Ok(())
    }

    /// Holds off the restart policy (Docker's HasBeenManuallyStopped).
    fn mark_stopped_by_user(&self, c: &Container) -> Result<()> {
        let marker = Container::stop_marker(self.root(), &c.id);
        fs::write(&marker, b"").map_err(EngineError::io("write", &marker))
    }

    /// `stop`: the stop signal, then SIGKILL after `timeout`.
    pub fn stop(&self, key: &str, timeout: Duration, signal: i32) -> Result<bool> {
        let c = self.get(key)?;
        if !matches!(c.state.status, Status::Running | Status::Paused | Status::Restarting) {
            return Ok(false);
        }
        self.mark_stopped_by_user(&c)?;
        // Between two runs the monitor sees the marker and gives up; a run
        // that started anyway (or was running) gets the signal, then SIGKILL.
        let deadline = Instant::now() + timeout;
        let mut signalled = false;
        loop {
            match self.get(&c.id).map(|x| x.state.status).unwrap_or(Status::Exited) {
                Status::Running | Status::Paused => {
                    if !signalled {
                        let _ = self.runtime_kill(&c, signal);
                        signalled = true;
                    } else if Instant::now() >= deadline {
                        let _ = self.runtime_kill(&c, 9);
                        self.wait(&c.id)?;
                        break;
                    }
                }
                Status::Restarting | Status::Created => {}
                _ => break,
            }
            std::thread::sleep(Duration::from_millis(20));
        }
        self.emit(&c.event("stop", &[]));
        Ok(true)
    }

    /// `rm`: a running container needs `force` (then it is killed); `volumes`
    /// also removes its anonymous volumes.
    pub fn remove(&self, key: &str, force: bool, volumes: bool) -> Result<()> {
        let c = self.get(key)?;
        if matches!(c.state.status, Status::Running | Status::Paused | Status::Restarting) {
            if !force {
                return Err(EngineError::Conflict(format!(
                    "You cannot remove a running container {}. Stop the container before attempting removal or force remove",
                    c.id
                )));
            }
            self.mark_stopped_by_user(&c)?;
            let _ = self.runtime_kill(&c, 9);
            self.wait(&c.id)?;
        }
        self.cleanup(&c.id);
        self.emit(&c.event("destroy", &[]));
        if volumes {
            for m in c.opts.mounts.iter().filter(|m| m.typ == "volume") {
                if self.volume(&m.source).map(|v| v.anonymous).unwrap_or(false)
                    && self.volume_users(&m.source)?.is_empty()
                {
                    self.remove_volume(&m.source, false)?;
                }
            }
        }
        Ok(())
    }

    /// Drops everything a container owned (mount, writable layer, runtime state, files).
    pub fn cleanup(&self, id: &str) {
        let dir = Container::dir(self.root(), id);
        self.host().unmount(&dir.join("rootfs"));
        let _ = self.runtime_for(id).delete(id, true);
        self.unwire(id);
        let _ = self.images.snapshots.remove_active(id);
        let _ = fs::remove_dir_all(&dir);
    }
}

impl Engine {
    fn running(&self, key: &str) -> Result<Container> {
        let c = self.get(key)?;
        if !matches!(c.state.status, Status::Running | Status::Paused) {
            return Err(EngineError::Conflict(format!("Container {} is not running", c.id)));
        }
        Ok(c)
    }

    /// `pause`/`unpause`: freezes or thaws every process of the container.
    pub fn set_paused(&self, key: &str, paused: bool) -> Result<()> {
        let mut c = self.running(key)?;
        match (paused, &c.state.status) {
            (true, Status::Paused) => {
                return Err(EngineError::Conflict(format!("Container {} is already paused", c.id)))
            }
            (false, Status::Running) => return Err(EngineError::Conflict(format!("Container {} is not paused", c.id))),
            _ => {}
        }
        if paused {
            self.runtime_for(&c.id).pause(&c.id)?;
        } else {
            self.runtime_for(&c.id).resume(&c.id)?;
        }
        let status = if paused { Status::Paused } else { Status::Running };
        c = self
            .update(&c.id, |c| {
                c.state.status = status;
                Ok(())
            })?
            .0;
        self.emit(&c.event(if paused { "pause" } else { "unpause" }, &[]));
        Ok(())
    }

    /// `rename`: names stay unique.
    pub fn rename(&self, key: &str, new_name: &str) -> Result<()> {
        let c = self.get(key)?;
        let n = new_name.trim_start_matches('/');
        if !valid_name(n) {
            return Err(EngineError::Invalid {
                what: "container name".into(),
                reason: format!("Invalid container name ({n})"),
            });
        }
        let (c, old) = {
            let _names = self.names_lock()?;
            self.check_name_free(n, &c.id)?;
            self.update(&c.id, |c| Ok(std::mem::replace(&mut c.name, n.to_string())))?
        };
        self.emit(&c.event("rename", &[("oldName", format!("/{old}"))]));
        Ok(())
    }

    /// `top`: the container's processes, one row of `ps -ef`-like columns each.
    pub fn top(&self, key: &str) -> Result<Vec<Vec<String>>> {
        let c = self.running(key)?;
        let mut rows = Vec::new();
        for pid in self.runtime_for(&c.id).ps(&c.id)? {
            let stat = fs::read_to_string(format!("/proc/{pid}/stat")).unwrap_or_default();
            let after = stat.rfind(')').map(|i| &stat[i + 2..]).unwrap_or("");
            let ppid = after.split(' ').nth(1).unwrap_or("0").to_string();
            let cmd = fs::read(format!("/proc/{pid}/cmdline"))
                .map(|b| {
                    b.split(|x| *x == 0)
                        .filter(|s| !s.is_empty())
                        .map(|s| String::from_utf8_lossy(s).into_owned())
                        .collect::<Vec<_>>()
                        .join(" ")
                })
                .unwrap_or_default();
            let uid = fs::read_to_string(format!("/proc/{pid}/status"))
                .ok()
                .and_then(|s| {
                    s.lines()
                        .find(|l| l.starts_with("Uid:"))
                        .and_then(|l| l.split_whitespace().nth(1).map(str::to_string))
                })
                .unwrap_or_default();
            rows.push(vec![uid, pid.to_string(), ppid, cmd]);
        }
        Ok(rows)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn log_options() {
        let cfg = |pairs: &[(&str, &str)]| pairs.iter().map(|(k, v)| (k.to_string(), v.to_string())).collect();
        let o = LogOptions::from_docker("json-file", &cfg(&[("max-size", "10m"), ("max-file", "3")])).unwrap();
        assert_eq!((o.max_size, o.max_file), (10 << 20, 3));
        assert_eq!(LogOptions::from_docker("", &cfg(&[])).unwrap(), LogOptions::default());
        assert_eq!(LogOptions::from_docker("none", &cfg(&[])).unwrap().driver, "none");
        for (d, c) in [
            ("syslog", vec![]),
            ("json-file", vec![("max-size", "lots")]),
            ("json-file", vec![("max-file", "0")]),
            ("json-file", vec![("bogus", "1")]),
        ] {
            assert!(LogOptions::from_docker(d, &cfg(&c)).is_err(), "{d} {c:?}");
        }
    }

    #[test]
    fn restart_policy_rules() {
        assert_eq!(RestartPolicy::parse("on-failure:3").unwrap().maximum_retry_count, 3);
        assert!(RestartPolicy::parse("always:2").is_err());
        assert!(RestartPolicy::parse("on-failure:x").is_err());
        assert!(RestartPolicy::parse("sometimes").is_err());
        let always = RestartPolicy::parse("always").unwrap();
        assert!(always.should_restart(0, 100, false));
        assert!(!always.should_restart(1, 0, true), "a user's stop wins");
        let of = RestartPolicy::parse("on-failure:2").unwrap();
        assert!(!of.should_restart(0, 0, false));
        assert!(of.should_restart(1, 1, false));
        assert!(!of.should_restart(1, 2, false));
        assert!(RestartPolicy::parse("on-failure").unwrap().should_restart(1, 1000, false));
        assert!(!RestartPolicy::parse("no").unwrap().should_restart(1, 0, false));
        assert!(RestartPolicy::default().is_none());
    }
}
