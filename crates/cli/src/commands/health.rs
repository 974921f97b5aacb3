//! The health check flags of `run` and `create` (`--health-cmd`,
//! `--health-interval`, `--health-retries`, `--health-start-period`,
//! `--health-start-interval`, `--health-timeout`, `--no-healthcheck`) as
//! the docker CLI turns them into `Config.Healthcheck`.

use serde_json::{Value, json};

use crate::flags::containers::ContainerOptions;

/// One duration flag: `None` when not given.
fn duration_flag(name: &str, value: Option<&String>) -> Result<i64, String> {
    let Some(v) = value else { return Ok(0) };
    let ns = berth_api_types::timestamp::go_duration(v)
        .map_err(|e| format!("invalid argument \"{v}\" for \"--{name}\" flag: {e}"))?;
    if ns < 0 {
        return Err(format!("--{name} cannot be negative"));
    }
    Ok(ns)
}

/// `Config.Healthcheck` for the flags, `None` when none was given.
pub(crate) fn healthcheck(o: &ContainerOptions) -> Result<Option<Value>, String> {
    let interval = duration_flag("health-interval", o.health_interval.as_ref())?;
    let timeout = duration_flag("health-timeout", o.health_timeout.as_ref())?;
    let start_period = duration_flag("health-start-period", o.health_start_period.as_ref())?;
    let start_interval = duration_flag("health-start-interval", o.health_start_interval.as_ref())?;
    let retries = o.health_retries.unwrap_or(0);
    if retries < 0 {
        return Err("--health-retries cannot be negative".into());
    }
    let cmd = o.health_cmd.clone().unwrap_or_default();
    let any = !cmd.is_empty()
        || interval != 0
        || timeout != 0
        || start_period != 0
        || start_interval != 0
        || retries != 0;
    if o.no_healthcheck {
        if any {
            return Err("--no-healthcheck conflicts with --health-* options".into());
        }
        return Ok(Some(json!({"Test": ["NONE"]})));
    }
    if !any {
        return Ok(None);
    }
    let test = if cmd.is_empty() {
        Value::Null
    } else {
        json!(["CMD-SHELL", cmd])
    };
    Ok(Some(json!({
        "Test": test,
        "Interval": interval,
        "Timeout": timeout,
        "StartPeriod": start_period,
        "StartInterval": start_interval,
        "Retries": retries,
    })))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn flags_become_docker_config() {
        let mut o = ContainerOptions {
            health_cmd: Some("true".into()),
            health_interval: Some("1s".into()),
            health_retries: Some(2),
            ..Default::default()
        };
        let h = healthcheck(&o).unwrap().unwrap();
        assert_eq!(h["Test"], json!(["CMD-SHELL", "true"]));
        assert_eq!(h["Interval"], 1_000_000_000);
        assert_eq!(h["Retries"], 2);
        o.no_healthcheck = true;
        assert!(healthcheck(&o).unwrap_err().contains("conflicts"));
        let o = ContainerOptions {
            no_healthcheck: true,
            ..Default::default()
        };
        assert_eq!(healthcheck(&o).unwrap().unwrap(), json!({"Test": ["NONE"]}));
        assert_eq!(healthcheck(&ContainerOptions::default()).unwrap(), None);
        let o = ContainerOptions {
            health_interval: Some("-1s".into()),
            ..Default::default()
        };
        assert_eq!(
            healthcheck(&o).unwrap_err(),
            "--health-interval cannot be negative"
        );
        let o = ContainerOptions {
            health_timeout: Some("soon".into()),
            ..Default::default()
        };
        assert!(
            healthcheck(&o)
                .unwrap_err()
                .contains("invalid argument \"soon\"")
        );
    }
}
