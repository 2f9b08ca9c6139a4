//! Problems found while loading a configuration, collected so that one run reports all of them.

use std::fmt;
use std::path::{Path, PathBuf};

/// One thing wrong (or, as a warning, worth telling) in a configuration file.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Problem {
    pub file: PathBuf,
    /// 1-based line; 0 when the problem concerns the file as a whole (missing, unreadable,
    /// missing section), in which case Display prints `file: message`.
    pub line: usize,
    pub message: String,
}

impl fmt::Display for Problem {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        if self.line == 0 {
            write!(f, "{}: {}", self.file.display(), self.message)
        } else {
            write!(f, "{}:{}: {}", self.file.display(), self.line, self.message)
        }
    }
}

/// Every problem found in a configuration; never empty. Display prints one problem per line.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub struct ConfigError {
    pub problems: Vec<Problem>,
}

impl fmt::Display for ConfigError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        for (i, p) in self.problems.iter().enumerate() {
            if i > 0 {
                writeln!(f)?;
            }
            write!(f, "{p}")?;
        }
        Ok(())
    }
}

/// Collector passed through the loader. Errors make the load fail; warnings are what Supervisor
/// logs as `parse_warnings` and are handed back beside a successful result.
#[derive(Debug, Default)]
pub(crate) struct Problems {
    pub errors: Vec<Problem>,
    pub warnings: Vec<Problem>,
}

impl Problems {
    pub fn error(&mut self, file: &Path, line: usize, message: impl Into<String>) {
        self.errors.push(Problem {
            file: file.to_path_buf(),
            line,
            message: message.into(),
        });
    }

    pub fn warn(&mut self, file: &Path, line: usize, message: impl Into<String>) {
        self.warnings.push(Problem {
            file: file.to_path_buf(),
            line,
            message: message.into(),
        });
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn display_is_one_problem_per_line() {
        let e = ConfigError {
            problems: vec![
                Problem {
                    file: "/etc/s.conf".into(),
                    line: 14,
                    message: "[program:web] startsecs: \"abc\" is not an integer".into(),
                },
                Problem {
                    file: "/etc/x.conf".into(),
                    line: 0,
                    message: "could not read".into(),
                },
            ],
        };
        assert_eq!(
            e.to_string(),
            "/etc/s.conf:14: [program:web] startsecs: \"abc\" is not an integer\n/etc/x.conf: could not read"
        );
    }
}
