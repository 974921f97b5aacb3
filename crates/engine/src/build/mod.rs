//! Builds from a Dockerfile (`docker build`, `POST /build`): the engine's
//! half of `berth-build`. [`EngineExecutor`] implements the builder's
//! [`berth_build::StepExecutor`] with containers, snapshots and the image
//! store; [`BuildContext`] unpacks the context tar a client sends into a
//! directory of the daemon's own (hostile input: nothing may land outside
//! it) that goes away with the value; [`Engine::prune_build_cache`] is
//! `docker builder prune`.
//!
//! ```text
//! POST /build body (tar) --BuildContext::unpack--> <data-root>/build/ctx-<id>/
//!     --berth_build::build(req, EngineExecutor, progress)--> image ID
//! ```

mod cache;
mod copy;
mod executor;

use std::io::Read;
use std::path::{Path, PathBuf};

pub use berth_build::{BuildError, BuildRequest, BuildResult, ExecError, Progress};
pub use executor::EngineExecutor;

use crate::Engine;

/// A build context unpacked under `<data-root>/build/`; removed on drop
/// (after the build, failed or not, or when the client went away).
#[derive(Debug)]
pub struct BuildContext {
    dir: PathBuf,
}

impl BuildContext {
    /// Unpacks the (plain, gzip or zstd compressed) context tar from
    /// `reader`. Entries that would leave the directory (`../x`, links
    /// out of it) are refused and device nodes are skipped, as for
    /// `docker cp`; on an error nothing stays behind.
    pub fn unpack(engine: &Engine, reader: impl Read) -> Result<Self, BuildError> {
        let id = executor::new_hex()?;
        let dir = engine
            .config()
            .data_root
            .join("build")
            .join(format!("ctx-{}", &id[..16]));
        fs_err::create_dir_all(&dir).map_err(|e| BuildError::Invalid(e.to_string()))?;
        let ctx = Self { dir };
        berth_image::layer::extract_archive(
            reader,
            &ctx.dir,
            Path::new("/"),
            &berth_image::layer::CopyOptions::default(),
        )
        .map_err(|e| {
            BuildError::Invalid(format!(
                "the build context is not a valid tar archive or leaves its directory: {e}"
            ))
        })?;
        Ok(ctx)
    }

    /// The directory.
    pub fn path(&self) -> &Path {
        &self.dir
    }

    /// The Dockerfile at `name` in the context (`-f`, default
    /// `Dockerfile`), read without leaving the context.
    pub fn dockerfile(&self, name: &str) -> Result<String, BuildError> {
        let name = if name.is_empty() { "Dockerfile" } else { name };
        let missing = || BuildError::Invalid(format!("Cannot locate specified Dockerfile: {name}"));
        let src = copy::resolve_source(&self.dir, name, "build context").map_err(|_| missing())?;
        if src.is_dir {
            return Err(missing());
        }
        let bytes = fs_err::read(&src.host).map_err(|_| missing())?;
        String::from_utf8(bytes)
            .map_err(|_| BuildError::Invalid(format!("the Dockerfile {name} is not UTF-8 text")))
    }
}

impl Drop for BuildContext {
    fn drop(&mut self) {
        if let Err(e) = fs_err::remove_dir_all(&self.dir) {
            tracing::warn!(error = %e, "cannot remove a build context");
        }
    }
}

/// What `docker builder prune` removed.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct BuildCachePruneReport {
    /// The images deleted (`sha256:...`).
    pub deleted: Vec<String>,
    /// Bytes freed (the layers of the deleted images no other image shares).
    pub space_reclaimed: u64,
}

/// The build cache as `system df` counts it.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct BuildCacheUsage {
    /// Cache entries whose image still exists.
    pub entries: Vec<(String, u64)>,
}

impl Engine {
    /// `POST /build`: unpacks the context tar from `context`, reads the
    /// Dockerfile named by `req.dockerfile_name` from it, and builds;
    /// returns the image ID. The context directory is removed before this
    /// returns, whatever happened.
    pub fn build_from_tar(
        &self,
        context: &mut dyn Read,
        mut req: BuildRequest,
        progress: &mut dyn Progress,
    ) -> Result<String, BuildError> {
        let ctx = BuildContext::unpack(self, context)?;
        req.dockerfile = ctx.dockerfile(&req.dockerfile_name)?;
        req.context = ctx.path().to_owned();
        let mut exec = EngineExecutor::new(self);
        let result = berth_build::build(&req, &mut exec, progress)?;
        result
            .image
            .id
            .ok_or_else(|| BuildError::Invalid("the build made no image".to_owned()))
    }

    /// The images the build cache remembers that still exist, with their
    /// top layer's size.
    pub fn build_cache_usage(&self) -> BuildCacheUsage {
        let index = cache::CacheIndex::new(&self.config().data_root);
        let mut entries = Vec::new();
        for e in index.entries().into_values() {
            if let Ok(d) = self.images().inspect(&e.image) {
                let size = d.record.layer_sizes.last().copied().unwrap_or(0);
                entries.push((e.image, size));
            }
        }
        entries.sort();
        entries.dedup();
        BuildCacheUsage { entries }
    }

    /// `docker builder prune`: forgets every cache entry and removes the
    /// images the cache kept that nothing names any more (untagged, no
    /// child, no container), as dockerd removes dangling build images.
    pub fn prune_build_cache(&self) -> Result<BuildCachePruneReport, BuildError> {
        let index = cache::CacheIndex::new(&self.config().data_root);
        let entries = index
            .clear()
            .map_err(|e| BuildError::Invalid(format!("clearing the build cache: {e}")))?;
        let mut report = BuildCachePruneReport::default();
        let mut ids: Vec<String> = entries.into_values().map(|e| e.image).collect();
        ids.sort();
        ids.dedup();
        // Children first: an image with a child cannot go before it.
        let mut progress = true;
        while progress {
            progress = false;
            ids.retain(|id| {
                let Ok(d) = self.images().inspect(id) else {
                    return false;
                };
                if !d.repo_tags.is_empty() {
                    return false;
                }
                let size = d.record.layer_sizes.last().copied().unwrap_or(0);
                match self.images().delete(id, false) {
                    Ok(items) => {
                        for item in items {
                            if let crate::image::DeleteItem::Deleted(x) = item {
                                report.deleted.push(x.to_string());
                            }
                        }
                        report.space_reclaimed += size;
                        progress = true;
                        false
                    }
                    Err(_) => true,
                }
            });
        }
        Ok(report)
    }
}
