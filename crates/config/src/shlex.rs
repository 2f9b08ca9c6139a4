//! The two tokenizers Supervisor borrows from Python's `shlex`. Pure.
//!
//! * [`split_command`]: `shlex.split(command)` (POSIX mode, no comments): how `command=` becomes
//!   an argv, with no shell involved.
//! * [`env_pairs`]: Supervisor's `dict_of_key_value_pairs`, a *non*-POSIX `shlex` lexer over
//!   `KEY=val,KEY2="v,2"`. Its quirks are Supervisor's and are kept: quotes stay in the token
//!   and are stripped from the value's ends only; `#` starts a comment; characters other than
//!   letters, digits and `_/.+-():` are one-character tokens, so `A=x@y` is an error unless quoted.

/// Splits a command line with POSIX shell quoting rules, like Python's `shlex.split(cmd)`:
/// whitespace separates words, `'…'` is literal, `"…"` allows `\"` and `\\`, a backslash outside
/// quotes escapes the next character. Errors on an unclosed quote or a trailing backslash.
pub fn split_command(cmd: &str) -> Result<Vec<String>, String> {
    #[derive(Clone, Copy, PartialEq)]
    enum St {
        Between,
        Word,
        Quote(char),
        Escape(Option<char>),
    }
    let mut words = Vec::new();
    let mut token = String::new();
    let mut quoted = false;
    let mut st = St::Between;
    for c in cmd.chars() {
        match st {
            St::Between | St::Word => {
                if is_shlex_space(c) {
                    if st == St::Word || quoted {
                        words.push(std::mem::take(&mut token));
                        quoted = false;
                    }
                    st = St::Between;
                } else if c == '\'' || c == '"' {
                    quoted = true;
                    st = St::Quote(c);
                } else if c == '\\' {
                    st = St::Escape(None);
                } else {
                    token.push(c);
                    st = St::Word;
                }
            }
            St::Quote(q) => {
                if c == q {
                    st = St::Word;
                } else if q == '"' && c == '\\' {
                    st = St::Escape(Some('"'));
                } else {
                    token.push(c);
                }
            }
            St::Escape(inside) => {
                // Inside double quotes a backslash only escapes `"` and `\`.
                if inside.is_some() && c != '"' && c != '\\' {
                    token.push('\\');
                }
                token.push(c);
                st = match inside {
                    Some(q) => St::Quote(q),
                    None => St::Word,
                };
            }
        }
    }
    match st {
        St::Quote(_) => Err("no closing quotation".to_string()),
        St::Escape(_) => Err("no escaped character after a trailing backslash".to_string()),
        St::Word => {
            words.push(token);
            Ok(words)
        }
        St::Between => {
            if quoted {
                words.push(token);
            }
            Ok(words)
        }
    }
}

fn is_shlex_space(c: char) -> bool {
    matches!(c, ' ' | '\t' | '\r' | '\n')
}

fn is_env_wordchar(c: char) -> bool {
    c.is_ascii_alphanumeric() || "_/.+-():".contains(c)
}

/// Tokens of Python's non-POSIX `shlex.shlex(s)` with `wordchars += '/.+-():'`.
fn env_tokens(s: &str) -> Result<Vec<String>, String> {
    #[derive(Clone, Copy, PartialEq)]
    enum St {
        Between,
        Word,
        Quote(char),
    }
    let mut tokens = Vec::new();
    let mut token = String::new();
    let mut st = St::Between;
    let mut chars = s.chars().peekable();
    while let Some(c) = chars.next() {
        match st {
            St::Between => {
                if is_shlex_space(c) {
                    continue;
                } else if c == '#' {
                    skip_line(&mut chars);
                } else if is_env_wordchar(c) {
                    token.push(c);
                    st = St::Word;
                } else if c == '\'' || c == '"' {
                    token.push(c);
                    st = St::Quote(c);
                } else {
                    tokens.push(c.to_string());
                }
            }
            St::Word => {
                if is_shlex_space(c) {
                    tokens.push(std::mem::take(&mut token));
                    st = St::Between;
                } else if c == '#' {
                    // Non-POSIX shlex drops the rest of the line but stays inside the word.
                    skip_line(&mut chars);
                } else if is_env_wordchar(c) || c == '\'' || c == '"' {
                    token.push(c);
                } else {
                    tokens.push(std::mem::take(&mut token));
                    tokens.push(c.to_string());
                    st = St::Between;
                }
            }
            St::Quote(q) => {
                token.push(c);
                if c == q {
                    tokens.push(std::mem::take(&mut token));
                    st = St::Between;
                }
            }
        }
    }
    match st {
        St::Quote(_) => Err("no closing quotation".to_string()),
        St::Word => {
            tokens.push(token);
            Ok(tokens)
        }
        St::Between => Ok(tokens),
    }
}

fn skip_line(chars: &mut std::iter::Peekable<std::str::Chars<'_>>) {
    for c in chars.by_ref() {
        if c == '\n' {
            break;
        }
    }
}

/// Parses `KEY=val,KEY2="v,2"` as Supervisor's `dict_of_key_value_pairs`. Pairs keep their
/// first-seen order; a repeated key takes the later value (a Python dict).
pub(crate) fn env_pairs(s: &str) -> Result<Vec<(String, String)>, String> {
    let tokens = env_tokens(s)?;
    let mut pairs: Vec<(String, String)> = Vec::new();
    let mut i = 0;
    while i < tokens.len() {
        let chunk = &tokens[i..tokens.len().min(i + 3)];
        if chunk.len() != 3 || chunk[1] != "=" {
            return Err(format!(
                "unexpected end of key/value pairs in {s:?} (expected KEY=\"value\",KEY2=\"value2\"; quote values holding characters other than letters, digits and _/.+-():)"
            ));
        }
        let key = chunk[0].clone();
        let value = chunk[2].trim_matches(['\'', '"']).to_string();
        match pairs.iter_mut().find(|(k, _)| *k == key) {
            Some(pair) => pair.1 = value,
            None => pairs.push((key, value)),
        }
        // The separator (normally `,`) is skipped without being looked at, as Supervisor does.
        i += 4;
    }
    Ok(pairs)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn split(s: &str) -> Vec<String> {
        split_command(s).unwrap()
    }

    #[test]
    fn split_command_follows_posix_shlex() {
        assert_eq!(split("/bin/cat"), ["/bin/cat"]);
        assert_eq!(split("  a   b\tc\n"), ["a", "b", "c"]);
        assert_eq!(
            split(r#"sh -c 'echo "hi there"; exit 3'"#),
            ["sh", "-c", r#"echo "hi there"; exit 3"#]
        );
        assert_eq!(split(r#"a "b \" \\ \n" c"#), ["a", r#"b " \ \n"#, "c"]);
        assert_eq!(split(r"a\ b \x"), ["a b", "x"]);
        assert_eq!(split("a '' \"\""), ["a", "", ""]);
        assert_eq!(split("x'y'\"z\" #notcomment"), ["xyz", "#notcomment"]);
        assert_eq!(split(""), Vec::<String>::new());
        assert!(split_command("a 'b").is_err());
        assert!(split_command("a \"b").is_err());
        assert!(split_command("a b\\").is_err());
    }

    #[test]
    fn env_pairs_with_quotes_and_commas() {
        assert_eq!(
            env_pairs(r#"KEY="val",K2=v2,PATH="/a:/b",C='x,y',E="""#).unwrap(),
            vec![
                ("KEY".to_string(), "val".to_string()),
                ("K2".to_string(), "v2".to_string()),
                ("PATH".to_string(), "/a:/b".to_string()),
                ("C".to_string(), "x,y".to_string()),
                ("E".to_string(), String::new()),
            ]
        );
        assert_eq!(env_pairs("A=1,\nB=2").unwrap().len(), 2);
        assert_eq!(
            env_pairs("A=1,A=2").unwrap(),
            vec![("A".to_string(), "2".to_string())]
        );
        assert_eq!(env_pairs("").unwrap(), vec![]);
        assert_eq!(
            env_pairs("U=http://h:9001/x").unwrap()[0].1,
            "http://h:9001/x"
        );
    }

    #[test]
    fn env_pairs_errors_like_supervisor() {
        assert!(env_pairs("A=").is_err());
        assert!(env_pairs("A=x@y").is_err());
        assert!(env_pairs("A=1,B").is_err());
        // Supervisor skips the token after each pair without looking at it.
        assert_eq!(env_pairs("A=1 B").unwrap().len(), 1);
        assert!(env_pairs("A=\"open").is_err());
        assert_eq!(env_pairs("A=\"x@y\"").unwrap()[0].1, "x@y");
    }
}
