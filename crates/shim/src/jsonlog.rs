//! Docker's `json-file` log format, written by the shim.
//!
//! One JSON object per line, fields in Docker's order:
//! `{"log":"hello\n","stream":"stdout","time":"2026-11-23T12:00:00.123456789Z"}`,
//! with `"attrs":{...}` before `time` when the container has log attributes
//! (the `labels`, `env`, `env-regex`, `labels-regex` and `tag` log options,
//! worked out by the daemon; keys sorted, as Go's encoder writes a map).
//! Output is split on newlines; a line still incomplete after 16 KiB is
//! written as its own record without the newline, as Docker's log copier
//! does, so one endless line cannot grow the shim's memory. Strings are
//! escaped as Go's encoder does (`<`, `>`, `&`, U+2028, U+2029 as `\uXXXX`,
//! invalid UTF-8 as U+FFFD) so tools that compare files with Docker's see the
//! same bytes.
//!
//! Rotation follows Docker's `max-size`/`max-file`: before a record is
//! written, if the file has reached `max_size`, `file.N-1` becomes `file.N`,
//! ..., `file` becomes `file.1` and a new `file` is started; with
//! `max_file` 1 the file is truncated instead.

use std::collections::BTreeMap;
use std::io::Write;
use std::path::{Path, PathBuf};

use fs_err::{File, OpenOptions};

/// Docker's log copier buffer: longer partial lines are flushed as is.
pub const MAX_PARTIAL: usize = 16 * 1024;

/// Errors writing the log.
#[derive(Debug, thiserror::Error)]
pub enum LogError {
    #[error("cannot write the container log: {0}")]
    Io(#[from] std::io::Error),
}

/// Which stream a record came from.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Stream {
    Stdout,
    Stderr,
}

impl Stream {
    fn name(self) -> &'static str {
        match self {
            Self::Stdout => "stdout",
            Self::Stderr => "stderr",
        }
    }

    fn index(self) -> usize {
        match self {
            Self::Stdout => 0,
            Self::Stderr => 1,
        }
    }
}

/// Limits for rotation; `max_size` 0 means unlimited.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Rotation {
    pub max_size: u64,
    pub max_file: u32,
}

impl Default for Rotation {
    fn default() -> Self {
        Self {
            max_size: 0,
            max_file: 1,
        }
    }
}

/// The log file of one container.
#[derive(Debug)]
pub struct JsonLog {
    path: PathBuf,
    file: File,
    size: u64,
    rotation: Rotation,
    /// Incomplete last line of stdout and stderr.
    partial: [Vec<u8>; 2],
    record: Vec<u8>,
    /// The encoded attributes object (`{"k":"v"}`), empty for none.
    attrs: Vec<u8>,
}

impl JsonLog {
    /// Opens (appends to) the log at `path`, mode 0640 as Docker's.
    pub fn open(path: &Path, rotation: Rotation) -> Result<Self, LogError> {
        let file = open_append(path)?;
        let size = file.metadata()?.len();
        Ok(Self {
            path: path.to_path_buf(),
            file,
            size,
            rotation,
            partial: [Vec::new(), Vec::new()],
            record: Vec::new(),
            attrs: Vec::new(),
        })
    }

    /// Adds `attrs` to every record from now on (none if empty).
    pub fn set_attrs(&mut self, attrs: &BTreeMap<String, String>) {
        self.attrs = encode_attrs(attrs);
    }

    /// Adds output of `stream` read at `time`; complete lines are written.
    pub fn write(&mut self, stream: Stream, data: &[u8], time: &str) -> Result<(), LogError> {
        let i = stream.index();
        let mut rest = data;
        while let Some(nl) = rest.iter().position(|&b| b == b'\n') {
            let (line, tail) = rest.split_at(nl + 1);
            if self.partial[i].is_empty() {
                self.record(stream, line, time)?;
            } else {
                let mut whole = std::mem::take(&mut self.partial[i]);
                whole.extend_from_slice(line);
                self.record(stream, &whole, time)?;
                whole.clear();
                // Keep the allocation for the next partial line.
                self.partial[i] = whole;
            }
            rest = tail;
        }
        self.partial[i].extend_from_slice(rest);
        while self.partial[i].len() >= MAX_PARTIAL {
            let chunk: Vec<u8> = self.partial[i].drain(..MAX_PARTIAL).collect();
            self.record(stream, &chunk, time)?;
        }
        Ok(())
    }

    /// Writes the incomplete last line of `stream`, if any (end of output).
    pub fn flush_partial(&mut self, stream: Stream, time: &str) -> Result<(), LogError> {
        let i = stream.index();
        if self.partial[i].is_empty() {
            return Ok(());
        }
        let line = std::mem::take(&mut self.partial[i]);
        self.record(stream, &line, time)
    }

    fn record(&mut self, stream: Stream, line: &[u8], time: &str) -> Result<(), LogError> {
        if self.rotation.max_size > 0 && self.size >= self.rotation.max_size {
            self.rotate()?;
        }
        let mut rec = std::mem::take(&mut self.record);
        rec.clear();
        encode_record(line, stream.name(), &self.attrs, time, &mut rec);
        // One write per record: a reader never sees half a line unless the
        // disk is full.
        let result = self.file.write_all(&rec);
        self.size += rec.len() as u64;
        self.record = rec;
        result.map_err(LogError::from)
    }

    fn rotate(&mut self) -> Result<(), LogError> {
        let max = self.rotation.max_file;
        if max >= 2 {
            for n in (1..max - 1).rev() {
                let from = numbered(&self.path, n);
                if from.exists() {
                    fs_err::rename(&from, numbered(&self.path, n + 1))?;
                }
            }
            fs_err::rename(&self.path, numbered(&self.path, 1))?;
            self.file = open_append(&self.path)?;
        } else {
            self.file.file().set_len(0)?;
        }
        self.size = 0;
        Ok(())
    }
}

fn numbered(path: &Path, n: u32) -> PathBuf {
    let mut s = path.as_os_str().to_os_string();
    s.push(format!(".{n}"));
    PathBuf::from(s)
}

fn open_append(path: &Path) -> Result<File, std::io::Error> {
    use fs_err::os::unix::fs::OpenOptionsExt;
    OpenOptions::new()
        .create(true)
        .append(true)
        .mode(0o640)
        .open(path)
}

/// Go's `json.Marshal` of a `map[string]string`: `{"k":"v",...}`, keys
/// sorted; empty for no attributes (docker then leaves `attrs` out).
pub fn encode_attrs(attrs: &BTreeMap<String, String>) -> Vec<u8> {
    let mut out = Vec::new();
    if attrs.is_empty() {
        return out;
    }
    out.push(b'{');
    for (i, (k, v)) in attrs.iter().enumerate() {
        if i > 0 {
            out.push(b',');
        }
        out.push(b'"');
        escape_into(k.as_bytes(), &mut out);
        out.extend_from_slice(b"\":\"");
        escape_into(v.as_bytes(), &mut out);
        out.push(b'"');
    }
    out.push(b'}');
    out
}

/// Appends one json-file record (with its trailing newline) to `out`;
/// `attrs` is an encoded attributes object ([`encode_attrs`]) or empty.
pub fn encode_record(line: &[u8], stream: &str, attrs: &[u8], time: &str, out: &mut Vec<u8>) {
    out.extend_from_slice(b"{\"log\":\"");
    escape_into(line, out);
    out.extend_from_slice(b"\",\"stream\":\"");
    out.extend_from_slice(stream.as_bytes());
    if !attrs.is_empty() {
        out.extend_from_slice(b"\",\"attrs\":");
        out.extend_from_slice(attrs);
        out.extend_from_slice(b",\"time\":\"");
    } else {
        out.extend_from_slice(b"\",\"time\":\"");
    }
    out.extend_from_slice(time.as_bytes());
    out.extend_from_slice(b"\"}\n");
}

/// JSON string escaping as Go's `encoding/json` (HTML-safe) does it.
fn escape_into(bytes: &[u8], out: &mut Vec<u8>) {
    const HEX: &[u8; 16] = b"0123456789abcdef";
    for chunk in bytes.utf8_chunks() {
        for c in chunk.valid().chars() {
            match c {
                '"' => out.extend_from_slice(b"\\\""),
                '\\' => out.extend_from_slice(b"\\\\"),
                '\n' => out.extend_from_slice(b"\\n"),
                '\r' => out.extend_from_slice(b"\\r"),
                '\t' => out.extend_from_slice(b"\\t"),
                '<' | '>' | '&' | '\u{2028}' | '\u{2029}' | '\0'..='\u{1f}' => {
                    let v = c as u32;
                    out.extend_from_slice(b"\\u");
                    for shift in [12, 8, 4, 0] {
                        out.push(HEX[((v >> shift) & 0xf) as usize]);
                    }
                }
                c => {
                    let mut buf = [0u8; 4];
                    out.extend_from_slice(c.encode_utf8(&mut buf).as_bytes());
                }
            }
        }
        if !chunk.invalid().is_empty() {
            out.extend_from_slice("\u{fffd}".as_bytes());
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const T: &str = "2026-11-23T12:00:00.123456789Z";

    fn lines(path: &Path) -> Vec<String> {
        fs_err::read_to_string(path)
            .unwrap_or_default()
            .lines()
            .map(str::to_string)
            .collect()
    }

    #[test]
    fn record_format_is_dockers() {
        let mut out = Vec::new();
        encode_record(b"hello\n", "stdout", b"", T, &mut out);
        assert_eq!(
            String::from_utf8(out).unwrap(),
            "{\"log\":\"hello\\n\",\"stream\":\"stdout\",\"time\":\"2026-11-23T12:00:00.123456789Z\"}\n"
        );
        // With attributes, as dockerd's json-file driver writes them.
        let attrs: BTreeMap<String, String> = [("tag", "web<1>"), ("A", "x")]
            .into_iter()
            .map(|(k, v)| (k.to_owned(), v.to_owned()))
            .collect();
        let mut out = Vec::new();
        encode_record(b"hi\n", "stderr", &encode_attrs(&attrs), T, &mut out);
        assert_eq!(
            String::from_utf8(out).unwrap(),
            "{\"log\":\"hi\\n\",\"stream\":\"stderr\",\"attrs\":{\"A\":\"x\",\"tag\":\"web\\u003c1\\u003e\"},\"time\":\"2026-11-23T12:00:00.123456789Z\"}\n"
        );
        assert!(encode_attrs(&BTreeMap::new()).is_empty());
    }

    #[test]
    fn escaping_matches_go() {
        let mut out = Vec::new();
        escape_into(b"a\"b\\c\t<x>&\x01\r\xffz\xe2\x80\xa8\xc3\xa9", &mut out);
        assert_eq!(
            String::from_utf8(out).unwrap(),
            "a\\\"b\\\\c\\t\\u003cx\\u003e\\u0026\\u0001\\r\u{fffd}z\\u2028é"
        );
        // Whatever we write is valid JSON that decodes to the text.
        let mut rec = Vec::new();
        encode_record("ü \" \\ \u{7f}\n".as_bytes(), "stderr", b"", T, &mut rec);
        let v: serde_json::Value = serde_json::from_slice(&rec).unwrap();
        assert_eq!(v["log"], "ü \" \\ \u{7f}\n");
        assert_eq!(v["stream"], "stderr");
    }

    #[test]
    fn splits_lines_and_keeps_partials_per_stream() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("c.log");
        let mut log = JsonLog::open(&path, Rotation::default()).unwrap();
        log.write(Stream::Stdout, b"one\ntw", T).unwrap();
        log.write(Stream::Stderr, b"err", T).unwrap();
        log.write(Stream::Stdout, b"o\nthree", T).unwrap();
        log.write(Stream::Stderr, b"!\n", T).unwrap();
        log.flush_partial(Stream::Stdout, T).unwrap();
        log.flush_partial(Stream::Stderr, T).unwrap();
        let got: Vec<(String, String)> = lines(&path)
            .iter()
            .map(|l| {
                let v: serde_json::Value = serde_json::from_str(l).unwrap();
                (
                    v["log"].as_str().unwrap().to_string(),
                    v["stream"].as_str().unwrap().to_string(),
                )
            })
            .collect();
        let want = [
            ("one\n", "stdout"),
            ("two\n", "stdout"),
            ("err!\n", "stderr"),
            ("three", "stdout"),
        ];
        assert_eq!(
            got,
            want.map(|(a, b)| (a.to_string(), b.to_string())).to_vec()
        );
    }

    #[test]
    fn long_partial_lines_are_flushed_at_16k() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("c.log");
        let mut log = JsonLog::open(&path, Rotation::default()).unwrap();
        let long = vec![b'x'; MAX_PARTIAL * 2 + 10];
        log.write(Stream::Stdout, &long, T).unwrap();
        assert_eq!(lines(&path).len(), 2, "two full 16 KiB chunks");
        log.write(Stream::Stdout, b"\n", T).unwrap();
        let all = lines(&path);
        assert_eq!(all.len(), 3);
        let last: serde_json::Value = serde_json::from_str(&all[2]).unwrap();
        assert_eq!(
            last["log"].as_str().unwrap(),
            format!("{}\n", "x".repeat(10))
        );
    }

    #[test]
    fn rotation_keeps_max_file_files() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("c.log");
        let rotation = Rotation {
            max_size: 200,
            max_file: 3,
        };
        let mut log = JsonLog::open(&path, rotation).unwrap();
        // Each record is ~70 bytes: a file takes 3 records (rotation
        // happens once the size has reached the limit, as in Docker).
        for i in 0..20 {
            log.write(Stream::Stdout, format!("line {i:02}\n").as_bytes(), T)
                .unwrap();
        }
        let p1 = numbered(&path, 1);
        let p2 = numbered(&path, 2);
        assert!(
            !numbered(&path, 3).exists(),
            "max-file 3 means file, .1, .2"
        );
        for p in [&path, &p1, &p2] {
            let len = fs_err::metadata(p).unwrap().len();
            assert!(len > 0 && len < 200 + 80, "{} is {len} bytes", p.display());
        }
        // The newest record is in the current file, older ones shift up.
        let cur = lines(&path);
        assert!(cur.last().unwrap().contains("line 19"));
        let newest_in_p1: serde_json::Value =
            serde_json::from_str(lines(&p1).last().unwrap()).unwrap();
        let oldest_in_cur: serde_json::Value = serde_json::from_str(&cur[0]).unwrap();
        let n =
            |v: &serde_json::Value| -> u32 { v["log"].as_str().unwrap()[5..7].parse().unwrap() };
        assert_eq!(n(&newest_in_p1) + 1, n(&oldest_in_cur));
        assert!(
            lines(&p2)
                .iter()
                .all(|l| l.contains("\"stream\":\"stdout\""))
        );
    }

    #[test]
    fn max_file_one_truncates() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("c.log");
        let rotation = Rotation {
            max_size: 100,
            max_file: 1,
        };
        let mut log = JsonLog::open(&path, rotation).unwrap();
        for i in 0..10 {
            log.write(Stream::Stderr, format!("{i}\n").as_bytes(), T)
                .unwrap();
        }
        assert!(!numbered(&path, 1).exists());
        assert!(fs_err::metadata(&path).unwrap().len() < 200);
        assert!(
            lines(&path)
                .last()
                .unwrap()
                .starts_with("{\"log\":\"9\\n\"")
        );
    }
}
