//! Remote build contexts (`POST /build?remote=`, `docker build URL`,
//! Compose's `build.context: URL`), as Docker detects them:
//!
//! - a **git repository** — `git://…`, `git@…`, `github.com/…`, or an
//!   `http(s)://` URL whose path ends in `.git` — with an optional
//!   `#REF:DIR` fragment (a branch, tag or commit, and the context's
//!   directory inside the repository), cloned with the host's `git`
//!   limited to network transports (no `file://`, no `ext::`, no prompt);
//!   the context is the checkout without `.git`, as BuildKit's;
//! - any other **`http(s)://` URL**: a tarball (plain or compressed) is the
//!   context; anything else is the Dockerfile, alone in an empty context.
//!
//! Everything fetched is the URL owner's: the tarball is unpacked by the
//! hardened layer unpacker, the checkout read through the build context's
//! confined resolver, the subdirectory resolved inside the checkout.

use std::io::Read;
use std::path::{Path, PathBuf};
use std::process::Command;

use crate::error::{BuildError, Result};

/// Upper bound for a downloaded context or Dockerfile.
pub const DOWNLOAD_LIMIT: u64 = 4 << 30;

/// What a remote names.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Remote {
    Git { url: String, reference: Option<String>, subdir: Option<String> },
    Url(String),
}

/// Whether `s` is a remote context rather than a path (Docker's rules).
pub fn is_remote(s: &str) -> bool {
    is_git(s) || s.starts_with("http://") || s.starts_with("https://")
}

fn is_git(s: &str) -> bool {
    let path = s.split('#').next().unwrap_or(s);
    s.starts_with("git://")
        || s.starts_with("git@")
        || s.starts_with("github.com/")
        || ((s.starts_with("http://") || s.starts_with("https://")) && path.ends_with(".git"))
}

fn bad(remote: &str, why: impl std::fmt::Display) -> BuildError {
    BuildError::Context(format!("remote context {remote}: {why}"))
}

impl Remote {
    pub fn parse(s: &str) -> Result<Remote> {
        if is_git(s) {
            let (url, fragment) = s.split_once('#').unwrap_or((s, ""));
            let url = match url.strip_prefix("github.com/") {
                Some(rest) => format!("https://github.com/{rest}"),
                None => url.to_string(),
            };
            let (reference, subdir) = fragment.split_once(':').unwrap_or((fragment, ""));
            let some = |x: &str| (!x.is_empty()).then(|| x.to_string());
            if reference.starts_with('-') {
                return Err(bad(s, "a reference cannot start with '-'"));
            }
            return Ok(Remote::Git { url, reference: some(reference), subdir: some(subdir) });
        }
        if s.starts_with("http://") || s.starts_with("https://") {
            return Ok(Remote::Url(s.to_string()));
        }
        Err(bad(s, "not a git repository or an http(s) URL"))
    }
}

/// A fetched remote: the context directory, and the Dockerfile's name when
/// the URL was the Dockerfile itself.
#[derive(Debug)]
pub struct Fetched {
    pub context: PathBuf,
    pub dockerfile: Option<String>,
}

/// Fetches `remote` into `dir` (a scratch directory of the caller's).
pub fn fetch(remote: &str, dir: &Path) -> Result<Fetched> {
    match Remote::parse(remote)? {
        Remote::Git { url, reference, subdir } => clone(remote, &url, reference.as_deref(), subdir.as_deref(), dir),
        Remote::Url(url) => download(remote, &url, dir),
    }
}

fn git(remote: &str, dir: &Path, args: &[&str]) -> Result<()> {
    let out = Command::new("git")
        .arg("-C")
        .arg(dir)
        // A server that stalls (under 1 KiB/s for a minute) ends the fetch.
        .args(["-c", "http.lowSpeedLimit=1024", "-c", "http.lowSpeedTime=60"])
        .args(args)
        // Network transports only (submodules too): no file:// or ext:: from a URL's owner.
        .env("GIT_ALLOW_PROTOCOL", "http:https:git:ssh")
        .env("GIT_TERMINAL_PROMPT", "0")
        .env("GIT_CONFIG_NOSYSTEM", "1")
        .env("GIT_SSH_COMMAND", "ssh -o BatchMode=yes")
        .stdin(std::process::Stdio::null())
        .output()
        .map_err(|e| match e.kind() {
            std::io::ErrorKind::NotFound => bad(remote, "git is not installed on this host"),
            _ => bad(remote, format!("git: {e}")),
        })?;
    if out.status.success() {
        return Ok(());
    }
    let err = String::from_utf8_lossy(&out.stderr);
    Err(bad(remote, format!("git {}: {}", args.first().unwrap_or(&""), err.trim())))
}

fn clone(remote: &str, url: &str, reference: Option<&str>, subdir: Option<&str>, dir: &Path) -> Result<Fetched> {
    let repo = dir.join("repo");
    std::fs::create_dir_all(&repo).map_err(|e| BuildError::Io { path: repo.clone(), source: e })?;
    git(remote, &repo, &["init", "-q"])?;
    git(remote, &repo, &["remote", "add", "origin", url])?;
    let reference = reference.unwrap_or("HEAD");
    // Shallow when the server can (the dumb HTTP protocol cannot), else whole.
    if git(remote, &repo, &["fetch", "-q", "--depth", "1", "origin", "--", reference]).is_err() {
        git(remote, &repo, &["fetch", "-q", "origin", "--", reference])?;
    }
    git(remote, &repo, &["checkout", "-q", "FETCH_HEAD"])?;
    git(remote, &repo, &["submodule", "update", "-q", "--init", "--recursive"])?;
    let dot_git = repo.join(".git");
    std::fs::remove_dir_all(&dot_git).map_err(|e| BuildError::Io { path: dot_git, source: e })?;
    let context = match subdir {
        None => repo,
        Some(sub) => {
            let rel = wharf_image::unpack::clean_path(Path::new(sub.trim_start_matches('/')))
                .ok_or_else(|| bad(remote, format!("{sub}: outside the repository")))?;
            let at = wharf_image::unpack::resolve_in_root(&repo, &rel)?;
            if !std::fs::symlink_metadata(&at).is_ok_and(|m| m.is_dir()) {
                return Err(bad(remote, format!("{sub}: not a directory of the repository")));
            }
            at
        }
    };
    Ok(Fetched { context, dockerfile: None })
}

fn download(remote: &str, url: &str, dir: &Path) -> Result<Fetched> {
    let agent = ureq::AgentBuilder::new()
        .timeout_connect(std::time::Duration::from_secs(15))
        .timeout_read(std::time::Duration::from_secs(120))
        .redirects(5)
        .user_agent(concat!("wharf/", env!("CARGO_PKG_VERSION")))
        .build();
    let resp = match agent.get(url).call() {
        Ok(r) => r,
        Err(ureq::Error::Status(code, _)) => return Err(bad(remote, format!("HTTP {code}"))),
        Err(e) => return Err(bad(remote, e)),
    };
    let file = dir.join("download");
    let mut out = std::fs::File::create(&file).map_err(|e| BuildError::Io { path: file.clone(), source: e })?;
    let n = std::io::copy(&mut resp.into_reader().take(DOWNLOAD_LIMIT + 1), &mut out)
        .map_err(|e| bad(remote, format!("download: {e}")))?;
    if n > DOWNLOAD_LIMIT {
        return Err(bad(remote, format!("larger than {} GiB", DOWNLOAD_LIMIT >> 30)));
    }
    let open = || std::fs::File::open(&file).map_err(|e| BuildError::Io { path: file.clone(), source: e });
    let context = dir.join("context");
    std::fs::create_dir_all(&context).map_err(|e| BuildError::Io { path: context.clone(), source: e })?;
    if let Some(kind) = unsupported_compression(open()?) {
        return Err(bad(remote, format!("a {kind}-compressed context is not supported (plain, gzip or zstd tar)")));
    }
    if is_tar(open()?) {
        let plain = wharf_image::unpack::decompress(std::io::BufReader::new(open()?))?;
        wharf_image::unpack::unpack_layer(plain, &context)
            .map_err(|e| bad(remote, format!("unpacking the context: {e}")))?;
        return Ok(Fetched { context, dockerfile: None });
    }
    let to = context.join("Dockerfile");
    std::fs::rename(&file, &to).map_err(|e| BuildError::Io { path: to, source: e })?;
    Ok(Fetched { context, dockerfile: Some("Dockerfile".into()) })
}

/// bzip2 and xz, which Docker takes and Wharf's unpacker does not: said,
/// rather than taken for a Dockerfile.
fn unsupported_compression(mut f: std::fs::File) -> Option<&'static str> {
    let mut head = [0u8; 6];
    let n = f.read(&mut head).ok()?;
    match &head[..n] {
        [b'B', b'Z', b'h', ..] => Some("bzip2"),
        [0xfd, b'7', b'z', b'X', b'Z', 0] => Some("xz"),
        _ => None,
    }
}

/// Whether the (possibly compressed) stream starts with a tar header.
fn is_tar(f: std::fs::File) -> bool {
    let Ok(mut plain) = wharf_image::unpack::decompress(std::io::BufReader::new(f)) else { return false };
    let mut head = [0u8; 512];
    let mut got = 0;
    while got < head.len() {
        match plain.read(&mut head[got..]) {
            Ok(0) | Err(_) => break,
            Ok(n) => got += n,
        }
    }
    got == 512 && &head[257..262] == b"ustar"
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn remotes_are_told_apart_as_docker_does() {
        let git = |url: &str, r: Option<&str>, d: Option<&str>| Remote::Git {
            url: url.into(),
            reference: r.map(Into::into),
            subdir: d.map(Into::into),
        };
        for (s, want) in [
            ("https://h/r.git", git("https://h/r.git", None, None)),
            ("https://h/r.git#v1:sub/dir", git("https://h/r.git", Some("v1"), Some("sub/dir"))),
            ("git://h/r#main", git("git://h/r", Some("main"), None)),
            ("git@h:o/r.git#:docker", git("git@h:o/r.git", None, Some("docker"))),
            ("github.com/o/r", git("https://github.com/o/r", None, None)),
            ("http://h/ctx.tar.gz", Remote::Url("http://h/ctx.tar.gz".into())),
            ("https://h/Dockerfile", Remote::Url("https://h/Dockerfile".into())),
        ] {
            assert_eq!(Remote::parse(s).unwrap(), want, "{s}");
            assert!(is_remote(s));
        }
        for s in ["./app", "/abs", "app.git", "ftp://h/x"] {
            assert!(!is_remote(s) && Remote::parse(s).is_err(), "{s}");
        }
        assert!(Remote::parse("https://h/r.git#--upload-pack=x").is_err(), "an option as a ref");
    }

    #[test]
    fn a_tar_is_told_from_a_dockerfile() {
        let tmp = tempfile::tempdir().unwrap();
        let tar_path = tmp.path().join("t.tar.gz");
        let gz = flate2::write::GzEncoder::new(std::fs::File::create(&tar_path).unwrap(), Default::default());
        let mut b = tar::Builder::new(gz);
        let mut h = tar::Header::new_ustar();
        h.set_size(2);
        h.set_mode(0o644);
        h.set_cksum();
        b.append_data(&mut h, "f", &b"hi"[..]).unwrap();
        b.into_inner().unwrap().finish().unwrap();
        assert!(is_tar(std::fs::File::open(&tar_path).unwrap()));
        let df = tmp.path().join("Dockerfile");
        std::fs::write(&df, "FROM busybox\n".repeat(100)).unwrap();
        assert!(!is_tar(std::fs::File::open(&df).unwrap()));
        assert_eq!(unsupported_compression(std::fs::File::open(&df).unwrap()), None);
        std::fs::write(&df, b"BZh91AY&SY").unwrap();
        assert_eq!(unsupported_compression(std::fs::File::open(&df).unwrap()), Some("bzip2"));
    }
}
