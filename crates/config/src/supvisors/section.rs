//! Reads of a kept [`RawSection`], recording each problem as
//! `file:line: [rpcinterface:supvisors] option: message`, the same shape as the loader's.
//!
//! [`RawOption`] carries a line but no file: every location uses the file of the section's
//! first header (an option merged in from an `[include]`d file would point at the wrong file).

use crate::error::Problems;
use crate::reader::Reported;
use model::{RawOption, RawSection};

#[derive(Clone, Copy)]
pub(crate) struct Opts<'a> {
    pub sec: &'a RawSection,
}

impl<'a> Opts<'a> {
    pub fn get(&self, key: &str) -> Option<&'a RawOption> {
        self.sec.options.iter().find(|o| o.key == key)
    }

    pub fn value(&self, key: &str) -> Option<&'a str> {
        self.get(key).map(|o| o.value.as_str())
    }

    pub fn has(&self, key: &str) -> bool {
        self.get(key).is_some()
    }

    /// The option's line, or the section header's when the option is absent.
    fn line(&self, key: &str) -> usize {
        self.get(key).map_or(self.sec.line, |o| o.line)
    }

    /// `file:line: [section] key: ` — the prefix of errors and notes about `key`.
    pub fn at(&self, key: &str) -> String {
        format!(
            "{}:{}: [{}] {key}",
            self.sec.file.display(),
            self.line(key),
            self.sec.name
        )
    }

    pub fn error(&self, p: &mut Problems, key: &str, message: impl AsRef<str>) {
        p.error(
            &self.sec.file,
            self.line(key),
            format!("[{}] {key}: {}", self.sec.name, message.as_ref()),
        );
    }

    pub fn section_error(&self, p: &mut Problems, message: impl AsRef<str>) {
        p.error(
            &self.sec.file,
            self.sec.line,
            format!("[{}] {}", self.sec.name, message.as_ref()),
        );
    }

    /// Converted with `f`; `Ok(None)` when absent; a failure is recorded at the option's line.
    pub fn parse<T>(
        &self,
        p: &mut Problems,
        key: &str,
        f: impl FnOnce(&str) -> Result<T, String>,
    ) -> Result<Option<T>, Reported> {
        let Some(text) = self.value(key) else {
            return Ok(None);
        };
        f(text).map(Some).map_err(|e| {
            self.error(p, key, e);
            Reported
        })
    }

    /// [`Opts::parse`] with a default when absent; `None` only when the value was wrong (so
    /// cross-option checks can skip values already reported).
    pub fn parse_or<T>(
        &self,
        p: &mut Problems,
        key: &str,
        default: T,
        f: impl FnOnce(&str) -> Result<T, String>,
    ) -> Option<T> {
        match self.parse(p, key, f) {
            Ok(v) => Some(v.unwrap_or(default)),
            Err(Reported) => None,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn locations_fall_back_to_the_header() {
        let sec = RawSection {
            name: "rpcinterface:supvisors".into(),
            file: "/etc/s.conf".into(),
            line: 4,
            options: vec![RawOption {
                key: "auto_fence".into(),
                value: "maybe".into(),
                line: 7,
            }],
        };
        let o = Opts { sec: &sec };
        let mut p = Problems::default();
        assert_eq!(
            o.parse_or(&mut p, "auto_fence", false, crate::parse_bool),
            None
        );
        assert_eq!(o.parse_or(&mut p, "x", 3, |_| Ok(1)), Some(3));
        o.error(&mut p, "absent", "m");
        assert_eq!(p.errors[0].line, 7);
        assert!(p.errors[0]
            .message
            .starts_with("[rpcinterface:supvisors] auto_fence: \"maybe\""));
        assert_eq!(
            (p.errors[1].line, p.errors[1].message.as_str()),
            (4, "[rpcinterface:supvisors] absent: m")
        );
        assert_eq!(
            o.at("auto_fence"),
            "/etc/s.conf:7: [rpcinterface:supvisors] auto_fence"
        );
    }
}
