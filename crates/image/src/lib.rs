//! Wharf's image layer: content-addressed blobs, image references and
//! metadata, unpacked layer snapshots, registries and archives.
//!
//! **Architecture invariant:** `image` knows nothing about containers being
//! run or HTTP servers; it hands the engine mount specs and image configs.

#![forbid(unsafe_code)]

pub mod archive;
pub mod content;
mod create;
pub mod digest;
pub mod error;
pub mod lease;
pub mod manifest;
pub mod metadata;
pub mod reference;
pub mod registry;
pub mod rwlayer;
pub mod service;
pub mod snapshot;
pub mod tarball;
pub mod unpack;

pub use digest::Digest;
pub use error::{ImageError, RegistryErrorKind, Result};
pub use reference::Reference;
pub use service::{Image, Images, Options};

/// Helpers shared by this crate's unit tests.
#[cfg(test)]
pub(crate) mod testutil {
    /// A tar of regular files (mode 0755).
    pub fn tar_of(files: &[(&str, &str)]) -> Vec<u8> {
        let mut b = tar::Builder::new(Vec::new());
        for (p, data) in files {
            let mut h = tar::Header::new_gnu();
            h.set_path(p).unwrap();
            h.set_size(data.len() as u64);
            h.set_mode(0o755);
            h.set_entry_type(tar::EntryType::Regular);
            h.set_cksum();
            b.append(&h, data.as_bytes()).unwrap();
        }
        b.into_inner().unwrap()
    }
}
