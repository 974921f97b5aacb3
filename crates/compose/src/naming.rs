//! Names and labels, as docker compose v2 gives them.

/// The prefix of every label compose sets.
pub const LABEL_PREFIX: &str = "com.docker.compose";
pub(crate) const PROJECT: &str = "com.docker.compose.project";
pub(crate) const SERVICE: &str = "com.docker.compose.service";
pub(crate) const NUMBER: &str = "com.docker.compose.container-number";
pub(crate) const ONEOFF: &str = "com.docker.compose.oneoff";
pub(crate) const HASH: &str = "com.docker.compose.config-hash";
pub(crate) const WORKING_DIR: &str = "com.docker.compose.project.working_dir";
pub(crate) const CONFIG_FILES: &str = "com.docker.compose.project.config_files";
pub(crate) const VERSION: &str = "com.docker.compose.version";
pub(crate) const NETWORK: &str = "com.docker.compose.network";
pub(crate) const VOLUME: &str = "com.docker.compose.volume";
/// What `com.docker.compose.version` says: the compose release whose
/// naming and labels berth follows.
pub(crate) const COMPOSE_VERSION: &str = "2.29.0";

/// compose's project name rule: lower case, only `a-z`, `0-9`, `_` and
/// `-`, starting with a letter or digit; empty when nothing is left.
pub fn normalize_project_name(name: &str) -> String {
    let lowered: String = name
        .to_lowercase()
        .chars()
        .filter(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || *c == '_' || *c == '-')
        .collect();
    lowered
        .trim_start_matches(|c: char| !c.is_ascii_alphanumeric())
        .to_owned()
}

/// `<project>-<service>-<n>`.
pub(crate) fn container_name(project: &str, service: &str, n: u32) -> String {
    format!("{project}-{service}-{n}")
}

/// `<project>_<name>`: networks and volumes that have no `name:`.
pub(crate) fn scoped(project: &str, name: &str) -> String {
    format!("{project}_{name}")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn project_names_normalise() {
        assert_eq!(normalize_project_name("My App.v2"), "myappv2");
        assert_eq!(normalize_project_name("__web-1"), "web-1");
        assert_eq!(normalize_project_name("proj_x"), "proj_x");
        assert_eq!(normalize_project_name("..."), "");
        assert_eq!(container_name("p", "web", 1), "p-web-1");
        assert_eq!(scoped("p", "default"), "p_default");
    }
}
