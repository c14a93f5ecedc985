//! `create` and `run`: Docker's flags → the create body; attach, start, wait.

use super::common::*;

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
    /// PID namespace: host (default: the container's own)
    #[arg(long)]
    pub pid: Option<String>,
    /// IPC namespace: private, shareable, none or host
    #[arg(long)]
    pub ipc: Option<String>,
    /// UTS namespace: host
    #[arg(long)]
    pub uts: Option<String>,
    /// Cgroup namespace: private or host
    #[arg(long)]
    pub cgroupns: Option<String>,
    /// Additional groups to join (names from the image's /etc/group, or ids)
    #[arg(long = "group-add")]
    pub group_add: Vec<String>,
    /// IPv4 address on the container's network (a user-defined one)
    #[arg(long)]
    pub ip: Option<String>,
    /// IPv6 address on the container's network (a user-defined one with IPv6)
    #[arg(long)]
    pub ip6: Option<String>,
    /// Container MAC address (e.g. 92:d0:c6:0a:29:33)
    #[arg(long = "mac-address")]
    pub mac_address: Option<String>,
    /// Add a host device to the container (host[:container][:rwm])
    #[arg(long)]
    pub device: Vec<String>,
    /// Add a rule to the device cgroup allowlist ('c 1:3 rwm')
    #[arg(long = "device-cgroup-rule")]
    pub device_cgroup_rule: Vec<String>,
    /// Memory plus swap limit (-1: unlimited swap)
    #[arg(long = "memory-swap", allow_hyphen_values = true)]
    pub memory_swap: Option<String>,
    /// Memory soft limit
    #[arg(long = "memory-reservation")]
    pub memory_reservation: Option<String>,
    /// Memory swappiness (0 to 100)
    #[arg(long = "memory-swappiness", allow_hyphen_values = true)]
    pub memory_swappiness: Option<i64>,
    /// Disable the OOM killer
    #[arg(long = "oom-kill-disable")]
    pub oom_kill_disable: bool,
    /// The OOM score adjustment (-1000 to 1000)
    #[arg(long = "oom-score-adj", allow_hyphen_values = true)]
    pub oom_score_adj: Option<i32>,
    /// CPU CFS period (microseconds)
    #[arg(long = "cpu-period")]
    pub cpu_period: Option<i64>,
    /// CPU CFS quota (microseconds)
    #[arg(long = "cpu-quota", allow_hyphen_values = true)]
    pub cpu_quota: Option<i64>,
    /// Block IO weight (10 to 1000)
    #[arg(long = "blkio-weight")]
    pub blkio_weight: Option<u16>,
    /// DNS search domains
    #[arg(long = "dns-search")]
    pub dns_search: Vec<String>,
    /// DNS options
    #[arg(long = "dns-option")]
    pub dns_option: Vec<String>,
    /// The container's NIS domain name
    #[arg(long)]
    pub domainname: Option<String>,
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

/// `--memory-swap`: bytes, or -1 for unlimited swap.
pub fn memory_swap(f: &ContainerFlags) -> Result<Option<i64>> {
    match f.memory_swap.as_deref() {
        None => Ok(None),
        Some("-1") => Ok(Some(-1)),
        Some(v) => Ok(Some(crate::commands::run::parse_bytes(v)?)),
    }
}

pub fn nanos(s: &str) -> Result<i64> {
    let d = humantime::parse_duration(s).with_context(|| format!("invalid duration {s:?}"))?;
    Ok(d.as_nanos() as i64)
}

/// The `POST /containers/create` body for flags, image and command.
/// `--device` values, checked.
pub fn devices(f: &ContainerFlags) -> Result<Vec<wharf_engine::devices::DeviceMapping>> {
    f.device.iter().map(|d| Ok(wharf_engine::devices::DeviceMapping::parse(d)?)).collect()
}

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
    // `--tmpfs /path[:options]`, as Docker's CLI sends it.
    let tmpfs: BTreeMap<&str, &str> = f.tmpfs.iter().map(|t| t.split_once(':').unwrap_or((t, ""))).collect();
    let network = f.network.clone().unwrap_or_else(|| "default".into());
    let mut endpoints = serde_json::Map::new();
    if !f.network_alias.is_empty() || f.ip.is_some() || f.ip6.is_some() {
        let mut ep = json!({"Aliases": f.network_alias});
        if f.ip.is_some() || f.ip6.is_some() {
            ep["IPAMConfig"] = json!({"IPv4Address": f.ip.clone().unwrap_or_default(), "IPv6Address": f.ip6.clone().unwrap_or_default()});
        }
        endpoints.insert(network.clone(), ep);
    }
    let memory = f.memory.as_deref().map(crate::commands::run::parse_bytes).transpose()?.unwrap_or(0);
    let mut log_opts = BTreeMap::new();
    for o in &f.log_opt {
        let (k, v) = o.split_once('=').ok_or_else(|| anyhow!("invalid log opt {o:?}: use key=value"))?;
        log_opts.insert(k.to_string(), v.to_string());
    }
    let (security_opt, sysctls) = security_flags(f)?;
    let shm_size = f.shm_size.as_deref().map(crate::commands::run::parse_bytes).transpose()?.unwrap_or(0);
    let mut body = json!({
        "Image": image, "Env": env, "Labels": labels, "Tty": f.tty, "OpenStdin": f.interactive, "StdinOnce": false,
        "AttachStdin": f.interactive, "AttachStdout": true, "AttachStderr": true,
        "ExposedPorts": exposed, "User": f.user.clone().unwrap_or_default(), "WorkingDir": f.workdir.clone().unwrap_or_default(),
        "Hostname": f.hostname.clone().unwrap_or_default(), "MacAddress": f.mac_address.clone().unwrap_or_default(),
        "HostConfig": {
            "Binds": f.volume, "Tmpfs": tmpfs, "PortBindings": port_bindings, "PublishAllPorts": f.publish_all,
            "NetworkMode": network, "ExtraHosts": f.add_host, "Dns": f.dns, "RestartPolicy": restart, "AutoRemove": f.rm,
            "Memory": memory, "NanoCpus": f.cpus.map(|c| (c * 1e9) as i64).unwrap_or(0), "CpusetCpus": f.cpuset_cpus.clone().unwrap_or_default(),
            "PidsLimit": f.pids_limit, "ReadonlyRootfs": f.read_only, "Privileged": f.privileged,
            "CapAdd": f.cap_add, "CapDrop": f.cap_drop, "Ulimits": ulimits, "Init": f.init,
            "CpuShares": f.cpu_shares.unwrap_or(0), "ShmSize": shm_size, "SecurityOpt": security_opt, "Sysctls": sysctls,
            "LogConfig": {"Type": f.log_driver.clone().unwrap_or_default(), "Config": log_opts},
            "Runtime": f.runtime.clone().unwrap_or_default(),
        },
        "Domainname": f.domainname.clone().unwrap_or_default(),
        "NetworkingConfig": {"EndpointsConfig": endpoints},
    });
    let reservation = f.memory_reservation.as_deref().map(crate::commands::run::parse_bytes).transpose()?;
    let more = json!({
        "PidMode": f.pid.clone().unwrap_or_default(), "IpcMode": f.ipc.clone().unwrap_or_default(),
        "UTSMode": f.uts.clone().unwrap_or_default(), "CgroupnsMode": f.cgroupns.clone().unwrap_or_default(),
        "GroupAdd": f.group_add, "MemorySwap": memory_swap(f)?.unwrap_or(0), "MemoryReservation": reservation.unwrap_or(0),
        "MemorySwappiness": f.memory_swappiness.unwrap_or(-1), "OomKillDisable": f.oom_kill_disable,
        "OomScoreAdj": f.oom_score_adj.unwrap_or(0), "CpuPeriod": f.cpu_period.unwrap_or(0),
        "CpuQuota": f.cpu_quota.unwrap_or(0), "BlkioWeight": f.blkio_weight.unwrap_or(0),
        "DnsSearch": f.dns_search, "DnsOptions": f.dns_option,
        "ConsoleSize": if f.tty { terminal_size().map_or([0, 0], |(h, w)| [h, w]) } else { [0, 0] },
        "Devices": devices(f)?.iter().map(|d| json!({"PathOnHost": d.path_on_host,
            "PathInContainer": if d.path_in_container.is_empty() { &d.path_on_host } else { &d.path_in_container },
            "CgroupPermissions": if d.permissions.is_empty() { "rwm" } else { d.permissions.as_str() }})).collect::<Vec<_>>(),
        "DeviceCgroupRules": f.device_cgroup_rule,
    });
    for (k, v) in more.as_object().into_iter().flatten() {
        body["HostConfig"][k] = v.clone();
    }
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

/// `POST /containers/create`, pulling the image first if the daemon lacks
/// it. `attached`: for a `run` that stays attached (Docker's StdinOnce then).
pub fn create(client: &Client, f: &ContainerFlags, image: &str, command: &[String], attached: bool) -> Result<String> {
    let mut body = create_body(f, image, command)?;
    body["StdinOnce"] = json!(attached && f.interactive);
    let path = match &f.name {
        Some(n) => format!("/containers/create?name={}", enc(n)),
        None => "/containers/create".to_string(),
    };
    let created = match client.post(&path, Some(&body)) {
        Err(e) if status_of(&e) == Some(404) && e.to_string().contains("No such image") => {
            eprintln!("Unable to find image '{image}' locally");
            // Progress would mix with the container's output: pull quietly.
            use crate::commands::images::{remote::Remote, ImageEngine, Renderer};
            Remote(client).pull(image, None, &Renderer::new(true))?;
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

#[derive(Args)]
pub struct CreateArgs {
    #[command(flatten)]
    pub flags: ContainerFlags,
    pub image: String,
    #[arg(trailing_var_arg = true, allow_hyphen_values = true)]
    pub command: Vec<String>,
}

pub fn create_cmd(client: &Client, a: &CreateArgs) -> Result<()> {
    println!("{}", create(client, &a.flags, &a.image, &a.command, false)?);
    Ok(())
}

/// The terminal in raw mode while a TTY session runs; restored on drop.
pub struct RawTerminal(Option<nix::sys::termios::Termios>);

impl RawTerminal {
    pub fn enter(enable: bool) -> RawTerminal {
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

pub fn terminal_size() -> Option<(u16, u16)> {
    use std::os::fd::AsFd;
    wharf_runtime::sys::get_winsize(std::io::stdout().as_fd()).ok().filter(|(r, c)| *r > 0 && *c > 0)
}

/// Copies stdin to the session. The daemon ends the session when the input
/// holds the detach keys; watching for them here too tells the caller the
/// session ended by a detach (true in the flag), not by the process's end.
pub fn pump_stdin(
    mut stream: std::os::unix::net::UnixStream,
    keys: Vec<u8>,
) -> std::sync::Arc<std::sync::atomic::AtomicBool> {
    let detached = std::sync::Arc::new(std::sync::atomic::AtomicBool::new(false));
    let flag = detached.clone();
    std::thread::spawn(move || {
        let mut scanner = wharf_api::detach::Scanner::new(keys);
        let mut buf = [0u8; 32 << 10];
        let mut stdin = std::io::stdin();
        while let Ok(n) = stdin.read(&mut buf) {
            if n == 0 {
                break;
            }
            // The flag is set before the keys go out: the daemon ends the
            // session on them, and the caller reads the flag once it has.
            let detached = scanner.feed(&buf[..n]).1;
            if detached {
                flag.store(true, std::sync::atomic::Ordering::SeqCst);
            }
            if stream.write_all(&buf[..n]).is_err() {
                break;
            }
            if detached {
                // Left open: a detach is not the end of the container's input.
                return;
            }
        }
        let _ = stream.shutdown(std::net::Shutdown::Write);
    });
    detached
}

/// The detach key bytes of a session (checked, as the daemon will check them).
pub fn detach_key_bytes(keys: Option<&str>) -> Result<Vec<u8>> {
    wharf_api::detach::parse(keys.unwrap_or(""))
        .map_err(|e| anyhow!("Invalid detach keys ({}): {e}", keys.unwrap_or("")))
}

#[derive(Args)]
pub struct RunArgs {
    #[command(flatten)]
    pub flags: ContainerFlags,
    /// Run container in background and print container ID
    #[arg(short, long)]
    pub detach: bool,
    /// Override the key sequence for detaching a container (default ctrl-p,ctrl-q)
    #[arg(long = "detach-keys")]
    pub detach_keys: Option<String>,
    pub image: String,
    #[arg(trailing_var_arg = true, allow_hyphen_values = true)]
    pub command: Vec<String>,
}

/// The detach keys a session uses: the flag's, else the client config
/// file's `detachKeys` (Docker's `config.json`), else the daemon's default.
pub fn detach_keys(flag: Option<&str>) -> Option<String> {
    flag.map(str::to_string).or_else(|| {
        let store = wharf_image::registry::auth::CredentialStore::default_location();
        store.setting("detachKeys").and_then(|v| v.as_str().map(str::to_string))
    })
}

/// `run`: create, attach, wait, start; returns the container's exit code.
pub fn run(client: &Client, a: &RunArgs) -> Result<i32> {
    let keys = detach_keys(a.detach_keys.as_deref());
    let key_bytes = detach_key_bytes(keys.as_deref())?;
    let id = create(client, &a.flags, &a.image, &a.command, !a.detach)?;
    if a.detach {
        client.post(&format!("/containers/{id}/start"), None)?;
        println!("{id}");
        return Ok(0);
    }
    let tty = a.flags.tty;
    let stdin = a.flags.interactive;
    let keys = keys.map(|k| format!("&detachKeys={}", enc(&k))).unwrap_or_default();
    let attach = client
        .hijack(&format!("/containers/{id}/attach?stream=1&stdout=1&stderr=1&stdin={}{keys}", u8::from(stdin)), None)?;
    let condition = if a.flags.rm { "removed" } else { "next-exit" };
    let waiter = client.request("POST", &format!("/containers/{id}/wait?condition={condition}"), None)?;
    let _raw = RawTerminal::enter(tty && stdin);
    if let Err(e) = client.post(&format!("/containers/{id}/start"), None) {
        drop(_raw);
        // The daemon ends the wait with the failed start's code: 127 when the
        // command is not there, 126 when it cannot be run, as Docker's.
        let code = waiter.json().ok().and_then(|s| s["StatusCode"].as_i64());
        if let Some(code) = code.filter(|c| matches!(c, 126 | 127)) {
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
    let detached = match stdin {
        true => Some(pump_stdin(attach.try_clone()?, key_bytes)),
        false => None,
    };
    let (mut out, mut err) = (std::io::stdout(), std::io::stderr());
    let _ = demux(attach, tty, &mut out, &mut err);
    if detached.is_some_and(|d| d.load(std::sync::atomic::Ordering::SeqCst)) {
        // Detached: the container runs on.
        return Ok(0);
    }
    let status = waiter.json()?;
    if let Some(e) = status["Error"]["Message"].as_str() {
        bail!("{e}");
    }
    Ok(status["StatusCode"].as_i64().unwrap_or(0) as i32)
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
