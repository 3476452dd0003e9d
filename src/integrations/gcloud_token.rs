//! The `gcloud-*` community clients (`gcloud-storage`, `gcloud-pubsub`, `gcloud-spanner`,
//! … from yoshidan/google-cloud-rust), which take their tokens through the
//! [`token-source`](::token_source) crate's traits: [`GcloudTokenSource`] implements both
//! [`TokenSource`] (each call returns `"Bearer <token>"`, the `authorization` header value
//! those clients send as is) and [`TokenSourceProvider`] (handing out itself).
//!
//! Errors are our [`Error`](crate::Error) boxed as is, so
//! `err.downcast_ref::<federated_credentials::Error>()` gives back its kind and
//! [`is_transient`](crate::Error::is_transient) flag.
//!
//! The quota project is not carried: `TokenSource` has no way to add headers. Those clients
//! bill the project named in their own configuration.
//!
//! Requires feature `gcloud-token`.
//!
//! ```
//! use federated_credentials::integrations::gcloud_token::GcloudTokenSource;
//! use token_source::TokenSourceProvider;
//!
//! # #[tokio::main(flavor = "current_thread")]
//! # async fn main() -> Result<(), Box<dyn std::error::Error + Send + Sync>> {
//! # use federated_credentials::context::{Context, InstantSleep};
//! # use federated_credentials::google::ExternalAccountCredentials;
//! # use federated_credentials::source::StaticToken;
//! # use federated_credentials::token::TokenType;
//! # let port = std::net::TcpListener::bind("127.0.0.1:0").unwrap().local_addr().unwrap().port();
//! # let federated = ExternalAccountCredentials::builder()
//! #     .context(Context::builder().sleep(InstantSleep).build())
//! #     .audience("//iam.googleapis.com/projects/123456/locations/global/workloadIdentityPools/pool/providers/oidc")
//! #     .token_source(StaticToken::new("eyJhbGciOi...", TokenType::Jwt))
//! #     .token_url(format!("http://127.0.0.1:{port}/v1/token"))
//! #     .build()?;
//! // `federated`'s token endpoint does not answer:
//! let provider = GcloudTokenSource::new(federated);
//! let err = provider.token_source().token().await.unwrap_err();
//! let ours = err.downcast_ref::<federated_credentials::Error>().expect("our error, boxed");
//! assert!(ours.is_transient()); // worth retrying later
//! # Ok(())
//! # }
//! ```

use std::sync::Arc;

use ::token_source::{TokenSource, TokenSourceProvider};
use async_trait::async_trait;

use crate::google::ExternalAccountCredentials;

/// [`ExternalAccountCredentials`] as a `token-source` [`TokenSource`] and
/// [`TokenSourceProvider`], for the `gcloud-*` clients' `ClientConfig { token_source_provider,
/// .. }`. Cheap to clone: clones share the credentials' token cache.
///
/// ```no_run
/// use federated_credentials::google::ExternalAccountCredentials;
/// use federated_credentials::integrations::gcloud_token::GcloudTokenSource;
/// use token_source::TokenSourceProvider;
///
/// # async fn run() -> Result<(), Box<dyn std::error::Error + Send + Sync>> {
/// let federated = ExternalAccountCredentials::from_env()?;
/// let provider: Box<dyn TokenSourceProvider> = Box::new(GcloudTokenSource::new(federated));
/// // gcloud_storage::client::ClientConfig {
/// //     token_source_provider: Some(provider),
/// //     project_id: Some("my-project".into()),
/// //     ..Default::default()
/// // }
/// let authorization = provider.token_source().token().await?; // "Bearer ya29...."
/// # Ok(()) }
/// ```
#[derive(Clone, Debug)]
pub struct GcloudTokenSource {
    credentials: ExternalAccountCredentials,
}

impl GcloudTokenSource {
    /// Wraps `credentials`.
    pub fn new(credentials: ExternalAccountCredentials) -> Self {
        Self { credentials }
    }

    /// The wrapped credentials (to [`cache().invalidate()`](crate::cache::CredentialCache::invalidate)
    /// the cached token after a 401, say).
    pub fn credentials(&self) -> &ExternalAccountCredentials {
        &self.credentials
    }
}

impl From<ExternalAccountCredentials> for GcloudTokenSource {
    fn from(credentials: ExternalAccountCredentials) -> Self {
        Self::new(credentials)
    }
}

#[async_trait]
impl TokenSource for GcloudTokenSource {
    /// `"<token type> <token>"`, normally `"Bearer ya29...."`. A secret: the trait returns a
    /// plain `String`.
    async fn token(&self) -> Result<String, Box<dyn std::error::Error + Send + Sync>> {
        let token = self.credentials.access_token().await?;
        Ok(token.authorization_header())
    }
}

impl TokenSourceProvider for GcloudTokenSource {
    fn token_source(&self) -> Arc<dyn TokenSource> {
        Arc::new(self.clone())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::source::StaticToken;
    use crate::token::TokenType;

    fn federated() -> ExternalAccountCredentials {
        ExternalAccountCredentials::builder()
            .audience("//iam.googleapis.com/projects/123456/locations/global/workloadIdentityPools/pool/providers/oidc")
            .token_source(StaticToken::new("eyJhbGciOi...", TokenType::Jwt))
            .quota_project_id("billing-project")
            .build()
            .unwrap()
    }

    #[test]
    fn wraps_the_credentials_and_shares_their_cache() {
        let federated = federated();
        let provider = GcloudTokenSource::new(federated.clone());
        assert_eq!(provider.credentials().scopes(), federated.scopes());
        let boxed: Box<dyn TokenSourceProvider> = Box::new(provider.clone());
        let _token_source = boxed.token_source();
        assert_eq!(provider.credentials().cache().completed_fetches(), 0);
        let provider = GcloudTokenSource::from(federated);
        assert_eq!(
            provider.credentials().quota_project_id(),
            Some("billing-project")
        );
        provider.credentials().cache().invalidate();
    }
}
