//! `--format`: the subset of Go templates the docker CLI's users write —
//! `{{.Field.Sub}}`, `{{.}}`, `{{json .X}}`, `{{index .M "key"}}`,
//! `{{join .L ","}}`, `{{upper .X}}`/`{{lower .X}}`, `{{range .L}}…{{end}}`,
//! `{{if .X}}…{{else}}…{{end}}`, `\t`/`\n` escapes, and the `table` prefix
//! (a header row, columns aligned like Go's tabwriter).

use anyhow::{anyhow, bail, Result};
use serde_json::Value;

#[derive(Debug, Clone)]
enum Node {
    Text(String),
    Action(Vec<String>),
    Range(Vec<String>, Vec<Node>),
    If(Vec<String>, Vec<Node>, Vec<Node>),
}

/// Splits an action into words, keeping quoted strings whole.
fn words(s: &str) -> Result<Vec<String>> {
    let mut out = Vec::new();
    let mut cur = String::new();
    let mut quoted = false;
    for c in s.chars() {
        match c {
            '"' => {
                if quoted {
                    out.push(format!("\"{cur}\""));
                    cur.clear();
                }
                quoted = !quoted;
            }
            c if c.is_whitespace() && !quoted => {
                if !cur.is_empty() {
                    out.push(std::mem::take(&mut cur));
                }
            }
            c => cur.push(c),
        }
    }
    if quoted {
        bail!("template: unterminated quoted string in {{{{{s}}}}}");
    }
    if !cur.is_empty() {
        out.push(cur);
    }
    Ok(out)
}

fn parse(src: &str) -> Result<Vec<Node>> {
    // Tokens: text and actions.
    let mut tokens = Vec::new();
    let mut rest = src;
    while let Some(start) = rest.find("{{") {
        if start > 0 {
            tokens.push((false, rest[..start].to_string()));
        }
        let end = rest[start..].find("}}").ok_or_else(|| anyhow!("template: unclosed action in {src:?}"))? + start;
        tokens.push((true, rest[start + 2..end].trim().trim_matches('-').trim().to_string()));
        rest = &rest[end + 2..];
    }
    if !rest.is_empty() {
        tokens.push((false, rest.to_string()));
    }
    let mut pos = 0;
    let (nodes, stop) = parse_list(&tokens, &mut pos)?;
    if let Some(s) = stop {
        bail!("template: unexpected {{{{{s}}}}}");
    }
    Ok(nodes)
}

/// Parses until `end`/`else` (returned) or the end of input.
fn parse_list(tokens: &[(bool, String)], pos: &mut usize) -> Result<(Vec<Node>, Option<String>)> {
    let mut out = Vec::new();
    while *pos < tokens.len() {
        let (action, text) = &tokens[*pos];
        *pos += 1;
        if !action {
            out.push(Node::Text(text.clone()));
            continue;
        }
        let w = words(text)?;
        match w.first().map(String::as_str) {
            Some("end") | Some("else") => return Ok((out, Some(w[0].clone()))),
            Some("range") => {
                let (body, stop) = parse_list(tokens, pos)?;
                if stop.as_deref() != Some("end") {
                    bail!("template: range without end");
                }
                out.push(Node::Range(w[1..].to_vec(), body));
            }
            Some("if") => {
                let (then, stop) = parse_list(tokens, pos)?;
                let otherwise = match stop.as_deref() {
                    Some("else") => {
                        let (e, stop) = parse_list(tokens, pos)?;
                        if stop.as_deref() != Some("end") {
                            bail!("template: if without end");
                        }
                        e
                    }
                    Some("end") => Vec::new(),
                    _ => bail!("template: if without end"),
                };
                out.push(Node::If(w[1..].to_vec(), then, otherwise));
            }
            Some(_) => out.push(Node::Action(w)),
            None => bail!("template: empty action"),
        }
    }
    Ok((out, None))
}

fn lookup<'a>(dot: &'a Value, path: &str) -> Result<&'a Value> {
    if path == "." {
        return Ok(dot);
    }
    let mut v = dot;
    for part in path.trim_start_matches('.').split('.') {
        v = match v {
            Value::Object(m) => m.get(part).unwrap_or(&Value::Null),
            Value::Null => &Value::Null,
            _ => bail!("template: can't evaluate field {part} in type {}", kind(v)),
        };
    }
    Ok(v)
}

fn kind(v: &Value) -> &'static str {
    match v {
        Value::Null => "<nil>",
        Value::Bool(_) => "bool",
        Value::Number(_) => "number",
        Value::String(_) => "string",
        Value::Array(_) => "slice",
        Value::Object(_) => "map",
    }
}

fn arg(dot: &Value, w: &str) -> Result<Value> {
    if let Some(s) = w.strip_prefix('"').and_then(|s| s.strip_suffix('"')) {
        return Ok(Value::String(s.to_string()));
    }
    if w.starts_with('.') {
        return lookup(dot, w).cloned();
    }
    if let Ok(n) = w.parse::<i64>() {
        return Ok(Value::from(n));
    }
    bail!("template: function {w:?} not defined")
}

/// Go's default printing of a value.
pub fn plain(v: &Value) -> String {
    match v {
        Value::Null => "<no value>".into(),
        Value::String(s) => s.clone(),
        Value::Array(a) => format!("[{}]", a.iter().map(plain).collect::<Vec<_>>().join(" ")),
        Value::Object(m) => {
            format!("map[{}]", m.iter().map(|(k, v)| format!("{k}:{}", plain(v))).collect::<Vec<_>>().join(" "))
        }
        other => other.to_string(),
    }
}

fn eval(dot: &Value, w: &[String]) -> Result<Value> {
    let (f, args) = (w[0].as_str(), &w[1..]);
    let a = |i: usize| -> Result<Value> {
        arg(dot, args.get(i).ok_or_else(|| anyhow!("template: {f}: missing argument"))?)
    };
    Ok(match f {
        "json" => Value::String(serde_json::to_string(&a(0)?)?),
        "index" => {
            let (c, k) = (a(0)?, a(1)?);
            match (&c, &k) {
                (Value::Object(m), Value::String(k)) => m.get(k).cloned().unwrap_or(Value::Null),
                (Value::Array(l), Value::Number(n)) => {
                    l.get(n.as_u64().unwrap_or(u64::MAX) as usize).cloned().unwrap_or(Value::Null)
                }
                _ => bail!("template: index of {} with {}", kind(&c), kind(&k)),
            }
        }
        "join" => {
            let (l, sep) = (a(0)?, a(1)?);
            let items: Vec<String> = l.as_array().map(|l| l.iter().map(plain).collect()).unwrap_or_default();
            Value::String(items.join(sep.as_str().unwrap_or("")))
        }
        "upper" => Value::String(plain(&a(0)?).to_uppercase()),
        "lower" => Value::String(plain(&a(0)?).to_lowercase()),
        "len" => Value::from(match a(0)? {
            Value::Array(l) => l.len(),
            Value::Object(m) => m.len(),
            Value::String(s) => s.len(),
            _ => 0,
        }),
        "println" => Value::String(format!(
            "{}\n",
            args.iter().map(|x| arg(dot, x).map(|v| plain(&v))).collect::<Result<Vec<_>>>()?.join(" ")
        )),
        _ if args.is_empty() => arg(dot, f)?,
        _ => bail!("template: function {f:?} not defined"),
    })
}

fn truthy(v: &Value) -> bool {
    match v {
        Value::Null => false,
        Value::Bool(b) => *b,
        Value::Number(n) => n.as_f64() != Some(0.0),
        Value::String(s) => !s.is_empty(),
        Value::Array(a) => !a.is_empty(),
        Value::Object(m) => !m.is_empty(),
    }
}

fn render_nodes(nodes: &[Node], dot: &Value, out: &mut String) -> Result<()> {
    for n in nodes {
        match n {
            Node::Text(t) => out.push_str(t),
            Node::Action(w) => out.push_str(&plain(&eval(dot, w)?)),
            Node::Range(w, body) => match eval(dot, w)? {
                Value::Array(items) => {
                    for item in &items {
                        render_nodes(body, item, out)?;
                    }
                }
                Value::Object(m) => {
                    for item in m.values() {
                        render_nodes(body, item, out)?;
                    }
                }
                Value::Null => {}
                other => bail!("template: range can't iterate over {}", plain(&other)),
            },
            Node::If(w, then, otherwise) => {
                render_nodes(if truthy(&eval(dot, w)?) { then } else { otherwise }, dot, out)?;
            }
        }
    }
    Ok(())
}

/// A parsed `--format`.
pub struct Template {
    nodes: Vec<Node>,
    table: bool,
}

impl Template {
    pub fn new(format: &str) -> Result<Template> {
        let unescaped = format.replace("\\t", "\t").replace("\\n", "\n");
        let (table, body) = match unescaped.strip_prefix("table") {
            Some(rest) => (true, rest.trim_start().to_string()),
            None => (false, unescaped),
        };
        Ok(Template { nodes: parse(&body)?, table })
    }

    pub fn render(&self, v: &Value) -> Result<String> {
        let mut out = String::new();
        render_nodes(&self.nodes, v, &mut out)?;
        Ok(out)
    }

    /// The header row of a `table` format: each field's name in capitals
    /// (`{{.ID}}` → `CONTAINER ID` via `headers`).
    fn header(&self, headers: &[(&str, &str)]) -> String {
        let mut out = String::new();
        for n in &self.nodes {
            match n {
                Node::Text(t) => out.push_str(t),
                Node::Action(w) => {
                    let field = w.last().map(|f| f.trim_start_matches('.')).unwrap_or("");
                    let h = headers.iter().find(|(k, _)| *k == field).map(|(_, h)| h.to_string());
                    out.push_str(&h.unwrap_or_else(|| field.to_uppercase()));
                }
                _ => {}
            }
        }
        out
    }

    /// Renders every row; `table` formats get a header and aligned columns.
    pub fn print_all(&self, rows: &[Value], headers: &[(&str, &str)]) -> Result<String> {
        let mut lines = Vec::new();
        if self.table {
            lines.push(self.header(headers));
        }
        for r in rows {
            lines.push(self.render(r)?);
        }
        let mut text = if self.table { align(&lines) } else { lines.iter().map(|l| format!("{l}\n")).collect() };
        if !self.table && text.ends_with("\n\n") {
            text.pop();
        }
        Ok(text)
    }
}

/// Tab-separated cells aligned as the docker CLI aligns its tables: Go's
/// elastic tabstops (the `tabwriter` crate is their port) with the CLI's
/// settings (minimum width 10 with the padding of 3 included, spaces; the
/// crate's minimum excludes the padding).
pub fn align(lines: &[String]) -> String {
    use std::io::Write;
    let mut tw = tabwriter::TabWriter::new(Vec::new()).minwidth(10 - 3).padding(3);
    for l in lines {
        let _ = writeln!(tw, "{l}");
    }
    let _ = tw.flush();
    String::from_utf8_lossy(&tw.into_inner().unwrap_or_default()).into_owned()
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn r(f: &str, v: Value) -> String {
        Template::new(f).unwrap().render(&v).unwrap()
    }

    #[test]
    fn fields_functions_and_blocks() {
        let v = json!({"Name": "web", "State": {"Status": "running", "Pid": 42}, "Labels": {"a": "1"}, "Ports": ["80", "443"], "Empty": ""});
        assert_eq!(r("{{.Name}} {{.State.Status}} {{.State.Pid}}", v.clone()), "web running 42");
        assert_eq!(r("{{json .Labels}}", v.clone()), r#"{"a":"1"}"#);
        assert_eq!(r(r#"{{index .Labels "a"}}"#, v.clone()), "1");
        assert_eq!(r(r#"{{join .Ports ","}}"#, v.clone()), "80,443");
        assert_eq!(r("{{range .Ports}}<{{.}}>{{end}}", v.clone()), "<80><443>");
        assert_eq!(r("{{if .Empty}}yes{{else}}no{{end}}", v.clone()), "no");
        assert_eq!(r("{{upper .Name}}\\t{{.Missing}}", v.clone()), "WEB\t<no value>");
        assert_eq!(r("{{.Ports}}", v.clone()), "[80 443]");
        assert!(Template::new("{{.Name").is_err());
        assert!(Template::new("{{range .Ports}}x").is_err());
        assert!(Template::new("{{bogus .Name}}").unwrap().render(&v).is_err());
    }

    #[test]
    fn tables_align() {
        let t = Template::new("table {{.ID}}\\t{{.Names}}").unwrap();
        let rows = [json!({"ID": "abc", "Names": "web"}), json!({"ID": "abcdef123", "Names": "db"})];
        let out = t.print_all(&rows, &[("ID", "CONTAINER ID")]).unwrap();
        assert_eq!(out, "CONTAINER ID   NAMES\nabc            web\nabcdef123      db\n");
        // Narrow columns get the docker CLI's minimum width (10, padding included).
        let t = Template::new("table {{.Driver}}\t{{.Name}}").unwrap();
        let out = t.print_all(&[json!({"Driver": "local", "Name": "v1"})], &[("Name", "VOLUME NAME")]).unwrap();
        assert_eq!(out, "DRIVER    VOLUME NAME\nlocal     v1\n");
    }
}
