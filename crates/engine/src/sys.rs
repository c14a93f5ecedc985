//! The engine's kernel calls behind a trait: mounting a container's root
//! filesystem from its snapshot's mount specs, and unmounting it. The real
//! [`Kernel`] mounts; [`FakeHost`] records, so the lifecycle above it
//! (create, start, restart, exec, logs, remove) is unit-tested without root.

use std::collections::BTreeSet;
use std::fs;
use std::path::{Path, PathBuf};
use std::sync::Mutex;

use nix::mount::{mount, umount2, MntFlags, MsFlags};
use wharf_image::snapshot::MountSpec;

use crate::error::{EngineError, Result};

pub trait Host: Send + Sync {
    /// Mounts a snapshot's first mount spec (bind or overlay) on `target`, creating it.
    fn mount_rootfs(&self, specs: &[MountSpec], target: &Path) -> Result<()>;
    /// Lazily unmounts `target`; a target that is not mounted is fine.
    fn unmount(&self, target: &Path);
}

/// The running kernel.
#[derive(Debug, Default)]
pub struct Kernel;

impl Host for Kernel {
    fn mount_rootfs(&self, specs: &[MountSpec], target: &Path) -> Result<()> {
        fs::create_dir_all(target).map_err(EngineError::io("create", target))?;
        let m = first(specs)?;
        let result = if m.typ == "bind" {
            mount(Some(m.source.as_str()), target, None::<&str>, MsFlags::MS_BIND | MsFlags::MS_REC, None::<&str>)
        } else {
            let data = m.options.join(",");
            mount(Some(m.source.as_str()), target, Some(m.typ.as_str()), MsFlags::empty(), Some(data.as_str()))
        };
        result.map_err(|e| EngineError::Io { context: "mount rootfs", path: target.to_path_buf(), source: e.into() })
    }

    fn unmount(&self, target: &Path) {
        let _ = umount2(target, MntFlags::MNT_DETACH);
    }
}

fn first(specs: &[MountSpec]) -> Result<&MountSpec> {
    specs.first().ok_or_else(|| EngineError::Invalid { what: "snapshot".into(), reason: "no mounts".into() })
}

/// Mounts nothing and remembers what would be mounted (a test's view of the kernel).
#[derive(Debug, Default)]
pub struct FakeHost {
    mounted: Mutex<BTreeSet<PathBuf>>,
}

impl FakeHost {
    /// Targets mounted and not yet unmounted.
    pub fn mounted(&self) -> Vec<PathBuf> {
        self.mounted.lock().unwrap_or_else(|e| e.into_inner()).iter().cloned().collect()
    }
}

impl Host for FakeHost {
    fn mount_rootfs(&self, specs: &[MountSpec], target: &Path) -> Result<()> {
        first(specs)?;
        fs::create_dir_all(target).map_err(EngineError::io("create", target))?;
        let mut m = self.mounted.lock().unwrap_or_else(|e| e.into_inner());
        if !m.insert(target.to_path_buf()) {
            return Err(EngineError::Conflict(format!("{} is already mounted", target.display())));
        }
        Ok(())
    }

    fn unmount(&self, target: &Path) {
        self.mounted.lock().unwrap_or_else(|e| e.into_inner()).remove(target);
    }
}
