//! Variable interpolation, as the Compose Specification defines it:
//! `$VAR` and `${VAR}`, `${VAR:-default}` (unset or empty), `${VAR-default}`
//! (unset), `${VAR:?error}`/`${VAR?error}` (required), `${VAR:+alt}`/
//! `${VAR+alt}` (alternative), nested in the default, alternative and error
//! text (`${A:-${B:-x}}`), and `$$` for a literal `$`. A `$` that starts no
//! variable (`$1`, `$ `, a trailing `$`) is kept as written; a `${` that is
//! not a well-formed expression is an error. The words after an operator
//! are interpolated only when they are used.

use crate::error::InterpolationError;

/// What a template came to, and the variables it used that were not set
/// and had no default (Compose warns of them and substitutes "").
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct Interpolated {
    pub value: String,
    pub unset: Vec<String>,
}

/// Interpolates `template`, looking variables up with `lookup`.
pub fn interpolate(
    template: &str,
    lookup: &dyn Fn(&str) -> Option<String>,
) -> Result<Interpolated, InterpolationError> {
    let mut out = Interpolated::default();
    expand(template, lookup, &mut out, 0)?;
    Ok(out)
}

/// Nesting of `${A:-${B:-…}}` a template may have (each level recurses).
const MAX_NESTING: usize = 32;

fn invalid(template: &str) -> InterpolationError {
    InterpolationError::Invalid { template: template.to_string() }
}

fn name_start(c: u8) -> bool {
    c == b'_' || c.is_ascii_alphabetic()
}

fn name_char(c: u8) -> bool {
    c == b'_' || c.is_ascii_alphanumeric()
}

/// Appends the expansion of `s` to `out.value`.
fn expand(
    s: &str,
    lookup: &dyn Fn(&str) -> Option<String>,
    out: &mut Interpolated,
    depth: usize,
) -> Result<(), InterpolationError> {
    if depth > MAX_NESTING {
        return Err(invalid(s));
    }
    let b = s.as_bytes();
    let mut i = 0;
    // Bytes up to `i` not yet copied start at `plain` (copied in runs: the
    // template is UTF-8 and `$`, `{`, `}` are ASCII).
    let mut plain = 0;
    while i < b.len() {
        if b[i] != b'$' {
            i += 1;
            continue;
        }
        out.value.push_str(&s[plain..i]);
        match b.get(i + 1) {
            Some(b'$') => {
                out.value.push('$');
                i += 2;
            }
            Some(b'{') => {
                let end = closing(b, i + 2).ok_or_else(|| invalid(s))?;
                braced(&s[i + 2..end], s, lookup, out, depth)?;
                i = end + 1;
            }
            Some(&c) if name_start(c) => {
                let mut j = i + 1;
                while j < b.len() && name_char(b[j]) {
                    j += 1;
                }
                substitute(&s[i + 1..j], lookup, out);
                i = j;
            }
            // Not a variable: the `$` stays.
            _ => {
                out.value.push('$');
                i += 1;
            }
        }
        plain = i;
    }
    out.value.push_str(&s[plain..]);
    Ok(())
}

/// The index of the `}` that closes an expression whose body starts at
/// `from`: nested `${` open further levels, `$$` is a literal.
fn closing(b: &[u8], from: usize) -> Option<usize> {
    let mut depth = 0usize;
    let mut i = from;
    while i < b.len() {
        match (b[i], b.get(i + 1)) {
            (b'$', Some(b'$')) => i += 2,
            (b'$', Some(b'{')) => {
                depth += 1;
                i += 2;
            }
            (b'}', _) if depth == 0 => return Some(i),
            (b'}', _) => {
                depth -= 1;
                i += 1;
            }
            _ => i += 1,
        }
    }
    None
}

fn substitute(name: &str, lookup: &dyn Fn(&str) -> Option<String>, out: &mut Interpolated) {
    match lookup(name) {
        Some(v) => out.value.push_str(&v),
        None => {
            if !out.unset.iter().any(|n| n == name) {
                out.unset.push(name.to_string());
            }
        }
    }
}

/// `body` is what is between `${` and its `}`; `whole` the template (for errors).
fn braced(
    body: &str,
    whole: &str,
    lookup: &dyn Fn(&str) -> Option<String>,
    out: &mut Interpolated,
    depth: usize,
) -> Result<(), InterpolationError> {
    let b = body.as_bytes();
    if b.is_empty() || !name_start(b[0]) {
        return Err(invalid(whole));
    }
    let mut n = 1;
    while n < b.len() && name_char(b[n]) {
        n += 1;
    }
    let name = &body[..n];
    let rest = &body[n..];
    if rest.is_empty() {
        substitute(name, lookup, out);
        return Ok(());
    }
    let (colon, op, word) = match rest.as_bytes() {
        [b':', op @ (b'-' | b'?' | b'+'), ..] => (true, *op, &rest[2..]),
        [op @ (b'-' | b'?' | b'+'), ..] => (false, *op, &rest[1..]),
        _ => return Err(invalid(whole)),
    };
    let value = lookup(name);
    // With a colon an empty value counts as unset.
    let present = value.as_deref().is_some_and(|v| !colon || !v.is_empty());
    match op {
        b'-' if present => out.value.push_str(value.as_deref().unwrap_or_default()),
        b'-' => expand(word, lookup, out, depth + 1)?,
        b'?' if present => out.value.push_str(value.as_deref().unwrap_or_default()),
        b'?' => {
            let mut message = Interpolated::default();
            expand(word, lookup, &mut message, depth + 1)?;
            return Err(InterpolationError::Required { name: name.to_string(), message: message.value });
        }
        _ if present => expand(word, lookup, out, depth + 1)?,
        _ => {}
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn env(name: &str) -> Option<String> {
        match name {
            "FOO" => Some("foo".into()),
            "EMPTY" => Some(String::new()),
            "UNI" => Some("ünï".into()),
            "DOLLAR" => Some("$FOO".into()),
            _ => None,
        }
    }

    fn run(t: &str) -> Result<Interpolated, InterpolationError> {
        interpolate(t, &env)
    }

    #[test]
    fn the_specification_forms() {
        // (template, result): every form of the spec's Interpolation section,
        // with set, empty and unset variables.
        let cases = [
            ("plain text", "plain text"),
            ("$FOO", "foo"),
            ("${FOO}", "foo"),
            ("a${FOO}b", "afoob"),
            ("$FOO-bar", "foo-bar"),
            ("$FOO.bar", "foo.bar"),
            ("$FOObar", ""),
            ("${FOO}bar", "foobar"),
            ("${FOO:-x}", "foo"),
            ("${EMPTY:-x}", "x"),
            ("${UNSET:-x}", "x"),
            ("${FOO-x}", "foo"),
            ("${EMPTY-x}", ""),
            ("${UNSET-x}", "x"),
            ("${FOO:+alt}", "alt"),
            ("${EMPTY:+alt}", ""),
            ("${UNSET:+alt}", ""),
            ("${FOO+alt}", "alt"),
            ("${EMPTY+alt}", "alt"),
            ("${UNSET+alt}", ""),
            ("${FOO:?err}", "foo"),
            ("${EMPTY?err}", ""),
            ("${UNSET:-}", ""),
            ("${UNSET:-a b c}", "a b c"),
            ("${UNSET:-http://x:80/}", "http://x:80/"),
            // Nesting, and the words used only when needed.
            ("${UNSET:-${FOO}}", "foo"),
            ("${UNSET:-${ALSO:-deep}}", "deep"),
            ("${FOO:-${UNSET:?never evaluated}}", "foo"),
            ("${FOO:+[${FOO}]}", "[foo]"),
            ("${UNSET-$FOO}", "foo"),
            // Literal dollars.
            ("$$", "$"),
            ("$$FOO", "$FOO"),
            ("$${FOO}", "${FOO}"),
            ("${UNSET:-$$}", "$"),
            ("cost: 5$", "cost: 5$"),
            ("$1 and $ and $-", "$1 and $ and $-"),
            // Values are not interpolated again.
            ("${DOLLAR}", "$FOO"),
            ("${UNI}·$UNI", "ünï·ünï"),
            ("ünï ${FOO} ünï", "ünï foo ünï"),
        ];
        for (template, want) in cases {
            assert_eq!(run(template).map(|i| i.value), Ok(want.to_string()), "{template}");
        }
    }

    #[test]
    fn unset_variables_without_a_default_are_reported_once() {
        let r = run("$A ${A} ${B} ${C:-x} $FOO").unwrap();
        assert_eq!(r.value, "   x foo");
        assert_eq!(r.unset, ["A", "B"]);
    }

    #[test]
    fn required_variables_name_themselves_and_their_message() {
        let cases = [
            ("${UNSET:?please set it}", "UNSET", "please set it"),
            ("${EMPTY:?empty is not enough}", "EMPTY", "empty is not enough"),
            ("${UNSET?}", "UNSET", ""),
            ("${UNSET:?need $FOO}", "UNSET", "need foo"),
            ("x ${UNSET:-${INNER:?inner}} y", "INNER", "inner"),
        ];
        for (template, name, message) in cases {
            assert_eq!(
                run(template),
                Err(InterpolationError::Required { name: name.into(), message: message.into() }),
                "{template}"
            );
        }
    }

    #[test]
    fn nesting_is_bounded() {
        let deep = format!("{}x{}", "${UNSET:-".repeat(10_000), "}".repeat(10_000));
        assert!(matches!(run(&deep), Err(InterpolationError::Invalid { .. })));
        let fine = format!("{}x{}", "${UNSET:-".repeat(20), "}".repeat(20));
        assert_eq!(run(&fine).unwrap().value, "x");
    }

    #[test]
    fn malformed_expressions_are_errors() {
        for template in
            ["${", "${FOO", "${}", "${ FOO}", "${1A}", "${FOO/a/b}", "${FOO:x}", "${FOO:}", "a ${UNSET:-${B}"]
        {
            assert_eq!(run(template), Err(InterpolationError::Invalid { template: template.into() }), "{template}");
        }
    }
}
