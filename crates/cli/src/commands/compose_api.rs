//! `wharf compose`'s backend on any Docker-API daemon (Wharf's or dockerd),
//! through the CLI's Engine API client: the real implementation of
//! `wharf_compose::backend::Backend`.

use std::io::BufRead;

use serde_json::{json, Value};
use wharf_compose::backend::{Backend, State, Summary};
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

    fn pull(&self, image: &str) -> R<()> {
        let (name, tag) = match image.rsplit_once(':').filter(|(_, t)| !t.contains('/')) {
            Some((n, t)) => (n, t),
            None => (image, "latest"),
        };
        let path = format!("/images/create?fromImage={}&tag={}", enc(name), enc(tag));
        let resp = self.0.request("POST", &path, None).map_err(engine)?;
        // The progress stream: an `error` in it is the pull's failure.
        for line in std::io::BufReader::new(resp.body).lines() {
            let line = line.map_err(|e| ComposeError::Engine { status: 0, message: e.to_string() })?;
            if let Ok(v) = serde_json::from_str::<Value>(&line) {
                if let Some(err) = v["error"].as_str() {
                    return Err(ComposeError::Engine { status: 0, message: err.to_string() });
                }
            }
        }
        Ok(())
    }

    fn create(&self, name: &str, body: &Value) -> R<String> {
        let r = self.0.post(&format!("/containers/create?name={}", enc(name)), Some(body)).map_err(engine)?;
        Ok(r["Id"].as_str().unwrap_or_default().to_string())
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
