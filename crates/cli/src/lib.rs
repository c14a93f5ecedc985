//! The library half of the `wharf` binary: its Engine API client and
//! Compose's backend on it (`wharf_compose::backend::Backend` over any
//! Docker-API daemon). The binary's own code (anyhow, as the binary), a
//! library only so that the end-to-end tests can run the compose
//! Backend's contract suite on the real backend.

#![forbid(unsafe_code)]

pub mod client;
pub mod compose_backend;
pub mod embedded;
