//! Compose for berth: the Compose file model (the Compose specification's
//! common subset), its loading (`${VAR}` interpolation from the
//! environment and `.env`, `-f` files merged, the project name), and the
//! project operations (`up`, `down`, `ps`, `logs`, `start`, `stop`,
//! `restart`, `pull`) over [`berth_api_client::Client`].
//!
//! Resources are named and labelled as docker compose v2 names them
//! (`<project>-<service>-<n>`, `<project>_default`, `<project>_<volume>`,
//! `com.docker.compose.*` labels), so other compose tools see the same
//! project.
//!
//! ```no_run
//! # async fn demo() -> Result<(), berth_compose::Error> {
//! let options = berth_compose::LoadOptions::from_dir(".".into());
//! let project = berth_compose::load(&options, &|k| std::env::var(k).ok())?;
//! let client = berth_api_client::Client::new("unix:///run/berth/berth.sock".parse().unwrap());
//! let compose = berth_compose::Compose::new(&client, &project);
//! compose.up(&[], &berth_compose::UpOptions::default(), &mut |line| eprintln!("{line}")).await?;
//! # Ok(()) }
//! ```

mod error;
mod interp;
mod load;
mod merge;
mod model;
mod naming;
mod ops;

pub use error::Error;
pub use interp::{interpolate_str, parse_dotenv};
pub use load::{LoadOptions, load, load_with_yaml};
pub use model::{
    Condition, Healthcheck, Mount, MountKind, NetworkDef, PortSpec, Project, Service, VolumeDef,
};
pub use naming::{LABEL_PREFIX, normalize_project_name};
pub use ops::{Compose, PsRow, UpOptions};
