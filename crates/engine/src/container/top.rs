//! `docker top`: the host's `ps` with the user's options, keeping the rows
//! of the container's processes (moby `daemon/top_unix.go`): the pids come
//! from the container's cgroup, `ps` is run with `-q <pids>` first and
//! without it when the options do not combine with it (`f`), and the
//! output is split into titles and rows, a row's extra words joined into
//! its last column.

use std::process::Command;

use super::model::Status;
use super::{ContainerError, Containers};

type Result<T, E = ContainerError> = std::result::Result<T, E>;

/// `GET /containers/{id}/top` (docker's `ContainerTopOKBody`).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct TopOutput {
    pub titles: Vec<String>,
    pub processes: Vec<Vec<String>>,
}

/// moby `validatePSArgs`: `ps -o` may rename only the pid column.
fn validate_ps_args(args: &str) -> Result<()> {
    let re = regex::Regex::new(r"\s+(\S*)=\s*(PID\S*)").map_err(|e| ContainerError::Internal {
        message: e.to_string(),
    })?;
    for caps in re.captures_iter(args) {
        let (k, v) = (&caps[1], &caps[2]);
        if k != "pid" {
            return Err(ContainerError::InvalidArgument {
                message: format!("specifying \"{k}={v}\" is not allowed"),
            });
        }
    }
    Ok(())
}

/// moby `parsePSOutput`.
fn parse_ps_output(output: &str, pids: &[i32]) -> Result<TopOutput> {
    let mut lines = output.split('\n');
    let titles: Vec<String> = lines
        .next()
        .unwrap_or_default()
        .split_ascii_whitespace()
        .map(str::to_owned)
        .collect();
    let pid_index =
        titles
            .iter()
            .position(|t| t == "PID")
            .ok_or_else(|| ContainerError::Internal {
                message: "Couldn't find PID field in ps output".to_owned(),
            })?;
    let mut out = TopOutput {
        titles,
        processes: Vec::new(),
    };
    // A thread line (`ps -m`) has `-` as its pid: it belongs to the
    // process row before it.
    let mut previous_kept = false;
    for line in lines {
        if line.is_empty() {
            continue;
        }
        let fields: Vec<&str> = line.split_ascii_whitespace().collect();
        let Some(field) = fields.get(pid_index) else {
            continue;
        };
        if *field == "-" {
            if previous_kept {
                out.processes.push(row(&out.titles, &fields));
            }
            continue;
        }
        let pid: i32 = field.parse().map_err(|e| ContainerError::Internal {
            message: format!("Unexpected pid '{field}': {e}"),
        })?;
        previous_kept = pids.contains(&pid);
        if previous_kept {
            out.processes.push(row(&out.titles, &fields));
        }
    }
    Ok(out)
}

/// One row with as many columns as titles, the overhang joined into the
/// last (a command line with spaces).
fn row(titles: &[String], fields: &[&str]) -> Vec<String> {
    let n = titles.len().max(1);
    let mut r: Vec<String> = fields.iter().take(n - 1).map(|s| (*s).to_owned()).collect();
    if fields.len() >= n {
        r.push(fields[n - 1..].join(" "));
    }
    r
}

/// The pids in the container's cgroup (and below it).
fn cgroup_pids(cgroups_path: &str, id: &str) -> Result<Vec<i32>> {
    let internal = |e: berth_cgroups::Error| ContainerError::Internal {
        message: format!("cannot list the container's processes: {e}"),
    };
    let layout = berth_cgroups::detect().map_err(internal)?;
    let manager = berth_cgroups::manager(&layout, Some(cgroups_path), id).map_err(internal)?;
    manager.pids().map_err(internal)
}

impl Containers {
    /// `docker top CONTAINER [ps OPTIONS]` (default `-ef`).
    pub fn top(&self, id_or_name: &str, ps_args: &str) -> Result<TopOutput> {
        let ps_args = if ps_args.is_empty() { "-ef" } else { ps_args };
        validate_ps_args(ps_args)?;
        let c = self.get(id_or_name)?;
        if c.state.status != Status::Running {
            return Err(ContainerError::Conflict {
                message: format!("Container {} is not running", c.id),
            });
        }
        let cgroups_path = format!(
            "{}/{}",
            self.inner.settings.cgroup_parent.trim_end_matches('/'),
            c.id
        );
        let pids = cgroup_pids(&cgroups_path, &c.id)?;
        // As moby: split on single spaces (empty words are passed on).
        let args: Vec<&str> = ps_args.split(' ').collect();
        let quick = format!(
            "-q{}",
            pids.iter()
                .map(i32::to_string)
                .collect::<Vec<_>>()
                .join(",")
        );
        let first = Command::new("ps").args(&args).arg(&quick).output();
        let output = match first {
            Ok(o) if o.status.success() => o,
            _ => {
                let o = Command::new("ps").args(&args).output().map_err(|e| {
                    ContainerError::Internal {
                        message: format!("ps: {e}"),
                    }
                })?;
                if !o.status.success() {
                    let stderr = String::from_utf8_lossy(&o.stderr);
                    let line = stderr.lines().next().unwrap_or("").to_owned();
                    let why = if line.is_empty() {
                        format!("exit status {}", o.status.code().unwrap_or(-1))
                    } else {
                        line
                    };
                    return Err(ContainerError::Internal {
                        message: format!("ps: {why}"),
                    });
                }
                o
            }
        };
        let top = parse_ps_output(&String::from_utf8_lossy(&output.stdout), &pids)?;
        self.emit(&c, "top", &[]);
        Ok(top)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ps_output_is_split_as_moby() {
        let out = "UID PID PPID C STIME TTY TIME CMD\n\
                   root 10 1 0 10:00 ? 00:00:00 sleep 1000\n\
                   root 11 1 0 10:00 ? 00:00:00 other\n\
                   root - - 0 10:00 ? 00:00:00 -\n\
                   root 12 10 0 10:00 ? 00:00:00 sh -c echo hi\n\
                   root - - 0 10:00 ? 00:00:00 -\n";
        let top = parse_ps_output(out, &[10, 12]).unwrap();
        assert_eq!(top.titles.len(), 8);
        assert_eq!(top.processes.len(), 3);
        assert_eq!(top.processes[0][7], "sleep 1000");
        assert_eq!(top.processes[1][7], "sh -c echo hi");
        assert_eq!(top.processes[2][1], "-");
        assert!(parse_ps_output("USER CMD\nroot x\n", &[1]).is_err());
    }

    #[test]
    fn ps_args_may_rename_only_pid() {
        assert!(validate_ps_args("-ef").is_ok());
        assert!(validate_ps_args("-o pid=PID,comm").is_ok());
        assert_eq!(
            validate_ps_args("-o uid=PID").unwrap_err().to_string(),
            "specifying \"uid=PID\" is not allowed"
        );
    }
}
