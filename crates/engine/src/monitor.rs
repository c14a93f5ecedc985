//! The per-container monitor: a small single-threaded process that owns one
//! running container. It is the container init's parent (and a subreaper),
//! writes its output to the json-file log (rotated), serves `attach` and
//! `wait` on `monitor.sock`, and records the exit status. It outlives the
//! daemon, so containers keep running across daemon restarts.
//!
//! The wire format on its socket is [`crate::protocol`].

use std::fs::{self, File};
use std::io::{Read, Write};
use std::os::fd::{AsFd, OwnedFd};
use std::os::unix::net::{UnixListener, UnixStream};
use std::path::Path;
use std::time::{Duration, Instant};

use nix::poll::{poll, PollFd, PollFlags, PollTimeout};
use nix::sys::signal::{SigSet, SigmaskHow, Signal};
use nix::sys::signalfd::{SfdFlags, SignalFd};
use nix::sys::wait::{waitid, waitpid, Id, WaitPidFlag, WaitStatus};
use nix::unistd::Pid;
use wharf_runtime::{CreateOptions, StdioFds};

use crate::error::{EngineError, Result};
use crate::logs::{self, LogWriter};
use crate::model::{Container, Status};
use crate::protocol::{self, FailureKind, Kind, Request, StartReport};
use crate::Engine;
use wharf_common::time::now;

struct Client {
    stream: UnixStream,
    attached: bool,
    /// `resize ROWS COLS`: a one-shot request, not a lasting client.
    resize: Option<(u16, u16)>,
    /// The client closed its sending side: only output goes to it now.
    input_closed: bool,
    /// Its incoming stdin frames.
    input: protocol::Decoder,
}

/// Where containers' monitors run.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub enum Monitors {
    /// `wharf monitor <id>`: a process of its own per container, which
    /// outlives the daemon (the default).
    #[default]
    Process,
    /// A thread of the engine's process (an embedding, unit tests): it
    /// reaps only its container's init (through a pidfd), and containers
    /// end with the process.
    Thread,
}

/// Entry point of `wharf monitor <id>`. Reports `ok` or `error: …` on
/// stdout once the container runs (or failed to), then serves until it exits
/// for good (the restart policy may run it again, after a backoff).
pub fn monitor_main(engine: &Engine, id: &str, attachers: usize) -> i32 {
    // The short-lived threads of the start (namespace work) share the one
    // arena: a second one stays resident for the container's whole life.
    wharf_runtime::sys::limit_malloc_arenas(1);
    let report = match std::io::stdout().as_fd().try_clone_to_owned() {
        Ok(fd) => File::from(fd),
        Err(_) => return 1,
    };
    // Our own binary, even when it runs from a sealed copy.
    run(engine, id, attachers, report, Monitors::Process, Path::new("/proc/self/exe"))
}

/// Runs a monitor on a thread of this process (`Monitors::Thread`); the
/// returned pipe carries its start report. `exe` is the `wharf` binary (for
/// published ports' proxies).
pub(crate) fn spawn_thread(engine: Engine, id: &str, attachers: usize, exe: &Path) -> Result<File> {
    let (r, w) = pipe()?;
    let (id, exe) = (id.to_string(), exe.to_path_buf());
    std::thread::Builder::new()
        .name(format!("monitor-{}", &id[..12.min(id.len())]))
        .spawn(move || run(&engine, &id, attachers, File::from(w), Monitors::Thread, &exe))
        .map_err(EngineError::io("spawn monitor thread", "thread"))?;
    Ok(File::from(r))
}

/// The monitor: `report` gets the start report line.
fn run(engine: &Engine, id: &str, attachers: usize, mut report: File, mode: Monitors, exe: &Path) -> i32 {
    let mut clients = Vec::new();
    // Held for the monitor's whole life (the kernel drops it when the process
    // dies, however it dies): the daemon adopts a container only once it can
    // take this lock, and a new monitor waits here for the previous one to end.
    let _alive = match monitor_lock(engine, id, true) {
        Ok(lock) => lock,
        Err(e) => {
            let _ = report.write_all(failure(&e).line().as_bytes());
            return 1;
        }
    };
    let m = Monitor { engine, id, mode, exe };
    let started = m.bind().and_then(|listener| {
        let running = m.launch(&listener, attachers, &mut clients)?;
        Ok((listener, running))
    });
    match started {
        Ok((listener, running)) => {
            let _ = report.write_all(StartReport::Ok.line().as_bytes());
            drop(report);
            if mode == Monitors::Process {
                // From here on our stdout is nobody's business.
                if let Ok(null) = File::options().write(true).open("/dev/null") {
                    let _ = nix::unistd::dup2_stdout(&null);
                }
            }
            m.supervise(listener, running, clients)
        }
        Err(e) => {
            let r = failure(&e);
            let code = match &r {
                StartReport::Failed { kind, .. } => kind.exit_code(),
                StartReport::Ok => 128,
            };
            // Recorded before the report: whoever started it reads the exit next.
            let _ = mark_exited(engine, id, code, &e.to_string());
            let _ = fs::remove_file(engine.monitor_socket(id));
            let _ = report.write_all(r.line().as_bytes());
            1
        }
    }
}

/// One container's monitor.
struct Monitor<'a> {
    engine: &'a Engine,
    id: &'a str,
    mode: Monitors,
    exe: &'a Path,
}

/// What the daemon is told about a failed start.
fn failure(e: &EngineError) -> StartReport {
    StartReport::Failed { kind: FailureKind::of(e), message: e.to_string() }
}

struct Running {
    pid: Pid,
    /// Pins the init: its exit is seen (and reaped) through it, never another process's.
    pidfd: OwnedFd,
    started: Instant,
    outputs: Vec<(Kind, File)>,
    stdin: Option<File>,
    /// Docker's StdinOnce (without a terminal): an attached client's end of
    /// input closes the container's stdin.
    stdin_once: bool,
    /// The terminal's master side, for resizes.
    pty: Option<File>,
    log: LogWriter,
    /// `wharf proxy` processes serving the published ports.
    proxies: Vec<std::process::Child>,
}

/// The lock a live monitor holds on `<container>/monitor.lock`; `wait`
/// false tries once (None: a monitor holds it).
pub(crate) fn monitor_lock(engine: &Engine, id: &str, wait: bool) -> Result<Option<nix::fcntl::Flock<File>>> {
    crate::model::lock_file(&Container::dir(engine.root(), id).join("monitor.lock"), wait)
}

fn pipe() -> Result<(OwnedFd, OwnedFd)> {
    nix::unistd::pipe2(nix::fcntl::OFlag::O_CLOEXEC).map_err(|e| EngineError::Other(format!("pipe: {e}")))
}

impl Monitor<'_> {
    fn bind(&self) -> Result<UnixListener> {
        let (engine, id) = (self.engine, self.id);
        if self.mode == Monitors::Process {
            // Runtimes that fork and exit (runc) leave the init to us.
            nix::sys::prctl::set_child_subreaper(true).map_err(|e| EngineError::Other(format!("subreaper: {e}")))?;
        }
        let sock_path = engine.monitor_socket(id);
        let dir = engine.monitor_dir();
        fs::create_dir_all(&dir).map_err(EngineError::io("create", &dir))?;
        fs::set_permissions(&dir, std::os::unix::fs::PermissionsExt::from_mode(0o700))
            .map_err(EngineError::io("chmod", &dir))?;
        let _ = fs::remove_file(&sock_path);
        UnixListener::bind(&sock_path).map_err(EngineError::io("bind", &sock_path))
    }

    /// Creates and starts the container's process (once per run of the restart loop).
    fn launch(&self, listener: &UnixListener, attachers: usize, clients: &mut Vec<Client>) -> Result<Running> {
        let (engine, id) = (self.engine, self.id);
        let c = engine.get(id)?;
        let rt = engine.runtime_of(&c.runtime);
        let sock_path = engine.monitor_socket(id);
        let (bundle, wired) = engine.prepare_bundle(id, &c.name, &c.opts)?;
        let undo = |engine: &Engine| {
            engine.unwire(id);
            engine.host().unmount(&Container::dir(engine.root(), id).join("rootfs"));
        };
        let tty = c.opts.tty;
        let console = sock_path.with_extension("console");
        let console_listener = if tty {
            let _ = fs::remove_file(&console);
            Some(UnixListener::bind(&console).map_err(EngineError::io("bind", &console))?)
        } else {
            None
        };
        // The container's stdio: pipes we keep the other ends of.
        let (out_r, out_w) = pipe()?;
        let (err_r, err_w) = pipe()?;
        let (in_r, in_w) = pipe()?;
        let stdin_src: OwnedFd = if c.open_stdin {
            in_r
        } else {
            File::open("/dev/null").map_err(EngineError::io("open", "/dev/null"))?.into()
        };
        let opts = CreateOptions {
            bundle,
            console_socket: tty.then(|| console.clone()),
            stdio: Some(StdioFds::new(stdin_src, out_w, err_w)),
            ..Default::default()
        };
        // The container must not inherit our blocked SIGCHLD (a process monitor blocks it).
        let mut chld = SigSet::empty();
        chld.add(Signal::SIGCHLD);
        let _ = nix::sys::signal::sigprocmask(SigmaskHow::SIG_UNBLOCK, Some(&chld), None);
        // The init's host pid comes from create: by the time we could ask for the
        // state, a short-lived process may already be gone.
        let created = rt.create(id, &opts);
        if self.mode == Monitors::Process {
            let _ = nix::sys::signal::sigprocmask(SigmaskHow::SIG_BLOCK, Some(&chld), None);
        }
        // Our copies of the container's ends must not keep its pipes open.
        drop(opts);
        let pid = match created {
            Ok(pid) => pid,
            Err(e) => {
                undo(engine);
                return Err(e.into());
            }
        };
        // Not yet reaped (no one waits but us), so the pid is still the init's.
        let pidfd = match rustix::process::Pid::from_raw(pid)
            .ok_or(rustix::io::Errno::SRCH)
            .and_then(|p| rustix::process::pidfd_open(p, rustix::process::PidfdFlags::empty()))
        {
            Ok(fd) => fd,
            Err(e) => {
                let _ = rt.delete(id, true);
                undo(engine);
                return Err(EngineError::Other(format!("pidfd of the container's init: {e}")));
            }
        };
        // Clients that asked to attach before start get every byte of output.
        let deadline = Instant::now() + Duration::from_secs(10);
        let _ = listener.set_nonblocking(true);
        let mut waiting = attachers;
        while waiting > 0 && Instant::now() < deadline {
            match listener.accept() {
                Ok((s, _)) => {
                    clients.push(handshake(s));
                    waiting -= 1;
                }
                Err(_) => std::thread::sleep(Duration::from_millis(2)),
            }
        }
        let (mut proxies, ports) = match engine.publish(self.exe, &c.id, &c.opts, &wired.endpoints) {
            Ok(p) => p,
            Err(e) => {
                let _ = rt.delete(id, true);
                undo(engine);
                return Err(e);
            }
        };
        // From here on a failure must not leave the proxies, the runtime
        // container, the sandbox or the mount behind.
        let abort = |engine: &Engine, proxies: &mut Vec<std::process::Child>, e: EngineError| {
            for p in proxies.iter_mut() {
                let _ = p.kill();
                let _ = p.wait();
            }
            let _ = rt.delete(id, true);
            undo(engine);
            Err(e)
        };
        // A stop that came in while we were getting ready wins.
        if Container::stop_marker(engine.root(), id).exists() && c.restart_count > 0 {
            return abort(engine, &mut proxies, EngineError::Conflict("stopped by the user before the restart".into()));
        }
        let started = (|| -> Result<(Vec<(Kind, File)>, Container)> {
            rt.start(id)?;
            let mut outputs = vec![(Kind::Stdout, File::from(out_r)), (Kind::Stderr, File::from(err_r))];
            if let Some(l) = console_listener {
                let (conn, _) = l.accept().map_err(EngineError::io("accept", &console))?;
                let master = wharf_runtime::console::recv_fd(conn.as_fd())?;
                outputs = vec![(Kind::Stdout, File::from(master))];
                let _ = fs::remove_file(&console);
            }
            let (c, ()) = engine.update(id, |c| {
                c.state.status = Status::Running;
                c.state.pid = pid;
                c.state.started_at = Some(now());
                c.state.finished_at = None;
                c.state.exit_code = 0;
                c.state.error.clear();
                c.state.ports = ports;
                Ok(())
            })?;
            Ok((outputs, c))
        })();
        let (outputs, c) = match started {
            Ok(x) => x,
            Err(e) => return abort(engine, &mut proxies, e),
        };
        engine.emit(&c.event("start", &[]));
        let stdin = match (c.open_stdin, tty) {
            (false, _) => None,
            (true, true) => outputs[0].1.try_clone().ok(),
            (true, false) => Some(File::from(in_w)),
        };
        let attrs = c.log.attrs(&c.labels, &c.opts.env);
        let log = match LogWriter::open(&Container::dir(engine.root(), id), id, c.log.clone(), attrs) {
            Ok(l) => l,
            Err(e) => {
                let _ = rt.kill(id, 9, true);
                return abort(engine, &mut proxies, e);
            }
        };
        if self.mode == Monitors::Process {
            // The start parsed images, specs and seccomp profiles: give that memory
            // back, the monitor idles for the container's whole life.
            wharf_runtime::sys::trim_heap();
            wharf_runtime::sys::release_stack_below_here();
        }
        let pty = if tty { outputs[0].1.try_clone().ok() } else { None };
        let stdin_once = c.stdin_once && !tty;
        Ok(Running {
            pid: Pid::from_raw(pid),
            pidfd,
            started: Instant::now(),
            outputs,
            stdin,
            stdin_once,
            pty,
            log,
            proxies,
        })
    }
}

/// Reads a client's command line and makes it a client.
fn handshake(stream: UnixStream) -> Client {
    let _ = stream.set_nonblocking(false);
    let _ = stream.set_read_timeout(Some(Duration::from_secs(2)));
    let mut line = Vec::new();
    let mut byte = [0u8; 1];
    let mut s = stream;
    while line.len() < protocol::MAX_REQUEST && s.read(&mut byte).map(|n| n == 1).unwrap_or(false) && byte[0] != b'\n' {
        line.push(byte[0]);
    }
    let _ = s.set_read_timeout(None);
    let _ = s.set_nonblocking(true);
    let req = Request::parse(&line);
    let resize = match req {
        Some(Request::Resize { rows, cols }) => Some((rows, cols)),
        _ => None,
    };
    Client {
        stream: s,
        attached: req == Some(Request::Attach),
        resize,
        input_closed: false,
        input: protocol::Decoder::default(),
    }
}

/// Adds a new connection: resize requests apply to the terminal at once.
fn accept_client(stream: UnixStream, pty: Option<&File>, clients: &mut Vec<Client>) {
    let c = handshake(stream);
    match c.resize {
        Some((rows, cols)) => {
            if let Some(p) = pty {
                let _ = wharf_runtime::sys::set_winsize(p.as_fd(), rows, cols);
            }
        }
        None => clients.push(c),
    }
}

fn mark_exited(engine: &Engine, id: &str, code: i32, error: &str) -> Result<()> {
    engine.update(id, |c| {
        c.state.status = Status::Exited;
        c.state.exit_code = code;
        c.state.pid = 0;
        c.state.error = error.to_string();
        c.state.finished_at = Some(now());
        Ok(())
    })?;
    Ok(())
}

/// Docker's restart backoff: 100 ms, doubled per restart up to a minute, and
/// back to 100 ms once a run lasted 10 s.
const BACKOFF_START: Duration = Duration::from_millis(100);
const BACKOFF_MAX: Duration = Duration::from_secs(60);
const BACKOFF_RESET_AFTER: Duration = Duration::from_secs(10);

impl Monitor<'_> {
    /// Runs the container until it exits for good: every exit ends the current
    /// attach and wait streams (after the record says what happens next), and
    /// the restart policy decides whether it runs again.
    fn supervise(&self, listener: UnixListener, mut r: Running, mut clients: Vec<Client>) -> i32 {
        let (engine, id) = (self.engine, self.id);
        // A process monitor also reaps what else is reparented to it (SIGCHLD).
        let sfd = if self.mode == Monitors::Process {
            let mut mask = SigSet::empty();
            mask.add(Signal::SIGCHLD);
            let _ = nix::sys::signal::sigprocmask(SigmaskHow::SIG_BLOCK, Some(&mask), None);
            let Ok(sfd) = SignalFd::with_flags(&mask, SfdFlags::SFD_CLOEXEC | SfdFlags::SFD_NONBLOCK) else { return 1 };
            Some(sfd)
        } else {
            None
        };
        if self.mode == Monitors::Process {
            // What the start report and the signal setup left behind goes back too.
            wharf_runtime::sys::trim_heap();
        }
        let _ = listener.set_nonblocking(true);
        let mut backoff = BACKOFF_START;
        loop {
            let code = serve(sfd.as_ref(), &listener, &mut r, &mut clients);
            r.log.flush();
            for p in &mut r.proxies {
                let _ = p.kill();
                let _ = p.wait();
            }
            engine.release_run(id);
            if r.started.elapsed() >= BACKOFF_RESET_AFTER {
                backoff = BACKOFF_START;
            }
            let by_user = Container::stop_marker(engine.root(), id).exists();
            let saved = engine.update(id, |c| {
                let again = c.restart_policy.should_restart(code, c.restart_count, by_user);
                c.state.exit_code = code;
                c.state.pid = 0;
                c.state.finished_at = Some(now());
                c.state.status = if again { Status::Restarting } else { Status::Exited };
                if again {
                    c.restart_count += 1;
                }
                Ok(again)
            });
            let Ok((c, again)) = saved else { break };
            engine.emit(&c.event("die", &[("exitCode", code.to_string())]));
            end_streams(&mut clients, code);
            if !again {
                break;
            }
            if !hold_off(engine, id, &listener, &mut clients, backoff) {
                let _ = mark_exited(engine, id, code, "");
                end_streams(&mut clients, code);
                break;
            }
            backoff = (backoff * 2).min(BACKOFF_MAX);
            match self.launch(&listener, 0, &mut clients) {
                Ok(next) => r = next,
                Err(e) => {
                    // Stopped by the user meanwhile: the last exit stands; else the restart failed.
                    let by_user = Container::stop_marker(engine.root(), id).exists();
                    let (last, error) = if by_user { (code, String::new()) } else { (128, e.to_string()) };
                    if !by_user {
                        tracing::warn!("restart {id}: {e}");
                    }
                    let _ = mark_exited(engine, id, last, &error);
                    end_streams(&mut clients, last);
                    break;
                }
            }
        }
        let _ = fs::remove_file(engine.monitor_socket(id));
        0
    }
}

/// Sends the exit frame to every client and lets them go.
fn end_streams(clients: &mut Vec<Client>, code: i32) {
    let fr = protocol::exit_frame(code);
    for mut c in clients.drain(..) {
        let _ = write_all_blocking(&mut c.stream, &fr);
    }
}

/// The backoff before a restart: keeps accepting clients (they wait for the
/// next exit). False if the user stopped the container meanwhile or removed it.
fn hold_off(engine: &Engine, id: &str, listener: &UnixListener, clients: &mut Vec<Client>, wait: Duration) -> bool {
    let deadline = Instant::now() + wait;
    loop {
        if Container::stop_marker(engine.root(), id).exists() || engine.get(id).is_err() {
            return false;
        }
        let left = deadline.saturating_duration_since(Instant::now());
        if left.is_zero() {
            return true;
        }
        let step = left.min(Duration::from_millis(50));
        let mut fds = [PollFd::new(listener.as_fd(), PollFlags::POLLIN)];
        let _ = poll(&mut fds, PollTimeout::try_from(step).unwrap_or(PollTimeout::ZERO));
        while let Ok((stream, _)) = listener.accept() {
            accept_client(stream, None, clients);
        }
    }
}

/// Serves one run: output to the log and attached clients, stdin from them,
/// until the init exits and its output is drained. Returns the exit code.
fn serve(sfd: Option<&SignalFd>, listener: &UnixListener, r: &mut Running, clients: &mut Vec<Client>) -> i32 {
    let mut exit_code: Option<i32> = None;
    let mut buf = vec![0u8; 16 << 10];
    // Until the init exits and its output is drained.
    while exit_code.is_none() || !r.outputs.is_empty() {
        // Reap first: a zombie init means we are done once output drains.
        if exit_code.is_none() {
            exit_code = reap_init(&r.pidfd);
        }
        if sfd.is_some() {
            reap_others(r);
        }
        if exit_code.is_some() && r.outputs.is_empty() {
            break;
        }
        // The signalfd (or, in a thread, the pidfd again: a placeholder that keeps the indexes).
        let first = match sfd {
            Some(s) => PollFd::new(s.as_fd(), PollFlags::POLLIN),
            None => PollFd::new(r.pidfd.as_fd(), PollFlags::POLLIN),
        };
        let init = if exit_code.is_none() { PollFlags::POLLIN } else { PollFlags::empty() };
        let mut fds = vec![first, PollFd::new(listener.as_fd(), PollFlags::POLLIN)];
        fds.push(PollFd::new(r.pidfd.as_fd(), init));
        for (_, f) in &r.outputs {
            fds.push(PollFd::new(f.as_fd(), PollFlags::POLLIN));
        }
        let polled: Vec<usize> = (0..clients.len()).filter(|j| !clients[*j].input_closed).collect();
        for j in &polled {
            fds.push(PollFd::new(clients[*j].stream.as_fd(), PollFlags::POLLIN));
        }
        // After exit, only drain what is already buffered.
        let timeout = if exit_code.is_some() { PollTimeout::from(50u16) } else { PollTimeout::NONE };
        match poll(&mut fds, timeout) {
            Ok(0) if exit_code.is_some() => break,
            Err(nix::Error::EINTR) | Ok(_) => {}
            Err(_) => break,
        }
        // The first three: the signalfd, the listener, the init's pidfd.
        let mut ready: Vec<bool> = fds.iter().map(|f| f.revents().is_some_and(|e| !e.is_empty())).collect();
        ready.remove(2);
        let n_out = r.outputs.len();
        drop(fds);
        if ready[0] {
            if let Some(sfd) = sfd {
                while let Ok(Some(_)) = sfd.read_signal() {}
            }
        }
        if ready[1] {
            while let Ok((stream, _)) = listener.accept() {
                accept_client(stream, r.pty.as_ref(), clients);
            }
        }
        // Container output → log + attached clients.
        let mut closed = Vec::new();
        for (i, (kind, f)) in r.outputs.iter_mut().enumerate() {
            if !ready[2 + i] {
                continue;
            }
            match f.read(&mut buf) {
                Ok(0) | Err(_) => closed.push(i),
                Ok(n) => {
                    let (stream, k) = match kind {
                        Kind::Stderr => (logs::Stream::Stderr, Kind::Stderr),
                        _ => (logs::Stream::Stdout, Kind::Stdout),
                    };
                    r.log.append(stream, &buf[..n]);
                    let fr = protocol::encode(k, &buf[..n]);
                    clients.retain_mut(|c| !c.attached || write_all_blocking(&mut c.stream, &fr));
                }
            }
        }
        for i in closed.into_iter().rev() {
            r.outputs.remove(i);
        }
        // Client input (stdin frames) or hang-ups.
        let mut gone = Vec::new();
        for (k, j) in polled.iter().enumerate() {
            if !ready.get(2 + n_out + k).copied().unwrap_or(false) {
                continue;
            }
            let (j, c) = (*j, &mut clients[*j]);
            match c.stream.read(&mut buf) {
                Ok(0) => {
                    // The client closed its write side: with StdinOnce that ends
                    // stdin (the client may still read), as Docker's.
                    if c.attached && r.stdin_once {
                        r.stdin = None;
                    }
                    c.input_closed = true;
                }
                Ok(n) => {
                    c.input.push(&buf[..n]);
                    loop {
                        match c.input.next_frame() {
                            Ok(Some(f)) if f.kind == Kind::Stdin => {
                                if let Some(stdin) = r.stdin.as_mut() {
                                    let _ = stdin.write_all(&f.payload);
                                }
                            }
                            Ok(Some(_)) => {}
                            Ok(None) => break,
                            // A malformed stream: the client goes.
                            Err(_) => {
                                gone.push(j);
                                break;
                            }
                        }
                    }
                }
                Err(e) if e.kind() == std::io::ErrorKind::WouldBlock => {}
                Err(_) => gone.push(j),
            }
        }
        for j in gone.into_iter().rev() {
            clients.remove(j);
        }
    }
    exit_code.unwrap_or(255)
}

/// The init's exit code once it has exited (128+N for signal N), reaped through its pidfd.
fn reap_init(pidfd: &OwnedFd) -> Option<i32> {
    match waitid(Id::PIDFd(pidfd.as_fd()), WaitPidFlag::WEXITED | WaitPidFlag::WNOHANG) {
        Ok(WaitStatus::Exited(_, code)) => Some(code),
        Ok(WaitStatus::Signaled(_, sig, _)) => Some(128 + sig as i32),
        Ok(_) => None,
        // Not our child (a thread monitor whose runtime forked away) or gone: no status to have.
        Err(nix::Error::ECHILD) => Some(255),
        Err(_) => None,
    }
}

/// Reaps every other zombie child (a subreaper's orphans, proxies), never the init.
fn reap_others(r: &mut Running) {
    let peek = WaitPidFlag::WEXITED | WaitPidFlag::WNOHANG | WaitPidFlag::WNOWAIT;
    while let Ok(status) = waitid(Id::All, peek) {
        let Some(pid) = status.pid() else { break };
        if pid == r.pid {
            break;
        }
        let _ = waitpid(pid, Some(WaitPidFlag::WNOHANG));
        // A proxy we reaped must never be killed later (its pid may be reused).
        r.proxies.retain(|p| p.id() as i32 != pid.as_raw());
    }
}

/// Writes to a non-blocking socket, waiting while it is full. False if the peer is gone.
fn write_all_blocking(s: &mut UnixStream, data: &[u8]) -> bool {
    let _ = s.set_nonblocking(false);
    let ok = s.write_all(data).is_ok();
    let _ = s.set_nonblocking(true);
    ok
}
