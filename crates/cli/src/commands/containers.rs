//! `ps`/`container ls`, `logs`, `stop`, `kill`, `rm`, `wait`, `start`,
//! `create`, `inspect`: docker's output, messages and exit codes. `run`
//! and the attached session live in [`super::run`].

use std::collections::BTreeMap;
use std::io::Write;

use anyhow::anyhow;
use berth_api_client::{Client, Demux, ListOptions, LogsOptions, StreamKind};
use serde_json::{Value, json};

use super::images::{
    ListFormat, created_at, ellipsis, human_duration, human_size, indent_json, list_format, now,
    render_rows,
};
use super::run as session;
use crate::flags::containers::{
    ContainerFlags, InspectFlags, KillFlags, LogsFlags, PsFlags, RmFlags, StartFlags, StopFlags,
    WaitFlags,
};
use crate::ojson::OValue;
use crate::printer::Printer;
use crate::template::Template;

pub(crate) async fn run(
    client: &Client,
    cmd: &ContainerFlags,
    printer: &mut Printer,
) -> anyhow::Result<()> {
    match cmd {
        ContainerFlags::Run(f) => session::run(client, f, printer).await,
        ContainerFlags::Create(f) => session::create(client, f, printer).await,
        ContainerFlags::Start(f) => start(client, f, printer).await,
        ContainerFlags::Attach(f) => super::attach::attach(client, f).await,
        ContainerFlags::Ls(f) => list(client, f, printer).await,
        ContainerFlags::Logs(f) => logs(client, f).await,
        ContainerFlags::Stop(f) => stop(client, f, printer).await,
        ContainerFlags::Kill(f) => kill(client, f, printer).await,
        ContainerFlags::Rm(f) => remove(client, f, printer).await,
        ContainerFlags::Wait(f) => wait(client, f, printer).await,
        ContainerFlags::Update(f) => super::update::run(client, f, printer).await,
        ContainerFlags::Restart(f) => super::lifecycle::restart(client, f, printer).await,
        ContainerFlags::Pause(f) => super::lifecycle::pause(client, f, printer).await,
        ContainerFlags::Unpause(f) => super::lifecycle::unpause(client, f, printer).await,
        ContainerFlags::Rename(f) => super::lifecycle::rename(client, f).await,
        ContainerFlags::Stats(f) => super::stats::stats(client, f, printer).await,
        ContainerFlags::Prune(f) => super::system::container_prune(client, f, printer).await,
        ContainerFlags::Exec(f) => super::exec::run(client, f).await,
        ContainerFlags::Inspect(f) => {
            let f = InspectFlags {
                format: f.format.clone(),
                size: f.size,
                kind: Some("container".to_owned()),
                names: f.containers.clone(),
            };
            inspect(client, &f, printer).await
        }
        ContainerFlags::Fs(f) => super::fs::run(client, f, printer).await,
        ContainerFlags::Ports(f) => super::ports::run(client, f, printer).await,
    }
}

fn api(e: berth_api_client::Error) -> anyhow::Error {
    anyhow!("{e}")
}

/// docker's `filters.ToJSON`: `{"status":{"exited":true}}` from
/// `-f status=exited` (the daemon also takes the older list form).
pub(crate) fn filters_json(specs: &[String]) -> anyhow::Result<String> {
    let mut map: BTreeMap<String, BTreeMap<String, bool>> = BTreeMap::new();
    for spec in specs {
        let (k, v) = spec
            .split_once('=')
            .ok_or_else(|| anyhow!("bad format of filter (expected name=value)"))?;
        map.entry(k.trim().to_lowercase())
            .or_default()
            .insert(v.to_owned(), true);
    }
    if map.is_empty() {
        return Ok(String::new());
    }
    Ok(serde_json::to_string(&map)?)
}

/// docker's `TruncateID`: no `sha256:` and 12 characters.
pub(crate) fn truncate_id(id: &str) -> String {
    let hex = id.split_once(':').map_or(id, |(_, h)| h);
    hex.chars().take(12).collect()
}

/// The familiar form of a reference (`docker.io/library/` left out).
fn familiar(image: &str) -> &str {
    image
        .strip_prefix("docker.io/library/")
        .or_else(|| image.strip_prefix("docker.io/"))
        .unwrap_or(image)
}

/// docker's `ContainerContext.Image`: an image ID is shortened, a digest
/// dropped from a reference.
fn ps_image(image: &str, image_id: &str, trunc: bool) -> String {
    if image.is_empty() {
        return "<no image>".to_owned();
    }
    if !trunc {
        return image.to_owned();
    }
    if !image_id.is_empty() && truncate_id(image_id) == truncate_id(image) {
        return truncate_id(image_id);
    }
    familiar(image.split('@').next().unwrap_or(image)).to_owned()
}

/// docker's `DisplayablePorts` (`super::ports`).
fn ports(list: &Value) -> String {
    super::ports::displayable(list)
}

/// What `ps` reads of one entry of `GET /containers/json`. Parsed into
/// this rather than a JSON tree: the rest (each network's endpoint
/// settings, `HostConfig`) is skipped, not built and dropped again.
#[derive(Debug, Default, serde::Deserialize)]
#[serde(rename_all = "PascalCase", default)]
pub(crate) struct PsEntry {
    id: String,
    #[serde(deserialize_with = "null_default")]
    names: Vec<String>,
    image: String,
    #[serde(rename = "ImageID")]
    image_id: String,
    command: String,
    created: i64,
    /// As sent, for [`super::ports::displayable`].
    ports: Value,
    #[serde(deserialize_with = "null_default")]
    labels: BTreeMap<String, String>,
    state: String,
    status: String,
    size_rw: Option<i64>,
    size_root_fs: Option<i64>,
    #[serde(deserialize_with = "null_default")]
    mounts: Vec<PsMount>,
    #[serde(deserialize_with = "null_default")]
    network_settings: PsNetworkSettings,
}

#[derive(Debug, Default, serde::Deserialize)]
#[serde(rename_all = "PascalCase", default)]
struct PsMount {
    name: Option<String>,
    source: Option<String>,
    driver: Option<String>,
}

#[derive(Debug, Default, serde::Deserialize)]
#[serde(rename_all = "PascalCase", default)]
struct PsNetworkSettings {
    /// Only the names are shown.
    #[serde(deserialize_with = "null_default")]
    networks: BTreeMap<String, serde::de::IgnoredAny>,
}

/// Go's `null` for an empty map or list.
fn null_default<'de, D, T>(d: D) -> Result<T, D::Error>
where
    D: serde::Deserializer<'de>,
    T: Default + serde::Deserialize<'de>,
{
    use serde::Deserialize as _;
    Ok(Option::<T>::deserialize(d)?.unwrap_or_default())
}

/// The row fields a `--format` reads (lowercased: templates match field
/// names case-insensitively too); `None`: all of them.
pub(crate) type Wanted = Option<std::collections::BTreeSet<String>>;

/// The fields docker's container formatter offers to `--format`, for one
/// entry of `GET /containers/json`; of them only the `wanted` ones.
pub(crate) fn ps_row(c: &PsEntry, trunc: bool, now: i64, wanted: &Wanted) -> Value {
    let want = |field: &str| {
        wanted
            .as_ref()
            .is_none_or(|w| w.contains(&field.to_ascii_lowercase()))
    };
    let mut row = serde_json::Map::new();
    let mut put = |field: &str, value: &dyn Fn() -> String| {
        if want(field) {
            row.insert(field.to_owned(), Value::String(value()));
        }
    };
    put("Command", &|| {
        if trunc {
            format!("{:?}", ellipsis(&c.command, 20))
        } else {
            format!("{:?}", c.command)
        }
    });
    put("CreatedAt", &|| created_at(c.created));
    put("ID", &|| {
        if trunc {
            truncate_id(&c.id)
        } else {
            c.id.clone()
        }
    });
    put("Image", &|| ps_image(&c.image, &c.image_id, trunc));
    put("Labels", &|| {
        c.labels
            .iter()
            .map(|(k, v)| format!("{k}={v}"))
            .collect::<Vec<_>>()
            .join(",")
    });
    put("LocalVolumes", &|| {
        c.mounts
            .iter()
            .filter(|m| m.driver.as_deref() == Some("local"))
            .count()
            .to_string()
    });
    put("Mounts", &|| {
        c.mounts
            .iter()
            .map(|m| {
                let name = m.name.as_deref().filter(|n| !n.is_empty());
                let name = name.or(m.source.as_deref()).unwrap_or("");
                if trunc {
                    ellipsis(name, 15)
                } else {
                    name.to_owned()
                }
            })
            .collect::<Vec<_>>()
            .join(",")
    });
    put("Names", &|| {
        let names = c.names.iter().map(|n| n.strip_prefix('/').unwrap_or(n));
        // Truncated: the container's own name, not the link names (`a/b`).
        if trunc && let Some(own) = names.clone().find(|n| !n.contains('/')) {
            return own.to_owned();
        }
        names.collect::<Vec<_>>().join(",")
    });
    put("Networks", &|| {
        let names: Vec<&str> = c
            .network_settings
            .networks
            .keys()
            .map(String::as_str)
            .collect();
        names.join(",")
    });
    put("Ports", &|| ports(&c.ports));
    put("RunningFor", &|| {
        format!("{} ago", human_duration(now - c.created))
    });
    put("Size", &|| {
        // Absent sizes are Go's zero values.
        let rw = human_size(c.size_rw.unwrap_or(0));
        match c.size_root_fs.filter(|n| *n > 0) {
            Some(root) => format!("{rw} (virtual {})", human_size(root)),
            None => rw,
        }
    });
    put("State", &|| c.state.clone());
    put("Status", &|| c.status.clone());
    Value::Object(row)
}

/// [`ps_row`] of an entry given as a JSON tree, every field.
pub(crate) fn ps_row_of(c: Value, trunc: bool, now: i64) -> anyhow::Result<Value> {
    Ok(ps_row(&serde_json::from_value(c)?, trunc, now, &None))
}

pub(crate) fn ps_headers() -> Value {
    json!({
        "Command": "COMMAND", "CreatedAt": "CREATED AT", "ID": "CONTAINER ID",
        "Image": "IMAGE", "Labels": "LABELS", "LocalVolumes": "LOCAL VOLUMES",
        "Mounts": "MOUNTS", "Names": "NAMES", "Networks": "NETWORKS", "Ports": "PORTS",
        "RunningFor": "CREATED", "Size": "SIZE", "State": "STATE", "Status": "STATUS",
    })
}

/// The `ps` output for `containers` (the daemon's list).
pub(crate) fn format_ps(f: &PsFlags, containers: &[PsEntry], now: i64) -> anyhow::Result<String> {
    let trunc = !f.no_trunc;
    if f.quiet {
        return Ok(containers
            .iter()
            .map(|c| {
                let id = if trunc {
                    truncate_id(&c.id)
                } else {
                    c.id.clone()
                };
                id + "\n"
            })
            .collect());
    }
    let mut default =
        "{{.ID}}\t{{.Image}}\t{{.Command}}\t{{.RunningFor}}\t{{.Status}}\t{{.Ports}}\t{{.Names}}"
            .to_owned();
    if f.size {
        default.push_str("\t{{.Size}}");
    }
    let format = list_format(f.format.as_deref(), &default);
    let wanted: Wanted = match &format {
        ListFormat::Json => None,
        ListFormat::Raw(t) | ListFormat::Table(Some(t)) => Template::parse(t)?.fields(),
        ListFormat::Table(None) => Some(Default::default()),
    };
    let rows: Vec<Value> = containers
        .iter()
        .map(|c| ps_row(c, trunc, now, &wanted))
        .collect();
    if let ListFormat::Json = format {
        // docker's `json`: the formatter's fields, one object a line.
        let mut out = String::new();
        for r in &rows {
            out.push_str(&serde_json::to_string(&crate::template::sort_keys(r))?);
            out.push('\n');
        }
        return Ok(out);
    }
    render_rows(&format, &rows, &ps_headers())
}

async fn list(client: &Client, f: &PsFlags, printer: &mut Printer) -> anyhow::Result<()> {
    let limit = if f.latest && f.last == -1 {
        Some(1)
    } else {
        u32::try_from(f.last).ok().filter(|n| *n > 0)
    };
    let wants_size = f.size || f.format.as_deref().is_some_and(|t| t.contains(".Size"));
    let opts = ListOptions {
        // dockerd lists stopped containers too when a limit is given.
        all: f.all || limit.is_some(),
        limit,
        size: wants_size && !f.quiet,
        filters: filters_json(&f.filter)?,
    };
    let mut containers: Vec<PsEntry> = client.containers_as(&opts).await.map_err(api)?;
    // Newest first, as dockerd sorts them.
    containers.sort_by_key(|c| std::cmp::Reverse(c.created));
    if let Some(n) = limit {
        containers.truncate(usize::try_from(n).unwrap_or(usize::MAX));
    }
    printer.data(&format_ps(f, &containers, now())?)?;
    Ok(())
}

/// docker's `timetypes.GetTimestamp` against the clock: `value` (a
/// duration, a time, a date or a Unix time) as the API's `since`/`until`
/// text, see [`berth_api_types::timestamp::get_timestamp`].
pub(crate) fn timestamp(value: &str) -> Option<String> {
    let now = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| i128::try_from(d.as_nanos()).unwrap_or(0));
    berth_api_types::timestamp::get_timestamp(value, now)
}

async fn logs(client: &Client, f: &LogsFlags) -> anyhow::Result<()> {
    let c = client
        .container_inspect(&f.container, false)
        .await
        .map_err(api)?;
    let tty = c["Config"]["Tty"].as_bool().unwrap_or(false);
    let time = |name: &str, v: &Option<String>| -> anyhow::Result<Option<String>> {
        v.as_deref()
            .filter(|s| !s.is_empty())
            .map(|s| {
                timestamp(s).ok_or_else(|| {
                    anyhow!("invalid value for \"{name}\": failed to parse value as time or duration: \"{s}\"")
                })
            })
            .transpose()
    };
    let opts = LogsOptions {
        follow: f.follow,
        stdout: true,
        stderr: true,
        timestamps: f.timestamps,
        details: f.details,
        tail: Some(f.tail.clone()),
        since: time("since", &f.since)?,
        until: time("until", &f.until)?,
    };
    let mut body = client
        .container_logs(&f.container, &opts)
        .await
        .map_err(api)?;
    let mut demux = Demux::new();
    while let Some(chunk) = body.chunk().await {
        let chunk = chunk.map_err(api)?;
        if tty {
            write_out(StreamKind::Stdout, &chunk);
            continue;
        }
        for (kind, payload) in demux.push(&chunk).map_err(api)? {
            if kind == StreamKind::SystemErr {
                return Err(anyhow!("{}", String::from_utf8_lossy(&payload)));
            }
            write_out(kind, &payload);
        }
    }
    Ok(())
}

/// Writes a container's output to our stdout or stderr. A closed stdout
/// ends nothing: the rest is dropped, as with the printer.
pub(crate) fn write_out(kind: StreamKind, bytes: &[u8]) {
    let _ = match kind {
        StreamKind::Stderr => {
            let mut e = std::io::stderr().lock();
            e.write_all(bytes).and_then(|()| e.flush())
        }
        _ => {
            let mut o = std::io::stdout().lock();
            o.write_all(bytes).and_then(|()| o.flush())
        }
    };
}

/// What [`each`]'s operation reports for one container.
pub(crate) enum Done {
    /// A line for stdout (the name, or `wait`'s status code).
    Line(String),
    /// A message for stderr that is no failure (`rm -f` of what is not
    /// there, as the docker CLI).
    Warning(String),
    /// A failure found before asking the daemon (reported with the
    /// daemon's errors, at the end).
    Failed(String),
}

/// Runs `op` on each container, all at once (see [`super::parallel`]),
/// printing each result in the order of the names; the daemon's errors
/// are reported together at the end (exit 1), as the docker CLI does.
pub(crate) async fn each<F, Fut>(
    names: &[String],
    printer: &mut Printer,
    op: F,
) -> anyhow::Result<()>
where
    F: FnMut(String) -> Fut,
    Fut: std::future::Future<Output = Result<Done, berth_api_client::Error>>,
{
    let mut errors = Vec::new();
    super::parallel::in_order(names, op, |_, r| {
        match r {
            Ok(Done::Line(line)) => printer.data(&format!("{line}\n"))?,
            Ok(Done::Warning(m)) => printer.warn(&m),
            Ok(Done::Failed(m)) => errors.push(m),
            Err(e) => errors.push(e.to_string()),
        }
        Ok(())
    })
    .await?;
    if errors.is_empty() {
        Ok(())
    } else {
        Err(anyhow!("{}", errors.join("\n")))
    }
}

async fn stop(client: &Client, f: &StopFlags, printer: &mut Printer) -> anyhow::Result<()> {
    each(&f.containers, printer, |name| async move {
        client
            .container_stop(&name, f.time, f.signal.as_deref())
            .await?;
        Ok(Done::Line(name))
    })
    .await
}

async fn kill(client: &Client, f: &KillFlags, printer: &mut Printer) -> anyhow::Result<()> {
    each(&f.containers, printer, |name| async move {
        client
            .container_kill(&name, f.signal.as_deref().filter(|s| !s.is_empty()))
            .await?;
        Ok(Done::Line(name))
    })
    .await
}

async fn remove(client: &Client, f: &RmFlags, printer: &mut Printer) -> anyhow::Result<()> {
    each(&f.containers, printer, |name| async move {
        // As the docker CLI: slashes around a name are dropped (a link is
        // `parent/alias`), and nothing left is an error of its own.
        let trimmed = name.trim_matches('/');
        if trimmed.is_empty() {
            return Ok(Done::Failed("Container name cannot be empty".to_owned()));
        }
        let removed = if f.link {
            client.container_remove_link(trimmed).await
        } else {
            client.container_remove(trimmed, f.force, f.volumes).await
        };
        match removed {
            Ok(()) => Ok(Done::Line(name)),
            // `rm -f` of what is not there is no failure: the docker CLI
            // prints the daemon's message and goes on (exit 0).
            Err(e) if f.force && e.status() == Some(404) => Ok(Done::Warning(e.to_string())),
            Err(e) => Err(e),
        }
    })
    .await
}

async fn wait(client: &Client, f: &WaitFlags, printer: &mut Printer) -> anyhow::Result<()> {
    each(&f.containers, printer, |name| async move {
        let pending = client.container_wait(&name, "not-running").await?;
        let answer = pending.result().await?;
        Ok(Done::Line(answer.status_code.to_string()))
    })
    .await
}

async fn start(client: &Client, f: &StartFlags, printer: &mut Printer) -> anyhow::Result<()> {
    if f.attach || f.interactive {
        let [name] = f.containers.as_slice() else {
            return Err(anyhow!(
                "you cannot start and attach multiple containers at once"
            ));
        };
        return session::start_attached(client, name, f.interactive, f.detach_keys.as_deref())
            .await;
    }
    let mut failed = Vec::new();
    super::parallel::in_order(
        &f.containers,
        |name| async move { client.container_start(&name).await },
        |name, r| {
            match r {
                Ok(()) => printer.data(&format!("{name}\n"))?,
                Err(e) => {
                    printer.warn(&e.to_string());
                    failed.push(name.to_owned());
                }
            }
            Ok(())
        },
    )
    .await?;
    if failed.is_empty() {
        Ok(())
    } else {
        Err(anyhow!(
            "Error: failed to start containers: {}",
            failed.join(", ")
        ))
    }
}

/// `inspect`: containers, then images, networks and volumes (unless
/// `--type` says which), as the docker CLI looks them up; what was found
/// is printed, then the errors (exit 1).
pub(crate) async fn inspect(
    client: &Client,
    f: &InspectFlags,
    printer: &mut Printer,
) -> anyhow::Result<()> {
    const KINDS: [&str; 4] = ["container", "image", "network", "volume"];
    let kind = f.kind.as_deref().filter(|k| !k.is_empty());
    if let Some(k) = kind
        && !KINDS.contains(&k)
    {
        return Err(anyhow!("\"{k}\" is not a valid value for --type"));
    }
    let mut found = Vec::new();
    let mut errors = Vec::new();
    for name in &f.names {
        let mut result = None;
        for each in KINDS {
            if result.is_some() || kind.is_some_and(|k| k != each) {
                continue;
            }
            let got = match each {
                "container" => client.container_inspect_as::<OValue>(name, f.size).await,
                "image" => client.image_inspect_as::<OValue>(name).await,
                "network" => client
                    .network_inspect(name)
                    .await
                    .map(|n| OValue::from_serialize(&n).unwrap_or(OValue::Null)),
                _ => client.volume_inspect_as::<OValue>(name).await,
            };
            match got {
                Ok(v) => result = Some(Ok(v)),
                Err(e) if kind.is_none() && e.status() == Some(404) => {}
                Err(e) => result = Some(Err(e.to_string())),
            }
        }
        match result {
            Some(Ok(v)) => found.push(v),
            Some(Err(e)) => errors.push(e),
            None => errors.push(format!("Error: No such object: {name}")),
        }
    }
    print_inspect(f.format.as_deref(), &found, printer)?;
    if errors.is_empty() {
        Ok(())
    } else {
        Err(anyhow!("{}", errors.join("\n")))
    }
}

/// docker's inspect output: an indented JSON list, `json` lines, or a
/// template per object.
pub(crate) fn print_inspect(
    format: Option<&str>,
    found: &[OValue],
    printer: &mut Printer,
) -> anyhow::Result<()> {
    match format {
        None | Some("") => {
            let text = serde_json::to_string(found)?;
            printer.data(&(indent_json(&text) + "\n"))?;
        }
        Some("json") => {
            for v in found {
                printer.data(&(serde_json::to_string(v)? + "\n"))?;
            }
        }
        Some(t) => {
            let tpl = Template::parse(t)?;
            for v in found {
                printer.data(&(tpl.render_ordered(v)? + "\n"))?;
            }
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use clap::Parser;

    use super::*;

    fn ps_flags(args: &[&str]) -> PsFlags {
        #[derive(Parser)]
        struct P {
            #[command(flatten)]
            f: PsFlags,
        }
        let mut all = vec!["ps"];
        all.extend_from_slice(args);
        P::try_parse_from(all).unwrap().f
    }

    fn sample(now: i64) -> Vec<PsEntry> {
        [
            json!({
                "Id": "4f2c1a9b8e7d6c5b4a392817161514131211100f0e0d0c0b0a09080706050403",
                "Names": ["/web"], "Image": "busybox", "ImageID": "sha256:abc",
                "Command": "sh -c 'while true; do sleep 1; done'", "Created": now - 120,
                "Ports": [], "Labels": {"a": "1"}, "State": "running", "Status": "Up 2 minutes",
                "HostConfig": {"NetworkMode": "none"}, "NetworkSettings": {"Networks": {}},
                "Mounts": []
            }),
            json!({
                "Id": "0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef",
                "Names": ["/hello"], "Image": "sha256:9c7a54a9a43cca047013b82af109fe963fde787f63f9e016fdc3384500c2823d",
                "ImageID": "sha256:9c7a54a9a43cca047013b82af109fe963fde787f63f9e016fdc3384500c2823d",
                "Command": "/hello", "Created": now - 3 * 86_400,
                "Ports": [{"PrivatePort": 80, "Type": "tcp"}], "Labels": null,
                "State": "exited", "Status": "Exited (0) 3 days ago", "Mounts": null
            }),
        ]
        .into_iter()
        .map(|v| serde_json::from_value(v).unwrap())
        .collect()
    }

    #[test]
    fn ps_table_as_docker() {
        let now = 1_800_000_000;
        let out = format_ps(&ps_flags(&[]), &sample(now), now).unwrap();
        assert_eq!(
            out,
            "CONTAINER ID   IMAGE          COMMAND                  CREATED         STATUS                  PORTS     NAMES\n\
             4f2c1a9b8e7d   busybox        \"sh -c 'while true; …\"   2 minutes ago   Up 2 minutes                      web\n\
             0123456789ab   9c7a54a9a43c   \"/hello\"                 3 days ago      Exited (0) 3 days ago   80/tcp    hello\n"
        );
        let q = format_ps(&ps_flags(&["-q"]), &sample(now), now).unwrap();
        assert_eq!(q, "4f2c1a9b8e7d\n0123456789ab\n");
        let full = format_ps(&ps_flags(&["-q", "--no-trunc"]), &sample(now), now).unwrap();
        assert!(full.starts_with("4f2c1a9b8e7d6c5b4a39"), "{full}");
        let t = format_ps(
            &ps_flags(&["--format", "{{.Names}}: {{.Command}} {{.Labels}}"]),
            &sample(now),
            now,
        )
        .unwrap();
        assert_eq!(t, "web: \"sh -c 'while true; …\" a=1\nhello: \"/hello\" \n");
        let t = format_ps(
            &ps_flags(&["--format", "table {{.ID}}\\t{{.State}}"]),
            &sample(now),
            now,
        )
        .unwrap();
        assert_eq!(
            t,
            "CONTAINER ID   STATE\n4f2c1a9b8e7d   running\n0123456789ab   exited\n"
        );
        let t = format_ps(
            &ps_flags(&["--no-trunc", "--format", "{{.Command}}"]),
            &sample(now),
            now,
        )
        .unwrap();
        assert_eq!(
            t.lines().next(),
            Some("\"sh -c 'while true; do sleep 1; done'\"")
        );
    }

    #[test]
    fn filters_are_dockers_map() {
        assert_eq!(
            filters_json(&[
                "status=exited".into(),
                "status=created".into(),
                "name=a".into()
            ])
            .unwrap(),
            r#"{"name":{"a":true},"status":{"created":true,"exited":true}}"#
        );
        assert_eq!(filters_json(&[]).unwrap(), "");
        assert!(filters_json(&["nope".into()]).is_err());
    }

    #[test]
    fn image_column() {
        assert_eq!(ps_image("busybox@sha256:abc", "", true), "busybox");
        assert_eq!(
            ps_image("docker.io/library/busybox:1", "", true),
            "busybox:1"
        );
        assert_eq!(ps_image("", "", true), "<no image>");
    }
}
