//! The image commands' one interface, [`ImageEngine`], with two
//! implementations: [`super::local::Local`] on the image library (no daemon,
//! or `--data-root`) and [`super::remote::Remote`] through the Engine API.
//! The commands (`mod.rs`) print what either returns, so each command's
//! output is written once.

use std::io::{Read, Write};
use std::path::Path;

use anyhow::{bail, Result};
use serde_json::Value;

use super::progress::Renderer;

/// One row of `images`: an image under one of its names.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ImageLine {
    pub repository: String,
    pub tag: String,
    /// `sha256:…`, full.
    pub id: String,
    /// The manifest digest the name points to (`<none>` if unknown).
    pub digest: String,
    /// RFC 3339.
    pub created: Option<String>,
    pub size: u64,
}

/// One row of `history`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct HistoryLine {
    /// The image id on the newest entry, `<missing>` below it.
    pub id: String,
    pub created: Option<String>,
    pub created_by: String,
    pub size: u64,
    pub comment: String,
}

/// What `system df` shows.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct DiskUsage {
    pub images: usize,
    pub images_active: usize,
    pub images_size: u64,
    pub images_reclaimable: u64,
    pub containers: usize,
    pub containers_running: usize,
    pub volumes: usize,
    pub volumes_active: usize,
    pub volumes_size: u64,
    pub volumes_reclaimable: u64,
}

pub trait ImageEngine {
    /// Every image under each of its names (`all`: intermediate ones too), newest first.
    fn list(&self, all: bool) -> Result<Vec<ImageLine>>;
    fn tag(&self, source: &str, target: &str) -> Result<()>;
    /// `rmi`: the `Untagged: …`/`Deleted: …` lines.
    fn remove(&self, name: &str, force: bool) -> Result<Vec<String>>;
    /// Docker's image inspect shape; `None` for an unknown image.
    fn inspect(&self, name: &str) -> Result<Option<Value>>;
    fn history(&self, name: &str) -> Result<Vec<HistoryLine>>;
    /// Removes dangling (`all`: unused) images: the `untagged:`/`deleted:` lines and the bytes freed.
    fn prune(&self, all: bool) -> Result<(Vec<String>, u64)>;
    /// A root filesystem tarball as a new image (`changes`: Dockerfile instructions); its id.
    fn import(
        &self,
        tarball: Box<dyn Read + Send>,
        reference: Option<&str>,
        changes: &[String],
        message: Option<&str>,
    ) -> Result<String>;
    /// Loads an archive (a file, an OCI layout directory, or stdin); the names (or ids) loaded.
    fn load(&self, input: Option<&Path>, progress: &Renderer) -> Result<Vec<String>>;
    /// Writes the images as one archive (`docker`, `docker-legacy` or `oci`).
    fn save(&self, names: &[String], format: &str, out: &mut dyn Write) -> Result<()>;
    /// Writes the images as an OCI layout directory.
    fn save_dir(&self, _names: &[String], _dir: &Path) -> Result<()> {
        bail!("--format oci-dir writes a directory on this machine: use it without a daemon (--data-root)")
    }
    fn pull(&self, name: &str, platform: Option<&str>, progress: &Renderer) -> Result<()>;
    /// The pushed manifest's digest, when known.
    fn push(&self, name: &str, progress: &Renderer) -> Result<Option<String>>;
    fn disk_usage(&self) -> Result<DiskUsage>;
}
