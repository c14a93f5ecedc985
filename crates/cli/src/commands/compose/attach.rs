//! The verbs that stream: `logs` (the containers' output, each line
//! prefixed with the replica's name, coloured on a terminal), `up`
//! attached (the logs until every container has exited, or until one has
//! with `--abort-on-container-exit`/`--exit-code-from`, or Ctrl+C stops
//! the project), `up --wait`, `run` (a one-off container attached), `exec`
//! and `wait`.

use std::io::Write;
use std::sync::mpsc;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use anyhow::{bail, Result};
use clap::Args;
use wharf_compose::backend::{Backend, Summary};
use wharf_compose::ops::{self, DownOptions, Verb};
use wharf_compose::up::{self, wait, OneOff, Plan, Progress, UpOptions};
use wharf_compose::watch::Hook;

use super::verbs::{interactive_terminal, replica};
use super::UpArgs;
use crate::client::{demux, enc, Client};
use crate::commands::containers as ctr;

/// Compose's palette for service prefixes.
const COLOURS: [&str; 6] = ["36", "33", "32", "35", "34", "31"];

const MAX_LINE: usize = 64 << 10;

/// Writes whole lines, each with the container's prefix, to stdout.
struct Prefixed {
    prefix: String,
    partial: Vec<u8>,
    out: Arc<Mutex<std::io::Stdout>>,
}

impl Write for Prefixed {
    fn write(&mut self, data: &[u8]) -> std::io::Result<usize> {
        self.partial.extend_from_slice(data);
        // A line that never ends (progress bars, binary output) is cut at 64 KiB.
        if self.partial.len() > MAX_LINE && !self.partial.contains(&b'\n') {
            self.partial.push(b'\n');
        }
        while let Some(i) = self.partial.iter().position(|b| *b == b'\n') {
            let line: Vec<u8> = self.partial.drain(..=i).collect();
            let mut out = self.out.lock().unwrap_or_else(|e| e.into_inner());
            out.write_all(self.prefix.as_bytes())?;
            out.write_all(&line)?;
            out.flush()?;
        }
        Ok(data.len())
    }

    fn flush(&mut self) -> std::io::Result<()> {
        if !self.partial.is_empty() {
            self.partial.push(b'\n');
            self.write(&[])?;
        }
        Ok(())
    }
}

/// How a container's output is shown.
#[derive(Clone)]
struct Style {
    colour: bool,
    prefix: bool,
    timestamps: bool,
    width: usize,
}

/// `web-1` for `shop-web-1` (a `container_name` stays as it is).
fn short_name(project: &str, c: &Summary) -> String {
    c.name.strip_prefix(&format!("{project}-")).unwrap_or(&c.name).to_string()
}

impl Style {
    fn for_containers(project: &str, list: &[Summary], colour: bool, prefix: bool, timestamps: bool) -> Style {
        // As Compose v2: the longest name and one space, then ` | `.
        let width = list.iter().map(|c| short_name(project, c).len()).max().unwrap_or(0) + 1;
        Style { colour, prefix, timestamps, width }
    }

    fn prefix(&self, name: &str, i: usize) -> String {
        if !self.prefix {
            return String::new();
        }
        let text = format!("{name:<w$} | ", w = self.width);
        match self.colour {
            true => format!("\x1b[{}m{text}\x1b[0m", COLOURS[i % COLOURS.len()]),
            false => text,
        }
    }
}

/// A container's log stream, on a thread of its own: ends when the stream
/// does (a followed one when its container stops), with why it could not
/// be read (the request refused, the stream broken).
type LogStream = std::thread::JoinHandle<std::result::Result<(), String>>;

/// Follows (or dumps) each container's logs, one [`LogStream`] each.
fn stream_logs(client: &Client, project: &str, list: &[Summary], style: &Style, query: &str) -> Vec<LogStream> {
    stream_logs_from(client, project, (list, 0), style, query)
}

/// [`stream_logs`] of `list`, whose first container is the `first`th of
/// what is shown (its colour).
fn stream_logs_from(
    client: &Client,
    project: &str,
    (list, first): (&[Summary], usize),
    style: &Style,
    query: &str,
) -> Vec<LogStream> {
    let out = Arc::new(Mutex::new(std::io::stdout()));
    let mut handles = Vec::new();
    for (i, c) in list.iter().enumerate().map(|(i, c)| (i + first, c)) {
        let mut w =
            Prefixed { prefix: style.prefix(&short_name(project, c), i), partial: Vec::new(), out: out.clone() };
        let tty = client.get(&format!("/containers/{}/json", c.id)).ok().and_then(|v| v["Config"]["Tty"].as_bool());
        let path =
            format!("/containers/{}/logs?stdout=1&stderr=1&timestamps={}&{query}", c.id, u8::from(style.timestamps));
        let resp = client.request("GET", &path, None);
        let name = c.name.clone();
        handles.push(std::thread::spawn(move || {
            let failed = |e: &dyn std::fmt::Display| format!("cannot read the logs of {name}: {e}");
            let resp = resp.map_err(|e| failed(&format!("{e:#}")))?;
            let mut err = Prefixed { prefix: w.prefix.clone(), partial: Vec::new(), out: w.out.clone() };
            let read = demux(resp.body, tty.unwrap_or(false), &mut w, &mut err);
            let flushed = w.flush().and(err.flush());
            read.map_err(|e| failed(&e))?;
            flushed.map_err(|e| failed(&e))
        }));
    }
    handles
}

/// Waits for the streams; each one that failed is said on stderr. Whether all were read.
fn join_logs(streams: Vec<LogStream>) -> bool {
    let mut all = true;
    for h in streams {
        if let Err(why) = h.join().unwrap_or_else(|_| Err("a log reader panicked".into())) {
            eprintln!("{why}");
            all = false;
        }
    }
    all
}

#[derive(Args)]
pub struct LogsArgs {
    /// Follow the output (until the containers stop)
    #[arg(short, long)]
    follow: bool,
    /// Show timestamps
    #[arg(short, long)]
    timestamps: bool,
    /// Number of lines from the end of each container's logs
    #[arg(short = 'n', long, default_value = "all")]
    tail: String,
    /// Only logs since a timestamp or a relative time (42m)
    #[arg(long)]
    since: Option<String>,
    /// Only logs before a timestamp or a relative time
    #[arg(long)]
    until: Option<String>,
    /// Produce monochrome output
    #[arg(long)]
    no_color: bool,
    /// Do not prefix the lines with the container's name
    #[arg(long)]
    no_log_prefix: bool,
    /// Which replica of each service
    #[arg(long)]
    index: Option<u32>,
    services: Vec<String>,
}

pub fn logs(plan: &Plan, backend: &dyn Backend, client: &Client, a: &LogsArgs) -> Result<i32> {
    let mut list = ops::containers(plan, backend, &a.services, false)?;
    if let Some(i) = a.index {
        list.retain(|c| c.number() == i);
    }
    let mut q = format!("follow={}&tail={}", u8::from(a.follow), enc(&a.tail));
    if let Some(s) = &a.since {
        q.push_str(&format!("&since={}", ctr::timestamp(s)?));
    }
    if let Some(u) = &a.until {
        q.push_str(&format!("&until={}", ctr::timestamp(u)?));
    }
    let colour = !a.no_color && std::io::IsTerminal::is_terminal(&std::io::stdout());
    let style = Style::for_containers(plan.project, &list, colour, !a.no_log_prefix, a.timestamps);
    Ok(if join_logs(stream_logs(client, plan.project, &list, &style, &q)) { 0 } else { 1 })
}

/// What the attached `up` waits on.
enum Happening {
    /// `restarting`: its restart policy runs it again; `at`: when it died (Unix seconds).
    Exited {
        container: Summary,
        code: i64,
        restarting: bool,
        at: String,
    },
    Interrupted,
}

/// `up`: detached (`-d`, `--wait`) or attached to the services' output.
pub fn up(plan: &Plan, backend: &dyn Backend, client: &Client, a: &UpArgs, p: Progress) -> Result<i32> {
    if let Some(s) = &a.exit_code_from {
        plan.check(std::slice::from_ref(s))?;
    }
    let began = std::time::SystemTime::now();
    let mut opts = a.create.options(a.no_deps.then(|| a.services.clone()), false)?;
    opts.timeout = a.timeout;
    up::up(plan, backend, &opts, p)?;
    let selected: Vec<String> = match (a.services.is_empty(), a.no_deps) {
        (false, true) => a.services.clone(),
        // The named services with what they depend on: what was loaded.
        _ => plan.services().iter().map(|(n, _)| n.to_string()).collect(),
    };
    if a.wait {
        wait::ready(plan, backend, &selected, a.wait_timeout.map(Duration::from_secs))?;
        for c in ops::containers(plan, backend, &selected, false)? {
            p("Container", &c.name, "Healthy");
        }
        return Ok(0);
    }
    if a.detach {
        return Ok(0);
    }
    // The named services' output (and their dependencies' with --attach-dependencies), or all.
    let attached = match a.services.is_empty() || a.attach_dependencies {
        true => selected.clone(),
        false => a.services.clone(),
    };
    let list = ops::containers(plan, backend, &attached, false)?;
    let colour = !a.no_color && std::io::IsTerminal::is_terminal(&std::io::stdout());
    let style = Style::for_containers(plan.project, &list, colour, !a.no_log_prefix, false);
    let since = began.duration_since(std::time::UNIX_EPOCH).unwrap_or_default().as_secs().saturating_sub(1);
    let logs = stream_logs(client, plan.project, &list, &style, &format!("follow=1&since={since}"));
    let (tx, rx) = mpsc::channel();
    let sig_tx = tx.clone();
    let handle = on_interrupt(move || {
        let _ = sig_tx.send(Happening::Interrupted);
    })?;
    // Exits from this `up` on (before it, its containers were started or kept).
    let from = unix_seconds(began.duration_since(std::time::UNIX_EPOCH).unwrap_or_default().as_nanos());
    on_exits(client, &list, &from, move |container, code, how, at| {
        let _ = tx.send(Happening::Exited { container, code, restarting: how == Stopped::Restarting, at });
    });
    // Per container, when its last run ended: the output of a run after it is shown at its exit.
    let mut ended: std::collections::HashMap<String, String> = std::collections::HashMap::new();
    let abort = a.abort_on_container_exit || a.exit_code_from.is_some();
    let mut running = list.len();
    let mut code = 0;
    let stop = Verb::Stop { timeout: a.timeout };
    while running > 0 {
        match rx.recv() {
            Ok(Happening::Exited { container, code: c, restarting, at }) => {
                // A run after the first (the first is followed live): its output, then its exit.
                if let Some(prev) = ended.insert(container.id.clone(), at.clone()) {
                    let q = format!("follow=0&since={}&until={}", enc(&prev), enc(&at));
                    let index = list.iter().position(|x| x.id == container.id).unwrap_or(0);
                    let one = (std::slice::from_ref(&container), index);
                    join_logs(stream_logs_from(client, plan.project, one, &style, &q));
                }
                println!("{} exited with code {c}", short_name(plan.project, &container));
                if restarting {
                    continue;
                }
                running -= 1;
                if abort {
                    println!("Aborting on container exit...");
                    ops::act(plan, backend, &selected, &stop, p)?;
                    code = match &a.exit_code_from {
                        Some(s) => exit_code_of(plan, backend, client, s)?,
                        None => c as i32,
                    };
                    break;
                }
            }
            Ok(Happening::Interrupted) => {
                eprintln!("Gracefully stopping... (press Ctrl+C again to force)");
                ops::act(plan, backend, &selected, &stop, p)?;
                code = 130;
                break;
            }
            Err(_) => break,
        }
    }
    handle.close();
    // A log that could not be followed is said, not hidden; the exit code stays the containers'.
    join_logs(logs);
    Ok(code)
}

/// Calls `first` on the first SIGINT or SIGTERM (a thread waits for them);
/// a second one ends the process at once (130). The handle's `close`,
/// called once when done, lets the thread go.
pub(super) fn on_interrupt(first: impl Fn() + Send + 'static) -> Result<signal_hook::iterator::Handle> {
    let mut signals = signal_hook::iterator::Signals::new([signal_hook::consts::SIGINT, signal_hook::consts::SIGTERM])?;
    let handle = signals.handle();
    std::thread::spawn(move || {
        // Until `close`: the thread keeps the signals' pipe open for it.
        for (n, _) in signals.forever().enumerate() {
            match n {
                0 => first(),
                _ => std::process::exit(130),
            }
        }
    });
    Ok(handle)
}

/// How a container stopped: for good, or to be run again by its restart policy.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Stopped {
    ForGood,
    Restarting,
}

/// A time in nanoseconds since the epoch as the Engine API's `since`/`until` take it.
fn unix_seconds(nanos: u128) -> String {
    format!("{}.{:09}", nanos / 1_000_000_000, nanos % 1_000_000_000)
}

/// Calls `done(container, exit code)` on a thread per container once it
/// is not running (-1 when the wait itself failed).
fn on_exit(client: &Client, list: &[Summary], done: impl Fn(Summary, i64) + Clone + Send + 'static) {
    for c in list {
        let waiter = client.request("POST", &format!("/containers/{}/wait?condition=not-running", c.id), None);
        let (done, c) = (done.clone(), c.clone());
        std::thread::spawn(move || {
            let code = waiter.ok().and_then(|w| w.json().ok()).and_then(|v| v["StatusCode"].as_i64()).unwrap_or(-1);
            done(c, code);
        });
    }
}

/// As [`on_exit`], following each container across the restarts of its
/// policy (as Compose v2): every `die` of the event journal since `since`
/// (Unix seconds) is one exit, `Restarting` unless the container has
/// stopped for good — its inspect says exited and no later `die` is
/// journaled (so no exit is missed however fast they come).
fn on_exits(
    client: &Client,
    list: &[Summary],
    since: &str,
    done: impl Fn(Summary, i64, Stopped, String) + Clone + Send + 'static,
) {
    for c in list {
        let filter = |id: &str| enc(&serde_json::json!({"container": [id], "event": ["die"]}).to_string());
        let stream = client.request("GET", &format!("/events?since={since}&filters={}", filter(&c.id)), None);
        let (done, c, client) = (done.clone(), c.clone(), client.clone());
        std::thread::spawn(move || {
            let Ok(stream) = stream else { return done(c, -1, Stopped::ForGood, String::new()) };
            for line in std::io::BufRead::lines(std::io::BufReader::new(stream.body)) {
                let Ok(line) = line else { break };
                let Ok(e) = serde_json::from_str::<serde_json::Value>(&line) else { continue };
                let code = e["Actor"]["Attributes"]["exitCode"].as_str().and_then(|c| c.parse().ok()).unwrap_or(-1);
                let state = client.get(&format!("/containers/{}/json", c.id)).map(|v| v["State"].clone());
                let stopped = state.is_ok_and(|s| s["Running"] != true && s["Restarting"] != true);
                let nano = e["timeNano"].as_u64().unwrap_or(0) as u128;
                let (at, after) = (unix_seconds(nano), unix_seconds(nano + 1));
                // Up to now only: the journal's history, answered at once.
                let now = std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).unwrap_or_default();
                let later = || {
                    let until = unix_seconds(now.as_nanos());
                    let path = format!("/events?since={after}&until={until}&filters={}", filter(&c.id));
                    client.request("GET", &path, None).is_ok_and(|r| {
                        std::io::BufRead::lines(std::io::BufReader::new(r.body)).any(|l| l.is_ok_and(|l| !l.is_empty()))
                    })
                };
                if stopped && !later() {
                    return done(c, code, Stopped::ForGood, at);
                }
                done(c.clone(), code, Stopped::Restarting, at);
            }
            done(c, -1, Stopped::ForGood, String::new());
        });
    }
}

/// The exit code of service `s`'s first replica, once it has stopped.
fn exit_code_of(plan: &Plan, backend: &dyn Backend, client: &Client, s: &str) -> Result<i32> {
    let c = replica(plan, backend, s, None)?;
    let v = client.post(&format!("/containers/{}/wait?condition=not-running", c.id), None)?;
    Ok(v["StatusCode"].as_i64().unwrap_or(0) as i32)
}

#[derive(Args)]
pub struct ExecArgs {
    /// Detached mode: run the command in the background
    #[arg(short, long)]
    detach: bool,
    /// Disable pseudo-TTY allocation (default: a TTY when stdin and stdout are terminals)
    #[arg(short = 'T', long = "no-TTY")]
    no_tty: bool,
    /// Username or UID
    #[arg(short, long)]
    user: Option<String>,
    /// Working directory inside the container
    #[arg(short, long)]
    workdir: Option<String>,
    /// Set environment variables
    #[arg(short, long = "env")]
    env: Vec<String>,
    /// Give extended privileges to the command
    #[arg(long)]
    privileged: bool,
    /// Which replica of the service
    #[arg(long)]
    index: Option<u32>,
    service: String,
    #[arg(required = true, trailing_var_arg = true, allow_hyphen_values = true)]
    command: Vec<String>,
}

pub fn exec(plan: &Plan, backend: &dyn Backend, client: &Client, a: &ExecArgs) -> Result<i32> {
    let c = replica(plan, backend, &a.service, a.index)?;
    if c.state != "running" {
        bail!("container {} is not running", c.name);
    }
    let tty = !a.no_tty && interactive_terminal();
    let hook = Hook {
        command: a.command.clone(),
        user: a.user.clone(),
        working_dir: a.workdir.clone(),
        privileged: a.privileged,
        environment: a.env.clone(),
    };
    exec_in(client, &c.id, &hook, a.detach, tty, !a.detach)
}

/// Runs `hook` in container `id` as `wharf exec` does (with `stdin`, ours
/// attached); the command's exit code.
pub(super) fn exec_in(client: &Client, id: &str, hook: &Hook, detach: bool, tty: bool, stdin: bool) -> Result<i32> {
    let mut args: Vec<String> = Vec::new();
    if detach {
        args.push("-d".into());
    }
    if stdin {
        args.push("-i".into());
    }
    if tty {
        args.push("-t".into());
    }
    for (flag, v) in [("-u", &hook.user), ("-w", &hook.working_dir)] {
        if let Some(v) = v {
            args.extend([flag.to_string(), v.clone()]);
        }
    }
    for e in &hook.environment {
        args.extend(["-e".to_string(), e.clone()]);
    }
    if hook.privileged {
        args.push("--privileged".into());
    }
    args.push(id.to_string());
    args.extend(hook.command.iter().cloned());
    let parsed = <ExecCli as clap::Parser>::try_parse_from(std::iter::once("wharf".to_string()).chain(args))?;
    ctr::exec(client, &parsed.exec)
}

/// The container `exec`'s flags, parsed as `wharf exec` takes them.
#[derive(clap::Parser)]
struct ExecCli {
    #[command(flatten)]
    exec: ctr::ExecArgs,
}

#[derive(Args)]
pub struct RunArgs {
    /// Run the container in the background and print its id
    #[arg(short, long)]
    detach: bool,
    /// Remove the container when it exits
    #[arg(long)]
    rm: bool,
    /// Assign a name to the container
    #[arg(long)]
    name: Option<String>,
    /// Override the image's entrypoint
    #[arg(long)]
    entrypoint: Option<String>,
    /// Set environment variables
    #[arg(short, long = "env")]
    env: Vec<String>,
    /// Add or override a label
    #[arg(short, long = "label")]
    label: Vec<String>,
    /// Run as this user
    #[arg(short, long)]
    user: Option<String>,
    /// Working directory inside the container
    #[arg(short, long)]
    workdir: Option<String>,
    /// Publish the service's ports
    #[arg(long)]
    service_ports: bool,
    /// Disable pseudo-TTY allocation (default: a TTY when stdin and stdout are terminals)
    #[arg(short = 'T', long = "no-TTY")]
    no_tty: bool,
    /// Do not start the services the service depends on
    #[arg(long)]
    no_deps: bool,
    /// Build the image before starting
    #[arg(long)]
    build: bool,
    pub(super) service: String,
    #[arg(trailing_var_arg = true, allow_hyphen_values = true)]
    command: Vec<String>,
}

fn slug() -> String {
    wharf_common::ids::new_id()
}

/// `run`: the service's dependencies up (unless `--no-deps`), then a one-off
/// container attached to the terminal; its exit code.
pub fn run(plan: &Plan, backend: &dyn Backend, client: &Client, a: &RunArgs, p: Progress) -> Result<i32> {
    plan.check(std::slice::from_ref(&a.service))?;
    let svc = plan.service(&a.service).expect("checked");
    let deps = wharf_compose::graph::dependencies(svc);
    if !a.no_deps && !deps.is_empty() {
        // What the service depends on, and what that depends on, is brought up.
        let mut all: Vec<String> = Vec::new();
        let mut todo = deps;
        while let Some(d) = todo.pop() {
            if !all.contains(&d) {
                todo.extend(plan.service(&d).map(wharf_compose::graph::dependencies).unwrap_or_default());
                all.push(d);
            }
        }
        let opts = UpOptions { only: Some(all), build: super::build_policy(a.build, false), ..Default::default() };
        up::up(plan, backend, &opts, p)?;
        wait::dependencies(plan, backend, &a.service, svc)?;
    }
    if a.build {
        super::verbs::build(plan, backend, std::slice::from_ref(&a.service), false, p)?;
    }
    let tty = !a.no_tty && !a.detach && interactive_terminal();
    let entrypoint = match &a.entrypoint {
        Some(e) => Some(shlex::split(e).ok_or_else(|| anyhow::anyhow!("invalid --entrypoint {e:?}"))?),
        None => None,
    };
    let labels = a
        .label
        .iter()
        .map(|l| l.split_once('=').map(|(k, v)| (k.to_string(), v.to_string())).unwrap_or((l.clone(), String::new())))
        .collect();
    let o = OneOff {
        command: a.command.clone(),
        entrypoint,
        env: a.env.clone(),
        user: a.user.clone(),
        workdir: a.workdir.clone(),
        labels,
        service_ports: a.service_ports,
        remove: a.rm,
        tty,
        interactive: !a.detach,
        name: a.name.clone(),
        slug: slug(),
    };
    let image = plan.image(&a.service, svc)?;
    if !backend.image_exists(&image)? {
        match up::build_spec(plan, &a.service, svc)? {
            Some(spec) => up::build_in_order(plan, backend, vec![spec], &|_, _, _| {})?,
            None => backend.pull(&image)?,
        }
    }
    let (name, id) = up::one_off_body(plan, backend, &a.service, svc, &o)?;
    if a.detach {
        backend.start(&id)?;
        println!("{name}");
        return Ok(0);
    }
    attach_and_run(client, &id, tty, a.rm)
}

/// Attaches stdin/stdout/stderr, starts, and waits for the exit code.
fn attach_and_run(client: &Client, id: &str, tty: bool, removed: bool) -> Result<i32> {
    let attach = client.hijack(&format!("/containers/{id}/attach?stream=1&stdout=1&stderr=1&stdin=1"), None)?;
    let condition = if removed { "removed" } else { "next-exit" };
    let waiter = client.request("POST", &format!("/containers/{id}/wait?condition={condition}"), None)?;
    let raw = ctr::RawTerminal::enter(tty);
    client.post(&format!("/containers/{id}/start"), None)?;
    if tty {
        if let Some((h, w)) = ctr::terminal_size() {
            let _ = client.post(&format!("/containers/{id}/resize?h={h}&w={w}"), None);
        }
    }
    let _stdin = ctr::pump_stdin(attach.try_clone()?, Vec::new());
    let _ = demux(attach, tty, &mut std::io::stdout(), &mut std::io::stderr());
    drop(raw);
    let status = waiter.json()?;
    if let Some(e) = status["Error"]["Message"].as_str() {
        bail!("{e}");
    }
    Ok(status["StatusCode"].as_i64().unwrap_or(0) as i32)
}

/// `wait`: blocks until the services' containers stop, printing each exit
/// code; with `down_project` the project goes down after the first.
pub fn wait(
    plan: &Plan,
    backend: &dyn Backend,
    client: &Client,
    services: &[String],
    down_project: bool,
    p: Progress,
) -> Result<i32> {
    let list = ops::containers(plan, backend, services, false)?;
    let (tx, rx) = mpsc::channel();
    on_exit(client, &list, move |_, code| {
        let _ = tx.send(code);
    });
    let mut last = 0;
    for code in rx {
        println!("{code}");
        last = code as i32;
        if down_project {
            ops::down(plan, backend, &DownOptions::default(), p)?;
            break;
        }
    }
    Ok(last)
}
