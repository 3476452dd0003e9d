//! Nothing here: the interop tests are in `tests/moto.rs`; run them with `.ci/interop.sh`.
