//! Resource limit flags to the Engine API's `Resources` fields, parsed as
//! the docker CLI parses them (go-units sizes, `--cpus` as a rational
//! number, `--ulimit name=soft[:hard]`), with its messages:
//! `invalid argument "12x" for "-m, --memory" flag: invalid size: '12x'`.

use serde_json::{Map, Value, json};

use crate::flags::resources::{LimitFlags, ResourceFlags};

/// A bad flag value, worded as pflag words it (the caller adds the usage).
fn bad(value: &str, flag: &str, why: impl std::fmt::Display) -> String {
    format!("invalid argument \"{value}\" for \"{flag}\" flag: {why}")
}

/// go-units `RAMInBytes`: `^(\d+(\.\d+)*) ?([kKmMgGtTpP])?[iI]?[bB]?$`
/// with binary units.
pub(crate) fn ram_in_bytes(text: &str) -> Result<i64, String> {
    let invalid = || format!("invalid size: '{text}'");
    let split = text
        .find(|c: char| !(c.is_ascii_digit() || c == '.'))
        .unwrap_or(text.len());
    let (number, suffix) = text.split_at(split);
    let number_ok = !number.is_empty()
        && number
            .split('.')
            .all(|p| !p.is_empty() && p.bytes().all(|b| b.is_ascii_digit()));
    if !number_ok {
        return Err(invalid());
    }
    let mut rest = suffix.strip_prefix(' ').unwrap_or(suffix);
    let mut exp = 0;
    if let Some(c) = rest.chars().next() {
        let e = match c.to_ascii_lowercase() {
            'k' => 1,
            'm' => 2,
            'g' => 3,
            't' => 4,
            'p' => 5,
            _ => 0,
        };
        if e > 0 {
            exp = e;
            rest = &rest[1..];
        }
    }
    let rest = rest.strip_prefix(['i', 'I']).unwrap_or(rest);
    let rest = rest.strip_prefix(['b', 'B']).unwrap_or(rest);
    if !rest.is_empty() {
        return Err(invalid());
    }
    let value: f64 = number.parse().map_err(|_| invalid())?;
    let bytes = value * 1024f64.powi(exp);
    if !bytes.is_finite() || bytes >= 9.223_372_036_854_776e18 {
        return Err(invalid());
    }
    // Go's int64(float64) truncates.
    #[allow(
        clippy::cast_possible_truncation,
        reason = "range checked above; truncation is what Go does"
    )]
    Ok(bytes as i64)
}

fn size(v: &Option<String>, flag: &str) -> Result<i64, String> {
    match v.as_deref() {
        None | Some("") => Ok(0),
        Some(s) => ram_in_bytes(s).map_err(|e| bad(s, flag, e)),
    }
}

/// `strconv.ParseInt` with Go's messages.
fn int(v: &Option<String>, flag: &str) -> Result<Option<i64>, String> {
    let Some(s) = v.as_deref() else {
        return Ok(None);
    };
    s.parse::<i64>().map(Some).map_err(|e| {
        let why = if matches!(
            e.kind(),
            std::num::IntErrorKind::PosOverflow | std::num::IntErrorKind::NegOverflow
        ) {
            "value out of range"
        } else {
            "invalid syntax"
        };
        bad(s, flag, format!("strconv.ParseInt: parsing \"{s}\": {why}"))
    })
}

/// `--cpus`: a rational number (`1.5`, `3/2`) of CPUs, in units of 10^-9.
pub(crate) fn nano_cpus(text: &str) -> Result<i64, String> {
    let not_rational = || format!("failed to parse {text} as a rational number");
    let (num, den) = match text.split_once('/') {
        Some((n, d)) => (n, Some(d)),
        None => (text, None),
    };
    // Exact decimal: digits before and after the point, as an integer
    // numerator over a power of ten.
    let (neg, body) = match num.strip_prefix('-') {
        Some(rest) => (true, rest),
        None => (false, num.strip_prefix('+').unwrap_or(num)),
    };
    let (int_part, frac_part) = body.split_once('.').unwrap_or((body, ""));
    if (int_part.is_empty() && frac_part.is_empty())
        || !int_part.bytes().all(|b| b.is_ascii_digit())
        || !frac_part.bytes().all(|b| b.is_ascii_digit())
        || (den.is_some() && !frac_part.is_empty())
    {
        return Err(not_rational());
    }
    let frac_trimmed = frac_part.trim_end_matches('0');
    if frac_trimmed.len() > 9 {
        return Err("value is too precise".to_owned());
    }
    let whole: i128 = if int_part.is_empty() {
        0
    } else {
        int_part.parse().map_err(|_| not_rational())?
    };
    let frac: i128 = if frac_trimmed.is_empty() {
        0
    } else {
        let scale = 10i128.pow(9 - u32::try_from(frac_trimmed.len()).unwrap_or(9));
        frac_trimmed.parse::<i128>().map_err(|_| not_rational())? * scale
    };
    let mut nano = whole.checked_mul(1_000_000_000).ok_or_else(not_rational)? + frac;
    if let Some(d) = den {
        let d: i128 = d.parse().map_err(|_| not_rational())?;
        if d <= 0 {
            return Err(not_rational());
        }
        if nano % d != 0 {
            return Err("value is too precise".to_owned());
        }
        nano /= d;
    }
    if neg {
        nano = -nano;
    }
    i64::try_from(nano).map_err(|_| not_rational())
}

/// go-units `ParseUlimit`: `name=soft[:hard]`, the hard limit defaulting
/// to the soft one.
pub(crate) fn ulimit(text: &str) -> Result<Value, String> {
    const NAMES: &[&str] = &[
        "core",
        "cpu",
        "data",
        "fsize",
        "locks",
        "memlock",
        "msgqueue",
        "nice",
        "nofile",
        "nproc",
        "rss",
        "rtprio",
        "rttime",
        "sigpending",
        "stack",
        "as",
    ];
    let Some((name, limits)) = text.split_once('=') else {
        return Err(format!("invalid ulimit argument: {text}"));
    };
    if !NAMES.contains(&name) {
        return Err(format!("invalid ulimit type: {name}"));
    }
    let parse = |s: &str| {
        s.parse::<i64>()
            .map_err(|_| format!("strconv.ParseInt: parsing \"{s}\": invalid syntax"))
    };
    let parts: Vec<&str> = limits.split(':').collect();
    let (soft, hard) = match parts.as_slice() {
        [soft] => {
            let v = parse(soft)?;
            (v, v)
        }
        [soft, hard] => (parse(soft)?, parse(hard)?),
        _ => {
            return Err(format!(
                "too many limit value arguments - {limits}, can only have up to two, `soft[:hard]`"
            ));
        }
    };
    if soft > hard {
        return Err(format!(
            "ulimit soft limit must be less than or equal to hard limit: {soft} > {hard}"
        ));
    }
    Ok(json!({"Name": name, "Hard": hard, "Soft": soft}))
}

/// The shared limits as `Resources` fields (`update` sends exactly these).
pub(crate) fn limits(f: &LimitFlags) -> Result<Map<String, Value>, String> {
    let mut m = Map::new();
    let blkio = match f.blkio_weight.as_deref() {
        None => 0,
        Some(s) => s.parse::<u16>().map_err(|e| {
            let why = if matches!(e.kind(), std::num::IntErrorKind::PosOverflow) {
                "value out of range"
            } else {
                "invalid syntax"
            };
            bad(
                s,
                "--blkio-weight",
                format!("strconv.ParseUint: parsing \"{s}\": {why}"),
            )
        })?,
    };
    m.insert("BlkioWeight".into(), json!(blkio));
    m.insert(
        "CpuPeriod".into(),
        json!(int(&f.cpu_period, "--cpu-period")?.unwrap_or(0)),
    );
    m.insert(
        "CpuQuota".into(),
        json!(int(&f.cpu_quota, "--cpu-quota")?.unwrap_or(0)),
    );
    m.insert(
        "CpuRealtimePeriod".into(),
        json!(int(&f.cpu_rt_period, "--cpu-rt-period")?.unwrap_or(0)),
    );
    m.insert(
        "CpuRealtimeRuntime".into(),
        json!(int(&f.cpu_rt_runtime, "--cpu-rt-runtime")?.unwrap_or(0)),
    );
    m.insert(
        "CpuShares".into(),
        json!(int(&f.cpu_shares, "-c, --cpu-shares")?.unwrap_or(0)),
    );
    let cpus = match f.cpus.as_deref() {
        None | Some("") => 0,
        Some(s) => nano_cpus(s).map_err(|e| bad(s, "--cpus", e))?,
    };
    m.insert("NanoCpus".into(), json!(cpus));
    m.insert(
        "CpusetCpus".into(),
        json!(f.cpuset_cpus.clone().unwrap_or_default()),
    );
    m.insert(
        "CpusetMems".into(),
        json!(f.cpuset_mems.clone().unwrap_or_default()),
    );
    m.insert(
        "KernelMemory".into(),
        json!(size(&f.kernel_memory, "--kernel-memory")?),
    );
    m.insert("Memory".into(), json!(size(&f.memory, "-m, --memory")?));
    m.insert(
        "MemoryReservation".into(),
        json!(size(&f.memory_reservation, "--memory-reservation")?),
    );
    // MemSwapBytes: -1 is "unlimited swap".
    let swap = match f.memory_swap.as_deref() {
        Some("-1") => -1,
        _ => size(&f.memory_swap, "--memory-swap")?,
    };
    m.insert("MemorySwap".into(), json!(swap));
    if let Some(p) = int(&f.pids_limit, "--pids-limit")? {
        m.insert("PidsLimit".into(), json!(p));
    }
    Ok(m)
}

/// The docker CLI's `<device-path>:<value>` split (`ValidateWeightDevice`,
/// `ValidateThrottle{Bps,IOps}Device`): the path must be under /dev.
fn device_value(text: &str) -> Result<(&str, &str), String> {
    match text.split_once(':') {
        Some((path, value)) if !path.is_empty() => {
            if path.starts_with("/dev/") {
                Ok((path, value))
            } else {
                Err(format!("bad format for device path: {text}"))
            }
        }
        _ => Err(format!("bad format: {text}")),
    }
}

/// `--blkio-weight-device /dev/sda:200` (10 to 1000, or 0).
fn weight_device(text: &str) -> Result<Value, String> {
    let (path, value) = device_value(text)?;
    let weight = value
        .parse::<u16>()
        .ok()
        .filter(|w| *w == 0 || (10..=1000).contains(w))
        .ok_or_else(|| format!("invalid weight for device: {text}"))?;
    Ok(json!({"Path": path, "Weight": weight}))
}

/// `--device-read-bps /dev/sda:1mb` (go-units sizes).
fn bps_device(text: &str) -> Result<Value, String> {
    let (path, value) = device_value(text)?;
    let rate = ram_in_bytes(value).map_err(|_| {
        format!("invalid rate for device: {text}. The correct format is <device-path>:<number>[<unit>]. Number must be a positive integer. Unit is optional and can be kb, mb, or gb")
    })?;
    Ok(json!({"Path": path, "Rate": rate}))
}

/// `--device-read-iops /dev/sda:1000`.
fn iops_device(text: &str) -> Result<Value, String> {
    let (path, value) = device_value(text)?;
    let rate = value.parse::<u64>().map_err(|_| {
        format!("invalid rate for device: {text}. The correct format is <device-path>:<number>. Number must be a positive integer")
    })?;
    Ok(json!({"Path": path, "Rate": rate}))
}

/// A list flag's values as JSON, each checked by `parse`.
fn device_list(
    values: &[String],
    flag: &str,
    parse: fn(&str) -> Result<Value, String>,
) -> Result<Value, String> {
    values
        .iter()
        .map(|v| parse(v).map_err(|e| bad(v, flag, e)))
        .collect::<Result<Vec<_>, _>>()
        .map(Value::Array)
}

/// Every resource field of a `run`/`create` body's `HostConfig`.
pub(crate) fn host_config(f: &ResourceFlags) -> Result<Map<String, Value>, String> {
    let mut m = limits(&f.limits)?;
    let swappiness = int(&f.memory_swappiness, "--memory-swappiness")?.unwrap_or(-1);
    if swappiness != -1 && !(0..=100).contains(&swappiness) {
        return Err(format!(
            "invalid value: {swappiness}. Valid memory swappiness range is 0-100"
        ));
    }
    m.insert(
        "MemorySwappiness".into(),
        if swappiness == -1 {
            Value::Null
        } else {
            json!(swappiness)
        },
    );
    m.insert("OomKillDisable".into(), json!(f.oom_kill_disable));
    for (key, values, flag, parse) in [
        (
            "BlkioWeightDevice",
            &f.blkio_weight_device,
            "--blkio-weight-device",
            weight_device as fn(&str) -> Result<Value, String>,
        ),
        (
            "BlkioDeviceReadBps",
            &f.device_read_bps,
            "--device-read-bps",
            bps_device,
        ),
        (
            "BlkioDeviceWriteBps",
            &f.device_write_bps,
            "--device-write-bps",
            bps_device,
        ),
        (
            "BlkioDeviceReadIOps",
            &f.device_read_iops,
            "--device-read-iops",
            iops_device,
        ),
        (
            "BlkioDeviceWriteIOps",
            &f.device_write_iops,
            "--device-write-iops",
            iops_device,
        ),
    ] {
        m.insert(key.into(), device_list(values, flag, parse)?);
    }
    let ulimits = f
        .ulimit
        .iter()
        .map(|u| ulimit(u).map_err(|e| bad(u, "--ulimit", e)))
        .collect::<Result<Vec<_>, _>>()?;
    m.insert(
        "Ulimits".into(),
        if ulimits.is_empty() {
            Value::Null
        } else {
            Value::Array(ulimits)
        },
    );
    Ok(m)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sizes_as_go_units() {
        assert_eq!(ram_in_bytes("512m").unwrap(), 512 << 20);
        assert_eq!(ram_in_bytes("1g").unwrap(), 1 << 30);
        assert_eq!(ram_in_bytes("1GB").unwrap(), 1 << 30);
        assert_eq!(ram_in_bytes("1.5k").unwrap(), 1536);
        assert_eq!(ram_in_bytes("6291456").unwrap(), 6_291_456);
        assert_eq!(ram_in_bytes("10b").unwrap(), 10);
        assert_eq!(ram_in_bytes("4MiB").unwrap(), 4 << 20);
        assert_eq!(ram_in_bytes("1 k").unwrap(), 1024);
        for bad in ["12x", "abc", "", "-1", "m", "1..5m", "1.m"] {
            assert_eq!(
                ram_in_bytes(bad).unwrap_err(),
                format!("invalid size: '{bad}'"),
                "{bad}"
            );
        }
    }

    #[test]
    fn device_limits_as_the_docker_cli() {
        assert_eq!(
            weight_device("/dev/sda:200").unwrap(),
            json!({"Path": "/dev/sda", "Weight": 200})
        );
        assert_eq!(
            bps_device("/dev/sda:1mb").unwrap(),
            json!({"Path": "/dev/sda", "Rate": 1_048_576})
        );
        assert_eq!(
            iops_device("/dev/vda:100").unwrap(),
            json!({"Path": "/dev/vda", "Rate": 100})
        );
        assert_eq!(weight_device("sda").unwrap_err(), "bad format: sda");
        assert_eq!(
            bps_device("sda:1mb").unwrap_err(),
            "bad format for device path: sda:1mb"
        );
        assert_eq!(
            weight_device("/dev/sda:5").unwrap_err(),
            "invalid weight for device: /dev/sda:5"
        );
        assert!(
            bps_device("/dev/sda:fast")
                .unwrap_err()
                .starts_with("invalid rate for device: /dev/sda:fast. The correct format is <device-path>:<number>[<unit>]")
        );
        assert!(iops_device("/dev/sda:1k").unwrap_err().starts_with(
            "invalid rate for device: /dev/sda:1k. The correct format is <device-path>:<number>. "
        ));
    }

    #[test]
    fn cpus_as_rationals() {
        assert_eq!(nano_cpus("0.5").unwrap(), 500_000_000);
        assert_eq!(nano_cpus("1.5").unwrap(), 1_500_000_000);
        assert_eq!(nano_cpus("2").unwrap(), 2_000_000_000);
        assert_eq!(nano_cpus("3/2").unwrap(), 1_500_000_000);
        assert_eq!(nano_cpus(".25").unwrap(), 250_000_000);
        assert_eq!(nano_cpus("-1").unwrap(), -1_000_000_000);
        assert_eq!(
            nano_cpus("abc").unwrap_err(),
            "failed to parse abc as a rational number"
        );
        assert_eq!(
            nano_cpus("0.0000000001").unwrap_err(),
            "value is too precise"
        );
    }

    #[test]
    fn ulimits_as_go_units() {
        assert_eq!(
            ulimit("nofile=1024:2048").unwrap(),
            json!({"Name": "nofile", "Hard": 2048, "Soft": 1024})
        );
        assert_eq!(
            ulimit("nproc=10").unwrap(),
            json!({"Name": "nproc", "Hard": 10, "Soft": 10})
        );
        assert_eq!(ulimit("bogus=1").unwrap_err(), "invalid ulimit type: bogus");
        assert_eq!(
            ulimit("nofile=abc").unwrap_err(),
            "strconv.ParseInt: parsing \"abc\": invalid syntax"
        );
        assert_eq!(
            ulimit("nofile=10:5").unwrap_err(),
            "ulimit soft limit must be less than or equal to hard limit: 10 > 5"
        );
        assert_eq!(
            ulimit("nofile").unwrap_err(),
            "invalid ulimit argument: nofile"
        );
    }

    #[test]
    fn flag_errors_name_the_flag_as_docker() {
        let f = LimitFlags {
            memory: Some("12x".into()),
            ..LimitFlags::default()
        };
        assert_eq!(
            limits(&f).unwrap_err(),
            "invalid argument \"12x\" for \"-m, --memory\" flag: invalid size: '12x'"
        );
        let f = LimitFlags {
            cpus: Some("abc".into()),
            ..LimitFlags::default()
        };
        assert_eq!(
            limits(&f).unwrap_err(),
            "invalid argument \"abc\" for \"--cpus\" flag: failed to parse abc as a rational number"
        );
        let f = LimitFlags {
            pids_limit: Some("x".into()),
            ..LimitFlags::default()
        };
        assert_eq!(
            limits(&f).unwrap_err(),
            "invalid argument \"x\" for \"--pids-limit\" flag: strconv.ParseInt: parsing \"x\": invalid syntax"
        );
        let r = ResourceFlags {
            memory_swappiness: Some("200".into()),
            ..ResourceFlags::default()
        };
        assert_eq!(
            host_config(&r).unwrap_err(),
            "invalid value: 200. Valid memory swappiness range is 0-100"
        );
    }

    #[test]
    fn host_config_fields() {
        let r = ResourceFlags {
            limits: LimitFlags {
                memory: Some("64m".into()),
                memory_swap: Some("-1".into()),
                cpus: Some("0.5".into()),
                pids_limit: Some("20".into()),
                ..LimitFlags::default()
            },
            ulimit: vec!["nofile=1024:2048".into()],
            ..ResourceFlags::default()
        };
        let m = host_config(&r).unwrap();
        assert_eq!(m["Memory"], 64 << 20);
        assert_eq!(m["MemorySwap"], -1);
        assert_eq!(m["NanoCpus"], 500_000_000);
        assert_eq!(m["PidsLimit"], 20);
        assert_eq!(m["MemorySwappiness"], Value::Null);
        assert_eq!(m["OomKillDisable"], false);
        assert_eq!(m["Ulimits"][0]["Soft"], 1024);
        assert!(
            !host_config(&ResourceFlags::default())
                .unwrap()
                .contains_key("PidsLimit")
        );
    }
}
