//! Wharf's image layer: content-addressed blobs, image references and
//! metadata, unpacked layer snapshots, registries and archives.
//!
//! **Architecture invariant:** `image` knows nothing about containers being
//! run or HTTP servers; it hands the engine mount specs and image configs.

pub mod archive;
pub mod content;
pub mod digest;
pub mod error;
pub mod manifest;
pub mod metadata;
pub mod reference;
pub mod registry;
pub mod service;
pub mod snapshot;
pub mod unpack;

pub use digest::Digest;
pub use error::{ImageError, Result};
pub use reference::Reference;
pub use service::{Image, Images};
