//! JSON values as YAML documents, with saphyr's emitter (the crate that
//! already reads compose files). Keys come out sorted (serde_json's map is
//! ordered), so the same objects always give the same bytes.
//!
//! saphyr quotes what YAML 1.2 would read as something other than a
//! string; Kubernetes' Go reader is YAML 1.1, which also reads `y`, `n`,
//! `1_000` or `0b1` as booleans and numbers. Those are double-quoted here
//! as well (JSON's escapes are YAML's).

use saphyr::{Mapping, Scalar, Yaml, YamlEmitter};
use serde_json::Value;
use std::borrow::Cow;

/// Strings a YAML 1.1 reader could take for a boolean or a number.
fn yaml11_ambiguous(s: &str) -> bool {
    matches!(s, "y" | "Y" | "n" | "N")
        || (s.chars().any(|c| c.is_ascii_digit())
            && s.chars()
                .all(|c| c.is_ascii_hexdigit() || "+-._:xXoO".contains(c)))
}

fn to_yaml(v: &Value) -> Yaml<'static> {
    match v {
        Value::Null => Yaml::Value(Scalar::Null),
        Value::Bool(b) => Yaml::Value(Scalar::Boolean(*b)),
        Value::Number(n) => match n.as_i64() {
            Some(i) => Yaml::Value(Scalar::Integer(i)),
            None => Yaml::Value(Scalar::FloatingPoint(n.as_f64().unwrap_or(0.0).into())),
        },
        Value::String(s) if yaml11_ambiguous(s) => {
            let quoted = Value::String(s.clone()).to_string();
            let inner = quoted[1..quoted.len() - 1].to_string();
            Yaml::Representation(Cow::Owned(inner), saphyr::ScalarStyle::DoubleQuoted, None)
        }
        Value::String(s) => Yaml::Value(Scalar::String(Cow::Owned(s.clone()))),
        Value::Array(a) => Yaml::Sequence(a.iter().map(to_yaml).collect()),
        Value::Object(m) => {
            let mut out = Mapping::new();
            for (k, v) in m {
                out.insert(
                    Yaml::Value(Scalar::String(Cow::Owned(k.clone()))),
                    to_yaml(v),
                );
            }
            Yaml::Mapping(out)
        }
    }
}

/// `docs` as one YAML stream: each document starts with `---`.
pub fn stream<'a>(docs: impl IntoIterator<Item = &'a Value>) -> String {
    let mut out = String::new();
    for d in docs {
        let y = to_yaml(d);
        let mut e = YamlEmitter::new(&mut out);
        // Writing into a String cannot fail.
        let _ = e.dump(&y);
        out.push('\n');
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use saphyr::LoadableYamlNode;

    #[test]
    fn round_trips_and_quotes_what_yaml_1_1_would_misread() {
        let v = serde_json::json!({
            "kind": "ConfigMap",
            "data": {"A": "y", "B": "1_000", "C": "true", "D": "3000", "E": "a \"q\"\nline",
                     "F": "1500m", "G": "", "H": "#x", "I": "0x1F", "J": "-"},
            "n": 3, "b": false, "list": ["x", 1], "empty": {}
        });
        let text = stream([&v]);
        assert!(text.starts_with("---\n"));
        assert!(text.contains("A: \"y\""), "{text}");
        assert!(text.contains("B: \"1_000\""), "{text}");
        assert!(text.contains("F: 1500m"), "{text}");
        // Keys sorted.
        assert!(text.find("b: false").unwrap() < text.find("kind:").unwrap());
        let back = Yaml::load_from_str(&text).unwrap();
        let d = &back[0]["data"];
        for (k, want) in [
            ("A", "y"),
            ("B", "1_000"),
            ("C", "true"),
            ("D", "3000"),
            ("E", "a \"q\"\nline"),
            ("G", ""),
            ("H", "#x"),
            ("I", "0x1F"),
            ("J", "-"),
        ] {
            assert_eq!(d[k].as_str(), Some(want), "{k} in {text}");
        }
        assert_eq!(back[0]["n"].as_integer(), Some(3));
    }
}
