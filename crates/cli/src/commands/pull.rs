//! `pull`: an image from a registry, with the docker CLI's output
//! (progress lines without the bars, then the full reference).

use anyhow::anyhow;
use berth_api_client::Client;
use berth_api_types::JsonMessage;

use crate::flags::images::PullFlags;
use crate::printer::Printer;

/// `busybox` -> `docker.io/library/busybox:latest`, as the docker CLI
/// prints the pulled reference.
pub(crate) fn normalized(image: &str) -> String {
    let (first, rest) = match image.split_once('/') {
        Some((f, r)) => (f, Some(r)),
        None => (image, None),
    };
    let mut out = match rest {
        Some(_) if first.contains(['.', ':']) || first == "localhost" => image.to_owned(),
        Some(_) => format!("docker.io/{image}"),
        None => format!("docker.io/library/{image}"),
    };
    let last = out.rsplit('/').next().unwrap_or("");
    if !out.contains('@') && !last.contains(':') {
        out.push_str(":latest");
    }
    out
}

/// The line the docker CLI prints for a progress message, if any
/// (messages with a progress bar are for terminals only).
pub(crate) fn message_line(m: &JsonMessage) -> Option<String> {
    if m.progress.as_deref().is_some_and(|p| !p.is_empty()) {
        return None;
    }
    let status = m.status.as_deref()?;
    Some(match m.id.as_deref() {
        Some(id) if !id.is_empty() => format!("{id}: {status}"),
        _ => status.to_owned(),
    })
}

/// (image, tag-or-digest) for the API's `fromImage` and `tag`.
pub(crate) fn split(image: &str) -> (String, String) {
    match image.split_once('@') {
        Some((i, d)) => (i.to_owned(), d.to_owned()),
        None => super::images::split_reference(image),
    }
}

/// Pulls, sending progress lines to `out`.
pub(crate) async fn pull_printing(
    client: &Client,
    image: &str,
    platform: Option<&str>,
    mut out: impl FnMut(&str),
) -> Result<(), berth_api_client::Error> {
    let (name, tag) = split(image);
    // Credentials `berth login` stored for the image's registry; a
    // config file that cannot be read is reported, as docker does.
    let auth = crate::credentials::header_for_image(&name)
        .map_err(|e| berth_api_client::Error::Request(e.to_string()))?;
    client
        .image_pull_stream_auth(&name, &tag, platform, auth.as_deref(), |m| {
            if let Some(l) = message_line(m) {
                out(&l);
            }
        })
        .await
}

/// `berth pull [--platform P] [-q] NAME[:TAG|@DIGEST]`.
pub(crate) async fn pull(
    client: &Client,
    f: &PullFlags,
    printer: &mut Printer,
) -> anyhow::Result<()> {
    if f.all_tags {
        return Err(anyhow!(
            "pulling all tags (--all-tags) is not supported by berth yet; pull the tags one by one"
        ));
    }
    let quiet = f.quiet;
    let mut write_error = None;
    // Progress goes to stdout as it comes, as the docker CLI's does.
    let result = pull_printing(client, &f.image, f.platform.as_deref(), |l| {
        if !quiet
            && write_error.is_none()
            && let Err(e) = printer.data(&format!("{l}\n"))
        {
            write_error = Some(e);
        }
    })
    .await;
    if let Some(e) = write_error {
        return Err(e.into());
    }
    result.map_err(|e| anyhow!("{e}"))?;
    printer.data(&format!("{}\n", normalized(&f.image)))?;
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn normalized_names() {
        assert_eq!(normalized("busybox"), "docker.io/library/busybox:latest");
        assert_eq!(normalized("me/app:1"), "docker.io/me/app:1");
        assert_eq!(normalized("127.0.0.1:5000/bb"), "127.0.0.1:5000/bb:latest");
        assert_eq!(normalized("localhost/bb:2"), "localhost/bb:2");
        let d = format!("bb@sha256:{}", "a".repeat(64));
        assert_eq!(normalized(&d), format!("docker.io/library/{d}"));
    }

    #[test]
    fn lines_as_the_docker_cli() {
        let m = JsonMessage {
            status: Some("Pull complete".into()),
            id: Some("abc".into()),
            ..JsonMessage::default()
        };
        assert_eq!(message_line(&m).as_deref(), Some("abc: Pull complete"));
        let m = JsonMessage {
            status: Some("Downloading".into()),
            progress: Some("[=>  ] 1kB/2kB".into()),
            id: Some("abc".into()),
            ..JsonMessage::default()
        };
        assert_eq!(message_line(&m), None);
    }
}
