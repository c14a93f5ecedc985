//! `build`: the context tarball (with .dockerignore) sent to the daemon, or built locally.

use super::common::*;

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
    /// Additional build contexts (NAME=PATH or NAME=docker-image://REF)
    #[arg(long = "build-context")]
    pub build_context: Vec<String>,
    /// Build context: a directory, or a git repository or http(s) URL (the
    /// daemon fetches it)
    pub path: String,
}

impl BuildArgs {
    /// The context is a git repository or an http(s) URL.
    fn remote(&self) -> Result<Option<&str>> {
        if !wharf_build::remote::is_remote(&self.path) {
            return Ok(None);
        }
        if !self.build_context.is_empty() {
            bail!("--build-context cannot be combined with a remote build context ({})", self.path);
        }
        Ok(Some(&self.path))
    }
}

/// `--build-context NAME=VALUE`s, relative paths from here.
fn named_contexts(items: &[String]) -> Result<BTreeMap<String, wharf_build::NamedContext>> {
    let here = std::env::current_dir()?;
    let mut out = BTreeMap::new();
    for i in items {
        let (k, v) = i.split_once('=').ok_or_else(|| anyhow!("--build-context {i:?}: expected NAME=VALUE"))?;
        if out.insert(k.to_string(), wharf_build::NamedContext::parse(k, v, &here)?).is_some() {
            bail!("--build-context {k} is given twice");
        }
    }
    Ok(out)
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

pub fn build(client: &Client, a: &BuildArgs) -> Result<()> {
    let dockerfile = a.file.clone().unwrap_or_else(|| "Dockerfile".into());
    let named = named_contexts(&a.build_context)?;
    if !named.is_empty() && !client.is_wharf()? {
        bail!(
            "--build-context needs a Wharf daemon: the classic POST /build of this daemon cannot carry named contexts"
        );
    }
    let remote = a.remote()?;
    let (context, named) = match remote {
        Some(_) => (Box::new(std::io::empty()) as Box<dyn Read + Send>, String::new()),
        None => crate::client::build_body(Path::new(&a.path), &dockerfile, &named)?,
    };
    let mut q = format!("dockerfile={}&q={}&nocache={}", enc(&dockerfile), u8::from(a.quiet), u8::from(a.no_cache));
    if let Some(r) = remote {
        q.push_str(&format!("&remote={}", enc(r)));
    }
    if !named.is_empty() {
        q.push_str(&format!("&{}={}", wharf_build::named::QUERY, enc(&named)));
    }
    for t in &a.tag {
        q.push_str(&format!("&t={}", enc(t)));
    }
    q.push_str(&format!("&buildargs={}", enc(&serde_json::to_string(&kv_map(&a.build_arg))?)));
    q.push_str(&format!("&labels={}", enc(&serde_json::to_string(&kv_map(&a.label))?)));
    if let Some(t) = &a.target {
        q.push_str(&format!("&target={}", enc(t)));
    }
    let resp = client.upload("POST", &format!("/build?{q}"), "application/x-tar", context)?;
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

/// The directory context (and named contexts) through the tarball a daemon gets, unpacked in `dir`.
fn local_context(
    scratch: &Path,
    dir: &Path,
    a: &BuildArgs,
    dockerfile: &str,
) -> Result<(PathBuf, BTreeMap<String, wharf_build::NamedContext>)> {
    let mut tarball = tempfile::tempfile_in(scratch)?;
    let upload = wharf_build::named::Upload::new(&named_contexts(&a.build_context)?);
    upload.write(Path::new(&a.path), dockerfile, &mut tarball)?;
    std::io::Seek::rewind(&mut tarball)?;
    wharf_image::unpack::unpack_layer(std::io::BufReader::new(tarball), dir)?;
    Ok(wharf_build::named::decode(Some(&upload.query), dir)?)
}

/// `wharf build` without a daemon: the builder runs in this process. The
/// context goes through the same tarball as for a daemon (`.dockerignore`
/// applied), unpacked into a scratch directory; a remote one is fetched here.
pub fn build_local(engine: &wharf_engine::Engine, a: &BuildArgs) -> Result<()> {
    let mut dockerfile = a.file.clone().unwrap_or_else(|| "Dockerfile".into());
    let scratch = engine.root().join("tmp");
    std::fs::create_dir_all(&scratch)?;
    let dir = tempfile::Builder::new().prefix("build-").tempdir_in(&scratch)?;
    let (context, contexts) = match a.remote()? {
        Some(r) => {
            let fetched = wharf_build::remote::fetch(r, dir.path())?;
            dockerfile = fetched.dockerfile.unwrap_or(dockerfile);
            (fetched.context, BTreeMap::new())
        }
        None => local_context(&scratch, dir.path(), a, &dockerfile)?,
    };
    let req = wharf_build::BuildRequest {
        context,
        dockerfile,
        tags: a.tag.clone(),
        build_args: kv_map(&a.build_arg),
        labels: kv_map(&a.label),
        target: a.target.clone(),
        monitor_exe: PathBuf::from("/proc/self/exe"),
        no_cache: a.no_cache,
        contexts,
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
