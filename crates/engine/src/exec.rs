//! Processes run in a running container (`exec`, healthcheck probes): the
//! OCI process built from the container's own (its `config.json`) with the
//! exec's overrides — user resolved in the container's passwd/group through
//! the confined reader —, run through the container's runtime
//! ([`crate::Engine::exec_runtime`]: the built-in one as `wharf runtime
//! exec`, forked from a fresh single-threaded process).
//! Exec records live in memory, as Docker keeps them.

use std::collections::HashMap;
use std::os::fd::OwnedFd;
use std::path::{Path, PathBuf};
use std::sync::Mutex;

use crate::error::{EngineError, Result};
use crate::model::Container;

/// What an exec runs (Docker's `ExecConfig`, without the wire shape).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct ExecConfig {
    pub cmd: Vec<String>,
    pub env: Vec<String>,
    pub working_dir: String,
    pub user: String,
    pub tty: bool,
    pub privileged: bool,
    pub attach_stdin: bool,
    /// Which output streams an attached client gets (the others go nowhere).
    pub attach_stdout: bool,
    pub attach_stderr: bool,
    /// The sequence that ends an attached client's session (Docker's
    /// syntax, as given; the API applies it).
    pub detach_keys: String,
}

/// One exec instance.
#[derive(Debug, Clone, Default)]
pub struct ExecRecord {
    pub id: String,
    pub container: String,
    pub config: ExecConfig,
    pub running: bool,
    pub exit_code: Option<i32>,
    /// Where the runtime writes the exec'd process's host pid (for resizes and timeouts).
    pub pid_file: Option<PathBuf>,
    /// Creation order (set by [`Execs::insert`]).
    pub seq: u64,
}

impl ExecRecord {
    /// The exec'd process's host pid while it runs (0 before the runtime wrote it, and after).
    pub fn pid(&self) -> i32 {
        match (&self.pid_file, self.running) {
            (Some(f), true) => exec_pid(f).unwrap_or(0),
            _ => 0,
        }
    }
}

/// The in-memory table of exec instances.
#[derive(Debug, Default)]
pub struct Execs {
    map: Mutex<HashMap<String, ExecRecord>>,
}

impl Execs {
    pub fn insert(&self, mut r: ExecRecord) {
        static SEQ: std::sync::atomic::AtomicU64 = std::sync::atomic::AtomicU64::new(0);
        r.seq = SEQ.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
        self.map.lock().unwrap_or_else(|e| e.into_inner()).insert(r.id.clone(), r);
    }

    pub fn get(&self, id: &str) -> Result<ExecRecord> {
        self.map
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .get(id)
            .cloned()
            .ok_or_else(|| EngineError::NoSuchExec(id.to_string()))
    }

    pub fn update(&self, id: &str, f: impl FnOnce(&mut ExecRecord)) {
        if let Some(e) = self.map.lock().unwrap_or_else(|e| e.into_inner()).get_mut(id) {
            f(e);
        }
    }

    /// The ids of a container's exec instances (Docker's `ExecIDs`), oldest first.
    pub fn of_container(&self, container: &str) -> Vec<String> {
        let map = self.map.lock().unwrap_or_else(|e| e.into_inner());
        let mut out: Vec<&ExecRecord> = map.values().filter(|r| r.container == container).collect();
        out.sort_by_key(|r| r.seq);
        out.into_iter().map(|r| r.id.clone()).collect()
    }

    /// Forgets the execs of a removed container.
    pub fn forget_container(&self, container: &str) {
        self.map.lock().unwrap_or_else(|e| e.into_inner()).retain(|_, r| r.container != container);
    }
}

/// The OCI process of an exec: the container's process with the overrides.
/// Reads files of the container (its spec, passwd and group): call it on a
/// blocking thread, never on an async worker.
pub fn process(root: &Path, container: &str, config: &ExecConfig) -> Result<oci_spec::runtime::Process> {
    let dir = Container::dir(root, container);
    let path = dir.join("config.json");
    let data = std::fs::read(&path).map_err(EngineError::io("read", &path))?;
    let spec: oci_spec::runtime::Spec = serde_json::from_slice(&data)
        .map_err(|e| EngineError::Invalid { what: path.display().to_string(), reason: e.to_string() })?;
    let mut p = spec.process().clone().unwrap_or_default();
    p.set_args(Some(config.cmd.clone()));
    p.set_terminal(Some(config.tty));
    let mut env = p.env().clone().unwrap_or_default();
    for kv in &config.env {
        let key = kv.split('=').next().unwrap_or(kv);
        env.retain(|x| x.split('=').next() != Some(key));
        env.push(kv.clone());
    }
    p.set_env(Some(env));
    if !config.working_dir.is_empty() {
        p.set_cwd(config.working_dir.clone().into());
    }
    if !config.user.is_empty() {
        let u = crate::user::resolve(&dir.join("rootfs"), &config.user)?;
        let mut user = p.user().clone();
        user.set_uid(u.uid);
        user.set_gid(u.gid);
        user.set_additional_gids((!u.additional_gids.is_empty()).then_some(u.additional_gids));
        p.set_user(user);
    }
    if config.privileged {
        let caps = crate::spec::capabilities(&["ALL".into()], &[])?;
        let mut c = oci_spec::runtime::LinuxCapabilities::default();
        c.set_bounding(Some(caps.clone()));
        c.set_effective(Some(caps.clone()));
        c.set_permitted(Some(caps));
        p.set_capabilities(Some(c));
    }
    Ok(p)
}

/// An exec's stdio: the process's ends, and ours of the streams an
/// attached client gets (the others are `/dev/null`).
pub struct Pipes {
    pub fds: wharf_runtime::StdioFds,
    pub stdin: Option<OwnedFd>,
    pub stdout: Option<OwnedFd>,
    pub stderr: Option<OwnedFd>,
}

impl Pipes {
    pub fn new(stdin: bool, stdout: bool, stderr: bool) -> Result<Pipes> {
        let pipe =
            || nix::unistd::pipe2(nix::fcntl::OFlag::O_CLOEXEC).map_err(|e| EngineError::Other(format!("pipe: {e}")));
        let null = || -> Result<OwnedFd> {
            Ok(std::fs::File::options()
                .read(true)
                .write(true)
                .open("/dev/null")
                .map_err(EngineError::io("open", "/dev/null"))?
                .into())
        };
        let (in_theirs, in_ours) = if stdin { pipe().map(|(r, w)| (r, Some(w)))? } else { (null()?, None) };
        let (out_ours, out_theirs) = if stdout { pipe().map(|(r, w)| (Some(r), w))? } else { (None, null()?) };
        let (err_ours, err_theirs) = if stderr { pipe().map(|(r, w)| (Some(r), w))? } else { (None, null()?) };
        Ok(Pipes {
            fds: wharf_runtime::StdioFds::new(in_theirs, out_theirs, err_theirs),
            stdin: in_ours,
            stdout: out_ours,
            stderr: err_ours,
        })
    }
}

/// Runs `process` in `container` through `rt` on a blocking thread (the
/// runtime's exec waits for it); its exit code. A runtime error is the
/// exec's end too: 126 whatever it was, as dockerd's (the message goes to
/// `error`).
pub fn spawn(
    rt: std::sync::Arc<dyn wharf_runtime::Runtime>,
    container: &str,
    process: oci_spec::runtime::Process,
    fds: wharf_runtime::StdioFds,
    pid_file: &Path,
) -> tokio::task::JoinHandle<(i32, Option<String>)> {
    let opts =
        wharf_runtime::ExecOptions { pid_file: Some(pid_file.to_path_buf()), stdio: Some(fds), ..Default::default() };
    let container = container.to_string();
    tokio::task::spawn_blocking(move || match rt.exec(&container, &process, &opts) {
        Ok(code) => (code, None),
        Err(e) => (126, Some(EngineError::from(e).to_string())),
    })
}

/// The host pid the runtime wrote for an exec'd process.
pub fn exec_pid(pid_file: &Path) -> Option<i32> {
    std::fs::read_to_string(pid_file).ok()?.trim().parse().ok()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn container_with_spec(root: &Path, id: &str) {
        let dir = Container::dir(root, id);
        std::fs::create_dir_all(dir.join("rootfs/etc")).unwrap();
        std::fs::write(
            dir.join("rootfs/etc/passwd"),
            "root:x:0:0::/root:/bin/sh\napp:x:1000:1000::/home/app:/bin/sh\n",
        )
        .unwrap();
        std::fs::write(dir.join("rootfs/etc/group"), "root:x:0:\napp:x:1000:\nextra:x:2000:app\n").unwrap();
        let mut spec = oci_spec::runtime::Spec::default();
        let mut p = spec.process().clone().unwrap();
        p.set_env(Some(vec!["PATH=/bin".into(), "A=1".into()]));
        spec.set_process(Some(p));
        std::fs::write(dir.join("config.json"), serde_json::to_vec(&spec).unwrap()).unwrap();
    }

    #[test]
    fn exec_process_overrides_the_containers() {
        let tmp = tempfile::tempdir().unwrap();
        container_with_spec(tmp.path(), "c1");
        let cfg = ExecConfig {
            cmd: vec!["id".into()],
            env: vec!["A=2".into(), "B=3".into()],
            working_dir: "/tmp".into(),
            user: "app".into(),
            tty: true,
            ..Default::default()
        };
        let p = process(tmp.path(), "c1", &cfg).unwrap();
        assert_eq!(p.args().as_ref().unwrap(), &["id"]);
        assert_eq!(p.env().as_ref().unwrap(), &["PATH=/bin", "A=2", "B=3"]);
        assert_eq!(p.cwd(), Path::new("/tmp"));
        assert_eq!((p.user().uid(), p.user().gid()), (1000, 1000));
        assert_eq!(p.user().additional_gids().as_ref().unwrap(), &[2000]);
        assert_eq!(p.terminal(), Some(true));
        let privileged = process(tmp.path(), "c1", &ExecConfig { privileged: true, ..cfg.clone() }).unwrap();
        assert!(privileged.capabilities().as_ref().unwrap().bounding().as_ref().unwrap().len() > 30);
        let unknown = process(tmp.path(), "c1", &ExecConfig { user: "nobody-here".into(), ..cfg }).unwrap_err();
        assert!(matches!(unknown, EngineError::NoSuchUser(_)));
    }

    #[test]
    fn exec_table() {
        let t = Execs::default();
        t.insert(ExecRecord { id: "e1".into(), container: "c1".into(), ..Default::default() });
        t.update("e1", |r| r.exit_code = Some(3));
        assert_eq!(t.get("e1").unwrap().exit_code, Some(3));
        t.forget_container("c1");
        assert!(matches!(t.get("e1"), Err(EngineError::NoSuchExec(_))));
    }
}
