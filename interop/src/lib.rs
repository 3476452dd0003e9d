//! Nothing here: the interop tests are in `tests/moto.rs` and `tests/google_auth.rs`; run them with `.ci/interop.sh`.
