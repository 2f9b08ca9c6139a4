//! A round-trip of Python's `ConfigParser(interpolation=None)` as `supvisors_breed` uses it:
//! read a file into ordered sections, add/remove sections, write it back the way
//! `ConfigParser.write` does (`key = value`, continuation lines re-indented with a tab, a blank
//! line after each section, comments dropped, keys lower-cased). Pure text in, text out.

use std::fmt;

/// Why a file could not be read (ConfigParser's exception, with the line number).
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ParseError {
    #[error("File contains no section headers. line: {line}")]
    MissingSectionHeader { line: usize },
    #[error("section {section:?} already exists (line {line})")]
    DuplicateSection { section: String, line: usize },
    #[error("option {option:?} in section {section:?} already exists (line {line})")]
    DuplicateOption {
        section: String,
        option: String,
        line: usize,
    },
    #[error("source contains parsing errors: line {line}")]
    Parsing { line: usize },
}

/// One section: its name and its options in file order.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Section {
    pub name: String,
    pub options: Vec<(String, String)>,
}

/// A parsed file: `[DEFAULT]` options apart (written first), then the sections in order.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Config {
    pub defaults: Vec<(String, String)>,
    pub sections: Vec<Section>,
}

const DEFAULT: &str = "DEFAULT";

/// The value being built: lines joined by `\n` at the end, trailing blanks removed.
struct Pending {
    /// `None` = DEFAULT, else the index in `sections`.
    section: Option<usize>,
    option: usize,
}

impl Config {
    /// Parses as `ConfigParser.read_string` with the default options (`=`/`:` delimiters,
    /// `#`/`;` full-line comments, empty lines kept inside multi-line values, strict).
    pub fn parse(text: &str) -> Result<Config, ParseError> {
        let mut cfg = Config::default();
        // Lines of the value being read, before the final join.
        let mut values: Vec<Vec<String>> = Vec::new();
        let mut index: Vec<(Option<usize>, usize)> = Vec::new();
        let mut current: Option<Option<usize>> = None;
        let mut pending: Option<Pending> = None;
        let mut indent_level = 0usize;
        let mut seen_sections: Vec<String> = Vec::new();
        let mut seen_options: Vec<(Option<usize>, String)> = Vec::new();
        let mut first_error: Option<ParseError> = None;
        let lines = text.split_inclusive('\n');
        for (n, raw) in lines.enumerate() {
            let lineno = n + 1;
            let line = raw.trim_end_matches(['\n', '\r']);
            let stripped = line.trim();
            let is_comment = stripped.starts_with('#') || stripped.starts_with(';');
            let value = if is_comment { "" } else { stripped };
            if value.is_empty() {
                if !is_comment {
                    if let Some(p) = &pending {
                        if let Some(slot) = index.iter().position(|k| *k == (p.section, p.option)) {
                            values[slot].push(String::new());
                        }
                    }
                }
                continue;
            }
            let cur_indent = line.len() - line.trim_start().len();
            if let (Some(_), Some(p)) = (current, &pending) {
                if cur_indent > indent_level {
                    if let Some(slot) = index.iter().position(|k| *k == (p.section, p.option)) {
                        values[slot].push(value.to_string());
                    }
                    continue;
                }
            }
            indent_level = cur_indent;
            if let Some(header) = section_header(value) {
                pending = None;
                if header == DEFAULT {
                    current = Some(None);
                } else if let Some(pos) = cfg.sections.iter().position(|s| s.name == header) {
                    if seen_sections.iter().any(|s| s == header) {
                        return Err(ParseError::DuplicateSection {
                            section: header.to_string(),
                            line: lineno,
                        });
                    }
                    current = Some(Some(pos));
                } else {
                    cfg.sections.push(Section {
                        name: header.to_string(),
                        options: Vec::new(),
                    });
                    seen_sections.push(header.to_string());
                    current = Some(Some(cfg.sections.len() - 1));
                }
                continue;
            }
            let Some(section) = current else {
                return Err(ParseError::MissingSectionHeader { line: lineno });
            };
            let Some(i) = value.find(['=', ':']) else {
                first_error.get_or_insert(ParseError::Parsing { line: lineno });
                continue;
            };
            let option = value[..i].trim_end().to_lowercase();
            if option.is_empty() {
                first_error.get_or_insert(ParseError::Parsing { line: lineno });
                continue;
            }
            if seen_options.contains(&(section, option.clone())) {
                let name = section.map_or(DEFAULT.to_string(), |s| cfg.sections[s].name.clone());
                return Err(ParseError::DuplicateOption {
                    section: name,
                    option,
                    line: lineno,
                });
            }
            seen_options.push((section, option.clone()));
            let val = value[i + 1..].trim().to_string();
            let opts = match section {
                None => &mut cfg.defaults,
                Some(s) => &mut cfg.sections[s].options,
            };
            let pos = match opts.iter().position(|(k, _)| *k == option) {
                Some(p) => p,
                None => {
                    opts.push((option, String::new()));
                    opts.len() - 1
                }
            };
            match index.iter().position(|k| *k == (section, pos)) {
                Some(slot) => values[slot] = vec![val],
                None => {
                    index.push((section, pos));
                    values.push(vec![val]);
                }
            }
            pending = Some(Pending {
                section,
                option: pos,
            });
        }
        if let Some(e) = first_error {
            return Err(e);
        }
        for ((section, pos), lines) in index.into_iter().zip(values) {
            let joined = lines.join("\n").trim_end().to_string();
            let opts = match section {
                None => &mut cfg.defaults,
                Some(s) => &mut cfg.sections[s].options,
            };
            opts[pos].1 = joined;
        }
        Ok(cfg)
    }

    pub fn section(&self, name: &str) -> Option<&Section> {
        self.sections.iter().find(|s| s.name == name)
    }

    pub fn has_sections(&self) -> bool {
        !self.sections.is_empty()
    }

    /// `config[name] = options`: replaces the options of an existing section in place, or
    /// appends a new section.
    pub fn set_section(&mut self, name: &str, options: Vec<(String, String)>) {
        match self.sections.iter_mut().find(|s| s.name == name) {
            Some(s) => s.options = options,
            None => self.sections.push(Section {
                name: name.to_string(),
                options,
            }),
        }
    }

    /// `del config[name]`.
    pub fn remove_section(&mut self, name: &str) {
        self.sections.retain(|s| s.name != name);
    }
}

/// `SECTCRE`: `[` then the longest text up to a `]`.
fn section_header(value: &str) -> Option<&str> {
    let rest = value.strip_prefix('[')?;
    let end = rest.rfind(']')?;
    (end > 0).then(|| &rest[..end])
}

/// `ConfigParser.write`: DEFAULT first when not empty, then each section, blank line after each.
impl fmt::Display for Config {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let mut write = |name: &str, options: &[(String, String)]| -> fmt::Result {
            writeln!(f, "[{name}]")?;
            for (k, v) in options {
                writeln!(f, "{k} = {}", v.replace('\n', "\n\t"))?;
            }
            writeln!(f)
        };
        if !self.defaults.is_empty() {
            write(DEFAULT, &self.defaults)?;
        }
        for s in &self.sections {
            write(&s.name, &s.options)?;
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn round_trip_like_configparser() {
        let text = "; comment\n[group:app]\nprograms = a,b\n\n[program:a]\nCommand: run a\n  --flag\n\n  --other\n# gone\nautostart=false\n";
        let cfg = Config::parse(text).unwrap();
        assert_eq!(cfg.section("group:app").unwrap().options[0].1, "a,b");
        // Keys lower-cased; continuation lines kept with the empty line between them.
        assert_eq!(
            cfg.section("program:a").unwrap().options[0],
            ("command".into(), "run a\n--flag\n\n--other".into())
        );
        assert_eq!(
            cfg.to_string(),
            "[group:app]\nprograms = a,b\n\n[program:a]\ncommand = run a\n\t--flag\n\t\n\t--other\nautostart = false\n\n"
        );
    }

    #[test]
    fn defaults_written_first_and_sections_edited() {
        let mut cfg = Config::parse("[x]\na=1\n[DEFAULT]\nd = 2\n").unwrap();
        cfg.set_section("y", vec![("programs".into(), "p".into())]);
        cfg.set_section("x", vec![("b".into(), "3".into())]);
        assert_eq!(
            cfg.to_string(),
            "[DEFAULT]\nd = 2\n\n[x]\nb = 3\n\n[y]\nprograms = p\n\n"
        );
        cfg.remove_section("x");
        cfg.remove_section("y");
        assert!(!cfg.has_sections());
    }

    #[test]
    fn errors_like_configparser() {
        assert_eq!(
            Config::parse("a = 1\n"),
            Err(ParseError::MissingSectionHeader { line: 1 })
        );
        assert!(matches!(
            Config::parse("[a]\n[a]\n"),
            Err(ParseError::DuplicateSection { line: 2, .. })
        ));
        assert!(matches!(
            Config::parse("[a]\nx=1\nX=2\n"),
            Err(ParseError::DuplicateOption { line: 3, .. })
        ));
        assert_eq!(
            Config::parse("[a]\nnovalue\n"),
            Err(ParseError::Parsing { line: 2 })
        );
    }
}
