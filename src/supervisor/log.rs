//! The container's log in docker's json-file format, one entry a line:
//!
//! ```text
//! {"log":"listening on 3000\n","stream":"stdout","time":"2026-05-01T10:00:00.123456789Z"}
//! ```
//!
//! The supervisor splits each pipe's bytes into lines (a line longer than
//! [`MAX_LINE`] is cut into partial entries without the newline, as docker
//! does) and appends them across restarts. With `max-size`, the file is
//! rotated before it would grow past it: `container.log` becomes
//! `container.log.1`, older ones shift up to `max-file - 1`.
//! `skiff logs` reads the files back, oldest first, and follows the
//! current one across rotations.

use super::config::LogOptions;
use super::LOG_FILE;
use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use std::fs::File;
use std::io::{Read, Seek, SeekFrom, Write};
use std::os::unix::fs::{MetadataExt, OpenOptionsExt};
use std::path::{Path, PathBuf};

/// Longest entry; longer lines are split.
pub const MAX_LINE: usize = 16 * 1024;

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Stream {
    Stdout,
    Stderr,
}

impl Stream {
    pub fn name(self) -> &'static str {
        match self {
            Stream::Stdout => "stdout",
            Stream::Stderr => "stderr",
        }
    }
}

/// One log line as stored.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Entry {
    pub log: String,
    pub stream: String,
    pub time: String,
}

impl Entry {
    pub fn time(&self) -> Option<DateTime<Utc>> {
        DateTime::parse_from_rfc3339(&self.time)
            .ok()
            .map(|t| t.with_timezone(&Utc))
    }
}

/// The log files of a container directory, oldest first.
pub fn files(dir: &Path) -> Vec<PathBuf> {
    let mut out = Vec::new();
    for i in (1..1000).rev() {
        let p = dir.join(format!("{LOG_FILE}.{i}"));
        if p.exists() {
            out.push(p);
        }
    }
    out.push(dir.join(LOG_FILE));
    out
}

/// Appends entries to `container.log`, rotating it.
pub struct LogWriter {
    dir: PathBuf,
    file: Option<File>,
    size: u64,
    opts: LogOptions,
    scratch: Vec<u8>,
}

fn open_append(path: &Path) -> std::io::Result<File> {
    std::fs::OpenOptions::new()
        .append(true)
        .create(true)
        .mode(0o640)
        .custom_flags(libc::O_CLOEXEC)
        .open(path)
}

impl LogWriter {
    pub fn open(dir: &Path, opts: LogOptions) -> std::io::Result<LogWriter> {
        let file = open_append(&dir.join(LOG_FILE))?;
        let size = file.metadata()?.len();
        Ok(LogWriter {
            dir: dir.to_path_buf(),
            file: Some(file),
            size,
            opts,
            scratch: Vec::new(),
        })
    }

    /// Append one entry (`msg` includes its newline if it had one). Errors
    /// are swallowed: a full disk must not stop the container.
    pub fn write(&mut self, stream: Stream, msg: &[u8]) {
        self.scratch.clear();
        self.scratch.extend_from_slice(b"{\"log\":");
        let text = String::from_utf8_lossy(msg);
        if serde_json::to_writer(&mut self.scratch, text.as_ref()).is_err() {
            return;
        }
        self.scratch.extend_from_slice(b",\"stream\":\"");
        self.scratch.extend_from_slice(stream.name().as_bytes());
        self.scratch.extend_from_slice(b"\",\"time\":\"");
        self.scratch
            .extend_from_slice(super::now_rfc3339().as_bytes());
        self.scratch.extend_from_slice(b"\"}\n");
        let len = self.scratch.len() as u64;
        if let Some(max) = self.opts.max_size {
            if self.size > 0 && self.size + len > max {
                self.rotate();
            }
        }
        if let Some(f) = &mut self.file {
            if f.write_all(&self.scratch).is_ok() {
                self.size += len;
            }
        }
        if self.scratch.capacity() > 4 * MAX_LINE {
            self.scratch = Vec::new();
        }
    }

    fn rotate(&mut self) {
        let cur = self.dir.join(LOG_FILE);
        self.file = None;
        if self.opts.max_file <= 1 {
            let _ = std::fs::remove_file(&cur);
        } else {
            for i in (1..self.opts.max_file - 1).rev() {
                let from = self.dir.join(format!("{LOG_FILE}.{i}"));
                if from.exists() {
                    let _ = std::fs::rename(&from, self.dir.join(format!("{LOG_FILE}.{}", i + 1)));
                }
            }
            let _ = std::fs::rename(&cur, self.dir.join(format!("{LOG_FILE}.1")));
        }
        self.file = open_append(&cur).ok();
        self.size = 0;
    }
}

/// Splits one stream's bytes into entries.
#[derive(Default)]
pub struct LineSplitter {
    partial: Vec<u8>,
}

impl LineSplitter {
    pub fn feed(&mut self, mut data: &[u8], mut emit: impl FnMut(&[u8])) {
        while !data.is_empty() {
            let room = MAX_LINE - self.partial.len();
            match data.iter().take(room).position(|&b| b == b'\n') {
                Some(i) => {
                    if self.partial.is_empty() {
                        emit(&data[..=i]);
                    } else {
                        self.partial.extend_from_slice(&data[..=i]);
                        emit(&self.partial);
                        self.partial.clear();
                    }
                    data = &data[i + 1..];
                }
                None if data.len() >= room => {
                    self.partial.extend_from_slice(&data[..room]);
                    emit(&self.partial);
                    self.partial.clear();
                    data = &data[room..];
                }
                None => {
                    self.partial.extend_from_slice(data);
                    data = &[];
                }
            }
        }
        if self.partial.is_empty() && self.partial.capacity() > MAX_LINE {
            self.partial = Vec::new();
        }
    }

    /// At end of the stream: what is left, without a newline.
    pub fn flush(&mut self, mut emit: impl FnMut(&[u8])) {
        if !self.partial.is_empty() {
            emit(&self.partial);
        }
        self.partial = Vec::new();
    }
}

/// Reads entries from the current log file onwards, across rotations.
pub struct Follower {
    path: PathBuf,
    file: Option<File>,
    ino: u64,
    partial: Vec<u8>,
}

impl Follower {
    /// Start at the end (`from_start` false) or the beginning of the current file.
    pub fn new(dir: &Path, from_start: bool) -> Follower {
        let path = dir.join(LOG_FILE);
        let mut f = Follower {
            path,
            file: None,
            ino: 0,
            partial: Vec::new(),
        };
        f.reopen(from_start);
        f
    }

    fn reopen(&mut self, from_start: bool) {
        self.file = File::open(&self.path).ok();
        if let Some(file) = &mut self.file {
            self.ino = file.metadata().map(|m| m.ino()).unwrap_or(0);
            if !from_start {
                let _ = file.seek(SeekFrom::End(0));
            }
        }
        self.partial.clear();
    }

    /// Everything appended since the last call.
    pub fn read_new(&mut self, mut out: impl FnMut(Entry)) {
        loop {
            self.drain(&mut out);
            // Rotated (or recreated)? Finish the old file, then go on with the new one.
            let now = std::fs::metadata(&self.path).map(|m| m.ino()).ok();
            if now.is_some() && (self.file.is_none() || now != Some(self.ino)) {
                self.reopen(true);
                continue;
            }
            return;
        }
    }

    fn drain(&mut self, out: &mut impl FnMut(Entry)) {
        let Some(file) = &mut self.file else { return };
        let mut buf = [0u8; 8192];
        loop {
            match file.read(&mut buf) {
                Ok(0) | Err(_) => break,
                Ok(n) => self.partial.extend_from_slice(&buf[..n]),
            }
        }
        let mut start = 0;
        while let Some(i) = self.partial[start..].iter().position(|&b| b == b'\n') {
            if let Ok(e) = serde_json::from_slice::<Entry>(&self.partial[start..start + i]) {
                out(e);
            }
            start += i + 1;
        }
        self.partial.drain(..start);
    }
}

/// Read every entry of the files (oldest first), keeping the last `tail`
/// (all when `None`) at or after `since`.
pub fn read_all(dir: &Path, tail: Option<usize>, since: Option<DateTime<Utc>>) -> Vec<Entry> {
    read_files(&files(dir), tail, since)
}

/// As [`read_all`], for the rotated files only (the current one is left to
/// a [`Follower`]).
pub fn read_rotated(dir: &Path, tail: Option<usize>, since: Option<DateTime<Utc>>) -> Vec<Entry> {
    let mut f = files(dir);
    f.pop();
    read_files(&f, tail, since)
}

pub fn read_files(
    files: &[PathBuf],
    tail: Option<usize>,
    since: Option<DateTime<Utc>>,
) -> Vec<Entry> {
    let mut out = std::collections::VecDeque::new();
    for p in files {
        let Ok(text) = std::fs::read_to_string(p) else {
            continue;
        };
        for line in text.lines() {
            let Ok(e) = serde_json::from_str::<Entry>(line) else {
                continue;
            };
            if let Some(s) = since {
                if e.time().is_some_and(|t| t < s) {
                    continue;
                }
            }
            out.push_back(e);
            if tail.is_some_and(|n| out.len() > n) {
                out.pop_front();
            }
        }
    }
    out.into()
}

/// `--since`: RFC 3339 (`2026-05-01T10:00:00Z`), a date, a Unix time, or a
/// duration before `now` (`10m`, `1h30m`, `45s`).
pub fn parse_since(s: &str, now: DateTime<Utc>) -> Option<DateTime<Utc>> {
    if let Ok(t) = DateTime::parse_from_rfc3339(s) {
        return Some(t.with_timezone(&Utc));
    }
    if let Ok(d) = chrono::NaiveDate::parse_from_str(s, "%Y-%m-%d") {
        return Some(d.and_hms_opt(0, 0, 0)?.and_utc());
    }
    if let Ok(secs) = s.parse::<f64>() {
        let whole = secs.trunc() as i64;
        let nanos = ((secs - secs.trunc()) * 1e9) as u32;
        return DateTime::from_timestamp(whole, nanos);
    }
    let mut total = 0f64;
    let mut num = String::new();
    let mut any = false;
    let mut chars = s.chars().peekable();
    while let Some(c) = chars.next() {
        if c.is_ascii_digit() || c == '.' {
            num.push(c);
            continue;
        }
        let v: f64 = num.parse().ok()?;
        num.clear();
        let unit = match c {
            'h' => 3600.0,
            'm' if chars.peek() == Some(&'s') => {
                chars.next();
                0.001
            }
            'm' => 60.0,
            's' => 1.0,
            _ => return None,
        };
        total += v * unit;
        any = true;
    }
    if !num.is_empty() || !any {
        return None;
    }
    Some(now - chrono::Duration::milliseconds((total * 1000.0) as i64))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn lines(chunks: &[&[u8]]) -> Vec<Vec<u8>> {
        let mut s = LineSplitter::default();
        let mut out = Vec::new();
        for c in chunks {
            s.feed(c, |l| out.push(l.to_vec()));
        }
        s.flush(|l| out.push(l.to_vec()));
        out
    }

    #[test]
    fn splits_lines_across_chunks() {
        assert_eq!(
            lines(&[b"a\nb", b"c\n", b"tail"]),
            vec![b"a\n".to_vec(), b"bc\n".to_vec(), b"tail".to_vec()]
        );
        let long = vec![b'x'; MAX_LINE + 10];
        let out = lines(&[&long, b"\n"]);
        assert_eq!(out.len(), 2);
        assert_eq!(out[0].len(), MAX_LINE);
        assert_eq!(out[1].len(), 11);
    }

    #[test]
    fn writes_json_lines_and_rotates() {
        let d = tempfile::tempdir().unwrap();
        let opts = LogOptions {
            max_size: Some(300),
            max_file: 3,
        };
        let mut w = LogWriter::open(d.path(), opts).unwrap();
        for i in 0..20 {
            w.write(Stream::Stdout, format!("line \"{i}\"\n").as_bytes());
        }
        w.write(Stream::Stderr, b"\xffbad utf8\n");
        assert!(d.path().join("container.log.1").exists());
        assert!(d.path().join("container.log.2").exists());
        assert!(!d.path().join("container.log.3").exists());
        for f in files(d.path()) {
            assert!(std::fs::metadata(&f).unwrap().len() <= 300);
        }
        let all = read_all(d.path(), None, None);
        let last = all.last().unwrap();
        assert_eq!(last.stream, "stderr");
        assert_eq!(last.log, "\u{fffd}bad utf8\n");
        assert_eq!(all[all.len() - 2].log, "line \"19\"\n");
        let tail = read_all(d.path(), Some(2), None);
        assert_eq!(tail.len(), 2);
        assert!(last.time().is_some());
    }

    #[test]
    fn follows_across_rotation() {
        let d = tempfile::tempdir().unwrap();
        let mut w = LogWriter::open(
            d.path(),
            LogOptions {
                max_size: Some(200),
                max_file: 2,
            },
        )
        .unwrap();
        let mut f = Follower::new(d.path(), true);
        let mut seen = Vec::new();
        for i in 0..10 {
            w.write(Stream::Stdout, format!("{i}\n").as_bytes());
            f.read_new(|e| seen.push(e.log));
        }
        let want: Vec<String> = (0..10).map(|i| format!("{i}\n")).collect();
        assert_eq!(seen, want);
    }

    #[test]
    fn since() {
        let now = DateTime::parse_from_rfc3339("2026-05-01T10:00:00Z")
            .unwrap()
            .with_timezone(&Utc);
        let ago = |s| parse_since(s, now).unwrap().to_rfc3339();
        assert_eq!(ago("10m"), "2026-05-01T09:50:00+00:00");
        assert_eq!(ago("1h30m"), "2026-05-01T08:30:00+00:00");
        assert_eq!(ago("2026-04-30T00:00:00Z"), "2026-04-30T00:00:00+00:00");
        assert_eq!(ago("2026-04-30"), "2026-04-30T00:00:00+00:00");
        assert!(parse_since("soon", now).is_none());
        assert!(parse_since("10", now).is_some());
    }
}
