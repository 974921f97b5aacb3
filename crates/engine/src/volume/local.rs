//! The `local` driver's options (docker's `-o type=... -o o=... -o
//! device=... -o size=...`) and the mounts they ask for.
//!
//! - no options: the volume is the directory `_data`, nothing is mounted;
//! - `type=tmpfs,device=tmpfs,o=size=64m,mode=1777`: a tmpfs on `_data`;
//! - `type=none,o=bind,device=/host/dir`: `/host/dir` bound on `_data`;
//! - any other `type` and `device` (`ext4` + `/dev/sdb1`, `nfs` +
//!   `:/export` with `o=addr=...`): mount(2) of that file system.
//!
//! As dockerd: `device` and `type` need each other, `o` needs both, and
//! `size` asks for a project quota, which berth does not support, so any
//! non-zero `size` is refused with dockerd's message.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use nix::mount::{MntFlags, MsFlags};

/// The options dockerd's local driver takes.
const VALID: [&str; 4] = ["type", "o", "device", "size"];

/// Checks `opts` as dockerd's `validateOpts` does; the message is
/// dockerd's (without the `create <name>: ` prefix).
pub(crate) fn validate(opts: &BTreeMap<String, String>) -> Result<(), String> {
    if let Some(bad) = opts.keys().find(|k| !VALID.contains(&k.as_str())) {
        return Err(format!("invalid option: {bad:?}"));
    }
    if let Some(size) = opts.get("size") {
        let bytes = crate::container::security::ram_in_bytes(size)?;
        if bytes > 0 {
            return Err("quota size requested but no quota support".to_owned());
        }
    }
    // dockerd's `mandatoryOpts`, checked in a fixed order.
    let needs: [(&str, &[&str]); 3] = [
        ("device", &["type"]),
        ("o", &["device", "type"]),
        ("type", &["device"]),
    ];
    for (opt, required) in needs {
        if opts.contains_key(opt)
            && let Some(missing) = required.iter().find(|r| !opts.contains_key(**r))
        {
            return Err(format!("missing required option: {missing:?}"));
        }
    }
    Ok(())
}

/// Whether the volume's `_data` is a mount of its own (dockerd's
/// `needsMount`): a `device` or a `type` was given.
pub(crate) fn needs_mount(opts: &BTreeMap<String, String>) -> bool {
    ["device", "type"]
        .iter()
        .any(|k| opts.get(*k).is_some_and(|v| !v.is_empty()))
}

/// Mounts what `opts` describe on `target` (the volume's `_data`). The
/// error reads as dockerd's (`mount tmpfs:/.../_data, flags: 0x..., data:
/// ...: invalid argument`), with a `password=` in the options masked.
pub(crate) fn mount(opts: &BTreeMap<String, String>, target: &Path) -> Result<(), String> {
    let device = opts.get("device").map(String::as_str).unwrap_or_default();
    if device.is_empty() {
        return Err("missing device in volume options".to_owned());
    }
    let fstype = opts.get("type").map(String::as_str).unwrap_or_default();
    let options = opts.get("o").map(String::as_str).unwrap_or_default();
    let options = resolve_address(fstype, options);
    let (flags, data) = parse_options(&options);
    mount_with_flags(device, target, fstype, flags, &data).map_err(|e| mask_password(&e, &options))
}

/// Unmounts everything stacked on `target` (lazily, as moby's
/// `mount.Unmount`); not being mounted is not an error.
pub(crate) fn unmount(target: &Path) -> Result<(), String> {
    // Bounded: a mount that keeps reappearing is somebody else's doing.
    for _ in 0..16 {
        match nix::mount::umount2(target, MntFlags::MNT_DETACH) {
            Ok(()) => continue,
            Err(nix::errno::Errno::EINVAL) | Err(nix::errno::Errno::ENOENT) => return Ok(()),
            Err(e) => return Err(format!("unmount {}: {}", target.display(), go_errno(e))),
        }
    }
    Err(format!(
        "unmount {}: still mounted after 16 unmounts",
        target.display()
    ))
}

/// Propagation flags: applied by a second mount(2) call.
const PROPAGATION: MsFlags = MsFlags::MS_SHARED
    .union(MsFlags::MS_PRIVATE)
    .union(MsFlags::MS_SLAVE)
    .union(MsFlags::MS_UNBINDABLE);

/// moby's `parseOptions`: mount flags out of a comma-separated `o=`, and
/// what is left as the file system's data (`size=64m,mode=1777`).
pub(crate) fn parse_options(options: &str) -> (MsFlags, String) {
    let mut flags = MsFlags::empty();
    let mut data = Vec::new();
    for opt in options.split(',').filter(|o| !o.is_empty()) {
        // (clear, flag)
        let known: Option<(bool, MsFlags)> = match opt {
            "ro" => Some((false, MsFlags::MS_RDONLY)),
            "rw" => Some((true, MsFlags::MS_RDONLY)),
            "suid" => Some((true, MsFlags::MS_NOSUID)),
            "nosuid" => Some((false, MsFlags::MS_NOSUID)),
            "dev" => Some((true, MsFlags::MS_NODEV)),
            "nodev" => Some((false, MsFlags::MS_NODEV)),
            "exec" => Some((true, MsFlags::MS_NOEXEC)),
            "noexec" => Some((false, MsFlags::MS_NOEXEC)),
            "sync" => Some((false, MsFlags::MS_SYNCHRONOUS)),
            "async" => Some((true, MsFlags::MS_SYNCHRONOUS)),
            "dirsync" => Some((false, MsFlags::MS_DIRSYNC)),
            "remount" => Some((false, MsFlags::MS_REMOUNT)),
            "mand" => Some((false, MsFlags::MS_MANDLOCK)),
            "nomand" => Some((true, MsFlags::MS_MANDLOCK)),
            "atime" => Some((true, MsFlags::MS_NOATIME)),
            "noatime" => Some((false, MsFlags::MS_NOATIME)),
            "diratime" => Some((true, MsFlags::MS_NODIRATIME)),
            "nodiratime" => Some((false, MsFlags::MS_NODIRATIME)),
            "bind" => Some((false, MsFlags::MS_BIND)),
            "rbind" => Some((false, MsFlags::MS_BIND | MsFlags::MS_REC)),
            "unbindable" => Some((false, MsFlags::MS_UNBINDABLE)),
            "runbindable" => Some((false, MsFlags::MS_UNBINDABLE | MsFlags::MS_REC)),
            "private" => Some((false, MsFlags::MS_PRIVATE)),
            "rprivate" => Some((false, MsFlags::MS_PRIVATE | MsFlags::MS_REC)),
            "shared" => Some((false, MsFlags::MS_SHARED)),
            "rshared" => Some((false, MsFlags::MS_SHARED | MsFlags::MS_REC)),
            "slave" => Some((false, MsFlags::MS_SLAVE)),
            "rslave" => Some((false, MsFlags::MS_SLAVE | MsFlags::MS_REC)),
            "relatime" => Some((false, MsFlags::MS_RELATIME)),
            "norelatime" => Some((true, MsFlags::MS_RELATIME)),
            "strictatime" => Some((false, MsFlags::MS_STRICTATIME)),
            "nostrictatime" => Some((true, MsFlags::MS_STRICTATIME)),
            _ => None,
        };
        match known {
            Some((true, f)) => flags.remove(f),
            Some((false, f)) => flags.insert(f),
            None => data.push(opt),
        }
    }
    (flags, data.join(","))
}

/// moby's `mount`: the mount itself without propagation flags, then the
/// propagation, then a read-only remount of a bind (a bind ignores
/// `MS_RDONLY` on its first call).
fn mount_with_flags(
    device: &str,
    target: &Path,
    fstype: &str,
    flags: MsFlags,
    data: &str,
) -> Result<(), String> {
    let fail = |flags: MsFlags, data: &str, source: &str, e: nix::errno::Errno| {
        let mut out = String::from("mount ");
        if source.is_empty() {
            out.push_str(&target.display().to_string());
        } else {
            out.push_str(&format!("{source}:{}", target.display()));
        }
        if !flags.is_empty() {
            out.push_str(&format!(", flags: {:#x}", flags.bits()));
        }
        if !data.is_empty() {
            out.push_str(&format!(", data: {data}"));
        }
        out.push_str(&format!(": {}", go_errno(e)));
        out
    };
    let base = flags.difference(PROPAGATION);
    let data_arg = (!data.is_empty()).then_some(data);
    nix::mount::mount(Some(device), target, Some(fstype), base, data_arg)
        .map_err(|e| fail(base, data, device, e))?;
    let undo = |message: String| {
        let _ = nix::mount::umount2(target, MntFlags::MNT_DETACH);
        message
    };
    let propagation = flags.intersection(PROPAGATION | MsFlags::MS_REC);
    if flags.intersects(PROPAGATION) {
        nix::mount::mount(
            None::<&str>,
            target,
            None::<&str>,
            propagation,
            None::<&str>,
        )
        .map_err(|e| undo(fail(propagation, "", "", e)))?;
    }
    let bind_ro = MsFlags::MS_BIND | MsFlags::MS_RDONLY;
    if base.contains(bind_ro) {
        let remount = base | MsFlags::MS_REMOUNT;
        nix::mount::mount(None::<&str>, target, None::<&str>, remount, None::<&str>)
            .map_err(|e| undo(fail(remount, "", "", e)))?;
    }
    Ok(())
}

/// For `nfs` and `cifs`, a host name in `addr=` becomes an address, as
/// dockerd does (the kernel wants an IP).
fn resolve_address(fstype: &str, options: &str) -> String {
    if !matches!(fstype, "nfs" | "nfs4" | "cifs") {
        return options.to_owned();
    }
    let parts: Vec<String> = options
        .split(',')
        .map(|opt| match opt.strip_prefix("addr=") {
            Some(host) if host.parse::<std::net::IpAddr>().is_err() => {
                use std::net::ToSocketAddrs;
                match (host, 0).to_socket_addrs().ok().and_then(|mut a| a.next()) {
                    Some(addr) => format!("addr={}", addr.ip()),
                    None => opt.to_owned(),
                }
            }
            _ => opt.to_owned(),
        })
        .collect();
    parts.join(",")
}

/// Replaces the value of `password=` in `message` with `********`.
fn mask_password(message: &str, options: &str) -> String {
    match options
        .split(',')
        .find_map(|o| o.strip_prefix("password="))
        .filter(|p| !p.is_empty())
    {
        Some(p) => message.replace(&format!("password={p}"), "password=********"),
        None => message.to_owned(),
    }
}

/// An errno as Go prints it: `no such file or directory`.
fn go_errno(e: nix::errno::Errno) -> String {
    let desc = e.desc();
    let mut chars = desc.chars();
    match chars.next() {
        Some(first) => first.to_lowercase().chain(chars).collect(),
        None => desc.to_owned(),
    }
}

/// Mount points at or below `dir`, from `/proc/self/mountinfo`, deepest
/// first (the order to unmount them in).
pub(crate) fn mounts_under(dir: &Path) -> Vec<PathBuf> {
    let Ok(text) = fs_err::read_to_string("/proc/self/mountinfo") else {
        return Vec::new();
    };
    let mut out: Vec<PathBuf> = text
        .lines()
        .filter_map(|line| line.split(' ').nth(4))
        .map(|mp| PathBuf::from(unescape_octal(mp)))
        .filter(|mp| mp.starts_with(dir))
        .collect();
    out.sort_by_key(|p| std::cmp::Reverse(p.components().count()));
    out.dedup();
    out
}

/// mountinfo escapes space, tab, newline and backslash as `\NNN` octal.
fn unescape_octal(s: &str) -> String {
    let bytes = s.as_bytes();
    let mut out = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while i < bytes.len() {
        if let [b'\\', a @ b'0'..=b'3', b @ b'0'..=b'7', c @ b'0'..=b'7', ..] = bytes[i..] {
            out.push((a - b'0') * 64 + (b - b'0') * 8 + (c - b'0'));
            i += 4;
        } else {
            out.push(bytes[i]);
            i += 1;
        }
    }
    String::from_utf8_lossy(&out).into_owned()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn opts(pairs: &[(&str, &str)]) -> BTreeMap<String, String> {
        pairs
            .iter()
            .map(|(k, v)| ((*k).to_owned(), (*v).to_owned()))
            .collect()
    }

    #[test]
    fn validation_follows_dockerd() {
        assert_eq!(validate(&opts(&[])), Ok(()));
        assert_eq!(
            validate(&opts(&[("foo", "bar")])),
            Err("invalid option: \"foo\"".to_owned())
        );
        assert_eq!(
            validate(&opts(&[("type", "tmpfs")])),
            Err("missing required option: \"device\"".to_owned())
        );
        assert_eq!(
            validate(&opts(&[("device", "/x")])),
            Err("missing required option: \"type\"".to_owned())
        );
        assert_eq!(
            validate(&opts(&[("o", "bind")])),
            Err("missing required option: \"device\"".to_owned())
        );
        assert_eq!(
            validate(&opts(&[
                ("type", "tmpfs"),
                ("device", "tmpfs"),
                ("o", "size=1m")
            ])),
            Ok(())
        );
        assert_eq!(
            validate(&opts(&[("size", "10m")])),
            Err("quota size requested but no quota support".to_owned())
        );
        assert_eq!(
            validate(&opts(&[("size", "lots")])),
            Err("invalid size: 'lots'".to_owned())
        );
        assert_eq!(validate(&opts(&[("size", "0")])), Ok(()));
    }

    #[test]
    fn needs_mount_when_a_type_or_device_is_set() {
        assert!(!needs_mount(&opts(&[])));
        assert!(!needs_mount(&opts(&[("size", "0")])));
        assert!(needs_mount(&opts(&[
            ("type", "tmpfs"),
            ("device", "tmpfs")
        ])));
        assert!(needs_mount(&opts(&[("type", ""), ("device", "/x")])));
    }

    #[test]
    fn options_split_into_flags_and_data() {
        let (f, d) = parse_options("size=64m,ro,uid=1000,noexec");
        assert_eq!(f, MsFlags::MS_RDONLY | MsFlags::MS_NOEXEC);
        assert_eq!(d, "size=64m,uid=1000");
        let (f, d) = parse_options("bind,ro,rw,rshared");
        assert_eq!(f, MsFlags::MS_BIND | MsFlags::MS_SHARED | MsFlags::MS_REC);
        assert_eq!(d, "");
        let (f, d) = parse_options("");
        assert!(f.is_empty());
        assert!(d.is_empty());
    }

    #[test]
    fn passwords_are_masked() {
        assert_eq!(
            mask_password(
                "mount //h/s: data: user=a,password=hunter2: denied",
                "user=a,password=hunter2"
            ),
            "mount //h/s: data: user=a,password=********: denied"
        );
        assert_eq!(mask_password("x", "user=a"), "x");
    }

    #[test]
    fn errno_reads_as_go() {
        assert_eq!(
            go_errno(nix::errno::Errno::ENOENT),
            "no such file or directory"
        );
    }

    #[test]
    fn octal_escapes() {
        assert_eq!(unescape_octal("/a\\040b"), "/a b");
    }
}
