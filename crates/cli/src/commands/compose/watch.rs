//! `compose watch`: the project up, then `develop.watch` rules applied as
//! files change (inotify on every directory under each rule's path;
//! changes gathered for 300 ms into one batch): changed files copied into
//! the service's containers as a tar (`PUT /containers/{id}/archive`),
//! removed ones deleted there, containers restarted, a hook run, or the
//! image rebuilt and the service recreated. Until Ctrl+C.

use std::collections::HashMap;
use std::io::Read;
use std::os::unix::fs::MetadataExt;
use std::path::{Path, PathBuf};
use std::sync::mpsc;
use std::time::Duration;

use anyhow::{bail, Context, Result};
use clap::Args;
use nix::sys::inotify::{AddWatchFlags, InitFlags, Inotify, WatchDescriptor};
use wharf_compose::backend::Backend;
use wharf_compose::ops::{self, Verb};
use wharf_compose::up::{self, BuildPolicy, Plan, Progress, UpOptions};
use wharf_compose::watch::{Action, Hook, Rule};

use super::attach::exec_in;
use crate::client::Client;

#[derive(Args)]
pub struct WatchArgs {
    /// Do not bring the project up first
    #[arg(long)]
    no_up: bool,
    /// Print nothing but errors
    #[arg(long)]
    quiet: bool,
    pub(super) services: Vec<String>,
}

/// A host file no larger than this is synced (sources, not data sets).
const MAX_SYNC_FILE: u64 = 64 << 20;

/// Whether the rule leaves `rel` alone: `ignore` matches it, or for a file,
/// `include` is given and does not (directories are walked whatever
/// `include` says: the files in them are what it selects).
fn ignored(rule: &Rule, rel: &str, dir: bool) -> bool {
    if rel.is_empty() {
        return false;
    }
    let ignore: Vec<(bool, String)> = wharf_build::dockerignore::parse(&rule.ignore.join("\n"));
    if wharf_build::dockerignore::ignored(&ignore, rel) {
        return true;
    }
    let include = wharf_build::dockerignore::parse(&rule.include.join("\n"));
    !dir && !include.is_empty() && !wharf_build::dockerignore::ignored(&include, rel)
}

/// Every directory under `dir` (itself first) that the rule does not ignore.
fn directories(rule: &Rule, dir: &Path, out: &mut Vec<PathBuf>) {
    out.push(dir.to_path_buf());
    let Ok(entries) = std::fs::read_dir(dir) else { return };
    for e in entries.flatten() {
        let p = e.path();
        let is_dir = e.file_type().is_ok_and(|t| t.is_dir());
        if is_dir && !rule.relative(&p).is_some_and(|r| ignored(rule, &r, true)) {
            directories(rule, &p, out);
        }
    }
}

/// Every regular file under `path` (or `path` itself) not ignored.
fn files_under(rule: &Rule, path: &Path) -> Vec<PathBuf> {
    if path.is_file() {
        return vec![path.to_path_buf()];
    }
    let mut dirs = Vec::new();
    directories(rule, path, &mut dirs);
    let mut files = Vec::new();
    for d in dirs {
        for e in std::fs::read_dir(&d).into_iter().flatten().flatten() {
            let p = e.path();
            if e.file_type().is_ok_and(|t| t.is_file()) && !rule.relative(&p).is_some_and(|r| ignored(rule, &r, false))
            {
                files.push(p);
            }
        }
    }
    files
}

/// The files as a tar at their container paths, for `PUT archive?path=/`:
/// files only (a directory entry would re-own and re-mode a directory that
/// is there; missing parents are made by the extraction).
fn tarball(rule: &Rule, files: &[PathBuf]) -> Result<Vec<u8>> {
    let mut tar = tar::Builder::new(Vec::new());
    for f in files {
        let Some(target) = rule.target_of(f) else { continue };
        let rel = target.trim_start_matches('/');
        let file = std::fs::File::open(f).with_context(|| format!("open {}", f.display()))?;
        let meta = file.metadata()?;
        if !meta.is_file() {
            continue;
        }
        if meta.len() > MAX_SYNC_FILE {
            bail!("{} is larger than 64 MiB: not synced (add it to the rule's ignore)", f.display());
        }
        let mut h = tar::Header::new_gnu();
        h.set_mode(meta.mode() & 0o7777);
        h.set_size(meta.len());
        h.set_mtime(meta.mtime().max(0) as u64);
        tar.append_data(&mut h, rel, file.take(meta.len()))?;
    }
    Ok(tar.into_inner()?)
}

/// Copies `changed` into the service's running containers; what is gone
/// on the host is removed there.
fn sync(plan: &Plan, backend: &dyn Backend, client: &Client, rule: &Rule, changed: &[PathBuf]) -> Result<()> {
    let mut present = Vec::new();
    let mut gone = Vec::new();
    for c in changed {
        if c.exists() {
            present.extend(files_under(rule, c));
        } else if let Some(t) = rule.target_of(c) {
            gone.push(t);
        }
    }
    let bytes = tarball(rule, &present)?;
    for c in ops::containers(plan, backend, std::slice::from_ref(&rule.service), false)? {
        if c.state != "running" {
            continue;
        }
        if !present.is_empty() {
            let body = Box::new(std::io::Cursor::new(bytes.clone()));
            client.upload("PUT", &format!("/containers/{}/archive?path=/", c.id), "application/x-tar", body)?;
        }
        if !gone.is_empty() {
            let rm = Hook {
                command: [vec!["rm".into(), "-rf".into(), "--".into()], gone.clone()].concat(),
                ..Default::default()
            };
            exec_in(client, &c.id, &rm, false, false, false)?;
        }
    }
    Ok(())
}

enum Event {
    Changed(usize, PathBuf),
    Interrupted,
}

/// Watches every rule's tree; changes go to `tx` with the rule's index.
fn watcher(rules: &[Rule], tx: mpsc::Sender<Event>) -> Result<()> {
    let inotify = Inotify::init(InitFlags::IN_CLOEXEC)?;
    let mask = AddWatchFlags::IN_CREATE
        | AddWatchFlags::IN_MODIFY
        | AddWatchFlags::IN_CLOSE_WRITE
        | AddWatchFlags::IN_DELETE
        | AddWatchFlags::IN_MOVED_FROM
        | AddWatchFlags::IN_MOVED_TO
        | AddWatchFlags::IN_ATTRIB;
    let mut watched: HashMap<WatchDescriptor, (usize, PathBuf)> = HashMap::new();
    for (i, r) in rules.iter().enumerate() {
        let mut dirs = Vec::new();
        if r.path.is_dir() {
            directories(r, &r.path, &mut dirs);
        } else {
            dirs.push(r.path.clone());
        }
        for d in dirs {
            let wd = inotify.add_watch(&d, mask).with_context(|| format!("watch {}", d.display()))?;
            watched.insert(wd, (i, d));
        }
    }
    let rules = rules.to_vec();
    std::thread::spawn(move || loop {
        let Ok(events) = inotify.read_events() else { return };
        for ev in events {
            let Some((i, dir)) = watched.get(&ev.wd).cloned() else { continue };
            let path = match &ev.name {
                Some(n) => dir.join(n),
                None => dir.clone(),
            };
            let rule = &rules[i];
            let is_dir = ev.mask.contains(AddWatchFlags::IN_ISDIR);
            if rule.relative(&path).is_some_and(|r| ignored(rule, &r, is_dir)) {
                continue;
            }
            // A new directory is watched too (and what it already holds is a change).
            if ev.mask.contains(AddWatchFlags::IN_ISDIR)
                && ev.mask.intersects(AddWatchFlags::IN_CREATE | AddWatchFlags::IN_MOVED_TO)
            {
                let mut dirs = Vec::new();
                directories(rule, &path, &mut dirs);
                for d in dirs {
                    if let Ok(wd) = inotify.add_watch(&d, mask) {
                        watched.insert(wd, (i, d));
                    }
                }
            }
            if tx.send(Event::Changed(i, path)).is_err() {
                return;
            }
        }
    });
    Ok(())
}

pub fn watch(plan: &Plan, backend: &dyn Backend, client: &Client, a: &WatchArgs, p: Progress) -> Result<i32> {
    let rules = wharf_compose::watch::rules(plan, &a.services)?;
    if rules.is_empty() {
        bail!("none of the selected services is configured for watch, consider setting a 'develop' section");
    }
    let say = |m: String| {
        if !a.quiet {
            eprintln!("{m}");
        }
    };
    if !a.no_up {
        up::up(plan, backend, &UpOptions::default(), p)?;
    }
    let (tx, rx) = mpsc::channel();
    watcher(&rules, tx.clone())?;
    let handle = super::attach::on_interrupt(move || {
        let _ = tx.send(Event::Interrupted);
    })?;
    for r in rules.iter().filter(|r| r.syncs() && r.initial_sync) {
        sync(plan, backend, client, r, std::slice::from_ref(&r.path))?;
    }
    say("Watch enabled".into());
    loop {
        let mut batch: Vec<Vec<PathBuf>> = vec![Vec::new(); rules.len()];
        match rx.recv() {
            Ok(Event::Changed(i, path)) => batch[i].push(path),
            Ok(Event::Interrupted) | Err(_) => break,
        }
        // What follows within 300 ms is the same change.
        let mut stop = false;
        while let Ok(ev) = rx.recv_timeout(Duration::from_millis(300)) {
            match ev {
                Event::Changed(i, path) => batch[i].push(path),
                Event::Interrupted => stop = true,
            }
        }
        for (rule, paths) in rules.iter().zip(batch.iter_mut()) {
            paths.sort();
            paths.dedup();
            if paths.is_empty() {
                continue;
            }
            // A failed step is reported; watching goes on (as Compose).
            if let Err(e) = apply(plan, backend, client, rule, paths, p, &say) {
                eprintln!("Error: {e:#}");
            }
        }
        if stop {
            break;
        }
    }
    handle.close();
    Ok(0)
}

fn apply(
    plan: &Plan,
    backend: &dyn Backend,
    client: &Client,
    rule: &Rule,
    paths: &[PathBuf],
    p: Progress,
    say: &dyn Fn(String),
) -> Result<()> {
    let service = std::slice::from_ref(&rule.service);
    let n = paths.len();
    match &rule.action {
        Action::Sync => {
            say(format!("Syncing service {:?} after {n} changes were detected", rule.service));
            sync(plan, backend, client, rule, paths)?;
        }
        Action::SyncRestart => {
            say(format!("Syncing service {:?} after {n} changes were detected", rule.service));
            sync(plan, backend, client, rule, paths)?;
            ops::act(plan, backend, service, &Verb::Restart { timeout: None }, p)?;
        }
        Action::SyncExec(hook) => {
            say(format!("Syncing service {:?} after {n} changes were detected", rule.service));
            sync(plan, backend, client, rule, paths)?;
            for c in ops::containers(plan, backend, service, false)?.iter().filter(|c| c.state == "running") {
                exec_in(client, &c.id, hook, false, false, false)?;
            }
        }
        Action::Restart => {
            say(format!("Restarting service {:?} after changes were detected", rule.service));
            ops::act(plan, backend, service, &Verb::Restart { timeout: None }, p)?;
        }
        Action::Rebuild => {
            say(format!("Rebuilding service {:?} after changes were detected...", rule.service));
            let opts = UpOptions {
                only: Some(service.to_vec()),
                build: BuildPolicy::Always,
                force_recreate: true,
                ..Default::default()
            };
            up::up(plan, backend, &opts, p)?;
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn include_selects_files_and_directories_are_walked() {
        let rule = Rule {
            service: "web".into(),
            action: Action::Sync,
            path: "/app".into(),
            target: Some("/srv".into()),
            ignore: vec!["tmp/".into()],
            include: vec!["**/*.js".into()],
            initial_sync: false,
        };
        assert!(!ignored(&rule, "lib", true), "a directory is walked whatever include says");
        assert!(!ignored(&rule, "lib/a.js", false));
        assert!(ignored(&rule, "lib/a.txt", false), "not included");
        assert!(ignored(&rule, "tmp", true), "ignored directories are not walked");
        let all = Rule { include: Vec::new(), ..rule };
        assert!(!ignored(&all, "lib/a.txt", false));
    }
}
