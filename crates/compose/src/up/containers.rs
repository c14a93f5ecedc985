//! A service's containers: kept, recreated or created per replica, and
//! the create body wired to the project (networks with the service's
//! aliases, `network_mode: service:x`, `volumes_from`); one-off
//! containers of `run` from the same body.

use serde_json::{json, Value as J};

use super::plan::{replicas, service_networks, Plan, Progress, UpOptions};
use crate::backend::{Backend, Summary};
use crate::convert;
use crate::error::{ComposeError, Result};
use crate::yaml::{Node, Value};

/// What a service's replicas start from: the project's containers as `up`
/// found them, and whether a dependency marked `restart: true` changed.
pub(super) struct Current<'a> {
    pub existing: &'a [Summary],
    pub restart: bool,
    /// A service whose namespace or volumes it shares (`network_mode:
    /// service:`, `volumes_from`) was recreated: so is it.
    pub recreate: bool,
}

/// The id of the image a container was made from (as Compose v2 labels it).
const IMAGE_LABEL: &str = "com.docker.compose.image";

pub(super) fn service_up(
    plan: &Plan,
    backend: &dyn Backend,
    opts: &UpOptions,
    (name, svc): (&str, &Node),
    now: &Current,
    progress: Progress,
) -> Result<bool> {
    let (existing, restart) = (now.existing, now.restart);
    let force = opts.force_recreate || now.recreate;
    let hash = convert::config_hash(svc);
    // The image's id: a container made from another (a rebuild, a pull) is recreated.
    let image_id = backend.image_id(&plan.image(name, svc)?)?;
    let mut made = false;
    let want = replicas(opts, name, svc);
    let mine: Vec<&Summary> = existing
        .iter()
        .filter(|c| c.service() == Some(name) && c.label("com.docker.compose.oneoff") != Some("True"))
        .collect();
    for c in mine.iter().filter(|c| c.number() > want || c.number() == 0) {
        progress("Container", &c.name, "Stopping");
        backend.stop(&c.id, opts.timeout)?;
        backend.remove(&c.id, false)?;
        progress("Container", &c.name, "Removed");
    }
    for number in 1..=want {
        let current = mine.iter().find(|c| c.number() == number);
        let id = match current {
            Some(c)
                if opts.no_recreate
                    || (!force
                        && c.label("com.docker.compose.config-hash") == Some(hash.as_str())
                        && (image_id.is_none() || c.label(IMAGE_LABEL) == image_id.as_deref())) =>
            {
                if c.state == "running" && restart && !opts.no_start {
                    // A dependency marked `restart: true` was (re)created.
                    progress("Container", &c.name, "Restarting");
                    backend.restart(&c.id, None)?;
                    progress("Container", &c.name, "Started");
                    continue;
                }
                if c.state == "running" || opts.no_start {
                    progress("Container", &c.name, if opts.no_start { "Created" } else { "Running" });
                    continue;
                }
                c.id.clone()
            }
            Some(c) => {
                made = true;
                recreate(plan, backend, (name, svc), (c, number), (opts.timeout, image_id.as_deref()), progress)?
            }
            None => {
                made = true;
                let cname = convert::container_name(plan.project, name, svc, number);
                create(plan, backend, (name, svc), (number, &cname), (&[], image_id.as_deref(), None), progress)?
            }
        };
        if opts.no_start {
            continue;
        }
        let cname = convert::container_name(plan.project, name, svc, number);
        progress("Container", &cname, "Starting");
        backend.start(&id)?;
        progress("Container", &cname, "Started");
    }
    Ok(made)
}

/// The aliases of the service on network `key`: its name, then `aliases`.
fn aliases(name: &str, svc: &Node, key: &str) -> Vec<String> {
    let mut a = vec![name.to_string()];
    if let Some(list) = svc.get("networks").and_then(|n| n.get(key)).and_then(|n| n.get("aliases")) {
        a.extend(list.strings());
    }
    a
}

/// Sets the body's networking and `volumes_from`; the networks to connect
/// after create (below API 1.44 only one is set at create).
fn wire(plan: &Plan, backend: &dyn Backend, name: &str, svc: &Node, body: &mut J) -> Result<Vec<String>> {
    let nets = service_networks(svc);
    match svc.get("network_mode").and_then(Node::as_str) {
        Some(mode) => {
            let mode = match mode.strip_prefix("service:") {
                Some(other) => {
                    let target = backend
                        .containers(plan.project)?
                        .into_iter()
                        .find(|c| c.service() == Some(other) && c.label("com.docker.compose.oneoff") != Some("True"))
                        .ok_or_else(|| {
                            ComposeError::Project(format!(
                                "service {name:?}: network_mode service:{other} has no container"
                            ))
                        })?;
                    format!("container:{}", target.id)
                }
                None => mode.to_string(),
            };
            body["HostConfig"]["NetworkMode"] = json!(mode);
        }
        None => {
            let primary = plan.network_name(&nets[0]);
            body["HostConfig"]["NetworkMode"] = json!(primary);
            let mut ep = json!({"Aliases": aliases(name, svc, &nets[0])});
            let cfg = svc.get("networks").and_then(|n| n.get(&nets[0]));
            let addr = |k: &str| cfg.and_then(|c| c.get(k)).and_then(Node::as_str).map(str::to_string);
            if addr("ipv4_address").is_some() || addr("ipv6_address").is_some() {
                ep["IPAMConfig"] = json!({"IPv4Address": addr("ipv4_address"), "IPv6Address": addr("ipv6_address")});
            }
            body["NetworkingConfig"] = json!({"EndpointsConfig": {primary: ep}});
        }
    }
    if let Some(Value::Seq(items)) = svc.get("volumes_from").map(|v| &v.value) {
        let mut from = Vec::new();
        for v in items.iter().filter_map(Node::as_str) {
            match v.strip_prefix("container:") {
                Some(c) => from.push(c.to_string()),
                None => {
                    let v = v.strip_prefix("service:").unwrap_or(v);
                    let (other, mode) = v.split_once(':').map_or((v, None), |(s, m)| (s, Some(m)));
                    let c = convert::container_name(plan.project, other, plan.service(other).unwrap_or(svc), 1);
                    from.push(mode.map_or(c.clone(), |m| format!("{c}:{m}")));
                }
            }
        }
        body["HostConfig"]["VolumesFrom"] = json!(from);
    }
    Ok(nets.into_iter().skip(1).collect())
}

fn create_wired(
    plan: &Plan,
    backend: &dyn Backend,
    name: &str,
    svc: &Node,
    cname: &str,
    mut body: J,
) -> Result<String> {
    let more = wire(plan, backend, name, svc, &mut body)?;
    let files = super::files::of(plan, name, svc)?;
    if !files.mounts.is_empty() {
        let host = body["HostConfig"].as_object_mut().expect("a host config");
        let mounts = host.entry("Mounts").or_insert_with(|| json!([]));
        mounts.as_array_mut().expect("mounts").extend(files.mounts);
    }
    let id = backend.create(cname, &body)?;
    for key in &more {
        backend.connect(&plan.network_name(key), &id, &aliases(name, svc, key))?;
    }
    for f in &files.injected {
        backend.inject(&id, f)?;
    }
    Ok(id)
}

/// A volume's name is anonymous when the engine made it up (64 hex digits).
fn anonymous(name: &str) -> bool {
    name.len() == 64 && name.bytes().all(|b| b.is_ascii_hexdigit())
}

/// Mounts `inherited`'s anonymous volumes (name, destination) of a
/// container being recreated where the new one would get fresh ones: at
/// an anonymous mount of the service, or at a path nothing else mounts
/// (an image's VOLUME), as Compose keeps them.
fn inherit(body: &mut J, inherited: &[(String, String)]) {
    let binds: Vec<String> = host_binds(body);
    let host = body["HostConfig"].as_object_mut().expect("a host config");
    let mounts = host.entry("Mounts").or_insert_with(|| json!([])).as_array_mut().expect("mounts");
    for (name, dest) in inherited.iter().filter(|(n, _)| anonymous(n)) {
        match mounts.iter_mut().find(|m| m["Target"] == dest.as_str()) {
            Some(m) if m["Type"] == "volume" && m.get("Source").is_none_or(J::is_null) => m["Source"] = json!(name),
            Some(_) => {}
            None if !binds.iter().any(|b| b == dest) => {
                mounts.push(json!({"Type": "volume", "Source": name, "Target": dest}));
            }
            None => {}
        }
    }
}

/// The container paths of the body's `Binds` (`src:dst[:mode]`).
fn host_binds(body: &J) -> Vec<String> {
    body["HostConfig"]["Binds"]
        .as_array()
        .into_iter()
        .flatten()
        .filter_map(|b| b.as_str().and_then(|b| b.split(':').nth(1)).map(str::to_string))
        .collect()
}

/// Replaces `old` as Compose does, so that a failure loses nothing: the
/// old container is stopped, its replacement created under a temporary
/// name (`<old id[:12]>_<name>`) with the old one's anonymous volumes, and
/// only then is the old one removed and the new one given its name.
fn recreate(
    plan: &Plan,
    backend: &dyn Backend,
    service: (&str, &Node),
    (old, number): (&Summary, u32),
    (timeout, image_id): (Option<i64>, Option<&str>),
    progress: Progress,
) -> Result<String> {
    progress("Container", &old.name, "Recreate");
    let volumes = backend.volume_mounts(&old.id)?;
    backend.stop(&old.id, timeout)?;
    let cname = convert::container_name(plan.project, service.0, service.1, number);
    let temporary = format!("{}_{cname}", &old.id[..old.id.len().min(12)]);
    let id = create(plan, backend, service, (number, &temporary), (&volumes, image_id, Some(&old.id)), progress)?;
    backend.remove(&old.id, false)?;
    backend.rename(&id, &cname)?;
    progress("Container", &cname, "Recreated");
    Ok(id)
}

fn create(
    plan: &Plan,
    backend: &dyn Backend,
    (name, svc): (&str, &Node),
    (number, cname): (u32, &str),
    (inherited, image_id, replaces): (&[(String, String)], Option<&str>, Option<&str>),
    progress: Progress,
) -> Result<String> {
    // The image is there: preflight saw to it.
    let mut body = convert::create_body(&plan.cx, name, svc, number)?;
    if let Some(id) = image_id {
        body["Labels"][IMAGE_LABEL] = json!(id);
    }
    if let Some(old) = replaces {
        body["Labels"]["com.docker.compose.replace"] = json!(old);
    }
    if !inherited.is_empty() {
        inherit(&mut body, inherited);
    }
    if replaces.is_none() {
        progress("Container", cname, "Creating");
    }
    let id = create_wired(plan, backend, name, svc, cname, body)?;
    if replaces.is_none() {
        progress("Container", cname, "Created");
    }
    Ok(id)
}

/// What `run` changes of a service for its one-off container.
#[derive(Debug, Clone, Default)]
pub struct OneOff {
    /// The command (empty: the service's).
    pub command: Vec<String>,
    pub entrypoint: Option<Vec<String>>,
    /// `-e NAME=value` (or `NAME`, from the environment) over the service's.
    pub env: Vec<String>,
    pub user: Option<String>,
    pub workdir: Option<String>,
    pub labels: Vec<(String, String)>,
    /// `--service-ports`: publish the service's ports (not published otherwise).
    pub service_ports: bool,
    pub remove: bool,
    pub tty: bool,
    pub interactive: bool,
    pub name: Option<String>,
    /// 64 hex digits: the `slug` label, its first 12 in the container's name.
    pub slug: String,
}

/// Creates the one-off container of `run`: the service's body, its ports
/// unpublished unless asked, labelled `oneoff=True`, named
/// `proj-svc-run-<slug>`. Returns (name, id).
pub fn one_off_body(
    plan: &Plan,
    backend: &dyn Backend,
    name: &str,
    svc: &Node,
    o: &OneOff,
) -> Result<(String, String)> {
    let mut body = convert::create_body(&plan.cx, name, svc, 1)?;
    let cname =
        o.name.clone().unwrap_or_else(|| format!("{}-{name}-run-{}", plan.project, &o.slug[..12.min(o.slug.len())]));
    if !o.command.is_empty() {
        body["Cmd"] = json!(o.command);
    }
    if let Some(e) = &o.entrypoint {
        body["Entrypoint"] = json!(e);
        if o.command.is_empty() {
            // A new entrypoint drops the image's and the service's command, as Docker does.
            body["Cmd"] = json!([]);
        }
    }
    let mut env: Vec<String> = body["Env"]
        .as_array()
        .map(|a| a.iter().filter_map(|v| v.as_str().map(str::to_string)).collect())
        .unwrap_or_default();
    for e in &o.env {
        let (k, v) = match e.split_once('=') {
            Some((k, v)) => (k.to_string(), Some(v.to_string())),
            None => (e.clone(), (plan.cx.lookup)(e)),
        };
        env.retain(|x| x.split('=').next() != Some(k.as_str()));
        if let Some(v) = v {
            env.push(format!("{k}={v}"));
        }
    }
    body["Env"] = json!(env);
    if let Some(u) = &o.user {
        body["User"] = json!(u);
    }
    if let Some(w) = &o.workdir {
        body["WorkingDir"] = json!(w);
    }
    if !o.service_ports {
        if let Some(h) = body["HostConfig"].as_object_mut() {
            h.remove("PortBindings");
        }
    }
    let labels = body["Labels"].as_object_mut().expect("labels");
    for (k, v) in &o.labels {
        labels.insert(k.clone(), json!(v));
    }
    labels.insert("com.docker.compose.oneoff".into(), json!("True"));
    labels.insert("com.docker.compose.slug".into(), json!(o.slug));
    body["Tty"] = json!(o.tty);
    body["OpenStdin"] = json!(o.interactive);
    body["AttachStdin"] = json!(o.interactive);
    body["StdinOnce"] = json!(o.interactive);
    body["AttachStdout"] = json!(true);
    body["AttachStderr"] = json!(true);
    if o.remove {
        body["HostConfig"]["AutoRemove"] = json!(true);
        // Docker refuses a restart policy with AutoRemove.
        if let Some(h) = body["HostConfig"].as_object_mut() {
            h.remove("RestartPolicy");
        }
    }
    let id = create_wired(plan, backend, name, svc, &cname, body)?;
    Ok((cname, id))
}
