//! The mount flags of `run` and `create` into the create body, as the
//! docker CLI builds it (`cli/command/container/opts.go`,
//! `cli/compose/loader/volume.go`, `opts/mount.go`): `-v` with a source
//! becomes `HostConfig.Binds` (a `./relative` host path made absolute),
//! `-v /path` alone `Config.Volumes`, `--mount` `HostConfig.Mounts`.

use serde_json::{Map, Value, json};

use crate::flags::volume::MountFlags;

/// Adds the flags to `config` (the create body); errors are the docker
/// CLI's.
pub(crate) fn apply(f: &MountFlags, config: &mut Value) -> Result<(), String> {
    let mut binds: Vec<String> = Vec::new();
    let mut volumes = Map::new();
    for spec in &f.volume {
        let parsed = parse_volume(spec)?;
        if parsed.source.is_empty() {
            volumes.insert(spec.clone(), json!({}));
            continue;
        }
        let mut bind = spec.clone();
        if parsed.is_bind
            && let Some((host, rest)) = spec.split_once(':')
            && host.starts_with('.')
            && let Ok(cwd) = std::env::current_dir()
        {
            bind = format!("{}:{rest}", clean_join(&cwd, host));
        }
        binds.push(bind);
    }
    let mut mounts = Vec::new();
    for m in &f.mount {
        mounts.push(
            parse_mount(m)
                .map_err(|e| format!("invalid argument \"{m}\" for \"--mount\" flag: {e}"))?,
        );
    }
    let list = |l: &[String]| {
        if l.is_empty() { Value::Null } else { json!(l) }
    };
    config["Volumes"] = Value::Object(volumes);
    let host = &mut config["HostConfig"];
    host["Binds"] = list(&binds);
    host["VolumesFrom"] = list(&f.volumes_from);
    host["VolumeDriver"] = json!(f.volume_driver.clone().unwrap_or_default());
    if !mounts.is_empty() {
        host["Mounts"] = Value::Array(mounts);
    }
    Ok(())
}

/// `cwd` joined with a relative `path`, cleaned as Go's `filepath.Abs`.
fn clean_join(cwd: &std::path::Path, path: &str) -> String {
    let mut parts: Vec<String> = cwd
        .to_string_lossy()
        .split('/')
        .filter(|c| !c.is_empty())
        .map(str::to_owned)
        .collect();
    for c in path.split('/') {
        match c {
            "" | "." => {}
            ".." => {
                parts.pop();
            }
            c => parts.push(c.to_owned()),
        }
    }
    format!("/{}", parts.join("/"))
}

/// What the docker CLI's `loader.ParseVolume` finds in `-v`.
struct ParsedVolume {
    source: String,
    is_bind: bool,
}

/// The compose loader's `ParseVolume`: `source:target[:options]`, or a
/// target alone; only its errors matter here (the daemon parses again).
fn parse_volume(spec: &str) -> Result<ParsedVolume, String> {
    if spec.is_empty() {
        return Err("invalid empty volume spec".into());
    }
    if spec.chars().count() <= 2 {
        return Ok(ParsedVolume {
            source: String::new(),
            is_bind: false,
        });
    }
    let (mut source, mut target) = (None::<String>, None::<String>);
    let fields: Vec<&str> = spec.split(':').collect();
    for (i, field) in fields.iter().enumerate() {
        let last = i + 1 == fields.len();
        let fail = |e: &str| Err(format!("invalid spec: {spec}: {e}"));
        if field.is_empty() {
            return fail("empty section between colons");
        }
        if source.is_none() && last {
            target = Some((*field).to_owned());
        } else if source.is_none() {
            source = Some((*field).to_owned());
        } else if target.is_none() {
            target = Some((*field).to_owned());
        } else if !last {
            return fail("too many colons");
        }
    }
    let _ = target;
    let source = source.unwrap_or_default();
    let is_bind = source.starts_with(['.', '/', '~']);
    Ok(ParsedVolume { source, is_bind })
}

/// One `--mount` value (the docker CLI's `MountOpt.Set`), as a
/// `HostConfig.Mounts` entry.
fn parse_mount(value: &str) -> Result<Value, String> {
    let mut m = Map::new();
    let mut kind = "volume".to_owned();
    let mut bind = Map::new();
    let mut vol = Map::new();
    let mut driver = Map::new();
    let mut driver_opts = Map::new();
    let mut labels = Map::new();
    let mut tmpfs = Map::new();
    let mut image = Map::new();
    let (mut has_vol, mut has_bind, mut has_tmpfs) = (false, false, false);
    let parse_bool = |key: &str, v: &str| -> Result<bool, String> {
        match v {
            "1" | "t" | "T" | "true" | "TRUE" | "True" => Ok(true),
            "0" | "f" | "F" | "false" | "FALSE" | "False" => Ok(false),
            _ => Err(format!("invalid value for {key}: {v}")),
        }
    };
    for field in csv_fields(value)? {
        let Some((key, val)) = field.split_once('=') else {
            match field.to_ascii_lowercase().as_str() {
                "readonly" | "ro" => {
                    m.insert("ReadOnly".into(), json!(true));
                }
                "volume-nocopy" => {
                    has_vol = true;
                    vol.insert("NoCopy".into(), json!(true));
                }
                "bind-nonrecursive" => {
                    has_bind = true;
                    bind.insert("NonRecursive".into(), json!(true));
                }
                _ => return Err(format!("invalid field '{field}' must be a key=value pair")),
            }
            continue;
        };
        let key = key.to_ascii_lowercase();
        match key.as_str() {
            "type" => kind = val.to_ascii_lowercase(),
            "source" | "src" => {
                let mut s = val.to_owned();
                if (val.starts_with("./") || val == ".")
                    && let Ok(cwd) = std::env::current_dir()
                {
                    s = clean_join(&cwd, val);
                }
                m.insert("Source".into(), json!(s));
            }
            "target" | "dst" | "destination" => {
                m.insert("Target".into(), json!(val));
            }
            "readonly" | "ro" => {
                m.insert("ReadOnly".into(), json!(parse_bool(&key, val)?));
            }
            "consistency" => {
                m.insert("Consistency".into(), json!(val.to_ascii_lowercase()));
            }
            "bind-propagation" => {
                has_bind = true;
                bind.insert("Propagation".into(), json!(val.to_ascii_lowercase()));
            }
            "bind-nonrecursive" => {
                has_bind = true;
                bind.insert("NonRecursive".into(), json!(parse_bool(&key, val)?));
            }
            "bind-recursive" => {
                has_bind = true;
                let field = match val {
                    "enabled" => None,
                    "disabled" => Some("NonRecursive"),
                    "writable" => Some("ReadOnlyNonRecursive"),
                    "readonly" => Some("ReadOnlyForceRecursive"),
                    _ => {
                        return Err(format!(
                            "invalid value for {key}: {val} (must be \"enabled\", \"disabled\", \"writable\", or \"readonly\")"
                        ));
                    }
                };
                if let Some(f) = field {
                    bind.insert(f.into(), json!(true));
                }
            }
            "bind-create-src" => {
                has_bind = true;
                bind.insert("CreateMountpoint".into(), json!(parse_bool(&key, val)?));
            }
            "volume-subpath" => {
                has_vol = true;
                vol.insert("Subpath".into(), json!(val));
            }
            "image-subpath" => {
                image.insert("Subpath".into(), json!(val));
            }
            "volume-nocopy" => {
                has_vol = true;
                vol.insert("NoCopy".into(), json!(parse_bool(&key, val)?));
            }
            "volume-label" => {
                has_vol = true;
                let (k, v) = val.split_once('=').unwrap_or((val, ""));
                if !k.is_empty() {
                    labels.insert(k.into(), json!(v));
                }
            }
            "volume-driver" => {
                has_vol = true;
                driver.insert("Name".into(), json!(val));
            }
            "volume-opt" => {
                has_vol = true;
                let (k, v) = val.split_once('=').unwrap_or((val, ""));
                if !k.is_empty() {
                    driver_opts.insert(k.into(), json!(v));
                }
            }
            "tmpfs-size" => {
                has_tmpfs = true;
                let bytes = super::security::ram_in_bytes(val)
                    .map_err(|_| format!("invalid value for {key}: {val}"))?;
                tmpfs.insert("SizeBytes".into(), json!(bytes));
            }
            "tmpfs-mode" => {
                has_tmpfs = true;
                let mode = u32::from_str_radix(val, 8)
                    .map_err(|_| format!("invalid value for {key}: {val}"))?;
                tmpfs.insert("Mode".into(), json!(mode));
            }
            _ => return Err(format!("unexpected key '{key}' in '{field}'")),
        }
    }
    if kind.is_empty() {
        return Err("type is required".into());
    }
    if has_vol && kind != "volume" {
        return Err(format!(
            "cannot mix 'volume-*' options with mount type '{kind}'"
        ));
    }
    if has_bind && kind != "bind" {
        return Err(format!(
            "cannot mix 'bind-*' options with mount type '{kind}'"
        ));
    }
    if has_tmpfs && kind != "tmpfs" {
        return Err(format!(
            "cannot mix 'tmpfs-*' options with mount type '{kind}'"
        ));
    }
    if !image.is_empty() && kind != "image" {
        return Err(format!(
            "cannot mix 'image-*' options with mount type '{kind}'"
        ));
    }
    let read_only = m.get("ReadOnly") == Some(&json!(true));
    if bind.get("ReadOnlyNonRecursive") == Some(&json!(true)) && !read_only {
        return Err(
            "option 'bind-recursive=writable' requires 'readonly' to be specified in conjunction"
                .into(),
        );
    }
    if bind.get("ReadOnlyForceRecursive") == Some(&json!(true)) {
        if !read_only {
            return Err("option 'bind-recursive=readonly' requires 'readonly' to be specified in conjunction".into());
        }
        if bind.get("Propagation") != Some(&json!("rprivate")) {
            return Err("option 'bind-recursive=readonly' requires 'bind-propagation=rprivate' to be specified in conjunction".into());
        }
    }
    m.insert("Type".into(), json!(kind));
    if has_bind {
        m.insert("BindOptions".into(), Value::Object(bind));
    }
    if has_vol {
        if !driver_opts.is_empty() {
            driver.insert("Options".into(), Value::Object(driver_opts));
        }
        vol.insert("DriverConfig".into(), Value::Object(driver));
        if !labels.is_empty() {
            vol.insert("Labels".into(), Value::Object(labels));
        }
        m.insert("VolumeOptions".into(), Value::Object(vol));
    }
    if has_tmpfs {
        m.insert("TmpfsOptions".into(), Value::Object(tmpfs));
    }
    if !image.is_empty() {
        m.insert("ImageOptions".into(), Value::Object(image));
    }
    Ok(Value::Object(m))
}

/// One CSV record (Go's `encoding/csv`): fields split at commas, a field
/// may be double-quoted (`""` for a quote inside).
fn csv_fields(line: &str) -> Result<Vec<String>, String> {
    let mut out = Vec::new();
    let mut cur = String::new();
    let mut chars = line.chars().peekable();
    let mut quoted = false;
    let mut at_start = true;
    while let Some(c) = chars.next() {
        match c {
            '"' if quoted => {
                if chars.peek() == Some(&'"') {
                    chars.next();
                    cur.push('"');
                } else {
                    quoted = false;
                }
            }
            '"' if at_start => quoted = true,
            ',' if !quoted => {
                out.push(std::mem::take(&mut cur));
                at_start = true;
                continue;
            }
            c => cur.push(c),
        }
        at_start = false;
    }
    if quoted {
        return Err(format!(
            "parse error on line 1, column {}: extraneous or missing \" in quoted-field",
            line.len() + 1
        ));
    }
    out.push(cur);
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn apply_flags(f: MountFlags) -> Result<Value, String> {
        let mut v = json!({"HostConfig": {}});
        apply(&f, &mut v).map(|()| v)
    }

    #[test]
    fn volumes_split_into_binds_and_anonymous_volumes() {
        let v = apply_flags(MountFlags {
            volume: vec!["/x".into(), "/h:/c:ro".into(), "name:/n".into()],
            volumes_from: vec!["a:ro".into()],
            ..MountFlags::default()
        })
        .unwrap();
        assert_eq!(v["Volumes"], json!({"/x": {}}));
        assert_eq!(v["HostConfig"]["Binds"], json!(["/h:/c:ro", "name:/n"]));
        assert_eq!(v["HostConfig"]["VolumesFrom"], json!(["a:ro"]));
        let cwd = std::env::current_dir().unwrap();
        let v = apply_flags(MountFlags {
            volume: vec!["./rel:/x".into()],
            ..MountFlags::default()
        })
        .unwrap();
        assert_eq!(
            v["HostConfig"]["Binds"][0],
            format!("{}/rel:/x", cwd.display())
        );
    }

    #[test]
    fn bad_volumes_get_the_docker_clis_errors() {
        let e = |s: &str| {
            apply_flags(MountFlags {
                volume: vec![s.into()],
                ..MountFlags::default()
            })
            .unwrap_err()
        };
        assert_eq!(e(":/x"), "invalid spec: :/x: empty section between colons");
        assert_eq!(e("/a:/b:ro:x"), "invalid spec: /a:/b:ro:x: too many colons");
    }

    #[test]
    fn mounts_parse_as_the_docker_cli() {
        let m = parse_mount("type=bind,src=/tmp,dst=/x,readonly,bind-propagation=rshared").unwrap();
        assert_eq!(
            m,
            json!({"Type": "bind", "Source": "/tmp", "Target": "/x", "ReadOnly": true,
                "BindOptions": {"Propagation": "rshared"}})
        );
        let m = parse_mount("type=tmpfs,target=/t,tmpfs-size=1m,tmpfs-mode=1770").unwrap();
        assert_eq!(
            m["TmpfsOptions"],
            json!({"SizeBytes": 1_048_576, "Mode": 1016})
        );
        let m = parse_mount("target=/v,volume-opt=type=tmpfs,volume-nocopy,\"volume-label=a=b\"")
            .unwrap();
        assert_eq!(m["Type"], "volume");
        assert_eq!(
            m["VolumeOptions"],
            json!({"NoCopy": true, "DriverConfig": {"Options": {"type": "tmpfs"}}, "Labels": {"a": "b"}})
        );
        assert_eq!(
            parse_mount("type=volume,src=n,dst=/x,bind-propagation=shared").unwrap_err(),
            "cannot mix 'bind-*' options with mount type 'volume'"
        );
        assert_eq!(
            parse_mount("type=tmpfs,target=/x,tmpfs-size=abc").unwrap_err(),
            "invalid value for tmpfs-size: abc"
        );
        assert_eq!(
            parse_mount("bogus=1,target=/x").unwrap_err(),
            "unexpected key 'bogus' in 'bogus=1'"
        );
        assert_eq!(
            parse_mount("target").unwrap_err(),
            "invalid field 'target' must be a key=value pair"
        );
        assert_eq!(
            parse_mount("type=volume,source=a,target=/x,readonly=maybe").unwrap_err(),
            "invalid value for readonly: maybe"
        );
    }
}
