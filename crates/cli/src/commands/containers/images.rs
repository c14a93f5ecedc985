//! `version`, `info` and `system prune` through the daemon (the image
//! commands are `commands::images`, over either engine).

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
