//! The container's stdout and stderr pipes, read into the log.

use super::{Run, Supervisor};
use crate::supervisor::log::Stream;

impl Supervisor {
    pub(super) fn read_pipe(&mut self, stream: Stream) {
        if let Some(mut run) = self.run.take() {
            self.drain(&mut run, stream, false);
            self.run = Some(run);
        }
    }

    /// Read what the pipe has (all of it, to the end, when `to_end`).
    pub(super) fn drain(&mut self, run: &mut Run, stream: Stream, to_end: bool) {
        let (fd, lines) = match stream {
            Stream::Stdout => (&mut run.out, &mut run.out_lines),
            Stream::Stderr => (&mut run.err, &mut run.err_lines),
        };
        let Some(f) = fd else { return };
        let log = &mut self.log;
        let mut reads = 0;
        loop {
            match nix::unistd::read(&*f, &mut self.buf) {
                Ok(0) => {
                    lines.flush(|l| log.write(stream, l));
                    *fd = None;
                    return;
                }
                Ok(n) => {
                    lines.feed(&self.buf[..n], |l| log.write(stream, l));
                    reads += 1;
                    // Be fair to the rest of the loop under a flood.
                    if !to_end && reads >= 16 {
                        return;
                    }
                }
                Err(nix::Error::EINTR) => continue,
                Err(_) => {
                    if to_end {
                        lines.flush(|l| log.write(stream, l));
                        *fd = None;
                    }
                    return;
                }
            }
        }
    }
}
