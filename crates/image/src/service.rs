//! `Images`: the content store, the name database and the snapshotter
//! behind one API — resolve, import, tag, remove, unpack, garbage-collect.

use std::collections::{BTreeMap, BTreeSet};
use std::path::{Path, PathBuf};
use std::sync::Arc;

use serde::Serialize;

use crate::content::{ContentStore, LocalStore};
use crate::digest::Digest;
use crate::error::{ImageError, Result};
use crate::lease::LeaseManager;
use crate::manifest::{self, chain_ids, media, Descriptor, ImageConfig, Index, Manifest, Platform, RunConfig};
use crate::metadata::{ImageDb, ImageRecord};
use crate::reference::Reference;
use crate::snapshot::{self as snapshots, Snapshotter};

/// A resolved, single-platform image.
#[derive(Debug, Clone, Serialize)]
pub struct Image {
    /// The descriptor names point at (may be an index).
    pub target: Descriptor,
    /// The platform manifest actually used.
    pub manifest_digest: Digest,
    pub manifest: Manifest,
    /// Docker's image ID.
    pub config_digest: Digest,
    pub config: ImageConfig,
}

impl Image {
    pub fn id(&self) -> &Digest {
        &self.config_digest
    }

    /// Bytes of the layers as stored (compressed sizes).
    pub fn size(&self) -> u64 {
        self.manifest.layers.iter().map(|l| l.size).sum()
    }

    pub fn chain_ids(&self) -> Vec<Digest> {
        chain_ids(&self.config.rootfs.diff_ids)
    }
}

/// One row of `images`.
#[derive(Debug, Clone, Serialize)]
pub struct Summary {
    pub repository: String,
    pub tag: String,
    pub id: Digest,
    pub digest: Digest,
    pub created: Option<String>,
    pub size: u64,
}

/// What `system df` reports for images.
#[derive(Debug, Clone, Default, Serialize)]
pub struct DiskUsage {
    pub images: usize,
    pub blobs: usize,
    pub blob_bytes: u64,
    pub snapshots: usize,
    pub snapshot_bytes: u64,
}

/// What a GC pass freed.
#[derive(Debug, Clone, Default, Serialize, PartialEq, Eq)]
pub struct Freed {
    pub blobs: Vec<Digest>,
    pub snapshots: Vec<Digest>,
    pub bytes: u64,
}

/// How `Images::open_with` sets the store up.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Options {
    /// The snapshotter by name: `overlay` (the default) or `native`.
    pub snapshotter: String,
}

impl Default for Options {
    fn default() -> Self {
        Options { snapshotter: snapshots::NAMES[0].to_string() }
    }
}

pub struct Images {
    pub content: Arc<dyn ContentStore>,
    pub db: ImageDb,
    pub snapshots: Arc<dyn Snapshotter>,
    /// What operations in progress hold (`lease.rs`); GC keeps it.
    pub leases: LeaseManager,
    pub platform: Platform,
    root: PathBuf,
    /// The snapshotter's name (`custom` for stores given by the caller).
    snapshotter: String,
}

/// Where a store records its snapshotter.
const SNAPSHOTTER_FILE: &str = "snapshotter";
const NAMES_DEFAULT: &str = snapshots::NAMES[0];

/// The snapshotter a store was created with, if it recorded one.
fn recorded_snapshotter(root: &std::path::Path) -> Result<Option<String>> {
    let file = root.join(SNAPSHOTTER_FILE);
    match std::fs::read_to_string(&file) {
        Ok(s) => Ok(Some(s.trim().to_string())),
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(None),
        Err(e) => Err(ImageError::io("read", &file)(e)),
    }
}

pub(crate) fn dangling_name(d: &Digest) -> String {
    format!("@{d}")
}

impl Images {
    /// Opens (creating) the image store under `root` with the snapshotter
    /// it was created with (overlay for a new store).
    pub fn open(root: impl Into<PathBuf>) -> Result<Self> {
        let root = root.into();
        let snapshotter = recorded_snapshotter(&root)?.unwrap_or_else(|| Options::default().snapshotter);
        Self::open_with(root, Options { snapshotter })
    }

    /// Opens (creating) the image store under `root` with `opts`' snapshotter
    /// (overlay in `snapshots/`, any other in `snapshots-<name>/`). A store
    /// keeps the snapshotter it was created with (recorded in
    /// `<root>/snapshotter`, so every process opening it agrees); asking for
    /// another one is an error, not a store whose images cannot run.
    pub fn open_with(root: impl Into<PathBuf>, opts: Options) -> Result<Self> {
        let root = root.into();
        let recorded = recorded_snapshotter(&root)?;
        match recorded {
            Some(r) if r != opts.snapshotter => {
                return Err(ImageError::SnapshotterMismatch { root, recorded: r, requested: opts.snapshotter })
            }
            Some(_) => {}
            None => {
                // A store from before the record is an overlay one.
                let existing = root.join("metadata").exists();
                if existing && opts.snapshotter != NAMES_DEFAULT {
                    return Err(ImageError::SnapshotterMismatch {
                        root,
                        recorded: NAMES_DEFAULT.into(),
                        requested: opts.snapshotter,
                    });
                }
                if !snapshots::NAMES.contains(&opts.snapshotter.as_str()) {
                    return Err(ImageError::UnknownSnapshotter(opts.snapshotter));
                }
                std::fs::create_dir_all(&root).map_err(ImageError::io("create", &root))?;
                let file = root.join(SNAPSHOTTER_FILE);
                std::fs::write(&file, opts.snapshotter.as_bytes()).map_err(ImageError::io("write", &file))?;
            }
        }
        let dir = match opts.snapshotter.as_str() {
            "overlay" => root.join("snapshots"),
            name => root.join(format!("snapshots-{name}")),
        };
        let snapshots = snapshots::open(&opts.snapshotter, &dir)?;
        let mut images = Self::with_stores(root.clone(), Arc::new(LocalStore::open(root.join("content"))?), snapshots)?;
        images.snapshotter = opts.snapshotter;
        Ok(images)
    }

    /// The snapshotter's name (`overlay`, `native`; `custom` for given stores).
    pub fn snapshotter_name(&self) -> &str {
        &self.snapshotter
    }

    /// An image service over given stores (fakes in tests); names, leases and
    /// temporary files still live under `root`.
    pub fn with_stores(
        root: impl Into<PathBuf>,
        content: Arc<dyn ContentStore>,
        snapshots: Arc<dyn Snapshotter>,
    ) -> Result<Self> {
        let root = root.into();
        Ok(Images {
            content,
            db: ImageDb::open(root.join("metadata"))?,
            snapshots,
            leases: LeaseManager::open(root.join("leases"))?,
            platform: Platform::host(),
            root,
            snapshotter: "custom".into(),
        })
    }

    pub fn root(&self) -> &Path {
        &self.root
    }

    /// Follows `target` (an index or a manifest) to this platform's image.
    /// Prefers this machine's platform; an index whose host manifest was never
    /// fetched (`pull --platform`) resolves to the platform that was.
    pub fn image(&self, target: &Descriptor) -> Result<Image> {
        match self.image_for(target, &self.platform) {
            Err(ImageError::BlobNotFound(_)) | Err(ImageError::NoPlatform(..))
                if media::is_index(&target.media_type) =>
            {
                let index: Index = manifest::parse("index", &self.content.read_all(&target.digest)?)?;
                let present = index
                    .manifests
                    .iter()
                    .filter(|d| media::is_manifest(&d.media_type))
                    .find(|d| self.content.stat(&d.digest).ok().flatten().is_some())
                    .and_then(|d| d.platform.clone())
                    .ok_or_else(|| {
                        ImageError::BlobNotFound(format!("no manifest of index {} is present", target.digest))
                    })?;
                self.image_for(target, &present)
            }
            other => other,
        }
    }

    pub fn image_for(&self, target: &Descriptor, platform: &Platform) -> Result<Image> {
        let mut desc = target.clone();
        if media::is_index(&desc.media_type) {
            let index: Index = manifest::parse("index", &self.content.read_all(&desc.digest)?)?;
            desc = index
                .select(platform)
                .cloned()
                .ok_or_else(|| ImageError::NoPlatform(platform.to_string(), target.digest.to_string()))?;
        }
        if !media::is_manifest(&desc.media_type) {
            return Err(ImageError::UnsupportedMediaType(desc.media_type.clone()));
        }
        let manifest: Manifest = manifest::parse("manifest", &self.content.read_all(&desc.digest)?)?;
        let config: ImageConfig = manifest::parse("image config", &self.content.read_all(&manifest.config.digest)?)?;
        if config.rootfs.diff_ids.len() != manifest.layers.len() {
            return Err(ImageError::invalid(
                "image",
                format!("{} layers but {} diff_ids", manifest.layers.len(), config.rootfs.diff_ids.len()),
            ));
        }
        Ok(Image {
            target: target.clone(),
            manifest_digest: desc.digest,
            config_digest: manifest.config.digest.clone(),
            manifest,
            config,
        })
    }

    /// Resolves a user's image argument: a name (`busybox`, `host:5000/x:1`,
    /// `x@sha256:…`), a full or short image ID, or a manifest digest.
    pub fn resolve(&self, s: &str) -> Result<(Option<ImageRecord>, Image)> {
        if let Ok(r) = s.parse::<Reference>() {
            if let Some(rec) = self.db.get(&r.to_string())? {
                let img = self.image(&rec.target)?;
                return Ok((Some(rec), img));
            }
            // name@digest: any record whose target has that digest.
            if let Some(d) = r.digest() {
                if let Some(rec) = self.db.list()?.into_iter().find(|rec| &rec.target.digest == d) {
                    let img = self.image(&rec.target)?;
                    return Ok((Some(rec), img));
                }
            }
        }
        let id = s.strip_prefix("sha256:").unwrap_or(s);
        if id.len() >= 4 && id.bytes().all(|b| b.is_ascii_hexdigit()) {
            let mut found: Vec<(ImageRecord, Image)> = Vec::new();
            for rec in self.db.list()? {
                let Ok(img) = self.image(&rec.target) else { continue };
                if img.config_digest.hex().starts_with(id) || rec.target.digest.hex().starts_with(id) {
                    if found.iter().any(|(_, f)| f.config_digest != img.config_digest) {
                        return Err(ImageError::Other(format!("image ID {s:?} is ambiguous")));
                    }
                    found.push((rec, img));
                }
            }
            if let Some((rec, img)) = found.into_iter().next() {
                return Ok((Some(rec), img));
            }
        }
        Err(ImageError::ImageNotFound(s.to_string()))
    }

    /// Points `name` at `target`. A previous target left without names stays
    /// as a dangling image (`<none>`), as in Docker.
    pub fn set_name(&self, name: &Reference, target: Descriptor) -> Result<()> {
        let key = name.to_string();
        let old = self.db.put(ImageRecord { name: key.clone(), target: target.clone(), updated: now() })?;
        let _ = self.db.remove(&dangling_name(&target.digest));
        if let Some(old) = old.filter(|o| o.target.digest != target.digest) {
            let still_named = self.db.list()?.iter().any(|r| r.target.digest == old.target.digest);
            if !still_named {
                self.db.put(ImageRecord {
                    name: dangling_name(&old.target.digest),
                    target: old.target,
                    updated: now(),
                })?;
            }
        }
        Ok(())
    }

    pub fn tag(&self, source: &str, target: &str) -> Result<()> {
        let (_, img) = self.resolve(source)?;
        let name: Reference = target.parse()?;
        if name.digest().is_some() {
            return Err(ImageError::InvalidReference(format!("{target:?}: cannot tag with a digest")));
        }
        self.set_name(&name, img.target)
    }

    /// One row per name, newest first; dangling images show `<none>`.
    pub fn list(&self) -> Result<Vec<Summary>> {
        let mut out = Vec::new();
        for rec in self.db.list()? {
            let Ok(img) = self.image(&rec.target) else { continue };
            let (repository, tag) = match rec.name.parse::<Reference>() {
                Ok(r) if !rec.name.starts_with('@') => {
                    let fam = r.familiar();
                    let repo = fam.split_once('@').map_or(fam.as_str(), |(n, _)| n);
                    let repo = match r.tag() {
                        Some(t) => repo.strip_suffix(&format!(":{t}")).unwrap_or(repo).to_string(),
                        None => repo.to_string(),
                    };
                    (repo, r.tag().unwrap_or("<none>").to_string())
                }
                _ => ("<none>".into(), "<none>".into()),
            };
            out.push(Summary {
                repository,
                tag,
                id: img.config_digest.clone(),
                digest: rec.target.digest.clone(),
                created: img.config.created.clone(),
                size: img.size(),
            });
        }
        out.sort_by(|a, b| b.created.cmp(&a.created).then(a.repository.cmp(&b.repository)));
        Ok(out)
    }

    /// `rmi`: untags `s`; when no name is left the image is deleted and its
    /// unshared blobs and snapshots freed. `in_use(image id)` tells whether a
    /// container uses an image (refused unless `force`). Returns the lines Docker prints.
    pub fn remove(&self, s: &str, force: bool, in_use: &dyn Fn(&Digest) -> bool) -> Result<Vec<String>> {
        let (rec, img) = self.resolve(s)?;
        let by_name = s.parse::<Reference>().ok().map(|r| r.to_string()) == rec.as_ref().map(|r| r.name.clone());
        let all = self.db.list()?;
        let same: Vec<&ImageRecord> = all
            .iter()
            .filter(|r| self.image(&r.target).map(|i| i.config_digest == img.config_digest).unwrap_or(false))
            .collect();
        let mut out = Vec::new();
        let remove_names: Vec<String> = if by_name && same.len() > 1 {
            rec.iter().map(|r| r.name.clone()).collect()
        } else {
            if same.len() > 1 && !force && same.iter().filter(|r| !r.name.starts_with('@')).count() > 1 {
                return Err(ImageError::InUse(
                    img.config_digest.short().to_string(),
                    "several repositories (use a name, or force)".into(),
                ));
            }
            let top = img.chain_ids().pop();
            let used_by_container =
                top.is_some_and(|t| self.snapshots.active_parents().map(|p| p.contains(&t)).unwrap_or(false));
            if (in_use(&img.config_digest) || used_by_container) && !force {
                return Err(ImageError::InUse(s.to_string(), "a container".into()));
            }
            same.iter().map(|r| r.name.clone()).collect()
        };
        for name in &remove_names {
            self.db.remove(name)?;
            if !name.starts_with('@') {
                let fam = name.parse::<Reference>().map(|r| r.familiar()).unwrap_or_else(|_| name.clone());
                out.push(format!("Untagged: {fam}"));
            }
        }
        let still = self
            .db
            .list()?
            .iter()
            .any(|r| self.image(&r.target).map(|i| i.config_digest == img.config_digest).unwrap_or(false));
        if !still {
            out.push(format!("Deleted: {}", img.config_digest));
            self.gc(&[])?;
        }
        Ok(out)
    }

    /// Every blob and snapshot reachable from a name.
    fn reachable(&self) -> Result<(BTreeSet<Digest>, BTreeSet<Digest>)> {
        let mut blobs = BTreeSet::new();
        let mut chains = BTreeSet::new();
        for rec in self.db.list()? {
            blobs.insert(rec.target.digest.clone());
            let mut manifests = vec![rec.target.clone()];
            if media::is_index(&rec.target.media_type) {
                if let Ok(data) = self.content.read_all(&rec.target.digest) {
                    if let Ok(idx) = manifest::parse::<Index>("index", &data) {
                        manifests = idx
                            .manifests
                            .into_iter()
                            .filter(|d| self.content.stat(&d.digest).ok().flatten().is_some())
                            .collect();
                    }
                }
            }
            for m in manifests {
                blobs.insert(m.digest.clone());
                let Ok(data) = self.content.read_all(&m.digest) else { continue };
                let Ok(man) = manifest::parse::<Manifest>("manifest", &data) else { continue };
                blobs.insert(man.config.digest.clone());
                blobs.extend(man.layers.iter().map(|l| l.digest.clone()));
                if let Ok(cfg) =
                    self.content.read_all(&man.config.digest).and_then(|d| manifest::parse::<ImageConfig>("config", &d))
                {
                    chains.extend(chain_ids(&cfg.rootfs.diff_ids));
                }
            }
        }
        Ok((blobs, chains))
    }

    /// Frees blobs and snapshots no image references; `keep` are chains
    /// containers still use.
    /// Leased resources (operations in progress, in any process) stay too.
    pub fn gc(&self, keep: &[Digest]) -> Result<Freed> {
        // Exclusive against lease creation and updates for the whole pass.
        let held = self.leases.hold_for_gc()?;
        let (mut blobs, mut chains) = self.reachable()?;
        blobs.extend(held.blobs.iter().cloned());
        chains.extend(keep.iter().cloned());
        chains.extend(held.snapshots.iter().cloned());
        // Layers under a container's writable view stay, and every kept
        // snapshot keeps its ancestors.
        let parents: BTreeMap<Digest, Option<Digest>> = self.snapshots.list()?.into_iter().collect();
        let kept: Vec<Digest> = chains.iter().cloned().collect();
        for top in self.snapshots.active_parents()?.into_iter().chain(kept) {
            let mut cur = Some(top);
            while let Some(c) = cur {
                cur = parents.get(&c).cloned().flatten();
                chains.insert(c);
            }
        }
        let mut freed = Freed::default();
        for (d, size) in self.content.list()? {
            if !blobs.contains(&d) {
                self.content.delete(&d)?;
                freed.bytes += size;
                freed.blobs.push(d);
            }
        }
        // Children before parents: a snapshot with children refuses removal.
        let depth = |c: &Digest| {
            let (mut n, mut cur) = (0usize, parents.get(c).cloned().flatten());
            while let Some(p) = cur {
                n += 1;
                cur = parents.get(&p).cloned().flatten();
            }
            n
        };
        let mut doomed: Vec<(usize, Digest)> =
            parents.keys().filter(|c| !chains.contains(*c)).map(|c| (depth(c), c.clone())).collect();
        doomed.sort_by(|a, b| b.cmp(a));
        for (_, chain) in doomed {
            let bytes = self.snapshots.usage(&chain).unwrap_or(0);
            match self.snapshots.remove_committed(&chain) {
                // A view prepared on it since we looked: it stays.
                Err(ImageError::SnapshotHasChildren(_)) => continue,
                other => other?,
            }
            freed.bytes += bytes;
            freed.snapshots.push(chain);
        }
        self.content.prune_ingests(&held.ingests)?;
        Ok(freed)
    }

    /// `image prune`: drops dangling images (all unused ones with `all`)
    /// except those `keep` holds on to (used by a container, not selected by
    /// the caller's filters), then GC.
    pub fn prune(&self, all: bool, keep: &dyn Fn(&Image) -> bool) -> Result<(Vec<Digest>, Freed)> {
        let mut deleted = Vec::new();
        for rec in self.db.list()? {
            if !(rec.name.starts_with('@') || all) {
                continue;
            }
            let Ok(img) = self.image(&rec.target) else { continue };
            if keep(&img) {
                continue;
            }
            self.db.remove(&rec.name)?;
            if !deleted.contains(&img.config_digest) {
                deleted.push(img.config_digest);
            }
        }
        Ok((deleted, self.gc(&[])?))
    }

    pub fn disk_usage(&self) -> Result<DiskUsage> {
        let blobs = self.content.list()?;
        let snaps = self.snapshots.list()?;
        let mut snapshot_bytes = 0;
        for (c, _) in &snaps {
            snapshot_bytes += self.snapshots.usage(c).unwrap_or(0);
        }
        let ids: BTreeSet<Digest> = self.list()?.into_iter().map(|s| s.id).collect();
        Ok(DiskUsage {
            images: ids.len(),
            blobs: blobs.len(),
            blob_bytes: blobs.iter().map(|b| b.1).sum(),
            snapshots: snaps.len(),
            snapshot_bytes,
        })
    }

    /// Gives an image one more name (a builder's `-t`).
    pub fn name_image(&self, img: &Image, name: &str) -> Result<()> {
        let r: Reference = name.parse()?;
        self.set_name(&r, img.target.clone())
    }

    /// Remembers that `img`'s blobs exist in repository `r` (for cross-repository mounts on push).
    pub fn record_source(&self, img: &Image, r: &Reference) -> Result<()> {
        let path = self.root.join("metadata").join("sources.json");
        let mut map = self.sources()?;
        let repo = r.name();
        let mut digests: Vec<&Digest> = img.manifest.layers.iter().map(|l| &l.digest).collect();
        digests.push(&img.config_digest);
        for d in digests {
            let entry = map.entry(d.to_string()).or_default();
            if !entry.contains(&repo) {
                entry.push(repo.clone());
            }
        }
        let data = serde_json::to_vec(&map).map_err(|e| ImageError::Other(e.to_string()))?;
        let tmp = path.with_extension("tmp");
        std::fs::write(&tmp, data).map_err(ImageError::io("write", &tmp))?;
        std::fs::rename(&tmp, &path).map_err(ImageError::io("rename", &path))
    }

    /// Blob digest → repositories known to hold it.
    pub fn sources(&self) -> Result<BTreeMap<String, Vec<String>>> {
        let path = self.root.join("metadata").join("sources.json");
        match std::fs::read(&path) {
            Ok(d) => Ok(serde_json::from_slice(&d).unwrap_or_default()),
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(BTreeMap::new()),
            Err(e) => Err(ImageError::Io { context: "read", path, source: e }),
        }
    }

    /// Docker's `RepoDigests`: `repo@digest` (familiar) for each repository
    /// the image was pushed to or pulled from — a local-only image has none.
    /// `sources` is [`Images::sources`] (read once for a listing).
    pub fn repo_digests_in(sources: &BTreeMap<String, Vec<String>>, img: &Image) -> Vec<String> {
        sources
            .get(&img.config_digest.to_string())
            .into_iter()
            .flatten()
            .filter_map(|repo| format!("{repo}@{}", img.target.digest).parse::<Reference>().ok())
            .map(|r| r.familiar())
            .collect()
    }

    /// Names pointing at an image, familiar form.
    pub fn names_of(&self, img: &Image) -> Result<Vec<String>> {
        let mut out = Vec::new();
        for rec in self.db.list()? {
            if rec.name.starts_with('@') {
                continue;
            }
            if self.image(&rec.target).map(|i| i.config_digest == img.config_digest).unwrap_or(false) {
                out.push(rec.name.parse::<Reference>().map(|r| r.familiar()).unwrap_or(rec.name));
            }
        }
        Ok(out)
    }

    /// Labels and other run defaults, for callers that only need the config.
    pub fn run_config(img: &Image) -> RunConfig {
        img.config.config.clone().unwrap_or_default()
    }
}

/// Current time, RFC 3339 UTC with nanoseconds.
pub use wharf_common::time::now;

#[cfg(test)]
mod tests {
    use super::*;
    use crate::testutil::tar_of as rootfs_tar;

    #[test]
    fn a_store_keeps_the_snapshotter_it_was_created_with() {
        let tmp = tempfile::tempdir().unwrap();
        let native = Options { snapshotter: "native".into() };
        let images = Images::open_with(tmp.path(), native.clone()).unwrap();
        images.import(&mut &rootfs_tar(&[("x", "1")])[..], Some("a:1"), None, None).unwrap();
        drop(images);
        // Every later opener (a monitor, the CLI) gets the same one.
        let again = Images::open(tmp.path()).unwrap();
        assert_eq!(again.snapshotter_name(), "native");
        assert!(again.resolve("a:1").is_ok());
        assert!(Images::open_with(tmp.path(), native).is_ok());
        let e = Images::open_with(tmp.path(), Options::default()).err().expect("refused");
        assert!(matches!(&e, ImageError::SnapshotterMismatch { recorded, .. } if recorded == "native"), "{e}");
        // A store from before the record is an overlay one.
        let old = tempfile::tempdir().unwrap();
        std::fs::create_dir_all(old.path().join("metadata")).unwrap();
        let e = Images::open_with(old.path(), Options { snapshotter: "native".into() }).err().expect("refused");
        assert!(matches!(e, ImageError::SnapshotterMismatch { .. }));
        assert_eq!(Images::open(old.path()).unwrap().snapshotter_name(), "overlay");
        let bad = tempfile::tempdir().unwrap();
        assert!(matches!(
            Images::open_with(bad.path(), Options { snapshotter: "zfs".into() }),
            Err(ImageError::UnknownSnapshotter(_))
        ));
    }

    #[test]
    fn import_tag_resolve_remove_gc() {
        let tmp = tempfile::tempdir().unwrap();
        let images = Images::open(tmp.path()).unwrap();
        let tar = rootfs_tar(&[("bin/x", "hello")]);
        let img = images.import(&mut &tar[..], Some("busybox:local"), None, None).unwrap();
        assert_eq!(img.config.rootfs.diff_ids, vec![Digest::sha256(&tar)]);
        let (_, by_name) = images.resolve("busybox:local").unwrap();
        let (_, by_full) = images.resolve("docker.io/library/busybox:local").unwrap();
        let (_, by_id) = images.resolve(&img.id().hex()[..12]).unwrap();
        assert_eq!(by_name.id(), img.id());
        assert_eq!(by_full.id(), img.id());
        assert_eq!(by_id.id(), img.id());
        assert!(matches!(images.resolve("nosuch"), Err(ImageError::ImageNotFound(_))));

        images.tag("busybox:local", "localhost:5000/bb:1").unwrap();
        let rows = images.list().unwrap();
        assert_eq!(rows.len(), 2);
        assert!(rows.iter().any(|r| r.repository == "busybox" && r.tag == "local"));
        assert!(rows.iter().any(|r| r.repository == "localhost:5000/bb" && r.tag == "1"));

        // Removing one of two names only untags.
        let out = images.remove("busybox:local", false, &|_| false).unwrap();
        assert_eq!(out, vec!["Untagged: busybox:local"]);
        assert!(!images.content.list().unwrap().is_empty());
        // In use by a container: refused without force.
        assert!(matches!(images.remove("localhost:5000/bb:1", false, &|_| true), Err(ImageError::InUse(..))));
        let out = images.remove("localhost:5000/bb:1", false, &|_| false).unwrap();
        assert_eq!(out.last().unwrap(), &format!("Deleted: {}", img.id()));
        assert!(images.content.list().unwrap().is_empty(), "blobs freed");
        assert!(images.snapshots.list().unwrap().is_empty(), "snapshots freed");
    }

    #[test]
    fn layers_under_a_container_survive_gc() {
        let tmp = tempfile::tempdir().unwrap();
        let images = Images::open(tmp.path()).unwrap();
        let img = images.import(&mut &rootfs_tar(&[("a", "1")])[..], Some("app:1"), None, None).unwrap();
        images.prepare_rootfs("c1", &img).unwrap();
        assert!(matches!(images.remove("app:1", false, &|_| false), Err(ImageError::InUse(..))), "a container uses it");
        images.remove("app:1", true, &|_| false).unwrap();
        assert!(images.list().unwrap().is_empty());
        assert_eq!(images.snapshots.list().unwrap().len(), 1, "the container's layers stay");
        images.snapshots.remove_active("c1").unwrap();
        let freed = images.gc(&[]).unwrap();
        assert_eq!(freed.snapshots.len(), 1);
        assert!(images.snapshots.list().unwrap().is_empty());
    }

    #[test]
    fn retag_leaves_dangling_then_prune() {
        let tmp = tempfile::tempdir().unwrap();
        let images = Images::open(tmp.path()).unwrap();
        let a = images.import(&mut &rootfs_tar(&[("a", "1")])[..], Some("app:1"), None, None).unwrap();
        let b = images.import(&mut &rootfs_tar(&[("b", "2")])[..], Some("app:1"), None, None).unwrap();
        let rows = images.list().unwrap();
        assert_eq!(rows.len(), 2);
        assert!(rows.iter().any(|r| r.repository == "<none>" && r.id == *a.id()));
        let (deleted, freed) = images.prune(false, &|_| false).unwrap();
        assert_eq!(deleted, vec![a.id().clone()]);
        assert!(!freed.blobs.is_empty());
        assert_eq!(images.list().unwrap().len(), 1);
        assert_eq!(images.resolve("app:1").unwrap().1.id(), b.id());
    }

    #[test]
    fn malformed_import_leaves_nothing() {
        let tmp = tempfile::tempdir().unwrap();
        let images = Images::open(tmp.path()).unwrap();
        let mut bad = rootfs_tar(&[("f", &"x".repeat(4000))]);
        bad.truncate(1000);
        assert!(images.import(&mut &bad[..], Some("bad:1"), None, None).is_err());
        assert!(images.list().unwrap().is_empty());
        assert!(images.content.list().unwrap().is_empty());
    }
}
