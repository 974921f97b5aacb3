//! Serde types for the image documents berth reads and writes: OCI image
//! manifest, image index and image configuration (opencontainers/image-spec
//! `manifest.md`, `image-index.md`, `config.md`, `descriptor.md`), and the
//! Docker schema 2 manifest and manifest list, which have the same shape
//! under other media types (distribution `docs/spec/manifest-v2-2.md`).
//!
//! Own types rather than `oci-spec`'s: Docker configs carry fields the OCI
//! structs drop (`container_config`, `docker_version`, `Healthcheck`,
//! `OnBuild`, ...), and Docker's media types must round-trip unchanged.
//! Every struct keeps unknown fields in `extra`, so re-serialising a
//! document loses nothing. (The digest of a stored document is always the
//! digest of its original bytes: these types are for reading and for
//! documents berth creates.)

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};
use serde_json::Value;

use crate::digest::Digest;

/// OCI image manifest.
pub const MEDIA_TYPE_OCI_MANIFEST: &str = "application/vnd.oci.image.manifest.v1+json";
/// OCI image index.
pub const MEDIA_TYPE_OCI_INDEX: &str = "application/vnd.oci.image.index.v1+json";
/// OCI image config.
pub const MEDIA_TYPE_OCI_CONFIG: &str = "application/vnd.oci.image.config.v1+json";
/// OCI layer, uncompressed tar.
pub const MEDIA_TYPE_OCI_LAYER: &str = "application/vnd.oci.image.layer.v1.tar";
/// OCI layer, gzip.
pub const MEDIA_TYPE_OCI_LAYER_GZIP: &str = "application/vnd.oci.image.layer.v1.tar+gzip";
/// OCI layer, zstd.
pub const MEDIA_TYPE_OCI_LAYER_ZSTD: &str = "application/vnd.oci.image.layer.v1.tar+zstd";
/// Docker schema 2 manifest.
pub const MEDIA_TYPE_DOCKER_MANIFEST: &str = "application/vnd.docker.distribution.manifest.v2+json";
/// Docker schema 2 manifest list.
pub const MEDIA_TYPE_DOCKER_MANIFEST_LIST: &str =
    "application/vnd.docker.distribution.manifest.list.v2+json";
/// Docker image config.
pub const MEDIA_TYPE_DOCKER_CONFIG: &str = "application/vnd.docker.container.image.v1+json";
/// Docker layer, gzip (Docker never used uncompressed layers in schema 2).
pub const MEDIA_TYPE_DOCKER_LAYER_GZIP: &str = "application/vnd.docker.image.rootfs.diff.tar.gzip";
/// Docker foreign (non-distributable) layer.
pub const MEDIA_TYPE_DOCKER_LAYER_FOREIGN: &str =
    "application/vnd.docker.image.rootfs.foreign.diff.tar.gzip";

/// Unknown fields, kept so that documents round-trip.
pub type Extra = BTreeMap<String, Value>;

/// The JSON value `{}`, used as the value of `ExposedPorts` and `Volumes` maps.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Empty {}

/// A platform, as in an index entry (`descriptor.md`, `image-index.md`).
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct Platform {
    /// GOARCH value, e.g. `amd64`.
    pub architecture: String,
    /// GOOS value, e.g. `linux`.
    pub os: String,
    /// OS version (Windows).
    #[serde(
        rename = "os.version",
        default,
        skip_serializing_if = "Option::is_none"
    )]
    pub os_version: Option<String>,
    /// Required OS features.
    #[serde(
        rename = "os.features",
        default,
        skip_serializing_if = "Option::is_none"
    )]
    pub os_features: Option<Vec<String>>,
    /// CPU variant, e.g. `v8`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub variant: Option<String>,
    /// Unknown fields.
    #[serde(flatten)]
    pub extra: Extra,
}

/// A content descriptor: what a blob is, where to find it, how big it is.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Descriptor {
    /// The blob's media type.
    pub media_type: String,
    /// The blob's digest.
    pub digest: Digest,
    /// The blob's size in bytes.
    pub size: u64,
    /// Alternative download locations (foreign layers).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub urls: Option<Vec<String>>,
    /// Arbitrary metadata.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub annotations: Option<BTreeMap<String, String>>,
    /// Platform of the manifest (index entries only).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub platform: Option<Platform>,
    /// Artifact type (OCI 1.1).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub artifact_type: Option<String>,
    /// Unknown fields.
    #[serde(flatten)]
    pub extra: Extra,
}

impl Descriptor {
    /// A descriptor with only the required fields.
    pub fn new(media_type: &str, digest: Digest, size: u64) -> Self {
        Self {
            media_type: media_type.to_owned(),
            digest,
            size,
            urls: None,
            annotations: None,
            platform: None,
            artifact_type: None,
            extra: Extra::new(),
        }
    }
}

/// An image manifest: OCI (`application/vnd.oci.image.manifest.v1+json`)
/// or Docker schema 2 (`application/vnd.docker.distribution.manifest.v2+json`).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct ImageManifest {
    /// Always 2.
    pub schema_version: u32,
    /// Required by Docker schema 2, optional (but recommended) in OCI.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub media_type: Option<String>,
    /// Artifact type (OCI 1.1).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub artifact_type: Option<String>,
    /// The image configuration blob.
    pub config: Descriptor,
    /// Layers, base first.
    pub layers: Vec<Descriptor>,
    /// The manifest this one refers to (OCI 1.1 referrers).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub subject: Option<Descriptor>,
    /// Arbitrary metadata.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub annotations: Option<BTreeMap<String, String>>,
    /// Unknown fields.
    #[serde(flatten)]
    pub extra: Extra,
}

/// An image index (OCI) or manifest list (Docker): one manifest per platform.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct ImageIndex {
    /// Always 2.
    pub schema_version: u32,
    /// The media type, when the document states it.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub media_type: Option<String>,
    /// Artifact type (OCI 1.1).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub artifact_type: Option<String>,
    /// The manifests.
    pub manifests: Vec<Descriptor>,
    /// The manifest this one refers to (OCI 1.1 referrers).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub subject: Option<Descriptor>,
    /// Arbitrary metadata (in an OCI layout's `index.json`,
    /// `org.opencontainers.image.ref.name` on entries names the tag).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub annotations: Option<BTreeMap<String, String>>,
    /// Unknown fields.
    #[serde(flatten)]
    pub extra: Extra,
}

/// A manifest-like document, told apart by media type (or, when the
/// document carries none, by its fields: an index has `manifests`).
#[derive(Debug, Clone, PartialEq)]
pub enum AnyManifest {
    /// An image manifest.
    Image(Box<ImageManifest>),
    /// An index / manifest list.
    Index(Box<ImageIndex>),
}

/// A manifest that cannot be used.
#[derive(Debug, thiserror::Error)]
pub enum SpecError {
    /// Not valid JSON for the expected document.
    #[error("invalid {what}: {source}")]
    Json {
        /// Which document.
        what: &'static str,
        /// The parse error.
        source: serde_json::Error,
    },
    /// A media type berth does not handle (e.g. Docker schema 1).
    #[error("unsupported manifest media type `{media_type}`")]
    UnsupportedMediaType {
        /// The media type found.
        media_type: String,
    },
}

impl AnyManifest {
    /// Parses a manifest or index. `media_type` is the one the transport
    /// gave (a registry's Content-Type, a descriptor); when `None`, the
    /// document's own `mediaType` (or its shape) decides.
    pub fn parse(bytes: &[u8], media_type: Option<&str>) -> Result<Self, SpecError> {
        #[derive(Deserialize)]
        #[serde(rename_all = "camelCase")]
        struct Probe {
            media_type: Option<String>,
            manifests: Option<Value>,
        }
        let probe: Probe = serde_json::from_slice(bytes).map_err(|source| SpecError::Json {
            what: "manifest",
            source,
        })?;
        let mt = media_type.map(str::to_owned).or(probe.media_type);
        let is_index = match mt.as_deref() {
            Some(MEDIA_TYPE_OCI_INDEX | MEDIA_TYPE_DOCKER_MANIFEST_LIST) => true,
            Some(MEDIA_TYPE_OCI_MANIFEST | MEDIA_TYPE_DOCKER_MANIFEST) => false,
            None => probe.manifests.is_some(),
            Some(other) => {
                return Err(SpecError::UnsupportedMediaType {
                    media_type: other.to_owned(),
                });
            }
        };
        if is_index {
            serde_json::from_slice(bytes)
                .map(|i| Self::Index(Box::new(i)))
                .map_err(|source| SpecError::Json {
                    what: "image index",
                    source,
                })
        } else {
            serde_json::from_slice(bytes)
                .map(|m| Self::Image(Box::new(m)))
                .map_err(|source| SpecError::Json {
                    what: "image manifest",
                    source,
                })
        }
    }
}

/// A health check (Docker's `HealthConfig`; durations in nanoseconds).
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "PascalCase")]
pub struct HealthConfig {
    /// `["NONE"]`, `["CMD", args...]` or `["CMD-SHELL", command]`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub test: Option<Vec<String>>,
    /// Time between checks.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub interval: Option<i64>,
    /// Time before a check is considered hung.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub timeout: Option<i64>,
    /// Start-up grace period.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub start_period: Option<i64>,
    /// Interval during the start period.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub start_interval: Option<i64>,
    /// Consecutive failures before unhealthy.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub retries: Option<i64>,
}

/// The execution parameters of an image (`config` in `config.md`, plus
/// Docker's additions).
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "PascalCase")]
pub struct ContainerConfig {
    /// `user`, `uid`, `user:group`, ...
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub user: Option<String>,
    /// `port/proto` -> `{}`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub exposed_ports: Option<BTreeMap<String, Empty>>,
    /// `NAME=value` entries.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub env: Option<Vec<String>>,
    /// Entrypoint argv.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub entrypoint: Option<Vec<String>>,
    /// Default arguments.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub cmd: Option<Vec<String>>,
    /// Mount points -> `{}`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub volumes: Option<BTreeMap<String, Empty>>,
    /// Working directory.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub working_dir: Option<String>,
    /// Labels.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub labels: Option<BTreeMap<String, String>>,
    /// Signal sent by `docker stop`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub stop_signal: Option<String>,
    /// Health check (Docker extension).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub healthcheck: Option<HealthConfig>,
    /// Whether `Cmd` is already escaped (Windows; Docker extension).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub args_escaped: Option<bool>,
    /// ONBUILD triggers (Docker extension).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub on_build: Option<Vec<String>>,
    /// SHELL (Docker extension).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub shell: Option<Vec<String>>,
    /// Unknown fields (Docker's `Hostname`, `AttachStdin`, ... in old images).
    #[serde(flatten)]
    pub extra: Extra,
}

/// The layers of an image, by diff ID (digest of the uncompressed tar).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct RootFs {
    /// Always `layers`.
    #[serde(rename = "type")]
    pub kind: String,
    /// Diff IDs, base first.
    pub diff_ids: Vec<Digest>,
}

impl Default for RootFs {
    fn default() -> Self {
        Self {
            kind: "layers".to_owned(),
            diff_ids: Vec::new(),
        }
    }
}

/// One history entry: how a layer (or an empty step) was made.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct History {
    /// RFC 3339 creation time.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub created: Option<String>,
    /// The command that created it.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub created_by: Option<String>,
    /// Author.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub author: Option<String>,
    /// Comment (`docker import -m`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub comment: Option<String>,
    /// True when the step made no layer.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub empty_layer: Option<bool>,
    /// Unknown fields.
    #[serde(flatten)]
    pub extra: Extra,
}

/// The image configuration (`config.md`); its digest is the image ID.
/// Fields are declared in the order of image-spec's Go `v1.Image`, so a
/// config berth writes is byte-identical to what Go tools re-serialise.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct ImageConfig {
    /// RFC 3339 creation time.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub created: Option<String>,
    /// Author.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub author: Option<String>,
    /// CPU architecture (GOARCH).
    #[serde(default)]
    pub architecture: String,
    /// CPU variant.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub variant: Option<String>,
    /// Operating system (GOOS).
    #[serde(default)]
    pub os: String,
    /// OS version.
    #[serde(
        rename = "os.version",
        default,
        skip_serializing_if = "Option::is_none"
    )]
    pub os_version: Option<String>,
    /// Execution parameters.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub config: Option<ContainerConfig>,
    /// Layer diff IDs.
    #[serde(default)]
    pub rootfs: RootFs,
    /// Build history.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub history: Option<Vec<History>>,
    /// Unknown fields (`container`, `container_config`, `docker_version`, ...).
    #[serde(flatten)]
    pub extra: Extra,
}

impl ImageConfig {
    /// Parses a config blob.
    pub fn parse(bytes: &[u8]) -> Result<Self, SpecError> {
        serde_json::from_slice(bytes).map_err(|source| SpecError::Json {
            what: "image config",
            source,
        })
    }
}

/// The platform berth runs on, in GOARCH naming.
pub fn host_architecture() -> &'static str {
    match std::env::consts::ARCH {
        "x86_64" => "amd64",
        "aarch64" => "arm64",
        "x86" => "386",
        "powerpc64" => "ppc64le",
        "arm" => "arm",
        "s390x" => "s390x",
        "riscv64" => "riscv64",
        other => other,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Removes `null`s so a document with explicit nulls compares equal to
    /// our re-serialisation, which omits absent fields.
    fn strip_nulls(v: Value) -> Value {
        match v {
            Value::Object(m) => Value::Object(
                m.into_iter()
                    .filter(|(_, v)| !v.is_null())
                    .map(|(k, v)| (k, strip_nulls(v)))
                    .collect(),
            ),
            Value::Array(a) => Value::Array(a.into_iter().map(strip_nulls).collect()),
            v => v,
        }
    }

    fn round_trip<T: Serialize + serde::de::DeserializeOwned + PartialEq + std::fmt::Debug>(
        json: &str,
    ) -> T {
        let parsed: T = serde_json::from_str(json).unwrap();
        let again = serde_json::to_value(&parsed).unwrap();
        let orig: Value = serde_json::from_str(json).unwrap();
        assert_eq!(strip_nulls(orig), again);
        let reparsed: T = serde_json::from_value(again).unwrap();
        assert_eq!(reparsed, parsed);
        parsed
    }

    /// Shaped like `docker inspect`-era busybox config from Docker Hub.
    const DOCKER_CONFIG: &str = r##"{
      "architecture": "amd64",
      "config": {
        "Hostname": "", "Domainname": "", "User": "", "AttachStdin": false,
        "Env": ["PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin"],
        "Cmd": ["sh"], "Image": "sha256:3a093384ac306cbac30b2f2c1f6b3f4ad0b2d1d4e4d2d7f8f2e4e0b7d1f2c3a4",
        "Volumes": {"/data": {}}, "WorkingDir": "/srv", "Entrypoint": null, "OnBuild": null,
        "Labels": {"org.opencontainers.image.source": "x"},
        "ExposedPorts": {"80/tcp": {}},
        "StopSignal": "SIGQUIT",
        "Healthcheck": {"Test": ["CMD-SHELL", "true"], "Interval": 30000000000, "Retries": 3}
      },
      "container": "c1d2",
      "container_config": {"Cmd": ["/bin/sh", "-c", "#(nop) ", "CMD [\"sh\"]"]},
      "created": "2023-07-18T23:19:33.655005962Z",
      "docker_version": "20.10.23",
      "history": [
        {"created": "2023-07-18T23:19:33.538571854Z", "created_by": "/bin/sh -c #(nop) ADD file:7e9002edaafd4e4579b65c8f0aaabde1aeb7fd3f8d95579f7fd3443cef785fd1 in / "},
        {"created": "2023-07-18T23:19:33.655005962Z", "created_by": "/bin/sh -c #(nop)  CMD [\"sh\"]", "empty_layer": true}
      ],
      "os": "linux",
      "rootfs": {"type": "layers", "diff_ids": ["sha256:3d24ee258efc3bfe4066a1a9fb83febf6dc0b1548dfe896161533668281c9f4f"]}
    }"##;

    const OCI_MANIFEST: &str = r#"{
      "schemaVersion": 2,
      "mediaType": "application/vnd.oci.image.manifest.v1+json",
      "config": {"mediaType": "application/vnd.oci.image.config.v1+json",
                 "digest": "sha256:a416a98b71e224a31ee99cff8e16063554498227d2b696152a9c3e0aa65e5824", "size": 581},
      "layers": [{"mediaType": "application/vnd.oci.image.layer.v1.tar+gzip",
                  "digest": "sha256:9ad63333ebc97e32b987ae66aa3cff81300e4c2e6d2f2395cef8a3ae18b249fe", "size": 2220094}],
      "annotations": {"org.opencontainers.image.created": "2024-01-01T00:00:00Z"}
    }"#;

    const DOCKER_MANIFEST: &str = r#"{
       "schemaVersion": 2,
       "mediaType": "application/vnd.docker.distribution.manifest.v2+json",
       "config": {"mediaType": "application/vnd.docker.container.image.v1+json", "size": 1457,
                  "digest": "sha256:a416a98b71e224a31ee99cff8e16063554498227d2b696152a9c3e0aa65e5824"},
       "layers": [{"mediaType": "application/vnd.docker.image.rootfs.diff.tar.gzip", "size": 2220094,
                   "digest": "sha256:9ad63333ebc97e32b987ae66aa3cff81300e4c2e6d2f2395cef8a3ae18b249fe"}]
    }"#;

    const MANIFEST_LIST: &str = r#"{
      "manifests": [
        {"digest": "sha256:023917ec6a886d0e8e15f28fb543515a5fcd8d938edb091e8147db4efed388ee",
         "mediaType": "application/vnd.docker.distribution.manifest.v2+json",
         "platform": {"architecture": "amd64", "os": "linux"}, "size": 528},
        {"digest": "sha256:1b1d1c8a9e2e6a6e2b1f7e4b1e6d9c2c8f5d6c2c1e0f8e7d6c5b4a3928170605",
         "mediaType": "application/vnd.docker.distribution.manifest.v2+json",
         "platform": {"architecture": "arm", "os": "linux", "variant": "v7"}, "size": 527}
      ],
      "mediaType": "application/vnd.docker.distribution.manifest.list.v2+json",
      "schemaVersion": 2
    }"#;

    const OCI_LAYOUT_INDEX: &str = r#"{
      "schemaVersion": 2,
      "manifests": [{"mediaType": "application/vnd.oci.image.manifest.v1+json",
        "digest": "sha256:023917ec6a886d0e8e15f28fb543515a5fcd8d938edb091e8147db4efed388ee", "size": 407,
        "annotations": {"org.opencontainers.image.ref.name": "latest"}}]
    }"#;

    #[test]
    fn docker_config_round_trips_with_all_fields() {
        let c: ImageConfig = round_trip(DOCKER_CONFIG);
        let cfg = c.config.as_ref().unwrap();
        assert_eq!(cfg.cmd.as_deref(), Some(&["sh".to_owned()][..]));
        assert_eq!(cfg.entrypoint, None);
        assert_eq!(cfg.working_dir.as_deref(), Some("/srv"));
        assert_eq!(cfg.stop_signal.as_deref(), Some("SIGQUIT"));
        assert!(cfg.exposed_ports.as_ref().unwrap().contains_key("80/tcp"));
        assert!(cfg.volumes.as_ref().unwrap().contains_key("/data"));
        assert_eq!(cfg.healthcheck.as_ref().unwrap().retries, Some(3));
        assert!(cfg.extra.contains_key("Hostname"));
        assert_eq!(c.rootfs.diff_ids.len(), 1);
        let h = c.history.as_ref().unwrap();
        assert_eq!(h[1].empty_layer, Some(true));
        assert!(c.extra.contains_key("docker_version"));
    }

    #[test]
    fn manifests_and_indexes_round_trip_and_dispatch() {
        let m: ImageManifest = round_trip(OCI_MANIFEST);
        assert_eq!(m.layers[0].media_type, MEDIA_TYPE_OCI_LAYER_GZIP);
        let d: ImageManifest = round_trip(DOCKER_MANIFEST);
        assert_eq!(d.config.size, 1457);
        let l: ImageIndex = round_trip(MANIFEST_LIST);
        assert_eq!(
            l.manifests[1].platform.as_ref().unwrap().variant.as_deref(),
            Some("v7")
        );
        let i: ImageIndex = round_trip(OCI_LAYOUT_INDEX);
        assert_eq!(i.media_type, None);

        assert!(matches!(
            AnyManifest::parse(OCI_MANIFEST.as_bytes(), None).unwrap(),
            AnyManifest::Image(_)
        ));
        assert!(matches!(
            AnyManifest::parse(DOCKER_MANIFEST.as_bytes(), None).unwrap(),
            AnyManifest::Image(_)
        ));
        assert!(matches!(
            AnyManifest::parse(MANIFEST_LIST.as_bytes(), None).unwrap(),
            AnyManifest::Index(_)
        ));
        // No mediaType in the document: the shape decides.
        assert!(matches!(
            AnyManifest::parse(OCI_LAYOUT_INDEX.as_bytes(), None).unwrap(),
            AnyManifest::Index(_)
        ));
        let err = AnyManifest::parse(
            br#"{"schemaVersion":1}"#,
            Some("application/vnd.docker.distribution.manifest.v1+prettyjws"),
        )
        .unwrap_err();
        assert_eq!(
            err.to_string(),
            "unsupported manifest media type `application/vnd.docker.distribution.manifest.v1+prettyjws`"
        );
        let err = AnyManifest::parse(br#"{"schemaVersion":2,"config":{}}"#, None).unwrap_err();
        assert!(
            err.to_string().starts_with("invalid image manifest"),
            "{err}"
        );
    }

    #[test]
    fn minimal_config_gets_defaults() {
        let c = ImageConfig::parse(
            br#"{"architecture":"amd64","os":"linux","rootfs":{"type":"layers","diff_ids":[]}}"#,
        )
        .unwrap();
        assert_eq!(c.config, None);
        assert_eq!(RootFs::default().kind, "layers");
        assert!(!host_architecture().is_empty());
    }
}
