//! Test-only helpers shared by several crates' integration tests. Not part of raftvisor itself:
//! only `[dev-dependencies]` use it.

pub mod supervisord;
