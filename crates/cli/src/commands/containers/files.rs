//! `cp`, `export`, `commit`.

use super::common::*;
use crate::commands::images::remote::split_ref;

/// `CONTAINER:PATH` → (container, path).
pub fn split_container_path(s: &str) -> Option<(&str, &str)> {
    if s.starts_with('/') || s.starts_with('.') {
        return None;
    }
    s.split_once(':').filter(|(c, _)| !c.is_empty())
}

pub fn cp(client: &Client, src: &str, dst: &str) -> Result<()> {
    match (split_container_path(src), split_container_path(dst)) {
        (Some((c, path)), None) => copy_out(client, c, path, Path::new(dst)),
        (None, Some((c, path))) => copy_in(client, Path::new(src), c, path),
        _ => {
            bail!("copying between containers or between host paths is not supported: one side must be CONTAINER:PATH")
        }
    }
}

pub fn path_stat(client: &Client, c: &str, path: &str) -> Result<Option<Value>> {
    let resp = match client.request("HEAD", &format!("/containers/{}/archive?path={}", enc(c), enc(path)), None) {
        Ok(r) => r,
        Err(e) if status_of(&e) == Some(404) => return Ok(None),
        Err(e) => return Err(e),
    };
    let raw = resp.header("X-Docker-Container-Path-Stat").unwrap_or("").to_string();
    use base64::Engine as _;
    let data = base64::engine::general_purpose::STANDARD.decode(raw.trim()).unwrap_or_default();
    Ok(serde_json::from_slice(&data).ok())
}

pub fn copy_out(client: &Client, c: &str, path: &str, dst: &Path) -> Result<()> {
    let resp = client.request("GET", &format!("/containers/{}/archive?path={}", enc(c), enc(path)), None)?;
    let mut archive = tar::Archive::new(resp.body);
    archive.set_preserve_permissions(true);
    archive.set_overwrite(true);
    // Into an existing directory: keep the name; else the copy takes `dst`'s name.
    let (dir, rename) = if dst.is_dir() {
        (dst.to_path_buf(), None)
    } else {
        (
            dst.parent().filter(|p| !p.as_os_str().is_empty()).unwrap_or(Path::new(".")).to_path_buf(),
            dst.file_name().map(|n| n.to_owned()),
        )
    };
    // Entry names (and hard-link targets) are mapped the same way.
    let map = |name: &Path| -> Result<PathBuf> {
        let rel = match &rename {
            Some(new) => {
                let mut comps = name.components();
                let _first = comps.next();
                let rest = comps.as_path();
                if rest.as_os_str().is_empty() {
                    PathBuf::from(new)
                } else {
                    Path::new(new).join(rest)
                }
            }
            None => name.to_path_buf(),
        };
        if rel.components().any(|c| matches!(c, std::path::Component::ParentDir | std::path::Component::RootDir)) {
            bail!("refusing unsafe path {} in the archive", rel.display());
        }
        Ok(rel)
    };
    for entry in archive.entries()? {
        let mut entry = entry?;
        let target = dir.join(map(&entry.path()?)?);
        if entry.header().entry_type().is_hard_link() {
            let source = entry.link_name()?.ok_or_else(|| anyhow!("hard link without a target"))?;
            let source = dir.join(map(&source)?);
            let _ = std::fs::remove_file(&target);
            std::fs::hard_link(&source, &target).with_context(|| format!("link {}", target.display()))?;
            continue;
        }
        entry.unpack(&target).with_context(|| format!("write {}", target.display()))?;
    }
    Ok(())
}

pub fn copy_in(client: &Client, src: &Path, c: &str, path: &str) -> Result<()> {
    let meta = std::fs::symlink_metadata(src).with_context(|| format!("stat {}", src.display()))?;
    // An existing directory receives the source under its own name; otherwise
    // the source is renamed to the destination's last component.
    let stat = path_stat(client, c, path)?;
    let is_dir = stat.as_ref().and_then(|s| s["mode"].as_u64()).is_some_and(|m| m & (1 << 31) != 0);
    let (dir, name) = if is_dir {
        (path.to_string(), src.file_name().map(|n| n.to_owned()).unwrap_or_default())
    } else {
        if path.ends_with('/') {
            bail!("destination directory {path} does not exist in the container");
        }
        let p = Path::new(path);
        let parent =
            p.parent().map(|x| x.display().to_string()).filter(|s| !s.is_empty()).unwrap_or_else(|| "/".into());
        (parent, p.file_name().map(|n| n.to_owned()).unwrap_or_default())
    };
    let src = src.to_path_buf();
    let tarball = crate::client::produced(move |w| {
        let mut b = tar::Builder::new(w);
        b.follow_symlinks(false);
        if meta.is_dir() {
            b.append_dir_all(&name, &src)?;
        } else {
            b.append_path_with_name(&src, &name)?;
        }
        b.finish()?;
        Ok(())
    })?;
    client.upload(
        "PUT",
        &format!("/containers/{}/archive?path={}", enc(c), enc(&dir)),
        "application/x-tar",
        tarball,
    )?;
    Ok(())
}

pub fn export(client: &Client, container: &str, output: Option<&Path>) -> Result<()> {
    let mut resp = client.request("GET", &format!("/containers/{}/export", enc(container)), None)?;
    match output {
        Some(p) => {
            let mut f = std::fs::File::create(p).with_context(|| format!("create {}", p.display()))?;
            std::io::copy(&mut resp.body, &mut f)?;
        }
        None => {
            if nix::unistd::isatty(std::io::stdout()).unwrap_or(false) {
                bail!("cowardly refusing to save to a terminal. Use the -o flag or redirect");
            }
            std::io::copy(&mut resp.body, &mut std::io::stdout())?;
        }
    }
    Ok(())
}

#[derive(Args)]
pub struct CommitArgs {
    /// Author
    #[arg(short, long)]
    author: Option<String>,
    /// Apply Dockerfile instruction to the created image
    #[arg(short, long)]
    change: Vec<String>,
    /// Commit message
    #[arg(short, long)]
    message: Option<String>,
    /// Pause container during commit
    #[arg(short, long, default_value_t = true, action = clap::ArgAction::Set)]
    pause: bool,
    container: String,
    repository: Option<String>,
}

pub fn commit(client: &Client, a: &CommitArgs) -> Result<()> {
    let mut q = format!("container={}&pause={}", enc(&a.container), u8::from(a.pause));
    if let Some(r) = &a.repository {
        let (repo, tag) = split_ref(r);
        q.push_str(&format!("&repo={}&tag={}", enc(repo), enc(tag)));
    }
    for (k, v) in [("comment", &a.message), ("author", &a.author)] {
        if let Some(v) = v {
            q.push_str(&format!("&{k}={}", enc(v)));
        }
    }
    for c in &a.change {
        q.push_str(&format!("&changes={}", enc(c)));
    }
    let v = client.post(&format!("/commit?{q}"), None)?;
    println!("{}", v["Id"].as_str().unwrap_or(""));
    Ok(())
}
