//! The layer unpacker, on (possibly gzipped) bytes, into a fresh temporary
//! directory with a size limit: errors are fine; panics, hangs and anything
//! written outside the directory are not.
#![no_main]

use libfuzzer_sys::fuzz_target;
use skiff::image::unpack::{decompressed, unpack_layer, UnpackOptions};

fuzz_target!(|data: &[u8]| {
    let Ok(base) = tempfile::tempdir() else {
        return;
    };
    let dest = base.path().join("layer");
    if std::fs::create_dir(&dest).is_err() {
        return;
    }
    let opts = UnpackOptions {
        max_bytes: Some(16 << 20),
    };
    if let Ok(r) = decompressed(data) {
        let _ = unpack_layer(r, &dest, &opts);
    }
    // Nothing may appear beside the destination.
    let beside: Vec<_> = std::fs::read_dir(base.path())
        .map(|rd| rd.flatten().map(|e| e.file_name()).collect())
        .unwrap_or_default();
    assert_eq!(beside, vec![std::ffi::OsString::from("layer")]);
});
