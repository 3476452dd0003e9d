//! The AWS identity sources (`source::aws`) against the EC2 metadata emulator: the IMDSv2
//! client and the `aws1` chain.

use std::time::{Duration, UNIX_EPOCH};

use federated_credentials::context::{Context, InstantSleep, ManualClock, StaticEnv};
use federated_credentials::http::RetryPolicy;
use federated_credentials::source::aws::{Ec2InstanceMetadata, Ec2InstanceMetadataBuilder};
use federated_credentials_testkit::Ec2MetadataEmulator;

mod aws1;
mod imds;

/// A secret access key that must never appear in any output.
const SECRET: &str = "wJalrXUtnFEMI/K7MDENG/bPxRfiCYEXAMPLEKEY";

/// A session token that must never appear in any output.
const SESSION_TOKEN: &str = "FwoGZXIvYXdzEXAMPLEsessionTOKENvalue0123456789";

/// Panics if any rendering contains [`SECRET`] or [`SESSION_TOKEN`], or any of `extra`.
fn assert_no_secrets_in(rendered: &[&str], extra: &[&str]) {
    for text in rendered {
        for secret in [SECRET, SESSION_TOKEN].iter().chain(extra) {
            assert!(
                !secret.is_empty() && !text.contains(secret),
                "a secret leaked into: {text}"
            );
        }
    }
}

/// A manual clock at 2023-11-14T22:13:20Z.
pub(crate) fn clock() -> ManualClock {
    ManualClock::new(UNIX_EPOCH + Duration::from_secs(1_700_000_000))
}

/// A context with this clock and environment, and instant retry sleeps.
pub(crate) fn ctx(clock: &ManualClock, pairs: &[(&str, &str)]) -> Context {
    Context::builder()
        .clock(clock.clone())
        .env(StaticEnv::from_pairs(pairs.iter().copied()))
        .sleep(InstantSleep)
        .build()
}

/// A client of `emulator` with short timeouts, configured like a google-auth config.
pub(crate) fn client_of(emulator: &Ec2MetadataEmulator) -> Ec2InstanceMetadataBuilder {
    Ec2InstanceMetadata::builder()
        .region_url(emulator.availability_zone_url())
        .credentials_url(emulator.credentials_url())
        .session_token_url(emulator.token_url())
        .attempt_timeout(Duration::from_millis(300))
        .retry_policy(
            RetryPolicy::new(2).backoff(Duration::from_millis(1), Duration::from_millis(1)),
        )
}
