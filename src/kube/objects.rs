//! The objects beside a Deployment: a Service for its ports, a
//! PersistentVolumeClaim per named volume, a ConfigMap for its env files.

use super::source::App;
use super::Object;
use serde_json::{json, Value};
use std::collections::BTreeMap;

/// Named volumes (store names) and how many replicas, over all apps, mount
/// each: a ReadWriteOnce claim mounted by more than one pod can only be
/// used on one node.
pub fn claim_users(apps: &[App]) -> BTreeMap<String, u32> {
    let mut out = BTreeMap::new();
    for a in apps {
        for v in &a.config.options.run.volumes {
            if let Ok(m) = crate::runtime::spec::parse_volume(v) {
                if let Some(name) = m.volume {
                    *out.entry(name).or_insert(0) += a.replicas;
                }
            }
        }
    }
    out
}

fn metadata(name: &str, labels: &Value) -> Value {
    if labels.as_object().is_some_and(|l| l.is_empty()) {
        return json!({ "name": name });
    }
    json!({ "name": name, "labels": labels })
}

/// Keys a ConfigMap may hold (`[-._a-zA-Z0-9]+`); others go in `env`.
pub fn config_map_key(k: &str) -> bool {
    !k.is_empty()
        && k.len() <= 253
        && k.bytes()
            .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'-' | b'_' | b'.'))
}

pub fn config_map(name: &str, labels: &Value, data: &BTreeMap<String, String>) -> Object {
    Object {
        kind: "ConfigMap",
        name: name.to_string(),
        value: json!({
            "apiVersion": "v1",
            "kind": "ConfigMap",
            "metadata": metadata(name, labels),
            "data": data,
        }),
    }
}

pub fn claim(name: &str, labels: &Value, size: &str) -> Object {
    Object {
        kind: "PersistentVolumeClaim",
        name: name.to_string(),
        value: json!({
            "apiVersion": "v1",
            "kind": "PersistentVolumeClaim",
            "metadata": metadata(name, labels),
            "spec": {
                "accessModes": ["ReadWriteOnce"],
                "resources": { "requests": { "storage": size } },
            },
        }),
    }
}

/// A Service on the container ports, under the same port numbers: the
/// name other services used on a skiff network (`api:3000`) keeps working
/// as the Service's DNS name.
pub fn service(name: &str, labels: &Value, selector: &Value, ports: &[u16], kind: &str) -> Object {
    let ports: Vec<Value> = ports
        .iter()
        .map(|p| {
            json!({
                "name": format!("tcp-{p}"),
                "port": p,
                "protocol": "TCP",
                "targetPort": p,
            })
        })
        .collect();
    Object {
        kind: "Service",
        name: name.to_string(),
        value: json!({
            "apiVersion": "v1",
            "kind": "Service",
            "metadata": metadata(name, labels),
            "spec": {
                "ports": ports,
                "selector": selector,
                "type": kind,
            },
        }),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn keys_and_service_ports() {
        assert!(config_map_key("NODE_ENV") && config_map_key("a.b-c"));
        assert!(!config_map_key("A B") && !config_map_key(""));
        let s = service(
            "api",
            &json!({}),
            &json!({"app": "api"}),
            &[3000, 9229],
            "ClusterIP",
        );
        assert_eq!(s.value["spec"]["ports"][1]["name"], "tcp-9229");
        assert_eq!(s.value["spec"]["ports"][0]["targetPort"], 3000);
    }
}
