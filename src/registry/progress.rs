//! Progress for blob transfers: one live line per blob on a terminal, plain
//! lines (one when a blob is done) otherwise, nothing when quiet. Written to
//! stderr so stdout keeps only the result.

use std::io::{self, IsTerminal, Read, Write};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Mutex;
use std::time::{Duration, Instant};

#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub enum ProgressMode {
    /// Live lines when stderr is a terminal, plain lines otherwise.
    #[default]
    Auto,
    /// One line per finished blob.
    Plain,
    /// Nothing.
    Quiet,
}

pub struct Progress {
    tty: bool,
    quiet: bool,
    state: Mutex<State>,
}

struct State {
    bars: Vec<Bar>,
    drawn: usize,
    last: Option<Instant>,
}

struct Bar {
    label: String,
    verb: &'static str,
    done: u64,
    total: u64,
    status: Option<String>,
}

const REDRAW_EVERY: Duration = Duration::from_millis(100);

impl Progress {
    pub fn new(mode: ProgressMode) -> Progress {
        Progress {
            tty: mode == ProgressMode::Auto && io::stderr().is_terminal(),
            quiet: mode == ProgressMode::Quiet,
            state: Mutex::new(State {
                bars: Vec::new(),
                drawn: 0,
                last: None,
            }),
        }
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, State> {
        self.state.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// A line of its own (a heading, a note), above any live lines.
    pub fn line(&self, text: &str) {
        if self.quiet {
            return;
        }
        let mut st = self.lock();
        if self.tty && st.drawn > 0 {
            let mut out = String::new();
            out.push_str(&format!("\x1b[{}A", st.drawn));
            out.push_str(&format!("\r\x1b[2K{text}\n"));
            st.drawn = 0;
            render(&mut out, &mut st);
            let _ = io::stderr().lock().write_all(out.as_bytes());
        } else {
            let _ = writeln!(io::stderr().lock(), "{text}");
        }
    }

    /// Draw the bars a last time and leave them: later lines go below.
    pub fn freeze(&self) {
        let mut st = self.lock();
        if self.tty && st.drawn > 0 {
            self.redraw(&mut st);
        }
        st.drawn = 0;
        st.bars.clear();
    }

    /// Start a bar for one blob; returns its id.
    pub fn bar(&self, label: &str, verb: &'static str, total: u64) -> usize {
        let mut st = self.lock();
        st.bars.push(Bar {
            label: label.to_string(),
            verb,
            done: 0,
            total,
            status: None,
        });
        let id = st.bars.len() - 1;
        if self.tty {
            self.redraw(&mut st);
        }
        id
    }

    pub fn advance(&self, id: usize, n: u64) {
        let mut st = self.lock();
        if let Some(b) = st.bars.get_mut(id) {
            b.done += n;
        }
        if self.tty && st.last.is_none_or(|t| t.elapsed() >= REDRAW_EVERY) {
            self.redraw(&mut st);
        }
    }

    /// Mark a blob done (or skipped, or failed) with a short status.
    pub fn finish(&self, id: usize, status: &str) {
        if self.quiet {
            return;
        }
        let mut st = self.lock();
        let Some(b) = st.bars.get_mut(id) else {
            return;
        };
        b.status = Some(status.to_string());
        if self.tty {
            self.redraw(&mut st);
        } else {
            let line = format!("{}  {status}", b.label);
            let _ = writeln!(io::stderr().lock(), "{line}");
        }
    }

    fn redraw(&self, st: &mut State) {
        if self.quiet {
            return;
        }
        let mut out = String::new();
        if st.drawn > 0 {
            out.push_str(&format!("\x1b[{}A", st.drawn));
        }
        render(&mut out, st);
        st.last = Some(Instant::now());
        let _ = io::stderr().lock().write_all(out.as_bytes());
    }
}

fn render(out: &mut String, st: &mut State) {
    for b in &st.bars {
        out.push_str("\r\x1b[2K");
        out.push_str(&b.label);
        out.push_str("  ");
        match &b.status {
            Some(s) => out.push_str(s),
            None => {
                let width = 30usize;
                let filled = if b.total == 0 {
                    0
                } else {
                    ((b.done.min(b.total) as u128 * width as u128) / b.total as u128) as usize
                };
                out.push_str(&format!(
                    "{} [{}{}{}] {}/{}",
                    b.verb,
                    "=".repeat(filled.saturating_sub(1)),
                    if filled > 0 { ">" } else { "" },
                    " ".repeat(width - filled),
                    human(b.done),
                    human(b.total)
                ));
            }
        }
        out.push('\n');
    }
    st.drawn = st.bars.len();
}

pub use crate::units::human_size as human;

/// A reader that reports to a progress bar and stops when `cancel` is set
/// (another blob of the same transfer failed).
pub struct ProgressReader<'a, R> {
    pub inner: R,
    pub progress: &'a Progress,
    pub id: usize,
    pub cancel: &'a AtomicBool,
}

impl<R: Read> Read for ProgressReader<'_, R> {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        if self.cancel.load(Ordering::Relaxed) {
            return Err(io::Error::other("cancelled"));
        }
        let n = self.inner.read(buf)?;
        self.progress.advance(self.id, n as u64);
        Ok(n)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sizes_and_reader() {
        assert_eq!(human(999), "999B");
        assert_eq!(human(45_600_000), "45.6MB");
        let p = Progress::new(ProgressMode::Quiet);
        let id = p.bar("x", "downloading", 5);
        let cancel = AtomicBool::new(false);
        let mut r = ProgressReader {
            inner: &b"hello"[..],
            progress: &p,
            id,
            cancel: &cancel,
        };
        let mut s = String::new();
        r.read_to_string(&mut s).unwrap();
        assert_eq!(p.lock().bars[0].done, 5);
        cancel.store(true, Ordering::Relaxed);
        assert!(r.read(&mut [0u8; 4]).is_err());
    }
}
