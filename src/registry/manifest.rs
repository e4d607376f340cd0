//! Manifests as registries serve them: OCI and docker v2 schema 2 image
//! manifests, OCI image indexes and docker manifest lists, and the choice of
//! one platform from an index.

use crate::store::Digest;
use serde::Deserialize;
use std::fmt;
use std::str::FromStr;

pub const OCI_MANIFEST: &str = "application/vnd.oci.image.manifest.v1+json";
pub const OCI_INDEX: &str = "application/vnd.oci.image.index.v1+json";
pub const DOCKER_MANIFEST: &str = "application/vnd.docker.distribution.manifest.v2+json";
pub const DOCKER_LIST: &str = "application/vnd.docker.distribution.manifest.list.v2+json";
pub const DOCKER_SCHEMA1: &str = "application/vnd.docker.distribution.manifest.v1+json";
pub const DOCKER_SCHEMA1_SIGNED: &str = "application/vnd.docker.distribution.manifest.v1+prettyjws";
pub const OCI_CONFIG: &str = "application/vnd.oci.image.config.v1+json";
pub const DOCKER_CONFIG: &str = "application/vnd.docker.container.image.v1+json";
pub const OCI_LAYER: &str = "application/vnd.oci.image.layer.v1.tar";
pub const OCI_LAYER_GZIP: &str = "application/vnd.oci.image.layer.v1.tar+gzip";
pub const OCI_LAYER_ZSTD: &str = "application/vnd.oci.image.layer.v1.tar+zstd";
pub const DOCKER_LAYER_GZIP: &str = "application/vnd.docker.image.rootfs.diff.tar.gzip";
pub const DOCKER_LAYER: &str = "application/vnd.docker.image.rootfs.diff.tar";

/// The `Accept` header for manifest requests: every kind skiff reads.
pub const ACCEPT_MANIFESTS: &str = "application/vnd.oci.image.manifest.v1+json, \
    application/vnd.oci.image.index.v1+json, \
    application/vnd.docker.distribution.manifest.v2+json, \
    application/vnd.docker.distribution.manifest.list.v2+json";

/// Largest manifest or index accepted (registries cap them at 4 MiB).
pub const MAX_MANIFEST_BYTES: u64 = 8 << 20;
/// Largest image config accepted.
pub const MAX_CONFIG_BYTES: u64 = 32 << 20;

/// What a manifest document is.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Kind {
    Image,
    Index,
}

/// Classify manifest bytes by their `mediaType` field, else the response's
/// Content-Type, else their shape. Schema 1 and unknown kinds are errors.
pub fn classify(bytes: &[u8], content_type: Option<&str>) -> Result<(Kind, String), String> {
    let v: serde_json::Value =
        serde_json::from_slice(bytes).map_err(|e| format!("manifest is not valid JSON: {e}"))?;
    if v.get("schemaVersion").and_then(|s| s.as_u64()) == Some(1) {
        return Err("docker schema 1 manifests are not supported (push the image again with a current docker or skopeo)".into());
    }
    let declared = v
        .get("mediaType")
        .and_then(|m| m.as_str())
        .map(str::to_string)
        .or_else(|| {
            content_type
                .map(|c| c.split(';').next().unwrap_or(c).trim().to_string())
                .filter(|c| c != "application/json" && c != "text/plain" && !c.is_empty())
        });
    let mt = match declared {
        Some(m) => m,
        None if v.get("manifests").is_some() => OCI_INDEX.to_string(),
        None if v.get("config").is_some() && v.get("layers").is_some() => OCI_MANIFEST.to_string(),
        None => return Err("the document is neither an image manifest nor an index".into()),
    };
    match mt.as_str() {
        OCI_MANIFEST | DOCKER_MANIFEST => Ok((Kind::Image, mt)),
        OCI_INDEX | DOCKER_LIST => Ok((Kind::Index, mt)),
        DOCKER_SCHEMA1 | DOCKER_SCHEMA1_SIGNED => {
            Err("docker schema 1 manifests are not supported".into())
        }
        other => Err(format!("unsupported manifest media type {other}")),
    }
}

/// A descriptor as both OCI and docker write them.
#[derive(Clone, Debug, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Descriptor {
    #[serde(default)]
    pub media_type: String,
    pub digest: String,
    pub size: u64,
    #[serde(default)]
    pub platform: Option<PlatformJson>,
    #[serde(default)]
    pub urls: Option<Vec<String>>,
}

impl Descriptor {
    pub fn digest(&self) -> Result<Digest, String> {
        self.digest
            .parse()
            .map_err(|_| format!("unsupported digest {:?} (only sha256 is)", self.digest))
    }
}

#[derive(Clone, Debug, Deserialize)]
pub struct PlatformJson {
    #[serde(default)]
    pub architecture: String,
    #[serde(default)]
    pub os: String,
    #[serde(default)]
    pub variant: Option<String>,
}

/// The parts of an image manifest a pull needs.
#[derive(Clone, Debug, Deserialize)]
pub struct ImageManifestDoc {
    pub config: Descriptor,
    pub layers: Vec<Descriptor>,
}

#[derive(Clone, Debug, Deserialize)]
pub struct IndexDoc {
    pub manifests: Vec<Descriptor>,
}

/// Check the layer media types a pull can store and later unpack.
pub fn check_layer(d: &Descriptor) -> Result<(), String> {
    match d.media_type.as_str() {
        OCI_LAYER | OCI_LAYER_GZIP | DOCKER_LAYER_GZIP | DOCKER_LAYER | "" => Ok(()),
        OCI_LAYER_ZSTD => Err(format!(
            "layer {} is zstd-compressed, which skiff does not unpack yet",
            d.digest
        )),
        m if m.contains("foreign") || m.contains("nondistributable") => Err(format!(
            "layer {} is a foreign (non-distributable) layer ({m})",
            d.digest
        )),
        m => Err(format!("layer {} has unsupported media type {m}", d.digest)),
    }
}

/// `os/arch[/variant]`, as `--platform` takes it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Platform {
    pub os: String,
    pub architecture: String,
    pub variant: Option<String>,
}

impl Platform {
    /// The machine skiff runs on, in OCI's names (linux/amd64 on x86_64).
    pub fn host() -> Platform {
        let arch = match std::env::consts::ARCH {
            "x86_64" => "amd64",
            "aarch64" => "arm64",
            "x86" => "386",
            "arm" => "arm",
            "powerpc64" => "ppc64le",
            "s390x" => "s390x",
            "riscv64" => "riscv64",
            other => other,
        };
        Platform {
            os: "linux".into(),
            architecture: arch.into(),
            variant: None,
        }
    }

    fn matches(&self, p: &PlatformJson) -> bool {
        if p.os != self.os || p.architecture != self.architecture {
            return false;
        }
        let norm = |v: Option<&str>| match (self.architecture.as_str(), v) {
            ("arm64", Some("v8")) | ("arm64", None) => None,
            (_, v) => v.map(str::to_string),
        };
        match &self.variant {
            Some(_) => norm(self.variant.as_deref()) == norm(p.variant.as_deref()),
            None => true,
        }
    }
}

impl fmt::Display for Platform {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}/{}", self.os, self.architecture)?;
        if let Some(v) = &self.variant {
            write!(f, "/{v}")?;
        }
        Ok(())
    }
}

impl FromStr for Platform {
    type Err = String;
    fn from_str(s: &str) -> Result<Platform, String> {
        let parts: Vec<&str> = s.split('/').collect();
        let ok = |p: &str| {
            !p.is_empty()
                && p.bytes()
                    .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'_')
        };
        match parts.as_slice() {
            [os, arch] if ok(os) && ok(arch) => Ok(Platform {
                os: os.to_string(),
                architecture: arch.to_string(),
                variant: None,
            }),
            [os, arch, v] if ok(os) && ok(arch) && ok(v) => Ok(Platform {
                os: os.to_string(),
                architecture: arch.to_string(),
                variant: Some(v.to_string()),
            }),
            _ => Err(format!(
                "invalid platform {s:?}: expected os/arch[/variant], like linux/amd64 or linux/arm/v7"
            )),
        }
    }
}

/// Pick the entry of an index for `want`. An entry with a variant equal to
/// the wanted one wins over one without; attestation entries
/// (`unknown/unknown`) never match. Err lists what the index offers.
pub fn choose<'a>(index: &'a IndexDoc, want: &Platform) -> Result<&'a Descriptor, String> {
    let candidates: Vec<&Descriptor> = index
        .manifests
        .iter()
        .filter(|d| d.platform.as_ref().is_some_and(|p| want.matches(p)))
        .collect();
    if let Some(d) = candidates.first() {
        return Ok(d);
    }
    let mut offered: Vec<String> = index
        .manifests
        .iter()
        .filter_map(|d| d.platform.as_ref())
        .filter(|p| p.os != "unknown")
        .map(|p| match &p.variant {
            Some(v) => format!("{}/{}/{v}", p.os, p.architecture),
            None => format!("{}/{}", p.os, p.architecture),
        })
        .collect();
    offered.dedup();
    Err(if offered.is_empty() {
        "no platform-specific images".into()
    } else {
        offered.join(", ")
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn classifies() {
        let docker = br#"{"schemaVersion":2,"mediaType":"application/vnd.docker.distribution.manifest.v2+json","config":{},"layers":[]}"#;
        assert_eq!(classify(docker, None).unwrap().0, Kind::Image);
        let bare = br#"{"schemaVersion":2,"config":{},"layers":[]}"#;
        assert_eq!(classify(bare, None).unwrap().1, OCI_MANIFEST);
        let list = br#"{"schemaVersion":2,"manifests":[]}"#;
        assert_eq!(
            classify(list, Some(DOCKER_LIST)).unwrap(),
            (Kind::Index, DOCKER_LIST.to_string())
        );
        assert!(classify(br#"{"schemaVersion":1,"fsLayers":[]}"#, None).is_err());
        assert!(classify(b"<html>", None).is_err());
    }

    #[test]
    fn chooses_platform() {
        let idx: IndexDoc = serde_json::from_str(
            r#"{"manifests":[
            {"mediaType":"x","digest":"sha256:a","size":1,"platform":{"architecture":"arm","os":"linux","variant":"v7"}},
            {"mediaType":"x","digest":"sha256:b","size":1,"platform":{"architecture":"amd64","os":"linux"}},
            {"mediaType":"x","digest":"sha256:c","size":1,"platform":{"architecture":"arm64","os":"linux","variant":"v8"}},
            {"mediaType":"x","digest":"sha256:d","size":1,"platform":{"architecture":"unknown","os":"unknown"}}]}"#,
        )
        .unwrap();
        let p = |s: &str| s.parse::<Platform>().unwrap();
        assert_eq!(choose(&idx, &p("linux/amd64")).unwrap().digest, "sha256:b");
        assert_eq!(choose(&idx, &p("linux/arm/v7")).unwrap().digest, "sha256:a");
        assert_eq!(choose(&idx, &p("linux/arm64")).unwrap().digest, "sha256:c");
        assert_eq!(
            choose(&idx, &p("linux/arm64/v8")).unwrap().digest,
            "sha256:c"
        );
        let err = choose(&idx, &p("linux/s390x")).unwrap_err();
        assert_eq!(err, "linux/arm/v7, linux/amd64, linux/arm64/v8");
        assert!("linux".parse::<Platform>().is_err());
        assert_eq!(Platform::host().os, "linux");
    }
}
