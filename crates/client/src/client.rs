//! [`Client`]: typed methods for the `system` and `supervisor` namespaces, plus a raw `call`.

use std::sync::Arc;
use std::time::Duration;

use xmlrpc::Value;

use crate::error::Error;
use crate::tail::{Channel, LogStream};
use crate::transport::Transport;
use crate::types::{
    as_array, as_bool, as_i32, as_string, as_string_list, multicall_results, results_from_value,
    ActionOutcome, ConfigChanges, ConfigInfo, LogTail, MulticallFault, ProcessInfo, ProcessResult,
    StateInfo,
};
use crate::url::ServerUrl;
use crate::wire;

/// Options for a [`Client`]; start from [`Client::builder`].
#[derive(Debug, Clone)]
pub struct ClientBuilder {
    url: String,
    credentials: Option<(String, model::Secret)>,
    timeout: Option<Duration>,
    tls_ca: Option<std::path::PathBuf>,
}

impl ClientBuilder {
    /// Basic-auth credentials, sent with every request.
    pub fn credentials(mut self, username: impl Into<String>, password: impl Into<String>) -> Self {
        self.credentials = Some((username.into(), model::Secret::new(password)));
        self
    }

    /// Upper bound for each call, connection included. Without it a call waits as long as the
    /// server takes: `stopProcess(wait=true)` legitimately lasts up to `stopwaitsecs`.
    pub fn timeout(mut self, timeout: Duration) -> Self {
        self.timeout = Some(timeout);
        self
    }

    /// For an `https://` URL: trust the PEM certificates of this file (a private CA, or the
    /// server's self-signed certificate) instead of the system's roots.
    pub fn tls_ca(mut self, path: impl Into<std::path::PathBuf>) -> Self {
        self.tls_ca = Some(path.into());
        self
    }

    /// Parses the URL (and, for `https://`, reads the certificates to trust); no connection
    /// is made until the first call.
    pub fn build(self) -> Result<Client, Error> {
        let url = ServerUrl::parse(&self.url).map_err(Error::InvalidUrl)?;
        let tls = match url.endpoint {
            crate::url::Endpoint::Tcp { tls: true, .. } => {
                Some(crate::tls::connector(self.tls_ca.as_deref())?)
            }
            _ => None,
        };
        Ok(Client {
            inner: Arc::new(Inner {
                transport: Transport::new(url, self.credentials, tls),
                timeout: self.timeout,
            }),
        })
    }
}

struct Inner {
    transport: Transport,
    timeout: Option<Duration>,
}

/// A client of one supervisord/raftvisord server. Cheap to clone; clones share the connection.
#[derive(Clone)]
pub struct Client {
    inner: Arc<Inner>,
}

impl std::fmt::Debug for Client {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Client")
            .field("url", &self.inner.transport.url.original)
            .field("timeout", &self.inner.timeout)
            .finish()
    }
}

fn s(v: &str) -> Value {
    Value::String(v.to_string())
}

impl Client {
    /// A client without credentials or timeout. See [`Client::builder`] for both.
    pub fn new(url: &str) -> Result<Client, Error> {
        Client::builder(url).build()
    }

    pub fn builder(url: &str) -> ClientBuilder {
        ClientBuilder {
            url: url.to_string(),
            credentials: None,
            timeout: None,
            tls_ca: None,
        }
    }

    /// The parsed server URL.
    pub fn url(&self) -> &ServerUrl {
        &self.inner.transport.url
    }

    /// Calls any method (e.g. `supvisors.get_all_process_info`) and returns its raw value, or
    /// `Error::Fault` for a `<fault>` answer.
    pub async fn call(&self, method: &str, params: &[Value]) -> Result<Value, Error> {
        let body = wire::render_method_call(method, params);
        let exchange = async {
            let bytes = self.inner.transport.post(body).await?;
            match wire::parse_response(&bytes) {
                Ok(Ok(v)) => Ok(v),
                Ok(Err(f)) => Err(Error::fault(f.code, f.string)),
                Err(e) => Err(Error::BadResponse(e.to_string())),
            }
        };
        match self.inner.timeout {
            Some(t) => tokio::time::timeout(t, exchange)
                .await
                .map_err(|_| Error::Timeout(t))?,
            None => exchange.await,
        }
    }

    async fn call_string(&self, method: &str, params: &[Value]) -> Result<String, Error> {
        Ok(as_string(&self.call(method, params).await?)?)
    }

    async fn call_bool(&self, method: &str, params: &[Value]) -> Result<bool, Error> {
        Ok(as_bool(&self.call(method, params).await?)?)
    }

    async fn call_results(
        &self,
        method: &str,
        params: &[Value],
    ) -> Result<Vec<ProcessResult>, Error> {
        Ok(results_from_value(&self.call(method, params).await?)?)
    }

    // ---- system namespace -------------------------------------------------------------------

    pub async fn list_methods(&self) -> Result<Vec<String>, Error> {
        Ok(as_string_list(
            &self.call("system.listMethods", &[]).await?,
        )?)
    }

    pub async fn method_help(&self, method: &str) -> Result<String, Error> {
        self.call_string("system.methodHelp", &[s(method)]).await
    }

    /// Supervisor answers one flat list `[return_type, param_types…]`; a server following the
    /// XML-RPC introspection spec answers a list of such lists, whose first entry is returned.
    pub async fn method_signature(&self, method: &str) -> Result<Vec<String>, Error> {
        let v = self.call("system.methodSignature", &[s(method)]).await?;
        match as_array(&v)?.first() {
            Some(Value::Array(_)) => Ok(as_string_list(&as_array(&v)?[0])?),
            _ => Ok(as_string_list(&v)?),
        }
    }

    /// Runs the calls in order on the server; each entry is the call's bare value or its fault.
    pub async fn multicall(
        &self,
        calls: &[(&str, Vec<Value>)],
    ) -> Result<Vec<Result<Value, MulticallFault>>, Error> {
        let list = calls
            .iter()
            .map(|(name, params)| {
                Value::Struct(vec![
                    ("methodName".into(), s(name)),
                    ("params".into(), Value::Array(params.clone())),
                ])
            })
            .collect();
        Ok(multicall_results(
            &self.call("system.multicall", &[Value::Array(list)]).await?,
        )?)
    }

    // ---- supervisor namespace: daemon -------------------------------------------------------

    pub async fn get_api_version(&self) -> Result<String, Error> {
        self.call_string("supervisor.getAPIVersion", &[]).await
    }

    /// The deprecated alias that supervisorctl's up-check uses; `"3.0"` for every compatible server.
    pub async fn get_version(&self) -> Result<String, Error> {
        self.call_string("supervisor.getVersion", &[]).await
    }

    pub async fn get_supervisor_version(&self) -> Result<String, Error> {
        self.call_string("supervisor.getSupervisorVersion", &[])
            .await
    }

    pub async fn get_identification(&self) -> Result<String, Error> {
        self.call_string("supervisor.getIdentification", &[]).await
    }

    pub async fn get_state(&self) -> Result<StateInfo, Error> {
        Ok(StateInfo::from_value(
            &self.call("supervisor.getState", &[]).await?,
        )?)
    }

    pub async fn get_pid(&self) -> Result<i32, Error> {
        Ok(as_i32(&self.call("supervisor.getPID", &[]).await?)?)
    }

    /// Main log bytes: `offset < 0` with `length == 0` reads the last `-offset` bytes.
    pub async fn read_log(&self, offset: i32, length: i32) -> Result<String, Error> {
        self.call_string(
            "supervisor.readLog",
            &[Value::Int(offset), Value::Int(length)],
        )
        .await
    }

    pub async fn clear_log(&self) -> Result<bool, Error> {
        self.call_bool("supervisor.clearLog", &[]).await
    }

    /// Asks the daemon to stop everything and exit; it answers before doing so.
    pub async fn shutdown(&self) -> Result<bool, Error> {
        self.call_bool("supervisor.shutdown", &[]).await
    }

    /// Asks the daemon to stop everything, re-read its config and start again.
    pub async fn restart(&self) -> Result<bool, Error> {
        self.call_bool("supervisor.restart", &[]).await
    }

    /// Re-reads the config and reports group differences; nothing is started or stopped.
    pub async fn reload_config(&self) -> Result<ConfigChanges, Error> {
        Ok(ConfigChanges::from_value(
            &self.call("supervisor.reloadConfig", &[]).await?,
        )?)
    }

    pub async fn add_process_group(&self, name: &str) -> Result<bool, Error> {
        self.call_bool("supervisor.addProcessGroup", &[s(name)])
            .await
    }

    pub async fn remove_process_group(&self, name: &str) -> Result<bool, Error> {
        self.call_bool("supervisor.removeProcessGroup", &[s(name)])
            .await
    }

    // ---- supervisor namespace: processes ----------------------------------------------------

    /// `name`, `group:name`, or `group:*` (then the outcome is one result per process).
    pub async fn start_process(&self, namespec: &str, wait: bool) -> Result<ActionOutcome, Error> {
        let v = self
            .call("supervisor.startProcess", &[s(namespec), Value::Bool(wait)])
            .await?;
        Ok(ActionOutcome::from_value(&v)?)
    }

    pub async fn start_process_group(
        &self,
        name: &str,
        wait: bool,
    ) -> Result<Vec<ProcessResult>, Error> {
        self.call_results(
            "supervisor.startProcessGroup",
            &[s(name), Value::Bool(wait)],
        )
        .await
    }

    pub async fn start_all_processes(&self, wait: bool) -> Result<Vec<ProcessResult>, Error> {
        self.call_results("supervisor.startAllProcesses", &[Value::Bool(wait)])
            .await
    }

    pub async fn stop_process(&self, namespec: &str, wait: bool) -> Result<ActionOutcome, Error> {
        let v = self
            .call("supervisor.stopProcess", &[s(namespec), Value::Bool(wait)])
            .await?;
        Ok(ActionOutcome::from_value(&v)?)
    }

    pub async fn stop_process_group(
        &self,
        name: &str,
        wait: bool,
    ) -> Result<Vec<ProcessResult>, Error> {
        self.call_results("supervisor.stopProcessGroup", &[s(name), Value::Bool(wait)])
            .await
    }

    pub async fn stop_all_processes(&self, wait: bool) -> Result<Vec<ProcessResult>, Error> {
        self.call_results("supervisor.stopAllProcesses", &[Value::Bool(wait)])
            .await
    }

    /// `signal` is a name (`HUP`, `SIGHUP`) or a number as text, as supervisorctl sends it.
    pub async fn signal_process(
        &self,
        namespec: &str,
        signal: &str,
    ) -> Result<ActionOutcome, Error> {
        let v = self
            .call("supervisor.signalProcess", &[s(namespec), s(signal)])
            .await?;
        Ok(ActionOutcome::from_value(&v)?)
    }

    pub async fn signal_process_group(
        &self,
        name: &str,
        signal: &str,
    ) -> Result<Vec<ProcessResult>, Error> {
        self.call_results("supervisor.signalProcessGroup", &[s(name), s(signal)])
            .await
    }

    pub async fn signal_all_processes(&self, signal: &str) -> Result<Vec<ProcessResult>, Error> {
        self.call_results("supervisor.signalAllProcesses", &[s(signal)])
            .await
    }

    pub async fn get_process_info(&self, namespec: &str) -> Result<ProcessInfo, Error> {
        Ok(ProcessInfo::from_value(
            &self
                .call("supervisor.getProcessInfo", &[s(namespec)])
                .await?,
        )?)
    }

    /// Every process, sorted by group then name (the server's order).
    pub async fn get_all_process_info(&self) -> Result<Vec<ProcessInfo>, Error> {
        let v = self.call("supervisor.getAllProcessInfo", &[]).await?;
        Ok(as_array(&v)?
            .iter()
            .map(ProcessInfo::from_value)
            .collect::<Result<_, _>>()?)
    }

    pub async fn get_all_config_info(&self) -> Result<Vec<ConfigInfo>, Error> {
        let v = self.call("supervisor.getAllConfigInfo", &[]).await?;
        Ok(as_array(&v)?
            .iter()
            .map(ConfigInfo::from_value)
            .collect::<Result<_, _>>()?)
    }

    pub async fn read_process_stdout_log(
        &self,
        namespec: &str,
        offset: i32,
        length: i32,
    ) -> Result<String, Error> {
        self.call_string(
            "supervisor.readProcessStdoutLog",
            &[s(namespec), Value::Int(offset), Value::Int(length)],
        )
        .await
    }

    pub async fn read_process_stderr_log(
        &self,
        namespec: &str,
        offset: i32,
        length: i32,
    ) -> Result<String, Error> {
        self.call_string(
            "supervisor.readProcessStderrLog",
            &[s(namespec), Value::Int(offset), Value::Int(length)],
        )
        .await
    }

    pub async fn tail_process_stdout_log(
        &self,
        namespec: &str,
        offset: i32,
        length: i32,
    ) -> Result<LogTail, Error> {
        let v = self
            .call(
                "supervisor.tailProcessStdoutLog",
                &[s(namespec), Value::Int(offset), Value::Int(length)],
            )
            .await?;
        Ok(LogTail::from_value(&v)?)
    }

    pub async fn tail_process_stderr_log(
        &self,
        namespec: &str,
        offset: i32,
        length: i32,
    ) -> Result<LogTail, Error> {
        let v = self
            .call(
                "supervisor.tailProcessStderrLog",
                &[s(namespec), Value::Int(offset), Value::Int(length)],
            )
            .await?;
        Ok(LogTail::from_value(&v)?)
    }

    pub async fn clear_process_logs(&self, namespec: &str) -> Result<bool, Error> {
        self.call_bool("supervisor.clearProcessLogs", &[s(namespec)])
            .await
    }

    pub async fn clear_all_process_logs(&self) -> Result<Vec<ProcessResult>, Error> {
        self.call_results("supervisor.clearAllProcessLogs", &[])
            .await
    }

    pub async fn send_process_stdin(&self, namespec: &str, chars: &str) -> Result<bool, Error> {
        self.call_bool("supervisor.sendProcessStdin", &[s(namespec), s(chars)])
            .await
    }

    /// Emits a `REMOTE_COMMUNICATION` event with payload `type:<kind>\n<data>`.
    pub async fn send_remote_comm_event(&self, kind: &str, data: &str) -> Result<bool, Error> {
        self.call_bool("supervisor.sendRemoteCommEvent", &[s(kind), s(data)])
            .await
    }

    // ---- streaming logs ---------------------------------------------------------------------

    /// Follows a process log (`GET /logtail/<namespec>/<channel>`) on a connection of its own.
    /// Fails with `HttpStatus { 404 }` for an unknown process or a missing log file.
    pub async fn tail_follow(&self, namespec: &str, channel: Channel) -> Result<LogStream, Error> {
        self.follow(&format!("/logtail/{namespec}/{}", channel.as_str()))
            .await
    }

    /// Follows the daemon's main log (`GET /mainlogtail`).
    pub async fn main_tail_follow(&self) -> Result<LogStream, Error> {
        self.follow("/mainlogtail").await
    }

    async fn follow(&self, path: &str) -> Result<LogStream, Error> {
        let transport = &self.inner.transport;
        let start = transport.get_stream(path);
        let (sender, body) = match self.inner.timeout {
            Some(t) => tokio::time::timeout(t, start)
                .await
                .map_err(|_| Error::Timeout(t))??,
            None => start.await?,
        };
        Ok(LogStream::spawn(
            sender,
            body,
            transport.url.original.clone(),
        ))
    }
}
