//! [`ImageEngine`] through the Engine API (`wharf daemon`, or any
//! Docker-compatible daemon): Docker's wire shapes in, the commands' rows out.

use std::io::{Read, Write};
use std::path::Path;

use anyhow::{bail, Result};
use serde_json::{json, Value};

use super::engine::{DiskUsage, HistoryLine, ImageEngine, ImageLine};
use super::progress::Renderer;
use crate::client::{enc, status_of, Client};

pub struct Remote<'a>(pub &'a Client);

/// `name[:tag]` as the API's separate repository and tag (`latest` by default).
pub fn split_ref(r: &str) -> (&str, &str) {
    match r.rsplit_once(':') {
        Some((n, t)) if !t.contains('/') => (n, t),
        _ => (r, "latest"),
    }
}

fn rfc3339(unix: i64) -> String {
    wharf_common::time::rfc3339(std::time::UNIX_EPOCH + std::time::Duration::from_secs(unix.max(0) as u64))
}

/// The API's `[{"Untagged": …}, {"Deleted": …}]` as lines (`Key: value`, or lowercased keys).
fn deletion_lines(v: &Value, lowercase: bool) -> Vec<String> {
    let mut out = Vec::new();
    for item in v.as_array().into_iter().flatten() {
        for (k, val) in item.as_object().into_iter().flatten() {
            let k = if lowercase { k.to_lowercase() } else { k.clone() };
            out.push(format!("{k}: {}", val.as_str().unwrap_or("")));
        }
    }
    out
}

impl ImageEngine for Remote<'_> {
    fn list(&self, all: bool) -> Result<Vec<ImageLine>> {
        let list = self.0.get(&format!("/images/json?all={}", u8::from(all)))?;
        let mut rows = Vec::new();
        for i in list.as_array().into_iter().flatten() {
            let strings = |k: &str| -> Vec<String> {
                i[k].as_array().into_iter().flatten().filter_map(|t| t.as_str().map(str::to_string)).collect()
            };
            let (tags, digests) = (strings("RepoTags"), strings("RepoDigests"));
            let tags = if tags.is_empty() { vec!["<none>:<none>".to_string()] } else { tags };
            for t in tags {
                let (repo, tag) = t.rsplit_once(':').unwrap_or((&t, "<none>"));
                let digest = digests
                    .iter()
                    .find_map(|d| d.split_once('@').filter(|(r, _)| *r == repo).map(|(_, d)| d.to_string()))
                    .unwrap_or_else(|| "<none>".into());
                rows.push(ImageLine {
                    repository: repo.to_string(),
                    tag: tag.to_string(),
                    id: i["Id"].as_str().unwrap_or("").to_string(),
                    digest,
                    created: i["Created"].as_i64().map(rfc3339),
                    size: i["Size"].as_u64().unwrap_or(0),
                });
            }
        }
        Ok(rows)
    }

    fn tag(&self, source: &str, target: &str) -> Result<()> {
        let (repo, tag) = split_ref(target);
        self.0.post(&format!("/images/{}/tag?repo={}&tag={}", enc(source), enc(repo), enc(tag)), None)?;
        Ok(())
    }

    fn remove(&self, name: &str, force: bool) -> Result<Vec<String>> {
        let v = self.0.delete(&format!("/images/{}?force={}", enc(name), u8::from(force)))?;
        Ok(deletion_lines(&v, false))
    }

    fn inspect(&self, name: &str) -> Result<Option<Value>> {
        match self.0.get(&format!("/images/{}/json", enc(name))) {
            Ok(v) => Ok(Some(v)),
            Err(e) if status_of(&e) == Some(404) => Ok(None),
            Err(e) => Err(e),
        }
    }

    fn history(&self, name: &str) -> Result<Vec<HistoryLine>> {
        let v = self.0.get(&format!("/images/{}/history", enc(name)))?;
        Ok(v.as_array()
            .into_iter()
            .flatten()
            .map(|h| HistoryLine {
                id: h["Id"].as_str().unwrap_or("<missing>").to_string(),
                created: h["Created"].as_i64().map(rfc3339),
                created_by: h["CreatedBy"].as_str().unwrap_or("").to_string(),
                size: h["Size"].as_u64().unwrap_or(0),
                comment: h["Comment"].as_str().unwrap_or("").to_string(),
            })
            .collect())
    }

    fn prune(&self, all: bool) -> Result<(Vec<String>, u64)> {
        let filters = json!({"dangling": [(!all).to_string()]}).to_string();
        let v = self.0.post(&format!("/images/prune?filters={}", enc(&filters)), None)?;
        Ok((deletion_lines(&v["ImagesDeleted"], true), v["SpaceReclaimed"].as_u64().unwrap_or(0)))
    }

    fn import(
        &self,
        tarball: Box<dyn Read + Send>,
        reference: Option<&str>,
        changes: &[String],
        message: Option<&str>,
    ) -> Result<String> {
        let mut q = String::from("fromSrc=-");
        if let Some(r) = reference {
            let (repo, tag) = split_ref(r);
            q.push_str(&format!("&repo={}&tag={}", enc(repo), enc(tag)));
        }
        if let Some(m) = message {
            q.push_str(&format!("&message={}", enc(m)));
        }
        for c in changes {
            q.push_str(&format!("&changes={}", enc(c)));
        }
        let resp = self.0.upload("POST", &format!("/images/create?{q}"), "application/x-tar", tarball)?;
        let mut id = String::new();
        for line in std::io::BufRead::lines(std::io::BufReader::new(resp.body)) {
            let v: Value = serde_json::from_str(&line?).unwrap_or(Value::Null);
            if let Some(e) = v["error"].as_str() {
                bail!("{e}");
            }
            if let Some(s) = v["status"].as_str() {
                id = s.trim().to_string();
            }
        }
        Ok(id)
    }

    fn load(&self, input: Option<&Path>, progress: &Renderer) -> Result<Vec<String>> {
        let body: Box<dyn Read + Send> = match input {
            Some(p) if p.is_dir() => {
                bail!("loading an OCI layout directory reads it on this machine: use it without a daemon (--data-root)")
            }
            Some(p) => Box::new(std::fs::File::open(p).map_err(|e| anyhow::anyhow!("open {}: {e}", p.display()))?),
            None => Box::new(std::io::stdin()),
        };
        let resp = self.0.upload("POST", "/images/load?quiet=0", "application/x-tar", body)?;
        let followed = progress.follow(resp.body)?;
        Ok(followed
            .stream
            .lines()
            .filter_map(|l| l.strip_prefix("Loaded image: ").or_else(|| l.strip_prefix("Loaded image ID: ")))
            .map(str::to_string)
            .collect())
    }

    fn save(&self, names: &[String], format: &str, out: &mut dyn Write) -> Result<()> {
        if format != "docker" {
            bail!(
                "--format {format}: the Engine API saves the docker format only; use it without a daemon (--data-root)"
            );
        }
        let q: Vec<String> = names.iter().map(|i| format!("names={}", enc(i))).collect();
        let mut resp = self.0.request("GET", &format!("/images/get?{}", q.join("&")), None)?;
        std::io::copy(&mut resp.body, out)?;
        Ok(())
    }

    fn pull(&self, name: &str, platform: Option<&str>, progress: &Renderer) -> Result<()> {
        let (repo, tag) = split_ref(name);
        let mut q = format!("fromImage={}&tag={}", enc(repo), enc(tag));
        if let Some(p) = platform {
            q.push_str(&format!("&platform={}", enc(p)));
        }
        let resp = self.0.request("POST", &format!("/images/create?{q}"), None)?;
        progress.follow(resp.body)?;
        Ok(())
    }

    fn push(&self, name: &str, progress: &Renderer) -> Result<Option<String>> {
        let (repo, tag) = split_ref(name);
        let resp = self.0.request("POST", &format!("/images/{}/push?tag={}", enc(repo), enc(tag)), None)?;
        let followed = progress.follow(resp.body)?;
        Ok(followed.aux.and_then(|a| a["Digest"].as_str().map(str::to_string)))
    }

    fn disk_usage(&self) -> Result<DiskUsage> {
        let v = self.0.get("/system/df")?;
        let list = |k: &str| v[k].as_array().cloned().unwrap_or_default();
        let (images, containers, volumes) = (list("Images"), list("Containers"), list("Volumes"));
        let users = |i: &Value| i["Containers"].as_u64().unwrap_or(0);
        let refs = |x: &Value| x["UsageData"]["RefCount"].as_u64().unwrap_or(0);
        let size = |x: &Value| x["UsageData"]["Size"].as_u64().unwrap_or(0);
        Ok(DiskUsage {
            images: images.len(),
            images_active: images.iter().filter(|i| users(i) > 0).count(),
            images_size: v["LayersSize"].as_u64().unwrap_or(0),
            images_reclaimable: images.iter().filter(|i| users(i) == 0).map(|i| i["Size"].as_u64().unwrap_or(0)).sum(),
            containers: containers.len(),
            containers_running: containers.iter().filter(|c| c["State"] == "running").count(),
            volumes: volumes.len(),
            volumes_active: volumes.iter().filter(|x| refs(x) > 0).count(),
            volumes_size: volumes.iter().map(size).sum(),
            volumes_reclaimable: volumes.iter().filter(|x| refs(x) == 0).map(size).sum(),
        })
    }
}
