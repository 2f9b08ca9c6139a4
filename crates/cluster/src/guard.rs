//! The start guard that keeps disabled programs from starting on this instance (Supvisors 0.14
//! patches `supervisor.startProcess` to raise `DISABLED` for them, and never auto-starts them).
//! procman consults it for every start it decides; the answer comes from the local replica, so
//! it needs no leader and costs a map lookup.

use model::{make_namespec, Fault, FaultCode, ProcessSpec};
use tokio::sync::watch;

use crate::store::Replica;

/// A [`procman::StartGuard`] refusing the processes whose program (`ProcessSpec::program`) is
/// disabled for `local` in the replica, with Supvisors' fault: `DISABLED: <group:name>`.
pub fn disabled_guard(replica: watch::Receiver<Replica>, local: String) -> procman::StartGuard {
    std::sync::Arc::new(move |spec: &ProcessSpec| {
        let disabled = replica.borrow().state.is_disabled(&local, &spec.program);
        if disabled {
            Err(Fault::with(
                FaultCode::Disabled,
                make_namespec(&spec.group, &spec.name),
            ))
        } else {
            Ok(())
        }
    })
}
