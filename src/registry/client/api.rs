//! The distribution API calls pull and push use: manifests, blobs,
//! uploads (monolithic, chunked, cross-repository mounts).

use super::{enc, header, read_limited, with_query, Body, Client, Method, Response, Upload};
use crate::registry::manifest::MAX_MANIFEST_BYTES;
use crate::registry::{RegistryError, Result};
use crate::store::Digest;

impl Client {
    pub(super) fn repo_url(&self, tail: &str) -> String {
        format!("{}/v2/{}/{tail}", self.base, self.ep.repository)
    }

    /// An absolute URL for a `Location` header.
    pub(super) fn absolute(&self, loc: &str) -> String {
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
            &[("Accept", crate::registry::manifest::ACCEPT_MANIFESTS)],
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

    pub(super) fn check_blob_created(
        &self,
        what: &str,
        digest: &Digest,
        resp: Response,
    ) -> Result<()> {
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
