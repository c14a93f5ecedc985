//! The value forms Compose files write: byte sizes (`512m`, `1.5g`, a bare
//! number of bytes; binary multiples, as docker's `RAMInBytes`), durations
//! (Go's `1m30s`, `500ms`), and command lines (a string split as a POSIX
//! shell would, as compose-go does with shlex; a list taken as it is).

use crate::yaml::{Node, Value};

/// Bytes of a size: an integer, or a number with b, k, m, g, t or p
/// (optionally followed by b), case-insensitive.
pub fn bytes(n: &Node) -> Result<i64, String> {
    match &n.value {
        Value::Int(i) => Ok(*i),
        Value::Str(s) => parse_bytes(s),
        other => Err(format!("a size, not {}", Node { value: other.clone(), pos: n.pos, tag: None }.kind())),
    }
}

pub fn parse_bytes(s: &str) -> Result<i64, String> {
    let t = s.trim().to_ascii_lowercase();
    let t = t.strip_suffix('b').filter(|r| r.ends_with(['k', 'm', 'g', 't', 'p'])).unwrap_or(&t);
    let (num, mult) = match t.chars().last() {
        Some('k') => (&t[..t.len() - 1], 1i64 << 10),
        Some('m') => (&t[..t.len() - 1], 1 << 20),
        Some('g') => (&t[..t.len() - 1], 1 << 30),
        Some('t') => (&t[..t.len() - 1], 1 << 40),
        Some('p') => (&t[..t.len() - 1], 1 << 50),
        Some('b') => (&t[..t.len() - 1], 1),
        _ => (t, 1),
    };
    let v: f64 = num.trim().parse().map_err(|_| format!("{s:?} is not a size (512m, 1g, 1024)"))?;
    if v < 0.0 || !v.is_finite() {
        return Err(format!("{s:?} is not a size"));
    }
    Ok((v * mult as f64) as i64)
}

/// Nanoseconds of a Go duration (`1h2m3.5s`, `300ms`, `10us`).
pub fn duration_ns(n: &Node) -> Result<i64, String> {
    match &n.value {
        Value::Str(s) => parse_duration(s),
        Value::Int(0) => Ok(0),
        _ => Err(format!("a duration such as \"30s\", not {}", n.kind())),
    }
}

pub fn parse_duration(s: &str) -> Result<i64, String> {
    let bad = || format!("{s:?} is not a duration (30s, 1m30s, 500ms)");
    let t = s.trim();
    if t == "0" {
        return Ok(0);
    }
    let mut rest = t;
    let mut total = 0f64;
    if rest.is_empty() {
        return Err(bad());
    }
    while !rest.is_empty() {
        let digits = rest.find(|c: char| !(c.is_ascii_digit() || c == '.')).ok_or_else(bad)?;
        if digits == 0 {
            return Err(bad());
        }
        let value: f64 = rest[..digits].parse().map_err(|_| bad())?;
        rest = &rest[digits..];
        let unit_len = rest.find(|c: char| c.is_ascii_digit() || c == '.').unwrap_or(rest.len());
        let per = match &rest[..unit_len] {
            "ns" => 1.0,
            "us" | "µs" => 1e3,
            "ms" => 1e6,
            "s" => 1e9,
            "m" => 60e9,
            "h" => 3600e9,
            _ => return Err(bad()),
        };
        total += value * per;
        rest = &rest[unit_len..];
    }
    Ok(total as i64)
}

/// A command line: a list as it is, a string split as a shell would.
pub fn command(n: &Node) -> Result<Vec<String>, String> {
    match &n.value {
        Value::Str(s) => shlex::split(s).ok_or_else(|| format!("{s:?}: unbalanced quotes")),
        Value::Seq(items) => items
            .iter()
            .map(|i| match &i.value {
                Value::Str(s) => Ok(s.clone()),
                Value::Int(x) => Ok(x.to_string()),
                Value::Float(x) => Ok(x.to_string()),
                Value::Bool(b) => Ok(b.to_string()),
                _ => Err(format!("a command's words are strings, not {}", i.kind())),
            })
            .collect(),
        Value::Null => Ok(Vec::new()),
        _ => Err(format!("a command is a string or a list, not {}", n.kind())),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sizes() {
        let cases = [
            ("1024", 1024),
            ("512m", 512 << 20),
            ("512M", 512 << 20),
            ("1g", 1 << 30),
            ("1gb", 1 << 30),
            ("1.5g", 3 << 29),
            ("100k", 102_400),
            ("10b", 10),
            ("2t", 2 << 40),
        ];
        for (s, want) in cases {
            assert_eq!(parse_bytes(s), Ok(want), "{s}");
        }
        for bad in ["", "m", "-1m", "12x", "1.2.3g"] {
            assert!(parse_bytes(bad).is_err(), "{bad}");
        }
    }

    #[test]
    fn durations() {
        let cases = [
            ("30s", 30_000_000_000),
            ("1m30s", 90_000_000_000),
            ("500ms", 500_000_000),
            ("1h", 3_600_000_000_000),
            ("1.5s", 1_500_000_000),
            ("10us", 10_000),
            ("0", 0),
            ("2m0s", 120_000_000_000),
        ];
        for (s, want) in cases {
            assert_eq!(parse_duration(s), Ok(want), "{s}");
        }
        for bad in ["", "s", "10", "10x", "1m30"] {
            assert!(parse_duration(bad).is_err(), "{bad}");
        }
    }

    #[test]
    fn commands() {
        let node = |t: &str| crate::yaml::parse(&format!("c: {t}")).unwrap().get("c").unwrap().clone();
        assert_eq!(command(&node("echo hi")).unwrap(), ["echo", "hi"]);
        assert_eq!(command(&node("'sh -c \"echo $$HOME && ls\"'")).unwrap(), ["sh", "-c", "echo $$HOME && ls"]);
        assert_eq!(command(&node("[sh, -c, 'a b']")).unwrap(), ["sh", "-c", "a b"]);
        assert_eq!(command(&node("[sleep, 10]")).unwrap(), ["sleep", "10"]);
        assert!(command(&node("'echo \"open'")).is_err());
    }
}
