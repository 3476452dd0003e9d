//! [`AwsEnvironment`]: AWS credentials and region from the standard environment variables,
//! as set on Lambda, ECS tasks with injected keys, CI runners and developer machines.

use async_trait::async_trait;
use aws_credential_types::Credentials;

use super::{AwsIdentitySource, check_region, region_from_env};
use crate::context::Context;
use crate::error::{Error, ErrorKind, Service};

/// The `provider_name` of credentials read from the environment.
const PROVIDER_NAME: &str = "Environment";

/// Credentials and region from environment variables.
///
/// - Credentials: `AWS_ACCESS_KEY_ID` and `AWS_SECRET_ACCESS_KEY` (both required), plus
///   `AWS_SESSION_TOKEN` for temporary credentials. An empty variable counts as unset, so
///   `AWS_SESSION_TOKEN=` never produces an empty `x-amz-security-token`.
/// - Region: [`with_region`](Self::with_region) if set, else `AWS_REGION`, else `AWS_DEFAULT_REGION`.
///
/// ```
/// use federated_credentials::context::{Context, StaticEnv};
/// use federated_credentials::source::aws::{AwsEnvironment, AwsIdentitySource};
/// # let rt = tokio::runtime::Builder::new_current_thread().build().unwrap();
/// # rt.block_on(async {
/// let ctx = Context::builder()
///     .env(StaticEnv::from_pairs([
///         ("AWS_ACCESS_KEY_ID", "AKIDEXAMPLE"),
///         ("AWS_SECRET_ACCESS_KEY", "wJalrXUtnFEMI/K7MDENG+bPxRfiCYEXAMPLEKEY"),
///         ("AWS_SESSION_TOKEN", ""),
///         ("AWS_DEFAULT_REGION", "eu-west-1"),
///     ]))
///     .build();
/// let source = AwsEnvironment::new();
/// let creds = source.credentials(&ctx).await.unwrap();
/// assert_eq!(creds.session_token(), None);
/// # });
/// ```
#[derive(Debug, Clone, Default)]
pub struct AwsEnvironment {
    region: Option<String>,
}

impl AwsEnvironment {
    /// Reads everything from the environment.
    pub fn new() -> Self {
        Self::default()
    }

    /// Uses this region instead of `AWS_REGION` / `AWS_DEFAULT_REGION`.
    pub fn with_region(mut self, region: impl Into<String>) -> Self {
        self.region = Some(region.into());
        self
    }

    /// Whether both key variables are set and non-empty, i.e. whether
    /// [`credentials`](AwsIdentitySource::credentials) can succeed, e.g. to choose a source:
    ///
    /// ```
    /// use std::sync::Arc;
    /// use federated_credentials::context::Context;
    /// use federated_credentials::source::aws::{AwsEnvironment, AwsIdentitySource, Ec2InstanceMetadata};
    ///
    /// let ctx = Context::default();
    /// let identity: Arc<dyn AwsIdentitySource> = if AwsEnvironment::has_credentials(&ctx) {
    ///     Arc::new(AwsEnvironment::new())
    /// } else {
    ///     Arc::new(Ec2InstanceMetadata::new())
    /// };
    /// ```
    pub fn has_credentials(ctx: &Context) -> bool {
        ctx.env().get_non_empty("AWS_ACCESS_KEY_ID").is_some()
            && ctx.env().get_non_empty("AWS_SECRET_ACCESS_KEY").is_some()
    }

    /// The credentials, when both key variables are set.
    pub(crate) fn read_credentials(ctx: &Context) -> Result<Credentials, Error> {
        let env = ctx.env();
        let key = env.get_non_empty("AWS_ACCESS_KEY_ID");
        let secret = env.get_non_empty("AWS_SECRET_ACCESS_KEY");
        let (key, secret) = match (key, secret) {
            (Some(key), Some(secret)) => (key, secret),
            (None, None) => {
                return Err(Error::new(
                    ErrorKind::NotAvailable,
                    Service::AwsCredentials,
                    "no AWS credentials in the environment: set AWS_ACCESS_KEY_ID and AWS_SECRET_ACCESS_KEY (and AWS_SESSION_TOKEN for temporary credentials)",
                ));
            }
            (Some(_), None) => {
                return Err(Error::new(
                    ErrorKind::Configuration,
                    Service::AwsCredentials,
                    "AWS_ACCESS_KEY_ID is set but AWS_SECRET_ACCESS_KEY is unset or empty; set both",
                ));
            }
            (None, Some(_)) => {
                return Err(Error::new(
                    ErrorKind::Configuration,
                    Service::AwsCredentials,
                    "AWS_SECRET_ACCESS_KEY is set but AWS_ACCESS_KEY_ID is unset or empty; set both",
                ));
            }
        };
        let session_token = env
            .get_non_empty("AWS_SESSION_TOKEN")
            .map(|t| t.trim().to_string());
        Ok(Credentials::new(
            key.trim(),
            secret.trim(),
            session_token,
            None,
            PROVIDER_NAME,
        ))
    }
}

#[async_trait]
impl AwsIdentitySource for AwsEnvironment {
    async fn region(&self, ctx: &Context) -> Result<String, Error> {
        if let Some(region) = &self.region {
            return check_region(region.trim().to_string(), "region");
        }
        match region_from_env(ctx) {
            Some((region, setting)) => check_region(region, setting),
            None => Err(Error::new(
                ErrorKind::NotAvailable,
                Service::AwsCredentials,
                "unable to determine the AWS region: set AWS_REGION or AWS_DEFAULT_REGION",
            )),
        }
    }

    async fn credentials(&self, ctx: &Context) -> Result<Credentials, Error> {
        Self::read_credentials(ctx)
    }

    fn name(&self) -> &'static str {
        "aws-environment"
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::source::aws::test_support::{
        SECRET, SESSION_TOKEN, assert_no_secrets, env_ctx as ctx,
    };

    #[tokio::test]
    async fn reads_keys_and_omits_an_empty_session_token() {
        let c = ctx(&[
            ("AWS_ACCESS_KEY_ID", "AKIDEXAMPLE"),
            ("AWS_SECRET_ACCESS_KEY", SECRET),
            ("AWS_SESSION_TOKEN", ""),
        ]);
        let creds = AwsEnvironment::new().credentials(&c).await.unwrap();
        assert_eq!(creds.access_key_id(), "AKIDEXAMPLE");
        assert_eq!(creds.secret_access_key(), SECRET);
        assert_eq!(creds.session_token(), None);
        assert_eq!(creds.expiry(), None);

        let c = ctx(&[
            ("AWS_ACCESS_KEY_ID", "AKIDEXAMPLE"),
            ("AWS_SECRET_ACCESS_KEY", SECRET),
            ("AWS_SESSION_TOKEN", SESSION_TOKEN),
        ]);
        let creds = AwsEnvironment::new().credentials(&c).await.unwrap();
        assert_eq!(creds.session_token(), Some(SESSION_TOKEN));
        assert_no_secrets(&[
            &format!("{creds:?}"),
            &format!("{:?}", AwsEnvironment::new()),
        ]);
    }

    #[tokio::test]
    async fn errors_name_the_variables() {
        let source = AwsEnvironment::new();
        let none = source.credentials(&ctx(&[])).await.unwrap_err();
        assert_eq!(none.kind(), ErrorKind::NotAvailable);
        assert!(none.message().contains("AWS_ACCESS_KEY_ID"), "{none}");

        let half = source
            .credentials(&ctx(&[
                ("AWS_ACCESS_KEY_ID", "AKID"),
                ("AWS_SECRET_ACCESS_KEY", " "),
            ]))
            .await
            .unwrap_err();
        assert_eq!(half.kind(), ErrorKind::Configuration);
        assert!(half.message().contains("AWS_SECRET_ACCESS_KEY"), "{half}");

        let other_half = source
            .credentials(&ctx(&[("AWS_SECRET_ACCESS_KEY", SECRET)]))
            .await
            .unwrap_err();
        assert!(other_half.message().contains("AWS_ACCESS_KEY_ID"));
        assert_no_secrets(&[&format!("{other_half:?}"), &other_half.to_string()]);
    }

    #[tokio::test]
    async fn documented_checks() {
        let half = ctx(&[
            ("AWS_ACCESS_KEY_ID", "AKIDEXAMPLE"),
            ("AWS_SECRET_ACCESS_KEY", ""),
        ]);
        let err = AwsEnvironment::new().credentials(&half).await.unwrap_err();
        assert_eq!(err.kind(), ErrorKind::Configuration);
        assert!(
            err.to_string()
                .contains("AWS_SECRET_ACCESS_KEY is unset or empty"),
            "{err}"
        );
        assert!(!AwsEnvironment::has_credentials(&half));
        let keys = ctx(&[
            ("AWS_ACCESS_KEY_ID", "AKIDEXAMPLE"),
            (
                "AWS_SECRET_ACCESS_KEY",
                "wJalrXUtnFEMI/K7MDENG+bPxRfiCYEXAMPLEKEY",
            ),
            ("AWS_REGION", "us-east-1"),
        ]);
        assert!(AwsEnvironment::has_credentials(&keys));
        assert_eq!(
            AwsEnvironment::new()
                .with_region("eu-central-1")
                .region(&keys)
                .await
                .unwrap(),
            "eu-central-1"
        );
        assert!(
            AwsEnvironment::new()
                .with_region("Frankfurt")
                .region(&keys)
                .await
                .is_err()
        );
    }

    #[tokio::test]
    async fn region_precedence_and_validation() {
        let source = AwsEnvironment::new();
        assert_eq!(
            source
                .region(&ctx(&[
                    ("AWS_REGION", ""),
                    ("AWS_DEFAULT_REGION", "eu-west-1")
                ]))
                .await
                .unwrap(),
            "eu-west-1"
        );
        assert_eq!(
            source
                .region(&ctx(&[
                    ("AWS_REGION", "us-east-2"),
                    ("AWS_DEFAULT_REGION", "eu-west-1")
                ]))
                .await
                .unwrap(),
            "us-east-2"
        );
        assert_eq!(
            source
                .clone()
                .with_region("ap-south-1")
                .region(&ctx(&[("AWS_REGION", "us-east-2")]))
                .await
                .unwrap(),
            "ap-south-1"
        );
        let missing = source.region(&ctx(&[])).await.unwrap_err();
        assert!(missing.message().contains("AWS_REGION"), "{missing}");
        let bad = source
            .region(&ctx(&[("AWS_REGION", "us-east-1.evil.com/")]))
            .await
            .unwrap_err();
        assert_eq!(bad.kind(), ErrorKind::Configuration);
        assert!(bad.message().starts_with("AWS_REGION"), "{bad}");
    }
}
