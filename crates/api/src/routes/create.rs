//! `POST /containers/create`: Docker's create body (Config + HostConfig +
//! NetworkingConfig) → `engine::CreateRequest`. Every field Wharf accepts is
//! here; anything else in the body is ignored only where Docker ignores it.

use std::collections::BTreeMap;
use std::sync::Arc;

use hyper::body::Incoming;
use hyper::{Request, StatusCode};
use serde::Deserialize;
use serde_json::{json, Value};
use wharf_engine::volumes::MountRequest;
use wharf_engine::{CreateRequest, RunOptions};

use super::{blocking, json, read_json, Reply};
use crate::error::ApiError;
use crate::query::Query;
use crate::State;

#[derive(Debug, Default, Deserialize)]
#[serde(rename_all = "PascalCase", default)]
struct HostConfig {
    auto_remove: bool,
    memory: i64,
    nano_cpus: i64,
    cpu_quota: i64,
    cpu_period: i64,
    pids_limit: Option<i64>,
    privileged: bool,
    cap_add: Option<Vec<String>>,
    cap_drop: Option<Vec<String>>,
    readonly_rootfs: bool,
    network_mode: String,
    binds: Option<Vec<String>>,
    ulimits: Option<Vec<UlimitBody>>,
    mounts: Option<Vec<MountBody>>,
    tmpfs: Option<BTreeMap<String, String>>,
    restart_policy: Option<wharf_engine::containers::RestartPolicy>,
    init: Option<bool>,
    cpuset_cpus: String,
    cpuset_mems: String,
    port_bindings: Option<BTreeMap<String, Option<Vec<PortBindingBody>>>>,
    publish_all_ports: bool,
    log_config: Option<LogConfigBody>,
    extra_hosts: Option<Vec<String>>,
    dns: Option<Vec<String>>,
    cpu_shares: i64,
    shm_size: i64,
    security_opt: Option<Vec<String>>,
    sysctls: Option<BTreeMap<String, String>>,
    runtime: String,
    pid_mode: String,
    ipc_mode: String,
    #[serde(rename = "UTSMode")]
    uts_mode: String,
    cgroupns_mode: String,
    group_add: Option<Vec<String>>,
    memory_swap: i64,
    memory_reservation: i64,
    memory_swappiness: Option<i64>,
    oom_kill_disable: Option<bool>,
    oom_score_adj: i32,
    blkio_weight: u16,
    dns_search: Option<Vec<String>>,
    dns_options: Option<Vec<String>>,
    console_size: Option<Vec<u16>>,
    devices: Option<Vec<DeviceBody>>,
    device_cgroup_rules: Option<Vec<String>>,
}

#[derive(Debug, Default, Deserialize)]
#[serde(rename_all = "PascalCase", default)]
struct DeviceBody {
    path_on_host: String,
    path_in_container: String,
    cgroup_permissions: String,
}

#[derive(Debug, Default, Deserialize)]
#[serde(rename_all = "PascalCase", default)]
struct LogConfigBody {
    #[serde(rename = "Type")]
    typ: String,
    config: Option<BTreeMap<String, String>>,
}

#[derive(Debug, Default, Deserialize)]
#[serde(rename_all = "PascalCase", default)]
struct PortBindingBody {
    host_ip: String,
    host_port: String,
}

#[derive(Debug, Default, Deserialize)]
#[serde(rename_all = "PascalCase", default)]
struct NetworkingConfig {
    endpoints_config: Option<BTreeMap<String, Option<EndpointBody>>>,
}

#[derive(Debug, Default, Deserialize)]
#[serde(rename_all = "PascalCase", default)]
struct EndpointBody {
    aliases: Option<Vec<String>>,
    #[serde(rename = "IPAMConfig")]
    ipam_config: Option<IpamConfigBody>,
    mac_address: String,
}

#[derive(Debug, Default, Deserialize)]
#[serde(default)]
struct IpamConfigBody {
    #[serde(rename = "IPv4Address")]
    ipv4_address: Option<String>,
    #[serde(rename = "IPv6Address")]
    ipv6_address: Option<String>,
    #[serde(rename = "LinkLocalIPs")]
    link_local_ips: Option<Vec<String>>,
}

#[derive(Debug, Default, Deserialize)]
#[serde(rename_all = "PascalCase", default)]
struct UlimitBody {
    name: String,
    soft: u64,
    hard: u64,
}

#[derive(Debug, Default, Deserialize)]
#[serde(rename_all = "PascalCase", default)]
struct MountBody {
    #[serde(rename = "Type")]
    typ: String,
    source: String,
    target: String,
    read_only: bool,
    bind_options: Option<Value>,
    volume_options: Option<Value>,
    tmpfs_options: Option<TmpfsOptionsBody>,
}

#[derive(Debug, Default, Deserialize)]
#[serde(rename_all = "PascalCase", default)]
struct TmpfsOptionsBody {
    size_bytes: i64,
    mode: u32,
}

/// Refuses a `Mounts[]` option Wharf does not apply (the defaults pass:
/// bind propagation `rprivate` is what every bind gets).
fn check_mount_options(i: usize, m: &MountBody) -> Result<(), ApiError> {
    let refuse = |what: &str| ApiError::bad_request(format!("HostConfig.Mounts[{i}].{what} is not supported by Wharf"));
    for (k, v) in m.bind_options.as_ref().and_then(Value::as_object).into_iter().flatten() {
        let default = match (k.as_str(), v) {
            (_, Value::Null | Value::Bool(false)) => true,
            ("Propagation", Value::String(p)) => p.is_empty() || p == "rprivate",
            _ => false,
        };
        if !default {
            return Err(refuse(&format!("BindOptions.{k}")));
        }
    }
    for (k, v) in m.volume_options.as_ref().and_then(Value::as_object).into_iter().flatten() {
        let default = match v {
            Value::Null | Value::Bool(false) => true,
            Value::Object(o) => o.is_empty() || o.values().all(|x| x.is_null() || x.as_str() == Some("")),
            _ => false,
        };
        if !default {
            return Err(refuse(&format!("VolumeOptions.{k}")));
        }
    }
    if m.tmpfs_options.is_some() && m.typ != "tmpfs" {
        return Err(ApiError::bad_request(format!("HostConfig.Mounts[{i}]: TmpfsOptions on a {} mount", m.typ)));
    }
    Ok(())
}

#[derive(Debug, Default, Deserialize)]
#[serde(rename_all = "PascalCase", default)]
struct CreateBody {
    image: String,
    cmd: Option<Vec<String>>,
    entrypoint: Option<Value>,
    env: Option<Vec<String>>,
    working_dir: String,
    user: String,
    hostname: String,
    domainname: String,
    tty: bool,
    open_stdin: bool,
    stdin_once: bool,
    labels: Option<BTreeMap<String, String>>,
    volumes: Option<BTreeMap<String, Value>>,
    mac_address: String,
    healthcheck: Option<wharf_engine::health::Healthcheck>,
    stop_signal: String,
    stop_timeout: Option<i64>,
    exposed_ports: Option<BTreeMap<String, Value>>,
    host_config: HostConfig,
    networking_config: NetworkingConfig,
}

fn to_options(b: CreateBody) -> Result<RunOptions, ApiError> {
    if b.image.is_empty() {
        return Err(ApiError::bad_request("config.Image is required"));
    }
    let entrypoint = match b.entrypoint {
        None | Some(Value::Null) => None,
        Some(Value::String(s)) => Some(vec![s]),
        Some(Value::Array(a)) => Some(a.into_iter().filter_map(|v| v.as_str().map(str::to_string)).collect()),
        Some(other) => return Err(ApiError::bad_request(format!("invalid Entrypoint {other}"))),
    };
    let h = b.host_config;
    let cpus = Some(h.nano_cpus).filter(|n| *n != 0).map(|n| n as f64 / 1e9);
    let mut mounts = Vec::new();
    for bind in h.binds.iter().flatten() {
        mounts.push(MountRequest::parse_bind(bind).map_err(ApiError::from)?);
    }
    for (i, m) in h.mounts.iter().flatten().enumerate() {
        check_mount_options(i, m)?;
        if !m.target.starts_with('/') {
            return Err(ApiError::bad_request(format!(
                "invalid mount config: mount path must be absolute: {:?}",
                m.target
            )));
        }
        let mut tmpfs = Vec::new();
        if let Some(t) = &m.tmpfs_options {
            if t.size_bytes < 0 {
                return Err(ApiError::bad_request(format!(
                    "HostConfig.Mounts[{i}].TmpfsOptions.SizeBytes must be positive"
                )));
            }
            if t.size_bytes > 0 {
                tmpfs.push(format!("size={}", t.size_bytes));
            }
            if t.mode != 0 {
                tmpfs.push(format!("mode={:o}", t.mode & 0o7777));
            }
        }
        mounts.push(MountRequest {
            typ: m.typ.clone(),
            source: m.source.clone(),
            target: m.target.clone(),
            read_only: m.read_only,
            from_mounts: true,
            tmpfs_options: tmpfs.join(","),
            ..Default::default()
        });
    }
    for (target, options) in h.tmpfs.iter().flatten() {
        wharf_engine::volumes::tmpfs_options(options).map_err(ApiError::from)?;
        mounts.push(MountRequest {
            typ: "tmpfs".into(),
            target: target.clone(),
            tmpfs_options: options.clone(),
            ..Default::default()
        });
    }
    for target in b.volumes.iter().flatten().map(|(t, _)| t) {
        if !mounts.iter().any(|m| &m.target == target) {
            mounts.push(MountRequest { typ: "volume".into(), target: target.clone(), ..Default::default() });
        }
    }
    let ulimits = h.ulimits.iter().flatten().map(|u| (u.name.clone(), u.soft, u.hard)).collect();
    let mut publish = Vec::new();
    for (key, bindings) in h.port_bindings.iter().flatten() {
        for b in bindings.iter().flatten() {
            let spec = match (b.host_ip.as_str(), b.host_port.as_str()) {
                ("", "") => key.clone(),
                ("", p) => format!("{p}:{key}"),
                (ip, p) if ip.contains(':') => format!("[{ip}]:{p}:{key}"),
                (ip, p) => format!("{ip}:{p}:{key}"),
            };
            publish.extend(wharf_engine::network::PortBinding::parse(&spec).map_err(ApiError::from)?);
        }
    }
    let exposed: Vec<String> = b.exposed_ports.iter().flatten().map(|(k, _)| k.clone()).collect();
    if h.publish_all_ports {
        for key in &exposed {
            for p in wharf_engine::network::PortBinding::parse(key).map_err(ApiError::from)? {
                if !publish.iter().any(|x| x.key() == p.key()) {
                    publish.push(p);
                }
            }
        }
    }
    let mut networks = BTreeMap::new();
    let mut endpoint_settings = BTreeMap::new();
    for (name, ep) in b.networking_config.endpoints_config.unwrap_or_default() {
        let name = if name == "default" { "bridge".to_string() } else { name };
        let ep = ep.unwrap_or_default();
        let ipam = ep.ipam_config.unwrap_or_default();
        if ipam.link_local_ips.as_ref().is_some_and(|l| !l.is_empty()) {
            return Err(ApiError::bad_request(format!(
                "NetworkingConfig.EndpointsConfig.{name}.IPAMConfig: LinkLocalIPs are not supported by Wharf"
            )));
        }
        let settings = wharf_engine::StaticEndpoint {
            ipv4: ipam.ipv4_address.filter(|a| !a.is_empty()),
            ipv6: ipam.ipv6_address.filter(|a| !a.is_empty()),
            mac: Some(ep.mac_address).filter(|m| !m.is_empty()),
        };
        if settings != Default::default() {
            endpoint_settings.insert(name.clone(), settings);
        }
        networks.insert(name, ep.aliases.unwrap_or_default());
    }
    // The container's MacAddress is its primary network's (API 1.41).
    if !b.mac_address.is_empty() {
        let primary = match h.network_mode.as_str() {
            "" | "default" => "bridge".to_string(),
            m => m.to_string(),
        };
        endpoint_settings.entry(primary).or_default().mac = Some(b.mac_address.clone());
    }
    Ok(RunOptions {
        ulimits,
        mounts,
        image: b.image,
        cmd: b.cmd.unwrap_or_default(),
        entrypoint,
        env: b.env.unwrap_or_default(),
        workdir: Some(b.working_dir).filter(|w| !w.is_empty()),
        user: Some(b.user).filter(|u| !u.is_empty()),
        hostname: Some(b.hostname).filter(|h| !h.is_empty()),
        tty: b.tty,
        read_only: h.readonly_rootfs,
        privileged: h.privileged,
        cap_add: h.cap_add.unwrap_or_default(),
        cap_drop: h.cap_drop.unwrap_or_default(),
        memory: Some(h.memory).filter(|m| *m != 0),
        cpus,
        pids_limit: h.pids_limit.filter(|p| *p != 0),
        cpuset_cpus: Some(h.cpuset_cpus).filter(|c| !c.is_empty()),
        cpuset_mems: Some(h.cpuset_mems).filter(|c| !c.is_empty()),
        init: h.init.unwrap_or(false),
        network: if h.network_mode == "default" { String::new() } else { h.network_mode },
        networks,
        endpoint_settings,
        publish,
        publish_all: h.publish_all_ports,
        extra_hosts: h.extra_hosts.unwrap_or_default(),
        dns: h.dns.unwrap_or_default(),
        cpu_shares: Some(h.cpu_shares).filter(|s| *s != 0),
        shm_size: Some(h.shm_size).filter(|s| *s != 0),
        security_opt: h.security_opt.unwrap_or_default(),
        sysctls: h.sysctls.unwrap_or_default(),
        pid_mode: h.pid_mode,
        ipc_mode: h.ipc_mode,
        uts_mode: h.uts_mode,
        cgroupns_mode: h.cgroupns_mode,
        group_add: h.group_add.unwrap_or_default(),
        memory_swap: Some(h.memory_swap).filter(|s| *s != 0),
        memory_reservation: Some(h.memory_reservation).filter(|r| *r != 0),
        memory_swappiness: h.memory_swappiness.filter(|s| *s != -1),
        oom_kill_disable: h.oom_kill_disable.unwrap_or(false),
        oom_score_adj: Some(h.oom_score_adj).filter(|a| *a != 0),
        cpu_period: Some(h.cpu_period).filter(|p| *p != 0),
        cpu_quota: Some(h.cpu_quota).filter(|q| *q != 0),
        blkio_weight: Some(h.blkio_weight).filter(|w| *w != 0),
        dns_search: h.dns_search.unwrap_or_default(),
        dns_options: h.dns_options.unwrap_or_default(),
        domainname: Some(b.domainname).filter(|d| !d.is_empty()),
        console_size: match h.console_size.as_deref() {
            Some([rows, cols]) if *rows > 0 && *cols > 0 => Some((*rows, *cols)),
            _ => None,
        },
        devices: h
            .devices
            .into_iter()
            .flatten()
            .map(|d| wharf_engine::devices::DeviceMapping {
                path_on_host: d.path_on_host,
                path_in_container: d.path_in_container,
                permissions: d.cgroup_permissions,
            })
            .collect(),
        device_cgroup_rules: h.device_cgroup_rules.unwrap_or_default(),
    })
}

pub(super) async fn create(state: Arc<State>, req: Request<Incoming>, q: &Query) -> Reply {
    let raw: Value = read_json(req).await?;
    super::honoured::check_create(&raw)?;
    let body: CreateBody =
        serde_json::from_value(raw).map_err(|e| ApiError::bad_request(format!("invalid container config: {e}")))?;
    let auto_remove = body.host_config.auto_remove;
    let restart_policy = body.host_config.restart_policy.clone().unwrap_or_default();
    let healthcheck = body.healthcheck.clone();
    let stop_signal = Some(body.stop_signal.clone()).filter(|s| !s.is_empty());
    let stop_timeout = body.stop_timeout.filter(|t| *t >= 0).map(|t| t as u64);
    let log = match &body.host_config.log_config {
        Some(l) => wharf_engine::containers::LogOptions::from_docker(&l.typ, &l.config.clone().unwrap_or_default())
            .map_err(ApiError::from)?,
        None => Default::default(),
    };
    let (open_stdin, stdin_once) = (body.open_stdin, body.stdin_once);
    let runtime = Some(body.host_config.runtime.clone()).filter(|r| !r.is_empty());
    let labels = body.labels.clone().unwrap_or_default();
    let opts = to_options(body)?;
    let name = q.get("name").map(str::to_string);
    let st = state.clone();
    let c = blocking(move || {
        Ok(st.engine.create(CreateRequest {
            name,
            opts,
            labels,
            auto_remove,
            open_stdin,
            stdin_once,
            restart_policy,
            healthcheck,
            stop_signal,
            stop_timeout,
            log,
            runtime,
        })?)
    })
    .await?;
    json(StatusCode::CREATED, &json!({"Id": c.id, "Warnings": []}))
}
