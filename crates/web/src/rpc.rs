//! The XML-RPC dispatcher: validates `ns.method` names (Supervisor's CVE-2017-11610 rules),
//! checks arity against the method tables, serves the `system` namespace itself and forwards
//! everything else to the registered [`Namespace`]s. Works on [`MethodCall`]/[`Value`], so it
//! is tested without HTTP or XML.

use crate::auth::Access;
use crate::encode;
use crate::namespace::{is_read, MethodDef, Namespace};
use crate::supervisor_ns::SupervisorNamespace;
use model::{Fault, FaultCode};
use procman::SupervisorApi;
use std::sync::Arc;
use xmlrpc::{MethodCall, Value};

/// The `system` namespace, answered by [`Rpc`] itself because it needs every namespace.
pub static SYSTEM_METHODS: &[MethodDef] = &[
    MethodDef {
        name: "listMethods",
        returns: "array",
        params: &[],
        optional: 0,
        summary: "Return an array listing the available method names",
    },
    MethodDef {
        name: "methodHelp",
        returns: "string",
        params: &[("string", "name")],
        optional: 0,
        summary: "Return a string showing the method's documentation",
    },
    MethodDef {
        name: "methodSignature",
        returns: "array",
        params: &[("string", "name")],
        optional: 0,
        summary: "Return an array describing the method signature in the form [rtype, ptype, ptype...] where rtype is the return data type of the method, and ptypes are the parameter data types that the method accepts in method argument order",
    },
    MethodDef {
        name: "multicall",
        returns: "array",
        params: &[("array", "calls")],
        optional: 0,
        summary: "Process an array of calls {'methodName': string, 'params': array}, and return an array of results: the value of each call, or a struct {'faultCode': int, 'faultString': string} for a failed one",
    },
];

/// Why a namespace cannot be registered.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum NamespaceError {
    #[error("XML-RPC namespace {0:?} is already registered")]
    Duplicate(String),
    #[error("invalid XML-RPC namespace name {0:?} (empty, dotted or starting with '_')")]
    InvalidName(String),
}

/// Whether `name` can be registered next to the `taken` ones (`system` is always taken).
pub(crate) fn check_namespace_name<'a>(
    name: &str,
    mut taken: impl Iterator<Item = &'a str>,
) -> Result<(), NamespaceError> {
    if name.is_empty() || name.contains('.') || name.starts_with('_') {
        return Err(NamespaceError::InvalidName(name.to_string()));
    }
    if name == "system" || taken.any(|t| t == name) {
        return Err(NamespaceError::Duplicate(name.to_string()));
    }
    Ok(())
}

/// A method resolved from its full name.
enum Target<'a> {
    System(&'static MethodDef),
    Other(&'a dyn Namespace, &'a MethodDef),
}

impl Target<'_> {
    fn def(&self) -> &MethodDef {
        match self {
            Target::System(def) => def,
            Target::Other(_, def) => def,
        }
    }

    /// A FAILED fault naming the method when `access` may not call it.
    fn allowed(&self, access: Access) -> Result<(), Fault> {
        let namespace = match self {
            Target::System(_) => "system",
            Target::Other(ns, _) => ns.name(),
        };
        let name = self.def().name;
        if access == Access::ReadOnly && !is_read(namespace, name) {
            return Err(Fault::with(
                FaultCode::Failed,
                format!("{namespace}.{name}: refused to a read-only user"),
            ));
        }
        Ok(())
    }
}

/// The dispatcher: `system` + `supervisor` + any registered namespaces. Cheap to clone.
#[derive(Clone)]
pub struct Rpc {
    namespaces: Vec<Arc<dyn Namespace>>,
}

impl Rpc {
    /// A dispatcher serving `system` and `supervisor` (over `api`).
    pub fn new<S: SupervisorApi>(api: S) -> Self {
        Rpc {
            namespaces: vec![Arc::new(SupervisorNamespace::new(api))],
        }
    }

    /// Adds a namespace (e.g. `supvisors`). Fails if the name is taken (`system`,
    /// `supervisor` or an earlier registration) or could never be called (`a.b`, `_x`, ``).
    pub fn with_namespace(mut self, namespace: Arc<dyn Namespace>) -> Result<Self, NamespaceError> {
        check_namespace_name(namespace.name(), self.namespaces.iter().map(|ns| ns.name()))?;
        self.namespaces.push(namespace);
        Ok(self)
    }

    /// `supervisor` over `api` plus namespaces already validated by
    /// [`crate::ServerOptions::with_namespace`].
    pub(crate) fn with_checked_namespaces<S: SupervisorApi>(
        api: S,
        extra: Vec<Arc<dyn Namespace>>,
    ) -> Self {
        let mut rpc = Rpc::new(api);
        rpc.namespaces.extend(extra);
        rpc
    }

    /// Every `ns.method` served, sorted (`system.listMethods`).
    pub fn list_methods(&self) -> Vec<String> {
        let mut names: Vec<String> = SYSTEM_METHODS
            .iter()
            .map(|def| format!("system.{}", def.name))
            .chain(self.namespaces.iter().flat_map(|ns| {
                ns.methods()
                    .iter()
                    .map(move |def| format!("{}.{}", ns.name(), def.name))
            }))
            .collect();
        names.sort();
        names
    }

    /// Supervisor's `traverse`: exactly two dotted parts, no `_`-prefixed part, a known
    /// namespace and method; anything else is UNKNOWN_METHOD.
    fn resolve(&self, full_name: &str) -> Result<Target<'_>, Fault> {
        let unknown = || Fault::new(FaultCode::UnknownMethod);
        let (ns_name, method) = full_name.split_once('.').ok_or_else(unknown)?;
        if method.contains('.') || method.starts_with('_') || ns_name.starts_with('_') {
            return Err(unknown());
        }
        if ns_name == "system" {
            return SYSTEM_METHODS
                .iter()
                .find(|def| def.name == method)
                .map(Target::System)
                .ok_or_else(unknown);
        }
        let ns = self
            .namespaces
            .iter()
            .find(|ns| ns.name() == ns_name)
            .ok_or_else(unknown)?;
        ns.methods()
            .iter()
            .find(|def| def.name == method)
            .map(|def| Target::Other(ns.as_ref(), def))
            .ok_or_else(unknown)
    }

    /// Each namespace's name and method table (`system` excepted), in registration order.
    pub fn tables(&self) -> Vec<(&str, &[MethodDef])> {
        self.namespaces
            .iter()
            .map(|ns| (ns.name(), ns.methods()))
            .collect()
    }

    /// Whether `full_name` names a method this dispatcher has.
    pub fn knows(&self, full_name: &str) -> bool {
        self.resolve(full_name).is_ok()
    }

    /// Runs one XML-RPC call. `Err` is an XML-RPC fault (sent with HTTP 200).
    pub async fn call(&self, call: MethodCall) -> Result<Value, Fault> {
        self.call_as(call, Access::Full).await
    }

    /// Runs one XML-RPC call for a user with `access`: a read-only user's call of a method
    /// that changes something is a FAILED fault (in a `system.multicall`, that entry's).
    pub async fn call_as(&self, call: MethodCall, access: Access) -> Result<Value, Fault> {
        let target = self.resolve(&call.name)?;
        if !target.def().accepts_arity(call.params.len()) {
            return Err(Fault::new(FaultCode::IncorrectParameters));
        }
        match target {
            Target::System(def) if def.name == "multicall" => match call.params.first() {
                Some(calls) => self.multicall(calls, access).await,
                None => Err(Fault::new(FaultCode::IncorrectParameters)),
            },
            target => {
                target.allowed(access)?;
                self.invoke(target, call.params).await
            }
        }
    }

    /// Every call but `system.multicall` (kept apart so multicall cannot recurse).
    async fn invoke(&self, target: Target<'_>, params: Vec<Value>) -> Result<Value, Fault> {
        match target {
            Target::Other(ns, def) => ns.call(def, params).await,
            Target::System(def) => match def.name {
                "listMethods" => Ok(encode::strings(self.list_methods())),
                "methodHelp" => self
                    .introspect(&params)
                    .map(|def| Value::String(def.help())),
                "methodSignature" => self
                    .introspect(&params)
                    .map(|def| encode::strings(def.signature())),
                _ => Err(Fault::with(
                    FaultCode::IncorrectParameters,
                    "Recursive system.multicall forbidden",
                )),
            },
        }
    }

    /// The method named by the first parameter of `methodHelp`/`methodSignature`.
    fn introspect(&self, params: &[Value]) -> Result<MethodDef, Fault> {
        match params.first() {
            Some(Value::String(name)) => self
                .resolve(name)
                .map(|target| *target.def())
                .map_err(|_| Fault::new(FaultCode::SignatureUnsupported)),
            _ => Err(Fault::new(FaultCode::SignatureUnsupported)),
        }
    }

    /// `system.multicall`: runs the calls in order, each awaited before the next; returns bare
    /// values, or `{faultCode, faultString}` structs for failed entries.
    async fn multicall(&self, calls: &Value, access: Access) -> Result<Value, Fault> {
        let Value::Array(calls) = calls else {
            return Err(Fault::new(FaultCode::IncorrectParameters));
        };
        let mut results = Vec::with_capacity(calls.len());
        for entry in calls {
            let outcome = self.multicall_entry(entry, access).await;
            results.push(match outcome {
                Ok(value) => value,
                Err(fault) => encode::fault_struct(&fault),
            });
        }
        Ok(Value::Array(results))
    }

    async fn multicall_entry(&self, entry: &Value, access: Access) -> Result<Value, Fault> {
        let Value::Struct(members) = entry else {
            return Err(Fault::with(
                FaultCode::Failed,
                "multicall entry is not a struct",
            ));
        };
        let member = |key: &str| members.iter().find(|(k, _)| k == key).map(|(_, v)| v);
        let name = match member("methodName") {
            None => return Err(Fault::with(FaultCode::IncorrectParameters, "No methodName")),
            Some(Value::String(name)) => name,
            Some(_) => return Err(Fault::with(FaultCode::Failed, "methodName is not a string")),
        };
        if name == "system.multicall" {
            return Err(Fault::with(
                FaultCode::IncorrectParameters,
                "Recursive system.multicall forbidden",
            ));
        }
        let params = match member("params") {
            None => Vec::new(),
            Some(Value::Array(params)) => params.clone(),
            Some(_) => return Err(Fault::new(FaultCode::IncorrectParameters)),
        };
        let target = self.resolve(name)?;
        if !target.def().accepts_arity(params.len()) {
            return Err(Fault::new(FaultCode::IncorrectParameters));
        }
        target.allowed(access)?;
        self.invoke(target, params).await
    }
}

/// One-shot dispatch of `call` against `api` with the `system` and `supervisor` namespaces.
pub async fn dispatch<S: SupervisorApi>(api: &S, call: MethodCall) -> Result<Value, Fault> {
    Rpc::new(api.clone()).call(call).await
}
