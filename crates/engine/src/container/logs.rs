//! Container logs: the log configuration (docker's `HostConfig.LogConfig`)
//! and reading the json-file log that the shim writes.
//!
//! The shim rotates the log as Docker's json-file driver does: `file` is
//! the current one, `file.1` the one before it, up to `file.<max-file - 1>`.
//! Reading goes oldest to newest over all of them. `tail` scans backwards
//! from the end of the newest file, into older ones only as far as needed,
//! so `--tail 10` of a large log reads little. `follow` keeps reading the
//! current file; when the shim rotates it (the name now points at another
//! inode) the old one is read to its end, then the newer files in order.
//! The shim writes a container's output to the log before its exit is
//! recorded, so a follow that sees the container stopped reads once more
//! and has everything.
//!
//! Filters follow dockerd: `tail` counts records of both streams, `since`
//! (inclusive) and `until` (inclusive) apply after it, and a record after
//! `until` ends the read.

use std::collections::BTreeMap;
use std::io::{BufRead, Read, Seek, SeekFrom};
use std::os::unix::fs::MetadataExt;
use std::path::{Path, PathBuf};
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use serde::{Deserialize, Serialize};

use super::{ContainerError, Containers, Status, lock, resolve};

/// docker's `HostConfig.LogConfig`: `{"Type": "json-file", "Config": {...}}`.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "PascalCase", default)]
pub struct LogConfig {
    /// The driver; empty means the daemon's default (`json-file`).
    #[serde(rename = "Type")]
    pub driver: String,
    /// Driver options (`--log-opt key=value`).
    pub config: BTreeMap<String, String>,
}

/// What the shim is told to do with the container's output.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum LogDriver {
    /// The json-file log; `max_size` 0 is unlimited, `max_file` ≥ 1.
    JsonFile { max_size: u64, max_file: u32 },
    /// No log (`--log-driver none`): `docker logs` cannot read anything.
    None,
}

/// The json-file driver's options, as dockerd's `ValidateLogOpt` knows them.
const JSON_FILE_OPTS: &[&str] = &[
    "max-file",
    "max-size",
    "compress",
    "labels",
    "labels-regex",
    "env",
    "env-regex",
    "tag",
];

fn invalid(message: String) -> ContainerError {
    ContainerError::InvalidArgument { message }
}

impl LogConfig {
    /// Checks the configuration as dockerd does at create (same messages)
    /// and says what the shim must do.
    pub fn driver(&self) -> Result<LogDriver, ContainerError> {
        match self.driver.as_str() {
            "" | "json-file" => {}
            "none" => {
                if let Some(key) = self.config.keys().next() {
                    return Err(invalid(format!(
                        "unknown log opt '{key}' for none log driver"
                    )));
                }
                return Ok(LogDriver::None);
            }
            other => {
                return Err(invalid(format!(
                    "logger: no log driver named '{other}' is registered"
                )));
            }
        }
        for key in self.config.keys() {
            if !JSON_FILE_OPTS.contains(&key.as_str()) {
                return Err(invalid(format!(
                    "unknown log opt '{key}' for json-file log driver"
                )));
            }
        }
        super::log_attrs::validate(&self.config)?;
        let max_size = match self.config.get("max-size") {
            None => 0,
            Some(text) => match parse_human_size(text) {
                Some(0) => return Err(invalid("max-size must be a positive number".into())),
                Some(n) => n,
                None => return Err(invalid(format!("invalid size: '{text}'"))),
            },
        };
        let max_file = match self.config.get("max-file") {
            None => 1,
            Some(text) => match text.trim().parse::<i64>() {
                Ok(n) if n < 1 => return Err(invalid("max-file cannot be less than 1".into())),
                Ok(n) => u32::try_from(n).unwrap_or(u32::MAX),
                Err(_) => {
                    return Err(invalid(format!(
                        "strconv.Atoi: parsing \"{text}\": invalid syntax"
                    )));
                }
            },
        };
        if let Some(text) = self.config.get("compress")
            && !matches!(
                text.as_str(),
                "1" | "t"
                    | "T"
                    | "true"
                    | "TRUE"
                    | "True"
                    | "0"
                    | "f"
                    | "F"
                    | "false"
                    | "FALSE"
                    | "False"
            )
        {
            return Err(invalid(format!(
                "error reading compress log option: strconv.ParseBool: parsing \"{text}\": invalid syntax"
            )));
        }
        Ok(LogDriver::JsonFile { max_size, max_file })
    }
}

/// A size as docker's `units.FromHumanSize` reads it: decimal units
/// (`10k` = 10000, `10m`, `1g`, also `10kb`, `1.5M`, `100`).
pub fn parse_human_size(text: &str) -> Option<u64> {
    let t = text.trim();
    let digits_end = t
        .find(|c: char| !(c.is_ascii_digit() || c == '.'))
        .unwrap_or(t.len());
    let (num, unit) = t.split_at(digits_end);
    let value: f64 = num.parse().ok()?;
    let unit = unit.trim().to_ascii_lowercase();
    let unit = unit.strip_suffix('b').unwrap_or(&unit);
    let mult: f64 = match unit {
        "" => 1.0,
        "k" => 1e3,
        "m" => 1e6,
        "g" => 1e9,
        "t" => 1e12,
        "p" => 1e15,
        _ => return None,
    };
    let bytes = value * mult;
    (bytes.is_finite() && bytes >= 0.0 && bytes < u64::MAX as f64).then_some(bytes as u64)
}

/// Which stream a record came from.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum LogStream {
    Stdout,
    Stderr,
}

/// One record of the log.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LogRecord {
    pub stream: LogStream,
    /// The output, with its newline (none for a partial line).
    pub log: String,
    /// Nanoseconds since the epoch.
    pub time: i128,
    /// The record's attributes (the log options' `labels`, `env`, `tag`,
    /// ...), sorted by key; `docker logs --details` shows them.
    pub attrs: Vec<(String, String)>,
}

impl LogRecord {
    /// The time as docker prints it with `--timestamps`
    /// (`2006-01-02T15:04:05.000000000Z`, always nine digits).
    pub fn timestamp(&self) -> String {
        format_rfc3339_nanos(self.time)
    }
}

/// What to read ([`Containers::logs`]).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct LogQuery {
    /// The last `n` records only (of both streams, as dockerd counts).
    pub tail: Option<usize>,
    /// Records at or after this time (ns since the epoch).
    pub since: Option<i128>,
    /// Records at or before this time; the read ends at the first later one.
    pub until: Option<i128>,
    /// Keep reading new records until the container stops.
    pub follow: bool,
}

/// How often a follow looks for new records.
const FOLLOW_POLL: Duration = Duration::from_millis(100);

#[derive(Deserialize)]
struct RawRecord {
    log: String,
    stream: String,
    time: String,
    #[serde(default)]
    attrs: BTreeMap<String, String>,
}

fn parse_record(line: &[u8]) -> Option<LogRecord> {
    let raw: RawRecord = serde_json::from_slice(line).ok()?;
    let stream = match raw.stream.as_str() {
        "stdout" => LogStream::Stdout,
        "stderr" => LogStream::Stderr,
        _ => return None,
    };
    Some(LogRecord {
        stream,
        log: raw.log,
        time: parse_rfc3339_nanos(&raw.time)?,
        attrs: raw.attrs.into_iter().collect(),
    })
}

/// `path`, `path.1`, `path.2`, ...
fn numbered(path: &Path, n: u32) -> PathBuf {
    if n == 0 {
        return path.to_path_buf();
    }
    let mut s = path.as_os_str().to_os_string();
    s.push(format!(".{n}"));
    PathBuf::from(s)
}

/// One open log file.
#[derive(Debug)]
struct LogFile {
    file: fs_err::File,
    ino: (u64, u64),
}

fn io_err(path: &Path, e: std::io::Error) -> ContainerError {
    ContainerError::Io {
        path: path.to_path_buf(),
        source: e,
    }
}

/// Opens the log and its rotated files, newest first. A file opened twice
/// (the shim rotated meanwhile, so a later name points at an inode already
/// open) is kept once, so the list is in order and has no duplicates.
fn open_chain(path: &Path) -> Result<Vec<LogFile>, ContainerError> {
    let mut out: Vec<LogFile> = Vec::new();
    let mut n = 0u32;
    loop {
        let p = numbered(path, n);
        match fs_err::File::open(&p) {
            Ok(file) => {
                let meta = file.metadata().map_err(|e| io_err(&p, e))?;
                let ino = (meta.dev(), meta.ino());
                if !out.iter().any(|f| f.ino == ino) {
                    out.push(LogFile { file, ino });
                }
            }
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => {
                // A gap while the shim renames (`file.1` -> `file.2`, then
                // `file` -> `file.1`): go on if the next name exists.
                if n > 0 && !numbered(path, n + 1).exists() {
                    break;
                }
                if n > 10_000 {
                    break;
                }
            }
            Err(e) => return Err(io_err(&p, e)),
        }
        n += 1;
    }
    Ok(out)
}

/// Where the last `n` lines of `file` start, and how many lines there are
/// from there (fewer than `n` when the file has fewer).
fn tail_offset(file: &mut fs_err::File, n: usize) -> std::io::Result<(u64, usize)> {
    const CHUNK: u64 = 64 * 1024;
    let len = file.metadata()?.len();
    if n == 0 || len == 0 {
        return Ok((len, 0));
    }
    let mut end = len;
    let mut seen = 0usize;
    let mut buf = vec![0u8; CHUNK as usize];
    while end > 0 {
        let start = end.saturating_sub(CHUNK);
        let size = (end - start) as usize;
        file.seek(SeekFrom::Start(start))?;
        file.read_exact(&mut buf[..size])?;
        for i in (0..size).rev() {
            let pos = start + i as u64;
            // The newline that ends the last line starts nothing.
            if buf[i] == b'\n' && pos != len - 1 {
                seen += 1;
                if seen == n {
                    return Ok((pos + 1, n));
                }
            }
        }
        end = start;
    }
    Ok((0, seen + 1))
}

/// Reads records from one file position on; keeps a partial last line
/// (a record being written) for the next read.
#[derive(Debug)]
struct Cursor {
    reader: std::io::BufReader<fs_err::File>,
    ino: (u64, u64),
    pos: u64,
    partial: Vec<u8>,
}

impl Cursor {
    fn new(mut f: LogFile, offset: u64) -> std::io::Result<Self> {
        f.file.seek(SeekFrom::Start(offset))?;
        Ok(Self {
            reader: std::io::BufReader::with_capacity(64 * 1024, f.file),
            ino: f.ino,
            pos: offset,
            partial: Vec::new(),
        })
    }

    /// Every complete record up to the end of the file now.
    fn read_available(&mut self, emit: &mut dyn FnMut(LogRecord) -> Flow) -> std::io::Result<Flow> {
        loop {
            let n = self.reader.read_until(b'\n', &mut self.partial)?;
            if n == 0 {
                return Ok(Flow::Continue);
            }
            self.pos += n as u64;
            if self.partial.last() != Some(&b'\n') {
                // The shim is writing this record: the rest comes later.
                return Ok(Flow::Continue);
            }
            let line = std::mem::take(&mut self.partial);
            if let Some(rec) = parse_record(&line)
                && emit(rec) == Flow::Stop
            {
                return Ok(Flow::Stop);
            }
        }
    }

    /// The file was truncated in place (`max-file` 1) below what was read.
    fn truncated(&mut self) -> std::io::Result<bool> {
        let len = self.reader.get_ref().metadata()?.len();
        if len < self.pos {
            self.reader.seek(SeekFrom::Start(0))?;
            self.pos = 0;
            self.partial.clear();
            return Ok(true);
        }
        Ok(false)
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Flow {
    Continue,
    Stop,
}

/// What [`Containers::logs`] hands its caller: a record, or `Idle` while a
/// follow waits (so the caller can flush, or notice its client left).
#[derive(Debug, Clone, Copy)]
pub enum LogEvent<'a> {
    Record(&'a LogRecord),
    Idle,
}

impl Containers {
    /// Reads the container's json-file log (with its rotated files) as
    /// `query` says, calling `sink` for each record and, while following,
    /// with [`LogEvent::Idle`] at each wait. `sink` returns `false` to stop
    /// (its client went away). A follow ends when the container is not
    /// running (after the last record it wrote), when it is removed, or
    /// when `until` has passed.
    pub fn logs(
        &self,
        id_or_name: &str,
        query: &LogQuery,
        sink: &mut dyn FnMut(LogEvent<'_>) -> bool,
    ) -> Result<(), ContainerError> {
        let c = self.get(id_or_name)?;
        if c.options.log_config.driver()? == LogDriver::None {
            return Err(ContainerError::InvalidArgument {
                message: "configured logging driver does not support reading".into(),
            });
        }
        let path = self.inner.log_path(&c.id);
        // Records and idle calls both go to `sink`.
        let sink = std::cell::RefCell::new(sink);
        let mut emit = |rec: LogRecord| -> Flow {
            if query.since.is_some_and(|s| rec.time < s) {
                return Flow::Continue;
            }
            if query.until.is_some_and(|u| rec.time > u) {
                return Flow::Stop;
            }
            if (sink.borrow_mut())(LogEvent::Record(&rec)) {
                Flow::Continue
            } else {
                Flow::Stop
            }
        };
        // The container's state before the read: a follow of a stopped
        // container reads what there is and ends.
        let mut running = self.running(&c.id);
        let chain = open_chain(&path)?;
        let Some(mut current) = read_initial(&path, chain, query.tail, &mut emit)? else {
            return Ok(());
        };
        if !query.follow {
            return Ok(());
        }
        loop {
            if query.until.is_some_and(|u| now_nanos() > u) {
                return Ok(());
            }
            // Rotated since the last look? Looked at before reading, so
            // what the old file holds once read to its end is all of it.
            let rotated = match fs_err::metadata(&path) {
                Ok(m) => (m.dev(), m.ino()) != current.as_ref().map_or((0, 0), |c| c.ino),
                // Between the shim's rename and its new file; or removed.
                Err(_) => false,
            };
            if let Some(cur) = &mut current {
                cur.truncated().map_err(|e| io_err(&path, e))?;
                if cur
                    .read_available(&mut emit)
                    .map_err(|e| io_err(&path, e))?
                    == Flow::Stop
                {
                    return Ok(());
                }
            }
            if rotated {
                let newer = newer_files(open_chain(&path)?, current.as_ref().map(|c| c.ino));
                let switched = !newer.is_empty();
                let mut newer = newer.into_iter().peekable();
                while let Some(f) = newer.next() {
                    let mut cur = Cursor::new(f, 0).map_err(|e| io_err(&path, e))?;
                    if cur
                        .read_available(&mut emit)
                        .map_err(|e| io_err(&path, e))?
                        == Flow::Stop
                    {
                        return Ok(());
                    }
                    if newer.peek().is_none() {
                        current = Some(cur);
                    }
                }
                if switched {
                    continue;
                }
            }
            if !running {
                return Ok(());
            }
            if !(sink.borrow_mut())(LogEvent::Idle) {
                return Ok(());
            }
            std::thread::sleep(FOLLOW_POLL);
            running = self.running(&c.id);
        }
    }

    /// Whether the container is running (false once removed).
    fn running(&self, id: &str) -> bool {
        let table = lock(&self.inner.table);
        resolve(&table, id).is_ok_and(|c| c.state.status == Status::Running)
    }
}

/// Reads what the files hold now (the last `tail` records of them
/// when asked), and returns the cursor on the newest file for a follow.
fn read_initial(
    path: &Path,
    mut chain: Vec<LogFile>,
    tail: Option<usize>,
    emit: &mut dyn FnMut(LogRecord) -> Flow,
) -> Result<Option<Option<Cursor>>, ContainerError> {
    let e = |err| io_err(path, err);
    // (file, offset) pairs, oldest first.
    let mut plan: Vec<(LogFile, u64)> = Vec::new();
    match tail {
        None => plan.extend(chain.drain(..).rev().map(|f| (f, 0))),
        Some(n) => {
            let mut need = n;
            let mut picked = Vec::new();
            let newest_ino = chain.first().map(|f| f.ino);
            for mut f in chain.drain(..) {
                if need == 0 {
                    // Only the newest file is still needed: to follow.
                    if Some(f.ino) == newest_ino {
                        let len = f.file.metadata().map_err(e)?.len();
                        picked.push((f, len));
                    }
                    break;
                }
                let (offset, found) = tail_offset(&mut f.file, need).map_err(e)?;
                need -= found.min(need);
                picked.push((f, offset));
            }
            plan.extend(picked.into_iter().rev());
        }
    }
    let count = plan.len();
    let mut last = None;
    for (i, (f, offset)) in plan.into_iter().enumerate() {
        let mut cur = Cursor::new(f, offset).map_err(e)?;
        if cur.read_available(emit).map_err(e)? == Flow::Stop {
            return Ok(None);
        }
        if i + 1 == count {
            last = Some(cur);
        }
    }
    Ok(Some(last))
}

/// The files of `chain` (newest first) that are newer than `ino`, oldest
/// first; all of them when `ino` is gone (rotated out) or unknown.
fn newer_files(mut chain: Vec<LogFile>, ino: Option<(u64, u64)>) -> Vec<LogFile> {
    if let Some(i) = ino.and_then(|ino| chain.iter().position(|f| f.ino == ino)) {
        chain.truncate(i);
    }
    chain.reverse();
    chain
}

fn now_nanos() -> i128 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| d.as_nanos() as i128)
}

/// `YYYY-MM-DDTHH:MM:SS[.fraction](Z|±HH:MM)` as nanoseconds since the epoch.
pub fn parse_rfc3339_nanos(text: &str) -> Option<i128> {
    let t = chrono::DateTime::parse_from_rfc3339(text).ok()?;
    Some(i128::from(t.timestamp()) * 1_000_000_000 + i128::from(t.timestamp_subsec_nanos()))
}

/// Nanoseconds since the epoch as `YYYY-MM-DDTHH:MM:SS.nnnnnnnnnZ`.
pub fn format_rfc3339_nanos(t: i128) -> String {
    let secs = i64::try_from(t.div_euclid(1_000_000_000)).unwrap_or(0);
    let nanos = u32::try_from(t.rem_euclid(1_000_000_000)).unwrap_or(0);
    chrono::DateTime::from_timestamp(secs, nanos)
        .unwrap_or_default()
        .to_rfc3339_opts(chrono::SecondsFormat::Nanos, true)
}

#[cfg(test)]
mod tests {
    use std::io::Write;

    use super::*;

    #[test]
    fn human_sizes_are_decimal_as_dockers() {
        assert_eq!(parse_human_size("1k"), Some(1000));
        assert_eq!(parse_human_size("10m"), Some(10_000_000));
        assert_eq!(parse_human_size("1g"), Some(1_000_000_000));
        assert_eq!(parse_human_size("10KB"), Some(10_000));
        assert_eq!(parse_human_size("1.5M"), Some(1_500_000));
        assert_eq!(parse_human_size("100"), Some(100));
        assert_eq!(parse_human_size("1x"), None);
        assert_eq!(parse_human_size("k"), None);
    }

    #[test]
    fn log_config_validation() {
        let cfg = |driver: &str, opts: &[(&str, &str)]| LogConfig {
            driver: driver.into(),
            config: opts
                .iter()
                .map(|(k, v)| ((*k).to_owned(), (*v).to_owned()))
                .collect(),
        };
        assert_eq!(
            cfg("", &[]).driver().unwrap(),
            LogDriver::JsonFile {
                max_size: 0,
                max_file: 1
            }
        );
        assert_eq!(
            cfg("json-file", &[("max-size", "1k"), ("max-file", "3")])
                .driver()
                .unwrap(),
            LogDriver::JsonFile {
                max_size: 1000,
                max_file: 3
            }
        );
        assert_eq!(cfg("none", &[]).driver().unwrap(), LogDriver::None);
        let err = |c: LogConfig| c.driver().unwrap_err().to_string();
        assert_eq!(
            err(cfg("syslog", &[])),
            "logger: no log driver named 'syslog' is registered"
        );
        assert_eq!(
            err(cfg("json-file", &[("max-sise", "1k")])),
            "unknown log opt 'max-sise' for json-file log driver"
        );
        assert_eq!(
            err(cfg("", &[("max-file", "0")])),
            "max-file cannot be less than 1"
        );
        assert_eq!(
            err(cfg("", &[("max-size", "lots")])),
            "invalid size: 'lots'"
        );
    }

    #[test]
    fn timestamps() {
        let t = parse_rfc3339_nanos("2026-11-23T12:00:00.123456789Z").unwrap();
        assert_eq!(format_rfc3339_nanos(t), "2026-11-23T12:00:00.123456789Z");
        assert_eq!(
            parse_rfc3339_nanos("2026-11-23T13:00:00.5+01:00"),
            parse_rfc3339_nanos("2026-11-23T12:00:00.500000000Z")
        );
        assert_eq!(
            parse_rfc3339_nanos("1970-01-01T00:00:01Z"),
            Some(1_000_000_000)
        );
        assert_eq!(format_rfc3339_nanos(0), "1970-01-01T00:00:00.000000000Z");
    }

    fn record(i: usize) -> String {
        format!(
            "{{\"log\":\"line {i}\\n\",\"stream\":\"stdout\",\"time\":\"{}\"}}\n",
            format_rfc3339_nanos(1_700_000_000_000_000_000 + i as i128 * 1_000_000_000)
        )
    }

    fn write(path: &Path, range: std::ops::Range<usize>) {
        let mut f = fs_err::OpenOptions::new()
            .create(true)
            .append(true)
            .open(path)
            .unwrap();
        for i in range {
            f.write_all(record(i).as_bytes()).unwrap();
        }
    }

    fn numbers(chain: Vec<LogFile>, tail: Option<usize>) -> Vec<usize> {
        let mut got = Vec::new();
        let mut emit = |r: LogRecord| {
            got.push(r.log.trim_start_matches("line ").trim().parse().unwrap());
            Flow::Continue
        };
        read_initial(Path::new("log"), chain, tail, &mut emit).unwrap();
        got
    }

    #[test]
    fn reads_rotated_files_in_order_with_tail() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("c-json.log");
        write(&numbered(&path, 2), 0..3);
        write(&numbered(&path, 1), 3..6);
        write(&path, 6..8);
        let all = numbers(open_chain(&path).unwrap(), None);
        assert_eq!(all, (0..8).collect::<Vec<_>>());
        assert_eq!(numbers(open_chain(&path).unwrap(), Some(1)), [7]);
        assert_eq!(numbers(open_chain(&path).unwrap(), Some(4)), [4, 5, 6, 7]);
        assert_eq!(
            numbers(open_chain(&path).unwrap(), Some(7)),
            (1..8).collect::<Vec<_>>()
        );
        assert_eq!(
            numbers(open_chain(&path).unwrap(), Some(100)),
            (0..8).collect::<Vec<_>>()
        );
        assert!(numbers(open_chain(&path).unwrap(), Some(0)).is_empty());
    }

    #[test]
    fn newer_files_after_rotation() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("c-json.log");
        write(&path, 0..2);
        let old = open_chain(&path).unwrap().remove(0).ino;
        // Two rotations: ours is now `.2`, then `.1` and the current file.
        fs_err::rename(&path, numbered(&path, 1)).unwrap();
        write(&path, 2..4);
        fs_err::rename(numbered(&path, 1), numbered(&path, 2)).unwrap();
        fs_err::rename(&path, numbered(&path, 1)).unwrap();
        write(&path, 4..6);
        let mut newer = newer_files(open_chain(&path).unwrap(), Some(old));
        assert_eq!(newer.len(), 2);
        // Oldest first; `read_initial` takes newest first.
        newer.reverse();
        assert_eq!(numbers(newer, None), [2, 3, 4, 5]);
    }
}
