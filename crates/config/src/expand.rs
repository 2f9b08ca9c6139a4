//! Python `%`-formatting with a mapping (`"%(name)s" % expansions`), the only expansion
//! Supervisor applies to config values. Pure.
//!
//! Supported: `%(name)` followed by optional flags `#0- +`, a width, a `.precision`, a
//! length modifier (ignored, as Python does) and one of `s r a d i u x X o`; `%%` is a literal
//! `%`. A `%` without a `(name)` is an error, because with a mapping Python would print the
//! whole mapping, which is never what a config author wants.

use std::collections::BTreeMap;

/// A value that may be substituted: most are strings, `process_num` and `numprocs` are integers
/// (so `%(process_num)02d` works and `%(program_name)d` fails, as in Python).
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum Var {
    Str(String),
    Int(i64),
}

/// A set of names available to one value.
#[derive(Debug, Clone, Default)]
pub(crate) struct Vars {
    map: BTreeMap<String, Var>,
}

impl Vars {
    pub fn set_str(&mut self, name: impl Into<String>, value: impl Into<String>) {
        self.map.insert(name.into(), Var::Str(value.into()));
    }

    pub fn set_int(&mut self, name: impl Into<String>, value: i64) {
        self.map.insert(name.into(), Var::Int(value));
    }

    fn get(&self, name: &str) -> Option<&Var> {
        self.map.get(name)
    }

    fn names(&self) -> impl Iterator<Item = &str> {
        self.map.keys().map(String::as_str)
    }
}

/// Expands `template` with `vars`. The error text says what is wrong; for an unknown name it
/// lists the available names, sorted, as Supervisor does.
pub(crate) fn expand(template: &str, vars: &Vars) -> Result<String, String> {
    if !template.contains('%') {
        return Ok(template.to_string());
    }
    let mut out = String::with_capacity(template.len());
    let mut rest = template;
    while let Some(pos) = rest.find('%') {
        out.push_str(&rest[..pos]);
        rest = &rest[pos + 1..];
        if let Some(r) = rest.strip_prefix('%') {
            out.push('%');
            rest = r;
            continue;
        }
        let Some(r) = rest.strip_prefix('(') else {
            return Err(match rest.chars().next() {
                None => "incomplete format: a lone `%` at the end (write `%%` for a literal %)"
                    .to_string(),
                Some(_) => {
                    "a `%` must be followed by `(name)` or another `%` (write `%%` for a literal %)"
                        .to_string()
                }
            });
        };
        let (name, r) = split_name(r)?;
        let (spec, r) = parse_spec(r)?;
        rest = r;
        let Some(value) = vars.get(name) else {
            let available: Vec<&str> = vars.names().collect();
            return Err(format!(
                "%({name}) cannot be expanded; available names: {}",
                available.join(", ")
            ));
        };
        out.push_str(&spec.render(name, value)?);
    }
    out.push_str(rest);
    Ok(out)
}

/// The name up to the matching `)`, counting nested parentheses as Python does.
fn split_name(s: &str) -> Result<(&str, &str), String> {
    let mut depth = 1;
    for (i, c) in s.char_indices() {
        match c {
            '(' => depth += 1,
            ')' => {
                depth -= 1;
                if depth == 0 {
                    return Ok((&s[..i], &s[i + 1..]));
                }
            }
            _ => {}
        }
    }
    Err("incomplete format key: `%(` without a closing `)`".to_string())
}

/// The widest padding or precision a `%(name)` format may ask for.
const MAX_WIDTH: usize = 1 << 16;

#[derive(Debug, Default)]
struct Spec {
    left: bool,
    zero: bool,
    plus: bool,
    space: bool,
    alt: bool,
    width: usize,
    precision: Option<usize>,
    conv: char,
}

fn parse_spec(s: &str) -> Result<(Spec, &str), String> {
    let mut spec = Spec::default();
    let mut chars = s.char_indices().peekable();
    while let Some(&(_, c)) = chars.peek() {
        match c {
            '-' => spec.left = true,
            '0' => spec.zero = true,
            '+' => spec.plus = true,
            ' ' => spec.space = true,
            '#' => spec.alt = true,
            _ => break,
        }
        chars.next();
    }
    let number = |chars: &mut std::iter::Peekable<std::str::CharIndices<'_>>| {
        let mut n: Option<usize> = None;
        while let Some(&(_, c)) = chars.peek() {
            let Some(d) = c.to_digit(10) else { break };
            n = Some(n.unwrap_or(0).saturating_mul(10).saturating_add(d as usize));
            chars.next();
        }
        n
    };
    spec.width = number(&mut chars).unwrap_or(0);
    if let Some(&(_, '.')) = chars.peek() {
        chars.next();
        spec.precision = Some(number(&mut chars).unwrap_or(0));
    }
    // Python would try to build the padded string (and fail with a MemoryError, or an
    // OverflowError past sys.maxsize); a config value is never that wide, so say so instead.
    if spec.width.max(spec.precision.unwrap_or(0)) > MAX_WIDTH {
        return Err(format!(
            "format width or precision too big (at most {MAX_WIDTH})"
        ));
    }
    while let Some(&(_, 'h' | 'l' | 'L')) = chars.peek() {
        chars.next();
    }
    match chars.next() {
        Some((i, c)) => {
            spec.conv = c;
            Ok((spec, &s[i + c.len_utf8()..]))
        }
        None => Err(
            "incomplete format: `%(name)` must be followed by a type such as `s` or `d`"
                .to_string(),
        ),
    }
}

impl Spec {
    fn render(&self, name: &str, value: &Var) -> Result<String, String> {
        let body = match (self.conv, value) {
            ('s' | 'r' | 'a', v) => {
                let mut text = match v {
                    Var::Str(s) => s.clone(),
                    Var::Int(n) => n.to_string(),
                };
                if self.conv != 's' {
                    if let Var::Str(_) = v {
                        text = format!("'{text}'");
                    }
                }
                if let Some(p) = self.precision {
                    text = text.chars().take(p).collect();
                }
                return Ok(self.pad(text));
            }
            ('d' | 'i' | 'u' | 'x' | 'X' | 'o', Var::Int(n)) => self.int(*n),
            ('d' | 'i' | 'u' | 'x' | 'X' | 'o', Var::Str(_)) => {
                return Err(format!(
                    "%({name}){} needs a number, but {name} is a string (use %({name})s)",
                    self.conv
                ))
            }
            (c, _) => {
                return Err(format!(
                    "unsupported format character {c:?} in %({name}){c} (use s or d)"
                ))
            }
        };
        Ok(body)
    }

    fn int(&self, n: i64) -> String {
        let mag = n.unsigned_abs();
        let mut digits = match self.conv {
            'x' => format!("{mag:x}"),
            'X' => format!("{mag:X}"),
            'o' => format!("{mag:o}"),
            _ => mag.to_string(),
        };
        if let Some(p) = self.precision {
            while digits.len() < p {
                digits.insert(0, '0');
            }
        }
        let prefix = match (self.alt, self.conv) {
            (true, 'x') => "0x",
            (true, 'X') => "0X",
            (true, 'o') => "0o",
            _ => "",
        };
        let sign = if n < 0 {
            "-"
        } else if self.plus {
            "+"
        } else if self.space {
            " "
        } else {
            ""
        };
        let head = format!("{sign}{prefix}");
        if self.zero && !self.left {
            let total = head.len() + digits.len();
            let fill = "0".repeat(self.width.saturating_sub(total));
            format!("{head}{fill}{digits}")
        } else {
            self.pad(format!("{head}{digits}"))
        }
    }

    fn pad(&self, text: String) -> String {
        let len = text.chars().count();
        if len >= self.width {
            return text;
        }
        let fill = " ".repeat(self.width - len);
        if self.left {
            format!("{text}{fill}")
        } else {
            format!("{fill}{text}")
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn vars() -> Vars {
        let mut v = Vars::default();
        v.set_str("program_name", "web");
        v.set_str("here", "/etc/sv");
        v.set_int("process_num", 3);
        v.set_int("numprocs", 12);
        v
    }

    #[test]
    fn names_widths_and_literal_percent() {
        let v = vars();
        assert_eq!(
            expand("%(program_name)s_%(process_num)02d", &v).unwrap(),
            "web_03"
        );
        assert_eq!(expand("%(process_num)d/%(numprocs)s", &v).unwrap(), "3/12");
        assert_eq!(expand("%(here)s/x.log", &v).unwrap(), "/etc/sv/x.log");
        assert_eq!(expand("date +%%s 100%%", &v).unwrap(), "date +%s 100%");
        assert_eq!(
            expand("[%(program_name)5s|%(program_name)-5s]", &v).unwrap(),
            "[  web|web  ]"
        );
        assert_eq!(
            expand("%(process_num)+04d %(process_num)x %(process_num).3d", &v).unwrap(),
            "+003 3 003"
        );
        assert_eq!(expand("%(program_name).2s", &v).unwrap(), "we");
        assert_eq!(
            expand("no percent at all", &v).unwrap(),
            "no percent at all"
        );
    }

    #[test]
    fn unknown_name_lists_available_names() {
        let err = expand("%(ENV_NOPE)s", &vars()).unwrap_err();
        assert_eq!(
            err,
            "%(ENV_NOPE) cannot be expanded; available names: here, numprocs, process_num, program_name"
        );
    }

    #[test]
    fn malformed_formats_are_errors() {
        let v = vars();
        assert!(expand("100%", &v).is_err());
        assert!(expand("%s", &v).is_err());
        assert!(expand("%(here", &v).is_err());
        assert!(expand("%(here)", &v).is_err());
        assert!(expand("%(program_name)d", &v)
            .unwrap_err()
            .contains("needs a number"));
        assert!(expand("%(here)q", &v).unwrap_err().contains("unsupported"));
    }

    /// Found by the `ini` fuzz target: a width of 37 digits panicked ("capacity overflow"),
    /// and one of 9 digits would have allocated a gigabyte.
    #[test]
    fn an_absurd_width_or_precision_is_an_error_not_an_allocation() {
        let v = vars();
        for f in [
            "%(here)8888888888888888888888888888888888888s",
            "%(here)1000000000s",
            "%(process_num).1000000000d",
            "%(process_num)065537d",
        ] {
            assert!(expand(f, &v).unwrap_err().contains("too big"), "{f}");
        }
        assert_eq!(expand("%(process_num)08d", &v).unwrap(), "00000003");
    }
}
