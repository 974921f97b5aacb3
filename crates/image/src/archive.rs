//! `docker save` / `docker load`: image archives in both formats.
//!
//! [`ImageStore::save`] writes what Docker 25+ writes: one tar that is at
//! the same time an OCI image layout (`oci-layout`, `index.json`,
//! `blobs/sha256/<hex>`; image-spec `image-layout.md`) and a
//! docker-archive (`manifest.json` whose `Config` and `Layers` point into
//! `blobs/`, and the legacy `repositories` file), so `docker load`,
//! `podman load`, `skopeo copy docker-archive:` and `skopeo copy oci-archive:`
//! all read it.
//!
//! [`ImageStore::load`] reads either format (and both at once). Archive
//! member names are only ever used as keys of an in-memory map, never as
//! paths on disk: every regular file is streamed into the content store
//! (so `blobs/sha256/<hex>` is verified against its name), the few small
//! metadata files are kept in memory, and symlinks and hard links (old
//! `docker save` archives link duplicate layers) are resolved lexically
//! inside the archive. Layers are then unpacked and verified against the
//! config's diff IDs like any other layer.

use std::collections::{BTreeMap, BTreeSet};
use std::io::{self, Read, Write};
use std::path::{Component, Path};

use serde::{Deserialize, Serialize};

use crate::content::BlobInfo;
use crate::digest::Digest;
use crate::layer::Compression;
use crate::reference::Reference;
use crate::snapshot::{Kind, chain_ids};
use crate::spec::{self, AnyManifest, Descriptor, ImageConfig, ImageIndex, ImageManifest};
use crate::store::{Error, ImageStore};

/// Largest metadata file (`manifest.json`, `index.json`, ...) read into memory.
const MAX_METADATA: u64 = 16 << 20;
/// containerd's annotation with the full image name.
const ANNOTATION_CONTAINERD_NAME: &str = "io.containerd.image.name";
/// The OCI annotation naming a manifest in an image layout.
const ANNOTATION_REF_NAME: &str = "org.opencontainers.image.ref.name";

/// One entry of a docker-archive `manifest.json`.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(rename_all = "PascalCase")]
struct DockerArchiveEntry {
    config: String,
    #[serde(default)]
    repo_tags: Option<Vec<String>>,
    layers: Vec<String>,
}

/// An image found in a loaded archive.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LoadedImage {
    /// Its ID.
    pub id: Digest,
    /// The tags it was given.
    pub tags: Vec<Reference>,
}

fn invalid(message: impl Into<String>) -> Error {
    Error::InvalidArgument {
        message: message.into(),
    }
}

/// Cleans an archive member name (`./a/b` -> `a/b`); `None` if it climbs
/// out of the archive.
fn clean_name(p: &Path) -> Option<String> {
    let mut out: Vec<String> = Vec::new();
    for c in p.components() {
        match c {
            Component::RootDir | Component::CurDir | Component::Prefix(_) => {}
            Component::ParentDir => {
                out.pop()?;
            }
            Component::Normal(n) => out.push(n.to_string_lossy().into_owned()),
        }
    }
    Some(out.join("/"))
}

/// What an archive holds, by member name.
#[derive(Default)]
struct Members {
    blobs: BTreeMap<String, BlobInfo>,
    metadata: BTreeMap<String, Vec<u8>>,
    links: BTreeMap<String, String>,
    /// Blobs this load added to the store (removed again if unused).
    new_blobs: BTreeSet<Digest>,
}

impl Members {
    fn resolve(&self, name: &str) -> Result<&BlobInfo, Error> {
        let mut cur = clean_name(Path::new(name))
            .ok_or_else(|| invalid(format!("invalid archive path `{name}`")))?;
        for _ in 0..16 {
            if let Some(b) = self.blobs.get(&cur) {
                return Ok(b);
            }
            match self.links.get(&cur) {
                Some(next) => cur = next.clone(),
                None => break,
            }
        }
        Err(invalid(format!("archive member `{name}` not found")))
    }

    fn metadata<T: serde::de::DeserializeOwned>(&self, name: &str) -> Result<Option<T>, Error> {
        match self.metadata.get(name) {
            None => Ok(None),
            Some(b) => serde_json::from_slice(b)
                .map(Some)
                .map_err(|e| invalid(format!("invalid `{name}` in archive: {e}"))),
        }
    }
}

impl ImageStore {
    fn read_members(&self, reader: impl Read) -> Result<Members, Error> {
        let mut m = Members::default();
        let mut archive = tar::Archive::new(reader);
        let read_err = |e: io::Error| invalid(format!("reading image archive: {e}"));
        for entry in archive.entries().map_err(read_err)? {
            let mut entry = entry.map_err(read_err)?;
            let raw = entry.path().map_err(read_err)?.into_owned();
            let Some(name) = clean_name(&raw) else {
                return Err(invalid(format!(
                    "archive member `{}` escapes the archive",
                    raw.display()
                )));
            };
            match entry.header().entry_type() {
                tar::EntryType::Regular | tar::EntryType::Continuous => {
                    let is_meta = matches!(
                        name.as_str(),
                        "manifest.json" | "index.json" | "oci-layout" | "repositories"
                    );
                    if is_meta {
                        let mut buf = Vec::new();
                        (&mut entry)
                            .take(MAX_METADATA + 1)
                            .read_to_end(&mut buf)
                            .map_err(read_err)?;
                        if buf.len() as u64 > MAX_METADATA {
                            return Err(invalid(format!("archive member `{name}` is too large")));
                        }
                        m.metadata.insert(name, buf);
                        continue;
                    }
                    // `blobs/<alg>/<hex>` must hash to its name.
                    let expected = name
                        .strip_prefix("blobs/")
                        .and_then(|r| r.split_once('/'))
                        .and_then(|(alg, hex)| format!("{alg}:{hex}").parse::<Digest>().ok());
                    let size = entry.size();
                    let existed = expected
                        .as_ref()
                        .is_some_and(|d| self.content().contains(d));
                    let info = self
                        .content()
                        .ingest_reader(&mut entry, expected.as_ref().map(|d| (d, size)))?;
                    if !existed && !m.blobs.values().any(|b| b.digest == info.digest) {
                        m.new_blobs.insert(info.digest.clone());
                    }
                    m.blobs.insert(name, info);
                }
                tar::EntryType::Symlink | tar::EntryType::Link => {
                    let Some(target) = entry.link_name().map_err(read_err)? else {
                        continue;
                    };
                    // Symlinks are relative to the member's directory, hard
                    // links to the archive root.
                    let joined = if entry.header().entry_type() == tar::EntryType::Symlink {
                        Path::new(&name)
                            .parent()
                            .unwrap_or(Path::new(""))
                            .join(&target)
                    } else {
                        target.into_owned()
                    };
                    if let Some(t) = clean_name(&joined) {
                        m.links.insert(name, t);
                    }
                }
                _ => {}
            }
        }
        Ok(m)
    }

    /// Makes sure the layer `layer` (in the content store) is unpacked on
    /// top of `parent`, reusing an existing snapshot for the same chain.
    fn ensure_layer(
        &self,
        layer: &Descriptor,
        diff_id: &Digest,
        parent: Option<&Digest>,
    ) -> Result<(u64, Compression), Error> {
        let chain = match parent {
            None => diff_id.clone(),
            Some(p) => Digest::sha256_of(format!("{p} {diff_id}").as_bytes()),
        };
        let exists = self
            .snapshots()
            .stat(&chain.to_string())
            .is_ok_and(|i| i.kind == Kind::Committed);
        if exists {
            // The layer is unpacked already; still check that this blob
            // is what it claims to be, since it is stored with the image
            // and written out again by `save`.
            let rep = crate::layer::digest_layer(std::io::BufReader::new(
                self.content().open_blob(&layer.digest)?,
            ))?;
            if &rep.diff_id != diff_id {
                return Err(crate::layer::LayerError::DiffIdMismatch {
                    expected: diff_id.clone(),
                    actual: rep.diff_id,
                }
                .into());
            }
            if rep.digest != layer.digest {
                return Err(crate::layer::LayerError::DigestMismatch {
                    expected: layer.digest.clone(),
                    actual: rep.digest,
                }
                .into());
            }
            return Ok((rep.uncompressed_size, rep.compression));
        }
        let (_, size, compression) = self.unpack_layer(layer, Some(diff_id), parent)?;
        Ok((size, compression))
    }

    /// Unpacks the layers of `config` and stores the image.
    fn load_image(
        &self,
        config_desc: &BlobInfo,
        layers: Vec<Descriptor>,
        manifest: Option<Descriptor>,
        tags: &[Reference],
    ) -> Result<Digest, Error> {
        let config_bytes = self.content().read_blob(&config_desc.digest)?;
        let config = ImageConfig::parse(&config_bytes)?;
        let diff_ids = config.rootfs.diff_ids.clone();
        if diff_ids.len() != layers.len() {
            return Err(invalid(format!(
                "image {} has {} layers but {} diff IDs",
                config_desc.digest,
                layers.len(),
                diff_ids.len()
            )));
        }
        let chains = chain_ids(&diff_ids);
        let mut sizes = Vec::new();
        let mut descs = Vec::new();
        for (i, (mut layer, diff_id)) in layers.into_iter().zip(&diff_ids).enumerate() {
            let parent = if i == 0 { None } else { chains.get(i - 1) };
            let (size, compression) = self.ensure_layer(&layer, diff_id, parent)?;
            if manifest.is_none() {
                layer.media_type = match compression {
                    Compression::None => spec::MEDIA_TYPE_OCI_LAYER,
                    Compression::Gzip => spec::MEDIA_TYPE_OCI_LAYER_GZIP,
                    Compression::Zstd => spec::MEDIA_TYPE_OCI_LAYER_ZSTD,
                }
                .to_owned();
            }
            sizes.push(size);
            descs.push(layer);
        }
        self.store_record(
            &config_bytes,
            config.created.clone(),
            descs,
            diff_ids,
            sizes,
            manifest,
            tags,
        )
    }

    /// Picks the manifest for this host from an index (linux + our
    /// architecture, else the first image manifest).
    fn pick_manifest(
        &self,
        desc: &Descriptor,
        depth: u32,
    ) -> Result<(Descriptor, ImageManifest), Error> {
        let bytes = self.content().read_blob(&desc.digest)?;
        match AnyManifest::parse(
            &bytes,
            Some(desc.media_type.as_str()).filter(|m| !m.is_empty()),
        )? {
            AnyManifest::Image(m) => Ok((desc.clone(), *m)),
            AnyManifest::Index(idx) if depth < 4 => {
                let arch = spec::host_architecture();
                let pick = idx
                    .manifests
                    .iter()
                    .find(|d| {
                        d.platform
                            .as_ref()
                            .is_some_and(|p| p.os == "linux" && p.architecture == arch)
                    })
                    .or_else(|| idx.manifests.first())
                    .ok_or_else(|| invalid(format!("index {} lists no manifests", desc.digest)))?;
                self.pick_manifest(pick, depth + 1)
            }
            AnyManifest::Index(_) => Err(invalid("image indexes nested too deeply")),
        }
    }

    /// Registers the image whose manifest (or index: the entry for this
    /// host is picked) `desc` names, with all its blobs already in the
    /// content store: unpacks and verifies the layers, stores the record,
    /// applies `tags`. This is how a pull (berth-registry) finishes.
    pub fn register_manifest(
        &self,
        desc: &Descriptor,
        tags: &[Reference],
    ) -> Result<Digest, Error> {
        let _op = self.op();
        self.register_manifest_inner(desc, tags)
    }

    fn register_manifest_inner(
        &self,
        desc: &Descriptor,
        tags: &[Reference],
    ) -> Result<Digest, Error> {
        let (mut mdesc, manifest) = self.pick_manifest(desc, 0)?;
        // Naming annotations belong to an index entry, not to the image.
        if let Some(a) = mdesc.annotations.as_mut() {
            a.remove(ANNOTATION_CONTAINERD_NAME);
            a.remove(ANNOTATION_REF_NAME);
        }
        if mdesc.annotations.as_ref().is_some_and(BTreeMap::is_empty) {
            mdesc.annotations = None;
        }
        let cfg = self.content().info(&manifest.config.digest)?;
        self.load_image(&cfg, manifest.layers.clone(), Some(mdesc), tags)
    }

    /// `docker load`: reads a docker-archive or OCI-layout tar (or one that
    /// is both) and returns the images it held. On error, blobs this load
    /// added and no image uses are removed.
    pub fn load(&self, reader: impl Read) -> Result<Vec<LoadedImage>, Error> {
        let _op = self.op();
        let members = self.read_members(reader)?;
        let result = self.load_members(&members);
        for d in &members.new_blobs {
            self.delete_blob_if_unreferenced(d)?;
        }
        result
    }

    fn load_members(&self, m: &Members) -> Result<Vec<LoadedImage>, Error> {
        let docker: Option<Vec<DockerArchiveEntry>> = m.metadata("manifest.json")?;
        let index: Option<ImageIndex> = m.metadata("index.json")?;
        // Tags from manifest.json, by config digest.
        let mut docker_tags: BTreeMap<Digest, Vec<Reference>> = BTreeMap::new();
        for e in docker.iter().flatten() {
            let cfg = m.resolve(&e.config)?;
            for t in e.repo_tags.iter().flatten() {
                docker_tags
                    .entry(cfg.digest.clone())
                    .or_default()
                    .push(Reference::parse_normalized(t)?.with_default_tag());
            }
        }
        let mut out: Vec<LoadedImage> = Vec::new();
        if let Some(index) = index {
            if m.metadata.contains_key("oci-layout")
                && let Some(layout) = m.metadata::<serde_json::Value>("oci-layout")?
                && layout
                    .get("imageLayoutVersion")
                    .and_then(|v| v.as_str())
                    .is_none()
            {
                return Err(invalid(
                    "invalid `oci-layout` in archive: no imageLayoutVersion",
                ));
            }
            for desc in &index.manifests {
                let (_, manifest) = self.pick_manifest(desc, 0)?;
                let cfg = self.content().info(&manifest.config.digest)?;
                let mut tags: Vec<Reference> = Vec::new();
                let ann = desc.annotations.clone().unwrap_or_default();
                let name = ann.get(ANNOTATION_CONTAINERD_NAME).or_else(|| {
                    // A bare tag (`latest`, as skopeo and umoci write) names
                    // no repository; a full reference does.
                    ann.get(ANNOTATION_REF_NAME)
                        .filter(|n| n.contains(['/', ':']))
                });
                if let Some(n) = name {
                    tags.push(Reference::parse_normalized(n)?.with_default_tag());
                }
                tags.extend(docker_tags.remove(&cfg.digest).unwrap_or_default());
                tags.dedup();
                let id = self.register_manifest_inner(desc, &tags)?;
                push_loaded(&mut out, id, tags);
            }
        }
        for e in docker.iter().flatten() {
            let cfg = m.resolve(&e.config)?.clone();
            let Some(tags) = docker_tags.remove(&cfg.digest) else {
                if out.iter().any(|l| l.id == cfg.digest) {
                    continue;
                }
                let id = self.load_image(&cfg, self.layer_descs(m, &e.layers)?, None, &[])?;
                push_loaded(&mut out, id, Vec::new());
                continue;
            };
            let id = self.load_image(&cfg, self.layer_descs(m, &e.layers)?, None, &tags)?;
            push_loaded(&mut out, id, tags);
        }
        if out.is_empty() {
            return Err(invalid(
                "no images in archive: neither manifest.json nor index.json lists any",
            ));
        }
        Ok(out)
    }

    fn layer_descs(&self, m: &Members, layers: &[String]) -> Result<Vec<Descriptor>, Error> {
        layers
            .iter()
            .map(|l| {
                let b = m.resolve(l)?;
                Ok(Descriptor::new(
                    spec::MEDIA_TYPE_OCI_LAYER,
                    b.digest.clone(),
                    b.size,
                ))
            })
            .collect()
    }

    /// `docker save`: writes the images named by `names` (references or
    /// IDs) as one tar that is both an OCI layout and a docker-archive.
    pub fn save(&self, names: &[&str], writer: impl Write) -> Result<(), Error> {
        // Blobs must not be deleted while they are being written out.
        let _op = self.op();
        let mut images = Vec::new();
        for n in names {
            let id = self.resolve(n)?;
            let record = self.record(&id)?;
            // Saving by reference saves that tag; by ID, every tag.
            let all = self.inspect(&id.to_string())?.repo_tags;
            let named = Reference::parse_normalized(n)
                .ok()
                .map(Reference::with_default_tag)
                .filter(|r| all.contains(r));
            let tags = match named {
                Some(r) => vec![r],
                None => all,
            };
            images.push((record, tags));
        }
        let mut blobs: BTreeSet<Digest> = BTreeSet::new();
        let mut index = ImageIndex {
            schema_version: 2,
            media_type: Some(spec::MEDIA_TYPE_OCI_INDEX.to_owned()),
            artifact_type: None,
            manifests: Vec::new(),
            subject: None,
            annotations: None,
            extra: Default::default(),
        };
        let mut docker = Vec::new();
        let mut repositories: BTreeMap<String, BTreeMap<String, String>> = BTreeMap::new();
        for (record, tags) in &images {
            blobs.insert(record.id.clone());
            blobs.insert(record.manifest.digest.clone());
            blobs.extend(record.layers.iter().map(|l| l.digest.clone()));
            if tags.is_empty() {
                index.manifests.push(record.manifest.clone());
            }
            for t in tags {
                let mut d = record.manifest.clone();
                let mut ann = BTreeMap::new();
                ann.insert(ANNOTATION_CONTAINERD_NAME.to_owned(), t.to_string());
                if let Some(tag) = t.tag() {
                    ann.insert(ANNOTATION_REF_NAME.to_owned(), tag.to_owned());
                    repositories.entry(t.familiar_name()).or_default().insert(
                        tag.to_owned(),
                        record
                            .layers
                            .last()
                            .map(|l| l.digest.hex().to_owned())
                            .unwrap_or_default(),
                    );
                }
                d.annotations = Some(ann);
                index.manifests.push(d);
            }
            docker.push(DockerArchiveEntry {
                config: format!("blobs/sha256/{}", record.id.hex()),
                repo_tags: Some(tags.iter().map(Reference::familiar_string).collect()),
                layers: record
                    .layers
                    .iter()
                    .map(|l| format!("blobs/sha256/{}", l.digest.hex()))
                    .collect(),
            });
        }

        let mut b = tar::Builder::new(writer);
        let io_err = |e: io::Error| invalid(format!("writing image archive: {e}"));
        for dir in ["blobs/", "blobs/sha256/"] {
            let mut h = header(tar::EntryType::Directory, 0, 0o755);
            b.append_data(&mut h, dir, io::empty()).map_err(io_err)?;
        }
        for d in &blobs {
            let info = self.content().info(d)?;
            let f = self.content().open_blob(d)?;
            let mut h = header(tar::EntryType::Regular, info.size, 0o444);
            b.append_data(&mut h, format!("blobs/sha256/{}", d.hex()), f)
                .map_err(io_err)?;
        }
        let json_err = |e: serde_json::Error| invalid(format!("serialising archive metadata: {e}"));
        let files: Vec<(&str, Vec<u8>)> = vec![
            ("oci-layout", br#"{"imageLayoutVersion":"1.0.0"}"#.to_vec()),
            ("index.json", serde_json::to_vec(&index).map_err(json_err)?),
            (
                "manifest.json",
                serde_json::to_vec(&docker).map_err(json_err)?,
            ),
            (
                "repositories",
                serde_json::to_vec(&repositories).map_err(json_err)?,
            ),
        ];
        for (name, data) in files {
            let mut h = header(tar::EntryType::Regular, data.len() as u64, 0o644);
            b.append_data(&mut h, name, &data[..]).map_err(io_err)?;
        }
        b.into_inner().map_err(io_err)?.flush().map_err(io_err)?;
        Ok(())
    }
}

fn push_loaded(out: &mut Vec<LoadedImage>, id: Digest, tags: Vec<Reference>) {
    match out.iter_mut().find(|l| l.id == id) {
        Some(l) => {
            for t in tags {
                if !l.tags.contains(&t) {
                    l.tags.push(t);
                }
            }
        }
        None => out.push(LoadedImage { id, tags }),
    }
}

/// A header with fixed owner and time, so that saving the same images
/// twice gives the same bytes.
fn header(kind: tar::EntryType, size: u64, mode: u32) -> tar::Header {
    let mut h = tar::Header::new_ustar();
    h.set_entry_type(kind);
    h.set_size(size);
    h.set_mode(mode);
    h.set_uid(0);
    h.set_gid(0);
    h.set_mtime(0);
    h
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn member_names_are_cleaned() {
        assert_eq!(
            clean_name(Path::new("./blobs/sha256/ab")).as_deref(),
            Some("blobs/sha256/ab")
        );
        assert_eq!(
            clean_name(Path::new("/manifest.json")).as_deref(),
            Some("manifest.json")
        );
        assert_eq!(clean_name(Path::new("a/../b")).as_deref(), Some("b"));
        assert_eq!(clean_name(Path::new("../x")), None);
    }
}
