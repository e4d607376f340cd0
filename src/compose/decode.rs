//! The whole compose file decoded into a [`Project`]: the top level, the
//! project name, volumes and networks, each service (`decode_service.rs`),
//! then the checks across services. A key outside the subset is an error
//! naming the file, line and key; keys that change nothing for skiff are
//! warnings.

use super::decode_service::service;
use super::decoder::Decoder;
use super::model::{NetworkDef, Project, VolumeDef};
use super::yaml::{Key, Node};
use super::Result;
use std::collections::BTreeMap;

const TOP: &[&str] = &["version", "name", "services", "volumes", "networks"];

/// Decode the whole file. `name` is the project name already decided
/// by the caller (`-p`), else the file's `name:` is used, else `dir_name`.
pub fn decode(d: &mut Decoder, root: &Node, name: Option<&str>, dir_name: &str) -> Result<Project> {
    let top = d.map(root, "the file")?;
    d.check_keys(top, TOP, "top level")?;
    let file_name = match root.get("name") {
        Some(n) => d.opt_string(n, "name")?,
        None => None,
    };
    let name = match (name, file_name) {
        (Some(n), _) => n.to_string(),
        (None, Some(n)) => n,
        (None, None) => normalize_project_name(dir_name),
    };
    check_project_name(&name).map_err(|m| d.err(root.get("name").map_or(1, |n| n.line), m))?;
    let mut volumes = BTreeMap::new();
    if let Some(v) = root.get("volumes") {
        for (k, n) in d.map(v, "volumes")? {
            volumes.insert(k.name.clone(), volume_def(d, &name, k, n)?);
        }
    }
    let mut networks = BTreeMap::new();
    if let Some(v) = root.get("networks") {
        for (k, n) in d.map(v, "networks")? {
            let m = d.map(n, &format!("network {:?}", k.name))?;
            d.check_keys(
                m,
                &["name", "external", "driver", "labels"],
                &format!("network {:?}", k.name),
            )?;
            let (external, nname) = external_and_name(d, &name, k, n)?;
            networks.insert(
                k.name.clone(),
                NetworkDef {
                    name: nname,
                    external,
                },
            );
        }
    }
    let Some(svcs) = root.get("services") else {
        return Err(d.err(root.line, "the file has no services"));
    };
    let mut services = Vec::new();
    for (k, n) in d.map(svcs, "services")? {
        services.push(service(d, k, n, &volumes, &networks)?);
    }
    if services.is_empty() {
        return Err(d.err(svcs.line, "the file has no services"));
    }
    let project = Project {
        name,
        dir: d.dir.to_path_buf(),
        file: d.file.to_path_buf(),
        services,
        volumes,
        networks,
        warnings: std::mem::take(&mut d.warnings),
    };
    check_project(d, &project)?;
    Ok(project)
}

/// A top-level volume's or network's `external:` and its name in the
/// store: `name:`, else the key for an external one, else `<project>_<key>`.
fn external_and_name(d: &Decoder, project: &str, k: &Key, n: &Node) -> Result<(bool, String)> {
    let external = match n.get("external") {
        Some(e) => d.boolean(e, "external")?,
        None => false,
    };
    let name = match n.get("name") {
        Some(x) => d.string(x, "name")?,
        None if external => k.name.clone(),
        None => format!("{project}_{}", k.name),
    };
    Ok((external, name))
}

fn volume_def(d: &mut Decoder, project: &str, k: &Key, n: &Node) -> Result<VolumeDef> {
    let what = format!("volume {:?}", k.name);
    let m = d.map(n, &what)?;
    d.check_keys(m, &["name", "external", "driver", "labels"], &what)?;
    if let Some(drv) = n.get("driver") {
        let s = d.string(drv, "driver")?;
        if s != "local" {
            return Err(d.err(
                drv.line,
                format!("{what}: only the local driver is supported"),
            ));
        }
    }
    let (external, name) = external_and_name(d, project, k, n)?;
    crate::store::volumes::check_volume_name(&name)
        .map_err(|e| d.err(n.line.max(k.line), format!("{what}: {e}")))?;
    let labels = match n.get("labels") {
        Some(l) => d.key_values(l, "labels")?.into_iter().collect(),
        None => BTreeMap::new(),
    };
    Ok(VolumeDef {
        name,
        external,
        labels,
    })
}

/// Checks across services: dependencies exist, host ports and container
/// names are not taken twice.
fn check_project(d: &Decoder, p: &Project) -> Result<()> {
    let mut host_ports: Vec<(String, &str)> = Vec::new();
    for s in &p.services {
        for dep in &s.depends_on {
            if !p.services.iter().any(|o| o.name == dep.service) {
                return Err(d.err(
                    dep.line,
                    format!(
                        "service {:?} depends on unknown service {:?}",
                        s.name, dep.service
                    ),
                ));
            }
        }
        for port in &s.ports {
            let spec: crate::supervisor::ports::PortSpec = port
                .parse()
                .map_err(|e: crate::supervisor::SupervisorError| d.err(s.line, e.to_string()))?;
            let key = format!("{:?}:{}", spec.host_ip, spec.host_port);
            if let Some((_, other)) = host_ports.iter().find(|(k, _)| *k == key) {
                return Err(d.err(
                    s.line,
                    format!(
                        "service {:?}: host port {} is already published by service {other:?}",
                        s.name, spec.host_port
                    ),
                ));
            }
            host_ports.push((key, &s.name));
            if s.replicas > 1 {
                return Err(d.err(
                    s.line,
                    format!(
                        "service {:?}: {} replicas cannot all publish host port {}",
                        s.name, s.replicas, spec.host_port
                    ),
                ));
            }
        }
        if let Some(c) = &s.container_name {
            if p.services
                .iter()
                .any(|o| o.name != s.name && o.container_name.as_ref() == Some(c))
            {
                return Err(d.err(
                    s.line,
                    format!("container_name {c:?} is used by two services"),
                ));
            }
        }
    }
    super::order::order(p)?;
    Ok(())
}

/// Compose's rule: lowercase, only [a-z0-9_-], starting with a letter or digit.
pub fn normalize_project_name(dir: &str) -> String {
    dir.to_lowercase()
        .chars()
        .filter(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || *c == '_' || *c == '-')
        .skip_while(|c| !c.is_ascii_alphanumeric())
        .collect()
}

pub fn check_project_name(n: &str) -> std::result::Result<(), String> {
    let ok = n
        .chars()
        .next()
        .is_some_and(|c| c.is_ascii_lowercase() || c.is_ascii_digit())
        && n.chars()
            .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '_' || c == '-');
    if ok {
        Ok(())
    } else {
        Err(format!(
            "invalid project name {n:?}: use lowercase letters, digits, '_' and '-', starting with a letter or digit"
        ))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::compose::decoder::split_words;
    use crate::compose::model::Condition;

    fn decode_text(text: &str, vars: &[(&str, &str)]) -> Result<Project> {
        let dir = tempfile::tempdir().unwrap();
        let file = dir.path().join("compose.yaml");
        let vars: Vec<(String, String)> = vars
            .iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect();
        let lookup = |k: &str| vars.iter().find(|(n, _)| n == k).map(|(_, v)| v.clone());
        std::fs::write(dir.path().join("web.env"), "FROM_FILE=1\nOVERRIDDEN=file\n").unwrap();
        let root = super::super::yaml::parse(&file, text)?;
        let mut d = Decoder {
            file: &file,
            dir: dir.path(),
            lookup: &lookup,
            warnings: Vec::new(),
        };
        decode(&mut d, &root, None, "My_App")
    }

    #[test]
    fn the_subset_is_decoded_and_normalized() {
        let p = decode_text(
            r#"
services:
  web:
    build:
      context: ./web
      dockerfile: Dockerfile.prod
      args: [NODE_VERSION=20]
      target: runtime
    command: node "server main.js" --port=${PORT:-3000}
    entrypoint: ["tini", "--"]
    env_file: web.env
    environment: [OVERRIDDEN=env, FROM_HOST]
    ports:
      - "127.0.0.1:8080:3000"
      - target: 9229
        published: "9229"
    volumes:
      - data:/data:ro
      - ./src:/app/src
      - type: volume
        source: data
        target: /more
    depends_on:
      db:
        condition: service_healthy
    healthcheck:
      test: ["CMD", "node", "-e", "it's"]
      interval: 5s
      retries: 2
    deploy:
      replicas: 1
      resources:
        limits: { cpus: "0.5", memory: 256m, pids: 100 }
      update_config: { order: start-first, failure_action: rollback, monitor: 30s }
    stop_grace_period: 1m30s
    labels: { team: api }
  db:
    image: postgres:16
    healthcheck:
      test: pg_isready
volumes:
  data:
"#,
            &[("FROM_HOST", "h")],
        )
        .unwrap();
        assert_eq!(p.name, "my_app");
        let w = &p.services[0];
        let b = w.build.as_ref().unwrap();
        assert!(b.context.ends_with("web"));
        assert_eq!(b.args.get("NODE_VERSION").unwrap(), "20");
        assert_eq!(
            w.command.as_deref().unwrap(),
            ["node", "server main.js", "--port=3000"]
        );
        assert_eq!(w.environment.get("OVERRIDDEN").unwrap(), "env");
        assert_eq!(w.environment.get("FROM_FILE").unwrap(), "1");
        assert_eq!(w.environment.get("FROM_HOST").unwrap(), "h");
        assert_eq!(w.ports, ["127.0.0.1:8080:3000", "9229:9229"]);
        assert_eq!(w.volumes[0].kind, "volume");
        assert!(w.volumes[0].read_only);
        assert_eq!(w.volumes[1].kind, "bind");
        assert!(w.volumes[1].source.ends_with("/src"));
        assert_eq!(w.volumes[2].target, "/more");
        assert_eq!(w.depends_on[0].condition, Condition::ServiceHealthy);
        assert_eq!(
            w.healthcheck.as_ref().unwrap().test.as_deref(),
            Some(r"exec 'node' '-e' 'it'\''s'")
        );
        assert_eq!(w.replicas, 1);
        assert_eq!(w.limits.memory.as_deref(), Some("256m"));
        assert_eq!(w.limits.pids, Some(100));
        assert_eq!(w.update_config.order, "start-first");
        assert_eq!(w.stop_grace_period, Some(90));
        assert_eq!(p.volumes.get("data").unwrap().name, "my_app_data");
        assert_eq!(
            p.services[1].healthcheck.as_ref().unwrap().test.as_deref(),
            Some("pg_isready")
        );
        // Services start after what they depend on.
        assert_eq!(super::super::order::order(&p).unwrap(), [1, 0]);
    }

    #[test]
    fn bad_values_name_their_line() {
        let cases = [
            (
                "services:\n  a:\n    image: x\n    restart: sometimes\n",
                4,
                "restart",
            ),
            (
                "services:\n  a:\n    image: x\n    ports: [\"80\"]\n",
                4,
                "no host port",
            ),
            (
                "services:\n  a:\n    image: x\n    volumes: [\"v:rel\"]\n",
                4,
                "absolute",
            ),
            (
                "services:\n  a:\n    image: x\n    stop_signal: SIGNOPE\n",
                4,
                "stop_signal",
            ),
            (
                "services:\n  a:\n    build: .\n    container_name: c\n    deploy: {replicas: 2}\n",
                2,
                "container_name",
            ),
            ("services:\n  a: {}\n", 2, "neither an image nor a build"),
            (
                "name: Bad Name\nservices:\n  a:\n    image: x\n",
                1,
                "invalid project name",
            ),
            (
                "services:\n  a:\n    image: x\n    healthcheck:\n      test: [\"WHAT\"]\n",
                5,
                "CMD",
            ),
            (
                "services:\n  a:\n    image: x\n    networks: [nope]\n",
                4,
                "not declared",
            ),
            ("volumes: {}\n", 1, "no services"),
            ("services:\n  a:\n    image: $\n", 3, "literal $"),
        ];
        for (text, line, needle) in cases {
            let e = decode_text(text, &[]).unwrap_err().to_string();
            assert!(e.contains(&format!("compose.yaml:{line}:")), "{text}: {e}");
            assert!(e.contains(needle), "{text}: {e}");
        }
    }

    #[test]
    fn shell_words() {
        assert_eq!(
            split_words(r#"a 'b c' "d\"e" f\ g"#).unwrap(),
            ["a", "b c", "d\"e", "f g"]
        );
        assert!(split_words("a 'b").is_none());
        assert_eq!(normalize_project_name("._My App-2"), "myapp-2");
    }
}
