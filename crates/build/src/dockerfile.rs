//! Dockerfile parsing: line continuations, comments, exec (JSON) and shell
//! forms, and `$VAR`/`${VAR}`/`${VAR:-default}`/`${VAR:+alt}` substitution.

use std::collections::BTreeMap;

use crate::error::{BuildError, Result};

/// One instruction with its (unsubstituted) arguments.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Instruction {
    pub line: usize,
    /// Upper-case keyword.
    pub keyword: String,
    /// `--name=value` flags (COPY --from, --chown).
    pub flags: BTreeMap<String, String>,
    /// The rest of the line after the flags.
    pub rest: String,
}

impl Instruction {
    /// The text Docker prints for a step (`RUN echo hi`).
    pub fn original(&self) -> String {
        let flags: String = self.flags.iter().map(|(k, v)| format!("--{k}={v} ")).collect();
        format!("{} {flags}{}", self.keyword, self.rest)
    }

    /// Exec form (`["a", "b"]`) or None for the shell form.
    pub fn json_args(&self) -> Option<Vec<String>> {
        let t = self.rest.trim();
        if t.starts_with('[') {
            serde_json::from_str::<Vec<String>>(t).ok()
        } else {
            None
        }
    }
}

pub fn parse(text: &str) -> Result<Vec<Instruction>> {
    let mut out = Vec::new();
    let mut pending = String::new();
    let mut start = 0;
    for (i, raw) in text.lines().enumerate() {
        let line = raw.trim_end();
        let trimmed = line.trim_start();
        if pending.is_empty() && (trimmed.is_empty() || trimmed.starts_with('#')) {
            continue;
        }
        if !pending.is_empty() && trimmed.starts_with('#') {
            continue; // comments inside continuations are dropped, as Docker does
        }
        if pending.is_empty() {
            start = i + 1;
        }
        match line.strip_suffix('\\') {
            Some(body) => {
                pending.push_str(body);
                pending.push(' ');
            }
            None => {
                pending.push_str(line);
                out.push(instruction(start, pending.trim())?);
                pending.clear();
            }
        }
    }
    if !pending.trim().is_empty() {
        out.push(instruction(start, pending.trim())?);
    }
    if out.is_empty() {
        return Err(BuildError::Dockerfile { line: 0, reason: "the Dockerfile has no instructions".into() });
    }
    if out[0].keyword != "FROM" && out[0].keyword != "ARG" {
        return Err(BuildError::Dockerfile { line: out[0].line, reason: "the first instruction must be FROM".into() });
    }
    Ok(out)
}

/// One instruction on its own (an ONBUILD trigger), as it would be on `line`.
pub fn parse_one(line: usize, text: &str) -> Result<Instruction> {
    instruction(line, text.trim())
}

fn instruction(line: usize, text: &str) -> Result<Instruction> {
    let (kw, mut rest) = text.split_once(char::is_whitespace).unwrap_or((text, ""));
    let keyword = kw.to_ascii_uppercase();
    const KNOWN: [&str; 18] = [
        "FROM",
        "RUN",
        "CMD",
        "ENTRYPOINT",
        "ENV",
        "ARG",
        "LABEL",
        "EXPOSE",
        "WORKDIR",
        "USER",
        "VOLUME",
        "COPY",
        "ADD",
        "STOPSIGNAL",
        "HEALTHCHECK",
        "SHELL",
        "MAINTAINER",
        "ONBUILD",
    ];
    if !KNOWN.contains(&keyword.as_str()) {
        return Err(BuildError::Dockerfile { line, reason: format!("unknown instruction: {kw}") });
    }
    let mut flags = BTreeMap::new();
    if matches!(keyword.as_str(), "COPY" | "ADD" | "FROM" | "RUN") {
        loop {
            rest = rest.trim_start();
            let Some(flag) = rest.strip_prefix("--") else { break };
            let (word, after) = flag.split_once(char::is_whitespace).unwrap_or((flag, ""));
            let (k, v) = word.split_once('=').unwrap_or((word, "true"));
            flags.insert(k.to_string(), v.to_string());
            rest = after;
        }
    }
    Ok(Instruction { line, keyword, flags, rest: rest.trim().to_string() })
}

/// Expands variables from `vars`; `\$` is a literal dollar.
pub fn substitute(s: &str, vars: &BTreeMap<String, String>) -> String {
    let chars: Vec<char> = s.chars().collect();
    let mut out = String::new();
    let mut i = 0;
    while i < chars.len() {
        match chars[i] {
            '\\' if chars.get(i + 1) == Some(&'$') => {
                out.push('$');
                i += 2;
            }
            '$' if chars.get(i + 1) == Some(&'{') => {
                let Some(end) = chars[i + 2..].iter().position(|c| *c == '}') else {
                    out.push('$');
                    i += 1;
                    continue;
                };
                let inner: String = chars[i + 2..i + 2 + end].iter().collect();
                let value =
                    match inner.split_once(":-").map(|x| (x, '-')).or_else(|| inner.split_once(":+").map(|x| (x, '+')))
                    {
                        Some(((name, word), '-')) => {
                            vars.get(name).filter(|v| !v.is_empty()).cloned().unwrap_or_else(|| word.to_string())
                        }
                        Some(((name, word), _)) => {
                            if vars.get(name).is_some_and(|v| !v.is_empty()) {
                                word.to_string()
                            } else {
                                String::new()
                            }
                        }
                        None => vars.get(&inner).cloned().unwrap_or_default(),
                    };
                out.push_str(&value);
                i += end + 3;
            }
            '$' if chars.get(i + 1).is_some_and(|c| c.is_ascii_alphabetic() || *c == '_') => {
                let len = chars[i + 1..].iter().take_while(|c| c.is_ascii_alphanumeric() || **c == '_').count();
                let name: String = chars[i + 1..i + 1 + len].iter().collect();
                out.push_str(vars.get(&name).map(String::as_str).unwrap_or(""));
                i += len + 1;
            }
            c => {
                out.push(c);
                i += 1;
            }
        }
    }
    out
}

/// `ENV`/`LABEL`/`ARG` pairs: `k=v k2="v 2"` or the legacy `k v…`.
pub fn pairs(rest: &str, legacy_space_form: bool) -> Vec<(String, String)> {
    let t = rest.trim();
    if legacy_space_form && !t.split_whitespace().next().unwrap_or("").contains('=') {
        let (k, v) = t.split_once(char::is_whitespace).unwrap_or((t, ""));
        return vec![(k.to_string(), v.trim().to_string())];
    }
    // Words split on unquoted whitespace; quotes removed.
    let mut words = Vec::new();
    let mut cur = String::new();
    let mut quote: Option<char> = None;
    let mut escaped = false;
    for c in t.chars() {
        if escaped {
            cur.push(c);
            escaped = false;
            continue;
        }
        match (c, quote) {
            ('\\', _) => escaped = true,
            ('"' | '\'', None) => quote = Some(c),
            (q, Some(open)) if q == open => quote = None,
            (w, None) if w.is_whitespace() => {
                if !cur.is_empty() {
                    words.push(std::mem::take(&mut cur));
                }
            }
            (c, _) => cur.push(c),
        }
    }
    if !cur.is_empty() {
        words.push(cur);
    }
    words
        .into_iter()
        .map(|w| match w.split_once('=') {
            Some((k, v)) => (k.to_string(), v.to_string()),
            None => (w, String::new()),
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_instructions() {
        let df = "# comment\nFROM busybox:local AS base\nRUN echo a \\\n  && echo b\n\ncopy --from=base --chown=1:1 /x /y\nCMD [\"sh\", \"-c\", \"echo hi\"]\n";
        let ins = parse(df).unwrap();
        assert_eq!(ins.len(), 4);
        assert_eq!((ins[0].keyword.as_str(), ins[0].rest.as_str()), ("FROM", "busybox:local AS base"));
        assert_eq!(ins[1].rest, "echo a    && echo b");
        assert_eq!(ins[1].line, 3);
        assert_eq!(ins[2].flags.get("from").map(String::as_str), Some("base"));
        assert_eq!(ins[2].flags.get("chown").map(String::as_str), Some("1:1"));
        assert_eq!(ins[3].json_args().unwrap(), ["sh", "-c", "echo hi"]);
        assert!(parse("").is_err());
        assert!(parse("RUN x").is_err(), "FROM first");
        assert!(parse("FROM a\nBOGUS x").is_err());
    }

    #[test]
    fn substitution_and_pairs() {
        let vars: BTreeMap<String, String> =
            [("A".to_string(), "1".to_string()), ("E".to_string(), String::new())].into_iter().collect();
        assert_eq!(substitute("$A-${A}-${B:-dflt}-${A:+set}-${E:-e}-\\$A", &vars), "1-1-dflt-set-e-$A");
        assert_eq!(
            pairs("A=1 B=\"two words\" C=x\\ y", true),
            [("A".into(), "1".into()), ("B".into(), "two words".into()), ("C".into(), "x y".into())]
        );
        assert_eq!(pairs("NAME some value", true), [("NAME".to_string(), "some value".to_string())]);
    }
}
