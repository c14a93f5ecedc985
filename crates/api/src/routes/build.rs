//! `POST /build`: the classic builder's API (what `DOCKER_BUILDKIT=0 docker
//! build` and `wharf build` send): a tar context in, a JSON stream out.

use std::collections::BTreeMap;
use std::sync::Arc;

use hyper::body::Incoming;
use hyper::{Request, Response, StatusCode};
use serde_json::{json, Value};

use super::Reply;
use crate::body::channel;
use crate::error::ApiError;
use crate::query::Query;
use crate::State;

fn json_map(q: &Query, key: &str) -> Result<BTreeMap<String, String>, ApiError> {
    let Some(raw) = q.get(key).filter(|r| !r.is_empty()) else { return Ok(BTreeMap::new()) };
    let v: BTreeMap<String, Option<String>> =
        serde_json::from_str(raw).map_err(|_| ApiError::bad_request(format!("invalid {key}: {raw}")))?;
    Ok(v.into_iter().filter_map(|(k, v)| v.map(|v| (k, v))).collect())
}

pub async fn build(state: Arc<State>, req: Request<Incoming>, q: &Query) -> Reply {
    super::honoured::check_build(q.pairs())?;
    let tags = q.all("t");
    for t in &tags {
        t.parse::<wharf_image::Reference>().map_err(ApiError::from)?;
    }
    let build_args = json_map(q, "buildargs")?;
    let labels = json_map(q, "labels")?;
    let mut dockerfile = q.get("dockerfile").filter(|d| !d.is_empty()).unwrap_or("Dockerfile").to_string();
    // A git repository or an http(s) URL the daemon fetches (the body is then empty).
    let remote = q.get("remote").filter(|r| !r.is_empty()).map(str::to_string);
    if let Some(r) = &remote {
        wharf_build::remote::Remote::parse(r)?;
    }
    let target = q.get("target").filter(|t| !t.is_empty()).map(str::to_string);
    let quiet = q.flag("q");
    let no_cache = q.flag("nocache");
    // Wharf's extension: named contexts (see `wharf_build::named`).
    let named = q.get(wharf_build::named::QUERY).map(str::to_string);
    if remote.is_some() && named.as_deref().is_some_and(|n| !n.is_empty()) {
        return Err(ApiError::bad_request(format!("remote and {} cannot be combined", wharf_build::named::QUERY)));
    }
    let context = crate::body::reader(req.into_body());
    // Messages of the stream; an error carries the HTTP status it gets when
    // nothing was sent before it (then the build fails with that status, as
    // Docker's does when it cannot even start).
    let (tx, mut rx) = tokio::sync::mpsc::channel::<(Value, Option<StatusCode>)>(64);
    let st = state.clone();
    tokio::task::spawn_blocking(move || {
        let send = |v: Value, status: Option<StatusCode>| {
            let _ = tx.blocking_send((v, status));
        };
        let dir = st.engine.root().join("tmp").join(format!("build-{}", &wharf_common::ids::new_id()[..12]));
        // Docker's order at the end: the image ID (`aux`), then "Successfully built/tagged".
        let mut finished = Vec::new();
        let result = (|| -> Result<wharf_image::Image, wharf_build::BuildError> {
            std::fs::create_dir_all(&dir).map_err(|e| wharf_build::BuildError::Io { path: dir.clone(), source: e })?;
            let (context, contexts) = match &remote {
                Some(r) => {
                    let mut context = context;
                    if std::io::Read::read(&mut context, &mut [0u8; 1])
                        .map_err(|e| wharf_build::BuildError::Context(e.to_string()))?
                        != 0
                    {
                        return Err(wharf_build::BuildError::Context(
                            "remote is given: the request's body must be empty".into(),
                        ));
                    }
                    let fetched = wharf_build::remote::fetch(r, &dir)?;
                    if let Some(d) = fetched.dockerfile {
                        dockerfile = d;
                    }
                    (fetched.context, Default::default())
                }
                None => {
                    let plain = wharf_image::unpack::decompress(context)?;
                    wharf_image::unpack::unpack_layer(plain, &dir)
                        .map_err(|e| wharf_build::BuildError::Context(format!("build context: {e}")))?;
                    wharf_build::named::decode(named.as_deref(), &dir)?
                }
            };
            let req = wharf_build::BuildRequest {
                context,
                contexts,
                dockerfile,
                tags,
                build_args,
                labels,
                target,
                monitor_exe: st.config.monitor_exe.clone(),
                no_cache,
            };
            let mut out = |s: &str| {
                if s.starts_with("Successfully") {
                    finished.push(s.to_string());
                } else if !quiet {
                    send(json!({ "stream": s }), None);
                }
            };
            wharf_build::build(&st.engine, &req, &mut out)
        })();
        let _ = std::fs::remove_dir_all(&dir);
        match result {
            Ok(img) => {
                send(json!({"aux": {"ID": img.id().to_string()}}), None);
                for s in finished {
                    send(json!({ "stream": s }), None);
                }
            }
            Err(e) => {
                let code = match &e {
                    wharf_build::BuildError::RunFailed { code, .. } => *code,
                    _ => 1,
                };
                let message = e.to_string();
                let status = ApiError::from(e).status;
                send(json!({"errorDetail": {"code": code, "message": message}, "error": message}), Some(status));
            }
        }
    });
    let first = rx.recv().await;
    if let Some((v, Some(status))) = &first {
        return Err(ApiError::new(*status, v["error"].as_str().unwrap_or("build failed")));
    }
    let (btx, body) = channel();
    tokio::spawn(async move {
        let mut next = first;
        while let Some((v, _)) = next {
            if btx.send(format!("{v}\n").into()).await.is_err() {
                return;
            }
            next = rx.recv().await;
        }
    });
    let mut r = Response::new(body);
    r.headers_mut().insert("Content-Type", "application/json".parse().expect("static header"));
    Ok(r)
}

/// `POST /build/prune`: the classic builder's cache (its entries and the
/// untagged step images only they kept). `until` is honoured; the other
/// filters name BuildKit's record kinds, which the classic cache has not.
pub async fn prune(state: Arc<State>, q: &Query) -> Reply {
    if let Some(k) = q.get("keep-storage").filter(|k| !matches!(*k, "" | "0")) {
        return Err(ApiError::bad_request(format!("keep-storage={k} is not supported by Wharf")));
    }
    let mut until = None;
    for (k, vals) in q.filters()? {
        match k.as_str() {
            "until" => {
                let [v] = vals.as_slice() else {
                    return Err(ApiError::bad_request("more than one until filter specified"));
                };
                until = Some(
                    crate::query::timestamp(v)
                        .ok_or_else(|| ApiError::bad_request(format!("invalid until filter {v:?}")))?,
                );
            }
            k => {
                return Err(ApiError::bad_request(format!(
                    "Invalid filter '{k}' (the classic builder's cache has none)"
                )))
            }
        }
    }
    let st = state.clone();
    let pruned = super::blocking(move || {
        let containers = st.engine.list()?;
        let in_use = |img: &wharf_image::Image| containers.iter().any(|c| c.image_id == img.config_digest.to_string());
        Ok(wharf_build::cache::prune(&st.engine.images, until, &in_use)?)
    })
    .await?;
    super::json(StatusCode::OK, &json!({"CachesDeleted": pruned.entries, "SpaceReclaimed": pruned.bytes}))
}
