//! The `run`/`create` options that shape a container's lifecycle rather
//! than what it runs: `--restart` (`HostConfig.RestartPolicy`), `--init`
//! (`HostConfig.Init`) and `--stop-timeout` (`Config.StopTimeout`), checked
//! and worded as the docker CLI 28 does. The daemon checks the policy's
//! name and count itself (`--restart sometimes`, `always:3`).

use serde_json::{Value, json};

use crate::flags::containers::ContainerOptions;

/// docker's `opts.ParseRestartPolicy`: `name[:count]`; `None` when not given.
fn parse_restart(text: &str) -> Result<Option<Value>, String> {
    if text.is_empty() {
        return Ok(None);
    }
    let (name, count) = match text.split_once(':') {
        Some(("", _)) => {
            return Err("invalid restart policy format: no policy provided before colon".into());
        }
        Some((name, count)) => (name, count),
        None => (text, ""),
    };
    let count: i64 = if count.is_empty() {
        0
    } else {
        count.parse().map_err(|_| {
            "invalid restart policy format: maximum retry count must be an integer".to_owned()
        })?
    };
    Ok(Some(json!({"Name": name, "MaximumRetryCount": count})))
}

/// Adds the options to a create body (`config` as `create_config` built
/// it); only what was given, as the docker CLI sends it.
pub(crate) fn apply(o: &ContainerOptions, config: &mut Value) -> Result<(), String> {
    let policy = parse_restart(o.restart.as_deref().unwrap_or(""))?;
    let restarts = policy
        .as_ref()
        .is_some_and(|p| !matches!(p["Name"].as_str(), Some("" | "no")));
    if o.rm && restarts {
        return Err("conflicting options: cannot specify both --restart and --rm".into());
    }
    if let Some(policy) = policy {
        config["HostConfig"]["RestartPolicy"] = policy;
    }
    if let Some(init) = o.init {
        config["HostConfig"]["Init"] = json!(init);
    }
    if let Some(t) = o.stop_timeout {
        config["StopTimeout"] = json!(t);
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used, reason = "test code")]

    use super::*;

    fn options(restart: Option<&str>, rm: bool) -> ContainerOptions {
        ContainerOptions {
            restart: restart.map(str::to_owned),
            rm,
            ..ContainerOptions::default()
        }
    }

    #[test]
    fn restart_specs_as_the_docker_cli() {
        let mut c = json!({"HostConfig": {}});
        apply(&options(Some("on-failure:3"), false), &mut c).unwrap();
        assert_eq!(
            c["HostConfig"]["RestartPolicy"],
            json!({"Name": "on-failure", "MaximumRetryCount": 3})
        );
        // The name is the daemon's to check.
        apply(&options(Some("sometimes"), false), &mut c).unwrap();
        assert_eq!(c["HostConfig"]["RestartPolicy"]["Name"], "sometimes");
        let err = |r: &str, rm: bool| apply(&options(Some(r), rm), &mut json!({})).unwrap_err();
        assert_eq!(
            err("on-failure:x", false),
            "invalid restart policy format: maximum retry count must be an integer"
        );
        assert_eq!(
            err(":3", false),
            "invalid restart policy format: no policy provided before colon"
        );
        assert_eq!(
            err("always", true),
            "conflicting options: cannot specify both --restart and --rm"
        );
        apply(&options(Some("no"), true), &mut json!({"HostConfig": {}})).unwrap();
    }

    #[test]
    fn init_and_stop_timeout_only_when_given() {
        let mut c = json!({"HostConfig": {}});
        apply(&ContainerOptions::default(), &mut c).unwrap();
        assert_eq!(c, json!({"HostConfig": {}}));
        let o = ContainerOptions {
            init: Some(true),
            stop_timeout: Some(-1),
            ..ContainerOptions::default()
        };
        apply(&o, &mut c).unwrap();
        assert_eq!(c["HostConfig"]["Init"], true);
        assert_eq!(c["StopTimeout"], -1);
    }
}
