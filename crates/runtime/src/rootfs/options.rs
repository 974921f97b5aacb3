//! Parsing of OCI mount `options` into `mount(2)` flags, propagation changes
//! and filesystem data.
//!
//! The table follows runc 1.1 (`libcontainer/specconv/spec_linux.go`,
//! `parseMountOptions`): an option either sets or clears one `MS_*` flag,
//! names a propagation change that needs its own `mount(2)` call after the
//! mount exists, is a runc extension (`tmpcopyup`), or is filesystem data that
//! goes to the kernel untouched (`size=65536k`, `mode=755`, `newinstance`).

use nix::mount::MsFlags;

/// The parsed form of one `mounts[i].options` list.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct MountOptions {
    /// Flags for the first `mount(2)` call (and the bind remount).
    pub flags: MsFlags,
    /// Propagation changes, in the order given, each applied with its own
    /// `mount(2)` call once the mount exists (the kernel refuses to combine
    /// them with anything else).
    pub propagation: Vec<MsFlags>,
    /// Options the kernel does not know as flags, joined with `,` as the
    /// `data` argument.
    pub data: Vec<String>,
    /// runc's `tmpcopyup` extension: copy the shadowed directory's contents
    /// into a freshly mounted tmpfs.
    pub tmpcopyup: bool,
}

impl Default for MountOptions {
    fn default() -> Self {
        Self {
            flags: MsFlags::empty(),
            propagation: Vec::new(),
            data: Vec::new(),
            tmpcopyup: false,
        }
    }
}

/// What one option does to the flag word.
enum Effect {
    Set(MsFlags),
    Clear(MsFlags),
}

/// Options that set or clear an `MS_*` flag (runc's `flags` map).
fn flag_effect(option: &str) -> Option<Effect> {
    use Effect::{Clear, Set};
    Some(match option {
        "defaults" => Set(MsFlags::empty()),
        "ro" => Set(MsFlags::MS_RDONLY),
        "rw" => Clear(MsFlags::MS_RDONLY),
        "nosuid" => Set(MsFlags::MS_NOSUID),
        "suid" => Clear(MsFlags::MS_NOSUID),
        "nodev" => Set(MsFlags::MS_NODEV),
        "dev" => Clear(MsFlags::MS_NODEV),
        "noexec" => Set(MsFlags::MS_NOEXEC),
        "exec" => Clear(MsFlags::MS_NOEXEC),
        "sync" => Set(MsFlags::MS_SYNCHRONOUS),
        "async" => Clear(MsFlags::MS_SYNCHRONOUS),
        "dirsync" => Set(MsFlags::MS_DIRSYNC),
        "remount" => Set(MsFlags::MS_REMOUNT),
        "mand" => Set(MsFlags::MS_MANDLOCK),
        "nomand" => Clear(MsFlags::MS_MANDLOCK),
        "atime" => Clear(MsFlags::MS_NOATIME),
        "noatime" => Set(MsFlags::MS_NOATIME),
        "diratime" => Clear(MsFlags::MS_NODIRATIME),
        "nodiratime" => Set(MsFlags::MS_NODIRATIME),
        "relatime" => Set(MsFlags::MS_RELATIME),
        "norelatime" => Clear(MsFlags::MS_RELATIME),
        "strictatime" => Set(MsFlags::MS_STRICTATIME),
        "nostrictatime" => Clear(MsFlags::MS_STRICTATIME),
        "lazytime" => Set(MsFlags::MS_LAZYTIME),
        "nolazytime" => Clear(MsFlags::MS_LAZYTIME),
        "iversion" => Set(MsFlags::MS_I_VERSION),
        "noiversion" => Clear(MsFlags::MS_I_VERSION),
        "silent" => Set(MsFlags::MS_SILENT),
        "loud" => Clear(MsFlags::MS_SILENT),
        "bind" => Set(MsFlags::MS_BIND),
        "rbind" => Set(MsFlags::MS_BIND.union(MsFlags::MS_REC)),
        _ => return None,
    })
}

/// Maps a propagation keyword (as used by both mount options and
/// `linux.rootfsPropagation`) to its `mount(2)` flags.
pub fn propagation_flags(option: &str) -> Option<MsFlags> {
    Some(match option {
        "private" => MsFlags::MS_PRIVATE,
        "rprivate" => MsFlags::MS_PRIVATE | MsFlags::MS_REC,
        "shared" => MsFlags::MS_SHARED,
        "rshared" => MsFlags::MS_SHARED | MsFlags::MS_REC,
        "slave" => MsFlags::MS_SLAVE,
        "rslave" => MsFlags::MS_SLAVE | MsFlags::MS_REC,
        "unbindable" => MsFlags::MS_UNBINDABLE,
        "runbindable" => MsFlags::MS_UNBINDABLE | MsFlags::MS_REC,
        _ => return None,
    })
}

impl MountOptions {
    /// Parses an OCI options list. Never fails: anything unknown is data,
    /// as in runc, and the kernel is the judge of it.
    pub fn parse<S: AsRef<str>>(options: &[S]) -> Self {
        let mut parsed = Self::default();
        for option in options {
            let option = option.as_ref();
            if let Some(effect) = flag_effect(option) {
                match effect {
                    Effect::Set(f) => parsed.flags.insert(f),
                    Effect::Clear(f) => parsed.flags.remove(f),
                }
            } else if let Some(p) = propagation_flags(option) {
                parsed.propagation.push(p);
            } else if option == "tmpcopyup" {
                parsed.tmpcopyup = true;
            } else if !option.is_empty() {
                parsed.data.push(option.to_owned());
            }
        }
        parsed
    }

    /// Whether this is a bind mount (`bind` or `rbind` among the options).
    pub fn is_bind(&self) -> bool {
        self.flags.contains(MsFlags::MS_BIND)
    }

    /// The `data` argument for `mount(2)`, `None` when there is none.
    pub fn data_string(&self) -> Option<String> {
        (!self.data.is_empty()).then(|| self.data.join(","))
    }

    /// Whether a `mode=` option is present (we then leave the tmpfs root's
    /// mode to the kernel rather than copying the shadowed directory's).
    pub fn has_mode(&self) -> bool {
        self.data.iter().any(|d| d.starts_with("mode="))
    }

    /// Flags that only a remount can apply to a bind mount: the kernel
    /// ignores everything but `MS_BIND | MS_REC` on the first `mount(2)`
    /// (runc: `m.Flags &^ (MS_REC|MS_REMOUNT|MS_BIND) != 0`).
    pub fn bind_remount_flags(&self) -> MsFlags {
        self.flags - (MsFlags::MS_REC | MsFlags::MS_REMOUNT | MsFlags::MS_BIND)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn flags_set_and_clear_in_order() {
        let o = MountOptions::parse(&["ro", "nosuid", "rw", "nodev", "exec", "noexec"]);
        assert_eq!(
            o.flags,
            MsFlags::MS_NOSUID | MsFlags::MS_NODEV | MsFlags::MS_NOEXEC
        );
        assert!(o.data.is_empty());
        assert!(o.propagation.is_empty());
    }

    #[test]
    fn data_is_passed_through() {
        let o = MountOptions::parse(&["nosuid", "strictatime", "mode=755", "size=65536k"]);
        assert_eq!(o.flags, MsFlags::MS_NOSUID | MsFlags::MS_STRICTATIME);
        assert_eq!(o.data_string().as_deref(), Some("mode=755,size=65536k"));
        assert!(o.has_mode());
        let devpts = MountOptions::parse(&["newinstance", "ptmxmode=0666", "mode=0620", "gid=5"]);
        assert_eq!(
            devpts.data_string().as_deref(),
            Some("newinstance,ptmxmode=0666,mode=0620,gid=5")
        );
        assert_eq!(MountOptions::parse::<&str>(&[]).data_string(), None);
    }

    #[test]
    fn bind_and_rbind() {
        let b = MountOptions::parse(&["bind", "ro"]);
        assert!(b.is_bind());
        assert!(!b.flags.contains(MsFlags::MS_REC));
        assert_eq!(b.bind_remount_flags(), MsFlags::MS_RDONLY);
        let r = MountOptions::parse(&["rbind"]);
        assert!(r.is_bind());
        assert!(r.flags.contains(MsFlags::MS_REC));
        assert!(r.bind_remount_flags().is_empty());
        assert!(!MountOptions::parse(&["nosuid"]).is_bind());
    }

    #[test]
    fn propagation_is_collected_in_order() {
        let o = MountOptions::parse(&["rbind", "rprivate", "shared", "runbindable"]);
        assert_eq!(
            o.propagation,
            vec![
                MsFlags::MS_PRIVATE | MsFlags::MS_REC,
                MsFlags::MS_SHARED,
                MsFlags::MS_UNBINDABLE | MsFlags::MS_REC
            ]
        );
        assert_eq!(
            propagation_flags("rslave"),
            Some(MsFlags::MS_SLAVE | MsFlags::MS_REC)
        );
        assert_eq!(propagation_flags("bogus"), None);
    }

    #[test]
    fn atime_family() {
        let o = MountOptions::parse(&["noatime", "nodiratime", "relatime", "strictatime"]);
        assert!(
            o.flags
                .contains(MsFlags::MS_NOATIME | MsFlags::MS_NODIRATIME)
        );
        let o = MountOptions::parse(&["noatime", "atime", "nodiratime", "diratime"]);
        assert!(o.flags.is_empty());
        let o = MountOptions::parse(&["relatime", "norelatime", "strictatime", "nostrictatime"]);
        assert!(o.flags.is_empty());
    }

    #[test]
    fn misc_flags_and_extensions() {
        let o = MountOptions::parse(&["sync", "dirsync", "mand", "remount", "tmpcopyup"]);
        assert_eq!(
            o.flags,
            MsFlags::MS_SYNCHRONOUS
                | MsFlags::MS_DIRSYNC
                | MsFlags::MS_MANDLOCK
                | MsFlags::MS_REMOUNT
        );
        assert!(o.tmpcopyup);
        let o = MountOptions::parse(&["sync", "async", "mand", "nomand", "defaults"]);
        assert!(o.flags.is_empty());
        assert!(o.data.is_empty());
    }
}
