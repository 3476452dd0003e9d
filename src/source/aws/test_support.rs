//! Shared fixtures of the AWS source tests: well-known fake secrets and a check that none of
//! them leaked into rendered output.

/// A secret access key that must never appear in any output.
pub(crate) const SECRET: &str = "wJalrXUtnFEMI/K7MDENG/bPxRfiCYEXAMPLEKEY";

/// A session token that must never appear in any output.
pub(crate) const SESSION_TOKEN: &str = "FwoGZXIvYXdzEXAMPLEsessionTOKENvalue0123456789";

/// Panics if any rendering contains [`SECRET`] or [`SESSION_TOKEN`], or any of `extra`.
pub(crate) fn assert_no_secrets_in(rendered: &[&str], extra: &[&str]) {
    for text in rendered {
        for secret in [SECRET, SESSION_TOKEN].iter().chain(extra) {
            assert!(
                !secret.is_empty() && !text.contains(secret),
                "a secret leaked into: {text}"
            );
        }
    }
}

/// Panics if any rendering contains [`SECRET`] or [`SESSION_TOKEN`].
pub(crate) fn assert_no_secrets(rendered: &[&str]) {
    assert_no_secrets_in(rendered, &[]);
}

/// A context over exactly these environment variables.
pub(crate) fn env_ctx(pairs: &[(&str, &str)]) -> crate::context::Context {
    crate::context::Context::builder()
        .env(crate::context::StaticEnv::from_pairs(pairs.iter().copied()))
        .build()
}
