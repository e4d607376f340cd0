//! Dockerfile builds: parse, plan stages, execute steps with a layer cache.
