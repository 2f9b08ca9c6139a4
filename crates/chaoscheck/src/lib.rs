//! Linearizability of a chaos run's client history (`chaos/chaos.py`), register by register.
//!
//! The clients write and read registers (a marker program's `disabled` flag on one host)
//! while faults happen; each operation is recorded with when it was called, when it returned
//! and whether it was acknowledged. The question is whether some total order of the
//! operations, consistent with real time (an operation that returned before another was
//! called comes first), explains every answer. The search is stateright's
//! [`LinearizabilityTester`], a well-kept implementation of it, not a hand-made one.
//!
//! What an operation without an answer means: a write that failed or timed out may have
//! taken effect or not (a forwarded write can be committed after its caller gave up), so it
//! is invoked and never returns, which the tester may place anywhere after its call or
//! nowhere; its client continues as a new thread (the tester allows one operation in flight
//! per thread), as Jepsen does with a crashed process. A read without an answer observed
//! nothing and is left out.

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};
use stateright::semantics::register::{Register, RegisterOp, RegisterRet};
use stateright::semantics::{ConsistencyTester, LinearizabilityTester};

/// One client operation as `chaos.py` records it.
#[derive(Debug, Clone, Deserialize, Serialize, PartialEq)]
pub struct Op {
    /// The client (thread) that made it: one operation at a time per client.
    pub client: u64,
    /// The register: e.g. `h1/w0` (marker `w0`'s flag on host `h1`).
    pub register: String,
    pub kind: Kind,
    /// The value written, or the value read (absent when the read got no answer).
    pub value: Option<bool>,
    /// Seconds on the recorder's monotonic clock.
    pub t_call: f64,
    /// Absent when the call never came back.
    pub t_return: Option<f64>,
    /// Acknowledged (a write) or answered (a read).
    pub ok: bool,
}

#[derive(Debug, Clone, Copy, Deserialize, Serialize, PartialEq, Eq)]
#[serde(rename_all = "lowercase")]
pub enum Kind {
    Write,
    Read,
}

/// The whole history: every register starts at `initial`, unless `initial_by_register`
/// names its starting value (a history cut into segments: each segment's registers start
/// from the value read when the previous one ended, with nothing in flight).
#[derive(Debug, Clone, Deserialize, Serialize)]
pub struct History {
    pub initial: bool,
    #[serde(default)]
    pub initial_by_register: BTreeMap<String, bool>,
    pub ops: Vec<Op>,
}

/// The verdict on one register.
#[derive(Debug, Clone, Serialize, PartialEq, Eq)]
pub struct Verdict {
    pub register: String,
    /// Operations given to the tester (answered ones, and writes without an answer).
    pub operations: usize,
    /// Writes without an answer (may or may not have taken effect).
    pub uncertain_writes: usize,
    pub linearizable: bool,
}

#[derive(Debug, thiserror::Error, PartialEq)]
pub enum HistoryError {
    #[error("operation {index} ({register}): a write needs a value")]
    WriteWithoutValue { index: usize, register: String },
    #[error("operation {index} ({register}): an answered read needs a value")]
    ReadWithoutValue { index: usize, register: String },
    #[error(
        "operation {index} ({register}): it returned at {t_return} before its call at {t_call}"
    )]
    ReturnBeforeCall {
        index: usize,
        register: String,
        t_call: f64,
        t_return: f64,
    },
    #[error("operation {index} ({register}): acknowledged without a return time")]
    OkWithoutReturn { index: usize, register: String },
    #[error(
        "client {client} has two operations in flight at once on {register} (operation {index})"
    )]
    Overlap {
        client: u64,
        register: String,
        index: usize,
    },
}

/// One point in time of a register's history.
#[derive(Debug)]
enum Event {
    Invoke { thread: u64, op: RegisterOp<bool> },
    Return { thread: u64, ret: RegisterRet<bool> },
}

/// Checks every register of `history`; the verdicts in register order.
pub fn check(history: &History) -> Result<Vec<Verdict>, HistoryError> {
    validate(history)?;
    let mut by_register: BTreeMap<&str, Vec<(usize, &Op)>> = BTreeMap::new();
    for (index, op) in history.ops.iter().enumerate() {
        by_register
            .entry(op.register.as_str())
            .or_default()
            .push((index, op));
    }
    by_register
        .into_iter()
        .map(|(register, ops)| {
            let initial = history
                .initial_by_register
                .get(register)
                .copied()
                .unwrap_or(history.initial);
            check_register(register, initial, &ops)
        })
        .collect()
}

fn validate(history: &History) -> Result<(), HistoryError> {
    for (index, op) in history.ops.iter().enumerate() {
        let register = op.register.clone();
        match (op.kind, op.value, op.ok) {
            (Kind::Write, None, _) => {
                return Err(HistoryError::WriteWithoutValue { index, register })
            }
            (Kind::Read, None, true) => {
                return Err(HistoryError::ReadWithoutValue { index, register })
            }
            _ => {}
        }
        match op.t_return {
            Some(t_return) if t_return < op.t_call => {
                return Err(HistoryError::ReturnBeforeCall {
                    index,
                    register,
                    t_call: op.t_call,
                    t_return,
                })
            }
            None if op.ok => return Err(HistoryError::OkWithoutReturn { index, register }),
            _ => {}
        }
    }
    Ok(())
}

fn check_register(
    register: &str,
    initial: bool,
    ops: &[(usize, &Op)],
) -> Result<Verdict, HistoryError> {
    // Thread ids: a client's current one, renewed after each write left in flight.
    let mut next_thread = 0u64;
    let mut thread_of: BTreeMap<u64, u64> = BTreeMap::new();
    // (time, order at equal times: invocations first, so equal stamps count as concurrent)
    let mut events: Vec<(f64, u8, usize, Event)> = Vec::new();
    let mut uncertain = 0;
    let mut operations = 0;
    let mut ordered: Vec<&(usize, &Op)> = ops.iter().collect();
    ordered.sort_by(|a, b| a.1.t_call.total_cmp(&b.1.t_call));
    let mut busy_until: BTreeMap<u64, f64> = BTreeMap::new();
    for &&(index, op) in &ordered {
        if op.kind == Kind::Read && !op.ok {
            continue; // observed nothing
        }
        if let Some(until) = busy_until.get(&op.client) {
            if op.t_call < *until {
                return Err(HistoryError::Overlap {
                    client: op.client,
                    register: register.to_string(),
                    index,
                });
            }
        }
        let thread = *thread_of.entry(op.client).or_insert_with(|| {
            next_thread += 1;
            next_thread
        });
        operations += 1;
        let invoke = match (op.kind, op.value) {
            (Kind::Write, Some(v)) => RegisterOp::Write(v),
            _ => RegisterOp::Read,
        };
        events.push((op.t_call, 0, index, Event::Invoke { thread, op: invoke }));
        if op.ok {
            let t_return = op.t_return.unwrap_or(op.t_call);
            busy_until.insert(op.client, t_return);
            let ret = match op.kind {
                Kind::Write => RegisterRet::WriteOk,
                Kind::Read => RegisterRet::ReadOk(op.value.unwrap_or(initial)),
            };
            events.push((t_return, 1, index, Event::Return { thread, ret }));
        } else {
            // A write without an answer: in flight for good; the client goes on as a new
            // thread once the call came back (or at once, when it never did).
            uncertain += 1;
            busy_until.insert(op.client, op.t_return.unwrap_or(op.t_call));
            next_thread += 1;
            thread_of.insert(op.client, next_thread);
        }
    }
    events.sort_by(|a, b| a.0.total_cmp(&b.0).then(a.1.cmp(&b.1)).then(a.2.cmp(&b.2)));
    let mut tester = LinearizabilityTester::new(Register(initial));
    let mut valid = true;
    for (_, _, _, event) in events {
        let step = match event {
            Event::Invoke { thread, op } => tester.on_invoke(thread, op).map(|_| ()),
            Event::Return { thread, ret } => tester.on_return(thread, ret).map(|_| ()),
        };
        if step.is_err() {
            valid = false;
            break;
        }
    }
    Ok(Verdict {
        register: register.to_string(),
        operations,
        uncertain_writes: uncertain,
        linearizable: valid && tester.is_consistent(),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn op(client: u64, kind: Kind, value: Option<bool>, call: f64, ret: Option<f64>) -> Op {
        Op {
            client,
            register: "h1/w0".into(),
            kind,
            value,
            t_call: call,
            t_return: ret,
            ok: ret.is_some(),
        }
    }

    fn verdict(ops: Vec<Op>) -> Verdict {
        let mut v = check(&History {
            initial: false,
            initial_by_register: BTreeMap::new(),
            ops,
        })
        .expect("a valid history");
        assert_eq!(v.len(), 1);
        v.remove(0)
    }

    #[test]
    fn a_read_after_an_acknowledged_write_sees_it() {
        let v = verdict(vec![
            op(1, Kind::Write, Some(true), 0.0, Some(1.0)),
            op(2, Kind::Read, Some(true), 2.0, Some(3.0)),
        ]);
        assert!(v.linearizable);
        assert_eq!((v.operations, v.uncertain_writes), (2, 0));
    }

    #[test]
    fn a_stale_read_after_an_acknowledged_write_is_not_linearizable() {
        let v = verdict(vec![
            op(1, Kind::Write, Some(true), 0.0, Some(1.0)),
            op(2, Kind::Read, Some(false), 2.0, Some(3.0)),
        ]);
        assert!(!v.linearizable);
    }

    #[test]
    fn a_read_concurrent_with_a_write_may_see_either_value() {
        for seen in [false, true] {
            let v = verdict(vec![
                op(1, Kind::Write, Some(true), 0.0, Some(2.0)),
                op(2, Kind::Read, Some(seen), 1.0, Some(1.5)),
            ]);
            assert!(v.linearizable, "read {seen}");
        }
    }

    #[test]
    fn a_write_without_an_answer_may_have_happened_or_not() {
        for seen in [false, true] {
            let mut lost = op(1, Kind::Write, Some(true), 0.0, Some(3.0));
            lost.ok = false;
            let v = verdict(vec![lost, op(1, Kind::Read, Some(seen), 4.0, Some(5.0))]);
            assert!(v.linearizable, "read {seen}");
            assert_eq!(v.uncertain_writes, 1);
        }
    }

    #[test]
    fn a_value_that_flips_back_without_a_write_is_not_linearizable() {
        // The write is uncertain, yet two later reads see it and then do not: no order
        // explains both.
        let mut lost = op(1, Kind::Write, Some(true), 0.0, None);
        lost.ok = false;
        let v = verdict(vec![
            lost,
            op(2, Kind::Read, Some(true), 1.0, Some(2.0)),
            op(2, Kind::Read, Some(false), 3.0, Some(4.0)),
        ]);
        assert!(!v.linearizable);
    }

    #[test]
    fn a_read_without_an_answer_is_left_out() {
        let mut silent = op(2, Kind::Read, None, 1.0, Some(2.0));
        silent.ok = false;
        let v = verdict(vec![op(1, Kind::Write, Some(true), 0.0, Some(0.5)), silent]);
        assert!(v.linearizable);
        assert_eq!(v.operations, 1);
    }

    #[test]
    fn registers_are_checked_apart() {
        let mut other = op(1, Kind::Read, Some(true), 2.0, Some(3.0));
        other.register = "h2/w0".into();
        let v = check(&History {
            initial: false,
            initial_by_register: BTreeMap::new(),
            ops: vec![op(1, Kind::Write, Some(true), 0.0, Some(1.0)), other],
        })
        .expect("valid");
        assert_eq!(v.len(), 2);
        assert!(v[0].linearizable);
        assert!(!v[1].linearizable, "h2/w0 was never written: {v:?}");
    }

    #[test]
    fn a_segment_starts_from_its_own_initial_value() {
        let read = op(1, Kind::Read, Some(true), 0.0, Some(1.0));
        let history = |start: bool| History {
            initial: false,
            initial_by_register: BTreeMap::from([("h1/w0".to_string(), start)]),
            ops: vec![read.clone()],
        };
        assert!(check(&history(true)).expect("valid")[0].linearizable);
        assert!(!check(&history(false)).expect("valid")[0].linearizable);
    }

    #[test]
    fn malformed_histories_are_refused_with_the_operation_named() {
        let mut no_value = op(1, Kind::Write, None, 0.0, Some(1.0));
        no_value.register = "h3/w2".into();
        let e = check(&History {
            initial: false,
            initial_by_register: BTreeMap::new(),
            ops: vec![no_value],
        })
        .unwrap_err();
        assert_eq!(e.to_string(), "operation 0 (h3/w2): a write needs a value");
        let e = check(&History {
            initial: false,
            initial_by_register: BTreeMap::new(),
            ops: vec![op(1, Kind::Read, Some(true), 2.0, Some(1.0))],
        })
        .unwrap_err();
        assert!(matches!(e, HistoryError::ReturnBeforeCall { .. }), "{e}");
        let e = check(&History {
            initial: false,
            initial_by_register: BTreeMap::new(),
            ops: vec![
                op(1, Kind::Read, Some(false), 0.0, Some(2.0)),
                op(1, Kind::Read, Some(false), 1.0, Some(3.0)),
            ],
        })
        .unwrap_err();
        assert!(matches!(e, HistoryError::Overlap { .. }), "{e}");
    }
}
