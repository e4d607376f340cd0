//! The manifest and config readers: oci-spec's ImageManifest and skiff's
//! ImageConfig from arbitrary JSON, and the canonical form of what parses
//! parses again.
#![no_main]

use libfuzzer_sys::fuzz_target;
use oci_spec::image::ImageManifest;
use skiff::image::config::{canonical_json, ImageConfig};

fuzz_target!(|data: &[u8]| {
    if let Ok(m) = serde_json::from_slice::<ImageManifest>(data) {
        let _ = (m.config().digest(), m.layers().len(), m.media_type());
        let bytes = canonical_json(&m).expect("a parsed manifest serializes");
        let _: ImageManifest = serde_json::from_slice(&bytes).expect("canonical manifest parses");
    }
    if let Ok(c) = serde_json::from_slice::<ImageConfig>(data) {
        let bytes = canonical_json(&c).expect("a parsed config serializes");
        let again: ImageConfig = serde_json::from_slice(&bytes).expect("canonical config parses");
        assert_eq!(canonical_json(&again).ok(), Some(bytes));
    }
});
