//! Typed, expanded reads of one section's options, recording every problem with `file:line`
//! and `[section] key:` so the loader can keep going and report them all.

use crate::error::Problems;
use crate::expand::{expand, Vars};
use crate::ini::{Opt, Section};

/// Marker: the problem has already been recorded; the caller uses a default and goes on.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct Reported;

/// One section plus the `[DEFAULT]` fallbacks.
#[derive(Clone, Copy)]
pub(crate) struct Sect<'a> {
    pub sec: &'a Section,
    pub defaults: &'a [Opt],
}

impl<'a> Sect<'a> {
    pub fn new(sec: &'a Section, defaults: &'a [Opt]) -> Self {
        Sect { sec, defaults }
    }

    pub fn name(&self) -> &'a str {
        &self.sec.name
    }

    pub fn opt(&self, key: &str) -> Option<&'a Opt> {
        self.sec
            .get(key)
            .or_else(|| self.defaults.iter().find(|o| o.key == key))
    }

    /// Records `[section] message` at the section header.
    pub fn section_error(&self, p: &mut Problems, message: impl AsRef<str>) {
        p.error(
            &self.sec.file,
            self.sec.line,
            format!("[{}] {}", self.sec.name, message.as_ref()),
        );
    }

    /// Records `[section] key: message` at the option's line, or at the header if absent.
    pub fn key_error(&self, p: &mut Problems, key: &str, message: impl AsRef<str>) {
        let (file, line) = match self.opt(key) {
            Some(o) => (&o.file, o.line),
            None => (&self.sec.file, self.sec.line),
        };
        p.error(
            file,
            line,
            format!("[{}] {key}: {}", self.sec.name, message.as_ref()),
        );
    }

    pub fn key_warning(&self, p: &mut Problems, key: &str, message: impl AsRef<str>) {
        let (file, line) = match self.opt(key) {
            Some(o) => (&o.file, o.line),
            None => (&self.sec.file, self.sec.line),
        };
        p.warn(
            file,
            line,
            format!("[{}] {key}: {}", self.sec.name, message.as_ref()),
        );
    }

    /// Every key of the section itself (not `[DEFAULT]`) must be in `allowed`.
    pub fn check_keys(&self, p: &mut Problems, allowed: &[&str]) {
        for o in &self.sec.options {
            if !allowed.contains(&o.key.as_str()) {
                p.error(
                    &o.file,
                    o.line,
                    format!(
                        "[{}] {}: unknown option (known: {})",
                        self.sec.name,
                        o.key,
                        allowed.join(", ")
                    ),
                );
            }
        }
    }

    /// The value with `%(...)` expanded; `here` is the directory of the file the value is in.
    pub fn text(
        &self,
        p: &mut Problems,
        vars: &Vars,
        key: &str,
    ) -> Result<Option<String>, Reported> {
        let Some(o) = self.opt(key) else {
            return Ok(None);
        };
        match expand_opt(o, vars) {
            Ok(v) => Ok(Some(v)),
            Err(e) => {
                self.key_error(p, key, e);
                Err(Reported)
            }
        }
    }

    /// The raw value, unexpanded (for `process_name` / `environment`, expanded later per process).
    pub fn raw(&self, key: &str) -> Option<&'a str> {
        self.opt(key).map(|o| o.value.as_str())
    }

    /// Expanded and converted; `Ok(None)` when absent.
    pub fn parse<T>(
        &self,
        p: &mut Problems,
        vars: &Vars,
        key: &str,
        f: impl FnOnce(&str) -> Result<T, String>,
    ) -> Result<Option<T>, Reported> {
        let Some(text) = self.text(p, vars, key)? else {
            return Ok(None);
        };
        match f(&text) {
            Ok(v) => Ok(Some(v)),
            Err(e) => {
                self.key_error(p, key, e);
                Err(Reported)
            }
        }
    }

    /// Like [`Sect::parse`], with `default` when absent or wrong (the problem is recorded).
    pub fn parse_or<T>(
        &self,
        p: &mut Problems,
        vars: &Vars,
        key: &str,
        default: T,
        f: impl FnOnce(&str) -> Result<T, String>,
    ) -> T {
        self.parse(p, vars, key, f)
            .ok()
            .flatten()
            .unwrap_or(default)
    }
}

/// Expands one option's value with `here` set to its file's directory.
pub(crate) fn expand_opt(o: &Opt, vars: &Vars) -> Result<String, String> {
    if !o.value.contains('%') {
        return Ok(o.value.clone());
    }
    let mut vars = vars.clone();
    vars.set_str("here", here_of(o));
    expand(&o.value, &vars)
}

/// Supervisor's `here`: the absolute directory of the file holding the value.
pub(crate) fn here_of(o: &Opt) -> String {
    o.file
        .parent()
        .map(|d| d.to_string_lossy().into_owned())
        .unwrap_or_default()
}
