//! Flags of `berth registry ...`: a local registry server, like `docker run registry:2`.

use std::path::PathBuf;

use clap::{Args, Subcommand};

/// `berth registry COMMAND`.
#[derive(Debug, Clone, PartialEq, Eq, Subcommand)]
#[command(defer = true)]
pub(crate) enum RegistryFlags {
    /// Run a registry (OCI distribution API) over HTTP or HTTPS
    Serve(RegistryServeFlags),
    /// Delete blobs no manifest refers to (stop the registry first)
    GarbageCollect(RegistryGcFlags),
}

#[derive(Debug, Clone, PartialEq, Eq, Args)]
pub(crate) struct RegistryServeFlags {
    /// Address to listen on
    #[arg(
        long = "addr",
        value_name = "host:port",
        default_value = "127.0.0.1:5000"
    )]
    pub(crate) addr: String,
    /// Directory holding the registry's blobs, manifests and tags
    #[arg(
        long = "root",
        value_name = "dir",
        default_value = "/var/lib/berth-registry"
    )]
    pub(crate) root: PathBuf,
    /// Require HTTP basic auth against this htpasswd file (bcrypt entries, `htpasswd -B`)
    #[arg(long = "htpasswd", value_name = "file")]
    pub(crate) htpasswd: Option<PathBuf>,
    /// Serve HTTPS with this PEM certificate (chain); needs --tls-key
    #[arg(long = "tls-cert", value_name = "file", requires = "tls_key")]
    pub(crate) tls_cert: Option<PathBuf>,
    /// The PEM private key of --tls-cert
    #[arg(long = "tls-key", value_name = "file", requires = "tls_cert")]
    pub(crate) tls_key: Option<PathBuf>,
}

#[derive(Debug, Clone, PartialEq, Eq, Args)]
pub(crate) struct RegistryGcFlags {
    /// Directory holding the registry's blobs, manifests and tags
    #[arg(
        long = "root",
        value_name = "dir",
        default_value = "/var/lib/berth-registry"
    )]
    pub(crate) root: PathBuf,
    /// Only print what would be deleted
    #[arg(short = 'd', long = "dry-run")]
    pub(crate) dry_run: bool,
}
