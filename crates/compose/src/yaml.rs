//! YAML into nodes that keep where they were written (line and column), so
//! that every later error can name `file:line`. Anchors and aliases are
//! resolved and merge keys (`<<`, one map or a list of maps) applied, as
//! compose-go's loader does; untagged plain scalars resolve by YAML 1.2's
//! core schema (as yaml.v3: `yes` is a string; and as yaml.v3, `0755` is
//! octal); a key written twice in a map is an error. A file's documents
//! are all returned (`parse_documents`); `parse` wants exactly one.

use std::collections::HashMap;

use yaml_rust2::parser::{Event, MarkedEventReceiver, Parser, Tag};
use yaml_rust2::scanner::{Marker, TScalarStyle};

/// Where a node was written (1-based), and in which file (an id of
/// [`crate::origin::file_path`]; 0: not from a file).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct Pos {
    pub line: usize,
    pub col: usize,
    pub file: u32,
}

impl Pos {
    /// `file:line` for messages (`line N` when the file is unknown).
    pub fn at(&self) -> String {
        match crate::origin::file_path(self.file) {
            Some(f) => format!("{}:{}", f.display(), self.line),
            None => format!("line {}", self.line),
        }
    }
}

#[derive(Debug, Clone, PartialEq)]
pub enum Value {
    Null,
    Bool(bool),
    Int(i64),
    Float(f64),
    Str(String),
    Seq(Vec<Node>),
    Map(Vec<(Key, Node)>),
}

#[derive(Debug, Clone, PartialEq)]
pub struct Node {
    pub value: Value,
    pub pos: Pos,
    /// A local tag (`!reset`, `!override`: Compose's merge directives).
    pub tag: Option<String>,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Key {
    pub name: String,
    pub pos: Pos,
}

/// What a document could not be read for.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct YamlError {
    pub pos: Pos,
    pub message: String,
}

impl Node {
    pub fn get(&self, key: &str) -> Option<&Node> {
        match &self.value {
            Value::Map(entries) => entries.iter().find(|(k, _)| k.name == key).map(|(_, v)| v),
            _ => None,
        }
    }

    /// A mapping's entries by key name (none for anything else).
    pub fn entries(&self) -> impl Iterator<Item = (&str, &Node)> {
        let e: &[(Key, Node)] = match &self.value {
            Value::Map(e) => e,
            _ => &[],
        };
        e.iter().map(|(k, v)| (k.name.as_str(), v))
    }

    /// A sequence's strings, or a lone string as one (other items skipped).
    pub fn strings(&self) -> Vec<String> {
        match &self.value {
            Value::Str(s) => vec![s.clone()],
            Value::Seq(items) => items.iter().filter_map(|i| i.as_str().map(str::to_string)).collect(),
            _ => Vec::new(),
        }
    }

    /// A scalar as text (`8080`, `true`, `1.5`, a string); None for the rest.
    pub fn scalar_text(&self) -> Option<String> {
        match &self.value {
            Value::Str(s) => Some(s.clone()),
            Value::Int(i) => Some(i.to_string()),
            Value::Float(f) => Some(f.to_string()),
            Value::Bool(b) => Some(b.to_string()),
            _ => None,
        }
    }

    pub fn as_str(&self) -> Option<&str> {
        match &self.value {
            Value::Str(s) => Some(s),
            _ => None,
        }
    }

    /// The node as JSON (positions and tags dropped; a float that is not
    /// finite becomes null, as JSON has no such number).
    pub fn to_json(&self) -> serde_json::Value {
        use serde_json::Value as J;
        match &self.value {
            Value::Null => J::Null,
            Value::Bool(b) => J::Bool(*b),
            Value::Int(i) => J::from(*i),
            Value::Float(f) => serde_json::Number::from_f64(*f).map_or(J::Null, J::Number),
            Value::Str(s) => J::String(s.clone()),
            Value::Seq(items) => J::Array(items.iter().map(Node::to_json).collect()),
            Value::Map(entries) => J::Object(entries.iter().map(|(k, v)| (k.name.clone(), v.to_json())).collect()),
        }
    }

    /// The YAML type's name, for errors ("a string", "a mapping").
    pub fn kind(&self) -> &'static str {
        match self.value {
            Value::Null => "null",
            Value::Bool(_) => "a boolean",
            Value::Int(_) => "an integer",
            Value::Float(_) => "a number",
            Value::Str(_) => "a string",
            Value::Seq(_) => "a sequence",
            Value::Map(_) => "a mapping",
        }
    }
}

/// Parses one document (an empty file is a null node).
pub fn parse(text: &str) -> Result<Node, YamlError> {
    parse_file(text, 0)
}

/// Parses one document of the file `file` (its id: every node's position
/// names it); a second document is an error.
pub fn parse_file(text: &str, file: u32) -> Result<Node, YamlError> {
    let mut docs = parse_documents(text, file)?;
    if docs.len() > 1 {
        return Err(YamlError {
            pos: docs[1].pos,
            message: "one YAML document was expected, this is a second one".into(),
        });
    }
    Ok(docs.pop().expect("at least one"))
}

/// Every document of the file `file`, in order (an empty file is one null node).
pub fn parse_documents(text: &str, file: u32) -> Result<Vec<Node>, YamlError> {
    let mut b = Builder { file, ..Builder::default() };
    let mut parser = Parser::new_from_str(text);
    // Event by event (yaml-rust2's own `load` recurses once per nesting
    // level, which a hostile file turns into a stack overflow), stopping
    // at the first error.
    loop {
        let (ev, mark) = parser
            .next_token()
            .map_err(|e| YamlError { pos: pos(*e.marker(), file), message: e.info().to_string() })?;
        let end = ev == Event::StreamEnd;
        b.on_event(ev, mark);
        if end || b.error.is_some() {
            break;
        }
    }
    if let Some(e) = b.error {
        return Err(e);
    }
    if b.docs.is_empty() {
        b.docs.push(Node { value: Value::Null, pos: Pos { line: 1, col: 1, file }, tag: None });
    }
    Ok(b.docs)
}

/// yaml-rust2's columns count from 0, its lines from 1.
fn pos(m: Marker, file: u32) -> Pos {
    Pos { line: m.line(), col: m.col() + 1, file }
}

enum Frame {
    Seq { items: Vec<Node>, pos: Pos, anchor: usize, tag: Option<String> },
    Map { entries: Vec<(Key, Node)>, key: Option<Key>, pos: Pos, anchor: usize, tag: Option<String> },
}

/// Deeper than any real file: a hostile one would exhaust the stack of
/// the recursive steps after parsing (yaml.v3 stops at 10000).
const MAX_DEPTH: usize = 512;
/// Nodes a document may hold once its aliases are expanded (a "billion
/// laughs" file holds few nodes and expands to very many).
const MAX_NODES: usize = 1_000_000;

#[derive(Default)]
struct Builder {
    file: u32,
    stack: Vec<Frame>,
    /// An anchored node, and how many nodes it holds.
    anchors: HashMap<usize, (Node, usize)>,
    /// Nodes made so far, aliases counted at their expanded size.
    nodes: usize,
    docs: Vec<Node>,
    error: Option<YamlError>,
}

fn local_tag(tag: &Option<Tag>) -> Option<String> {
    tag.as_ref().filter(|t| t.handle == "!").map(|t| format!("!{}", t.suffix))
}

/// A scalar's value: by its tag, else by the core schema if plain.
fn scalar(text: String, style: TScalarStyle, tag: &Option<Tag>) -> Result<Value, String> {
    let core = tag.as_ref().filter(|t| t.handle == "tag:yaml.org,2002:" || t.handle == "!!").map(|t| t.suffix.as_str());
    match core {
        Some("str") => return Ok(Value::Str(text)),
        Some("null") => return Ok(Value::Null),
        Some(kind @ ("int" | "bool" | "float")) => {
            return match resolve(&text) {
                v @ Value::Int(_) if kind == "int" => Ok(v),
                Value::Int(i) if kind == "float" => Ok(Value::Float(i as f64)),
                v @ Value::Float(_) if kind == "float" => Ok(v),
                v @ Value::Bool(_) if kind == "bool" => Ok(v),
                _ => Err(format!("{text:?} is not a valid !!{kind}")),
            }
        }
        Some(other) => return Err(format!("unsupported tag !!{other}")),
        None => {}
    }
    Ok(if style == TScalarStyle::Plain { resolve(&text) } else { Value::Str(text) })
}

/// The nodes a tree holds (itself included).
fn count(n: &Node) -> usize {
    1 + match &n.value {
        Value::Seq(items) => items.iter().map(count).sum(),
        Value::Map(entries) => entries.iter().map(|(_, v)| count(v)).sum(),
        _ => 0,
    }
}

/// YAML 1.2 core schema for a plain scalar.
fn resolve(s: &str) -> Value {
    match s {
        "" | "~" | "null" | "Null" | "NULL" => return Value::Null,
        "true" | "True" | "TRUE" => return Value::Bool(true),
        "false" | "False" | "FALSE" => return Value::Bool(false),
        ".inf" | ".Inf" | ".INF" | "+.inf" | "+.Inf" | "+.INF" => return Value::Float(f64::INFINITY),
        "-.inf" | "-.Inf" | "-.INF" => return Value::Float(f64::NEG_INFINITY),
        ".nan" | ".NaN" | ".NAN" => return Value::Float(f64::NAN),
        _ => {}
    }
    let digits = |t: &str, radix: u32| !t.is_empty() && t.chars().all(|c| c.is_digit(radix));
    if let Some(h) = s.strip_prefix("0x").filter(|h| digits(h, 16)) {
        if let Ok(i) = i64::from_str_radix(h, 16) {
            return Value::Int(i);
        }
    }
    if let Some(o) = s.strip_prefix("0o").filter(|o| digits(o, 8)) {
        if let Ok(i) = i64::from_str_radix(o, 8) {
            return Value::Int(i);
        }
    }
    // `0755`: octal, as compose-go's YAML reads it (YAML 1.1's form; file modes are written so).
    if let Some(o) = s.strip_prefix('0').filter(|o| digits(o, 8)) {
        if let Ok(i) = i64::from_str_radix(o, 8) {
            return Value::Int(i);
        }
    }
    let unsigned = s.strip_prefix(['-', '+']).unwrap_or(s);
    if digits(unsigned, 10) {
        if let Ok(i) = s.parse::<i64>() {
            return Value::Int(i);
        }
    }
    // [-+]?(\.[0-9]+|[0-9]+(\.[0-9]*)?)([eE][-+]?[0-9]+)?
    let (mantissa, exp) = match unsigned.find(['e', 'E']) {
        Some(i) => (&unsigned[..i], Some(&unsigned[i + 1..])),
        None => (unsigned, None),
    };
    let mantissa_ok = match mantissa.split_once('.') {
        Some((a, b)) => {
            (digits(a, 10) || a.is_empty()) && (digits(b, 10) || b.is_empty()) && !(a.is_empty() && b.is_empty())
        }
        None => digits(mantissa, 10),
    };
    let exp_ok = exp.is_none_or(|e| digits(e.strip_prefix(['-', '+']).unwrap_or(e), 10));
    let is_float = mantissa_ok && exp_ok && (mantissa.contains('.') || exp.is_some());
    if is_float {
        if let Ok(f) = s.parse::<f64>() {
            return Value::Float(f);
        }
    }
    Value::Str(s.to_string())
}

impl Builder {
    fn fail(&mut self, pos: Pos, message: String) {
        if self.error.is_none() {
            self.error = Some(YamlError { pos, message });
        }
    }

    /// A finished node goes into its parent (or is a document).
    fn push(&mut self, node: Node, anchor: usize) {
        if anchor != 0 {
            let size = count(&node);
            self.anchors.insert(anchor, (node.clone(), size));
        }
        match self.stack.last_mut() {
            None => self.docs.push(node),
            Some(Frame::Seq { items, .. }) => items.push(node),
            Some(Frame::Map { entries, key, .. }) => match key.take() {
                Some(k) => entries.push((k, node)),
                None => {
                    let name = match &node.value {
                        Value::Str(s) => s.clone(),
                        Value::Int(i) => i.to_string(),
                        Value::Float(f) => f.to_string(),
                        Value::Bool(b) => b.to_string(),
                        Value::Null => "null".into(),
                        Value::Seq(_) | Value::Map(_) => {
                            let p = node.pos;
                            self.fail(p, "a mapping key must be a scalar".into());
                            return;
                        }
                    };
                    *key = Some(Key { name, pos: node.pos });
                }
            },
        }
    }

    fn end_map(&mut self, entries: Vec<(Key, Node)>, pos: Pos, anchor: usize, tag: Option<String>) {
        let mut explicit: Vec<(Key, Node)> = Vec::with_capacity(entries.len());
        let mut seen: HashMap<String, Pos> = HashMap::with_capacity(entries.len());
        let mut merged: Vec<Node> = Vec::new();
        for (k, v) in entries {
            if k.name == "<<" {
                match v.value {
                    Value::Map(_) => merged.push(v),
                    Value::Seq(items) => {
                        for item in items {
                            if !matches!(item.value, Value::Map(_)) {
                                return self.fail(item.pos, "a merge key (<<) takes mappings only".into());
                            }
                            merged.push(item);
                        }
                    }
                    _ => return self.fail(v.pos, "a merge key (<<) takes a mapping or a list of mappings".into()),
                }
                continue;
            }
            if let Some(first) = seen.get(&k.name) {
                let message = format!("mapping key {:?} already defined at line {}", k.name, first.line);
                return self.fail(k.pos, message);
            }
            seen.insert(k.name.clone(), k.pos);
            explicit.push((k, v));
        }
        // Keys written in the map win over merged ones; earlier merged maps over later.
        for m in merged {
            let Value::Map(from) = m.value else { continue };
            for (k, v) in from {
                if !seen.contains_key(&k.name) {
                    seen.insert(k.name.clone(), k.pos);
                    explicit.push((k, v));
                }
            }
        }
        self.push(Node { value: Value::Map(explicit), pos, tag }, anchor);
    }
}

impl MarkedEventReceiver for Builder {
    fn on_event(&mut self, ev: Event, mark: Marker) {
        if self.error.is_some() {
            return;
        }
        let at = pos(mark, self.file);
        match ev {
            Event::Scalar(text, style, anchor, tag) => match scalar(text, style, &tag) {
                Ok(_) if self.nodes >= MAX_NODES => self.fail(at, format!("more than {MAX_NODES} nodes")),
                Ok(value) => {
                    self.nodes += 1;
                    self.push(Node { value, pos: at, tag: local_tag(&tag) }, anchor)
                }
                Err(message) => self.fail(at, message),
            },
            Event::Alias(id) => match self.anchors.get(&id) {
                Some((node, size)) => {
                    self.nodes += size;
                    if self.nodes > MAX_NODES {
                        return self.fail(at, format!("aliases expand this document beyond {MAX_NODES} nodes"));
                    }
                    let node = node.clone();
                    self.push(node, 0)
                }
                None => self.fail(at, "an alias to an unknown anchor".into()),
            },
            Event::SequenceStart(..) | Event::MappingStart(..) if self.stack.len() >= MAX_DEPTH => {
                self.fail(at, format!("nested deeper than {MAX_DEPTH} levels"))
            }
            Event::SequenceStart(anchor, tag) => {
                self.nodes += 1;
                self.stack.push(Frame::Seq { items: Vec::new(), pos: at, anchor, tag: local_tag(&tag) })
            }
            Event::MappingStart(anchor, tag) => {
                self.nodes += 1;
                self.stack.push(Frame::Map { entries: Vec::new(), key: None, pos: at, anchor, tag: local_tag(&tag) })
            }
            Event::SequenceEnd => {
                if let Some(Frame::Seq { items, pos, anchor, tag }) = self.stack.pop() {
                    self.push(Node { value: Value::Seq(items), pos, tag }, anchor);
                }
            }
            Event::MappingEnd => {
                if let Some(Frame::Map { entries, pos, anchor, tag, .. }) = self.stack.pop() {
                    self.end_map(entries, pos, anchor, tag);
                }
            }
            Event::Nothing | Event::StreamStart | Event::StreamEnd | Event::DocumentStart | Event::DocumentEnd => {}
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ok(text: &str) -> Node {
        parse(text).unwrap_or_else(|e| panic!("{text}: {e:?}"))
    }

    fn err(text: &str) -> YamlError {
        parse(text).expect_err(text)
    }

    #[test]
    fn scalars_resolve_by_the_core_schema() {
        let doc = ok("a: 1\nb: -2\nc: 0x1f\nd: 0o17\ne: 1.5\nf: 1e3\ng: true\nh: yes\ni: null\nj: ~\nk:\nl: '1'\nm: \"true\"\nn: 1.2.3\no: !!str 8080\np: .inf\nq: 08\nr: |\n  text\ns: 0755\nt: 0\n");
        let want = [
            ("a", Value::Int(1)),
            ("b", Value::Int(-2)),
            ("c", Value::Int(31)),
            ("d", Value::Int(15)),
            ("e", Value::Float(1.5)),
            ("f", Value::Float(1000.0)),
            ("g", Value::Bool(true)),
            ("h", Value::Str("yes".into())),
            ("i", Value::Null),
            ("j", Value::Null),
            ("k", Value::Null),
            ("l", Value::Str("1".into())),
            ("m", Value::Str("true".into())),
            ("n", Value::Str("1.2.3".into())),
            ("o", Value::Str("8080".into())),
            ("p", Value::Float(f64::INFINITY)),
            ("q", Value::Int(8)),
            ("s", Value::Int(0o755)),
            ("t", Value::Int(0)),
            ("r", Value::Str("text\n".into())),
        ];
        for (k, v) in want {
            assert_eq!(doc.get(k).map(|n| &n.value), Some(&v), "{k}");
        }
    }

    #[test]
    fn nodes_know_their_line_and_column() {
        let doc = ok("services:\n  web:\n    image: busybox\n    ports:\n      - \"80:80\"\n");
        let web = doc.get("services").and_then(|s| s.get("web")).unwrap();
        assert_eq!(web.get("image").unwrap().pos, Pos { line: 3, col: 12, file: 0 });
        let Value::Seq(ports) = &web.get("ports").unwrap().value else { panic!() };
        assert_eq!(ports[0].pos.line, 5);
        let Value::Map(entries) = &web.value else { panic!() };
        assert_eq!(entries[1].0, Key { name: "ports".into(), pos: Pos { line: 4, col: 5, file: 0 } });
    }

    #[test]
    fn anchors_aliases_and_merge_keys() {
        let doc = ok("x-common: &common\n  restart: always\n  environment: {A: \"1\"}\nx-more: &more\n  restart: no\n  init: true\nservices:\n  a:\n    <<: *common\n    image: a\n  b:\n    <<: [*more, *common]\n    image: b\n  c:\n    <<: *common\n    restart: unless-stopped\n  d: *common\n");
        let svc = |n: &str| doc.get("services").and_then(|s| s.get(n)).unwrap().clone();
        assert_eq!(svc("a").get("restart").unwrap().value, Value::Str("always".into()));
        assert_eq!(svc("a").get("environment").and_then(|e| e.get("A")).unwrap().value, Value::Str("1".into()));
        // The first map of a list wins, and what is written in the map wins over both.
        assert_eq!(svc("b").get("restart").unwrap().value, Value::Str("no".into()));
        assert_eq!(svc("b").get("init").unwrap().value, Value::Bool(true));
        assert!(svc("b").get("environment").is_some());
        assert_eq!(svc("c").get("restart").unwrap().value, Value::Str("unless-stopped".into()));
        assert_eq!(svc("d").get("restart").unwrap().value, Value::Str("always".into()));
        assert!(svc("a").get("<<").is_none());
    }

    #[test]
    fn local_tags_are_kept_for_the_merge() {
        let doc = ok("ports: !reset []\nimage: !override x\n");
        assert_eq!(doc.get("ports").unwrap().tag.as_deref(), Some("!reset"));
        assert_eq!(doc.get("image").unwrap().tag.as_deref(), Some("!override"));
    }

    #[test]
    fn errors_name_the_line() {
        let e = err("services:\n  web:\n    image: a\n    image: b\n");
        assert_eq!(e.pos.line, 4);
        assert!(e.message.contains("\"image\" already defined at line 3"), "{}", e.message);
        assert_eq!(err("a: [1, 2\nb: 3\n").pos.line, 2);
        assert_eq!(err("a: 1\n---\nb: 2\n").pos.line, 3);
        assert_eq!(err("a:\n  <<: 3\n").pos.line, 2);
        assert!(err("a: *nowhere\n").message.contains("unknown anchor") || parse("a: *nowhere\n").is_err());
        assert!(err("a: !!int x\n").message.contains("!!int"));
        assert!(err("? [a, b]\n: c\n").message.contains("scalar"));
    }

    #[test]
    fn hostile_documents_are_refused_not_followed() {
        // Ten levels of ten aliases each: 10^10 nodes expanded.
        let mut text = String::from("l0: &a0 [x, x, x, x, x, x, x, x, x, x]\n");
        for i in 1..10 {
            text.push_str(&format!("l{i}: &a{i} [{}]\n", vec![format!("*a{}", i - 1); 10].join(", ")));
        }
        assert!(err(&text).message.contains("aliases expand"), "{:?}", err(&text));
        let deep = format!("x:\n{}1\n", "- ".repeat(100_000));
        assert!(err(&deep).message.contains("nested deeper"), "{:?}", err(&deep));
        let many: String = (0..50_000).map(|i| format!("k{i}: {i}\n")).collect();
        assert!(parse(&many).is_ok(), "many keys are fine (and fast)");
    }

    #[test]
    fn an_empty_file_is_null() {
        assert_eq!(ok("").value, Value::Null);
        assert_eq!(ok("# only a comment\n").value, Value::Null);
    }
}
