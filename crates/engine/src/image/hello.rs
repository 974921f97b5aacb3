//! The built-in `hello-world` image: the static `hello` program (built by
//! this crate's `build.rs` from `crates/hello/src/main.rs`) in a one-file
//! root file system, imported on open when the tag is missing. Everything
//! that goes into the image ID is fixed (file mode, owner, mtime, the
//! config's `created`), so the ID depends only on the program's bytes.

use berth_image::ImageStore;
use berth_image::reference::Reference;
use berth_image::store::ImportOptions;

/// The tag the image gets.
pub const HELLO_WORLD: &str = "hello-world:latest";

/// Its fixed creation time.
pub const HELLO_WORLD_CREATED: &str = "2026-01-01T00:00:00Z";

/// The file's mtime: the same instant as `created`.
const MTIME: u64 = 1_767_225_600;

/// The static `hello` binary.
static HELLO: &[u8] = include_bytes!(concat!(env!("OUT_DIR"), "/hello"));

/// Imports the image unless `hello-world:latest` exists.
pub(super) fn ensure(store: &ImageStore) -> Result<(), berth_image::Error> {
    match store.resolve(HELLO_WORLD) {
        Ok(_) => return Ok(()),
        Err(berth_image::Error::NotFound { .. }) => {}
        Err(e) => return Err(e),
    }
    let tar = rootfs_tar();
    let id = store.import_rootfs_tar(
        tar.as_slice(),
        &ImportOptions {
            changes: vec!["CMD [\"/hello\"]".to_owned()],
            message: Some("berth's built-in hello-world image".to_owned()),
            reference: Some(Reference::parse_normalized(HELLO_WORLD)?),
            created: Some(HELLO_WORLD_CREATED.to_owned()),
            architecture: None,
        },
    )?;
    tracing::info!(%id, "imported the built-in hello-world image");
    Ok(())
}

/// A ustar archive holding `hello` (mode 0755, root-owned, fixed mtime).
pub(super) fn rootfs_tar() -> Vec<u8> {
    let mut h = [0u8; 512];
    let put = |h: &mut [u8; 512], at: usize, s: &[u8]| h[at..at + s.len()].copy_from_slice(s);
    put(&mut h, 0, b"hello");
    put(&mut h, 100, b"0000755\0");
    put(&mut h, 108, b"0000000\0");
    put(&mut h, 116, b"0000000\0");
    put(&mut h, 124, format!("{:011o}\0", HELLO.len()).as_bytes());
    put(&mut h, 136, format!("{MTIME:011o}\0").as_bytes());
    put(&mut h, 156, b"0");
    put(&mut h, 257, b"ustar\0");
    put(&mut h, 263, b"00");
    // The checksum is computed with its own field as spaces.
    put(&mut h, 148, b"        ");
    let sum: u32 = h.iter().map(|&b| u32::from(b)).sum();
    put(&mut h, 148, format!("{sum:06o}\0 ").as_bytes());
    let mut out = Vec::with_capacity(512 + HELLO.len() + 512 + 1024);
    out.extend_from_slice(&h);
    out.extend_from_slice(HELLO);
    out.resize(out.len().next_multiple_of(512), 0);
    // Two zero blocks end the archive.
    out.resize(out.len() + 1024, 0);
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_embedded_program_is_a_static_elf() {
        assert_eq!(&HELLO[..4], b"\x7fELF");
        let tar = rootfs_tar();
        assert_eq!(tar.len() % 512, 0);
        assert_eq!(&tar[257..262], b"ustar");
    }
}
