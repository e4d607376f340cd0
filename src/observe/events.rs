//! Reading the event log (`store::events` writes it): history from the
//! rotated file then the current one, following the current one across
//! rotations, with docker's filters. A line that does not parse (a crash
//! cut it, someone edited the file) is reported and skipped.

use crate::store::events::Event;
use crate::store::Store;
use std::io::{Read, Seek, SeekFrom};
use std::os::unix::fs::MetadataExt;
use std::path::PathBuf;

/// What one line of the log held.
#[derive(Debug)]
pub enum Line {
    Event(Box<Event>),
    /// `file:line: why`, for a warning.
    Corrupt(String),
}

/// Reads the log from its oldest line and then follows it.
pub struct Reader {
    rotated: Option<PathBuf>,
    path: PathBuf,
    file: Option<std::fs::File>,
    ino: u64,
    line_no: usize,
    buf: Vec<u8>,
    /// Parse only the lines holding this text (a cheap pre-filter).
    only: Option<&'static [u8]>,
}

impl Reader {
    pub fn new(store: &Store) -> Reader {
        Reader {
            rotated: Some(store.rotated_events_path()),
            path: store.events_path(),
            file: None,
            ino: 0,
            line_no: 0,
            buf: Vec::new(),
            only: None,
        }
    }

    /// Parse only lines that contain `text` (others are not even checked).
    pub fn only_containing(mut self, text: &'static [u8]) -> Reader {
        self.only = Some(text);
        self
    }

    /// Everything written since the last call, in order.
    pub fn read_new(&mut self, f: &mut dyn FnMut(Line)) {
        if let Some(old) = self.rotated.take() {
            if let Ok(bytes) = std::fs::read(&old) {
                let mut n = 0;
                let name = old.display().to_string();
                split_lines(&bytes, &mut n, &name, true, self.only, f);
            }
        }
        loop {
            if self.file.is_none() {
                let Ok(file) = std::fs::File::open(&self.path) else {
                    return;
                };
                self.ino = file.metadata().map(|m| m.ino()).unwrap_or(0);
                self.file = Some(file);
                self.line_no = 0;
                self.buf.clear();
            }
            if let Some(file) = &mut self.file {
                let _ = file.read_to_end(&mut self.buf);
            }
            let rotated = std::fs::metadata(&self.path).map_or(true, |m| m.ino() != self.ino);
            if rotated {
                // Whatever was appended before the rename is in our file.
                if let Some(file) = &mut self.file {
                    let _ = file.read_to_end(&mut self.buf);
                }
            }
            let name = self.path.display().to_string();
            let used = split_lines(&self.buf, &mut self.line_no, &name, rotated, self.only, f);
            self.buf.drain(..used);
            if !rotated {
                return;
            }
            self.file = None;
        }
    }

    /// Skip what the log holds now (follow only new events).
    pub fn skip_to_end(&mut self) {
        self.rotated = None;
        if let Ok(mut file) = std::fs::File::open(&self.path) {
            self.ino = file.metadata().map(|m| m.ino()).unwrap_or(0);
            let _ = file.seek(SeekFrom::End(0));
            self.file = Some(file);
        }
    }
}

/// Parse the complete lines of `bytes` (and a cut last line when `to_end`);
/// returns how many bytes were used.
fn split_lines(
    bytes: &[u8],
    line_no: &mut usize,
    name: &str,
    to_end: bool,
    only: Option<&[u8]>,
    f: &mut dyn FnMut(Line),
) -> usize {
    let mut used = 0;
    while used < bytes.len() {
        let rest = &bytes[used..];
        let (line, next) = match rest.iter().position(|&b| b == b'\n') {
            Some(end) => (&rest[..end], used + end + 1),
            None if to_end => (rest, bytes.len()),
            None => break,
        };
        *line_no += 1;
        used = next;
        if line.iter().all(u8::is_ascii_whitespace)
            || only.is_some_and(|p| !line.windows(p.len()).any(|w| w == p))
        {
            continue;
        }
        match serde_json::from_slice::<Event>(line) {
            Ok(e) => f(Line::Event(Box::new(e))),
            Err(e) => f(Line::Corrupt(format!("{name}:{line_no}: {e}"))),
        }
    }
    used
}

/// docker's `--filter key=value`: values of one key are alternatives,
/// different keys must all match.
#[derive(Clone, Debug, Default)]
pub struct Filter {
    containers: Vec<String>,
    types: Vec<String>,
    events: Vec<String>,
    images: Vec<String>,
}

impl Filter {
    /// Parse `container=api`, `type=container`, `event=die`, `image=node-api`.
    pub fn parse(specs: &[String]) -> Result<Filter, String> {
        let mut f = Filter::default();
        for s in specs {
            let (k, v) = s
                .split_once('=')
                .ok_or_else(|| format!("invalid filter {s:?}: expected key=value"))?;
            let list = match k {
                "container" => &mut f.containers,
                "type" => &mut f.types,
                "event" | "action" => &mut f.events,
                "image" => &mut f.images,
                _ => {
                    return Err(format!(
                        "invalid filter {s:?}: the keys are container, type, event and image"
                    ))
                }
            };
            list.push(v.to_string());
        }
        Ok(f)
    }

    pub fn matches(&self, e: &Event) -> bool {
        let any = |list: &[String], ok: &dyn Fn(&str) -> bool| {
            list.is_empty() || list.iter().any(|v| ok(v))
        };
        // `event=health_status` matches `health_status: healthy`, as docker.
        let action = e.action.split(':').next().unwrap_or("");
        any(&self.types, &|t| e.kind == t)
            && any(&self.events, &|a| e.action == a || action == a)
            && any(&self.containers, &|c| {
                e.kind == "container"
                    && (e.get("name") == Some(c) || (c.len() >= 3 && e.actor.id.starts_with(c)))
            })
            && any(&self.images, &|i| {
                let image = e.get("image").or(e.get("name")).unwrap_or("");
                image == i
                    || image.split(':').next() == Some(i)
                    || (e.kind == "image" && e.actor.id == i)
            })
    }
}

/// docker's plain line: `TIME TYPE ACTION ID (k=v, ...)`.
pub fn human(e: &Event) -> String {
    let time = chrono::DateTime::from_timestamp_nanos(e.time_nano)
        .to_rfc3339_opts(chrono::SecondsFormat::Nanos, true);
    let attrs: Vec<String> = e
        .actor
        .attributes
        .iter()
        .map(|(k, v)| format!("{k}={v}"))
        .collect();
    let mut s = format!("{time} {} {} {}", e.kind, e.action, e.actor.id);
    if !attrs.is_empty() {
        s.push_str(&format!(" ({})", attrs.join(", ")));
    }
    super::printable(&s)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn collect(r: &mut Reader) -> (Vec<Event>, Vec<String>) {
        let (mut ev, mut bad) = (Vec::new(), Vec::new());
        r.read_new(&mut |l| match l {
            Line::Event(e) => ev.push(*e),
            Line::Corrupt(m) => bad.push(m),
        });
        (ev, bad)
    }

    #[test]
    fn reads_history_skips_corrupt_lines_and_follows_rotation() {
        let d = tempfile::tempdir().unwrap();
        let store = Store::open(d.path()).unwrap();
        let ev = |a: &str| Event::container(a, "abc123", Some("api"), "busybox");
        store.append_event(&ev("create")).unwrap();
        // A line cut by a crash, then a good one.
        std::fs::OpenOptions::new()
            .append(true)
            .open(store.events_path())
            .and_then(|mut f| std::io::Write::write_all(&mut f, b"{\"Type\":\"conta\n"))
            .unwrap();
        store.append_event(&ev("start")).unwrap();
        let mut r = Reader::new(&store);
        let (got, bad) = collect(&mut r);
        assert_eq!(got.len(), 2);
        assert_eq!(bad.len(), 1);
        assert!(bad[0].contains("events.log:2"), "{bad:?}");
        // Rotation between two reads: nothing lost, nothing twice.
        store.append_event(&ev("die")).unwrap();
        std::fs::rename(store.events_path(), store.rotated_events_path()).unwrap();
        store.append_event(&ev("destroy")).unwrap();
        let (got, bad) = collect(&mut r);
        let actions: Vec<&str> = got.iter().map(|e| e.action.as_str()).collect();
        assert_eq!(actions, ["die", "destroy"]);
        assert!(bad.is_empty());
        assert!(collect(&mut r).0.is_empty());
    }

    #[test]
    fn filters_as_docker() {
        let start = Event::container("start", "abc123", Some("api"), "node-api:latest");
        let pull = Event::new("image", "pull", "sha256:x").attr("name", "busybox:latest");
        let f = |s: &[&str]| Filter::parse(&s.iter().map(|x| x.to_string()).collect::<Vec<_>>());
        assert!(f(&["container=api"]).unwrap().matches(&start));
        assert!(f(&["container=abc"]).unwrap().matches(&start));
        assert!(!f(&["container=api"]).unwrap().matches(&pull));
        assert!(f(&["event=die", "event=start"]).unwrap().matches(&start));
        let health = Event::container("health_status: healthy", "abc123", Some("api"), "x");
        assert!(f(&["event=health_status"]).unwrap().matches(&health));
        assert!(f(&["event=health_status: healthy"])
            .unwrap()
            .matches(&health));
        assert!(!f(&["event=health_status"]).unwrap().matches(&start));
        assert!(!f(&["event=die", "type=container"]).unwrap().matches(&start));
        assert!(f(&["image=node-api"]).unwrap().matches(&start));
        assert!(f(&["image=busybox"]).unwrap().matches(&pull));
        assert!(f(&["bogus=1"]).is_err());
        assert!(f(&["type"]).is_err());
        assert!(human(&start).contains("container start abc123 (image=node-api:latest, name=api)"));
    }
}
