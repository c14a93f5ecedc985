//! `wharf runtime`: the OCI runtime command line, compatible with runc's.

use std::io::Read;
use std::path::{Path, PathBuf};
use std::process::ExitCode;

use anyhow::{bail, Context, Result};
use clap::{Args, Subcommand};
use oci_spec::runtime::Process;
use wharf_runtime::{CreateOptions, ExecOptions, Native};

#[derive(Args)]
pub struct RuntimeArgs {
    /// Directory holding container state
    #[arg(long, global = true, default_value = "/run/wharf/runtime")]
    root: PathBuf,
    /// Log file (errors are also printed to stderr)
    #[arg(long, global = true)]
    log: Option<PathBuf>,
    /// Log format: text or json
    #[arg(long = "log-format", global = true, default_value = "text")]
    log_format: String,
    /// Use the systemd cgroup driver (refused: Wharf's runtime drives cgroupfs)
    #[arg(long = "systemd-cgroup", global = true)]
    systemd_cgroup: bool,
    /// Debug logging
    #[arg(long, global = true)]
    debug: bool,
    /// Accepted for runc compatibility
    #[arg(long, global = true, num_args = 0..=1, default_missing_value = "true")]
    rootless: Option<String>,
    #[command(subcommand)]
    command: Verb,
}

#[derive(Args)]
struct CreateArgs {
    /// Bundle directory (holding config.json)
    #[arg(short, long, default_value = ".")]
    bundle: PathBuf,
    /// File to write the container process's pid to
    #[arg(long = "pid-file")]
    pid_file: Option<PathBuf>,
    /// Unix socket that receives the pty master when process.terminal is set
    #[arg(long = "console-socket")]
    console_socket: Option<PathBuf>,
    /// Pass N extra descriptors (3..3+N) to the container process
    #[arg(long = "preserve-fds", default_value_t = 0)]
    preserve_fds: u32,
    /// Use MS_MOVE + chroot instead of pivot_root
    #[arg(long = "no-pivot")]
    no_pivot: bool,
    /// Accepted for runc compatibility
    #[arg(long = "no-new-keyring")]
    no_new_keyring: bool,
    id: String,
}

impl CreateArgs {
    fn options(&self) -> CreateOptions {
        CreateOptions {
            bundle: self.bundle.clone(),
            pid_file: self.pid_file.clone(),
            console_socket: self.console_socket.clone(),
            preserve_fds: self.preserve_fds,
            no_pivot: self.no_pivot,
            // The CLI's own 0-2 are the container's.
            stdio: None,
        }
    }
}

#[derive(Subcommand)]
enum Verb {
    /// Create a container (its process waits for `start`)
    Create(CreateArgs),
    /// Start a created container
    Start { id: String },
    /// Print a container's state as JSON
    State { id: String },
    /// Send a signal (default SIGTERM) to a container
    Kill {
        #[arg(short, long)]
        all: bool,
        id: String,
        signal: Option<String>,
    },
    /// Delete a container
    Delete {
        #[arg(short, long)]
        force: bool,
        id: String,
    },
    /// Create and start a container; wait for it unless --detach
    Run {
        #[command(flatten)]
        create: CreateArgs,
        #[arg(short, long)]
        detach: bool,
        /// Accepted for runc compatibility
        #[arg(long)]
        keep: bool,
    },
    /// Run a new process in a running container
    Exec(ExecArgs),
    /// List the processes of a container
    Ps {
        #[arg(short, long, default_value = "table")]
        format: String,
        id: String,
        /// Options passed to ps(1) for the table format
        ps_args: Vec<String>,
    },
    /// Freeze all processes of a container
    Pause { id: String },
    /// Thaw a paused container
    Resume { id: String },
    /// List containers
    #[command(alias = "ls")]
    List {
        #[arg(short, long, default_value = "table")]
        format: String,
        #[arg(short, long)]
        quiet: bool,
    },
    /// Write a default config.json
    Spec {
        #[arg(short, long, default_value = ".")]
        bundle: PathBuf,
    },
    /// Print what this runtime supports, as JSON
    Features,
    /// Resource usage of a container (runc's `events --stats` JSON); only --stats is supported
    Events {
        /// One stats sample, then exit
        #[arg(long)]
        stats: bool,
        id: String,
    },
    /// Update a container's resource limits (LinuxResources JSON)
    Update {
        /// File with LinuxResources JSON, or - for stdin
        #[arg(short, long)]
        resources: Option<PathBuf>,
        id: String,
    },
}

#[derive(Args)]
struct ExecArgs {
    /// process.json describing the process (overrides the other flags)
    #[arg(short, long)]
    process: Option<PathBuf>,
    #[arg(short, long)]
    tty: bool,
    #[arg(short, long)]
    detach: bool,
    #[arg(long = "pid-file")]
    pid_file: Option<PathBuf>,
    #[arg(long = "console-socket")]
    console_socket: Option<PathBuf>,
    #[arg(long)]
    cwd: Option<PathBuf>,
    #[arg(short, long)]
    env: Vec<String>,
    /// uid[:gid]
    #[arg(short, long)]
    user: Option<String>,
    #[arg(short = 'g', long = "additional-gids")]
    additional_gids: Vec<u32>,
    /// Extra capability (CAP_…)
    #[arg(short, long)]
    cap: Vec<String>,
    #[arg(long = "no-new-privs")]
    no_new_privs: bool,
    #[arg(long = "preserve-fds", default_value_t = 0)]
    preserve_fds: u32,
    id: String,
    #[arg(trailing_var_arg = true, allow_hyphen_values = true)]
    command: Vec<String>,
}

pub fn main(args: RuntimeArgs) -> ExitCode {
    crate::logging::init(args.log.as_deref(), args.log_format == "json", args.debug);
    if matches!(args.command, Verb::Create(_) | Verb::Run { .. } | Verb::Exec(_)) {
        crate::seal::ensure_sealed();
    }
    match dispatch(&args) {
        Ok(code) => ExitCode::from(code.clamp(0, 255) as u8),
        Err(e) => {
            let msg = format!("{e:#}");
            if args.log.is_some() {
                tracing::error!("{msg}");
            }
            eprintln!("wharf: {msg}");
            ExitCode::FAILURE
        }
    }
}

fn parse_signal(s: Option<&str>) -> Result<i32> {
    Ok(s.map(wharf_runtime::process::parse_signal).transpose()?.unwrap_or(15))
}

fn dispatch(a: &RuntimeArgs) -> Result<i32> {
    if a.systemd_cgroup {
        // A systemd cgroup driver must register each container's scope with
        // systemd over D-Bus; making the directory behind systemd's back would
        // let systemd reclaim or ignore it. Refused, never half-done.
        let why = if Path::new("/run/systemd/system").exists() {
            "registering scopes with systemd is not supported yet"
        } else {
            "systemd is not running on this host"
        };
        anyhow::bail!("--systemd-cgroup: {why}; use the cgroupfs driver (no --systemd-cgroup)");
    }
    let rt = Native::new(&a.root);
    match &a.command {
        Verb::Create(c) => {
            rt.create(&c.id, &c.options())?;
        }
        Verb::Start { id } => rt.start(id)?,
        Verb::State { id } => println!("{}", serde_json::to_string_pretty(&rt.state(id)?)?),
        Verb::Kill { all, id, signal } => rt.kill(id, parse_signal(signal.as_deref())?, *all)?,
        Verb::Delete { force, id } => rt.delete(id, *force)?,
        Verb::Run { create, detach, .. } => return Ok(rt.run(&create.id, &create.options(), *detach)?),
        Verb::Exec(e) => return exec(&rt, e),
        Verb::Ps { format, id, ps_args } => ps(&rt, id, format, ps_args)?,
        Verb::Pause { id } => rt.pause(id)?,
        Verb::Resume { id } => rt.resume(id)?,
        Verb::List { format, quiet } => list(&rt, format, *quiet)?,
        Verb::Spec { bundle } => spec(bundle, a.rootless.as_deref() == Some("true"))?,
        Verb::Features => println!("{}", serde_json::to_string_pretty(&features())?),
        Verb::Events { stats, id } => {
            if !stats {
                bail!("events: only --stats is supported (no event stream)");
            }
            let s = rt.stats(id)?;
            let data = serde_json::json!({
                "cpu": {"usage": {"total": s.cpu_usage_ns}},
                "memory": {"usage": {"usage": s.memory_usage, "limit": s.memory_limit.unwrap_or(0)}},
                "pids": {"current": s.pids},
            });
            println!("{}", serde_json::json!({"type": "stats", "id": id, "data": data}));
        }
        Verb::Update { resources, id } => {
            let data = match resources.as_deref() {
                None => bail!("update needs --resources FILE (or - for stdin)"),
                Some(p) if p == Path::new("-") => {
                    let mut s = String::new();
                    std::io::stdin().read_to_string(&mut s)?;
                    s
                }
                Some(p) => std::fs::read_to_string(p).with_context(|| format!("read {}", p.display()))?,
            };
            let res = serde_json::from_str(&data).context("invalid resources JSON")?;
            rt.update(id, &res)?;
        }
    }
    Ok(0)
}

fn exec(rt: &Native, e: &ExecArgs) -> Result<i32> {
    let process: Process = match &e.process {
        Some(p) => {
            let data = std::fs::read(p).with_context(|| format!("read process file {}", p.display()))?;
            serde_json::from_slice(&data).with_context(|| format!("invalid process file {}", p.display()))?
        }
        None => {
            if e.command.is_empty() {
                bail!("exec needs a command (or --process)");
            }
            let state = rt.state(&e.id)?;
            let bundle = wharf_runtime::spec::Bundle::load(&state.bundle).ok();
            let mut p = bundle.and_then(|b| b.spec.process().clone()).unwrap_or_default();
            p.set_args(Some(e.command.clone()));
            p.set_terminal(Some(e.tty));
            let mut env = p.env().clone().unwrap_or_default();
            env.extend(e.env.iter().cloned());
            p.set_env(Some(env));
            if let Some(cwd) = &e.cwd {
                p.set_cwd(cwd.clone());
            }
            if let Some(user) = &e.user {
                let (uid, gid) = user.split_once(':').unwrap_or((user, "0"));
                p.user_mut().set_uid(uid.parse().with_context(|| format!("invalid uid {uid:?}"))?);
                p.user_mut().set_gid(gid.parse().with_context(|| format!("invalid gid {gid:?}"))?);
            }
            if !e.additional_gids.is_empty() {
                p.user_mut().set_additional_gids(Some(e.additional_gids.clone()));
            }
            if e.no_new_privs {
                p.set_no_new_privileges(Some(true));
            }
            if !e.cap.is_empty() {
                let mut caps = p.capabilities().clone().unwrap_or_default();
                for c in &e.cap {
                    let cap = serde_json::from_value(serde_json::Value::String(c.clone()))
                        .with_context(|| format!("unknown capability {c}"))?;
                    let add = |s: &Option<oci_spec::runtime::Capabilities>| {
                        let mut s = s.clone().unwrap_or_default();
                        s.insert(cap);
                        Some(s)
                    };
                    let (b, ef, pe) = (add(caps.bounding()), add(caps.effective()), add(caps.permitted()));
                    caps.set_bounding(b);
                    caps.set_effective(ef);
                    caps.set_permitted(pe);
                }
                p.set_capabilities(Some(caps));
            }
            p
        }
    };
    let opts = ExecOptions {
        pid_file: e.pid_file.clone(),
        console_socket: e.console_socket.clone(),
        detach: e.detach,
        preserve_fds: e.preserve_fds,
        stdio: None,
    };
    Ok(rt.exec(&e.id, &process, &opts)?)
}

fn ps(rt: &Native, id: &str, format: &str, ps_args: &[String]) -> Result<()> {
    let pids = rt.ps(id)?;
    match format {
        "json" => println!("{}", serde_json::to_string(&pids)?),
        "table" => {
            let args: Vec<String> = if ps_args.is_empty() { vec!["-ef".into()] } else { ps_args.to_vec() };
            let out = std::process::Command::new("ps").args(&args).output().context("run ps")?;
            if !out.status.success() {
                bail!("ps {}: {}", args.join(" "), String::from_utf8_lossy(&out.stderr).trim());
            }
            let text = String::from_utf8_lossy(&out.stdout);
            let mut lines = text.lines();
            let header = lines.next().unwrap_or_default();
            let pid_col = header.split_whitespace().position(|h| h == "PID").context("ps output has no PID column")?;
            println!("{header}");
            for line in lines {
                let pid = line.split_whitespace().nth(pid_col).and_then(|p| p.parse::<i32>().ok());
                if pid.is_some_and(|p| pids.contains(&p)) {
                    println!("{line}");
                }
            }
        }
        other => bail!("invalid format {other:?}: use table or json"),
    }
    Ok(())
}

fn list(rt: &Native, format: &str, quiet: bool) -> Result<()> {
    let all = rt.list()?;
    if quiet {
        for s in &all {
            println!("{}", s.id);
        }
        return Ok(());
    }
    match format {
        "json" => println!("{}", serde_json::to_string(&all)?),
        "table" => {
            println!("{:<20} {:<8} {:<10} {:<40} {:<32} OWNER", "ID", "PID", "STATUS", "BUNDLE", "CREATED");
            for s in &all {
                println!(
                    "{:<20} {:<8} {:<10} {:<40} {:<32} {}",
                    s.id,
                    s.pid,
                    s.status,
                    s.bundle.display(),
                    s.created.as_deref().unwrap_or(""),
                    s.owner.as_deref().filter(|o| !o.is_empty()).unwrap_or("root")
                );
            }
        }
        other => bail!("invalid format {other:?}: use table or json"),
    }
    Ok(())
}

fn spec(bundle: &Path, rootless: bool) -> Result<()> {
    let path = bundle.join(wharf_runtime::spec::CONFIG);
    if path.exists() {
        bail!("file {} exists: remove it first", path.display());
    }
    let spec = wharf_runtime::spec::default_spec(rootless);
    let data = serde_json::to_vec_pretty(&spec)?;
    std::fs::write(&path, data).with_context(|| format!("write {}", path.display()))?;
    Ok(())
}

fn features() -> serde_json::Value {
    let caps: Vec<String> = caps::all().iter().map(|c| c.to_string()).collect();
    serde_json::json!({
        "ociVersionMin": "1.0.0",
        "ociVersionMax": "1.2.0",
        "hooks": ["prestart", "createRuntime", "createContainer", "startContainer", "poststart", "poststop"],
        "mountOptions": ["async", "atime", "bind", "defaults", "dev", "diratime", "dirsync", "exec", "mand", "noatime",
            "nodev", "nodiratime", "noexec", "nomand", "norelatime", "nostrictatime", "nosuid", "private", "rbind",
            "relatime", "remount", "ro", "rprivate", "rshared", "rslave", "runbindable", "rw", "shared", "slave",
            "strictatime", "suid", "sync", "unbindable"],
        "linux": {
            "namespaces": ["cgroup", "ipc", "mount", "network", "pid", "user", "uts"],
            "capabilities": caps,
            "cgroup": {"v1": true, "v2": true, "systemd": false, "systemdUser": false},
            "seccomp": {
                "enabled": true,
                "actions": ["SCMP_ACT_ALLOW", "SCMP_ACT_ERRNO", "SCMP_ACT_KILL", "SCMP_ACT_KILL_PROCESS",
                    "SCMP_ACT_KILL_THREAD", "SCMP_ACT_LOG", "SCMP_ACT_TRACE", "SCMP_ACT_TRAP"],
                "operators": ["SCMP_CMP_EQ", "SCMP_CMP_GE", "SCMP_CMP_GT", "SCMP_CMP_LE", "SCMP_CMP_LT",
                    "SCMP_CMP_MASKED_EQ", "SCMP_CMP_NE"],
                "archs": ["SCMP_ARCH_X86", "SCMP_ARCH_X86_64", "SCMP_ARCH_X32"]
            },
            "apparmor": {"enabled": false},
            "selinux": {"enabled": false}
        },
        "annotations": {"org.opencontainers.runc.version": "wharf"}
    })
}
