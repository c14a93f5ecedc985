//! The filters of the prune endpoints (containers, images, networks,
//! volumes): `until` (a time or a Go duration before now), `label`
//! (`key` or `key=value`, all must match) and `label!` (none may); any
//! other key is refused, as Docker refuses it.

use std::collections::BTreeMap;
use std::time::SystemTime;

use wharf_engine::events::label_matches;

use crate::error::ApiError;
use crate::query::Query;

/// A filter that takes one boolean (`dangling`, `all`): absent, true or false.
pub fn bool_filter(filters: &BTreeMap<String, Vec<String>>, key: &str) -> Result<Option<bool>, ApiError> {
    match filters.get(key).map(|v| v.as_slice()) {
        None => Ok(None),
        Some([v]) if matches!(v.as_str(), "true" | "1") => Ok(Some(true)),
        Some([v]) if matches!(v.as_str(), "false" | "0") => Ok(Some(false)),
        Some(v) => Err(ApiError::bad_request(format!("Invalid filter '{key}=[{}]'", v.join(",")))),
    }
}

#[derive(Debug, Default)]
pub struct PruneFilter {
    until: Option<SystemTime>,
    labels: Vec<String>,
    not_labels: Vec<String>,
    /// The other keys the endpoint takes (`dangling` for images), as sent.
    pub extra: BTreeMap<String, Vec<String>>,
}

impl PruneFilter {
    /// Parses `filters`; `until` is taken where `with_until`, and the keys in `extra`.
    pub fn parse(q: &Query, with_until: bool, extra: &[&str]) -> Result<PruneFilter, ApiError> {
        let mut f = PruneFilter::default();
        for (k, vals) in q.filters()? {
            match k.as_str() {
                "until" if with_until => {
                    let [v] = vals.as_slice() else {
                        return Err(ApiError::bad_request("more than one until filter specified"));
                    };
                    let t = crate::query::timestamp(v)
                        .ok_or_else(|| ApiError::bad_request(format!("invalid until filter {v:?}")))?;
                    f.until = Some(t);
                }
                "label" => f.labels = vals,
                "label!" => f.not_labels = vals,
                k if extra.contains(&k) => {
                    f.extra.insert(k.to_string(), vals);
                }
                k => return Err(ApiError::bad_request(format!("Invalid filter '{k}'"))),
            }
        }
        Ok(f)
    }

    /// True if an object with these labels, created then (RFC 3339), is pruned.
    pub fn selects(&self, labels: &BTreeMap<String, String>, created: Option<&str>) -> bool {
        let old_enough = match (self.until, created.and_then(wharf_common::time::parse_rfc3339)) {
            (Some(until), Some(t)) => t < until,
            (Some(_), None) => false,
            (None, _) => true,
        };
        old_enough
            && self.labels.iter().all(|l| label_matches(labels, l))
            && !self.not_labels.iter().any(|l| label_matches(labels, l))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn q(filters: &str) -> Query {
        Query::parse(Some(&format!("filters={}", wharf_common::percent::encode(filters))))
    }

    #[test]
    fn filters_select_and_refuse() {
        let labels: BTreeMap<String, String> = [("a".to_string(), "1".to_string())].into();
        let f = PruneFilter::parse(&q(r#"{"label":["a=1"],"until":["1h"]}"#), true, &[]).unwrap();
        assert!(f.selects(&labels, Some("2000-01-01T00:00:00Z")));
        assert!(!f.selects(&labels, Some(&wharf_common::time::now())), "too new");
        assert!(!f.selects(&BTreeMap::new(), Some("2000-01-01T00:00:00Z")), "label missing");
        let not = PruneFilter::parse(&q(r#"{"label!":["a"]}"#), true, &[]).unwrap();
        assert!(!not.selects(&labels, None) && not.selects(&BTreeMap::new(), None));
        assert!(PruneFilter::parse(&q(r#"{"until":["1h"]}"#), false, &[]).is_err(), "volumes take no until");
        assert!(PruneFilter::parse(&q(r#"{"until":["soon"]}"#), true, &[]).is_err());
        assert!(PruneFilter::parse(&q(r#"{"dangling":["true"]}"#), true, &[]).is_err());
        let img = PruneFilter::parse(&q(r#"{"dangling":["false"]}"#), true, &["dangling"]).unwrap();
        assert_eq!(img.extra["dangling"], ["false"]);
    }
}
