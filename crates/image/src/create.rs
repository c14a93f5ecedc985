//! How images come to be: `import`, `commit`, `with_config`, unpacking
//! and root filesystems, each under a lease (`lease.rs`) so that a GC
//! running meanwhile (`rmi`, `image prune`) keeps what they write. The
//! `_in` variants take the caller's lease (a build holds one for its whole
//! run); the plain ones hold their own for the call.

use std::io::Read;

use serde::Serialize;

use crate::content::ContentWriter;
use crate::digest::Digest;
use crate::error::{ImageError, Result};
use crate::lease::{Lease, Resource};
use crate::manifest::{media, Descriptor, History, ImageConfig, Manifest, RootFs, RunConfig};
use crate::metadata::ImageRecord;
use crate::reference::Reference;
use crate::service::{dangling_name, now, Image, Images};
use crate::snapshot::{MountSpec, Snapshotter};

impl Images {
    /// A new lease on this image root (see `lease.rs`), released on drop.
    pub fn lease(&self, label: &str) -> Result<Lease> {
        self.leases.create(label)
    }

    /// Adds everything `img` consists of to `lease` (its manifests, config,
    /// layers and snapshots), then checks its blobs are all still there
    /// (`BlobNotFound` if a GC took them before).
    pub fn lease_image(&self, lease: &Lease, img: &Image) -> Result<()> {
        for d in self.reference_image(lease, img)? {
            if self.content.stat(&d)?.is_none() {
                return Err(ImageError::BlobNotFound(d.to_string()));
            }
        }
        Ok(())
    }

    fn reference_image(&self, lease: &Lease, img: &Image) -> Result<Vec<Digest>> {
        let mut blobs = vec![img.target.digest.clone(), img.manifest_digest.clone(), img.config_digest.clone()];
        blobs.extend(img.manifest.layers.iter().map(|l| l.digest.clone()));
        let chains = img.chain_ids();
        lease.add(blobs.iter().cloned().map(Resource::Blob).chain(chains.into_iter().map(Resource::Snapshot)))?;
        Ok(blobs)
    }

    /// Unpacks every layer not yet unpacked; returns the top ChainID (None for an empty image).
    pub fn unpack(&self, img: &Image) -> Result<Option<Digest>> {
        self.unpack_in(&self.lease("unpack")?, img)
    }

    /// `unpack` with the snapshots (and the layers read) referenced by `lease`.
    pub fn unpack_in(&self, lease: &Lease, img: &Image) -> Result<Option<Digest>> {
        let chains = img.chain_ids();
        lease.add(chains.iter().cloned().map(Resource::Snapshot))?;
        for (i, layer) in img.manifest.layers.iter().enumerate() {
            if self.snapshots.exists(&chains[i]) {
                continue;
            }
            let mut blob = self.content.open(&layer.digest)?;
            let parent = i.checked_sub(1).map(|p| &chains[p]);
            self.snapshots.apply(&chains[i], parent, &img.config.rootfs.diff_ids[i], &mut blob)?;
        }
        Ok(chains.last().cloned())
    }

    /// A writable root filesystem `key` for a container of `img`.
    pub fn prepare_rootfs(&self, key: &str, img: &Image) -> Result<Vec<MountSpec>> {
        let lease = self.lease("prepare")?;
        let top = self.unpack_in(&lease, img)?;
        self.snapshots.prepare(key, top.as_ref())
    }

    /// Stores a document (referenced by `lease`) and returns its descriptor.
    pub fn put_json<T: Serialize>(&self, lease: &Lease, media_type: &str, doc: &T) -> Result<Descriptor> {
        let data = serde_json::to_vec(doc).map_err(|e| ImageError::Other(e.to_string()))?;
        let d = self.put(lease, &data)?;
        Ok(Descriptor::new(media_type, d, data.len() as u64))
    }

    /// Stores a blob, referenced by `lease` before it is written.
    pub fn put(&self, lease: &Lease, data: &[u8]) -> Result<Digest> {
        let d = Digest::sha256(data);
        lease.add([Resource::Blob(d.clone()), Resource::Ingest(format!("put-{}", d.hex()))])?;
        self.content.put(data)
    }

    /// Publishes writer `w` under its computed digest, referenced by `lease` with no GC in between.
    pub fn commit_computed(&self, lease: &Lease, w: Box<dyn ContentWriter>) -> Result<(Digest, u64)> {
        lease.protect(|| w.commit_computed(), |(d, _)| vec![Resource::Blob(d.clone())])
    }

    /// A content writer whose ingest `key` is referenced by `lease`.
    pub fn writer(&self, lease: &Lease, key: &str) -> Result<Box<dyn ContentWriter>> {
        lease.add([Resource::Ingest(key.to_string())])?;
        self.content.writer(key)
    }

    /// `import`: a root filesystem tarball becomes a one-layer image. On
    /// failure nothing it wrote is left.
    pub fn import(
        &self,
        tarball: &mut dyn Read,
        name: Option<&str>,
        run: Option<RunConfig>,
        message: Option<&str>,
    ) -> Result<Image> {
        let lease = self.lease("import")?;
        let result = self.import_in(&lease, tarball, name, run, message);
        drop(lease);
        if result.is_err() {
            self.gc(&[])?;
        }
        result
    }

    /// `import` under the caller's lease (a build's).
    pub fn import_in(
        &self,
        lease: &Lease,
        tarball: &mut dyn Read,
        name: Option<&str>,
        run: Option<RunConfig>,
        message: Option<&str>,
    ) -> Result<Image> {
        let name = name.map(|n| n.parse::<Reference>()).transpose()?;
        let mut w = self.writer(lease, &format!("import-{}-{}", std::process::id(), now()))?;
        w.truncate()?;
        let mut decoded = crate::unpack::decompress(tarball)?;
        std::io::copy(&mut decoded, &mut w).map_err(ImageError::io("import", "layer"))?;
        let (layer, size) = self.commit_computed(lease, w)?;
        let created = now();
        let config = ImageConfig {
            created: Some(created.clone()),
            architecture: self.platform.architecture.clone(),
            os: self.platform.os.clone(),
            config: Some(run.unwrap_or_default()),
            rootfs: RootFs { typ: "layers".into(), diff_ids: vec![layer.clone()] },
            history: vec![History {
                created: Some(created),
                created_by: Some("wharf import".into()),
                comment: Some(
                    message.filter(|m| !m.is_empty()).map_or_else(|| "Imported from -".to_string(), str::to_string),
                ),
                empty_layer: None,
            }],
            ..Default::default()
        };
        let config_desc = self.put_json(lease, media::OCI_CONFIG, &config)?;
        let manifest = Manifest {
            schema_version: 2,
            media_type: Some(media::OCI_MANIFEST.into()),
            config: config_desc,
            layers: vec![Descriptor::new(media::OCI_LAYER, layer, size)],
            annotations: None,
        };
        let target = self.put_json(lease, media::OCI_MANIFEST, &manifest)?;
        // Unpack now: a malformed tarball is refused before it gets a name.
        let img = self.image(&target)?;
        self.unpack_in(lease, &img)?;
        self.keep(target, name.as_ref())?;
        Ok(img)
    }

    /// `commit`: the changes in writable view `key` become a new top layer
    /// over `base`, with `run` as the image's runtime config.
    pub fn commit(
        &self,
        key: &str,
        base: &Image,
        run: RunConfig,
        comment: Option<&str>,
        author: Option<&str>,
        name: Option<&str>,
    ) -> Result<Image> {
        self.commit_in(&self.lease("commit")?, key, base, run, comment, author, name)
    }

    /// `commit` under the caller's lease (a build's).
    #[allow(clippy::too_many_arguments)]
    pub fn commit_in(
        &self,
        lease: &Lease,
        key: &str,
        base: &Image,
        run: RunConfig,
        comment: Option<&str>,
        author: Option<&str>,
        name: Option<&str>,
    ) -> Result<Image> {
        let name = name.map(|n| n.parse::<Reference>()).transpose()?;
        self.reference_image(lease, base)?;
        let mut w = self.writer(lease, &format!("commit-{key}-{}", now()))?;
        w.truncate()?;
        self.snapshots.diff(key, &mut w)?;
        let (layer, size) = self.commit_computed(lease, w)?;
        let created = now();
        let mut config = base.config.clone();
        config.created = Some(created.clone());
        config.author = author.filter(|a| !a.is_empty()).map(str::to_string);
        config.config = Some(run);
        config.rootfs.diff_ids.push(layer.clone());
        config.history.push(History {
            created: Some(created),
            created_by: Some("wharf commit".into()),
            comment: comment.filter(|c| !c.is_empty()).map(str::to_string),
            empty_layer: None,
        });
        let mut layers = base.manifest.layers.clone();
        layers.push(Descriptor::new(media::OCI_LAYER, layer, size));
        let manifest = Manifest {
            schema_version: 2,
            media_type: Some(media::OCI_MANIFEST.into()),
            config: self.put_json(lease, media::OCI_CONFIG, &config)?,
            layers,
            annotations: None,
        };
        let target = self.put_json(lease, media::OCI_MANIFEST, &manifest)?;
        let img = self.image(&target)?;
        self.unpack_in(lease, &img)?;
        self.keep(target, name.as_ref())?;
        Ok(img)
    }

    /// A new image with `base`'s layers and `run` as its runtime config (a
    /// builder's metadata-only steps), left untagged.
    pub fn with_config(&self, base: &Image, run: RunConfig, created_by: &str) -> Result<Image> {
        self.with_config_in(&self.lease("config")?, base, run, created_by)
    }

    /// `with_config` under the caller's lease (a build's).
    pub fn with_config_in(&self, lease: &Lease, base: &Image, run: RunConfig, created_by: &str) -> Result<Image> {
        self.reference_image(lease, base)?;
        let created = now();
        let mut config = base.config.clone();
        config.created = Some(created.clone());
        config.config = Some(run);
        config.history.push(History {
            created: Some(created),
            created_by: Some(created_by.to_string()),
            comment: None,
            empty_layer: Some(true),
        });
        let manifest = Manifest {
            schema_version: 2,
            media_type: Some(media::OCI_MANIFEST.into()),
            config: self.put_json(lease, media::OCI_CONFIG, &config)?,
            layers: base.manifest.layers.clone(),
            annotations: None,
        };
        let target = self.put_json(lease, media::OCI_MANIFEST, &manifest)?;
        let img = self.image(&target)?;
        self.keep(target, None)?;
        Ok(img)
    }

    /// Names a new image, or records it as dangling (so GC keeps it until pruned).
    fn keep(&self, target: Descriptor, name: Option<&Reference>) -> Result<()> {
        match name {
            Some(n) => self.set_name(n, target),
            None => {
                self.db.put(ImageRecord { name: dangling_name(&target.digest), target, updated: now() }).map(|_| ())
            }
        }
    }
}
