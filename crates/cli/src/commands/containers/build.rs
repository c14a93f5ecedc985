//! `build`: the context tarball (with .dockerignore) sent to the daemon, or built locally.

use super::*;

#[derive(Args)]
pub struct BuildArgs {
    /// Name and optionally a tag (name:tag)
    #[arg(short, long = "tag")]
    pub tag: Vec<String>,
    /// Name of the Dockerfile (default: PATH/Dockerfile)
    #[arg(short, long)]
    pub file: Option<String>,
    /// Set build-time variables
    #[arg(long = "build-arg")]
    pub build_arg: Vec<String>,
    /// Set metadata for an image
    #[arg(long)]
    pub label: Vec<String>,
    /// Set the target build stage to build
    #[arg(long)]
    pub target: Option<String>,
    /// Suppress the build output and print the image ID on success
    #[arg(short, long)]
    pub quiet: bool,
    /// Do not use the build cache
    #[arg(long = "no-cache")]
    pub no_cache: bool,
    /// Build context directory
    pub path: PathBuf,
}

pub fn kv_map(items: &[String]) -> BTreeMap<String, String> {
    items
        .iter()
        .map(|i| match i.split_once('=') {
            Some((k, v)) => (k.to_string(), v.to_string()),
            // `--build-arg NAME` takes the value from our environment.
            None => (i.clone(), std::env::var(i).unwrap_or_default()),
        })
        .collect()
}

/// `.dockerignore` patterns (glob per path component, `!` exceptions, `**`).
pub fn ignored(patterns: &[(bool, String)], rel: &str) -> bool {
    fn matches(p: &[&str], n: &[&str]) -> bool {
        match (p.first(), n.first()) {
            (None, None) => true,
            (Some(&"**"), _) => matches(&p[1..], n) || (!n.is_empty() && matches(p, &n[1..])),
            (Some(pc), Some(nc)) => wharf_build::glob_match(pc, nc) && matches(&p[1..], &n[1..]),
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

/// The build context as a tar, `.dockerignore` applied (the Dockerfile is always sent).
pub fn context_tar(dir: &Path, dockerfile: &str) -> Result<Vec<u8>> {
    let patterns: Vec<(bool, String)> = std::fs::read_to_string(dir.join(".dockerignore"))
        .unwrap_or_default()
        .lines()
        .map(str::trim)
        .filter(|l| !l.is_empty() && !l.starts_with('#'))
        .map(|l| match l.strip_prefix('!') {
            Some(p) => (true, p.to_string()),
            None => (false, l.to_string()),
        })
        .collect();
    let mut data = Vec::new();
    let mut b = tar::Builder::new(&mut data);
    b.follow_symlinks(false);
    let mut stack = vec![PathBuf::new()];
    while let Some(rel) = stack.pop() {
        let full = dir.join(&rel);
        let mut names: Vec<_> = std::fs::read_dir(&full)
            .with_context(|| format!("read {}", full.display()))?
            .flatten()
            .map(|e| e.file_name())
            .collect();
        names.sort();
        for n in names {
            let r = rel.join(&n);
            let rs = r.to_string_lossy().to_string();
            if rs != dockerfile && rs != ".dockerignore" && ignored(&patterns, &rs) {
                continue;
            }
            let p = dir.join(&r);
            let md = std::fs::symlink_metadata(&p)?;
            if md.is_dir() {
                b.append_dir(&r, &p)?;
                stack.push(r);
            } else {
                b.append_path_with_name(&p, &r)?;
            }
        }
    }
    b.finish()?;
    drop(b);
    Ok(data)
}

pub fn build(client: &Client, a: &BuildArgs) -> Result<()> {
    let dockerfile = a.file.clone().unwrap_or_else(|| "Dockerfile".into());
    let data = context_tar(&a.path, &dockerfile)?;
    let mut q = format!("dockerfile={}&q={}&nocache={}", enc(&dockerfile), u8::from(a.quiet), u8::from(a.no_cache));
    for t in &a.tag {
        q.push_str(&format!("&t={}", enc(t)));
    }
    q.push_str(&format!("&buildargs={}", enc(&serde_json::to_string(&kv_map(&a.build_arg))?)));
    q.push_str(&format!("&labels={}", enc(&serde_json::to_string(&kv_map(&a.label))?)));
    if let Some(t) = &a.target {
        q.push_str(&format!("&target={}", enc(t)));
    }
    let resp = client.request("POST", &format!("/build?{q}"), Some(("application/x-tar", &data)))?;
    let mut id = None;
    let mut out = std::io::stdout();
    for line in std::io::BufRead::lines(std::io::BufReader::new(resp.body)).map_while(|l| l.ok()) {
        let Ok(v) = serde_json::from_str::<Value>(&line) else { continue };
        if let Some(e) = v["error"].as_str() {
            bail!("{e}");
        }
        if let Some(i) = v["aux"]["ID"].as_str() {
            id = Some(i.to_string());
        }
        if let Some(s) = v["stream"].as_str() {
            if !a.quiet {
                let _ = out.write_all(s.as_bytes());
                let _ = out.flush();
            }
        }
    }
    match (id, a.quiet) {
        (Some(i), true) => println!("{i}"),
        (None, _) => bail!("the build ended without an image"),
        _ => {}
    }
    Ok(())
}

/// `wharf build` without a daemon: the builder runs in this process.
pub fn build_local(engine: &wharf_engine::Engine, a: &BuildArgs) -> Result<()> {
    let req = wharf_build::BuildRequest {
        context: a.path.clone(),
        dockerfile: a.file.clone().unwrap_or_else(|| "Dockerfile".into()),
        tags: a.tag.clone(),
        build_args: kv_map(&a.build_arg),
        labels: kv_map(&a.label),
        target: a.target.clone(),
        monitor_exe: PathBuf::from("/proc/self/exe"),
        no_cache: a.no_cache,
    };
    let quiet = a.quiet;
    let img = wharf_build::build(engine, &req, &mut |s| {
        if !quiet {
            print!("{s}");
            let _ = std::io::stdout().flush();
        }
    })?;
    if quiet {
        println!("{}", img.id());
    }
    Ok(())
}

#[cfg(test)]
mod build_tests {
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
