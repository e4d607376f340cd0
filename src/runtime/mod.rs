//! Running one container once: spec, namespaces, rootfs, cgroups, security.
