//! The [`gcp_auth`] crate: [`GcpAuthProvider`] implements
//! [`gcp_auth::TokenProvider`], so code written against
//! `Arc<dyn TokenProvider>` (what `gcp_auth::provider()` returns) can run on federated
//! credentials.
//!
//! **Scopes.** `ExternalAccountCredentials` have their scopes fixed by the configuration
//! (default `cloud-platform`), so the `scopes` argument of `token()` is ignored, as
//! `gcp_auth`'s own metadata-server and `gcloud` providers ignore it: the token is the
//! configured one whatever is asked, and a request for a scope outside the configured ones
//! is logged at `debug` level. Configure the scopes you need with
//! [`ExternalAccountCredentialsBuilder::scopes`](crate::google::ExternalAccountCredentialsBuilder::scopes)
//! or the configuration's `scopes`.
//!
//! **Tokens.** `gcp_auth::Token` has no public constructor; it is built through its public
//! `Deserialize` impl from `{"access_token": .., "expires_in": <seconds from now>}` (the
//! token endpoint's response shape), so its expiry is rounded down to the second. A token
//! without a known expiry is given one hour. Each token is converted once and the same
//! `Arc<Token>` returned until the cache refreshes.
//!
//! **Errors.** `gcp_auth::Error` has no transient flag: our [`Error`] becomes
//! `gcp_auth::Error::Other(.., source)` with our error as the source, so
//! `err.source().and_then(|s| s.downcast_ref::<federated_credentials::Error>())` gives back
//! its kind and [`is_transient`](crate::Error::is_transient).
//!
//! Requires feature `gcp-auth`.
//!
//! ```
//! use std::error::Error as _;
//! use std::sync::Arc;
//! use federated_credentials::integrations::gcp_auth::GcpAuthProvider;
//! use gcp_auth::TokenProvider;
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
//! let provider: Arc<dyn TokenProvider> = Arc::new(GcpAuthProvider::new(federated));
//! // `federated`'s token endpoint does not answer:
//! let err = provider.token(&["https://www.googleapis.com/auth/cloud-platform"]).await.unwrap_err();
//! let ours = err.source().and_then(|s| s.downcast_ref::<federated_credentials::Error>());
//! assert!(ours.is_some_and(|e| e.is_transient()));
//! # Ok(())
//! # }
//! ```

use std::sync::Arc;
use std::time::{Duration, SystemTime};

use ::gcp_auth::{Error as GcpAuthError, Token, TokenProvider};
use async_trait::async_trait;

use super::derived::Derived;
use crate::error::Error;
use crate::google::ExternalAccountCredentials;
use crate::token::{AccessToken, remaining};

/// The lifetime given to a token whose expiry is unknown.
const UNKNOWN_EXPIRY_LIFETIME: Duration = Duration::from_secs(3600);

/// [`ExternalAccountCredentials`] as a [`gcp_auth::TokenProvider`]. Cheap to
/// clone: clones share the credentials' token cache.
///
/// ```no_run
/// use std::sync::Arc;
/// use federated_credentials::google::ExternalAccountCredentials;
/// use federated_credentials::integrations::gcp_auth::GcpAuthProvider;
/// use gcp_auth::TokenProvider;
///
/// # async fn run() -> Result<(), Box<dyn std::error::Error>> {
/// let federated = ExternalAccountCredentials::from_env()?;
/// let provider: Arc<dyn TokenProvider> = Arc::new(GcpAuthProvider::new(federated));
/// // the scopes are the configured ones; this argument is ignored
/// let token = provider.token(&["https://www.googleapis.com/auth/cloud-platform"]).await?;
/// // request.bearer_auth(token.as_str())
/// let project = provider.project_id().await?;
/// # Ok(()) }
/// ```
#[derive(Clone, Debug)]
pub struct GcpAuthProvider {
    credentials: ExternalAccountCredentials,
    project_id: Option<Arc<str>>,
    converted: Arc<Derived<Arc<Token>>>,
}

impl GcpAuthProvider {
    /// Wraps `credentials`.
    pub fn new(credentials: ExternalAccountCredentials) -> Self {
        Self {
            credentials,
            project_id: None,
            converted: Arc::new(Derived::new()),
        }
    }

    /// The project [`project_id`](TokenProvider::project_id) returns. Without it, that is
    /// the configuration's `quota_project_id` (as for `gcp_auth`'s own user credentials),
    /// else the impersonated service account's project, else an error.
    pub fn with_project_id(mut self, project_id: impl Into<String>) -> Self {
        self.project_id = Some(Arc::from(project_id.into()));
        self
    }

    /// The wrapped credentials (to [`cache().invalidate()`](crate::cache::CredentialCache::invalidate)
    /// the cached token after a 401, say).
    pub fn credentials(&self) -> &ExternalAccountCredentials {
        &self.credentials
    }

    fn convert(token: &AccessToken) -> Result<Arc<Token>, GcpAuthError> {
        let expires_in = token
            .expires_at()
            .map_or(UNKNOWN_EXPIRY_LIFETIME, |at| {
                remaining(at, SystemTime::now())
            })
            .as_secs();
        let response = serde_json::json!({
            "access_token": token.token().expose_secret(),
            "expires_in": expires_in,
        });
        serde_json::from_value::<Token>(response)
            .map(Arc::new)
            .map_err(|e| {
                GcpAuthError::Json("federated-credentials: converting the access token", e)
            })
    }
}

impl From<ExternalAccountCredentials> for GcpAuthProvider {
    fn from(credentials: ExternalAccountCredentials) -> Self {
        Self::new(credentials)
    }
}

#[async_trait]
impl TokenProvider for GcpAuthProvider {
    /// The cached access token. `scopes` is ignored: the scopes are the configured ones (see
    /// the [module docs](self)).
    async fn token(&self, scopes: &[&str]) -> Result<Arc<Token>, GcpAuthError> {
        let configured = self.credentials.scopes();
        if let Some(missing) = scopes.iter().find(|s| !configured.iter().any(|c| c == *s)) {
            tracing::debug!(
                requested = ?scopes,
                ?configured,
                "gcp_auth asked for scope {missing}, which is not among the configured ones; \
                 the token has the configured scopes"
            );
        }
        let token = self
            .credentials
            .access_token()
            .await
            .map_err(to_gcp_auth_error)?;
        if token.expires_at().is_none() {
            // its converted expiry is relative to now, so not reusable
            return Self::convert(&token);
        }
        self.converted.try_get(&token, || Self::convert(&token))
    }

    async fn project_id(&self) -> Result<Arc<str>, GcpAuthError> {
        if let Some(p) = &self.project_id {
            return Ok(p.clone());
        }
        if let Some(p) = self.credentials.quota_project_id() {
            return Ok(Arc::from(p));
        }
        self.credentials
            .service_account()
            .and_then(service_account_project)
            .map(Arc::from)
            .ok_or(GcpAuthError::Str(
                "federated-credentials: no project ID: set quota_project_id in the \
                 configuration or call GcpAuthProvider::with_project_id",
            ))
    }
}

/// The project of a service account email, `name@PROJECT.iam.gserviceaccount.com`.
fn service_account_project(email: &str) -> Option<&str> {
    let (_, domain) = email.split_once('@')?;
    domain
        .strip_suffix(".iam.gserviceaccount.com")
        .filter(|p| !p.is_empty())
}

/// Our error as a `gcp_auth::Error::Other`, with our error (kind, transient flag) as its
/// source.
pub fn to_gcp_auth_error(error: Error) -> GcpAuthError {
    GcpAuthError::Other(
        "federated-credentials: getting a Google access token",
        Box::new(error),
    )
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::{ErrorKind, Service};
    use std::error::Error as _;

    #[test]
    fn tokens_convert_with_their_expiry() {
        let at = SystemTime::now() + Duration::from_secs(1800);
        let t = GcpAuthProvider::convert(&AccessToken::new("ya29.x", Some(at))).unwrap();
        assert_eq!(t.as_str(), "ya29.x");
        assert!(!t.has_expired());
        let expires: SystemTime = t.expires_at().into();
        let diff = at.duration_since(expires).unwrap_or_else(|e| e.duration());
        assert!(diff <= Duration::from_secs(2), "{diff:?}");
        assert!(!format!("{t:?}").contains("ya29"));

        let past = GcpAuthProvider::convert(&AccessToken::new(
            "ya29.y",
            Some(SystemTime::now() - Duration::from_secs(5)),
        ))
        .unwrap();
        assert!(past.has_expired());

        let unknown = GcpAuthProvider::convert(&AccessToken::new("ya29.z", None)).unwrap();
        assert!(!unknown.has_expired());
    }

    #[test]
    fn service_account_projects() {
        assert_eq!(
            service_account_project("app@my-proj.iam.gserviceaccount.com"),
            Some("my-proj")
        );
        assert_eq!(
            service_account_project("app@developer.gserviceaccount.com"),
            None
        );
        assert_eq!(service_account_project("no-at-sign"), None);
    }

    fn federated() -> crate::google::ExternalAccountCredentialsBuilder {
        ExternalAccountCredentials::builder()
            .audience("//iam.googleapis.com/projects/123456/locations/global/workloadIdentityPools/pool/providers/oidc")
            .token_source(crate::source::StaticToken::new(
                "eyJhbGciOi...",
                crate::token::TokenType::Jwt,
            ))
    }

    #[tokio::test]
    async fn project_id_from_impersonation_or_given_and_scopes_configured() {
        let impersonating = federated()
            .service_account_impersonation_url("https://iamcredentials.googleapis.com/v1/projects/-/serviceAccounts/app@my-project.iam.gserviceaccount.com:generateAccessToken")
            .build()
            .unwrap();
        let provider = GcpAuthProvider::new(impersonating);
        assert_eq!(&*provider.project_id().await.unwrap(), "my-project");
        let plain = federated().build().unwrap();
        assert!(
            GcpAuthProvider::new(plain.clone())
                .project_id()
                .await
                .is_err()
        );
        let provider = GcpAuthProvider::new(plain.clone()).with_project_id("my-project");
        assert_eq!(&*provider.project_id().await.unwrap(), "my-project");
        let provider = GcpAuthProvider::from(plain.clone());
        assert_eq!(
            provider.credentials().scopes(),
            ["https://www.googleapis.com/auth/cloud-platform"]
        );
        assert_eq!(provider.credentials().scopes(), plain.scopes());
    }

    #[test]
    fn errors_keep_kind_and_transient_flag_as_source() {
        let theirs = to_gcp_auth_error(Error::new(
            ErrorKind::Transport,
            Service::GoogleSts,
            "connection reset",
        ));
        assert!(matches!(theirs, GcpAuthError::Other(..)));
        let source = theirs
            .source()
            .and_then(|s| s.downcast_ref::<Error>())
            .unwrap();
        assert_eq!(source.kind(), ErrorKind::Transport);

        let err = to_gcp_auth_error(Error::new(
            ErrorKind::Transport,
            Service::GoogleSts,
            "connection reset",
        ));
        assert!(err.to_string().contains("connection reset"), "{err}");
        let ours = err.source().unwrap().downcast_ref::<Error>().unwrap();
        assert!(ours.is_transient());
    }
}
