//! `berth version`: the Client and Server sections of `docker version`.

use std::fmt::Write as _;

use berth_api_client::Client;
use berth_api_types::SystemVersion;
use serde::Serialize;

use super::{BUILD_TIME, COMPILER, GIT_COMMIT, VERSION, ansic, go_arch, render};
use crate::printer::Printer;
use crate::settings::Format;

/// The `Client` half of `docker version --format '{{json .}}'`.
#[derive(Debug, Serialize)]
#[serde(rename_all = "PascalCase")]
struct ClientVersion {
    platform: Platform,
    version: String,
    api_version: String,
    #[serde(rename = "DefaultAPIVersion")]
    default_api_version: String,
    git_commit: String,
    go_version: String,
    os: String,
    arch: String,
    build_time: String,
    context: String,
}

#[derive(Debug, Serialize)]
#[serde(rename_all = "PascalCase")]
struct Platform {
    name: String,
}

#[derive(Debug, Serialize)]
#[serde(rename_all = "PascalCase")]
struct VersionOutput {
    client: ClientVersion,
    server: Option<SystemVersion>,
}

pub(crate) async fn run(
    client: &Client,
    format: &Format,
    printer: &mut Printer,
) -> anyhow::Result<()> {
    let server = client.version().await;
    let negotiated = match &server {
        Ok(_) => client.api_version().await.ok().map(str::to_owned),
        Err(_) => None,
    };
    let default_api = client.client_version().to_owned();
    let output = VersionOutput {
        client: ClientVersion {
            platform: Platform {
                name: String::new(),
            },
            version: VERSION.to_owned(),
            api_version: negotiated.unwrap_or_else(|| default_api.clone()),
            default_api_version: default_api,
            git_commit: GIT_COMMIT.to_owned(),
            go_version: COMPILER.to_owned(),
            os: "linux".to_owned(),
            arch: go_arch().to_owned(),
            build_time: BUILD_TIME.to_owned(),
            context: "default".to_owned(),
        },
        server: server.as_ref().ok().cloned(),
    };
    match format {
        Format::Pretty => printer.data(&pretty(&output))?,
        _ => {
            // Like docker, a template needs the server's half.
            if let Err(e) = &server {
                return Err(anyhow::anyhow!("{e}"));
            }
            printer.data(&render(format, &output)?)?;
        }
    }
    server.map(|_| ()).map_err(|e| anyhow::anyhow!("{e}"))
}

/// The layout of docker CLI 28's default `version` template.
fn pretty(v: &VersionOutput) -> String {
    let c = &v.client;
    let mut out = String::new();
    let api = if c.api_version == c.default_api_version {
        c.api_version.clone()
    } else {
        format!(
            "{} (downgraded from {})",
            c.api_version, c.default_api_version
        )
    };
    let _ = writeln!(out, "Client:");
    let _ = writeln!(out, " Version:           {}", c.version);
    let _ = writeln!(out, " API version:       {api}");
    let _ = writeln!(out, " Go version:        {}", c.go_version);
    let _ = writeln!(out, " Git commit:        {}", c.git_commit);
    let _ = writeln!(out, " Built:             {}", ansic(&c.build_time));
    let _ = writeln!(out, " OS/Arch:           {}/{}", c.os, c.arch);
    let _ = writeln!(out, " Context:           {}", c.context);
    let Some(s) = &v.server else {
        return out;
    };
    let _ = writeln!(out);
    if s.platform.name.is_empty() {
        let _ = writeln!(out, "Server:");
    } else {
        let _ = writeln!(out, "Server: {}", s.platform.name);
    }
    for component in &s.components {
        let _ = writeln!(out, " {}:", component.name);
        let detail = |k: &str| {
            component
                .details
                .as_ref()
                .and_then(|d| d.get(k))
                .map_or("", String::as_str)
        };
        if component.name == "Engine" {
            let _ = writeln!(out, "  Version:          {}", component.version);
            let _ = writeln!(
                out,
                "  API version:      {} (minimum version {})",
                detail("ApiVersion"),
                detail("MinAPIVersion")
            );
            let _ = writeln!(out, "  Go version:       {}", detail("GoVersion"));
            let _ = writeln!(out, "  Git commit:       {}", detail("GitCommit"));
            let _ = writeln!(out, "  Built:            {}", ansic(detail("BuildTime")));
            let _ = writeln!(
                out,
                "  OS/Arch:          {}/{}",
                detail("Os"),
                detail("Arch")
            );
            let _ = writeln!(out, "  Experimental:     {}", detail("Experimental"));
        } else {
            let _ = writeln!(out, "  Version:          {}", component.version);
            for (k, val) in component.details.iter().flatten() {
                let pad = 17usize.saturating_sub(k.len() + 1);
                let _ = writeln!(out, "  {k}:{:pad$}{val}", "");
            }
        }
    }
    out
}
