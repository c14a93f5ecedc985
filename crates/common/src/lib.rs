//! The small things every layer needs once: the confined resolver for
//! untrusted trees, RFC 3339 time stamps, random ids, Docker's name rule and
//! percent-encoding. It sits below every other
//! crate and depends on none of them.

#![forbid(unsafe_code)]

pub mod confined;

pub mod time {
    use std::time::{SystemTime, UNIX_EPOCH};

    /// RFC 3339, UTC, nanoseconds (Docker's timestamps).
    pub fn rfc3339(t: SystemTime) -> String {
        humantime::format_rfc3339_nanos(t).to_string()
    }

    /// Now, as [`rfc3339`].
    pub fn now() -> String {
        rfc3339(SystemTime::now())
    }

    /// Parses RFC 3339 with or without fractional seconds, `Z` or a numeric offset.
    pub fn parse_rfc3339(s: &str) -> Option<SystemTime> {
        let s = s.trim();
        if let Ok(t) = humantime::parse_rfc3339_weak(s) {
            return Some(t);
        }
        // A numeric offset (`+02:00`): humantime only takes UTC.
        let (date_time, sign, off) = match s.rfind(['+', '-']) {
            Some(i) if i > 10 => (&s[..i], if &s[i..i + 1] == "-" { -1i64 } else { 1 }, &s[i + 1..]),
            _ => return None,
        };
        let (h, m) = off.split_once(':')?;
        let secs = h.parse::<i64>().ok()? * 3600 + m.parse::<i64>().ok()? * 60;
        let t = humantime::parse_rfc3339_weak(date_time).ok()?;
        let d = std::time::Duration::from_secs(secs.unsigned_abs());
        // Local time = UTC + offset, so UTC = local - offset.
        if sign * secs >= 0 {
            t.checked_sub(d)
        } else {
            t.checked_add(d)
        }
    }

    /// A Go duration (`1h30m`, `1.5s`, `300ms`, `-2m`), in nanoseconds, as
    /// Go's `time.ParseDuration` reads it; `None` for anything else.
    pub fn go_duration_nanos(s: &str) -> Option<i128> {
        let (neg, mut rest) = match s.as_bytes().first() {
            Some(b'-') => (true, &s[1..]),
            Some(b'+') => (false, &s[1..]),
            _ => (false, s),
        };
        if rest == "0" {
            return Some(0);
        }
        if rest.is_empty() {
            return None;
        }
        let mut total: f64 = 0.0;
        while !rest.is_empty() {
            let num_end = rest.find(|c: char| !(c.is_ascii_digit() || c == '.')).unwrap_or(rest.len());
            let (num, tail) = rest.split_at(num_end);
            if num.is_empty() || num == "." {
                return None;
            }
            let n: f64 = num.parse().ok()?;
            let unit_end = tail.find(|c: char| c.is_ascii_digit() || c == '.').unwrap_or(tail.len());
            let (unit, tail) = tail.split_at(unit_end);
            let mult = match unit {
                "ns" => 1.0,
                "us" | "µs" | "μs" => 1e3,
                "ms" => 1e6,
                "s" => 1e9,
                "m" => 60e9,
                "h" => 3600e9,
                _ => return None,
            };
            total += n * mult;
            rest = tail;
        }
        let n = total.round() as i128;
        Some(if neg { -n } else { n })
    }

    /// Docker's `timetypes.GetTimestamp`: a Unix time (`1700000000.5`), an
    /// RFC 3339 time, or a Go duration meaning that long before `now`.
    pub fn docker_time(s: &str, now: SystemTime) -> Option<SystemTime> {
        if let Some(n) = go_duration_nanos(s).filter(|_| s.bytes().any(|b| b.is_ascii_alphabetic())) {
            let d = std::time::Duration::from_nanos(n.unsigned_abs() as u64);
            return if n >= 0 { now.checked_sub(d) } else { now.checked_add(d) };
        }
        if let Some((secs, frac)) =
            s.split_once('.').or(Some((s, ""))).filter(|(a, _)| !a.is_empty() && a.bytes().all(|b| b.is_ascii_digit()))
        {
            let secs: u64 = secs.parse().ok()?;
            if frac.len() > 9 || !frac.bytes().all(|b| b.is_ascii_digit()) {
                return None;
            }
            let nanos = if frac.is_empty() { 0 } else { format!("{frac:0<9}").parse::<u32>().ok()? };
            return Some(UNIX_EPOCH + std::time::Duration::new(secs, nanos));
        }
        parse_rfc3339(s)
    }

    /// Docker's `units.HumanDuration` ("Less than a second", "About a minute", "3 hours", …).
    pub fn human_duration(d: std::time::Duration) -> String {
        let secs = d.as_secs();
        let hours = ((d.as_secs_f64() / 3600.0) + 0.5) as u64;
        match secs {
            0 => "Less than a second".into(),
            1 => "1 second".into(),
            2..=59 => format!("{secs} seconds"),
            60..=119 => "About a minute".into(),
            120..=3599 => format!("{} minutes", secs / 60),
            _ if hours == 1 => "About an hour".into(),
            _ if hours < 48 => format!("{hours} hours"),
            _ if hours < 24 * 7 * 2 => format!("{} days", hours / 24),
            _ if hours < 24 * 30 * 2 => format!("{} weeks", hours / 24 / 7),
            _ if hours < 24 * 365 * 2 => format!("{} months", hours / 24 / 30),
            _ => format!("{} years", secs / 3600 / 24 / 365),
        }
    }

    /// How long ago an RFC 3339 time was, as Docker prints it ("3 minutes ago"); `N/A` if unparsable.
    pub fn ago(s: Option<&str>) -> String {
        match s.and_then(parse_rfc3339) {
            Some(t) => format!("{} ago", human_duration(SystemTime::now().duration_since(t).unwrap_or_default())),
            None => "N/A".into(),
        }
    }

    /// Unix seconds of an RFC 3339 time (0 if absent or unparsable), as the Docker API reports times.
    pub fn unix_secs(s: Option<&str>) -> i64 {
        s.and_then(parse_rfc3339)
            .and_then(|t| t.duration_since(UNIX_EPOCH).ok())
            .map(|d| d.as_secs() as i64)
            .unwrap_or(0)
    }
}

pub mod ids {
    /// A fresh 64-hex-digit id (containers, networks, execs), from the OS's randomness.
    pub fn new_id() -> String {
        let mut bytes = [0u8; 32];
        // The kernel's getrandom does not fail once the pool is initialised;
        // if it ever does, there is no sound way to go on making ids.
        getrandom::fill(&mut bytes).expect("getrandom");
        bytes.iter().map(|b| format!("{b:02x}")).collect()
    }
}

pub mod io {
    /// Reads until `buf` is full or the input ends; how many bytes were read
    /// (less than `buf.len()` only at the end of the input).
    pub fn read_full(r: &mut (impl std::io::Read + ?Sized), buf: &mut [u8]) -> std::io::Result<usize> {
        let mut n = 0;
        while n < buf.len() {
            match r.read(&mut buf[n..]) {
                Ok(0) => break,
                Ok(k) => n += k,
                Err(e) if e.kind() == std::io::ErrorKind::Interrupted => {}
                Err(e) => return Err(e),
            }
        }
        Ok(n)
    }
}

pub mod names {
    /// Docker's rule for container, network and volume names:
    /// `[a-zA-Z0-9][a-zA-Z0-9_.-]*`, at least `min` characters.
    pub fn valid(n: &str, min: usize) -> bool {
        let b = n.as_bytes();
        b.len() >= min.max(1)
            && b[0].is_ascii_alphanumeric()
            && b.iter().all(|c| c.is_ascii_alphanumeric() || matches!(c, b'_' | b'.' | b'-'))
    }
}

pub mod percent {
    use percent_encoding::{percent_decode_str, utf8_percent_encode, AsciiSet, NON_ALPHANUMERIC};

    /// Everything but RFC 3986's unreserved characters.
    const COMPONENT: &AsciiSet = &NON_ALPHANUMERIC.remove(b'-').remove(b'_').remove(b'.').remove(b'~');

    /// Encodes a query value or path segment.
    pub fn encode(s: &str) -> String {
        utf8_percent_encode(s, COMPONENT).to_string()
    }

    /// Decodes a query value (`+` is a space).
    pub fn decode_query(s: &str) -> String {
        percent_decode_str(&s.replace('+', " ")).decode_utf8_lossy().into_owned()
    }

    /// Decodes a path (`+` stays itself).
    pub fn decode_path(s: &str) -> String {
        percent_decode_str(s).decode_utf8_lossy().into_owned()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn time_round_trips_and_offsets() {
        let t = time::parse_rfc3339("2024-01-02T03:04:05.123456789Z").unwrap();
        assert_eq!(time::rfc3339(t), "2024-01-02T03:04:05.123456789Z");
        assert_eq!(time::unix_secs(Some("1970-01-01T00:01:00Z")), 60);
        assert_eq!(time::unix_secs(Some("1970-01-01T01:01:00+01:00")), 60);
        assert_eq!(time::unix_secs(Some("1970-01-01T00:00:00-00:01")), 60);
        assert_eq!(time::unix_secs(Some("garbage")), 0);
        assert_eq!(time::unix_secs(None), 0);
    }

    #[test]
    fn go_durations_and_docker_times() {
        let d = time::go_duration_nanos;
        assert_eq!(d("1h30m"), Some(5_400_000_000_000));
        assert_eq!(d("1.5s"), Some(1_500_000_000));
        assert_eq!(d("300ms"), Some(300_000_000));
        assert_eq!(d("-2m"), Some(-120_000_000_000));
        assert_eq!(d("0"), Some(0));
        for bad in ["", "5", "1x", "h", "1h 2m", "."] {
            assert_eq!(d(bad), None, "{bad}");
        }
        let now = std::time::UNIX_EPOCH + std::time::Duration::from_secs(10_000);
        let secs =
            |s: &str| time::docker_time(s, now).map(|t| t.duration_since(std::time::UNIX_EPOCH).unwrap().as_secs_f64());
        assert_eq!(secs("10m"), Some(9_400.0));
        assert_eq!(secs("1700000000.5"), Some(1_700_000_000.5));
        assert_eq!(secs("1970-01-01T00:01:00Z"), Some(60.0));
        assert_eq!(secs("soon"), None);
    }

    #[test]
    fn human_durations_are_dockers() {
        let h = |s| time::human_duration(std::time::Duration::from_secs(s));
        assert_eq!(h(0), "Less than a second");
        assert_eq!(h(1), "1 second");
        assert_eq!(h(59), "59 seconds");
        assert_eq!(h(60), "About a minute");
        assert_eq!(h(150), "2 minutes");
        assert_eq!(h(3600), "About an hour");
        assert_eq!(h(5 * 3600), "5 hours");
        assert_eq!(h(3 * 86400), "3 days");
        assert_eq!(h(20 * 86400), "2 weeks");
        assert_eq!(h(90 * 86400), "3 months");
        assert_eq!(h(800 * 86400), "2 years");
        assert_eq!(time::ago(None), "N/A");
    }

    #[test]
    fn ids_are_random_hex() {
        let (a, b) = (ids::new_id(), ids::new_id());
        assert_eq!(a.len(), 64);
        assert!(a.bytes().all(|c| c.is_ascii_hexdigit()));
        assert_ne!(a, b);
    }

    #[test]
    fn names() {
        assert!(names::valid("web-1.a_b", 1));
        assert!(!names::valid("a", 2));
        for bad in ["", "-x", ".x", "a/b", "a b", "é"] {
            assert!(!names::valid(bad, 1), "{bad}");
        }
    }

    #[test]
    fn percent_round_trips() {
        assert_eq!(percent::encode("a b/{\"x\"}"), "a%20b%2F%7B%22x%22%7D");
        assert_eq!(percent::decode_query("a+b%2Fc"), "a b/c");
        assert_eq!(percent::decode_path("a+b%2Fc"), "a+b/c");
        assert_eq!(percent::decode_query("%zz"), "%zz");
    }
}
