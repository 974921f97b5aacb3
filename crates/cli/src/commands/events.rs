//! `berth events`: docker's event lines, templates and JSON.

use anyhow::anyhow;
use berth_api_client::{Client, EventsOptions};
use berth_api_types::event::EventMessage;

use super::containers::{filters_json, timestamp};
use crate::flags::system::EventsFlags;
use crate::printer::Printer;
use crate::template::Template;

fn api(e: berth_api_client::Error) -> anyhow::Error {
    anyhow!("{e}")
}

/// `--since`/`--until` as the API takes them (docker's
/// `timetypes.GetTimestamp`).
fn api_time(value: Option<&str>) -> anyhow::Result<Option<String>> {
    value
        .filter(|s| !s.is_empty())
        .map(|s| {
            timestamp(s)
                .ok_or_else(|| anyhow!("failed to parse value as time or duration: \"{s}\""))
        })
        .transpose()
}

/// How events are printed: docker's line, or a template per event.
enum EventFormat {
    Pretty,
    /// `json` or `{{json .}}`: the message with its fields in docker's
    /// order (templates see JSON trees, whose keys are sorted).
    Json,
    Template(Template),
}

fn event_format(format: Option<&str>) -> anyhow::Result<EventFormat> {
    let format = format.map(|f| f.replace("\\t", "\t").replace("\\n", "\n"));
    Ok(match format.as_deref() {
        None | Some("") => EventFormat::Pretty,
        Some("json" | "{{json .}}") => EventFormat::Json,
        Some(t) => {
            let tpl = Template::parse(t)?;
            // docker checks the template against an empty message first.
            tpl.render(&serde_json::to_value(EventMessage::default())?)?;
            EventFormat::Template(tpl)
        }
    })
}

/// docker's `prettyPrintEvent`: `TIME TYPE ACTION ID (key=value, ...)`
/// with the time as `RFC3339NanoFixed` (printed in UTC).
fn pretty_event(ev: &EventMessage) -> String {
    let mut out = String::new();
    let nanos = if ev.time_nano != 0 {
        Some(i128::from(ev.time_nano))
    } else if ev.time != 0 {
        Some(i128::from(ev.time) * 1_000_000_000)
    } else {
        None
    };
    if let Some(n) = nanos {
        let secs = i64::try_from(n.div_euclid(1_000_000_000)).unwrap_or(0);
        let sub = u32::try_from(n.rem_euclid(1_000_000_000)).unwrap_or(0);
        let t = chrono::DateTime::from_timestamp(secs, sub).unwrap_or_default();
        out.push_str(&t.format("%Y-%m-%dT%H:%M:%S%.9fZ ").to_string());
    }
    out.push_str(&format!("{} {} {}", ev.kind, ev.action, ev.actor.id));
    if !ev.actor.attributes.is_empty() {
        let attrs: Vec<String> = ev
            .actor
            .attributes
            .iter()
            .map(|(k, v)| format!("{k}={v}"))
            .collect();
        out.push_str(&format!(" ({})", attrs.join(", ")));
    }
    out.push('\n');
    out
}

pub(crate) async fn events(
    client: &Client,
    f: &EventsFlags,
    printer: &mut Printer,
) -> anyhow::Result<()> {
    let format = event_format(f.format.as_deref())?;
    let opts = EventsOptions {
        since: api_time(f.since.as_deref())?,
        until: api_time(f.until.as_deref())?,
        filters: if f.filter.is_empty() {
            String::new()
        } else {
            filters_json(&f.filter)?
        },
    };
    let mut stream = client.events(&opts).await.map_err(api)?;
    let mut pending: Vec<u8> = Vec::new();
    while let Some(chunk) = stream.chunk().await {
        pending.extend_from_slice(&chunk.map_err(api)?);
        while let Some(end) = pending.iter().position(|b| *b == b'\n') {
            let line: Vec<u8> = pending.drain(..=end).collect();
            if line.iter().all(u8::is_ascii_whitespace) {
                continue;
            }
            let ev: EventMessage = serde_json::from_slice(&line)
                .map_err(|e| anyhow!("cannot read an event from the daemon: {e}"))?;
            let text = match &format {
                EventFormat::Pretty => pretty_event(&ev),
                EventFormat::Json => serde_json::to_string(&ev)? + "\n",
                EventFormat::Template(t) => t.render(&serde_json::to_value(&ev)?)? + "\n",
            };
            printer.data(&text)?;
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use std::collections::BTreeMap;

    use berth_api_types::event::EventActor;

    use super::*;

    #[test]
    fn events_print_as_docker_does() {
        let ev = EventMessage {
            kind: "container".into(),
            action: "start".into(),
            actor: EventActor {
                id: "c0ffee".into(),
                attributes: BTreeMap::from([
                    ("name".to_owned(), "web".to_owned()),
                    ("image".to_owned(), "busybox".to_owned()),
                ]),
            },
            time: 1_700_000_000,
            time_nano: 1_700_000_000_000_000_042,
            ..EventMessage::default()
        };
        assert_eq!(
            pretty_event(&ev),
            "2023-11-14T22:13:20.000000042Z container start c0ffee (image=busybox, name=web)\n"
        );
        let EventFormat::Template(t) =
            event_format(Some("{{.Type}} {{.Actor.Attributes.name}}")).unwrap()
        else {
            panic!("a template")
        };
        assert_eq!(
            t.render(&serde_json::to_value(&ev).unwrap()).unwrap(),
            "container web"
        );
        assert!(event_format(Some("{{.Nope")).is_err());
        assert!(api_time(Some("yesterday")).is_err());
        assert_eq!(
            api_time(Some("2023-11-14T22:13:20Z")).unwrap().as_deref(),
            Some("1700000000.000000000")
        );
    }
}
