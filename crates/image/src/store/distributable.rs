//! Making an image pushable: registries (and docker) expect compressed
//! layers, but `commit`, `import` of a plain tar and `load` of an
//! uncompressed archive store layers as plain tars. The first push gzips
//! each such layer once, stores the compressed blob, writes a manifest
//! naming it and updates the image record, so every later push (and
//! `save`) sends the same digests.

use std::io::Read;

use flate2::Compression as Level;
use flate2::write::GzEncoder;

use super::{ImageRecord, ImageStore, Result};
use crate::Error;
use crate::content::ContentError;
use crate::digest::Digest;
use crate::fsutil::{FsError, atomic_write_json};
use crate::spec::{self, AnyManifest, Descriptor, ImageManifest};

/// What a push sends: the manifest (bytes as stored, so its digest is
/// stable), its config and layers.
#[derive(Debug, Clone)]
pub struct Distributable {
    /// The manifest's descriptor (media type, digest, size).
    pub manifest: Descriptor,
    /// The manifest's bytes.
    pub manifest_bytes: Vec<u8>,
    /// The config blob.
    pub config: Descriptor,
    /// The layer blobs, base first, all compressed.
    pub layers: Vec<Descriptor>,
}

fn is_uncompressed(media_type: &str) -> bool {
    media_type == spec::MEDIA_TYPE_OCI_LAYER
        || media_type == "application/vnd.docker.image.rootfs.diff.tar"
}

impl ImageStore {
    /// The manifest, config and compressed layers of image `id`, gzipping
    /// (once, for good) the layers stored uncompressed.
    pub fn distributable(&self, id: &Digest) -> Result<Distributable> {
        let _op = self.op();
        let mut record = self.record(id)?;
        if record.layers.iter().any(|l| is_uncompressed(&l.media_type)) {
            self.compress_layers(&mut record)?;
        }
        let bytes = self.content.read_blob(&record.manifest.digest)?;
        let mt = Some(record.manifest.media_type.as_str()).filter(|m| !m.is_empty());
        let manifest = match AnyManifest::parse(&bytes, mt) {
            Ok(AnyManifest::Image(m)) => *m,
            Ok(AnyManifest::Index(_)) => {
                return Err(Error::InvalidArgument {
                    message: format!(
                        "the manifest {} of image {} is a manifest list",
                        record.manifest.digest, record.id
                    ),
                });
            }
            Err(e) => {
                return Err(Error::InvalidArgument {
                    message: format!("manifest {}: {e}", record.manifest.digest),
                });
            }
        };
        Ok(Distributable {
            manifest: Descriptor::new(
                &record.manifest.media_type,
                record.manifest.digest.clone(),
                bytes.len() as u64,
            ),
            manifest_bytes: bytes,
            config: manifest.config,
            layers: manifest.layers,
        })
    }

    /// Replaces each uncompressed layer of `record` with a gzip blob (one
    /// another image already made for the same diff ID if there is one),
    /// writes a new OCI manifest and the record.
    fn compress_layers(&self, record: &mut ImageRecord) -> Result<()> {
        let others = self.records()?;
        for (i, layer) in record.layers.iter_mut().enumerate() {
            if !is_uncompressed(&layer.media_type) {
                continue;
            }
            let diff_id = record.diff_ids.get(i);
            let known = others.iter().find_map(|r| {
                r.diff_ids
                    .iter()
                    .position(|d| Some(d) == diff_id)
                    .and_then(|j| r.layers.get(j))
                    .filter(|l| {
                        l.media_type == spec::MEDIA_TYPE_OCI_LAYER_GZIP
                            && self.content.contains(&l.digest)
                    })
                    .cloned()
            });
            *layer = match known {
                Some(l) => l,
                None => self.gzip_blob(&layer.digest)?,
            };
        }
        let config_bytes = self.content.read_blob(&record.id)?;
        let old = self.content.read_blob(&record.manifest.digest)?;
        let config_media_type = match AnyManifest::parse(&old, None) {
            Ok(AnyManifest::Image(m)) => m.config.media_type,
            _ => spec::MEDIA_TYPE_OCI_CONFIG.to_owned(),
        };
        let manifest = ImageManifest {
            schema_version: 2,
            media_type: Some(spec::MEDIA_TYPE_OCI_MANIFEST.to_owned()),
            artifact_type: None,
            config: Descriptor::new(
                &config_media_type,
                record.id.clone(),
                config_bytes.len() as u64,
            ),
            layers: record.layers.clone(),
            subject: None,
            annotations: None,
            extra: Default::default(),
        };
        let bytes = serde_json::to_vec(&manifest).map_err(|e| Error::InvalidArgument {
            message: format!("serialising image manifest: {e}"),
        })?;
        let digest = self.content.write_blob(&bytes, None)?;
        record.manifest =
            Descriptor::new(spec::MEDIA_TYPE_OCI_MANIFEST, digest, bytes.len() as u64);
        atomic_write_json(&self.record_path(&record.id), &*record)?;
        Ok(())
    }

    /// Gzips blob `digest` into a new blob.
    fn gzip_blob(&self, digest: &Digest) -> Result<Descriptor> {
        let mut src = self.content.open_blob(digest)?;
        let w = self.content.writer()?;
        let mut gz = GzEncoder::new(w, Level::default());
        let mut buf = vec![0u8; 256 * 1024];
        let path = self.content.blob_path(digest);
        loop {
            let n = src
                .read(&mut buf)
                .map_err(|e| FsError::new("read", &path, e))?;
            if n == 0 {
                break;
            }
            std::io::Write::write_all(&mut gz, &buf[..n])
                .map_err(|e| FsError::new("write compressed copy of", &path, e))?;
        }
        let w = gz
            .finish()
            .map_err(|e| FsError::new("write compressed copy of", &path, e))?;
        let size = w.size();
        let d = match w.commit(None, None) {
            Ok(d) | Err(ContentError::AlreadyExists { digest: d }) => d,
            Err(e) => return Err(e.into()),
        };
        Ok(Descriptor::new(spec::MEDIA_TYPE_OCI_LAYER_GZIP, d, size))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::store::ImportOptions;
    use crate::store::tests::one_file_tar;

    #[test]
    fn uncompressed_layers_are_gzipped_once_for_good() {
        let dir = tempfile::tempdir().unwrap();
        let store = ImageStore::open(dir.path()).unwrap();
        let id = store
            .import_rootfs_tar(one_file_tar().as_slice(), &ImportOptions::default())
            .unwrap();
        let before = store.record(&id).unwrap();
        assert_eq!(before.layers[0].media_type, spec::MEDIA_TYPE_OCI_LAYER);
        let d = store.distributable(&id).unwrap();
        assert_eq!(d.layers.len(), 1);
        assert_eq!(d.layers[0].media_type, spec::MEDIA_TYPE_OCI_LAYER_GZIP);
        assert_eq!(d.config.digest, id);
        assert_eq!(d.manifest.digest, Digest::sha256_of(&d.manifest_bytes));
        let after = store.record(&id).unwrap();
        assert_eq!(after.layers, d.layers);
        assert_eq!(after.manifest.digest, d.manifest.digest);
        assert_eq!(after.diff_ids, before.diff_ids);
        // The same digests every time.
        let again = store.distributable(&id).unwrap();
        assert_eq!(again.manifest.digest, d.manifest.digest);
        assert_eq!(again.layers, d.layers);
        // Nothing the record names is lost at the next start.
        store.gc().unwrap();
        assert!(store.content().contains(&d.layers[0].digest));
        assert!(store.content().contains(&d.manifest.digest));
    }
}
