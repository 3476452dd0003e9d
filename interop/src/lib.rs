//! Shared helpers of the interop tests (`tests/moto.rs`, `tests/google_auth.rs`,
//! `tests/botocore_profile.rs`, `tests/aws_container.rs`, `tests/aws_web_identity.rs`,
//! `tests/azure_managed_identity.rs`, `tests/aws_outbound_token.rs`, `tests/azure_entra.rs`,
//! `tests/aws_broker.rs`, `tests/google_metadata.rs`, `tests/google_cloud_storage.rs`); run
//! them with `.ci/interop.sh`, which installs the tools and sets the variables they read.

/// Set to `1` to skip the interop tests whose tool is missing instead of failing them.
pub const SKIP_ENV: &str = "FEDERATED_CREDENTIALS_SKIP_INTEROP";

/// The value of `var`, which `.ci/interop.sh` sets to `what`. When it is unset the test fails,
/// unless skipping was asked for explicitly with [`SKIP_ENV`]`=1` (then `None`: the caller
/// returns early, and says so on stderr).
pub fn required_env(var: &str, what: &str) -> Option<String> {
    match std::env::var(var) {
        Ok(v) if !v.trim().is_empty() => Some(v.trim().to_owned()),
        _ if std::env::var(SKIP_ENV).is_ok_and(|v| v.trim() == "1") => {
            eprintln!("SKIPPED ({SKIP_ENV}=1): {var} is not set ({what})");
            None
        }
        _ => panic!(
            "{var} is not set: it names {what}. Run the interop tests with .ci/interop.sh, \
             which installs the tools and sets it, or set {SKIP_ENV}=1 to skip them"
        ),
    }
}
