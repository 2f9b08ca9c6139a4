//! What the cluster side reads from the local configuration — the commander (rules, the
//! configured processes, placement settings) and the program index — and how a configuration
//! read becomes a new one.
//!
//! There is one value, in one `watch` channel ([`supvisors::ConfigView`]): the config reloader
//! publishes to it at each re-read, the supvisors namespace shares it (its `update_numprocs`
//! publishes the new program index), and the cluster node's planner and fence policy read the
//! commander from receivers of it. Nothing holds a copy, so nothing has to be kept in sync.
//!
//! ```text
//! config read ──rules applied──▶ ConfigView ──send──▶ watch ──borrow──▶ planner, fence policy
//!                                                          ◀─shared──▶ supvisors namespace
//! ```

use commander::{Catalog, Commander, Settings};
use model::rules::Rules;
use model::Config;
use std::sync::Arc;
use supvisors::{ConfigView, ProgramIndex};

/// The view of the first configuration read: the rules are applied to `config` first.
pub(crate) fn first(rules: Rules, settings: Settings, config: &mut Config) -> ConfigView {
    apply_rules(config, &rules);
    ConfigView {
        programs: Arc::new(ProgramIndex::from_config(config)),
        commander: Arc::new(Commander::new(
            rules,
            Catalog::from_config(config),
            settings,
        )),
    }
}

/// The view after a re-read of the configuration: the rules and settings of `current` (the
/// rules files are read at start-up only, as in Supvisors), applied to `config`; the
/// commander learns the new processes (startsecs, `#` indexes).
pub(crate) fn reread(current: &ConfigView, config: &mut Config) -> ConfigView {
    let rules = current.commander.rules();
    apply_rules(config, rules);
    ConfigView {
        programs: Arc::new(ProgramIndex::from_config(config)),
        commander: Arc::new(Commander::new(
            rules.clone(),
            Catalog::from_config(config),
            current.commander.settings().clone(),
        )),
    }
}

/// [`config::rules::apply_to`], logged.
fn apply_rules(config: &mut Config, rules: &Rules) {
    for namespec in config::rules::apply_to(config, rules) {
        tracing::info!(
            process = %namespec,
            "autorestart disabled: its running failure strategy acts on the application"
        );
    }
}

/// The commander of the view `view` holds now (a clone of the `Arc`: the channel is not
/// borrowed while the caller plans).
pub(crate) fn commander(view: &tokio::sync::watch::Receiver<ConfigView>) -> Arc<Commander> {
    view.borrow().commander.clone()
}
