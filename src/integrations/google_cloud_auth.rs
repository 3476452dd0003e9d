//! The official Google Cloud client libraries for Rust (`google-cloud-storage`,
//! `google-cloud-pubsub`, … on [`google-cloud-auth`](::google_cloud_auth) 1.x):
//! [`GoogleCloudAuthProvider`] implements
//! [`CredentialsProvider`], so
//! `Credentials::from(provider)` goes into any client builder's `.with_credentials(..)`.
//!
//! The headers are `authorization: Bearer <token>` (marked sensitive, so `http`'s `Debug`
//! hides it) and, when the configuration has a quota project, `x-goog-user-project`. Entity
//! tags follow the token cache: a caller that passes back the tag it got gets
//! `CacheableResource::NotModified` for as long as the same token is cached, and new headers
//! with a new tag once the token is refreshed. Errors become
//! [`CredentialsError`]s with the same
//! transient flag, our [`Error`] as their source and its message as theirs.
//!
//! Requires feature `google-cloud-auth`.
//!
//! ```
//! use federated_credentials::integrations::google_cloud_auth::GoogleCloudAuthProvider;
//!
//! # #[tokio::main(flavor = "current_thread")]
//! # async fn main() -> Result<(), Box<dyn std::error::Error>> {
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
//! let credentials = GoogleCloudAuthProvider::new(federated).into_credentials();
//! // `federated`'s token endpoint does not answer:
//! let err = credentials.headers(http::Extensions::new()).await.unwrap_err();
//! assert!(err.is_transient()); // so the client libraries retry
//! # Ok(())
//! # }
//! ```

use std::sync::Arc;

use ::google_cloud_auth::credentials::{
    AccessToken as GoogleAccessToken, AccessTokenCredentialsProvider, CacheableResource,
    Credentials, CredentialsProvider, EntityTag,
};
use ::google_cloud_auth::errors::CredentialsError;
use http::header::{AUTHORIZATION, HeaderName};
use http::{Extensions, HeaderMap};

use super::derived::Derived;
use crate::error::Error;
use crate::google::ExternalAccountCredentials;
use crate::token::AccessToken;

const QUOTA_PROJECT_HEADER: HeaderName = HeaderName::from_static("x-goog-user-project");
const DEFAULT_UNIVERSE_DOMAIN: &str = "googleapis.com";

/// [`ExternalAccountCredentials`] as a `google-cloud-auth` 1.x
/// [`CredentialsProvider`] (and [`AccessTokenCredentialsProvider`]), for every official
/// Google Cloud client library. Cheap to clone: clones share the credentials' token cache.
///
/// ```no_run
/// use federated_credentials::google::ExternalAccountCredentials;
/// use federated_credentials::integrations::google_cloud_auth::GoogleCloudAuthProvider;
/// use google_cloud_auth::credentials::Credentials;
///
/// # async fn run() -> Result<(), Box<dyn std::error::Error>> {
/// let federated = ExternalAccountCredentials::from_env()?;
/// let credentials = Credentials::from(GoogleCloudAuthProvider::new(federated));
/// // google_cloud_storage::client::Storage::builder().with_credentials(credentials).build().await?
/// let headers = credentials.headers(http::Extensions::new()).await?;
/// # Ok(()) }
/// ```
#[derive(Clone, Debug)]
pub struct GoogleCloudAuthProvider {
    credentials: ExternalAccountCredentials,
    entity_tag: Arc<Derived<EntityTag>>,
}

impl GoogleCloudAuthProvider {
    /// Wraps `credentials`.
    pub fn new(credentials: ExternalAccountCredentials) -> Self {
        Self {
            credentials,
            entity_tag: Arc::new(Derived::new()),
        }
    }

    /// The wrapped credentials (to [`cache().invalidate()`](crate::cache::CredentialCache::invalidate)
    /// the cached token after a 401, say).
    pub fn credentials(&self) -> &ExternalAccountCredentials {
        &self.credentials
    }

    /// `google_cloud_auth::credentials::Credentials::from(self)`, spelled as a method.
    pub fn into_credentials(self) -> Credentials {
        Credentials::from(self)
    }

    async fn token(&self) -> Result<Arc<AccessToken>, CredentialsError> {
        self.credentials
            .access_token()
            .await
            .map_err(to_credentials_error)
    }

    fn headers_for(&self, token: &AccessToken) -> Result<HeaderMap, CredentialsError> {
        // Both values are built once (per token, per provider): this is two reference counts.
        let mut headers = HeaderMap::with_capacity(2);
        headers.insert(
            AUTHORIZATION,
            token
                .authorization_header_value()
                .map_err(to_credentials_error)?,
        );
        if let Some(project) = self.credentials.quota_project_header() {
            headers.insert(QUOTA_PROJECT_HEADER, project.clone());
        }
        Ok(headers)
    }
}

impl From<ExternalAccountCredentials> for GoogleCloudAuthProvider {
    fn from(credentials: ExternalAccountCredentials) -> Self {
        Self::new(credentials)
    }
}

impl CredentialsProvider for GoogleCloudAuthProvider {
    async fn headers(
        &self,
        extensions: Extensions,
    ) -> Result<CacheableResource<HeaderMap>, CredentialsError> {
        let token = self.token().await?;
        let entity_tag = self.entity_tag.get(&token, EntityTag::new);
        if extensions.get::<EntityTag>() == Some(&entity_tag) {
            return Ok(CacheableResource::NotModified);
        }
        Ok(CacheableResource::New {
            entity_tag,
            data: self.headers_for(&token)?,
        })
    }

    async fn universe_domain(&self) -> Option<String> {
        let domain = self.credentials.universe_domain();
        (domain != DEFAULT_UNIVERSE_DOMAIN).then(|| domain.to_string())
    }
}

impl AccessTokenCredentialsProvider for GoogleCloudAuthProvider {
    async fn access_token(&self) -> Result<GoogleAccessToken, CredentialsError> {
        let token = self.token().await?;
        Ok(GoogleAccessToken {
            token: token.token().expose_secret().to_string(),
        })
    }
}

/// Our error as a `CredentialsError`: same transient flag, same (secret-free) message, and
/// the original as its `source()`.
///
/// `CredentialsError`'s constructors are public but hidden from its docs; `google-cloud-auth`
/// itself builds its errors the same way.
pub fn to_credentials_error(error: Error) -> CredentialsError {
    CredentialsError::new(error.is_transient(), error.to_string(), error)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::{ErrorKind, Service};
    use std::error::Error as _;

    fn federated() -> crate::google::ExternalAccountCredentialsBuilder {
        ExternalAccountCredentials::builder()
            .audience("//iam.googleapis.com/projects/123456/locations/global/workloadIdentityPools/pool/providers/oidc")
            .token_source(crate::source::StaticToken::new(
                "eyJhbGciOi...",
                crate::token::TokenType::Jwt,
            ))
    }

    #[tokio::test]
    async fn universe_domain_quota_project_and_scopes_come_from_the_credentials() {
        let plain = federated().build().unwrap();
        let provider = GoogleCloudAuthProvider::new(plain.clone());
        assert_eq!(provider.credentials().scopes(), plain.scopes());
        let credentials = Credentials::from(provider);
        assert_eq!(credentials.universe_domain().await, None);
        let billed = federated()
            .quota_project_id("billing-project")
            .build()
            .unwrap();
        let provider = GoogleCloudAuthProvider::from(billed);
        assert_eq!(
            provider.credentials().quota_project_id(),
            Some("billing-project")
        );
        let config = crate::config::ExternalAccountConfig::from_json(
            r#"{
              "type": "external_account",
              "audience": "//iam.googleapis.com/projects/123456/locations/global/workloadIdentityPools/pool/providers/oidc",
              "subject_token_type": "urn:ietf:params:oauth:token-type:jwt",
              "credential_source": {"file": "/var/run/secrets/tokens/gcp-ksa/token"},
              "universe_domain": "example-universe.com"
            }"#,
        )
        .unwrap();
        let other_universe = ExternalAccountCredentials::builder()
            .config(config)
            .build()
            .unwrap();
        let credentials = GoogleCloudAuthProvider::new(other_universe).into_credentials();
        assert_eq!(
            credentials.universe_domain().await.as_deref(),
            Some("example-universe.com")
        );
    }

    #[test]
    fn a_rejected_grant_is_permanent_with_its_message_and_source() {
        let ours = Error::new(
            ErrorKind::Upstream,
            Service::GoogleSts,
            "invalid_grant: the token has expired",
        );
        let theirs = to_credentials_error(ours);
        assert!(!theirs.is_transient());
        assert!(theirs.to_string().contains("invalid_grant"));
        let source = theirs
            .source()
            .and_then(|s| s.downcast_ref::<Error>())
            .unwrap();
        assert_eq!(source.kind(), ErrorKind::Upstream);
    }

    #[test]
    fn errors_keep_the_transient_flag_message_and_source() {
        let transient = Error::new(ErrorKind::Transport, Service::GoogleSts, "connection reset");
        let mapped = to_credentials_error(transient);
        assert!(mapped.is_transient());
        assert!(mapped.to_string().contains("connection reset"), "{mapped}");
        let source = mapped.source().unwrap().downcast_ref::<Error>().unwrap();
        assert_eq!(source.kind(), ErrorKind::Transport);

        let permanent = Error::new(ErrorKind::Upstream, Service::GoogleSts, "invalid_grant");
        assert!(!to_credentials_error(permanent).is_transient());
    }
}
