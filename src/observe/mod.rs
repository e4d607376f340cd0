//! See what runs: stats, top, events and Prometheus metrics. This module
//! only reads — state files and the event log in the store, cgroup files,
//! `/proc` — and wakes nobody: no supervisor is asked anything, so a scrape
//! costs the containers nothing. (The event log's writer is
//! `store::events`, low enough for the supervisor, `run` and `deploy` to
//! append to it.)
//!
//! | concern | file |
//! | --- | --- |
//! | a container's cgroup counters, v1 and v2 | `cgroup.rs` |
//! | a container's network counters (`/proc/<pid>/net/dev`) | `netdev.rs` |
//! | docker's stats columns from two reads | `stats.rs` |
//! | the processes of a container, `ps -ef` style | `top.rs` |
//! | reading, following and filtering the event log | `events.rs` |
//! | the Prometheus exposition | `metrics.rs` |
//! | the `/metrics` HTTP listener | `serve.rs` |

/// `s` with control characters (a container's command line, an error
/// message) shown as `?`, so printing it cannot drive the terminal.
pub fn printable(s: &str) -> String {
    s.chars()
        .map(|c| if c.is_control() { '?' } else { c })
        .collect()
}

pub mod cgroup;
pub mod events;
pub mod metrics;
pub mod netdev;
pub mod serve;
pub mod stats;
pub mod top;

#[cfg(test)]
mod tests {
    #[test]
    fn control_characters_are_not_printed() {
        assert_eq!(super::printable("a\x1b[2Jb\u{9b}c\té"), "a?[2Jb?c?é");
    }
}
