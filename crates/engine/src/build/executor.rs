//! [`EngineExecutor`]: the engine's side of a build, the
//! [`StepExecutor`] that `berth_build::build` drives. A `RUN` step is a
//! container made from the parent image (created, started, followed,
//! waited, committed, removed); `COPY`/`ADD` write into a snapshot
//! prepared on the parent's layers and commit it; config-only steps make
//! an image that shares the parent's layers. Every step that fails
//! removes what it made (container, snapshot, mount point) before it
//! returns.

use std::path::{Path, PathBuf};

use berth_build::{CopySource, CopyStep, ExecError, ImageState, Progress, RunStep, StepExecutor};
use berth_image::layer::CopyOptions;
use berth_image::snapshot::Mount;
use berth_image::spec::{ContainerConfig, History};
use berth_image::store::CommitOptions;

use super::cache::{CacheIndex, Entry};
use super::copy;
use crate::Engine;
use crate::container::{CreateOptions, LogEvent, LogQuery};

/// Paths the runtime creates in a container's writable layer as mount
/// points (dockerd keeps them in an init layer under the container's, so a
/// commit never sees them). Removed from a `RUN` step's layer when they are
/// the empty placeholders the runtime made.
const MOUNT_POINTS: &[&str] = &["etc/hosts", "etc/resolv.conf", "etc/hostname", ".dockerenv"];

/// The engine's [`StepExecutor`].
#[derive(Debug)]
pub struct EngineExecutor<'a> {
    engine: &'a Engine,
    cache: CacheIndex,
    work: PathBuf,
}

impl<'a> EngineExecutor<'a> {
    /// An executor on `engine`'s data root (its cache index and scratch
    /// directory `<data-root>/build/`).
    pub fn new(engine: &'a Engine) -> Self {
        let root = &engine.config().data_root;
        Self {
            engine,
            cache: CacheIndex::new(root),
            work: root.join("build"),
        }
    }

    fn state(&self, id: &str) -> Result<ImageState, ExecError> {
        let d = self
            .engine
            .images()
            .inspect(id)
            .map_err(|e| ExecError::Other(e.to_string()))?;
        Ok(ImageState {
            id: Some(d.record.id.to_string()),
            config: d.config,
        })
    }

    fn remember(&self, key: &str, parent: &ImageState, image: &str) {
        if key.is_empty() {
            return;
        }
        let entry = Entry {
            image: image.to_owned(),
            parent: parent.id.clone(),
        };
        if let Err(e) = self.cache.put(key, entry) {
            tracing::warn!(error = %e, "cannot record a build cache entry");
        }
    }

    fn top_chain(&self, image: &ImageState) -> Result<Option<String>, ExecError> {
        let Some(id) = &image.id else {
            return Ok(None);
        };
        let d = self
            .engine
            .images()
            .inspect(id)
            .map_err(|e| ExecError::Other(e.to_string()))?;
        Ok(d.record.top_chain_id().map(|c| c.to_string()))
    }

    /// A scratch directory under `<data-root>/build/`.
    fn scratch_dir(&self, prefix: &str) -> Result<PathBuf, ExecError> {
        let id = new_hex()?;
        let dir = self.work.join(format!("{prefix}-{}", &id[..16]));
        fs_err::create_dir_all(&dir).map_err(|e| ExecError::Other(e.to_string()))?;
        Ok(dir)
    }

    /// Commits the active snapshot `key` on `parent` with `config` and
    /// `history`; returns the new image.
    fn commit_snapshot(
        &self,
        parent: &ImageState,
        key: &str,
        config: &ContainerConfig,
        history: &History,
    ) -> Result<ImageState, ExecError> {
        let opts = CommitOptions {
            config: Some(config.clone()),
            created_by: history.created_by.clone(),
            message: history.comment.clone(),
            author: history.author.clone(),
            ..CommitOptions::default()
        };
        let id = self
            .engine
            .images()
            .store()
            .commit(parent.id.as_deref(), key, &opts)
            .map_err(|e| ExecError::Other(format!("committing the step's layer: {e}")))?;
        self.state(&id.to_string())
    }

    /// Prepares a writable snapshot on `parent`, mounts it and runs `f` on
    /// the mount; then commits it (if `f` succeeded) and removes the
    /// snapshot and the mount point whatever happened.
    fn with_snapshot(
        &self,
        parent: &ImageState,
        config: &ContainerConfig,
        history: &History,
        f: impl FnOnce(&Path) -> Result<(), ExecError>,
    ) -> Result<ImageState, ExecError> {
        let store = self.engine.images().store();
        let key = format!("build-{}", new_hex()?);
        let chain = self.top_chain(parent)?;
        let mounts = store
            .snapshots()
            .prepare(&key, chain.as_deref())
            .map_err(|e| ExecError::Other(e.to_string()))?;
        let result = (|| {
            let mnt = self.scratch_dir("mnt")?;
            let mounted = mount_all(&mounts, &mnt);
            let r = match mounted {
                Ok(n) => {
                    let r = f(&mnt);
                    for _ in 0..n {
                        let _ = Mount::unmount(&mnt);
                    }
                    r
                }
                Err(e) => Err(e),
            };
            let _ = fs_err::remove_dir(&mnt);
            r?;
            self.commit_snapshot(parent, &key, config, history)
        })();
        if let Err(e) = store.snapshots().remove(&key) {
            tracing::warn!(key, error = %e, "cannot remove a build snapshot");
        }
        result
    }

    /// Mounts a read-only view of `image` and runs `f` on it.
    fn with_view<T>(
        &self,
        image: &ImageState,
        f: impl FnOnce(&Path) -> Result<T, ExecError>,
    ) -> Result<T, ExecError> {
        let store = self.engine.images().store();
        let Some(chain) = self.top_chain(image)? else {
            // An image without layers: an empty tree.
            let dir = self.scratch_dir("empty")?;
            let r = f(&dir);
            let _ = fs_err::remove_dir(&dir);
            return r;
        };
        let key = format!("build-view-{}", new_hex()?);
        let mounts = store
            .snapshots()
            .view(&key, &chain)
            .map_err(|e| ExecError::Other(e.to_string()))?;
        let r = (|| {
            let mnt = self.scratch_dir("src")?;
            let r = match mount_all(&mounts, &mnt) {
                Ok(n) => {
                    let r = f(&mnt);
                    for _ in 0..n {
                        let _ = Mount::unmount(&mnt);
                    }
                    r
                }
                Err(e) => Err(e),
            };
            let _ = fs_err::remove_dir(&mnt);
            r
        })();
        let _ = store.snapshots().remove(&key);
        r
    }

    fn run_container(
        &self,
        parent: &ImageState,
        step: &RunStep,
        progress: &mut dyn Progress,
    ) -> Result<ImageState, ExecError> {
        let Some(image) = parent.id.clone() else {
            return Err(ExecError::Other(
                "cannot RUN in an image with no files (`FROM scratch` before any COPY): \
                 there is no shell or program to run"
                    .to_owned(),
            ));
        };
        let containers = self.engine.containers();
        let mut opts = CreateOptions {
            cmd: Some(step.argv.clone()),
            entrypoint: Some(Vec::new()),
            env: step.env.clone(),
            working_dir: step.config.working_dir.clone().filter(|w| !w.is_empty()),
            user: step.config.user.clone().filter(|u| !u.is_empty()),
            ..CreateOptions::default()
        };
        opts.network.mode = match step.network.as_deref() {
            None | Some("default") => String::new(),
            Some(m) => m.to_owned(),
        };
        let c = containers
            .create(&image, opts)
            .map_err(|e| ExecError::Other(e.to_string()))?;
        progress.text(&format!(" ---> Running in {}\n", &c.id[..12]));
        let result = (|| {
            containers
                .start(&c.id)
                .map_err(|e| ExecError::Other(e.to_string()))?;
            let query = LogQuery {
                follow: true,
                ..LogQuery::default()
            };
            let _ = containers.logs(&c.id, &query, &mut |ev| {
                if let LogEvent::Record(r) = ev {
                    progress.text(&r.log);
                }
                true
            });
            let code = containers
                .wait(&c.id)
                .map_err(|e| ExecError::Other(e.to_string()))?;
            if code != 0 {
                return Err(ExecError::CommandFailed {
                    command: step.argv.join(" "),
                    code: i64::from(code),
                });
            }
            let store = self.engine.images().store();
            if let Ok(upper) = store.snapshots().upper_dir(&c.id) {
                drop_mount_points(&upper);
            }
            self.commit_snapshot(parent, &c.id, &step.config, &step.history)
        })();
        match containers.remove(&c.id, true) {
            Ok(()) => progress.text(&format!(
                " ---> Removed intermediate container {}\n",
                &c.id[..12]
            )),
            Err(e) => tracing::warn!(id = %c.id, error = %e, "cannot remove a build container"),
        }
        result
    }
}

/// Mounts `mounts` on `target` in order; how many were mounted. On an
/// error the ones made are undone.
fn mount_all(mounts: &[Mount], target: &Path) -> Result<usize, ExecError> {
    for (i, m) in mounts.iter().enumerate() {
        if let Err(e) = m.mount(target) {
            for _ in 0..i {
                let _ = Mount::unmount(target);
            }
            return Err(ExecError::Other(e.to_string()));
        }
    }
    Ok(mounts.len())
}

/// Removes the runtime's empty mount-point files from a stopped
/// container's writable layer `upper` (never following a symlink: the
/// layer is the container's to shape).
fn drop_mount_points(upper: &Path) {
    for p in MOUNT_POINTS {
        let mut dir = upper.to_path_buf();
        let parts: Vec<&str> = p.split('/').collect();
        let mut ok = true;
        for part in &parts[..parts.len() - 1] {
            dir.push(part);
            if !fs_err::symlink_metadata(&dir).is_ok_and(|m| m.is_dir()) {
                ok = false;
                break;
            }
        }
        if !ok {
            continue;
        }
        let path = dir.join(parts[parts.len() - 1]);
        if fs_err::symlink_metadata(&path).is_ok_and(|m| m.is_file() && m.len() == 0) {
            let _ = fs_err::remove_file(&path);
        }
    }
}

/// 64 random hex digits.
pub(crate) fn new_hex() -> Result<String, ExecError> {
    use std::io::Read;
    let mut bytes = [0u8; 32];
    fs_err::File::open("/dev/urandom")
        .and_then(|mut f| f.read_exact(&mut bytes))
        .map_err(|e| ExecError::Other(e.to_string()))?;
    Ok(bytes.iter().map(|b| format!("{b:02x}")).collect())
}

/// Docker's `--chown`: `user[:group]`, names looked up in the image;
/// without a group, the user's name or number is taken as the group too
/// (moby `parseChownFlag`).
fn resolve_chown(root: &Path, chown: Option<&str>) -> Result<(u32, u32), ExecError> {
    let Some(spec) = chown.filter(|c| !c.is_empty()) else {
        return Ok((0, 0));
    };
    let (user, group) = match spec.split_once(':') {
        Some((u, g)) => (u, g),
        None => (spec, spec),
    };
    let bad = |e: crate::container::ContainerError| ExecError::Source(e.to_string());
    let (uid, _) = crate::container::spec::resolve_user(root, user).map_err(bad)?;
    let gid = match group.parse::<u32>() {
        Ok(n) => n,
        Err(_) => {
            crate::container::spec::resolve_user(root, &format!("0:{group}"))
                .map_err(bad)?
                .1
        }
    };
    Ok((uid, gid))
}

impl StepExecutor for EngineExecutor<'_> {
    fn base_image(
        &mut self,
        reference: &str,
        platform: Option<&str>,
        pull: bool,
        progress: &mut dyn Progress,
    ) -> Result<ImageState, ExecError> {
        if !pull && let Ok(d) = self.engine.images().inspect(reference) {
            return Ok(ImageState {
                id: Some(d.record.id.to_string()),
                config: d.config,
            });
        }
        let req = crate::image::PullRequest {
            reference: reference.to_owned(),
            platform: platform.map(str::to_owned),
            credentials: None,
        };
        let shown = berth_image::reference::Reference::parse_normalized(reference)
            .map(|r| r.with_default_tag().familiar_string())
            .unwrap_or_else(|_| reference.to_owned());
        let outcome = self.engine.images().pull(&req, &|_| {}).map_err(|e| {
            ExecError::ImageNotFound(format!(
                "pull access denied for {shown}, or the image does not exist: {e}"
            ))
        })?;
        let status = if outcome.up_to_date {
            format!("Status: Image is up to date for {shown}\n")
        } else {
            format!("Status: Downloaded newer image for {shown}\n")
        };
        progress.text(&status);
        self.state(&outcome.id.to_string())
    }

    fn cached(
        &mut self,
        parent: &ImageState,
        cache_key: &str,
    ) -> Result<Option<ImageState>, ExecError> {
        let Some(entry) = self.cache.get(cache_key) else {
            return Ok(None);
        };
        if entry.parent != parent.id {
            return Ok(None);
        }
        let Ok(d) = self.engine.images().inspect(&entry.image) else {
            return Ok(None);
        };
        if d.record.parent.as_ref().map(ToString::to_string) != parent.id {
            return Ok(None);
        }
        Ok(Some(ImageState {
            id: Some(d.record.id.to_string()),
            config: d.config,
        }))
    }

    fn run(
        &mut self,
        parent: &ImageState,
        step: &RunStep,
        progress: &mut dyn Progress,
    ) -> Result<ImageState, ExecError> {
        let image = self.run_container(parent, step, progress)?;
        if let Some(id) = &image.id {
            self.remember(&step.cache_key, parent, id);
        }
        Ok(image)
    }

    fn copy(
        &mut self,
        parent: &ImageState,
        step: &CopyStep,
        context: &Path,
        _progress: &mut dyn Progress,
    ) -> Result<ImageState, ExecError> {
        if !step.urls.is_empty() {
            return Err(ExecError::Source(
                "ADD from a URL is not supported by berth yet: download the file into the \
                 build context and ADD or COPY it from there"
                    .to_owned(),
            ));
        }
        let image = match &step.from {
            CopySource::Context => self.with_snapshot(parent, &step.config, &step.history, |root| {
                copy_into(root, context, "build context", &step.sources, step)
            })?,
            CopySource::Image(src) => self.with_view(src, |src_root| {
                let mut sources = Vec::new();
                for s in &step.sources {
                    let found = copy::expand(src_root, s);
                    if found.is_empty() {
                        return Err(ExecError::Source(format!(
                            "COPY failed: no source files were specified: {s} matches nothing in the image"
                        )));
                    }
                    sources.extend(found);
                }
                self.with_snapshot(parent, &step.config, &step.history, |root| {
                    copy_into(root, src_root, "image", &sources, step)
                })
            })?,
        };
        if let Some(id) = &image.id {
            self.remember(&step.cache_key, parent, id);
        }
        Ok(image)
    }

    fn commit_config(
        &mut self,
        parent: &ImageState,
        config: ContainerConfig,
        mut history: History,
        mkdir: Option<&str>,
        cache_key: &str,
    ) -> Result<ImageState, ExecError> {
        if let Some(dir) = mkdir {
            let exists = match &parent.id {
                None => false,
                Some(_) => self.with_view(parent, |root| {
                    Ok(berth_image::rootfs::stat_path(
                        root,
                        &format!("{}/", dir.trim_end_matches('/')),
                    )
                    .is_ok_and(|s| s.is_dir()))
                })?,
            };
            if !exists {
                history.empty_layer = None;
                let image = self.with_snapshot(parent, &config, &history, |root| {
                    let rel = copy::clean_relative(dir).ok_or_else(|| {
                        ExecError::Source(format!("WORKDIR {dir}: not a path inside the image"))
                    })?;
                    let plan = copy::Plan {
                        sources: Vec::new(),
                        dest: String::new(),
                        into_dir: true,
                        mkdirs: missing_dirs(root, &rel.to_string_lossy()),
                        owner: (0, 0),
                        chmod: None,
                    };
                    extract_plan(root, &plan)
                })?;
                if let Some(id) = &image.id {
                    self.remember(cache_key, parent, id);
                }
                return Ok(image);
            }
        }
        let mut image = parent.config.clone();
        image.config = Some(config);
        let created = berth_image::store::rfc3339_now();
        image.created = Some(created.clone());
        if history.created.is_none() {
            history.created = Some(created);
        }
        history.empty_layer = Some(true);
        image.history.get_or_insert_with(Vec::new).push(history);
        let id = self
            .engine
            .images()
            .store()
            .commit_config(parent.id.as_deref(), image)
            .map_err(|e| ExecError::Other(e.to_string()))?;
        let image = self.state(&id.to_string())?;
        self.remember(cache_key, parent, &id.to_string());
        Ok(image)
    }

    fn tag(&mut self, image: &ImageState, reference: &str) -> Result<(), ExecError> {
        let Some(id) = &image.id else {
            return Err(ExecError::Other(
                "the build made no image to tag".to_owned(),
            ));
        };
        self.engine
            .images()
            .tag(id, reference, "")
            .map_err(|e| ExecError::Other(e.to_string()))
    }
}

/// The missing directories on the way to `rel` (itself included),
/// outermost first, as relative paths.
fn missing_dirs(root: &Path, rel: &str) -> Vec<String> {
    let mut out = Vec::new();
    let mut cur = String::new();
    for part in rel.split('/').filter(|p| !p.is_empty()) {
        cur = if cur.is_empty() {
            part.to_owned()
        } else {
            format!("{cur}/{part}")
        };
        if !out.is_empty() || berth_image::rootfs::stat_path(root, &format!("/{cur}/")).is_err() {
            out.push(cur.clone());
        }
    }
    out
}

/// Writes the plan's tar and extracts it in `root` (a mounted snapshot).
fn extract_plan(root: &Path, plan: &copy::Plan) -> Result<(), ExecError> {
    let (reader, writer) = std::io::pipe().map_err(|e| ExecError::Other(e.to_string()))?;
    let plan2 = plan.clone();
    let producer = std::thread::Builder::new()
        .name("build-copy".into())
        .spawn(move || copy::write_tar(&plan2, writer))
        .map_err(|e| ExecError::Other(e.to_string()))?;
    let extracted =
        berth_image::layer::extract_archive(reader, root, Path::new("/"), &CopyOptions::default());
    let produced = producer
        .join()
        .map_err(|_| ExecError::Other("the copy thread panicked".to_owned()))?;
    produced.map_err(|e| ExecError::Source(format!("reading the COPY sources: {e}")))?;
    extracted.map_err(|e| ExecError::Other(format!("writing the COPY destination: {e}")))?;
    Ok(())
}

/// COPY/ADD of `sources` (relative to `src_root`) into the mounted
/// snapshot `root`, as `step` says.
fn copy_into(
    root: &Path,
    src_root: &Path,
    what: &str,
    sources: &[String],
    step: &CopyStep,
) -> Result<(), ExecError> {
    let owner = resolve_chown(root, step.chown.as_deref())?;
    let resolved = sources
        .iter()
        .map(|s| copy::resolve_source(src_root, s, what))
        .collect::<Result<Vec<_>, _>>()?;
    let dest_rel = copy::clean_relative(&step.dest)
        .ok_or_else(|| ExecError::Source(format!("{}: not a path inside the image", step.dest)))?
        .to_string_lossy()
        .into_owned();
    let dest_is_dir = dest_rel.is_empty()
        || step.dest.ends_with('/')
        || step.dest.ends_with("/.")
        || berth_image::rootfs::stat_path(root, &format!("/{dest_rel}/")).is_ok_and(|s| s.is_dir());
    if resolved.len() > 1 && !step.dest.ends_with('/') && !dest_is_dir {
        return Err(ExecError::Source(
            "When using COPY with more than one source file, the destination must be a directory and end with a /"
                .to_owned(),
        ));
    }
    let (archives, plain): (Vec<_>, Vec<_>) = resolved
        .into_iter()
        .partition(|s| step.extract_archives && !s.is_dir && copy::is_archive(&s.host));
    let into_dir = dest_is_dir || plain.iter().any(|s| s.is_dir) || !archives.is_empty();
    let mkdirs = if into_dir {
        missing_dirs(root, &dest_rel)
    } else {
        match dest_rel.rsplit_once('/') {
            Some((parent, _)) => missing_dirs(root, parent),
            None => Vec::new(),
        }
    };
    let plan = copy::Plan {
        sources: plain,
        dest: dest_rel.clone(),
        into_dir,
        mkdirs,
        owner,
        chmod: step.chmod,
    };
    extract_plan(root, &plan)?;
    for a in archives {
        let f = fs_err::File::open(&a.host).map_err(|e| ExecError::Source(e.to_string()))?;
        let opts = CopyOptions {
            chown: step.chown.is_some().then_some(owner),
            ..CopyOptions::default()
        };
        berth_image::layer::extract_archive(f, root, Path::new(&format!("/{dest_rel}")), &opts)
            .map_err(|e| ExecError::Source(format!("ADD: unpacking {}: {e}", a.host.display())))?;
    }
    Ok(())
}
