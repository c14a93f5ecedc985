//! Query strings and paths.

use std::collections::HashMap;

/// Query decoding: `+` is a space.
pub fn decode(s: &str) -> String {
    wharf_common::percent::decode_query(s)
}

/// Path decoding: `+` stays itself.
pub fn decode_path(s: &str) -> String {
    wharf_common::percent::decode_path(s)
}

/// Docker's `since`/`until` values: Unix seconds with optional fraction
/// (`1700000000.5`), RFC 3339, or a Go duration before now (`10m`).
pub fn timestamp(s: &str) -> Option<std::time::SystemTime> {
    wharf_common::time::docker_time(s, std::time::SystemTime::now())
}

/// Parsed query: the last value wins, as Go's `Get` does; `all` gives every value.
pub struct Query(HashMap<String, String>, Vec<(String, String)>);

impl Query {
    pub fn parse(q: Option<&str>) -> Query {
        let mut m = HashMap::new();
        let mut all = Vec::new();
        for pair in q.unwrap_or("").split('&').filter(|p| !p.is_empty()) {
            let (k, v) = pair.split_once('=').unwrap_or((pair, ""));
            m.insert(decode(k), decode(v));
            all.push((decode(k), decode(v)));
        }
        Query(m, all)
    }

    pub fn get(&self, k: &str) -> Option<&str> {
        self.0.get(k).map(String::as_str)
    }

    /// A terminal dimension (`h`, `w`); absent is 0, garbage is a 400.
    pub fn dimension(&self, k: &str) -> Result<u16, crate::error::ApiError> {
        self.get(k)
            .unwrap_or("0")
            .parse::<u16>()
            .map_err(|_| crate::error::ApiError::bad_request(format!("invalid {k}: {:?}", self.get(k).unwrap_or(""))))
    }

    /// Every pair, in order.
    pub fn pairs(&self) -> &[(String, String)] {
        &self.1
    }

    /// Every value of a repeated key (`changes=…&changes=…`), in order.
    pub fn all(&self, k: &str) -> Vec<String> {
        self.1.iter().filter(|(key, _)| key == k).map(|(_, v)| v.clone()).collect()
    }

    /// Docker's `filters` parameter: `{"key": ["v1", "v2"]}` or the older
    /// `{"key": {"v1": true}}`. Malformed JSON is a 400.
    pub fn filters(&self) -> Result<std::collections::BTreeMap<String, Vec<String>>, crate::error::ApiError> {
        let mut out = std::collections::BTreeMap::new();
        let Some(raw) = self.get("filters").filter(|f| !f.is_empty()) else { return Ok(out) };
        let bad = || crate::error::ApiError::bad_request(format!("Invalid filter: {raw}"));
        let v: serde_json::Value = serde_json::from_str(raw).map_err(|_| bad())?;
        for (k, vals) in v.as_object().ok_or_else(bad)? {
            let list: Vec<String> = match vals {
                serde_json::Value::Array(a) => a.iter().filter_map(|x| x.as_str().map(str::to_string)).collect(),
                serde_json::Value::Object(o) => o.keys().cloned().collect(),
                _ => return Err(bad()),
            };
            out.insert(k.clone(), list);
        }
        Ok(out)
    }

    /// Docker's booleans: `1`, `true`, `True`.
    pub fn flag(&self, k: &str) -> bool {
        matches!(self.get(k), Some("1") | Some("true") | Some("True") | Some("yes"))
    }
}

/// Strips `/v1.41` and returns the rest of the path.
/// The `1.41` of `/v1.41/...`, if the path carries a version.
pub fn path_version(path: &str) -> Option<&str> {
    let rest = path.strip_prefix("/v")?;
    let v = &rest[..rest.find('/')?];
    (!v.is_empty() && v.chars().all(|c| c.is_ascii_digit() || c == '.')).then_some(v)
}

/// Docker's check of a request's API version against `[min, max]`: `None` if
/// supported, else the message of the 400.
pub fn version_error(version: &str, min: &str, max: &str) -> Option<String> {
    let parse = |v: &str| -> Vec<u64> { v.split('.').map(|p| p.parse().unwrap_or(0)).collect() };
    if parse(version) > parse(max) {
        return Some(format!("client version {version} is too new. Maximum supported API version is {max}"));
    }
    if parse(version) < parse(min) {
        return Some(format!(
            "client version {version} is too old. Minimum supported API version is {min}, please upgrade your client to a newer version"
        ));
    }
    None
}

pub fn strip_version(path: &str) -> &str {
    if let Some(rest) = path.strip_prefix("/v") {
        if let Some(i) = rest.find('/') {
            if rest[..i].chars().all(|c| c.is_ascii_digit() || c == '.') {
                return &rest[i..];
            }
        }
    }
    path
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn api_versions() {
        assert_eq!(path_version("/v1.41/info"), Some("1.41"));
        assert_eq!(path_version("/info"), None);
        assert_eq!(version_error("1.41", "1.24", "1.41"), None);
        assert_eq!(version_error("1.24", "1.24", "1.41"), None);
        assert!(version_error("1.42", "1.24", "1.41").unwrap().contains("too new"));
        assert!(version_error("1.9", "1.24", "1.41").unwrap().contains("too old"));
        assert!(version_error("2.0", "1.24", "1.41").is_some());
    }

    #[test]
    fn timestamps() {
        let t = |s| timestamp(s).map(|t| t.duration_since(std::time::UNIX_EPOCH).unwrap().as_nanos());
        assert_eq!(t("10"), Some(10_000_000_000));
        assert_eq!(t("10.5"), Some(10_500_000_000));
        assert_eq!(t("1970-01-01T00:00:10Z"), Some(10_000_000_000));
        assert_eq!(t("10.x"), None);
        assert_eq!(t("soon"), None);
    }

    #[test]
    fn parses() {
        let q = Query::parse(Some("fromImage=localhost%3A5000%2Fx&tag=1&all=1&f=a+b"));
        assert_eq!(q.get("fromImage"), Some("localhost:5000/x"));
        assert!(q.flag("all"));
        assert_eq!(q.get("f"), Some("a b"));
        assert_eq!(strip_version("/v1.41/containers/json"), "/containers/json");
        assert_eq!(strip_version("/_ping"), "/_ping");
        assert_eq!(decode("%zz"), "%zz");
    }
}
