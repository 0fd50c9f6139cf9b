//! Printing items as tables, CSV, JSON or NDJSON, with `-F` dotted fields and `--terse`.

use std::io::Write;

use serde_json::Value;

use crate::cli::{Format, OutputArgs};

/// Finds a dotted path (`Project.Name`) in a JSON value; keys match case-insensitively.
pub fn lookup<'a>(value: &'a Value, path: &str) -> Option<&'a Value> {
    let mut current = value;
    for key in path.split('.') {
        let object = current.as_object()?;
        current = match object.get(key) {
            Some(found) => found,
            None => object
                .iter()
                .find(|(k, _)| k.eq_ignore_ascii_case(key))
                .map(|(_, v)| v)?,
        };
    }
    Some(current)
}

/// Text of a value in a table cell: as [`cell`], but a timestamp is printed as Illumina's `bs`
/// prints dates in tables (Go's default: `2014-09-25 16:29:21 +0000 UTC`).
pub fn table_cell(value: Option<&Value>) -> String {
    let text = cell(value);
    if let Some(Value::String(raw)) = value
        && raw.len() >= 19
        && raw.as_bytes().get(10) == Some(&b'T')
        && let Some(at) = ferry_api::dates::parse(raw)
    {
        let utc = at.to_offset(time::UtcOffset::UTC);
        return format!(
            "{:04}-{:02}-{:02} {:02}:{:02}:{:02} +0000 UTC",
            utc.year(),
            u8::from(utc.month()),
            utc.day(),
            utc.hour(),
            utc.minute(),
            utc.second()
        );
    }
    text
}

/// Text of a value in a cell.
pub fn cell(value: Option<&Value>) -> String {
    match value {
        None | Some(Value::Null) => String::new(),
        Some(Value::String(text)) => text.clone(),
        Some(Value::Array(items)) => items.iter().map(|v| cell(Some(v))).collect::<Vec<_>>().join(", "),
        Some(other) => other.to_string(),
    }
}

fn columns(output: &OutputArgs, defaults: &[&str]) -> Vec<String> {
    if output.fields.is_empty() {
        defaults.iter().map(|c| c.to_string()).collect()
    } else {
        output
            .fields
            .iter()
            .map(|f| f.trim().to_string())
            .filter(|f| !f.is_empty())
            .collect()
    }
}

/// Keeps only the chosen fields of an object (dotted paths become nested keys).
fn project_fields(item: &Value, fields: &[String]) -> Value {
    let mut out = serde_json::Map::new();
    for field in fields {
        let value = lookup(item, field).cloned().unwrap_or(Value::Null);
        let mut target = &mut out;
        let parts: Vec<&str> = field.split('.').collect();
        for part in &parts[..parts.len() - 1] {
            let entry = target
                .entry(part.to_string())
                .or_insert_with(|| Value::Object(serde_json::Map::new()));
            if !entry.is_object() {
                *entry = Value::Object(serde_json::Map::new());
            }
            target = entry.as_object_mut().expect("just made an object");
        }
        target.insert(parts[parts.len() - 1].to_string(), value);
    }
    Value::Object(out)
}

/// Writes to stdout; a closed pipe (`bs list | head`) ends quietly.
pub fn emit(text: &str) -> anyhow::Result<()> {
    let stdout = std::io::stdout();
    let mut lock = stdout.lock();
    match lock.write_all(text.as_bytes()).and_then(|_| lock.flush()) {
        Ok(()) => Ok(()),
        Err(err) if err.kind() == std::io::ErrorKind::BrokenPipe => std::process::exit(0),
        Err(err) => Err(err.into()),
    }
}

/// Renders key/value rows as Illumina's `bs get` and `whoami` do: bordered, no header row.
pub fn key_value_table(rows: &[Vec<String>]) -> String {
    let text = table(&["".to_string(), "".to_string()], rows);
    // Drop the empty header line and the border under it.
    let mut lines: Vec<&str> = text.lines().collect();
    lines.drain(1..3);
    let mut out = lines.join("\n");
    out.push('\n');
    out
}

/// Renders rows as an aligned table with `+---+` borders.
pub fn table(headers: &[String], rows: &[Vec<String>]) -> String {
    let mut widths: Vec<usize> = headers.iter().map(|h| h.chars().count()).collect();
    for row in rows {
        for (i, value) in row.iter().enumerate() {
            widths[i] = widths[i].max(value.chars().count());
        }
    }
    let border = format!(
        "+{}+\n",
        widths.iter().map(|w| "-".repeat(w + 2)).collect::<Vec<_>>().join("+")
    );
    let line = |values: &[String]| {
        let cells: Vec<String> = values
            .iter()
            .zip(&widths)
            .map(|(v, w)| format!(" {v}{} ", " ".repeat(w - v.chars().count())))
            .collect();
        format!("|{}|\n", cells.join("|"))
    };
    let mut text = border.clone();
    text.push_str(&line(headers));
    text.push_str(&border);
    for row in rows {
        text.push_str(&line(row));
    }
    text.push_str(&border);
    text
}

fn csv_field(text: &str) -> String {
    if text.contains([',', '"', '\n', '\r']) {
        format!("\"{}\"", text.replace('"', "\"\""))
    } else {
        text.to_string()
    }
}

/// Prints a list of items. JSON is always an array.
pub fn print_list(items: &[Value], defaults: &[&str], output: &OutputArgs) -> anyhow::Result<()> {
    if let Some(template) = &output.template {
        let template = crate::template::Template::parse(template)?;
        let mut text = String::new();
        for item in items {
            text.push_str(&template.render(item));
            if !text.ends_with('\n') {
                text.push('\n');
            }
        }
        return emit(&text);
    }
    if output.terse {
        let mut text = String::new();
        for item in items {
            text.push_str(&cell(lookup(item, "Id")));
            text.push('\n');
        }
        return emit(&text);
    }
    let columns = columns(output, defaults);
    match output.format {
        Format::Json => {
            let values: Vec<Value> = if output.fields.is_empty() {
                items.to_vec()
            } else {
                items.iter().map(|i| project_fields(i, &columns)).collect()
            };
            emit(&format!("{}\n", serde_json::to_string_pretty(&values)?))
        }
        Format::Ndjson => {
            let mut text = String::new();
            for item in items {
                let value = if output.fields.is_empty() {
                    item.clone()
                } else {
                    project_fields(item, &columns)
                };
                text.push_str(&serde_json::to_string(&value)?);
                text.push('\n');
            }
            emit(&text)
        }
        Format::Csv => {
            let mut text = columns.iter().map(|c| csv_field(c)).collect::<Vec<_>>().join(",");
            text.push('\n');
            for item in items {
                let row: Vec<String> = columns.iter().map(|c| csv_field(&cell(lookup(item, c)))).collect();
                text.push_str(&row.join(","));
                text.push('\n');
            }
            emit(&text)
        }
        Format::Table => {
            let rows: Vec<Vec<String>> = items
                .iter()
                .map(|item| columns.iter().map(|c| table_cell(lookup(item, c))).collect())
                .collect();
            emit(&table(&columns, &rows))
        }
    }
}

/// Flattens an object into `(dotted key, text)` pairs of its scalar fields.
fn flatten(prefix: &str, value: &Value, out: &mut Vec<(String, String)>) {
    match value {
        Value::Object(map) => {
            for (key, inner) in map {
                let path = if prefix.is_empty() {
                    key.clone()
                } else {
                    format!("{prefix}.{key}")
                };
                flatten(&path, inner, out);
            }
        }
        other => out.push((prefix.to_string(), table_cell(Some(other)))),
    }
}

/// Prints one item: JSON as an object, tables as a two-column field/value table.
pub fn print_item(item: &Value, output: &OutputArgs) -> anyhow::Result<()> {
    if output.template.is_some() {
        return print_list(std::slice::from_ref(item), &[], output);
    }
    if output.terse {
        return emit(&format!("{}\n", cell(lookup(item, "Id"))));
    }
    match output.format {
        Format::Json => {
            let value = if output.fields.is_empty() {
                item.clone()
            } else {
                project_fields(item, &output.fields)
            };
            emit(&format!("{}\n", serde_json::to_string_pretty(&value)?))
        }
        Format::Ndjson => {
            let value = if output.fields.is_empty() {
                item.clone()
            } else {
                project_fields(item, &output.fields)
            };
            emit(&format!("{}\n", serde_json::to_string(&value)?))
        }
        Format::Csv => print_list(std::slice::from_ref(item), &top_level_scalars(item), output),
        Format::Table => {
            if !output.fields.is_empty() {
                return print_list(std::slice::from_ref(item), &[], output);
            }
            let mut pairs = Vec::new();
            flatten("", item, &mut pairs);
            let rows: Vec<Vec<String>> = pairs.into_iter().map(|(k, v)| vec![k, v]).collect();
            emit(&key_value_table(&rows))
        }
    }
}

fn top_level_scalars(item: &Value) -> Vec<&str> {
    item.as_object()
        .map(|map| {
            map.iter()
                .filter(|(_, v)| !v.is_object() && !v.is_array())
                .map(|(k, _)| k.as_str())
                .collect()
        })
        .unwrap_or_default()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn dotted_lookup_and_projection() {
        let item: Value = serde_json::json!({"Id": "1", "Project": {"Name": "P"}, "Size": 5});
        assert_eq!(cell(lookup(&item, "project.name")), "P");
        let projected = project_fields(&item, &["Project.Name".to_string(), "Size".to_string()]);
        assert_eq!(projected, serde_json::json!({"Project": {"Name": "P"}, "Size": 5}));
        let text = table(&["A".into()], &[vec!["xyz".into()]]);
        assert_eq!(text, "+-----+\n| A   |\n+-----+\n| xyz |\n+-----+\n");
        assert_eq!(
            table_cell(Some(&serde_json::json!("2014-09-25T16:29:21.0000000Z"))),
            "2014-09-25 16:29:21 +0000 UTC"
        );
        assert_eq!(table_cell(Some(&serde_json::json!("2014-09-25"))), "2014-09-25");
        let pairs = key_value_table(&[vec!["Id".into(), "1".into()], vec!["Name".into(), "P".into()]]);
        assert_eq!(pairs, "+------+---+\n| Id   | 1 |\n| Name | P |\n+------+---+\n");
    }
}
