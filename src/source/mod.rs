//! Token sources: where a workload's identity comes from.
//!
//! A [`SubjectTokenSource`] produces a [`SubjectToken`] each time it is asked; the caching
//! provider decides how often that is. Implementations here:
//!
//! | source | use |
//! |---|---|
//! | [`GcpMetadataIdentityToken`] | a Google-signed OIDC token from the GCE/GKE metadata server |
//! | [`TokenFile`] | a token file (Kubernetes projected tokens, `AWS_WEB_IDENTITY_TOKEN_FILE`) |
//! | [`UrlToken`] | a token fetched from a URL (`credential_source.url`) |
//! | [`ExecutableToken`] | a token printed by a program (`credential_source.executable`) |
//! | [`StaticToken`] | a token you already have |
//! | [`FnTokenSource`] | any async closure (Vault, SPIFFE, a test double) |
//! | [`GitHubActionsToken`] | the OIDC token of a GitHub Actions job |
//! | [`AzureManagedIdentityToken`] | an Azure managed identity's Entra token (IMDS, App Service) |
//! | [`AzureWorkloadIdentityToken`] | an AKS pod's projected workload identity token |
//! | [`OutboundWebIdentityToken`] | an OIDC token for the AWS identity from STS `GetWebIdentityToken` |
//! | [`AwsSignedRequestToken`] | a SigV4-signed `GetCallerIdentity` (`aws4_request`) for Google STS, from an [`aws::AwsIdentitySource`] |
//!
//! The AWS identities to sign with (environment, EC2 instance metadata, google-auth's
//! `aws1` semantics, any `aws-config` provider) live in [`aws`].
//!
//! Implement the trait yourself for anything else.
//!
//! Every source is a [`SubjectTokenSource`], so the caching providers take any of them, and
//! each checks its configuration up front with [`validate`](SubjectTokenSource::validate):
//!
//! ```
//! use federated_credentials::source::{
//!     GcpMetadataIdentityToken, StaticToken, SubjectTokenSource, TokenFile, UrlToken,
//! };
//! use federated_credentials::token::TokenType;
//!
//! let sources: Vec<Box<dyn SubjectTokenSource>> = vec![
//!     Box::new(GcpMetadataIdentityToken::new("sts.amazonaws.com")),
//!     Box::new(TokenFile::text("/var/run/secrets/tokens/gcp-ksa/token")),
//!     Box::new(UrlToken::new("http://127.0.0.1:8080/token")),
//!     Box::new(StaticToken::new("eyJhbGciOi...", TokenType::Jwt)),
//! ];
//! assert!(sources.iter().all(|s| s.validate().is_ok()));
//! ```

// Grouped by where the identity comes from: `aws` (public: the AWS identity sources for
// signing), `gcp`, and `generic` (anywhere); every source is re-exported here.
pub mod aws;
mod azure;
mod gcp;
mod generic;
mod github;

pub use aws::OutboundWebIdentityToken;
pub use aws::signed_request::{AwsSignedRequestToken, DEFAULT_REGIONAL_CRED_VERIFICATION_URL};
pub use azure::{
    AZURE_IMDS_ENDPOINT_ENV, AzureManagedIdentityToken, AzureWorkloadIdentityToken,
    DEFAULT_AZURE_IMDS_ENDPOINT, FEDERATED_TOKEN_FILE_ENV, IDENTITY_ENDPOINT_ENV,
    IDENTITY_HEADER_ENV, UserAssignedIdentity,
};
pub use gcp::{DEFAULT_METADATA_HOST, GcpMetadataIdentityToken, IdTokenFormat};
pub use generic::{
    ALLOW_EXECUTABLES_ENV, ExecutableToken, FnTokenSource, StaticToken, TokenFile, TokenFormat,
    UrlToken,
};
pub use github::GitHubActionsToken;

use std::fmt;
use std::sync::Arc;

use async_trait::async_trait;

use crate::context::Context;
use crate::error::Error;
use crate::token::SubjectToken;

/// Anything that can produce a subject token proving who this workload is. For a one-off,
/// [`FnTokenSource`] wraps a closure; otherwise implement it with `#[async_trait]`:
///
/// ```
/// use async_trait::async_trait;
/// use federated_credentials::context::Context;
/// use federated_credentials::source::SubjectTokenSource;
/// use federated_credentials::token::{SubjectToken, TokenType};
/// use federated_credentials::Error;
///
/// #[derive(Debug)]
/// struct FromVault;
///
/// #[async_trait]
/// impl SubjectTokenSource for FromVault {
///     async fn subject_token(&self, _ctx: &Context) -> Result<SubjectToken, Error> {
///         Ok(SubjectToken::new("eyJ...", TokenType::Jwt))
///     }
///     fn name(&self) -> &'static str {
///         "vault"
///     }
/// }
/// ```
#[async_trait]
pub trait SubjectTokenSource: Send + Sync + fmt::Debug {
    /// Produces a fresh subject token. Called on every credential refresh, so it should
    /// not cache beyond the token's own expiry. Calling it directly shows what a provider
    /// would send:
    ///
    /// ```no_run
    /// use federated_credentials::context::Context;
    /// use federated_credentials::source::{GcpMetadataIdentityToken, SubjectTokenSource};
    /// # async fn run() -> Result<(), federated_credentials::Error> {
    /// let token = GcpMetadataIdentityToken::new("sts.amazonaws.com")
    ///     .subject_token(&Context::default())
    ///     .await?;
    /// println!("a {} expiring at {:?}", token.token_type(), token.expires_at());
    /// # Ok(()) }
    /// ```
    async fn subject_token(&self, ctx: &Context) -> Result<SubjectToken, Error>;

    /// A short name for logs and provider names, e.g. `"gcp-metadata"`.
    fn name(&self) -> &'static str;

    /// Checks the configuration without any I/O, so that builders can fail early.
    fn validate(&self) -> Result<(), Error> {
        Ok(())
    }
}

#[async_trait]
impl<T: SubjectTokenSource + ?Sized> SubjectTokenSource for Arc<T> {
    async fn subject_token(&self, ctx: &Context) -> Result<SubjectToken, Error> {
        (**self).subject_token(ctx).await
    }
    fn name(&self) -> &'static str {
        (**self).name()
    }
    fn validate(&self) -> Result<(), Error> {
        (**self).validate()
    }
}

#[async_trait]
impl<T: SubjectTokenSource + ?Sized> SubjectTokenSource for Box<T> {
    async fn subject_token(&self, ctx: &Context) -> Result<SubjectToken, Error> {
        (**self).subject_token(ctx).await
    }
    fn name(&self) -> &'static str {
        (**self).name()
    }
    fn validate(&self) -> Result<(), Error> {
        (**self).validate()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::token::TokenType;

    #[tokio::test]
    async fn sources_have_names_validate_and_produce_tokens() {
        let sources: Vec<Box<dyn SubjectTokenSource>> = vec![
            Box::new(GcpMetadataIdentityToken::new("sts.amazonaws.com")),
            Box::new(TokenFile::text("/var/run/secrets/tokens/gcp-ksa/token")),
            Box::new(UrlToken::new("http://127.0.0.1:8080/token")),
            Box::new(StaticToken::new("eyJhbGciOi...", TokenType::Jwt)),
        ];
        let names: Vec<&str> = sources.iter().map(|s| s.name()).collect();
        assert_eq!(names, ["gcp-metadata", "token-file", "url", "static"]);
        assert!(sources.iter().all(|s| s.validate().is_ok()));
        assert_eq!(
            ExecutableToken::new("/usr/local/bin/get-token").name(),
            "executable"
        );
        let err = GcpMetadataIdentityToken::new("").validate().unwrap_err();
        assert!(err.message().starts_with("audience"), "{err}");
        let source = StaticToken::new("eyJhbGciOi...", TokenType::Jwt);
        let token = source.subject_token(&Context::default()).await.unwrap();
        assert_eq!(token.token_type(), TokenType::Jwt);
        assert_eq!(token.token().expose_secret(), "eyJhbGciOi...");
    }
}
