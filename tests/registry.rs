//! End-to-end tests of pull, push, login, save and load: the real binary
//! against a real registry (Debian's `docker-registry`, on a free loopback
//! port, with and without htpasswd auth), skopeo and podman on the other
//! side, and a tiny fake registry (std::net, in this file) for the faults a
//! real one does not make: 401s, 500s, truncated bodies, wrong digests,
//! another platform only, a Bearer token server.

mod common;

use common::*;
use std::collections::HashMap;
use std::io::{BufRead, BufReader, Read, Write};
use std::net::{TcpListener, TcpStream};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Output, Stdio};
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

const REGISTRY_BIN: &str = "/usr/bin/docker-registry";
const USER: &str = "ci";
const PASS: &str = "s3cret-pass";

// ------------------------------------------------------------ helpers

fn wait_for_port(port: u16) {
    let deadline = Instant::now() + Duration::from_secs(15);
    while TcpStream::connect(("127.0.0.1", port)).is_err() {
        assert!(
            Instant::now() < deadline,
            "nothing listens on 127.0.0.1:{port}"
        );
        std::thread::sleep(Duration::from_millis(50));
    }
}

/// A docker-registry process with its config and storage in a temp dir.
struct Registry {
    child: Child,
    port: u16,
    _dir: tempfile::TempDir,
}

impl Registry {
    fn start(with_auth: bool) -> Registry {
        Registry::start_with(with_auth, false)
    }

    /// With `tls`, the registry serves https with a fresh self-signed
    /// certificate for 127.0.0.1 (made with openssl).
    fn start_with(with_auth: bool, tls: bool) -> Registry {
        assert!(
            Path::new(REGISTRY_BIN).exists(),
            "{REGISTRY_BIN} is missing: apt-get install -y docker-registry apache2-utils"
        );
        let dir = tempfile::tempdir().expect("tempdir");
        let port = free_port();
        let mut config = format!(
            "version: 0.1\nlog:\n  level: error\n  accesslog:\n    disabled: true\n\
             storage:\n  filesystem:\n    rootdirectory: {}\n  delete:\n    enabled: true\n\
             http:\n  addr: 127.0.0.1:{port}\n",
            dir.path().join("data").display()
        );
        if with_auth {
            let out = Command::new("htpasswd")
                .args(["-Bbn", USER, PASS])
                .output()
                .expect("htpasswd (apache2-utils) must be installed");
            assert!(out.status.success(), "htpasswd failed");
            let htpasswd = dir.path().join("htpasswd");
            std::fs::write(&htpasswd, &out.stdout).unwrap();
            config.push_str(&format!(
                "auth:\n  htpasswd:\n    realm: skiff-test\n    path: {}\n",
                htpasswd.display()
            ));
        }
        if tls {
            let (cert, key) = (dir.path().join("cert.pem"), dir.path().join("key.pem"));
            let out = Command::new("openssl")
                .args([
                    "req", "-x509", "-newkey", "rsa:2048", "-nodes", "-days", "1",
                ])
                .args([
                    "-subj",
                    "/CN=127.0.0.1",
                    "-addext",
                    "subjectAltName=IP:127.0.0.1",
                ])
                .arg("-keyout")
                .arg(&key)
                .arg("-out")
                .arg(&cert)
                .output()
                .expect("openssl must be installed");
            assert!(
                out.status.success(),
                "openssl: {}",
                String::from_utf8_lossy(&out.stderr)
            );
            config.push_str(&format!(
                "  tls:\n    certificate: {}\n    key: {}\n",
                cert.display(),
                key.display()
            ));
        }
        let cfg = dir.path().join("config.yml");
        std::fs::write(&cfg, config).unwrap();
        let child = Command::new(REGISTRY_BIN)
            .arg("serve")
            .arg(&cfg)
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .expect("start docker-registry");
        wait_for_port(port);
        Registry {
            child,
            port,
            _dir: dir,
        }
    }

    fn host(&self) -> String {
        format!("127.0.0.1:{}", self.port)
    }
}

impl Drop for Registry {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// A store plus its own auth file, so tests never touch ~/.docker.
struct Client {
    store: TestStore,
    auth_file: PathBuf,
    _auth_dir: tempfile::TempDir,
}

impl Client {
    fn new() -> Client {
        let d = tempfile::tempdir().unwrap();
        Client {
            store: TestStore::new(),
            auth_file: d.path().join("auth.json"),
            _auth_dir: d,
        }
    }
    fn with_busybox(self) -> Client {
        Client {
            store: self.store.with_busybox(),
            ..self
        }
    }
    fn cmd(&self, args: &[&str]) -> Command {
        let mut c = self.store.cmd();
        c.args(args).env("REGISTRY_AUTH_FILE", &self.auth_file);
        c
    }
    fn run(&self, args: &[&str]) -> Output {
        self.cmd(args).output().expect("run skiff")
    }
    fn ok(&self, args: &[&str]) -> String {
        let out = self.run(args);
        assert!(
            out.status.success(),
            "skiff {args:?} failed ({:?}):\nstdout: {}\nstderr: {}",
            out.status.code(),
            String::from_utf8_lossy(&out.stdout),
            String::from_utf8_lossy(&out.stderr)
        );
        String::from_utf8_lossy(&out.stdout).into_owned()
    }
    /// Require exit 125 and a single `skiff: …` line on stderr; return it.
    fn fails(&self, args: &[&str]) -> String {
        let out = self.run(args);
        let err = String::from_utf8_lossy(&out.stderr).into_owned();
        assert_eq!(
            out.status.code(),
            Some(125),
            "skiff {args:?}: stdout {} stderr {err}",
            String::from_utf8_lossy(&out.stdout)
        );
        let last = err.lines().last().unwrap_or("").to_string();
        assert!(last.starts_with("skiff: "), "no error line in {err:?}");
        last
    }
    fn login(&self, host: &str, pass: &str) -> Output {
        let mut c = self.cmd(&[
            "login",
            host,
            "-u",
            USER,
            "--password-stdin",
            "--tls-verify=false",
        ]);
        c.stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped());
        let mut child = c.spawn().expect("spawn login");
        child
            .stdin
            .take()
            .unwrap()
            .write_all(format!("{pass}\n").as_bytes())
            .unwrap();
        child.wait_with_output().unwrap()
    }
    fn inspect(&self, image: &str) -> serde_json::Value {
        let v: serde_json::Value = serde_json::from_str(&self.ok(&["inspect", image])).unwrap();
        v[0].clone()
    }
    fn root(&self) -> &Path {
        self.store.root()
    }
}

fn skopeo(args: &[&str]) -> String {
    let out = Command::new("skopeo").args(args).output().expect("skopeo");
    assert!(
        out.status.success(),
        "skopeo {args:?}: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8_lossy(&out.stdout).into_owned()
}

fn run_exists() -> bool {
    Command::new(skiff_bin())
        .args(["run", "--help"])
        .output()
        .map(|o| o.status.success())
        .unwrap_or(false)
}

/// PUT a manifest (or index) straight to a registry without auth.
fn put_manifest(host: &str, repo: &str, reference: &str, media_type: &str, body: &[u8]) {
    let mut s = TcpStream::connect(host).unwrap();
    write!(
        s,
        "PUT /v2/{repo}/manifests/{reference} HTTP/1.1\r\nHost: {host}\r\nContent-Type: {media_type}\r\nContent-Length: {}\r\nConnection: close\r\n\r\n",
        body.len()
    )
    .unwrap();
    s.write_all(body).unwrap();
    let mut resp = String::new();
    s.read_to_string(&mut resp).unwrap();
    assert!(resp.starts_with("HTTP/1.1 201"), "PUT manifest: {resp}");
}

/// `tree_snapshot` without `gc.lock`, which any blob-writing command
/// creates on first use (an empty lock file, not state).
fn snapshot(root: &Path) -> Vec<(PathBuf, u64, u32)> {
    tree_snapshot(root)
        .into_iter()
        .filter(|(p, _, _)| p.as_os_str() != "gc.lock")
        .collect()
}

fn sha(bytes: &[u8]) -> String {
    skiff::store::Digest::of_bytes(bytes).to_string()
}

// ------------------------------------------------------------ real registry

#[test]
fn push_inspect_copy_pull_round_trip() {
    let reg = Registry::start(false);
    let host = reg.host();
    let a = Client::new().with_busybox();
    let local = a.inspect("busybox:fixture");
    let dest = format!("{host}/team/busybox:1");
    let pushed = a.ok(&["push", "busybox:fixture", &dest, "--tls-verify=false"]);
    assert_eq!(pushed.trim(), local["Digest"].as_str().unwrap());

    // skopeo sees what skiff pushed, and copies it to a second repository.
    let info: serde_json::Value = serde_json::from_str(&skopeo(&[
        "inspect",
        "--tls-verify=false",
        &format!("docker://{dest}"),
    ]))
    .unwrap();
    assert_eq!(info["Digest"], local["Digest"]);
    assert_eq!(info["Architecture"], "amd64");
    skopeo(&[
        "copy",
        "--src-tls-verify=false",
        "--dest-tls-verify=false",
        &format!("docker://{dest}"),
        &format!("docker://{host}/copy/busybox:2"),
    ]);

    // A fresh store pulls the copy: same image, a pull revision.
    let b = Client::new();
    let copy = format!("{host}/copy/busybox:2");
    let id = b.ok(&["pull", &copy, "--tls-verify=false"]);
    assert_eq!(id.trim(), local["Id"].as_str().unwrap());
    let pulled = b.inspect(&copy);
    assert_eq!(pulled["Digest"], local["Digest"]);
    let revs: serde_json::Value =
        serde_json::from_str(&b.ok(&["revisions", &copy, "--format", "json"])).unwrap();
    assert_eq!(revs.as_array().unwrap().len(), 1);
    assert_eq!(revs[0]["reason"], "pull");

    // Pulling again changes nothing: no new revision.
    let out = b.run(&["pull", &copy, "--tls-verify=false"]);
    assert!(out.status.success());
    assert!(String::from_utf8_lossy(&out.stderr).contains("up to date"));
    let revs: serde_json::Value =
        serde_json::from_str(&b.ok(&["revisions", &copy, "--format", "json"])).unwrap();
    assert_eq!(revs.as_array().unwrap().len(), 1);

    // By digest: stored, untagged, loadable by digest.
    let c = Client::new();
    let by_digest = format!("{host}/copy/busybox@{}", local["Digest"].as_str().unwrap());
    c.ok(&["pull", &by_digest, "-q", "--tls-verify=false"]);
    assert_eq!(c.inspect(&by_digest)["Id"], local["Id"]);
    assert!(c.ok(&["images", "-q"]).trim().is_empty());

    // Default TLS verification refuses the plain-http registry, with a hint.
    let err = c.fails(&["pull", &copy]);
    assert!(
        err.contains(&format!("{host}/copy/busybox")) && err.contains("--tls-verify=false"),
        "{err}"
    );

    if run_exists() {
        let out = b.run(&["run", "--rm", &copy, "true"]);
        assert!(
            out.status.success(),
            "skiff run of the pulled image: {}",
            String::from_utf8_lossy(&out.stderr)
        );
    }
}

#[test]
fn self_signed_https_needs_tls_verify_false() {
    let reg = Registry::start_with(false, true);
    let host = reg.host();
    let a = Client::new().with_busybox();
    let dest = format!("{host}/team/tls:1");
    let err = a.fails(&["push", "busybox:fixture", &dest]);
    assert!(
        err.contains(&format!("{host}/team/tls")) && err.contains("--tls-verify=false"),
        "{err}"
    );
    let digest = a.ok(&["push", "busybox:fixture", &dest, "--tls-verify=false"]);
    let info: serde_json::Value = serde_json::from_str(&skopeo(&[
        "inspect",
        "--tls-verify=false",
        &format!("docker://{dest}"),
    ]))
    .unwrap();
    assert_eq!(info["Digest"].as_str().unwrap(), digest.trim());
    let b = Client::new();
    b.ok(&["pull", &dest, "--tls-verify=false"]);
    assert_eq!(b.inspect(&dest)["Digest"].as_str().unwrap(), digest.trim());
}

#[test]
fn login_push_pull_with_htpasswd_auth() {
    let reg = Registry::start(true);
    let host = reg.host();
    let a = Client::new().with_busybox();
    let dest = format!("{host}/team/node-api:1.4");

    let err = a.fails(&["push", "busybox:fixture", &dest, "--tls-verify=false"]);
    assert!(
        err.contains(&format!("{host}/team/node-api")) && err.contains("authentication required"),
        "{err}"
    );
    assert!(err.contains(&format!("skiff login {host}")), "{err}");

    let bad = a.login(&host, "wrong");
    assert_eq!(bad.status.code(), Some(125));
    assert!(
        String::from_utf8_lossy(&bad.stderr).contains("login to"),
        "{bad:?}"
    );
    assert!(
        !a.auth_file.exists(),
        "a failed login must not save anything"
    );

    let ok = a.login(&host, PASS);
    assert!(
        ok.status.success(),
        "{}",
        String::from_utf8_lossy(&ok.stderr)
    );
    assert!(String::from_utf8_lossy(&ok.stdout).contains("Login Succeeded"));
    let file: serde_json::Value =
        serde_json::from_slice(&std::fs::read(&a.auth_file).unwrap()).unwrap();
    use base64::Engine as _;
    let expected = base64::engine::general_purpose::STANDARD.encode(format!("{USER}:{PASS}"));
    assert_eq!(file["auths"][host.as_str()]["auth"], expected.as_str());
    use std::os::unix::fs::PermissionsExt;
    assert_eq!(
        std::fs::metadata(&a.auth_file)
            .unwrap()
            .permissions()
            .mode()
            & 0o777,
        0o600
    );

    let digest = a.ok(&["push", "busybox:fixture", &dest, "--tls-verify=false"]);
    let info: serde_json::Value = serde_json::from_str(&skopeo(&[
        "inspect",
        "--tls-verify=false",
        "--creds",
        &format!("{USER}:{PASS}"),
        &format!("docker://{dest}"),
    ]))
    .unwrap();
    assert_eq!(info["Digest"].as_str().unwrap(), digest.trim());

    // Another store with the same auth file pulls.
    let b = Client {
        store: TestStore::new(),
        auth_file: a.auth_file.clone(),
        _auth_dir: tempfile::tempdir().unwrap(),
    };
    b.ok(&["pull", &dest, "--tls-verify=false"]);
    assert_eq!(b.inspect(&dest)["Digest"].as_str().unwrap(), digest.trim());

    // After logout the registry refuses again, and nothing is stored.
    a.ok(&["logout", &host]);
    let c = Client {
        store: TestStore::new(),
        auth_file: a.auth_file.clone(),
        _auth_dir: tempfile::tempdir().unwrap(),
    };
    c.ok(&["images"]);
    let before = snapshot(c.root());
    let err = c.fails(&["pull", &dest, "--tls-verify=false"]);
    assert!(err.contains("authentication required"), "{err}");
    assert_eq!(snapshot(c.root()), before);
}

#[test]
fn chunked_upload_and_cross_repository_mount() {
    let reg = Registry::start(false);
    let host = reg.host();
    let a = Client::new().with_busybox();
    let local = a.inspect("busybox:fixture");
    let first = format!("{host}/team/a:1");
    // The busybox layer (~1.3MB) goes up in 64k PATCH chunks.
    let out = a.run(&[
        "push",
        "busybox:fixture",
        &first,
        "--tls-verify=false",
        "--chunk-size",
        "64k",
    ]);
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );

    // The blobs arrive intact: a fresh pull verifies every digest.
    let b = Client::new();
    b.ok(&["pull", &first, "--tls-verify=false"]);
    assert_eq!(b.inspect(&first)["Digest"], local["Digest"]);

    // Pushing the pulled image to another repository mounts its blobs.
    let second = format!("{host}/team/b:1");
    let out = b.run(&["push", &first, &second, "--tls-verify=false"]);
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(out.status.success(), "{err}");
    assert!(err.contains("Mounted from team/a"), "{err}");
    // And a second push of the same image finds every blob there.
    let out = b.run(&["push", &first, &second, "--tls-verify=false"]);
    assert!(String::from_utf8_lossy(&out.stderr).contains("already exists"));
    skopeo(&[
        "inspect",
        "--tls-verify=false",
        &format!("docker://{second}"),
    ]);
}

#[test]
fn docker_manifests_and_indexes() {
    let reg = Registry::start(false);
    let host = reg.host();
    let a = Client::new().with_busybox();
    let local = a.inspect("busybox:fixture");
    a.ok(&[
        "push",
        "busybox:fixture",
        &format!("{host}/team/app:oci"),
        "--tls-verify=false",
    ]);
    // skopeo rewrites it as a docker v2 schema 2 manifest.
    skopeo(&[
        "copy",
        "--format",
        "v2s2",
        "--src-tls-verify=false",
        "--dest-tls-verify=false",
        &format!("docker://{host}/team/app:oci"),
        &format!("docker://{host}/team/app:v2s2"),
    ]);
    let info: serde_json::Value = serde_json::from_str(&skopeo(&[
        "inspect",
        "--tls-verify=false",
        &format!("docker://{host}/team/app:v2s2"),
    ]))
    .unwrap();
    let v2s2_digest = info["Digest"].as_str().unwrap().to_string();
    assert_ne!(v2s2_digest, local["Digest"].as_str().unwrap());

    // Pulled as it is: the stored manifest keeps the registry's digest.
    let b = Client::new();
    let v2s2 = format!("{host}/team/app:v2s2");
    b.ok(&["pull", &v2s2, "--tls-verify=false"]);
    let pulled = b.inspect(&v2s2);
    assert_eq!(pulled["Digest"].as_str().unwrap(), v2s2_digest);
    assert_eq!(pulled["Id"], local["Id"]);
    let raw = std::fs::read(
        b.root()
            .join("oci/blobs/sha256")
            .join(v2s2_digest.trim_start_matches("sha256:")),
    )
    .unwrap();
    assert!(String::from_utf8_lossy(&raw)
        .contains("application/vnd.docker.distribution.manifest.v2+json"));
    // And pushed back unchanged.
    let again = b.ok(&[
        "push",
        &v2s2,
        &format!("{host}/team/app:v2s2-again"),
        "--tls-verify=false",
    ]);
    assert_eq!(again.trim(), v2s2_digest);

    // An OCI index and a docker manifest list: amd64 is the OCI manifest,
    // arm64 (for the test's sake) the docker one.
    let oci_digest = local["Digest"].as_str().unwrap();
    let oci_size = std::fs::metadata(
        a.root()
            .join("oci/blobs/sha256")
            .join(oci_digest.trim_start_matches("sha256:")),
    )
    .unwrap()
    .len();
    for (tag, index_type, amd_type, arm_type) in [
        (
            "multi",
            "application/vnd.oci.image.index.v1+json",
            "application/vnd.oci.image.manifest.v1+json",
            "application/vnd.docker.distribution.manifest.v2+json",
        ),
        (
            "list",
            "application/vnd.docker.distribution.manifest.list.v2+json",
            "application/vnd.oci.image.manifest.v1+json",
            "application/vnd.docker.distribution.manifest.v2+json",
        ),
    ] {
        let index = serde_json::json!({
            "schemaVersion": 2,
            "mediaType": index_type,
            "manifests": [
                {"mediaType": arm_type, "digest": v2s2_digest, "size": raw.len(),
                 "platform": {"os": "linux", "architecture": "arm64", "variant": "v8"}},
                {"mediaType": amd_type, "digest": oci_digest, "size": oci_size,
                 "platform": {"os": "linux", "architecture": "amd64"}},
            ]
        });
        put_manifest(
            &host,
            "team/app",
            tag,
            index_type,
            &serde_json::to_vec(&index).unwrap(),
        );
        let r = format!("{host}/team/app:{tag}");
        let c = Client::new();
        c.ok(&["pull", &r, "--tls-verify=false"]);
        assert_eq!(
            c.inspect(&r)["Digest"].as_str().unwrap(),
            oci_digest,
            "{tag}"
        );
        c.ok(&[
            "pull",
            &r,
            "--tls-verify=false",
            "--platform",
            "linux/arm64",
        ]);
        assert_eq!(
            c.inspect(&r)["Digest"].as_str().unwrap(),
            v2s2_digest,
            "{tag}"
        );
        let before = snapshot(c.root());
        let err = c.fails(&[
            "pull",
            &r,
            "--tls-verify=false",
            "--platform",
            "linux/s390x",
        ]);
        assert!(
            err.contains("linux/s390x")
                && err.contains("linux/arm64/v8, linux/amd64")
                && err.contains(&r),
            "{err}"
        );
        assert_eq!(snapshot(c.root()), before);
    }
}

// ------------------------------------------------------------ fake registry

struct Req {
    method: String,
    path: String,
    headers: HashMap<String, String>,
}

enum Reply {
    Full {
        status: u16,
        headers: Vec<(String, String)>,
        body: Vec<u8>,
    },
    /// Promise `body.len()` bytes, send `send` of them, then hang up.
    Truncated { body: Vec<u8>, send: usize },
}

fn reply(status: u16, headers: &[(&str, &str)], body: &[u8]) -> Reply {
    Reply::Full {
        status,
        headers: headers
            .iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect(),
        body: body.to_vec(),
    }
}

fn error_reply(status: u16, code: &str, msg: &str) -> Reply {
    let body = format!(r#"{{"errors":[{{"code":"{code}","message":"{msg}"}}]}}"#);
    reply(
        status,
        &[("Content-Type", "application/json")],
        body.as_bytes(),
    )
}

type Handler = dyn Fn(&Req) -> Reply + Send + Sync;

/// An HTTP/1.1 server on a loopback port, one thread per connection, that
/// answers with `handler`. Hangs up on anything that is not plain HTTP (the
/// TLS probe skiff makes first). Stops when dropped.
struct Fake {
    port: u16,
    stop: Arc<AtomicBool>,
    thread: Option<std::thread::JoinHandle<()>>,
}

impl Fake {
    fn start(handler: impl Fn(&Req) -> Reply + Send + Sync + 'static) -> Fake {
        let listener = TcpListener::bind("127.0.0.1:0").unwrap();
        let port = listener.local_addr().unwrap().port();
        let stop = Arc::new(AtomicBool::new(false));
        let handler: Arc<Handler> = Arc::new(handler);
        let st = stop.clone();
        let thread = std::thread::spawn(move || {
            for conn in listener.incoming() {
                if st.load(Ordering::Relaxed) {
                    break;
                }
                let Ok(conn) = conn else { continue };
                let h = handler.clone();
                std::thread::spawn(move || serve_conn(conn, &*h));
            }
        });
        Fake {
            port,
            stop,
            thread: Some(thread),
        }
    }
    fn host(&self) -> String {
        format!("127.0.0.1:{}", self.port)
    }
}

impl Drop for Fake {
    fn drop(&mut self) {
        self.stop.store(true, Ordering::Relaxed);
        let _ = TcpStream::connect(("127.0.0.1", self.port));
        if let Some(t) = self.thread.take() {
            let _ = t.join();
        }
    }
}

fn serve_conn(conn: TcpStream, handler: &Handler) {
    let _ = conn.set_read_timeout(Some(Duration::from_secs(10)));
    let mut peek = [0u8; 1];
    match conn.peek(&mut peek) {
        Ok(1) if peek[0].is_ascii_uppercase() => {}
        _ => return, // TLS handshake or nothing: hang up
    }
    let mut w = match conn.try_clone() {
        Ok(w) => w,
        Err(_) => return,
    };
    let mut r = BufReader::new(conn);
    loop {
        let mut line = String::new();
        if r.read_line(&mut line).unwrap_or(0) == 0 {
            return;
        }
        let mut parts = line.split_whitespace();
        let method = parts.next().unwrap_or("").to_string();
        let path = parts.next().unwrap_or("").to_string();
        let mut headers = HashMap::new();
        loop {
            let mut h = String::new();
            if r.read_line(&mut h).unwrap_or(0) == 0 {
                return;
            }
            let h = h.trim_end();
            if h.is_empty() {
                break;
            }
            if let Some((k, v)) = h.split_once(':') {
                headers.insert(k.trim().to_ascii_lowercase(), v.trim().to_string());
            }
        }
        let len: usize = headers
            .get("content-length")
            .and_then(|v| v.parse().ok())
            .unwrap_or(0);
        let mut body = vec![0u8; len];
        if r.read_exact(&mut body).is_err() {
            return;
        }
        let req = Req {
            method,
            path,
            headers,
        };
        match handler(&req) {
            Reply::Full {
                status,
                headers,
                body,
            } => {
                let mut head = format!("HTTP/1.1 {status} X\r\nContent-Length: {}\r\n", body.len());
                for (k, v) in headers {
                    head.push_str(&format!("{k}: {v}\r\n"));
                }
                head.push_str("\r\n");
                if w.write_all(head.as_bytes()).is_err() {
                    return;
                }
                if req.method != "HEAD" && w.write_all(&body).is_err() {
                    return;
                }
            }
            Reply::Truncated { body, send } => {
                let head = format!("HTTP/1.1 200 OK\r\nContent-Length: {}\r\n\r\n", body.len());
                let _ = w.write_all(head.as_bytes());
                let _ = w.write_all(&body[..send]);
                let _ = w.flush();
                let _ = w.shutdown(std::net::Shutdown::Both);
                return;
            }
        }
    }
}

/// A small image made in the test: layers of one file each, gzipped.
#[derive(Clone)]
struct FakeImage {
    manifest: Vec<u8>,
    manifest_digest: String,
    config_digest: String,
    blobs: HashMap<String, Vec<u8>>,
    layer_digests: Vec<String>,
}

fn fake_image(layers: &[(&str, &[u8])], arch: &str) -> FakeImage {
    let mut blobs = HashMap::new();
    let mut diff_ids = Vec::new();
    let mut descs = Vec::new();
    let mut layer_digests = Vec::new();
    for (name, content) in layers {
        let mut b = tar::Builder::new(Vec::new());
        let mut h = tar::Header::new_gnu();
        h.set_size(content.len() as u64);
        h.set_mode(0o644);
        h.set_mtime(0);
        h.set_entry_type(tar::EntryType::Regular);
        b.append_data(&mut h, name, *content).unwrap();
        let tar_bytes = b.into_inner().unwrap();
        diff_ids.push(sha(&tar_bytes));
        let mut gz = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::fast());
        gz.write_all(&tar_bytes).unwrap();
        let gz = gz.finish().unwrap();
        let d = sha(&gz);
        descs.push(serde_json::json!({
            "mediaType": "application/vnd.oci.image.layer.v1.tar+gzip",
            "digest": d, "size": gz.len(),
        }));
        layer_digests.push(d.clone());
        blobs.insert(d, gz);
    }
    let config = serde_json::to_vec(&serde_json::json!({
        "architecture": arch, "os": "linux",
        "config": {"Cmd": ["/bin/sh"]},
        "rootfs": {"type": "layers", "diff_ids": diff_ids},
    }))
    .unwrap();
    let config_digest = sha(&config);
    let manifest = serde_json::to_vec(&serde_json::json!({
        "schemaVersion": 2,
        "mediaType": "application/vnd.oci.image.manifest.v1+json",
        "config": {"mediaType": "application/vnd.oci.image.config.v1+json",
                   "digest": config_digest, "size": config.len()},
        "layers": descs,
    }))
    .unwrap();
    blobs.insert(config_digest.clone(), config);
    FakeImage {
        manifest_digest: sha(&manifest),
        manifest,
        config_digest,
        blobs,
        layer_digests,
    }
}

/// Serve `img` as `team/app:1`, letting `fault` answer first.
fn serve(
    img: FakeImage,
    fault: impl Fn(&Req, &FakeImage) -> Option<Reply> + Send + Sync + 'static,
) -> Fake {
    Fake::start(move |req| {
        if let Some(r) = fault(req, &img) {
            return r;
        }
        if req.path == "/v2/" {
            return reply(200, &[("Content-Type", "application/json")], b"{}");
        }
        if req.path == "/v2/team/app/manifests/1"
            || req.path == format!("/v2/team/app/manifests/{}", img.manifest_digest)
        {
            return reply(
                200,
                &[
                    ("Content-Type", "application/vnd.oci.image.manifest.v1+json"),
                    ("Docker-Content-Digest", &img.manifest_digest),
                ],
                &img.manifest,
            );
        }
        if let Some(d) = req.path.strip_prefix("/v2/team/app/blobs/") {
            if let Some(b) = img.blobs.get(d) {
                return reply(200, &[("Content-Type", "application/octet-stream")], b);
            }
        }
        error_reply(404, "NAME_UNKNOWN", "repository name not known to registry")
    })
}

/// Pull `team/app:1` from `fake` into a store that has busybox, expect a
/// failure, and check that the store did not change at all.
fn pull_fails(host: &str) -> String {
    let c = Client::new().with_busybox();
    let before = snapshot(c.root());
    let err = c.fails(&["pull", &format!("{host}/team/app:1"), "--tls-verify=false"]);
    assert_eq!(
        snapshot(c.root()),
        before,
        "a failed pull changed the store: {err}"
    );
    assert!(err.contains(&format!("{host}/team/app")), "{err}");
    eprintln!("{err}");
    err
}

#[test]
fn faults_leave_the_store_untouched() {
    let img = fake_image(&[("hello.txt", b"hello world\n")], "amd64");
    let layer = img.layer_digests[0].clone();

    // Nothing listens.
    let port = free_port();
    let err = pull_fails(&format!("127.0.0.1:{port}"));
    assert!(err.contains("cannot reach the registry"), "{err}");

    // 401 everywhere, basic auth asked for and no credentials.
    let f = serve(img.clone(), |_, _| {
        Some(Reply::Full {
            status: 401,
            headers: vec![("WWW-Authenticate".into(), r#"Basic realm="x""#.into())],
            body: br#"{"errors":[{"code":"UNAUTHORIZED","message":"authentication required"}]}"#
                .to_vec(),
        })
    });
    let err = pull_fails(&f.host());
    assert!(
        err.contains("authentication required") && err.contains("skiff login"),
        "{err}"
    );
    drop(f);

    // 404 for the manifest.
    let f = serve(img.clone(), |req, _| {
        req.path
            .contains("/manifests/")
            .then(|| error_reply(404, "MANIFEST_UNKNOWN", "manifest unknown"))
    });
    let err = pull_fails(&f.host());
    assert!(
        err.contains("manifest 1 not found (404): manifest unknown (MANIFEST_UNKNOWN)"),
        "{err}"
    );
    drop(f);

    // 500 for the layer.
    let l = layer.clone();
    let f = serve(img.clone(), move |req, _| {
        req.path
            .ends_with(&l)
            .then(|| error_reply(500, "UNKNOWN", "disk on fire"))
    });
    let err = pull_fails(&f.host());
    assert!(
        err.contains(&format!("blob {layer}")) && err.contains("500"),
        "{err}"
    );
    assert!(err.contains("disk on fire"), "{err}");
    drop(f);

    // A truncated layer body.
    let l = layer.clone();
    let f = serve(img.clone(), move |req, img| {
        req.path.ends_with(&l).then(|| {
            let body = img.blobs[&l].clone();
            let send = body.len() / 2;
            Reply::Truncated { body, send }
        })
    });
    let err = pull_fails(&f.host());
    assert!(err.contains(&format!("blob {layer}")), "{err}");
    drop(f);

    // A layer whose content does not match its digest.
    let l = layer.clone();
    let f = serve(img.clone(), move |req, img| {
        req.path.ends_with(&l).then(|| {
            let mut body = img.blobs[&l].clone();
            let last = body.len() - 1;
            body[last] ^= 0xff;
            reply(200, &[], &body)
        })
    });
    let err = pull_fails(&f.host());
    assert!(
        err.contains(&format!("blob {layer}")) && err.contains("digest mismatch"),
        "{err}"
    );
    drop(f);

    // A manifest whose bytes do not match the digest the registry claims.
    let f = serve(img.clone(), |req, img| {
        req.path.ends_with("/manifests/1").then(|| {
            let mut m = img.manifest.clone();
            m.push(b' ');
            reply(200, &[("Docker-Content-Digest", &img.manifest_digest)], &m)
        })
    });
    let err = pull_fails(&f.host());
    assert!(
        err.contains("digest mismatch") && err.contains(&img.manifest_digest),
        "{err}"
    );
    drop(f);

    // An index with another platform only.
    let arm = fake_image(&[("hello.txt", b"arm\n")], "arm64");
    let index = serde_json::to_vec(&serde_json::json!({
        "schemaVersion": 2,
        "mediaType": "application/vnd.oci.image.index.v1+json",
        "manifests": [{"mediaType": "application/vnd.oci.image.manifest.v1+json",
            "digest": arm.manifest_digest, "size": arm.manifest.len(),
            "platform": {"os": "linux", "architecture": "arm64"}}],
    }))
    .unwrap();
    let f = serve(arm.clone(), move |req, _| {
        req.path.ends_with("/manifests/1").then(|| {
            reply(
                200,
                &[("Content-Type", "application/vnd.oci.image.index.v1+json")],
                &index,
            )
        })
    });
    let err = pull_fails(&f.host());
    assert!(
        err.contains("no image for platform linux/amd64") && err.contains("linux/arm64"),
        "{err}"
    );
    drop(f);

    // Something that is not a registry at all.
    let f = Fake::start(|_| reply(200, &[("Content-Type", "text/html")], b"<html>hi</html>"));
    let err = pull_fails(&f.host());
    assert!(err.contains("not") && err.contains("manifest"), "{err}");
}

#[test]
fn interrupted_pull_resumes_with_what_it_has() {
    let img = fake_image(
        &[("a.txt", b"first layer\n"), ("b.txt", b"second layer\n")],
        "amd64",
    );
    let second = img.layer_digests[1].clone();
    let gets: Arc<Mutex<HashMap<String, usize>>> = Arc::default();
    let fail_once = Arc::new(AtomicBool::new(true));
    let (g, f1, s) = (gets.clone(), fail_once.clone(), second.clone());
    let fake = serve(img.clone(), move |req, _| {
        if req.method == "GET" {
            *g.lock().unwrap().entry(req.path.clone()).or_default() += 1;
        }
        (req.path.ends_with(&s) && f1.swap(false, Ordering::Relaxed))
            .then(|| error_reply(503, "UNAVAILABLE", "try later"))
    });
    let c = Client::new();
    let r = format!("{}/team/app:1", fake.host());
    let err = c.fails(&["pull", &r, "--tls-verify=false", "--jobs", "1"]);
    assert!(err.contains(&second) && err.contains("503"), "{err}");
    // The first layer is kept (whole and verified); no tag, no manifest, no temp files.
    let blob = |d: &str| {
        c.root()
            .join("oci/blobs/sha256")
            .join(d.trim_start_matches("sha256:"))
    };
    assert!(blob(&img.layer_digests[0]).is_file());
    assert!(!blob(&img.manifest_digest).exists());
    assert!(!blob(&img.config_digest).exists());
    assert_eq!(std::fs::read_dir(c.root().join("tmp")).unwrap().count(), 0);
    assert!(c.ok(&["images", "-q"]).trim().is_empty());

    // The second try fetches only what is missing.
    let out = c.run(&["pull", &r, "--tls-verify=false"]);
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(String::from_utf8_lossy(&out.stderr).contains("Already exists"));
    let g = gets.lock().unwrap();
    let first_path = format!("/v2/team/app/blobs/{}", img.layer_digests[0]);
    assert_eq!(g.get(&first_path), Some(&1), "{g:?}");
    assert_eq!(
        c.inspect(&r)["Digest"].as_str().unwrap(),
        img.manifest_digest
    );
}

#[test]
fn bearer_token_flow() {
    let img = fake_image(&[("t.txt", b"token\n")], "amd64");
    let token_calls = Arc::new(AtomicUsize::new(0));
    let calls = token_calls.clone();
    let realm_port = Arc::new(Mutex::new(0u16));
    let rp = realm_port.clone();
    let fake = serve(img.clone(), move |req, _| {
        use base64::Engine as _;
        let basic = format!(
            "Basic {}",
            base64::engine::general_purpose::STANDARD.encode(format!("{USER}:{PASS}"))
        );
        if req.path.starts_with("/token") {
            calls.fetch_add(1, Ordering::Relaxed);
            if req.headers.get("authorization") != Some(&basic) {
                return Some(error_reply(401, "UNAUTHORIZED", "bad credentials"));
            }
            if !req.path.contains("service=fake") {
                return Some(error_reply(400, "BAD", "no service"));
            }
            return Some(reply(
                200,
                &[("Content-Type", "application/json")],
                br#"{"token":"tok-123"}"#,
            ));
        }
        if req.headers.get("authorization").map(String::as_str) != Some("Bearer tok-123") {
            let port = *rp.lock().unwrap();
            let challenge = format!(
                r#"Bearer realm="http://127.0.0.1:{port}/token",service="fake",scope="repository:team/app:pull""#
            );
            return Some(Reply::Full {
                status: 401,
                headers: vec![("WWW-Authenticate".into(), challenge)],
                body: br#"{"errors":[{"code":"UNAUTHORIZED","message":"token required"}]}"#
                    .to_vec(),
            });
        }
        None
    });
    *realm_port.lock().unwrap() = fake.port;
    let c = Client::new();
    let r = format!("{}/team/app:1", fake.host());
    let err = c.fails(&["pull", &r, "--tls-verify=false"]);
    assert!(err.contains("authentication required"), "{err}");
    let out = c.login(&fake.host(), PASS);
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    c.ok(&["pull", &r, "--tls-verify=false"]);
    assert_eq!(
        c.inspect(&r)["Digest"].as_str().unwrap(),
        img.manifest_digest
    );
    assert!(token_calls.load(Ordering::Relaxed) >= 2);
}

// ------------------------------------------------------------ save and load

#[test]
fn save_and_load_round_trip_both_formats() {
    let a = Client::new().with_busybox();
    let local = a.inspect("busybox:fixture");
    let dir = tempfile::tempdir().unwrap();
    let oci = dir.path().join("busybox-oci.tar");
    let docker = dir.path().join("busybox-docker.tar");
    a.ok(&["save", "-o", oci.to_str().unwrap(), "busybox:fixture"]);
    a.ok(&[
        "save",
        "--format",
        "docker-archive",
        "-o",
        docker.to_str().unwrap(),
        "busybox:fixture",
    ]);

    // OCI archive: the very same manifest comes back, tagged, reason load.
    let b = Client::new();
    let out = b.ok(&["load", "-i", oci.to_str().unwrap()]);
    assert!(out.contains("Loaded image: busybox:fixture"), "{out}");
    assert_eq!(b.inspect("busybox:fixture")["Digest"], local["Digest"]);
    let revs: serde_json::Value =
        serde_json::from_str(&b.ok(&["revisions", "busybox:fixture", "--format", "json"])).unwrap();
    assert_eq!(revs[0]["reason"], "load");

    // docker-archive: the same image id (config) and layer.
    let c = Client::new();
    c.ok(&["load", "-i", docker.to_str().unwrap()]);
    let loaded = c.inspect("busybox:fixture");
    assert_eq!(loaded["Id"], local["Id"]);
    assert_eq!(loaded["RootFS"], local["RootFS"]);

    // From stdin, gzipped.
    let gz = dir.path().join("busybox.tar.gz");
    let mut enc = flate2::write::GzEncoder::new(
        std::fs::File::create(&gz).unwrap(),
        flate2::Compression::fast(),
    );
    enc.write_all(&std::fs::read(&docker).unwrap()).unwrap();
    enc.finish().unwrap();
    let d = Client::new();
    let out = d
        .cmd(&["load", "-q"])
        .stdin(std::fs::File::open(&gz).unwrap())
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert_eq!(
        String::from_utf8_lossy(&out.stdout).trim(),
        local["Id"].as_str().unwrap()
    );

    // skopeo reads what skiff saved.
    skopeo(&["inspect", &format!("oci-archive:{}", oci.display())]);
    skopeo(&["inspect", &format!("docker-archive:{}", docker.display())]);

    // A loaded image runs, when skiff can run containers.
    if run_exists() {
        let out = c.run(&["run", "--rm", "busybox:fixture", "true"]);
        assert!(
            out.status.success(),
            "{}",
            String::from_utf8_lossy(&out.stderr)
        );
    }
}

#[test]
fn load_what_skopeo_writes() {
    let a = Client::new().with_busybox();
    let local = a.inspect("busybox:fixture");
    let dir = tempfile::tempdir().unwrap();
    let layout = format!("oci:{}:busybox:fixture", a.root().join("oci").display());
    let docker = dir.path().join("sk-docker.tar");
    let oci = dir.path().join("sk-oci.tar");
    skopeo(&[
        "copy",
        &layout,
        &format!("docker-archive:{}:team/bb:sk", docker.display()),
    ]);
    skopeo(&[
        "copy",
        &layout,
        &format!("oci-archive:{}:team/bb:oci", oci.display()),
    ]);
    let b = Client::new();
    b.ok(&["load", "-i", docker.to_str().unwrap()]);
    assert_eq!(b.inspect("team/bb:sk")["Id"], local["Id"]);
    b.ok(&["load", "-i", oci.to_str().unwrap()]);
    assert_eq!(b.inspect("team/bb:oci")["Id"], local["Id"]);
}

/// podman with its own storage under `dir`, runc (crun refuses this
/// hybrid cgroup host), vfs, cgroupfs, and rlimits below the hard limit.
fn podman(dir: &Path, args: &[&str]) -> Output {
    let mut c = Command::new("podman");
    c.arg("--root")
        .arg(dir.join("root"))
        .arg("--runroot")
        .arg(dir.join("run"))
        .args(["--storage-driver", "vfs", "--cgroup-manager", "cgroupfs"]);
    if have("runc") {
        c.args(["--runtime", "runc"]);
    }
    c.args(args).output().expect("podman")
}

#[test]
fn podman_loads_and_runs_what_skiff_saves_and_back() {
    if !have("podman") {
        panic!("podman is missing: apt-get install -y podman");
    }
    let a = Client::new().with_busybox();
    let local = a.inspect("busybox:fixture");
    let dir = tempfile::tempdir().unwrap();
    let pd = dir.path().join("podman");
    for (format, tag) in [("oci-archive", "oci"), ("docker-archive", "docker")] {
        let name = format!("skiffsaved/{tag}:1");
        a.ok(&["tag", "busybox:fixture", &name]);
        let file = dir.path().join(format!("{tag}.tar"));
        a.ok(&[
            "save",
            "--format",
            format,
            "-o",
            file.to_str().unwrap(),
            &name,
        ]);
        let out = podman(&pd, &["load", "-i", file.to_str().unwrap()]);
        assert!(
            out.status.success(),
            "podman load {format}: {}",
            String::from_utf8_lossy(&out.stderr)
        );
        let out = podman(
            &pd,
            &[
                "run",
                "--rm",
                "--network",
                "host",
                "--ulimit",
                "nofile=1024:1024",
                "--ulimit",
                "nproc=1024:1024",
                &format!("localhost/{name}"),
                "true",
            ],
        );
        assert!(
            out.status.success(),
            "podman run ({format}): {}",
            String::from_utf8_lossy(&out.stderr)
        );
    }
    // And podman's own archives load into skiff.
    for format in ["oci-archive", "docker-archive"] {
        let file = dir.path().join(format!("from-podman-{format}.tar"));
        let out = podman(
            &pd,
            &[
                "save",
                "--format",
                format,
                "-o",
                file.to_str().unwrap(),
                "localhost/skiffsaved/docker:1",
            ],
        );
        assert!(
            out.status.success(),
            "podman save: {}",
            String::from_utf8_lossy(&out.stderr)
        );
        let b = Client::new();
        let out = b.ok(&["load", "-i", file.to_str().unwrap()]);
        assert!(
            out.contains("Loaded image: skiffsaved/docker:1"),
            "{format}: {out}"
        );
        // podman rewrites a docker config as an OCI one; the layers stay.
        assert_eq!(
            b.inspect("skiffsaved/docker:1")["RootFS"],
            local["RootFS"],
            "{format}"
        );
    }
}

#[test]
fn bad_archives_leave_the_store_untouched() {
    let a = Client::new().with_busybox();
    let dir = tempfile::tempdir().unwrap();
    let good = dir.path().join("good.tar");
    a.ok(&["save", "-o", good.to_str().unwrap(), "busybox:fixture"]);
    let local = a.inspect("busybox:fixture");
    let layer = local["Manifest"]["layers"][0]["digest"]
        .as_str()
        .unwrap()
        .to_string();

    // A tar of ordinary files.
    let files = dir.path().join("files.tar");
    {
        let mut b = tar::Builder::new(std::fs::File::create(&files).unwrap());
        let mut h = tar::Header::new_gnu();
        h.set_size(3);
        h.set_mode(0o644);
        b.append_data(&mut h, "etc/motd", &b"hi\n"[..]).unwrap();
        b.finish().unwrap();
    }
    // Not a tar at all.
    let text = dir.path().join("text.tar");
    std::fs::write(&text, "hello, this is not an archive\n".repeat(40)).unwrap();
    // Cut short inside the layer.
    let bytes = std::fs::read(&good).unwrap();
    let cut = dir.path().join("cut.tar");
    std::fs::write(&cut, &bytes[..bytes.len() - 2048 - 600_000]).unwrap();
    // A flipped byte inside the layer blob.
    let tampered = dir.path().join("tampered.tar");
    {
        let mut src = tar::Archive::new(std::fs::File::open(&good).unwrap());
        let mut b = tar::Builder::new(std::fs::File::create(&tampered).unwrap());
        for e in src.entries().unwrap() {
            let mut e = e.unwrap();
            let mut h = e.header().clone();
            let path = e.path().unwrap().to_path_buf();
            let mut data = Vec::new();
            e.read_to_end(&mut data).unwrap();
            if path
                .to_string_lossy()
                .ends_with(layer.trim_start_matches("sha256:"))
            {
                data[100] ^= 0xff;
            }
            b.append_data(&mut h, &path, &data[..]).unwrap();
        }
        b.finish().unwrap();
    }

    // An empty store: the tampered layer must be checked, not found there.
    let c = Client::new();
    c.ok(&["images"]);
    let before = snapshot(c.root());
    for (file, expect) in [
        (&files, "not an image archive"),
        (&text, "not an image archive"),
        (&cut, "cut.tar"),
        (&tampered, "digest mismatch"),
    ] {
        let err = c.fails(&["load", "-i", file.to_str().unwrap()]);
        assert!(err.contains(expect), "{}: {err}", file.display());
        assert_eq!(snapshot(c.root()), before, "{}: {err}", file.display());
    }
    let err = c.fails(&["load", "-i", "/nonexistent/archive.tar"]);
    assert!(err.contains("/nonexistent/archive.tar"), "{err}");
    // save refuses an unknown image and leaves no file behind.
    let out = dir.path().join("none.tar");
    c.fails(&["save", "-o", out.to_str().unwrap(), "nosuch:image"]);
    assert!(!out.exists());
}

#[test]
fn build_pulls_a_missing_from_image_from_a_loopback_registry() {
    let reg = Registry::start(false);
    let host = reg.host();
    let a = Client::new().with_busybox();
    a.ok(&[
        "push",
        "busybox:fixture",
        &format!("{host}/base/busybox:1"),
        "--tls-verify=false",
    ]);
    // A fresh store has no base image: the build pulls it (reason pull).
    let b = Client::new();
    let ctx = tempfile::tempdir().unwrap();
    std::fs::write(
        ctx.path().join("Dockerfile"),
        format!("FROM {host}/base/busybox:1\nRUN echo built > /built\n"),
    )
    .unwrap();
    b.ok(&["build", "-t", "app", ctx.path().to_str().unwrap()]);
    assert_eq!(b.ok(&["run", "--rm", "app", "cat", "/built"]), "built\n");
    let revs: serde_json::Value = serde_json::from_str(&b.ok(&[
        "revisions",
        &format!("{host}/base/busybox:1"),
        "--format",
        "json",
    ]))
    .unwrap();
    assert_eq!(revs[0]["reason"], "pull");
    // An image that is on no registry is a clear error naming the line.
    std::fs::write(
        ctx.path().join("Dockerfile"),
        format!("FROM {host}/base/nothing:1\n"),
    )
    .unwrap();
    let out = b.run(&["build", "-t", "app", ctx.path().to_str().unwrap()]);
    assert_eq!(out.status.code(), Some(125));
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(
        err.contains("Dockerfile:1") && err.contains("nothing"),
        "{err}"
    );
}
