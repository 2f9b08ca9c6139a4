//! raftvisor's commander: the *pure* planner of "applications across the cluster" (Supvisors'
//! Starter, Stopper, FailureHandler and conciliation). Everything here is a function of the
//! rules file, the local [`Catalog`], the replicated [`data::ClusterState`] and the leader's
//! clock (`now_ms`): no I/O, no clock, no async.
//!
//! ```text
//!  XML-RPC front end ── start_application(..) ─► Job ─► Command::Jobs([Create]) ─► Raft
//!  leader loop ── plan(&ClusterState, now) ─► Plan { ops (commit), supvisors_state, orders }
//!                                                                      │ executor
//!                                   local supervisors ◄── Order::Start/Stop/Final
//!                                   (process events come back through the replica)
//! ```
//!
//! It is not the executor of the orders, the Raft layer, nor the XML-RPC namespace: those live
//! in `cluster` and `supvisors`. Jobs, items and the [`data::Plan`] are the data contract
//! defined in `data::jobs`; this crate depends on `data` and not on `cluster`, so it builds
//! and is tested without openraft, sled and the network.

mod build;
pub mod catalog;
mod conciliate;
mod failures;
mod placement;
mod plan;
pub mod status;
pub mod synth;
mod view;

#[cfg(test)]
mod testkit;
#[cfg(test)]
mod tests;

pub use build::NO_RESOURCE;
pub use catalog::{Catalog, CatalogEntry};
pub use plan::{
    ABORTED_REINIT, ABORTED_STOPPING, RUNNING_MARGIN_MS, STARTING_TIMEOUT_MS, STOPPED_MARGIN_MS,
};
pub use status::{ApplicationState, ApplicationStatus};

use model::rules::Rules;
use model::supvisors::{ConciliationStrategy, StartingStrategy};
use model::ProcessState;
use std::collections::BTreeMap;

/// The options of the `[rpcinterface:supvisors]` section the commander needs.
#[derive(Debug, Clone)]
pub struct Settings {
    /// This instance's identifier (the leader's, when it plans).
    pub local: String,
    /// `supvisors_list` order: the CONFIG strategy order and what `*` means.
    pub instances: Vec<String>,
    /// Instance → node (host) name, for the `*_NODE` strategies and SINGLE_NODE. An instance
    /// missing here is a node of its own.
    pub nodes: BTreeMap<String, String>,
    /// The `starting_strategy` option (default of the applications that set none).
    pub starting_strategy: StartingStrategy,
    pub conciliation_strategy: ConciliationStrategy,
}

/// One process of a `test_start_application` dry run (Supvisors 0.18).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TestedProcess {
    pub application_name: String,
    pub process_name: String,
    /// RUNNING when it runs or would be started, FATAL when it could not be placed.
    pub state: ProcessState,
    /// Why it would not start ("no resource available"), empty otherwise.
    pub forced_reason: String,
    /// Where it runs, or where it would be started.
    pub running_identifiers: Vec<String>,
}

/// The planner: rules, local catalog and settings. Cheap to query; holds no cluster state.
#[derive(Debug, Clone)]
pub struct Commander {
    rules: Rules,
    catalog: Catalog,
    settings: Settings,
}

impl Commander {
    pub fn new(rules: Rules, catalog: Catalog, settings: Settings) -> Self {
        Commander {
            rules,
            catalog,
            settings,
        }
    }

    pub fn rules(&self) -> &Rules {
        &self.rules
    }

    pub fn settings(&self) -> &Settings {
        &self.settings
    }

    pub fn catalog(&self) -> &Catalog {
        &self.catalog
    }
}
