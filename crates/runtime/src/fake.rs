//! A fake [`Runtime`] for the layers above (feature `fake`): it runs the
//! bundle's process on the host, unconfined and without root — no
//! namespaces, cgroups or mounts — with the OCI lifecycle's shape (a created
//! process waits for `start`), so the engine's monitor, restart policy,
//! exec and log paths can be unit-tested. Plus [`contract`], the one suite
//! every runtime implementation runs.

use std::collections::HashMap;
use std::io::Write;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::sync::Mutex;

use nix::sys::signal::{kill, Signal};
use nix::unistd::Pid;
use oci_spec::runtime::{Process, Spec};

use crate::cgroups::CgroupStats;
use crate::error::{Result, RuntimeError};
use crate::native::{CreateOptions, ExecOptions};
use crate::state::{State, Status};
use crate::Runtime;

struct Entry {
    /// The init (a child of this process; reaped by whoever waits for it —
    /// the engine's monitor — or by `delete`).
    pid: i32,
    fifo: PathBuf,
    bundle: PathBuf,
    status: Status,
    /// The memory limit of the last `update` (what `stats` reports).
    memory_limit: Option<u64>,
}

/// State lives in memory: one `Fake` is one runtime root.
pub struct Fake {
    dir: PathBuf,
    containers: Mutex<HashMap<String, Entry>>,
}

impl Fake {
    /// `dir` holds the start fifos.
    pub fn new(dir: impl Into<PathBuf>) -> Fake {
        Fake { dir: dir.into(), containers: Mutex::new(HashMap::new()) }
    }

    fn with<T>(&self, id: &str, f: impl FnOnce(&mut Entry) -> Result<T>) -> Result<T> {
        let mut map = self.containers.lock().unwrap_or_else(|e| e.into_inner());
        let e = map.get_mut(id).ok_or_else(|| RuntimeError::NotFound(id.to_string()))?;
        refresh(e);
        f(e)
    }
}

/// A process that exited (a zombie, looked at without reaping it) or was
/// reaped by someone else is stopped. The runtime never reaps a live
/// container's init itself: its exit status belongs to the waiter.
fn refresh(e: &mut Entry) {
    if e.status != Status::Stopped && exited(e.pid) {
        e.status = Status::Stopped;
    }
}

fn exited(pid: i32) -> bool {
    use nix::sys::wait::{waitid, Id, WaitPidFlag, WaitStatus};
    let flags = WaitPidFlag::WEXITED | WaitPidFlag::WNOHANG | WaitPidFlag::WNOWAIT;
    !matches!(waitid(Id::Pid(Pid::from_raw(pid)), flags), Ok(WaitStatus::StillAlive))
}

fn with_stdio(cmd: &mut Command, stdio: Option<&crate::StdioFds>) -> Result<()> {
    if let Some(io) = stdio {
        let (i, o, e) = io.dup()?;
        cmd.stdin(Stdio::from(i)).stdout(Stdio::from(o)).stderr(Stdio::from(e));
    }
    Ok(())
}

fn process_of(bundle: &Path) -> Result<Process> {
    let path = bundle.join("config.json");
    let spec = Spec::load(&path).map_err(|e| RuntimeError::InvalidConfig { path, reason: e.to_string() })?;
    spec.process().clone().ok_or_else(|| RuntimeError::InvalidSpec("no process".into()))
}

fn command(p: &Process) -> Result<Command> {
    let args = p.args().clone().unwrap_or_default();
    let Some(arg0) = args.first() else { return Err(RuntimeError::InvalidSpec("process.args is empty".into())) };
    let env = p.env().clone().unwrap_or_default();
    let path = env.iter().find_map(|e| e.strip_prefix("PATH=")).unwrap_or("/usr/bin:/bin");
    // The host's PATH lookup, as the real runtimes do inside the root.
    let found = arg0.contains('/')
        || path.split(':').any(|d| Path::new(d).join(arg0).is_file() || Path::new("/bin").join(arg0).is_file());
    if !found {
        return Err(RuntimeError::ExecutableNotFound(format!("exec: {arg0:?}: executable file not found in $PATH")));
    }
    let mut cmd = Command::new("/bin/sh");
    cmd.env_clear();
    for kv in &env {
        if let Some((k, v)) = kv.split_once('=') {
            cmd.env(k, v);
        }
    }
    if !env.iter().any(|e| e.starts_with("PATH=")) {
        cmd.env("PATH", path);
    }
    if p.cwd().is_dir() {
        cmd.current_dir(p.cwd());
    }
    Ok(cmd)
}

impl Runtime for Fake {
    fn create(&self, id: &str, opts: &CreateOptions) -> Result<i32> {
        let mut map = self.containers.lock().unwrap_or_else(|e| e.into_inner());
        if map.contains_key(id) {
            return Err(RuntimeError::Exists(id.to_string()));
        }
        let p = process_of(&opts.bundle)?;
        let mut cmd = command(&p)?;
        std::fs::create_dir_all(&self.dir).map_err(RuntimeError::io("create", &self.dir))?;
        let fifo = self.dir.join(format!("{id}.start"));
        let _ = std::fs::remove_file(&fifo);
        nix::unistd::mkfifo(&fifo, nix::sys::stat::Mode::from_bits_truncate(0o600))
            .map_err(RuntimeError::sys("mkfifo"))?;
        // Waits for `start` on the fifo, then becomes the program.
        cmd.arg("-c").arg("read _ < \"$0\" && exec \"$@\"").arg(&fifo).args(p.args().clone().unwrap_or_default());
        with_stdio(&mut cmd, opts.stdio.as_ref())?;
        let pid = cmd.spawn().map_err(RuntimeError::io("spawn", "/bin/sh"))?.id() as i32;
        if let Some(f) = &opts.pid_file {
            std::fs::write(f, pid.to_string()).map_err(RuntimeError::io("write", f))?;
        }
        map.insert(
            id.to_string(),
            Entry { pid, fifo, bundle: opts.bundle.clone(), status: Status::Created, memory_limit: None },
        );
        Ok(pid)
    }

    fn start(&self, id: &str) -> Result<()> {
        let fifo = self.with(id, |e| match e.status {
            Status::Created => Ok(e.fifo.clone()),
            s => Err(RuntimeError::WrongState {
                id: id.into(),
                status: s.to_string(),
                action: "start",
                needed: "created",
            }),
        })?;
        let mut f = std::fs::OpenOptions::new().write(true).open(&fifo).map_err(RuntimeError::io("open", &fifo))?;
        f.write_all(b"go\n").map_err(RuntimeError::io("write", &fifo))?;
        let _ = std::fs::remove_file(&fifo);
        self.with(id, |e| {
            if e.status == Status::Created {
                e.status = Status::Running;
            }
            Ok(())
        })
    }

    fn state(&self, id: &str) -> Result<State> {
        self.with(id, |e| {
            Ok(State {
                oci_version: "1.2.0".into(),
                id: id.into(),
                status: e.status,
                pid: if e.status == Status::Stopped { 0 } else { e.pid },
                bundle: e.bundle.clone(),
                rootfs: None,
                created: None,
                owner: None,
                annotations: HashMap::new(),
            })
        })
    }

    fn kill(&self, id: &str, signal: i32, _all: bool) -> Result<()> {
        let sig = Signal::try_from(signal).map_err(|_| RuntimeError::InvalidSignal(signal.to_string()))?;
        self.with(id, |e| {
            if e.status == Status::Stopped {
                return Err(RuntimeError::NotRunning);
            }
            kill(Pid::from_raw(e.pid), sig).map_err(RuntimeError::sys("kill"))
        })
    }

    fn delete(&self, id: &str, force: bool) -> Result<()> {
        let mut map = self.containers.lock().unwrap_or_else(|e| e.into_inner());
        let Some(e) = map.get_mut(id) else { return Err(RuntimeError::NotFound(id.to_string())) };
        refresh(e);
        if e.status != Status::Stopped && e.status != Status::Created && !force {
            return Err(RuntimeError::WrongState {
                id: id.into(),
                status: e.status.to_string(),
                action: "delete",
                needed: "stopped",
            });
        }
        let e = map.remove(id).expect("looked up");
        if !exited(e.pid) {
            let _ = kill(Pid::from_raw(e.pid), Signal::SIGKILL);
        }
        // Reaps it unless its waiter already did (ECHILD then).
        let _ = nix::sys::wait::waitpid(Pid::from_raw(e.pid), None);
        let _ = std::fs::remove_file(&e.fifo);
        Ok(())
    }

    fn pause(&self, id: &str) -> Result<()> {
        self.with(id, |e| {
            if e.status != Status::Running {
                return Err(RuntimeError::NotRunning);
            }
            kill(Pid::from_raw(e.pid), Signal::SIGSTOP).map_err(RuntimeError::sys("kill"))?;
            e.status = Status::Paused;
            Ok(())
        })
    }

    fn resume(&self, id: &str) -> Result<()> {
        self.with(id, |e| {
            if e.status != Status::Paused {
                return Err(RuntimeError::WrongState {
                    id: e.bundle.display().to_string(),
                    status: e.status.to_string(),
                    action: "resume",
                    needed: "paused",
                });
            }
            kill(Pid::from_raw(e.pid), Signal::SIGCONT).map_err(RuntimeError::sys("kill"))?;
            e.status = Status::Running;
            Ok(())
        })
    }

    fn ps(&self, id: &str) -> Result<Vec<i32>> {
        self.with(id, |e| Ok(if e.status == Status::Stopped { Vec::new() } else { vec![e.pid] }))
    }

    fn exec(&self, id: &str, process: &Process, opts: &ExecOptions) -> Result<i32> {
        self.with(id, |e| if e.status == Status::Running { Ok(()) } else { Err(RuntimeError::NotRunning) })?;
        let mut cmd = command(process)?;
        cmd.arg("-c").arg("exec \"$@\"").arg("sh").args(process.args().clone().unwrap_or_default());
        with_stdio(&mut cmd, opts.stdio.as_ref())?;
        let mut child = cmd.spawn().map_err(RuntimeError::io("spawn", "/bin/sh"))?;
        if let Some(f) = &opts.pid_file {
            std::fs::write(f, child.id().to_string()).map_err(RuntimeError::io("write", f))?;
        }
        if opts.detach {
            return Ok(0);
        }
        let status = child.wait().map_err(RuntimeError::io("wait", "exec"))?;
        Ok(status.code().unwrap_or(128))
    }

    fn stats(&self, id: &str) -> Result<CgroupStats> {
        self.with(id, |e| {
            Ok(CgroupStats {
                pids: u64::from(e.status != Status::Stopped),
                memory_limit: e.memory_limit,
                ..Default::default()
            })
        })
    }

    fn update(&self, id: &str, resources: &oci_spec::runtime::LinuxResources) -> Result<()> {
        self.with(id, |e| {
            if e.status == Status::Stopped {
                return Err(RuntimeError::NotRunning);
            }
            if let Some(limit) = resources.memory().as_ref().and_then(|m| m.limit()) {
                e.memory_limit = u64::try_from(limit).ok().filter(|l| *l > 0);
            }
            Ok(())
        })
    }
}

/// The contract every [`Runtime`] keeps, as one suite (containerd's
/// snapshotter test suite is the model). `bundle(dir, args)` writes a bundle
/// whose process runs `args`; `stopped(id)` waits until the runtime reports the
/// container stopped (whoever reaps it).
pub fn contract(rt: &dyn Runtime, bundle: &dyn Fn(&str, &[&str]) -> PathBuf, prefix: &str) {
    let id = |n: &str| format!("{prefix}-{n}");
    let wait_stopped = |id: &str| {
        let deadline = std::time::Instant::now() + std::time::Duration::from_secs(10);
        while rt.state(id).map(|s| s.status != Status::Stopped).unwrap_or(false) {
            assert!(std::time::Instant::now() < deadline, "{id} did not stop");
            std::thread::sleep(std::time::Duration::from_millis(10));
        }
    };
    // Lifecycle: created → running → paused → running → killed → stopped → deleted.
    let a = id("life");
    let b = bundle(&a, &["sleep", "100"]);
    let pid_file = b.join("init.pid");
    let opts = CreateOptions { bundle: b.clone(), pid_file: Some(pid_file.clone()), ..Default::default() };
    let pid = rt.create(&a, &opts).expect("create");
    assert!(pid > 0);
    assert_eq!(std::fs::read_to_string(&pid_file).unwrap().trim(), pid.to_string());
    let st = rt.state(&a).expect("state");
    assert_eq!((st.status, st.pid), (Status::Created, pid));
    assert!(matches!(
        rt.create(&a, &CreateOptions { bundle: b, ..Default::default() }),
        Err(RuntimeError::Exists(_)) | Err(RuntimeError::External { .. })
    ));
    rt.start(&a).expect("start");
    assert_eq!(rt.state(&a).unwrap().status, Status::Running);
    assert!(rt.ps(&a).unwrap().contains(&pid));
    let mut p = Process::default();
    p.set_terminal(Some(false));
    p.set_cwd("/".into());
    p.set_args(Some(vec!["sh".into(), "-c".into(), "exit 5".into()]));
    assert_eq!(rt.exec(&a, &p, &ExecOptions::default()).expect("exec"), 5);
    rt.pause(&a).expect("pause");
    assert_eq!(rt.state(&a).unwrap().status, Status::Paused);
    rt.resume(&a).expect("resume");
    assert_eq!(rt.state(&a).unwrap().status, Status::Running);
    assert!(rt.stats(&a).expect("stats").pids >= 1);
    // A live update of the memory limit is what the container's stats then report.
    let mut res = oci_spec::runtime::LinuxResources::default();
    let mut mem = oci_spec::runtime::LinuxMemory::default();
    mem.set_limit(Some(64 << 20));
    res.set_memory(Some(mem));
    rt.update(&a, &res).expect("update");
    assert_eq!(rt.stats(&a).unwrap().memory_limit, Some(64 << 20));
    assert!(rt.delete(&a, false).is_err(), "a running container is not deleted without force");
    rt.kill(&a, 9, false).expect("kill");
    wait_stopped(&a);
    assert!(rt.kill(&a, 9, false).is_err(), "kill of a stopped container");
    rt.delete(&a, false).expect("delete");
    assert!(rt.state(&a).is_err());
    // A missing executable is its own error kind (the engine's exit 127).
    let m = id("missing");
    let created = rt.create(&m, &CreateOptions { bundle: bundle(&m, &["no-such-command-x"]), ..Default::default() });
    let started = created.and_then(|_| rt.start(&m));
    assert!(matches!(started, Err(RuntimeError::ExecutableNotFound(_))), "{started:?}");
    let _ = rt.delete(&m, true);
    // Force-delete of a running container; unknown ids.
    let f = id("force");
    rt.create(&f, &CreateOptions { bundle: bundle(&f, &["sleep", "100"]), ..Default::default() }).unwrap();
    rt.start(&f).unwrap();
    rt.delete(&f, true).expect("delete --force");
    assert!(rt.state(&f).is_err());
    assert!(rt.start(&id("nosuch")).is_err());
    assert!(rt.kill(&id("nosuch"), 15, false).is_err());
    // Stdio given in the options reaches the init and exec'd processes.
    let s = id("stdio");
    let (io, mut stdin, mut out, mut err) = pipes();
    let args = ["sh", "-c", "read l; echo out:$l; echo err >&2; sleep 100"];
    let created = CreateOptions { bundle: bundle(&s, &args), stdio: Some(io), ..Default::default() };
    rt.create(&s, &created).expect("create with stdio");
    drop(created);
    rt.start(&s).expect("start");
    stdin.write_all(b"hi\n").unwrap();
    assert_eq!(read_line(&mut out), "out:hi");
    assert_eq!(read_line(&mut err), "err");
    let (io, _stdin, mut out, _err) = pipes();
    let mut p = Process::default();
    p.set_terminal(Some(false));
    p.set_cwd("/".into());
    p.set_args(Some(vec!["sh".into(), "-c".into(), "echo exec-out".into()]));
    let code = rt.exec(&s, &p, &ExecOptions { stdio: Some(io), ..Default::default() }).expect("exec with stdio");
    assert_eq!((code, read_line(&mut out)), (0, "exec-out".to_string()));
    rt.delete(&s, true).expect("delete");
}

/// A process's stdio as pipes: its ends, and ours (stdin's writer, stdout's and stderr's readers).
fn pipes() -> (crate::StdioFds, std::fs::File, std::fs::File, std::fs::File) {
    let p = || nix::unistd::pipe2(nix::fcntl::OFlag::O_CLOEXEC).expect("pipe");
    let ((in_r, in_w), (out_r, out_w), (err_r, err_w)) = (p(), p(), p());
    (crate::StdioFds::new(in_r, out_w, err_w), in_w.into(), out_r.into(), err_r.into())
}

/// One line (without its newline), read a byte at a time.
fn read_line(f: &mut std::fs::File) -> String {
    use std::io::Read;
    let mut line = Vec::new();
    let mut b = [0u8; 1];
    while f.read(&mut b).map(|n| n == 1).unwrap_or(false) && b[0] != b'\n' {
        line.push(b[0]);
    }
    String::from_utf8_lossy(&line).into_owned()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn bundle(root: &Path, id: &str, args: &[&str]) -> PathBuf {
        let dir = root.join(id);
        std::fs::create_dir_all(&dir).unwrap();
        let mut spec = Spec::default();
        let mut p = spec.process().clone().unwrap();
        p.set_args(Some(args.iter().map(|s| s.to_string()).collect()));
        p.set_cwd("/".into());
        spec.set_process(Some(p));
        spec.save(dir.join("config.json")).unwrap();
        dir
    }

    #[test]
    fn fake_keeps_the_runtime_contract() {
        let tmp = tempfile::tempdir().unwrap();
        let rt = Fake::new(tmp.path().join("state"));
        let root = tmp.path().to_path_buf();
        contract(&rt, &|id, args| bundle(&root, id, args), "fake");
    }

    #[test]
    fn fake_exec_and_exit_codes() {
        let tmp = tempfile::tempdir().unwrap();
        let rt = Fake::new(tmp.path().join("state"));
        let b = bundle(tmp.path(), "c", &["sh", "-c", "exit 3"]);
        let pid = rt.create("c", &CreateOptions { bundle: b, ..Default::default() }).unwrap();
        rt.start("c").unwrap();
        let status = nix::sys::wait::waitpid(Pid::from_raw(pid), None).unwrap();
        assert_eq!(status, nix::sys::wait::WaitStatus::Exited(Pid::from_raw(pid), 3));
        assert_eq!(rt.state("c").unwrap().status, Status::Stopped);
        let b = bundle(tmp.path(), "d", &["sleep", "100"]);
        rt.create("d", &CreateOptions { bundle: b, ..Default::default() }).unwrap();
        rt.start("d").unwrap();
        let mut p = Process::default();
        p.set_args(Some(vec!["sh".into(), "-c".into(), "exit 7".into()]));
        p.set_cwd("/".into());
        assert_eq!(rt.exec("d", &p, &ExecOptions::default()).unwrap(), 7);
        rt.delete("d", true).unwrap();
    }
}
