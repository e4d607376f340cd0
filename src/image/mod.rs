//! OCI image model: references, manifests and configs, layer tars in and out,
//! import.

pub mod reference;
