//! Image references: parsing never panics, and what parses prints back to
//! itself.
#![no_main]

use libfuzzer_sys::fuzz_target;
use skiff::image::reference::ImageRef;

fuzz_target!(|data: &[u8]| {
    let Ok(s) = std::str::from_utf8(data) else {
        return;
    };
    let Ok(r) = s.parse::<ImageRef>() else {
        return;
    };
    let _ = (r.registry(), r.repository(), r.tag_or_latest());
    let again: ImageRef = r
        .to_string()
        .parse()
        .unwrap_or_else(|e| panic!("{s:?} parsed as {r:?}, whose text does not: {e}"));
    assert_eq!(r, again, "{s:?}");
});
