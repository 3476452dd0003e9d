//! [`Aws1Source`]: what a google-auth `credential_source` with `environment_id: aws1` means:
//! the environment first, the EC2 instance metadata service for whatever is missing.

use async_trait::async_trait;
use aws_credential_types::Credentials;

use super::{
    AwsEnvironment, AwsIdentitySource, Ec2InstanceMetadata, check_region, region_from_env,
};
use crate::context::Context;
use crate::error::Error;

/// The AWS identity of a google-auth `aws1` credential source ([AIP-4117](https://google.aip.dev/auth/4117), google-auth's `aws.py`).
///
/// - Region: `AWS_REGION`, then `AWS_DEFAULT_REGION` (empty counts as unset), else IMDS.
/// - Credentials: `AWS_ACCESS_KEY_ID` + `AWS_SECRET_ACCESS_KEY` (both non-empty) with the
///   optional `AWS_SESSION_TOKEN`, else IMDS.
///
/// IMDS, and so the IMDSv2 session-token `PUT`, is only contacted for what the environment
/// does not provide: on Lambda or ECS with the variables set, no metadata request is made.
/// When both come from IMDS one session token serves both.
///
/// ```
/// use federated_credentials::source::aws::{Aws1Source, Ec2InstanceMetadata};
/// use federated_credentials::source::AwsSignedRequestToken;
///
/// let aws1 = Aws1Source::new(Ec2InstanceMetadata::new());
/// let source = AwsSignedRequestToken::new(
///     aws1,
///     "//iam.googleapis.com/projects/123456/locations/global/workloadIdentityPools/pool/providers/aws",
/// );
/// ```
#[derive(Debug, Clone, Default)]
pub struct Aws1Source {
    imds: Ec2InstanceMetadata,
}

impl Aws1Source {
    /// The environment, then `imds`.
    pub fn new(imds: Ec2InstanceMetadata) -> Self {
        Self { imds }
    }

    /// The metadata source used for what the environment lacks.
    pub fn imds(&self) -> &Ec2InstanceMetadata {
        &self.imds
    }
}

#[async_trait]
impl AwsIdentitySource for Aws1Source {
    async fn region(&self, ctx: &Context) -> Result<String, Error> {
        match region_from_env(ctx) {
            Some((region, setting)) => check_region(region, setting),
            None => self.imds.region(ctx).await.map_err(|e| {
                e.context(
                    "AWS_REGION and AWS_DEFAULT_REGION are unset, so the region was asked of IMDS",
                )
            }),
        }
    }

    async fn credentials(&self, ctx: &Context) -> Result<Credentials, Error> {
        if AwsEnvironment::has_credentials(ctx) {
            return AwsEnvironment::read_credentials(ctx);
        }
        let half_set = ctx.env().get_non_empty("AWS_ACCESS_KEY_ID").is_some()
            || ctx.env().get_non_empty("AWS_SECRET_ACCESS_KEY").is_some();
        self.imds.credentials(ctx).await.map_err(|e| {
            if half_set {
                e.context("only one of AWS_ACCESS_KEY_ID and AWS_SECRET_ACCESS_KEY is set, so credentials were asked of IMDS")
            } else {
                e
            }
        })
    }

    fn name(&self) -> &'static str {
        "aws1"
    }
}

#[cfg(test)]
mod offline_tests {
    use super::*;
    use crate::context::StaticEnv;
    use crate::error::ErrorKind;

    #[tokio::test]
    async fn environment_first_and_imds_v1_when_told() {
        let aws1 = Aws1Source::new(Ec2InstanceMetadata::new());
        // Everything in the environment: IMDS (unreachable from here) is never asked.
        let ctx = Context::builder()
            .env(StaticEnv::from_pairs([
                ("AWS_ACCESS_KEY_ID", "AKIDEXAMPLE"),
                (
                    "AWS_SECRET_ACCESS_KEY",
                    "wJalrXUtnFEMI/K7MDENG+bPxRfiCYEXAMPLEKEY",
                ),
                ("AWS_REGION", "eu-west-1"),
            ]))
            .build();
        assert_eq!(aws1.region(&ctx).await.unwrap(), "eu-west-1");
        assert_eq!(
            aws1.credentials(&ctx).await.unwrap().access_key_id(),
            "AKIDEXAMPLE"
        );

        let imds = Ec2InstanceMetadata::builder().imds_v1().build().unwrap();
        let aws1 = Aws1Source::new(imds);
        assert!(!aws1.imds().uses_session_token());
        assert!(Aws1Source::default().imds().uses_session_token());
        let ctx = Context::builder()
            .env(StaticEnv::from_pairs([(
                "AWS_EC2_METADATA_DISABLED",
                "true",
            )]))
            .build();
        let err = aws1.region(&ctx).await.unwrap_err();
        assert_eq!(err.kind(), ErrorKind::NotAvailable);
        assert!(
            err.to_string()
                .contains("AWS_REGION and AWS_DEFAULT_REGION are unset"),
            "{err}"
        );
    }
}

#[cfg(all(test, feature = "testkit"))]
mod tests {
    use super::*;
    use crate::error::ErrorKind;
    use crate::source::aws::test_support::{SECRET, SESSION_TOKEN, client_of, clock, ctx};
    use crate::source::{AwsSignedRequestToken, SubjectTokenSource};
    use crate::testkit::Ec2MetadataEmulator;

    const AUDIENCE: &str =
        "//iam.googleapis.com/projects/1/locations/global/workloadIdentityPools/p/providers/aws";

    /// The percent-decoded JSON of a signed-request token.
    fn decode(token: &crate::token::SubjectToken) -> serde_json::Value {
        let raw = format!("x={}", token.token().expose_secret());
        let (_, json) = url::form_urlencoded::parse(raw.as_bytes()).next().unwrap();
        serde_json::from_str(&json).unwrap()
    }

    fn header(json: &serde_json::Value, name: &str) -> Option<String> {
        json["headers"]
            .as_array()
            .unwrap()
            .iter()
            .find_map(|h| (h["key"] == name).then(|| h["value"].as_str().unwrap().to_string()))
    }

    async fn setup() -> (Ec2MetadataEmulator, Aws1Source, crate::context::ManualClock) {
        let clock = clock();
        let emulator = Ec2MetadataEmulator::builder()
            .clock(clock.clone())
            .availability_zone("eu-west-1b")
            .start()
            .await
            .unwrap();
        let source = Aws1Source::new(client_of(&emulator).build().unwrap());
        (emulator, source, clock)
    }

    #[tokio::test]
    async fn env_credentials_and_region_never_touch_imds() {
        let (emulator, source, clock) = setup().await;
        let c = ctx(
            &clock,
            &[
                ("AWS_ACCESS_KEY_ID", "AKIDEXAMPLE"),
                ("AWS_SECRET_ACCESS_KEY", SECRET),
                ("AWS_SESSION_TOKEN", SESSION_TOKEN),
                ("AWS_REGION", "us-east-2"),
            ],
        );
        let token = AwsSignedRequestToken::new(source, AUDIENCE)
            .subject_token(&c)
            .await
            .unwrap();
        assert_eq!(emulator.request_count(), 0);
        let json = decode(&token);
        assert_eq!(
            header(&json, "x-amz-security-token").as_deref(),
            Some(SESSION_TOKEN)
        );
        assert!(json["url"].as_str().unwrap().contains("sts.us-east-2."));
    }

    #[tokio::test]
    async fn env_credentials_without_region_ask_imds_for_the_region_only() {
        let (emulator, source, clock) = setup().await;
        let c = ctx(
            &clock,
            &[
                ("AWS_ACCESS_KEY_ID", "AKIDEXAMPLE"),
                ("AWS_SECRET_ACCESS_KEY", SECRET),
                ("AWS_SESSION_TOKEN", ""),
                ("AWS_REGION", ""),
            ],
        );
        let token = AwsSignedRequestToken::new(source, AUDIENCE)
            .subject_token(&c)
            .await
            .unwrap();
        assert_eq!((emulator.put_count(), emulator.get_count()), (1, 1));
        let json = decode(&token);
        assert_eq!(header(&json, "x-amz-security-token"), None);
        assert!(header(&json, "Authorization")
            .unwrap()
            .contains("/eu-west-1/sts/aws4_request, SignedHeaders=host;x-amz-date;x-goog-cloud-target-resource,"));
    }

    #[tokio::test]
    async fn everything_from_imds_with_one_session_token() {
        let (emulator, source, clock) = setup().await;
        let c = ctx(&clock, &[("AWS_ACCESS_KEY_ID", "AKIDHALF")]);
        let token = AwsSignedRequestToken::new(source.clone(), AUDIENCE)
            .subject_token(&c)
            .await
            .unwrap();
        assert_eq!((emulator.put_count(), emulator.get_count()), (1, 3));
        let served = emulator.credentials();
        let json = decode(&token);
        assert_eq!(
            header(&json, "x-amz-security-token"),
            Some(served.session_token.clone())
        );
        assert!(
            header(&json, "Authorization")
                .unwrap()
                .contains(&format!("Credential={}/", served.access_key_id))
        );
        // The signed token expires with the signature, well before the credentials.
        assert_eq!(
            token.expires_at(),
            Some(c.now() + std::time::Duration::from_secs(900))
        );

        // Half-set keys fall back to IMDS, and a failure there says so.
        emulator.set_role(None);
        source.imds().clear_cache().await;
        let err = source.credentials(&c).await.unwrap_err();
        assert_eq!(err.kind(), ErrorKind::NotAvailable);
        assert!(
            err.message().contains("only one of AWS_ACCESS_KEY_ID"),
            "{err}"
        );
        let err = source
            .region(&ctx(&clock, &[("AWS_EC2_METADATA_DISABLED", "true")]))
            .await;
        assert!(
            err.unwrap_err()
                .message()
                .contains("AWS_REGION and AWS_DEFAULT_REGION are unset")
        );
    }
}
