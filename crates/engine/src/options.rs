//! What a container is asked to be: Docker's `run`/`create` options, already
//! parsed (by the CLI or the API), as the engine keeps them in its records.

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
    pub mounts: Vec<crate::volumes::MountRequest>,
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
    pub publish: Vec<crate::network::PortBinding>,
    /// Publish every exposed port (the image's too) on a free host port.
    pub publish_all: bool,
    /// `name:ip` entries for /etc/hosts.
    pub extra_hosts: Vec<String>,
    pub dns: Vec<String>,
    /// Relative CPU weight (`--cpu-shares`, cgroup v1 `cpu.shares`).
    pub cpu_shares: Option<i64>,
    /// Size of /dev/shm in bytes (`--shm-size`; Docker's default is 64 MiB).
    pub shm_size: Option<i64>,
    /// Docker's `--security-opt` values (see [`crate::security::parse`]).
    pub security_opt: Vec<String>,
    /// Namespaced kernel parameters (`--sysctl`), checked by Docker's rules.
    pub sysctls: std::collections::BTreeMap<String, String>,
}
