//! [`Aws1Source`]: what a `credential_source` with `environment_id: aws1` means here: the AWS
//! SDKs' precedence (environment keys, web identity, container credentials, EC2 instance
//! metadata), where a configured step that fails is an error, never a fall-through.

use async_trait::async_trait;
use aws_credential_types::Credentials;

use std::sync::Arc;

use super::container::{TASK_METADATA_ENV, task_metadata_region};
use super::{
    AwsEnvironment, AwsIdentitySource, ContainerCredentials, CredentialSlot, Ec2InstanceMetadata,
    check_region, region_from_env,
};
use crate::context::Context;
use crate::error::Error;
use crate::exchange::{AssumeRoleWithWebIdentity, Exchange};
use crate::source::{SubjectTokenSource, TokenFile};

/// The AWS identity of an `aws1` credential source, resolved as the AWS SDKs do, so that
/// the unchanged `gcloud iam workload-identity-pools create-cred-config --aws` file works on
/// every AWS compute platform and signs as the workload, not as the node under it.
///
/// Credentials, the first step that is configured:
/// 1. `AWS_ACCESS_KEY_ID` + `AWS_SECRET_ACCESS_KEY` (both non-empty), with the optional
///    `AWS_SESSION_TOKEN`: Lambda, and anything that exports keys.
/// 2. `AWS_ROLE_ARN` + `AWS_WEB_IDENTITY_TOKEN_FILE` (EKS IRSA): `AssumeRoleWithWebIdentity`
///    with the file re-read on each refresh, `AWS_ROLE_SESSION_NAME`, the regional endpoint
///    and `AWS_ENDPOINT_URL_STS`/`AWS_ENDPOINT_URL` as [`AssumeRoleWithWebIdentity`] resolves
///    them.
/// 3. `AWS_CONTAINER_CREDENTIALS_RELATIVE_URI` or `_FULL_URI` ([`ContainerCredentials`]): ECS
///    on EC2 or Fargate, EKS Pod Identity, CodeBuild, App Runner.
/// 4. The EC2 instance metadata service.
///
/// A step that is configured and fails is an error naming what was configured: on ECS on
/// EC2 or EKS, falling through to IMDS would sign as the node's instance role. Each decision
/// is a DEBUG event. Credentials from steps 2–4 are cached until five minutes before they
/// expire.
///
/// Region: `AWS_REGION`, then `AWS_DEFAULT_REGION` (empty counts as unset), then on ECS the
/// task metadata (`ECS_CONTAINER_METADATA_URI_V4`, `AvailabilityZone`; read once), then IMDS
/// (cached). IMDS, and so
/// the IMDSv2 session-token `PUT`, is only contacted for what nothing above provides; when
/// both come from IMDS one session token serves both.
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
    container: ContainerCredentials,
    web_identity: CredentialSlot,
    /// The ECS task's region, once read (a task does not move).
    task_region: Arc<tokio::sync::OnceCell<String>>,
}

impl Aws1Source {
    /// The chain, with `imds` as its last step.
    pub fn new(imds: Ec2InstanceMetadata) -> Self {
        Self {
            imds,
            ..Self::default()
        }
    }

    /// The metadata source of the last step.
    pub fn imds(&self) -> &Ec2InstanceMetadata {
        &self.imds
    }

    /// Forgets every cached credential and the IMDS region (the web identity, container and
    /// IMDS steps'); the ECS task's region is kept.
    pub async fn clear_cache(&self) {
        self.web_identity.clear().await;
        self.container.clear_cache().await;
        self.imds.clear_cache().await;
    }

    /// Step 2: the role `AWS_ROLE_ARN` assumed with the token in `AWS_WEB_IDENTITY_TOKEN_FILE`.
    async fn web_identity(
        &self,
        ctx: &Context,
        role_arn: &str,
        token_file: &str,
    ) -> Result<Credentials, Error> {
        self.web_identity
            .get_or_fetch(ctx, || async {
                let token = TokenFile::text(token_file.trim())
                    .setting_name("AWS_WEB_IDENTITY_TOKEN_FILE")
                    .subject_token(ctx)
                    .await?;
                let mut sts = AssumeRoleWithWebIdentity::new(role_arn.trim());
                if let Some(name) = ctx.env().get_non_empty("AWS_ROLE_SESSION_NAME") {
                    sts = sts.session_name(name.trim());
                }
                Ok(sts.exchange(ctx, &token).await?.sdk_credentials().clone())
            })
            .await
    }
}

#[async_trait]
impl AwsIdentitySource for Aws1Source {
    async fn region(&self, ctx: &Context) -> Result<String, Error> {
        if let Some((region, setting)) = region_from_env(ctx) {
            return check_region(region, setting);
        }
        if ctx.env().get_non_empty(TASK_METADATA_ENV).is_some() {
            tracing::debug!("aws1: region from the ECS task metadata");
            return self
                .task_region
                .get_or_try_init(|| async {
                    task_metadata_region(ctx)
                        .await
                        .unwrap_or_else(|| Err(Error::config(TASK_METADATA_ENV, "is empty")))
                })
                .await
                .cloned()
                .map_err(|e| {
                    e.context("AWS_REGION and AWS_DEFAULT_REGION are unset and ECS_CONTAINER_METADATA_URI_V4 is set, so the region was asked of the task metadata")
                });
        }
        self.imds.region(ctx).await.map_err(|e| {
            e.context(
                "AWS_REGION and AWS_DEFAULT_REGION are unset, so the region was asked of IMDS",
            )
        })
    }

    async fn credentials(&self, ctx: &Context) -> Result<Credentials, Error> {
        let env = ctx.env();
        if AwsEnvironment::has_credentials(ctx) {
            tracing::debug!("aws1: credentials from the environment keys");
            return AwsEnvironment::read_credentials(ctx);
        }
        let role = env.get_non_empty("AWS_ROLE_ARN");
        let token_file = env.get_non_empty("AWS_WEB_IDENTITY_TOKEN_FILE");
        if let (Some(role), Some(token_file)) = (&role, &token_file) {
            tracing::debug!(role_arn = %role, "aws1: credentials from web identity (AWS_ROLE_ARN + AWS_WEB_IDENTITY_TOKEN_FILE)");
            return self.web_identity(ctx, role, token_file).await.map_err(|e| {
                e.context("AWS_ROLE_ARN and AWS_WEB_IDENTITY_TOKEN_FILE are set (EKS IRSA), so the role was assumed with that token; not falling back to container credentials or IMDS")
            });
        }
        if ContainerCredentials::is_configured(ctx) {
            tracing::debug!("aws1: credentials from the container endpoint");
            return self.container.credentials(ctx).await.map_err(|e| {
                e.context("AWS_CONTAINER_CREDENTIALS_RELATIVE_URI or _FULL_URI is set (ECS, EKS Pod Identity, CodeBuild, App Runner), so credentials were asked of that endpoint; not falling back to IMDS, whose role is the node's")
            });
        }
        let half_set = env.get_non_empty("AWS_ACCESS_KEY_ID").is_some()
            || env.get_non_empty("AWS_SECRET_ACCESS_KEY").is_some();
        let half_role = role.is_some() != token_file.is_some();
        tracing::debug!(half_set, half_role, "aws1: credentials from IMDS");
        self.imds.credentials(ctx).await.map_err(|e| {
            if half_set {
                e.context("only one of AWS_ACCESS_KEY_ID and AWS_SECRET_ACCESS_KEY is set, so credentials were asked of IMDS")
            } else if half_role {
                e.context("only one of AWS_ROLE_ARN and AWS_WEB_IDENTITY_TOKEN_FILE is set, so credentials were asked of IMDS")
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
