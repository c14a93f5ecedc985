//! The build cache: a step's key (its parent image, the stage's config and
//! the step itself, COPY content included) → the image it produced, one
//! file per entry under `<image-root>/build-cache/`. Entries whose image was
//! removed are misses; `prune` (`POST /build/prune`, `docker builder
//! prune`) drops entries and the untagged images only they kept.

use std::path::PathBuf;
use std::time::SystemTime;

use wharf_image::manifest::Descriptor;
use wharf_image::{Image, Images};

use crate::error::{BuildError, Result};

fn dir(images: &Images) -> PathBuf {
    images.root().join("build-cache")
}

/// The image cached under `key`, if it still exists.
pub(crate) fn get(images: &Images, key: &str) -> Option<Image> {
    let path = dir(images).join(key);
    let data = wharf_common::confined::read_bounded(std::fs::File::open(&path).ok()?, 1 << 16, &path).ok()?;
    let desc: Descriptor = serde_json::from_slice(&data).ok()?;
    images.image(&desc).ok()
}

/// Records `img` under `key` (best effort: a cache that cannot be written is a miss later).
pub(crate) fn put(images: &Images, key: &str, img: &Image) {
    let dir = dir(images);
    if std::fs::create_dir_all(&dir).is_ok() {
        if let Ok(data) = serde_json::to_vec(&img.target) {
            let _ = std::fs::write(dir.join(key), data);
        }
    }
}

/// What a prune removed: the cache entries, and the bytes freed.
#[derive(Debug, Default)]
pub struct Pruned {
    pub entries: Vec<String>,
    pub bytes: u64,
}

/// Drops the cache entries recorded before `until` (all without it), then
/// the untagged images only they referred to that `in_use` does not hold.
pub fn prune(images: &Images, until: Option<SystemTime>, in_use: &dyn Fn(&Image) -> bool) -> Result<Pruned> {
    let dir = dir(images);
    let mut out = Pruned::default();
    let mut cached = Vec::new();
    let entries = match std::fs::read_dir(&dir) {
        Ok(e) => e,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(out),
        Err(source) => return Err(BuildError::Io { path: dir, source }),
    };
    for entry in entries.flatten() {
        let path = entry.path();
        let old_enough = match until {
            None => true,
            Some(t) => entry.metadata().and_then(|m| m.modified()).is_ok_and(|m| m < t),
        };
        if !old_enough {
            continue;
        }
        let key = entry.file_name().to_string_lossy().into_owned();
        if let Some(img) = get(images, &key) {
            cached.push(img.config_digest.clone());
        }
        std::fs::remove_file(&path).map_err(|source| BuildError::Io { path: path.clone(), source })?;
        out.entries.push(key);
    }
    let keep = |img: &Image| !cached.contains(&img.config_digest) || in_use(img) || still_cached(images, img);
    let (_, freed) = images.prune(false, &keep)?;
    out.bytes = freed.bytes;
    Ok(out)
}

/// Whether an entry left in the cache still refers to `img`.
fn still_cached(images: &Images, img: &Image) -> bool {
    let Ok(entries) = std::fs::read_dir(dir(images)) else { return false };
    entries.flatten().any(|e| get(images, &e.file_name().to_string_lossy()).is_some_and(|c| c.target == img.target))
}
