//! Event type names a `[eventlistener:x] events=` line may subscribe to (Supervisor's
//! `events.EventTypes`, abstract parents included). Pure.

/// Every event type Supervisor registers, parents first.
pub const EVENT_TYPES: [&str; 27] = [
    "EVENT",
    "PROCESS_STATE",
    "PROCESS_STATE_STOPPED",
    "PROCESS_STATE_EXITED",
    "PROCESS_STATE_STARTING",
    "PROCESS_STATE_STOPPING",
    "PROCESS_STATE_BACKOFF",
    "PROCESS_STATE_FATAL",
    "PROCESS_STATE_RUNNING",
    "PROCESS_STATE_UNKNOWN",
    "PROCESS_COMMUNICATION",
    "PROCESS_COMMUNICATION_STDOUT",
    "PROCESS_COMMUNICATION_STDERR",
    "PROCESS_LOG",
    "PROCESS_LOG_STDOUT",
    "PROCESS_LOG_STDERR",
    "REMOTE_COMMUNICATION",
    "SUPERVISOR_STATE_CHANGE",
    "SUPERVISOR_STATE_CHANGE_RUNNING",
    "SUPERVISOR_STATE_CHANGE_STOPPING",
    "TICK",
    "TICK_5",
    "TICK_60",
    "TICK_3600",
    "PROCESS_GROUP",
    "PROCESS_GROUP_ADDED",
    "PROCESS_GROUP_REMOVED",
];

/// Parses an `events=` value: comma list, names uppercased (Supervisor does `x.upper()`),
/// duplicates dropped keeping the first. Errors name every unknown type; empty is an error.
pub(crate) fn parse_events(text: &str) -> Result<Vec<String>, String> {
    let mut events: Vec<String> = Vec::new();
    let mut unknown = Vec::new();
    for name in crate::values::list_of_strings(text) {
        let name = name.to_uppercase();
        if !EVENT_TYPES.contains(&name.as_str()) {
            unknown.push(format!("{name:?}"));
        } else if !events.contains(&name) {
            events.push(name);
        }
    }
    if !unknown.is_empty() {
        return Err(format!(
            "unknown event type {} (known: {})",
            unknown.join(", "),
            EVENT_TYPES.join(", ")
        ));
    }
    if events.is_empty() {
        return Err("at least one event type is required".to_string());
    }
    Ok(events)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn abstract_and_concrete_names_any_case() {
        assert_eq!(
            parse_events("process_state, TICK_5,PROCESS_STATE").unwrap(),
            ["PROCESS_STATE", "TICK_5"]
        );
        for name in [
            "EVENT",
            "TICK",
            "PROCESS_LOG",
            "PROCESS_COMMUNICATION",
            "REMOTE_COMMUNICATION",
            "SUPERVISOR_STATE_CHANGE",
            "PROCESS_GROUP",
            "PROCESS_GROUP_REMOVED",
        ] {
            assert!(parse_events(name).is_ok(), "{name}");
        }
        assert!(parse_events("TICK_7").unwrap_err().contains("\"TICK_7\""));
        assert!(parse_events("").is_err());
        assert!(parse_events("TICK_5,").is_err());
    }
}
