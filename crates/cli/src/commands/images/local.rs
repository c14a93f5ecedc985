//! [`ImageEngine`] on the image library: the store under `--data-root`
//! opened in this process, with the engine's containers and volumes for
//! "in use" and `system df`.

use std::fs::File;
use std::io::{self, IsTerminal, Read, Write};
use std::path::Path;

use anyhow::{bail, Context, Result};
use serde_json::{json, Value};
use wharf_image::archive::Format;
use wharf_image::manifest::Platform;
use wharf_image::{Digest, Reference};

use super::engine::{DiskUsage, HistoryLine, ImageEngine, ImageLine};
use super::progress::Renderer;

pub struct Local {
    engine: wharf_engine::Engine,
    insecure: Vec<String>,
}

impl Local {
    pub fn open(data_root: &Path, insecure: &[String]) -> Result<Local> {
        Ok(Local { engine: wharf_engine::Engine::open(data_root)?, insecure: insecure.to_vec() })
    }

    fn store(&self) -> &wharf_image::Images {
        &self.engine.images
    }

    /// Image ids some container was created from.
    fn used(&self) -> Result<Vec<String>> {
        Ok(self.engine.list()?.into_iter().map(|c| c.image_id).collect())
    }
}

impl ImageEngine for Local {
    fn list(&self, _all: bool) -> Result<Vec<ImageLine>> {
        let store = self.store();
        // A digest only for the repositories a registry has it in, as the daemon's.
        let sources = store.sources()?;
        let known = |r: &wharf_image::service::Summary| {
            let name = format!("{}:{}", r.repository, r.tag).parse::<Reference>().ok().map(|x| x.name());
            name.is_some_and(|n| sources.get(&r.id.to_string()).is_some_and(|repos| repos.contains(&n)))
        };
        Ok(store
            .list()?
            .into_iter()
            .map(|r| ImageLine {
                digest: if known(&r) { r.digest.to_string() } else { "<none>".into() },
                repository: r.repository,
                tag: r.tag,
                id: r.id.to_string(),
                created: r.created,
                size: r.size,
            })
            .collect())
    }

    fn tag(&self, source: &str, target: &str) -> Result<()> {
        Ok(self.store().tag(source, target)?)
    }

    fn remove(&self, name: &str, force: bool) -> Result<Vec<String>> {
        let used = self.used()?;
        Ok(self.store().remove(name, force, &|id: &Digest| used.contains(&id.to_string()))?)
    }

    fn inspect(&self, name: &str) -> Result<Option<Value>> {
        let store = self.store();
        let img = match store.resolve(name) {
            Ok((_, img)) => img,
            Err(wharf_image::ImageError::ImageNotFound(_)) => return Ok(None),
            Err(e) => return Err(e.into()),
        };
        let tags = store.names_of(&img)?;
        let repo_digests = wharf_image::Images::repo_digests_in(&store.sources()?, &img);
        Ok(Some(json!({
            "Id": img.id().to_string(),
            "RepoTags": tags,
            "RepoDigests": repo_digests,
            "Created": img.config.created,
            "Author": img.config.author.clone().unwrap_or_default(),
            "Architecture": img.config.architecture,
            "Os": img.config.os,
            "Config": img.config.config,
            "Size": img.size(),
            "RootFS": {"Type": "layers", "Layers": img.config.rootfs.diff_ids},
            "Metadata": {"LastTagTime": ""},
        })))
    }

    fn history(&self, name: &str) -> Result<Vec<HistoryLine>> {
        let (_, img) = self.store().resolve(name)?;
        let mut layers = img.manifest.layers.iter().rev();
        Ok(img
            .config
            .history
            .iter()
            .rev()
            .enumerate()
            .map(|(i, h)| HistoryLine {
                id: if i == 0 { img.id().to_string() } else { "<missing>".into() },
                created: h.created.clone(),
                created_by: h.created_by.clone().unwrap_or_default(),
                size: if h.empty_layer == Some(true) { 0 } else { layers.next().map_or(0, |l| l.size) },
                comment: h.comment.clone().unwrap_or_default(),
            })
            .collect())
    }

    fn prune(&self, all: bool) -> Result<(Vec<String>, u64)> {
        let used = self.used()?;
        let (deleted, freed) = self.store().prune(all, &|img| used.contains(&img.config_digest.to_string()))?;
        Ok((deleted.iter().map(|d| format!("deleted: {d}")).collect(), freed.bytes))
    }

    fn import(
        &self,
        mut tarball: Box<dyn Read + Send>,
        reference: Option<&str>,
        changes: &[String],
        message: Option<&str>,
    ) -> Result<String> {
        let run = super::apply_changes(changes)?;
        Ok(self.store().import(&mut tarball, reference, Some(run), message)?.id().to_string())
    }

    fn load(&self, input: Option<&Path>, _progress: &Renderer) -> Result<Vec<String>> {
        let store = self.store();
        Ok(match input {
            Some(p) if p.is_dir() => store.load_dir(p)?,
            Some(p) => {
                store.load(io::BufReader::new(File::open(p).with_context(|| format!("open {}", p.display()))?))?
            }
            None => {
                if io::stdin().is_terminal() {
                    bail!("requested load from stdin, but stdin is empty");
                }
                store.load(io::stdin().lock())?
            }
        })
    }

    fn save(&self, names: &[String], format: &str, out: &mut dyn Write) -> Result<()> {
        let format: Format = format.parse()?;
        Ok(self.store().save(names, format, out)?)
    }

    fn save_dir(&self, names: &[String], dir: &Path) -> Result<()> {
        Ok(self.store().save_dir(names, Format::Oci, dir)?)
    }

    fn pull(&self, name: &str, platform: Option<&str>, progress: &Renderer) -> Result<()> {
        let r: Reference = name.parse()?;
        let platform = platform.map(Platform::parse).transpose()?.unwrap_or_else(Platform::host);
        let store = self.store();
        let before = store.db.get(&r.to_string())?.map(|rec| rec.target.digest);
        crate::commands::registry::client(&self.insecure).pull(store, &r, &platform, progress)?;
        let after = store.db.get(&r.to_string())?.map(|rec| rec.target.digest);
        progress.message(&if before.is_some() && before == after {
            format!("Status: Image is up to date for {}", r.familiar())
        } else {
            format!("Status: Downloaded newer image for {}", r.familiar())
        });
        Ok(())
    }

    fn push(&self, name: &str, progress: &Renderer) -> Result<Option<String>> {
        let r: Reference = name.parse()?;
        let digest = crate::commands::registry::client(&self.insecure).push(self.store(), &r, progress)?;
        Ok(Some(digest.to_string()))
    }

    fn disk_usage(&self) -> Result<DiskUsage> {
        let rows = self.store().list()?;
        let du = self.store().disk_usage()?;
        let used = self.used()?;
        // One entry per image (the store lists one row per name).
        let mut images: Vec<(&Digest, u64)> = Vec::new();
        for r in &rows {
            if !images.iter().any(|(id, _)| *id == &r.id) {
                images.push((&r.id, r.size));
            }
        }
        let active = images.iter().filter(|(d, _)| used.contains(&d.to_string())).count();
        let unused: u64 = images.iter().filter(|(d, _)| !used.contains(&d.to_string())).map(|(_, s)| s).sum();
        let containers = self.engine.list()?;
        let volumes = self.engine.list_volumes()?;
        let mut out = DiskUsage {
            images: images.len(),
            images_active: active,
            images_size: du.blob_bytes + du.snapshot_bytes,
            images_reclaimable: unused,
            containers: containers.len(),
            containers_running: containers.iter().filter(|c| c.state.status == wharf_engine::Status::Running).count(),
            volumes: volumes.len(),
            ..Default::default()
        };
        for v in &volumes {
            let size = wharf_engine::volumes::disk_size(&v.mountpoint);
            let users = self.engine.volume_users(&v.name).map(|u| u.len()).unwrap_or(0);
            out.volumes_size += size;
            if users > 0 {
                out.volumes_active += 1;
            } else {
                out.volumes_reclaimable += size;
            }
        }
        Ok(out)
    }
}
