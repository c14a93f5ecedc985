//! `.dockerignore` and the build context tarball: what the client sends to
//! `POST /build` (the docker CLI's rules: a glob per path component, `**`,
//! `!` exceptions, the last match wins; the Dockerfile and `.dockerignore`
//! are always sent). The daemonless build goes through the same tarball.

use std::io::Write;
use std::path::{Path, PathBuf};

use crate::error::{BuildError, Result};

/// The patterns of `dir/.dockerignore` (none if there is no file): `(negated, pattern)`.
/// (The client's own directory; the daemon reads the context's through [`crate::context`].)
pub fn patterns(dir: &Path) -> Result<Vec<(bool, String)>> {
    let path = dir.join(".dockerignore");
    let text = match std::fs::read_to_string(&path) {
        Ok(t) => t,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => String::new(),
        Err(e) => return Err(BuildError::Io { path, source: e }),
    };
    Ok(parse(&text))
}

/// `.dockerignore` text as `(negated, pattern)` lines.
pub fn parse(text: &str) -> Vec<(bool, String)> {
    text.lines()
        .map(str::trim)
        .filter(|l| !l.is_empty() && !l.starts_with('#'))
        .map(|l| match l.strip_prefix('!') {
            Some(p) => (true, p.to_string()),
            None => (false, l.to_string()),
        })
        .collect()
}

/// `.dockerignore` patterns (glob per path component, `!` exceptions, `**`).
pub fn ignored(patterns: &[(bool, String)], rel: &str) -> bool {
    fn matches(p: &[&str], n: &[&str]) -> bool {
        match (p.first(), n.first()) {
            (None, None) => true,
            (Some(&"**"), _) => matches(&p[1..], n) || (!n.is_empty() && matches(p, &n[1..])),
            (Some(pc), Some(nc)) => crate::glob_match(pc, nc) && matches(&p[1..], &n[1..]),
            // A pattern matching a directory excludes what is inside it.
            (None, Some(_)) => true,
            _ => false,
        }
    }
    let parts: Vec<&str> = rel.split('/').filter(|s| !s.is_empty()).collect();
    let mut out = false;
    for (negated, p) in patterns {
        let pp: Vec<&str> = p.trim_matches('/').split('/').filter(|s| !s.is_empty() && *s != ".").collect();
        if !pp.is_empty() && matches(&pp, &parts) {
            out = !negated;
        }
    }
    out
}

/// Writes the build context of `dir` as a tar to `w`, `.dockerignore` applied.
/// Symlinks are archived as links, never followed.
pub fn context_tar(dir: &Path, dockerfile: &str, w: impl Write) -> Result<()> {
    let mut b = tar::Builder::new(w);
    b.follow_symlinks(false);
    append_dir(&mut b, dir, Some(dockerfile), Path::new(""))?;
    b.finish().map_err(|source| BuildError::Io { path: dir.to_path_buf(), source })
}

/// Appends the tree of `dir` under `prefix`, its `.dockerignore` applied
/// (`dockerfile` and `.dockerignore` are always sent); symlinks as links.
pub fn append_dir<W: Write>(
    b: &mut tar::Builder<W>,
    dir: &Path,
    dockerfile: Option<&str>,
    prefix: &Path,
) -> Result<()> {
    let patterns = patterns(dir)?;
    let io = |path: &Path| {
        let path = path.to_path_buf();
        move |source: std::io::Error| BuildError::Io { path, source }
    };
    if !prefix.as_os_str().is_empty() {
        b.append_dir(prefix, dir).map_err(io(dir))?;
    }
    let mut stack = vec![PathBuf::new()];
    while let Some(rel) = stack.pop() {
        let full = dir.join(&rel);
        let mut names: Vec<_> = std::fs::read_dir(&full)
            .map_err(io(&full))?
            .map(|e| e.map(|e| e.file_name()))
            .collect::<Result<_, _>>()
            .map_err(io(&full))?;
        names.sort();
        for n in names {
            let r = rel.join(&n);
            let rs = r.to_string_lossy().to_string();
            if Some(rs.as_str()) != dockerfile && rs != ".dockerignore" && ignored(&patterns, &rs) {
                continue;
            }
            let p = dir.join(&r);
            let md = std::fs::symlink_metadata(&p).map_err(io(&p))?;
            if md.is_dir() {
                b.append_dir(prefix.join(&r), &p).map_err(io(&p))?;
                stack.push(r);
            } else {
                b.append_path_with_name(&p, prefix.join(&r)).map_err(io(&p))?;
            }
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn dockerignore_patterns() {
        let p = |v: &[&str]| -> Vec<(bool, String)> {
            v.iter()
                .map(|s| match s.strip_prefix('!') {
                    Some(x) => (true, x.to_string()),
                    None => (false, s.to_string()),
                })
                .collect()
        };
        let pats = p(&["*.log", "tmp", "**/*.bak", "!keep.log"]);
        assert!(ignored(&pats, "a.log") && !ignored(&pats, "keep.log"));
        assert!(ignored(&pats, "tmp/x/y") && ignored(&pats, "deep/dir/f.bak"));
        assert!(!ignored(&pats, "src/main.rs"));
    }
}
