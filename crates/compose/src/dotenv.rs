//! `.env` files (the project's, `--env-file`, a service's `env_file`), as
//! Compose reads them: `NAME=value` lines (an `export ` before the name is
//! allowed), `#` comment lines and blank lines; an unquoted value is
//! trimmed, ends at ` #` (a comment) and is interpolated; a double-quoted
//! one may span lines, knows `\n`, `\t`, `\r`, `\\`, `\"` and `\$`, and is
//! interpolated; a single-quoted one is literal. A bare `NAME` takes the
//! value `lookup` has for it (the shell's), or is left out. Interpolation
//! sees the names the file defined above the line, then `lookup`.

use std::path::Path;

use crate::error::{ComposeError, Result};
use crate::interpolate::interpolate;

/// The variables of `text` in file order (a name set twice keeps the later value).
pub fn parse(file: &Path, text: &str, lookup: &dyn Fn(&str) -> Option<String>) -> Result<Vec<(String, String)>> {
    let mut vars: Vec<(String, String)> = Vec::new();
    let bad = |line: usize, message: String| ComposeError::EnvFile { file: file.to_path_buf(), line, message };
    let chars: Vec<char> = text.chars().collect();
    let mut i = 0;
    let mut line = 1;
    while i < chars.len() {
        let start_line = line;
        // One logical line: up to its newline, or past a quoted value's closing quote.
        let mut j = i;
        while j < chars.len() && chars[j] != '\n' && chars[j] != '=' {
            j += 1;
        }
        let head: String = chars[i..j].iter().collect();
        let trimmed = head.trim();
        if j >= chars.len() || chars[j] == '\n' {
            // No `=`: blank, a comment, or a bare name.
            if !trimmed.is_empty() && !trimmed.starts_with('#') {
                let name = trimmed.strip_prefix("export ").map(str::trim).unwrap_or(trimmed);
                check_name(name).map_err(|m| bad(start_line, m))?;
                if let Some(v) = lookup(name) {
                    set(&mut vars, name, v);
                }
            }
            i = j + 1;
            line += 1;
            continue;
        }
        if trimmed.starts_with('#') {
            // A comment line that holds a `=`.
            while j < chars.len() && chars[j] != '\n' {
                j += 1;
            }
            i = j + 1;
            line += 1;
            continue;
        }
        let name = trimmed.strip_prefix("export ").map(str::trim).unwrap_or(trimmed);
        check_name(name).map_err(|m| bad(start_line, m))?;
        let name = name.to_string();
        // The value.
        let mut k = j + 1;
        while k < chars.len() && (chars[k] == ' ' || chars[k] == '\t') {
            k += 1;
        }
        let known = |vars: &Vec<(String, String)>, n: &str| {
            vars.iter().rev().find(|(k, _)| k == n).map(|(_, v)| v.clone()).or_else(|| lookup(n))
        };
        let interpolated = |raw: &str, vars: &Vec<(String, String)>| {
            interpolate(raw, &|n| known(vars, n)).map(|r| r.value).map_err(|e| bad(start_line, e.to_string()))
        };
        let value = match chars.get(k) {
            Some(&q @ ('"' | '\'')) => {
                let mut raw = String::new();
                let mut m = k + 1;
                loop {
                    match chars.get(m) {
                        None => return Err(bad(start_line, format!("the {q} quote of {name} is not closed"))),
                        Some(&c) if c == q => break,
                        Some('\\') if q == '"' => {
                            match chars.get(m + 1) {
                                Some('n') => raw.push('\n'),
                                Some('t') => raw.push('\t'),
                                Some('r') => raw.push('\r'),
                                Some('"') => raw.push('"'),
                                Some('\\') => raw.push('\\'),
                                // `\$` stays a literal dollar through interpolation.
                                Some('$') => raw.push_str("$$"),
                                Some(&other) => {
                                    raw.push('\\');
                                    raw.push(other);
                                }
                                None => raw.push('\\'),
                            }
                            m += 2;
                            continue;
                        }
                        Some(&c) => {
                            if c == '\n' {
                                line += 1;
                            }
                            raw.push(c);
                        }
                    }
                    m += 1;
                }
                // After the closing quote: spaces and an optional comment only.
                let mut n = m + 1;
                while n < chars.len() && chars[n] != '\n' {
                    n += 1;
                }
                let tail: String = chars[m + 1..n].iter().collect();
                let tail = tail.trim();
                if !tail.is_empty() && !tail.starts_with('#') {
                    return Err(bad(line, format!("unexpected {tail:?} after the quoted value of {name}")));
                }
                k = n;
                if q == '"' {
                    interpolated(&raw, &vars)?
                } else {
                    raw
                }
            }
            _ => {
                let mut n = k;
                while n < chars.len() && chars[n] != '\n' {
                    n += 1;
                }
                let mut raw: String = chars[k..n].iter().collect();
                if let Some(c) = raw.find(" #").or_else(|| raw.find("\t#")) {
                    raw.truncate(c);
                }
                k = n;
                interpolated(raw.trim(), &vars)?
            }
        };
        set(&mut vars, &name, value);
        i = k + 1;
        line += 1;
    }
    Ok(vars)
}

fn set(vars: &mut Vec<(String, String)>, name: &str, value: String) {
    match vars.iter_mut().find(|(k, _)| k == name) {
        Some(slot) => slot.1 = value,
        None => vars.push((name.to_string(), value)),
    }
}

fn check_name(name: &str) -> std::result::Result<(), String> {
    let ok = !name.is_empty() && !name.chars().any(|c| c.is_whitespace() || c == '=' || c == '"' || c == '\'');
    if ok {
        Ok(())
    } else {
        Err(format!("{name:?} is not a variable name"))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn shell(name: &str) -> Option<String> {
        match name {
            "HOME" => Some("/home/me".into()),
            "FROM_SHELL" => Some("shell".into()),
            _ => None,
        }
    }

    fn vars(text: &str) -> Vec<(String, String)> {
        parse(Path::new(".env"), text, &shell).unwrap_or_else(|e| panic!("{text}: {e}"))
    }

    fn one(text: &str) -> String {
        let v = vars(text);
        assert_eq!(v.len(), 1, "{text}: {v:?}");
        v[0].1.clone()
    }

    #[test]
    fn values_as_compose_reads_them() {
        let cases = [
            ("A=plain", "plain"),
            ("A = spaced  ", "spaced"),
            ("export A=exported", "exported"),
            ("A=", ""),
            ("A=with # comment", "with"),
            ("A=not#comment", "not#comment"),
            ("A=\"double # kept\" # comment", "double # kept"),
            ("A='single # kept'", "single # kept"),
            ("A=\"esc\\n\\t\\\"q\\\"\\\\\"", "esc\n\t\"q\"\\"),
            ("A='no\\nescape'", "no\\nescape"),
            ("A=\"multi\nline\"", "multi\nline"),
            ("A='multi\nline'", "multi\nline"),
            ("A=$HOME/x", "/home/me/x"),
            ("A=\"${HOME}\"", "/home/me"),
            ("A='${HOME}'", "${HOME}"),
            ("A=\"\\$HOME\"", "$HOME"),
            ("A=${UNSET:-dflt}", "dflt"),
            ("A=a=b=c", "a=b=c"),
            ("A=ünï", "ünï"),
        ];
        for (text, want) in cases {
            assert_eq!(one(text), want, "{text}");
        }
    }

    #[test]
    fn lines_comments_bare_names_and_order() {
        let text = "# a comment = with equals\n\nA=1\nB=${A}2\nFROM_SHELL\nNOT_IN_SHELL\nA=3\nC=\"x\ny\"\nD=$A\n";
        let want = [("A", "3"), ("B", "12"), ("FROM_SHELL", "shell"), ("C", "x\ny"), ("D", "3")];
        let got = vars(text);
        let got: Vec<(&str, &str)> = got.iter().map(|(k, v)| (k.as_str(), v.as_str())).collect();
        assert_eq!(got, want);
    }

    #[test]
    fn errors_name_the_line() {
        let cases = [
            ("A=1\nB=\"open\n\n", 2),
            ("A=1\n\nB C=2\n", 3),
            ("A=1\nB=\"x\" trailing\n", 2),
            ("A=1\nB=${NEED:?set NEED}\n", 2),
            ("A=\"a\nb\"\nC=${\n", 3),
        ];
        for (text, line) in cases {
            match parse(Path::new(".env"), text, &shell) {
                Err(ComposeError::EnvFile { line: l, .. }) => assert_eq!(l, line, "{text}"),
                other => panic!("{text}: {other:?}"),
            }
        }
    }
}
