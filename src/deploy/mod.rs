//! Policy over tag revisions and running containers: what to keep (prune),
//! and (rollout, rollback) what should run.

pub mod prune;
