//! `GET /distribution/{name}/json`: what a registry holds under a name —
//! the manifest's descriptor and the platforms it serves — without
//! pulling anything.

use std::io::Read;

use super::{Body, Client};
use crate::error::{ImageError, Result};
use crate::manifest::{self, media, Descriptor, ImageConfig, Index, Manifest, Platform};
use crate::reference::Reference;

/// An image config is small; a registry that sends more is refused.
const CONFIG_LIMIT: u64 = 8 << 20;

impl Client {
    /// The descriptor of what `r` names (an index or a manifest) and its
    /// platforms: an index's entries, or a manifest's config's own.
    pub fn inspect_remote(&self, r: &Reference) -> Result<(Descriptor, Vec<Platform>)> {
        let reference = super::manifest_reference(r);
        let (data, media_type) = self.fetch_manifest(r, &reference, r.digest())?;
        let desc = Descriptor::new(&media_type, crate::digest::Digest::sha256(&data), data.len() as u64);
        if media::is_index(&media_type) {
            let idx: Index = manifest::parse("index", &data)?;
            let platforms = idx.manifests.iter().filter_map(|m| m.platform.clone()).collect();
            return Ok((desc, platforms));
        }
        let m: Manifest = manifest::parse("manifest", &data)?;
        let config = self.fetch_small_blob(r, &m.config)?;
        let config: ImageConfig = manifest::parse("image config", &config)?;
        let platform = Platform {
            architecture: config.architecture.clone(),
            os: config.os.clone(),
            os_version: None,
            variant: config.variant.clone(),
        };
        Ok((desc, vec![platform]))
    }

    /// A blob read into memory (at most [`CONFIG_LIMIT`] bytes), verified.
    fn fetch_small_blob(&self, r: &Reference, desc: &Descriptor) -> Result<Vec<u8>> {
        if desc.size > CONFIG_LIMIT {
            return Err(ImageError::invalid("image config", format!("{} bytes is too large", desc.size)));
        }
        let scope = format!("repository:{}:pull", r.repository());
        let resp = self.send(r.registry(), "GET", &self.blob_url(r, &desc.digest), &scope, &[], Body::Empty)?;
        let mut data = Vec::new();
        resp.into_reader().take(CONFIG_LIMIT + 1).read_to_end(&mut data).map_err(|e| Self::err(r.registry(), e))?;
        let actual = crate::digest::Digest::sha256(&data);
        if actual != desc.digest {
            return Err(ImageError::DigestMismatch { expected: desc.digest.to_string(), actual: actual.to_string() });
        }
        Ok(data)
    }
}
