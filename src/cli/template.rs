//! `--format` for listings, as docker reads it: `table` (the default),
//! `json`, or a Go-template subset — `{{.Field}}`, `{{json .}}`,
//! `{{json .Field}}`, text around them, `\t` and `\n` — optionally after
//! `table ` for a header line. An unknown field is an error naming the
//! fields there are, before anything is printed.

use anyhow::{bail, Result};
use std::collections::BTreeMap;

#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Part {
    Text(String),
    Field(String),
    Json(Option<String>),
}

/// How a listing is printed.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Output {
    Table,
    Json,
    Template { header: bool, parts: Vec<Part> },
}

/// One row: docker's field name -> its text.
pub type Row = BTreeMap<&'static str, String>;

impl Output {
    /// Parse `--format`; `fields` are (name, header) pairs the listing has.
    pub fn parse(s: &str, fields: &[(&str, &str)]) -> Result<Output> {
        match s {
            "" | "table" => return Ok(Output::Table),
            "json" => return Ok(Output::Json),
            _ => {}
        }
        let (header, body) = match s.strip_prefix("table") {
            Some(rest) if rest.starts_with([' ', '\t']) => (true, rest.trim_start()),
            _ => (false, s),
        };
        let body = body.replace("\\t", "\t").replace("\\n", "\n");
        let known = |f: &str| fields.iter().any(|(n, _)| *n == f);
        let list = || {
            fields
                .iter()
                .map(|(n, _)| format!(".{n}"))
                .collect::<Vec<_>>()
                .join(", ")
        };
        let mut parts = Vec::new();
        let mut rest = body.as_str();
        while let Some(start) = rest.find("{{") {
            if start > 0 {
                parts.push(Part::Text(rest[..start].to_string()));
            }
            let Some(end) = rest[start..].find("}}") else {
                bail!("invalid --format {s:?}: `{{{{` without `}}}}`");
            };
            let action = rest[start + 2..start + end].trim();
            let field = |f: &str| -> Result<String> {
                let name = f.strip_prefix('.').unwrap_or("");
                if !known(name) {
                    bail!(
                        "invalid --format {s:?}: unknown field {f:?}; the fields are {}",
                        list()
                    );
                }
                Ok(name.to_string())
            };
            let part = match action.split_whitespace().collect::<Vec<_>>().as_slice() {
                ["json", "."] => Part::Json(None),
                ["json", f] => Part::Json(Some(field(f)?)),
                [f] if f.starts_with('.') => Part::Field(field(f)?),
                _ => bail!(
                    "invalid --format {s:?}: {{{{{action}}}}} is not supported; use {{{{.Field}}}} or {{{{json .}}}} (fields: {})",
                    list()
                ),
            };
            parts.push(part);
            rest = &rest[start + end + 2..];
        }
        if !rest.is_empty() {
            parts.push(Part::Text(rest.to_string()));
        }
        Ok(Output::Template { header, parts })
    }

    /// Print `rows` with a template (table and json are the caller's).
    pub fn print(&self, fields: &[(&str, &str)], rows: &[Row]) {
        let Output::Template { header, parts } = self else {
            return;
        };
        let header_of = |f: &str| {
            fields
                .iter()
                .find(|(n, _)| *n == f)
                .map(|(_, h)| h.to_string())
                .unwrap_or_default()
        };
        let mut lines: Vec<Vec<String>> = Vec::new();
        if *header {
            lines.push(
                parts
                    .iter()
                    .map(|p| match p {
                        Part::Text(t) => t.clone(),
                        Part::Field(f) | Part::Json(Some(f)) => header_of(f),
                        Part::Json(None) => String::new(),
                    })
                    .collect(),
            );
        }
        for r in rows {
            lines.push(
                parts
                    .iter()
                    .map(|p| match p {
                        Part::Text(t) => t.clone(),
                        Part::Field(f) => r.get(f.as_str()).cloned().unwrap_or_default(),
                        Part::Json(Some(f)) => serde_json::to_string(
                            r.get(f.as_str()).map(String::as_str).unwrap_or(""),
                        )
                        .unwrap_or_default(),
                        Part::Json(None) => serde_json::to_string(r).unwrap_or_default(),
                    })
                    .collect(),
            );
        }
        if *header {
            // Tab-separated cells are aligned, as docker's tabwriter does.
            let cells: Vec<Vec<String>> = lines
                .iter()
                .map(|l| l.concat().split('\t').map(str::to_string).collect())
                .collect();
            let mut widths = Vec::new();
            for l in &cells {
                for (i, c) in l.iter().enumerate() {
                    if widths.len() <= i {
                        widths.push(0);
                    }
                    widths[i] = widths[i].max(c.chars().count());
                }
            }
            for l in cells {
                let mut s = String::new();
                for (i, c) in l.iter().enumerate() {
                    if i + 1 == l.len() {
                        s.push_str(c);
                    } else {
                        s.push_str(&format!("{:<w$}   ", c, w = widths[i]));
                    }
                }
                println!("{}", s.trim_end());
            }
        } else {
            for l in lines {
                println!("{}", l.concat());
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const F: &[(&str, &str)] = &[("ID", "CONTAINER ID"), ("Names", "NAMES")];

    #[test]
    fn parses_docker_templates() {
        assert_eq!(Output::parse("table", F).unwrap(), Output::Table);
        assert_eq!(Output::parse("json", F).unwrap(), Output::Json);
        let Output::Template { header, parts } = Output::parse("{{.ID}} {{ .Names }}", F).unwrap()
        else {
            panic!()
        };
        assert!(!header);
        assert_eq!(
            parts,
            vec![
                Part::Field("ID".into()),
                Part::Text(" ".into()),
                Part::Field("Names".into())
            ]
        );
        let Output::Template { header, parts } =
            Output::parse("table {{.ID}}\\t{{json .}}", F).unwrap()
        else {
            panic!()
        };
        assert!(header);
        assert_eq!(parts[1], Part::Text("\t".into()));
        assert_eq!(parts[2], Part::Json(None));
    }

    #[test]
    fn unknown_fields_and_actions_are_errors() {
        let e = Output::parse("{{.Nmae}}", F).unwrap_err().to_string();
        assert!(
            e.contains("unknown field \".Nmae\"") && e.contains(".Names"),
            "{e}"
        );
        assert!(Output::parse("{{.ID", F).is_err());
        assert!(Output::parse("{{range .}}", F).is_err());
    }
}
