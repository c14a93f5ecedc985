//! Wharf's sandbox layer: an OCI runtime.
//!
//! [`Runtime`] is the plugin point: [`Native`] is the built-in backend (fork,
//! namespaces, cgroups, pivot_root, capabilities, seccomp, all in-process),
//! [`OciBinary`] drives any runc-compatible binary by path.
//!
//! **Architecture invariant:** this crate knows nothing about images, networks
//! or HTTP; its input is an OCI bundle.

// `unsafe` lives in `sys/` only (each block with a SAFETY comment).
#![deny(unsafe_code)]

pub mod cgroups;
/// Confined reads and the one in-root path resolver (in `wharf-common`, shared with the image layer).
pub use wharf_common::confined;
pub mod console;
pub mod error;
#[cfg(any(test, feature = "fake"))]
pub mod fake;
pub mod hooks;
mod init;
pub mod lsm;
pub mod mounts;
pub mod native;
pub mod oci_binary;
pub mod process;
pub mod seccomp;
pub mod spec;
pub mod state;
mod stdio;
mod sync;
#[allow(unsafe_code)]
pub mod sys;

pub use error::{Result, RuntimeError};
pub use init::INIT_ANNOTATION;
pub use native::{CreateOptions, ExecOptions, Native, StdioFds};
pub use oci_binary::OciBinary;
pub use state::{State, Status};

use oci_spec::runtime::Process;

/// The operations of the OCI runtime CLI, as a trait every backend implements
/// (the built-in [`Native`], [`OciBinary`] for runc/crun/youki, and the
/// `fake` feature's [`fake::Fake`]); one shared suite (`tests/runtime/suite.rs`,
/// `fake.rs` tests) holds them to the same contract.
pub trait Runtime: Send + Sync {
    /// Creates the container; its init's host pid. The init gets
    /// `opts.stdio` (else inherits the caller's 0-2) unless the spec asks for a terminal.
    fn create(&self, id: &str, opts: &CreateOptions) -> Result<i32>;
    fn start(&self, id: &str) -> Result<()>;
    fn state(&self, id: &str) -> Result<State>;
    fn kill(&self, id: &str, signal: i32, all: bool) -> Result<()>;
    fn delete(&self, id: &str, force: bool) -> Result<()>;
    fn pause(&self, id: &str) -> Result<()>;
    fn resume(&self, id: &str) -> Result<()>;
    fn ps(&self, id: &str) -> Result<Vec<i32>>;
    /// Runs `process` in the container; the exit code, or 0 once started with `opts.detach`.
    fn exec(&self, id: &str, process: &Process, opts: &ExecOptions) -> Result<i32>;
    /// Resource usage of a live container.
    fn stats(&self, id: &str) -> Result<cgroups::CgroupStats>;
    /// Applies new resource limits to a live container (`runc update`).
    fn update(&self, id: &str, resources: &oci_spec::runtime::LinuxResources) -> Result<()>;
}

impl Runtime for Native {
    fn create(&self, id: &str, opts: &CreateOptions) -> Result<i32> {
        Native::create(self, id, opts)
    }
    fn start(&self, id: &str) -> Result<()> {
        Native::start(self, id)
    }
    fn state(&self, id: &str) -> Result<State> {
        Native::state(self, id)
    }
    fn kill(&self, id: &str, signal: i32, all: bool) -> Result<()> {
        Native::kill(self, id, signal, all)
    }
    fn delete(&self, id: &str, force: bool) -> Result<()> {
        Native::delete(self, id, force)
    }
    fn pause(&self, id: &str) -> Result<()> {
        Native::pause(self, id)
    }
    fn resume(&self, id: &str) -> Result<()> {
        Native::resume(self, id)
    }
    fn ps(&self, id: &str) -> Result<Vec<i32>> {
        Native::ps(self, id)
    }
    fn exec(&self, id: &str, process: &Process, opts: &ExecOptions) -> Result<i32> {
        Native::exec(self, id, process, opts)
    }
    fn stats(&self, id: &str) -> Result<cgroups::CgroupStats> {
        Native::stats(self, id)
    }
    fn update(&self, id: &str, resources: &oci_spec::runtime::LinuxResources) -> Result<()> {
        Native::update(self, id, resources)
    }
}
