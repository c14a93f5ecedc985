//! Image commands straight on the image library (until the daemon exists):
//! images, import, tag, rmi, save, load, image inspect/prune/history, system df.

use std::fs::File;
use std::io::{self, BufWriter, IsTerminal, Write};
use std::path::PathBuf;

use anyhow::{bail, Context, Result};
use clap::{Args, Subcommand};
use serde_json::json;
use wharf_image::archive::Format;
use wharf_image::manifest::RunConfig;
use wharf_image::Images;

/// Docker's "4.26MB": SI units, three significant digits (`%.3g`).
pub fn human_size(bytes: u64) -> String {
    let units = ["B", "kB", "MB", "GB", "TB"];
    let mut v = bytes as f64;
    let mut i = 0;
    while v >= 1000.0 && i < units.len() - 1 {
        v /= 1000.0;
        i += 1;
    }
    let digits = if v >= 100.0 {
        0
    } else if v >= 10.0 {
        1
    } else {
        2
    };
    let text = format!("{v:.digits$}");
    let text = if text.contains('.') { text.trim_end_matches('0').trim_end_matches('.') } else { &text };
    format!("{text}{}", units[i])
}

/// "3 minutes ago", as Docker prints it.
pub fn human_ago(rfc3339: Option<&str>) -> String {
    wharf_common::time::ago(rfc3339)
}

#[derive(Args)]
pub struct ImagesArgs {
    /// Only show image IDs
    #[arg(short, long)]
    pub quiet: bool,
    /// Show all images (intermediate ones too)
    #[arg(short, long)]
    pub all: bool,
    /// Format output using a Go template (through the daemon)
    #[arg(long)]
    pub format: Option<String>,
    /// Show digests
    #[arg(long)]
    digests: bool,
    /// Don't truncate IDs
    #[arg(long = "no-trunc")]
    no_trunc: bool,
    /// Only this repository[:tag]
    reference: Option<String>,
}

pub fn images(store: &Images, a: &ImagesArgs) -> Result<()> {
    let mut rows = store.list()?;
    if let Some(r) = &a.reference {
        let (repo, tag) =
            r.rsplit_once(':').filter(|(_, t)| !t.contains('/')).map_or((r.as_str(), None), |(a, b)| (a, Some(b)));
        rows.retain(|row| row.repository == repo && tag.is_none_or(|t| row.tag == t));
    }
    let id = |d: &wharf_image::Digest| if a.no_trunc { d.to_string() } else { d.short().to_string() };
    let mut out = io::stdout().lock();
    if a.quiet {
        let mut seen = Vec::new();
        for r in rows {
            if !seen.contains(&r.id) {
                writeln!(out, "{}", id(&r.id))?;
                seen.push(r.id);
            }
        }
        return Ok(());
    }
    if a.digests {
        writeln!(out, "{:<40} {:<16} {:<72} {:<14} {:<24} SIZE", "REPOSITORY", "TAG", "DIGEST", "IMAGE ID", "CREATED")?;
    } else {
        writeln!(out, "{:<40} {:<16} {:<14} {:<24} SIZE", "REPOSITORY", "TAG", "IMAGE ID", "CREATED")?;
    }
    for r in rows {
        let created = human_ago(r.created.as_deref());
        if a.digests {
            writeln!(
                out,
                "{:<40} {:<16} {:<72} {:<14} {:<24} {}",
                r.repository,
                r.tag,
                r.digest.to_string(),
                id(&r.id),
                created,
                human_size(r.size)
            )?;
        } else {
            writeln!(
                out,
                "{:<40} {:<16} {:<14} {:<24} {}",
                r.repository,
                r.tag,
                id(&r.id),
                created,
                human_size(r.size)
            )?;
        }
    }
    Ok(())
}

#[derive(Args)]
pub struct ImportArgs {
    /// Tarball path, or - for stdin
    pub file: String,
    /// Name for the new image
    pub reference: Option<String>,
    /// Dockerfile-style instruction applied to the config (CMD, ENTRYPOINT, ENV, WORKDIR, USER, LABEL, EXPOSE)
    #[arg(short, long)]
    pub change: Vec<String>,
    /// Commit message
    #[arg(short, long)]
    pub message: Option<String>,
}

/// Applies `--change` instructions the way `docker import -c` does.
pub fn apply_changes(changes: &[String]) -> Result<RunConfig> {
    let mut rc = RunConfig::default();
    rc.apply_changes(changes)?;
    if rc.env.is_none() {
        rc.env = Some(vec!["PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin".into()]);
    }
    Ok(rc)
}

pub fn import(store: &Images, a: &ImportArgs) -> Result<()> {
    let run = apply_changes(&a.change)?;
    let img = if a.file == "-" {
        store.import(&mut io::stdin().lock(), a.reference.as_deref(), Some(run), a.message.as_deref())?
    } else {
        let mut f = File::open(&a.file).with_context(|| format!("open {}", a.file))?;
        store.import(&mut f, a.reference.as_deref(), Some(run), a.message.as_deref())?
    };
    println!("{}", img.id());
    Ok(())
}

pub fn tag(store: &Images, source: &str, target: &str) -> Result<()> {
    Ok(store.tag(source, target)?)
}

pub fn rmi(store: &Images, names: &[String], force: bool) -> Result<()> {
    let mut failed = false;
    for n in names {
        match store.remove(n, force, &|_| false) {
            Ok(lines) => lines.iter().for_each(|l| println!("{l}")),
            Err(e) => {
                eprintln!("Error: {e}");
                failed = true;
            }
        }
    }
    if failed {
        return Err(crate::Reported.into());
    }
    Ok(())
}

#[derive(Args)]
pub struct SaveArgs {
    /// Write to this file instead of stdout
    #[arg(short, long)]
    pub output: Option<PathBuf>,
    /// docker (Docker >= 25 shape), docker-legacy (Docker 20.10) or oci; oci-dir writes a layout directory
    #[arg(long, default_value = "docker")]
    pub format: String,
    #[arg(required = true)]
    pub images: Vec<String>,
}

pub fn save(store: &Images, a: &SaveArgs) -> Result<()> {
    if a.format == "oci-dir" {
        let dir = a.output.as_ref().context("--format oci-dir needs --output DIR")?;
        return Ok(store.save_dir(&a.images, Format::Oci, dir)?);
    }
    let format: Format = a.format.parse()?;
    match &a.output {
        Some(p) => {
            // Write beside the target and rename: a failed save leaves no partial file.
            let tmp = p.with_extension("partial");
            let f = File::create(&tmp).with_context(|| format!("create {}", tmp.display()))?;
            let result = store.save(&a.images, format, BufWriter::new(f));
            if let Err(e) = result {
                let _ = std::fs::remove_file(&tmp);
                return Err(e.into());
            }
            std::fs::rename(&tmp, p).with_context(|| format!("rename to {}", p.display()))?;
        }
        None => {
            if io::stdout().is_terminal() {
                bail!("cowardly refusing to save to a terminal. Use the -o flag or redirect");
            }
            store.save(&a.images, format, BufWriter::new(io::stdout().lock()))?;
        }
    }
    Ok(())
}

pub fn load(store: &Images, a: &LoadArgs) -> Result<()> {
    let quiet = a.quiet;
    let names = match a.input.as_ref() {
        Some(p) if p.is_dir() => store.load_dir(p)?,
        Some(p) => store.load(io::BufReader::new(File::open(p).with_context(|| format!("open {}", p.display()))?))?,
        None => {
            if io::stdin().is_terminal() {
                bail!("requested load from stdin, but stdin is empty");
            }
            store.load(io::stdin().lock())?
        }
    };
    if !quiet {
        for n in names {
            if n.starts_with("sha256:") {
                println!("Loaded image ID: {n}");
            } else {
                println!("Loaded image: {n}");
            }
        }
    }
    Ok(())
}

/// `image inspect`: Docker's shape for the fields the image layer knows.
pub fn inspect(store: &Images, names: &[String]) -> Result<()> {
    let mut out = Vec::new();
    let mut missing = Vec::new();
    for n in names {
        let img = match store.resolve(n) {
            Ok((_, img)) => img,
            Err(wharf_image::ImageError::ImageNotFound(_)) => {
                missing.push(n.clone());
                continue;
            }
            Err(e) => return Err(e.into()),
        };
        let tags = store.names_of(&img)?;
        let repo_digests: Vec<String> = tags
            .iter()
            .filter_map(|t| t.parse::<wharf_image::Reference>().ok())
            .map(|r| r.with_digest(img.target.digest.clone()).familiar())
            .collect();
        out.push(json!({
            "Id": img.id().to_string(),
            "RepoTags": tags,
            "RepoDigests": repo_digests,
            "Created": img.config.created,
            "Author": img.config.author.clone().unwrap_or_default(),
            "Architecture": img.config.architecture,
            "Os": img.config.os,
            "Config": img.config.config,
            "Size": img.size(),
            "RootFS": {"Type": "layers", "Layers": img.config.rootfs.diff_ids},
            "Metadata": {"LastTagTime": ""},
        }));
    }
    println!("{}", serde_json::to_string_pretty(&out)?);
    if !missing.is_empty() {
        bail!("No such image: {}", missing.join(", "));
    }
    Ok(())
}

pub fn history(store: &Images, name: &str) -> Result<()> {
    let (_, img) = store.resolve(name)?;
    println!("{:<14} {:<20} {:<45} {:<10} COMMENT", "IMAGE", "CREATED", "CREATED BY", "SIZE");
    let mut layers = img.manifest.layers.iter().rev();
    for (i, h) in img.config.history.iter().rev().enumerate() {
        let size = if h.empty_layer == Some(true) { 0 } else { layers.next().map_or(0, |l| l.size) };
        let id = if i == 0 { img.id().short().to_string() } else { "<missing>".into() };
        let by: String = h.created_by.clone().unwrap_or_default().chars().take(44).collect();
        println!(
            "{:<14} {:<20} {:<45} {:<10} {}",
            id,
            human_ago(h.created.as_deref()),
            by,
            human_size(size),
            h.comment.clone().unwrap_or_default()
        );
    }
    Ok(())
}

pub fn prune(store: &Images, all: bool) -> Result<()> {
    let (deleted, freed) = store.prune(all, &|_| false)?;
    if !deleted.is_empty() {
        println!("Deleted Images:");
        for d in &deleted {
            println!("deleted: {d}");
        }
        println!();
    }
    println!("Total reclaimed space: {}", human_size(freed.bytes));
    Ok(())
}

pub fn system_df(store: &Images) -> Result<()> {
    let du = store.disk_usage()?;
    println!("{:<16} {:<8} {:<8} {:<12} RECLAIMABLE", "TYPE", "TOTAL", "ACTIVE", "SIZE");
    println!(
        "{:<16} {:<8} {:<8} {:<12} {}",
        "Images",
        du.images,
        0,
        human_size(du.blob_bytes + du.snapshot_bytes),
        human_size(du.blob_bytes + du.snapshot_bytes)
    );
    println!("{:<16} {:<8} {:<8} {:<12} {}", "Containers", 0, 0, human_size(0), human_size(0));
    println!("{:<16} {:<8} {:<8} {:<12} {}", "Local Volumes", 0, 0, human_size(0), human_size(0));
    println!("{:<16} {:<8} {:<8} {:<12} {}", "Build Cache", 0, 0, human_size(0), human_size(0));
    Ok(())
}

#[derive(Subcommand)]
pub enum ImageVerb {
    /// List images
    #[command(alias = "list")]
    Ls(ImagesArgs),
    /// Display detailed information on images
    Inspect {
        #[arg(required = true)]
        images: Vec<String>,
    },
    /// Remove unused images
    Prune {
        /// Remove all images without a container, not just dangling ones
        #[arg(short, long)]
        all: bool,
        /// Do not prompt (accepted for compatibility)
        #[arg(short, long)]
        force: bool,
    },
    /// Show the history of an image
    History { image: String },
    /// Remove images
    Rm {
        #[arg(short, long)]
        force: bool,
        #[arg(required = true)]
        images: Vec<String>,
    },
    /// Create a tag TARGET that refers to SOURCE
    Tag { source: String, target: String },
    /// Import a root filesystem tarball as an image
    Import(ImportArgs),
    /// Save images to a tar archive
    Save(SaveArgs),
    /// Load images from a tar archive
    Load(LoadArgs),
}

#[derive(Args)]
pub struct LoadArgs {
    /// Archive or OCI layout directory (default: stdin)
    #[arg(short, long)]
    pub input: Option<PathBuf>,
    #[arg(short, long)]
    pub quiet: bool,
}

pub fn image(store: &Images, verb: &ImageVerb) -> Result<()> {
    match verb {
        ImageVerb::Ls(a) => images(store, a),
        ImageVerb::Inspect { images } => inspect(store, images),
        ImageVerb::Prune { all, .. } => prune(store, *all),
        ImageVerb::History { image } => history(store, image),
        ImageVerb::Rm { force, images } => rmi(store, images, *force),
        ImageVerb::Tag { source, target } => tag(store, source, target),
        ImageVerb::Import(a) => import(store, a),
        ImageVerb::Save(a) => save(store, a),
        ImageVerb::Load(a) => load(store, a),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sizes_like_docker() {
        assert_eq!(human_size(512), "512B");
        assert_eq!(human_size(4_261_000), "4.26MB");
        assert_eq!(human_size(1_000_000), "1MB");
        assert_eq!(human_size(1_500), "1.5kB");
    }

    #[test]
    fn changes() {
        let rc =
            apply_changes(&["CMD [\"sh\"]".into(), "ENV A=1".into(), "WORKDIR /w".into(), "EXPOSE 80".into()]).unwrap();
        assert_eq!(rc.cmd, Some(vec!["sh".to_string()]));
        assert_eq!(rc.env, Some(vec!["A=1".to_string()]));
        assert_eq!(rc.working_dir.as_deref(), Some("/w"));
        assert!(rc.exposed_ports.unwrap().contains_key("80/tcp"));
        assert!(apply_changes(&["RUN x".into()]).is_err());
    }
}
