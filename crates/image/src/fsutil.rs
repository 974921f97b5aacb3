//! Small durable-write helpers shared by the stores: the write order is
//! temp file -> fsync -> rename -> fsync the directory, so that after a
//! crash a document is either the old one or the new one, never a torn
//! mix (containerd `content/local/writer.go`, and rename(2)'s atomicity).

use std::io::{self, Write};
use std::path::{Path, PathBuf};

/// An I/O failure on a named path.
#[derive(Debug, thiserror::Error)]
#[error("{op} `{path}`: {source}")]
pub struct FsError {
    /// What we were doing.
    pub op: &'static str,
    /// The path it was done to.
    pub path: PathBuf,
    /// What the kernel said.
    pub source: io::Error,
}

impl FsError {
    pub(crate) fn new(op: &'static str, path: &Path, source: io::Error) -> Self {
        Self {
            op,
            path: path.to_owned(),
            source,
        }
    }
}

/// Prefix of the temp files of [`atomic_write`].
const TEMP_PREFIX: &str = ".tmp-";

/// fsyncs a directory so that a rename or unlink inside it is durable.
pub(crate) fn fsync_dir(dir: &Path) -> Result<(), FsError> {
    let f = fs_err::File::open(dir).map_err(|e| FsError::new("open directory", dir, e))?;
    f.sync_all()
        .map_err(|e| FsError::new("fsync directory", dir, e))
}

/// Writes `data` to `path` atomically and durably.
pub(crate) fn atomic_write(path: &Path, data: &[u8]) -> Result<(), FsError> {
    let dir = path
        .parent()
        .ok_or_else(|| FsError::new("write", path, io::Error::other("no parent directory")))?;
    let mut tmp = tempfile::Builder::new()
        .prefix(TEMP_PREFIX)
        .tempfile_in(dir)
        .map_err(|e| FsError::new("create temp file in", dir, e))?;
    tmp.write_all(data)
        .map_err(|e| FsError::new("write", tmp.path(), e))?;
    tmp.as_file()
        .sync_all()
        .map_err(|e| FsError::new("fsync", path, e))?;
    tmp.persist(path)
        .map_err(|e| FsError::new("rename into place", path, e.error))?;
    fsync_dir(dir)
}

/// Removes temp files [`atomic_write`] left in `dir` by a crash (never
/// call it while a write may be in flight).
pub(crate) fn remove_stale_temp_files(dir: &Path) -> Result<usize, FsError> {
    let mut n = 0;
    let rd = match fs_err::read_dir(dir) {
        Ok(rd) => rd,
        Err(e) if e.kind() == io::ErrorKind::NotFound => return Ok(0),
        Err(e) => return Err(FsError::new("read directory", dir, e)),
    };
    for entry in rd {
        let entry = entry.map_err(|e| FsError::new("read directory", dir, e))?;
        if entry.file_name().to_string_lossy().starts_with(TEMP_PREFIX) {
            let p = entry.path();
            fs_err::remove_file(&p).map_err(|e| FsError::new("remove stale temp file", &p, e))?;
            n += 1;
        }
    }
    Ok(n)
}

/// Serialises `value` as pretty JSON and writes it with [`atomic_write`].
pub(crate) fn atomic_write_json<T: serde::Serialize>(
    path: &Path,
    value: &T,
) -> Result<(), FsError> {
    let data = serde_json::to_vec_pretty(value)
        .map_err(|e| FsError::new("serialise", path, io::Error::other(e)))?;
    atomic_write(path, &data)
}

/// Reads a JSON document, `Ok(None)` when it does not exist.
pub(crate) fn read_json<T: serde::de::DeserializeOwned>(path: &Path) -> Result<Option<T>, FsError> {
    match fs_err::read(path) {
        Ok(b) => serde_json::from_slice(&b).map(Some).map_err(|e| {
            FsError::new("parse", path, io::Error::new(io::ErrorKind::InvalidData, e))
        }),
        Err(e) if e.kind() == io::ErrorKind::NotFound => Ok(None),
        Err(e) => Err(FsError::new("read", path, e)),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn atomic_json_round_trip_and_missing() {
        let dir = tempfile::tempdir().unwrap();
        let p = dir.path().join("doc.json");
        assert_eq!(read_json::<Vec<u32>>(&p).unwrap(), None);
        atomic_write_json(&p, &vec![1u32, 2]).unwrap();
        atomic_write_json(&p, &vec![3u32]).unwrap();
        assert_eq!(read_json::<Vec<u32>>(&p).unwrap(), Some(vec![3]));
        // No temp files are left beside the document.
        assert_eq!(fs_err::read_dir(dir.path()).unwrap().count(), 1);
        // A crash would leave one; start-up removes it.
        fs_err::write(dir.path().join(".tmp-crashed"), b"{").unwrap();
        assert_eq!(remove_stale_temp_files(dir.path()).unwrap(), 1);
        assert_eq!(fs_err::read_dir(dir.path()).unwrap().count(), 1);
        fs_err::write(&p, b"{not json").unwrap();
        let err = read_json::<Vec<u32>>(&p).unwrap_err();
        assert!(err.to_string().contains("doc.json"), "{err}");
    }
}
