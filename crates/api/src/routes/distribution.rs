//! `GET /distribution/{name}/json`: a registry's descriptor and platforms
//! for a name, as `docker manifest inspect` and `docker service create` ask.

use std::sync::Arc;

use hyper::body::Incoming;
use hyper::{Request, StatusCode};
use serde_json::json;
use wharf_image::Reference;

use super::{blocking, json, Reply};
use crate::error::ApiError;
use crate::State;

pub async fn inspect(state: Arc<State>, req: Request<Incoming>, name: &str) -> Reply {
    let reference: Reference = name.parse().map_err(ApiError::from)?;
    let auth = super::images::registry_auth(&req);
    let st = state.clone();
    let (desc, platforms) = blocking(move || Ok(super::images::client(&st, auth).inspect_remote(&reference)?)).await?;
    json(
        StatusCode::OK,
        &json!({
            "Descriptor": {"mediaType": desc.media_type, "digest": desc.digest.to_string(), "size": desc.size},
            "Platforms": platforms,
        }),
    )
}
