//! The built-in runtime: each operation runs in the calling process and
//! forks the container's processes directly (no re-exec, no helper binary).
//!
//! Because it forks, [`Native`] must be driven from a single-threaded
//! process, which is what `wharf runtime` is. Multi-threaded callers (the
//! daemon) go through [`crate::OciBinary`] pointed at the `wharf` binary.

use std::fs;
use std::os::fd::{AsFd, OwnedFd};
use std::os::unix::fs::DirBuilderExt;
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use nix::sched::CloneFlags;
use nix::sys::signal::{kill, Signal};
use nix::sys::stat::Mode;
use nix::unistd::Pid;
use oci_spec::runtime::{LinuxNamespaceType, LinuxResources, Process, Spec};

use crate::cgroups::{self, Cgroup, Hierarchy};
use crate::error::{Result, RuntimeError};
use crate::init::{self, InitArgs, StartSignal};
use crate::spec::Bundle;
use crate::state::{self, validate_id, Record, State, Status, EXEC_FIFO};
pub use crate::stdio::StdioFds;
use crate::sync::{self, Channel};
use crate::{console, hooks, lsm, seccomp, sys};

/// Directory under the root holding compiled seccomp programs.
const SECCOMP_CACHE: &str = ".seccomp-cache";

/// Options of `create` and `run`.
#[derive(Debug, Clone, Default)]
pub struct CreateOptions {
    pub bundle: PathBuf,
    pub pid_file: Option<PathBuf>,
    pub console_socket: Option<PathBuf>,
    pub preserve_fds: u32,
    pub no_pivot: bool,
    /// The init's stdio; `None`: it inherits the caller's 0-2.
    pub stdio: Option<StdioFds>,
}

/// Options of `exec`.
#[derive(Debug, Clone, Default)]
pub struct ExecOptions {
    pub pid_file: Option<PathBuf>,
    pub console_socket: Option<PathBuf>,
    pub detach: bool,
    pub preserve_fds: u32,
    /// The process's stdio; `None`: it inherits the caller's 0-2.
    pub stdio: Option<StdioFds>,
}

#[derive(Debug, Clone)]
pub struct Native {
    root: PathBuf,
}

/// Undoes a half-made `create`/`exec` unless disarmed.
struct Cleanup {
    dir: Option<PathBuf>,
    cgroup: Option<Cgroup>,
    child: Option<Pid>,
}

impl Drop for Cleanup {
    fn drop(&mut self) {
        if let Some(pid) = self.child.take() {
            let _ = kill(pid, Signal::SIGKILL);
            let _ = nix::sys::wait::waitpid(pid, None);
        }
        if let Some(cg) = self.cgroup.take() {
            if let Err(e) = cg.destroy() {
                tracing::warn!("cleanup: {e}");
            }
        }
        if let Some(dir) = self.dir.take() {
            let _ = fs::remove_dir_all(dir);
        }
    }
}

impl Cleanup {
    fn disarm(mut self) {
        self.dir = None;
        self.cgroup = None;
        self.child = None;
    }
}

/// A container set up by `create_inner`, its init blocked until started.
struct Created {
    pid: Pid,
    chan: Channel,
    /// The pty master when the runtime itself holds the terminal.
    master: Option<OwnedFd>,
}

/// How the container's stdio terminal is delivered.
fn console_for(
    process: &Process,
    socket: Option<&Path>,
    may_proxy: bool,
) -> Result<(Option<OwnedFd>, Option<OwnedFd>)> {
    if process.terminal() != Some(true) {
        return Ok((None, None));
    }
    if let Some(path) = socket {
        return Ok((Some(console::connect(path)?.into()), None));
    }
    if !may_proxy {
        return Err(RuntimeError::InvalidSpec(
            "cannot allocate a tty without --console-socket when the runtime detaches".into(),
        ));
    }
    let (ours, theirs) = nix::sys::socket::socketpair(
        nix::sys::socket::AddressFamily::Unix,
        nix::sys::socket::SockType::Stream,
        None,
        nix::sys::socket::SockFlag::SOCK_CLOEXEC,
    )
    .map_err(RuntimeError::sys("socketpair"))?;
    Ok((Some(theirs), Some(ours)))
}

fn write_pid_file(path: Option<&Path>, pid: Pid) -> Result<()> {
    if let Some(path) = path {
        state::write_atomic(path, pid.to_string().as_bytes())?;
    }
    Ok(())
}

/// Writes /proc/PID/{uid,gid}_map for a new user namespace.
fn write_id_maps(pid: Pid, spec: &Spec) -> Result<()> {
    let linux = spec.linux().as_ref();
    let fmt = |maps: Option<&Vec<oci_spec::runtime::LinuxIdMapping>>| {
        maps.into_iter()
            .flatten()
            .map(|m| format!("{} {} {}\n", m.container_id(), m.host_id(), m.size()))
            .collect::<String>()
    };
    let uid = fmt(linux.and_then(|l| l.uid_mappings().as_ref()));
    let gid = fmt(linux.and_then(|l| l.gid_mappings().as_ref()));
    let base = PathBuf::from(format!("/proc/{pid}"));
    fs::write(base.join("uid_map"), uid).map_err(RuntimeError::io("write", base.join("uid_map")))?;
    fs::write(base.join("gid_map"), gid).map_err(RuntimeError::io("write", base.join("gid_map")))?;
    Ok(())
}

/// Waits for a process we did not fork to be gone (zombies count as gone).
fn wait_gone(pid: i32, start_time: u64) -> Result<()> {
    let deadline = Instant::now() + Duration::from_secs(10);
    while state::process_alive(pid, start_time) {
        if Instant::now() > deadline {
            return Err(RuntimeError::Init(format!("process {pid} did not exit")));
        }
        std::thread::sleep(Duration::from_millis(1));
    }
    Ok(())
}

/// Signals a foreground `run`/`exec` forwards to the container process.
const FORWARDED: [Signal; 7] = [
    Signal::SIGINT,
    Signal::SIGTERM,
    Signal::SIGHUP,
    Signal::SIGQUIT,
    Signal::SIGUSR1,
    Signal::SIGUSR2,
    Signal::SIGWINCH,
];

fn forwarded_set() -> nix::sys::signal::SigSet {
    let mut set = nix::sys::signal::SigSet::empty();
    for s in FORWARDED {
        set.add(s);
    }
    set.add(Signal::SIGCHLD);
    set
}

/// Waits for our child `pid`, forwarding signals (blocked beforehand) to it
/// and, when we hold the pty master, copying the terminal both ways. One
/// thread on purpose: after joining a pid namespace we may not spawn threads.
/// Returns its exit code (128+signal when killed).
fn wait_forwarding(pid: Pid, master: Option<OwnedFd>) -> Result<i32> {
    use nix::sys::signalfd::{SfdFlags, SignalFd};
    use nix::sys::wait::{waitpid, WaitPidFlag, WaitStatus};
    let sfd = SignalFd::with_flags(&forwarded_set(), SfdFlags::SFD_CLOEXEC | SfdFlags::SFD_NONBLOCK)
        .map_err(RuntimeError::sys("signalfd"))?;
    let mut tty = master.map(console::Proxy::new);
    loop {
        match waitpid(pid, Some(WaitPidFlag::WNOHANG)) {
            Ok(WaitStatus::Exited(_, code)) => {
                if let Some(t) = tty.as_mut() {
                    t.drain();
                }
                return Ok(code);
            }
            Ok(WaitStatus::Signaled(_, sig, _)) => return Ok(128 + sig as i32),
            Ok(_) => {}
            Err(nix::Error::ECHILD) => return Ok(0),
            Err(e) => return Err(RuntimeError::Sys("waitpid", e)),
        }
        let signals_ready = match tty.as_mut() {
            Some(t) => t.poll_once(sfd.as_fd())?,
            None => {
                let mut fds = [nix::poll::PollFd::new(sfd.as_fd(), nix::poll::PollFlags::POLLIN)];
                let _ = nix::poll::poll(&mut fds, nix::poll::PollTimeout::NONE);
                true
            }
        };
        if !signals_ready {
            continue;
        }
        while let Ok(Some(info)) = sfd.read_signal() {
            let sig = info.ssi_signo as i32;
            if sig == libc::SIGWINCH {
                if let Some(t) = tty.as_ref() {
                    t.sync_size();
                }
            }
            if sig != libc::SIGCHLD {
                let _ = sys::send_signal(pid.as_raw(), sig);
            }
        }
    }
}

/// Namespace join order: the user namespace first (it owns the others), mount last.
fn join_order(t: LinuxNamespaceType) -> u8 {
    match t {
        LinuxNamespaceType::User => 0,
        LinuxNamespaceType::Mount => 2,
        _ => 1,
    }
}

/// Parent side of the handshake: place the child in its cgroup, set its OOM
/// score, then let it go (GO carries its host pid).
fn release_child(pid: Pid, cgroup: &Cgroup, process: &Process, chan: &Channel) -> Result<()> {
    cgroup.add_pid(pid.as_raw())?;
    if let Some(adj) = process.oom_score_adj() {
        let path = format!("/proc/{pid}/oom_score_adj");
        fs::write(&path, adj.to_string()).map_err(RuntimeError::io("write", path))?;
    }
    chan.send(sync::GO, pid.to_string().as_bytes())
}

fn block_forwarded() -> Result<()> {
    nix::sys::signal::sigprocmask(nix::sys::signal::SigmaskHow::SIG_BLOCK, Some(&forwarded_set()), None)
        .map_err(RuntimeError::sys("sigprocmask"))
}

impl Native {
    pub fn new(root: impl Into<PathBuf>) -> Self {
        Native { root: root.into() }
    }

    pub fn root(&self) -> &Path {
        &self.root
    }

    fn load(&self, id: &str) -> Result<Record> {
        Record::load(&self.root, id)
    }

    fn create_inner(&self, id: &str, opts: &CreateOptions, start: bool) -> Result<Created> {
        validate_id(id)?;
        let bundle = Bundle::load(&opts.bundle)?;
        let spec = &bundle.spec;
        // Before anything is made: a profile or label the host cannot apply fails the create.
        lsm::check_spec(spec, lsm::Available::detect())?;
        let process = spec.process().clone().unwrap_or_default();
        fs::DirBuilder::new()
            .recursive(true)
            .mode(0o711)
            .create(&self.root)
            .map_err(RuntimeError::io("create", &self.root))?;
        let dir = Record::dir(&self.root, id);
        match fs::DirBuilder::new().mode(0o711).create(&dir) {
            Ok(()) => {}
            Err(e) if e.kind() == std::io::ErrorKind::AlreadyExists => return Err(RuntimeError::Exists(id.into())),
            Err(e) => return Err(RuntimeError::Io { context: "create", path: dir, source: e }),
        }
        let mut guard = Cleanup { dir: Some(dir.clone()), cgroup: None, child: None };

        let linux = spec.linux().clone().unwrap_or_default();
        let mut new_ns = CloneFlags::empty();
        let mut joins = Vec::new();
        let mut join_pid = None;
        for ns in linux.namespaces().iter().flatten() {
            match ns.path() {
                None => new_ns |= init::ns_flag(ns.typ()),
                Some(p) => {
                    let fd: OwnedFd = fs::File::open(p).map_err(RuntimeError::io("open namespace", p))?.into();
                    if ns.typ() == LinuxNamespaceType::Pid {
                        join_pid = Some(fd);
                    } else {
                        joins.push((ns.typ(), fd));
                    }
                }
            }
        }
        joins.sort_by_key(|(t, _)| join_order(*t));
        let hierarchy = Hierarchy::detect()?;
        let cgroup_path = cgroups::resolve_path(linux.cgroups_path().as_deref(), id)?;
        let cgroup = Cgroup::new(hierarchy.clone(), cgroup_path.clone());
        cgroup.create(linux.resources().as_ref())?;
        guard.cgroup = Some(cgroup.clone());
        let filter =
            linux.seccomp().as_ref().map(|s| seccomp::compile_cached(s, &self.root.join(SECCOMP_CACHE))).transpose()?;
        let start_signal = if start {
            StartSignal::Channel
        } else {
            let fifo = dir.join(EXEC_FIFO);
            nix::unistd::mkfifo(&fifo, Mode::from_bits_truncate(0o622))
                .map_err(RuntimeError::sys("mkfifo exec.fifo"))?;
            // mkfifo honours the umask; the init may run as any user.
            fs::set_permissions(&fifo, std::os::unix::fs::PermissionsExt::from_mode(0o622))
                .map_err(RuntimeError::io("chmod", &fifo))?;
            let fd = nix::fcntl::open(&fifo, nix::fcntl::OFlag::O_PATH | nix::fcntl::OFlag::O_CLOEXEC, Mode::empty())
                .map_err(RuntimeError::sys("open exec.fifo"))?;
            StartSignal::Fifo(fd)
        };
        let (child_console, master_sock) = console_for(&process, opts.console_socket.as_deref(), start)?;
        let (parent_chan, child_chan) = sync::pair()?;
        if let Some(fd) = &join_pid {
            nix::sched::setns(fd.as_fd(), CloneFlags::CLONE_NEWPID).map_err(RuntimeError::sys("join pid namespace"))?;
        }
        if start {
            block_forwarded()?;
        }
        // The cgroup namespace is unshared by the child once it sits in its cgroup.
        let clone_flags = new_ns & !CloneFlags::CLONE_NEWCGROUP;
        let pid = match sys::clone_process(clone_flags.bits()).map_err(|e| RuntimeError::Init(format!("clone: {e}")))? {
            sys::Forked::Child => {
                drop(parent_chan);
                drop(master_sock);
                init::child_main(InitArgs {
                    id,
                    spec,
                    process: &process,
                    rootfs: &bundle.rootfs,
                    bundle: &bundle.dir,
                    chan: child_chan,
                    console: child_console,
                    stdio: opts.stdio.as_ref(),
                    seccomp: filter,
                    start: start_signal,
                    preserve_fds: opts.preserve_fds as i32,
                    joins,
                    new_ns,
                    cgroup_path: &cgroup_path,
                    hierarchy: &hierarchy,
                    exec: false,
                    no_pivot: opts.no_pivot,
                    chroot: None,
                })
            }
            sys::Forked::Parent(pid) => pid,
        };
        guard.child = Some(pid);
        drop(child_chan);
        drop(child_console);
        drop(start_signal);
        if new_ns.contains(CloneFlags::CLONE_NEWUSER) {
            write_id_maps(pid, spec)?;
        }
        release_child(pid, &cgroup, &process, &parent_chan)?;
        let creating = || State {
            oci_version: spec.version().clone(),
            id: id.to_string(),
            status: Status::Creating,
            pid: pid.as_raw(),
            bundle: bundle.dir.clone(),
            rootfs: Some(bundle.rootfs.clone()),
            created: None,
            owner: None,
            annotations: spec.annotations().clone().unwrap_or_default(),
        };
        loop {
            match parent_chan.recv()? {
                Some((sync::HOOKS, _)) => {
                    let h = spec.hooks().as_ref();
                    let st = creating();
                    hooks::run_all("prestart", h.and_then(|h| h.prestart().as_ref()), &st)?;
                    hooks::run_all("createRuntime", h.and_then(|h| h.create_runtime().as_ref()), &st)?;
                    parent_chan.send(sync::HOOKS_DONE, b"")?;
                }
                Some((sync::READY, _)) => break,
                Some((t, msg)) if sync::child_error(t, &msg).is_some() => {
                    return Err(sync::child_error(t, &msg).expect("checked"))
                }
                Some((t, _)) => return Err(RuntimeError::Init(format!("unexpected sync message {:?}", t as char))),
                None => return Err(RuntimeError::Init("container process exited during setup".into())),
            }
        }
        let master = match master_sock {
            Some(sock) => Some(console::recv_fd(sock.as_fd())?),
            None => None,
        };
        let start_time = state::proc_stat(pid.as_raw()).map(|(_, t)| t).unwrap_or(0);
        let record = Record {
            id: id.to_string(),
            pid: pid.as_raw(),
            start_time,
            bundle: bundle.dir.clone(),
            rootfs: bundle.rootfs.clone(),
            created: state::now_rfc3339(),
            cgroup_path,
            spec: bundle.spec.clone(),
        };
        record.save(&self.root)?;
        write_pid_file(opts.pid_file.as_deref(), pid)?;
        guard.disarm();
        Ok(Created { pid, chan: parent_chan, master })
    }

    /// `create`: set the container up, its process blocked until `start`. Returns the init's host pid.
    pub fn create(&self, id: &str, opts: &CreateOptions) -> Result<i32> {
        Ok(self.create_inner(id, opts, false)?.pid.as_raw())
    }

    /// `start`: let a created container's process run its program.
    pub fn start(&self, id: &str) -> Result<()> {
        use nix::poll::{poll, PollFd, PollFlags, PollTimeout};
        let rec = self.load(id)?;
        let status = rec.status(&self.root);
        if status != Status::Created {
            return Err(RuntimeError::WrongState {
                id: id.into(),
                status: status.to_string(),
                action: "start",
                needed: "created",
            });
        }
        let fifo_path = Record::dir(&self.root, id).join(EXEC_FIFO);
        let fifo = fs::OpenOptions::new()
            .read(true)
            .custom_flags(libc::O_NONBLOCK)
            .open(&fifo_path)
            .map_err(RuntimeError::io("open", &fifo_path))?;
        // The init writes one byte once startContainer hooks ran, then the fifo
        // closes when its execve succeeds (close-on-exec): wait for both.
        let mut got_byte = false;
        loop {
            let mut fds = [PollFd::new(fifo.as_fd(), PollFlags::POLLIN)];
            match poll(&mut fds, PollTimeout::from(100u16)) {
                Ok(0) | Err(nix::Error::EINTR) => {
                    if !state::process_alive(rec.pid, rec.start_time) {
                        if got_byte {
                            break; // it ran and already exited
                        }
                        return Err(RuntimeError::Init(format!("container {id} init exited before start")));
                    }
                }
                Ok(_) => {
                    let mut byte = [0u8; 1];
                    match nix::unistd::read(&fifo, &mut byte) {
                        Ok(1) => got_byte = true,
                        Ok(_) if got_byte => break,
                        Ok(_) => return Err(RuntimeError::Init(format!("container {id} init exited before start"))),
                        Err(nix::Error::EAGAIN) => continue,
                        Err(e) => return Err(RuntimeError::Sys("read exec fifo", e)),
                    }
                }
                Err(e) => return Err(RuntimeError::Sys("poll exec fifo", e)),
            }
        }
        let _ = fs::remove_file(&fifo_path);
        self.poststart(&rec);
        Ok(())
    }

    /// The OCI spec: a failing poststart hook is a warning; the remaining hooks
    /// and the container's lifecycle continue.
    fn poststart(&self, rec: &Record) {
        let hooks = rec.spec.hooks().as_ref().and_then(|h| h.poststart().as_ref());
        hooks::run_all_warn("poststart", hooks, &rec.state_with(Status::Running));
    }

    /// `run`: create and start; unless `detach`, wait for the process, forward
    /// signals, delete the container and return the exit code.
    pub fn run(&self, id: &str, opts: &CreateOptions, detach: bool) -> Result<i32> {
        let created = self.create_inner(id, opts, !detach)?;
        if detach {
            self.start(id)?;
            return Ok(0);
        }
        created.chan.send(sync::START, b"")?;
        // The channel closes when the container's execve succeeds (close-on-exec).
        if let Some(e) = created.chan.recv()?.and_then(|(t, msg)| sync::child_error(t, &msg)) {
            let _ = self.delete(id, true);
            return Err(e);
        }
        let rec = self.load(id)?;
        self.poststart(&rec);
        let code = wait_forwarding(created.pid, created.master);
        let deleted = self.delete(id, true);
        deleted?;
        code
    }

    pub fn state(&self, id: &str) -> Result<State> {
        Ok(self.load(id)?.state(&self.root))
    }

    /// Every container under the root, sorted by id.
    pub fn list(&self) -> Result<Vec<State>> {
        let mut out = Vec::new();
        let entries = match fs::read_dir(&self.root) {
            Ok(e) => e,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(out),
            Err(e) => return Err(RuntimeError::Io { context: "list", path: self.root.clone(), source: e }),
        };
        for entry in entries.flatten() {
            let name = entry.file_name().to_string_lossy().into_owned();
            match self.load(&name) {
                Ok(rec) => out.push(rec.state(&self.root)),
                Err(RuntimeError::NotFound(_)) | Err(RuntimeError::InvalidId(_)) => {}
                Err(e) => return Err(e),
            }
        }
        out.sort_by(|a, b| a.id.cmp(&b.id));
        Ok(out)
    }

    /// Any signal number, real-time ones included.
    pub fn kill(&self, id: &str, signal: i32, all: bool) -> Result<()> {
        let rec = self.load(id)?;
        let status = rec.status(&self.root);
        if status == Status::Stopped {
            return Err(RuntimeError::NotRunning);
        }
        if all {
            let cg = rec.cgroup()?;
            for pid in cg.pids()? {
                let _ = sys::send_signal(pid, signal);
            }
            if status == Status::Paused && signal == libc::SIGKILL {
                cg.freeze(false)?;
            }
            return Ok(());
        }
        match sys::send_signal(rec.pid, signal) {
            Ok(()) => Ok(()),
            Err(e) if e.raw_os_error() == Some(libc::ESRCH) => Err(RuntimeError::NotRunning),
            Err(e) => Err(RuntimeError::Sys("kill", nix::Error::from_raw(e.raw_os_error().unwrap_or(libc::EIO)))),
        }
    }

    /// `delete`: remove a stopped (or created) container; `force` also kills a running one.
    /// With `force`, an unknown id is not an error.
    pub fn delete(&self, id: &str, force: bool) -> Result<()> {
        let rec = match self.load(id) {
            Err(RuntimeError::NotFound(_)) if force => return Ok(()),
            r => r?,
        };
        let status = rec.status(&self.root);
        match status {
            Status::Stopped => {}
            Status::Created => {
                let _ = kill(Pid::from_raw(rec.pid), Signal::SIGKILL);
                wait_gone(rec.pid, rec.start_time)?;
            }
            _ if force => {}
            _ => {
                return Err(RuntimeError::WrongState {
                    id: id.into(),
                    status: status.to_string(),
                    action: "delete",
                    needed: "stopped (or use --force)",
                })
            }
        }
        rec.cgroup()?.destroy()?;
        if status != Status::Stopped {
            wait_gone(rec.pid, rec.start_time)?;
        }
        let hooks = rec.spec.hooks().as_ref().and_then(|h| h.poststop().as_ref());
        hooks::run_all_warn("poststop", hooks, &rec.state_with(Status::Stopped));
        fs::remove_dir_all(Record::dir(&self.root, id)).map_err(RuntimeError::io("remove", Record::dir(&self.root, id)))
    }

    pub fn pause(&self, id: &str) -> Result<()> {
        let rec = self.load(id)?;
        let status = rec.status(&self.root);
        if status != Status::Running {
            return Err(RuntimeError::WrongState {
                id: id.into(),
                status: status.to_string(),
                action: "pause",
                needed: "running",
            });
        }
        rec.cgroup()?.freeze(true)
    }

    pub fn resume(&self, id: &str) -> Result<()> {
        let rec = self.load(id)?;
        let status = rec.status(&self.root);
        if status != Status::Paused {
            return Err(RuntimeError::WrongState {
                id: id.into(),
                status: status.to_string(),
                action: "resume",
                needed: "paused",
            });
        }
        rec.cgroup()?.freeze(false)
    }

    /// The container's resource usage.
    pub fn stats(&self, id: &str) -> Result<cgroups::CgroupStats> {
        Ok(self.load(id)?.cgroup()?.stats())
    }

    /// Host pids of every process in the container.
    pub fn ps(&self, id: &str) -> Result<Vec<i32>> {
        self.load(id)?.cgroup()?.pids()
    }

    /// `update`: apply new resource limits to a live container. An update
    /// without device rules keeps the container's (runc's rule too).
    pub fn update(&self, id: &str, resources: &LinuxResources) -> Result<()> {
        let mut rec = self.load(id)?;
        rec.cgroup()?.apply(Some(resources))?;
        if let Some(linux) = rec.spec.linux_mut() {
            let mut kept = resources.clone();
            if kept.devices().is_none() {
                kept.set_devices(linux.resources().as_ref().and_then(|r| r.devices().clone()));
            }
            linux.set_resources(Some(kept));
        }
        rec.save(&self.root)
    }

    /// `exec`: run `process` inside a running container. Returns the exit code,
    /// or 0 once started when `opts.detach`.
    pub fn exec(&self, id: &str, process: &Process, opts: &ExecOptions) -> Result<i32> {
        let rec = self.load(id)?;
        let status = rec.status(&self.root);
        if !matches!(status, Status::Running | Status::Created) {
            return Err(RuntimeError::WrongState {
                id: id.into(),
                status: status.to_string(),
                action: "exec",
                needed: "running",
            });
        }
        lsm::check_process(process, lsm::Available::detect())?;
        let linux = rec.spec.linux().clone().unwrap_or_default();
        let mut joins = Vec::new();
        let mut join_pid = None;
        for ns in linux.namespaces().iter().flatten() {
            let name = match ns.typ() {
                LinuxNamespaceType::Mount => "mnt",
                LinuxNamespaceType::Cgroup => "cgroup",
                LinuxNamespaceType::Uts => "uts",
                LinuxNamespaceType::Ipc => "ipc",
                LinuxNamespaceType::User => "user",
                LinuxNamespaceType::Pid => "pid",
                LinuxNamespaceType::Network => "net",
                LinuxNamespaceType::Time => "time",
            };
            let path = format!("/proc/{}/ns/{name}", rec.pid);
            let fd: OwnedFd = fs::File::open(&path).map_err(RuntimeError::io("open namespace", &path))?.into();
            if ns.typ() == LinuxNamespaceType::Pid {
                join_pid = Some(fd);
            } else {
                joins.push((ns.typ(), fd));
            }
        }
        joins.sort_by_key(|(t, _)| join_order(*t));
        // Without a mount namespace there is none to join: the container's root is its init's chroot.
        let chroot = if joins.iter().any(|(t, _)| *t == LinuxNamespaceType::Mount) {
            None
        } else {
            let path = format!("/proc/{}/root", rec.pid);
            let fd = nix::fcntl::open(
                path.as_str(),
                nix::fcntl::OFlag::O_PATH | nix::fcntl::OFlag::O_DIRECTORY | nix::fcntl::OFlag::O_CLOEXEC,
                Mode::empty(),
            )
            .map_err(RuntimeError::sys("open the container's root"))?;
            Some(fd)
        };
        let cgroup = rec.cgroup()?;
        let filter =
            linux.seccomp().as_ref().map(|s| seccomp::compile_cached(s, &self.root.join(SECCOMP_CACHE))).transpose()?;
        let (child_console, master_sock) = console_for(process, opts.console_socket.as_deref(), !opts.detach)?;
        let (parent_chan, child_chan) = sync::pair()?;
        if let Some(fd) = &join_pid {
            nix::sched::setns(fd.as_fd(), CloneFlags::CLONE_NEWPID).map_err(RuntimeError::sys("join pid namespace"))?;
        }
        if !opts.detach {
            block_forwarded()?;
        }
        let pid = match sys::clone_process(0).map_err(|e| RuntimeError::Init(format!("fork: {e}")))? {
            sys::Forked::Child => {
                drop(parent_chan);
                drop(master_sock);
                init::child_main(InitArgs {
                    id,
                    spec: &rec.spec,
                    process,
                    rootfs: &rec.rootfs,
                    bundle: &rec.bundle,
                    chan: child_chan,
                    console: child_console,
                    stdio: opts.stdio.as_ref(),
                    seccomp: filter,
                    start: StartSignal::Immediate,
                    preserve_fds: opts.preserve_fds as i32,
                    joins,
                    new_ns: CloneFlags::empty(),
                    cgroup_path: cgroup.path(),
                    hierarchy: cgroup.hierarchy(),
                    exec: true,
                    no_pivot: false,
                    chroot,
                })
            }
            sys::Forked::Parent(pid) => pid,
        };
        let guard = Cleanup { dir: None, cgroup: None, child: Some(pid) };
        drop(child_chan);
        drop(child_console);
        release_child(pid, &cgroup, process, &parent_chan)?;
        parent_chan.expect(sync::READY)?;
        let master = match master_sock {
            Some(sock) => Some(console::recv_fd(sock.as_fd())?),
            None => None,
        };
        write_pid_file(opts.pid_file.as_deref(), pid)?;
        guard.disarm();
        if opts.detach {
            return Ok(0);
        }
        wait_forwarding(pid, master)
    }
}

use std::os::unix::fs::OpenOptionsExt;
