//! Bundle preparation: a container's root filesystem mounted from its
//! image's snapshots plus a writable layer, volume copy-up, the files Docker
//! bind-mounts into every container (`/etc/hostname`, `hosts`,
//! `resolv.conf`), the sandbox wired, and `config.json` written.

use std::fs;
use std::path::{Path, PathBuf};

use oci_spec::runtime::{Mount, MountBuilder};
use wharf_image::Images;

use crate::error::{EngineError, Result};
use crate::{spec, user, Engine, RunOptions};

impl Engine {
    pub(crate) fn mount_rootfs(&self, specs: &[wharf_image::snapshot::MountSpec], target: &Path) -> Result<()> {
        self.host().mount_rootfs(specs, target)
    }

    /// Files Docker bind-mounts into every container.
    fn etc_files(&self, id: &str, dir: &Path, hostname: &str, opts: &RunOptions, dns: bool) -> Result<Vec<Mount>> {
        let files = [
            ("hostname", format!("{hostname}\n")),
            ("hosts", self.hosts_file(id, hostname, opts)?),
            ("resolv.conf", Self::resolv_conf(opts, dns)),
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
                "tmpfs" => ("tmpfs", PathBuf::from("tmpfs"), crate::volumes::tmpfs_options(&m.tmpfs_options)?),
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

    /// Mounts the container's root filesystem (its writable layer over the
    /// image) and writes `config.json` into its directory, which becomes the
    /// OCI bundle. Returns the bundle directory.
    pub fn prepare_bundle(&self, id: &str, name: &str, opts: &RunOptions) -> Result<(PathBuf, crate::network::Wired)> {
        let (_, img) = self.images.resolve(&opts.image)?;
        let dir = self.root().join("containers").join(id);
        fs::create_dir_all(&dir).map_err(EngineError::io("create", &dir))?;
        let specs = self.images.prepare_rootfs(id, &img)?;
        let rootfs = dir.join("rootfs");
        self.mount_rootfs(&specs, &rootfs)?;
        let wired = match self.wire(id, name, opts) {
            Ok(w) => w,
            Err(e) => {
                self.host().unmount(&rootfs);
                return Err(e);
            }
        };
        let result = (|| {
            let run_config = Images::run_config(&img);
            let user_spec = opts.user.clone().or(run_config.user.clone()).unwrap_or_default();
            let resolved = user::resolve(&rootfs, &user_spec)?;
            let groups = user::group_ids(&rootfs, &opts.group_add)?;
            let host_uts = opts.uts_mode == "host";
            let hostname = match (&opts.hostname, crate::network::mode(opts)) {
                (Some(h), _) => h.clone(),
                (None, mode) if mode == crate::network::Mode::Host || host_uts => nix::unistd::gethostname()
                    .map(|h| h.to_string_lossy().into_owned())
                    .unwrap_or_else(|_| id[..12].to_string()),
                (None, _) => id[..12].to_string(),
            };
            self.copy_up_volumes(&rootfs, &opts.mounts)?;
            let mut mounts = self.etc_files(id, &dir, &hostname, opts, wired.dns)?;
            mounts.extend(self.volume_mounts(&opts.mounts)?);
            let mut spec = spec::build(
                id,
                &run_config,
                &RunOptions { hostname: Some(hostname), ..opts.clone() },
                &rootfs,
                &resolved,
                mounts,
            )?;
            crate::modes::apply(&mut spec, opts, &groups)?;
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
            self.host().unmount(&rootfs);
            return Err(e);
        }
        Ok((dir, wired))
    }
}
