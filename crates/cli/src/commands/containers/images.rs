//! `version`, `info`, image commands and `system` through the daemon.

use super::common::*;

pub fn version(client: &Client, format: Option<&str>) -> Result<()> {
    let server = client.get("/version").ok();
    let v = json!({
        "Client": {"Version": env!("CARGO_PKG_VERSION"), "ApiVersion": wharf_api::API_VERSION, "Os": "linux", "Arch": std::env::consts::ARCH},
        "Server": server,
    });
    if let Some(f) = format {
        println!("{}", Template::new(f)?.render(&v)?);
        return Ok(());
    }
    println!("Client: Wharf\n Version:\t{}\n API version:\t{}", env!("CARGO_PKG_VERSION"), wharf_api::API_VERSION);
    match &v["Server"] {
        Value::Null => bail!(
            "Cannot connect to the Wharf daemon at unix://{}. Is 'wharf daemon' running?",
            client.socket.display()
        ),
        s => println!(
            "\nServer:\n Version:\t{}\n API version:\t{} (minimum version {})\n Kernel:\t{}",
            s["Version"].as_str().unwrap_or(""),
            s["ApiVersion"].as_str().unwrap_or(""),
            s["MinAPIVersion"].as_str().unwrap_or(""),
            s["KernelVersion"].as_str().unwrap_or("")
        ),
    }
    Ok(())
}

pub fn info(client: &Client, format: Option<&str>) -> Result<()> {
    let v = client.get("/info")?;
    if let Some(f) = format {
        println!("{}", Template::new(f)?.render(&v)?);
        return Ok(());
    }
    println!(
        "Containers: {}\n Running: {}\n Paused: {}\n Stopped: {}\nImages: {}\nServer Version: {}\nStorage Driver: {}\nCgroup Driver: {}\nCgroup Version: {}\nDefault Runtime: {}\nKernel Version: {}\nOperating System: {}\nCPUs: {}\nTotal Memory: {}\nDocker Root Dir: {}",
        v["Containers"], v["ContainersRunning"], v["ContainersPaused"], v["ContainersStopped"], v["Images"],
        v["ServerVersion"].as_str().unwrap_or(""), v["Driver"].as_str().unwrap_or(""), v["CgroupDriver"].as_str().unwrap_or(""),
        v["CgroupVersion"].as_str().unwrap_or(""), v["DefaultRuntime"].as_str().unwrap_or(""), v["KernelVersion"].as_str().unwrap_or(""),
        v["OperatingSystem"].as_str().unwrap_or(""), v["NCPU"], human_size(v["MemTotal"].as_u64().unwrap_or(0)), v["DockerRootDir"].as_str().unwrap_or("")
    );
    Ok(())
}

pub fn images(client: &Client, quiet: bool, all: bool, format: Option<&str>) -> Result<()> {
    let list = client.get(&format!("/images/json?all={}", u8::from(all)))?;
    let mut rows = Vec::new();
    for i in list.as_array().into_iter().flatten() {
        let tags: Vec<String> =
            i["RepoTags"].as_array().into_iter().flatten().filter_map(|t| t.as_str().map(str::to_string)).collect();
        let tags = if tags.is_empty() { vec!["<none>:<none>".to_string()] } else { tags };
        for t in tags {
            let (repo, tag) = t.rsplit_once(':').unwrap_or((&t, "<none>"));
            let created = i["Created"].as_i64().unwrap_or(0);
            let rfc = humantime::format_rfc3339_seconds(
                std::time::UNIX_EPOCH + std::time::Duration::from_secs(created as u64),
            )
            .to_string();
            rows.push(json!({"ID": short(i["Id"].as_str().unwrap_or("")), "Repository": repo, "Tag": tag,
                             "CreatedSince": human_ago(Some(&rfc)), "CreatedAt": rfc,
                             "Size": human_size(i["Size"].as_u64().unwrap_or(0)), "Digest": "<none>"}));
        }
    }
    let f = if quiet {
        "{{.ID}}".to_string()
    } else {
        format
            .map(str::to_string)
            .unwrap_or("table {{.Repository}}\\t{{.Tag}}\\t{{.ID}}\\t{{.CreatedSince}}\\t{{.Size}}".into())
    };
    let mut text = Template::new(&f)?.print_all(&rows, &[("ID", "IMAGE ID"), ("CreatedSince", "CREATED")])?;
    if quiet {
        let mut seen = std::collections::BTreeSet::new();
        text = text.lines().filter(|l| seen.insert(l.to_string())).map(|l| format!("{l}\n")).collect();
    }
    print!("{text}");
    Ok(())
}

pub fn rmi(client: &Client, force: bool, names: &[String]) -> Result<()> {
    let mut failed = false;
    for n in names {
        match client.delete(&format!("/images/{}?force={}", enc(n), u8::from(force))) {
            Ok(v) => {
                for item in v.as_array().into_iter().flatten() {
                    for (k, val) in item.as_object().into_iter().flatten() {
                        println!("{k}: {}", val.as_str().unwrap_or(""));
                    }
                }
            }
            Err(e) => {
                crate::report(&e);
                failed = true;
            }
        }
    }
    if failed {
        return Err(crate::Reported.into());
    }
    Ok(())
}

pub fn tag(client: &Client, source: &str, target: &str) -> Result<()> {
    let (repo, tag) = split_ref(target);
    client.post(&format!("/images/{}/tag?repo={}&tag={}", enc(source), enc(repo), enc(tag)), None)?;
    Ok(())
}

pub fn split_ref(r: &str) -> (&str, &str) {
    match r.rsplit_once(':') {
        Some((n, t)) if !t.contains('/') => (n, t),
        _ => (r, "latest"),
    }
}

/// A progress bar like the docker CLI's: `[=====>     ]  12.3MB/40MB`.
pub fn bar(current: u64, total: u64) -> String {
    const WIDTH: usize = 50;
    let done = ((current.min(total) as f64 / total.max(1) as f64) * WIDTH as f64) as usize;
    let arrow = if done < WIDTH { ">" } else { "" };
    format!(
        "[{}{arrow}{}] {:>8}/{}",
        "=".repeat(done.saturating_sub(usize::from(done < WIDTH && done > 0))),
        " ".repeat(WIDTH - done.min(WIDTH)),
        human_size(current),
        human_size(total)
    )
}

/// Renders Docker's JSON progress stream: on a terminal one live line per
/// layer with a bar; otherwise status changes only. The last `error` fails.
pub fn follow_progress(body: impl Read, quiet: bool) -> Result<()> {
    let tty = nix::unistd::isatty(std::io::stdout()).unwrap_or(false);
    let mut order: Vec<String> = Vec::new();
    let mut lines: BTreeMap<String, String> = BTreeMap::new();
    let mut last_status: BTreeMap<String, String> = BTreeMap::new();
    let mut drawn = 0usize;
    let mut out = std::io::stdout();
    let mut last_error = None;
    for line in std::io::BufRead::lines(std::io::BufReader::new(body)).map_while(|l| l.ok()) {
        let Ok(v) = serde_json::from_str::<Value>(&line) else { continue };
        if let Some(e) = v["error"].as_str() {
            last_error = Some(e.to_string());
            continue;
        }
        if let Some(s) = v["stream"].as_str() {
            print!("{s}");
            continue;
        }
        if quiet {
            continue;
        }
        let Some(status) = v["status"].as_str() else { continue };
        let id = v["id"].as_str().unwrap_or("").to_string();
        let detail = &v["progressDetail"];
        let text = match (detail["current"].as_u64(), detail["total"].as_u64()) {
            (Some(c), Some(t)) if t > 0 && tty => format!("{id}: {status} {}", bar(c, t)),
            _ if id.is_empty() => status.to_string(),
            _ => format!("{id}: {status}"),
        };
        if !tty {
            // Plain output: one line per change of status.
            if last_status.get(&id).map(String::as_str) != Some(status) || id.is_empty() {
                last_status.insert(id.clone(), status.to_string());
                let _ = writeln!(out, "{text}");
            }
            continue;
        }
        if id.is_empty() {
            let _ = writeln!(out, "{text}");
            drawn = 0;
            order.clear();
            lines.clear();
            continue;
        }
        if !lines.contains_key(&id) {
            order.push(id.clone());
        }
        lines.insert(id, text);
        // Redraw the live block in place.
        if drawn > 0 {
            let _ = write!(out, "\x1b[{drawn}A");
        }
        for i in &order {
            let _ = writeln!(out, "\x1b[2K{}", lines[i]);
        }
        drawn = order.len();
        let _ = out.flush();
    }
    match last_error {
        Some(e) => bail!("{e}"),
        None => Ok(()),
    }
}

pub fn push(client: &Client, name: &str, quiet: bool) -> Result<()> {
    let (repo, tag) = split_ref(name);
    let resp = client.request("POST", &format!("/images/{}/push?tag={}", enc(repo), enc(tag)), None)?;
    follow_progress(resp.body, quiet)
}

pub fn save(client: &Client, a: &crate::commands::images::SaveArgs) -> Result<()> {
    if a.format != "docker" {
        bail!("--format {} needs local mode (--data-root)", a.format);
    }
    let q: Vec<String> = a.images.iter().map(|i| format!("names={}", enc(i))).collect();
    let mut resp = client.request("GET", &format!("/images/get?{}", q.join("&")), None)?;
    match &a.output {
        Some(p) => {
            let tmp = p.with_extension("tmp-wharf");
            let mut f = std::fs::File::create(&tmp).with_context(|| format!("create {}", tmp.display()))?;
            std::io::copy(&mut resp.body, &mut f)?;
            std::fs::rename(&tmp, p)?;
        }
        None => {
            std::io::copy(&mut resp.body, &mut std::io::stdout())?;
        }
    }
    Ok(())
}

/// A tarball to upload: a file, or stdin.
fn input(path: Option<&Path>) -> Result<Box<dyn Read + Send>> {
    Ok(match path {
        Some(p) => Box::new(std::fs::File::open(p).with_context(|| format!("open {}", p.display()))?),
        None => Box::new(std::io::stdin()),
    })
}

pub fn load(client: &Client, a: &crate::commands::images::LoadArgs) -> Result<()> {
    let input = input(a.input.as_deref())?;
    let resp =
        client.upload("POST", &format!("/images/load?quiet={}", u8::from(a.quiet)), "application/x-tar", input)?;
    follow_progress(resp.body, a.quiet)
}

pub fn import(client: &Client, a: &crate::commands::images::ImportArgs) -> Result<()> {
    let input = input(Some(Path::new(&a.file)).filter(|p| *p != Path::new("-")))?;
    let mut q = String::from("fromSrc=-");
    if let Some(r) = &a.reference {
        let (repo, tag) = split_ref(r);
        q.push_str(&format!("&repo={}&tag={}", enc(repo), enc(tag)));
    }
    if let Some(m) = &a.message {
        q.push_str(&format!("&message={}", enc(m)));
    }
    for c in &a.change {
        q.push_str(&format!("&changes={}", enc(c)));
    }
    let v = client.upload("POST", &format!("/images/create?{q}"), "application/x-tar", input)?.json()?;
    println!("{}", v["status"].as_str().unwrap_or(""));
    Ok(())
}

/// `system df` through the daemon.
pub fn system_df(client: &Client) -> Result<()> {
    let v = client.get("/system/df")?;
    let images = v["Images"].as_array().cloned().unwrap_or_default();
    let active_images = images.iter().filter(|i| i["Containers"].as_u64().unwrap_or(0) > 0).count();
    let unused: u64 = images
        .iter()
        .filter(|i| i["Containers"].as_u64().unwrap_or(0) == 0)
        .map(|i| i["Size"].as_u64().unwrap_or(0))
        .sum();
    let containers = v["Containers"].as_array().cloned().unwrap_or_default();
    let running = containers.iter().filter(|c| c["State"] == "running").count();
    let volumes = v["Volumes"].as_array().cloned().unwrap_or_default();
    let vol_size: u64 = volumes.iter().map(|x| x["UsageData"]["Size"].as_u64().unwrap_or(0)).sum();
    let vol_active = volumes.iter().filter(|x| x["UsageData"]["RefCount"].as_u64().unwrap_or(0) > 0).count();
    let vol_free: u64 = volumes
        .iter()
        .filter(|x| x["UsageData"]["RefCount"].as_u64().unwrap_or(0) == 0)
        .map(|x| x["UsageData"]["Size"].as_u64().unwrap_or(0))
        .sum();
    let lines = vec![
        "TYPE\tTOTAL\tACTIVE\tSIZE\tRECLAIMABLE".to_string(),
        format!(
            "Images\t{}\t{active_images}\t{}\t{}",
            images.len(),
            human_size(v["LayersSize"].as_u64().unwrap_or(0)),
            human_size(unused)
        ),
        format!("Containers\t{}\t{running}\t0B\t0B", containers.len()),
        format!("Local Volumes\t{}\t{vol_active}\t{}\t{}", volumes.len(), human_size(vol_size), human_size(vol_free)),
        "Build Cache\t0\t0\t0B\t0B".to_string(),
    ];
    print!("{}", align(&lines));
    Ok(())
}

pub fn system_prune(client: &Client, all: bool, volumes: bool, force: bool) -> Result<()> {
    if !force {
        bail!("refusing to prune without --force (-f)");
    }
    let c = client.post("/containers/prune", None)?;
    let n = client.post("/networks/prune", None)?;
    let i = client.post(
        &format!("/images/prune?filters={}", enc(&json!({"dangling": [(!all).to_string()]}).to_string())),
        None,
    )?;
    let mut reclaimed = c["SpaceReclaimed"].as_u64().unwrap_or(0) + i["SpaceReclaimed"].as_u64().unwrap_or(0);
    for id in c["ContainersDeleted"].as_array().into_iter().flatten() {
        println!("Deleted Container: {}", id.as_str().unwrap_or(""));
    }
    for id in n["NetworksDeleted"].as_array().into_iter().flatten() {
        println!("Deleted Network: {}", id.as_str().unwrap_or(""));
    }
    if volumes {
        let v = client.post("/volumes/prune", None)?;
        reclaimed += v["SpaceReclaimed"].as_u64().unwrap_or(0);
        for id in v["VolumesDeleted"].as_array().into_iter().flatten() {
            println!("Deleted Volume: {}", id.as_str().unwrap_or(""));
        }
    }
    for d in i["ImagesDeleted"].as_array().into_iter().flatten() {
        for (k, v) in d.as_object().into_iter().flatten() {
            println!("{k}: {}", v.as_str().unwrap_or(""));
        }
    }
    println!("Total reclaimed space: {}", human_size(reclaimed));
    Ok(())
}
