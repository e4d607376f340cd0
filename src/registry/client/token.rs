//! Authentication after a 401: basic credentials, or a Bearer token from
//! the realm the `WWW-Authenticate` challenge names.

use super::{describe, enc, header, read_limited, AuthState, Client, Response};
use crate::registry::auth::{Challenge, Credentials};
use crate::registry::{auth, RegistryError, Result};
use ureq::http;

impl Client {
    /// Apply a 401's challenge. Returns whether a retry can succeed.
    pub(super) fn reauth(&self, resp: &Response) -> Result<bool> {
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
    pub(super) fn fetch_token(
        &self,
        realm: &str,
        service: Option<&str>,
        scopes: &[String],
    ) -> Result<String> {
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

    pub(super) fn auth_header(&self) -> Option<String> {
        match &*self.lock_auth() {
            AuthState::Anonymous => None,
            AuthState::Basic => self.creds.as_ref().map(Credentials::basic_header),
            AuthState::Bearer { token, .. } => token.as_ref().map(|t| format!("Bearer {t}")),
        }
    }
}
