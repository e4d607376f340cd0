//! One registry session for one repository: the scheme (https, or http with
//! `--tls-verify=false`), authentication (basic, or Bearer tokens from the
//! realm a `WWW-Authenticate` challenge names), requests that re-authenticate
//! once on 401, and the distribution API calls pull and push use.

use super::auth::{self, Challenge, Credentials};
use super::manifest::MAX_MANIFEST_BYTES;
use super::progress::{Progress, ProgressReader};
use super::{Endpoint, RegistryError, Result, TransportOptions, DOCKER_HUB, DOCKER_HUB_API};
use crate::store::Digest;
use std::io::{Read, Seek, SeekFrom};
use std::path::Path;
use std::sync::atomic::AtomicBool;
use std::sync::{Mutex, MutexGuard};
use std::time::Duration;
use ureq::http;

pub type Response = http::Response<ureq::Body>;

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Method {
    Get,
    Head,
    Post,
    Put,
    Patch,
}

impl Method {
    fn http(self) -> http::Method {
        match self {
            Method::Get => http::Method::GET,
            Method::Head => http::Method::HEAD,
            Method::Post => http::Method::POST,
            Method::Put => http::Method::PUT,
            Method::Patch => http::Method::PATCH,
        }
    }
    fn has_body(self) -> bool {
        matches!(self, Method::Post | Method::Put | Method::Patch)
    }
}

/// A request body that can be sent again after a 401.
pub enum Body<'a> {
    Empty,
    Bytes(&'a [u8]),
    /// `len` bytes of the file at `path` from `offset`, reporting progress.
    File {
        path: &'a Path,
        offset: u64,
        len: u64,
        progress: Option<(&'a Progress, usize, &'a AtomicBool)>,
    },
}

enum AuthState {
    Anonymous,
    Basic,
    Bearer { token: Option<String> },
}

pub struct Client {
    agent: ureq::Agent,
    pub ep: Endpoint,
    base: String,
    creds: Option<Credentials>,
    auth: Mutex<AuthState>,
    scopes: Mutex<Vec<String>>,
}

/// Result of opening a blob upload.
pub enum Upload {
    /// The registry mounted the blob from another repository: nothing to send.
    Mounted,
    /// An upload session: its URL and the smallest chunk the registry takes.
    Session { location: String, min_chunk: u64 },
}

fn agent(tls_verify: bool) -> ureq::Agent {
    let tls = ureq::tls::TlsConfig::builder()
        .root_certs(ureq::tls::RootCerts::PlatformVerifier)
        .disable_verification(!tls_verify)
        .build();
    ureq::Agent::config_builder()
        .http_status_as_error(false)
        .tls_config(tls)
        .user_agent(format!("skiff/{}", env!("CARGO_PKG_VERSION")))
        .timeout_connect(Some(Duration::from_secs(30)))
        .timeout_recv_response(Some(Duration::from_secs(300)))
        .timeout_per_read(Some(Duration::from_secs(120)))
        .timeout_per_write(Some(Duration::from_secs(120)))
        .max_redirects(10)
        .build()
        .into()
}

/// A transport error as one short phrase.
fn describe(e: &ureq::Error) -> String {
    match e {
        ureq::Error::Io(io) => io.to_string(),
        ureq::Error::HostNotFound => "host not found".into(),
        ureq::Error::ConnectionFailed => "connection failed".into(),
        ureq::Error::Timeout(t) => format!("timed out ({t})"),
        other => other.to_string(),
    }
}

fn is_tls_error(e: &ureq::Error) -> bool {
    let text = e.to_string().to_lowercase();
    matches!(e, ureq::Error::Tls(_) | ureq::Error::Rustls(_))
        || [
            "tls",
            "certificate",
            "handshake",
            "corrupt message",
            "invalidcontenttype",
        ]
        .iter()
        .any(|w| text.contains(w))
}

/// Percent-encode a query component.
fn enc(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    for b in s.bytes() {
        if b.is_ascii_alphanumeric() || b"-._~".contains(&b) {
            out.push(b as char);
        } else {
            out.push_str(&format!("%{b:02X}"));
        }
    }
    out
}

pub fn header(resp: &Response, name: &str) -> Option<String> {
    resp.headers()
        .get(name)
        .and_then(|v| v.to_str().ok())
        .map(str::to_string)
}

/// GET /v2/ over `scheme`; any HTTP answer is Ok, only transport errors fail.
fn ping(agent: &ureq::Agent, base: &str) -> std::result::Result<Response, ureq::Error> {
    let req = http::Request::builder()
        .method(http::Method::GET)
        .uri(format!("{base}/v2/"))
        .body(ureq::SendBody::none())?;
    agent.run(req)
}

/// Find the scheme the registry answers on. With TLS verification only
/// https; without it https (unverified) first, then plain http.
fn negotiate(agent: &ureq::Agent, ep: &Endpoint, tls_verify: bool) -> Result<(String, Response)> {
    let https = format!("https://{}", ep.host);
    let e = match ping(agent, &https) {
        Ok(r) => return Ok((https, r)),
        Err(e) => e,
    };
    if tls_verify {
        let hint = if is_tls_error(&e) {
            " (for a registry on plain http or with a self-signed certificate, use --tls-verify=false)"
        } else {
            ""
        };
        return Err(RegistryError::Unreachable {
            target: ep.target(),
            reason: format!("{}{hint}", describe(&e)),
        });
    }
    let http_base = format!("http://{}", ep.host);
    match ping(agent, &http_base) {
        Ok(r) => Ok((http_base, r)),
        Err(e2) => Err(RegistryError::Unreachable {
            target: ep.target(),
            reason: if describe(&e2) == describe(&e) {
                describe(&e2)
            } else {
                format!("https: {}; http: {}", describe(&e), describe(&e2))
            },
        }),
    }
}

/// The endpoint of a registry alone (for login).
fn registry_endpoint(registry: &str) -> Endpoint {
    if registry == DOCKER_HUB || registry == "index.docker.io" {
        Endpoint {
            registry: DOCKER_HUB.into(),
            host: DOCKER_HUB_API.into(),
            repository: String::new(),
        }
    } else {
        Endpoint {
            registry: registry.into(),
            host: registry.into(),
            repository: String::new(),
        }
    }
}

/// Check `creds` against `registry` (used by `skiff login`).
pub fn check_login(registry: &str, creds: &Credentials, tls_verify: bool) -> Result<()> {
    let ep = registry_endpoint(registry);
    let agent = agent(tls_verify);
    let (base, resp) = negotiate(&agent, &ep, tls_verify)?;
    let client = Client {
        agent,
        ep,
        base,
        creds: Some(creds.clone()),
        auth: Mutex::new(AuthState::Anonymous),
        scopes: Mutex::new(Vec::new()),
    };
    match resp.status().as_u16() {
        200 => Ok(()),
        401 => {
            let challenge = header(&resp, "www-authenticate")
                .and_then(|h| auth::parse_challenge(&h))
                .ok_or_else(|| {
                    client.protocol(
                        "GET /v2/ answered 401 without a usable WWW-Authenticate challenge",
                    )
                })?;
            match challenge {
                Challenge::Basic => {
                    *client.lock_auth() = AuthState::Basic;
                    let url = format!("{}/v2/", client.base);
                    let resp = client
                        .send_once(
                            Method::Get,
                            &url,
                            &[],
                            &Body::Empty,
                            Some(&creds.basic_header()),
                        )
                        .map_err(|e| client.transfer("login", &e))?;
                    match resp.status().as_u16() {
                        200 => Ok(()),
                        _ => Err(client.status_error("login", resp)),
                    }
                }
                Challenge::Bearer { realm, service, .. } => client
                    .fetch_token(&realm, service.as_deref(), &[])
                    .map(|_| ()),
            }
        }
        s => Err(client.protocol(&format!(
            "GET /v2/ answered {s}: this does not look like a registry"
        ))),
    }
}

impl Client {
    /// Open a session for `ep`'s repository with the given token scopes
    /// (`repository:NAME:pull` and so on).
    pub fn connect(ep: &Endpoint, opts: &TransportOptions, scopes: Vec<String>) -> Result<Client> {
        let creds = match &opts.credentials {
            Some(c) => Some(c.clone()),
            None => auth::lookup(&ep.registry)?,
        };
        let agent = agent(opts.tls_verify);
        let (base, resp) = negotiate(&agent, ep, opts.tls_verify)?;
        let client = Client {
            agent,
            ep: ep.clone(),
            base,
            creds,
            auth: Mutex::new(AuthState::Anonymous),
            scopes: Mutex::new(scopes),
        };
        match resp.status().as_u16() {
            200 => {}
            401 => {
                let usable = header(&resp, "www-authenticate")
                    .and_then(|h| auth::parse_challenge(&h))
                    .is_some();
                if !usable {
                    return Err(client.protocol(
                        "GET /v2/ answered 401 without a usable WWW-Authenticate challenge",
                    ));
                }
                // Basic without credentials goes on anonymously: the first
                // real request then fails with a 401 that names what to do.
                client.reauth(&resp)?;
            }
            s => {
                return Err(client.protocol(&format!(
                    "GET /v2/ answered {s}: this does not look like a registry"
                )))
            }
        }
        Ok(client)
    }

    fn lock_auth(&self) -> MutexGuard<'_, AuthState> {
        self.auth.lock().unwrap_or_else(|p| p.into_inner())
    }

    pub fn target(&self) -> String {
        self.ep.target()
    }

    fn protocol(&self, msg: &str) -> RegistryError {
        RegistryError::Protocol {
            target: self.target(),
            msg: msg.to_string(),
        }
    }

    pub fn transfer(&self, what: &str, e: &ureq::Error) -> RegistryError {
        RegistryError::Transfer {
            target: self.target(),
            what: what.to_string(),
            reason: describe(e),
        }
    }

    /// Apply a 401's challenge. Returns whether a retry can succeed.
    fn reauth(&self, resp: &Response) -> Result<bool> {
        let Some(challenge) =
            header(resp, "www-authenticate").and_then(|h| auth::parse_challenge(&h))
        else {
            return Ok(false);
        };
        match challenge {
            Challenge::Basic => {
                let mut st = self.lock_auth();
                if matches!(*st, AuthState::Basic) || self.creds.is_none() {
                    // Either the credentials were just refused or there are none.
                    *st = AuthState::Basic;
                    return Ok(false);
                }
                *st = AuthState::Basic;
                Ok(true)
            }
            Challenge::Bearer {
                realm,
                service,
                scope,
                ..
            } => {
                let scopes = {
                    let mut s = self.scopes.lock().unwrap_or_else(|p| p.into_inner());
                    if let Some(sc) = scope {
                        for one in sc.split(' ') {
                            if !one.is_empty() && !s.iter().any(|x| x == one) {
                                s.push(one.to_string());
                            }
                        }
                    }
                    s.clone()
                };
                let had = match &*self.lock_auth() {
                    AuthState::Bearer { token, .. } => token.clone(),
                    _ => None,
                };
                let token = self.fetch_token(&realm, service.as_deref(), &scopes)?;
                let changed = had.as_deref() != Some(token.as_str());
                *self.lock_auth() = AuthState::Bearer { token: Some(token) };
                Ok(changed)
            }
        }
    }

    /// Ask the token server for a token covering `scopes`.
    fn fetch_token(&self, realm: &str, service: Option<&str>, scopes: &[String]) -> Result<String> {
        let mut params = Vec::new();
        if let Some(s) = service {
            params.push(format!("service={}", enc(s)));
        }
        for s in scopes {
            params.push(format!("scope={}", enc(s)));
        }
        if let Some(c) = &self.creds {
            params.push(format!("account={}", enc(&c.username)));
        }
        let url = if params.is_empty() {
            realm.to_string()
        } else if realm.contains('?') {
            format!("{realm}&{}", params.join("&"))
        } else {
            format!("{realm}?{}", params.join("&"))
        };
        let what = "token request";
        let mut b = http::Request::builder().method(http::Method::GET).uri(&url);
        if let Some(c) = &self.creds {
            b = b.header("Authorization", c.basic_header());
        }
        let req = b
            .body(ureq::SendBody::none())
            .map_err(|e| RegistryError::Invalid(format!("token realm {realm}: {e}")))?;
        let resp = self
            .agent
            .run(req)
            .map_err(|e| RegistryError::Unreachable {
                target: self.target(),
                reason: format!("token server {realm}: {}", describe(&e)),
            })?;
        if resp.status().as_u16() != 200 {
            return Err(self.status_error(what, resp));
        }
        let body = read_limited(resp, 1 << 20).map_err(|e| self.transfer(what, &e))?;
        #[derive(serde::Deserialize)]
        struct Token {
            token: Option<String>,
            access_token: Option<String>,
        }
        let t: Token = serde_json::from_slice(&body).map_err(|e| {
            self.protocol(&format!("token server {realm} answered invalid JSON: {e}"))
        })?;
        t.token
            .or(t.access_token)
            .filter(|t| !t.is_empty())
            .ok_or_else(|| self.protocol(&format!("token server {realm} answered no token")))
    }

    fn auth_header(&self) -> Option<String> {
        match &*self.lock_auth() {
            AuthState::Anonymous => None,
            AuthState::Basic => self.creds.as_ref().map(Credentials::basic_header),
            AuthState::Bearer { token, .. } => token.as_ref().map(|t| format!("Bearer {t}")),
        }
    }

    fn send_once(
        &self,
        method: Method,
        url: &str,
        headers: &[(&str, &str)],
        body: &Body,
        auth: Option<&str>,
    ) -> std::result::Result<Response, ureq::Error> {
        let mut b = http::Request::builder().method(method.http()).uri(url);
        for (k, v) in headers {
            b = b.header(*k, *v);
        }
        if let Some(a) = auth {
            b = b.header("Authorization", a);
        }
        match body {
            Body::Empty if method.has_body() => {
                let mut empty = std::io::empty();
                let req = b
                    .header("Content-Length", "0")
                    .body(ureq::SendBody::from_reader(&mut empty))?;
                self.agent.run(req)
            }
            Body::Empty => self.agent.run(b.body(ureq::SendBody::none())?),
            Body::Bytes(bytes) => {
                let mut r: &[u8] = bytes;
                let req = b
                    .header("Content-Length", bytes.len().to_string())
                    .body(ureq::SendBody::from_reader(&mut r))?;
                self.agent.run(req)
            }
            Body::File {
                path,
                offset,
                len,
                progress,
            } => {
                let mut f = std::fs::File::open(path)?;
                f.seek(SeekFrom::Start(*offset))?;
                let limited = std::io::BufReader::with_capacity(256 * 1024, f).take(*len);
                let b = b.header("Content-Length", len.to_string());
                match progress {
                    Some((p, id, cancel)) => {
                        let mut r = ProgressReader {
                            inner: limited,
                            progress: p,
                            id: *id,
                            cancel,
                        };
                        self.agent.run(b.body(ureq::SendBody::from_reader(&mut r))?)
                    }
                    None => {
                        let mut r = limited;
                        self.agent.run(b.body(ureq::SendBody::from_reader(&mut r))?)
                    }
                }
            }
        }
    }

    /// Send a request, authenticating again once if the registry answers 401.
    pub fn call(
        &self,
        method: Method,
        url: &str,
        headers: &[(&str, &str)],
        body: &Body,
        what: &str,
    ) -> Result<Response> {
        let mut retried = false;
        loop {
            let auth = self.auth_header();
            let resp = self
                .send_once(method, url, headers, body, auth.as_deref())
                .map_err(|e| self.transfer(what, &e))?;
            if resp.status().as_u16() == 401 && !retried && self.reauth(&resp)? {
                retried = true;
                continue;
            }
            return Ok(resp);
        }
    }

    /// The error for an unexpected answer, with the registry's own message.
    pub fn status_error(&self, what: &str, resp: Response) -> RegistryError {
        let status = resp.status();
        let body = read_limited(resp, 64 * 1024).unwrap_or_default();
        let detail = registry_message(&body)
            .map(|m| format!(": {m}"))
            .unwrap_or_default();
        let target = self.target();
        let what = what.to_string();
        match status.as_u16() {
            401 => {
                let (d, hint) = match &self.creds {
                    None => (
                        "no credentials".to_string(),
                        format!(": run `skiff login {}`", self.ep.registry),
                    ),
                    Some(c) => (
                        format!("the credentials of {} were rejected", c.username),
                        format!(": check them with `skiff login {}`", self.ep.registry),
                    ),
                };
                RegistryError::Unauthorized {
                    target,
                    what,
                    detail: d,
                    hint,
                }
            }
            403 => RegistryError::Denied {
                target,
                what,
                detail,
            },
            404 => RegistryError::NotFound {
                target,
                what,
                detail,
            },
            s => RegistryError::Status {
                target,
                what,
                status: s,
                detail: format!(
                    "{}{detail}",
                    status
                        .canonical_reason()
                        .map(|r| format!(" {r}"))
                        .unwrap_or_default()
                ),
            },
        }
    }

    fn repo_url(&self, tail: &str) -> String {
        format!("{}/v2/{}/{tail}", self.base, self.ep.repository)
    }

    /// An absolute URL for a `Location` header.
    fn absolute(&self, loc: &str) -> String {
        if loc.starts_with("http://") || loc.starts_with("https://") {
            loc.to_string()
        } else if loc.starts_with('/') {
            format!("{}{loc}", self.base)
        } else {
            format!("{}/{loc}", self.base)
        }
    }

    /// GET a manifest by tag or digest: (bytes, Content-Type, Docker-Content-Digest).
    pub fn get_manifest(
        &self,
        reference: &str,
    ) -> Result<(Vec<u8>, Option<String>, Option<String>)> {
        let what = format!("manifest {reference}");
        let resp = self.call(
            Method::Get,
            &self.repo_url(&format!("manifests/{reference}")),
            &[("Accept", super::manifest::ACCEPT_MANIFESTS)],
            &Body::Empty,
            &what,
        )?;
        if resp.status().as_u16() != 200 {
            return Err(self.status_error(&what, resp));
        }
        let ct = header(&resp, "content-type");
        let dcd = header(&resp, "docker-content-digest");
        let bytes = read_limited(resp, MAX_MANIFEST_BYTES).map_err(|e| self.transfer(&what, &e))?;
        Ok((bytes, ct, dcd))
    }

    /// GET a blob; the caller streams and verifies the body.
    pub fn get_blob(&self, digest: &Digest) -> Result<Response> {
        let what = format!("blob {digest}");
        let resp = self.call(
            Method::Get,
            &self.repo_url(&format!("blobs/{digest}")),
            &[],
            &Body::Empty,
            &what,
        )?;
        if resp.status().as_u16() != 200 {
            return Err(self.status_error(&what, resp));
        }
        Ok(resp)
    }

    /// HEAD a blob: whether the repository already has it.
    pub fn blob_exists(&self, digest: &Digest) -> Result<bool> {
        let what = format!("blob {digest}");
        let resp = self.call(
            Method::Head,
            &self.repo_url(&format!("blobs/{digest}")),
            &[],
            &Body::Empty,
            &what,
        )?;
        match resp.status().as_u16() {
            200 => Ok(true),
            404 => Ok(false),
            _ => Err(self.status_error(&what, resp)),
        }
    }

    /// POST an upload, asking to mount `digest` from `from` when given.
    pub fn start_upload(&self, digest: &Digest, mount_from: Option<&str>) -> Result<Upload> {
        let what = format!("upload of blob {digest}");
        let url = match mount_from {
            Some(from) => self.repo_url(&format!(
                "blobs/uploads/?mount={}&from={}",
                enc(&digest.to_string()),
                enc(from)
            )),
            None => self.repo_url("blobs/uploads/"),
        };
        let resp = self.call(Method::Post, &url, &[], &Body::Empty, &what)?;
        match resp.status().as_u16() {
            201 if mount_from.is_some() => Ok(Upload::Mounted),
            202 => {
                let location = header(&resp, "location")
                    .ok_or_else(|| self.protocol("upload answered 202 without a Location"))?;
                let min_chunk = header(&resp, "oci-chunk-min-length")
                    .and_then(|v| v.trim().parse().ok())
                    .unwrap_or(0);
                Ok(Upload::Session {
                    location: self.absolute(&location),
                    min_chunk,
                })
            }
            _ => Err(self.status_error(&what, resp)),
        }
    }

    /// Send `len` bytes of `path` in one PUT that also closes the upload.
    pub fn put_monolithic(&self, location: &str, digest: &Digest, body: &Body) -> Result<()> {
        let what = format!("upload of blob {digest}");
        let url = with_query(location, "digest", &digest.to_string());
        let resp = self.call(
            Method::Put,
            &url,
            &[("Content-Type", "application/octet-stream")],
            body,
            &what,
        )?;
        self.check_blob_created(&what, digest, resp)
    }

    /// PATCH one chunk at `start`; returns the next location.
    pub fn patch_chunk(
        &self,
        location: &str,
        digest: &Digest,
        start: u64,
        body: &Body,
    ) -> Result<String> {
        let what = format!("upload of blob {digest}");
        let len = match body {
            Body::File { len, .. } => *len,
            Body::Bytes(b) => b.len() as u64,
            Body::Empty => 0,
        };
        let range = format!("{start}-{}", start + len.saturating_sub(1));
        let resp = self.call(
            Method::Patch,
            location,
            &[
                ("Content-Type", "application/octet-stream"),
                ("Content-Range", range.as_str()),
            ],
            body,
            &what,
        )?;
        match resp.status().as_u16() {
            202 | 204 => {
                let loc = header(&resp, "location").unwrap_or_else(|| location.to_string());
                Ok(self.absolute(&loc))
            }
            416 => Err(RegistryError::Transfer {
                target: self.target(),
                what,
                reason: format!(
                    "the registry refused the chunk at byte {start} (416 Range Not Satisfiable)"
                ),
            }),
            _ => Err(self.status_error(&what, resp)),
        }
    }

    /// Close a chunked upload with a PUT carrying the digest.
    pub fn finish_upload(&self, location: &str, digest: &Digest) -> Result<()> {
        let what = format!("upload of blob {digest}");
        let url = with_query(location, "digest", &digest.to_string());
        let resp = self.call(Method::Put, &url, &[], &Body::Empty, &what)?;
        self.check_blob_created(&what, digest, resp)
    }

    fn check_blob_created(&self, what: &str, digest: &Digest, resp: Response) -> Result<()> {
        match resp.status().as_u16() {
            201 | 204 => {
                if let Some(d) = header(&resp, "docker-content-digest") {
                    if let Ok(got) = d.parse::<Digest>() {
                        if &got != digest {
                            return Err(RegistryError::DigestMismatch {
                                target: self.target(),
                                what: what.to_string(),
                                expected: digest.clone(),
                                actual: got,
                            });
                        }
                    }
                }
                Ok(())
            }
            _ => Err(self.status_error(what, resp)),
        }
    }

    /// PUT a manifest under `reference`; returns the digest the registry reports.
    pub fn put_manifest(
        &self,
        reference: &str,
        media_type: &str,
        bytes: &[u8],
    ) -> Result<Option<String>> {
        let what = format!("manifest {reference}");
        let resp = self.call(
            Method::Put,
            &self.repo_url(&format!("manifests/{reference}")),
            &[("Content-Type", media_type)],
            &Body::Bytes(bytes),
            &what,
        )?;
        match resp.status().as_u16() {
            200 | 201 | 202 | 204 => Ok(header(&resp, "docker-content-digest")),
            _ => Err(self.status_error(&what, resp)),
        }
    }
}

fn with_query(url: &str, key: &str, value: &str) -> String {
    let sep = if url.contains('?') { '&' } else { '?' };
    format!("{url}{sep}{key}={}", enc(value))
}

/// Read a whole (small) body, refusing more than `limit` bytes.
pub fn read_limited(resp: Response, limit: u64) -> std::result::Result<Vec<u8>, ureq::Error> {
    resp.into_body()
        .into_with_config()
        .limit(limit)
        .read_to_vec()
}

/// The registry's own error text: the first of `{"errors":[{code,message}]}`,
/// else a short first line of a text body.
fn registry_message(body: &[u8]) -> Option<String> {
    #[derive(serde::Deserialize)]
    struct Errors {
        errors: Vec<ErrorItem>,
    }
    #[derive(serde::Deserialize)]
    struct ErrorItem {
        #[serde(default)]
        code: String,
        #[serde(default)]
        message: String,
    }
    if let Ok(e) = serde_json::from_slice::<Errors>(body) {
        let first = e.errors.first()?;
        return Some(match (first.code.is_empty(), first.message.is_empty()) {
            (false, false) => format!("{} ({})", first.message, first.code),
            (true, false) => first.message.clone(),
            (false, true) => first.code.clone(),
            (true, true) => return None,
        });
    }
    let text = String::from_utf8_lossy(body);
    let line = text.lines().map(str::trim).find(|l| !l.is_empty())?;
    if line.starts_with('<') || line.chars().any(|c| c.is_control()) {
        return None;
    }
    Some(line.chars().take(200).collect())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn helpers() {
        assert_eq!(
            enc("repository:a/b:pull,push"),
            "repository%3Aa%2Fb%3Apull%2Cpush"
        );
        assert_eq!(
            with_query(
                "http://h/v2/x/blobs/uploads/u?_state=1",
                "digest",
                "sha256:ab"
            ),
            "http://h/v2/x/blobs/uploads/u?_state=1&digest=sha256%3Aab"
        );
        assert_eq!(
            registry_message(
                br#"{"errors":[{"code":"MANIFEST_UNKNOWN","message":"manifest unknown"}]}"#
            ),
            Some("manifest unknown (MANIFEST_UNKNOWN)".into())
        );
        assert_eq!(registry_message(b"<html>oops</html>"), None);
        assert_eq!(registry_message(b"boom\n"), Some("boom".into()));
    }
}
