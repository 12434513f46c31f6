//! `fieldsync-sim`: a deterministic fault simulator. Per seed it builds a small company on
//! a real server (the request handlers in process, a real SQLite file) with 3 to 8 client
//! engines of mixed roles, runs a plan of offline edits of every merge strategy, syncs
//! through a transport that loses, duplicates and delays requests, crashes clients and the
//! server, skews and rewinds clocks, moves customers, changes roles and restores the
//! server from an earlier backup ([`plan`]). Then it heals (no more faults, everyone
//! syncs until quiet) and checks the invariants ([`check`]):
//!
//! - every replica equals a fresh download of its user;
//! - every acknowledged edit is in the server's state, or lost to a named concurrent edit;
//! - counters add up exactly (each delta once);
//! - every rejection sits in its author's attention list;
//! - every replica reached the newest change (no cursor skipped one).
//!
//! A seed's plan is drawn from the seed alone, and the trace of what each step did hashes
//! the same on every run. A failing seed is shrunk by dropping steps while it still fails
//! the same invariant. docs/RELIABILITY.md says what it covers and what it cannot reach.

pub mod check;
pub mod plan;
pub mod run;
pub mod world;

pub use check::Failure;
pub use plan::{Fault, Plan, Step};
pub use run::{run_plan, run_seed, shrink, SeedReport};
