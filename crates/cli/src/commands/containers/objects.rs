//! `network` and `volume`.

use super::common::*;
use super::ps::labels_text;
use super::verbs::{each, inspect};

#[derive(Subcommand)]
pub enum NetworkVerb {
    /// Create a network
    Create {
        #[arg(short, long, default_value = "bridge")]
        driver: String,
        /// Subnets in CIDR form (one IPv4, one IPv6)
        #[arg(long)]
        subnet: Vec<String>,
        /// Gateways, one per subnet in the same order
        #[arg(long)]
        gateway: Vec<String>,
        /// Enable IPv6 networking
        #[arg(long)]
        ipv6: bool,
        #[arg(long)]
        internal: bool,
        #[arg(long)]
        attachable: bool,
        #[arg(long)]
        label: Vec<String>,
        /// Driver options (key=value)
        #[arg(short = 'o', long = "opt")]
        opt: Vec<String>,
        name: String,
    },
    /// List networks
    #[command(alias = "list")]
    Ls {
        #[arg(short, long)]
        quiet: bool,
        #[arg(short, long)]
        filter: Vec<String>,
        #[arg(long)]
        format: Option<String>,
    },
    /// Remove one or more networks
    #[command(alias = "remove")]
    Rm {
        #[arg(required = true)]
        networks: Vec<String>,
    },
    /// Display detailed information on one or more networks
    Inspect {
        #[arg(short, long)]
        format: Option<String>,
        #[arg(required = true)]
        networks: Vec<String>,
    },
    /// Connect a container to a network
    Connect {
        #[arg(long)]
        alias: Vec<String>,
        network: String,
        container: String,
    },
    /// Disconnect a container from a network
    Disconnect {
        #[arg(short, long)]
        force: bool,
        network: String,
        container: String,
    },
    /// Remove all unused networks
    Prune {
        #[arg(short, long)]
        force: bool,
    },
    /// Show every firewall rule the daemon owns (Wharf's own, not Docker's)
    Rules,
}

pub fn network(client: &Client, verb: &NetworkVerb) -> Result<()> {
    match verb {
        NetworkVerb::Create { driver, subnet, gateway, ipv6, internal, attachable, label, opt, name } => {
            let pairs = |items: &[String]| -> BTreeMap<String, String> {
                items
                    .iter()
                    .map(|l| l.split_once('=').unwrap_or((l, "")))
                    .map(|(k, v)| (k.to_string(), v.to_string()))
                    .collect()
            };
            let (labels, options) = (pairs(label), pairs(opt));
            if gateway.len() > subnet.len() {
                bail!("every --gateway needs a --subnet");
            }
            let pools: Vec<Value> = subnet
                .iter()
                .enumerate()
                .map(|(i, s)| json!({"Subnet": s, "Gateway": gateway.get(i).cloned().unwrap_or_default()}))
                .collect();
            let ipam = json!({ "Config": pools });
            let v = client.post(
                "/networks/create",
                Some(&json!({"Name": name, "Driver": driver, "Internal": internal, "Attachable": attachable, "EnableIPv6": ipv6, "IPAM": ipam, "Labels": labels, "Options": options})),
            )?;
            println!("{}", v["Id"].as_str().unwrap_or(""));
        }
        NetworkVerb::Ls { quiet, filter, format } => {
            let list = client.get(&format!("/networks?{}", filters_query(filter)?.trim_start_matches('&')))?;
            let rows: Vec<Value> = list
                .as_array()
                .into_iter()
                .flatten()
                .map(|n| json!({"ID": short(n["Id"].as_str().unwrap_or("")), "Name": n["Name"], "Driver": n["Driver"], "Scope": n["Scope"],
                                "Internal": n["Internal"], "Labels": labels_text(&n["Labels"])}))
                .collect();
            let f = if *quiet {
                "{{.ID}}".into()
            } else {
                format.clone().unwrap_or("table {{.ID}}\\t{{.Name}}\\t{{.Driver}}\\t{{.Scope}}".into())
            };
            print!("{}", Template::new(&f)?.print_all(&rows, &[("ID", "NETWORK ID")])?);
        }
        NetworkVerb::Rm { networks } => {
            each(networks, |n| client.delete(&format!("/networks/{}", enc(n))).map(|_| ()))?;
        }
        NetworkVerb::Inspect { format, networks } => inspect(client, format.as_deref(), Some("network"), networks)?,
        NetworkVerb::Connect { alias, network, container } => {
            client.post(
                &format!("/networks/{}/connect", enc(network)),
                Some(&json!({"Container": container, "EndpointConfig": {"Aliases": alias}})),
            )?;
        }
        NetworkVerb::Disconnect { force, network, container } => {
            client.post(
                &format!("/networks/{}/disconnect", enc(network)),
                Some(&json!({"Container": container, "Force": force})),
            )?;
        }
        NetworkVerb::Prune { force } => {
            if !force {
                bail!("refusing to prune without --force (-f)");
            }
            let v = client.post("/networks/prune", None)?;
            for n in v["NetworksDeleted"].as_array().into_iter().flatten() {
                println!("Deleted Network: {}", n.as_str().unwrap_or(""));
            }
        }
        NetworkVerb::Rules => {
            let v = client.get("/wharf/firewall")?;
            println!("# firewall: {}", v["Backend"].as_str().unwrap_or(""));
            print!("{}", v["Rules"].as_str().unwrap_or(""));
        }
    }
    Ok(())
}

#[derive(Subcommand)]
pub enum VolumeVerb {
    /// Create a volume
    Create {
        #[arg(long)]
        label: Vec<String>,
        name: Option<String>,
    },
    /// List volumes
    #[command(alias = "list")]
    Ls {
        #[arg(short, long)]
        quiet: bool,
        #[arg(long)]
        format: Option<String>,
    },
    /// Remove one or more volumes
    #[command(alias = "remove")]
    Rm {
        #[arg(short, long)]
        force: bool,
        #[arg(required = true)]
        volumes: Vec<String>,
    },
    /// Display detailed information on one or more volumes
    Inspect {
        #[arg(short, long)]
        format: Option<String>,
        #[arg(required = true)]
        volumes: Vec<String>,
    },
    /// Remove all unused local volumes
    Prune {
        #[arg(short, long)]
        force: bool,
    },
}

pub fn volume(client: &Client, verb: &VolumeVerb) -> Result<()> {
    match verb {
        VolumeVerb::Create { label, name } => {
            let labels: BTreeMap<String, String> = label
                .iter()
                .map(|l| l.split_once('=').unwrap_or((l, "")))
                .map(|(k, v)| (k.to_string(), v.to_string()))
                .collect();
            let v = client
                .post("/volumes/create", Some(&json!({"Name": name.clone().unwrap_or_default(), "Labels": labels})))?;
            println!("{}", v["Name"].as_str().unwrap_or(""));
        }
        VolumeVerb::Ls { quiet, format } => {
            let list = client.get("/volumes")?;
            let rows: Vec<Value> = list["Volumes"]
                .as_array()
                .into_iter()
                .flatten()
                .map(|v| json!({"Name": v["Name"], "Driver": v["Driver"], "Mountpoint": v["Mountpoint"], "Labels": labels_text(&v["Labels"]), "Scope": v["Scope"]}))
                .collect();
            let f = if *quiet {
                "{{.Name}}".into()
            } else {
                format.clone().unwrap_or("table {{.Driver}}\\t{{.Name}}".into())
            };
            print!("{}", Template::new(&f)?.print_all(&rows, &[("Name", "VOLUME NAME")])?);
        }
        VolumeVerb::Rm { force, volumes } => {
            each(volumes, |v| client.delete(&format!("/volumes/{}?force={}", enc(v), u8::from(*force))).map(|_| ()))?;
        }
        VolumeVerb::Inspect { format, volumes } => inspect(client, format.as_deref(), Some("volume"), volumes)?,
        VolumeVerb::Prune { force } => {
            if !force {
                bail!("refusing to prune without --force (-f)");
            }
            let v = client.post("/volumes/prune", None)?;
            for n in v["VolumesDeleted"].as_array().into_iter().flatten() {
                println!("{}", n.as_str().unwrap_or(""));
            }
        }
    }
    Ok(())
}
