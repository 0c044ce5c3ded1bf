//! What a command prints: a table for people (the default) or, with
//! `--output json`, one JSON document for scripts whose field names are
//! the GraphQL API's (documented in docs/cli.md), so they stay as stable
//! as the API.

use serde_json::Value;

/// `--output`.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, clap::ValueEnum)]
pub enum Format {
    /// Aligned columns, for reading.
    #[default]
    Table,
    /// One JSON document, for scripts.
    Json,
}

/// A command's result: the JSON document and its table form.
#[derive(Debug)]
pub struct Printed {
    pub json: Value,
    pub table: String,
}

impl Printed {
    pub fn render(&self, format: Format) -> String {
        match format {
            // A `Value` always serializes; the fallback is never taken.
            Format::Json => serde_json::to_string_pretty(&self.json).unwrap_or_default(),
            Format::Table => self.table.trim_end().to_owned(),
        }
    }
}

/// Rows of `objects`, one column per `(header, field)`.
pub fn table(columns: &[(&str, &str)], objects: &[Value]) -> String {
    let mut rows: Vec<Vec<String>> = vec![columns.iter().map(|(h, _)| (*h).to_owned()).collect()];
    rows.extend(
        objects
            .iter()
            .map(|object| columns.iter().map(|(_, f)| cell(&object[*f])).collect()),
    );
    let widths: Vec<usize> = (0..columns.len())
        .map(|i| {
            rows.iter()
                .map(|row| row[i].chars().count())
                .max()
                .unwrap_or(0)
        })
        .collect();
    let mut text = String::new();
    for row in rows {
        let line: Vec<String> = row
            .iter()
            .zip(&widths)
            .map(|(cell, width)| format!("{cell:<width$}"))
            .collect();
        text.push_str(line.join("  ").trim_end());
        text.push('\n');
    }
    text
}

/// One value as a table shows it: `-` for none, lists comma-separated.
pub fn cell(value: &Value) -> String {
    match value {
        Value::Null => "-".to_owned(),
        Value::String(text) if text.is_empty() => "-".to_owned(),
        Value::String(text) => text.clone(),
        Value::Array(items) if items.is_empty() => "-".to_owned(),
        Value::Array(items) => items.iter().map(cell).collect::<Vec<_>>().join(","),
        other => other.to_string(),
    }
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::*;

    #[test]
    fn a_table_aligns_its_columns_and_shows_absent_values_as_a_dash() {
        let objects = [
            json!({ "id": "a", "name": "first", "scopes": ["x", "y"] }),
            json!({ "id": "bbb", "name": null, "scopes": [] }),
        ];
        let text = table(
            &[("ID", "id"), ("NAME", "name"), ("SCOPES", "scopes")],
            &objects,
        );
        assert_eq!(text, "ID   NAME   SCOPES\na    first  x,y\nbbb  -      -\n");
    }
}
