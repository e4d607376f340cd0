//! End-to-end tests of `skiff kube generate`: real containers, a real
//! replicated service and a real compose project (a replicated service
//! with a health check, a named volume and an env_file, beside a service
//! that publishes a port), each run inside a network namespace the test
//! makes. The output is checked against the Kubernetes schemas with
//! PyPI's `kubernetes-validate --strict` (installed here when missing)
//! and field by field: replicas, image, probes, securityContext, claims,
//! Service ports, env and envFrom. Bad input exits 125 and writes nothing.

mod common;

use common::*;
use saphyr::{LoadableYamlNode, ScalarOwned, YamlOwned};
use serde_json::{json, Value};
use std::path::{Path, PathBuf};
use std::process::{Command, Output};
use std::sync::OnceLock;

/// `kubernetes-validate`, installed from PyPI the first time it is needed
/// (as scripts/test.sh installs what the suite needs).
fn validator() -> &'static str {
    static V: OnceLock<()> = OnceLock::new();
    V.get_or_init(|| {
        if have("kubernetes-validate") {
            return;
        }
        let st = Command::new("python3")
            .args(["-m", "pip", "install", "--quiet", "kubernetes-validate"])
            .status()
            .expect("python3 -m pip");
        assert!(
            st.success() && have("kubernetes-validate"),
            "cannot install kubernetes-validate from PyPI (python3 -m pip install kubernetes-validate)"
        );
    });
    "kubernetes-validate"
}

/// Validate files against the schemas of the newest Kubernetes the
/// package ships, rejecting unknown fields.
fn validate(files: &[PathBuf]) {
    let o = Command::new(validator())
        .arg("--strict")
        .args(files)
        .output()
        .expect("kubernetes-validate");
    let out = String::from_utf8_lossy(&o.stdout);
    assert!(
        o.status.success(),
        "the manifests violate the Kubernetes schema:\n{out}{}",
        String::from_utf8_lossy(&o.stderr)
    );
    assert!(out.contains("passed"), "{out}");
    assert!(!out.contains("ERROR"), "{out}");
}

/// A store with busybox, a directory, and a namespace skiff runs in;
/// every container is removed on drop.
struct Host {
    s: TestStore,
    dir: tempfile::TempDir,
    ns: Netns,
}

impl Host {
    fn new() -> Host {
        let dir = tempfile::tempdir().expect("tempdir");
        std::fs::create_dir(dir.path().join("shop")).expect("mkdir");
        Host {
            s: TestStore::new().with_busybox(),
            dir,
            ns: Netns::new("kube"),
        }
    }

    /// The compose project's directory (so the project is `shop`).
    fn project(&self) -> PathBuf {
        self.dir.path().join("shop")
    }

    fn skiff(&self, args: &[&str]) -> Output {
        Command::new("nsenter")
            .arg(format!("--net={}", self.ns.path()))
            .arg(skiff_bin())
            .arg("--root")
            .arg(self.s.root())
            .args(args)
            .current_dir(self.project())
            .env_remove("SKIFF_ROOT")
            .output()
            .expect("run skiff")
    }

    /// Succeeds; (stdout, stderr).
    fn ok(&self, args: &[&str]) -> (String, String) {
        let o = self.skiff(args);
        let (out, err) = (
            String::from_utf8_lossy(&o.stdout).into_owned(),
            String::from_utf8_lossy(&o.stderr).into_owned(),
        );
        assert!(
            o.status.success(),
            "skiff {args:?} failed ({:?}):\nstdout: {out}\nstderr: {err}",
            o.status.code()
        );
        (out, err)
    }

    fn fails(&self, args: &[&str]) -> String {
        let o = self.skiff(args);
        assert_eq!(
            o.status.code(),
            Some(125),
            "skiff {args:?}: stdout {} stderr {}",
            String::from_utf8_lossy(&o.stdout),
            String::from_utf8_lossy(&o.stderr)
        );
        String::from_utf8_lossy(&o.stderr).into_owned()
    }
}

impl Drop for Host {
    fn drop(&mut self) {
        let o = self.skiff(&["ps", "-a", "-q"]);
        for id in String::from_utf8_lossy(&o.stdout).split_whitespace() {
            let _ = self.skiff(&["rm", "-f", id]);
        }
    }
}

fn to_json(y: &YamlOwned) -> Value {
    match y {
        YamlOwned::Value(ScalarOwned::Null) => Value::Null,
        YamlOwned::Value(ScalarOwned::Boolean(b)) => json!(b),
        YamlOwned::Value(ScalarOwned::Integer(i)) => json!(i),
        YamlOwned::Value(ScalarOwned::FloatingPoint(f)) => json!(f.into_inner()),
        YamlOwned::Value(ScalarOwned::String(s)) => json!(s),
        YamlOwned::Sequence(v) => Value::Array(v.iter().map(to_json).collect()),
        YamlOwned::Mapping(m) => Value::Object(
            m.iter()
                .map(|(k, v)| match k {
                    YamlOwned::Value(ScalarOwned::String(k)) => (k.clone(), to_json(v)),
                    other => panic!("a key that is not a string: {other:?}"),
                })
                .collect(),
        ),
        other => panic!("unexpected YAML node {other:?}"),
    }
}

/// The documents of a YAML stream, as JSON values.
fn docs(text: &str) -> Vec<Value> {
    YamlOwned::load_from_str(text)
        .expect("the output is YAML")
        .iter()
        .map(to_json)
        .collect()
}

fn find<'a>(docs: &'a [Value], kind: &str, name: &str) -> &'a Value {
    docs.iter()
        .find(|d| d["kind"] == kind && d["metadata"]["name"] == name)
        .unwrap_or_else(|| panic!("no {kind} {name}"))
}

fn strs(v: &Value) -> Vec<String> {
    v.as_array()
        .map(|a| {
            a.iter()
                .filter_map(|s| s.as_str().map(String::from))
                .collect()
        })
        .unwrap_or_default()
}

/// A DNS-1035 label, checked here independently of skiff's code.
fn dns_label(s: &str) -> bool {
    let b = s.as_bytes();
    !b.is_empty()
        && b.len() <= 63
        && b[0].is_ascii_lowercase()
        && b[b.len() - 1] != b'-'
        && b.iter()
            .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || *c == b'-')
}

/// Every object's name (and every pod volume's) is a DNS label.
fn names_are_labels(docs: &[Value]) {
    for d in docs {
        let n = d["metadata"]["name"].as_str().expect("name");
        assert!(dns_label(n), "object name {n:?}");
        for v in d["spec"]["template"]["spec"]["volumes"]
            .as_array()
            .into_iter()
            .flatten()
        {
            let n = v["name"].as_str().expect("volume name");
            assert!(dns_label(n), "volume name {n:?}");
        }
    }
}

/// Write `text` to a file in `dir` and validate it.
fn validate_text(dir: &Path, text: &str) {
    let f = dir.join("all.yaml");
    std::fs::write(&f, text).expect("write");
    validate(&[f]);
}

const COMPOSE: &str = r#"services:
  web_front:
    image: busybox:fixture
    command: ["httpd", "-f", "-p", "8080"]
    env_file: web.env
    environment:
      FEATURE: "off"
      API_URL: http://edge:8080
    volumes:
      - uploads:/srv/uploads
    healthcheck:
      test: ["CMD-SHELL", "wget -q -O /dev/null http://127.0.0.1:8080/ || exit 1"]
      interval: 1s
      timeout: 2s
      retries: 2
      start_period: 4s
    deploy:
      replicas: 2
      resources:
        limits: {cpus: "0.25", memory: 32M}
      update_config: {parallelism: 2, order: start-first}
    stop_grace_period: 20s
    read_only: true
    restart: always
  edge:
    image: busybox:fixture
    command: ["httpd", "-f", "-p", "8080"]
    ports:
      - "18080:8080"
    stop_signal: SIGKILL
volumes:
  uploads: {}
"#;

#[test]
fn compose_project_becomes_valid_manifests() {
    let h = Host::new();
    std::fs::write(h.project().join("compose.yaml"), COMPOSE).expect("write");
    std::fs::write(
        h.project().join("web.env"),
        "# the web's settings\nNODE_ENV=production\nFEATURE=on\nANSWER=y\n",
    )
    .expect("write");
    h.ok(&["compose", "up", "-d"]);

    let (yaml, warnings) = h.ok(&["kube", "generate", "--compose"]);
    validate_text(h.dir.path(), &yaml);
    let d = docs(&yaml);
    names_are_labels(&d);
    let kinds: Vec<&str> = d.iter().filter_map(|x| x["kind"].as_str()).collect();
    assert_eq!(
        kinds,
        [
            "ConfigMap",
            "PersistentVolumeClaim",
            "Service",
            "Deployment",
            "Deployment"
        ],
        "{yaml}"
    );

    // The replicated service: web_front is web-front.
    let web = find(&d, "Deployment", "web-front");
    assert_eq!(web["spec"]["replicas"].as_i64(), Some(2));
    assert_eq!(
        web["spec"]["template"]["metadata"]["labels"]["app.kubernetes.io/part-of"].as_str(),
        Some("shop")
    );
    let roll = &web["spec"]["strategy"];
    assert_eq!(roll["type"].as_str(), Some("RollingUpdate"));
    assert_eq!(roll["rollingUpdate"]["maxSurge"].as_i64(), Some(2));
    assert_eq!(roll["rollingUpdate"]["maxUnavailable"].as_i64(), Some(0));
    let pod = &web["spec"]["template"]["spec"];
    assert_eq!(pod["terminationGracePeriodSeconds"].as_i64(), Some(20));
    assert_eq!(pod["automountServiceAccountToken"].as_bool(), Some(false));
    let c = &pod["containers"][0];
    // Never pushed: the tag, and a warning that says how to pin a digest.
    assert_eq!(c["image"].as_str(), Some("busybox:fixture"));
    assert!(warnings.contains("--registry"), "{warnings}");
    assert_eq!(strs(&c["args"]), ["httpd", "-f", "-p", "8080"]);
    assert!(c["command"].is_null(), "no --entrypoint: no command");
    // Probes from the health check.
    for probe in ["readinessProbe", "livenessProbe", "startupProbe"] {
        assert_eq!(
            strs(&c[probe]["exec"]["command"]),
            [
                "/bin/sh",
                "-c",
                "wget -q -O /dev/null http://127.0.0.1:8080/ || exit 1"
            ],
            "{probe}"
        );
        assert_eq!(c[probe]["timeoutSeconds"].as_i64(), Some(2));
    }
    assert_eq!(c["readinessProbe"]["periodSeconds"].as_i64(), Some(1));
    assert_eq!(c["livenessProbe"]["failureThreshold"].as_i64(), Some(2));
    assert!(c["startupProbe"]["failureThreshold"].as_i64() > Some(2));
    // Limits.
    assert_eq!(c["resources"]["limits"]["cpu"].as_str(), Some("250m"));
    assert_eq!(c["resources"]["limits"]["memory"].as_str(), Some("32Mi"));
    // skiff's defaults.
    let sc = &c["securityContext"];
    assert_eq!(sc["allowPrivilegeEscalation"].as_bool(), Some(false));
    assert_eq!(sc["privileged"].as_bool(), Some(false));
    assert_eq!(sc["readOnlyRootFilesystem"].as_bool(), Some(true));
    assert_eq!(
        sc["seccompProfile"]["type"].as_str(),
        Some("RuntimeDefault")
    );
    assert!(sc["capabilities"]["add"].is_null(), "nothing added");
    let dropped = strs(&sc["capabilities"]["drop"]);
    for cap in ["SYS_ADMIN", "NET_ADMIN", "SYS_PTRACE", "SYS_MODULE"] {
        assert!(dropped.iter().any(|d| d == cap), "{cap} dropped");
    }
    for cap in ["CHOWN", "NET_BIND_SERVICE", "SETUID", "KILL"] {
        assert!(!dropped.iter().any(|d| d == cap), "docker keeps {cap}");
    }
    // env_file in a ConfigMap (envFrom); `environment` in env, over it.
    assert_eq!(
        c["envFrom"][0]["configMapRef"]["name"].as_str(),
        Some("web-front-env")
    );
    let cm = find(&d, "ConfigMap", "web-front-env");
    assert_eq!(cm["data"]["NODE_ENV"].as_str(), Some("production"));
    assert_eq!(cm["data"]["FEATURE"].as_str(), Some("on"));
    assert_eq!(
        cm["data"]["ANSWER"].as_str(),
        Some("y"),
        "a string, not a boolean"
    );
    let env: Vec<(String, String)> = c["env"]
        .as_array()
        .expect("env")
        .iter()
        .map(|e| {
            (
                e["name"].as_str().unwrap_or("").to_string(),
                e["value"].as_str().unwrap_or("").to_string(),
            )
        })
        .collect();
    assert!(env.contains(&("FEATURE".into(), "off".into())), "{env:?}");
    assert!(env.contains(&("API_URL".into(), "http://edge:8080".into())));
    assert!(
        !env.iter().any(|(k, _)| k == "NODE_ENV"),
        "only in the ConfigMap"
    );
    // The named volume: a claim, mounted.
    let pvc = find(&d, "PersistentVolumeClaim", "shop-uploads");
    assert_eq!(strs(&pvc["spec"]["accessModes"]), ["ReadWriteOnce"]);
    assert_eq!(
        pvc["spec"]["resources"]["requests"]["storage"].as_str(),
        Some("1Gi")
    );
    assert_eq!(
        pod["volumes"][0]["persistentVolumeClaim"]["claimName"].as_str(),
        Some("shop-uploads")
    );
    assert_eq!(
        c["volumeMounts"][0]["mountPath"].as_str(),
        Some("/srv/uploads")
    );
    assert_eq!(c["volumeMounts"][0]["name"].as_str(), Some("shop-uploads"));
    // Two replicas on one ReadWriteOnce claim: said.
    assert!(warnings.contains("ReadWriteMany"), "{warnings}");

    // The published port: a Service, and TCP readiness without a check.
    let svc = find(&d, "Service", "edge");
    let port = &svc["spec"]["ports"][0];
    assert_eq!(port["port"].as_i64(), Some(8080));
    assert_eq!(port["targetPort"].as_i64(), Some(8080));
    assert_eq!(port["protocol"].as_str(), Some("TCP"));
    assert_eq!(
        svc["spec"]["selector"]["app.kubernetes.io/name"].as_str(),
        Some("edge")
    );
    let edge = &find(&d, "Deployment", "edge")["spec"]["template"]["spec"]["containers"][0];
    assert_eq!(
        edge["readinessProbe"]["tcpSocket"]["port"].as_i64(),
        Some(8080)
    );
    assert!(edge["livenessProbe"].is_null());
    assert!(warnings.contains("SIGKILL"), "{warnings}");
    assert!(
        warnings.contains("\"web-front\""),
        "the rename is said: {warnings}"
    );

    // Deterministic; -o writes the same objects, one file each, valid.
    assert_eq!(h.ok(&["kube", "generate", "--compose"]).0, yaml);
    let out = h.dir.path().join("k8s");
    let (listed, _) = h.ok(&[
        "kube",
        "generate",
        "--compose",
        "-o",
        out.to_str().expect("utf8"),
    ]);
    let files: Vec<PathBuf> = listed.lines().map(PathBuf::from).collect();
    assert_eq!(files.len(), 5, "{listed}");
    validate(&files);
    let mut joined = String::new();
    for f in &files {
        joined.push_str(&std::fs::read_to_string(f).expect("read"));
    }
    assert_eq!(docs(&joined), d);
    let leftovers: Vec<_> = std::fs::read_dir(&out)
        .expect("read_dir")
        .filter_map(|e| e.ok())
        .filter(|e| e.file_name().to_string_lossy().starts_with('.'))
        .collect();
    assert!(leftovers.is_empty(), "temporary files left: {leftovers:?}");

    // One service of the project.
    let (one, _) = h.ok(&["kube", "generate", "--compose", "edge"]);
    let one = docs(&one);
    assert_eq!(one.len(), 2);
    find(&one, "Service", "edge");
}

#[test]
fn replicated_service_and_container() {
    let h = Host::new();
    let env = h.dir.path().join("api.env");
    std::fs::write(&env, "LOG_LEVEL=debug\nRETRIES=3\n").expect("write");
    h.ok(&[
        "run",
        "-d",
        "--name",
        "api_svc",
        "--replicas",
        "2",
        "-p",
        "18081:80",
        "-e",
        "MODE=fast",
        "--env-file",
        env.to_str().expect("utf8"),
        "-m",
        "64m",
        "--cpus",
        "1.5",
        "-v",
        "api_data:/data",
        "--restart",
        "always",
        "busybox:fixture",
        "httpd",
        "-f",
        "-p",
        "80",
    ]);
    h.ok(&[
        "run",
        "-d",
        "--name",
        "Worker.1",
        "-u",
        "1000:1000",
        "--entrypoint",
        "/bin/sleep",
        "busybox:fixture",
        "300",
    ]);

    let (yaml, warnings) = h.ok(&[
        "kube",
        "generate",
        "--registry",
        "registry.example.com/team",
        "--parallel",
        "2",
        "--service-type",
        "LoadBalancer",
        "api_svc",
        "Worker.1",
    ]);
    validate_text(h.dir.path(), &yaml);
    let d = docs(&yaml);
    names_are_labels(&d);

    let api = find(&d, "Deployment", "api-svc");
    assert_eq!(api["spec"]["replicas"].as_i64(), Some(2));
    let roll = &api["spec"]["strategy"]["rollingUpdate"];
    assert_eq!(
        roll["maxSurge"].as_i64(),
        Some(2),
        "start-first: it listens"
    );
    assert_eq!(roll["maxUnavailable"].as_i64(), Some(0));
    let c = &api["spec"]["template"]["spec"]["containers"][0];
    // The image by the digest the store (and so the registry) has.
    let (inspect, _) = h.ok(&["inspect", "api_svc.1"]);
    let image = c["image"].as_str().expect("image");
    let digest = image
        .strip_prefix("registry.example.com/team/busybox@")
        .unwrap_or_else(|| panic!("image {image}"));
    assert!(
        digest.starts_with("sha256:") && digest.len() == 71,
        "{image}"
    );
    assert!(inspect.contains(digest), "{digest} not in {inspect}");
    assert!(!warnings.contains("names no registry"), "{warnings}");
    assert_eq!(c["resources"]["limits"]["memory"].as_str(), Some("64Mi"));
    assert_eq!(c["resources"]["limits"]["cpu"].as_str(), Some("1500m"));
    assert_eq!(c["readinessProbe"]["tcpSocket"]["port"].as_i64(), Some(80));
    assert_eq!(c["ports"][0]["containerPort"].as_i64(), Some(80));
    assert_eq!(c["env"][0]["name"].as_str(), Some("MODE"));
    let cm = find(&d, "ConfigMap", "api-svc-env");
    assert_eq!(cm["data"]["RETRIES"].as_str(), Some("3"));
    find(&d, "PersistentVolumeClaim", "api-data");
    let svc = find(&d, "Service", "api-svc");
    assert_eq!(svc["spec"]["type"].as_str(), Some("LoadBalancer"));
    assert_eq!(svc["spec"]["ports"][0]["port"].as_i64(), Some(80));

    // A plain container: --entrypoint is command, the rest args; numeric
    // user; no ports, so no Service and stop-first.
    let w = find(&d, "Deployment", "worker-1");
    assert_eq!(w["spec"]["replicas"].as_i64(), Some(1));
    let roll = &w["spec"]["strategy"]["rollingUpdate"];
    assert_eq!(roll["maxSurge"].as_i64(), Some(0));
    assert_eq!(roll["maxUnavailable"].as_i64(), Some(2));
    let c = &w["spec"]["template"]["spec"]["containers"][0];
    assert_eq!(strs(&c["command"]), ["/bin/sleep"]);
    assert_eq!(strs(&c["args"]), ["300"]);
    assert_eq!(c["securityContext"]["runAsUser"].as_i64(), Some(1000));
    assert_eq!(c["securityContext"]["runAsGroup"].as_i64(), Some(1000));
    assert!(c["readinessProbe"].is_null());
    assert!(!d.iter().any(|x| x["kind"].as_str() == Some("Service")
        && x["metadata"]["name"].as_str() == Some("worker-1")));
    assert!(warnings.contains("restart policy no"), "{warnings}");
}

#[test]
fn bad_input_is_refused_and_writes_nothing() {
    let h = Host::new();
    let e = h.fails(&["kube", "generate", "nosuch"]);
    assert!(
        e.contains("no container or service named \"nosuch\""),
        "{e}"
    );
    let e = h.fails(&["kube", "generate"]);
    assert!(e.contains("--compose"), "{e}");
    let e = h.fails(&["kube", "generate", "--compose"]);
    assert!(e.contains("no compose file"), "{e}");
    h.ok(&[
        "run",
        "-d",
        "--name",
        "one",
        "busybox:fixture",
        "sleep",
        "300",
    ]);
    let e = h.fails(&["kube", "generate", "--volume-size", "lots", "one"]);
    assert!(e.contains("--volume-size"), "{e}");
    let e = h.fails(&["kube", "generate", "--registry", "a b", "one"]);
    assert!(e.contains("--registry"), "{e}");
    // -o onto a file: an error naming it, the file untouched.
    let f = h.dir.path().join("taken");
    std::fs::write(&f, "mine").expect("write");
    let e = h.fails(&["kube", "generate", "-o", f.to_str().expect("utf8"), "one"]);
    assert!(e.contains("taken"), "{e}");
    assert_eq!(std::fs::read_to_string(&f).expect("read"), "mine");
    // A project with nothing running.
    std::fs::write(
        h.project().join("compose.yaml"),
        "services:\n  a:\n    image: busybox:fixture\n",
    )
    .expect("write");
    let e = h.fails(&["kube", "generate", "--compose"]);
    assert!(e.contains("compose up"), "{e}");
    let e = h.fails(&["kube", "generate", "--compose", "b"]);
    assert!(e.contains("no service \"b\""), "{e}");
}
