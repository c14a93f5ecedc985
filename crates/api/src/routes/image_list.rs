//! `GET /images/json`: one row per image with all its names, Docker's
//! filters (`dangling`, `label`, `before`, `since`, `reference`), and the
//! intermediate images of builds hidden unless `all` (as dockerd hides
//! the parents of other images).

use std::sync::Arc;

use hyper::StatusCode;
use serde_json::{json, Value};
use wharf_engine::events::label_matches;
use wharf_image::Image;

use super::{blocking, json, unix_secs, Reply};
use crate::error::ApiError;
use crate::query::Query;
use crate::State;

/// One image and the names pointing at it.
struct Row {
    img: Image,
    tags: Vec<String>,
}

/// An untagged image whose history is a strict prefix of another's: a
/// build's step, the parent of what was built on it.
fn intermediate(row: &Row, rows: &[Row]) -> bool {
    let h = &row.img.config.history;
    row.tags.is_empty()
        && rows.iter().any(|o| {
            o.img.config_digest != row.img.config_digest
                && o.img.config.history.len() > h.len()
                && o.img.config.history.starts_with(h)
                && o.img.config.rootfs.diff_ids.starts_with(&row.img.config.rootfs.diff_ids)
        })
}

/// Docker's `reference` filter: a glob on `repo` or `repo:tag`.
fn reference_matches(tags: &[String], pattern: &str) -> bool {
    tags.iter().any(|t| {
        let repo = t.rsplit_once(':').filter(|(_, tag)| !tag.contains('/')).map_or(t.as_str(), |(r, _)| r);
        wharf_build::glob_match(pattern, t) || wharf_build::glob_match(pattern, repo)
    })
}

pub async fn list(state: Arc<State>, q: &Query) -> Reply {
    let filters = q.filters()?;
    if let Some(k) =
        filters.keys().find(|k| !matches!(k.as_str(), "dangling" | "label" | "before" | "since" | "reference"))
    {
        return Err(ApiError::bad_request(format!("Invalid filter '{k}'")));
    }
    let dangling = super::prune::bool_filter(&filters, "dangling")?;
    let all = q.flag("all");
    let st = state.clone();
    let (rows, sources) = blocking(move || {
        let images = &st.engine.images;
        let mut rows: Vec<Row> = Vec::new();
        for s in images.list()? {
            let name = (s.repository != "<none>").then(|| format!("{}:{}", s.repository, s.tag));
            match rows.iter_mut().find(|r| r.img.config_digest == s.id) {
                Some(r) => r.tags.extend(name),
                None => {
                    let Ok((_, img)) = images.resolve(&s.id.to_string()) else { continue };
                    rows.push(Row { img, tags: name.into_iter().collect() });
                }
            }
        }
        Ok((rows, images.sources()?))
    })
    .await?;
    // Full precision: images made within one second still have an order.
    let time_of = |img: &Image| img.config.created.as_deref().and_then(wharf_common::time::parse_rfc3339);
    let created = |key: &str| -> Result<Option<std::time::SystemTime>, ApiError> {
        let key_ref = familiar(key);
        rows.iter()
            .find(|r| {
                r.img.id().to_string() == key
                    || r.img.id().hex().starts_with(key)
                    || r.tags.iter().any(|t| t == key || familiar(t) == key_ref)
            })
            .map(|r| time_of(&r.img))
            .ok_or_else(|| ApiError::not_found(format!("No such image: {key}")))
    };
    let before = filters.get("before").and_then(|v| v.first()).map(|k| created(k)).transpose()?;
    let since = filters.get("since").and_then(|v| v.first()).map(|k| created(k)).transpose()?;
    let mut out = Vec::new();
    for row in &rows {
        let labels = row.img.config.config.as_ref().and_then(|c| c.labels.clone()).unwrap_or_default();
        let when = unix_secs(row.img.config.created.as_deref());
        let t = time_of(&row.img);
        let keep = dangling.is_none_or(|d| d == row.tags.is_empty())
            && filters.get("label").into_iter().flatten().all(|l| label_matches(&labels, l))
            && filters.get("reference").is_none_or(|refs| refs.iter().any(|p| reference_matches(&row.tags, p)))
            && before.is_none_or(|b| t < b)
            && since.is_none_or(|s| t > s)
            && (all || dangling == Some(true) || !intermediate(row, &rows));
        if !keep {
            continue;
        }
        let mut digests = wharf_image::Images::repo_digests_in(&sources, &row.img);
        // As dockerd: a reference filter also narrows the names shown.
        let mut shown: Vec<String> = row.tags.clone();
        if let Some(refs) = filters.get("reference") {
            shown.retain(|t| refs.iter().any(|p| reference_matches(std::slice::from_ref(t), p)));
            digests
                .retain(|d| refs.iter().any(|p| reference_matches(&[d.split('@').next().unwrap_or(d).to_string()], p)));
        }
        let (tags, digests) = match shown.is_empty() {
            true => (vec!["<none>:<none>".to_string()], vec!["<none>@<none>".to_string()]),
            false => (shown.iter().map(|t| familiar(t)).collect(), digests),
        };
        out.push(json!({
            "Id": row.img.id().to_string(), "ParentId": "", "RepoTags": tags, "RepoDigests": digests,
            "Created": when, "Size": row.img.size(), "VirtualSize": row.img.size(), "SharedSize": -1,
            "Labels": labels, "Containers": -1,
        }));
    }
    out.sort_by_key(|v: &Value| -v["Created"].as_i64().unwrap_or(0));
    json(StatusCode::OK, &out)
}

fn familiar(name: &str) -> String {
    name.parse::<wharf_image::Reference>().map(|r| r.familiar()).unwrap_or_else(|_| name.to_string())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reference_globs() {
        let tags = vec!["example.com/app:1".to_string(), "busybox:latest".to_string()];
        assert!(reference_matches(&tags, "busybox"));
        assert!(reference_matches(&tags, "busy*:latest"));
        assert!(reference_matches(&tags, "example.com/*"));
        assert!(!reference_matches(&tags, "nginx"));
    }
}
