//! Supervisor's namespecs: `name`, `group:name`, and `group:*` / `group:` for a whole group.

/// What a namespec names.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum NameSpec {
    /// `group:*` or `group:`: every process of the group.
    Group(String),
    /// `group:name`, or `name` alone (then group == name, Supervisor's usual single-program case).
    Process { group: String, name: String },
}

/// Splits a namespec as Supervisor's `split_namespec`: `a` → (a, Some(a)), `g:a` → (g, Some(a)),
/// `g:*` and `g:` → (g, None).
pub fn split_namespec(namespec: &str) -> (String, Option<String>) {
    match namespec.split_once(':') {
        Some((group, name)) if name.is_empty() || name == "*" => (group.to_string(), None),
        Some((group, name)) => (group.to_string(), Some(name.to_string())),
        None => (namespec.to_string(), Some(namespec.to_string())),
    }
}

impl NameSpec {
    pub fn parse(namespec: &str) -> NameSpec {
        match split_namespec(namespec) {
            (group, None) => NameSpec::Group(group),
            (group, Some(name)) => NameSpec::Process { group, name },
        }
    }
}

/// `make_namespec`: the short form when group and process share a name.
pub fn make_namespec(group: &str, name: &str) -> String {
    if group == name {
        name.to_string()
    } else {
        format!("{group}:{name}")
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn namespecs_split_like_supervisor() {
        assert_eq!(split_namespec("a"), ("a".into(), Some("a".into())));
        assert_eq!(split_namespec("g:a"), ("g".into(), Some("a".into())));
        assert_eq!(split_namespec("g:*"), ("g".into(), None));
        assert_eq!(split_namespec("g:"), ("g".into(), None));
        assert_eq!(make_namespec("a", "a"), "a");
        assert_eq!(make_namespec("g", "a"), "g:a");
        assert_eq!(NameSpec::parse("g:*"), NameSpec::Group("g".into()));
    }
}
