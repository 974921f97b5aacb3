//! Giving back the resident pages of code a long-lived process no longer
//! runs.
//!
//! `berth-shim` runs a lot of code once (the runtime creating the
//! container: spec parsing, seccomp compilation, cgroups, namespaces) and
//! then only its small event loop for as long as the container lives. The
//! text pages touched during creation stay mapped and count in its RSS,
//! though it will rarely run them again. Dropping the page-table entries of
//! its code (and read-only data) mappings lets the RSS settle at what the
//! loop actually uses.

use crate::{Result, SysError};

/// The read-only file mappings of this process whose resident pages all
/// come from the file: `r-xp` (code) and `r--p` (read-only data) entries of
/// `/proc/self/smaps` with an inode and `Anonymous: 0 kB`. A read-only
/// mapping with anonymous pages holds data written before it was made
/// read-only (RELRO: relocated pointers); dropping those would refault the
/// unrelocated bytes from the file, so such mappings are left alone.
fn droppable_mappings(smaps: &str) -> Vec<(usize, usize)> {
    let mut out = Vec::new();
    // The mapping whose fields are being read, if it qualifies so far.
    let mut current: Option<(usize, usize)> = None;
    for line in smaps.lines() {
        if let Some(rest) = line.strip_prefix("Anonymous:") {
            let anon_kib = rest
                .split_ascii_whitespace()
                .next()
                .and_then(|v| v.parse::<u64>().ok());
            if let (Some(m), Some(0)) = (current.take(), anon_kib) {
                out.push(m);
            }
            continue;
        }
        let mut fields = line.split_ascii_whitespace();
        let (Some(range), Some(perms), Some(_off), Some(_dev), Some(inode)) = (
            fields.next(),
            fields.next(),
            fields.next(),
            fields.next(),
            fields.next(),
        ) else {
            continue;
        };
        let Some((start, end)) = range.split_once('-') else {
            continue;
        };
        let (Ok(start), Ok(end)) = (
            usize::from_str_radix(start, 16),
            usize::from_str_radix(end, 16),
        ) else {
            // A field line such as `Size:  132 kB`.
            continue;
        };
        current = None;
        if matches!(perms, "r-xp" | "r--p") && inode != "0" && end > start {
            current = Some((start, end - start));
        }
    }
    out
}

/// `madvise(MADV_DONTNEED)` on every read-only file mapping of the calling
/// process whose pages all come from the file (code and read-only data,
/// see [`droppable_mappings`]). The pages stay in the page cache; code
/// that runs again faults them back in (cheaply: no I/O). The kernel maps up to 64 KiB around each such
/// fault, so what becomes resident again is somewhat more than the code
/// that runs. Returns the number of bytes advised.
pub fn drop_code_pages() -> Result<usize> {
    let smaps = fs_err::read_to_string("/proc/self/smaps").map_err(|e| SysError {
        call: "read /proc/self/smaps",
        errno: nix::errno::Errno::from_raw(e.raw_os_error().unwrap_or(libc::EIO)),
    })?;
    let mut total = 0;
    for (start, len) in droppable_mappings(&smaps) {
        // SAFETY: `start..start+len` is a whole mapping listed by the kernel
        // for this process, so the range is mapped and page aligned. It is a
        // private, read-only *file* mapping (inode != 0) that is not
        // writable and had no anonymous (copied-on-write) page when smaps
        // was read; nothing can write it since (it is read-only, and this
        // process does not mprotect file mappings), so no page in it holds
        // data that exists only in memory: MADV_DONTNEED merely drops the page-table entries, and the
        // next access refaults the same bytes from the file (binaries are
        // replaced by rename, never written in place while mapped; berth's
        // own binaries run from a read-only mount or a sealed memfd). No Rust
        // object lives in such a mapping, so no reference is invalidated.
        let ret = unsafe { libc::madvise(start as *mut libc::c_void, len, libc::MADV_DONTNEED) };
        if ret < 0 {
            return Err(SysError::last("madvise(MADV_DONTNEED)"));
        }
        total += len;
    }
    Ok(total)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn picks_read_only_file_mappings_without_private_pages() {
        let smaps = "\
55a37efa7000-55a37efdb000 r--p 00000000 00:20 123 /usr/bin/x
Size:                208 kB
Anonymous:             0 kB
55a37efdb000-55a37f000000 r-xp 00034000 00:20 123 /usr/bin/x
Size:                148 kB
Anonymous:             0 kB
55a37f000000-55a37f001000 r--p 00059000 00:20 123 /usr/bin/x
Size:                  4 kB
Anonymous:             4 kB
55a39e1fa000-55a39e21b000 rw-p 00000000 00:00 0 [heap]
Anonymous:           132 kB
7fffb2c16000-7fffb2c18000 r-xp 00000000 00:00 0 [vdso]
Anonymous:             0 kB
7f16dd600000-7f16dd700000 r-xp 00026000 08:01 456 /usr/lib/x86_64-linux-gnu/libc.so.6
Size:               1024 kB
Anonymous:             0 kB
7f16dd800000-7f16dd804000 rw-p 00226000 08:01 456 /usr/lib/x86_64-linux-gnu/libc.so.6
Anonymous:            16 kB
";
        assert_eq!(
            droppable_mappings(smaps),
            vec![
                (0x55a3_7efa_7000, 0x55a3_7efd_b000 - 0x55a3_7efa_7000),
                (0x55a3_7efd_b000, 0x55a3_7f00_0000 - 0x55a3_7efd_b000),
                (0x7f16_dd60_0000, 0x10_0000)
            ]
        );
    }

    #[test]
    fn dropping_code_pages_keeps_the_process_running() {
        let advised = drop_code_pages().unwrap();
        assert!(advised > 0);
        // Code runs again after its pages were dropped.
        let v: Vec<u32> = (0..1000).map(|x| x * 2).collect();
        assert_eq!(v.iter().sum::<u32>(), 999_000);
    }
}
