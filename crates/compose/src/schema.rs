//! Each file checked against the Compose Specification's JSON schema
//! (`schema/compose-spec.json`, the specification's own, embedded), as
//! compose-go does before merging: an unknown key, a wrong type or a bad
//! value is an error naming the file, the line and the path of the value
//! (`services.web.ports[0]`). `x-` extensions are the schema's to allow.

use std::path::Path;
use std::sync::OnceLock;

use jsonschema::error::ValidationErrorKind;
use jsonschema::ValidationError;

use crate::error::{ComposeError, Result};
use crate::yaml::{Node, Value};

const SCHEMA: &str = include_str!("../schema/compose-spec.json");

fn validator() -> &'static jsonschema::Validator {
    static V: OnceLock<jsonschema::Validator> = OnceLock::new();
    V.get_or_init(|| {
        let schema: serde_json::Value = serde_json::from_str(SCHEMA).expect("the embedded schema is JSON");
        jsonschema::options()
            .with_draft(jsonschema::Draft::Draft7)
            .build(&schema)
            .expect("the embedded schema compiles")
    })
}

/// The first of `root`'s departures from the schema (errors come in
/// document order of their values).
pub fn validate(file: &Path, root: &Node) -> Result<()> {
    // An empty file (a comment only, say) is an empty mapping.
    if root.value == Value::Null {
        return Ok(());
    }
    // What `!reset` removes is not checked (`build: !reset null` is a valid override).
    let mut checked = root.clone();
    crate::merge::strip_tags(&mut checked);
    let json = checked.to_json();
    let mut first: Option<(usize, String, String)> = None;
    for e in validator().iter_errors(&json) {
        let e = deepest(&e);
        let segments: Vec<String> = e.instance_path().iter().map(|s| s.to_string()).collect();
        let (node, mut line, path) = locate(root, &segments);
        // An unknown key: its own line.
        if let ValidationErrorKind::AdditionalProperties { unexpected } = e.kind() {
            if let (Value::Map(entries), Some(name)) = (&node.value, unexpected.first()) {
                if let Some((k, _)) = entries.iter().find(|(k, _)| &k.name == name) {
                    line = k.pos.line;
                }
            }
        }
        let message = e.to_string();
        if first.as_ref().is_none_or(|(l, _, _)| line < *l) {
            first = Some((line, path, message));
        }
    }
    match first {
        None => Ok(()),
        Some((line, path, message)) => Err(ComposeError::Schema {
            file: file.to_path_buf(),
            line,
            path: if path.is_empty() { "(top level)".into() } else { path },
            message,
        }),
    }
}

/// For "none of the alternatives" (`oneOf`, `anyOf`), the alternatives'
/// error that went deepest into the value: the one that says what is wrong
/// (`depends_on.db.condition`'s value, not "depends_on matches nothing").
fn deepest<'a, 'e>(e: &'a ValidationError<'e>) -> &'a ValidationError<'e> {
    let context = match e.kind() {
        ValidationErrorKind::AnyOf { context } | ValidationErrorKind::OneOfNotValid { context } => context,
        _ => return e,
    };
    let depth = |x: &ValidationError| x.instance_path().iter().count();
    let mut best: &ValidationError = e;
    for sub in context.iter().flatten() {
        let sub = deepest(sub);
        if depth(sub) > depth(best) {
            best = sub;
        }
    }
    best
}

/// The node a JSON pointer's segments reach (as far as they go), the line
/// it is written on (its key's, for a mapping's value), and its path as
/// Compose writes it.
fn locate<'a>(root: &'a Node, segments: &[String]) -> (&'a Node, usize, String) {
    let mut node = root;
    let mut line = root.pos.line;
    let mut path = String::new();
    for seg in segments {
        let next = match &node.value {
            Value::Map(entries) => entries.iter().find(|(k, _)| &k.name == seg).map(|(k, v)| {
                if !path.is_empty() {
                    path.push('.');
                }
                path.push_str(seg);
                (v, k.pos.line)
            }),
            Value::Seq(items) => seg.parse::<usize>().ok().and_then(|i| items.get(i)).map(|v| {
                path.push_str(&format!("[{seg}]"));
                (v, v.pos.line)
            }),
            _ => None,
        };
        match next {
            Some((n, l)) => (node, line) = (n, l),
            None => break,
        }
    }
    (node, line, path)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::yaml::parse;

    fn check(text: &str) -> Result<()> {
        validate(Path::new("compose.yaml"), &parse(text).unwrap())
    }

    #[test]
    fn valid_files_pass() {
        let ok = [
            "services:\n  web:\n    image: busybox\n    ports: ['8080:80', {target: 81, published: '8081'}]\n    environment: {A: '1'}\n    x-mine: anything\n",
            "name: proj\nservices: {}\nnetworks: {front: {driver: bridge}}\nvolumes: {data: {}}\nx-common: {a: 1}\n",
            "services:\n  db:\n    image: x\n    healthcheck: {test: [CMD, 'true'], interval: 1s}\n    depends_on: {a: {condition: service_healthy}}\n    deploy: {replicas: 3, resources: {limits: {memory: 64m}}}\n",
            "",
            "services:\n  web:\n    build: !reset null\n    ports: !reset []\n",
        ];
        for text in ok {
            assert!(check(text).is_ok(), "{text}: {:?}", check(text));
        }
    }

    #[test]
    fn departures_name_the_line_and_the_path() {
        // (file, line, path, a word the message holds)
        let cases = [
            ("services:\n  web:\n    image: busybox\n    imagee: typo\n", 4, "services.web", "imagee"),
            ("services:\n  web:\n    image: busybox\n    ports: 80\n", 4, "services.web.ports", "array"),
            (
                "services:\n  web:\n    image: busybox\n    ports:\n      - {target: 80}\n      - [1]\n",
                6,
                "services.web.ports[1]",
                "",
            ),
            ("servics:\n  web: {}\n", 1, "(top level)", "servics"),
            ("services:\n  web:\n    restart: 7\n", 3, "services.web.restart", "string"),
            (
                "services:\n  web:\n    depends_on: {db: {condition: whenever}}\n",
                3,
                "services.web.depends_on.db.condition",
                "whenever",
            ),
        ];
        for (text, line, path, word) in cases {
            match check(text) {
                Err(ComposeError::Schema { line: l, path: p, message, .. }) => {
                    assert_eq!((l, p.as_str()), (line, path), "{text}: {message}");
                    assert!(message.contains(word), "{text}: {message}");
                }
                other => panic!("{text}: {other:?}"),
            }
        }
    }
}
