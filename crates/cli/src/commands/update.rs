//! `update` / `container update`: new resource limits (and, later, restart
//! policy) for one or more containers, as `docker update` does: each name
//! that worked is printed, then the daemon's warnings; failures are
//! collected and reported together (exit status 1).

use anyhow::anyhow;
use berth_api_client::Client;
use serde_json::{Value, json};

use super::resources::limits;
use super::run::StatusError;
use crate::flags::resources::{LimitFlags, UpdateFlags};
use crate::printer::Printer;

/// A flag error as the docker CLI prints it (exit status 125).
fn usage_error(message: &str) -> anyhow::Error {
    anyhow::Error::new(StatusError {
        code: 125,
        message: Some(format!(
            "{message}\n\nUsage:  berth update [OPTIONS] CONTAINER [CONTAINER...]\n\nRun 'berth update --help' for more information"
        )),
    })
}

/// `no`, `always`, `unless-stopped`, `on-failure[:N]` as docker's
/// `RestartPolicy` (the daemon decides what it accepts).
fn restart_policy(text: &str) -> Result<Value, String> {
    let (name, count) = match text.split_once(':') {
        Some((name, n)) => {
            let n = n.parse::<i64>().map_err(|_| {
                format!("invalid argument \"{text}\" for \"--restart\" flag: maximum retry count must be an integer")
            })?;
            (name, n)
        }
        None => (text, 0),
    };
    Ok(json!({"Name": name, "MaximumRetryCount": count}))
}

pub(crate) async fn run(
    client: &Client,
    f: &UpdateFlags,
    printer: &mut Printer,
) -> anyhow::Result<()> {
    let mut body = limits(&f.limits).map_err(|m| usage_error(&m))?;
    if f.limits == LimitFlags::default() && f.restart.is_none() {
        return Err(anyhow!(
            "you must provide one or more flags when using this command"
        ));
    }
    let policy = match f.restart.as_deref() {
        Some(p) if !p.is_empty() => restart_policy(p).map_err(|m| usage_error(&m))?,
        _ => json!({"Name": "", "MaximumRetryCount": 0}),
    };
    body.insert("RestartPolicy".into(), policy);
    let body = Value::Object(body);
    let mut warnings = Vec::new();
    let mut errors = Vec::new();
    for name in &f.containers {
        match client.container_update(name, &body).await {
            Ok(answer) => {
                printer.data(&format!("{name}\n"))?;
                warnings.extend(answer.warnings);
            }
            Err(e) => errors.push(e.to_string()),
        }
    }
    if !warnings.is_empty() {
        printer.data(&format!("{}\n", warnings.join("\n")))?;
    }
    if errors.is_empty() {
        Ok(())
    } else {
        Err(anyhow!("{}", errors.join("\n")))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn restart_policies() {
        assert_eq!(
            restart_policy("on-failure:3").unwrap(),
            json!({"Name": "on-failure", "MaximumRetryCount": 3})
        );
        assert_eq!(
            restart_policy("always").unwrap(),
            json!({"Name": "always", "MaximumRetryCount": 0})
        );
        assert!(restart_policy("on-failure:x").is_err());
    }
}
