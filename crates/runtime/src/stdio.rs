//! The stdio a runtime gives a container's process (`CreateOptions::stdio`,
//! `ExecOptions::stdio`).

use std::os::fd::OwnedFd;

use crate::error::{Result, RuntimeError};

/// The stdin, stdout and stderr a container's process gets instead of the
/// caller's own 0-2 (shared handles: options are cloned, the fds are not).
#[derive(Debug, Clone)]
pub struct StdioFds {
    pub stdin: std::sync::Arc<OwnedFd>,
    pub stdout: std::sync::Arc<OwnedFd>,
    pub stderr: std::sync::Arc<OwnedFd>,
}

impl StdioFds {
    pub fn new(stdin: OwnedFd, stdout: OwnedFd, stderr: OwnedFd) -> Self {
        StdioFds { stdin: stdin.into(), stdout: stdout.into(), stderr: stderr.into() }
    }

    /// Owned duplicates, for a child process builder.
    pub fn dup(&self) -> Result<(OwnedFd, OwnedFd, OwnedFd)> {
        let d = |fd: &OwnedFd| fd.try_clone().map_err(RuntimeError::io("dup", "stdio"));
        Ok((d(&self.stdin)?, d(&self.stdout)?, d(&self.stderr)?))
    }
}
