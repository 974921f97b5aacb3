//! Choosing an image from a manifest list / OCI index by platform, as
//! dockerd does (`os/arch[/variant]`, default `linux/<host arch>`).

use berth_image::spec::Descriptor;

/// A wanted platform.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PlatformSpec {
    /// `linux`.
    pub os: String,
    /// GOARCH spelling: `amd64`, `arm64`, `arm`, `386`, ...
    pub architecture: String,
    /// `v7`, `v8`, ... when given.
    pub variant: Option<String>,
}

/// Architecture names as Go spells them (`uname -m` and Debian names too).
fn normalize_arch(arch: &str, variant: Option<&str>) -> (String, Option<String>) {
    let a = arch.to_ascii_lowercase();
    let v = variant
        .map(str::to_ascii_lowercase)
        .filter(|v| !v.is_empty());
    match a.as_str() {
        "x86_64" | "x86-64" | "amd64" => ("amd64".into(), v.filter(|v| v != "v1")),
        "i386" | "i686" | "386" => ("386".into(), None),
        "aarch64" | "arm64" => (
            "arm64".into(),
            // v8 is arm64's default: no variant and v8 are the same.
            v.filter(|v| v != "v8" && v != "8"),
        ),
        "armhf" => ("arm".into(), Some("v7".into())),
        "armel" => ("arm".into(), Some("v6".into())),
        "arm" => (
            "arm".into(),
            v.map(|v| {
                if v.starts_with('v') {
                    v
                } else {
                    format!("v{v}")
                }
            }),
        ),
        _ => (a, v),
    }
}

impl PlatformSpec {
    /// Parses `os[/arch[/variant]]` (`linux/arm64`, `linux/arm/v7`).
    pub fn parse(s: &str) -> Result<Self, String> {
        let parts: Vec<&str> = s.trim().split('/').collect();
        if parts.iter().any(|p| p.is_empty()) || parts.len() > 3 {
            return Err(format!(
                "invalid platform {s:?}: expected os[/arch[/variant]], for example linux/arm64"
            ));
        }
        let os = parts[0].to_ascii_lowercase();
        let (architecture, variant) = match parts.get(1) {
            Some(a) => normalize_arch(a, parts.get(2).copied()),
            None => normalize_arch(crate::client::host_arch(), None),
        };
        Ok(Self {
            os,
            architecture,
            variant,
        })
    }

    /// `linux/<host arch>`.
    pub fn host() -> Self {
        let (architecture, variant) = normalize_arch(crate::client::host_arch(), None);
        Self {
            os: "linux".into(),
            architecture,
            variant,
        }
    }

    fn matches(&self, d: &Descriptor) -> bool {
        let Some(p) = &d.platform else { return false };
        let (arch, variant) = normalize_arch(&p.architecture, p.variant.as_deref());
        p.os.eq_ignore_ascii_case(&self.os)
            && arch == self.architecture
            && (self.variant.is_none() || variant == self.variant)
    }
}

impl std::fmt::Display for PlatformSpec {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{}/{}", self.os, self.architecture)?;
        if let Some(v) = &self.variant {
            write!(f, "/{v}")?;
        }
        Ok(())
    }
}

/// The entry of an index for `want`, or dockerd's error text.
pub fn choose<'a>(
    entries: &'a [Descriptor],
    want: &PlatformSpec,
) -> Result<&'a Descriptor, String> {
    entries
        .iter()
        .find(|d| want.matches(d))
        .ok_or_else(|| format!("no matching manifest for {want} in the manifest list entries"))
}

#[cfg(test)]
mod tests {
    use berth_image::digest::Digest;
    use berth_image::spec::Platform;

    use super::*;

    fn entry(os: &str, arch: &str, variant: Option<&str>, n: u8) -> Descriptor {
        let mut d = Descriptor::new(
            berth_image::spec::MEDIA_TYPE_OCI_MANIFEST,
            Digest::sha256_of(&[n]),
            1,
        );
        d.platform = Some(Platform {
            architecture: arch.into(),
            os: os.into(),
            os_version: None,
            os_features: None,
            variant: variant.map(Into::into),
            extra: Default::default(),
        });
        d
    }

    #[test]
    fn parse_platforms() {
        let p = PlatformSpec::parse("linux/arm64").unwrap_or_else(|e| panic!("{e}"));
        assert_eq!(p.to_string(), "linux/arm64");
        assert_eq!(
            PlatformSpec::parse("linux/aarch64/v8").map(|p| p.to_string()),
            Ok("linux/arm64".into())
        );
        assert_eq!(
            PlatformSpec::parse("linux/arm/7").map(|p| p.to_string()),
            Ok("linux/arm/v7".into())
        );
        assert_eq!(
            PlatformSpec::parse("linux/x86_64").map(|p| p.to_string()),
            Ok("linux/amd64".into())
        );
        assert!(PlatformSpec::parse("linux//x").is_err());
        assert!(PlatformSpec::parse("").is_err());
    }

    #[test]
    fn choose_by_platform() {
        let list = vec![
            entry("linux", "amd64", None, 1),
            entry("linux", "arm", Some("v6"), 2),
            entry("linux", "arm", Some("v7"), 3),
            entry("linux", "arm64", Some("v8"), 4),
            entry("unknown", "unknown", None, 5),
        ];
        let pick = |s: &str| {
            choose(
                &list,
                &PlatformSpec::parse(s).unwrap_or_else(|e| panic!("{e}")),
            )
            .map(|d| d.digest.clone())
        };
        assert_eq!(pick("linux/amd64"), Ok(list[0].digest.clone()));
        assert_eq!(pick("linux/arm/v7"), Ok(list[2].digest.clone()));
        assert_eq!(pick("linux/arm"), Ok(list[1].digest.clone()));
        assert_eq!(pick("linux/arm64"), Ok(list[3].digest.clone()));
        assert_eq!(
            pick("linux/s390x"),
            Err("no matching manifest for linux/s390x in the manifest list entries".into())
        );
        assert_eq!(
            choose(
                &list[..1],
                &PlatformSpec::parse("linux/arm64").unwrap_or_else(|e| panic!("{e}"))
            )
            .map(|_| ()),
            Err("no matching manifest for linux/arm64 in the manifest list entries".into())
        );
    }
}
