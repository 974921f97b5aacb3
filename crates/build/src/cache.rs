//! Cache keys of build steps.
//!
//! A key is `sha256:` + SHA-256 over, each length-prefixed: the parent
//! image ID (empty for `FROM scratch`), the step's history command (the
//! expanded instruction as Docker records it, including the `|N a=b` build
//! args a `RUN` sees), the config the step commits (so `--label`, `ENV`
//! and friends count) and, for `COPY`/`ADD`, a content digest of what the
//! step reads (see [`crate::context`]: paths, modes, owners, contents and
//! symlink targets, never mtimes, like Docker's tarsum).

use berth_image::spec::ContainerConfig;
use sha2::{Digest as _, Sha256};

use crate::executor::ImageState;

/// The cache key of a step on top of `parent`.
pub fn step_key(
    parent: &ImageState,
    created_by: &str,
    config: &ContainerConfig,
    content: Option<&str>,
) -> String {
    let mut h = Sha256::new();
    let config_json = serde_json::to_string(config).unwrap_or_default();
    for part in [
        "berth-build-cache-v1",
        parent.id.as_deref().unwrap_or(""),
        created_by,
        &config_json,
        content.unwrap_or(""),
    ] {
        h.update((part.len() as u64).to_le_bytes());
        h.update(part.as_bytes());
    }
    format!("sha256:{}", hex::encode(h.finalize()))
}

/// `prefix:` + SHA-256 of the strings joined with `,` (Docker's
/// `hashStringSlice`, used for `multi:` and `dir:` source hashes).
pub fn hash_strings(prefix: &str, items: &[String]) -> String {
    let mut h = Sha256::new();
    h.update(items.join(",").as_bytes());
    format!("{prefix}:{}", hex::encode(h.finalize()))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn keys_differ_by_each_part() {
        let p = ImageState::scratch();
        let c = ContainerConfig::default();
        let k = step_key(&p, "a", &c, None);
        assert!(k.starts_with("sha256:"));
        assert_eq!(k, step_key(&p, "a", &c, None));
        assert_ne!(k, step_key(&p, "b", &c, None));
        assert_ne!(k, step_key(&p, "a", &c, Some("x")));
        let mut p2 = p.clone();
        p2.id = Some("sha256:1".into());
        assert_ne!(k, step_key(&p2, "a", &c, None));
        let c2 = ContainerConfig {
            user: Some("x".into()),
            ..ContainerConfig::default()
        };
        assert_ne!(k, step_key(&p, "a", &c2, None));
        // No ambiguity between parts.
        assert_ne!(
            step_key(&p, "ab", &c, Some("")),
            step_key(&p, "a", &c, Some("b"))
        );
    }
}
