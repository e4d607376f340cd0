//! The kernel's forwarding of the published ports (`supervisor/forwarding.rs`)
//! kept in step with this container's state.

use super::Supervisor;
use crate::supervisor::forwarding;
use crate::supervisor::log::Stream;
use crate::supervisor::SupervisorError;

impl Supervisor {
    /// The kernel's forwarding of this container's ports follows its
    /// state (saved before): ready, not ready, draining, gone.
    pub(super) fn sync_forwarding(&mut self) {
        if !self.forward {
            return;
        }
        if let Err(e) = forwarding::sync_all(&self.store, &self.cfg) {
            self.forward_failed(&e);
        }
    }

    pub(super) fn forward_failed(&mut self, e: &SupervisorError) {
        if !self.forward_failed {
            self.forward_failed = true;
            self.log.write(
                Stream::Stderr,
                format!("skiff: published ports stay on skiff's relay: {e}\n").as_bytes(),
            );
        }
    }

    /// A sibling's supervisor killed (still in a chain), or this
    /// container ready but missing from one: re-sync that port.
    pub(super) fn check_forwarding(&mut self) {
        let me = self.container.id().to_string();
        let serving = self.state.ready && !self.state.draining && self.run.is_some();
        for p in forwarding::published_of(&self.cfg) {
            if forwarding::out_of_date(&self.store, &p, &me, serving) {
                if let Err(e) = forwarding::sync(&self.store, &p) {
                    self.forward_failed(&e);
                }
            }
        }
    }
}
