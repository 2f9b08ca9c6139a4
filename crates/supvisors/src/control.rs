//! The control part of the `supvisors` namespace (Supvisors 0.14's control methods; see
//! docs/supvisors.md, 'The `supvisors` XML-RPC namespace'): applications and processes started,
//! stopped and restarted through the commander's jobs.
//!
//! Any instance answers: it builds the job with the commander's rules (every instance has the
//! same), commits it through Raft (forwarded to the leader), and with `wait` follows *its* job
//! in the local replica until the leader records the outcome. The leader's commander does the
//! work; a new leader resumes the job where the old one left it, so a waiting caller is not
//! disturbed by a failover.

use crate::encode;
use crate::faults::{self, Gate};
use crate::namespace::SupvisorsNamespace;
use cluster::{ClusterApi, Command, CommandResult, FinalAction, Job, JobId, JobOp, SupvisorsState};
use commander::Commander;
use model::supvisors::{ConciliationStrategy, StartingStrategy};
use model::{Fault, FaultCode};
use procman::SupervisorApi;
use std::sync::Arc;
use web::params;
use xmlrpc::Value;

/// The methods answered here (the rest of [`crate::METHODS`] is the state part).
#[cfg(test)]
pub(crate) const CONTROL_METHODS: &[&str] = &[
    "get_application_info",
    "get_all_applications_info",
    "get_application_rules",
    "get_process_rules",
    "get_conflicts",
    "start_application",
    "stop_application",
    "restart_application",
    "start_args",
    "start_process",
    "start_any_process",
    "stop_process",
    "restart_process",
    "update_numprocs",
    "conciliate",
    "restart_sequence",
    "restart",
    "shutdown",
    "test_start_application",
];

use model::time::epoch_ms;

/// A strategy parameter: its name or its integer value, as Supvisors' `_get_strategy`.
fn enum_param<T: Copy>(
    value: &Value,
    all: &[T],
    name: impl Fn(T) -> &'static str,
    code: impl Fn(T) -> i32,
    what: &str,
) -> Result<T, Fault> {
    let found = match value {
        Value::String(text) => all.iter().copied().find(|s| name(*s) == text),
        Value::Int(n) => all.iter().copied().find(|s| code(*s) == *n),
        _ => None,
    };
    found.ok_or_else(|| {
        Fault::with(
            FaultCode::IncorrectParameters,
            format!("invalid {what}: {}", params::describe(value)),
        )
    })
}

/// An optional string parameter ('' when absent).
fn optional_string(p: &[Value], index: usize, what: &str) -> Result<String, Fault> {
    p.get(index)
        .map_or(Ok(String::new()), |v| params::string(v, what))
}

pub(crate) fn starting_strategy(value: &Value) -> Result<StartingStrategy, Fault> {
    enum_param(
        value,
        &StartingStrategy::ALL,
        StartingStrategy::name,
        StartingStrategy::code,
        "StartingStrategies",
    )
}

pub(crate) fn conciliation_strategy(value: &Value) -> Result<ConciliationStrategy, Fault> {
    enum_param(
        value,
        &ConciliationStrategy::ALL,
        ConciliationStrategy::name,
        ConciliationStrategy::code,
        "ConciliationStrategies",
    )
}

impl<C: ClusterApi, S: SupervisorApi> SupvisorsNamespace<C, S> {
    fn commander(&self) -> Arc<Commander> {
        self.commander_handle()
    }

    /// Reads the replica's state with the commander.
    fn with_state<T>(&self, f: impl FnOnce(&Commander, &cluster::ClusterState) -> T) -> T {
        let commander = self.commander();
        let rx = self.cluster.replica();
        let replica = rx.borrow();
        f(&commander, &replica.state)
    }

    /// Commits `job` and returns its id.
    async fn submit(&self, job: Job) -> Result<JobId, Fault> {
        let result = tokio::time::timeout(
            self.write_timeout,
            self.cluster
                .write(self.stamped(Command::Jobs(vec![JobOp::Create(job)]))),
        )
        .await
        .map_err(|_| faults::write_fault(&cluster::WriteError::Timeout(self.write_timeout)))?
        .map_err(|e| faults::write_fault(&e))?;
        match result {
            CommandResult::JobsCreated(ids) if !ids.is_empty() => Ok(ids[0]),
            other => Err(faults::command_fault(&other).unwrap_or_else(|| {
                Fault::with(FaultCode::Failed, "the job was not created".to_string())
            })),
        }
    }

    /// Waits until the local replica shows the outcome of job `id`: `Ok(())` when it reached
    /// its goal, ABNORMAL_TERMINATION with `name` otherwise (Supvisors' fault text).
    async fn wait_job(&self, id: JobId, name: &str) -> Result<(), Fault> {
        let mut rx = self.cluster.replica();
        let outcome = rx
            .wait_for(|r| match r.state.jobs().job(id) {
                Some(job) => job.is_finished(),
                // Pruned: far too old to be ours unless we waited for ages; treat as ended.
                None => r.state.jobs().all().any(|j| j.id > id),
            })
            .await
            .map_err(|_| Fault::new(FaultCode::ShutdownState))?
            .state
            .jobs()
            .job(id)
            .and_then(|j| j.outcome.clone());
        match outcome {
            Some(o) if o.ok => Ok(()),
            Some(o) => {
                tracing::info!(job = id, message = %o.message, "job failed");
                Err(Fault::with(
                    FaultCode::AbnormalTermination,
                    name.to_string(),
                ))
            }
            None => Err(Fault::with(
                FaultCode::AbnormalTermination,
                name.to_string(),
            )),
        }
    }

    /// Submits `job`; with `wait`, returns once it is over. `false` when there was nothing
    /// to do (Supvisors' "in progress" flag).
    async fn run_job(&self, job: Job, wait: bool, name: &str) -> Result<Value, Fault> {
        if job.items.is_empty() {
            return Ok(Value::Bool(false));
        }
        let id = self.submit(job).await?;
        if wait {
            self.wait_job(id, name).await?;
        }
        Ok(Value::Bool(true))
    }

    pub(crate) async fn run_control(
        &self,
        method: &str,
        p: &[Value],
    ) -> Option<Result<Value, Fault>> {
        self.control(method, p).await.transpose()
    }

    async fn control(&self, method: &str, p: &[Value]) -> Result<Option<Value>, Fault> {
        let arg = |i: usize| p.get(i).ok_or(Fault::new(FaultCode::IncorrectParameters));
        let local = self.cluster.local_identifier();
        let now = epoch_ms();
        let value = match method {
            "get_application_info" => {
                self.check(Gate::FromDeployment)?;
                let name = params::string(arg(0)?, "application_name")?;
                let app = self
                    .with_state(|c, s| c.application(s, &name))
                    .ok_or_else(|| Fault::with(FaultCode::BadName, name.clone()))?;
                encode::application(&app)
            }
            "get_all_applications_info" => {
                self.check(Gate::FromDeployment)?;
                let apps = self.with_state(|c, s| c.applications(s));
                Value::Array(apps.iter().map(encode::application).collect())
            }
            "get_application_rules" => {
                self.check(Gate::FromDeployment)?;
                let name = params::string(arg(0)?, "application_name")?;
                self.with_state(|c, s| {
                    c.application(s, &name).map(|_| {
                        encode::application_rules(&name, c.rules().application_rules(&name))
                    })
                })
                .ok_or_else(|| Fault::with(FaultCode::BadName, name.clone()))?
            }
            "get_process_rules" => {
                self.check(Gate::FromDeployment)?;
                let namespec = params::string(arg(0)?, "namespec")?;
                let found = self.with_state(|_, s| crate::synth::processes_named(s, &namespec))?;
                let commander = self.commander();
                Value::Array(
                    found
                        .iter()
                        .map(|p| {
                            encode::process_rules(
                                &p.application_name,
                                &p.process_name,
                                &commander
                                    .rules()
                                    .program_rules(&p.application_name, &p.process_name),
                            )
                        })
                        .collect(),
                )
            }
            "get_conflicts" => {
                self.check(Gate::FromDeployment)?;
                let conflicts = self.with_state(|c, s| c.conflicts(s));
                Value::Array(
                    conflicts
                        .iter()
                        .map(|p| self.with_state(|_, s| encode::process_with_args(p, s)))
                        .collect(),
                )
            }
            "start_application" => {
                self.check(Gate::Operation)?;
                let strategy = starting_strategy(arg(0)?)?;
                let name = params::string(arg(1)?, "application_name")?;
                let job =
                    self.with_state(|c, s| c.start_application(s, strategy, &name, &local, now))?;
                self.run_job(job, params::wait_flag(p, 2), &name).await?
            }
            "stop_application" => {
                self.check(Gate::OperationOrConciliation)?;
                let name = params::string(arg(0)?, "application_name")?;
                let job = self.with_state(|c, s| c.stop_application(s, &name, &local, now))?;
                self.run_job(job, params::wait_flag(p, 1), &name).await?
            }
            "restart_application" => {
                self.check(Gate::Operation)?;
                let strategy = starting_strategy(arg(0)?)?;
                let name = params::string(arg(1)?, "application_name")?;
                let job =
                    self.with_state(|c, s| c.restart_application(s, strategy, &name, &local, now))?;
                if job.items.is_empty() {
                    return Err(Fault::with(
                        FaultCode::AbnormalTermination,
                        format!("failed restarting {name}"),
                    ));
                }
                self.run_job(job, params::wait_flag(p, 2), &name).await?
            }
            "start_args" => {
                let namespec = params::string(arg(0)?, "namespec")?;
                let extra_args = params::string(arg(1)?, "extra_args")?;
                let job = self.with_state(|c, s| {
                    c.start_args_local(s, &namespec, &extra_args, &local, now)
                })?;
                self.run_job(job, params::wait_flag(p, 2), &namespec)
                    .await?;
                Value::Bool(true)
            }
            "start_process" | "restart_process" => {
                self.check(Gate::Operation)?;
                let strategy = starting_strategy(arg(0)?)?;
                let namespec = params::string(arg(1)?, "namespec")?;
                let extra_args = optional_string(p, 2, "extra_args")?;
                let job = self.with_state(|c, s| {
                    if method == "start_process" {
                        c.start_process(s, strategy, &namespec, &extra_args, &local, now)
                    } else {
                        c.restart_process(s, strategy, &namespec, &extra_args, &local, now)
                    }
                })?;
                if job.items.is_empty() {
                    return Err(Fault::with(FaultCode::AbnormalTermination, namespec));
                }
                self.run_job(job, params::wait_flag(p, 3), &namespec)
                    .await?;
                Value::Bool(true)
            }
            "start_any_process" => {
                self.check(Gate::Operation)?;
                let strategy = starting_strategy(arg(0)?)?;
                let regex = params::string(arg(1)?, "regex")?;
                let extra_args = optional_string(p, 2, "extra_args")?;
                let (namespec, job) = self.with_state(|c, s| {
                    c.start_any_process(s, strategy, &regex, &extra_args, &local, now)
                })?;
                self.run_job(job, params::wait_flag(p, 3), &namespec)
                    .await?;
                Value::String(namespec)
            }
            "stop_process" => {
                self.check(Gate::OperationOrConciliation)?;
                let namespec = params::string(arg(0)?, "namespec")?;
                let job = self.with_state(|c, s| c.stop_process(s, &namespec, &local, now))?;
                self.run_job(job, params::wait_flag(p, 1), &namespec)
                    .await?;
                Value::Bool(true)
            }
            "update_numprocs" => {
                self.check(Gate::Operation)?;
                let program = params::string(arg(0)?, "program_name")?;
                let programs = self.known_program(&program)?;
                let numprocs = params::int(arg(1)?, "numprocs")?;
                let numprocs =
                    u32::try_from(numprocs)
                        .ok()
                        .filter(|n| *n > 0)
                        .ok_or_else(|| {
                            Fault::with(
                                FaultCode::IncorrectParameters,
                                format!(
                                "incorrect value for numprocs: {numprocs} (integer > 0 expected)"
                            ),
                            )
                        })?;
                // Local, as in Supvisors: this instance's configuration changes; the replica
                // learns the new processes from the process events.
                let change = self.supervisor.update_numprocs(&program, numprocs).await?;
                self.set_programs(programs.with_numprocs_change(
                    &program,
                    &change.added,
                    &change.removed,
                ));
                // Done already: the record in the history is best effort.
                let text = format!("update_numprocs {program} {numprocs} on {local}");
                if let Err(fault) = self.write(Command::Record { text }).await {
                    tracing::warn!(%program, numprocs, fault = %fault, "update_numprocs not recorded in the history");
                }
                Value::Bool(true)
            }
            "conciliate" => {
                self.check(Gate::Conciliation)?;
                let strategy = conciliation_strategy(arg(0)?)?;
                match self.with_state(|c, s| c.conciliate(s, strategy, &local, now)) {
                    Some(job) => {
                        self.submit(job).await?;
                        Value::Bool(true)
                    }
                    None => Value::Bool(false),
                }
            }
            "restart_sequence" => {
                self.check(Gate::Operation)?;
                // The job first: DEPLOYMENT without a running deployment job ends at once.
                let job = self.with_state(|c, s| c.restart_sequence(s, &local, now));
                let id = self.submit(job).await?;
                self.write_state(SupvisorsState::Deployment).await?;
                if params::wait_flag(p, 0) {
                    self.wait_job(id, "restart_sequence").await?;
                    let mut rx = self.cluster.replica();
                    let _ = rx
                        .wait_for(|r| r.state.supvisors_state() != SupvisorsState::Deployment)
                        .await;
                }
                Value::Bool(true)
            }
            "restart" | "shutdown" => {
                self.check(Gate::FromDeployment)?;
                let (then, state) = if method == "restart" {
                    (FinalAction::Restart, SupvisorsState::Restarting)
                } else {
                    (FinalAction::Shutdown, SupvisorsState::ShuttingDown)
                };
                // The job first: a planner that saw the state alone would make its own.
                let job = self.with_state(|c, s| c.global_stop(s, then, &local, now));
                self.submit(job).await?;
                self.write_state(state).await?;
                Value::Bool(true)
            }
            "test_start_application" => {
                self.check(Gate::Operation)?;
                let strategy = starting_strategy(arg(0)?)?;
                let name = params::string(arg(1)?, "application_name")?;
                let tested =
                    self.with_state(|c, s| c.test_start_application(s, strategy, &name))?;
                Value::Array(tested.iter().map(encode::tested_process).collect())
            }
            _ => return Ok(None),
        };
        Ok(Some(value))
    }

    async fn write_state(&self, state: SupvisorsState) -> Result<(), Fault> {
        let result = tokio::time::timeout(
            self.write_timeout,
            self.cluster
                .write(self.stamped(Command::SetSupvisorsState { state })),
        )
        .await
        .map_err(|_| faults::write_fault(&cluster::WriteError::Timeout(self.write_timeout)))?
        .map_err(|e| faults::write_fault(&e))?;
        match faults::command_fault(&result) {
            Some(fault) => Err(Fault::with(
                FaultCode::BadSupvisorsState,
                fault.fault_string(),
            )),
            None => Ok(()),
        }
    }
}
