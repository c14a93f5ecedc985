//! `save`/`load`: the Docker archive shapes (Docker 20.10's per-layer
//! directories, Docker ≥25's OCI layout plus `manifest.json`), and plain OCI
//! image layouts as a directory or a tar.
//!
//! Loading keeps the original manifests when the archive carries them (OCI
//! layouts, Docker ≥25), so digests survive a round trip; for the legacy
//! shape a Docker schema2 manifest is built, as `docker load` does.

use std::collections::BTreeMap;
use std::fs::{self, File};
use std::io::{self, Read, Write};
use std::path::{Path, PathBuf};

use serde::{Deserialize, Serialize};

use crate::digest::{Digest, Hasher, HashingReader};
use crate::error::{ImageError, Result};
use crate::lease::{Lease, Resource};
use crate::manifest::{self, chain_ids, media, Descriptor, ImageConfig, Index, Manifest};
use crate::reference::Reference;
use crate::service::{Image, Images};
pub use crate::tarball::{export_dir, layer_from_upper, tar_path};
use crate::unpack::clean_path;

/// The shape `save` writes.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Format {
    /// Docker ≥25: OCI layout + manifest.json + repositories.
    Docker,
    /// Docker 20.10: one directory per layer.
    DockerLegacy,
    /// OCI image layout only.
    Oci,
}

impl std::str::FromStr for Format {
    type Err = ImageError;
    fn from_str(s: &str) -> Result<Self> {
        match s {
            "docker" | "docker-archive" => Ok(Format::Docker),
            "docker-legacy" | "legacy" => Ok(Format::DockerLegacy),
            "oci" | "oci-archive" => Ok(Format::Oci),
            _ => Err(ImageError::invalid("archive format", format!("{s:?}: use docker, docker-legacy or oci"))),
        }
    }
}

#[derive(Debug, Serialize, Deserialize)]
#[serde(rename_all = "PascalCase")]
struct DockerManifestEntry {
    config: String,
    #[serde(default)]
    repo_tags: Option<Vec<String>>,
    layers: Vec<String>,
}

const REF_NAME: &str = "org.opencontainers.image.ref.name";
const CONTAINERD_NAME: &str = "io.containerd.image.name";

/// Writes archive members to a tar or a directory.
trait Sink {
    fn add(&mut self, path: &str, data: &mut dyn Read, size: u64) -> Result<()>;
}

struct TarSink<W: Write>(tar::Builder<W>);

impl<W: Write> Sink for TarSink<W> {
    fn add(&mut self, path: &str, data: &mut dyn Read, size: u64) -> Result<()> {
        let mut h = tar::Header::new_ustar();
        h.set_size(size);
        h.set_mode(0o644);
        h.set_mtime(0);
        h.set_entry_type(tar::EntryType::Regular);
        self.0.append_data(&mut h, path, data).map_err(ImageError::io("write archive", path))
    }
}

struct DirSink(PathBuf);

impl Sink for DirSink {
    fn add(&mut self, path: &str, data: &mut dyn Read, _size: u64) -> Result<()> {
        let p = self.0.join(path);
        if let Some(parent) = p.parent() {
            fs::create_dir_all(parent).map_err(ImageError::io("create", parent))?;
        }
        let mut f = File::create(&p).map_err(ImageError::io("create", &p))?;
        io::copy(data, &mut f).map_err(ImageError::io("write", &p))?;
        Ok(())
    }
}

fn blob_path(d: &Digest) -> String {
    format!("blobs/{}/{}", d.algorithm(), d.hex())
}

impl Images {
    fn add_blob(&self, sink: &mut dyn Sink, d: &Digest, written: &mut Vec<Digest>) -> Result<()> {
        if written.contains(d) {
            return Ok(());
        }
        let mut f = self.content.open(d)?;
        let size = self.content.stat(d)?.ok_or_else(|| ImageError::BlobNotFound(d.to_string()))?;
        sink.add(&blob_path(d), &mut f, size)?;
        written.push(d.clone());
        Ok(())
    }

    fn add_json<T: Serialize>(sink: &mut dyn Sink, path: &str, doc: &T) -> Result<()> {
        let data = serde_json::to_vec(doc).map_err(|e| ImageError::Other(e.to_string()))?;
        sink.add(path, &mut &data[..], data.len() as u64)
    }

    /// Saves `names` (names or IDs) as a tar to `out`.
    pub fn save(&self, names: &[String], format: Format, out: impl Write) -> Result<()> {
        let mut sink = TarSink(tar::Builder::new(out));
        self.save_to(names, format, &mut sink)?;
        sink.0.into_inner().map_err(ImageError::io("write archive", "")).map(|_| ())
    }

    /// Saves `names` as an OCI layout (or Docker ≥25 shape) in directory `dir`.
    pub fn save_dir(&self, names: &[String], format: Format, dir: &Path) -> Result<()> {
        self.save_to(names, format, &mut DirSink(dir.to_path_buf()))
    }

    fn save_to(&self, names: &[String], format: Format, sink: &mut dyn Sink) -> Result<()> {
        let mut picked: Vec<(Option<Reference>, Image)> = Vec::new();
        for n in names {
            let (rec, img) = self.resolve(n)?;
            let name = rec.and_then(|r| r.name.parse::<Reference>().ok()).filter(|r| r.tag().is_some());
            picked.push((name, img));
        }
        let mut written = Vec::new();
        let mut index = Index {
            schema_version: 2,
            media_type: Some(media::OCI_INDEX.into()),
            manifests: Vec::new(),
            annotations: None,
        };
        let mut docker_manifest = Vec::new();
        let mut repositories: BTreeMap<String, BTreeMap<String, String>> = BTreeMap::new();
        for (name, img) in &picked {
            let tags: Vec<String> = name.iter().map(|r| r.familiar()).collect();
            if let Some(r) = name {
                let fam = r.familiar();
                let repo = fam.rsplit_once(':').map_or(fam.clone(), |(repo, _)| repo.to_string());
                repositories
                    .entry(repo)
                    .or_default()
                    .insert(r.tag().unwrap_or("latest").into(), img.config_digest.hex().into());
            }
            if format == Format::DockerLegacy {
                self.save_legacy(img, tags, sink, &mut written, &mut docker_manifest)?;
                continue;
            }
            self.add_blob(sink, &img.config_digest, &mut written)?;
            for l in &img.manifest.layers {
                self.add_blob(sink, &l.digest, &mut written)?;
            }
            self.add_blob(sink, &img.manifest_digest, &mut written)?;
            let mut desc = Descriptor::new(
                img.manifest.media_type.as_deref().unwrap_or(media::OCI_MANIFEST),
                img.manifest_digest.clone(),
                self.content.stat(&img.manifest_digest)?.unwrap_or(0),
            );
            if let Some(r) = name {
                let mut ann = BTreeMap::new();
                ann.insert(CONTAINERD_NAME.to_string(), r.to_string());
                ann.insert(REF_NAME.to_string(), r.tag().unwrap_or("latest").to_string());
                desc.annotations = Some(ann);
            }
            index.manifests.push(desc);
            docker_manifest.push(DockerManifestEntry {
                config: blob_path(&img.config_digest),
                repo_tags: Some(tags),
                layers: img.manifest.layers.iter().map(|l| blob_path(&l.digest)).collect(),
            });
        }
        if format != Format::DockerLegacy {
            Self::add_json(sink, "oci-layout", &serde_json::json!({"imageLayoutVersion": "1.0.0"}))?;
            Self::add_json(sink, "index.json", &index)?;
        }
        if format != Format::Oci {
            Self::add_json(sink, "manifest.json", &docker_manifest)?;
            Self::add_json(sink, "repositories", &repositories)?;
        }
        Ok(())
    }

    /// Docker 20.10's layout: `<id>/layer.tar` (uncompressed), `<config>.json`.
    fn save_legacy(
        &self,
        img: &Image,
        tags: Vec<String>,
        sink: &mut dyn Sink,
        written: &mut Vec<Digest>,
        manifest: &mut Vec<DockerManifestEntry>,
    ) -> Result<()> {
        let config_path = format!("{}.json", img.config_digest.hex());
        if !written.contains(&img.config_digest) {
            let data = self.content.read_all(&img.config_digest)?;
            sink.add(&config_path, &mut &data[..], data.len() as u64)?;
            written.push(img.config_digest.clone());
        }
        let chains = chain_ids(&img.config.rootfs.diff_ids);
        let mut layers = Vec::new();
        for (i, l) in img.manifest.layers.iter().enumerate() {
            let id = chains[i].hex().to_string();
            let path = format!("{id}/layer.tar");
            if !written.contains(&chains[i]) {
                // Layers in this shape are uncompressed tars: spool the decompressed stream.
                let mut spool = tempfile_in(&self.root().join("content"))?;
                let mut dec = crate::unpack::decompress(self.content.open(&l.digest)?)?;
                let size =
                    io::copy(&mut dec, &mut spool.0).map_err(ImageError::io("decompress", l.digest.to_string()))?;
                spool.rewind()?;
                sink.add(&path, &mut spool.0, size)?;
                sink.add(&format!("{id}/VERSION"), &mut &b"1.0"[..], 3)?;
                let json =
                    serde_json::to_vec(&serde_json::json!({"id": id})).map_err(|e| ImageError::Other(e.to_string()))?;
                sink.add(&format!("{id}/json"), &mut &json[..], json.len() as u64)?;
                written.push(chains[i].clone());
            }
            layers.push(path);
        }
        manifest.push(DockerManifestEntry { config: config_path, repo_tags: Some(tags), layers });
        Ok(())
    }

    /// Loads a tar (Docker archive of either shape, or an OCI layout tar).
    /// Returns the names (or IDs, for unnamed images) loaded.
    pub fn load(&self, input: impl Read) -> Result<Vec<String>> {
        let dir = TempDir::new(&self.root().join("tmp"))?;
        extract_archive(input, &dir.0)?;
        self.load_dir(&dir.0)
    }

    /// Loads an unpacked archive or OCI layout directory.
    pub fn load_dir(&self, dir: &Path) -> Result<Vec<String>> {
        // What the load writes stays until named, whatever GC runs meanwhile.
        let lease = self.lease("load")?;
        let has = |f: &str| dir.join(f).is_file();
        if has("index.json") && (has("oci-layout") || !has("manifest.json")) {
            return self.load_oci(&lease, dir);
        }
        if has("manifest.json") {
            return self.load_docker(&lease, dir);
        }
        Err(ImageError::invalid("archive", "no manifest.json or index.json: not a Docker archive or OCI layout"))
    }

    /// Copies a file into the content store, verifying it against `expected` when given.
    fn ingest_file(&self, lease: &Lease, path: &Path, expected: Option<&Digest>) -> Result<(Digest, u64)> {
        if let Some(d) = expected {
            lease.add([Resource::Blob(d.clone())])?;
        }
        let mut f = File::open(path).map_err(ImageError::io("open", path))?;
        let mut w = self.writer(lease, &format!("load-{}", path.display()))?;
        w.truncate()?;
        io::copy(&mut f, &mut w).map_err(ImageError::io("copy", path))?;
        match expected {
            Some(d) => {
                let size = w.offset();
                w.commit(d, Some(size))?;
                Ok((d.clone(), size))
            }
            None => self.commit_computed(lease, w),
        }
    }

    fn load_oci(&self, lease: &Lease, dir: &Path) -> Result<Vec<String>> {
        let index: Index = manifest::parse("index.json", &read(&dir.join("index.json"))?)?;
        let blob = |d: &Digest| dir.join(blob_path(d));
        let mut names = Vec::new();
        for desc in &index.manifests {
            // Copy the whole tree under this descriptor (index → manifests → config + layers).
            let mut todo = vec![desc.clone()];
            while let Some(d) = todo.pop() {
                if !blob(&d.digest).exists() {
                    if media::is_manifest(&d.media_type) && desc.digest != d.digest {
                        continue; // other platforms of an index may be absent
                    }
                    return Err(ImageError::BlobNotFound(d.digest.to_string()));
                }
                self.ingest_file(lease, &blob(&d.digest), Some(&d.digest))?;
                if media::is_index(&d.media_type) {
                    let idx: Index = manifest::parse("index", &self.content.read_all(&d.digest)?)?;
                    todo.extend(idx.manifests);
                } else if media::is_manifest(&d.media_type) {
                    let m: Manifest = manifest::parse("manifest", &self.content.read_all(&d.digest)?)?;
                    todo.push(m.config.clone());
                    todo.extend(m.layers.iter().filter(|l| l.urls.is_none()).cloned());
                }
            }
            let img = self.image(desc)?;
            // Every blob checked against its diffID (also those whose snapshot
            // exists already), then unpacked now, as Docker does: a layer that
            // cannot be unpacked (hostile entries) refuses the load instead of
            // failing `run` later.
            verify_diff_ids(self, &img)?;
            self.unpack_in(lease, &img)?;
            let ann = desc.annotations.clone().unwrap_or_default();
            let name = ann.get(CONTAINERD_NAME).cloned().or_else(|| {
                ann.get(REF_NAME)
                    .filter(|n| n.contains('/') || n.contains(':') || n.parse::<Reference>().is_ok())
                    .cloned()
            });
            match name.and_then(|n| n.parse::<Reference>().ok()) {
                Some(r) => {
                    self.set_name(&r, desc.clone())?;
                    names.push(r.familiar());
                }
                None => {
                    self.db.put(crate::metadata::ImageRecord {
                        name: format!("@{}", desc.digest),
                        target: desc.clone(),
                        updated: crate::service::now(),
                    })?;
                    names.push(img.config_digest.to_string());
                }
            }
        }
        Ok(names)
    }

    fn load_docker(&self, lease: &Lease, dir: &Path) -> Result<Vec<String>> {
        let entries: Vec<DockerManifestEntry> = manifest::parse("manifest.json", &read(&dir.join("manifest.json"))?)?;
        let inside = |p: &str| -> Result<PathBuf> {
            let rel = clean_path(Path::new(p))
                .ok_or_else(|| ImageError::UnsafeEntry { path: p.into(), reason: "leaves the archive".into() })?;
            Ok(dir.join(rel))
        };
        let mut names = Vec::new();
        for e in entries {
            let config_path = inside(&e.config)?;
            let config_data = read(&config_path)?;
            let config: ImageConfig = manifest::parse("image config", &config_data)?;
            let config_digest = self.put(lease, &config_data)?;
            if config.rootfs.diff_ids.len() != e.layers.len() {
                return Err(ImageError::invalid(
                    "archive",
                    format!(
                        "{} lists {} layers, its config {}",
                        e.config,
                        e.layers.len(),
                        config.rootfs.diff_ids.len()
                    ),
                ));
            }
            let mut layers = Vec::new();
            for (i, l) in e.layers.iter().enumerate() {
                let path = inside(l)?;
                // Check the uncompressed digest before anything gets a name.
                let f = File::open(&path).map_err(ImageError::io("open", &path))?;
                let mut h = HashingReader::new(crate::unpack::decompress(f)?, Hasher::new("sha256")?);
                io::copy(&mut h, &mut io::sink()).map_err(ImageError::io("read layer", &path))?;
                let (diff, _) = h.finish();
                if diff != config.rootfs.diff_ids[i] {
                    return Err(ImageError::DigestMismatch {
                        expected: config.rootfs.diff_ids[i].to_string(),
                        actual: diff.to_string(),
                    });
                }
                let (digest, size) = self.ingest_file(lease, &path, None)?;
                let mt = if digest == diff {
                    "application/vnd.docker.image.rootfs.diff.tar"
                } else {
                    media::DOCKER_LAYER_GZIP
                };
                layers.push(Descriptor::new(mt, digest, size));
            }
            // Docker ≥25 archives carry the original manifest: reuse it when it matches.
            let original = self.find_original_manifest(lease, dir, &config_digest);
            let target = match original {
                Some(d) => d,
                None => {
                    let m = Manifest {
                        schema_version: 2,
                        media_type: Some(media::DOCKER_MANIFEST.into()),
                        config: Descriptor::new(media::DOCKER_CONFIG, config_digest.clone(), config_data.len() as u64),
                        layers,
                        annotations: None,
                    };
                    self.put_json(lease, media::DOCKER_MANIFEST, &m)?
                }
            };
            // Unpacked before anything gets a name, as Docker does: a layer that
            // cannot be unpacked (hostile entries) refuses the load, not a later `run`.
            self.unpack_in(lease, &self.image(&target)?)?;
            let tags = e.repo_tags.unwrap_or_default();
            if tags.is_empty() {
                self.db.put(crate::metadata::ImageRecord {
                    name: format!("@{}", target.digest),
                    target: target.clone(),
                    updated: crate::service::now(),
                })?;
                names.push(config_digest.to_string());
            }
            for t in tags {
                let r: Reference = t.parse()?;
                self.set_name(&r, target.clone())?;
                names.push(r.familiar());
            }
        }
        Ok(names)
    }

    /// In a Docker ≥25 archive, the index.json manifest whose config is `config`.
    fn find_original_manifest(&self, lease: &Lease, dir: &Path, config: &Digest) -> Option<Descriptor> {
        let index: Index = manifest::parse("index.json", &read(&dir.join("index.json")).ok()?).ok()?;
        for d in index.manifests {
            let path = dir.join(blob_path(&d.digest));
            let Ok(data) = read(&path) else { continue };
            let Ok(m) = manifest::parse::<Manifest>("manifest", &data) else { continue };
            if &m.config.digest == config && Digest::sha256(&data) == d.digest {
                for l in &m.layers {
                    let lp = dir.join(blob_path(&l.digest));
                    if self.content.stat(&l.digest).ok()?.is_none() {
                        self.ingest_file(lease, &lp, Some(&l.digest)).ok()?;
                    }
                }
                self.put(lease, &data).ok()?;
                return Some(Descriptor { annotations: None, ..d });
            }
        }
        None
    }
}

fn verify_diff_ids(images: &Images, img: &Image) -> Result<()> {
    if img.manifest.layers.len() != img.config.rootfs.diff_ids.len() {
        return Err(ImageError::invalid(
            "image",
            format!("{} layers but {} diff_ids", img.manifest.layers.len(), img.config.rootfs.diff_ids.len()),
        ));
    }
    for (i, l) in img.manifest.layers.iter().enumerate() {
        let mut h =
            HashingReader::new(crate::unpack::decompress(images.content.open(&l.digest)?)?, Hasher::new("sha256")?);
        io::copy(&mut h, &mut io::sink()).map_err(ImageError::io("read layer", l.digest.to_string()))?;
        let (diff, _) = h.finish();
        if diff != img.config.rootfs.diff_ids[i] {
            return Err(ImageError::DigestMismatch {
                expected: img.config.rootfs.diff_ids[i].to_string(),
                actual: diff.to_string(),
            });
        }
    }
    Ok(())
}

fn read(path: &Path) -> Result<Vec<u8>> {
    fs::read(path).map_err(ImageError::io("read", path))
}

/// Extracts regular files, directories and in-archive symlinks of an image
/// archive into `dir` (nothing may leave it).
fn extract_archive(input: impl Read, dir: &Path) -> Result<()> {
    let mut ar = tar::Archive::new(input);
    for entry in ar.entries().map_err(ImageError::io("read archive", dir))? {
        let mut entry = entry.map_err(|e| ImageError::invalid("archive", e))?;
        let raw = entry.path().map_err(|e| ImageError::invalid("archive path", e))?.into_owned();
        let rel = clean_path(&raw).ok_or_else(|| ImageError::UnsafeEntry {
            path: raw.display().to_string(),
            reason: "leaves the archive".into(),
        })?;
        if rel.as_os_str().is_empty() {
            continue;
        }
        let path = dir.join(&rel);
        match entry.header().entry_type() {
            tar::EntryType::Directory => fs::create_dir_all(&path).map_err(ImageError::io("create", &path))?,
            tar::EntryType::Regular | tar::EntryType::Continuous => {
                if let Some(p) = path.parent() {
                    fs::create_dir_all(p).map_err(ImageError::io("create", p))?;
                }
                let mut f = File::create(&path).map_err(ImageError::io("create", &path))?;
                io::copy(&mut entry, &mut f).map_err(ImageError::io("write", &path))?;
            }
            // Docker's legacy saves link duplicate layers: copy the target (inside the archive).
            tar::EntryType::Symlink | tar::EntryType::Link => {
                let target = entry
                    .link_name()
                    .ok()
                    .flatten()
                    .ok_or_else(|| ImageError::invalid("archive", "link without target"))?;
                let base = if entry.header().entry_type() == tar::EntryType::Symlink {
                    rel.parent().unwrap_or(Path::new("")).join(&target)
                } else {
                    target.to_path_buf()
                };
                let src = clean_path(&base).ok_or_else(|| ImageError::UnsafeEntry {
                    path: raw.display().to_string(),
                    reason: "link leaves the archive".into(),
                })?;
                if let Some(p) = path.parent() {
                    fs::create_dir_all(p).map_err(ImageError::io("create", p))?;
                }
                fs::copy(dir.join(&src), &path).map_err(ImageError::io("copy", dir.join(&src)))?;
            }
            _ => {}
        }
    }
    Ok(())
}

struct TempDir(PathBuf);

impl TempDir {
    fn new(parent: &Path) -> Result<Self> {
        use std::sync::atomic::{AtomicU64, Ordering};
        static N: AtomicU64 = AtomicU64::new(0);
        let p = parent.join(format!("load-{}-{}", std::process::id(), N.fetch_add(1, Ordering::Relaxed)));
        fs::create_dir_all(&p).map_err(ImageError::io("create", &p))?;
        Ok(TempDir(p))
    }
}

impl Drop for TempDir {
    fn drop(&mut self) {
        let _ = fs::remove_dir_all(&self.0);
    }
}

struct Spool(File);

impl Spool {
    fn rewind(&mut self) -> Result<()> {
        use std::io::Seek;
        self.0.seek(io::SeekFrom::Start(0)).map(|_| ()).map_err(ImageError::io("seek", "spool"))
    }
}

/// An anonymous temporary file (O_TMPFILE) in `dir`.
fn tempfile_in(dir: &Path) -> Result<Spool> {
    use std::os::unix::fs::OpenOptionsExt;
    fs::OpenOptions::new()
        .read(true)
        .write(true)
        .custom_flags(libc::O_TMPFILE)
        .open(dir)
        .map(Spool)
        .map_err(ImageError::io("create temporary file in", dir))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::testutil::tar_of as rootfs_tar;

    /// Overlay whiteouts in an upper dir become `.wh.` entries.
    #[test]
    fn commit_layer_converts_overlay_whiteouts() {
        let tmp = tempfile::tempdir().unwrap();
        let upper = tmp.path().join("upper");
        fs::create_dir_all(upper.join("opaque")).unwrap();
        fs::write(upper.join("new"), "n").unwrap();
        nix::sys::stat::mknod(
            &upper.join("gone"),
            nix::sys::stat::SFlag::S_IFCHR,
            nix::sys::stat::Mode::from_bits_truncate(0o600),
            0,
        )
        .expect("mknod needs root");
        xattr::set(upper.join("opaque"), "trusted.overlay.opaque", b"y").expect("trusted xattrs need root");
        let mut out = Vec::new();
        layer_from_upper(&upper, &mut out).unwrap();
        let mut names: Vec<String> = tar::Archive::new(&out[..])
            .entries()
            .unwrap()
            .map(|e| e.unwrap().path().unwrap().display().to_string())
            .collect();
        names.sort();
        assert_eq!(names, [".wh.gone", "new", "opaque", "opaque/.wh..wh..opq"]);
        // Export keeps the device as it is (no conversion).
        let mut out = Vec::new();
        export_dir(&upper, &mut out).unwrap();
        assert!(tar::Archive::new(&out[..]).entries().unwrap().any(|e| e.unwrap().path().unwrap().ends_with("gone")));
    }

    fn roundtrip(format: Format) {
        let a = tempfile::tempdir().unwrap();
        let src = Images::open(a.path()).unwrap();
        let img = src.import(&mut &rootfs_tar(&[("bin/x", "hi")])[..], Some("busybox:local"), None, None).unwrap();
        let mut archive = Vec::new();
        src.save(&["busybox:local".to_string()], format, &mut archive).unwrap();
        let b = tempfile::tempdir().unwrap();
        let dst = Images::open(b.path()).unwrap();
        let names = dst.load(&archive[..]).unwrap();
        assert_eq!(names, vec!["busybox:local"], "{format:?}");
        let (_, got) = dst.resolve("busybox:local").unwrap();
        assert_eq!(got.id(), img.id(), "{format:?}: image ID (config digest) survives");
        if format != Format::DockerLegacy {
            assert_eq!(got.manifest_digest, img.manifest_digest, "{format:?}: manifest digest survives");
        }
        assert!(dst.unpack(&got).unwrap().is_some());
    }

    #[test]
    fn roundtrips_every_format() {
        roundtrip(Format::Docker);
        roundtrip(Format::DockerLegacy);
        roundtrip(Format::Oci);
    }

    #[test]
    fn tampered_layer_is_refused() {
        let a = tempfile::tempdir().unwrap();
        let src = Images::open(a.path()).unwrap();
        src.import(&mut &rootfs_tar(&[("f", "original")])[..], Some("x:1"), None, None).unwrap();
        let mut archive = Vec::new();
        src.save(&["x:1".to_string()], Format::DockerLegacy, &mut archive).unwrap();
        let pos = archive.windows(8).position(|w| w == b"original").unwrap();
        archive[pos..pos + 8].copy_from_slice(b"tampered");
        let b = tempfile::tempdir().unwrap();
        let dst = Images::open(b.path()).unwrap();
        let err = dst.load(&archive[..]).unwrap_err();
        assert!(matches!(err, ImageError::DigestMismatch { .. }), "{err}");
        assert!(dst.list().unwrap().is_empty());
    }

    #[test]
    fn export_keeps_metadata_and_symlinks() {
        use std::os::unix::fs::PermissionsExt;
        let tmp = tempfile::tempdir().unwrap();
        let root = tmp.path().join("root");
        fs::create_dir_all(root.join("etc")).unwrap();
        fs::write(root.join("etc/app.conf"), "x").unwrap();
        fs::set_permissions(root.join("etc/app.conf"), fs::Permissions::from_mode(0o640)).unwrap();
        std::os::unix::fs::symlink("/etc/passwd", root.join("link")).unwrap();
        fs::hard_link(root.join("etc/app.conf"), root.join("hard")).unwrap();
        let mut out = Vec::new();
        export_dir(&root, &mut out).unwrap();
        let mut ar = tar::Archive::new(&out[..]);
        let mut seen = BTreeMap::new();
        for e in ar.entries().unwrap() {
            let e = e.unwrap();
            seen.insert(e.path().unwrap().display().to_string(), (e.header().entry_type(), e.header().mode().unwrap()));
        }
        // The first of two hardlinked names carries the data, the other links to it.
        let kinds = [seen["hard"].0, seen["etc/app.conf"].0];
        assert!(kinds.contains(&tar::EntryType::Regular) && kinds.contains(&tar::EntryType::Link), "{kinds:?}");
        assert_eq!(seen["etc/app.conf"].1, 0o640);
        assert_eq!(seen["link"].0, tar::EntryType::Symlink, "links are stored, not followed");
        assert_eq!(seen["etc"].0, tar::EntryType::Directory);
        // The export imports back as an image.
        let b = tempfile::tempdir().unwrap();
        let images = Images::open(b.path()).unwrap();
        let img = images.import(&mut &out[..], Some("exported:1"), None, None).unwrap();
        assert_eq!(img.manifest.layers.len(), 1);
    }

    #[test]
    fn not_an_archive() {
        let b = tempfile::tempdir().unwrap();
        let dst = Images::open(b.path()).unwrap();
        assert!(dst.load(&b"garbage that is not a tar"[..]).is_err());
        let mut empty = tar::Builder::new(Vec::new());
        empty.finish().unwrap();
        let err = dst.load(&empty.into_inner().unwrap()[..]).unwrap_err();
        assert!(err.to_string().contains("not a Docker archive"), "{err}");
    }
}
