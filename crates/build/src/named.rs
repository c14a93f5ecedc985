//! Named build contexts (BuildKit's `--build-context`, Compose's
//! `build.additional_contexts`): a name that `FROM` and `COPY --from`
//! resolve, after the Dockerfile's own stages, to a local directory or to an
//! image (`docker-image://REF`).
//!
//! The classic `POST /build` has no way to carry them, so Wharf extends it:
//! the query parameter [`QUERY`] maps each name to `docker-image://REF` or
//! `local://N`; when it names any, the body's tar holds the build context
//! under `context/` and local context `N` under `named/N/` (each with its
//! own `.dockerignore` applied by the client).
//! A daemon that is not Wharf's would ignore the parameter, so clients send
//! it to Wharf only.

use std::collections::BTreeMap;
use std::io::Write;
use std::path::{Path, PathBuf};

use crate::error::{BuildError, Result};

/// The `POST /build` query parameter (a Wharf extension).
pub const QUERY: &str = "namedcontexts";

/// Where a named context's files come from.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum NamedContext {
    /// A directory (the client's; on the daemon, its unpacked copy).
    Local(PathBuf),
    /// An image reference, pulled if it is not here.
    Image(String),
}

fn refused(name: &str, why: &str) -> BuildError {
    BuildError::Context(format!("build context {name:?}: {why}"))
}

/// A context name: what a `FROM` or `COPY --from` word can be.
fn check_name(name: &str) -> Result<()> {
    if name.is_empty() || name.len() > 255 || name.chars().any(|c| c.is_whitespace() || c.is_control()) {
        return Err(refused(name, "a name is a non-empty word (an image name or a stage-like name)"));
    }
    if name.eq_ignore_ascii_case("scratch") {
        return Err(refused(name, "scratch cannot be redefined"));
    }
    Ok(())
}

impl NamedContext {
    /// `--build-context NAME=VALUE`'s value: `docker-image://REF`, or a
    /// directory (relative to `base`). Other sources BuildKit knows (remote
    /// git or HTTP contexts, `oci-layout://`, `target:`) are refused.
    pub fn parse(name: &str, value: &str, base: &Path) -> Result<NamedContext> {
        check_name(name)?;
        if let Some(r) = value.strip_prefix("docker-image://") {
            r.parse::<wharf_image::Reference>()?;
            return Ok(NamedContext::Image(r.to_string()));
        }
        if value.contains("://") || value.starts_with("git@") || value.starts_with("target:") {
            return Err(refused(
                name,
                &format!("{value}: only a local directory or docker-image://REF is supported by Wharf's builder"),
            ));
        }
        if value.is_empty() {
            return Err(refused(name, "empty value"));
        }
        let p = Path::new(value);
        Ok(NamedContext::Local(if p.is_absolute() { p.to_path_buf() } else { base.join(p) }))
    }
}

/// What a client sends for a build: the query value (empty without named
/// contexts) and the body ([`Upload::write`]) that goes with it.
#[derive(Debug, Clone)]
pub struct Upload {
    pub query: String,
    /// The local directories in tar order (`named/0/`, …); None without
    /// named contexts (the body is then the context's own tar).
    locals: Option<Vec<PathBuf>>,
}

impl Upload {
    pub fn new(named: &BTreeMap<String, NamedContext>) -> Upload {
        if named.is_empty() {
            return Upload { query: String::new(), locals: None };
        }
        let (query, locals) = encode(named);
        Upload { query, locals: Some(locals) }
    }

    /// The body: the context's own tar (`.dockerignore` applied, the
    /// Dockerfile always sent), or with named contexts the layout above.
    pub fn write(&self, context: &Path, dockerfile: &str, w: impl Write) -> Result<()> {
        match &self.locals {
            None => crate::dockerignore::context_tar(context, dockerfile, w),
            Some(locals) => write_tar(context, dockerfile, locals, w),
        }
    }
}

/// The query value for `named` and the local directories in tar order
/// (`named/0/`, `named/1/`, …).
fn encode(named: &BTreeMap<String, NamedContext>) -> (String, Vec<PathBuf>) {
    let mut locals = Vec::new();
    let map: serde_json::Map<String, serde_json::Value> = named
        .iter()
        .map(|(k, v)| {
            let v = match v {
                NamedContext::Image(r) => format!("docker-image://{r}"),
                NamedContext::Local(dir) => {
                    locals.push(dir.clone());
                    format!("local://{}", locals.len() - 1)
                }
            };
            (k.clone(), serde_json::Value::String(v))
        })
        .collect();
    (serde_json::Value::Object(map).to_string(), locals)
}

/// The daemon's side: the query value against the unpacked body at `dir`,
/// as (the build context, the named contexts). Without named contexts the
/// body is the build context itself.
pub fn decode(query: Option<&str>, dir: &Path) -> Result<(PathBuf, BTreeMap<String, NamedContext>)> {
    let Some(raw) = query.filter(|q| !q.is_empty()) else { return Ok((dir.to_path_buf(), BTreeMap::new())) };
    let map: BTreeMap<String, String> = serde_json::from_str(raw)
        .map_err(|e| BuildError::Context(format!("{QUERY}: a JSON object of strings is expected: {e}")))?;
    if map.is_empty() {
        return Ok((dir.to_path_buf(), BTreeMap::new()));
    }
    let mut out = BTreeMap::new();
    for (name, v) in map {
        check_name(&name)?;
        let nc = if let Some(r) = v.strip_prefix("docker-image://") {
            r.parse::<wharf_image::Reference>()?;
            NamedContext::Image(r.to_string())
        } else if let Some(n) = v.strip_prefix("local://").filter(|n| n.parse::<usize>().is_ok()) {
            // The unpacked tar is the client's: `named` and `named/N` are
            // directories, neither a symlink (which would lead the build
            // anywhere on the host).
            let (parent, sub) = (dir.join("named"), dir.join("named").join(n));
            let real_dir = |p: &Path| std::fs::symlink_metadata(p).is_ok_and(|m| m.is_dir());
            if !real_dir(&parent) || !real_dir(&sub) {
                return Err(refused(&name, &format!("local context {n} is not in the uploaded tar (named/{n}/)")));
            }
            NamedContext::Local(sub)
        } else {
            return Err(refused(&name, &format!("{v}: expected docker-image://REF or local://N")));
        };
        out.insert(name, nc);
    }
    let context = dir.join("context");
    if !std::fs::symlink_metadata(&context).is_ok_and(|m| m.is_dir()) {
        return Err(BuildError::Context(format!("with {QUERY}, the tar holds the build context under context/")));
    }
    Ok((context, out))
}

/// The body for a build with named contexts: the context under `context/`
/// (its `.dockerignore` applied, the Dockerfile always sent), each local
/// one of `locals` under `named/N/` (its own `.dockerignore` applied).
fn write_tar(context: &Path, dockerfile: &str, locals: &[PathBuf], w: impl Write) -> Result<()> {
    let mut b = tar::Builder::new(w);
    b.follow_symlinks(false);
    crate::dockerignore::append_dir(&mut b, context, Some(dockerfile), Path::new("context"))?;
    for (i, dir) in locals.iter().enumerate() {
        if !dir.is_dir() {
            return Err(BuildError::Context(format!("build context {}: not a directory", dir.display())));
        }
        crate::dockerignore::append_dir(&mut b, dir, None, &Path::new("named").join(i.to_string()))?;
    }
    b.finish().map_err(|e| BuildError::Io { path: context.to_path_buf(), source: e })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn values_parse_encode_and_decode() {
        let base = Path::new("/proj");
        assert_eq!(
            NamedContext::parse("base", "docker-image://busybox:local", base).unwrap(),
            NamedContext::Image("busybox:local".into())
        );
        assert_eq!(NamedContext::parse("src", "../src", base).unwrap(), NamedContext::Local("/proj/../src".into()));
        for (name, bad) in [
            ("x", "https://example.com/ctx.git"),
            ("x", "oci-layout:///tmp/l"),
            ("x", "target:other"),
            ("x", ""),
            ("scratch", "."),
            ("two words", "."),
            ("x", "docker-image://UPPER"),
        ] {
            assert!(NamedContext::parse(name, bad, base).is_err(), "{name}={bad}");
        }

        let tmp = tempfile::tempdir().unwrap();
        let (src, ctx) = (tmp.path().join("src"), tmp.path().join("ctx"));
        for d in [&src, &ctx] {
            std::fs::create_dir(d).unwrap();
        }
        std::fs::write(ctx.join("Dockerfile"), "FROM base\n").unwrap();
        std::fs::write(src.join("keep"), "k").unwrap();
        std::fs::write(src.join("skip.log"), "s").unwrap();
        std::fs::write(src.join(".dockerignore"), "*.log\n").unwrap();
        let named: BTreeMap<_, _> = [
            ("base".to_string(), NamedContext::Image("busybox:local".into())),
            ("src".to_string(), NamedContext::Local(src.clone())),
        ]
        .into();
        let up = Upload::new(&named);
        assert_eq!(up.locals, Some(vec![src]));
        let mut body = Vec::new();
        up.write(&ctx, "Dockerfile", &mut body).unwrap();
        let out = tmp.path().join("out");
        tar::Archive::new(&body[..]).unpack(&out).unwrap();
        let (context, back) = decode(Some(&up.query), &out).unwrap();
        assert_eq!(context, out.join("context"));
        assert!(context.join("Dockerfile").is_file());
        assert_eq!(back["base"], NamedContext::Image("busybox:local".into()));
        assert_eq!(back["src"], NamedContext::Local(out.join("named/0")));
        assert!(out.join("named/0/keep").is_file() && !out.join("named/0/skip.log").exists(), "own .dockerignore");
        // Without named contexts the body is the context's own tar, and the query empty.
        let plain = Upload::new(&BTreeMap::new());
        let mut body = Vec::new();
        plain.write(&ctx, "Dockerfile", &mut body).unwrap();
        let flat = tmp.path().join("flat");
        tar::Archive::new(&body[..]).unpack(&flat).unwrap();
        assert_eq!(plain.query, "");
        assert_eq!(decode(Some(&plain.query), &flat).unwrap(), (flat.clone(), BTreeMap::new()));
        assert!(flat.join("Dockerfile").is_file());
        // Without the parameter the body is the context; a bad value or a missing directory is refused.
        assert_eq!(decode(None, &out).unwrap(), (out.clone(), BTreeMap::new()));
        assert!(decode(Some(r#"{"a":"local://7"}"#), &out).is_err());
        assert!(decode(Some(r#"{"a":"/etc"}"#), &out).is_err());
        assert!(decode(Some("[1]"), &out).is_err());
        // A `named` that is a symlink (to a host directory) is refused.
        let hostile = tmp.path().join("hostile");
        std::fs::create_dir_all(hostile.join("context")).unwrap();
        std::os::unix::fs::symlink(tmp.path(), hostile.join("named")).unwrap();
        std::fs::create_dir_all(tmp.path().join("0")).unwrap();
        assert!(decode(Some(r#"{"a":"local://0"}"#), &hostile).is_err());
    }
}
