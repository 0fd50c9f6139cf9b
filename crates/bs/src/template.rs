//! `--template`: the part of Go's template syntax that scripts written for Illumina's `bs` use:
//! field paths (`{{.Id}}`, `{{.Project.Name}}`, `{{.}}`), `{{range .List}}…{{end}}`,
//! `{{if .Field}}…{{else}}…{{end}}`, `{{printf "%-20s %d" .Name .TotalSize}}`, and the `{{-`
//! / `-}}` whitespace trims. Anything else is refused with the list of what is supported.

use anyhow::{anyhow, bail};
use serde_json::Value;

use crate::output::{cell, lookup};

const SUPPORTED: &str = "Ferry's bs supports {{.Field.Path}}, {{.}}, {{range .List}}…{{end}}, \
                         {{if .Field}}…{{else}}…{{end}} and {{printf \"%s\" .Field}}";

/// A parsed template.
#[derive(Debug, Clone, PartialEq)]
pub struct Template {
    nodes: Vec<Node>,
}

#[derive(Debug, Clone, PartialEq)]
enum Node {
    Text(String),
    Field(String),
    Printf(String, Vec<Arg>),
    Range(String, Vec<Node>),
    If(String, Vec<Node>, Vec<Node>),
}

#[derive(Debug, Clone, PartialEq)]
enum Arg {
    Field(String),
    Text(String),
    Number(f64),
}

/// An open block while parsing.
enum Frame {
    Range(String),
    If(String, Option<Vec<Node>>),
}

impl Template {
    /// Parses `text`; an unsupported action is an error that names it.
    pub fn parse(text: &str) -> anyhow::Result<Template> {
        let mut stack: Vec<(Frame, Vec<Node>)> = Vec::new();
        let mut nodes: Vec<Node> = Vec::new();
        let mut rest = text;
        let mut trim_next = false;
        while !rest.is_empty() {
            let Some(start) = rest.find("{{") else {
                push_text(&mut nodes, rest, trim_next, false);
                break;
            };
            let after = &rest[start + 2..];
            let trim_before = after.starts_with('-') && after[1..].starts_with(char::is_whitespace);
            push_text(&mut nodes, &rest[..start], trim_next, trim_before);
            let end = after
                .find("}}")
                .ok_or_else(|| anyhow!("the template has a {{{{ without its }}}}"))?;
            let mut action = &after[..end];
            if trim_before {
                action = &action[1..];
            }
            trim_next = action.ends_with('-') && action[..action.len() - 1].ends_with(char::is_whitespace);
            if trim_next {
                action = &action[..action.len() - 1];
            }
            rest = &after[end + 2..];
            let action = action.trim();
            let (word, argument) = action.split_once(char::is_whitespace).unwrap_or((action, ""));
            let argument = argument.trim();
            match word {
                "range" => {
                    stack.push((Frame::Range(field_path(argument)?), std::mem::take(&mut nodes)));
                }
                "if" => {
                    stack.push((Frame::If(field_path(argument)?, None), std::mem::take(&mut nodes)));
                }
                "else" => match stack.last_mut() {
                    Some((Frame::If(_, then @ None), _)) => *then = Some(std::mem::take(&mut nodes)),
                    _ => bail!("the template has {{{{else}}}} outside an {{{{if}}}}"),
                },
                "end" => {
                    let (frame, outer) = stack
                        .pop()
                        .ok_or_else(|| anyhow!("the template has an {{{{end}}}} without a range or if"))?;
                    let inner = std::mem::replace(&mut nodes, outer);
                    nodes.push(match frame {
                        Frame::Range(path) => Node::Range(path, inner),
                        Frame::If(path, None) => Node::If(path, inner, Vec::new()),
                        Frame::If(path, Some(then)) => Node::If(path, then, inner),
                    });
                }
                "printf" => {
                    let mut args = arguments(argument)?;
                    let Some(Arg::Text(format)) = (!args.is_empty()).then(|| args.remove(0)) else {
                        bail!("printf in the template needs a quoted format first: {{{{printf \"%s\" .Name}}}}");
                    };
                    nodes.push(Node::Printf(format, args));
                }
                _ if word.starts_with('.') && argument.is_empty() => nodes.push(Node::Field(field_path(word)?)),
                _ => bail!("the template action {{{{{action}}}}} is not supported: {SUPPORTED}"),
            }
        }
        if !stack.is_empty() {
            bail!("the template has a range or if without its {{{{end}}}}");
        }
        Ok(Template { nodes })
    }

    /// Renders the template for one item.
    pub fn render(&self, item: &Value) -> String {
        let mut out = String::new();
        render_nodes(&self.nodes, item, &mut out);
        out
    }
}

fn push_text(nodes: &mut Vec<Node>, text: &str, trim_start: bool, trim_end: bool) {
    let mut text = text;
    if trim_start {
        text = text.trim_start();
    }
    if trim_end {
        text = text.trim_end();
    }
    if !text.is_empty() {
        nodes.push(Node::Text(text.to_string()));
    }
}

/// `.A.B` → `A.B`; `.` → "" (the item itself).
fn field_path(text: &str) -> anyhow::Result<String> {
    let path = text
        .strip_prefix('.')
        .ok_or_else(|| anyhow!("{text:?} in the template is not a field path like .Name: {SUPPORTED}"))?;
    if path.contains(char::is_whitespace) || path.contains("..") {
        bail!("{text:?} in the template is not a field path like .Project.Name");
    }
    Ok(path.to_string())
}

fn arguments(text: &str) -> anyhow::Result<Vec<Arg>> {
    let mut args = Vec::new();
    let mut rest = text.trim();
    while !rest.is_empty() {
        if let Some(quoted) = rest.strip_prefix('"') {
            let mut value = String::new();
            let mut chars = quoted.char_indices();
            let mut end = None;
            while let Some((i, c)) = chars.next() {
                match c {
                    '\\' => match chars.next() {
                        Some((_, 'n')) => value.push('\n'),
                        Some((_, 't')) => value.push('\t'),
                        Some((_, other)) => value.push(other),
                        None => {}
                    },
                    '"' => {
                        end = Some(i);
                        break;
                    }
                    other => value.push(other),
                }
            }
            let end = end.ok_or_else(|| anyhow!("a quoted string in the template is not closed"))?;
            args.push(Arg::Text(value));
            rest = quoted[end + 1..].trim_start();
            continue;
        }
        let (word, tail) = rest.split_once(char::is_whitespace).unwrap_or((rest, ""));
        if word.starts_with('.') {
            args.push(Arg::Field(field_path(word)?));
        } else if let Ok(number) = word.parse::<f64>() {
            args.push(Arg::Number(number));
        } else {
            bail!("{word:?} in the template is not a field path, a quoted string or a number: {SUPPORTED}");
        }
        rest = tail.trim_start();
    }
    Ok(args)
}

fn at<'a>(item: &'a Value, path: &str) -> Option<&'a Value> {
    if path.is_empty() {
        Some(item)
    } else {
        lookup(item, path)
    }
}

fn truthy(value: Option<&Value>) -> bool {
    match value {
        None | Some(Value::Null) => false,
        Some(Value::Bool(b)) => *b,
        Some(Value::String(s)) => !s.is_empty(),
        Some(Value::Array(a)) => !a.is_empty(),
        Some(Value::Object(o)) => !o.is_empty(),
        Some(Value::Number(n)) => n.as_f64() != Some(0.0),
    }
}

fn render_nodes(nodes: &[Node], item: &Value, out: &mut String) {
    for node in nodes {
        match node {
            Node::Text(text) => out.push_str(text),
            Node::Field(path) => out.push_str(&cell(at(item, path))),
            Node::Printf(format, args) => {
                let values: Vec<Value> = args
                    .iter()
                    .map(|arg| match arg {
                        Arg::Field(path) => at(item, path).cloned().unwrap_or(Value::Null),
                        Arg::Text(text) => Value::String(text.clone()),
                        Arg::Number(n) => serde_json::json!(n),
                    })
                    .collect();
                out.push_str(&printf(format, &values));
            }
            Node::Range(path, inner) => {
                if let Some(Value::Array(items)) = at(item, path) {
                    for element in items {
                        render_nodes(inner, element, out);
                    }
                }
            }
            Node::If(path, then, otherwise) => {
                let branch = if truthy(at(item, path)) { then } else { otherwise };
                render_nodes(branch, item, out);
            }
        }
    }
}

/// Go's `printf` for the verbs scripts use: `%s %v %d %f %q %%`, with `-`, `0`, width and precision.
fn printf(format: &str, values: &[Value]) -> String {
    let mut out = String::new();
    let mut args = values.iter();
    let mut chars = format.chars().peekable();
    while let Some(c) = chars.next() {
        if c != '%' {
            out.push(c);
            continue;
        }
        let mut spec = String::new();
        while let Some(&next) = chars.peek() {
            if next.is_ascii_digit() || matches!(next, '-' | '.' | '0' | '+' | ' ') {
                spec.push(next);
                chars.next();
            } else {
                break;
            }
        }
        let Some(verb) = chars.next() else {
            out.push('%');
            out.push_str(&spec);
            break;
        };
        if verb == '%' {
            out.push('%');
            continue;
        }
        let left = spec.contains('-');
        let zero = spec.starts_with('0') || spec.starts_with("-0");
        let spec = spec.trim_start_matches(['-', '+', ' ', '0']);
        let (width, precision) = match spec.split_once('.') {
            Some((w, p)) => (w.parse::<usize>().ok(), p.parse::<usize>().ok()),
            None => (spec.parse::<usize>().ok(), None),
        };
        let value = args.next();
        let text = match (verb, value) {
            (_, None) => format!("%!{verb}(MISSING)"),
            ('d', Some(v)) => v
                .as_f64()
                .or_else(|| cell(Some(v)).parse().ok())
                .map(|n| format!("{}", n.trunc() as i64))
                .unwrap_or_else(|| format!("%!d({})", cell(Some(v)))),
            ('f' | 'g' | 'e', Some(v)) => v
                .as_f64()
                .or_else(|| cell(Some(v)).parse().ok())
                .map(|n| format!("{n:.*}", precision.unwrap_or(6)))
                .unwrap_or_else(|| format!("%!f({})", cell(Some(v)))),
            ('q', Some(v)) => format!("{:?}", cell(Some(v))),
            (_, Some(v)) => {
                let text = cell(Some(v));
                match precision {
                    Some(p) => text.chars().take(p).collect(),
                    None => text,
                }
            }
        };
        let pad = width.unwrap_or(0).saturating_sub(text.chars().count());
        if left {
            out.push_str(&text);
            out.push_str(&" ".repeat(pad));
        } else if zero && matches!(verb, 'd' | 'f') {
            out.push_str(&"0".repeat(pad));
            out.push_str(&text);
        } else {
            out.push_str(&" ".repeat(pad));
            out.push_str(&text);
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn render(template: &str, item: &Value) -> String {
        Template::parse(template).unwrap().render(item)
    }

    #[test]
    fn scripts_templates_render() {
        let item = json!({"Id": "7", "FilePath": "a/b.fastq.gz", "Project": {"Name": "P"}, "TotalSize": 1536,
                          "Items": [{"Name": "x"}, {"Name": "y"}], "Empty": ""});
        assert_eq!(render("{{.Id}},{{.FilePath}}", &item), "7,a/b.fastq.gz");
        assert_eq!(render("{{.Project.Name}} {{.project.name}}", &item), "P P");
        assert_eq!(render("{{range .Items}}[{{.Name}}]{{end}}", &item), "[x][y]");
        assert_eq!(render("{{if .Empty}}yes{{else}}no{{end}}", &item), "no");
        assert_eq!(
            render("{{printf \"%-4s|%6d|%.1f\" .Id .TotalSize 2.25}}", &item),
            "7   |  1536|2.2"
        );
        assert_eq!(
            render("{{printf \"%05d %q %%\" .TotalSize .Id}}", &item),
            "01536 \"7\" %"
        );
        assert_eq!(render("a {{- .Id -}} b", &item), "a7b");
    }

    #[test]
    fn what_is_not_supported_is_refused_by_name() {
        let error = Template::parse("{{len .Items}}").unwrap_err().to_string();
        assert!(error.contains("{{len .Items}}") && error.contains("range"), "{error}");
        assert!(Template::parse("{{range .Items}}x").is_err());
        assert!(Template::parse("{{end}}").is_err());
        assert!(Template::parse("{{.Id").is_err());
    }
}
