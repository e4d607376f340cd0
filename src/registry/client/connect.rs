//! Finding how to talk to a registry: https, or http with
//! `--tls-verify=false`, probed with `GET /v2/`; and `skiff login`'s check.

use super::{agent, describe, header, is_tls_error, AuthState, Body, Client, Method, Response};
use crate::registry::auth::{Challenge, Credentials};
use crate::registry::{auth, Endpoint, RegistryError, Result, DOCKER_HUB, DOCKER_HUB_API};
use std::sync::Mutex;
use ureq::http;

/// GET /v2/ over `scheme`; any HTTP answer is Ok, only transport errors fail.
pub(super) fn ping(agent: &ureq::Agent, base: &str) -> std::result::Result<Response, ureq::Error> {
    let req = http::Request::builder()
        .method(http::Method::GET)
        .uri(format!("{base}/v2/"))
        .body(ureq::SendBody::none())?;
    agent.run(req)
}

/// Find the scheme the registry answers on. With TLS verification only
/// https; without it https (unverified) first, then plain http.
pub(super) fn negotiate(
    agent: &ureq::Agent,
    ep: &Endpoint,
    tls_verify: bool,
) -> Result<(String, Response)> {
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
pub(super) fn registry_endpoint(registry: &str) -> Endpoint {
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
