//! COPY/ADD: the files a step adds, as a tar (and the directory to unpack
//! it in) for the step's container. Sources come from the build context, or
//! with `--from` from an earlier stage, a named context (a directory or an
//! image, see [`crate::named`]) or an image.

use std::io::Read;
use std::path::{Path, PathBuf};

use wharf_image::Image;

use crate::context::{self, append_owned, Context};
use crate::dockerfile::Instruction;
use crate::error::{BuildError, Result};
use crate::named::NamedContext;
use crate::{Builder, Stage};

/// What one COPY/ADD asks for.
struct Copy<'a> {
    add: bool,
    sources: &'a [String],
    dest: &'a str,
    dest_is_dir: bool,
    owner: (u64, u64),
    /// Several sources (or a wildcard): each keeps its name under `dest`.
    many: bool,
}

impl Copy<'_> {
    /// A single file copied to a file destination: unpacked in its parent, under the destination's name.
    fn single_file(&self, is_dir: bool) -> bool {
        !is_dir && !self.many && !self.dest_is_dir
    }

    fn dest_parent(&self) -> String {
        Path::new(self.dest).parent().map(|x| x.display().to_string()).unwrap_or_else(|| "/".into())
    }

    fn dest_name(&self) -> &Path {
        Path::new(Path::new(self.dest).file_name().unwrap_or_default())
    }
}

fn tar_err(e: std::io::Error) -> BuildError {
    BuildError::Context(e.to_string())
}

/// Where `COPY --from` takes its files.
enum From {
    Image(Box<Image>),
    Dir(PathBuf),
}

impl Builder<'_> {
    /// The tar (and the directory to unpack it in) for COPY/ADD sources.
    pub(crate) fn collect(
        &mut self,
        ins: &Instruction,
        sources: &[String],
        dest: &str,
        dest_is_dir: bool,
        owner: (u64, u64),
        stages: &[Stage],
    ) -> Result<(String, Vec<u8>)> {
        let many = sources.len() > 1 || sources.iter().any(|s| s.contains(['*', '?']));
        let copy = Copy { add: ins.keyword == "ADD", sources, dest, dest_is_dir, owner, many };
        let mut b = tar::Builder::new(Vec::new());
        b.follow_symlinks(false);
        let target_dir = match ins.flags.get("from") {
            Some(from) => match self.copy_source(from, stages)? {
                From::Image(img) => self.out_of_image(&img, &copy, &mut b)?,
                From::Dir(dir) => out_of_context(&dir, &copy, &mut b)?,
            },
            None => out_of_context(&self.req.context, &copy, &mut b)?,
        };
        Ok((target_dir, b.into_inner().map_err(tar_err)?))
    }

    /// `--from=X`: a stage by name or number, a named context, or an image.
    fn copy_source(&mut self, from: &str, stages: &[Stage]) -> Result<From> {
        if let Some(s) = stages.iter().find(|s| s.name.as_deref() == Some(from)) {
            return Ok(From::Image(Box::new(s.image.clone())));
        }
        if let Some(s) = from.parse::<usize>().ok().and_then(|i| stages.get(i)) {
            return Ok(From::Image(Box::new(s.image.clone())));
        }
        match self.req.contexts.get(from).cloned() {
            Some(NamedContext::Local(dir)) => Ok(From::Dir(dir)),
            Some(NamedContext::Image(r)) => Ok(From::Image(Box::new(self.base(&r)?))),
            None => Ok(From::Image(Box::new(self.base(from)?))),
        }
    }

    /// Sources out of an image's filesystem, through a throwaway container.
    fn out_of_image(&self, img: &Image, copy: &Copy<'_>, b: &mut tar::Builder<Vec<u8>>) -> Result<String> {
        let c = self.scratch_container(img)?;
        let result = (|| -> Result<String> {
            let mut target_dir = copy.dest.to_string();
            for src in copy.sources {
                let mut tar = Vec::new();
                let stat = self.engine.copy_out(&c, src, &mut tar)?;
                let is_dir = stat.mode & (1 << 31) != 0;
                let single_file = copy.single_file(is_dir);
                if single_file {
                    target_dir = copy.dest_parent();
                }
                let mut a = tar::Archive::new(&tar[..]);
                for e in a.entries().map_err(tar_err)? {
                    let mut e = e.map_err(tar_err)?;
                    let name = e.path().map_err(tar_err)?.into_owned();
                    let mut comps = name.components();
                    let first = comps.next();
                    let new_name = if is_dir {
                        comps.as_path().to_path_buf()
                    } else if single_file {
                        copy.dest_name().to_path_buf()
                    } else {
                        first.map(|c| PathBuf::from(c.as_os_str())).unwrap_or_default()
                    };
                    if new_name.as_os_str().is_empty() {
                        continue;
                    }
                    let mut h = e.header().clone();
                    h.set_uid(copy.owner.0);
                    h.set_gid(copy.owner.1);
                    let mut body = Vec::new();
                    e.read_to_end(&mut body).map_err(tar_err)?;
                    if h.entry_type().is_symlink() || h.entry_type().is_hard_link() {
                        let mut target = e.link_name().ok().flatten().map(|t| t.into_owned()).unwrap_or_default();
                        // Hard links name another entry of the archive: map it like the names.
                        if h.entry_type().is_hard_link() && is_dir {
                            let mut tc = target.components();
                            let _ = tc.next();
                            target = tc.as_path().to_path_buf();
                        }
                        b.append_link(&mut h, &new_name, target).map_err(tar_err)?;
                    } else {
                        b.append_data(&mut h, &new_name, &body[..]).map_err(tar_err)?;
                    }
                }
            }
            Ok(target_dir)
        })();
        let _ = self.engine.remove(&c, true, false);
        result
    }

    /// A named local context as an image (`FROM name`): its files, owned by
    /// root, as the one layer of an image without config (BuildKit's local
    /// source as a stage's root filesystem).
    pub(crate) fn dir_image(&self, name: &str, dir: &Path) -> Result<Image> {
        let context = Context::open(dir)?;
        let mut b = tar::Builder::new(Vec::new());
        b.follow_symlinks(false);
        for source in context.sources(".")? {
            append_owned(&mut b, source.node, &source.rel, Path::new(""), (0, 0), &context.excluded())?;
        }
        let data = b.into_inner().map_err(tar_err)?;
        let by = format!("build context {name}");
        Ok(self.images().import_in(&self.lease, &mut &data[..], None, Some(Default::default()), Some(&by))?)
    }
}

/// Sources out of a context directory (the build context or a named local
/// one), read through the confined resolver, its `.dockerignore` applied.
fn out_of_context(dir: &Path, copy: &Copy<'_>, b: &mut tar::Builder<Vec<u8>>) -> Result<String> {
    let context = Context::open(dir)?;
    let mut target_dir = copy.dest.to_string();
    for src in copy.sources {
        if src.starts_with("http://") || src.starts_with("https://") {
            return Err(BuildError::Context(format!("ADD from a URL is not supported: {src}")));
        }
        for source in context.sources(src)? {
            let path = source.path.clone();
            let is_archive = copy.add
                && source.node.kind() == context::Kind::Regular
                && [".tar", ".tar.gz", ".tgz", ".tar.zst"].iter().any(|x| path.to_string_lossy().ends_with(x));
            if is_archive {
                // ADD extracts local archives into the destination.
                let plain = context::read_archive(&source)?;
                let mut a = tar::Archive::new(&plain[..]);
                for e in a.entries().map_err(tar_err)? {
                    let mut e = e.map_err(tar_err)?;
                    let mut h = e.header().clone();
                    let name = e.path().map_err(tar_err)?.into_owned();
                    let mut body = Vec::new();
                    e.read_to_end(&mut body).map_err(tar_err)?;
                    b.append_data(&mut h, &name, &body[..]).map_err(tar_err)?;
                }
            } else if source.node.kind() == context::Kind::Directory {
                append_owned(b, source.node, &source.rel, Path::new(""), copy.owner, &context.excluded())?;
            } else if copy.single_file(false) {
                target_dir = copy.dest_parent();
                append_owned(b, source.node, &source.rel, copy.dest_name(), copy.owner, &context.excluded())?;
            } else {
                let name = Path::new(path.file_name().unwrap_or_default());
                append_owned(b, source.node, &source.rel, name, copy.owner, &context.excluded())?;
            }
        }
    }
    Ok(target_dir)
}
