//! A backend for tests: keeps containers, networks, volumes and images in
//! memory, records every call, and can be told how a container's health
//! or exit turns out.

use std::collections::BTreeMap;
use std::sync::Mutex;

use serde_json::Value as J;

use super::{Backend, BuildContext, BuildSpec, Injected, State, Summary};
use crate::error::{ComposeError, Result};

#[derive(Debug, Clone)]
pub struct FakeContainer {
    pub id: String,
    pub name: String,
    pub body: J,
    pub state: String,
    pub networks: Vec<(String, Vec<String>)>,
    /// Files written in by `inject`.
    pub files: Vec<Injected>,
    /// Its volume mounts (name, destination), anonymous ones named as an engine would.
    pub volumes: Vec<(String, String)>,
}

#[derive(Debug, Default)]
struct Inner {
    containers: Vec<FakeContainer>,
    networks: BTreeMap<String, J>,
    volumes: BTreeMap<String, J>,
    images: Vec<String>,
    calls: Vec<String>,
    next: u32,
    /// Per service: the health its containers report once running, or their exit code.
    health: BTreeMap<String, String>,
    exits: BTreeMap<String, i64>,
    /// Builds of each image name so far.
    builds: BTreeMap<String, u32>,
    /// Services whose containers the engine refuses to create.
    refused: Vec<String>,
}

#[derive(Debug, Default)]
pub struct FakeBackend(Mutex<Inner>);

fn err(m: String) -> ComposeError {
    ComposeError::Engine { status: 404, message: m }
}

impl FakeBackend {
    pub fn new(images: &[&str]) -> FakeBackend {
        let b = FakeBackend::default();
        b.lock().images = images.iter().map(|s| s.to_string()).collect();
        b
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, Inner> {
        self.0.lock().unwrap_or_else(|e| e.into_inner())
    }

    pub fn calls(&self) -> Vec<String> {
        self.lock().calls.clone()
    }

    pub fn clear_calls(&self) {
        self.lock().calls.clear();
    }

    pub fn containers_now(&self) -> Vec<FakeContainer> {
        self.lock().containers.clone()
    }

    pub fn network_names(&self) -> Vec<String> {
        self.lock().networks.keys().cloned().collect()
    }

    pub fn volume_names(&self) -> Vec<String> {
        self.lock().volumes.keys().cloned().collect()
    }

    /// A service's containers report `health` once they run.
    pub fn set_health(&self, service: &str, health: &str) {
        self.lock().health.insert(service.into(), health.into());
    }

    /// Creating a container of `service` fails from now on.
    pub fn refuse_create(&self, service: &str) {
        self.lock().refused.push(service.into());
    }

    /// A service's containers exit with `code` right after they start.
    pub fn set_exit(&self, service: &str, code: i64) {
        self.lock().exits.insert(service.into(), code);
    }

    fn set_state(&self, id: &str, state: &str, call: &str) -> Result<()> {
        let mut i = self.lock();
        let c = i.containers.iter_mut().find(|c| c.id == id).ok_or_else(|| err(id.into()))?;
        c.state = state.into();
        let name = c.name.clone();
        i.calls.push(format!("{call} {name}"));
        Ok(())
    }

    pub fn images_now(&self) -> Vec<String> {
        self.lock().images.clone()
    }

    fn service_of(c: &FakeContainer) -> String {
        c.body["Labels"]["com.docker.compose.service"].as_str().unwrap_or_default().to_string()
    }
}

fn labels(body: &J) -> BTreeMap<String, String> {
    body["Labels"]
        .as_object()
        .map(|o| o.iter().map(|(k, v)| (k.clone(), v.as_str().unwrap_or_default().to_string())).collect())
        .unwrap_or_default()
}

impl Backend for FakeBackend {
    fn containers(&self, project: &str) -> Result<Vec<Summary>> {
        let i = self.lock();
        Ok(i.containers
            .iter()
            .filter(|c| c.body["Labels"]["com.docker.compose.project"] == project)
            .map(|c| Summary {
                id: c.id.clone(),
                name: c.name.clone(),
                labels: labels(&c.body),
                state: c.state.clone(),
            })
            .collect())
    }

    fn networks(&self, project: &str) -> Result<Vec<String>> {
        let i = self.lock();
        Ok(i.networks
            .iter()
            .filter(|(_, b)| b["Labels"]["com.docker.compose.project"] == project)
            .map(|(n, _)| n.clone())
            .collect())
    }

    fn volumes(&self, project: &str) -> Result<Vec<String>> {
        let i = self.lock();
        Ok(i.volumes
            .iter()
            .filter(|(_, b)| b["Labels"]["com.docker.compose.project"] == project)
            .map(|(n, _)| n.clone())
            .collect())
    }

    fn network_exists(&self, name: &str) -> Result<bool> {
        Ok(self.lock().networks.contains_key(name))
    }

    fn volume_exists(&self, name: &str) -> Result<bool> {
        Ok(self.lock().volumes.contains_key(name))
    }

    fn create_network(&self, body: &J) -> Result<()> {
        let mut i = self.lock();
        let name = body["Name"].as_str().unwrap_or_default().to_string();
        i.calls.push(format!("network create {name}"));
        i.networks.insert(name, body.clone());
        Ok(())
    }

    fn create_volume(&self, body: &J) -> Result<()> {
        let mut i = self.lock();
        let name = body["Name"].as_str().unwrap_or_default().to_string();
        i.calls.push(format!("volume create {name}"));
        i.volumes.insert(name, body.clone());
        Ok(())
    }

    fn remove_network(&self, name: &str) -> Result<()> {
        let mut i = self.lock();
        i.calls.push(format!("network rm {name}"));
        i.networks.remove(name).map(|_| ()).ok_or_else(|| err(format!("network {name} not found")))
    }

    fn remove_volume(&self, name: &str) -> Result<()> {
        let mut i = self.lock();
        i.calls.push(format!("volume rm {name}"));
        i.volumes.remove(name).map(|_| ()).ok_or_else(|| err(format!("volume {name} not found")))
    }

    fn image_exists(&self, image: &str) -> Result<bool> {
        Ok(self.lock().images.iter().any(|i| i == image))
    }

    fn image_id(&self, image: &str) -> Result<Option<String>> {
        let i = self.lock();
        // An id per build of the name: a rebuild makes another.
        let builds = i.builds.get(image).copied().unwrap_or(0);
        Ok(i.images.iter().any(|x| x == image).then(|| format!("sha256:{image}#{builds}")))
    }

    fn pull(&self, image: &str) -> Result<()> {
        let mut i = self.lock();
        i.calls.push(format!("pull {image}"));
        Err(err(format!("pull access denied for {image}")))
    }

    fn create(&self, name: &str, body: &J) -> Result<String> {
        let mut i = self.lock();
        if i.containers.iter().any(|c| c.name == name) {
            return Err(ComposeError::Engine { status: 409, message: format!("name {name} is in use") });
        }
        if i.refused.iter().any(|r| body["Labels"]["com.docker.compose.service"] == r.as_str()) {
            return Err(ComposeError::Engine { status: 500, message: format!("cannot create {name}") });
        }
        i.next += 1;
        let id = format!("{:064x}", i.next);
        i.calls.push(format!("create {name}"));
        let network = body["HostConfig"]["NetworkMode"].as_str().unwrap_or_default().to_string();
        let aliases: Vec<String> = body["NetworkingConfig"]["EndpointsConfig"][&network]["Aliases"]
            .as_array()
            .map(|a| a.iter().filter_map(|x| x.as_str().map(str::to_string)).collect())
            .unwrap_or_default();
        let networks = if network.is_empty() { Vec::new() } else { vec![(network, aliases)] };
        let n = i.next;
        let volumes = body["HostConfig"]["Mounts"]
            .as_array()
            .into_iter()
            .flatten()
            .filter(|m| m["Type"] == "volume")
            .enumerate()
            .map(|(k, m)| {
                let name = m["Source"].as_str().map_or_else(|| format!("{:060x}{:04x}", n, k), str::to_string);
                (name, m["Target"].as_str().unwrap_or_default().to_string())
            })
            .collect();
        i.containers.push(FakeContainer {
            id: id.clone(),
            name: name.into(),
            body: body.clone(),
            state: "created".into(),
            networks,
            files: Vec::new(),
            volumes,
        });
        Ok(id)
    }

    fn rename(&self, id: &str, name: &str) -> Result<()> {
        let mut i = self.lock();
        if i.containers.iter().any(|c| c.name == name && c.id != id) {
            return Err(ComposeError::Engine { status: 409, message: format!("name {name} is in use") });
        }
        let c = i.containers.iter_mut().find(|c| c.id == id).ok_or_else(|| err(id.into()))?;
        let old = std::mem::replace(&mut c.name, name.into());
        i.calls.push(format!("rename {old} {name}"));
        Ok(())
    }

    fn connect(&self, network: &str, container: &str, aliases: &[String]) -> Result<()> {
        let mut i = self.lock();
        i.calls.push(format!("connect {network} {container}"));
        let c = i
            .containers
            .iter_mut()
            .find(|c| c.id == container || c.name == container)
            .ok_or_else(|| err(container.into()))?;
        c.networks.push((network.into(), aliases.to_vec()));
        Ok(())
    }

    fn start(&self, id: &str) -> Result<()> {
        let mut i = self.lock();
        let exits = i.exits.clone();
        let c = i.containers.iter_mut().find(|c| c.id == id).ok_or_else(|| err(id.into()))?;
        let name = c.name.clone();
        c.state = if exits.contains_key(&FakeBackend::service_of(c)) { "exited".into() } else { "running".into() };
        i.calls.push(format!("start {name}"));
        Ok(())
    }

    fn stop(&self, id: &str, _timeout: Option<i64>) -> Result<()> {
        let mut i = self.lock();
        let c = i.containers.iter_mut().find(|c| c.id == id).ok_or_else(|| err(id.into()))?;
        c.state = "exited".into();
        let name = c.name.clone();
        i.calls.push(format!("stop {name}"));
        Ok(())
    }

    fn remove(&self, id: &str, _volumes: bool) -> Result<()> {
        let mut i = self.lock();
        let at = i.containers.iter().position(|c| c.id == id).ok_or_else(|| err(id.into()))?;
        let c = i.containers.remove(at);
        i.calls.push(format!("rm {}", c.name));
        Ok(())
    }

    fn restart(&self, id: &str, timeout: Option<i64>) -> Result<()> {
        self.stop(id, timeout)?;
        self.start(id)
    }

    fn kill(&self, id: &str, signal: Option<&str>) -> Result<()> {
        self.set_state(id, "exited", &format!("kill {}", signal.unwrap_or("SIGKILL")))
    }

    fn pause(&self, id: &str) -> Result<()> {
        self.set_state(id, "paused", "pause")
    }

    fn unpause(&self, id: &str) -> Result<()> {
        self.set_state(id, "running", "unpause")
    }

    fn build(&self, spec: &BuildSpec) -> Result<()> {
        let mut i = self.lock();
        i.calls.push(format!("build {}", spec.tags.join(",")));
        if let BuildContext::Dir(dir) = &spec.context {
            if !dir.join(&spec.dockerfile).is_file() {
                return Err(ComposeError::Engine {
                    status: 400,
                    message: format!("no Dockerfile in {}", dir.display()),
                });
            }
        }
        // A named context: an image that must be here (none is in a registry), or a directory.
        for (name, value) in &spec.contexts {
            let missing = match value.strip_prefix("docker-image://") {
                Some(image) => !i.images.iter().any(|x| x == image),
                None => !std::path::Path::new(value).is_dir(),
            };
            if missing {
                return Err(ComposeError::Engine {
                    status: 404,
                    message: format!("build context {name}: {value} not found"),
                });
            }
        }
        i.images.extend(spec.tags.iter().cloned());
        for t in &spec.tags {
            *i.builds.entry(t.clone()).or_default() += 1;
        }
        Ok(())
    }

    fn push(&self, image: &str) -> Result<()> {
        self.lock().calls.push(format!("push {image}"));
        Ok(())
    }

    fn remove_image(&self, image: &str) -> Result<()> {
        let mut i = self.lock();
        i.calls.push(format!("rmi {image}"));
        let at = i.images.iter().position(|x| x == image).ok_or_else(|| err(format!("no such image {image}")))?;
        i.images.remove(at);
        Ok(())
    }

    fn inject(&self, id: &str, file: &Injected) -> Result<()> {
        let mut i = self.lock();
        let c = i.containers.iter_mut().find(|c| c.id == id).ok_or_else(|| err(id.into()))?;
        let name = c.name.clone();
        c.files.push(file.clone());
        i.calls.push(format!("inject {name} {}", file.path));
        Ok(())
    }

    fn volume_mounts(&self, id: &str) -> Result<Vec<(String, String)>> {
        let i = self.lock();
        let c = i.containers.iter().find(|c| c.id == id).ok_or_else(|| err(id.into()))?;
        Ok(c.volumes.clone())
    }

    fn state(&self, id: &str) -> Result<State> {
        let i = self.lock();
        let c = i.containers.iter().find(|c| c.id == id).ok_or_else(|| err(id.into()))?;
        let service = FakeBackend::service_of(c);
        Ok(State {
            running: c.state == "running",
            // The file's healthcheck, or one its image has (a health set for the service).
            health: if c.body.get("Healthcheck").is_some() || i.health.contains_key(&service) {
                i.health.get(&service).cloned().or(Some("starting".into()))
            } else {
                None
            },
            exit_code: (c.state == "exited").then(|| i.exits.get(&service).copied().unwrap_or(0)),
        })
    }
}
