//! Container documents on disk, IDs and names.
//!
//! One JSON document per container, `<data-root>/containers/<id>/config.v2.json`,
//! written as temp file + rename, so a crash of the daemon leaves the old or
//! the new document, never a torn one; with fsyncs of the file and the
//! directory ([`Durability::Durable`]) the same holds after a power loss.
//! Auto-removed (`--rm`) containers skip the fsyncs: they do not outlive
//! their process, and a power loss ends that anyway.

use std::io::Write;
use std::path::{Path, PathBuf};

use super::ContainerError;
use super::model::Container;

pub(crate) const DOC: &str = "config.v2.json";

pub(crate) fn io(path: &Path, e: std::io::Error) -> ContainerError {
    ContainerError::Io {
        path: path.to_owned(),
        source: e,
    }
}

/// How much of a write must survive.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Durability {
    /// A power loss keeps the old or the new version (fsyncs).
    Durable,
    /// Only a crash of the process is survived (no fsync): for state that
    /// a reboot makes moot (bundles in the exec root, `--rm` containers).
    UntilReboot,
}

impl Durability {
    /// Durable unless the container goes away with its process (`--rm`).
    pub(crate) fn of(c: &Container) -> Self {
        if c.options.auto_remove {
            Self::UntilReboot
        } else {
            Self::Durable
        }
    }
}

/// Writes `bytes` to `path` atomically: temp file + rename, plus fsyncs of
/// the file and the directory when `durability` asks for them.
pub(crate) fn write_atomic(
    path: &Path,
    bytes: &[u8],
    durability: Durability,
) -> Result<(), ContainerError> {
    let dir = path.parent().unwrap_or(Path::new("."));
    let name = path
        .file_name()
        .map(|n| n.to_string_lossy().into_owned())
        .unwrap_or_default();
    let tmp = dir.join(format!(".{name}.tmp-{}", std::process::id()));
    let write = || -> std::io::Result<()> {
        let mut f = fs_err::File::create(&tmp)?;
        f.write_all(bytes)?;
        if durability == Durability::Durable {
            f.sync_all()?;
        }
        fs_err::rename(&tmp, path)?;
        if durability == Durability::Durable {
            fs_err::File::open(dir)?.sync_all()?;
        }
        Ok(())
    };
    write().map_err(|e| {
        let _ = fs_err::remove_file(&tmp);
        io(path, e)
    })
}

/// Where container documents live.
#[derive(Debug, Clone)]
pub(crate) struct Store {
    root: PathBuf,
    /// fsyncs of `root` shared by concurrent removals.
    root_sync: std::sync::Arc<super::removal::GroupSync>,
}

impl Store {
    pub(crate) fn open(data_root: &Path) -> Result<Self, ContainerError> {
        let root = data_root.join("containers");
        fs_err::create_dir_all(&root).map_err(|e| io(&root, e))?;
        Ok(Self {
            root,
            root_sync: Default::default(),
        })
    }

    pub(crate) fn dir(&self, id: &str) -> PathBuf {
        self.root.join(id)
    }

    pub(crate) fn save(&self, c: &Container) -> Result<(), ContainerError> {
        let durability = Durability::of(c);
        let dir = self.dir(&c.id);
        if !dir.is_dir() {
            fs_err::create_dir_all(&dir).map_err(|e| io(&dir, e))?;
            // The new directory's entry must be durable before the
            // document in it is worth anything.
            if durability == Durability::Durable {
                sync_dir(&self.root)?;
            }
        }
        let bytes = serde_json::to_vec(c).map_err(|e| ContainerError::Internal {
            message: format!("cannot serialise container {}: {e}", c.id),
        })?;
        write_atomic(&dir.join(DOC), &bytes, durability)
    }

    /// Every stored container. A directory without a readable document (a
    /// crash during create, before the first write) is removed, and so are
    /// what a crash leaves of an interrupted write (`.config.v2.json.tmp-*`)
    /// or remove (`.removing-<id>`).
    pub(crate) fn load_all(&self) -> Result<Vec<Container>, ContainerError> {
        let mut out = Vec::new();
        let entries = fs_err::read_dir(&self.root).map_err(|e| io(&self.root, e))?;
        for entry in entries {
            let entry = entry.map_err(|e| io(&self.root, e))?;
            let dir = entry.path();
            if !dir.is_dir() {
                continue;
            }
            if entry.file_name().to_string_lossy().starts_with(REMOVING) {
                fs_err::remove_dir_all(&dir).map_err(|e| io(&dir, e))?;
                continue;
            }
            remove_temp_files(&dir)?;
            let doc = dir.join(DOC);
            match fs_err::read(&doc) {
                Ok(bytes) => match serde_json::from_slice::<Container>(&bytes) {
                    Ok(c) => out.push(c),
                    Err(e) => {
                        tracing::warn!(path = %doc.display(), error = %e, "skipping unreadable container document");
                    }
                },
                Err(e) if e.kind() == std::io::ErrorKind::NotFound => {
                    let _ = fs_err::remove_dir_all(&dir);
                }
                Err(e) => return Err(io(&doc, e)),
            }
        }
        Ok(out)
    }

    /// The step that removes a container: its directory is renamed out of
    /// the way (`.removing-<id>`, which [`Store::load_all`] skips and
    /// deletes), durably with `Durable` (an fsync of `containers/`
    /// shared with the removals at the same time). Returns the renamed
    /// directory for the caller to delete, `None` if there was none.
    pub(crate) fn detach(
        &self,
        id: &str,
        durability: Durability,
    ) -> Result<Option<PathBuf>, ContainerError> {
        let dir = self.dir(id);
        let doomed = self.root.join(format!("{REMOVING}{id}"));
        match fs_err::rename(&dir, &doomed) {
            Ok(()) => {}
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(None),
            Err(e) => return Err(io(&dir, e)),
        }
        if durability == Durability::Durable
            && let Err(e) = self.root_sync.sync(&self.root)
        {
            // Not known to be durable: the container stays (as far as
            // the rename back goes; a failed one is finished at the next
            // start, as a removal).
            let _ = fs_err::rename(&doomed, &dir);
            return Err(io(&self.root, e));
        }
        Ok(Some(doomed))
    }

    /// Removes a container's directory in one step: it is renamed out of
    /// the way (`.removing-<id>`, which [`Store::load_all`] skips and
    /// removes) before its files go, so a crash in the middle never
    /// leaves a container without its log, or a log without a container.
    pub(crate) fn remove(&self, id: &str, durability: Durability) -> Result<(), ContainerError> {
        let dir = self.dir(id);
        let doomed = self.root.join(format!("{REMOVING}{id}"));
        match fs_err::rename(&dir, &doomed) {
            Ok(()) => {}
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(()),
            Err(e) => return Err(io(&dir, e)),
        }
        if durability == Durability::Durable {
            sync_dir(&self.root)?;
        }
        match fs_err::remove_dir_all(&doomed) {
            Ok(()) => Ok(()),
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(()),
            Err(e) => Err(io(&doomed, e)),
        }
    }
}

/// Prefix of a container directory being removed.
const REMOVING: &str = ".removing-";

/// fsyncs a directory, so a rename or a new entry in it is durable.
fn sync_dir(dir: &Path) -> Result<(), ContainerError> {
    fs_err::File::open(dir)
        .and_then(|f| f.sync_all())
        .map_err(|e| io(dir, e))
}

/// Removes the temp files [`write_atomic`] leaves when a crash interrupts
/// it (`.<name>.tmp-<pid>`).
fn remove_temp_files(dir: &Path) -> Result<(), ContainerError> {
    for entry in fs_err::read_dir(dir).map_err(|e| io(dir, e))? {
        let entry = entry.map_err(|e| io(dir, e))?;
        let name = entry.file_name();
        let name = name.to_string_lossy();
        if name.starts_with('.') && name.contains(".tmp-") {
            let p = entry.path();
            fs_err::remove_file(&p).map_err(|e| io(&p, e))?;
        }
    }
    Ok(())
}

/// A new container ID: 32 random bytes as 64 hex digits.
pub(crate) fn new_id() -> Result<String, ContainerError> {
    use std::io::Read;
    let mut bytes = [0u8; 32];
    let path = Path::new("/dev/urandom");
    fs_err::File::open(path)
        .and_then(|mut f| f.read_exact(&mut bytes))
        .map_err(|e| io(path, e))?;
    Ok(bytes.iter().map(|b| format!("{b:02x}")).collect())
}

const ADJECTIVES: &[&str] = &[
    "admiring",
    "brave",
    "clever",
    "dreamy",
    "eager",
    "focused",
    "gallant",
    "happy",
    "jolly",
    "keen",
    "lucid",
    "modest",
    "nifty",
    "optimistic",
    "peaceful",
    "quirky",
    "relaxed",
    "serene",
    "tender",
    "upbeat",
    "vibrant",
    "wizardly",
    "xenodochial",
    "youthful",
    "zealous",
];

const SURNAMES: &[&str] = &[
    "agnesi",
    "babbage",
    "curie",
    "darwin",
    "euclid",
    "fermi",
    "galileo",
    "hopper",
    "hypatia",
    "johnson",
    "kepler",
    "lovelace",
    "meitner",
    "noether",
    "pasteur",
    "ritchie",
    "shannon",
    "tesla",
    "turing",
    "villani",
    "wozniak",
    "yalow",
    "zhukovsky",
];

/// A docker-style `<adjective>_<surname>` name derived from the ID; the
/// caller appends a number on a collision.
pub(crate) fn generate_name(id: &str) -> String {
    let n = u64::from_str_radix(id.get(..12).unwrap_or("0"), 16).unwrap_or(0);
    let adjective = ADJECTIVES[(n % ADJECTIVES.len() as u64) as usize];
    let surname = SURNAMES[((n / ADJECTIVES.len() as u64) % SURNAMES.len() as u64) as usize];
    format!("{adjective}_{surname}")
}

/// Docker's name rule: `[a-zA-Z0-9][a-zA-Z0-9_.-]+`.
pub(crate) fn valid_name(name: &str) -> bool {
    let mut chars = name.chars();
    matches!(chars.next(), Some(c) if c.is_ascii_alphanumeric())
        && name.len() >= 2
        && chars.all(|c| c.is_ascii_alphanumeric() || "_.-".contains(c))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ids_are_64_hex() {
        let a = new_id().unwrap();
        let b = new_id().unwrap();
        assert_eq!(a.len(), 64);
        assert!(a.chars().all(|c| c.is_ascii_hexdigit()));
        assert_ne!(a, b);
    }

    #[test]
    fn names() {
        let name = generate_name(&"ab".repeat(32));
        assert!(name.contains('_'), "{name}");
        assert!(valid_name(&name));
        assert!(valid_name("web-1.x"));
        assert!(!valid_name("-x"));
        assert!(!valid_name("a"));
        assert!(!valid_name("a/b"));
    }

    #[test]
    fn crash_leftovers_are_removed_at_load() {
        let tmp = tempfile::tempdir().unwrap();
        let store = Store::open(tmp.path()).unwrap();
        let root = tmp.path().join("containers");
        // An interrupted first write: a directory with only a temp file.
        let half = root.join("a".repeat(64));
        fs_err::create_dir_all(&half).unwrap();
        fs_err::write(half.join(".config.v2.json.tmp-1"), b"{").unwrap();
        // An interrupted remove.
        let removing = root.join(format!("{REMOVING}{}", "b".repeat(64)));
        fs_err::create_dir_all(&removing).unwrap();
        fs_err::write(removing.join(DOC), b"{}").unwrap();
        assert!(store.load_all().unwrap().is_empty());
        assert_eq!(fs_err::read_dir(&root).unwrap().count(), 0);
        // remove() of a missing container is fine and leaves nothing.
        store.remove(&"c".repeat(64), Durability::Durable).unwrap();
        assert_eq!(fs_err::read_dir(&root).unwrap().count(), 0);
    }

    #[test]
    fn atomic_write_replaces() {
        let tmp = tempfile::tempdir().unwrap();
        let p = tmp.path().join("doc.json");
        write_atomic(&p, b"one", Durability::Durable).unwrap();
        write_atomic(&p, b"two", Durability::UntilReboot).unwrap();
        assert_eq!(fs_err::read(&p).unwrap(), b"two");
        assert_eq!(fs_err::read_dir(tmp.path()).unwrap().count(), 1);
    }
}
