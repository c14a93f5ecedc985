//! Wharf's image builder (the classic Docker builder's model): a Dockerfile
//! is executed step by step on the engine. Metadata instructions change the
//! image config; `RUN` runs a container from the current image and commits
//! its writable layer; `COPY`/`ADD` unpack files from the build context (or
//! an earlier stage) into a container's layer and commit it. Multi-stage
//! builds (`FROM … AS name`, `COPY --from`), `ARG`/build args, and variable
//! substitution are supported.
//!
//! **Architecture invariant:** the builder only uses the engine's and the
//! image store's public API; it knows nothing of HTTP.

#![forbid(unsafe_code)]

pub mod cache;
mod context;
mod copy;
pub mod dockerfile;
pub mod dockerignore;
pub mod error;
pub mod named;
pub mod remote;

use std::collections::BTreeMap;
use std::io::Read;
use std::path::{Path, PathBuf};

use wharf_engine::{CreateRequest, Engine, RunOptions};
use wharf_image::manifest::RunConfig;
use wharf_image::{Image, Images};

pub use context::{glob_match, DOCKERFILE_LIMIT};
pub use error::{BuildError, Result};
pub use named::NamedContext;

use context::Context;
use dockerfile::{pairs, substitute, Instruction};

/// What `docker build` asks for.
#[derive(Debug, Clone, Default)]
pub struct BuildRequest {
    /// The extracted build context.
    pub context: PathBuf,
    /// The Dockerfile's path inside the context.
    pub dockerfile: String,
    pub tags: Vec<String>,
    pub build_args: BTreeMap<String, String>,
    pub labels: BTreeMap<String, String>,
    /// Stop after this stage.
    pub target: Option<String>,
    /// The `wharf` binary (RUN steps run under a monitor).
    pub monitor_exe: PathBuf,
    /// Run every step even if an earlier build cached its result.
    pub no_cache: bool,
    /// Named contexts (`--build-context`): what `FROM` and `COPY --from`
    /// names resolve to after the Dockerfile's stages.
    pub contexts: BTreeMap<String, NamedContext>,
}

struct Stage {
    name: Option<String>,
    image: Image,
    config: RunConfig,
    /// ARG and ENV values for substitution (ENV wins).
    vars: BTreeMap<String, String>,
    /// The metadata differs from `image`'s (a config-only image is due).
    dirty: Vec<String>,
    /// Names declared with ARG in this stage (RUN sees them as environment).
    args: Vec<String>,
    shell: Vec<String>,
}

fn short(img: &Image) -> String {
    img.id().hex()[..12].to_string()
}

/// `/a/b` + relative → absolute container path.
fn join_container(cwd: &str, p: &str) -> String {
    if p.starts_with('/') {
        p.to_string()
    } else {
        let base = if cwd.is_empty() { "/" } else { cwd };
        format!("{}/{p}", base.trim_end_matches('/'))
    }
}

pub struct Builder<'a> {
    engine: &'a Engine,
    req: &'a BuildRequest,
    out: &'a mut dyn FnMut(&str),
    /// Held for the whole build: base and intermediate images survive a
    /// concurrent `rmi`/`image prune` until the final image is named.
    lease: wharf_image::lease::Lease,
}

/// Runs a build; returns the final image (tagged as asked).
pub fn build(engine: &Engine, req: &BuildRequest, out: &mut dyn FnMut(&str)) -> Result<Image> {
    let lease = engine.images.lease("build")?;
    Builder { engine, req, out, lease }.run()
}

impl Builder<'_> {
    fn say(&mut self, s: &str) {
        (self.out)(s);
    }

    fn images(&self) -> &Images {
        &self.engine.images
    }

    fn run(&mut self) -> Result<Image> {
        let text = Context::open(&self.req.context)?.dockerfile(&self.req.dockerfile)?;
        let instructions = dockerfile::parse(&text)?;
        let total = instructions.len();
        let mut global: BTreeMap<String, String> = BTreeMap::new();
        let mut stages: Vec<Stage> = Vec::new();
        for (n, ins) in instructions.iter().enumerate() {
            self.say(&format!("Step {}/{total} : {}\n", n + 1, ins.original()));
            if ins.keyword == "FROM" {
                if let Some(t) = &self.req.target {
                    if stages.last().and_then(|s| s.name.as_deref()) == Some(t.as_str()) {
                        break;
                    }
                }
                let mut stage = self.from(ins, &global, &stages)?;
                self.say(&format!(" ---> {}\n", short(&stage.image)));
                // The base image's ONBUILD triggers run now; the new image does not inherit them.
                let triggers: Vec<String> = stage
                    .config
                    .extra
                    .get("OnBuild")
                    .and_then(|t| serde_json::from_value(t.clone()).ok())
                    .unwrap_or_default();
                if !triggers.is_empty() {
                    stage.config.extra.remove("OnBuild");
                    let n = triggers.len();
                    self.say(&format!("# Executing {n} build trigger{}\n", if n == 1 { "" } else { "s" }));
                    stage.dirty.push("ONBUILD triggers run".into());
                    for t in &triggers {
                        let trigger = dockerfile::parse_one(ins.line, t)?;
                        stage = self.step(&trigger, stage, &stages)?;
                    }
                }
                stages.push(stage);
                continue;
            }
            let Some(stage) = stages.pop() else {
                // ARG before the first FROM: a global for FROM lines.
                for (k, v) in pairs(&ins.rest, false) {
                    let v = self.req.build_args.get(&k).cloned().unwrap_or(v);
                    global.insert(k, v);
                }
                continue;
            };
            let mut stage = self.step(ins, stage, &stages)?;
            // As Docker's: every step ends with an image of its own (a
            // config-only one for metadata steps), reused from the cache if it can be.
            if !stage.dirty.is_empty() {
                let (img, cached) = self.materialize_cached(&mut stage)?;
                if cached {
                    self.say(" ---> Using cache\n");
                }
                self.say(&format!(" ---> {}\n", short(&img)));
            }
            stages.push(stage);
        }
        let mut last = stages.pop().ok_or_else(|| BuildError::Dockerfile { line: 0, reason: "no stage".into() })?;
        if !self.req.labels.is_empty() {
            last.config.labels.get_or_insert_with(Default::default).extend(self.req.labels.clone());
            last.dirty.push("LABEL".into());
        }
        let img = self.materialize(&mut last)?;
        self.say(&format!("Successfully built {}\n", short(&img)));
        for t in &self.req.tags {
            self.images().name_image(&img, t)?;
            self.say(&format!("Successfully tagged {t}\n"));
        }
        Ok(img)
    }

    fn from(&mut self, ins: &Instruction, global: &BTreeMap<String, String>, stages: &[Stage]) -> Result<Stage> {
        let text = substitute(&ins.rest, global);
        let words: Vec<&str> = text.split_whitespace().collect();
        let (image_ref, name) = match words.as_slice() {
            [i] => (*i, None),
            [i, as_, n] if as_.eq_ignore_ascii_case("as") => (*i, Some(n.to_string())),
            _ => {
                return Err(BuildError::Dockerfile {
                    line: ins.line,
                    reason: format!("FROM requires one image (and AS name): {text}"),
                })
            }
        };
        if let Some(n) = name.as_deref().filter(|n| self.req.contexts.contains_key(*n)) {
            return Err(BuildError::Dockerfile {
                line: ins.line,
                reason: format!("stage {n} has the name of a named build context (replacing a stage is not supported)"),
            });
        }
        let image = if let Some(prev) = stages.iter().find(|s| s.name.as_deref() == Some(image_ref)) {
            prev.image.clone()
        } else if image_ref == "scratch" {
            let mut empty = Vec::new();
            tar::Builder::new(&mut empty).finish().map_err(|e| BuildError::Context(e.to_string()))?;
            self.images().import_in(&self.lease, &mut &empty[..], None, Some(RunConfig::default()), Some("scratch"))?
        } else {
            match self.req.contexts.get(image_ref).cloned() {
                Some(NamedContext::Local(dir)) => self.dir_image(image_ref, &dir)?,
                Some(NamedContext::Image(r)) => self.base(&r)?,
                None => self.base(image_ref)?,
            }
        };
        let config = Images::run_config(&image);
        let mut vars = global.clone();
        for kv in config.env.iter().flatten() {
            if let Some((k, v)) = kv.split_once('=') {
                vars.insert(k.to_string(), v.to_string());
            }
        }
        Ok(Stage {
            name,
            image,
            config,
            vars,
            dirty: Vec::new(),
            args: Vec::new(),
            shell: vec!["/bin/sh".into(), "-c".into()],
        })
    }

    /// The image `image_ref` names, leased for the build; pulled if it is not here.
    fn base(&mut self, image_ref: &str) -> Result<Image> {
        if let Ok((_, img)) = self.images().resolve(image_ref) {
            if self.images().lease_image(&self.lease, &img).is_ok() {
                return Ok(img);
            }
        }
        self.say(&format!("Pulling {image_ref}\n"));
        let r: wharf_image::Reference = image_ref.parse()?;
        let client = wharf_image::registry::Client::new(
            wharf_image::registry::auth::CredentialStore::default_location(),
            Default::default(),
        );
        Ok(client.pull_with(
            self.images(),
            &self.lease,
            &r,
            &wharf_image::manifest::Platform::host(),
            &wharf_image::registry::Quiet,
        )?)
    }

    /// A step's cache key (see `cache.rs`).
    fn cache_key(&self, s: &Stage, step: &[&[u8]]) -> String {
        let mut data = Vec::new();
        data.extend_from_slice(s.image.id().to_string().as_bytes());
        data.extend_from_slice(&serde_json::to_vec(&s.config).unwrap_or_default());
        data.extend_from_slice(s.dirty.join("\n").as_bytes());
        for part in step {
            data.push(0);
            data.extend_from_slice(part);
        }
        wharf_image::Digest::sha256(&data).hex().to_string()
    }

    fn cache_get(&self, key: &str) -> Option<Image> {
        if self.req.no_cache {
            return None;
        }
        let img = cache::get(self.images(), key)?;
        self.images().lease_image(&self.lease, &img).ok()?;
        Some(img)
    }

    fn cache_put(&self, key: &str, img: &Image) {
        cache::put(self.images(), key, img)
    }

    /// The stage's current image with its config applied (a config-only image if needed).
    fn materialize(&mut self, s: &mut Stage) -> Result<Image> {
        Ok(self.materialize_cached(s)?.0)
    }

    /// [`Self::materialize`], and whether the cache had the image.
    fn materialize_cached(&mut self, s: &mut Stage) -> Result<(Image, bool)> {
        let mut cached = false;
        if !s.dirty.is_empty() {
            let key = self.cache_key(s, &[b"config"]);
            let by = s.dirty.join("; ");
            s.image = match self.cache_get(&key) {
                Some(img) => {
                    cached = true;
                    img
                }
                None => {
                    let img = self.images().with_config_in(&self.lease, &s.image, s.config.clone(), &by)?;
                    self.cache_put(&key, &img);
                    img
                }
            };
            s.dirty.clear();
        }
        Ok((s.image.clone(), cached))
    }

    fn command(&self, ins: &Instruction, s: &Stage) -> Vec<String> {
        match ins.json_args() {
            Some(args) => args,
            None => {
                let mut c = s.shell.clone();
                c.push(ins.rest.clone());
                c
            }
        }
    }

    fn step(&mut self, ins: &Instruction, mut s: Stage, stages: &[Stage]) -> Result<Stage> {
        let sub = |t: &str, s: &Stage| substitute(t, &s.vars);
        let bad = |reason: String| BuildError::Dockerfile { line: ins.line, reason };
        match ins.keyword.as_str() {
            "RUN" => {
                let cmd = self.command(ins, &s);
                self.layer_step(&mut s, &ins.original(), Some(cmd), None)?;
            }
            "COPY" | "ADD" => {
                let text = sub(&ins.rest, &s);
                let mut parts: Vec<String> = match ins.json_args() {
                    Some(a) => a.into_iter().map(|x| sub(&x, &s)).collect(),
                    None => text.split_whitespace().map(str::to_string).collect(),
                };
                if parts.len() < 2 {
                    return Err(bad(format!("{} requires at least two arguments", ins.keyword)));
                }
                let dest_raw = parts.pop().unwrap_or_default();
                let dest = join_container(s.config.working_dir.as_deref().unwrap_or("/"), &dest_raw);
                let owner = match ins.flags.get("chown") {
                    Some(spec) => self.owner(&s, spec)?,
                    None => (0, 0),
                };
                // A directory destination: a trailing slash, `.`, or an existing directory.
                let syntactic_dir = dest_raw.ends_with('/') || dest_raw == "." || dest_raw.ends_with("/.");
                let dest_is_dir = syntactic_dir || {
                    let img = self.materialize(&mut s)?;
                    self.is_dir_in(&img, &dest)?
                };
                let files = self.collect(ins, &parts, &dest, dest_is_dir, owner, stages)?;
                self.layer_step(&mut s, &ins.original(), None, Some(files))?;
            }
            "ENV" => {
                for (k, v) in pairs(&ins.rest, true) {
                    let v = sub(&v, &s);
                    let env = s.config.env.get_or_insert_with(Vec::new);
                    env.retain(|e| e.split('=').next() != Some(k.as_str()));
                    env.push(format!("{k}={v}"));
                    s.vars.insert(k, v);
                }
                s.dirty.push(ins.original());
            }
            "ARG" => {
                for (k, v) in pairs(&ins.rest, false) {
                    let v = self.req.build_args.get(&k).cloned().unwrap_or(v);
                    s.vars.entry(k.clone()).or_insert(v);
                    s.args.push(k);
                }
            }
            "LABEL" => {
                for (k, v) in pairs(&ins.rest, true) {
                    let v = sub(&v, &s);
                    s.config.labels.get_or_insert_with(Default::default).insert(k, v);
                }
                s.dirty.push(ins.original());
            }
            "MAINTAINER" => {
                s.config.labels.get_or_insert_with(Default::default).insert("maintainer".into(), ins.rest.clone());
                s.dirty.push(ins.original());
            }
            "CMD" => {
                s.config.cmd = Some(self.command(ins, &s));
                s.dirty.push(ins.original());
            }
            "ENTRYPOINT" => {
                s.config.entrypoint = Some(self.command(ins, &s));
                // As Docker: a new ENTRYPOINT drops the base image's CMD.
                s.config.cmd = None;
                s.dirty.push(ins.original());
            }
            "WORKDIR" => {
                let w = join_container(s.config.working_dir.as_deref().unwrap_or("/"), &sub(&ins.rest, &s));
                s.config.working_dir = Some(w);
                s.dirty.push(ins.original());
            }
            "USER" => {
                s.config.user = Some(sub(&ins.rest, &s));
                s.dirty.push(ins.original());
            }
            "EXPOSE" | "VOLUME" | "STOPSIGNAL" => {
                s.config.apply_changes(&[format!("{} {}", ins.keyword, sub(&ins.rest, &s))])?;
                s.dirty.push(ins.original());
            }
            "HEALTHCHECK" => {
                s.config.healthcheck = Some(self.healthcheck(ins)?);
                s.dirty.push(ins.original());
            }
            "SHELL" => {
                s.shell = ins
                    .json_args()
                    .filter(|a| !a.is_empty())
                    .ok_or_else(|| bad("SHELL requires a JSON array".into()))?;
            }
            "ONBUILD" => {
                // Checked now, run by the builds FROM this image (Docker's triggers).
                let trigger = ins.rest.trim();
                if trigger.is_empty() {
                    return Err(bad("ONBUILD requires an instruction".into()));
                }
                let t = dockerfile::parse_one(ins.line, trigger)?;
                if matches!(t.keyword.as_str(), "ONBUILD" | "FROM" | "MAINTAINER") {
                    return Err(bad(format!("{} isn't allowed as an ONBUILD trigger", t.keyword)));
                }
                let list = s.config.extra.entry("OnBuild".into()).or_insert_with(|| serde_json::json!([]));
                match list.as_array_mut() {
                    Some(a) => a.push(serde_json::json!(trigger)),
                    None => *list = serde_json::json!([trigger]),
                }
                s.dirty.push(ins.original());
            }
            other => return Err(bad(format!("unexpected {other}"))),
        }
        Ok(s)
    }

    fn healthcheck(&self, ins: &Instruction) -> Result<serde_json::Value> {
        let bad = |reason: String| BuildError::Dockerfile { line: ins.line, reason };
        let mut rest = ins.rest.trim();
        let mut opts = serde_json::Map::new();
        while let Some(flag) = rest.strip_prefix("--") {
            let (word, after) = flag.split_once(char::is_whitespace).unwrap_or((flag, ""));
            let (k, v) = word.split_once('=').ok_or_else(|| bad(format!("bad HEALTHCHECK flag --{word}")))?;
            let key = match k {
                "interval" => "Interval",
                "timeout" => "Timeout",
                "start-period" => "StartPeriod",
                "retries" => "Retries",
                other => return Err(bad(format!("unknown HEALTHCHECK flag --{other}"))),
            };
            let value = if key == "Retries" {
                serde_json::json!(v.parse::<i64>().map_err(|_| bad(format!("bad retries {v}")))?)
            } else {
                serde_json::json!(parse_duration_nanos(v).ok_or_else(|| bad(format!("bad duration {v}")))?)
            };
            opts.insert(key.into(), value);
            rest = after.trim_start();
        }
        let (kw, cmd) = rest.split_once(char::is_whitespace).unwrap_or((rest, ""));
        let test = match kw.to_ascii_uppercase().as_str() {
            "NONE" => serde_json::json!(["NONE"]),
            "CMD" => match serde_json::from_str::<Vec<String>>(cmd.trim()) {
                Ok(args) => {
                    let mut t = vec!["CMD".to_string()];
                    t.extend(args);
                    serde_json::json!(t)
                }
                Err(_) => serde_json::json!(["CMD-SHELL", cmd.trim()]),
            },
            _ => return Err(bad("HEALTHCHECK needs CMD or NONE".into())),
        };
        opts.insert("Test".into(), test);
        Ok(serde_json::Value::Object(opts))
    }

    /// `--chown=user[:group]`: numbers, or names from the image's passwd/group.
    fn owner(&self, s: &Stage, spec: &str) -> Result<(u64, u64)> {
        let (u, g) = spec.split_once(':').unwrap_or((spec, spec));
        let num = |x: &str| x.parse::<u64>().ok();
        if let (Some(u), Some(g)) = (num(u), num(g)) {
            return Ok((u, g));
        }
        // Names: look them up in the stage's root filesystem.
        let files = self.extract(&s.image, &["/etc/passwd".into(), "/etc/group".into()]).unwrap_or_default();
        let lookup = |text: &str, name: &str| -> Option<u64> {
            text.lines().find(|l| l.split(':').next() == Some(name)).and_then(|l| l.split(':').nth(2)).and_then(num)
        };
        let text_of = |n: &str| {
            files.iter().find(|(p, _)| p == n).map(|(_, t)| String::from_utf8_lossy(t).into_owned()).unwrap_or_default()
        };
        let uid = num(u)
            .or_else(|| lookup(&text_of("passwd"), u))
            .ok_or_else(|| BuildError::Context(format!("unable to find user {u}")))?;
        let gid = if spec.contains(':') {
            num(g)
                .or_else(|| lookup(&text_of("group"), g))
                .ok_or_else(|| BuildError::Context(format!("unable to find group {g}")))?
        } else {
            uid
        };
        Ok((uid, gid))
    }

    /// Small files out of an image (name, content), through a throwaway container.
    fn extract(&self, img: &Image, paths: &[String]) -> Result<Vec<(String, Vec<u8>)>> {
        let c = self.scratch_container(img)?;
        let mut out = Vec::new();
        for p in paths {
            let mut tar = Vec::new();
            if self.engine.copy_out(&c, p, &mut tar).is_ok() {
                let mut a = tar::Archive::new(&tar[..]);
                if let Some(Ok(mut e)) = a.entries().map_err(|e| BuildError::Context(e.to_string()))?.next() {
                    let mut data = Vec::new();
                    let _ = e.read_to_end(&mut data);
                    out.push((
                        Path::new(p).file_name().map(|n| n.to_string_lossy().into_owned()).unwrap_or_default(),
                        data,
                    ));
                }
            }
        }
        let _ = self.engine.remove(&c, true, false);
        Ok(out)
    }

    /// Whether `path` is a directory in `img`.
    fn is_dir_in(&self, img: &Image, path: &str) -> Result<bool> {
        let c = self.scratch_container(img)?;
        let stat = self.engine.stat_path(&c, path);
        let _ = self.engine.remove(&c, true, false);
        Ok(stat.is_ok_and(|s| s.mode & (1 << 31) != 0))
    }

    fn scratch_container(&self, img: &Image) -> Result<String> {
        let opts = RunOptions {
            image: img.id().to_string(),
            cmd: vec!["true".into()],
            entrypoint: Some(Vec::new()),
            network: "none".into(),
            ..Default::default()
        };
        Ok(self.engine.create(CreateRequest { opts, ..Default::default() })?.id)
    }

    /// A layer-producing step: a container from the current image runs
    /// `cmd` (RUN) or receives `files` (COPY/ADD); its layer is committed.
    fn layer_step(
        &mut self,
        s: &mut Stage,
        what: &str,
        cmd: Option<Vec<String>>,
        files: Option<(String, Vec<u8>)>,
    ) -> Result<()> {
        let vars = serde_json::to_vec(&s.vars).unwrap_or_default();
        let cmd_json = serde_json::to_vec(&cmd).unwrap_or_default();
        let content = files.as_ref().map(|(d, data)| {
            let mut x = d.as_bytes().to_vec();
            x.extend_from_slice(wharf_image::Digest::sha256(data).hex().as_bytes());
            x
        });
        let key = self.cache_key(s, &[what.as_bytes(), &vars, &cmd_json, content.as_deref().unwrap_or(b"")]);
        if let Some(img) = self.cache_get(&key) {
            self.say(&format!(" ---> Using cache\n ---> {}\n", short(&img)));
            s.image = img;
            s.dirty.clear();
            return Ok(());
        }
        let base = self.materialize(s)?;
        let mut env: Vec<String> = s.config.env.clone().unwrap_or_default();
        // ARGs are visible to RUN, as in Docker (not kept in the image).
        for k in &s.args {
            if let Some(v) = s.vars.get(k).filter(|_| !env.iter().any(|e| e.split('=').next() == Some(k.as_str()))) {
                env.push(format!("{k}={v}"));
            }
        }
        let opts = RunOptions {
            image: base.id().to_string(),
            cmd: cmd.clone().unwrap_or_else(|| vec!["true".into()]),
            entrypoint: Some(Vec::new()),
            env,
            workdir: s.config.working_dir.clone(),
            user: s.config.user.clone().filter(|u| !u.is_empty()),
            network: "none".into(),
            ..Default::default()
        };
        let c = self.engine.create(CreateRequest { opts, ..Default::default() })?.id;
        let result = (|| -> Result<Image> {
            if let Some(cmd) = &cmd {
                self.say(&format!(" ---> Running in {}\n", &c[..12]));
                self.engine.start(&c, &self.req.monitor_exe, 0)?;
                let code = self.engine.wait(&c)?;
                let all = wharf_engine::logs::ReadOptions { stdout: true, stderr: true, ..Default::default() };
                self.engine.logs(&c, &all, false, &mut |e| {
                    let line = String::from_utf8_lossy(&e.line);
                    // As Docker's classic builder: a step's stderr in red.
                    if e.stream == wharf_engine::logs::Stream::Stderr {
                        self.say(&format!("\x1b[91m{line}\x1b[0m"));
                    } else {
                        self.say(&line);
                    }
                    true
                })?;
                if code != 0 {
                    return Err(BuildError::RunFailed { command: cmd.join(" "), code });
                }
            }
            if let Some((dir, data)) = &files {
                self.engine.add_files(&c, dir, &data[..])?;
            }
            Ok(self.images().commit_in(&self.lease, &c, &base, s.config.clone(), None, None, None)?)
        })();
        let _ = self.engine.remove(&c, true, false);
        let img = result?;
        if cmd.is_some() {
            self.say(&format!("Removing intermediate container {}\n", &c[..12]));
        }
        self.cache_put(&key, &img);
        self.say(&format!(" ---> {}\n", short(&img)));
        s.image = img;
        Ok(())
    }
}

fn parse_duration_nanos(s: &str) -> Option<i64> {
    wharf_common::time::go_duration_nanos(s).and_then(|n| i64::try_from(n).ok())
}

#[cfg(test)]
mod tests {
    use super::*;
    use context::in_context;

    #[test]
    fn paths_globs_durations() {
        assert_eq!(join_container("/app", "x"), "/app/x");
        assert_eq!(join_container("/app", "/x"), "/x");
        let tmp = tempfile::tempdir().unwrap();
        let ctx = tmp.path();
        assert_eq!(in_context(ctx, "a/../b").unwrap(), ctx.join("b"));
        assert!(in_context(ctx, "../etc/passwd").is_err());
        // A symlink in the context cannot lead out of it.
        std::os::unix::fs::symlink("/", ctx.join("l")).unwrap();
        std::os::unix::fs::symlink("/etc/shadow", ctx.join("Dockerfile")).unwrap();
        assert_eq!(in_context(ctx, "l/etc/shadow").unwrap(), ctx.join("etc/shadow"));
        assert_eq!(in_context(ctx, "Dockerfile").unwrap(), ctx.join("etc/shadow"));
        assert!(glob_match("*.txt", "a.txt") && !glob_match("*.txt", "a.md") && glob_match("f?o", "foo"));
        assert_eq!(parse_duration_nanos("30s"), Some(30_000_000_000));
        assert_eq!(parse_duration_nanos("100ms"), Some(100_000_000));
        assert_eq!(parse_duration_nanos("1x"), None);
    }
}
