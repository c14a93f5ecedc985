//! A client of the OCI distribution API: pull and push with anonymous,
//! Basic and Bearer-token auth, resumable verified blob downloads, parallel
//! layer transfers, monolithic or chunked uploads, cross-repository mounts
//! and skipping blobs the registry already has.

pub mod auth;
mod inspect;

use std::collections::HashMap;
use std::io::{self, Read, Write};
use std::sync::Mutex;
use std::time::Duration;

use crate::digest::Digest;
use crate::error::{ImageError, RegistryErrorKind, Result};
use crate::lease::{Lease, Resource};
use crate::manifest::{self, chain_ids, media, Descriptor, ImageConfig, Index, Manifest, Platform};
use crate::reference::Reference;
use crate::service::{Image, Images};
use auth::{parse_challenge, Challenge, CredentialStore, Credentials};

const MANIFEST_ACCEPT: &str = "application/vnd.oci.image.index.v1+json, application/vnd.docker.distribution.manifest.list.v2+json, application/vnd.oci.image.manifest.v1+json, application/vnd.docker.distribution.manifest.v2+json";

/// Where transfers report progress (a terminal, or Docker's JSON stream).
pub trait Progress: Sync {
    /// `id` is a short layer id (or empty for whole-image messages).
    fn update(&self, id: &str, status: &str, current: u64, total: Option<u64>);
}

/// A progress sink that discards everything.
pub struct Quiet;

impl Progress for Quiet {
    fn update(&self, _: &str, _: &str, _: u64, _: Option<u64>) {}
}

/// Docker's JSON progress stream (one JSON object per line), as the Engine
/// API sends it for `/images/create` and `/images/{name}/push`.
pub struct JsonLines<W: Write + Send>(pub Mutex<W>);

impl<W: Write + Send> Progress for JsonLines<W> {
    fn update(&self, id: &str, status: &str, current: u64, total: Option<u64>) {
        let mut msg = serde_json::json!({ "status": status });
        if !id.is_empty() {
            msg["id"] = id.into();
        }
        if let Some(total) = total.filter(|_| status == "Downloading" || status == "Pushing" || status == "Extracting")
        {
            msg["progressDetail"] = serde_json::json!({ "current": current, "total": total });
        }
        if let Ok(mut w) = self.0.lock() {
            let _ = writeln!(w, "{msg}");
        }
    }
}

pub struct Options {
    /// Registries reachable over plain HTTP (loopback registries always are).
    pub insecure: Vec<String>,
    /// Parallel blob transfers.
    pub parallel: usize,
    /// Upload in chunks of this size (None: one monolithic PUT).
    pub chunk_size: Option<u64>,
    pub retries: u32,
    /// Credentials for this client's requests, instead of the credential store
    /// (the Engine API's `X-Registry-Auth`).
    pub credentials: Option<Credentials>,
}

impl Default for Options {
    fn default() -> Self {
        Options { insecure: Vec::new(), parallel: 3, chunk_size: None, retries: 3, credentials: None }
    }
}

pub struct Client {
    agent: ureq::Agent,
    creds: CredentialStore,
    opts: Options,
    /// Authorization header per (registry, scope).
    auth: Mutex<HashMap<(String, String), String>>,
}

enum Body<'a> {
    Empty,
    Bytes(&'a [u8]),
}

fn is_loopback(host: &str) -> bool {
    let h = host.rsplit_once(':').map_or(host, |(h, p)| if p.bytes().all(|b| b.is_ascii_digit()) { h } else { host });
    h == "localhost" || h.starts_with("127.") || h == "[::1]" || h == "::1"
}

fn short(d: &Digest) -> String {
    d.short().to_string()
}

impl Client {
    pub fn new(creds: CredentialStore, opts: Options) -> Self {
        let agent = ureq::AgentBuilder::new()
            .timeout_connect(Duration::from_secs(15))
            .timeout_read(Duration::from_secs(120))
            .redirects(5)
            .user_agent(concat!("wharf/", env!("CARGO_PKG_VERSION")))
            .build();
        Client { agent, creds, opts, auth: Mutex::new(HashMap::new()) }
    }

    fn base(&self, registry: &str, endpoint: &str) -> String {
        let plain = is_loopback(endpoint) || self.opts.insecure.iter().any(|r| r == registry || r == endpoint);
        format!("{}://{}", if plain { "http" } else { "https" }, endpoint)
    }

    fn err(registry: &str, message: impl std::fmt::Display) -> ImageError {
        Self::err_kind(registry, RegistryErrorKind::Other, message)
    }

    fn err_kind(registry: &str, kind: RegistryErrorKind, message: impl std::fmt::Display) -> ImageError {
        ImageError::Registry { registry: registry.to_string(), kind, message: message.to_string() }
    }

    /// Explains an error response the way the distribution spec encodes it.
    fn status_error(registry: &str, what: &str, code: u16, resp: ureq::Response) -> ImageError {
        let body = resp.into_string().unwrap_or_default();
        let detail = serde_json::from_str::<serde_json::Value>(&body)
            .ok()
            .and_then(|v| {
                let e = &v["errors"][0];
                let msg = e["message"].as_str()?.to_string();
                Some(match &e["detail"] {
                    serde_json::Value::Null => msg,
                    serde_json::Value::String(d) => format!("{msg} ({d})"),
                    d => format!("{msg} ({d})"),
                })
            })
            .unwrap_or_else(|| body.chars().take(200).collect());
        let (kind, msg) = match code {
            401 => (
                RegistryErrorKind::Unauthorized,
                format!(
                    "{what}: unauthorized: authentication required{}",
                    if detail.is_empty() { String::new() } else { format!(" ({detail})") }
                ),
            ),
            403 => (RegistryErrorKind::Denied, format!("{what}: denied: {detail}")),
            404 => (RegistryErrorKind::NotFound, format!("{what}: not found: {detail}")),
            _ => (RegistryErrorKind::Other, format!("{what}: HTTP {code}: {detail}")),
        };
        Self::err_kind(registry, kind, msg)
    }

    /// Answers a challenge; returns the Authorization header to use.
    fn authenticate(&self, registry: &str, challenge: &str, scope: &str) -> Result<String> {
        let creds = match &self.opts.credentials {
            Some(c) => Some(c.clone()),
            None => self.creds.get(registry)?,
        };
        match parse_challenge(challenge) {
            Some(Challenge::Basic) => creds.map(|c| c.basic_header()).ok_or_else(|| {
                Self::err_kind(
                    registry,
                    RegistryErrorKind::Unauthorized,
                    "unauthorized: authentication required (wharf login first)",
                )
            }),
            Some(Challenge::Bearer { realm, service, scope: challenged }) => {
                let mut req = self.agent.get(&realm);
                if let Some(s) = &service {
                    req = req.query("service", s);
                }
                let scope = if scope.is_empty() { challenged.unwrap_or_default() } else { scope.to_string() };
                if !scope.is_empty() {
                    req = req.query("scope", &scope);
                }
                if let Some(c) = &creds {
                    req = req.set("Authorization", &c.basic_header());
                }
                let resp = match req.call() {
                    Ok(r) => r,
                    Err(ureq::Error::Status(code, r)) => return Err(Self::status_error(registry, "token", code, r)),
                    Err(e) => return Err(Self::err(registry, format!("token server {realm}: {e}"))),
                };
                let v: serde_json::Value =
                    resp.into_json().map_err(|e| Self::err(registry, format!("token response: {e}")))?;
                let token = v["token"]
                    .as_str()
                    .or(v["access_token"].as_str())
                    .ok_or_else(|| Self::err(registry, "token response has no token"))?;
                Ok(format!("Bearer {token}"))
            }
            None => Err(Self::err(registry, format!("unsupported authentication challenge {challenge:?}"))),
        }
    }

    /// Sends a request, answering one auth challenge and retrying 5xx/transport errors.
    fn send(
        &self,
        registry: &str,
        method: &str,
        url: &str,
        scope: &str,
        headers: &[(&str, &str)],
        body: Body<'_>,
    ) -> Result<ureq::Response> {
        let key = (registry.to_string(), scope.to_string());
        let mut attempt = 0;
        let mut answered = false;
        loop {
            let mut req = self.agent.request(method, url);
            for (k, v) in headers {
                req = req.set(k, v);
            }
            if let Some(a) = self.auth.lock().map_err(|_| ImageError::Other("auth cache poisoned".into()))?.get(&key) {
                req = req.set("Authorization", a);
            }
            let result = match &body {
                Body::Empty => req.call(),
                Body::Bytes(b) => req.send_bytes(b),
            };
            match result {
                Ok(r) => return Ok(r),
                Err(ureq::Error::Status(401, resp)) if !answered => {
                    let challenge = resp.header("WWW-Authenticate").unwrap_or("").to_string();
                    let header = self.authenticate(registry, &challenge, scope)?;
                    self.auth
                        .lock()
                        .map_err(|_| ImageError::Other("auth cache poisoned".into()))?
                        .insert(key.clone(), header);
                    answered = true;
                }
                Err(ureq::Error::Status(code, resp)) if code >= 500 && attempt < self.opts.retries => {
                    drop(resp);
                    attempt += 1;
                    std::thread::sleep(Duration::from_millis(200 << attempt));
                }
                Err(ureq::Error::Status(code, resp)) => {
                    return Err(Self::status_error(registry, &format!("{method} {url}"), code, resp))
                }
                Err(ureq::Error::Transport(t)) if attempt < self.opts.retries => {
                    tracing::debug!("{method} {url}: {t}; retrying");
                    attempt += 1;
                    std::thread::sleep(Duration::from_millis(200 << attempt));
                }
                Err(ureq::Error::Transport(t)) => return Err(Self::err(registry, format!("{method} {url}: {t}"))),
            }
        }
    }

    /// `login`: checks `creds` against the registry and stores them.
    pub fn login(&self, registry: &str, creds: &Credentials) -> Result<()> {
        self.verify_login(registry, creds)?;
        self.creds.set(registry, creds)
    }

    /// Checks `creds` against the registry without storing them.
    pub fn verify_login(&self, registry: &str, creds: &Credentials) -> Result<()> {
        let endpoint = if registry == crate::reference::DEFAULT_REGISTRY { "registry-1.docker.io" } else { registry };
        let url = format!("{}/v2/", self.base(registry, endpoint));
        let resp = self.agent.get(&url).call();
        let challenge = match resp {
            Ok(_) => None,
            Err(ureq::Error::Status(401, r)) => Some(r.header("WWW-Authenticate").unwrap_or("").to_string()),
            Err(ureq::Error::Status(code, r)) => return Err(Self::status_error(registry, "login", code, r)),
            Err(e) => return Err(Self::err(registry, format!("login: {e}"))),
        };
        if let Some(ch) = challenge {
            // Check the credentials themselves: a token (or /v2/ with Basic) must be granted.
            let header = match parse_challenge(&ch) {
                Some(Challenge::Basic) => creds.basic_header(),
                Some(Challenge::Bearer { realm, service, .. }) => {
                    let mut req = self.agent.get(&realm).set("Authorization", &creds.basic_header());
                    if let Some(s) = &service {
                        req = req.query("service", s);
                    }
                    match req.call() {
                        Ok(r) => {
                            let v: serde_json::Value = r.into_json().map_err(|e| Self::err(registry, e))?;
                            format!("Bearer {}", v["token"].as_str().or(v["access_token"].as_str()).unwrap_or_default())
                        }
                        Err(ureq::Error::Status(code, r)) => {
                            return Err(Self::status_error(registry, "login", code, r))
                        }
                        Err(e) => return Err(Self::err(registry, e)),
                    }
                }
                None => return Err(Self::err(registry, format!("unsupported authentication challenge {ch:?}"))),
            };
            match self.agent.get(&url).set("Authorization", &header).call() {
                Ok(_) => {}
                Err(ureq::Error::Status(code, r)) => return Err(Self::status_error(registry, "login", code, r)),
                Err(e) => return Err(Self::err(registry, e)),
            }
        }
        Ok(())
    }

    fn manifest_url(&self, r: &Reference, reference: &str) -> String {
        format!("{}/v2/{}/manifests/{}", self.base(r.registry(), r.endpoint()), r.repository(), reference)
    }

    fn blob_url(&self, r: &Reference, d: &Digest) -> String {
        format!("{}/v2/{}/blobs/{}", self.base(r.registry(), r.endpoint()), r.repository(), d)
    }

    /// Fetches a manifest or index by tag or digest; verifies it when a digest is known.
    fn fetch_manifest(&self, r: &Reference, reference: &str, expect: Option<&Digest>) -> Result<(Vec<u8>, String)> {
        let scope = format!("repository:{}:pull", r.repository());
        let resp = self.send(
            r.registry(),
            "GET",
            &self.manifest_url(r, reference),
            &scope,
            &[("Accept", MANIFEST_ACCEPT)],
            Body::Empty,
        )?;
        let header_type = resp.header("Content-Type").map(|s| s.split(';').next().unwrap_or(s).trim().to_string());
        let header_digest = resp.header("Docker-Content-Digest").map(str::to_string);
        let mut data = Vec::new();
        resp.into_reader().take(16 << 20).read_to_end(&mut data).map_err(|e| Self::err(r.registry(), e))?;
        let actual = Digest::sha256(&data);
        let want = expect.cloned().or_else(|| header_digest.and_then(|h| h.parse().ok()));
        if let Some(want) = want {
            if want != actual {
                return Err(ImageError::DigestMismatch { expected: want.to_string(), actual: actual.to_string() });
            }
        }
        let media_type = match header_type.filter(|t| media::is_index(t) || media::is_manifest(t)) {
            Some(t) => t,
            None => manifest::sniff_media_type(&data)?,
        };
        Ok((data, media_type))
    }

    /// Downloads a blob into the store (resuming a partial ingest), verified.
    /// `lease` references it (and its ingest) before it is looked up.
    fn fetch_blob(
        &self,
        images: &Images,
        lease: &Lease,
        r: &Reference,
        desc: &Descriptor,
        progress: &dyn Progress,
    ) -> Result<()> {
        let id = short(&desc.digest);
        lease.add([Resource::Blob(desc.digest.clone()), Resource::Ingest(desc.digest.to_string())])?;
        if images.content.stat(&desc.digest)?.is_some() {
            progress.update(&id, "Already exists", desc.size, Some(desc.size));
            return Ok(());
        }
        let scope = format!("repository:{}:pull", r.repository());
        let mut attempt = 0;
        loop {
            let mut w = images.content.writer(&desc.digest.to_string())?;
            if w.offset() > desc.size {
                w.truncate()?;
            }
            let offset = w.offset();
            let range = format!("bytes={offset}-");
            let headers: Vec<(&str, &str)> = if offset > 0 { vec![("Range", range.as_str())] } else { vec![] };
            let result = (|| -> Result<()> {
                let resp =
                    self.send(r.registry(), "GET", &self.blob_url(r, &desc.digest), &scope, &headers, Body::Empty)?;
                if offset > 0 && resp.status() != 206 {
                    w.truncate()?; // the registry ignored the range: start over
                }
                let mut reader = resp.into_reader();
                let mut buf = vec![0u8; 1 << 16];
                let mut last = 0u64;
                loop {
                    let n = reader
                        .read(&mut buf)
                        .map_err(|e| Self::err(r.registry(), format!("download {}: {e}", desc.digest)))?;
                    if n == 0 {
                        break;
                    }
                    w.write_all(&buf[..n]).map_err(ImageError::io("write blob", desc.digest.to_string()))?;
                    if w.offset() - last > (1 << 20) {
                        last = w.offset();
                        progress.update(&id, "Downloading", last, Some(desc.size));
                    }
                }
                Ok(())
            })();
            match result {
                Ok(()) => {
                    progress.update(&id, "Verifying Checksum", desc.size, Some(desc.size));
                    w.commit(&desc.digest, Some(desc.size))?;
                    progress.update(&id, "Download complete", desc.size, Some(desc.size));
                    return Ok(());
                }
                Err(e)
                    if attempt < self.opts.retries
                        && !matches!(
                            e,
                            ImageError::Registry {
                                kind: RegistryErrorKind::NotFound
                                    | RegistryErrorKind::Unauthorized
                                    | RegistryErrorKind::Denied,
                                ..
                            }
                        ) =>
                {
                    attempt += 1;
                    tracing::debug!("blob {}: {e}; resuming", desc.digest);
                    std::thread::sleep(Duration::from_millis(200 << attempt));
                }
                Err(e) => return Err(e),
            }
        }
    }

    /// `pull`: fetches `r` for `platform`, names it, and returns the image.
    /// Everything it writes is leased until the name is set.
    pub fn pull(&self, images: &Images, r: &Reference, platform: &Platform, progress: &dyn Progress) -> Result<Image> {
        self.pull_with(images, &images.lease("pull")?, r, platform, progress)
    }

    /// `pull` under the caller's lease (a build's), which keeps the image's
    /// blobs and snapshots even if its name is removed meanwhile.
    pub fn pull_with(
        &self,
        images: &Images,
        lease: &Lease,
        r: &Reference,
        platform: &Platform,
        progress: &dyn Progress,
    ) -> Result<Image> {
        let reference = manifest_reference(r);
        // As Docker's puller: the manifest first, so a pull that cannot start
        // reports nothing (its caller can answer with an error status).
        let (data, media_type) = self.fetch_manifest(r, &reference, r.digest())?;
        progress.update(&reference, &format!("Pulling from {}", r.repository()), 0, None);
        let top = Descriptor::new(&media_type, images.put(lease, &data)?, data.len() as u64);
        let manifest_desc = if media::is_index(&media_type) {
            let idx: Index = manifest::parse("index", &data)?;
            let d = idx
                .select(platform)
                .cloned()
                .ok_or_else(|| ImageError::NoPlatform(platform.to_string(), r.to_string()))?;
            let (mdata, _) = self.fetch_manifest(r, &d.digest.to_string(), Some(&d.digest))?;
            images.put(lease, &mdata)?;
            d
        } else {
            top.clone()
        };
        let m: Manifest = manifest::parse("manifest", &images.content.read_all(&manifest_desc.digest)?)?;
        // The config first (it names the layers' diff IDs), then every layer is
        // downloaded and unpacked by the same worker, overlapping the two.
        self.fetch_blob(images, lease, r, &m.config, progress)?;
        let config: ImageConfig = manifest::parse("image config", &images.content.read_all(&m.config.digest)?)?;
        if config.rootfs.diff_ids.len() != m.layers.len() {
            return Err(ImageError::invalid("image", "layer count differs from the config's diff_ids"));
        }
        let chains = chain_ids(&config.rootfs.diff_ids);
        lease.add(chains.iter().cloned().map(Resource::Snapshot))?;
        let apply = |i: usize| -> Result<()> {
            let layer = &m.layers[i];
            if !images.snapshots.exists(&chains[i]) {
                progress.update(&short(&layer.digest), "Extracting", layer.size, Some(layer.size));
                let parent = i.checked_sub(1).map(|p| &chains[p]);
                let mut blob = images.content.open(&layer.digest)?;
                images.snapshots.apply(&chains[i], parent, &config.rootfs.diff_ids[i], &mut blob)?;
            }
            progress.update(&short(&layer.digest), "Pull complete", layer.size, Some(layer.size));
            Ok(())
        };
        // Layers stored as independent diffs are unpacked by the worker that
        // fetched them; full-tree snapshotters need the parent first.
        let independent = images.snapshots.layers_independent();
        for l in &m.layers {
            progress.update(&short(&l.digest), "Pulling fs layer", 0, Some(l.size));
        }
        let work: Vec<usize> = (0..m.layers.len()).collect();
        parallel_each(work, self.opts.parallel, |i| {
            self.fetch_blob(images, lease, r, &m.layers[i], progress)?;
            if independent {
                apply(i)?;
            }
            Ok(())
        })?;
        if !independent {
            (0..m.layers.len()).try_for_each(apply)?;
        }
        let img = images.image_for(&top, platform)?;
        if r.tag().is_some() {
            images.set_name(r, top.clone())?;
        } else {
            images.db.put(crate::metadata::ImageRecord {
                name: r.to_string(),
                target: top.clone(),
                updated: crate::service::now(),
            })?;
        }
        images.record_source(&img, r)?;
        progress.update("", &format!("Digest: {}", top.digest), 0, None);
        Ok(img)
    }

    /// Uploads one blob unless the registry has it (or can mount it from `sources`).
    fn push_blob(
        &self,
        images: &Images,
        r: &Reference,
        desc: &Descriptor,
        sources: &[String],
        progress: &dyn Progress,
    ) -> Result<()> {
        let id = short(&desc.digest);
        let scope = format!("repository:{}:pull,push", r.repository());
        match self.send(r.registry(), "HEAD", &self.blob_url(r, &desc.digest), &scope, &[], Body::Empty) {
            Ok(_) => {
                progress.update(&id, "Layer already exists", desc.size, Some(desc.size));
                return Ok(());
            }
            Err(ImageError::Registry { kind: RegistryErrorKind::NotFound, .. }) => {}
            Err(e) => return Err(e),
        }
        let base = self.base(r.registry(), r.endpoint());
        // Cross-repository mount from a repository of the same registry the blob came from.
        for src in sources {
            let Ok(from) = src.parse::<Reference>() else { continue };
            if from.registry() != r.registry() || from.repository() == r.repository() {
                continue;
            }
            let url =
                format!("{base}/v2/{}/blobs/uploads/?mount={}&from={}", r.repository(), desc.digest, from.repository());
            let mount_scope = format!("{scope} repository:{}:pull", from.repository());
            if let Ok(resp) =
                self.send(r.registry(), "POST", &url, &mount_scope, &[("Content-Length", "0")], Body::Empty)
            {
                if resp.status() == 201 {
                    progress.update(&id, &format!("Mounted from {}", from.repository()), desc.size, Some(desc.size));
                    return Ok(());
                }
            }
        }
        let resp = self.send(
            r.registry(),
            "POST",
            &format!("{base}/v2/{}/blobs/uploads/", r.repository()),
            &scope,
            &[("Content-Length", "0")],
            Body::Empty,
        )?;
        let mut location = resolve_location(
            &base,
            resp.header("Location").ok_or_else(|| Self::err(r.registry(), "upload without Location"))?,
        );
        let mut file = images.content.open(&desc.digest)?;
        let auth = self
            .auth
            .lock()
            .map_err(|_| ImageError::Other("auth cache poisoned".into()))?
            .get(&(r.registry().to_string(), scope.clone()))
            .cloned();
        let put =
            |loc: &str, body: &mut dyn Read, len: u64, range: Option<String>, method: &str| -> Result<ureq::Response> {
                let mut req = self
                    .agent
                    .request(method, loc)
                    .set("Content-Type", "application/octet-stream")
                    .set("Content-Length", &len.to_string());
                if let Some(a) = &auth {
                    req = req.set("Authorization", a);
                }
                if let Some(rg) = range {
                    req = req.set("Content-Range", &rg);
                }
                req.send(body).map_err(|e| match e {
                    ureq::Error::Status(code, resp) => {
                        Self::status_error(r.registry(), &format!("upload {}", desc.digest), code, resp)
                    }
                    e => Self::err(r.registry(), format!("upload {}: {e}", desc.digest)),
                })
            };
        let sep = |l: &str| if l.contains('?') { '&' } else { '?' };
        match self.opts.chunk_size {
            Some(chunk) if desc.size > chunk => {
                let mut sent = 0u64;
                let mut buf = vec![0u8; chunk as usize];
                while sent < desc.size {
                    let n =
                        read_full(&mut file, &mut buf).map_err(ImageError::io("read blob", desc.digest.to_string()))?;
                    let range = Some(format!("{}-{}", sent, sent + n as u64 - 1));
                    let resp = put(&location, &mut &buf[..n], n as u64, range, "PATCH")?;
                    location = resolve_location(&base, resp.header("Location").unwrap_or(&location));
                    sent += n as u64;
                    progress.update(&id, "Pushing", sent, Some(desc.size));
                }
                put(&format!("{location}{}digest={}", sep(&location), desc.digest), &mut io::empty(), 0, None, "PUT")?;
            }
            _ => {
                // One streamed PUT with the whole blob; no copy in memory.
                progress.update(&id, "Pushing", 0, Some(desc.size));
                let url = format!("{location}{}digest={}", sep(&location), desc.digest);
                put(&url, &mut io::BufReader::with_capacity(1 << 20, &mut file), desc.size, None, "PUT")?;
            }
        }
        progress.update(&id, "Pushed", desc.size, Some(desc.size));
        Ok(())
    }

    /// `push`: uploads the image named `r` (all its platforms present) and its manifests.
    pub fn push(&self, images: &Images, r: &Reference, progress: &dyn Progress) -> Result<Digest> {
        let rec = images.db.get(&r.to_string())?.ok_or_else(|| ImageError::ImageNotFound(r.familiar()))?;
        progress.update("", &format!("The push refers to repository [{}]", r.name()), 0, None);
        let mut target = rec.target.clone();
        let mut manifests = vec![target.clone()];
        if media::is_index(&target.media_type) {
            let idx: Index = manifest::parse("index", &images.content.read_all(&target.digest)?)?;
            let total = idx.manifests.len();
            manifests =
                idx.manifests.into_iter().filter(|d| images.content.stat(&d.digest).ok().flatten().is_some()).collect();
            if manifests.len() < total {
                // Only some platforms were pulled: the index cannot be pushed whole,
                // so the tag gets the local platform's manifest (as Docker does).
                let img = images.image(&target)?;
                target = manifests
                    .iter()
                    .find(|d| d.digest == img.manifest_digest)
                    .cloned()
                    .ok_or_else(|| ImageError::BlobNotFound(img.manifest_digest.to_string()))?;
                progress.update(
                    "",
                    &format!("Pushing only the local platform's manifest {} of an incomplete index", target.digest),
                    0,
                    None,
                );
                manifests = vec![target.clone()];
            }
        }
        let sources = images.sources()?;
        for md in &manifests {
            let m: Manifest = manifest::parse("manifest", &images.content.read_all(&md.digest)?)?;
            let mut blobs: Vec<Descriptor> = m.layers.clone();
            blobs.push(m.config.clone());
            parallel_each(blobs, self.opts.parallel, |desc| {
                let src = sources.get(&desc.digest.to_string()).cloned().unwrap_or_default();
                self.push_blob(images, r, &desc, &src, progress)
            })?;
            if md.digest != target.digest {
                self.put_manifest(images, r, md, &md.digest.to_string())?;
            }
        }
        let reference = r.tag().map(str::to_string).unwrap_or_else(|| target.digest.to_string());
        self.put_manifest(images, r, &target, &reference)?;
        progress.update("", &format!("{}: digest: {} size: {}", reference, target.digest, target.size), 0, None);
        let img = images.image(&target)?;
        images.record_source(&img, r)?;
        Ok(target.digest)
    }

    fn put_manifest(&self, images: &Images, r: &Reference, desc: &Descriptor, reference: &str) -> Result<()> {
        let data = images.content.read_all(&desc.digest)?;
        let scope = format!("repository:{}:pull,push", r.repository());
        let resp = self.send(
            r.registry(),
            "PUT",
            &self.manifest_url(r, reference),
            &scope,
            &[("Content-Type", &desc.media_type)],
            Body::Bytes(&data),
        )?;
        if let Some(d) = resp.header("Docker-Content-Digest") {
            if d != desc.digest.to_string() {
                return Err(ImageError::DigestMismatch { expected: desc.digest.to_string(), actual: d.to_string() });
            }
        }
        Ok(())
    }
}

/// Runs `f` on every item with up to `parallel` threads; the first error wins
/// (workers stop taking new items once one failed).
fn parallel_each<T: Send>(items: Vec<T>, parallel: usize, f: impl Fn(T) -> Result<()> + Sync) -> Result<()> {
    let next = Mutex::new(items.into_iter());
    let first_error: Mutex<Option<ImageError>> = Mutex::new(None);
    std::thread::scope(|s| {
        for _ in 0..parallel.max(1) {
            s.spawn(|| {
                while let Some(item) = next.lock().ok().and_then(|mut it| it.next()) {
                    if first_error.lock().map(|e| e.is_some()).unwrap_or(true) {
                        break;
                    }
                    if let Err(e) = f(item) {
                        if let Ok(mut slot) = first_error.lock() {
                            slot.get_or_insert(e);
                        }
                    }
                }
            });
        }
    });
    match first_error.into_inner() {
        Ok(Some(e)) => Err(e),
        Ok(None) => Ok(()),
        Err(_) => Err(ImageError::Other("transfer worker panicked".into())),
    }
}

use wharf_common::io::read_full;

/// What a manifest is fetched by: the reference's digest, else its tag, else `latest`.
fn manifest_reference(r: &Reference) -> String {
    r.digest().map(|d| d.to_string()).or_else(|| r.tag().map(str::to_string)).unwrap_or_else(|| "latest".into())
}

/// Upload locations may be relative to the registry.
fn resolve_location(base: &str, location: &str) -> String {
    if location.starts_with("http://") || location.starts_with("https://") {
        location.to_string()
    } else {
        format!("{base}{}{location}", if location.starts_with('/') { "" } else { "/" })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn loopback_detection() {
        assert!(is_loopback("localhost:5000"));
        assert!(is_loopback("127.0.0.1:5000"));
        assert!(is_loopback("127.1.2.3"));
        assert!(!is_loopback("registry.example.com"));
        assert!(!is_loopback("10.0.0.1:5000"));
    }

    #[test]
    fn json_progress_lines() {
        let p = JsonLines(Mutex::new(Vec::new()));
        p.update("abc", "Downloading", 5, Some(10));
        p.update("", "Digest: sha256:x", 0, None);
        let out = String::from_utf8(p.0.into_inner().unwrap()).unwrap();
        let lines: Vec<serde_json::Value> = out.lines().map(|l| serde_json::from_str(l).unwrap()).collect();
        assert_eq!(lines[0]["id"], "abc");
        assert_eq!(lines[0]["progressDetail"]["total"], 10);
        assert!(lines[1].get("id").is_none());
    }

    #[test]
    fn locations() {
        assert_eq!(resolve_location("http://h:5", "/v2/x/blobs/uploads/u?s=1"), "http://h:5/v2/x/blobs/uploads/u?s=1");
        assert_eq!(resolve_location("http://h:5", "https://other/u"), "https://other/u");
    }
}
