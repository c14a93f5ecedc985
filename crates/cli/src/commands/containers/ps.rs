//! `ps`: the container list and its table.

use super::common::*;

#[derive(Args)]
pub struct PsArgs {
    /// Show all containers (default shows just running)
    #[arg(short, long)]
    all: bool,
    /// Only display container IDs
    #[arg(short, long)]
    quiet: bool,
    /// Filter output based on conditions provided (key=value)
    #[arg(short, long)]
    filter: Vec<String>,
    /// Format output using a Go template
    #[arg(long)]
    format: Option<String>,
    /// Don't truncate output
    #[arg(long = "no-trunc")]
    no_trunc: bool,
    /// Show n last created containers
    #[arg(short = 'n', long)]
    last: Option<i64>,
    /// Show the latest created container
    #[arg(short, long)]
    latest: bool,
}

pub fn ports_text(ports: &Value) -> String {
    ports
        .as_array()
        .map(|l| {
            l.iter()
                .map(|p| match p["PublicPort"].as_u64() {
                    Some(pub_) if pub_ > 0 => format!(
                        "{}:{}->{}/{}",
                        p["IP"].as_str().unwrap_or("0.0.0.0"),
                        pub_,
                        p["PrivatePort"],
                        p["Type"].as_str().unwrap_or("tcp")
                    ),
                    _ => format!("{}/{}", p["PrivatePort"], p["Type"].as_str().unwrap_or("tcp")),
                })
                .collect::<Vec<_>>()
                .join(", ")
        })
        .unwrap_or_default()
}

pub fn labels_text(l: &Value) -> String {
    l.as_object()
        .map(|m| m.iter().map(|(k, v)| format!("{k}={}", v.as_str().unwrap_or(""))).collect::<Vec<_>>().join(","))
        .unwrap_or_default()
}

/// The fields `docker ps --format` knows.
pub fn ps_row(c: &Value, trunc: bool) -> Value {
    let id = c["Id"].as_str().unwrap_or("");
    let mut command = c["Command"].as_str().unwrap_or("").to_string();
    if trunc && command.chars().count() > 20 {
        command = format!("{}…", command.chars().take(19).collect::<String>());
    }
    let names: Vec<String> = c["Names"]
        .as_array()
        .into_iter()
        .flatten()
        .filter_map(|n| n.as_str())
        .map(|n| n.trim_start_matches('/').to_string())
        .collect();
    let created = c["Created"].as_i64().unwrap_or(0);
    let created_rfc =
        humantime::format_rfc3339_seconds(std::time::UNIX_EPOCH + std::time::Duration::from_secs(created as u64))
            .to_string();
    let networks: Vec<String> =
        c["NetworkSettings"]["Networks"].as_object().map(|m| m.keys().cloned().collect()).unwrap_or_default();
    json!({
        "ID": if trunc { short(id) } else { id.to_string() }, "Image": c["Image"], "Command": format!("\"{command}\""),
        "CreatedAt": created_rfc, "RunningFor": human_ago(Some(&created_rfc)), "Ports": ports_text(&c["Ports"]),
        "Status": c["Status"], "State": c["State"], "Names": names.join(","), "Labels": labels_text(&c["Labels"]),
        "Networks": networks.join(","), "Mounts": "", "Size": "",
    })
}

pub fn ps(client: &Client, a: &PsArgs) -> Result<()> {
    let mut q = format!("?all={}", u8::from(a.all));
    if let Some(n) = a.last {
        q.push_str(&format!("&limit={n}"));
    } else if a.latest {
        q.push_str("&limit=1");
    }
    q.push_str(&filters_query(&a.filter)?);
    let list = client.get(&format!("/containers/json{q}"))?;
    let rows: Vec<Value> = list.as_array().into_iter().flatten().map(|c| ps_row(c, !a.no_trunc)).collect();
    let format = match (&a.format, a.quiet) {
        (_, true) => "{{.ID}}".to_string(),
        (Some(f), _) => f.clone(),
        (None, _) => {
            "table {{.ID}}\\t{{.Image}}\\t{{.Command}}\\t{{.RunningFor}}\\t{{.Status}}\\t{{.Ports}}\\t{{.Names}}".into()
        }
    };
    let t = Template::new(&format)?;
    print!("{}", t.print_all(&rows, &[("ID", "CONTAINER ID"), ("RunningFor", "CREATED"), ("Names", "NAMES")])?);
    Ok(())
}
