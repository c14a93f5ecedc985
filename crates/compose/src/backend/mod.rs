//! The engine a project runs on — a plugin point: any Docker-API daemon
//! (Wharf's or dockerd, through the CLI's Engine API client), with a fake
//! (`fake.rs`) that records calls and keeps state for the unit tests of
//! `up` and `down`. Everything is addressed by Docker's names and
//! labels, so a project is found again by whoever runs Compose next.

use std::collections::BTreeMap;
use std::path::PathBuf;

use serde_json::Value as J;

use crate::error::Result;

#[cfg(any(test, feature = "test-util"))]
pub mod contract;
#[cfg(any(test, feature = "test-util"))]
pub mod fake;

/// A container of a project, as a list by label shows it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Summary {
    pub id: String,
    pub name: String,
    pub labels: BTreeMap<String, String>,
    /// `created`, `running`, `exited`, `paused`…
    pub state: String,
}

impl Summary {
    pub fn label(&self, key: &str) -> Option<&str> {
        self.labels.get(key).map(String::as_str)
    }

    pub fn service(&self) -> Option<&str> {
        self.label("com.docker.compose.service")
    }

    pub fn number(&self) -> u32 {
        self.label("com.docker.compose.container-number").and_then(|n| n.parse().ok()).unwrap_or(0)
    }
}

/// What waiting on a dependency needs to know of a container.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct State {
    pub running: bool,
    /// `starting`, `healthy`, `unhealthy`, or None without a healthcheck.
    pub health: Option<String>,
    pub exit_code: Option<i64>,
}

/// Where a build's files come from.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum BuildContext {
    /// A directory of the client's.
    Dir(PathBuf),
    /// A git repository or an http(s) URL the daemon fetches.
    Remote(String),
}

/// A service's image build: what the builder is asked for.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct BuildSpec {
    pub service: String,
    pub context: BuildContext,
    pub dockerfile: String,
    pub args: Vec<(String, String)>,
    pub target: Option<String>,
    pub labels: Vec<(String, String)>,
    /// The image's name first, then `build.tags`.
    pub tags: Vec<String>,
    pub no_cache: bool,
    /// Named contexts (`additional_contexts`): name, and `docker-image://REF`
    /// or an absolute directory.
    pub contexts: Vec<(String, String)>,
    /// The services whose images `contexts` name (built before this one).
    pub needs: Vec<String>,
}

/// A file written into a container before it starts.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Injected {
    pub path: String,
    pub content: Vec<u8>,
    pub uid: u32,
    pub gid: u32,
    pub mode: u32,
}

/// Shared by the threads that bring up one level's services in parallel.
pub trait Backend: Sync {
    /// Every container (running or not) with `com.docker.compose.project=project`.
    fn containers(&self, project: &str) -> Result<Vec<Summary>>;
    /// Names of the networks / volumes labelled with the project.
    fn networks(&self, project: &str) -> Result<Vec<String>>;
    fn volumes(&self, project: &str) -> Result<Vec<String>>;
    fn network_exists(&self, name: &str) -> Result<bool>;
    fn volume_exists(&self, name: &str) -> Result<bool>;
    /// `POST /networks/create` and `POST /volumes/create` bodies.
    fn create_network(&self, body: &J) -> Result<()>;
    fn create_volume(&self, body: &J) -> Result<()>;
    fn remove_network(&self, name: &str) -> Result<()>;
    fn remove_volume(&self, name: &str) -> Result<()>;
    fn image_exists(&self, image: &str) -> Result<bool>;
    /// The image's id (`sha256:…`), None if there is no such image.
    fn image_id(&self, image: &str) -> Result<Option<String>>;
    fn pull(&self, image: &str) -> Result<()>;
    /// `POST /containers/create?name=` with the body; the new id.
    fn create(&self, name: &str, body: &J) -> Result<String>;
    /// Gives the container a new name (taken names are refused).
    fn rename(&self, id: &str, name: &str) -> Result<()>;
    fn connect(&self, network: &str, container: &str, aliases: &[String]) -> Result<()>;
    fn start(&self, id: &str) -> Result<()>;
    fn stop(&self, id: &str, timeout: Option<i64>) -> Result<()>;
    fn remove(&self, id: &str, volumes: bool) -> Result<()>;
    fn state(&self, id: &str) -> Result<State>;
    /// The container's volume mounts: (volume name, destination).
    fn volume_mounts(&self, id: &str) -> Result<Vec<(String, String)>>;
    fn restart(&self, id: &str, timeout: Option<i64>) -> Result<()>;
    /// The signal's name or number; None is SIGKILL.
    fn kill(&self, id: &str, signal: Option<&str>) -> Result<()>;
    fn pause(&self, id: &str) -> Result<()>;
    fn unpause(&self, id: &str) -> Result<()>;
    /// Builds the image and tags it with every one of `spec.tags`.
    fn build(&self, spec: &BuildSpec) -> Result<()>;
    fn push(&self, image: &str) -> Result<()>;
    fn remove_image(&self, image: &str) -> Result<()>;
    /// Writes a file (and its missing parent directories) into a created container.
    fn inject(&self, id: &str, file: &Injected) -> Result<()>;
}

#[cfg(test)]
mod tests {
    #[test]
    fn the_fake_keeps_the_contract() {
        super::contract::run(&super::fake::FakeBackend::new(&["img"]), "contract", "img");
    }
}
