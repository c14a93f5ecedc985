//! Wharf's engine: turns an image plus run options into a container — an
//! OCI spec merged from the image config and the request, a root filesystem
//! from the image's snapshots — and drives the runtime.
//!
//! **Architecture invariant:** the engine speaks no HTTP and parses no CLI
//! flags; the API and CLI layers translate into [`RunOptions`].

#![forbid(unsafe_code)]

pub mod adopt;
pub mod archive;
mod bundle;
pub mod claim;
pub mod containers;
pub mod devices;
mod engine;
pub mod error;
pub mod events;
pub mod exec;
pub mod health;
pub mod hostinfo;
#[cfg(test)]
mod lifecycle_tests;
pub mod logs;
mod model;
pub mod modes;
pub mod monitor;
mod names;
pub mod network;
mod options;
pub mod probes;
pub mod protocol;
pub mod resolver;
pub mod resources;
pub mod run;
pub mod runtimes;
pub mod security;
pub mod spec;
pub mod stats;
mod store;
pub mod supervise;
pub mod sys;
pub mod update;
pub mod user;
pub mod volumes;

pub use containers::{Container, CreateRequest, State, Status};
pub use engine::{driver_of_snapshotter, snapshotter_of_driver, Engine, DEFAULT_EXEC_ROOT};
pub use error::{EngineError, Result};
pub use options::{RunOptions, StaticEndpoint};
