//! `images`, `image ls|rm|tag|history|save|load|import|inspect`, `tag`,
//! `rmi`, `history`, `save`, `load`, `import`: docker's output and exit
//! codes.

use std::io::{IsTerminal, Read};
use std::time::{SystemTime, UNIX_EPOCH};

use anyhow::{Context, anyhow};
use berth_api_client::Client;
use berth_api_types::{HistoryResponseItem, ImageSummary, JsonMessage};
use serde_json::{Value, json};

use crate::flags::images::{
    HistoryFlags, ImageFlags, ImageInspectFlags, ImagesFlags, ImportFlags, LoadFlags, RmiFlags,
    SaveFlags, TagFlags,
};
use crate::printer::Printer;
use crate::template::Template;

pub(crate) async fn run(
    client: &Client,
    cmd: &ImageFlags,
    printer: &mut Printer,
) -> anyhow::Result<()> {
    match cmd {
        ImageFlags::Ls(f) => list(client, f, printer).await,
        ImageFlags::Rm(f) => remove(client, f, printer).await,
        ImageFlags::Tag(f) => tag(client, f).await,
        ImageFlags::History(f) => history(client, f, printer).await,
        ImageFlags::Save(f) => save(client, f).await,
        ImageFlags::Load(f) => load(client, f, printer).await,
        ImageFlags::Pull(f) => super::pull::pull(client, f, printer).await,
        ImageFlags::Push(f) => super::push::push(client, f, printer).await,
        ImageFlags::Import(f) => import(client, f, printer).await,
        ImageFlags::Inspect(f) => inspect(client, f, printer).await,
        ImageFlags::Prune(f) => super::system::image_prune(client, f, printer).await,
    }
}

fn api(e: berth_api_client::Error) -> anyhow::Error {
    anyhow!("{e}")
}

pub(crate) fn now() -> i64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| i64::try_from(d.as_secs()).unwrap_or(i64::MAX))
}

/// docker's `units.HumanDuration`.
pub(crate) fn human_duration(seconds: i64) -> String {
    let s = seconds;
    if s < 1 {
        return "Less than a second".to_owned();
    }
    if s == 1 {
        return "1 second".to_owned();
    }
    if s < 60 {
        return format!("{s} seconds");
    }
    let minutes = s / 60;
    if minutes == 1 {
        return "About a minute".to_owned();
    }
    if minutes < 60 {
        return format!("{minutes} minutes");
    }
    // Go rounds the hours here.
    let hours = (s + 1800) / 3600;
    if hours == 1 {
        return "About an hour".to_owned();
    }
    if hours < 48 {
        return format!("{hours} hours");
    }
    if hours < 24 * 7 * 2 {
        return format!("{} days", hours / 24);
    }
    if hours < 24 * 30 * 2 {
        return format!("{} weeks", hours / 24 / 7);
    }
    if hours < 24 * 365 * 2 {
        return format!("{} months", hours / 24 / 30);
    }
    format!("{} years", s / 3600 / 24 / 365)
}

pub(crate) fn since(created: i64) -> String {
    format!("{} ago", human_duration(now() - created))
}

/// docker's `units.HumanSizeWithPrecision(size, 3)`: decimal units, Go's
/// `%.3g`.
pub(crate) fn human_size(size: i64) -> String {
    const UNITS: [&str; 9] = ["B", "kB", "MB", "GB", "TB", "PB", "EB", "ZB", "YB"];
    #[allow(clippy::cast_precision_loss, reason = "display only")]
    let mut v = size as f64;
    let mut i = 0;
    while v >= 1000.0 && i < UNITS.len() - 1 {
        v /= 1000.0;
        i += 1;
    }
    let text = if v >= 100.0 {
        format!("{v:.0}")
    } else if v >= 10.0 {
        format!("{v:.1}")
    } else {
        format!("{v:.2}")
    };
    let text = if text.contains('.') {
        text.trim_end_matches('0').trim_end_matches('.').to_owned()
    } else {
        text
    };
    format!("{text}{}", UNITS[i])
}

/// `time.Unix(t, 0).String()` in UTC.
pub(crate) fn created_at(t: i64) -> String {
    chrono::DateTime::from_timestamp(t, 0)
        .unwrap_or_default()
        .format("%Y-%m-%d %H:%M:%S +0000 UTC")
        .to_string()
}

fn short_id(id: &str, no_trunc: bool) -> String {
    if no_trunc {
        return id.to_owned();
    }
    let hex = id.strip_prefix("sha256:").unwrap_or(id);
    hex.chars().take(12).collect()
}

/// Go's `text/tabwriter` as docker sets it up (minwidth 10, padding 3):
/// cells ended by a tab are aligned; the last cell of a line is not.
pub(crate) fn tabulate(text: &str) -> String {
    let lines: Vec<Vec<&str>> = text.lines().map(|l| l.split('\t').collect()).collect();
    let mut widths: Vec<usize> = Vec::new();
    for cells in &lines {
        for (i, c) in cells.iter().enumerate().take(cells.len().saturating_sub(1)) {
            if widths.len() <= i {
                widths.push(0);
            }
            widths[i] = widths[i].max(c.chars().count());
        }
    }
    let mut out = String::new();
    for cells in &lines {
        let last = cells.len().saturating_sub(1);
        for (i, c) in cells.iter().enumerate() {
            out.push_str(c);
            if i < last {
                let w = (widths[i] + 3).max(10);
                out.push_str(&" ".repeat(w - c.chars().count()));
            }
        }
        out.push('\n');
    }
    out
}

/// How `--format` was given for a list command.
pub(crate) enum ListFormat {
    Table(Option<String>),
    Json,
    Raw(String),
}

pub(crate) fn list_format(format: Option<&str>, default: &str) -> ListFormat {
    // docker's `preFormat`: `\t` and `\n` typed on a shell are tabs and
    // newlines.
    let format = format.map(|f| f.trim().replace("\\t", "\t").replace("\\n", "\n"));
    match format.as_deref() {
        None | Some("") | Some("table") => ListFormat::Table(Some(default.to_owned())),
        Some("json") => ListFormat::Json,
        Some(t) => match t.strip_prefix("table") {
            Some(rest) => ListFormat::Table(Some(rest.trim().to_owned())),
            None => ListFormat::Raw(t.to_owned()),
        },
    }
}

/// Renders rows through a format: a table (with a header made from the
/// template's fields), JSON lines, or a raw template.
pub(crate) fn render_rows(
    format: &ListFormat,
    rows: &[Value],
    headers: &Value,
) -> anyhow::Result<String> {
    match format {
        ListFormat::Json => {
            let mut out = String::new();
            for r in rows {
                out.push_str(&serde_json::to_string(&crate::template::sort_keys(r))?);
                out.push('\n');
            }
            Ok(out)
        }
        ListFormat::Raw(t) => {
            let tpl = Template::parse(t)?;
            let mut out = String::new();
            for r in rows {
                out.push_str(&tpl.render(r)?);
                out.push('\n');
            }
            Ok(out)
        }
        ListFormat::Table(t) => {
            let t = t.clone().unwrap_or_default();
            let tpl = Template::parse(&t)?;
            let head = tpl.render(headers)?;
            let mut text = head + "\n";
            for r in rows {
                text.push_str(&tpl.render(r)?);
                text.push('\n');
            }
            Ok(tabulate(&text))
        }
    }
}

fn image_headers() -> Value {
    json!({
        "ID": "IMAGE ID", "Repository": "REPOSITORY", "Tag": "TAG", "Digest": "DIGEST",
        "CreatedSince": "CREATED", "CreatedAt": "CREATED AT", "Size": "SIZE",
        "Containers": "CONTAINERS", "SharedSize": "SHARED SIZE", "UniqueSize": "UNIQUE SIZE",
        "VirtualSize": "VIRTUAL SIZE",
    })
}

/// The rows docker's image formatter makes: one per tag, `<none>` for
/// untagged images.
fn image_rows(images: &[ImageSummary], no_trunc: bool) -> Vec<Value> {
    let mut rows = Vec::new();
    for img in images {
        let pairs: Vec<(String, String)> = if img.repo_tags.is_empty() {
            vec![("<none>".to_owned(), "<none>".to_owned())]
        } else {
            img.repo_tags
                .iter()
                .map(|t| {
                    let slash = t.rfind('/').map_or(0, |i| i + 1);
                    match t[slash..].rfind(':') {
                        Some(c) => (t[..slash + c].to_owned(), t[slash + c + 1..].to_owned()),
                        None => (t.clone(), "<none>".to_owned()),
                    }
                })
                .collect()
        };
        for (repo, tag) in pairs {
            rows.push(json!({
                "Containers": if img.containers < 0 { "N/A".to_owned() } else { img.containers.to_string() },
                "CreatedAt": created_at(img.created),
                "CreatedSince": since(img.created),
                "Digest": "<none>",
                "ID": short_id(&img.id, no_trunc),
                "Repository": repo,
                "SharedSize": if img.shared_size < 0 { "N/A".to_owned() } else { human_size(img.shared_size) },
                "Size": human_size(img.size),
                "Tag": tag,
                "UniqueSize": "N/A",
                "VirtualSize": human_size(img.size),
            }));
        }
    }
    rows
}

async fn list(client: &Client, f: &ImagesFlags, printer: &mut Printer) -> anyhow::Result<()> {
    let mut filters: std::collections::BTreeMap<String, Vec<String>> = Default::default();
    for spec in &f.filter {
        let (k, v) = spec
            .split_once('=')
            .ok_or_else(|| anyhow!("bad format of filter (expected name=value)"))?;
        filters
            .entry(k.to_lowercase())
            .or_default()
            .push(v.to_owned());
    }
    if let Some(r) = &f.reference {
        filters
            .entry("reference".to_owned())
            .or_default()
            .push(r.clone());
    }
    let filters = if filters.is_empty() {
        String::new()
    } else {
        serde_json::to_string(&filters)?
    };
    let images = client.images(f.all, &filters).await.map_err(api)?;
    if f.quiet {
        let mut seen = std::collections::BTreeSet::new();
        let mut out = String::new();
        for img in &images {
            let id = short_id(&img.id, f.no_trunc);
            if seen.insert(id.clone()) {
                out.push_str(&id);
                out.push('\n');
            }
        }
        printer.data(&out)?;
        return Ok(());
    }
    let format = list_format(
        f.format.as_deref(),
        "{{.Repository}}\t{{.Tag}}\t{{.ID}}\t{{.CreatedSince}}\t{{.Size}}",
    );
    let rows = image_rows(&images, f.no_trunc);
    printer.data(&render_rows(&format, &rows, &image_headers())?)?;
    Ok(())
}

async fn remove(client: &Client, f: &RmiFlags, printer: &mut Printer) -> anyhow::Result<()> {
    let mut errors = Vec::new();
    for name in &f.images {
        match client.image_remove(name, f.force, f.no_prune).await {
            Ok(items) => {
                let mut out = String::new();
                for i in items {
                    if let Some(t) = i.untagged {
                        out.push_str(&format!("Untagged: {t}\n"));
                    }
                    if let Some(d) = i.deleted {
                        out.push_str(&format!("Deleted: {d}\n"));
                    }
                }
                printer.data(&out)?;
            }
            Err(e @ berth_api_client::Error::Api { .. }) => errors.push(e.to_string()),
            Err(e) => return Err(api(e)),
        }
    }
    // docker reports the failures together, after what worked.
    if errors.is_empty() {
        Ok(())
    } else {
        Err(anyhow!("{}", errors.join("\n")))
    }
}

/// Splits `REPO[:TAG]` (the tag is after the last `/`), default `latest`.
pub(crate) fn split_reference(r: &str) -> (String, String) {
    let slash = r.rfind('/').map_or(0, |i| i + 1);
    let r = r.split('@').next().unwrap_or(r);
    match r[slash.min(r.len())..].rfind(':') {
        Some(c) => (r[..slash + c].to_owned(), r[slash + c + 1..].to_owned()),
        None => (r.to_owned(), "latest".to_owned()),
    }
}

async fn tag(client: &Client, f: &TagFlags) -> anyhow::Result<()> {
    let (repo, tag) = split_reference(&f.target);
    client.image_tag(&f.source, &repo, &tag).await.map_err(api)
}

/// docker's `stringutils.Ellipsis`.
pub(crate) fn ellipsis(s: &str, max: usize) -> String {
    let chars: Vec<char> = s.chars().collect();
    if chars.len() <= max {
        return s.to_owned();
    }
    let mut out: String = chars[..max - 1].iter().collect();
    out.push('…');
    out
}

fn history_rows(items: &[HistoryResponseItem], f: &HistoryFlags) -> Vec<Value> {
    items
        .iter()
        .map(|h| {
            let id = if h.id == "<missing>" {
                h.id.clone()
            } else {
                short_id(&h.id, f.no_trunc)
            };
            let created_by = h.created_by.replace('\t', " ");
            let created_by = if f.no_trunc {
                created_by
            } else {
                ellipsis(&created_by, 45)
            };
            json!({
                "Comment": h.comment,
                "CreatedAt": created_at(h.created),
                "CreatedBy": created_by,
                "CreatedSince": if f.human { since(h.created) } else { created_at(h.created) },
                "ID": id,
                "Size": if f.human { human_size(h.size) } else { h.size.to_string() },
            })
        })
        .collect()
}

async fn history(client: &Client, f: &HistoryFlags, printer: &mut Printer) -> anyhow::Result<()> {
    let items = client.image_history(&f.image).await.map_err(api)?;
    if f.quiet {
        let out: String = history_rows(&items, f)
            .iter()
            .map(|r| format!("{}\n", r["ID"].as_str().unwrap_or("")))
            .collect();
        printer.data(&out)?;
        return Ok(());
    }
    let format = list_format(
        f.format.as_deref(),
        "{{.ID}}\t{{.CreatedSince}}\t{{.CreatedBy}}\t{{.Size}}\t{{.Comment}}",
    );
    let headers = json!({
        "ID": "IMAGE", "CreatedSince": "CREATED", "CreatedAt": "CREATED AT",
        "CreatedBy": "CREATED BY", "Size": "SIZE", "Comment": "COMMENT",
    });
    printer.data(&render_rows(&format, &history_rows(&items, f), &headers)?)?;
    Ok(())
}

async fn save(client: &Client, f: &SaveFlags) -> anyhow::Result<()> {
    let to_stdout = f.output.as_deref().is_none_or(|o| o == "-");
    if to_stdout && std::io::stdout().is_terminal() {
        return Err(anyhow!(
            "cowardly refusing to save to a terminal. Use the -o flag or redirect"
        ));
    }
    match f.output.as_deref() {
        Some(path) if path != "-" => {
            let mut file = fs_err::File::create(path)
                .with_context(|| format!("failed to save image: {path}"))?;
            client.image_save(&f.images, &mut file).await.map_err(api)
        }
        _ => {
            let mut out = std::io::stdout().lock();
            client.image_save(&f.images, &mut out).await.map_err(api)
        }
    }
}

/// A file, or stdin for `-` / none; read as the request goes.
fn open_input(path: Option<&str>) -> anyhow::Result<Box<dyn Read + Send>> {
    match path {
        Some(p) if p != "-" => Ok(Box::new(fs_err::File::open(p)?)),
        _ => Ok(Box::new(std::io::stdin())),
    }
}

fn print_messages(messages: &[JsonMessage], printer: &mut Printer) -> anyhow::Result<()> {
    let mut out = String::new();
    for m in messages {
        if let Some(s) = &m.stream {
            out.push_str(s);
        } else if let Some(s) = &m.status {
            match &m.id {
                Some(id) if !id.is_empty() => out.push_str(&format!("{id}: {s}\n")),
                _ => out.push_str(&format!("{s}\n")),
            }
        }
    }
    printer.data(&out)?;
    Ok(())
}

async fn load(client: &Client, f: &LoadFlags, printer: &mut Printer) -> anyhow::Result<()> {
    if f.input.is_none() && std::io::stdin().is_terminal() {
        return Err(anyhow!("requested load from stdin, but stdin is empty"));
    }
    let input = open_input(f.input.as_deref())?;
    let messages = client.image_load(input).await.map_err(api)?;
    print_messages(&messages, printer)
}

async fn import(client: &Client, f: &ImportFlags, printer: &mut Printer) -> anyhow::Result<()> {
    let input = open_input(Some(f.source.as_str()))?;
    let (repo, tag) = match &f.reference {
        Some(r) => {
            let (repo, tag) = split_reference(r);
            (repo, tag)
        }
        None => (String::new(), String::new()),
    };
    let messages = client
        .image_import(
            input,
            &repo,
            &tag,
            &f.change,
            f.message.as_deref().unwrap_or(""),
        )
        .await
        .map_err(api)?;
    print_messages(&messages, printer)
}

/// Re-indents JSON text with 4 spaces (Go's `json.MarshalIndent`),
/// keeping the daemon's field order.
/// docker's inspect output for the objects `found`: an indented JSON array
/// without a format, one compact object per line with `json`, else the
/// template per object; then the lookup `errors`, one per line (exit 1).
pub(crate) fn print_inspected<T: serde::Serialize>(
    found: &[T],
    format: Option<&str>,
    errors: &[String],
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
                printer.data(
                    &(tpl.render_ordered(&crate::ojson::OValue::from_serialize(v)?)? + "\n"),
                )?;
            }
        }
    }
    if errors.is_empty() {
        Ok(())
    } else {
        Err(anyhow!("{}", errors.join("\n")))
    }
}

/// docker's `inspect` of each of `names` with `lookup` (one request a
/// name, in order), printed as [`print_inspected`] does; a name the daemon
/// does not know is reported after the others (exit 1), any other failure
/// stops at once.
pub(crate) async fn inspect_each<'a, T, F, Fut>(
    names: &'a [String],
    mut lookup: F,
    format: Option<&str>,
    printer: &mut Printer,
) -> anyhow::Result<()>
where
    T: serde::Serialize,
    F: FnMut(&'a str) -> Fut,
    Fut: Future<Output = Result<T, berth_api_client::Error>>,
{
    let mut found = Vec::new();
    let mut errors = Vec::new();
    for name in names {
        match lookup(name).await {
            Ok(v) => found.push(v),
            Err(e @ berth_api_client::Error::Api { .. }) => errors.push(e.to_string()),
            Err(e) => return Err(api(e)),
        }
    }
    print_inspected(&found, format, &errors, printer)
}

/// docker's `rm` of each of `names` with `remove` (one request a name, in
/// order), each name printed once it is gone; the daemon's refusals are
/// reported together after what worked (exit 1), a 404 is passed over when
/// `skip_missing`, and any other failure stops at once.
pub(crate) async fn remove_each<'a, F, Fut>(
    names: &'a [String],
    skip_missing: bool,
    mut remove: F,
    printer: &mut Printer,
) -> anyhow::Result<()>
where
    F: FnMut(&'a str) -> Fut,
    Fut: Future<Output = Result<(), berth_api_client::Error>>,
{
    let mut errors = Vec::new();
    for name in names {
        match remove(name).await {
            Ok(()) => printer.data(&format!("{name}\n"))?,
            Err(berth_api_client::Error::Api { status: 404, .. }) if skip_missing => {}
            Err(e @ berth_api_client::Error::Api { .. }) => errors.push(e.to_string()),
            Err(e) => return Err(api(e)),
        }
    }
    if errors.is_empty() {
        Ok(())
    } else {
        Err(anyhow!("{}", errors.join("\n")))
    }
}

pub(crate) fn indent_json(text: &str) -> String {
    let mut out = String::new();
    let mut depth = 0usize;
    let mut in_str = false;
    let mut escaped = false;
    let chars: Vec<char> = text.trim().chars().collect();
    let mut i = 0;
    let newline = |out: &mut String, depth: usize| {
        out.push('\n');
        out.push_str(&"    ".repeat(depth));
    };
    while i < chars.len() {
        let c = chars[i];
        if in_str {
            out.push(c);
            if escaped {
                escaped = false;
            } else if c == '\\' {
                escaped = true;
            } else if c == '"' {
                in_str = false;
            }
            i += 1;
            continue;
        }
        match c {
            '"' => {
                in_str = true;
                out.push(c);
            }
            '{' | '[' => {
                let close = if c == '{' { '}' } else { ']' };
                let mut j = i + 1;
                while j < chars.len() && chars[j].is_whitespace() {
                    j += 1;
                }
                if chars.get(j) == Some(&close) {
                    out.push(c);
                    out.push(close);
                    i = j;
                } else {
                    out.push(c);
                    depth += 1;
                    newline(&mut out, depth);
                }
            }
            '}' | ']' => {
                depth = depth.saturating_sub(1);
                newline(&mut out, depth);
                out.push(c);
            }
            ',' => {
                out.push(c);
                newline(&mut out, depth);
            }
            ':' => out.push_str(": "),
            c if c.is_whitespace() => {}
            c => out.push(c),
        }
        i += 1;
    }
    out
}

async fn inspect(
    client: &Client,
    f: &ImageInspectFlags,
    printer: &mut Printer,
) -> anyhow::Result<()> {
    inspect_each(
        &f.images,
        |name| client.image_inspect_as::<crate::ojson::OValue>(name),
        f.format.as_deref(),
        printer,
    )
    .await
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sizes_as_docker() {
        assert_eq!(human_size(0), "0B");
        assert_eq!(human_size(13_256), "13.3kB");
        assert_eq!(human_size(1_220_000), "1.22MB");
        assert_eq!(human_size(2_000_000), "2MB");
        assert_eq!(human_size(123_456_789), "123MB");
    }

    #[test]
    fn durations_as_docker() {
        assert_eq!(human_duration(0), "Less than a second");
        assert_eq!(human_duration(1), "1 second");
        assert_eq!(human_duration(59), "59 seconds");
        assert_eq!(human_duration(60), "About a minute");
        assert_eq!(human_duration(600), "10 minutes");
        assert_eq!(human_duration(3600), "About an hour");
        assert_eq!(human_duration(3 * 3600), "3 hours");
        assert_eq!(human_duration(3 * 86_400), "3 days");
        assert_eq!(human_duration(20 * 86_400), "2 weeks");
        assert_eq!(human_duration(300 * 86_400), "10 months");
        assert_eq!(human_duration(3 * 365 * 86_400), "3 years");
    }

    #[test]
    fn table_layout() {
        let t = tabulate("REPOSITORY\tTAG\tIMAGE ID\nhello-world\tlatest\tabc\n");
        assert_eq!(
            t,
            "REPOSITORY    TAG       IMAGE ID\nhello-world   latest    abc\n"
        );
    }

    #[test]
    fn references_and_json() {
        assert_eq!(split_reference("a/b:1"), ("a/b".into(), "1".into()));
        assert_eq!(
            split_reference("host:5000/b"),
            ("host:5000/b".into(), "latest".into())
        );
        assert_eq!(
            indent_json(r#"[{"A":[],"B":{"c":1}}]"#),
            "[\n    {\n        \"A\": [],\n        \"B\": {\n            \"c\": 1\n        }\n    }\n]"
        );
        assert_eq!(created_at(0), "1970-01-01 00:00:00 +0000 UTC");
    }
}
