//! [`SdkCredentialsProvider`]: any `aws-config` credentials provider (ECS task roles, EKS Pod
//! Identity, IRSA web identity, SSO, profiles, the default chain) as an
//! [`AwsIdentitySource`].

use std::error::Error as StdError;

use async_trait::async_trait;
use aws_credential_types::Credentials;
use aws_credential_types::provider::error::CredentialsError;
use aws_credential_types::provider::{ProvideCredentials, SharedCredentialsProvider};

use super::{AwsIdentitySource, check_region, region_from_env};
use crate::context::Context;
use crate::error::{Error, ErrorKind, Service, sanitize_upstream_text};
use crate::token::format_rfc3339;

/// Credentials from an AWS SDK credentials provider, with an explicit region or the one in
/// `AWS_REGION` / `AWS_DEFAULT_REGION`.
///
/// Provider errors become [`Error`]s: not loaded → [`ErrorKind::NotAvailable`], invalid
/// configuration → [`ErrorKind::Configuration`], timeouts → a transient
/// [`ErrorKind::Transport`], anything else → [`ErrorKind::Upstream`]. Their text is
/// sanitized, like any upstream text.
///
/// ```
/// use aws_credential_types::Credentials;
/// use federated_credentials::source::aws::SdkCredentialsProvider;
///
/// // With aws-config: `aws_config::ecs::EcsCredentialsProvider::builder().build()`, or
/// // `config.credentials_provider().unwrap()` from `aws_config::load_defaults(..)`.
/// let provider = Credentials::new("AKIDEXAMPLE", "secret", None, None, "example");
/// let source = SdkCredentialsProvider::builder()
///     .provider(provider)
///     .region("eu-central-1")
///     .build()?;
/// # Ok::<(), federated_credentials::Error>(())
/// ```
#[derive(Debug, Clone)]
pub struct SdkCredentialsProvider {
    provider: SharedCredentialsProvider,
    region: Option<String>,
}

impl SdkCredentialsProvider {
    /// `provider` with the region from the environment.
    pub fn new(provider: impl ProvideCredentials + 'static) -> Self {
        Self {
            provider: SharedCredentialsProvider::new(provider),
            region: None,
        }
    }

    /// A builder.
    pub fn builder() -> SdkCredentialsProviderBuilder {
        SdkCredentialsProviderBuilder::default()
    }

    /// The wrapped provider.
    pub fn provider(&self) -> &SharedCredentialsProvider {
        &self.provider
    }
}

/// Builds an [`SdkCredentialsProvider`].
///
/// The `set_*` methods take the `Option`s an `aws_config::SdkConfig` hands out:
///
/// ```
/// use aws_credential_types::provider::SharedCredentialsProvider;
/// use aws_credential_types::Credentials;
/// use federated_credentials::source::aws::SdkCredentialsProvider;
///
/// // e.g. `sdk_config.credentials_provider()` and `sdk_config.region()`.
/// let from_config: Option<SharedCredentialsProvider> = Some(SharedCredentialsProvider::new(
///     Credentials::new("AKIDEXAMPLE", "secret", None, None, "example"),
/// ));
/// let mut builder = SdkCredentialsProvider::builder();
/// builder.set_provider(from_config).set_region(Some("eu-west-1".into()));
/// let source = builder.build()?;
/// # Ok::<(), federated_credentials::Error>(())
/// ```
#[derive(Debug, Clone, Default)]
pub struct SdkCredentialsProviderBuilder {
    provider: Option<SharedCredentialsProvider>,
    region: Option<String>,
}

impl SdkCredentialsProviderBuilder {
    /// The credentials provider (required).
    pub fn provider(mut self, provider: impl ProvideCredentials + 'static) -> Self {
        self.provider = Some(SharedCredentialsProvider::new(provider));
        self
    }

    /// Sets or clears the provider.
    pub fn set_provider(&mut self, provider: Option<SharedCredentialsProvider>) -> &mut Self {
        self.provider = provider;
        self
    }

    /// The region to sign for (default `AWS_REGION`, then `AWS_DEFAULT_REGION`).
    pub fn region(mut self, region: impl Into<String>) -> Self {
        self.region = Some(region.into());
        self
    }

    /// Sets or clears the region.
    pub fn set_region(&mut self, region: Option<String>) -> &mut Self {
        self.region = region;
        self
    }

    /// Builds the source; fails without a provider or with an invalid region.
    pub fn build(self) -> Result<SdkCredentialsProvider, Error> {
        let provider = self.provider.ok_or_else(|| {
            Error::config(
                "provider",
                "is required: pass an aws-config credentials provider",
            )
        })?;
        let region = self
            .region
            .map(|r| check_region(r.trim().to_string(), "region"))
            .transpose()?;
        Ok(SdkCredentialsProvider { provider, region })
    }
}

/// The error's text and its causes', sanitized.
fn describe(err: &CredentialsError) -> String {
    let mut parts = vec![err.to_string()];
    let mut source = err.source();
    while let Some(cause) = source {
        parts.push(cause.to_string());
        source = cause.source();
    }
    sanitize_upstream_text(&parts.join(": "), 400)
}

/// Maps a provider error to ours, keeping only sanitized text (no source object, whose
/// `Debug` could hold anything).
pub(crate) fn map_credentials_error(err: &CredentialsError) -> Error {
    let text = describe(err);
    let (kind, transient, what) = match err {
        CredentialsError::CredentialsNotLoaded(_) => (
            ErrorKind::NotAvailable,
            false,
            "the credentials provider has no credentials here",
        ),
        CredentialsError::ProviderTimedOut(_) => (
            ErrorKind::Transport,
            true,
            "the credentials provider timed out",
        ),
        CredentialsError::InvalidConfiguration(_) => (
            ErrorKind::Configuration,
            false,
            "the credentials provider is misconfigured",
        ),
        CredentialsError::ProviderError(_) => (
            ErrorKind::Upstream,
            false,
            "the credentials provider failed",
        ),
        _ => (
            ErrorKind::Upstream,
            false,
            "the credentials provider failed unexpectedly",
        ),
    };
    Error::new(kind, Service::AwsCredentials, format!("{what}: {text}")).with_transient(transient)
}

#[async_trait]
impl AwsIdentitySource for SdkCredentialsProvider {
    async fn region(&self, ctx: &Context) -> Result<String, Error> {
        if let Some(region) = &self.region {
            return Ok(region.clone());
        }
        match region_from_env(ctx) {
            Some((region, setting)) => check_region(region, setting),
            None => Err(Error::config(
                "region",
                "unknown: call .region() on the SdkCredentialsProvider builder or set AWS_REGION",
            )),
        }
    }

    async fn credentials(&self, ctx: &Context) -> Result<Credentials, Error> {
        let creds = self
            .provider
            .provide_credentials()
            .await
            .map_err(|e| map_credentials_error(&e))?;
        if let Some(exp) = creds.expiry().filter(|&exp| exp <= ctx.now()) {
            return Err(Error::new(
                ErrorKind::Expired,
                Service::AwsCredentials,
                format!(
                    "the credentials provider returned credentials that expired at {}; check its source and this machine's clock",
                    format_rfc3339(exp)
                ),
            )
            .with_transient(true));
        }
        Ok(creds)
    }

    fn name(&self) -> &'static str {
        "aws-sdk-provider"
    }
}

#[cfg(test)]
mod tests {
    use std::time::Duration;

    use aws_credential_types::provider::future;

    use super::*;
    use crate::context::StaticEnv;
    use crate::source::aws::test_support::{SECRET, SESSION_TOKEN, assert_no_secrets};

    #[derive(Debug)]
    struct Failing(fn() -> CredentialsError);

    impl ProvideCredentials for Failing {
        fn provide_credentials<'a>(&'a self) -> future::ProvideCredentials<'a>
        where
            Self: 'a,
        {
            future::ProvideCredentials::ready(Err((self.0)()))
        }
    }

    #[derive(Debug)]
    struct Counting(std::sync::atomic::AtomicUsize);

    impl ProvideCredentials for Counting {
        fn provide_credentials<'a>(&'a self) -> future::ProvideCredentials<'a>
        where
            Self: 'a,
        {
            self.0.fetch_add(1, std::sync::atomic::Ordering::SeqCst);
            future::ProvideCredentials::ready(Ok(Credentials::new(
                "ASIAEXAMPLE",
                SECRET,
                Some(SESSION_TOKEN.to_string()),
                None,
                "counting",
            )))
        }
    }

    fn ctx(pairs: &[(&str, &str)]) -> Context {
        Context::builder()
            .env(StaticEnv::from_pairs(pairs.iter().copied()))
            .build()
    }

    #[tokio::test]
    async fn adapts_a_provider_and_its_region() {
        let source = SdkCredentialsProvider::new(Counting(Default::default()));
        let creds = source.credentials(&ctx(&[])).await.unwrap();
        assert_eq!(creds.session_token(), Some(SESSION_TOKEN));
        assert_eq!(
            source
                .region(&ctx(&[("AWS_DEFAULT_REGION", "eu-west-3")]))
                .await
                .unwrap(),
            "eu-west-3"
        );
        assert_eq!(
            source.region(&ctx(&[])).await.unwrap_err().kind(),
            ErrorKind::Configuration
        );
        let explicit = SdkCredentialsProvider::builder()
            .provider(Credentials::new("AKID", SECRET, None, None, "static"))
            .region("ap-northeast-1")
            .build()
            .unwrap();
        assert_eq!(
            explicit
                .region(&ctx(&[("AWS_REGION", "us-east-1")]))
                .await
                .unwrap(),
            "ap-northeast-1"
        );
        assert!(SdkCredentialsProvider::builder().build().is_err());
        assert!(
            SdkCredentialsProvider::builder()
                .provider(Credentials::new("AKID", SECRET, None, None, "static"))
                .region("not a region")
                .build()
                .is_err()
        );
        assert_no_secrets(&[&format!("{source:?} {explicit:?} {creds:?}")]);
    }

    #[tokio::test]
    async fn documented_construction_and_checks() {
        use aws_credential_types::provider::ProvideCredentials as _;
        let example = || Credentials::new("AKIDEXAMPLE", "secret", None, None, "example");
        let source = SdkCredentialsProvider::new(example());
        assert_eq!(source.name(), "aws-sdk-provider");
        let env = ctx(&[("AWS_REGION", "sa-east-1")]);
        assert_eq!(source.region(&env).await.unwrap(), "sa-east-1");
        assert_eq!(
            source.credentials(&env).await.unwrap().access_key_id(),
            "AKIDEXAMPLE"
        );
        let shared = source.provider().clone();
        assert_eq!(
            shared.provide_credentials().await.unwrap().access_key_id(),
            "AKIDEXAMPLE"
        );

        let err = SdkCredentialsProvider::builder()
            .region("eu-west-1")
            .build()
            .unwrap_err();
        assert_eq!(err.kind(), ErrorKind::Configuration);
        assert!(err.message().starts_with("provider: is required"), "{err}");
        assert!(
            SdkCredentialsProvider::builder()
                .provider(example())
                .build()
                .is_ok()
        );
        assert!(
            SdkCredentialsProvider::builder()
                .provider(example())
                .region("ap-south-1")
                .build()
                .is_ok()
        );
        let err = SdkCredentialsProvider::builder()
            .provider(example())
            .region("Mumbai")
            .build()
            .unwrap_err();
        assert!(err.message().starts_with("region"), "{err}");
        assert!(
            SdkCredentialsProvider::builder()
                .provider(example())
                .region(" us-east-1 ")
                .build()
                .is_ok()
        );

        let mut builder = SdkCredentialsProvider::builder();
        builder
            .set_provider(Some(SharedCredentialsProvider::new(example())))
            .set_region(Some("eu-west-1".into()));
        assert!(builder.clone().build().is_ok());
        builder.set_region(None); // back to the environment's region
        let source = builder.build().unwrap();
        assert_eq!(
            source
                .region(&ctx(&[("AWS_DEFAULT_REGION", "us-west-1")]))
                .await
                .unwrap(),
            "us-west-1"
        );

        let stale = Credentials::new(
            "ASIAEXAMPLE",
            "secret",
            Some("token".into()),
            Some(std::time::SystemTime::now() - Duration::from_secs(60)),
            "example",
        );
        let source = SdkCredentialsProvider::builder()
            .provider(stale)
            .region("us-east-1")
            .build()
            .unwrap();
        let err = source.credentials(&Context::default()).await.unwrap_err();
        assert_eq!(err.kind(), ErrorKind::Expired);
    }

    #[tokio::test]
    async fn maps_provider_errors_without_leaking() {
        type Case = (fn() -> CredentialsError, ErrorKind, bool);
        let cases: [Case; 5] = [
            (
                || CredentialsError::not_loaded(format!("no env; token {SESSION_TOKEN}")),
                ErrorKind::NotAvailable,
                false,
            ),
            (
                || CredentialsError::provider_timed_out(Duration::from_secs(5)),
                ErrorKind::Transport,
                true,
            ),
            (
                || CredentialsError::invalid_configuration("bad profile"),
                ErrorKind::Configuration,
                false,
            ),
            (
                || CredentialsError::provider_error(format!("HTTP 500 with {SECRET}")),
                ErrorKind::Upstream,
                false,
            ),
            (
                || CredentialsError::unhandled("boom"),
                ErrorKind::Upstream,
                false,
            ),
        ];
        for (make, kind, transient) in cases {
            let source = SdkCredentialsProvider::new(Failing(make));
            let err = source.credentials(&ctx(&[])).await.unwrap_err();
            assert_eq!(err.kind(), kind, "{err}");
            assert_eq!(err.is_transient(), transient, "{err}");
            assert_eq!(err.service(), Service::AwsCredentials);
            assert_no_secrets(&[&format!("{err:?}"), &err.to_string()]);
        }
    }

    #[tokio::test]
    async fn rejects_expired_credentials() {
        let c = ctx(&[]);
        let expired = Credentials::new(
            "AKID",
            SECRET,
            None,
            Some(c.now() - Duration::from_secs(1)),
            "x",
        );
        let err = SdkCredentialsProvider::new(expired)
            .credentials(&c)
            .await
            .unwrap_err();
        assert_eq!(err.kind(), ErrorKind::Expired);
    }
}
