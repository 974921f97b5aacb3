//! Narrow views of the engine, one trait per area (moby's per-router
//! `backend.go` seam). Handlers depend on these, not on `Engine`, so a route
//! test can pass a fake. Containers and images add their own traits here.

use std::sync::Arc;

use berth_engine::{Engine, SystemInfo, VersionInfo};

/// What the system routes (`/info`, `/version`) need.
pub trait SystemBackend: Send + Sync {
    fn system_info(&self) -> SystemInfo;
    fn version(&self) -> VersionInfo;
}

impl SystemBackend for Engine {
    fn system_info(&self) -> SystemInfo {
        Engine::system_info(self)
    }
    fn version(&self) -> VersionInfo {
        Engine::version(self)
    }
}

/// Every backend the router can call.
#[derive(Clone)]
pub struct Backends {
    pub system: Arc<dyn SystemBackend>,
}

impl Backends {
    /// All backends served by one engine.
    pub fn new(engine: Arc<Engine>) -> Self {
        Self { system: engine }
    }
}
