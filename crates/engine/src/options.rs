//! What a container is asked to be: Docker's `run`/`create` options, already
//! parsed (by the CLI or the API), as the engine keeps them in its records.

use std::net::Ipv4Addr;

use serde::{Deserialize, Serialize};

use crate::error::{EngineError, Result};

/// What `run` was asked for (Docker's `run` flags, already parsed).
#[derive(Debug, Clone, Default, serde::Serialize, serde::Deserialize)]
#[serde(default)]
pub struct RunOptions {
    pub image: String,
    pub cmd: Vec<String>,
    pub entrypoint: Option<Vec<String>>,
    pub env: Vec<String>,
    pub workdir: Option<String>,
    pub user: Option<String>,
    pub hostname: Option<String>,
    pub tty: bool,
    pub read_only: bool,
    pub privileged: bool,
    pub cap_add: Vec<String>,
    pub cap_drop: Vec<String>,
    /// Bytes.
    pub memory: Option<i64>,
    pub cpus: Option<f64>,
    pub pids_limit: Option<i64>,
    pub mounts: Vec<MountRequest>,
    /// (name, soft, hard), e.g. ("nofile", 1024, 2048).
    pub ulimits: Vec<(String, u64, u64)>,
    /// CPUs and memory nodes the container may use (`0-2,4`).
    pub cpuset_cpus: Option<String>,
    pub cpuset_mems: Option<String>,
    /// A minimal init as pid 1 that reaps zombies and forwards signals (`--init`).
    pub init: bool,
    /// Network mode: "" or `default` (= `bridge`), a network name, `host`,
    /// `none`, or `container:<id>`.
    pub network: String,
    /// Networks to attach (the primary one included), with their aliases.
    pub networks: std::collections::BTreeMap<String, Vec<String>>,
    /// The address and MAC address asked for on a network (`--ip`,
    /// `--mac-address`, `EndpointsConfig.*.IPAMConfig`), by network name.
    pub endpoint_settings: std::collections::BTreeMap<String, StaticEndpoint>,
    pub publish: Vec<PortBinding>,
    /// Publish every exposed port (the image's too) on a free host port.
    pub publish_all: bool,
    /// `name:ip` entries for /etc/hosts.
    pub extra_hosts: Vec<String>,
    pub dns: Vec<String>,
    /// Relative CPU weight (`--cpu-shares`, cgroup v1 `cpu.shares`).
    pub cpu_shares: Option<i64>,
    /// Size of /dev/shm in bytes (`--shm-size`; Docker's default is 64 MiB).
    pub shm_size: Option<i64>,
    /// Docker's `--security-opt` values (parsed by `security::parse`).
    pub security_opt: Vec<String>,
    /// Namespaced kernel parameters (`--sysctl`), checked by Docker's rules.
    pub sysctls: std::collections::BTreeMap<String, String>,
    /// Namespace modes (`--pid`, `--ipc`, `--uts`, `--cgroupns`): "" is the
    /// default (a namespace of its own), `host` shares the host's; `--ipc`
    /// also takes `private`, `shareable` and `none` (no `/dev/shm`).
    pub pid_mode: String,
    pub ipc_mode: String,
    pub uts_mode: String,
    pub cgroupns_mode: String,
    /// Supplementary groups (`--group-add`): names (from the image's
    /// `/etc/group`) or ids.
    pub group_add: Vec<String>,
    /// Memory + swap in bytes (`--memory-swap`; -1: unlimited swap).
    pub memory_swap: Option<i64>,
    /// Soft limit in bytes (`--memory-reservation`).
    pub memory_reservation: Option<i64>,
    /// 0..=100 (`--memory-swappiness`).
    pub memory_swappiness: Option<i64>,
    pub oom_kill_disable: bool,
    /// -1000..=1000 (`--oom-score-adj`).
    pub oom_score_adj: Option<i32>,
    /// CFS period and quota in microseconds (`--cpu-period`, `--cpu-quota`).
    pub cpu_period: Option<i64>,
    pub cpu_quota: Option<i64>,
    /// 10..=1000 (`--blkio-weight`).
    pub blkio_weight: Option<u16>,
    /// `search` and `options` lines of the container's resolv.conf.
    pub dns_search: Vec<String>,
    pub dns_options: Vec<String>,
    /// The UTS domain name (`--domainname`).
    pub domainname: Option<String>,
    /// The terminal's initial size (rows, columns), for `-t`.
    pub console_size: Option<(u16, u16)>,
    /// Host devices given to the container (`--device`).
    pub devices: Vec<crate::devices::DeviceMapping>,
    /// Extra device cgroup rules (`--device-cgroup-rule`, `c 1:3 rwm`).
    pub device_cgroup_rules: Vec<String>,
}

/// A container's fixed settings on one network.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default)]
pub struct StaticEndpoint {
    pub ipv4: Option<String>,
    /// `--ip6`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub ipv6: Option<String>,
    pub mac: Option<String>,
}

impl StaticEndpoint {
    /// The request for this endpoint, checked (an address, a unicast MAC).
    pub fn request(&self, aliases: Vec<String>) -> Result<wharf_network::EndpointRequest> {
        let ipv4 = match self.ipv4.as_deref().filter(|s| !s.is_empty()) {
            None => None,
            Some(ip) => Some(ip.parse().map_err(|_| EngineError::Invalid {
                what: "IP address".into(),
                reason: format!("{ip:?} is not an IPv4 address"),
            })?),
        };
        let ipv6 = match self.ipv6.as_deref().filter(|s| !s.is_empty()) {
            None => None,
            Some(ip) => Some(ip.parse().map_err(|_| EngineError::Invalid {
                what: "IP address".into(),
                reason: format!("{ip:?} is not an IPv6 address"),
            })?),
        };
        let mac = self.mac.clone().filter(|m| !m.is_empty());
        if let Some(m) = &mac {
            wharf_network::ipam::parse_mac(m)?;
        }
        Ok(wharf_network::EndpointRequest { aliases, ipv4, ipv6, mac, ports: Vec::new() })
    }
}

/// `-p [ip:][host-port:]container-port[/proto]`.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default)]
pub struct PortBinding {
    pub container_port: u16,
    /// `tcp` or `udp`.
    pub proto: String,
    /// Empty: all addresses.
    pub host_ip: String,
    /// 0: any free port (the one chosen is recorded in the container's state).
    pub host_port: u16,
}

impl PortBinding {
    pub fn parse(spec: &str) -> Result<Vec<PortBinding>> {
        let bad = || EngineError::Invalid { what: "port specification".into(), reason: format!("{spec:?}") };
        let (rest, proto) = match spec.rsplit_once('/') {
            Some((r, p)) if p == "tcp" || p == "udp" => (r, p.to_string()),
            Some(_) => return Err(bad()),
            None => (spec, "tcp".to_string()),
        };
        // An IPv6 host address is bracketed: `[::1]:8080:80`, `[::]::80`.
        let (ip, host, ctr) = match rest.strip_prefix('[') {
            Some(r) => {
                let (ip, after) = r.split_once("]:").ok_or_else(bad)?;
                if ip.parse::<std::net::Ipv6Addr>().is_err() {
                    return Err(bad());
                }
                let (h, c) = after.split_once(':').ok_or_else(bad)?;
                (ip, h, c)
            }
            None => {
                let parts: Vec<&str> = rest.split(':').collect();
                let (ip, host, ctr) = match parts.as_slice() {
                    [c] => ("", "", *c),
                    [h, c] => ("", *h, *c),
                    [i, h, c] => (*i, *h, *c),
                    _ => return Err(bad()),
                };
                if !ip.is_empty() && ip.parse::<Ipv4Addr>().is_err() {
                    return Err(bad());
                }
                (ip, host, ctr)
            }
        };
        if ctr.contains(':') {
            return Err(bad());
        }
        let range = |s: &str| -> Result<(u16, u16)> {
            let (a, b) = s.split_once('-').unwrap_or((s, s));
            let (a, b) = (a.parse::<u16>().map_err(|_| bad())?, b.parse::<u16>().map_err(|_| bad())?);
            if a > b {
                return Err(bad());
            }
            Ok((a, b))
        };
        let (c0, c1) = range(ctr)?;
        if c0 == 0 {
            return Err(bad());
        }
        let hosts = if host.is_empty() { None } else { Some(range(host)?) };
        if let Some((h0, h1)) = hosts {
            if h1 - h0 != c1 - c0 {
                return Err(bad());
            }
        }
        Ok((c0..=c1)
            .enumerate()
            .map(|(i, c)| PortBinding {
                container_port: c,
                proto: proto.clone(),
                host_ip: ip.to_string(),
                host_port: hosts.map(|(h0, _)| h0 + i as u16).unwrap_or(0),
            })
            .collect())
    }

    /// Docker's port key: `80/tcp`.
    pub fn key(&self) -> String {
        format!("{}/{}", self.container_port, self.proto)
    }
}

/// One mount of a container, as requested (`-v`, `--mount`, `--tmpfs`, image VOLUME).
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default)]
pub struct MountRequest {
    /// `bind`, `volume` or `tmpfs`.
    pub typ: String,
    /// Host path (bind) or volume name (empty: anonymous volume).
    pub source: String,
    pub target: String,
    pub read_only: bool,
    /// Where the client asked for it (Docker reports each in its place):
    /// `HostConfig.Binds` (`-v`) or `HostConfig.Mounts` (`--mount`); a
    /// tmpfs from neither came from `HostConfig.Tmpfs`.
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub from_binds: bool,
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub from_mounts: bool,
    /// A tmpfs's mount options (`size=64m,mode=1777`), checked.
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub tmpfs_options: String,
}

impl MountRequest {
    /// Docker's `-v` syntax: `/host:/ctr[:ro]`, `name:/ctr[:ro]`, `/ctr`.
    pub fn parse_bind(spec: &str) -> Result<MountRequest> {
        let parts: Vec<&str> = spec.split(':').collect();
        let bad =
            || EngineError::Invalid { what: "volume specification".into(), reason: format!("invalid spec: {spec}") };
        let (source, target, mode) = match parts[..] {
            [t] => ("", t, ""),
            [s, t] => (s, t, ""),
            [s, t, m] => (s, t, m),
            _ => return Err(bad()),
        };
        if !target.starts_with('/') {
            return Err(bad());
        }
        let read_only = mode.split(',').any(|m| m == "ro");
        if mode.split(',').any(|m| {
            !matches!(
                m,
                "" | "ro"
                    | "rw"
                    | "z"
                    | "Z"
                    | "shared"
                    | "rshared"
                    | "slave"
                    | "rslave"
                    | "private"
                    | "rprivate"
                    | "nocopy"
            )
        }) {
            return Err(bad());
        }
        let typ = if source.starts_with('/') { "bind" } else { "volume" };
        Ok(MountRequest {
            typ: typ.into(),
            source: source.into(),
            target: target.into(),
            read_only,
            from_binds: true,
            ..Default::default()
        })
    }
}
