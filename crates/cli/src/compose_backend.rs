//! `wharf compose`'s backend on any Docker-API daemon (Wharf's or dockerd),
//! through the CLI's Engine API client: the real implementation of
//! `wharf_compose::backend::Backend`.

use std::io::BufRead;

use serde_json::{json, Value};
use wharf_compose::backend::{Backend, BuildContext, BuildSpec, Injected, State, Summary};
use wharf_compose::ComposeError;

use crate::client::{enc, ApiFailure, Client};

pub struct ApiBackend<'a>(pub &'a Client);

type R<T> = Result<T, ComposeError>;

fn engine(e: anyhow::Error) -> ComposeError {
    match e.downcast_ref::<ApiFailure>() {
        Some(f) => ComposeError::Engine { status: f.status, message: f.message.clone() },
        None => ComposeError::Engine { status: 0, message: format!("{e:#}") },
    }
}

fn label_filter(project: &str) -> String {
    enc(&json!({"label": [format!("com.docker.compose.project={project}")]}).to_string())
}

/// `name:tag` (a registry's port is not a tag); `latest` when untagged;
/// `name@digest` whole.
pub fn split(image: &str) -> (&str, &str) {
    // A digest pins the image: the whole reference, no tag.
    if image.contains('@') {
        return (image, "");
    }
    match image.rsplit_once(':').filter(|(_, t)| !t.contains('/')) {
        Some((n, t)) => (n, t),
        None => (image, "latest"),
    }
}

/// A progress stream (pull, push, build): an `error` in it is the failure.
fn stream_errors(body: impl std::io::Read) -> R<()> {
    for line in std::io::BufReader::new(body).lines() {
        let line = line.map_err(|e| ComposeError::Engine { status: 0, message: e.to_string() })?;
        if let Ok(v) = serde_json::from_str::<Value>(&line) {
            if let Some(err) = v["error"].as_str() {
                return Err(ComposeError::Engine { status: 0, message: err.to_string() });
            }
        }
    }
    Ok(())
}

impl ApiBackend<'_> {
    fn exists(&self, path: &str) -> R<bool> {
        match self.0.get(path) {
            Ok(_) => Ok(true),
            Err(e) if crate::client::status_of(&e) == Some(404) => Ok(false),
            Err(e) => Err(engine(e)),
        }
    }
}

impl Backend for ApiBackend<'_> {
    fn containers(&self, project: &str) -> R<Vec<Summary>> {
        let list = self.0.get(&format!("/containers/json?all=1&filters={}", label_filter(project))).map_err(engine)?;
        Ok(list
            .as_array()
            .map(|a| {
                a.iter()
                    .map(|c| Summary {
                        id: c["Id"].as_str().unwrap_or_default().to_string(),
                        name: c["Names"][0].as_str().unwrap_or_default().trim_start_matches('/').to_string(),
                        labels: c["Labels"]
                            .as_object()
                            .map(|o| {
                                o.iter().map(|(k, v)| (k.clone(), v.as_str().unwrap_or_default().to_string())).collect()
                            })
                            .unwrap_or_default(),
                        state: c["State"].as_str().unwrap_or_default().to_string(),
                    })
                    .collect()
            })
            .unwrap_or_default())
    }

    fn networks(&self, project: &str) -> R<Vec<String>> {
        let list = self.0.get(&format!("/networks?filters={}", label_filter(project))).map_err(engine)?;
        Ok(list
            .as_array()
            .map(|a| a.iter().filter_map(|n| n["Name"].as_str().map(str::to_string)).collect())
            .unwrap_or_default())
    }

    fn volumes(&self, project: &str) -> R<Vec<String>> {
        let list = self.0.get(&format!("/volumes?filters={}", label_filter(project))).map_err(engine)?;
        Ok(list["Volumes"]
            .as_array()
            .map(|a| a.iter().filter_map(|v| v["Name"].as_str().map(str::to_string)).collect())
            .unwrap_or_default())
    }

    fn network_exists(&self, name: &str) -> R<bool> {
        self.exists(&format!("/networks/{}", enc(name)))
    }

    fn volume_exists(&self, name: &str) -> R<bool> {
        self.exists(&format!("/volumes/{}", enc(name)))
    }

    fn create_network(&self, body: &Value) -> R<()> {
        self.0.post("/networks/create", Some(body)).map(|_| ()).map_err(engine)
    }

    fn create_volume(&self, body: &Value) -> R<()> {
        self.0.post("/volumes/create", Some(body)).map(|_| ()).map_err(engine)
    }

    fn remove_network(&self, name: &str) -> R<()> {
        self.0.delete(&format!("/networks/{}", enc(name))).map(|_| ()).map_err(engine)
    }

    fn remove_volume(&self, name: &str) -> R<()> {
        self.0.delete(&format!("/volumes/{}", enc(name))).map(|_| ()).map_err(engine)
    }

    fn image_exists(&self, image: &str) -> R<bool> {
        self.exists(&format!("/images/{}/json", enc(image)))
    }

    fn image_id(&self, image: &str) -> R<Option<String>> {
        match self.0.get(&format!("/images/{}/json", enc(image))) {
            Ok(v) => Ok(v["Id"].as_str().map(str::to_string)),
            Err(e) if crate::client::status_of(&e) == Some(404) => Ok(None),
            Err(e) => Err(engine(e)),
        }
    }

    fn pull(&self, image: &str) -> R<()> {
        let (name, tag) = split(image);
        let path = format!("/images/create?fromImage={}&tag={}", enc(name), enc(tag));
        let resp = self.0.request("POST", &path, None).map_err(engine)?;
        stream_errors(resp.body)
    }

    fn create(&self, name: &str, body: &Value) -> R<String> {
        let r = self.0.post(&format!("/containers/create?name={}", enc(name)), Some(body)).map_err(engine)?;
        Ok(r["Id"].as_str().unwrap_or_default().to_string())
    }

    fn rename(&self, id: &str, name: &str) -> R<()> {
        self.0.post(&format!("/containers/{id}/rename?name={}", enc(name)), None).map(|_| ()).map_err(engine)
    }

    fn connect(&self, network: &str, container: &str, aliases: &[String]) -> R<()> {
        let body = json!({"Container": container, "EndpointConfig": {"Aliases": aliases}});
        self.0.post(&format!("/networks/{}/connect", enc(network)), Some(&body)).map(|_| ()).map_err(engine)
    }

    fn start(&self, id: &str) -> R<()> {
        self.0.post(&format!("/containers/{id}/start"), None).map(|_| ()).map_err(engine)
    }

    fn stop(&self, id: &str, timeout: Option<i64>) -> R<()> {
        let t = timeout.map(|t| format!("?t={t}")).unwrap_or_default();
        match self.0.post(&format!("/containers/{id}/stop{t}"), None) {
            // 304: already stopped.
            Err(e) if crate::client::status_of(&e) == Some(304) => Ok(()),
            r => r.map(|_| ()).map_err(engine),
        }
    }

    fn remove(&self, id: &str, volumes: bool) -> R<()> {
        self.0.delete(&format!("/containers/{id}?force=1&v={}", u8::from(volumes))).map(|_| ()).map_err(engine)
    }

    fn restart(&self, id: &str, timeout: Option<i64>) -> R<()> {
        let t = timeout.map(|t| format!("?t={t}")).unwrap_or_default();
        self.0.post(&format!("/containers/{id}/restart{t}"), None).map(|_| ()).map_err(engine)
    }

    fn kill(&self, id: &str, signal: Option<&str>) -> R<()> {
        let q = signal.map(|s| format!("?signal={}", enc(s))).unwrap_or_default();
        self.0.post(&format!("/containers/{id}/kill{q}"), None).map(|_| ()).map_err(engine)
    }

    fn pause(&self, id: &str) -> R<()> {
        self.0.post(&format!("/containers/{id}/pause"), None).map(|_| ()).map_err(engine)
    }

    fn unpause(&self, id: &str) -> R<()> {
        self.0.post(&format!("/containers/{id}/unpause"), None).map(|_| ()).map_err(engine)
    }

    /// `POST /build` with the context as Wharf's builder takes it (`.dockerignore` applied).
    /// Named contexts (`additional_contexts`) go as Wharf's extension, so
    /// only to a Wharf daemon (another would build without them).
    fn build(&self, spec: &BuildSpec) -> R<()> {
        let (context, named, remote) = match &spec.context {
            // The daemon fetches it (Docker's `remote`); named contexts are refused with one.
            BuildContext::Remote(url) => {
                (Box::new(std::io::empty()) as Box<dyn std::io::Read + Send>, String::new(), Some(url))
            }
            BuildContext::Dir(dir) => {
                let io = |e: std::io::Error| ComposeError::Io { path: dir.clone(), source: e };
                if !dir.is_dir() {
                    return Err(io(std::io::Error::new(
                        std::io::ErrorKind::NotFound,
                        "the build context is not a directory",
                    )));
                }
                let mut named = std::collections::BTreeMap::new();
                for (k, v) in &spec.contexts {
                    let nc = wharf_build::NamedContext::parse(k, v, dir)
                        .map_err(|e| ComposeError::Project(format!("service {:?}: {e}", spec.service)))?;
                    named.insert(k.clone(), nc);
                }
                if !named.is_empty() && !self.0.is_wharf().map_err(engine)? {
                    return Err(ComposeError::Project(format!(
                        "service {:?}: build.additional_contexts needs a Wharf daemon (the classic POST /build of this daemon cannot carry named contexts)",
                        spec.service
                    )));
                }
                let (body, named) = crate::client::build_body(dir, &spec.dockerfile, &named).map_err(engine)?;
                (body, named, None)
            }
        };
        let map = |pairs: &[(String, String)]| {
            enc(&Value::Object(pairs.iter().map(|(k, v)| (k.clone(), json!(v))).collect()).to_string())
        };
        let mut q = format!(
            "dockerfile={}&nocache={}&buildargs={}&labels={}",
            enc(&spec.dockerfile),
            u8::from(spec.no_cache),
            map(&spec.args),
            map(&spec.labels)
        );
        for t in &spec.tags {
            q.push_str(&format!("&t={}", enc(t)));
        }
        if let Some(t) = &spec.target {
            q.push_str(&format!("&target={}", enc(t)));
        }
        if !named.is_empty() {
            q.push_str(&format!("&{}={}", wharf_build::named::QUERY, enc(&named)));
        }
        if let Some(url) = remote {
            q.push_str(&format!("&remote={}", enc(url)));
        }
        let resp = self.0.upload("POST", &format!("/build?{q}"), "application/x-tar", context).map_err(engine)?;
        stream_errors(resp.body)
    }

    fn push(&self, image: &str) -> R<()> {
        let (name, tag) = split(image);
        let resp =
            self.0.request("POST", &format!("/images/{}/push?tag={}", enc(name), enc(tag)), None).map_err(engine)?;
        stream_errors(resp.body)
    }

    fn remove_image(&self, image: &str) -> R<()> {
        self.0.delete(&format!("/images/{}", enc(image))).map(|_| ()).map_err(engine)
    }

    /// `PUT /containers/{id}/archive?path=/` with the file alone (its missing
    /// parents are made by the extraction; one that is there keeps its owner and mode).
    fn inject(&self, id: &str, file: &Injected) -> R<()> {
        let io = |e: std::io::Error| ComposeError::Io { path: file.path.clone().into(), source: e };
        let mut tar = tar::Builder::new(Vec::new());
        let rel = file.path.trim_start_matches('/');
        let mut h = tar::Header::new_gnu();
        h.set_mode(file.mode);
        h.set_uid(file.uid.into());
        h.set_gid(file.gid.into());
        h.set_size(file.content.len() as u64);
        tar.append_data(&mut h, rel, file.content.as_slice()).map_err(io)?;
        let bytes = tar.into_inner().map_err(io)?;
        self.0
            .upload(
                "PUT",
                &format!("/containers/{id}/archive?path=/"),
                "application/x-tar",
                Box::new(std::io::Cursor::new(bytes)),
            )
            .map(|_| ())
            .map_err(engine)
    }

    fn volume_mounts(&self, id: &str) -> R<Vec<(String, String)>> {
        let c = self.0.get(&format!("/containers/{id}/json")).map_err(engine)?;
        Ok(c["Mounts"]
            .as_array()
            .into_iter()
            .flatten()
            .filter(|m| m["Type"] == "volume")
            .filter_map(|m| Some((m["Name"].as_str()?.to_string(), m["Destination"].as_str()?.to_string())))
            .collect())
    }

    fn state(&self, id: &str) -> R<State> {
        let c = self.0.get(&format!("/containers/{id}/json")).map_err(engine)?;
        let s = &c["State"];
        let running = s["Running"].as_bool().unwrap_or(false);
        Ok(State {
            running,
            health: s["Health"]["Status"].as_str().map(str::to_string),
            exit_code: (!running && s["Status"] == "exited").then(|| s["ExitCode"].as_i64().unwrap_or(0)),
        })
    }
}
