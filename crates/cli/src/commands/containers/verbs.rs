//! The simple verbs (stop, start, kill, rm, wait, rename, top, port), logs, exec and inspect.

use super::common::*;
use super::run::{pump_stdin, RawTerminal};

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

/// Runs `f` for every name, printing it on success (see [`crate::each_name`]).
pub fn each(names: &[String], mut f: impl FnMut(&str) -> Result<()>) -> Result<()> {
    crate::each_name(names, |n| {
        f(n)?;
        println!("{n}");
        Ok(())
    })
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
            let ip = b["HostIp"].as_str().unwrap_or("");
            // As Go's net.JoinHostPort: an IPv6 address is bracketed.
            let ip = if ip.contains(':') { format!("[{ip}]") } else { ip.to_string() };
            println!("{key} -> {ip}:{}", b["HostPort"].as_str().unwrap_or(""));
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
pub fn timestamp(s: &str) -> Result<String> {
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
    /// Override the key sequence for detaching from the exec (default ctrl-p,ctrl-q)
    #[arg(long = "detach-keys")]
    detach_keys: Option<String>,
    container: String,
    #[arg(required = true, trailing_var_arg = true, allow_hyphen_values = true)]
    command: Vec<String>,
}

pub fn exec(client: &Client, a: &ExecArgs) -> Result<i32> {
    let keys = super::detach_keys(a.detach_keys.as_deref());
    let key_bytes = super::run::detach_key_bytes(keys.as_deref())?;
    let body = json!({
        "AttachStdin": a.interactive && !a.detach, "AttachStdout": !a.detach, "AttachStderr": !a.detach, "Tty": a.tty,
        "Cmd": a.command, "Env": a.env, "User": a.user.clone().unwrap_or_default(),
        "WorkingDir": a.workdir.clone().unwrap_or_default(), "Privileged": a.privileged,
        "DetachKeys": keys.unwrap_or_default(),
    });
    let created = client.post(&format!("/containers/{}/exec", enc(&a.container)), Some(&body))?;
    let exec_id = created["Id"].as_str().unwrap_or("").to_string();
    if a.detach {
        client.post(&format!("/exec/{exec_id}/start"), Some(&json!({"Detach": true, "Tty": a.tty})))?;
        return Ok(0);
    }
    let stream = client.hijack(&format!("/exec/{exec_id}/start"), Some(&json!({"Detach": false, "Tty": a.tty})))?;
    let _raw = RawTerminal::enter(a.tty && a.interactive);
    let detached = match a.interactive {
        true => Some(pump_stdin(stream.try_clone()?, key_bytes)),
        false => None,
    };
    let _ = demux(stream, a.tty, &mut std::io::stdout(), &mut std::io::stderr());
    drop(_raw);
    if detached.is_some_and(|d| d.load(std::sync::atomic::Ordering::SeqCst)) {
        return Ok(0);
    }
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
