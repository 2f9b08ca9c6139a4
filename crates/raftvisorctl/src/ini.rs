//! Just enough of Python's `RawConfigParser` to read the `[supervisorctl]` section: sections,
//! `key = value` / `key: value`, full-line and whitespace-preceded inline comments, indented
//! continuation lines, later keys winning, and `%(here)s` / `%(ENV_X)s` / `%%` expansion.

use std::collections::HashMap;

/// Options of one section, keys lower-cased as `RawConfigParser` does.
pub fn read_section(text: &str, wanted: &str) -> Option<HashMap<String, String>> {
    let mut found = false;
    let mut in_section = false;
    let mut map = HashMap::new();
    let mut last_key: Option<String> = None;
    for raw in text.lines() {
        let trimmed = raw.trim();
        if trimmed.is_empty() || trimmed.starts_with(';') || trimmed.starts_with('#') {
            continue;
        }
        if raw.starts_with([' ', '\t']) {
            // Continuation of the previous value.
            if let (true, Some(k)) = (in_section, &last_key) {
                if let Some(v) = map.get_mut(k) {
                    let v: &mut String = v;
                    v.push('\n');
                    v.push_str(strip_inline_comment(trimmed));
                }
            }
            continue;
        }
        if let Some(rest) = trimmed.strip_prefix('[') {
            let name = rest.split(']').next().unwrap_or("").trim();
            in_section = name == wanted;
            found |= in_section;
            last_key = None;
            continue;
        }
        if !in_section {
            continue;
        }
        let split = trimmed.find(['=', ':']);
        if let Some(i) = split {
            let key = trimmed[..i].trim().to_lowercase();
            let value = strip_inline_comment(trimmed[i + 1..].trim()).to_string();
            map.insert(key.clone(), value);
            last_key = Some(key);
        }
    }
    found.then_some(map)
}

fn strip_inline_comment(v: &str) -> &str {
    let bytes = v.as_bytes();
    for i in 1..bytes.len() {
        if (bytes[i] == b';' || bytes[i] == b'#') && bytes[i - 1].is_ascii_whitespace() {
            return v[..i].trim_end();
        }
    }
    v
}

/// Expands `%(name)s` from `vars` (plus `ENV_*` from the environment) and `%%`. Unknown names
/// are an error naming them, like Python's formatting.
pub fn expand(value: &str, vars: &HashMap<String, String>) -> Result<String, String> {
    let mut out = String::new();
    let mut rest = value;
    while let Some(i) = rest.find('%') {
        out.push_str(&rest[..i]);
        let after = &rest[i + 1..];
        if let Some(r) = after.strip_prefix('%') {
            out.push('%');
            rest = r;
        } else if let Some(r) = after.strip_prefix('(') {
            let close = r
                .find(")s")
                .ok_or_else(|| format!("bad format in {value:?}"))?;
            let name = &r[..close];
            let v = match vars.get(name) {
                Some(v) => v.clone(),
                None => match name
                    .strip_prefix("ENV_")
                    .and_then(|e| std::env::var(e).ok())
                {
                    Some(v) => v,
                    None => return Err(format!("unknown name {name:?} in {value:?}")),
                },
            };
            out.push_str(&v);
            rest = &r[close + 2..];
        } else {
            return Err(format!("bad format in {value:?}"));
        }
    }
    out.push_str(rest);
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reads_only_the_wanted_section() {
        let text = "[supervisord]\nlogfile=x\n[supervisorctl]\nserverurl = unix://%(here)s/s.sock ; comment\nUsername: bob\npassword=a;b\n# c\n[program:x]\ncommand=y\n";
        let m = read_section(text, "supervisorctl").unwrap();
        assert_eq!(m["serverurl"], "unix://%(here)s/s.sock");
        assert_eq!(m["username"], "bob");
        assert_eq!(m["password"], "a;b");
        assert!(!m.contains_key("command"));
        assert!(read_section(text, "nope").is_none());
    }

    #[test]
    fn expands_here_env_and_percent() {
        let vars = HashMap::from([("here".to_string(), "/etc".to_string())]);
        assert_eq!(
            expand("unix://%(here)s/s.sock", &vars).unwrap(),
            "unix:///etc/s.sock"
        );
        assert_eq!(expand("100%%", &vars).unwrap(), "100%");
        std::env::set_var("RVCTL_TEST_X", "v");
        assert_eq!(expand("%(ENV_RVCTL_TEST_X)s", &vars).unwrap(), "v");
        assert!(expand("%(nope)s", &vars).is_err());
    }
}
