//! The extension point of the dispatcher: an XML-RPC namespace is a table of [`MethodDef`]s plus
//! an async `call`. The dispatcher owns name validation, lookup and arity checks, and builds
//! `system.listMethods` / `methodHelp` / `methodSignature` from the same tables, so the methods
//! a namespace publishes and the ones it answers cannot drift apart.

use futures_util::future::BoxFuture;
use model::Fault;
use xmlrpc::Value;

/// Whether a method only reads: REST serves it with GET (the others with POST) and the
/// read-only user may call it. `supvisors.get_*`; `get*`, `read*`, `tail*`, `list*` and
/// `method*` elsewhere (Supervisor's and the `system` readers), as supvisorsflask routes them.
/// Anything else counts as a change, a method added later included.
pub fn is_read(namespace: &str, method: &str) -> bool {
    match namespace {
        "supvisors" => method.starts_with("get_"),
        _ => ["get", "read", "tail", "list", "method"]
            .iter()
            .any(|p| method.starts_with(p)),
    }
}

/// One published method: what `system.methodSignature` and `system.methodHelp` report and what
/// the dispatcher checks the parameter count against before calling the namespace.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct MethodDef {
    /// The method part of `ns.method` (aliases are separate entries).
    pub name: &'static str,
    /// XML-RPC type of the return value (`string`, `boolean`, `int`, `array`, `struct`).
    pub returns: &'static str,
    /// `(type, name)` of each parameter, in order.
    pub params: &'static [(&'static str, &'static str)],
    /// How many trailing parameters may be omitted (Python default arguments, e.g. `wait`).
    pub optional: usize,
    /// One-paragraph description; `methodHelp` appends `@param`/`@return` lines to it.
    pub summary: &'static str,
}

impl MethodDef {
    /// For the `static` method tables of namespaces (a `const fn`, so tables stay static).
    pub const fn new(
        name: &'static str,
        returns: &'static str,
        params: &'static [(&'static str, &'static str)],
        optional: usize,
        summary: &'static str,
    ) -> MethodDef {
        MethodDef {
            name,
            returns,
            params,
            optional,
            summary,
        }
    }

    /// Whether `count` parameters is a valid call (Python raises `TypeError` otherwise, which
    /// Supervisor turns into INCORRECT_PARAMETERS).
    pub fn accepts_arity(&self, count: usize) -> bool {
        let max = self.params.len();
        let min = max.saturating_sub(self.optional);
        (min..=max).contains(&count)
    }

    /// `[return_type, param_type…]`, as `system.methodSignature` returns it.
    pub fn signature(&self) -> Vec<&'static str> {
        std::iter::once(self.returns)
            .chain(self.params.iter().map(|(ty, _)| *ty))
            .collect()
    }

    /// A docstring in Supervisor's style, whose `@param`/`@return` tags agree with
    /// [`MethodDef::signature`].
    pub fn help(&self) -> String {
        let mut text = format!("{}\n", self.summary);
        if !self.params.is_empty() || !self.returns.is_empty() {
            text.push('\n');
        }
        for (ty, name) in self.params {
            text.push_str(&format!("@param {ty} {name}\n"));
        }
        text.push_str(&format!("@return {}\n", self.returns));
        text
    }
}

/// An XML-RPC namespace served next to `system` and `supervisor` (the Supvisors layer adds
/// `supvisors` this way). Register it with [`crate::ServerOptions::with_namespace`] or
/// [`crate::Rpc::with_namespace`].
///
/// The dispatcher only calls [`Namespace::call`] with a `method` taken from
/// [`Namespace::methods`] and a parameter count that [`MethodDef::accepts_arity`] accepted;
/// parameter *types* are the namespace's business (see [`crate::params`] for Python-like
/// coercions). Faults returned are sent as XML-RPC faults (HTTP 200).
pub trait Namespace: Send + Sync + 'static {
    /// The namespace prefix, e.g. `supvisors`.
    fn name(&self) -> &str;
    /// Every public method, aliases included.
    fn methods(&self) -> &[MethodDef];
    /// Runs one call. May take as long as the operation needs (deferred calls simply await).
    fn call<'a>(
        &'a self,
        method: &'a MethodDef,
        params: Vec<Value>,
    ) -> BoxFuture<'a, Result<Value, Fault>>;
}

#[cfg(test)]
mod tests {
    use super::*;

    const START: MethodDef = MethodDef {
        name: "startProcess",
        returns: "boolean",
        params: &[("string", "name"), ("boolean", "wait")],
        optional: 1,
        summary: "Start a process",
    };

    #[test]
    fn arity_allows_trailing_optionals_only() {
        assert!(!START.accepts_arity(0));
        assert!(START.accepts_arity(1));
        assert!(START.accepts_arity(2));
        assert!(!START.accepts_arity(3));
    }

    #[test]
    fn signature_and_help_come_from_the_same_table() {
        assert_eq!(START.signature(), vec!["boolean", "string", "boolean"]);
        let help = START.help();
        assert!(help.starts_with("Start a process\n"));
        assert!(help.contains("@param string name\n"));
        assert!(help.contains("@param boolean wait\n"));
        assert!(help.ends_with("@return boolean\n"));
    }
}
