//! /images/…: list, inspect, history, tag, remove, pull/import (create),
//! push, save (get), load, prune, search.

use std::sync::{Arc, Mutex};

use hyper::body::Incoming;
use hyper::{Method, Request, Response, StatusCode};
use serde_json::{json, Value};
use wharf_image::manifest::Platform;
use wharf_image::registry::auth::{CredentialStore, Credentials};
use wharf_image::registry::{Client, JsonLines, Options, Progress};
use wharf_image::{Digest, Reference};

use super::{blocking, json, status, unix_secs, Reply};
use crate::body::{channel, ChannelWriter};
use crate::error::ApiError;
use crate::query::Query;
use crate::State;

/// `POST /auth`: checks credentials against a registry (the CLI stores them).
pub async fn auth(state: Arc<State>, req: Request<Incoming>) -> Reply {
    #[derive(serde::Deserialize, Default)]
    #[serde(default)]
    struct Body {
        username: String,
        password: String,
        serveraddress: String,
    }
    let b: Body = super::read_json(req).await?;
    let registry =
        b.serveraddress.trim_start_matches("https://").trim_start_matches("http://").trim_end_matches('/').to_string();
    let registry =
        if registry.is_empty() || registry.starts_with("index.docker.io") { "docker.io".to_string() } else { registry };
    let creds = Credentials { username: b.username, password: b.password };
    let st = state.clone();
    blocking(move || {
        client(&st, None)
            .verify_login(&registry, &creds)
            .map_err(|e| ApiError::new(StatusCode::UNAUTHORIZED, e.to_string()))
    })
    .await?;
    json(StatusCode::OK, &json!({"Status": "Login Succeeded", "IdentityToken": ""}))
}

pub async fn dispatch(state: Arc<State>, req: Request<Incoming>, method: &Method, path: &str, q: &Query) -> Reply {
    let rest = path.strip_prefix("/images").unwrap_or("").trim_start_matches('/');
    match (method, rest) {
        (&Method::GET, "json") => super::image_list::list(state, q).await,
        (&Method::POST, "create") => create(state, req, q).await,
        (&Method::GET, "get") => save(state, q.get_all("names")).await,
        (&Method::POST, "load") => load(state, req, q).await,
        (&Method::POST, "prune") => prune(state, q).await,
        (&Method::GET, "search") => {
            Err(ApiError::not_implemented("image search is not supported by Wharf: it has no index service to query"))
        }
        (&Method::DELETE, name) if !name.is_empty() => remove(state, name, q).await,
        (m, r) => {
            let (name, action) =
                r.rsplit_once('/').ok_or_else(|| ApiError::not_found(format!("page not found: {path}")))?;
            match (m, action) {
                (&Method::GET, "json") => inspect(state, name).await,
                (&Method::GET, "history") => history(state, name).await,
                (&Method::POST, "tag") => tag(state, name, q).await,
                (&Method::POST, "push") => push(state, req, name, q).await,
                (&Method::GET, "get") => save(state, vec![name.to_string()]).await,
                _ => Err(ApiError::not_found(format!("page not found: {method} {path}"))),
            }
        }
    }
}

trait AllValues {
    fn get_all(&self, k: &str) -> Vec<String>;
}

impl AllValues for Query {
    fn get_all(&self, k: &str) -> Vec<String> {
        self.get(k).map(|v| v.split(',').map(str::to_string).filter(|s| !s.is_empty()).collect()).unwrap_or_default()
    }
}

/// An image's run config in Docker's `Config` shape: every key, Docker's
/// zero values for what the image does not set, the optional ones only when set.
fn docker_config(cfg: &wharf_image::manifest::RunConfig) -> Value {
    let mut v = json!({
        "Hostname": "", "Domainname": "", "User": cfg.user.clone().unwrap_or_default(),
        "AttachStdin": false, "AttachStdout": false, "AttachStderr": false,
        "Tty": false, "OpenStdin": false, "StdinOnce": false, "Env": cfg.env, "Cmd": cfg.cmd,
        "Image": cfg.extra.get("Image").cloned().unwrap_or(json!("")), "Volumes": cfg.volumes,
        "WorkingDir": cfg.working_dir.clone().unwrap_or_default(), "Entrypoint": cfg.entrypoint,
        "OnBuild": cfg.extra.get("OnBuild").cloned().unwrap_or(Value::Null), "Labels": cfg.labels,
    });
    if let Some(p) = cfg.exposed_ports.as_ref().filter(|p| !p.is_empty()) {
        v["ExposedPorts"] = json!(p);
    }
    if let Some(h) = &cfg.healthcheck {
        v["Healthcheck"] = h.clone();
    }
    if let Some(s) = &cfg.stop_signal {
        v["StopSignal"] = json!(s);
    }
    if let Some(a) = cfg.extra.get("ArgsEscaped").filter(|a| a.as_bool() == Some(true)) {
        v["ArgsEscaped"] = a.clone();
    }
    v
}

async fn inspect(state: Arc<State>, name: &str) -> Reply {
    let name = name.to_string();
    let st = state.clone();
    let v = blocking(move || {
        let (record, img) = st.engine.images.resolve(&name)?;
        let tags = st.engine.images.names_of(&img)?;
        let digests = wharf_image::Images::repo_digests_in(&st.engine.images.sources()?, &img);
        let cfg = img.config.config.clone().unwrap_or_default();
        let comment = img.config.history.last().and_then(|h| h.comment.clone()).unwrap_or_default();
        let tagged = record.filter(|r| !r.name.starts_with('@')).map(|r| r.updated);
        Ok(json!({
            "Id": img.id().to_string(), "RepoTags": tags, "RepoDigests": digests, "Parent": "", "Comment": comment,
            "Created": img.config.created, "Container": "", "ContainerConfig": docker_config(&Default::default()),
            "DockerVersion": "", "Author": img.config.author.clone().unwrap_or_default(), "Config": docker_config(&cfg),
            "Architecture": img.config.architecture, "Variant": img.config.variant, "Os": img.config.os,
            "Size": img.size(), "VirtualSize": img.size(),
            "GraphDriver": {"Name": wharf_engine::driver_of_snapshotter(st.engine.images.snapshotter_name()),
                "Data": img.chain_ids().last().map(|top| st.engine.images.snapshots.committed_dirs(top)).filter(|d| !d.is_empty())},
            "RootFS": {"Type": "layers", "Layers": img.config.rootfs.diff_ids},
            "Metadata": {"LastTagTime": tagged.unwrap_or_else(|| "0001-01-01T00:00:00Z".into())},
        }))
    })
    .await?;
    let mut v = v;
    if v["Variant"].is_null() {
        if let Some(o) = v.as_object_mut() {
            o.remove("Variant");
        }
    }
    json(StatusCode::OK, &v)
}

async fn history(state: Arc<State>, name: &str) -> Reply {
    let name = name.to_string();
    let st = state.clone();
    let v = blocking(move || {
        let (_, img) = st.engine.images.resolve(&name)?;
        let names = st.engine.images.names_of(&img)?;
        let tags = if names.is_empty() { Value::Null } else { json!(names) };
        let mut layers = img.manifest.layers.iter().rev();
        let mut out = Vec::new();
        for (i, h) in img.config.history.iter().rev().enumerate() {
            let size = if h.empty_layer == Some(true) { 0 } else { layers.next().map_or(0, |l| l.size) };
            out.push(json!({"Id": if i == 0 { img.id().to_string() } else { "<missing>".into() }, "Created": unix_secs(h.created.as_deref()),
                            "CreatedBy": h.created_by.clone().unwrap_or_default(), "Tags": if i == 0 { tags.clone() } else { Value::Null }, "Size": size, "Comment": h.comment.clone().unwrap_or_default()}));
        }
        Ok(out)
    })
    .await?;
    json(StatusCode::OK, &v)
}

async fn tag(state: Arc<State>, name: &str, q: &Query) -> Reply {
    let repo = q.get("repo").ok_or_else(|| ApiError::bad_request("repo is required"))?.to_string();
    let target = match q.get("tag").filter(|t| !t.is_empty()) {
        Some(t) => format!("{repo}:{t}"),
        None => repo,
    };
    let name = name.to_string();
    let st = state.clone();
    blocking(move || {
        st.engine.images.tag(&name, &target)?;
        let id = st.engine.images.resolve(&target)?.1.id().to_string();
        image_event(&st, "tag", &id, &target);
        Ok(())
    })
    .await?;
    status(StatusCode::CREATED)
}

async fn remove(state: Arc<State>, name: &str, q: &Query) -> Reply {
    let name = name.to_string();
    let force = q.flag("force");
    let st = state.clone();
    let lines = blocking(move || {
        let containers = st.engine.list()?;
        let in_use = |id: &Digest| containers.iter().any(|c| c.image_id == id.to_string());
        let lines = st.engine.images.remove(&name, force, &in_use)?;
        for (action, what) in lines.iter().filter_map(|l| l.split_once(": ")) {
            match action {
                "Untagged" => image_event(&st, "untag", what, what),
                "Deleted" => image_event(&st, "delete", what, what),
                _ => {}
            }
        }
        Ok(lines)
    })
    .await?;
    let out: Vec<Value> = lines.iter().filter_map(|l| l.split_once(": ")).map(|(k, v)| json!({ k: v })).collect();
    json(StatusCode::OK, &out)
}

/// Streams a blocking job's Docker JSON progress; errors go into the stream.
/// A job's progress as Docker's JSON stream, with its last line (or its
/// error) at the end. As Docker's: a job that fails before it reported
/// anything is an HTTP error with the status of its error, not a 200 whose
/// stream holds the error (tools would take that for success).
async fn progress_stream(
    job: impl FnOnce(&dyn Progress) -> Result<Option<Value>, wharf_image::ImageError> + Send + 'static,
) -> Reply {
    let (tx, mut rx) = tokio::sync::mpsc::channel::<bytes::Bytes>(64);
    let mut handle = tokio::task::spawn_blocking(move || {
        let sink = JsonLines(Mutex::new(ChannelWriter(tx)));
        job(&sink)
    });
    let mut pending = Vec::new();
    let mut done = None;
    tokio::select! {
        b = rx.recv() => match b {
            Some(b) => pending.push(b),
            // The job ended (its sink dropped) without a line.
            None => done = Some((&mut handle).await),
        },
        r = &mut handle => done = Some(r),
    }
    if let Some(r) = &done {
        // Lines the job wrote before it ended are still in the channel.
        while let Ok(b) = rx.try_recv() {
            pending.push(b);
        }
        if pending.is_empty() {
            if let Ok(Err(e)) = r {
                return Err(ApiError::new(crate::error::status_of_image(e), e.to_string()));
            }
        }
    }
    let (out, body) = channel();
    tokio::spawn(async move {
        for b in pending {
            if out.send(b).await.is_err() {
                return;
            }
        }
        while let Some(b) = rx.recv().await {
            if out.send(b).await.is_err() {
                return;
            }
        }
        let result = match done {
            Some(r) => r,
            None => handle.await,
        };
        let last = match result {
            Ok(Ok(Some(last))) => last,
            Ok(Ok(None)) => return,
            Ok(Err(e)) => json!({"errorDetail": {"message": e.to_string()}, "error": e.to_string()}),
            Err(e) => json!({"errorDetail": {"message": e.to_string()}, "error": e.to_string()}),
        };
        let _ = out.send(format!("{last}\n").into()).await;
    });
    let mut r = Response::new(body);
    r.headers_mut().insert("Content-Type", "application/json".parse().expect("static header"));
    Ok(r)
}

/// Records an image event (`name` becomes the `name` attribute).
fn image_event(state: &State, action: &str, id: &str, name: &str) {
    let attrs = [("name".to_string(), name.to_string())].into_iter().collect();
    state.engine.emit(&wharf_engine::events::Event::new("image", action, id, attrs));
}

pub fn client(state: &State, auth: Option<Credentials>) -> Client {
    Client::new(
        CredentialStore::default_location(),
        Options { insecure: state.config.insecure_registries.clone(), credentials: auth, ..Options::default() },
    )
}

/// `X-Registry-Auth`: base64url (or standard) JSON with username/password.
pub fn registry_auth(req: &Request<Incoming>) -> Option<Credentials> {
    use base64::Engine;
    let raw = req.headers().get("X-Registry-Auth")?.to_str().ok()?.trim();
    let bytes = base64::engine::general_purpose::URL_SAFE
        .decode(raw)
        .or_else(|_| base64::engine::general_purpose::URL_SAFE_NO_PAD.decode(raw))
        .or_else(|_| base64::engine::general_purpose::STANDARD.decode(raw))
        .ok()?;
    let v: Value = serde_json::from_slice(&bytes).ok()?;
    let username = v["username"].as_str().filter(|u| !u.is_empty())?.to_string();
    Some(Credentials { username, password: v["password"].as_str().unwrap_or("").to_string() })
}

async fn create(state: Arc<State>, req: Request<Incoming>, q: &Query) -> Reply {
    if let Some(src) = q.get("fromSrc") {
        if src != "-" {
            return Err(ApiError::bad_request(
                "importing from a URL is not supported: send the tarball as the body (fromSrc=-)",
            ));
        }
        let mut body = crate::body::reader(req.into_body());
        let name = q.get("repo").filter(|r| !r.is_empty()).map(|r| match q.get("tag").filter(|t| !t.is_empty()) {
            Some(t) => format!("{r}:{t}"),
            None => r.to_string(),
        });
        let message = q.get("message").map(str::to_string);
        let mut run = wharf_image::manifest::RunConfig::default();
        run.apply_changes(&q.all("changes"))?;
        let st = state.clone();
        let id = blocking(move || {
            let id =
                st.engine.images.import(&mut body, name.as_deref(), Some(run), message.as_deref())?.id().to_string();
            image_event(&st, "import", &id, name.as_deref().unwrap_or(&id));
            Ok(id)
        })
        .await?;
        return json(StatusCode::OK, &json!({ "status": id }));
    }
    let image = q
        .get("fromImage")
        .filter(|i| !i.is_empty())
        .ok_or_else(|| ApiError::bad_request("fromImage or fromSrc is required"))?;
    let full = match q.get("tag").filter(|t| !t.is_empty()) {
        Some(t) if t.starts_with("sha256:") => format!("{image}@{t}"),
        Some(t) => format!("{image}:{t}"),
        None => image.to_string(),
    };
    let reference: Reference = full.parse().map_err(ApiError::from)?;
    let platform = q
        .get("platform")
        .filter(|p| !p.is_empty())
        .map(Platform::parse)
        .transpose()
        .map_err(ApiError::from)?
        .unwrap_or_else(Platform::host);
    let auth = registry_auth(&req);
    let st = state.clone();
    progress_stream(move |p| {
        let c = client(&st, auth);
        c.pull(&st.engine.images, &reference, &platform, p)?;
        image_event(&st, "pull", &reference.to_string(), &reference.to_string());
        Ok(Some(json!({"status": format!("Status: Downloaded newer image for {}", reference.familiar())})))
    })
    .await
}

async fn push(state: Arc<State>, req: Request<Incoming>, name: &str, q: &Query) -> Reply {
    let auth = registry_auth(&req);
    let full = match q.get("tag").filter(|t| !t.is_empty()) {
        Some(t) => format!("{name}:{t}"),
        None => name.to_string(),
    };
    let reference: Reference = full.parse().map_err(ApiError::from)?;
    let st = state.clone();
    let known = {
        let r = reference.clone();
        let st = state.clone();
        blocking(move || Ok(st.engine.images.db.get(&r.to_string())?.is_some())).await?
    };
    if !known {
        return Err(ApiError::not_found(format!(
            "An image does not exist locally with the tag: {}",
            reference.familiar()
        )));
    }
    progress_stream(move |p| {
        let c = client(&st, auth);
        let d = c.push(&st.engine.images, &reference, p)?;
        image_event(&st, "push", &reference.to_string(), &reference.to_string());
        Ok(Some(json!({"aux": {"Tag": reference.tag().unwrap_or(""), "Digest": d.to_string()}})))
    })
    .await
}

async fn save(state: Arc<State>, names: Vec<String>) -> Reply {
    if names.is_empty() {
        return Err(ApiError::bad_request("no image names given"));
    }
    // Resolve first: a bad name is a 404, not a broken stream.
    let st = state.clone();
    let check = names.clone();
    blocking(move || {
        for n in &check {
            st.engine.images.resolve(n)?;
        }
        Ok(())
    })
    .await?;
    let (tx, body) = channel();
    let st = state.clone();
    tokio::task::spawn_blocking(move || {
        if let Err(e) = st.engine.images.save(&names, wharf_image::archive::Format::Docker, ChannelWriter(tx)) {
            tracing::warn!("save: {e}");
        }
    });
    let mut r = Response::new(body);
    r.headers_mut().insert("Content-Type", "application/x-tar".parse().expect("static header"));
    Ok(r)
}

async fn load(state: Arc<State>, req: Request<Incoming>, q: &Query) -> Reply {
    let body = crate::body::reader(req.into_body());
    // `quiet` only silences progress bars; the "Loaded image" lines always go out (as in dockerd).
    let _quiet = q.flag("quiet");
    let st = state.clone();
    let loaded = blocking(move || {
        let names = st.engine.images.load(body)?;
        for n in &names {
            image_event(&st, "load", n, n);
        }
        Ok(names)
    })
    .await;
    // As dockerd: the archive is read as the response streams, so what is
    // wrong with it is reported in the stream (a 200), not as a status.
    let names = match loaded {
        Ok(names) => names,
        Err(e) => {
            let line = json!({"errorDetail": {"message": e.message}, "error": e.message});
            let mut r = Response::new(crate::body::full(format!("{line}\n")));
            r.headers_mut().insert("Content-Type", "application/json".parse().expect("static header"));
            return Ok(r);
        }
    };
    let mut out = String::new();
    for n in names {
        let line =
            if n.starts_with("sha256:") { format!("Loaded image ID: {n}\n") } else { format!("Loaded image: {n}\n") };
        out.push_str(&json!({ "stream": line }).to_string());
        out.push('\n');
    }
    let mut r = Response::new(crate::body::full(out));
    r.headers_mut().insert("Content-Type", "application/json".parse().expect("static header"));
    Ok(r)
}

async fn prune(state: Arc<State>, q: &Query) -> Reply {
    let f = super::prune::PruneFilter::parse(q, true, &["dangling"])?;
    // `dangling=false`: every unused image, not only the untagged ones.
    let all = super::prune::bool_filter(&f.extra, "dangling")? == Some(false);
    let st = state.clone();
    let (deleted, freed) = blocking(move || {
        let containers = st.engine.list()?;
        let keep = |img: &wharf_image::Image| {
            let id = img.config_digest.to_string();
            let run = img.config.config.as_ref();
            let labels = run.and_then(|r| r.labels.clone()).unwrap_or_default();
            containers.iter().any(|c| c.image_id == id) || !f.selects(&labels, img.config.created.as_deref())
        };
        Ok(st.engine.images.prune(all, &keep)?)
    })
    .await?;
    let list: Vec<Value> = deleted.iter().map(|d| json!({"Deleted": d.to_string()})).collect();
    json(StatusCode::OK, &json!({"ImagesDeleted": list, "SpaceReclaimed": freed.bytes}))
}
