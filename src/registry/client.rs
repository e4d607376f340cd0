//! One registry session for one repository: the scheme (https, or http with
//! `--tls-verify=false`), authentication (basic, or Bearer tokens from the
//! realm a `WWW-Authenticate` challenge names), requests that re-authenticate
//! once on 401, and the distribution API calls pull and push use.
//!
//! | concern | file |
//! | --- | --- |
//! | the session, requests, retry on 401, errors | `client.rs` |
//! | scheme probing, `login`'s check | `client/connect.rs` |
//! | basic and Bearer authentication | `client/token.rs` |
//! | manifests, blobs, uploads | `client/api.rs` |

use super::auth::{self, Credentials};
use super::progress::{Progress, ProgressReader};
use super::{Endpoint, RegistryError, Result, TransportOptions};
use connect::negotiate;
use std::io::{Read, Seek, SeekFrom};
use std::path::Path;
use std::sync::atomic::AtomicBool;
use std::sync::{Mutex, MutexGuard};
use std::time::Duration;
use ureq::http;

mod api;
mod connect;
mod token;

pub use connect::check_login;

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
