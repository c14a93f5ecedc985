//! The listing verbs (`ps`, `ls`, `images`, `top`, `port`, `events`), the
//! image verbs (`build`, `pull`, `push`), `rm` and `cp`, with Compose v2's
//! columns and messages.

use std::collections::BTreeMap;
use std::io::{BufRead, IsTerminal, Write};

use anyhow::{anyhow, bail, Result};
use clap::Args;
use serde_json::{json, Value};
use wharf_compose::backend::{Backend, Summary};
use wharf_compose::ops;
use wharf_compose::up::{build_in_order, build_spec, Plan, Progress};

use crate::client::{enc, Client};
use crate::commands::containers as ctr;

/// Replica `index` (1 when not given) of `service`: for exec, port, cp.
pub(super) fn replica(plan: &Plan, backend: &dyn Backend, service: &str, index: Option<u32>) -> Result<Summary> {
    let list = ops::containers(plan, backend, &[service.to_string()], false)?;
    let want = index.unwrap_or(1);
    list.into_iter()
        .find(|c| c.number() == want)
        .ok_or_else(|| anyhow!("service {service:?} is not running container #{want}"))
}

fn project_filter(project: &str) -> String {
    enc(&json!({"label": [format!("com.docker.compose.project={project}")]}).to_string())
}

#[derive(Args)]
pub struct PsArgs {
    /// Stopped containers too
    #[arg(short, long)]
    all: bool,
    /// Only ids
    #[arg(short, long)]
    quiet: bool,
    /// Only the services' names
    #[arg(long)]
    services: bool,
    /// table or json (one object per line)
    #[arg(long, default_value = "table")]
    format: String,
    /// Only containers in this state (running, exited, paused, created…)
    #[arg(long)]
    status: Vec<String>,
    services_named: Vec<String>,
}

fn ago(created: i64) -> String {
    let now = std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).map(|d| d.as_secs() as i64);
    let secs = (now.unwrap_or(0) - created).max(0) as u64;
    format!("{} ago", wharf_common::time::human_duration(std::time::Duration::from_secs(secs)))
}

/// Compose v2's columns: NAME IMAGE COMMAND SERVICE CREATED STATUS PORTS.
pub fn ps(plan: &Plan, backend: &dyn Backend, client: &Client, a: &PsArgs) -> Result<()> {
    if !matches!(a.format.as_str(), "table" | "json") {
        bail!("unsupported --format {:?}: table or json", a.format);
    }
    plan.check(&a.services_named)?;
    let _ = backend;
    let list =
        client.get(&format!("/containers/json?all={}&filters={}", u8::from(a.all), project_filter(plan.project)))?;
    let mut rows: Vec<&Value> = list
        .as_array()
        .into_iter()
        .flatten()
        .filter(|c| {
            let svc = c["Labels"]["com.docker.compose.service"].as_str().unwrap_or_default();
            a.services_named.is_empty() || a.services_named.iter().any(|s| s == svc)
        })
        .filter(|c| a.status.is_empty() || a.status.iter().any(|s| c["State"] == **s))
        .collect();
    rows.sort_by_key(|c| c["Names"][0].as_str().unwrap_or_default().to_string());
    let name = |c: &Value| c["Names"][0].as_str().unwrap_or_default().trim_start_matches('/').to_string();
    let service = |c: &Value| c["Labels"]["com.docker.compose.service"].as_str().unwrap_or_default().to_string();
    if a.quiet {
        rows.iter().for_each(|c| println!("{}", c["Id"].as_str().unwrap_or_default()));
        return Ok(());
    }
    if a.services {
        let mut seen: Vec<String> = rows.iter().map(|c| service(c)).collect();
        seen.dedup();
        seen.iter().for_each(|s| println!("{s}"));
        return Ok(());
    }
    if a.format == "json" {
        for c in rows {
            let v = json!({"ID": c["Id"], "Name": name(c), "Names": name(c), "Image": c["Image"],
                "Command": c["Command"], "Project": plan.project, "Service": service(c), "State": c["State"],
                "Status": c["Status"], "Health": health(&c["Status"]), "Labels": ctr::labels_text(&c["Labels"]),
                "Ports": ctr::ports_text(&c["Ports"]), "CreatedAt": c["Created"], "RunningFor": ago(c["Created"].as_i64().unwrap_or(0)),
                "Publishers": c["Ports"].as_array().into_iter().flatten().map(|p| json!({"URL": p["IP"], "TargetPort": p["PrivatePort"], "PublishedPort": p["PublicPort"], "Protocol": p["Type"]})).collect::<Vec<_>>()});
            println!("{v}");
        }
        return Ok(());
    }
    let mut tw = tabwriter::TabWriter::new(std::io::stdout()).padding(3);
    writeln!(tw, "NAME\tIMAGE\tCOMMAND\tSERVICE\tCREATED\tSTATUS\tPORTS")?;
    for c in rows {
        let command = c["Command"].as_str().unwrap_or_default();
        writeln!(
            tw,
            "{}\t{}\t{:?}\t{}\t{}\t{}\t{}",
            name(c),
            c["Image"].as_str().unwrap_or_default(),
            command,
            service(c),
            ago(c["Created"].as_i64().unwrap_or(0)),
            c["Status"].as_str().unwrap_or_default(),
            ctr::ports_text(&c["Ports"])
        )?;
    }
    tw.flush()?;
    Ok(())
}

/// The health in a status text (`Up 3 seconds (healthy)`).
fn health(status: &Value) -> &'static str {
    let s = status.as_str().unwrap_or_default();
    ["healthy", "unhealthy", "starting"].into_iter().find(|h| s.ends_with(&format!("({h})"))).unwrap_or("")
}

#[derive(Args)]
pub struct LsArgs {
    /// Stopped projects too
    #[arg(short, long)]
    all: bool,
    /// Only names
    #[arg(short, long)]
    quiet: bool,
    /// table or json
    #[arg(long, default_value = "table")]
    format: String,
}

/// `ls`: every project on the engine with its states and files.
pub fn ls(client: &Client, a: &LsArgs) -> Result<()> {
    if !matches!(a.format.as_str(), "table" | "json") {
        bail!("unsupported --format {:?}: table or json", a.format);
    }
    let filters = enc(&json!({"label": ["com.docker.compose.project"]}).to_string());
    let list = client.get(&format!("/containers/json?all=1&filters={filters}"))?;
    // project -> (state -> count, config files)
    let mut projects: BTreeMap<String, (BTreeMap<String, usize>, String)> = BTreeMap::new();
    for c in list.as_array().into_iter().flatten() {
        let l = &c["Labels"];
        let p = projects.entry(l["com.docker.compose.project"].as_str().unwrap_or_default().to_string()).or_default();
        *p.0.entry(c["State"].as_str().unwrap_or_default().to_string()).or_default() += 1;
        p.1 = l["com.docker.compose.project.config_files"].as_str().unwrap_or_default().to_string();
    }
    projects.retain(|_, (states, _)| a.all || states.contains_key("running"));
    if a.quiet {
        projects.keys().for_each(|p| println!("{p}"));
        return Ok(());
    }
    let status =
        |s: &BTreeMap<String, usize>| s.iter().map(|(k, n)| format!("{k}({n})")).collect::<Vec<_>>().join(", ");
    if a.format == "json" {
        let v: Vec<Value> =
            projects.iter().map(|(n, (s, f))| json!({"Name": n, "Status": status(s), "ConfigFiles": f})).collect();
        println!("{}", Value::Array(v));
        return Ok(());
    }
    let mut tw = tabwriter::TabWriter::new(std::io::stdout()).padding(3);
    writeln!(tw, "NAME\tSTATUS\tCONFIG FILES")?;
    for (n, (s, f)) in &projects {
        writeln!(tw, "{n}\t{}\t{f}", status(s))?;
    }
    tw.flush()?;
    Ok(())
}

pub fn rm(
    plan: &Plan,
    backend: &dyn Backend,
    services: &[String],
    force: bool,
    stop: bool,
    volumes: bool,
    p: Progress,
) -> Result<()> {
    let mut confirm = |list: &[Summary]| {
        if force {
            return true;
        }
        let names: Vec<&str> = list.iter().map(|c| c.name.as_str()).collect();
        eprint!("Going to remove {}\n? Are you sure? [yN] ", names.join(", "));
        let _ = std::io::stderr().flush();
        let mut answer = String::new();
        let _ = std::io::stdin().lock().read_line(&mut answer);
        matches!(answer.trim(), "y" | "Y" | "yes")
    };
    let list = ops::rm(plan, backend, services, stop, volumes, &mut confirm, p)?;
    if list.is_empty() {
        eprintln!("No stopped containers");
    }
    Ok(())
}

/// The services of `names` (all when empty) that have a build section.
pub fn build(plan: &Plan, backend: &dyn Backend, names: &[String], no_cache: bool, p: Progress) -> Result<()> {
    plan.check(names)?;
    let mut specs = Vec::new();
    for (name, svc) in plan.services().into_iter().filter(|(n, _)| names.is_empty() || names.iter().any(|x| x == n)) {
        let Some(mut spec) = build_spec(plan, name, svc)? else { continue };
        spec.no_cache |= no_cache;
        specs.push(spec);
    }
    // Each after the services whose images it takes (`additional_contexts: service:`).
    Ok(build_in_order(plan, backend, specs, p)?)
}

pub fn pull(plan: &Plan, backend: &dyn Backend, names: &[String], p: Progress) -> Result<()> {
    plan.check(names)?;
    for (_, svc) in plan.services().into_iter().filter(|(n, _)| names.is_empty() || names.iter().any(|x| x == n)) {
        // A service that is only built (no image:, or pull_policy build) is skipped, as Compose does.
        let Some(image) = svc.get("image").and_then(|i| i.as_str()) else { continue };
        if svc.get("pull_policy").and_then(|x| x.as_str()) == Some("build") {
            continue;
        }
        p("Image", image, "Pulling");
        backend.pull(image)?;
        p("Image", image, "Pulled");
    }
    Ok(())
}

pub fn push(plan: &Plan, backend: &dyn Backend, names: &[String], p: Progress) -> Result<()> {
    plan.check(names)?;
    for (name, svc) in plan.services().into_iter().filter(|(n, _)| names.is_empty() || names.iter().any(|x| x == n)) {
        if svc.get("build").is_none() && !names.iter().any(|x| x == name) {
            continue;
        }
        let image = plan.image(name, svc)?;
        p("Image", &image, "Pushing");
        backend.push(&image)?;
        p("Image", &image, "Pushed");
    }
    Ok(())
}

pub fn top(plan: &Plan, backend: &dyn Backend, client: &Client, services: &[String]) -> Result<()> {
    for c in ops::containers(plan, backend, services, false)?.iter().filter(|c| c.state == "running") {
        println!("{}", c.name);
        ctr::top(client, &c.id)?;
        println!();
    }
    Ok(())
}

#[derive(Args)]
pub struct PortArgs {
    /// tcp or udp
    #[arg(long, default_value = "tcp")]
    protocol: String,
    /// Which replica of the service
    #[arg(long)]
    index: Option<u32>,
    service: String,
    private_port: u16,
}

/// `port`: the first host address the private port is published on.
pub fn port(plan: &Plan, backend: &dyn Backend, client: &Client, a: &PortArgs) -> Result<()> {
    let c = replica(plan, backend, &a.service, a.index)?;
    let v = client.get(&format!("/containers/{}/json", c.id))?;
    let key = format!("{}/{}", a.private_port, a.protocol);
    let bound = v["NetworkSettings"]["Ports"][&key].as_array().and_then(|b| b.first().cloned());
    match bound {
        Some(b) => {
            let ip = b["HostIp"].as_str().unwrap_or("");
            let ip = if ip.contains(':') { format!("[{ip}]") } else { ip.to_string() };
            println!("{ip}:{}", b["HostPort"].as_str().unwrap_or(""));
            Ok(())
        }
        None => bail!("no port {key} for container {}", c.name),
    }
}

/// `events`: the engine's container events for the project, as they come.
pub fn events(plan: &Plan, client: &Client, as_json: bool, services: &[String]) -> Result<()> {
    plan.check(services)?;
    let filters =
        enc(&json!({"type": ["container"], "label": [format!("com.docker.compose.project={}", plan.project)]})
            .to_string());
    let resp = client.request("GET", &format!("/events?filters={filters}"), None)?;
    let mut out = std::io::stdout();
    for line in std::io::BufReader::new(resp.body).lines().map_while(|l| l.ok()) {
        let Ok(v) = serde_json::from_str::<Value>(&line) else { continue };
        let attrs = v["Actor"]["Attributes"].as_object().cloned().unwrap_or_default();
        let service = attrs.get("com.docker.compose.service").and_then(Value::as_str).unwrap_or_default();
        if !services.is_empty() && !services.iter().any(|s| s == service) {
            continue;
        }
        let nanos = v["timeNano"].as_i64().unwrap_or(0).max(0) as u64;
        let when = humantime::format_rfc3339_micros(std::time::UNIX_EPOCH + std::time::Duration::from_nanos(nanos));
        let (action, id) = (v["Action"].as_str().unwrap_or_default(), v["Actor"]["ID"].as_str().unwrap_or_default());
        let text = if as_json {
            json!({"time": when.to_string(), "type": "container", "action": action, "id": id, "service": service,
                "attributes": attrs.iter().filter(|(k, _)| !k.starts_with("com.docker.compose.")).map(|(k, v)| (k.clone(), v.clone())).collect::<serde_json::Map<_, _>>()})
            .to_string()
        } else {
            let a: Vec<String> = attrs
                .iter()
                .filter(|(k, _)| !k.starts_with("com.docker.compose."))
                .map(|(k, v)| format!("{k}={}", v.as_str().unwrap_or_default()))
                .collect();
            format!("{when} container {action} {id} ({})", a.join(", "))
        };
        if writeln!(out, "{text}").and_then(|_| out.flush()).is_err() {
            break;
        }
    }
    Ok(())
}

/// `images`: CONTAINER REPOSITORY TAG IMAGE ID SIZE.
pub fn images(plan: &Plan, backend: &dyn Backend, client: &Client, quiet: bool, services: &[String]) -> Result<()> {
    let mut tw = tabwriter::TabWriter::new(std::io::stdout()).padding(3);
    if !quiet {
        writeln!(tw, "CONTAINER\tREPOSITORY\tTAG\tIMAGE ID\tSIZE")?;
    }
    for c in ops::containers(plan, backend, services, true)? {
        let info = client.get(&format!("/containers/{}/json", c.id))?;
        let image = info["Config"]["Image"].as_str().unwrap_or_default().to_string();
        let img = client.get(&format!("/images/{}/json", enc(info["Image"].as_str().unwrap_or_default())))?;
        let id: String =
            img["Id"].as_str().unwrap_or_default().trim_start_matches("sha256:").chars().take(12).collect();
        if quiet {
            writeln!(tw, "{id}")?;
            continue;
        }
        let (repo, tag) = repository_and_tag(&image);
        let size = crate::commands::images::human_size(img["Size"].as_i64().unwrap_or(0).max(0) as u64);
        writeln!(tw, "{}\t{repo}\t{tag}\t{id}\t{size}", c.name)?;
    }
    tw.flush()?;
    Ok(())
}

/// The REPOSITORY and TAG columns of a reference: a digest-pinned one has no tag.
fn repository_and_tag(image: &str) -> (&str, &str) {
    match crate::compose_backend::split(image) {
        (whole, "") => (whole.split_once('@').map_or(whole, |(name, _)| name), "<none>"),
        pair => pair,
    }
}

#[derive(Args)]
pub struct CpArgs {
    /// Which replica of the service
    #[arg(long)]
    index: Option<u32>,
    /// SERVICE:SRC_PATH or a local path
    src: String,
    /// SERVICE:DEST_PATH or a local path
    dst: String,
}

/// `cp`: one side is `SERVICE:PATH`, resolved to the replica's container.
pub fn cp(plan: &Plan, backend: &dyn Backend, client: &Client, a: &CpArgs) -> Result<()> {
    let resolve = |s: &str| -> Result<String> {
        match ctr::split_container_path(s) {
            Some((svc, path)) => Ok(format!("{}:{path}", replica(plan, backend, svc, a.index)?.id)),
            None => Ok(s.to_string()),
        }
    };
    ctr::cp(client, &resolve(&a.src)?, &resolve(&a.dst)?)
}

/// Whether stdin and stdout are a terminal (`run` and `exec` allocate a TTY then).
pub(super) fn interactive_terminal() -> bool {
    std::io::stdin().is_terminal() && std::io::stdout().is_terminal()
}

#[cfg(test)]
mod tests {
    #[test]
    fn repository_and_tag_columns() {
        let d = "sha256:0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef";
        for (image, want) in [
            ("busybox", ("busybox", "latest")),
            ("busybox:1.36", ("busybox", "1.36")),
            ("localhost:5000/app", ("localhost:5000/app", "latest")),
            ("localhost:5000/app:v2", ("localhost:5000/app", "v2")),
            (&format!("localhost:5000/app@{d}") as &str, ("localhost:5000/app", "<none>")),
            (&format!("app:v1@{d}"), ("app:v1", "<none>")),
        ] {
            assert_eq!(super::repository_and_tag(image), want, "{image}");
        }
    }
}
