//! `push`: an image (or all tags of a repository) to a registry, with the
//! docker CLI's output, sending the credentials `berth login` stored.

use anyhow::anyhow;
use berth_api_client::Client;

use super::pull::message_line;
use crate::credentials;
use crate::flags::push::PushFlags;
use crate::printer::Printer;

/// (name, tag) of `NAME[:TAG]`; the tag is empty when there is none.
fn split_tag(image: &str) -> (String, String) {
    let last = image.rsplit('/').next().unwrap_or(image);
    match last.rsplit_once(':') {
        Some((_, tag)) => {
            let name = &image[..image.len() - tag.len() - 1];
            (name.to_owned(), tag.to_owned())
        }
        None => (image.to_owned(), String::new()),
    }
}

/// `berth push [-a] [-q] [--platform P] NAME[:TAG]`.
pub(crate) async fn push(
    client: &Client,
    f: &PushFlags,
    printer: &mut Printer,
) -> anyhow::Result<()> {
    if f.image.contains('@') {
        return Err(anyhow!(
            "invalid reference format: cannot push a digest reference ({}); push a tag",
            f.image
        ));
    }
    let (name, mut tag) = split_tag(&f.image);
    if f.all_tags && !tag.is_empty() {
        return Err(anyhow!("tag can't be used with --all-tags/-a"));
    }
    if !f.all_tags && tag.is_empty() {
        tag = "latest".to_owned();
        if !f.quiet {
            printer.data("Using default tag: latest\n")?;
        }
    }
    if let Some(p) = f.platform.as_deref().filter(|p| !p.is_empty()) {
        check_platform(client, &format!("{name}:{tag}"), p).await?;
    }
    let auth = credentials::header_for_image(&name)?;
    let quiet = f.quiet;
    let mut write_error = None;
    let result = client
        .image_push_stream(&name, &tag, auth.as_deref(), |m| {
            if let Some(l) = message_line(m)
                && !quiet
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
    if quiet {
        let shown = if tag.is_empty() {
            name
        } else {
            format!("{name}:{tag}")
        };
        printer.data(&format!("{}\n", super::pull::normalized(&shown)))?;
    }
    Ok(())
}

/// `--platform`: berth keeps one platform per image, so the image must be
/// of that platform.
async fn check_platform(client: &Client, image: &str, platform: &str) -> anyhow::Result<()> {
    let d = client
        .image_inspect(image)
        .await
        .map_err(|e| anyhow!("{e}"))?;
    let field = |k: &str| d.get(k).and_then(|v| v.as_str()).unwrap_or("").to_owned();
    let mut have = format!("{}/{}", field("Os"), field("Architecture"));
    let want: Vec<&str> = platform.split('/').collect();
    let variant = field("Variant");
    if want.len() > 2 && !variant.is_empty() {
        let v = variant;
        have.push_str(&format!("/{v}"));
    }
    if have != want.join("/") {
        return Err(anyhow!(
            "image with reference {image} was found but does not provide the specified platform ({platform}): it is {have}"
        ));
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn tags() {
        assert_eq!(
            split_tag("127.0.0.1:5000/foo"),
            ("127.0.0.1:5000/foo".into(), String::new())
        );
        assert_eq!(
            split_tag("127.0.0.1:5000/foo:1"),
            ("127.0.0.1:5000/foo".into(), "1".into())
        );
        assert_eq!(split_tag("foo:2"), ("foo".into(), "2".into()));
    }
}
