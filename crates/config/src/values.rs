//! Converters from option text to typed values, mirroring `supervisor.datatypes`. Pure; each
//! error is a short phrase that the loader prefixes with `[section] key:`.

use model::{AutoRestart, LogLevel, Password};

/// Python's `int(text)`: surrounding whitespace, an optional sign and `_` between digits allowed.
pub fn parse_int(text: &str) -> Result<i64, String> {
    let t = text.trim();
    let (neg, digits) = match t.as_bytes().first() {
        Some(b'-') => (true, &t[1..]),
        Some(b'+') => (false, &t[1..]),
        _ => (false, t),
    };
    let ok = !digits.is_empty()
        && !digits.starts_with('_')
        && !digits.ends_with('_')
        && !digits.contains("__")
        && digits.chars().all(|c| c.is_ascii_digit() || c == '_');
    let bad = || format!("{text:?} is not an integer");
    if !ok {
        return Err(bad());
    }
    let n: i64 = digits.replace('_', "").parse().map_err(|_| bad())?;
    Ok(if neg { -n } else { n })
}

/// An integer that must fit `T` (e.g. no negative `startsecs`).
pub(crate) fn parse_ranged<T: TryFrom<i64>>(text: &str, what: &str) -> Result<T, String> {
    let n = parse_int(text)?;
    T::try_from(n).map_err(|_| format!("{n} is out of range ({what})"))
}

/// `true/yes/on/1` and `false/no/off/0`, any case (Supervisor's `boolean`).
pub fn parse_bool(text: &str) -> Result<bool, String> {
    match text.to_lowercase().as_str() {
        "true" | "yes" | "on" | "1" => Ok(true),
        "false" | "no" | "off" | "0" => Ok(false),
        _ => Err(format!(
            "{text:?} is not a boolean (use true/false, yes/no, on/off or 1/0)"
        )),
    }
}

/// Byte sizes with an optional `KB`, `MB` or `GB` suffix (any case, 1024-based), as
/// Supervisor's `byte_size`. Negative sizes are refused.
pub fn parse_bytes(text: &str) -> Result<u64, String> {
    let lower = text.to_lowercase();
    let (number, mult) = if let Some(n) = lower.strip_suffix("kb") {
        (n, 1u64 << 10)
    } else if let Some(n) = lower.strip_suffix("mb") {
        (n, 1u64 << 20)
    } else if let Some(n) = lower.strip_suffix("gb") {
        (n, 1u64 << 30)
    } else {
        (lower.as_str(), 1)
    };
    let bad = || format!("{text:?} is not a byte size (e.g. 1024, 50KB, 50MB, 1GB)");
    let n = parse_int(number).map_err(|_| bad())?;
    let n = u64::try_from(n).map_err(|_| bad())?;
    n.checked_mul(mult).ok_or_else(bad)
}

/// Octal as Python's `int(text, 8)`: `022`, `0o22`, `755`.
pub fn parse_octal(text: &str) -> Result<u32, String> {
    let t = text.trim();
    let digits = t
        .strip_prefix("0o")
        .or_else(|| t.strip_prefix("0O"))
        .unwrap_or(t);
    if digits.is_empty() || !digits.chars().all(|c| ('0'..='7').contains(&c)) {
        return Err(format!("{text:?} is not an octal number (e.g. 022)"));
    }
    u32::from_str_radix(digits, 8).map_err(|_| format!("{text:?} is too large"))
}

/// Supervisor's level names, plus `warning` as an alias of `warn`.
pub fn parse_loglevel(text: &str) -> Result<LogLevel, String> {
    Ok(match text.to_lowercase().as_str() {
        "critical" => LogLevel::Critical,
        "error" => LogLevel::Error,
        "warn" | "warning" => LogLevel::Warn,
        "info" => LogLevel::Info,
        "debug" => LogLevel::Debug,
        "trace" => LogLevel::Trace,
        "blather" => LogLevel::Blather,
        _ => {
            return Err(format!(
                "{text:?} is not a log level (critical, error, warn, info, debug, trace, blather)"
            ))
        }
    })
}

pub(crate) fn parse_autorestart(text: &str) -> Result<AutoRestart, String> {
    let lower = text.to_lowercase();
    if lower == "unexpected" {
        return Ok(AutoRestart::Unexpected);
    }
    match parse_bool(&lower) {
        Ok(true) => Ok(AutoRestart::True),
        Ok(false) => Ok(AutoRestart::False),
        Err(_) => Err(format!(
            "{text:?} is not valid (use true, false or unexpected)"
        )),
    }
}

/// Comma-separated exit codes in 0..=255; empty text is an empty list.
pub(crate) fn parse_exitcodes(text: &str) -> Result<Vec<i32>, String> {
    if text.is_empty() {
        return Ok(Vec::new());
    }
    text.split(',')
        .map(|part| {
            let n = parse_int(part)
                .map_err(|_| format!("{text:?} is not a list of exit codes (e.g. 0,2)"))?;
            if (0..=255).contains(&n) {
                Ok(n as i32)
            } else {
                Err(format!("exit code {n} is not in 0..255"))
            }
        })
        .collect()
}

/// Supervisor's `list_of_strings`: split on `,`, each item trimmed; empty text is no item.
pub(crate) fn list_of_strings(text: &str) -> Vec<String> {
    if text.is_empty() {
        return Vec::new();
    }
    text.split(',').map(|s| s.trim().to_string()).collect()
}

/// `[inet_http_server] port`: `host:port`, `[ipv6]:port`, `:port`, `*:port` or `port` →
/// (host, port); the host is lowercased, an IPv6 address without its brackets, and empty for
/// all interfaces (Supervisor's `inet_address`, plus the bracketed IPv6 form of RFC 3986).
pub(crate) fn parse_inet_address(text: &str) -> Result<(String, u16), String> {
    let (host, port) = if let Some(rest) = text.strip_prefix('[') {
        let (v6, after) = rest
            .split_once(']')
            .ok_or_else(|| format!("{text:?}: `[` without a closing `]`"))?;
        if v6.parse::<std::net::Ipv6Addr>().is_err() {
            return Err(format!("{text:?}: {v6:?} is not an IPv6 address"));
        }
        let port = after
            .strip_prefix(':')
            .ok_or_else(|| format!("no port number in {text:?}"))?;
        (v6.to_lowercase(), port)
    } else {
        match text.rsplit_once(':') {
            Some((h, _)) if h.contains(':') => {
                return Err(format!(
                    "{text:?}: an IPv6 address must be written in brackets, e.g. [::1]:9001"
                ))
            }
            Some((h, p)) => (h.to_lowercase(), p),
            None => (String::new(), text),
        }
    };
    if port.trim().is_empty() {
        return Err(format!("no port number in {text:?}"));
    }
    let n = parse_int(port).map_err(|_| format!("{text:?} is not a valid port"))?;
    let port = u16::try_from(n)
        .ok()
        .filter(|p| *p >= 1)
        .ok_or_else(|| format!("port {n} is not in 1..65535"))?;
    let host = if host == "*" { String::new() } else { host };
    Ok((host, port))
}

/// A password as written; `{SHA}` + 40 hex digits is a SHA-1 digest (stored lowercase, since
/// Supervisor compares with Python's lowercase `hexdigest()`).
pub(crate) fn parse_password(text: &str) -> Result<Password, String> {
    match text.strip_prefix("{SHA}") {
        Some(hex) if hex.len() == 40 && hex.chars().all(|c| c.is_ascii_hexdigit()) => {
            Ok(Password::Sha1Hex(hex.to_ascii_lowercase().into()))
        }
        Some(_) => Err("a {SHA} password must be followed by 40 hexadecimal digits".to_string()),
        None => Ok(Password::Plain(text.into())),
    }
}

/// Group and process names: trimmed, non-empty, and free of space, `:` and `/`, which would
/// break namespecs, the event-listener protocol and web URLs.
pub(crate) fn check_name(name: &str) -> Result<String, String> {
    let s = name.trim();
    if s.is_empty() {
        return Err("the name is empty".to_string());
    }
    if let Some(c) = s.chars().find(|c| [' ', ':', '/'].contains(c)) {
        return Err(format!("invalid name {s:?}: it contains {c:?}"));
    }
    Ok(s.to_string())
}

/// `module.path:callable`, the only shape Supervisor's `import_spec` accepts.
pub(crate) fn check_import_spec(text: &str) -> Result<(), String> {
    let ok = text.split_once(':').is_some_and(|(module, attr)| {
        let ident = |s: &str| {
            !s.is_empty()
                && s.split('.').all(|p| {
                    p.chars()
                        .next()
                        .is_some_and(|c| c.is_alphabetic() || c == '_')
                        && p.chars().all(|c| c.is_alphanumeric() || c == '_')
                })
        };
        ident(module) && ident(attr)
    });
    if ok {
        Ok(())
    } else {
        Err(format!(
            "{text:?} is not of the form package.module:callable"
        ))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ints_like_python() {
        assert_eq!(parse_int(" 12 "), Ok(12));
        assert_eq!(parse_int("-3"), Ok(-3));
        assert_eq!(parse_int("+3"), Ok(3));
        assert_eq!(parse_int("1_000"), Ok(1000));
        assert_eq!(
            parse_int("abc"),
            Err("\"abc\" is not an integer".to_string())
        );
        assert!(parse_int("").is_err());
        assert!(parse_int("1.5").is_err());
        assert!(parse_ranged::<u32>("-1", "x").is_err());
    }

    #[test]
    fn booleans() {
        for t in ["true", "Yes", "ON", "1"] {
            assert_eq!(parse_bool(t), Ok(true));
        }
        for t in ["false", "No", "off", "0"] {
            assert_eq!(parse_bool(t), Ok(false));
        }
        assert!(parse_bool("maybe").is_err());
        assert!(parse_bool("").is_err());
    }

    #[test]
    fn byte_sizes_are_1024_based() {
        assert_eq!(parse_bytes("0"), Ok(0));
        assert_eq!(parse_bytes("1024"), Ok(1024));
        assert_eq!(parse_bytes("50KB"), Ok(50 * 1024));
        assert_eq!(parse_bytes("50mb"), Ok(50 * 1024 * 1024));
        assert_eq!(parse_bytes("2GB"), Ok(2 << 30));
        assert!(parse_bytes("10TB").is_err());
        assert!(parse_bytes("-1").is_err());
        assert!(parse_bytes("MB").is_err());
    }

    #[test]
    fn octals() {
        assert_eq!(parse_octal("022"), Ok(0o22));
        assert_eq!(parse_octal("0o700"), Ok(0o700));
        assert_eq!(parse_octal("777"), Ok(0o777));
        assert!(parse_octal("8").is_err());
        assert!(parse_octal("").is_err());
    }

    #[test]
    fn loglevels_autorestart_exitcodes() {
        assert_eq!(parse_loglevel("WARNING"), Ok(LogLevel::Warn));
        assert_eq!(parse_loglevel("warn"), Ok(LogLevel::Warn));
        assert_eq!(parse_loglevel("blather"), Ok(LogLevel::Blather));
        assert!(parse_loglevel("loud").is_err());
        assert_eq!(parse_autorestart("Unexpected"), Ok(AutoRestart::Unexpected));
        assert_eq!(parse_autorestart("true"), Ok(AutoRestart::True));
        assert_eq!(parse_autorestart("off"), Ok(AutoRestart::False));
        assert!(parse_autorestart("sometimes").is_err());
        assert_eq!(parse_exitcodes("0, 2"), Ok(vec![0, 2]));
        assert_eq!(parse_exitcodes(""), Ok(vec![]));
        assert!(parse_exitcodes("256").is_err());
        assert!(parse_exitcodes("0,x").is_err());
    }

    #[test]
    fn inet_port_forms() {
        assert_eq!(
            parse_inet_address("127.0.0.1:9001"),
            Ok(("127.0.0.1".into(), 9001))
        );
        assert_eq!(
            parse_inet_address("LocalHost:9001"),
            Ok(("localhost".into(), 9001))
        );
        assert_eq!(parse_inet_address(":9001"), Ok((String::new(), 9001)));
        assert_eq!(parse_inet_address("*:9001"), Ok((String::new(), 9001)));
        assert_eq!(parse_inet_address("9001"), Ok((String::new(), 9001)));
        assert_eq!(parse_inet_address("[::1]:9001"), Ok(("::1".into(), 9001)));
        assert_eq!(
            parse_inet_address("[FE80::1]:80"),
            Ok(("fe80::1".into(), 80))
        );
        for (bad, why) in [
            ("::1:9001", "brackets"),
            ("[::1]", "no port"),
            ("[::1:9001", "closing"),
            ("[host]:9001", "not an IPv6"),
        ] {
            let err = parse_inet_address(bad).unwrap_err();
            assert!(err.contains(why), "{bad}: {err}");
        }
        assert!(parse_inet_address("host:").is_err());
        assert!(parse_inet_address("host:0").is_err());
        assert!(parse_inet_address("70000").is_err());
        assert!(parse_inet_address("abc").is_err());
    }

    #[test]
    fn passwords_names_specs() {
        assert_eq!(
            parse_password("secret"),
            Ok(Password::Plain("secret".into()))
        );
        let sha = "{SHA}82AB876D1387BFAFE46CC1C8A2EF074EAE50CB1D";
        assert_eq!(
            parse_password(sha),
            Ok(Password::Sha1Hex(
                "82ab876d1387bfafe46cc1c8a2ef074eae50cb1d".into()
            ))
        );
        assert!(parse_password("{SHA}abc").is_err());
        assert_eq!(check_name(" web "), Ok("web".into()));
        assert!(check_name("a b").is_err());
        assert!(check_name("a:b").is_err());
        assert!(check_name("a/b").is_err());
        assert!(check_name("").is_err());
        assert!(check_import_spec("supervisor.dispatchers:default_handler").is_ok());
        assert!(check_import_spec("nocolon").is_err());
        assert_eq!(list_of_strings("a, b,c"), ["a", "b", "c"]);
    }
}
