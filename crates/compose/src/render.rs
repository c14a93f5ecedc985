//! A model written out (`wharf compose config`): YAML through yaml-rust2's
//! emitter, or JSON.

use yaml_rust2::yaml::{Hash, Yaml};
use yaml_rust2::YamlEmitter;

use crate::yaml::{Node, Value};

fn to_yaml_value(node: &Node) -> Yaml {
    match &node.value {
        Value::Null => Yaml::Null,
        Value::Bool(b) => Yaml::Boolean(*b),
        Value::Int(i) => Yaml::Integer(*i),
        Value::Float(f) => Yaml::Real(f.to_string()),
        Value::Str(s) => Yaml::String(s.clone()),
        Value::Seq(items) => Yaml::Array(items.iter().map(to_yaml_value).collect()),
        Value::Map(entries) => {
            let mut h = Hash::new();
            for (k, v) in entries {
                h.insert(Yaml::String(k.name.clone()), to_yaml_value(v));
            }
            Yaml::Hash(h)
        }
    }
}

/// The node as a YAML document (without the `---` line Compose does not print).
pub fn yaml(node: &Node) -> String {
    let mut out = String::new();
    let mut e = YamlEmitter::new(&mut out);
    e.multiline_strings(true);
    // Writing into a String does not fail.
    let _ = e.dump(&to_yaml_value(node));
    let body = out.strip_prefix("---\n").unwrap_or(&out).to_string();
    body + "\n"
}

/// The node as indented JSON.
pub fn json(node: &Node) -> String {
    serde_json::to_string_pretty(&node.to_json()).expect("a JSON value serialises") + "\n"
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::yaml::parse;

    #[test]
    fn written_yaml_reads_back_the_same() {
        let text = "name: p\nservices:\n  web:\n    image: \"busybox:1.36\"\n    command: [sh, -c, \"echo 'hi' && exit 0\"]\n    environment: {A: \"1\", B: \"yes\", C: null}\n    ports: [\"8080:80\"]\n    healthcheck: {retries: 3, interval: 1.5}\n    x-note: \"line one\\nline two\\n\"\n";
        let node = parse(text).unwrap();
        let written = yaml(&node);
        assert_eq!(parse(&written).unwrap().to_json(), node.to_json(), "{written}");
        assert!(written.starts_with("name: p\n"), "{written}");
        assert_eq!(serde_json::from_str::<serde_json::Value>(&json(&node)).unwrap(), node.to_json());
    }
}
