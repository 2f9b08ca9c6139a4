//! The INI dialect of Python's `RawConfigParser` as Supervisor configures it
//! (`inline_comment_prefixes=(';', '#')`, `strict=False`), with file and line kept for every
//! option so later errors can point at them. Pure: text in, sections out.
//!
//! Rules reproduced from CPython's `configparser._read`:
//! * `;` or `#` as the first non-blank character makes a comment line; elsewhere they start a
//!   comment only when preceded by whitespace (`a=b ;c` → `b`, `a=b;c` → `b;c`).
//! * `key = value` or `key: value`; the key ends at the first `=` or `:`; keys are lowercased.
//! * A line indented deeper than the line that opened the current option continues its value
//!   (joined with `\n`); blank lines inside a value are kept, trailing ones dropped.
//! * A section or key seen again is merged (later value wins, first position kept), also across
//!   files; `[DEFAULT]` holds fallbacks for every section.

use crate::error::Problems;
use std::path::{Path, PathBuf};

/// One option with where its (last) definition came from.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Opt {
    pub key: String,
    pub value: String,
    pub file: PathBuf,
    pub line: usize,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Section {
    pub name: String,
    /// File and line of the first header of this section.
    pub file: PathBuf,
    pub line: usize,
    pub options: Vec<Opt>,
}

impl Section {
    pub fn get(&self, key: &str) -> Option<&Opt> {
        self.options.iter().find(|o| o.key == key)
    }
}

/// Everything read so far, in the order sections first appeared.
#[derive(Debug, Clone, Default)]
pub(crate) struct Ini {
    pub sections: Vec<Section>,
    /// The `[DEFAULT]` section: fallbacks for lookups in every section.
    pub defaults: Vec<Opt>,
}

#[derive(Clone, Copy)]
enum Target {
    Defaults,
    Section(usize),
}

impl Ini {
    pub fn section(&self, name: &str) -> Option<&Section> {
        self.sections.iter().find(|s| s.name == name)
    }

    /// Merges one file's text into `self`. Syntax errors are recorded and the offending lines
    /// skipped, as configparser does; a file without a section header before its first option
    /// stops there (configparser raises at once in that case).
    pub fn read_str(&mut self, text: &str, file: &Path, problems: &mut Problems) {
        let mut cur: Option<Target> = None;
        let mut optname: Option<usize> = None;
        let mut indent_level = 0usize;

        for (idx, raw) in text.lines().enumerate() {
            let lineno = idx + 1;
            let comment_start = comment_start(raw);
            let content = match comment_start {
                Some(i) => &raw[..i],
                None => raw,
            };
            let value = content.trim();
            if value.is_empty() {
                // configparser keeps blank lines inside a value, but not comment-only lines.
                if comment_start.is_none() {
                    if let (Some(t), Some(o)) = (cur, optname) {
                        self.option_mut(t, o).value.push('\n');
                    }
                }
                continue;
            }
            let cur_indent = raw.chars().take_while(|c| c.is_whitespace()).count();
            if let (Some(t), Some(o), true) = (cur, optname, cur_indent > indent_level) {
                let opt = self.option_mut(t, o);
                opt.value.push('\n');
                opt.value.push_str(value);
                continue;
            }
            indent_level = cur_indent;
            if let Some(name) = section_header(value) {
                cur = Some(if name == "DEFAULT" {
                    Target::Defaults
                } else {
                    Target::Section(self.section_index(name, file, lineno))
                });
                optname = None;
                continue;
            }
            let Some(target) = cur else {
                problems.error(
                    file,
                    lineno,
                    format!("file contains no section header before {value:?}"),
                );
                break;
            };
            match split_option(value) {
                Some((key, val)) => {
                    optname = Some(self.set(target, key, val, file, lineno));
                }
                None => {
                    problems.error(file, lineno, format!("not a `key = value` line: {value:?}"));
                }
            }
        }
        // configparser's _join_multiline_values: trailing blank lines are dropped.
        for opt in self
            .defaults
            .iter_mut()
            .chain(self.sections.iter_mut().flat_map(|s| s.options.iter_mut()))
        {
            let trimmed = opt.value.trim_end().len();
            opt.value.truncate(trimmed);
        }
    }

    fn options_mut(&mut self, t: Target) -> &mut Vec<Opt> {
        match t {
            Target::Defaults => &mut self.defaults,
            Target::Section(i) => &mut self.sections[i].options,
        }
    }

    fn option_mut(&mut self, t: Target, o: usize) -> &mut Opt {
        &mut self.options_mut(t)[o]
    }

    fn section_index(&mut self, name: &str, file: &Path, line: usize) -> usize {
        if let Some(i) = self.sections.iter().position(|s| s.name == name) {
            return i;
        }
        self.sections.push(Section {
            name: name.to_string(),
            file: file.to_path_buf(),
            line,
            options: Vec::new(),
        });
        self.sections.len() - 1
    }

    fn set(&mut self, t: Target, key: String, value: &str, file: &Path, line: usize) -> usize {
        let opts = self.options_mut(t);
        let opt = Opt {
            key,
            value: value.to_string(),
            file: file.to_path_buf(),
            line,
        };
        if let Some(i) = opts.iter().position(|o| o.key == opt.key) {
            opts[i] = opt;
            i
        } else {
            opts.push(opt);
            opts.len() - 1
        }
    }
}

/// Byte index where a comment starts, if any: `;`/`#` at the start of the stripped line, or
/// preceded by whitespace.
fn comment_start(line: &str) -> Option<usize> {
    let trimmed = line.trim_start();
    if trimmed.starts_with(';') || trimmed.starts_with('#') {
        return Some(0);
    }
    let mut prev_space = true; // index 0 counts as a comment start in configparser
    for (i, c) in line.char_indices() {
        if (c == ';' || c == '#') && prev_space {
            return Some(i);
        }
        prev_space = c.is_whitespace();
    }
    None
}

/// `[name]` → `name`, as configparser's very permissive `\[(?P<header>.+)\]` (greedy, anchored at
/// the start only: text after the last `]` is ignored).
fn section_header(value: &str) -> Option<&str> {
    let rest = value.strip_prefix('[')?;
    let end = rest.rfind(']')?;
    (end > 0).then(|| &rest[..end])
}

/// Splits at the first `=` or `:`; the key is trimmed and lowercased (configparser's
/// `optionxform`). `None` when there is no delimiter or the key is empty.
fn split_option(value: &str) -> Option<(String, &str)> {
    let pos = value.find(['=', ':'])?;
    let key = value[..pos].trim();
    if key.is_empty() {
        return None;
    }
    Some((key.to_lowercase(), value[pos + 1..].trim()))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn parse(text: &str) -> (Ini, Problems) {
        let mut ini = Ini::default();
        let mut p = Problems::default();
        ini.read_str(text, Path::new("/t.conf"), &mut p);
        (ini, p)
    }

    fn val<'a>(ini: &'a Ini, sec: &str, key: &str) -> &'a str {
        &ini.section(sec).unwrap().get(key).unwrap().value
    }

    #[test]
    fn equals_and_colon_delimiters_first_one_wins() {
        let (ini, p) = parse("[s]\na = 1\nb: 2\nc = x:y=z\nd: u=v\n");
        assert!(p.errors.is_empty());
        assert_eq!(val(&ini, "s", "a"), "1");
        assert_eq!(val(&ini, "s", "b"), "2");
        assert_eq!(val(&ini, "s", "c"), "x:y=z");
        assert_eq!(val(&ini, "s", "d"), "u=v");
    }

    #[test]
    fn comments_full_line_and_inline_only_after_whitespace() {
        let (ini, p) =
            parse("; top\n# top\n[s]\n  ; indented comment\na=b ;c\nb=b;c\nc=x #y\nd=x#y\ne=\n");
        assert!(p.errors.is_empty(), "{:?}", p.errors);
        assert_eq!(val(&ini, "s", "a"), "b");
        assert_eq!(val(&ini, "s", "b"), "b;c");
        assert_eq!(val(&ini, "s", "c"), "x");
        assert_eq!(val(&ini, "s", "d"), "x#y");
        assert_eq!(val(&ini, "s", "e"), "");
    }

    #[test]
    fn continuation_lines_join_with_newline() {
        let text = "[s]\nenv = A=1,\n  B=2\n\n  C=3\n\n\nnext = x\n  ; comment inside\n  y\n";
        let (ini, p) = parse(text);
        assert!(p.errors.is_empty());
        assert_eq!(val(&ini, "s", "env"), "A=1,\nB=2\n\nC=3");
        assert_eq!(val(&ini, "s", "next"), "x\ny");
    }

    #[test]
    fn indented_first_option_is_not_a_continuation() {
        let (ini, _) = parse("[s]\n  a=1\nb=2\n  more\n");
        assert_eq!(val(&ini, "s", "a"), "1");
        assert_eq!(val(&ini, "s", "b"), "2\nmore");
    }

    #[test]
    fn duplicate_keys_and_sections_later_wins_first_position_kept() {
        let (ini, _) = parse("[s]\na=1\nb=2\n[t]\n[s]\na=3\n");
        let s = ini.section("s").unwrap();
        assert_eq!(s.line, 1);
        assert_eq!(
            s.options.iter().map(|o| o.key.as_str()).collect::<Vec<_>>(),
            ["a", "b"]
        );
        assert_eq!(s.get("a").unwrap().value, "3");
        assert_eq!(s.get("a").unwrap().line, 6);
        assert_eq!(ini.sections.len(), 2);
    }

    #[test]
    fn keys_are_lowercased_section_names_are_not() {
        let (ini, _) = parse("[Program:Web]\nCommand = /bin/X\n");
        assert_eq!(val(&ini, "Program:Web", "command"), "/bin/X");
        assert!(ini.section("program:web").is_none());
    }

    #[test]
    fn bad_lines_are_reported_and_skipped() {
        let (ini, p) = parse("[s]\njunk line\n= nokey\na=1\n");
        assert_eq!(p.errors.len(), 2);
        assert_eq!(p.errors[0].line, 2);
        assert_eq!(p.errors[1].line, 3);
        assert_eq!(val(&ini, "s", "a"), "1");
    }

    #[test]
    fn option_before_any_section_stops_the_file() {
        let (ini, p) = parse("a=1\n[s]\nb=2\n");
        assert_eq!(p.errors.len(), 1);
        assert!(p.errors[0].message.contains("no section header"));
        assert!(ini.sections.is_empty());
    }

    #[test]
    fn header_is_permissive_like_configparser() {
        let (ini, _) = parse("[a] b] trailing\nx=1\n[DEFAULT]\nd=2\n");
        assert_eq!(val(&ini, "a] b", "x"), "1");
        assert_eq!(ini.defaults[0].value, "2");
    }
}
