//! AWS identities to sign with: credentials plus the region, for the AWS → GCP direction.
//!
//! An [`AwsIdentitySource`] answers two questions, each its own step so that a source only
//! asks the instance metadata service for what it actually needs:
//!
//! | source | region | credentials |
//! |---|---|---|
//! | [`AwsEnvironment`] | `AWS_REGION`, `AWS_DEFAULT_REGION` | `AWS_ACCESS_KEY_ID`, `AWS_SECRET_ACCESS_KEY`, `AWS_SESSION_TOKEN` |
//! | [`Ec2InstanceMetadata`] | IMDS `placement/availability-zone` (or `placement/region`) | IMDS instance-profile role |
//! | [`Aws1Source`] | environment, else IMDS | environment, else IMDS (google-auth's `environment_id: aws1`) |
//! | [`SdkCredentialsProvider`] | explicit, else environment | any `aws-config` credentials provider |
//!
//! [`AwsSignedRequestToken`](super::AwsSignedRequestToken) turns one of these into a Google
//! STS subject token.
//!
//! ```
//! use std::sync::Arc;
//! use federated_credentials::context::{Context, StaticEnv};
//! use federated_credentials::source::aws::{Aws1Source, AwsEnvironment, AwsIdentitySource};
//! use federated_credentials::source::AwsSignedRequestToken;
//!
//! # #[tokio::main(flavor = "current_thread")]
//! # async fn main() -> Result<(), federated_credentials::Error> {
//! // On Lambda the keys are in the environment; elsewhere on AWS, `aws1` falls back to IMDS.
//! let on_lambda = true;
//! let identity: Arc<dyn AwsIdentitySource> = if on_lambda {
//!     Arc::new(AwsEnvironment::new())
//! } else {
//!     Arc::new(Aws1Source::default())
//! };
//! # let ctx = Context::builder()
//! #     .env(StaticEnv::from_pairs([
//! #         ("AWS_ACCESS_KEY_ID", "AKIDEXAMPLE"),
//! #         ("AWS_SECRET_ACCESS_KEY", "wJalrXUtnFEMI/K7MDENG+bPxRfiCYEXAMPLEKEY"),
//! #         ("AWS_SESSION_TOKEN", "FwoGZXIvYXdzEXAMPLE"),
//! #         ("AWS_REGION", "us-west-2"),
//! #     ]))
//! #     .build();
//! let source = AwsSignedRequestToken::from_shared(
//!     identity,
//!     "//iam.googleapis.com/projects/123456/locations/global/workloadIdentityPools/pool/providers/aws",
//! );
//! # use federated_credentials::source::SubjectTokenSource;
//! assert!(source.validate().is_ok());
//! # Ok(())
//! # }
//! ```

mod aws1;
mod container;
mod env;
pub(crate) mod imds;
mod outbound;
mod sdk;
/// The SigV4-signed `GetCallerIdentity` subject token (re-exported from `source`).
pub(super) mod signed_request;

pub use aws1::Aws1Source;

/// The AWS SDKs' default credential chain (environment keys, web identity, container
/// credentials, EC2 instance metadata) as an [`AwsIdentitySource`] of its own: another name for
/// [`Aws1Source`], for code that wants the chain without an `external_account` file.
///
/// ```
/// use federated_credentials::source::aws::AwsDefaultChain;
///
/// let chain = AwsDefaultChain::default();
/// # let _ = chain;
/// ```
pub type AwsDefaultChain = Aws1Source;
pub use container::{
    AUTHORIZATION_TOKEN_ENV, AUTHORIZATION_TOKEN_FILE_ENV, CONTAINER_HOST_ENV,
    ContainerCredentials, DEFAULT_CONTAINER_HOST, FULL_URI_ENV, RELATIVE_URI_ENV,
};
pub use env::AwsEnvironment;
pub use imds::{
    DEFAULT_IMDS_ENDPOINT, DEFAULT_IMDS_IPV6_ENDPOINT, DEFAULT_SESSION_TOKEN_TTL,
    Ec2InstanceMetadata, Ec2InstanceMetadataBuilder,
};
pub use outbound::{DEFAULT_TOKEN_DURATION, OutboundWebIdentityToken, SigningAlgorithm};
pub use sdk::{SdkCredentialsProvider, SdkCredentialsProviderBuilder};

use std::fmt;
use std::sync::Arc;

use async_trait::async_trait;
use aws_credential_types::Credentials;

use crate::context::Context;
use crate::error::Error;

/// AWS credentials plus the region to sign for.
///
/// Implemented by [`AwsEnvironment`], [`Ec2InstanceMetadata`], [`Aws1Source`] and
/// [`SdkCredentialsProvider`]; implement it yourself for anything else:
///
/// ```
/// use async_trait::async_trait;
/// use aws_credential_types::Credentials;
/// use federated_credentials::context::Context;
/// use federated_credentials::source::aws::AwsIdentitySource;
/// use federated_credentials::Error;
///
/// /// Keys handed out by an in-house vault.
/// #[derive(Debug)]
/// struct FromVault;
///
/// #[async_trait]
/// impl AwsIdentitySource for FromVault {
///     async fn region(&self, _ctx: &Context) -> Result<String, Error> {
///         Ok("eu-west-1".to_string())
///     }
///     async fn credentials(&self, _ctx: &Context) -> Result<Credentials, Error> {
///         unimplemented!("ask the vault")
///     }
///     fn name(&self) -> &'static str {
///         "vault"
///     }
/// }
/// ```
#[async_trait]
pub trait AwsIdentitySource: Send + Sync + fmt::Debug {
    /// The region to sign for. Its own step, so that the instance metadata service is only
    /// asked when the region is not known otherwise.
    async fn region(&self, ctx: &Context) -> Result<String, Error>;

    /// The credentials to sign with. Temporary credentials carry a session token and an
    /// expiry.
    async fn credentials(&self, ctx: &Context) -> Result<Credentials, Error>;

    /// A short name for logs, e.g. `"aws-environment"`.
    fn name(&self) -> &'static str;
}

#[async_trait]
impl<T: AwsIdentitySource + ?Sized> AwsIdentitySource for Arc<T> {
    async fn region(&self, ctx: &Context) -> Result<String, Error> {
        (**self).region(ctx).await
    }
    async fn credentials(&self, ctx: &Context) -> Result<Credentials, Error> {
        (**self).credentials(ctx).await
    }
    fn name(&self) -> &'static str {
        (**self).name()
    }
}

#[async_trait]
impl<T: AwsIdentitySource + ?Sized> AwsIdentitySource for Box<T> {
    async fn region(&self, ctx: &Context) -> Result<String, Error> {
        (**self).region(ctx).await
    }
    async fn credentials(&self, ctx: &Context) -> Result<Credentials, Error> {
        (**self).credentials(ctx).await
    }
    fn name(&self) -> &'static str {
        (**self).name()
    }
}

/// Credentials are fetched again this long before they expire (as aws-config does for IMDS).
pub(crate) const REFRESH_MARGIN: std::time::Duration = std::time::Duration::from_secs(5 * 60);

/// One step's credentials, kept until [`REFRESH_MARGIN`] before they expire; callers that
/// arrive during a fetch wait for it instead of fetching again.
#[derive(Debug, Clone, Default)]
pub(crate) struct CredentialSlot(Arc<tokio::sync::Mutex<Option<Credentials>>>);

impl CredentialSlot {
    /// The kept credentials, or what `fetch` returns (kept when it succeeds).
    pub(crate) async fn get_or_fetch<F, Fut>(
        &self,
        ctx: &Context,
        fetch: F,
    ) -> Result<Credentials, Error>
    where
        F: FnOnce() -> Fut,
        Fut: std::future::Future<Output = Result<Credentials, Error>>,
    {
        let mut kept = self.0.lock().await;
        if let Some(creds) = kept.as_ref()
            && creds
                .expiry()
                .is_some_and(|exp| ctx.now() + REFRESH_MARGIN < exp)
        {
            return Ok(creds.clone());
        }
        *kept = None;
        let creds = fetch().await?;
        *kept = Some(creds.clone());
        Ok(creds)
    }

    /// Forgets the kept credentials.
    pub(crate) async fn clear(&self) {
        *self.0.lock().await = None;
    }
}

/// The region from `AWS_REGION`, then `AWS_DEFAULT_REGION` (empty counts as unset), with
/// the name of the variable it came from.
pub(crate) fn region_from_env(ctx: &Context) -> Option<(String, &'static str)> {
    ["AWS_REGION", "AWS_DEFAULT_REGION"]
        .into_iter()
        .find_map(|name| {
            ctx.env()
                .get_non_empty(name)
                .map(|v| (v.trim().to_string(), name))
        })
}

/// Whether `region` looks like an AWS region name: lower-case letters, digits and inner
/// hyphens, ending with a digit (`us-east-1`, `us-gov-west-1`, `cn-north-1`).
pub(crate) fn is_region_name(region: &str) -> bool {
    (2..=63).contains(&region.len())
        && region
            .bytes()
            .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'-')
        && !region.starts_with('-')
        && region.ends_with(|c: char| c.is_ascii_digit())
        && region.contains('-')
}

/// Checks a region that came from `setting`, naming the setting in the error.
pub(crate) fn check_region(region: String, setting: &str) -> Result<String, Error> {
    if is_region_name(&region) {
        Ok(region)
    } else {
        Err(Error::config(
            setting,
            format!("`{region}` is not an AWS region name (like us-east-1)"),
        ))
    }
}

#[cfg(test)]
pub(crate) mod test_support;

#[cfg(test)]
mod tests {
    use super::*;
    use crate::context::StaticEnv;
    use crate::error::ErrorKind;

    #[tokio::test]
    async fn environment_identity_answers_region_credentials_and_name() {
        let ctx = Context::builder()
            .env(StaticEnv::from_pairs([
                ("AWS_ACCESS_KEY_ID", "AKIDEXAMPLE"),
                (
                    "AWS_SECRET_ACCESS_KEY",
                    "wJalrXUtnFEMI/K7MDENG+bPxRfiCYEXAMPLEKEY",
                ),
                ("AWS_SESSION_TOKEN", "FwoGZXIvYXdzEXAMPLE"),
                ("AWS_REGION", "us-west-2"),
            ]))
            .build();
        let identity: Arc<dyn AwsIdentitySource> = Arc::new(AwsEnvironment::new());
        assert_eq!(identity.region(&ctx).await.unwrap(), "us-west-2");
        let credentials = identity.credentials(&ctx).await.unwrap();
        assert_eq!(credentials.access_key_id(), "AKIDEXAMPLE");
        assert_eq!(credentials.session_token(), Some("FwoGZXIvYXdzEXAMPLE"));
        let source = crate::source::AwsSignedRequestToken::from_shared(
            identity,
            "//iam.googleapis.com/projects/123456/locations/global/workloadIdentityPools/pool/providers/aws",
        );
        use crate::source::SubjectTokenSource;
        assert!(source.validate().is_ok());

        let ctx = Context::builder()
            .env(StaticEnv::from_pairs([(
                "AWS_DEFAULT_REGION",
                "ap-northeast-1",
            )]))
            .build();
        assert_eq!(
            AwsEnvironment::new().region(&ctx).await.unwrap(),
            "ap-northeast-1"
        );
        let nowhere = Context::builder().env(StaticEnv::empty()).build();
        assert_eq!(
            AwsEnvironment::new()
                .region(&nowhere)
                .await
                .unwrap_err()
                .kind(),
            ErrorKind::NotAvailable
        );
        assert_eq!(AwsEnvironment::new().name(), "aws-environment");
        assert_eq!(Ec2InstanceMetadata::new().name(), "ec2-instance-metadata");
        assert_eq!(Aws1Source::default().name(), "aws1");
    }

    #[test]
    fn region_names() {
        for ok in [
            "us-east-1",
            "us-gov-west-1",
            "cn-north-1",
            "us-west-2-lax-1",
        ] {
            assert!(is_region_name(ok), "{ok}");
        }
        for bad in [
            "",
            "us-east-1a",
            "US-EAST-1",
            "us east 1",
            "-us-1",
            "1",
            "us-east-",
        ] {
            assert!(!is_region_name(bad), "{bad}");
        }
    }

    #[test]
    fn object_safe_and_wrappable() {
        fn takes(_: &dyn AwsIdentitySource) {}
        let boxed: Box<dyn AwsIdentitySource> = Box::new(AwsEnvironment::new());
        let arc: Arc<dyn AwsIdentitySource> = Arc::new(AwsEnvironment::new());
        takes(&boxed);
        takes(&arc);
        assert_eq!(boxed.name(), "aws-environment");
    }
}
