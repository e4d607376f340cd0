//! The compose file as a tree of nodes that remember their line, read with
//! saphyr (a maintained YAML 1.2 parser with source spans; aliases are
//! expanded under a node budget, so an alias bomb is an error, not a hang).
//! Scalars are kept as text: compose interpolates and converts them itself.
//! Merge keys (`<<: *anchor`) are applied here, as compose does.

use super::ComposeError;
use saphyr::{LoadableYamlNode, MarkedYaml, Scalar, YamlData};
use std::path::Path;

#[derive(Clone, Debug, PartialEq)]
pub enum Value {
    Null,
    Str(String),
    Seq(Vec<Node>),
    /// Keys in the file's order.
    Map(Vec<(Key, Node)>),
}

#[derive(Clone, Debug, PartialEq)]
pub struct Key {
    pub name: String,
    pub line: usize,
}

#[derive(Clone, Debug, PartialEq)]
pub struct Node {
    pub line: usize,
    pub value: Value,
}

impl Node {
    pub fn kind(&self) -> &'static str {
        match self.value {
            Value::Null => "null",
            Value::Str(_) => "a scalar",
            Value::Seq(_) => "a list",
            Value::Map(_) => "a mapping",
        }
    }

    pub fn as_str(&self) -> Option<&str> {
        match &self.value {
            Value::Str(s) => Some(s),
            _ => None,
        }
    }

    pub fn get(&self, key: &str) -> Option<&Node> {
        match &self.value {
            Value::Map(m) => m.iter().find(|(k, _)| k.name == key).map(|(_, v)| v),
            _ => None,
        }
    }
}

/// Parse `text` (the contents of `file`) into its one document's tree.
pub fn parse(file: &Path, text: &str) -> Result<Node, ComposeError> {
    let docs = MarkedYaml::load_from_str(text).map_err(|e| ComposeError::At {
        file: file.to_path_buf(),
        line: e.marker().line(),
        msg: format!("invalid YAML: {}", e.info()),
    })?;
    match docs.len() {
        0 => Err(ComposeError::At {
            file: file.to_path_buf(),
            line: 1,
            msg: "the file is empty".into(),
        }),
        1 => convert(file, &docs[0]),
        _ => Err(ComposeError::At {
            file: file.to_path_buf(),
            line: docs[1].span.start.line(),
            msg: "a compose file holds one YAML document".into(),
        }),
    }
}

fn convert(file: &Path, y: &MarkedYaml) -> Result<Node, ComposeError> {
    let line = y.span.start.line();
    let bad = |msg: String| ComposeError::At {
        file: file.to_path_buf(),
        line,
        msg,
    };
    let value = match &y.data {
        YamlData::Value(s) => scalar(s),
        YamlData::Representation(s, _, _) => Value::Str(s.to_string()),
        YamlData::Sequence(items) => Value::Seq(
            items
                .iter()
                .map(|i| convert(file, i))
                .collect::<Result<_, _>>()?,
        ),
        YamlData::Mapping(m) => {
            let mut out: Vec<(Key, Node)> = Vec::new();
            let mut merged: Vec<(Key, Node)> = Vec::new();
            for (k, v) in m {
                let kline = k.span.start.line();
                let name = match &k.data {
                    YamlData::Value(s) => match scalar(s) {
                        Value::Str(s) => s,
                        _ => return Err(bad("a mapping key must be a string".into())),
                    },
                    YamlData::Representation(s, _, _) => s.to_string(),
                    _ => return Err(bad("a mapping key must be a string".into())),
                };
                let v = convert(file, v)?;
                if name == "<<" {
                    let sources = match v.value {
                        Value::Map(_) => vec![v],
                        Value::Seq(items) => items,
                        _ => return Err(bad("a merge key (<<) takes a mapping".into())),
                    };
                    for s in sources {
                        let Value::Map(entries) = s.value else {
                            return Err(bad("a merge key (<<) takes a mapping".into()));
                        };
                        for (k, v) in entries {
                            if !merged.iter().any(|(m, _)| m.name == k.name) {
                                merged.push((k, v));
                            }
                        }
                    }
                    continue;
                }
                out.push((Key { name, line: kline }, v));
            }
            for (k, v) in merged {
                if !out.iter().any(|(o, _)| o.name == k.name) {
                    out.push((k, v));
                }
            }
            Value::Map(out)
        }
        YamlData::Tagged(_, inner) => return convert(file, inner),
        YamlData::Alias(_) | YamlData::BadValue => {
            return Err(bad(
                "invalid YAML value (an unknown alias, or aliases expanding too far)".into(),
            ))
        }
    };
    Ok(Node { line, value })
}

fn scalar(s: &Scalar) -> Value {
    match s {
        Scalar::Null => Value::Null,
        Scalar::Boolean(b) => Value::Str(b.to_string()),
        Scalar::Integer(i) => Value::Str(i.to_string()),
        Scalar::FloatingPoint(f) => Value::Str(f.to_string()),
        Scalar::String(s) => Value::Str(s.to_string()),
    }
}

/// Write a JSON value as YAML (`compose config`), keys in their order.
pub fn emit(v: &serde_json::Value) -> String {
    fn conv(v: &serde_json::Value) -> saphyr::Yaml<'static> {
        use saphyr::Yaml;
        match v {
            serde_json::Value::Null => Yaml::Value(Scalar::Null),
            serde_json::Value::Bool(b) => Yaml::Value(Scalar::Boolean(*b)),
            serde_json::Value::Number(n) => match n.as_i64() {
                Some(i) => Yaml::Value(Scalar::Integer(i)),
                None => Yaml::Value(Scalar::String(n.to_string().into())),
            },
            serde_json::Value::String(s) => Yaml::Value(Scalar::String(s.clone().into())),
            serde_json::Value::Array(a) => Yaml::Sequence(a.iter().map(conv).collect()),
            serde_json::Value::Object(m) => {
                let mut out = saphyr::Mapping::new();
                for (k, v) in m {
                    out.insert(Yaml::Value(Scalar::String(k.clone().into())), conv(v));
                }
                Yaml::Mapping(out)
            }
        }
    }
    let mut out = String::new();
    let mut e = saphyr::YamlEmitter::new(&mut out);
    if e.dump(&conv(v)).is_err() {
        return v.to_string();
    }
    out.push('\n');
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    fn p(t: &str) -> Result<Node, ComposeError> {
        parse(Path::new("c.yml"), t)
    }

    #[test]
    fn lines_and_merge_keys() {
        let n = p("x-base: &b\n  image: a\n  restart: always\nservices:\n  web:\n    <<: *b\n    image: b\n    ports: [\"3000:3000\", 80]\n").unwrap();
        let web = n.get("services").unwrap().get("web").unwrap();
        assert_eq!(web.line, 6);
        assert_eq!(web.get("image").unwrap().as_str(), Some("b"));
        assert_eq!(web.get("restart").unwrap().as_str(), Some("always"));
        let Value::Seq(ports) = &web.get("ports").unwrap().value else {
            panic!()
        };
        assert_eq!(ports[1].as_str(), Some("80"));
    }

    #[test]
    fn errors_have_lines() {
        let e = p("services:\n  web:\n    image: [a\n")
            .unwrap_err()
            .to_string();
        assert!(e.starts_with("c.yml:"), "{e}");
        assert!(p("").is_err());
        assert!(p("a: 1\n---\nb: 2\n").is_err());
        let bomb = "a: &a [x,x,x,x,x,x,x,x,x]\nb: &b [*a,*a,*a,*a,*a,*a,*a,*a,*a]\nc: &c [*b,*b,*b,*b,*b,*b,*b,*b,*b]\nd: &d [*c,*c,*c,*c,*c,*c,*c,*c,*c]\ne: &e [*d,*d,*d,*d,*d,*d,*d,*d,*d]\nf: &f [*e,*e,*e,*e,*e,*e,*e,*e,*e]\ng: &g [*f,*f,*f,*f,*f,*f,*f,*f,*f]\nh: [*g,*g,*g,*g,*g,*g,*g,*g,*g]\n";
        assert!(p(bomb).is_err());
    }
}
