//! Container commands as a client of the Docker Engine API (`wharf daemon`
//! or any compatible daemon): ps, create/start/run, logs, exec, stop, kill,
//! rm, inspect, cp, stats, events, and the rest of the everyday set.

use std::collections::BTreeMap;
use std::io::{Read, Write};
use std::path::{Path, PathBuf};

use anyhow::{anyhow, bail, Context, Result};
use clap::{Args, Subcommand};
use serde_json::{json, Value};

use super::images::{human_ago, human_size};
use crate::client::{demux, enc, status_of, Client};
use crate::format::{align, Template};

fn short(id: &str) -> String {
    id.trim_start_matches("sha256:").chars().take(12).collect()
}

fn filters_query(filters: &[String]) -> Result<String> {
    let mut map: BTreeMap<String, Vec<String>> = BTreeMap::new();
    for f in filters {
        let (k, v) = f.split_once('=').ok_or_else(|| anyhow!("bad format of filter (expected name=value): {f}"))?;
        map.entry(k.to_string()).or_default().push(v.to_string());
    }
    Ok(if map.is_empty() { String::new() } else { format!("&filters={}", enc(&serde_json::to_string(&map)?)) })
}

// ---------------------------------------------------------------- ps

#[derive(Args)]
pub struct PsArgs {
    /// Show all containers (default shows just running)
    #[arg(short, long)]
    all: bool,
    /// Only display container IDs
    #[arg(short, long)]
    quiet: bool,
    /// Filter output based on conditions provided (key=value)
    #[arg(short, long)]
    filter: Vec<String>,
    /// Format output using a Go template
    #[arg(long)]
    format: Option<String>,
    /// Don't truncate output
    #[arg(long = "no-trunc")]
    no_trunc: bool,
    /// Show n last created containers
    #[arg(short = 'n', long)]
    last: Option<i64>,
    /// Show the latest created container
    #[arg(short, long)]
    latest: bool,
}

fn ports_text(ports: &Value) -> String {
    ports
        .as_array()
        .map(|l| {
            l.iter()
                .map(|p| match p["PublicPort"].as_u64() {
                    Some(pub_) if pub_ > 0 => format!(
                        "{}:{}->{}/{}",
                        p["IP"].as_str().unwrap_or("0.0.0.0"),
                        pub_,
                        p["PrivatePort"],
                        p["Type"].as_str().unwrap_or("tcp")
                    ),
                    _ => format!("{}/{}", p["PrivatePort"], p["Type"].as_str().unwrap_or("tcp")),
                })
                .collect::<Vec<_>>()
                .join(", ")
        })
        .unwrap_or_default()
}

fn labels_text(l: &Value) -> String {
    l.as_object()
        .map(|m| m.iter().map(|(k, v)| format!("{k}={}", v.as_str().unwrap_or(""))).collect::<Vec<_>>().join(","))
        .unwrap_or_default()
}

/// The fields `docker ps --format` knows.
fn ps_row(c: &Value, trunc: bool) -> Value {
    let id = c["Id"].as_str().unwrap_or("");
    let mut command = c["Command"].as_str().unwrap_or("").to_string();
    if trunc && command.chars().count() > 20 {
        command = format!("{}…", command.chars().take(19).collect::<String>());
    }
    let names: Vec<String> = c["Names"]
        .as_array()
        .into_iter()
        .flatten()
        .filter_map(|n| n.as_str())
        .map(|n| n.trim_start_matches('/').to_string())
        .collect();
    let created = c["Created"].as_i64().unwrap_or(0);
    let created_rfc =
        humantime::format_rfc3339_seconds(std::time::UNIX_EPOCH + std::time::Duration::from_secs(created as u64))
            .to_string();
    let networks: Vec<String> =
        c["NetworkSettings"]["Networks"].as_object().map(|m| m.keys().cloned().collect()).unwrap_or_default();
    json!({
        "ID": if trunc { short(id) } else { id.to_string() }, "Image": c["Image"], "Command": format!("\"{command}\""),
        "CreatedAt": created_rfc, "RunningFor": human_ago(Some(&created_rfc)), "Ports": ports_text(&c["Ports"]),
        "Status": c["Status"], "State": c["State"], "Names": names.join(","), "Labels": labels_text(&c["Labels"]),
        "Networks": networks.join(","), "Mounts": "", "Size": "",
    })
}

pub fn ps(client: &Client, a: &PsArgs) -> Result<()> {
    let mut q = format!("?all={}", u8::from(a.all));
    if let Some(n) = a.last {
        q.push_str(&format!("&limit={n}"));
    } else if a.latest {
        q.push_str("&limit=1");
    }
    q.push_str(&filters_query(&a.filter)?);
    let list = client.get(&format!("/containers/json{q}"))?;
    let rows: Vec<Value> = list.as_array().into_iter().flatten().map(|c| ps_row(c, !a.no_trunc)).collect();
    let format = match (&a.format, a.quiet) {
        (_, true) => "{{.ID}}".to_string(),
        (Some(f), _) => f.clone(),
        (None, _) => {
            "table {{.ID}}\\t{{.Image}}\\t{{.Command}}\\t{{.RunningFor}}\\t{{.Status}}\\t{{.Ports}}\\t{{.Names}}".into()
        }
    };
    let t = Template::new(&format)?;
    print!("{}", t.print_all(&rows, &[("ID", "CONTAINER ID"), ("RunningFor", "CREATED"), ("Names", "NAMES")])?);
    Ok(())
}

// ---------------------------------------------------------------- create / run

/// `docker create`/`run` flags that shape the container.
#[derive(Args, Clone, Default)]
pub struct ContainerFlags {
    /// Assign a name to the container
    #[arg(long)]
    pub name: Option<String>,
    /// Set environment variables
    #[arg(short, long = "env")]
    pub env: Vec<String>,
    /// Read environment variables from a file
    #[arg(long = "env-file")]
    pub env_file: Vec<PathBuf>,
    /// Bind mount or volume: /host:/ctr[:ro], name:/ctr[:ro], /ctr
    #[arg(short, long = "volume")]
    pub volume: Vec<String>,
    /// Mount a tmpfs directory
    #[arg(long)]
    pub tmpfs: Vec<String>,
    /// Publish a port: [ip:][host-port:]container-port[/proto]
    #[arg(short, long = "publish")]
    pub publish: Vec<String>,
    /// Publish all exposed ports to random ports
    #[arg(short = 'P', long = "publish-all")]
    pub publish_all: bool,
    /// Expose a port
    #[arg(long)]
    pub expose: Vec<String>,
    /// Connect to a network (bridge, host, none, a name, container:<id>)
    #[arg(long, alias = "net")]
    pub network: Option<String>,
    /// Network-scoped alias
    #[arg(long = "network-alias")]
    pub network_alias: Vec<String>,
    /// Add a custom host-to-IP mapping (host:ip)
    #[arg(long = "add-host")]
    pub add_host: Vec<String>,
    /// Set custom DNS servers
    #[arg(long)]
    pub dns: Vec<String>,
    /// Restart policy: no, always, on-failure[:max-retries], unless-stopped
    #[arg(long)]
    pub restart: Option<String>,
    /// Memory limit (e.g. 64m)
    #[arg(short, long)]
    pub memory: Option<String>,
    /// Number of CPUs
    #[arg(long)]
    pub cpus: Option<f64>,
    /// CPUs in which to allow execution (0-3, 0,1)
    #[arg(long = "cpuset-cpus")]
    pub cpuset_cpus: Option<String>,
    /// Tune container pids limit
    #[arg(long = "pids-limit")]
    pub pids_limit: Option<i64>,
    /// CPU shares (relative weight)
    #[arg(short = 'c', long = "cpu-shares")]
    pub cpu_shares: Option<i64>,
    /// Size of /dev/shm (e.g. 64m)
    #[arg(long = "shm-size")]
    pub shm_size: Option<String>,
    /// Runtime to use for this container (wharf, runc, crun, or one the daemon configures)
    #[arg(long)]
    pub runtime: Option<String>,
    /// Security options (no-new-privileges, seccomp=<file|unconfined>, apparmor=, label=)
    #[arg(long = "security-opt")]
    pub security_opt: Vec<String>,
    /// Sysctl options (key=value)
    #[arg(long)]
    pub sysctl: Vec<String>,
    /// Username or UID (format: <name|uid>[:<group|gid>])
    #[arg(short, long)]
    pub user: Option<String>,
    /// Working directory inside the container
    #[arg(short, long)]
    pub workdir: Option<String>,
    /// Container host name
    #[arg(long)]
    pub hostname: Option<String>,
    /// Overwrite the default ENTRYPOINT of the image
    #[arg(long)]
    pub entrypoint: Option<String>,
    /// Set metadata on a container
    #[arg(short, long = "label")]
    pub label: Vec<String>,
    /// Mount the container's root filesystem as read only
    #[arg(long = "read-only")]
    pub read_only: bool,
    /// Give extended privileges to this container
    #[arg(long)]
    pub privileged: bool,
    #[arg(long = "cap-add")]
    pub cap_add: Vec<String>,
    #[arg(long = "cap-drop")]
    pub cap_drop: Vec<String>,
    /// Ulimit options (name=soft[:hard])
    #[arg(long)]
    pub ulimit: Vec<String>,
    /// Run an init inside the container that forwards signals and reaps processes
    #[arg(long)]
    pub init: bool,
    /// Signal to stop the container
    #[arg(long = "stop-signal")]
    pub stop_signal: Option<String>,
    /// Timeout (in seconds) to stop a container
    #[arg(long = "stop-timeout")]
    pub stop_timeout: Option<i64>,
    /// Command to run to check health
    #[arg(long = "health-cmd")]
    pub health_cmd: Option<String>,
    /// Time between running the check (e.g. 30s)
    #[arg(long = "health-interval")]
    pub health_interval: Option<String>,
    /// Maximum time to allow one check to run
    #[arg(long = "health-timeout")]
    pub health_timeout: Option<String>,
    /// Consecutive failures needed to report unhealthy
    #[arg(long = "health-retries")]
    pub health_retries: Option<i64>,
    /// Start period for the container to initialize
    #[arg(long = "health-start-period")]
    pub health_start_period: Option<String>,
    /// Logging driver: json-file (default) or none
    #[arg(long = "log-driver")]
    pub log_driver: Option<String>,
    /// Log driver options (max-size=10m, max-file=3)
    #[arg(long = "log-opt")]
    pub log_opt: Vec<String>,
    /// Disable any container-specified HEALTHCHECK
    #[arg(long = "no-healthcheck")]
    pub no_healthcheck: bool,
    /// Keep STDIN open even if not attached
    #[arg(short, long)]
    pub interactive: bool,
    /// Allocate a pseudo-TTY
    #[arg(short, long)]
    pub tty: bool,
    /// Automatically remove the container when it exits
    #[arg(long)]
    pub rm: bool,
}

fn nanos(s: &str) -> Result<i64> {
    let d = humantime::parse_duration(s).with_context(|| format!("invalid duration {s:?}"))?;
    Ok(d.as_nanos() as i64)
}

/// The `POST /containers/create` body for flags, image and command.
pub fn create_body(f: &ContainerFlags, image: &str, command: &[String]) -> Result<Value> {
    let mut env = Vec::new();
    for file in &f.env_file {
        let text = std::fs::read_to_string(file).with_context(|| format!("read env file {}", file.display()))?;
        env.extend(text.lines().map(str::trim).filter(|l| !l.is_empty() && !l.starts_with('#')).map(str::to_string));
    }
    for e in &f.env {
        // `-e NAME` takes the value from our environment, as Docker does.
        if e.contains('=') {
            env.push(e.clone());
        } else if let Ok(v) = std::env::var(e) {
            env.push(format!("{e}={v}"));
        }
    }
    let mut labels = BTreeMap::new();
    for l in &f.label {
        let (k, v) = l.split_once('=').unwrap_or((l, ""));
        labels.insert(k.to_string(), v.to_string());
    }
    let mut port_bindings: BTreeMap<String, Vec<Value>> = BTreeMap::new();
    let mut exposed: BTreeMap<String, Value> = BTreeMap::new();
    for p in &f.publish {
        for b in wharf_engine::network::PortBinding::parse(p)? {
            exposed.insert(b.key(), json!({}));
            let port = if b.host_port == 0 { String::new() } else { b.host_port.to_string() };
            port_bindings.entry(b.key()).or_default().push(json!({"HostIp": b.host_ip, "HostPort": port}));
        }
    }
    for e in &f.expose {
        let key = if e.contains('/') { e.clone() } else { format!("{e}/tcp") };
        exposed.insert(key, json!({}));
    }
    let mut ulimits = Vec::new();
    for u in &f.ulimit {
        let (name, vals) = u.split_once('=').ok_or_else(|| anyhow!("invalid ulimit {u:?}: use name=soft[:hard]"))?;
        let (soft, hard) = vals.split_once(':').unwrap_or((vals, vals));
        let n = |s: &str| s.parse::<u64>().with_context(|| format!("invalid ulimit {u:?}"));
        ulimits.push(json!({"Name": name, "Soft": n(soft)?, "Hard": n(hard)?}));
    }
    let restart = match f.restart.as_deref() {
        None | Some("") => json!({"Name": "no"}),
        Some(r) => {
            let p = wharf_engine::containers::RestartPolicy::parse(r)?;
            json!({"Name": p.name, "MaximumRetryCount": p.maximum_retry_count})
        }
    };
    if f.rm && f.restart.as_deref().is_some_and(|r| r != "no") {
        bail!("Conflicting options: --restart and --rm");
    }
    let healthcheck = if f.no_healthcheck {
        Some(json!({"Test": ["NONE"]}))
    } else if f.health_cmd.is_some() || f.health_interval.is_some() || f.health_retries.is_some() {
        let test = f.health_cmd.as_ref().map(|c| json!(["CMD-SHELL", c])).unwrap_or(json!([]));
        Some(json!({
            "Test": test,
            "Interval": f.health_interval.as_deref().map(nanos).transpose()?.unwrap_or(0),
            "Timeout": f.health_timeout.as_deref().map(nanos).transpose()?.unwrap_or(0),
            "StartPeriod": f.health_start_period.as_deref().map(nanos).transpose()?.unwrap_or(0),
            "Retries": f.health_retries.unwrap_or(0),
        }))
    } else {
        None
    };
    let mounts: Vec<Value> =
        f.tmpfs.iter().map(|t| json!({"Type": "tmpfs", "Target": t.split(':').next().unwrap_or(t)})).collect();
    let network = f.network.clone().unwrap_or_else(|| "default".into());
    let mut endpoints = serde_json::Map::new();
    if !f.network_alias.is_empty() {
        endpoints.insert(network.clone(), json!({"Aliases": f.network_alias}));
    }
    let memory = f.memory.as_deref().map(super::run::parse_bytes).transpose()?.unwrap_or(0);
    let mut log_opts = BTreeMap::new();
    for o in &f.log_opt {
        let (k, v) = o.split_once('=').ok_or_else(|| anyhow!("invalid log opt {o:?}: use key=value"))?;
        log_opts.insert(k.to_string(), v.to_string());
    }
    let (security_opt, sysctls) = security_flags(f)?;
    let shm_size = f.shm_size.as_deref().map(super::run::parse_bytes).transpose()?.unwrap_or(0);
    let mut body = json!({
        "Image": image, "Env": env, "Labels": labels, "Tty": f.tty, "OpenStdin": f.interactive, "StdinOnce": f.interactive,
        "AttachStdin": f.interactive, "AttachStdout": true, "AttachStderr": true,
        "ExposedPorts": exposed, "User": f.user.clone().unwrap_or_default(), "WorkingDir": f.workdir.clone().unwrap_or_default(),
        "Hostname": f.hostname.clone().unwrap_or_default(),
        "HostConfig": {
            "Binds": f.volume, "Mounts": mounts, "PortBindings": port_bindings, "PublishAllPorts": f.publish_all,
            "NetworkMode": network, "ExtraHosts": f.add_host, "Dns": f.dns, "RestartPolicy": restart, "AutoRemove": f.rm,
            "Memory": memory, "NanoCpus": f.cpus.map(|c| (c * 1e9) as i64).unwrap_or(0), "CpusetCpus": f.cpuset_cpus.clone().unwrap_or_default(),
            "PidsLimit": f.pids_limit, "ReadonlyRootfs": f.read_only, "Privileged": f.privileged,
            "CapAdd": f.cap_add, "CapDrop": f.cap_drop, "Ulimits": ulimits, "Init": f.init,
            "CpuShares": f.cpu_shares.unwrap_or(0), "ShmSize": shm_size, "SecurityOpt": security_opt, "Sysctls": sysctls,
            "LogConfig": {"Type": f.log_driver.clone().unwrap_or_default(), "Config": log_opts},
            "Runtime": f.runtime.clone().unwrap_or_default(),
        },
        "NetworkingConfig": {"EndpointsConfig": endpoints},
    });
    if !command.is_empty() {
        body["Cmd"] = json!(command);
    }
    if let Some(ep) = &f.entrypoint {
        body["Entrypoint"] = if ep.is_empty() { json!([]) } else { json!([ep]) };
    }
    if let Some(h) = healthcheck {
        body["Healthcheck"] = h;
    }
    if let Some(s) = &f.stop_signal {
        body["StopSignal"] = json!(s);
    }
    if let Some(t) = f.stop_timeout {
        body["StopTimeout"] = json!(t);
    }
    Ok(body)
}

/// `POST /containers/create`, pulling the image first if the daemon lacks it.
pub fn create(client: &Client, f: &ContainerFlags, image: &str, command: &[String]) -> Result<String> {
    let body = create_body(f, image, command)?;
    let path = match &f.name {
        Some(n) => format!("/containers/create?name={}", enc(n)),
        None => "/containers/create".to_string(),
    };
    let created = match client.post(&path, Some(&body)) {
        Err(e) if status_of(&e) == Some(404) && e.to_string().contains("No such image") => {
            eprintln!("Unable to find image '{image}' locally");
            // Progress would mix with the container's output: pull quietly.
            pull(client, image, true)?;
            eprintln!("Pulled {image}");
            client.post(&path, Some(&body))?
        }
        other => other?,
    };
    for w in created["Warnings"].as_array().into_iter().flatten() {
        eprintln!("WARNING: {}", w.as_str().unwrap_or(""));
    }
    Ok(created["Id"].as_str().unwrap_or("").to_string())
}

/// `POST /images/create` with the progress shown as the docker CLI does.
pub fn pull(client: &Client, image: &str, quiet: bool) -> Result<()> {
    let (name, tag) = split_ref(image);
    let resp = client.request("POST", &format!("/images/create?fromImage={}&tag={}", enc(name), enc(tag)), None)?;
    follow_progress(resp.body, quiet)
}

#[derive(Args)]
pub struct CreateArgs {
    #[command(flatten)]
    pub flags: ContainerFlags,
    pub image: String,
    #[arg(trailing_var_arg = true, allow_hyphen_values = true)]
    pub command: Vec<String>,
}

pub fn create_cmd(client: &Client, a: &CreateArgs) -> Result<()> {
    println!("{}", create(client, &a.flags, &a.image, &a.command)?);
    Ok(())
}

/// The terminal in raw mode while a TTY session runs; restored on drop.
struct RawTerminal(Option<nix::sys::termios::Termios>);

impl RawTerminal {
    fn enter(enable: bool) -> RawTerminal {
        use nix::sys::termios::{cfmakeraw, tcgetattr, tcsetattr, SetArg};
        if !enable || !nix::unistd::isatty(std::io::stdin()).unwrap_or(false) {
            return RawTerminal(None);
        }
        let Ok(saved) = tcgetattr(std::io::stdin()) else { return RawTerminal(None) };
        let mut raw = saved.clone();
        cfmakeraw(&mut raw);
        let _ = tcsetattr(std::io::stdin(), SetArg::TCSANOW, &raw);
        RawTerminal(Some(saved))
    }
}

impl Drop for RawTerminal {
    fn drop(&mut self) {
        if let Some(t) = &self.0 {
            let _ = nix::sys::termios::tcsetattr(std::io::stdin(), nix::sys::termios::SetArg::TCSANOW, t);
        }
    }
}

fn terminal_size() -> Option<(u16, u16)> {
    use std::os::fd::AsFd;
    wharf_runtime::sys::get_winsize(std::io::stdout().as_fd()).ok().filter(|(r, c)| *r > 0 && *c > 0)
}

/// Copies our stdin into a hijacked stream (closing its write side at EOF).
fn pump_stdin(mut stream: std::os::unix::net::UnixStream) -> std::thread::JoinHandle<()> {
    std::thread::spawn(move || {
        let mut buf = [0u8; 32 << 10];
        let mut stdin = std::io::stdin();
        while let Ok(n) = stdin.read(&mut buf) {
            if n == 0 || stream.write_all(&buf[..n]).is_err() {
                break;
            }
        }
        let _ = stream.shutdown(std::net::Shutdown::Write);
    })
}

#[derive(Args)]
pub struct RunArgs {
    #[command(flatten)]
    pub flags: ContainerFlags,
    /// Run container in background and print container ID
    #[arg(short, long)]
    pub detach: bool,
    pub image: String,
    #[arg(trailing_var_arg = true, allow_hyphen_values = true)]
    pub command: Vec<String>,
}

/// `run`: create, attach, wait, start; returns the container's exit code.
pub fn run(client: &Client, a: &RunArgs) -> Result<i32> {
    let id = create(client, &a.flags, &a.image, &a.command)?;
    if a.detach {
        client.post(&format!("/containers/{id}/start"), None)?;
        println!("{id}");
        return Ok(0);
    }
    let tty = a.flags.tty;
    let stdin = a.flags.interactive;
    let attach = client
        .hijack(&format!("/containers/{id}/attach?stream=1&stdout=1&stderr=1&stdin={}", u8::from(stdin)), None)?;
    let condition = if a.flags.rm { "removed" } else { "next-exit" };
    let waiter = client.request("POST", &format!("/containers/{id}/wait?condition={condition}"), None)?;
    let _raw = RawTerminal::enter(tty && stdin);
    if let Err(e) = client.post(&format!("/containers/{id}/start"), None) {
        drop(_raw);
        // The daemon ends the wait with the failed start's code: 127 when the
        // command is not there, as Docker's.
        if let Some(code) = waiter.json().ok().and_then(|s| s["StatusCode"].as_i64()).filter(|c| *c == 127) {
            crate::report(&e);
            return Ok(code as i32);
        }
        return Err(e);
    }
    if tty {
        if let Some((h, w)) = terminal_size() {
            let _ = client.post(&format!("/containers/{id}/resize?h={h}&w={w}"), None);
        }
    }
    if stdin {
        pump_stdin(attach.try_clone()?);
    }
    let (mut out, mut err) = (std::io::stdout(), std::io::stderr());
    let _ = demux(attach, tty, &mut out, &mut err);
    let status = waiter.json()?;
    if let Some(e) = status["Error"]["Message"].as_str() {
        bail!("{e}");
    }
    Ok(status["StatusCode"].as_i64().unwrap_or(0) as i32)
}

// ---------------------------------------------------------------- simple verbs

#[derive(Args)]
pub struct StopArgs {
    /// Seconds to wait before killing the container
    #[arg(short = 't', long = "time")]
    pub time: Option<u64>,
    /// Signal to send to the container
    #[arg(short, long)]
    pub signal: Option<String>,
    #[arg(required = true)]
    pub containers: Vec<String>,
}

/// Runs `f` for every name, printing it on success and the error otherwise;
/// fails if any failed (as the docker CLI does).
fn each(names: &[String], mut f: impl FnMut(&str) -> Result<()>) -> Result<()> {
    let mut failed = false;
    for n in names {
        match f(n) {
            Ok(()) => println!("{n}"),
            Err(e) => {
                crate::report(&e);
                failed = true;
            }
        }
    }
    if failed {
        return Err(crate::Reported.into());
    }
    Ok(())
}

pub fn stop(client: &Client, a: &StopArgs, restart: bool) -> Result<()> {
    let mut q = String::new();
    if let Some(t) = a.time {
        q.push_str(&format!("t={t}&"));
    }
    if let Some(s) = &a.signal {
        q.push_str(&format!("signal={}", enc(s)));
    }
    let verb = if restart { "restart" } else { "stop" };
    each(&a.containers, |c| client.post(&format!("/containers/{}/{verb}?{q}", enc(c)), None).map(|_| ()))
}

pub fn start(client: &Client, containers: &[String], attach: bool) -> Result<i32> {
    if attach && containers.len() == 1 {
        let c = &containers[0];
        let info = client.get(&format!("/containers/{}/json", enc(c)))?;
        let tty = info["Config"]["Tty"].as_bool().unwrap_or(false);
        let s = client.hijack(&format!("/containers/{}/attach?stream=1&stdout=1&stderr=1", enc(c)), None)?;
        let waiter = client.request("POST", &format!("/containers/{}/wait?condition=next-exit", enc(c)), None)?;
        client.post(&format!("/containers/{}/start", enc(c)), None)?;
        let _ = demux(s, tty, &mut std::io::stdout(), &mut std::io::stderr());
        return Ok(waiter.json()?["StatusCode"].as_i64().unwrap_or(0) as i32);
    }
    each(containers, |c| client.post(&format!("/containers/{}/start", enc(c)), None).map(|_| ()))?;
    Ok(0)
}

pub fn kill(client: &Client, signal: Option<&str>, containers: &[String]) -> Result<()> {
    let q = signal.map(|s| format!("?signal={}", enc(s))).unwrap_or_default();
    each(containers, |c| client.post(&format!("/containers/{}/kill{q}", enc(c)), None).map(|_| ()))
}

pub fn rm(client: &Client, force: bool, volumes: bool, containers: &[String]) -> Result<()> {
    each(containers, |c| {
        client.delete(&format!("/containers/{}?force={}&v={}", enc(c), u8::from(force), u8::from(volumes))).map(|_| ())
    })
}

pub fn simple(client: &Client, verb: &str, containers: &[String]) -> Result<()> {
    each(containers, |c| client.post(&format!("/containers/{}/{verb}", enc(c)), None).map(|_| ()))
}

pub fn wait(client: &Client, containers: &[String]) -> Result<i32> {
    let mut last = 0;
    for c in containers {
        let v = client.post(&format!("/containers/{}/wait", enc(c)), None)?;
        last = v["StatusCode"].as_i64().unwrap_or(0) as i32;
        println!("{last}");
    }
    Ok(last)
}

pub fn rename(client: &Client, old: &str, new: &str) -> Result<()> {
    client.post(&format!("/containers/{}/rename?name={}", enc(old), enc(new)), None)?;
    Ok(())
}

pub fn top(client: &Client, container: &str) -> Result<()> {
    let v = client.get(&format!("/containers/{}/top", enc(container)))?;
    let mut lines = vec![v["Titles"]
        .as_array()
        .into_iter()
        .flatten()
        .map(|t| t.as_str().unwrap_or("").to_string())
        .collect::<Vec<_>>()
        .join("\t")];
    for p in v["Processes"].as_array().into_iter().flatten() {
        lines.push(
            p.as_array()
                .into_iter()
                .flatten()
                .map(|c| c.as_str().unwrap_or("").to_string())
                .collect::<Vec<_>>()
                .join("\t"),
        );
    }
    print!("{}", align(&lines));
    Ok(())
}

pub fn port(client: &Client, container: &str) -> Result<()> {
    let v = client.get(&format!("/containers/{}/json", enc(container)))?;
    for (key, bindings) in v["NetworkSettings"]["Ports"].as_object().into_iter().flatten() {
        for b in bindings.as_array().into_iter().flatten() {
            println!("{key} -> {}:{}", b["HostIp"].as_str().unwrap_or(""), b["HostPort"].as_str().unwrap_or(""));
        }
    }
    Ok(())
}

// ---------------------------------------------------------------- logs, exec

#[derive(Args)]
pub struct LogsArgs {
    /// Follow log output
    #[arg(short, long)]
    follow: bool,
    /// Show timestamps
    #[arg(short, long)]
    timestamps: bool,
    /// Number of lines to show from the end of the logs
    #[arg(short = 'n', long, default_value = "all")]
    tail: String,
    /// Show logs since timestamp (unix seconds or RFC 3339) or relative (e.g. 42m)
    #[arg(long)]
    since: Option<String>,
    container: String,
}

/// Docker's `since`/`until` arguments: unix seconds, RFC 3339, or a duration ago.
fn timestamp(s: &str) -> Result<String> {
    if s.chars().all(|c| c.is_ascii_digit() || c == '.') {
        return Ok(s.to_string());
    }
    let now = std::time::SystemTime::now();
    let t = match humantime::parse_duration(s) {
        Ok(d) => now - d,
        Err(_) => wharf_common::time::parse_rfc3339(s).with_context(|| format!("invalid time {s:?}"))?,
    };
    let d = t.duration_since(std::time::UNIX_EPOCH).unwrap_or_default();
    Ok(format!("{}.{:09}", d.as_secs(), d.subsec_nanos()))
}

pub fn logs(client: &Client, a: &LogsArgs) -> Result<()> {
    let info = client.get(&format!("/containers/{}/json", enc(&a.container)))?;
    let tty = info["Config"]["Tty"].as_bool().unwrap_or(false);
    let mut q = format!(
        "stdout=1&stderr=1&follow={}&timestamps={}&tail={}",
        u8::from(a.follow),
        u8::from(a.timestamps),
        enc(&a.tail)
    );
    if let Some(s) = &a.since {
        q.push_str(&format!("&since={}", timestamp(s)?));
    }
    let resp = client.request("GET", &format!("/containers/{}/logs?{q}", enc(&a.container)), None)?;
    demux(resp.body, tty, &mut std::io::stdout(), &mut std::io::stderr())?;
    Ok(())
}

#[derive(Args)]
pub struct ExecArgs {
    /// Detached mode: run command in the background
    #[arg(short, long)]
    detach: bool,
    /// Keep STDIN open even if not attached
    #[arg(short, long)]
    interactive: bool,
    /// Allocate a pseudo-TTY
    #[arg(short, long)]
    tty: bool,
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
    container: String,
    #[arg(required = true, trailing_var_arg = true, allow_hyphen_values = true)]
    command: Vec<String>,
}

pub fn exec(client: &Client, a: &ExecArgs) -> Result<i32> {
    let body = json!({
        "AttachStdin": a.interactive && !a.detach, "AttachStdout": !a.detach, "AttachStderr": !a.detach, "Tty": a.tty,
        "Cmd": a.command, "Env": a.env, "User": a.user.clone().unwrap_or_default(),
        "WorkingDir": a.workdir.clone().unwrap_or_default(), "Privileged": a.privileged,
    });
    let created = client.post(&format!("/containers/{}/exec", enc(&a.container)), Some(&body))?;
    let exec_id = created["Id"].as_str().unwrap_or("").to_string();
    if a.detach {
        client.post(&format!("/exec/{exec_id}/start"), Some(&json!({"Detach": true, "Tty": a.tty})))?;
        return Ok(0);
    }
    let stream = client.hijack(&format!("/exec/{exec_id}/start"), Some(&json!({"Detach": false, "Tty": a.tty})))?;
    let _raw = RawTerminal::enter(a.tty && a.interactive);
    if a.interactive {
        pump_stdin(stream.try_clone()?);
    }
    let _ = demux(stream, a.tty, &mut std::io::stdout(), &mut std::io::stderr());
    drop(_raw);
    let info = client.get(&format!("/exec/{exec_id}/json"))?;
    Ok(info["ExitCode"].as_i64().unwrap_or(0) as i32)
}

// ---------------------------------------------------------------- inspect

pub fn inspect(client: &Client, format: Option<&str>, kind: Option<&str>, names: &[String]) -> Result<()> {
    let mut items = Vec::new();
    let mut failed = false;
    for n in names {
        let paths: Vec<String> = match kind {
            Some("container") => vec![format!("/containers/{}/json", enc(n))],
            Some("image") => vec![format!("/images/{}/json", enc(n))],
            Some("volume") => vec![format!("/volumes/{}", enc(n))],
            Some("network") => vec![format!("/networks/{}", enc(n))],
            Some(other) => bail!("unknown type {other:?}"),
            None => vec![
                format!("/containers/{}/json", enc(n)),
                format!("/images/{}/json", enc(n)),
                format!("/volumes/{}", enc(n)),
                format!("/networks/{}", enc(n)),
            ],
        };
        // One type asked for: the daemon's answer is the error, as the docker CLI prints it.
        if let [path] = &paths[..] {
            match client.get(path) {
                Ok(v) => items.push(v),
                Err(e) => {
                    crate::report(&e);
                    failed = true;
                }
            }
            continue;
        }
        match paths.iter().find_map(|p| client.get(p).ok()) {
            Some(v) => items.push(v),
            None => {
                eprintln!("Error: No such object: {n}");
                failed = true;
            }
        }
    }
    match format {
        Some(f) => {
            let t = Template::new(f)?;
            for v in &items {
                println!("{}", t.render(v)?);
            }
        }
        None => println!("{}", serde_json::to_string_pretty(&items)?),
    }
    if failed {
        return Err(crate::Reported.into());
    }
    Ok(())
}

// ---------------------------------------------------------------- cp, export, commit

/// `CONTAINER:PATH` → (container, path).
fn split_container_path(s: &str) -> Option<(&str, &str)> {
    if s.starts_with('/') || s.starts_with('.') {
        return None;
    }
    s.split_once(':').filter(|(c, _)| !c.is_empty())
}

pub fn cp(client: &Client, src: &str, dst: &str) -> Result<()> {
    match (split_container_path(src), split_container_path(dst)) {
        (Some((c, path)), None) => copy_out(client, c, path, Path::new(dst)),
        (None, Some((c, path))) => copy_in(client, Path::new(src), c, path),
        _ => {
            bail!("copying between containers or between host paths is not supported: one side must be CONTAINER:PATH")
        }
    }
}

fn path_stat(client: &Client, c: &str, path: &str) -> Result<Option<Value>> {
    let resp = match client.request("HEAD", &format!("/containers/{}/archive?path={}", enc(c), enc(path)), None) {
        Ok(r) => r,
        Err(e) if status_of(&e) == Some(404) => return Ok(None),
        Err(e) => return Err(e),
    };
    let raw = resp.header("X-Docker-Container-Path-Stat").unwrap_or("").to_string();
    use base64::Engine as _;
    let data = base64::engine::general_purpose::STANDARD.decode(raw.trim()).unwrap_or_default();
    Ok(serde_json::from_slice(&data).ok())
}

fn copy_out(client: &Client, c: &str, path: &str, dst: &Path) -> Result<()> {
    let resp = client.request("GET", &format!("/containers/{}/archive?path={}", enc(c), enc(path)), None)?;
    let mut archive = tar::Archive::new(resp.body);
    archive.set_preserve_permissions(true);
    archive.set_overwrite(true);
    // Into an existing directory: keep the name; else the copy takes `dst`'s name.
    let (dir, rename) = if dst.is_dir() {
        (dst.to_path_buf(), None)
    } else {
        (
            dst.parent().filter(|p| !p.as_os_str().is_empty()).unwrap_or(Path::new(".")).to_path_buf(),
            dst.file_name().map(|n| n.to_owned()),
        )
    };
    // Entry names (and hard-link targets) are mapped the same way.
    let map = |name: &Path| -> Result<PathBuf> {
        let rel = match &rename {
            Some(new) => {
                let mut comps = name.components();
                let _first = comps.next();
                let rest = comps.as_path();
                if rest.as_os_str().is_empty() {
                    PathBuf::from(new)
                } else {
                    Path::new(new).join(rest)
                }
            }
            None => name.to_path_buf(),
        };
        if rel.components().any(|c| matches!(c, std::path::Component::ParentDir | std::path::Component::RootDir)) {
            bail!("refusing unsafe path {} in the archive", rel.display());
        }
        Ok(rel)
    };
    for entry in archive.entries()? {
        let mut entry = entry?;
        let target = dir.join(map(&entry.path()?)?);
        if entry.header().entry_type().is_hard_link() {
            let source = entry.link_name()?.ok_or_else(|| anyhow!("hard link without a target"))?;
            let source = dir.join(map(&source)?);
            let _ = std::fs::remove_file(&target);
            std::fs::hard_link(&source, &target).with_context(|| format!("link {}", target.display()))?;
            continue;
        }
        entry.unpack(&target).with_context(|| format!("write {}", target.display()))?;
    }
    Ok(())
}

fn copy_in(client: &Client, src: &Path, c: &str, path: &str) -> Result<()> {
    let meta = std::fs::symlink_metadata(src).with_context(|| format!("stat {}", src.display()))?;
    // An existing directory receives the source under its own name; otherwise
    // the source is renamed to the destination's last component.
    let stat = path_stat(client, c, path)?;
    let is_dir = stat.as_ref().and_then(|s| s["mode"].as_u64()).is_some_and(|m| m & (1 << 31) != 0);
    let (dir, name) = if is_dir {
        (path.to_string(), src.file_name().map(|n| n.to_owned()).unwrap_or_default())
    } else {
        if path.ends_with('/') {
            bail!("destination directory {path} does not exist in the container");
        }
        let p = Path::new(path);
        let parent =
            p.parent().map(|x| x.display().to_string()).filter(|s| !s.is_empty()).unwrap_or_else(|| "/".into());
        (parent, p.file_name().map(|n| n.to_owned()).unwrap_or_default())
    };
    let mut data = Vec::new();
    {
        let mut b = tar::Builder::new(&mut data);
        b.follow_symlinks(false);
        if meta.is_dir() {
            b.append_dir_all(&name, src)?;
        } else {
            b.append_path_with_name(src, &name)?;
        }
        b.finish()?;
    }
    client.request(
        "PUT",
        &format!("/containers/{}/archive?path={}", enc(c), enc(&dir)),
        Some(("application/x-tar", &data)),
    )?;
    Ok(())
}

pub fn export(client: &Client, container: &str, output: Option<&Path>) -> Result<()> {
    let mut resp = client.request("GET", &format!("/containers/{}/export", enc(container)), None)?;
    match output {
        Some(p) => {
            let mut f = std::fs::File::create(p).with_context(|| format!("create {}", p.display()))?;
            std::io::copy(&mut resp.body, &mut f)?;
        }
        None => {
            if nix::unistd::isatty(std::io::stdout()).unwrap_or(false) {
                bail!("cowardly refusing to save to a terminal. Use the -o flag or redirect");
            }
            std::io::copy(&mut resp.body, &mut std::io::stdout())?;
        }
    }
    Ok(())
}

#[derive(Args)]
pub struct CommitArgs {
    /// Author
    #[arg(short, long)]
    author: Option<String>,
    /// Apply Dockerfile instruction to the created image
    #[arg(short, long)]
    change: Vec<String>,
    /// Commit message
    #[arg(short, long)]
    message: Option<String>,
    /// Pause container during commit
    #[arg(short, long, default_value_t = true, action = clap::ArgAction::Set)]
    pause: bool,
    container: String,
    repository: Option<String>,
}

pub fn commit(client: &Client, a: &CommitArgs) -> Result<()> {
    let mut q = format!("container={}&pause={}", enc(&a.container), u8::from(a.pause));
    if let Some(r) = &a.repository {
        let (repo, tag) = split_ref(r);
        q.push_str(&format!("&repo={}&tag={}", enc(repo), enc(tag)));
    }
    for (k, v) in [("comment", &a.message), ("author", &a.author)] {
        if let Some(v) = v {
            q.push_str(&format!("&{k}={}", enc(v)));
        }
    }
    for c in &a.change {
        q.push_str(&format!("&changes={}", enc(c)));
    }
    let v = client.post(&format!("/commit?{q}"), None)?;
    println!("{}", v["Id"].as_str().unwrap_or(""));
    Ok(())
}

// ---------------------------------------------------------------- stats, events

fn cpu_percent(s: &Value) -> f64 {
    let cpu = s["cpu_stats"]["cpu_usage"]["total_usage"].as_f64().unwrap_or(0.0)
        - s["precpu_stats"]["cpu_usage"]["total_usage"].as_f64().unwrap_or(0.0);
    let sys = s["cpu_stats"]["system_cpu_usage"].as_f64().unwrap_or(0.0)
        - s["precpu_stats"]["system_cpu_usage"].as_f64().unwrap_or(0.0);
    let cpus = s["cpu_stats"]["online_cpus"].as_f64().unwrap_or(1.0);
    if sys > 0.0 && cpu > 0.0 {
        cpu / sys * cpus * 100.0
    } else {
        0.0
    }
}

fn stats_row(s: &Value) -> Value {
    let usage = s["memory_stats"]["usage"].as_u64().unwrap_or(0);
    let limit = s["memory_stats"]["limit"].as_u64().unwrap_or(0);
    let mem_pct = if limit > 0 { usage as f64 / limit as f64 * 100.0 } else { 0.0 };
    let (mut rx, mut tx) = (0, 0);
    for n in s["networks"].as_object().into_iter().flatten().map(|(_, v)| v) {
        rx += n["rx_bytes"].as_u64().unwrap_or(0);
        tx += n["tx_bytes"].as_u64().unwrap_or(0);
    }
    json!({
        "Container": short(s["id"].as_str().unwrap_or("")), "ID": short(s["id"].as_str().unwrap_or("")),
        "Name": s["name"].as_str().unwrap_or("").trim_start_matches('/'),
        "CPUPerc": format!("{:.2}%", cpu_percent(s)),
        "MemUsage": format!("{} / {}", human_size(usage), human_size(limit)), "MemPerc": format!("{mem_pct:.2}%"),
        "NetIO": format!("{} / {}", human_size(rx), human_size(tx)), "BlockIO": "0B / 0B",
        "PIDs": s["pids_stats"]["current"].as_u64().unwrap_or(0),
    })
}

pub fn stats(client: &Client, containers: &[String], no_stream: bool, format: Option<&str>) -> Result<()> {
    let names: Vec<String> = if containers.is_empty() {
        client
            .get("/containers/json")?
            .as_array()
            .into_iter()
            .flatten()
            .filter_map(|c| c["Id"].as_str().map(str::to_string))
            .collect()
    } else {
        containers.to_vec()
    };
    let t = Template::new(format.unwrap_or(
        "table {{.ID}}\\t{{.Name}}\\t{{.CPUPerc}}\\t{{.MemUsage}}\\t{{.MemPerc}}\\t{{.NetIO}}\\t{{.BlockIO}}\\t{{.PIDs}}",
    ))?;
    let headers = [
        ("ID", "CONTAINER ID"),
        ("CPUPerc", "CPU %"),
        ("MemUsage", "MEM USAGE / LIMIT"),
        ("MemPerc", "MEM %"),
        ("NetIO", "NET I/O"),
        ("BlockIO", "BLOCK I/O"),
    ];
    loop {
        let mut rows = Vec::new();
        for n in &names {
            rows.push(stats_row(&client.get(&format!("/containers/{}/stats?stream=0", enc(n)))?));
        }
        if !no_stream {
            print!("\x1b[2J\x1b[H");
        }
        print!("{}", t.print_all(&rows, &headers)?);
        std::io::stdout().flush()?;
        if no_stream {
            return Ok(());
        }
        std::thread::sleep(std::time::Duration::from_secs(1));
    }
}

#[derive(Args)]
pub struct EventsArgs {
    /// Show all events created since timestamp
    #[arg(long)]
    since: Option<String>,
    /// Stream events until this timestamp
    #[arg(long)]
    until: Option<String>,
    /// Filter output based on conditions provided
    #[arg(short, long)]
    filter: Vec<String>,
    /// Format the output using the given Go template
    #[arg(long)]
    format: Option<String>,
}

pub fn events(client: &Client, a: &EventsArgs) -> Result<()> {
    let mut q = String::from("?");
    if let Some(s) = &a.since {
        q.push_str(&format!("since={}&", timestamp(s)?));
    }
    if let Some(u) = &a.until {
        q.push_str(&format!("until={}&", timestamp(u)?));
    }
    q.push_str(filters_query(&a.filter)?.trim_start_matches('&'));
    let resp = client.request("GET", &format!("/events{q}"), None)?;
    let t = a.format.as_deref().map(Template::new).transpose()?;
    let mut out = std::io::stdout();
    for line in std::io::BufRead::lines(std::io::BufReader::new(resp.body)).map_while(|l| l.ok()) {
        let Ok(v) = serde_json::from_str::<Value>(&line) else { continue };
        let text = match &t {
            Some(t) => t.render(&v)?,
            None => {
                let nanos = v["timeNano"].as_i64().unwrap_or(0);
                let when = humantime::format_rfc3339_nanos(
                    std::time::UNIX_EPOCH + std::time::Duration::from_nanos(nanos as u64),
                );
                let attrs = v["Actor"]["Attributes"]
                    .as_object()
                    .map(|m| {
                        m.iter()
                            .map(|(k, v)| format!("{k}={}", v.as_str().unwrap_or("")))
                            .collect::<Vec<_>>()
                            .join(", ")
                    })
                    .unwrap_or_default();
                format!(
                    "{when} {} {} {} ({attrs})",
                    v["Type"].as_str().unwrap_or(""),
                    v["Action"].as_str().unwrap_or(""),
                    v["Actor"]["ID"].as_str().unwrap_or("")
                )
            }
        };
        if writeln!(out, "{text}").and_then(|_| out.flush()).is_err() {
            break;
        }
    }
    Ok(())
}

// ---------------------------------------------------------------- networks, volumes

#[derive(Subcommand)]
pub enum NetworkVerb {
    /// Create a network
    Create {
        #[arg(short, long, default_value = "bridge")]
        driver: String,
        #[arg(long)]
        subnet: Option<String>,
        #[arg(long)]
        gateway: Option<String>,
        #[arg(long)]
        internal: bool,
        #[arg(long)]
        attachable: bool,
        #[arg(long)]
        label: Vec<String>,
        name: String,
    },
    /// List networks
    #[command(alias = "list")]
    Ls {
        #[arg(short, long)]
        quiet: bool,
        #[arg(short, long)]
        filter: Vec<String>,
        #[arg(long)]
        format: Option<String>,
    },
    /// Remove one or more networks
    #[command(alias = "remove")]
    Rm {
        #[arg(required = true)]
        networks: Vec<String>,
    },
    /// Display detailed information on one or more networks
    Inspect {
        #[arg(short, long)]
        format: Option<String>,
        #[arg(required = true)]
        networks: Vec<String>,
    },
    /// Connect a container to a network
    Connect {
        #[arg(long)]
        alias: Vec<String>,
        network: String,
        container: String,
    },
    /// Disconnect a container from a network
    Disconnect {
        #[arg(short, long)]
        force: bool,
        network: String,
        container: String,
    },
    /// Remove all unused networks
    Prune {
        #[arg(short, long)]
        force: bool,
    },
}

pub fn network(client: &Client, verb: &NetworkVerb) -> Result<()> {
    match verb {
        NetworkVerb::Create { driver, subnet, gateway, internal, attachable, label, name } => {
            let labels: BTreeMap<String, String> = label
                .iter()
                .map(|l| l.split_once('=').unwrap_or((l, "")))
                .map(|(k, v)| (k.to_string(), v.to_string()))
                .collect();
            let ipam = match subnet {
                Some(s) => json!({"Config": [{"Subnet": s, "Gateway": gateway.clone().unwrap_or_default()}]}),
                None => json!({"Config": []}),
            };
            let v = client.post(
                "/networks/create",
                Some(&json!({"Name": name, "Driver": driver, "Internal": internal, "Attachable": attachable, "IPAM": ipam, "Labels": labels})),
            )?;
            println!("{}", v["Id"].as_str().unwrap_or(""));
        }
        NetworkVerb::Ls { quiet, filter, format } => {
            let list = client.get(&format!("/networks?{}", filters_query(filter)?.trim_start_matches('&')))?;
            let rows: Vec<Value> = list
                .as_array()
                .into_iter()
                .flatten()
                .map(|n| json!({"ID": short(n["Id"].as_str().unwrap_or("")), "Name": n["Name"], "Driver": n["Driver"], "Scope": n["Scope"],
                                "Internal": n["Internal"], "Labels": labels_text(&n["Labels"])}))
                .collect();
            let f = if *quiet {
                "{{.ID}}".into()
            } else {
                format.clone().unwrap_or("table {{.ID}}\\t{{.Name}}\\t{{.Driver}}\\t{{.Scope}}".into())
            };
            print!("{}", Template::new(&f)?.print_all(&rows, &[("ID", "NETWORK ID")])?);
        }
        NetworkVerb::Rm { networks } => {
            each(networks, |n| client.delete(&format!("/networks/{}", enc(n))).map(|_| ()))?;
        }
        NetworkVerb::Inspect { format, networks } => inspect(client, format.as_deref(), Some("network"), networks)?,
        NetworkVerb::Connect { alias, network, container } => {
            client.post(
                &format!("/networks/{}/connect", enc(network)),
                Some(&json!({"Container": container, "EndpointConfig": {"Aliases": alias}})),
            )?;
        }
        NetworkVerb::Disconnect { force, network, container } => {
            client.post(
                &format!("/networks/{}/disconnect", enc(network)),
                Some(&json!({"Container": container, "Force": force})),
            )?;
        }
        NetworkVerb::Prune { force } => {
            if !force {
                bail!("refusing to prune without --force (-f)");
            }
            let v = client.post("/networks/prune", None)?;
            for n in v["NetworksDeleted"].as_array().into_iter().flatten() {
                println!("Deleted Network: {}", n.as_str().unwrap_or(""));
            }
        }
    }
    Ok(())
}

#[derive(Subcommand)]
pub enum VolumeVerb {
    /// Create a volume
    Create {
        #[arg(long)]
        label: Vec<String>,
        name: Option<String>,
    },
    /// List volumes
    #[command(alias = "list")]
    Ls {
        #[arg(short, long)]
        quiet: bool,
        #[arg(long)]
        format: Option<String>,
    },
    /// Remove one or more volumes
    #[command(alias = "remove")]
    Rm {
        #[arg(short, long)]
        force: bool,
        #[arg(required = true)]
        volumes: Vec<String>,
    },
    /// Display detailed information on one or more volumes
    Inspect {
        #[arg(short, long)]
        format: Option<String>,
        #[arg(required = true)]
        volumes: Vec<String>,
    },
    /// Remove all unused local volumes
    Prune {
        #[arg(short, long)]
        force: bool,
    },
}

pub fn volume(client: &Client, verb: &VolumeVerb) -> Result<()> {
    match verb {
        VolumeVerb::Create { label, name } => {
            let labels: BTreeMap<String, String> = label
                .iter()
                .map(|l| l.split_once('=').unwrap_or((l, "")))
                .map(|(k, v)| (k.to_string(), v.to_string()))
                .collect();
            let v = client
                .post("/volumes/create", Some(&json!({"Name": name.clone().unwrap_or_default(), "Labels": labels})))?;
            println!("{}", v["Name"].as_str().unwrap_or(""));
        }
        VolumeVerb::Ls { quiet, format } => {
            let list = client.get("/volumes")?;
            let rows: Vec<Value> = list["Volumes"]
                .as_array()
                .into_iter()
                .flatten()
                .map(|v| json!({"Name": v["Name"], "Driver": v["Driver"], "Mountpoint": v["Mountpoint"], "Labels": labels_text(&v["Labels"]), "Scope": v["Scope"]}))
                .collect();
            let f = if *quiet {
                "{{.Name}}".into()
            } else {
                format.clone().unwrap_or("table {{.Driver}}\\t{{.Name}}".into())
            };
            print!("{}", Template::new(&f)?.print_all(&rows, &[("Name", "VOLUME NAME")])?);
        }
        VolumeVerb::Rm { force, volumes } => {
            each(volumes, |v| client.delete(&format!("/volumes/{}?force={}", enc(v), u8::from(*force))).map(|_| ()))?;
        }
        VolumeVerb::Inspect { format, volumes } => inspect(client, format.as_deref(), Some("volume"), volumes)?,
        VolumeVerb::Prune { force } => {
            if !force {
                bail!("refusing to prune without --force (-f)");
            }
            let v = client.post("/volumes/prune", None)?;
            for n in v["VolumesDeleted"].as_array().into_iter().flatten() {
                println!("{}", n.as_str().unwrap_or(""));
            }
        }
    }
    Ok(())
}

// ---------------------------------------------------------------- version, info, images

pub fn version(client: &Client, format: Option<&str>) -> Result<()> {
    let server = client.get("/version").ok();
    let v = json!({
        "Client": {"Version": env!("CARGO_PKG_VERSION"), "ApiVersion": wharf_api::API_VERSION, "Os": "linux", "Arch": std::env::consts::ARCH},
        "Server": server,
    });
    if let Some(f) = format {
        println!("{}", Template::new(f)?.render(&v)?);
        return Ok(());
    }
    println!("Client: Wharf\n Version:\t{}\n API version:\t{}", env!("CARGO_PKG_VERSION"), wharf_api::API_VERSION);
    match &v["Server"] {
        Value::Null => bail!(
            "Cannot connect to the Wharf daemon at unix://{}. Is 'wharf daemon' running?",
            client.socket.display()
        ),
        s => println!(
            "\nServer:\n Version:\t{}\n API version:\t{} (minimum version {})\n Kernel:\t{}",
            s["Version"].as_str().unwrap_or(""),
            s["ApiVersion"].as_str().unwrap_or(""),
            s["MinAPIVersion"].as_str().unwrap_or(""),
            s["KernelVersion"].as_str().unwrap_or("")
        ),
    }
    Ok(())
}

pub fn info(client: &Client, format: Option<&str>) -> Result<()> {
    let v = client.get("/info")?;
    if let Some(f) = format {
        println!("{}", Template::new(f)?.render(&v)?);
        return Ok(());
    }
    println!(
        "Containers: {}\n Running: {}\n Paused: {}\n Stopped: {}\nImages: {}\nServer Version: {}\nStorage Driver: {}\nCgroup Driver: {}\nCgroup Version: {}\nDefault Runtime: {}\nKernel Version: {}\nOperating System: {}\nCPUs: {}\nTotal Memory: {}\nDocker Root Dir: {}",
        v["Containers"], v["ContainersRunning"], v["ContainersPaused"], v["ContainersStopped"], v["Images"],
        v["ServerVersion"].as_str().unwrap_or(""), v["Driver"].as_str().unwrap_or(""), v["CgroupDriver"].as_str().unwrap_or(""),
        v["CgroupVersion"].as_str().unwrap_or(""), v["DefaultRuntime"].as_str().unwrap_or(""), v["KernelVersion"].as_str().unwrap_or(""),
        v["OperatingSystem"].as_str().unwrap_or(""), v["NCPU"], human_size(v["MemTotal"].as_u64().unwrap_or(0)), v["DockerRootDir"].as_str().unwrap_or("")
    );
    Ok(())
}

pub fn images(client: &Client, quiet: bool, all: bool, format: Option<&str>) -> Result<()> {
    let list = client.get(&format!("/images/json?all={}", u8::from(all)))?;
    let mut rows = Vec::new();
    for i in list.as_array().into_iter().flatten() {
        let tags: Vec<String> =
            i["RepoTags"].as_array().into_iter().flatten().filter_map(|t| t.as_str().map(str::to_string)).collect();
        let tags = if tags.is_empty() { vec!["<none>:<none>".to_string()] } else { tags };
        for t in tags {
            let (repo, tag) = t.rsplit_once(':').unwrap_or((&t, "<none>"));
            let created = i["Created"].as_i64().unwrap_or(0);
            let rfc = humantime::format_rfc3339_seconds(
                std::time::UNIX_EPOCH + std::time::Duration::from_secs(created as u64),
            )
            .to_string();
            rows.push(json!({"ID": short(i["Id"].as_str().unwrap_or("")), "Repository": repo, "Tag": tag,
                             "CreatedSince": human_ago(Some(&rfc)), "CreatedAt": rfc,
                             "Size": human_size(i["Size"].as_u64().unwrap_or(0)), "Digest": "<none>"}));
        }
    }
    let f = if quiet {
        "{{.ID}}".to_string()
    } else {
        format
            .map(str::to_string)
            .unwrap_or("table {{.Repository}}\\t{{.Tag}}\\t{{.ID}}\\t{{.CreatedSince}}\\t{{.Size}}".into())
    };
    let mut text = Template::new(&f)?.print_all(&rows, &[("ID", "IMAGE ID"), ("CreatedSince", "CREATED")])?;
    if quiet {
        let mut seen = std::collections::BTreeSet::new();
        text = text.lines().filter(|l| seen.insert(l.to_string())).map(|l| format!("{l}\n")).collect();
    }
    print!("{text}");
    Ok(())
}

pub fn rmi(client: &Client, force: bool, names: &[String]) -> Result<()> {
    let mut failed = false;
    for n in names {
        match client.delete(&format!("/images/{}?force={}", enc(n), u8::from(force))) {
            Ok(v) => {
                for item in v.as_array().into_iter().flatten() {
                    for (k, val) in item.as_object().into_iter().flatten() {
                        println!("{k}: {}", val.as_str().unwrap_or(""));
                    }
                }
            }
            Err(e) => {
                crate::report(&e);
                failed = true;
            }
        }
    }
    if failed {
        return Err(crate::Reported.into());
    }
    Ok(())
}

pub fn tag(client: &Client, source: &str, target: &str) -> Result<()> {
    let (repo, tag) = split_ref(target);
    client.post(&format!("/images/{}/tag?repo={}&tag={}", enc(source), enc(repo), enc(tag)), None)?;
    Ok(())
}

fn split_ref(r: &str) -> (&str, &str) {
    match r.rsplit_once(':') {
        Some((n, t)) if !t.contains('/') => (n, t),
        _ => (r, "latest"),
    }
}

/// A progress bar like the docker CLI's: `[=====>     ]  12.3MB/40MB`.
fn bar(current: u64, total: u64) -> String {
    const WIDTH: usize = 50;
    let done = ((current.min(total) as f64 / total.max(1) as f64) * WIDTH as f64) as usize;
    let arrow = if done < WIDTH { ">" } else { "" };
    format!(
        "[{}{arrow}{}] {:>8}/{}",
        "=".repeat(done.saturating_sub(usize::from(done < WIDTH && done > 0))),
        " ".repeat(WIDTH - done.min(WIDTH)),
        human_size(current),
        human_size(total)
    )
}

/// Renders Docker's JSON progress stream: on a terminal one live line per
/// layer with a bar; otherwise status changes only. The last `error` fails.
fn follow_progress(body: impl Read, quiet: bool) -> Result<()> {
    let tty = nix::unistd::isatty(std::io::stdout()).unwrap_or(false);
    let mut order: Vec<String> = Vec::new();
    let mut lines: BTreeMap<String, String> = BTreeMap::new();
    let mut last_status: BTreeMap<String, String> = BTreeMap::new();
    let mut drawn = 0usize;
    let mut out = std::io::stdout();
    let mut last_error = None;
    for line in std::io::BufRead::lines(std::io::BufReader::new(body)).map_while(|l| l.ok()) {
        let Ok(v) = serde_json::from_str::<Value>(&line) else { continue };
        if let Some(e) = v["error"].as_str() {
            last_error = Some(e.to_string());
            continue;
        }
        if let Some(s) = v["stream"].as_str() {
            print!("{s}");
            continue;
        }
        if quiet {
            continue;
        }
        let Some(status) = v["status"].as_str() else { continue };
        let id = v["id"].as_str().unwrap_or("").to_string();
        let detail = &v["progressDetail"];
        let text = match (detail["current"].as_u64(), detail["total"].as_u64()) {
            (Some(c), Some(t)) if t > 0 && tty => format!("{id}: {status} {}", bar(c, t)),
            _ if id.is_empty() => status.to_string(),
            _ => format!("{id}: {status}"),
        };
        if !tty {
            // Plain output: one line per change of status.
            if last_status.get(&id).map(String::as_str) != Some(status) || id.is_empty() {
                last_status.insert(id.clone(), status.to_string());
                let _ = writeln!(out, "{text}");
            }
            continue;
        }
        if id.is_empty() {
            let _ = writeln!(out, "{text}");
            drawn = 0;
            order.clear();
            lines.clear();
            continue;
        }
        if !lines.contains_key(&id) {
            order.push(id.clone());
        }
        lines.insert(id, text);
        // Redraw the live block in place.
        if drawn > 0 {
            let _ = write!(out, "\x1b[{drawn}A");
        }
        for i in &order {
            let _ = writeln!(out, "\x1b[2K{}", lines[i]);
        }
        drawn = order.len();
        let _ = out.flush();
    }
    match last_error {
        Some(e) => bail!("{e}"),
        None => Ok(()),
    }
}

pub fn push(client: &Client, name: &str, quiet: bool) -> Result<()> {
    let (repo, tag) = split_ref(name);
    let resp = client.request("POST", &format!("/images/{}/push?tag={}", enc(repo), enc(tag)), None)?;
    follow_progress(resp.body, quiet)
}

pub fn save(client: &Client, a: &super::images::SaveArgs) -> Result<()> {
    if a.format != "docker" {
        bail!("--format {} needs local mode (--data-root)", a.format);
    }
    let q: Vec<String> = a.images.iter().map(|i| format!("names={}", enc(i))).collect();
    let mut resp = client.request("GET", &format!("/images/get?{}", q.join("&")), None)?;
    match &a.output {
        Some(p) => {
            let tmp = p.with_extension("tmp-wharf");
            let mut f = std::fs::File::create(&tmp).with_context(|| format!("create {}", tmp.display()))?;
            std::io::copy(&mut resp.body, &mut f)?;
            std::fs::rename(&tmp, p)?;
        }
        None => {
            std::io::copy(&mut resp.body, &mut std::io::stdout())?;
        }
    }
    Ok(())
}

pub fn load(client: &Client, a: &super::images::LoadArgs) -> Result<()> {
    let data = match &a.input {
        Some(p) => std::fs::read(p).with_context(|| format!("read {}", p.display()))?,
        None => {
            let mut d = Vec::new();
            std::io::stdin().read_to_end(&mut d)?;
            d
        }
    };
    let resp = client.request(
        "POST",
        &format!("/images/load?quiet={}", u8::from(a.quiet)),
        Some(("application/x-tar", &data)),
    )?;
    follow_progress(resp.body, a.quiet)
}

pub fn import(client: &Client, a: &super::images::ImportArgs) -> Result<()> {
    let data = if a.file == "-" {
        let mut d = Vec::new();
        std::io::stdin().read_to_end(&mut d)?;
        d
    } else {
        std::fs::read(&a.file).with_context(|| format!("read {}", a.file))?
    };
    let mut q = String::from("fromSrc=-");
    if let Some(r) = &a.reference {
        let (repo, tag) = split_ref(r);
        q.push_str(&format!("&repo={}&tag={}", enc(repo), enc(tag)));
    }
    if let Some(m) = &a.message {
        q.push_str(&format!("&message={}", enc(m)));
    }
    for c in &a.change {
        q.push_str(&format!("&changes={}", enc(c)));
    }
    let v = client.request("POST", &format!("/images/create?{q}"), Some(("application/x-tar", &data)))?.json()?;
    println!("{}", v["status"].as_str().unwrap_or(""));
    Ok(())
}

/// `system df` through the daemon.
pub fn system_df(client: &Client) -> Result<()> {
    let v = client.get("/system/df")?;
    let images = v["Images"].as_array().cloned().unwrap_or_default();
    let active_images = images.iter().filter(|i| i["Containers"].as_u64().unwrap_or(0) > 0).count();
    let unused: u64 = images
        .iter()
        .filter(|i| i["Containers"].as_u64().unwrap_or(0) == 0)
        .map(|i| i["Size"].as_u64().unwrap_or(0))
        .sum();
    let containers = v["Containers"].as_array().cloned().unwrap_or_default();
    let running = containers.iter().filter(|c| c["State"] == "running").count();
    let volumes = v["Volumes"].as_array().cloned().unwrap_or_default();
    let vol_size: u64 = volumes.iter().map(|x| x["UsageData"]["Size"].as_u64().unwrap_or(0)).sum();
    let vol_active = volumes.iter().filter(|x| x["UsageData"]["RefCount"].as_u64().unwrap_or(0) > 0).count();
    let vol_free: u64 = volumes
        .iter()
        .filter(|x| x["UsageData"]["RefCount"].as_u64().unwrap_or(0) == 0)
        .map(|x| x["UsageData"]["Size"].as_u64().unwrap_or(0))
        .sum();
    let lines = vec![
        "TYPE\tTOTAL\tACTIVE\tSIZE\tRECLAIMABLE".to_string(),
        format!(
            "Images\t{}\t{active_images}\t{}\t{}",
            images.len(),
            human_size(v["LayersSize"].as_u64().unwrap_or(0)),
            human_size(unused)
        ),
        format!("Containers\t{}\t{running}\t0B\t0B", containers.len()),
        format!("Local Volumes\t{}\t{vol_active}\t{}\t{}", volumes.len(), human_size(vol_size), human_size(vol_free)),
        "Build Cache\t0\t0\t0B\t0B".to_string(),
    ];
    print!("{}", align(&lines));
    Ok(())
}

pub fn system_prune(client: &Client, all: bool, volumes: bool, force: bool) -> Result<()> {
    if !force {
        bail!("refusing to prune without --force (-f)");
    }
    let c = client.post("/containers/prune", None)?;
    let n = client.post("/networks/prune", None)?;
    let i = client.post(
        &format!("/images/prune?filters={}", enc(&json!({"dangling": [(!all).to_string()]}).to_string())),
        None,
    )?;
    let mut reclaimed = c["SpaceReclaimed"].as_u64().unwrap_or(0) + i["SpaceReclaimed"].as_u64().unwrap_or(0);
    for id in c["ContainersDeleted"].as_array().into_iter().flatten() {
        println!("Deleted Container: {}", id.as_str().unwrap_or(""));
    }
    for id in n["NetworksDeleted"].as_array().into_iter().flatten() {
        println!("Deleted Network: {}", id.as_str().unwrap_or(""));
    }
    if volumes {
        let v = client.post("/volumes/prune", None)?;
        reclaimed += v["SpaceReclaimed"].as_u64().unwrap_or(0);
        for id in v["VolumesDeleted"].as_array().into_iter().flatten() {
            println!("Deleted Volume: {}", id.as_str().unwrap_or(""));
        }
    }
    for d in i["ImagesDeleted"].as_array().into_iter().flatten() {
        for (k, v) in d.as_object().into_iter().flatten() {
            println!("{k}: {}", v.as_str().unwrap_or(""));
        }
    }
    println!("Total reclaimed space: {}", human_size(reclaimed));
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn create_bodies_follow_the_flags() {
        let f = ContainerFlags {
            name: Some("web".into()),
            env: vec!["A=1".into()],
            publish: vec!["127.0.0.1:8080:80".into()],
            restart: Some("on-failure:3".into()),
            memory: Some("64m".into()),
            health_cmd: Some("true".into()),
            health_interval: Some("2s".into()),
            ..Default::default()
        };
        let b = create_body(&f, "busybox", &["sh".into()]).unwrap();
        assert_eq!(b["Cmd"], json!(["sh"]));
        assert_eq!(b["HostConfig"]["PortBindings"]["80/tcp"][0]["HostPort"], "8080");
        assert_eq!(b["HostConfig"]["RestartPolicy"], json!({"Name": "on-failure", "MaximumRetryCount": 3}));
        assert_eq!(b["HostConfig"]["Memory"], 64 << 20);
        assert_eq!(b["Healthcheck"]["Interval"], 2_000_000_000i64);
        assert!(b.get("Entrypoint").is_none());
        let bad = ContainerFlags { rm: true, restart: Some("always".into()), ..Default::default() };
        assert!(create_body(&bad, "busybox", &[]).is_err());
        assert!(create_body(&ContainerFlags { publish: vec!["x".into()], ..Default::default() }, "b", &[]).is_err());
    }

    #[test]
    fn progress_bars() {
        let b = bar(5 << 20, 10 << 20);
        assert!(b.starts_with("[========================>"), "{b}");
        assert!(b.ends_with("5.24MB/10.5MB") || b.contains("/"), "{b}");
        assert!(bar(10, 10).starts_with(&format!("[{}]", "=".repeat(50))));
        follow_progress(
            &br#"{"status":"Pulling"}
{"error":"boom"}
"#[..],
            true,
        )
        .unwrap_err();
    }

    #[test]
    fn filters_and_paths() {
        assert_eq!(filters_query(&[]).unwrap(), "");
        assert!(filters_query(&["label=a=b".into(), "status=running".into()]).unwrap().contains("%22label%22"));
        assert!(filters_query(&["bogus".into()]).is_err());
        assert_eq!(split_container_path("web:/etc/x"), Some(("web", "/etc/x")));
        assert_eq!(split_container_path("/host/path"), None);
        assert_eq!(split_container_path("./rel:x"), None);
    }
}

// ---------------------------------------------------------------- build

#[derive(Args)]
pub struct BuildArgs {
    /// Name and optionally a tag (name:tag)
    #[arg(short, long = "tag")]
    pub tag: Vec<String>,
    /// Name of the Dockerfile (default: PATH/Dockerfile)
    #[arg(short, long)]
    pub file: Option<String>,
    /// Set build-time variables
    #[arg(long = "build-arg")]
    pub build_arg: Vec<String>,
    /// Set metadata for an image
    #[arg(long)]
    pub label: Vec<String>,
    /// Set the target build stage to build
    #[arg(long)]
    pub target: Option<String>,
    /// Suppress the build output and print the image ID on success
    #[arg(short, long)]
    pub quiet: bool,
    /// Do not use the build cache
    #[arg(long = "no-cache")]
    pub no_cache: bool,
    /// Build context directory
    pub path: PathBuf,
}

fn kv_map(items: &[String]) -> BTreeMap<String, String> {
    items
        .iter()
        .map(|i| match i.split_once('=') {
            Some((k, v)) => (k.to_string(), v.to_string()),
            // `--build-arg NAME` takes the value from our environment.
            None => (i.clone(), std::env::var(i).unwrap_or_default()),
        })
        .collect()
}

/// `.dockerignore` patterns (glob per path component, `!` exceptions, `**`).
fn ignored(patterns: &[(bool, String)], rel: &str) -> bool {
    fn matches(p: &[&str], n: &[&str]) -> bool {
        match (p.first(), n.first()) {
            (None, None) => true,
            (Some(&"**"), _) => matches(&p[1..], n) || (!n.is_empty() && matches(p, &n[1..])),
            (Some(pc), Some(nc)) => wharf_build::glob_match(pc, nc) && matches(&p[1..], &n[1..]),
            // A pattern matching a directory excludes what is inside it.
            (None, Some(_)) => true,
            _ => false,
        }
    }
    let parts: Vec<&str> = rel.split('/').filter(|s| !s.is_empty()).collect();
    let mut out = false;
    for (negated, p) in patterns {
        let pp: Vec<&str> = p.trim_matches('/').split('/').filter(|s| !s.is_empty() && *s != ".").collect();
        if !pp.is_empty() && matches(&pp, &parts) {
            out = !negated;
        }
    }
    out
}

/// The build context as a tar, `.dockerignore` applied (the Dockerfile is always sent).
fn context_tar(dir: &Path, dockerfile: &str) -> Result<Vec<u8>> {
    let patterns: Vec<(bool, String)> = std::fs::read_to_string(dir.join(".dockerignore"))
        .unwrap_or_default()
        .lines()
        .map(str::trim)
        .filter(|l| !l.is_empty() && !l.starts_with('#'))
        .map(|l| match l.strip_prefix('!') {
            Some(p) => (true, p.to_string()),
            None => (false, l.to_string()),
        })
        .collect();
    let mut data = Vec::new();
    let mut b = tar::Builder::new(&mut data);
    b.follow_symlinks(false);
    let mut stack = vec![PathBuf::new()];
    while let Some(rel) = stack.pop() {
        let full = dir.join(&rel);
        let mut names: Vec<_> = std::fs::read_dir(&full)
            .with_context(|| format!("read {}", full.display()))?
            .flatten()
            .map(|e| e.file_name())
            .collect();
        names.sort();
        for n in names {
            let r = rel.join(&n);
            let rs = r.to_string_lossy().to_string();
            if rs != dockerfile && rs != ".dockerignore" && ignored(&patterns, &rs) {
                continue;
            }
            let p = dir.join(&r);
            let md = std::fs::symlink_metadata(&p)?;
            if md.is_dir() {
                b.append_dir(&r, &p)?;
                stack.push(r);
            } else {
                b.append_path_with_name(&p, &r)?;
            }
        }
    }
    b.finish()?;
    drop(b);
    Ok(data)
}

pub fn build(client: &Client, a: &BuildArgs) -> Result<()> {
    let dockerfile = a.file.clone().unwrap_or_else(|| "Dockerfile".into());
    let data = context_tar(&a.path, &dockerfile)?;
    let mut q = format!("dockerfile={}&q={}&nocache={}", enc(&dockerfile), u8::from(a.quiet), u8::from(a.no_cache));
    for t in &a.tag {
        q.push_str(&format!("&t={}", enc(t)));
    }
    q.push_str(&format!("&buildargs={}", enc(&serde_json::to_string(&kv_map(&a.build_arg))?)));
    q.push_str(&format!("&labels={}", enc(&serde_json::to_string(&kv_map(&a.label))?)));
    if let Some(t) = &a.target {
        q.push_str(&format!("&target={}", enc(t)));
    }
    let resp = client.request("POST", &format!("/build?{q}"), Some(("application/x-tar", &data)))?;
    let mut id = None;
    let mut out = std::io::stdout();
    for line in std::io::BufRead::lines(std::io::BufReader::new(resp.body)).map_while(|l| l.ok()) {
        let Ok(v) = serde_json::from_str::<Value>(&line) else { continue };
        if let Some(e) = v["error"].as_str() {
            bail!("{e}");
        }
        if let Some(i) = v["aux"]["ID"].as_str() {
            id = Some(i.to_string());
        }
        if let Some(s) = v["stream"].as_str() {
            if !a.quiet {
                let _ = out.write_all(s.as_bytes());
                let _ = out.flush();
            }
        }
    }
    match (id, a.quiet) {
        (Some(i), true) => println!("{i}"),
        (None, _) => bail!("the build ended without an image"),
        _ => {}
    }
    Ok(())
}

/// `wharf build` without a daemon: the builder runs in this process.
pub fn build_local(engine: &wharf_engine::Engine, a: &BuildArgs) -> Result<()> {
    let req = wharf_build::BuildRequest {
        context: a.path.clone(),
        dockerfile: a.file.clone().unwrap_or_else(|| "Dockerfile".into()),
        tags: a.tag.clone(),
        build_args: kv_map(&a.build_arg),
        labels: kv_map(&a.label),
        target: a.target.clone(),
        monitor_exe: PathBuf::from("/proc/self/exe"),
        no_cache: a.no_cache,
    };
    let quiet = a.quiet;
    let img = wharf_build::build(engine, &req, &mut |s| {
        if !quiet {
            print!("{s}");
            let _ = std::io::stdout().flush();
        }
    })?;
    if quiet {
        println!("{}", img.id());
    }
    Ok(())
}

#[cfg(test)]
mod build_tests {
    use super::*;

    #[test]
    fn dockerignore_patterns() {
        let p = |v: &[&str]| -> Vec<(bool, String)> {
            v.iter()
                .map(|s| match s.strip_prefix('!') {
                    Some(x) => (true, x.to_string()),
                    None => (false, s.to_string()),
                })
                .collect()
        };
        let pats = p(&["*.log", "tmp", "**/*.bak", "!keep.log"]);
        assert!(ignored(&pats, "a.log") && !ignored(&pats, "keep.log"));
        assert!(ignored(&pats, "tmp/x/y") && ignored(&pats, "deep/dir/f.bak"));
        assert!(!ignored(&pats, "src/main.rs"));
    }
}

/// `--security-opt` (a `seccomp=<file>` is read here and sent as the profile's
/// content, as the docker CLI does) and `--sysctl key=value`.
pub fn security_flags(f: &ContainerFlags) -> Result<(Vec<String>, BTreeMap<String, String>)> {
    let mut opts = Vec::new();
    for o in &f.security_opt {
        match o.split_once('=').or_else(|| o.split_once(':')) {
            Some(("seccomp", file)) if file != "unconfined" && file != "builtin" => {
                let text =
                    std::fs::read_to_string(file).with_context(|| format!("opening seccomp profile ({file})"))?;
                opts.push(format!("seccomp={text}"));
            }
            _ => opts.push(o.clone()),
        }
    }
    let mut sysctls = BTreeMap::new();
    for kv in &f.sysctl {
        let (k, v) =
            kv.split_once('=').ok_or_else(|| anyhow!("invalid argument {kv:?} for \"--sysctl\": use key=value"))?;
        sysctls.insert(k.to_string(), v.to_string());
    }
    Ok((opts, sysctls))
}
