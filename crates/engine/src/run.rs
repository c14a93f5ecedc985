//! Running a container from an image in the foreground, without a daemon:
//! the root filesystem is an overlay of the image's snapshots plus a
//! writable layer, the bundle lives under `<data-root>/containers/<id>`, and
//! everything is removed when the process exits.

use std::fs;
use std::io::Read;
use std::path::{Path, PathBuf};

use nix::mount::{mount, umount2, MntFlags, MsFlags};
use oci_spec::runtime::{Mount, MountBuilder};
use wharf_image::snapshot::Snapshotter;
use wharf_image::Images;
use wharf_runtime::{CreateOptions, Native};

use crate::error::{EngineError, Result};
use crate::{spec, user};

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

pub struct Engine {
    root: PathBuf,
    pub images: Images,
    runtime: Native,
    /// Opened on first use (then kept: opening reads the store).
    pub(crate) networks: std::sync::OnceLock<wharf_network::Networks>,
}

/// A fresh 64-hex-digit container id.
pub fn new_id() -> Result<String> {
    let mut bytes = [0u8; 32];
    fs::File::open("/dev/urandom")
        .and_then(|mut f| f.read_exact(&mut bytes))
        .map_err(EngineError::io("read", "/dev/urandom"))?;
    Ok(bytes.iter().map(|b| format!("{b:02x}")).collect())
}

/// Undoes what `run` set up, in reverse, whatever happened.
struct Teardown<'a> {
    engine: &'a Engine,
    id: String,
    rootfs: Option<PathBuf>,
    /// Anonymous volumes made for this run (removed with it).
    volumes: Vec<String>,
    proxies: Vec<std::process::Child>,
}

impl Drop for Teardown<'_> {
    fn drop(&mut self) {
        for p in &mut self.proxies {
            let _ = p.kill();
            let _ = p.wait();
        }
        self.engine.unwire(&self.id);
        if let Some(r) = self.rootfs.take() {
            if let Err(e) = umount2(&r, MntFlags::MNT_DETACH) {
                tracing::warn!("unmount {}: {e}", r.display());
            }
        }
        let _ = self.engine.images.snapshots.remove_active(&self.id);
        let _ = fs::remove_dir_all(self.engine.root.join("containers").join(&self.id));
        for v in &self.volumes {
            let _ = self.engine.remove_volume(v, true);
        }
    }
}

impl Engine {
    pub fn open(data_root: &Path) -> Result<Self> {
        Ok(Engine {
            root: data_root.to_path_buf(),
            images: Images::open(data_root.join("image"))?,
            runtime: Native::new(data_root.join("runtime")),
            networks: std::sync::OnceLock::new(),
        })
    }

    pub(crate) fn mount_rootfs(&self, specs: &[wharf_image::snapshot::MountSpec], target: &Path) -> Result<()> {
        fs::create_dir_all(target).map_err(EngineError::io("create", target))?;
        let m = specs
            .first()
            .ok_or_else(|| EngineError::Invalid { what: "snapshot".into(), reason: "no mounts".into() })?;
        let result = if m.typ == "bind" {
            mount(Some(m.source.as_str()), target, None::<&str>, MsFlags::MS_BIND | MsFlags::MS_REC, None::<&str>)
        } else {
            let data = m.options.join(",");
            mount(Some(m.source.as_str()), target, Some(m.typ.as_str()), MsFlags::empty(), Some(data.as_str()))
        };
        result.map_err(|e| EngineError::Io { context: "mount rootfs", path: target.to_path_buf(), source: e.into() })
    }

    /// Files Docker bind-mounts into every container.
    fn etc_files(&self, id: &str, dir: &Path, hostname: &str, opts: &RunOptions) -> Result<Vec<Mount>> {
        let files = [
            ("hostname", format!("{hostname}\n")),
            ("hosts", self.hosts_file(id, hostname, opts)?),
            ("resolv.conf", Self::resolv_conf(opts)),
        ];
        let mut mounts = Vec::new();
        for (name, content) in files {
            let path = dir.join(name);
            fs::write(&path, content).map_err(EngineError::io("write", &path))?;
            let m = MountBuilder::default()
                .destination(format!("/etc/{name}"))
                .typ("bind")
                .source(path)
                .options(vec!["rbind".to_string(), "rprivate".to_string()])
                .build()
                .map_err(|e| EngineError::Invalid { what: "mount".into(), reason: e.to_string() })?;
            mounts.push(m);
        }
        Ok(mounts)
    }

    /// Docker's copy-up: an empty volume mounted over a directory of the
    /// image gets that directory's content (and its owner and mode) first,
    /// read from the rootfs through the confined resolver
    /// ([`crate::archive::copy_up`]).
    fn copy_up_volumes(&self, rootfs: &Path, mounts: &[crate::volumes::MountRequest]) -> Result<()> {
        let root = wharf_runtime::confined::Root::open(rootfs)?;
        for m in mounts.iter().filter(|m| m.typ == "volume") {
            let data = self.volume(&m.source)?.mountpoint;
            let empty = fs::read_dir(&data).map(|mut d| d.next().is_none()).unwrap_or(false);
            if empty {
                crate::archive::copy_up(&root, Path::new(&m.target), &data)?;
            }
        }
        Ok(())
    }

    /// OCI mounts for a container's requested mounts (volumes resolved to their data dirs).
    fn volume_mounts(&self, requests: &[crate::volumes::MountRequest]) -> Result<Vec<Mount>> {
        let mut out = Vec::new();
        for m in requests {
            let (typ, source, mut options) = match m.typ.as_str() {
                "bind" => ("bind", PathBuf::from(&m.source), vec!["rbind".to_string(), "rprivate".to_string()]),
                "volume" => {
                    ("bind", self.volume(&m.source)?.mountpoint, vec!["rbind".to_string(), "rprivate".to_string()])
                }
                "tmpfs" => (
                    "tmpfs",
                    PathBuf::from("tmpfs"),
                    vec!["nosuid".to_string(), "nodev".to_string(), "mode=1777".to_string()],
                ),
                other => {
                    return Err(EngineError::Invalid {
                        what: "mount".into(),
                        reason: format!("mount type {other:?} is not supported"),
                    })
                }
            };
            options.push(if m.read_only { "ro".into() } else { "rw".into() });
            let mount = MountBuilder::default()
                .destination(m.target.clone())
                .typ(typ)
                .source(source)
                .options(options)
                .build()
                .map_err(|e| EngineError::Invalid { what: "mount".into(), reason: e.to_string() })?;
            out.push(mount);
        }
        Ok(out)
    }

    pub fn root(&self) -> &Path {
        &self.root
    }

    pub fn runtime(&self) -> &Native {
        &self.runtime
    }

    /// Mounts the container's root filesystem (its writable layer over the
    /// image) and writes `config.json` into its directory, which becomes the
    /// OCI bundle. Returns the bundle directory.
    pub fn prepare_bundle(&self, id: &str, name: &str, opts: &RunOptions) -> Result<(PathBuf, crate::network::Wired)> {
        let (_, img) = self.images.resolve(&opts.image)?;
        let dir = self.root.join("containers").join(id);
        fs::create_dir_all(&dir).map_err(EngineError::io("create", &dir))?;
        let specs = self.images.prepare_rootfs(id, &img)?;
        let rootfs = dir.join("rootfs");
        self.mount_rootfs(&specs, &rootfs)?;
        let wired = match self.wire(id, name, opts) {
            Ok(w) => w,
            Err(e) => {
                let _ = umount2(&rootfs, MntFlags::MNT_DETACH);
                return Err(e);
            }
        };
        let result = (|| {
            let run_config = Images::run_config(&img);
            let user_spec = opts.user.clone().or(run_config.user.clone()).unwrap_or_default();
            let resolved = user::resolve(&rootfs, &user_spec)?;
            let hostname = match (&opts.hostname, crate::network::mode(opts)) {
                (Some(h), _) => h.clone(),
                (None, crate::network::Mode::Host) => nix::unistd::gethostname()
                    .map(|h| h.to_string_lossy().into_owned())
                    .unwrap_or_else(|_| id[..12].to_string()),
                (None, _) => id[..12].to_string(),
            };
            self.copy_up_volumes(&rootfs, &opts.mounts)?;
            let mut mounts = self.etc_files(id, &dir, &hostname, opts)?;
            mounts.extend(self.volume_mounts(&opts.mounts)?);
            let mut spec = spec::build(
                id,
                &run_config,
                &RunOptions { hostname: Some(hostname), ..opts.clone() },
                &rootfs,
                &resolved,
                mounts,
            )?;
            spec::set_network_namespace(&mut spec, crate::network::mode(opts), wired.netns.as_deref());
            // Docker creates a missing working directory, owned by the container's user.
            if let Some(cwd) = spec.process().as_ref().map(|p| p.cwd().clone()) {
                let path = wharf_runtime::mounts::secure_join(&rootfs, &cwd)?;
                if !path.exists() {
                    fs::create_dir_all(&path).map_err(EngineError::io("create working directory", &path))?;
                    std::os::unix::fs::chown(&path, Some(resolved.uid), Some(resolved.gid))
                        .map_err(EngineError::io("chown", &path))?;
                }
            }
            let data = serde_json::to_vec(&spec)
                .map_err(|e| EngineError::Invalid { what: "spec".into(), reason: e.to_string() })?;
            fs::write(dir.join("config.json"), data).map_err(EngineError::io("write", dir.join("config.json")))
        })();
        if let Err(e) = result {
            self.unwire(id);
            let _ = umount2(&rootfs, MntFlags::MNT_DETACH);
            return Err(e);
        }
        Ok((dir, wired))
    }

    /// Runs a container in the foreground and removes it afterwards; returns
    /// the exit code. Forks: call from a single-threaded process. `exe` is
    /// the `wharf` binary (port proxies run as `wharf proxy`).
    pub fn run(&self, opts: &RunOptions, exe: &Path) -> Result<i32> {
        let id = new_id()?;
        let mut opts = opts.clone();
        crate::network::with_primary(&mut opts);
        self.check_network(&opts)?;
        self.resolve_mounts(&mut opts.mounts)?;
        let anonymous: Vec<String> = opts
            .mounts
            .iter()
            .filter(|m| m.typ == "volume")
            .map(|m| m.source.clone())
            .filter(|n| self.volume(n).map(|v| v.anonymous).unwrap_or(false))
            .collect();
        let mut teardown =
            Teardown { engine: self, id: id.clone(), rootfs: None, volumes: anonymous, proxies: Vec::new() };
        let (dir, wired) = self.prepare_bundle(&id, "", &opts)?;
        teardown.rootfs = Some(dir.join("rootfs"));
        teardown.proxies = self.publish(exe, &opts, &wired.endpoints)?.0;
        let code = self.runtime.run(&id, &CreateOptions { bundle: dir, ..Default::default() }, false)?;
        drop(teardown);
        Ok(code)
    }
}
