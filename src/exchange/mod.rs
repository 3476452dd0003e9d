//! Exchanges: trading a token from one trust domain for a credential in another.
//!
//! An [`Exchange`] takes an input credential and returns another. Built in:
//!
//! | exchange | input → output |
//! |---|---|
//! | [`AssumeRoleWithWebIdentity`] (AWS STS) | OIDC [`SubjectToken`](crate::token::SubjectToken) → [`AwsCredentials`] |
//! | [`GoogleStsExchange`] (Google STS) | any subject token → federated [`AccessToken`](crate::token::AccessToken) |
//! | [`ServiceAccountImpersonation`] (IAM `generateAccessToken`) | access token → service-account access token |
//! | [`GenerateIdToken`] (IAM `generateIdToken`) | access token → Google-signed ID token |
//! | [`EntraTokenExchange`] (Microsoft Entra ID) | OIDC client assertion → Entra [`AccessToken`](crate::token::AccessToken) |
//!
//! The providers accept any implementation, so a caller can put their own broker in place of
//! any step; [`FnExchange`] makes one from a closure.
//!
//! Each exchange is a plain value configured by builder methods and checked, without I/O, by
//! [`Exchange::validate`]:
//!
//! ```
//! use federated_credentials::context::{Context, StaticEnv};
//! use federated_credentials::exchange::{AssumeRoleWithWebIdentity, Exchange, GoogleStsExchange};
//!
//! let ctx = Context::builder().env(StaticEnv::empty()).build();
//! // GCP → AWS: a Google ID token for temporary AWS credentials.
//! let to_aws = AssumeRoleWithWebIdentity::new("arn:aws:iam::123456789012:role/app").region("us-east-1");
//! to_aws.validate(&ctx)?;
//! // AWS → GCP: a signed AWS request for a federated Google token.
//! let to_google = GoogleStsExchange::new(
//!     "//iam.googleapis.com/projects/123456789/locations/global/workloadIdentityPools/aws-pool/providers/aws",
//! );
//! to_google.validate(&ctx)?;
//! # Ok::<(), federated_credentials::Error>(())
//! ```

pub(crate) mod aws_sts;
mod custom;
mod entra;
mod google_sts;
pub(crate) mod impersonation;
mod oauth;

pub use aws_sts::{AssumeRoleWithWebIdentity, AwsCredentials};
pub use custom::FnExchange;
pub use entra::{AUTHORITY_HOST_ENV, AzureCloud, EntraTokenExchange, JWT_BEARER_ASSERTION};
pub use google_sts::{
    CLOUD_PLATFORM_SCOPE, DEFAULT_TOKEN_URL, GoogleStsExchange, is_workforce_audience,
};
pub use impersonation::{
    DEFAULT_IAM_CREDENTIALS_BASE, GenerateIdToken, ServiceAccountImpersonation,
    service_account_from_url,
};

use std::fmt;

use async_trait::async_trait;

use crate::context::Context;
use url::Url;

use crate::error::Error;

/// One step that trades an input credential for an output credential. For a one-off,
/// [`FnExchange`] wraps a closure; otherwise implement it with `#[async_trait]`:
///
/// ```
/// use async_trait::async_trait;
/// use federated_credentials::context::Context;
/// use federated_credentials::exchange::{AwsCredentials, Exchange};
/// use federated_credentials::token::SubjectToken;
/// use federated_credentials::Error;
///
/// /// Trades tokens at an in-house broker instead of AWS STS.
/// #[derive(Debug)]
/// struct Broker;
///
/// #[async_trait]
/// impl Exchange<SubjectToken> for Broker {
///     type Output = AwsCredentials;
///     async fn exchange(&self, _ctx: &Context, _token: &SubjectToken) -> Result<AwsCredentials, Error> {
///         unimplemented!("call the broker")
///     }
/// }
/// ```
#[async_trait]
pub trait Exchange<Input: Send + Sync + ?Sized>: Send + Sync + fmt::Debug {
    /// What the exchange produces.
    type Output: Send;

    /// Performs the exchange.
    ///
    /// The providers call it on every refresh; calling it directly gives an uncached result:
    ///
    /// ```no_run
    /// use federated_credentials::context::Context;
    /// use federated_credentials::exchange::{Exchange, GoogleStsExchange};
    /// use federated_credentials::source::{SubjectTokenSource, TokenFile};
    /// # async fn run() -> Result<(), federated_credentials::Error> {
    /// let ctx = Context::default();
    /// let subject = TokenFile::text("/var/run/secrets/tokens/gcp-token").subject_token(&ctx).await?;
    /// let sts = GoogleStsExchange::new(
    ///     "//iam.googleapis.com/projects/123456789/locations/global/workloadIdentityPools/k8s/providers/k8s",
    /// );
    /// let federated = sts.exchange(&ctx, &subject).await?;
    /// # Ok(()) }
    /// ```
    async fn exchange(&self, ctx: &Context, input: &Input) -> Result<Self::Output, Error>;

    /// Checks the configuration without I/O, so builders can fail early. The default accepts
    /// everything.
    fn validate(&self, _ctx: &Context) -> Result<(), Error> {
        Ok(())
    }
}

/// Parses a Google endpoint URL from configuration: `https` with a host, or `http` only for
/// loopback hosts (emulators and tests). Errors name `field`.
pub(crate) fn validate_google_url(field: &str, raw: &str) -> Result<Url, Error> {
    let url = Url::parse(raw.trim())
        .map_err(|e| Error::config(field, format!("`{raw}` is not a valid URL ({e})")))?;
    let loopback = crate::http::is_loopback_host(&url);
    match url.scheme() {
        "https" if url.host_str().is_some_and(|h| !h.is_empty()) => Ok(url),
        "http" if loopback => Ok(url),
        _ => Err(Error::config(
            field,
            format!("`{raw}` must be an https URL (plain http is allowed only for loopback hosts)"),
        )),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::error::ErrorKind;

    #[test]
    fn validate_reports_a_missing_audience_as_configuration() {
        let err = GoogleStsExchange::new("")
            .validate(&Context::default())
            .unwrap_err();
        assert_eq!(err.kind(), ErrorKind::Configuration);
        assert!(err.message().starts_with("audience: is required"));
    }
}
