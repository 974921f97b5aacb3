//! `attach` and `container attach`: join a running container's streams.
//!
//! As the docker CLI: the container must be running (not paused or
//! restarting); stdin is attached unless `--no-stdin`, and only if the
//! container keeps it open (`-i`); with a terminal our stdin must be one
//! too, and is put in raw mode. Without a terminal, `--sig-proxy` (on by
//! default) sends the signals berth receives to the container. The detach
//! keys (`--detach-keys`, default ctrl-p ctrl-q) end the attach and leave
//! the container running: docker then reports "read escape sequence" and
//! exits 1. Otherwise the exit code is the container's.

use std::io::IsTerminal;

use anyhow::anyhow;
use berth_api_client::Client;

use super::run::{DETACHED, Ended, Session, Streams, session};
use crate::flags::attach::AttachFlags;

pub(crate) async fn attach(client: &Client, f: &AttachFlags) -> anyhow::Result<()> {
    let c = client
        .container_inspect(&f.container, false)
        .await
        .map_err(|e| anyhow!("{e}"))?;
    let state = &c["State"];
    let flag = |v: &serde_json::Value| v.as_bool().unwrap_or(false);
    // The docker CLI's own checks and words (`inspectContainerAndCheckState`).
    if !flag(&state["Running"]) {
        return Err(anyhow!(
            "cannot attach to a stopped container, start it first"
        ));
    }
    if flag(&state["Paused"]) {
        return Err(anyhow!(
            "cannot attach to a paused container, unpause it first"
        ));
    }
    if flag(&state["Restarting"]) {
        return Err(anyhow!(
            "cannot attach to a restarting container, wait until it is running"
        ));
    }
    let tty = flag(&c["Config"]["Tty"]);
    if tty && !f.no_stdin && !std::io::stdin().is_terminal() {
        return Err(anyhow!("the input device is not a TTY"));
    }
    let id = c["Id"].as_str().unwrap_or(&f.container).to_owned();
    let ended = session(
        client,
        &Session {
            id: &id,
            tty,
            streams: Streams {
                stdin: !f.no_stdin && flag(&c["Config"]["OpenStdin"]),
                stdout: true,
                stderr: true,
            },
            auto_remove: false,
            sig_proxy: f.sig_proxy,
            command: "attach",
            detach_keys: f.detach_keys.as_deref(),
            start: false,
        },
    )
    .await?;
    match ended {
        Ended::Detached => Err(anyhow!("{DETACHED}")),
        exited => exited.into_result(),
    }
}
