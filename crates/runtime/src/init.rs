//! The container side of `create`/`run`/`exec`: code that runs in the forked
//! child, from the namespaces it joins to the final `execve`. Nothing here
//! returns to the caller: success ends in the container's program, failure
//! is reported over the sync channel and the child exits.

use std::convert::Infallible;
use std::ffi::CString;
use std::io::Write;
use std::os::fd::{AsFd, AsRawFd, OwnedFd};
use std::path::Path;

use nix::fcntl::OFlag;
use nix::sched::CloneFlags;
use nix::sys::stat::Mode;
use oci_spec::runtime::{LinuxNamespaceType, Process, Spec};

use crate::cgroups::Hierarchy;
use crate::error::{Result, RuntimeError};
use crate::seccomp::Filter;
use crate::state::{State, Status};
use crate::sync::{self, Channel};
use crate::{console, hooks, lsm, mounts, process, sys};

/// How the init learns that `start` was called.
pub(crate) enum StartSignal {
    /// `create`: block opening the exec fifo (an O_PATH descriptor) for writing.
    Fifo(OwnedFd),
    /// `run`: wait for START on the sync channel.
    Channel,
    /// `exec`: no wait, run as soon as set up.
    Immediate,
}

pub(crate) struct InitArgs<'a> {
    pub id: &'a str,
    pub spec: &'a Spec,
    pub process: &'a Process,
    pub rootfs: &'a Path,
    pub bundle: &'a Path,
    pub chan: Channel,
    pub console: Option<OwnedFd>,
    /// Replaces the inherited 0-2 (before anything else, so errors land there too).
    pub stdio: Option<&'a crate::stdio::StdioFds>,
    pub seccomp: Option<Filter>,
    pub start: StartSignal,
    pub preserve_fds: i32,
    /// Namespaces to join, in order (user first).
    pub joins: Vec<(LinuxNamespaceType, OwnedFd)>,
    pub new_ns: CloneFlags,
    pub cgroup_path: &'a Path,
    pub hierarchy: &'a Hierarchy,
    /// `exec` into a running container rather than a new container's init.
    pub exec: bool,
    pub no_pivot: bool,
    /// `exec` into a container without a mount namespace: its root directory
    /// (`/proc/<init>/root`), to chroot into after joining the namespaces.
    pub chroot: Option<OwnedFd>,
}

/// Entry point of the forked child. Never returns.
pub(crate) fn child_main(args: InitArgs<'_>) -> ! {
    match setup(&args) {
        Ok(never) => match never {},
        Err(e) => {
            let (tag, msg) = sync::error_message(&e);
            if args.chan.send(tag, msg.as_bytes()).is_err() {
                // The parent is gone (create already returned): the container's stderr is all we have.
                let _ = writeln!(std::io::stderr(), "wharf: {e}");
            }
            sys::exit_now(1)
        }
    }
}

pub(crate) fn ns_flag(t: LinuxNamespaceType) -> CloneFlags {
    match t {
        LinuxNamespaceType::Mount => CloneFlags::CLONE_NEWNS,
        LinuxNamespaceType::Cgroup => CloneFlags::CLONE_NEWCGROUP,
        LinuxNamespaceType::Uts => CloneFlags::CLONE_NEWUTS,
        LinuxNamespaceType::Ipc => CloneFlags::CLONE_NEWIPC,
        LinuxNamespaceType::User => CloneFlags::CLONE_NEWUSER,
        LinuxNamespaceType::Pid => CloneFlags::CLONE_NEWPID,
        LinuxNamespaceType::Network => CloneFlags::CLONE_NEWNET,
        LinuxNamespaceType::Time => CloneFlags::from_bits_retain(0x80),
    }
}

fn setup(a: &InitArgs<'_>) -> Result<Infallible> {
    sys::reset_signals();
    if let Some(io) = a.stdio {
        nix::unistd::dup2_stdin(io.stdin.as_fd()).map_err(RuntimeError::sys("dup2 stdin"))?;
        nix::unistd::dup2_stdout(io.stdout.as_fd()).map_err(RuntimeError::sys("dup2 stdout"))?;
        nix::unistd::dup2_stderr(io.stderr.as_fd()).map_err(RuntimeError::sys("dup2 stderr"))?;
    }
    nix::sys::prctl::set_pdeathsig(nix::sys::signal::Signal::SIGKILL).map_err(RuntimeError::sys("pdeathsig"))?;
    // Nothing in the container may read our memory or /proc/self/exe (CVE-2019-5736).
    nix::sys::prctl::set_dumpable(false).map_err(RuntimeError::sys("set non-dumpable"))?;
    let host_pid: i32 = String::from_utf8_lossy(&a.chan.expect(sync::GO)?).parse().unwrap_or(0);
    // The AppArmor profile / SELinux label files, opened on the host's procfs
    // before any of the container's namespaces (or mounts) are ours.
    let lsm_writes = lsm::exec_writes(a.process)
        .iter()
        .map(|w| lsm::OpenedWrite::open(Path::new("/proc"), w))
        .collect::<Result<Vec<_>>>()?;

    for (t, fd) in &a.joins {
        nix::sched::setns(fd.as_fd(), ns_flag(*t))
            .map_err(|e| RuntimeError::Init(format!("join {t} namespace: {e}")))?;
    }
    if let Some(root) = &a.chroot {
        nix::unistd::fchdir(root).map_err(RuntimeError::sys("fchdir container root"))?;
        nix::unistd::chroot(".").map_err(RuntimeError::sys("chroot container root"))?;
        nix::unistd::chdir("/").map_err(RuntimeError::sys("chdir /"))?;
    }
    if a.new_ns.contains(CloneFlags::CLONE_NEWUSER) {
        // Become the namespace's root so mounts and mknod-free setup work.
        nix::unistd::setresgid(0.into(), 0.into(), 0.into())
            .map_err(RuntimeError::sys("setresgid 0 in user namespace"))?;
        nix::unistd::setresuid(0.into(), 0.into(), 0.into())
            .map_err(RuntimeError::sys("setresuid 0 in user namespace"))?;
    }
    if a.new_ns.contains(CloneFlags::CLONE_NEWCGROUP) {
        // Only now: the parent has moved us into the container's cgroup, which becomes our cgroup root.
        nix::sched::unshare(CloneFlags::CLONE_NEWCGROUP).map_err(RuntimeError::sys("unshare cgroup namespace"))?;
    }
    if !a.exec || a.process.terminal() == Some(true) {
        nix::unistd::setsid().map_err(RuntimeError::sys("setsid"))?;
    }
    let mut host_proc = None;
    if !a.exec {
        host_proc = setup_container(a, host_pid)?;
    }
    if let Some(sock) = &a.console {
        let size = a.process.console_size().map(|b| (b.height() as u16, b.width() as u16));
        console::setup_pty(sock.as_fd(), !a.exec, size)?;
    }
    finish(a, host_pid, lsm_writes, host_proc)
}

fn state(a: &InitArgs<'_>, pid: i32, status: Status) -> State {
    State {
        oci_version: a.spec.version().clone(),
        id: a.id.to_string(),
        status,
        pid,
        bundle: a.bundle.to_path_buf(),
        rootfs: Some(a.rootfs.to_path_buf()),
        created: None,
        owner: None,
        annotations: a.spec.annotations().clone().unwrap_or_default(),
    }
}

/// Hostname, network loopback, the root filesystem and the hooks around
/// pivot_root. Without a mount namespace (a chroot, no /proc inside) it
/// returns the runtime's /proc, through which the exec fifo is reopened.
fn setup_container(a: &InitArgs<'_>, host_pid: i32) -> Result<Option<OwnedFd>> {
    if a.new_ns.contains(CloneFlags::CLONE_NEWUTS) {
        if let Some(h) = a.spec.hostname() {
            nix::unistd::sethostname(h).map_err(RuntimeError::sys("sethostname"))?;
        }
        if let Some(d) = a.spec.domainname() {
            sys::set_domainname(d).map_err(|e| RuntimeError::Init(format!("setdomainname: {e}")))?;
        }
    }
    if a.new_ns.contains(CloneFlags::CLONE_NEWNET) {
        sys::loopback_up().map_err(|e| RuntimeError::Init(format!("bring up loopback: {e}")))?;
    }
    let joined_mount_ns = a.joins.iter().any(|(t, _)| *t == LinuxNamespaceType::Mount);
    if !a.new_ns.contains(CloneFlags::CLONE_NEWNS) && !joined_mount_ns {
        // No mount namespace: the container shares the runtime's mounts (the
        // spec was checked to ask for none) and is chrooted into its rootfs.
        run_create_hooks(a, host_pid)?;
        // Through the runtime's /proc, which the rootfs does not have.
        mounts::apply_sysctls(a.spec)?;
        let proc = nix::fcntl::open("/proc", OFlag::O_PATH | OFlag::O_DIRECTORY | OFlag::O_CLOEXEC, Mode::empty())
            .map_err(RuntimeError::sys("open /proc"))?;
        mounts::chroot_into(a.rootfs)?;
        return Ok(Some(proc));
    }
    // A new or a joined mount namespace (runc does the same in both): the
    // rootfs is built in it and pivoted to, so the holder of a joined
    // namespace sees the container's root too.
    mounts::prepare_rootfs(&mounts::RootfsContext {
        spec: a.spec,
        rootfs: a.rootfs,
        bundle: a.bundle,
        user_ns: a.new_ns.contains(CloneFlags::CLONE_NEWUSER),
        cgroup_ns: a.new_ns.contains(CloneFlags::CLONE_NEWCGROUP),
        cgroup_path: a.cgroup_path,
        hierarchy: a.hierarchy,
    })?;
    run_create_hooks(a, host_pid)?;
    if a.no_pivot {
        nix::unistd::chdir(a.rootfs).map_err(RuntimeError::sys("chdir rootfs"))?;
        nix::mount::mount(Some(a.rootfs), "/", None::<&str>, nix::mount::MsFlags::MS_MOVE, None::<&str>)
            .map_err(RuntimeError::sys("move rootfs"))?;
        nix::unistd::chroot(".").map_err(RuntimeError::sys("chroot"))?;
        nix::unistd::chdir("/").map_err(RuntimeError::sys("chdir /"))?;
    } else {
        mounts::pivot_root(a.rootfs)?;
    }
    mounts::finish_rootfs(a.spec)?;
    Ok(None)
}

/// prestart/createRuntime (run by the parent, on our request), then createContainer.
fn run_create_hooks(a: &InitArgs<'_>, host_pid: i32) -> Result<()> {
    let hooks = a.spec.hooks().as_ref();
    if hooks.is_some_and(|h| h.prestart().is_some() || h.create_runtime().is_some()) {
        a.chan.send(sync::HOOKS, b"")?;
        a.chan.expect(sync::HOOKS_DONE)?;
    }
    hooks::run_all(
        "createContainer",
        hooks.and_then(|h| h.create_container().as_ref()),
        &state(a, host_pid, Status::Creating),
    )
}

/// Identity, limits and the wait for `start`, then execve.
fn finish(
    a: &InitArgs<'_>,
    host_pid: i32,
    lsm_writes: Vec<lsm::OpenedWrite>,
    host_proc: Option<OwnedFd>,
) -> Result<Infallible> {
    let p = a.process;
    let env = process::env(p);
    let args = p.args().clone().unwrap_or_default();
    nix::unistd::chdir(p.cwd()).map_err(|e| RuntimeError::Init(format!("chdir to cwd {:?}: {e}", p.cwd())))?;
    let exe = process::find_executable(&args[0], &env)?;
    let exe = CString::new(exe.as_os_str().as_encoded_bytes())
        .map_err(|_| RuntimeError::InvalidSpec("executable path has a NUL byte".into()))?;
    let argv = process::cstrings(&args)?;
    let envp = process::cstrings(&env)?;
    process::set_rlimits(p)?;
    // The profile/label applies at our execve; written while we are still
    // privileged and before no_new_privs and seccomp, as runc does.
    for w in lsm_writes {
        w.apply()?;
    }
    let nnp = p.no_new_privileges() == Some(true);
    // Without no_new_privs, installing a filter needs CAP_SYS_ADMIN: do it while we still have it.
    if !nnp {
        if let Some(f) = &a.seccomp {
            f.install()?;
        }
    }
    process::drop_bounding(p)?;
    process::set_user(p)?;
    process::set_capabilities(p)?;
    if nnp {
        nix::sys::prctl::set_no_new_privs().map_err(RuntimeError::sys("no_new_privs"))?;
        if let Some(f) = &a.seccomp {
            f.install()?;
        }
    }
    nix::sys::prctl::set_pdeathsig(None).map_err(RuntimeError::sys("pdeathsig"))?;
    a.chan.send(sync::READY, b"")?;
    // Both the fifo and the channel are close-on-exec: the caller of `start`
    // sees them close once our execve succeeded, and only then runs poststart.
    let mut fifo = None;
    match &a.start {
        StartSignal::Fifo(fd) => {
            // Blocks until `start` opens the fifo for reading.
            let flags = OFlag::O_WRONLY | OFlag::O_CLOEXEC;
            let reopened = match &host_proc {
                Some(proc) => {
                    nix::fcntl::openat(proc, format!("self/fd/{}", fd.as_raw_fd()).as_str(), flags, Mode::empty())
                }
                None => nix::fcntl::open(format!("/proc/self/fd/{}", fd.as_raw_fd()).as_str(), flags, Mode::empty()),
            };
            let f = reopened.map_err(|e| RuntimeError::Init(format!("open exec fifo: {e}")))?;
            fifo = Some(std::fs::File::from(f));
        }
        StartSignal::Channel => {
            a.chan.expect(sync::START)?;
        }
        StartSignal::Immediate => {}
    }
    if !a.exec {
        let hooks = a.spec.hooks().as_ref().and_then(|h| h.start_container().as_ref());
        hooks::run_all("startContainer", hooks, &state(a, host_pid, Status::Created))?;
    }
    drop(host_proc);
    if let Some(f) = fifo.as_mut() {
        f.write_all(b"0").map_err(|e| RuntimeError::Init(format!("write exec fifo: {e}")))?;
    }
    sys::cloexec_from(3 + a.preserve_fds).map_err(|e| RuntimeError::Init(format!("close descriptors: {e}")))?;
    if !a.exec && wants_init(a.spec) {
        // From here on this process is the container's pid 1: it forks the
        // real process, reaps every orphan and forwards signals to it.
        drop(fifo);
        become_init(a.preserve_fds)?;
    }
    let e = nix::unistd::execve(&exe, &argv, &envp).unwrap_err();
    Err(RuntimeError::Init(format!("exec {:?}: {e}", args[0])))
}

/// Annotation asking for a minimal init as pid 1 (Docker's `--init`).
pub const INIT_ANNOTATION: &str = "org.wharf.init";

fn wants_init(spec: &Spec) -> bool {
    spec.annotations().as_ref().and_then(|a| a.get(INIT_ANNOTATION)).is_some_and(|v| v == "true")
}

/// Forks: the child returns (and execs the container's process); this
/// process stays as pid 1, reaping zombies and forwarding every signal to
/// the child, and exits with the child's status (128+n if it was killed).
fn become_init(preserve_fds: i32) -> Result<()> {
    use nix::sys::signal::{kill, sigprocmask, SigSet, SigmaskHow, Signal};
    use nix::sys::signalfd::{SfdFlags, SignalFd};
    use nix::sys::wait::{waitpid, WaitPidFlag, WaitStatus};
    use nix::unistd::Pid;
    let all = SigSet::all();
    let mut old = SigSet::empty();
    sigprocmask(SigmaskHow::SIG_SETMASK, Some(&all), Some(&mut old)).map_err(RuntimeError::sys("sigprocmask"))?;
    let child = match sys::clone_process(0).map_err(|e| RuntimeError::Init(format!("fork init child: {e}")))? {
        sys::Forked::Child => {
            // Our own process group in the foreground of the terminal, if any
            // (signals are still blocked, so SIGTTOU cannot stop us).
            let _ = nix::unistd::setpgid(Pid::from_raw(0), Pid::from_raw(0));
            let _ = nix::unistd::tcsetpgrp(std::io::stdin(), nix::unistd::getpid());
            let _ = sigprocmask(SigmaskHow::SIG_SETMASK, Some(&old), None);
            return Ok(());
        }
        sys::Forked::Parent(pid) => pid,
    };
    sys::close_from(3 + preserve_fds);
    let _ = nix::sys::prctl::set_name(c"wharf-init");
    let exit = |code: i32| -> ! { sys::exit_now(code) };
    let Ok(sfd) = SignalFd::with_flags(&all, SfdFlags::SFD_CLOEXEC) else {
        let _ = kill(child, Signal::SIGKILL);
        exit(1)
    };
    loop {
        let Ok(Some(info)) = sfd.read_signal() else { continue };
        let sig = info.ssi_signo as i32;
        if sig != libc::SIGCHLD {
            // Every signal, real-time ones included, goes to the command.
            let _ = sys::send_signal(child.as_raw(), sig);
            continue;
        }
        loop {
            match waitpid(Pid::from_raw(-1), Some(WaitPidFlag::WNOHANG)) {
                Ok(WaitStatus::Exited(pid, code)) if pid == child => exit(code),
                Ok(WaitStatus::Signaled(pid, s, _)) if pid == child => exit(128 + s as i32),
                Ok(WaitStatus::StillAlive) | Err(_) => break,
                Ok(_) => {}
            }
        }
    }
}
