//! Running a container from an image in the foreground, without a daemon:
//! the bundle is prepared as for any container (`bundle.rs`), the built-in
//! runtime runs it in this process, and everything is removed when it exits.

use std::fs;
use std::path::{Path, PathBuf};

use wharf_image::snapshot::Snapshotter;
use wharf_runtime::CreateOptions;

use crate::error::Result;
use crate::{Engine, RunOptions};

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
            self.engine.host().unmount(&r);
        }
        let _ = self.engine.images.snapshots.remove_active(&self.id);
        let _ = fs::remove_dir_all(self.engine.root().join("containers").join(&self.id));
        for v in &self.volumes {
            let _ = self.engine.remove_volume(v, true);
        }
    }
}

impl Engine {
    /// Runs a container in the foreground and removes it afterwards; returns
    /// the exit code. Forks: call from a single-threaded process. `exe` is
    /// the `wharf` binary (port proxies run as `wharf proxy`).
    pub fn run(&self, opts: &RunOptions, exe: &Path) -> Result<i32> {
        let id = wharf_common::ids::new_id();
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
        teardown.proxies = self.publish(exe, &id, &opts, &wired.endpoints)?.0;
        let code = self.native().run(&id, &CreateOptions { bundle: dir, ..Default::default() }, false)?;
        drop(teardown);
        Ok(code)
    }
}
