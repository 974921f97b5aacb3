//! Narrow views of the engine, one trait per area (moby's per-router
//! `backend.go` seam). Handlers depend on these, not on `Engine`, so a route
//! test can pass a fake. Containers and images add their own traits here.

use std::io::{Read, Write};
use std::sync::Arc;

use berth_engine::container::filter::{self, ListOptions};
use berth_engine::container::resources::ResourceUpdate;
use berth_engine::container::stats::StatsSample;
use berth_engine::container::{
    AttachHandle, AttachOptions, Container, ContainerDetails, ContainerError, CreateOptions,
    ListedContainer, WaitCondition, WaitHandle,
};
use berth_engine::container::{LogEvent, LogQuery};
use berth_engine::events::Subscription;
use berth_engine::image::{
    DeleteItem, Digest, HistoryEntry, ImageDetails, ImageError, ImportRequest, LoadedImage,
};
use berth_engine::prune::{DiskUsage, PruneError, PruneFilters, PruneReport};
use berth_engine::{Engine, SystemInfo, VersionInfo};
pub use lifecycle::LifecycleBackend;

/// A container's network: name, what it asked for, its endpoint if running.
pub type ContainerNetwork = (
    String,
    berth_engine::network::EndpointConfig,
    Option<berth_engine::network::Endpoint>,
);

/// What the system routes (`/info`, `/version`) need.
pub trait SystemBackend: Send + Sync {
    fn system_info(&self) -> SystemInfo;
    fn version(&self) -> VersionInfo;
    /// A reader of the engine's events (`GET /events`), from `since`
    /// (nanoseconds since the epoch) or from now. The default, for
    /// backends without an engine, is a bus nothing emits into.
    fn subscribe_events(&self, since: Option<i128>) -> Subscription {
        berth_engine::events::EventBus::new().subscribe(since)
    }
    /// `GET /system/df`; the default (no engine) uses nothing.
    fn disk_usage(&self) -> Result<DiskUsage, PruneError> {
        Ok(DiskUsage::default())
    }
    /// `POST /containers/prune`; the default (no engine) removes nothing.
    fn prune_containers(&self, _filters: &PruneFilters) -> Result<PruneReport, PruneError> {
        Ok(PruneReport::default())
    }
    /// `POST /images/prune`; the default (no engine) removes nothing.
    fn prune_images(&self, _filters: &PruneFilters) -> Result<PruneReport, PruneError> {
        Ok(PruneReport::default())
    }
}

impl SystemBackend for Engine {
    fn system_info(&self) -> SystemInfo {
        Engine::system_info(self)
    }
    fn version(&self) -> VersionInfo {
        Engine::version(self)
    }
    fn subscribe_events(&self, since: Option<i128>) -> Subscription {
        self.events().subscribe(since)
    }
    fn disk_usage(&self) -> Result<DiskUsage, PruneError> {
        Engine::disk_usage(self)
    }
    fn prune_containers(&self, filters: &PruneFilters) -> Result<PruneReport, PruneError> {
        Engine::prune_containers(self, filters)
    }
    fn prune_images(&self, filters: &PruneFilters) -> Result<PruneReport, PruneError> {
        Engine::prune_images(self, filters)
    }
}

/// What the image routes need. The calls block (file I/O, hashing):
/// handlers run them on a blocking thread.
pub trait ImageBackend: Send + Sync {
    fn list_images(&self) -> Result<Vec<ImageDetails>, ImageError>;
    fn inspect_image(&self, name: &str) -> Result<ImageDetails, ImageError>;
    fn image_history(&self, name: &str) -> Result<Vec<HistoryEntry>, ImageError>;
    fn tag_image(&self, name: &str, repo: &str, tag: &str) -> Result<(), ImageError>;
    /// `docker rmi`; `noprune` leaves the untagged parents.
    fn delete_image(
        &self,
        name: &str,
        force: bool,
        noprune: bool,
    ) -> Result<Vec<DeleteItem>, ImageError>;
    fn save_images(&self, names: &[String], w: &mut dyn Write) -> Result<(), ImageError>;
    fn load_images(&self, r: &mut dyn Read) -> Result<Vec<LoadedImage>, ImageError>;
    fn import_image(&self, r: &mut dyn Read, req: &ImportRequest) -> Result<Digest, ImageError>;
    /// Pulls an image; `progress` may be called from several threads.
    fn pull_image(
        &self,
        req: &berth_engine::image::PullRequest,
        progress: &(dyn Fn(berth_engine::image::PullEvent) + Sync),
    ) -> Result<berth_engine::image::PullOutcome, berth_engine::image::PullError>;
    /// Pushes an image (every tag of a repository without a tag).
    fn push_image(
        &self,
        req: &berth_engine::image::PushRequest,
        progress: &dyn Fn(berth_engine::image::PushEvent),
    ) -> Result<(), berth_engine::image::PushError> {
        let _ = (req, progress);
        Err(berth_engine::image::PushError::InvalidArgument(
            "this backend cannot push".into(),
        ))
    }
    /// Checks credentials against a registry (`POST /auth`).
    fn registry_login(
        &self,
        server: &str,
        credentials: &berth_engine::image::Credentials,
    ) -> Result<(), berth_engine::image::PushError> {
        let _ = (server, credentials);
        Err(berth_engine::image::PushError::InvalidArgument(
            "this backend cannot log in to registries".into(),
        ))
    }
    /// `POST /build`: unpacks the context tar from `context` and builds
    /// `req` (its Dockerfile read from the context); the image ID. The
    /// default (no engine) builds nothing.
    fn build_image(
        &self,
        _context: &mut dyn Read,
        _req: berth_engine::build::BuildRequest,
        _progress: &mut dyn berth_engine::build::Progress,
    ) -> Result<String, berth_engine::build::BuildError> {
        Err(berth_engine::build::BuildError::Invalid(
            "this daemon cannot build images".to_owned(),
        ))
    }
    /// `POST /build/prune`; the default (no engine) removes nothing.
    fn prune_build_cache(
        &self,
    ) -> Result<berth_engine::build::BuildCachePruneReport, berth_engine::build::BuildError> {
        Ok(berth_engine::build::BuildCachePruneReport::default())
    }
}

impl ImageBackend for Engine {
    fn list_images(&self) -> Result<Vec<ImageDetails>, ImageError> {
        self.images().list()
    }
    fn inspect_image(&self, name: &str) -> Result<ImageDetails, ImageError> {
        self.images().inspect(name)
    }
    fn image_history(&self, name: &str) -> Result<Vec<HistoryEntry>, ImageError> {
        self.images().history(name)
    }
    fn tag_image(&self, name: &str, repo: &str, tag: &str) -> Result<(), ImageError> {
        self.images().tag(name, repo, tag)
    }
    fn delete_image(
        &self,
        name: &str,
        force: bool,
        noprune: bool,
    ) -> Result<Vec<DeleteItem>, ImageError> {
        self.images().delete_with(name, force, noprune)
    }
    fn save_images(&self, names: &[String], w: &mut dyn Write) -> Result<(), ImageError> {
        self.images().save(names, w)
    }
    fn load_images(&self, r: &mut dyn Read) -> Result<Vec<LoadedImage>, ImageError> {
        self.images().load(r)
    }
    fn import_image(&self, r: &mut dyn Read, req: &ImportRequest) -> Result<Digest, ImageError> {
        self.images().import(r, req)
    }
    fn pull_image(
        &self,
        req: &berth_engine::image::PullRequest,
        progress: &(dyn Fn(berth_engine::image::PullEvent) + Sync),
    ) -> Result<berth_engine::image::PullOutcome, berth_engine::image::PullError> {
        self.images().pull(req, progress)
    }
    fn push_image(
        &self,
        req: &berth_engine::image::PushRequest,
        progress: &dyn Fn(berth_engine::image::PushEvent),
    ) -> Result<(), berth_engine::image::PushError> {
        self.images().push(req, progress).map(|_| ())
    }
    fn registry_login(
        &self,
        server: &str,
        credentials: &berth_engine::image::Credentials,
    ) -> Result<(), berth_engine::image::PushError> {
        self.images().login(server, credentials)
    }
    fn build_image(
        &self,
        context: &mut dyn Read,
        req: berth_engine::build::BuildRequest,
        progress: &mut dyn berth_engine::build::Progress,
    ) -> Result<String, berth_engine::build::BuildError> {
        self.build_from_tar(context, req, progress)
    }
    fn prune_build_cache(
        &self,
    ) -> Result<berth_engine::build::BuildCachePruneReport, berth_engine::build::BuildError> {
        Engine::prune_build_cache(self)
    }
}

/// What the container routes need. The calls block (`wait` for as long
/// as the container runs): handlers run them on a blocking thread.
pub trait ContainerBackend: LifecycleBackend + Send + Sync {
    fn create_container(
        &self,
        image: &str,
        opts: CreateOptions,
    ) -> Result<Container, ContainerError>;
    fn start_container(&self, id: &str) -> Result<(), ContainerError>;
    /// The container's networks for inspect and list: each one's name,
    /// what the container asked for, and its endpoint while it runs.
    fn container_networks(&self, _c: &Container) -> Vec<ContainerNetwork> {
        Vec::new()
    }
    /// The container's legacy links for inspect and list: its
    /// `HostConfig.Links` (`/target:/name/alias`) and all its names
    /// (`/name` and the `/linker/alias` of links to it, sorted).
    fn container_links(&self, c: &Container) -> (Vec<String>, Vec<String>) {
        (Vec::new(), vec![format!("/{}", c.name)])
    }
    /// The `Names` of each of `listed` (the second half of
    /// [`ContainerBackend::container_links`]), for a list.
    fn container_names(&self, listed: &[&Container]) -> Vec<Vec<String>> {
        listed.iter().map(|c| self.container_links(c).1).collect()
    }
    /// `rm -l NAME`: removes the legacy link `NAME` (`linker/alias`).
    /// The default (no links) finds the container or says it does not
    /// exist, and refuses a container's own name as dockerd does.
    fn remove_container_link(&self, name: &str) -> Result<(), ContainerError> {
        self.inspect_container(name)?;
        Err(ContainerError::Internal {
            message: "Conflict, cannot remove the default link name of the container".into(),
        })
    }
    /// Fast: checks the container and notes its state; the caller blocks
    /// in [`WaitHandle::wait`] after answering the headers.
    fn wait_container(
        &self,
        id: &str,
        condition: WaitCondition,
    ) -> Result<WaitHandle, ContainerError>;
    fn list_containers(&self) -> Vec<Container>;
    fn inspect_container(&self, id: &str) -> Result<Container, ContainerError>;
    fn container_log_path(&self, id: &str) -> std::path::PathBuf;
    fn container_log(&self, id: &str) -> Result<String, ContainerError>;
    fn stop_container(
        &self,
        id: &str,
        timeout: Option<std::time::Duration>,
    ) -> Result<(), ContainerError>;
    fn kill_container(&self, id: &str, signal: i32) -> Result<(), ContainerError>;
    fn remove_container(&self, id: &str, force: bool) -> Result<(), ContainerError>;
    /// Attaches to the container's streams (see `Containers::attach`).
    fn attach_container(
        &self,
        id: &str,
        opts: AttachOptions,
    ) -> Result<AttachHandle, ContainerError>;
    /// Reads the container's log as `query` says, record by record, into
    /// `sink` (see `Containers::logs`); blocks while following.
    fn container_logs(
        &self,
        id: &str,
        query: &LogQuery,
        sink: &mut dyn FnMut(LogEvent<'_>) -> bool,
    ) -> Result<(), ContainerError>;
    /// An attach to container `id` (its full ID) ended by the detach keys:
    /// docker's `detach` event. The default (no events) does nothing.
    fn container_detached(&self, _id: &str) {}
    /// Sets the size of the container's terminal.
    fn resize_container(&self, id: &str, height: u16, width: u16) -> Result<(), ContainerError>;
    /// Changes the container's resource limits (`docker update`); the
    /// warnings.
    fn update_container(
        &self,
        id: &str,
        update: &ResourceUpdate,
    ) -> Result<Vec<String>, ContainerError>;
    /// The containers a list shows (filters, all, limit, sizes), newest
    /// first. The default, for backends without images or storage,
    /// filters [`ContainerBackend::list_containers`] and has no sizes.
    fn list_containers_with(
        &self,
        opts: &ListOptions,
    ) -> Result<Vec<ListedContainer>, ContainerError> {
        let selected = filter::select(self.list_containers(), opts, &filter::NoImages)?;
        Ok(selected
            .into_iter()
            .map(|c| ListedContainer {
                image: c.image_ref.clone(),
                container: c,
                size: None,
            })
            .collect())
    }
    /// A container with its merged config, storage and (with `size`) its
    /// sizes. The default, for backends without images or storage, has
    /// only what [`ContainerBackend::inspect_container`] gives.
    /// One sample of the container's resource usage (`/stats`). The
    /// default, for backends without cgroups, is a sample without figures.
    fn container_stats(&self, id: &str) -> Result<(Container, StatsSample), ContainerError> {
        Ok((self.inspect_container(id)?, StatsSample::default()))
    }
    fn container_details(&self, id: &str, _size: bool) -> Result<ContainerDetails, ContainerError> {
        let c = self.inspect_container(id)?;
        Ok(ContainerDetails {
            entrypoint: c.options.entrypoint.clone(),
            cmd: c.options.cmd.clone(),
            storage: None,
            size: None,
            log_path: self.container_log_path(&c.id),
            exec_ids: None,
            container: c,
        })
    }
    /// The file-system routes (`top`, `diff`, `cp`, `export`, `commit`);
    /// `None` for backends without a file system.
    fn fs(&self) -> Option<&dyn crate::fs_backend::FsBackend> {
        None
    }
}

impl ContainerBackend for Engine {
    fn create_container(
        &self,
        image: &str,
        opts: CreateOptions,
    ) -> Result<Container, ContainerError> {
        Engine::create_container(self, image, opts)
    }
    fn start_container(&self, id: &str) -> Result<(), ContainerError> {
        self.containers().start(id)
    }
    fn container_networks(&self, c: &Container) -> Vec<ContainerNetwork> {
        Engine::container_networks(self, c)
    }
    fn container_links(&self, c: &Container) -> (Vec<String>, Vec<String>) {
        self.containers().links_view(c)
    }
    fn container_names(&self, listed: &[&Container]) -> Vec<Vec<String>> {
        self.containers().names_view(listed)
    }
    fn remove_container_link(&self, name: &str) -> Result<(), ContainerError> {
        self.containers().remove_link(name)
    }
    fn wait_container(
        &self,
        id: &str,
        condition: WaitCondition,
    ) -> Result<WaitHandle, ContainerError> {
        self.containers().wait_handle(id, condition)
    }
    fn list_containers(&self) -> Vec<Container> {
        self.containers().list()
    }
    fn inspect_container(&self, id: &str) -> Result<Container, ContainerError> {
        self.containers().get(id)
    }
    fn container_log_path(&self, id: &str) -> std::path::PathBuf {
        self.containers().log_path(id)
    }
    fn container_log(&self, id: &str) -> Result<String, ContainerError> {
        self.containers().read_log(id)
    }
    fn stop_container(
        &self,
        id: &str,
        timeout: Option<std::time::Duration>,
    ) -> Result<(), ContainerError> {
        self.containers().stop(id, timeout)
    }
    fn kill_container(&self, id: &str, signal: i32) -> Result<(), ContainerError> {
        self.containers().kill(id, signal)
    }
    fn remove_container(&self, id: &str, force: bool) -> Result<(), ContainerError> {
        self.containers().remove(id, force)
    }
    fn attach_container(
        &self,
        id: &str,
        opts: AttachOptions,
    ) -> Result<AttachHandle, ContainerError> {
        self.containers().check_attachable(id)?;
        self.containers().attach(id, opts)
    }
    fn container_detached(&self, id: &str) {
        self.containers().detached(id);
    }
    fn container_logs(
        &self,
        id: &str,
        query: &LogQuery,
        sink: &mut dyn FnMut(LogEvent<'_>) -> bool,
    ) -> Result<(), ContainerError> {
        self.containers().logs(id, query, sink)
    }
    fn resize_container(&self, id: &str, height: u16, width: u16) -> Result<(), ContainerError> {
        self.containers().resize(id, height, width)
    }
    fn update_container(
        &self,
        id: &str,
        update: &ResourceUpdate,
    ) -> Result<Vec<String>, ContainerError> {
        self.containers().update(id, update)
    }
    fn list_containers_with(
        &self,
        opts: &ListOptions,
    ) -> Result<Vec<ListedContainer>, ContainerError> {
        self.containers().list_with(opts)
    }
    fn container_details(&self, id: &str, size: bool) -> Result<ContainerDetails, ContainerError> {
        self.containers().details(id, size)
    }
    fn fs(&self) -> Option<&dyn crate::fs_backend::FsBackend> {
        Some(self)
    }
    fn container_stats(&self, id: &str) -> Result<(Container, StatsSample), ContainerError> {
        self.containers().stats(id)
    }
}

mod lifecycle {
    //! The lifecycle calls (`handlers::containers::lifecycle`): start and
    //! stop with docker's 304, restart, pause, unpause, rename, kill and
    //! remove with docker's checks.

    use std::time::Duration;

    use berth_engine::Engine;
    use berth_engine::container::{Change, ContainerError};

    /// The lifecycle part of [`super::ContainerBackend`].
    pub trait LifecycleBackend: Send + Sync {
        fn start_container_checked(&self, id: &str) -> Result<Change, ContainerError>;
        fn stop_container_with(
            &self,
            id: &str,
            timeout: Option<Duration>,
            signal: Option<i32>,
        ) -> Result<Change, ContainerError>;
        fn restart_container(
            &self,
            id: &str,
            timeout: Option<Duration>,
            signal: Option<i32>,
        ) -> Result<(), ContainerError>;
        fn kill_container_with(&self, id: &str, signal: i32) -> Result<(), ContainerError>;
        fn pause_container(&self, id: &str) -> Result<(), ContainerError>;
        fn unpause_container(&self, id: &str) -> Result<(), ContainerError>;
        fn rename_container(&self, id: &str, name: &str) -> Result<(), ContainerError>;
        fn remove_container_with(
            &self,
            id: &str,
            force: bool,
            volumes: bool,
        ) -> Result<(), ContainerError>;
    }

    impl LifecycleBackend for Engine {
        fn start_container_checked(&self, id: &str) -> Result<Change, ContainerError> {
            self.containers().start_checked(id)
        }
        fn stop_container_with(
            &self,
            id: &str,
            timeout: Option<Duration>,
            signal: Option<i32>,
        ) -> Result<Change, ContainerError> {
            self.containers().stop_with(id, timeout, signal)
        }
        fn restart_container(
            &self,
            id: &str,
            timeout: Option<Duration>,
            signal: Option<i32>,
        ) -> Result<(), ContainerError> {
            self.containers().restart(id, timeout, signal)
        }
        fn kill_container_with(&self, id: &str, signal: i32) -> Result<(), ContainerError> {
            self.containers().kill_container(id, signal)
        }
        fn pause_container(&self, id: &str) -> Result<(), ContainerError> {
            self.containers().pause(id)
        }
        fn unpause_container(&self, id: &str) -> Result<(), ContainerError> {
            self.containers().unpause(id)
        }
        fn rename_container(&self, id: &str, name: &str) -> Result<(), ContainerError> {
            self.containers().rename(id, name)
        }
        fn remove_container_with(
            &self,
            id: &str,
            force: bool,
            volumes: bool,
        ) -> Result<(), ContainerError> {
            self.containers().remove_checked(id, force, volumes)
        }
    }
}

/// Every backend the router can call.
#[derive(Clone)]
pub struct Backends {
    pub system: Arc<dyn SystemBackend>,
    pub images: Arc<dyn ImageBackend>,
    pub containers: Arc<dyn ContainerBackend>,
    pub exec: Arc<dyn crate::handlers::exec::ExecBackend>,
    pub volumes: Arc<dyn crate::handlers::volumes::VolumeBackend>,
    pub networks: Arc<dyn crate::handlers::networks::NetworkBackend>,
}

impl Backends {
    /// All backends served by one engine.
    pub fn new(engine: Arc<Engine>) -> Self {
        Self {
            system: engine.clone(),
            images: engine.clone(),
            containers: engine.clone(),
            volumes: engine.clone(),
            networks: engine.clone(),
            exec: engine,
        }
    }
}
