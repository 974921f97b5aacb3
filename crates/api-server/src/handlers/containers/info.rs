//! `GET /containers/json` (list) and `GET /containers/{id}/json` (inspect).

use axum::extract::Request;
use axum::http::StatusCode;
use axum::response::Response;
use berth_api_types::container as api;
use berth_engine::container::{Container, Status};

use super::{Backend, blocking, flag, query_of};
use crate::handlers::json_response;

/// `GET /containers/json?all=`: running ones, or all (newest first).
pub(crate) async fn list(backend: Backend, req: Request) -> Response {
    let all = flag(&query_of(&req), "all");
    let now = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| i64::try_from(d.as_secs()).unwrap_or(i64::MAX));
    let listed = blocking(move || Ok(backend.list_containers())).await;
    match listed {
        Ok(list) => {
            let out: Vec<api::ContainerSummary> = list
                .into_iter()
                .filter(|c| all || c.state.status == Status::Running)
                .map(|c| summary(c, now))
                .collect();
            json_response(StatusCode::OK, &out)
        }
        Err(e) => e.into_response_body(),
    }
}

fn summary(c: Container, now: i64) -> api::ContainerSummary {
    let status = match c.state.status {
        Status::Created => "Created".to_owned(),
        Status::Running => format!(
            "Up {}",
            human_duration(now - unix_seconds(&c.state.started_at))
        ),
        Status::Exited => format!(
            "Exited ({}) {} ago",
            c.state.exit_code,
            human_duration(now - unix_seconds(&c.state.finished_at))
        ),
    };
    api::ContainerSummary {
        names: vec![format!("/{}", c.name)],
        image: c.image_ref,
        image_id: c.image,
        command: c.process.args.join(" "),
        created: unix_seconds(&c.created),
        ports: Vec::new(),
        labels: c.labels,
        state: c.state.status.as_str().to_owned(),
        status,
        host_config: api::SummaryHostConfig {
            network_mode: "none".to_owned(),
        },
        network_settings: api::SummaryNetworkSettings::default(),
        mounts: Vec::new(),
        id: c.id,
    }
}

/// Docker's `units.HumanDuration`.
fn human_duration(secs: i64) -> String {
    let s = secs.max(0);
    let (m, h, d) = (s / 60, s / 3600, s / 86400);
    match s {
        0 => "Less than a second".to_owned(),
        1 => "1 second".to_owned(),
        _ if s < 60 => format!("{s} seconds"),
        _ if m == 1 => "About a minute".to_owned(),
        _ if m < 60 => format!("{m} minutes"),
        _ if h == 1 => "About an hour".to_owned(),
        _ if h < 48 => format!("{h} hours"),
        _ if d < 14 => format!("{d} days"),
        _ if d < 60 => format!("{} weeks", d / 7),
        _ if d < 365 * 2 => format!("{} months", d / 30),
        _ => format!("{} years", d / 365),
    }
}

/// RFC 3339 (`2026-11-23T12:00:00.123Z`, UTC) -> Unix seconds; 0 if malformed.
fn unix_seconds(s: &str) -> i64 {
    let num = |r: std::ops::Range<usize>| s.get(r).and_then(|x| x.parse::<i64>().ok());
    let (Some(y), Some(mo), Some(d), Some(hh), Some(mm), Some(ss)) = (
        num(0..4),
        num(5..7),
        num(8..10),
        num(11..13),
        num(14..16),
        num(17..19),
    ) else {
        return 0;
    };
    // Days from civil (Howard Hinnant).
    let y = if mo <= 2 { y - 1 } else { y };
    let era = y.div_euclid(400);
    let yoe = y - era * 400;
    let doy = (153 * (if mo > 2 { mo - 3 } else { mo + 9 }) + 2) / 5 + d - 1;
    let doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
    let days = era * 146_097 + doe - 719_468;
    days * 86400 + hh * 3600 + mm * 60 + ss
}

fn inspect_body(c: Container, log_path: std::path::PathBuf) -> api::ContainerInspect {
    let mut args = c.process.args.clone();
    let path = if args.is_empty() {
        String::new()
    } else {
        args.remove(0)
    };
    api::ContainerInspect {
        created: c.created,
        path,
        args,
        state: api::ContainerState {
            status: c.state.status.as_str().to_owned(),
            running: c.state.status == Status::Running,
            pid: i64::from(c.state.pid),
            exit_code: i64::from(c.state.exit_code),
            error: c.state.error,
            started_at: or_zero_time(c.state.started_at),
            finished_at: or_zero_time(c.state.finished_at),
            ..api::ContainerState::default()
        },
        image: c.image,
        log_path: log_path.to_string_lossy().into_owned(),
        name: format!("/{}", c.name),
        driver: "overlay2".to_owned(),
        platform: "linux".to_owned(),
        host_config: serde_json::json!({"NetworkMode": "none", "LogConfig": {"Type": "json-file", "Config": {}}}),
        network_settings: serde_json::json!({"Networks": {}}),
        config: api::InspectConfig {
            hostname: c.process.hostname,
            user: c.options.user.unwrap_or_default(),
            tty: c.process.tty,
            open_stdin: c.process.open_stdin,
            env: c.process.env,
            cmd: c.options.cmd,
            image: c.image_ref,
            working_dir: c.options.working_dir.unwrap_or_default(),
            entrypoint: c.options.entrypoint,
            labels: c.labels,
            ..api::InspectConfig::default()
        },
        id: c.id,
        ..api::ContainerInspect::default()
    }
}

/// Go's zero time, as dockerd reports a time that has not happened.
fn or_zero_time(t: String) -> String {
    if t.is_empty() {
        "0001-01-01T00:00:00Z".to_owned()
    } else {
        t
    }
}

/// `GET /containers/{id}/json`.
pub(crate) async fn inspect(backend: Backend, id: String) -> Response {
    let r = blocking(move || {
        let c = backend.inspect_container(&id)?;
        let log = backend.container_log_path(&c.id);
        Ok(inspect_body(c, log))
    })
    .await;
    match r {
        Ok(body) => json_response(StatusCode::OK, &body),
        Err(e) => e.into_response_body(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn durations_and_times() {
        assert_eq!(human_duration(0), "Less than a second");
        assert_eq!(human_duration(5), "5 seconds");
        assert_eq!(human_duration(90), "About a minute");
        assert_eq!(human_duration(7200), "2 hours");
        assert_eq!(unix_seconds("1970-01-01T00:00:00Z"), 0);
        assert_eq!(unix_seconds("2000-03-01T00:00:01.5Z"), 951_868_801);
        assert_eq!(unix_seconds("junk"), 0);
    }
}
