//! `GET /containers/{id}/json`: a container as dockerd 20.10 reports it —
//! every key of its `HostConfig` (the client's values, Docker's defaults
//! for the rest), `Config`, `State`, `NetworkSettings`, `Mounts` — so
//! clients that read any field find it where Docker puts it.

use std::collections::BTreeMap;
use std::sync::Arc;

use hyper::StatusCode;
use serde_json::{json, Value};
use wharf_engine::{Container, Status};

use super::{blocking, json, Reply};
use crate::error::ApiError;
use crate::query::Query;
use crate::State;

pub(super) fn network_mode(c: &Container) -> String {
    if c.opts.network.is_empty() {
        "default".into()
    } else {
        c.opts.network.clone()
    }
}

/// `HostConfig.PortBindings` shape: `{"80/tcp": [{"HostIp", "HostPort"}]}`.
pub(super) fn port_bindings(list: &[wharf_engine::network::PortBinding]) -> BTreeMap<String, Vec<Value>> {
    let mut out: BTreeMap<String, Vec<Value>> = BTreeMap::new();
    for b in list {
        let port = if b.host_port == 0 { String::new() } else { b.host_port.to_string() };
        out.entry(b.key()).or_default().push(json!({"HostIp": b.host_ip, "HostPort": port}));
    }
    out
}

/// A list field: `null` when empty, as Go's nil slices.
fn nil_if_empty<T: serde::Serialize>(v: &[T]) -> Value {
    if v.is_empty() {
        Value::Null
    } else {
        json!(v)
    }
}

/// The masked and read-only paths the container gets (none when privileged
/// or with `systempaths=unconfined`).
fn system_paths(c: &Container) -> (Value, Value) {
    let unconfined = c.opts.privileged || c.opts.security_opt.iter().any(|o| o == "systempaths=unconfined");
    if unconfined {
        return (json!([]), json!([]));
    }
    let spec = wharf_runtime::spec::default_spec(false);
    let linux = spec.linux().clone().unwrap_or_default();
    (json!(linux.masked_paths().clone().unwrap_or_default()), json!(linux.readonly_paths().clone().unwrap_or_default()))
}

/// `HostConfig`: all of Docker's keys, with the values the client set.
pub(super) fn host_config(c: &Container) -> Value {
    let o = &c.opts;
    let (masked, readonly) = system_paths(c);
    let binds: Vec<String> = o
        .mounts
        .iter()
        .filter(|m| m.from_binds)
        .map(|m| {
            let spec = if m.source.is_empty() { m.target.clone() } else { format!("{}:{}", m.source, m.target) };
            if m.read_only {
                format!("{spec}:ro")
            } else {
                spec
            }
        })
        .collect();
    let mounts: Vec<Value> = o
        .mounts
        .iter()
        .filter(|m| m.from_mounts)
        .map(|m| json!({"Type": m.typ, "Source": m.source, "Target": m.target, "ReadOnly": m.read_only}))
        .collect();
    let tmpfs: BTreeMap<&str, &str> = o
        .mounts
        .iter()
        .filter(|m| m.typ == "tmpfs" && !m.from_mounts)
        .map(|m| (m.target.as_str(), m.tmpfs_options.as_str()))
        .collect();
    let ulimits: Vec<Value> = o.ulimits.iter().map(|(n, s, h)| json!({"Name": n, "Soft": s, "Hard": h})).collect();
    let restart = if c.restart_policy.name.is_empty() { "no" } else { c.restart_policy.name.as_str() };
    let mut h = json!({
        "Binds": nil_if_empty(&binds), "ContainerIDFile": "",
        "LogConfig": {"Type": c.log.driver, "Config": c.log.config},
        "NetworkMode": network_mode(c), "PortBindings": port_bindings(&o.publish),
        "RestartPolicy": {"Name": restart, "MaximumRetryCount": c.restart_policy.maximum_retry_count},
        "AutoRemove": c.auto_remove, "VolumeDriver": "", "VolumesFrom": null,
        "CapAdd": nil_if_empty(&o.cap_add), "CapDrop": nil_if_empty(&o.cap_drop),
        "CgroupnsMode": if o.cgroupns_mode.is_empty() { "host" } else { o.cgroupns_mode.as_str() },
        "Dns": o.dns, "DnsOptions": o.dns_options, "DnsSearch": o.dns_search,
        "ExtraHosts": nil_if_empty(&o.extra_hosts), "GroupAdd": nil_if_empty(&o.group_add),
        "IpcMode": if o.ipc_mode.is_empty() { "private" } else { o.ipc_mode.as_str() },
        "Cgroup": "", "Links": null, "OomScoreAdj": o.oom_score_adj.unwrap_or(0), "PidMode": o.pid_mode,
        "Privileged": o.privileged, "PublishAllPorts": o.publish_all, "ReadonlyRootfs": o.read_only,
        "SecurityOpt": nil_if_empty(&o.security_opt), "UTSMode": o.uts_mode, "UsernsMode": "",
        "ShmSize": o.shm_size.unwrap_or(64 << 20), "Runtime": c.runtime.name,
        "ConsoleSize": o.console_size.map_or([0, 0], |(r, c)| [r, c]), "Isolation": "",
    });
    // Resources (one macro call is too deep for both halves).
    let resources = json!({
        "CpuShares": o.cpu_shares.unwrap_or(0), "Memory": o.memory.unwrap_or(0),
        "NanoCpus": o.cpus.map(|x| (x * 1e9).round() as i64).unwrap_or(0), "CgroupParent": "",
        "BlkioWeight": o.blkio_weight.unwrap_or(0), "BlkioWeightDevice": [], "BlkioDeviceReadBps": [],
        "BlkioDeviceWriteBps": [], "BlkioDeviceReadIOps": [], "BlkioDeviceWriteIOps": [],
        "CpuPeriod": o.cpu_period.unwrap_or(0), "CpuQuota": o.cpu_quota.unwrap_or(0),
        "CpuRealtimePeriod": 0, "CpuRealtimeRuntime": 0,
        "CpusetCpus": o.cpuset_cpus.clone().unwrap_or_default(), "CpusetMems": o.cpuset_mems.clone().unwrap_or_default(),
        "Devices": o.devices.iter().map(|d| json!({"PathOnHost": d.path_on_host, "PathInContainer": d.path_in_container, "CgroupPermissions": d.permissions})).collect::<Vec<_>>(),
        "DeviceCgroupRules": nil_if_empty(&o.device_cgroup_rules), "DeviceRequests": null, "KernelMemory": 0, "KernelMemoryTCP": 0,
        "MemoryReservation": o.memory_reservation.unwrap_or(0), "MemorySwap": o.memory_swap.unwrap_or(0),
        "MemorySwappiness": o.memory_swappiness, "OomKillDisable": o.oom_kill_disable, "PidsLimit": o.pids_limit,
        "Ulimits": ulimits, "CpuCount": 0, "CpuPercent": 0, "IOMaximumIOps": 0, "IOMaximumBandwidth": 0,
        "MaskedPaths": masked, "ReadonlyPaths": readonly,
    });
    for (k, v) in resources.as_object().into_iter().flatten() {
        h[k] = v.clone();
    }
    // Docker leaves these out unless set (`omitempty`).
    if o.init {
        h["Init"] = json!(true);
    }
    if !o.sysctls.is_empty() {
        h["Sysctls"] = json!(o.sysctls);
    }
    if !tmpfs.is_empty() {
        h["Tmpfs"] = json!(tmpfs);
    }
    if !mounts.is_empty() {
        h["Mounts"] = json!(mounts);
    }
    h
}

/// `Mounts`: what the container has mounted, as Docker lists them.
pub(super) fn mounts(state: &State, c: &Container) -> Vec<Value> {
    c.opts
        .mounts
        .iter()
        .filter(|m| m.typ != "tmpfs")
        .map(|m| {
            let volume = m.typ == "volume";
            let source = match volume {
                true => state.engine.volume(&m.source).map(|v| v.mountpoint.display().to_string()).unwrap_or_default(),
                false => m.source.clone(),
            };
            let mut v = json!({"Type": m.typ, "Source": source, "Destination": m.target,
                "Mode": match (m.from_binds, m.read_only, volume) {
                    (true, true, _) => "ro",
                    (true, false, true) => "z",
                    _ => "",
                }, "RW": !m.read_only,
                "Propagation": if volume { "" } else { "rprivate" }});
            if volume {
                v["Name"] = json!(m.source);
                v["Driver"] = json!("local");
            }
            v
        })
        .collect()
}
/// `NetworkSettings`: configured networks with the live endpoint's addresses.
pub(super) fn network_settings(nets: &Option<wharf_network::Networks>, c: &Container) -> Result<Value, ApiError> {
    let live = matches!(c.state.status, Status::Running | Status::Paused);
    let endpoints = match (nets, live) {
        (Some(n), true) => n.endpoints_of(&c.id)?,
        _ => Vec::new(),
    };
    let mut names = wharf_engine::network::attachments(&c.opts);
    if matches!(c.opts.network.as_str(), "host" | "none") {
        names.push(c.opts.network.clone());
    }
    let mut networks = serde_json::Map::new();
    for name in &names {
        let ep = endpoints.iter().find(|e| &e.network_name == name);
        let network_id = nets.as_ref().and_then(|n| n.get(name).ok()).map(|n| n.id).unwrap_or_default();
        networks.insert(
            name.clone(),
            json!({"IPAMConfig": c.opts.endpoint_settings.get(name).filter(|s| s.ipv4.is_some() || s.ipv6.is_some())
                       .map(|s| json!({"IPv4Address": s.ipv4.clone().unwrap_or_default(), "IPv6Address": s.ipv6.clone().unwrap_or_default()})),
                   "Links": null, "Aliases": ep.map(|e| e.aliases.clone()).or_else(|| c.opts.networks.get(name).cloned()),
                   "NetworkID": network_id, "EndpointID": ep.map(|e| e.id.clone()).unwrap_or_default(),
                   "Gateway": ep.map(|e| e.gateway.clone()).unwrap_or_default(), "IPAddress": ep.map(|e| e.ip.clone()).unwrap_or_default(),
                   "IPPrefixLen": ep.map(|e| e.prefix).unwrap_or(0), "IPv6Gateway": ep.map(|e| e.gateway6.clone()).unwrap_or_default(),
                   "GlobalIPv6Address": ep.map(|e| e.ip6.clone()).unwrap_or_default(), "GlobalIPv6PrefixLen": ep.map(|e| e.prefix6).unwrap_or(0),
                   "MacAddress": ep.map(|e| e.mac.clone()).unwrap_or_default(), "DriverOpts": null}),
        );
    }
    let mut ports: BTreeMap<String, Value> = BTreeMap::new();
    if live {
        for (k, v) in port_bindings(&c.state.ports) {
            ports.insert(
                k,
                json!(v
                    .into_iter()
                    .map(|mut b| {
                        if b["HostIp"] == "" {
                            b["HostIp"] = json!("0.0.0.0");
                        }
                        b
                    })
                    .collect::<Vec<_>>()),
            );
        }
    }
    let first = endpoints.first();
    Ok(json!({"Networks": networks, "Ports": ports, "Bridge": "", "SandboxID": "", "HairpinMode": false,
           "LinkLocalIPv6Address": "", "LinkLocalIPv6PrefixLen": 0, "SecondaryIPAddresses": null, "SecondaryIPv6Addresses": null,
           "SandboxKey": if first.is_some() { format!("/run/netns/{}", wharf_network::Networks::sandbox_name(&c.id)) } else { String::new() },
           "IPAddress": first.map(|e| e.ip.clone()).unwrap_or_default(), "IPPrefixLen": first.map(|e| e.prefix).unwrap_or(0),
           "Gateway": first.map(|e| e.gateway.clone()).unwrap_or_default(), "MacAddress": first.map(|e| e.mac.clone()).unwrap_or_default(),
           "GlobalIPv6Address": first.map(|e| e.ip6.clone()).unwrap_or_default(), "GlobalIPv6PrefixLen": first.map(|e| e.prefix6).unwrap_or(0),
           "IPv6Gateway": first.map(|e| e.gateway6.clone()).unwrap_or_default(), "EndpointID": first.map(|e| e.id.clone()).unwrap_or_default()}))
}

/// `GraphDriver.Data`: where the container's layers are on the host (none
/// for a driver without such directories, as Docker's vfs).
fn graph_data(state: &State, c: &Container) -> Value {
    let images = &state.engine.images;
    let mut dirs = images.snapshots.active_dirs(&c.id);
    if dirs.is_empty() {
        return Value::Null;
    }
    // Not started yet: no view, but the image's layers are its lower ones.
    if !dirs.contains_key("LowerDir") {
        let top = images.resolve(&c.image_id).ok().and_then(|(_, img)| img.chain_ids().last().cloned());
        if let Some(d) = top.map(|t| images.snapshots.committed_dirs(&t)) {
            let lower: Vec<&String> = d.get("UpperDir").into_iter().chain(d.get("LowerDir")).collect();
            if !lower.is_empty() {
                dirs.insert("LowerDir".into(), lower.iter().map(|s| s.as_str()).collect::<Vec<_>>().join(":"));
            }
        }
    }
    let merged = state.engine.root().join("containers").join(&c.id).join("rootfs");
    dirs.insert("MergedDir".into(), merged.display().to_string());
    json!(dirs)
}

pub async fn inspect(state: Arc<State>, id: &str, q: &Query) -> Reply {
    let c = super::containers::get(&state, id).await?;
    let st = state.clone();
    let dir = state.engine.root().join("containers").join(&c.id);
    let (nets, etc) = blocking(move || {
        // Docker reports these once the container has them (after a start).
        let path = |name: &str| {
            let p = dir.join(name);
            if p.is_file() {
                p.display().to_string()
            } else {
                String::new()
            }
        };
        Ok((st.engine.networks().ok(), [path("resolv.conf"), path("hostname"), path("hosts")]))
    })
    .await?;
    let s = &c.state;
    let args = {
        let mut a = c.opts.entrypoint.clone().unwrap_or_default();
        a.extend(c.opts.cmd.clone());
        a
    };
    let health = wharf_engine::health::load(state.engine.root(), &c.id);
    let never = || "0001-01-01T00:00:00Z".to_string();
    let running = matches!(s.status, Status::Running | Status::Paused);
    let exec_ids = state.sup.execs.of_container(&c.id);
    let driver = wharf_engine::driver_of_snapshotter(state.engine.images.snapshotter_name());
    let cfg = &c.config;
    let mut config = json!({
        "Hostname": c.opts.hostname.clone().unwrap_or_else(|| c.id[..12].to_string()),
        "Domainname": c.opts.domainname.clone().unwrap_or_default(), "User": cfg.user.clone().unwrap_or_default(),
        "AttachStdin": c.open_stdin && c.stdin_once, "AttachStdout": true, "AttachStderr": true,
        "Tty": c.opts.tty, "OpenStdin": c.open_stdin, "StdinOnce": c.stdin_once,
        "Env": cfg.env.clone().filter(|e| !e.is_empty()), "Cmd": cfg.cmd, "Image": c.image,
        "Volumes": cfg.volumes, "WorkingDir": cfg.working_dir.clone().unwrap_or_default(), "Entrypoint": cfg.entrypoint,
        "OnBuild": cfg.extra.get("OnBuild").cloned().unwrap_or(Value::Null), "Labels": c.labels,
    });
    if let Some(p) = cfg.exposed_ports.as_ref().filter(|p| !p.is_empty()) {
        config["ExposedPorts"] = json!(p);
    }
    if let Some(hc) = &c.healthcheck {
        config["Healthcheck"] = json!(hc);
    }
    if let Some(sig) = &c.stop_signal {
        config["StopSignal"] = json!(sig);
    }
    if let Some(t) = c.stop_timeout {
        config["StopTimeout"] = json!(t);
    }
    let mut v = json!({
        "Id": c.id, "Created": c.created, "Path": args.first().cloned().unwrap_or_default(), "Args": args.iter().skip(1).collect::<Vec<_>>(),
        "State": {"Status": s.status.to_string(), "Running": running,
                  "Paused": s.status == Status::Paused, "Restarting": s.status == Status::Restarting, "OOMKilled": s.oom_killed, "Dead": s.status == Status::Dead,
                  "Pid": s.pid, "ExitCode": s.exit_code, "Error": s.error,
                  "StartedAt": s.started_at.clone().unwrap_or_else(never), "FinishedAt": s.finished_at.clone().unwrap_or_else(never)},
        "Image": c.image_id, "ResolvConfPath": etc[0], "HostnamePath": etc[1], "HostsPath": etc[2],
        "LogPath": c.log_path(state.engine.root()).unwrap_or_default(),
        "Name": format!("/{}", c.name), "RestartCount": c.restart_count, "Driver": driver, "Platform": "linux",
        "MountLabel": "", "ProcessLabel": "", "AppArmorProfile": "", "ExecIDs": nil_if_empty(&exec_ids),
        "HostConfig": host_config(&c),
        "GraphDriver": {"Data": graph_data(&state, &c), "Name": driver},
        "Mounts": mounts(&state, &c),
        "Config": config,
        "NetworkSettings": network_settings(&nets, &c)?,
    });
    if c.healthcheck.is_some() && matches!(s.status, Status::Running | Status::Paused | Status::Restarting) {
        v["State"]["Health"] = json!(health.unwrap_or_default());
    }
    if q.flag("size") {
        let sizes = super::changes::sizes(&state, vec![(c.id.clone(), c.image_id.clone())]).await?;
        if let Some((rw, rootfs)) = sizes.get(&c.id) {
            v["SizeRw"] = json!(rw);
            v["SizeRootFs"] = json!(rootfs);
        }
    }
    json(StatusCode::OK, &v)
}
