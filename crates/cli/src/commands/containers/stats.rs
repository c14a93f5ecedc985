//! `stats` and `events`.

use super::common::*;
use super::verbs::timestamp;

pub fn cpu_percent(s: &Value) -> f64 {
    let cpu = s["cpu_stats"]["cpu_usage"]["total_usage"].as_f64().unwrap_or(0.0)
        - s["precpu_stats"]["cpu_usage"]["total_usage"].as_f64().unwrap_or(0.0);
    let sys = s["cpu_stats"]["system_cpu_usage"].as_f64().unwrap_or(0.0)
        - s["precpu_stats"]["system_cpu_usage"].as_f64().unwrap_or(0.0);
    let cpus = s["cpu_stats"]["online_cpus"].as_f64().unwrap_or(1.0);
    if sys > 0.0 && cpu > 0.0 {
        cpu / sys * cpus * 100.0
    } else {
        0.0
    }
}

pub fn stats_row(s: &Value) -> Value {
    let usage = s["memory_stats"]["usage"].as_u64().unwrap_or(0);
    let limit = s["memory_stats"]["limit"].as_u64().unwrap_or(0);
    let mem_pct = if limit > 0 { usage as f64 / limit as f64 * 100.0 } else { 0.0 };
    let (mut rx, mut tx) = (0, 0);
    for n in s["networks"].as_object().into_iter().flatten().map(|(_, v)| v) {
        rx += n["rx_bytes"].as_u64().unwrap_or(0);
        tx += n["tx_bytes"].as_u64().unwrap_or(0);
    }
    json!({
        "Container": short(s["id"].as_str().unwrap_or("")), "ID": short(s["id"].as_str().unwrap_or("")),
        "Name": s["name"].as_str().unwrap_or("").trim_start_matches('/'),
        "CPUPerc": format!("{:.2}%", cpu_percent(s)),
        "MemUsage": format!("{} / {}", human_size(usage), human_size(limit)), "MemPerc": format!("{mem_pct:.2}%"),
        "NetIO": format!("{} / {}", human_size(rx), human_size(tx)), "BlockIO": "0B / 0B",
        "PIDs": s["pids_stats"]["current"].as_u64().unwrap_or(0),
    })
}

pub fn stats(client: &Client, containers: &[String], no_stream: bool, format: Option<&str>) -> Result<()> {
    let names: Vec<String> = if containers.is_empty() {
        client
            .get("/containers/json")?
            .as_array()
            .into_iter()
            .flatten()
            .filter_map(|c| c["Id"].as_str().map(str::to_string))
            .collect()
    } else {
        containers.to_vec()
    };
    let t = Template::new(format.unwrap_or(
        "table {{.ID}}\\t{{.Name}}\\t{{.CPUPerc}}\\t{{.MemUsage}}\\t{{.MemPerc}}\\t{{.NetIO}}\\t{{.BlockIO}}\\t{{.PIDs}}",
    ))?;
    let headers = [
        ("ID", "CONTAINER ID"),
        ("CPUPerc", "CPU %"),
        ("MemUsage", "MEM USAGE / LIMIT"),
        ("MemPerc", "MEM %"),
        ("NetIO", "NET I/O"),
        ("BlockIO", "BLOCK I/O"),
    ];
    loop {
        let mut rows = Vec::new();
        for n in &names {
            rows.push(stats_row(&client.get(&format!("/containers/{}/stats?stream=0", enc(n)))?));
        }
        if !no_stream {
            print!("\x1b[2J\x1b[H");
        }
        print!("{}", t.print_all(&rows, &headers)?);
        std::io::stdout().flush()?;
        if no_stream {
            return Ok(());
        }
        std::thread::sleep(std::time::Duration::from_secs(1));
    }
}

#[derive(Args)]
pub struct EventsArgs {
    /// Show all events created since timestamp
    #[arg(long)]
    since: Option<String>,
    /// Stream events until this timestamp
    #[arg(long)]
    until: Option<String>,
    /// Filter output based on conditions provided
    #[arg(short, long)]
    filter: Vec<String>,
    /// Format the output using the given Go template
    #[arg(long)]
    format: Option<String>,
}

pub fn events(client: &Client, a: &EventsArgs) -> Result<()> {
    let mut q = String::from("?");
    if let Some(s) = &a.since {
        q.push_str(&format!("since={}&", timestamp(s)?));
    }
    if let Some(u) = &a.until {
        q.push_str(&format!("until={}&", timestamp(u)?));
    }
    q.push_str(filters_query(&a.filter)?.trim_start_matches('&'));
    let resp = client.request("GET", &format!("/events{q}"), None)?;
    let t = a.format.as_deref().map(Template::new).transpose()?;
    let mut out = std::io::stdout();
    for line in std::io::BufRead::lines(std::io::BufReader::new(resp.body)).map_while(|l| l.ok()) {
        let Ok(v) = serde_json::from_str::<Value>(&line) else { continue };
        let text = match &t {
            Some(t) => t.render(&v)?,
            None => {
                let nanos = v["timeNano"].as_i64().unwrap_or(0);
                let when = humantime::format_rfc3339_nanos(
                    std::time::UNIX_EPOCH + std::time::Duration::from_nanos(nanos as u64),
                );
                let attrs = v["Actor"]["Attributes"]
                    .as_object()
                    .map(|m| {
                        m.iter()
                            .map(|(k, v)| format!("{k}={}", v.as_str().unwrap_or("")))
                            .collect::<Vec<_>>()
                            .join(", ")
                    })
                    .unwrap_or_default();
                format!(
                    "{when} {} {} {} ({attrs})",
                    v["Type"].as_str().unwrap_or(""),
                    v["Action"].as_str().unwrap_or(""),
                    v["Actor"]["ID"].as_str().unwrap_or("")
                )
            }
        };
        if writeln!(out, "{text}").and_then(|_| out.flush()).is_err() {
            break;
        }
    }
    Ok(())
}
