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
