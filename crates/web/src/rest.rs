//! The REST form of the XML-RPC API, in the shape of Supvisors' `supvisorsflask`:
//! `/<namespace>/<method>/<path params>`, GET for reads and POST for commands, the
//! parameters `wait` and `extra_args` as query parameters, JSON results, and faults as
//! `{"message": "<FAULT_NAME>: text", "code": N}` with supvisorsflask's HTTP statuses.
//!
//! Every route is derived from the same method tables as `system.listMethods` (a
//! [`MethodDef`]'s name, parameters and return type), and so is the OpenAPI document: a
//! method added to a namespace is served, documented and checked in one place.
//!
//! ```text
//!  GET /supvisors/process_info/web%3Aapi_0      →  supvisors.get_process_info("web:api_0")
//!  POST /supervisor/startProcess/hello?wait=false →  supervisor.startProcess("hello", False)
//!  POST /supvisors/start_process/CONFIG/x?extra_args=-v  →  supvisors.start_process("CONFIG", "x", "-v", True)
//! ```
//!
//! As in supvisorsflask, the `supvisors` methods drop their `get_` prefix, the others keep
//! their names, and `system.multicall` is not exposed (a REST client makes several requests).
//! Methods with an array or struct parameter have no REST form (none of the three namespaces
//! has one besides `multicall`).

use crate::namespace::MethodDef;
use crate::rpc::SYSTEM_METHODS;
use model::{Fault, FaultCode};
use serde_json::{json, Map, Value as Json};
use warp::http::StatusCode;
use xmlrpc::{MethodCall, Value};

/// The parameters given in the query string rather than the path, with their defaults when
/// the method needs them and the query does not say (supvisorsflask's parsers: `wait` true,
/// `extra_args` empty).
fn query_default(name: &str) -> Option<Value> {
    match name {
        "wait" => Some(Value::Bool(true)),
        "extra_args" => Some(Value::String(String::new())),
        _ => None,
    }
}

fn is_query(name: &str) -> bool {
    query_default(name).is_some()
}

/// GET or POST.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Verb {
    Get,
    Post,
}

impl Verb {
    pub fn as_str(self) -> &'static str {
        match self {
            Verb::Get => "GET",
            Verb::Post => "POST",
        }
    }
}

/// One method's REST form.
#[derive(Debug, Clone)]
pub struct Route {
    pub namespace: String,
    pub def: MethodDef,
    /// The path segment after the namespace (`process_info`, `startProcess`).
    pub name: String,
    pub verb: Verb,
}

impl Route {
    fn new(namespace: &str, def: &MethodDef) -> Option<Route> {
        let routable = def
            .params
            .iter()
            .all(|(ty, _)| matches!(*ty, "string" | "int" | "boolean" | "double"));
        if (namespace == "system" && def.name == "multicall") || !routable {
            return None;
        }
        let name = match namespace {
            "supvisors" => def.name.strip_prefix("get_").unwrap_or(def.name),
            _ => def.name,
        };
        Some(Route {
            namespace: namespace.to_string(),
            def: *def,
            name: name.to_string(),
            verb: if crate::namespace::is_read(namespace, def.name) {
                Verb::Get
            } else {
                Verb::Post
            },
        })
    }

    /// The parameters taken from the path, in order.
    pub fn path_params(&self) -> impl Iterator<Item = &(&'static str, &'static str)> {
        self.def.params.iter().filter(|(_, name)| !is_query(name))
    }

    /// The parameters taken from the query string.
    pub fn query_params(&self) -> impl Iterator<Item = &(&'static str, &'static str)> {
        self.def.params.iter().filter(|(_, name)| is_query(name))
    }

    /// How many path segments may follow the name: the path parameters before the first
    /// optional one at least, all of them at most.
    pub fn path_arity(&self) -> (usize, usize) {
        let required = self.def.params.len() - self.def.optional;
        let min = self.def.params[..required]
            .iter()
            .filter(|(_, name)| !is_query(name))
            .count();
        (min, self.path_params().count())
    }

    /// `/<namespace>/<name>`.
    pub fn base(&self) -> String {
        format!("/{}/{}", self.namespace, self.name)
    }

    /// The XML-RPC call that `segments` and `query` make, or why they make none.
    fn call(&self, segments: &[String], query: &[(String, String)]) -> Result<MethodCall, Fault> {
        let bad = |text: String| Fault::with(FaultCode::IncorrectParameters, text);
        let mut given = segments.iter();
        let mut params = Vec::new();
        let mut missing: Option<&str> = None;
        for (ty, name) in self.def.params {
            let text = if is_query(name) {
                let explicit = query.iter().rev().find(|(k, _)| k == name);
                match (explicit, missing) {
                    (Some(_), Some(skipped)) => {
                        return Err(bad(format!(
                            "{name} given without the path parameter {skipped} before it"
                        )))
                    }
                    (Some((_, v)), None) => Some(v.as_str()),
                    (None, _) => None,
                }
            } else {
                given.next().map(String::as_str)
            };
            match text {
                Some(text) => params.push(convert(ty, name, text).map_err(bad)?),
                None if is_query(name) && missing.is_none() => params.extend(query_default(name)),
                None => missing = missing.or(Some(name)),
            }
        }
        // An optional path parameter left out: the call ends before it (XML-RPC parameters
        // are positional), as a Python caller's would.
        if let Some(skipped) = missing {
            let required = self.def.params.len() - self.def.optional;
            let index = self.def.params.iter().position(|(_, n)| *n == skipped);
            if index.is_some_and(|i| i < required) {
                return Err(bad(format!("missing path parameter {skipped}")));
            }
            params.truncate(index.unwrap_or(params.len()));
        }
        Ok(MethodCall {
            name: format!("{}.{}", self.namespace, self.def.name),
            params,
        })
    }
}

/// A path or query text as the XML-RPC value of type `ty`.
fn convert(ty: &str, name: &str, text: &str) -> Result<Value, String> {
    match ty {
        "int" => text
            .parse::<i32>()
            .map(Value::Int)
            .map_err(|_| format!("{name}: {text:?} is not an integer")),
        "double" => text
            .parse::<f64>()
            .ok()
            .filter(|d| d.is_finite())
            .map(Value::Double)
            .ok_or_else(|| format!("{name}: {text:?} is not a number")),
        "boolean" => match text.to_ascii_lowercase().as_str() {
            "true" | "1" | "yes" | "on" => Ok(Value::Bool(true)),
            "false" | "0" | "no" | "off" => Ok(Value::Bool(false)),
            _ => Err(format!("{name}: {text:?} is not a boolean")),
        },
        _ => Ok(Value::String(text.to_string())),
    }
}

/// Every route of `namespaces` (`system` first), in table order.
pub fn routes<'a>(namespaces: impl IntoIterator<Item = (&'a str, &'a [MethodDef])>) -> Vec<Route> {
    std::iter::once(("system", SYSTEM_METHODS))
        .chain(namespaces)
        .flat_map(|(ns, defs)| defs.iter().filter_map(move |def| Route::new(ns, def)))
        .collect()
}

/// What a REST request resolves to.
#[derive(Debug)]
pub enum Resolved {
    Call(MethodCall),
    /// A reply without a call (unknown route, bad parameter).
    Reply(StatusCode, Json),
    /// The route takes the other verb (HTTP 405, with an `Allow` header naming it).
    WrongVerb(Verb, Json),
}

/// The call that `method path?query` makes (`method` being the HTTP method's name), `None`
/// when the path is no REST route's (another handler's, or nothing).
pub fn resolve(routes: &[Route], method: &str, path: &str, query: &str) -> Option<Resolved> {
    let mut parts = path.strip_prefix('/')?.split('/');
    let namespace = parts.next()?;
    let name = parts.next()?;
    let in_namespace: Vec<&Route> = routes.iter().filter(|r| r.namespace == namespace).collect();
    if in_namespace.is_empty() {
        return None;
    }
    let not_found = |text: String| {
        Some(Resolved::Reply(
            StatusCode::NOT_FOUND,
            json!({ "message": text }),
        ))
    };
    let Some(route) = in_namespace.iter().find(|r| r.name == name) else {
        return not_found(format!("no method {name} in the {namespace} namespace"));
    };
    let segments: Vec<String> = parts
        .filter(|s| !s.is_empty())
        .map(|s| {
            percent_encoding::percent_decode_str(s)
                .decode_utf8_lossy()
                .into_owned()
        })
        .collect();
    let (min, max) = route.path_arity();
    if !(min..=max).contains(&segments.len()) {
        return not_found(format!(
            "{} takes {} path parameter(s), not {}",
            route.base(),
            if min == max {
                min.to_string()
            } else {
                format!("{min} to {max}")
            },
            segments.len()
        ));
    }
    if route.verb.as_str() != method {
        return Some(Resolved::WrongVerb(
            route.verb,
            json!({ "message": format!("{} is {} only", route.base(), route.verb.as_str()) }),
        ));
    }
    let query: Vec<(String, String)> = form_urlencoded::parse(query.as_bytes())
        .into_owned()
        .collect();
    // A misspelt `wait` would otherwise be a wait nobody asked for.
    if let Some((unknown, _)) = query
        .iter()
        .find(|(k, _)| !route.query_params().any(|(_, name)| name == k))
    {
        let known: Vec<&str> = route.query_params().map(|(_, name)| *name).collect();
        return Some(fault_reply(&Fault::with(
            FaultCode::IncorrectParameters,
            format!(
                "unknown query parameter {unknown:?} ({} takes {})",
                route.base(),
                if known.is_empty() {
                    "none".to_string()
                } else {
                    known.join(", ")
                }
            ),
        )));
    }
    Some(match route.call(&segments, &query) {
        Ok(call) => Resolved::Call(call),
        Err(fault) => fault_reply(&fault),
    })
}

/// A call's result as supvisorsflask answers it.
pub fn result_reply(result: &Result<Value, Fault>) -> (StatusCode, Json) {
    match result {
        Ok(value) => (StatusCode::OK, xmlrpc::to_json(value)),
        Err(fault) => match fault_reply(fault) {
            Resolved::Reply(status, body) => (status, body),
            Resolved::Call(_) | Resolved::WrongVerb(..) => {
                unreachable!("fault_reply only replies")
            }
        },
    }
}

/// `{"message": "<FAULT_NAME>: text", "code": N}`, with supvisorsflask's status: 404 for what
/// does not exist, 409 for a conflict with the current state, 500 for the configuration or a
/// failed spawn, 400 for the rest (bad parameters).
fn fault_reply(fault: &Fault) -> Resolved {
    use FaultCode::*;
    let status = match fault.code {
        UnknownMethod | SignatureUnsupported | BadName | NoFile => StatusCode::NOT_FOUND,
        AlreadyStarted | NotRunning | AlreadyAdded | ShutdownState | NotManaged | Disabled
        | NotApplicable | BadSupvisorsState => StatusCode::CONFLICT,
        NotExecutable | Failed | AbnormalTermination | SpawnError | StillRunning | CantReread
        | SupvisorsConfError | NotInstalled => StatusCode::INTERNAL_SERVER_ERROR,
        IncorrectParameters | BadArguments | BadSignal | Success => StatusCode::BAD_REQUEST,
    };
    Resolved::Reply(
        status,
        json!({ "message": fault.fault_string(), "code": fault.code.code() }),
    )
}

/// The JSON Schema of an XML-RPC type.
fn schema(ty: &str) -> Json {
    match ty {
        "int" => json!({ "type": "integer", "format": "int32" }),
        "double" => json!({ "type": "number" }),
        "boolean" => json!({ "type": "boolean" }),
        "string" => json!({ "type": "string" }),
        "array" => json!({ "type": "array", "items": {} }),
        "struct" => json!({ "type": "object" }),
        // `methodSignature`'s "undef" and the like: anything.
        _ => json!({}),
    }
}

/// The OpenAPI 3 document of `routes`; `basic_auth` when the server asks for credentials.
pub fn openapi(routes: &[Route], version: &str, basic_auth: bool) -> Json {
    let fault = json!({ "$ref": "#/components/schemas/Fault" });
    let error = |what: &str| json!({ "description": what, "content": { "application/json": { "schema": fault } } });
    let mut paths = Map::new();
    for route in routes {
        let (min, max) = route.path_arity();
        let path_params: Vec<_> = route.path_params().collect();
        // OpenAPI has no optional path parameter: one path per number of them.
        for count in min..=max {
            let mut path = route.base();
            let mut parameters = Vec::new();
            for (ty, name) in &path_params[..count] {
                path.push_str(&format!("/{{{name}}}"));
                let mut schema = schema(ty);
                if *ty == "string" {
                    // A path segment cannot be empty.
                    schema["minLength"] = json!(1);
                }
                if *name == "length" {
                    // Supervisor's log readers: a byte count.
                    schema["minimum"] = json!(0);
                }
                parameters.push(json!({
                    "name": name, "in": "path", "required": true, "schema": schema,
                }));
            }
            for (ty, name) in route.query_params() {
                parameters.push(json!({
                    "name": name, "in": "query", "required": false, "schema": schema(ty),
                }));
            }
            let mut responses = Map::new();
            responses.insert(
                "200".into(),
                json!({
                    "description": format!("the {} the XML-RPC method returns", route.def.returns),
                    "content": { "application/json": { "schema": schema(route.def.returns) } },
                }),
            );
            responses.insert("400".into(), error("bad parameters"));
            responses.insert(
                "404".into(),
                error("no such method, process, group or file"),
            );
            responses.insert(
                "409".into(),
                error("refused in the current state (already started, not running, …)"),
            );
            responses.insert(
                "500".into(),
                error("the configuration or a spawn failed (SPAWN_ERROR, …)"),
            );
            if basic_auth {
                responses.insert(
                    "401".into(),
                    json!({ "description": "missing or wrong credentials" }),
                );
            }
            let operation = json!({
                "operationId": format!("{}.{}{}", route.namespace, route.def.name,
                    if count < max { format!("_{count}") } else { String::new() }),
                "summary": route.def.summary,
                "tags": [route.namespace],
                "parameters": parameters,
                "responses": responses,
            });
            let verb = route.verb.as_str().to_ascii_lowercase();
            paths.insert(path, json!({ verb: operation }));
        }
    }
    let mut doc = json!({
        "openapi": "3.0.3",
        "info": {
            "title": "raftvisor REST API",
            "version": version,
            "description": "The XML-RPC API of raftvisord (Supervisor 4 and Supvisors 0.14 \
                namespaces) in the shape of Supvisors' supvisorsflask. Generated from the \
                method tables that system.listMethods reports.",
        },
        "paths": paths,
        "components": {
            "schemas": {
                "Fault": {
                    "type": "object",
                    "required": ["message"],
                    "properties": {
                        "message": { "type": "string" },
                        "code": { "type": "integer" },
                    },
                },
            },
        },
    });
    if basic_auth {
        doc["components"]["securitySchemes"] =
            json!({ "basicAuth": { "type": "http", "scheme": "basic" } });
        doc["security"] = json!([{ "basicAuth": [] }]);
    }
    doc
}

/// The API page: every route with its parameters and summary, for a person to read.
pub fn api_page(routes: &[Route]) -> String {
    let esc = |s: &str| {
        s.replace('&', "&amp;")
            .replace('<', "&lt;")
            .replace('>', "&gt;")
            .replace('"', "&quot;")
    };
    let mut rows = String::new();
    let mut namespace = "";
    for route in routes {
        if route.namespace != namespace {
            namespace = &route.namespace;
            rows.push_str(&format!(
                "<tr><th colspan=\"4\" id=\"{0}\">{0}</th></tr>\n",
                esc(namespace)
            ));
        }
        let mut path = route.base();
        let (min, _) = route.path_arity();
        for (i, (_, name)) in route.path_params().enumerate() {
            if i < min {
                path.push_str(&format!("/&lt;{name}&gt;"));
            } else {
                path.push_str(&format!("[/&lt;{name}&gt;]"));
            }
        }
        let query: Vec<String> = route
            .query_params()
            .map(|(ty, name)| format!("{name} ({ty})"))
            .collect();
        rows.push_str(&format!(
            "<tr><td>{}</td><td><code>{}</code></td><td>{}</td><td>{} <em>→ {}</em></td></tr>\n",
            route.verb.as_str(),
            path,
            esc(&query.join(", ")),
            esc(route.def.summary),
            esc(route.def.returns),
        ));
    }
    format!(
        "<!DOCTYPE html>\n<html><head><meta charset=\"utf-8\"><title>raftvisor REST API</title>\
         <style>body{{font-family:sans-serif;margin:2em}}td,th{{padding:.2em .6em;text-align:left;\
         vertical-align:top}}th{{background:#eee}}code{{white-space:nowrap}}</style></head><body>\n\
         <h1>raftvisor REST API</h1>\n<p>Each XML-RPC method as <code>/&lt;namespace&gt;/&lt;method&gt;/&lt;parameters&gt;</code>, \
         in the shape of Supvisors' supvisorsflask: GET for reads, POST for commands, <code>wait</code> \
         and <code>extra_args</code> as query parameters, JSON results; a fault is \
         <code>{{\"message\": \"FAULT_NAME: text\", \"code\": N}}</code>. The same credentials as the \
         XML-RPC API. Machine-readable: <a href=\"/openapi.json\">/openapi.json</a> (OpenAPI 3).</p>\n\
         <table>\n<tr><th>verb</th><th>path</th><th>query</th><th>what</th></tr>\n{rows}</table>\n</body></html>\n"
    )
}

#[cfg(test)]
mod tests;
