//! AWS → GCP (and any OIDC/SAML identity → GCP): [`ExternalAccountCredentials`], Google access
//! tokens through Workload (or Workforce) Identity Federation.
//!
//! A [`SubjectTokenSource`] (the SigV4-signed AWS request, a token file, a URL, a program)
//! is traded at Google STS for a federated token, which is optionally traded again for a
//! service account's token (`generateAccessToken`), behind a [`CredentialCache`] that
//! refreshes 3 min 45 s (plus jitter) before expiry.
//!
//! ```no_run
//! use federated_credentials::google::ExternalAccountCredentials;
//!
//! # async fn run() -> Result<(), federated_credentials::Error> {
//! // The file `gcloud iam workload-identity-pools create-cred-config` wrote:
//! let creds = ExternalAccountCredentials::from_file("/etc/gcp/config.json")?;
//! let token = creds.access_token().await?;
//! // or, ready for an HTTP client: creds.headers().await? (authorization, x-goog-user-project)
//! # Ok(()) }
//! ```

use std::path::Path;
use std::sync::Arc;
use std::time::Duration;

use async_trait::async_trait;
use reqwest::header::{AUTHORIZATION, HeaderMap, HeaderName, HeaderValue};

use crate::cache::{CachePolicy, CredentialCache, DynFetch, Fetch};
use crate::config::ExternalAccountConfig;
use crate::context::Context;
use crate::error::Error;
use crate::exchange::{
    CLOUD_PLATFORM_SCOPE, Exchange, GenerateIdToken, GoogleStsExchange, ServiceAccountImpersonation,
};
use crate::provider::{CachedProvider, ProviderCache};
use crate::secret::SecretString;
use crate::source::SubjectTokenSource;
use crate::token::{AccessToken, SubjectToken, TokenType};

type DynSource = Arc<dyn SubjectTokenSource>;

/// The universe of the public Google Cloud.
const DEFAULT_UNIVERSE_DOMAIN: &str = "googleapis.com";
type DynTokenExchange = Arc<dyn Exchange<AccessToken, Output = AccessToken>>;

/// One fetch: subject token → Google STS → (impersonation).
struct FederatedFetch {
    ctx: Context,
    source: DynSource,
    subject_token_type: Option<TokenType>,
    sts: GoogleStsExchange,
    impersonation: Option<DynTokenExchange>,
}

#[async_trait]
impl Fetch for FederatedFetch {
    type Credential = AccessToken;

    async fn fetch(&self) -> Result<AccessToken, Error> {
        let mut subject =
            self.source.subject_token(&self.ctx).await.map_err(|e| {
                e.context(format!("getting the {} subject token", self.source.name()))
            })?;
        if let Some(t) = self.subject_token_type {
            subject = subject.with_token_type(t);
        }
        let federated = self.sts.exchange(&self.ctx, &subject).await?;
        match &self.impersonation {
            None => Ok(federated),
            Some(imp) => imp.exchange(&self.ctx, &federated).await,
        }
    }
}

/// The header that names the project billed for an API call.
const QUOTA_PROJECT_HEADER: HeaderName = HeaderName::from_static("x-goog-user-project");

/// Google access tokens from an external identity, cached and refreshed ahead of expiry.
/// Cheap to clone: clones share one cache.
///
/// To share one cache across many API clients, build the credentials once and give each
/// client a clone: the process then makes one exchange per refresh, however many clients it
/// has. Building one per client gives each its own cache and its own upstream traffic.
///
/// ```
/// use federated_credentials::config::ExternalAccountConfig;
/// use federated_credentials::google::ExternalAccountCredentials;
///
/// let config = ExternalAccountConfig::from_json(r#"{
///   "type": "external_account",
///   "audience": "//iam.googleapis.com/projects/123456/locations/global/workloadIdentityPools/pool/providers/oidc",
///   "subject_token_type": "urn:ietf:params:oauth:token-type:jwt",
///   "token_url": "https://sts.googleapis.com/v1/token",
///   "service_account_impersonation_url": "https://iamcredentials.googleapis.com/v1/projects/-/serviceAccounts/app@my-project.iam.gserviceaccount.com:generateAccessToken",
///   "credential_source": {"file": "/var/run/secrets/tokens/gcp-ksa/token"},
///   "quota_project_id": "billing-project"
/// }"#)?;
/// let credentials = ExternalAccountCredentials::builder().config(config).build()?;
/// assert_eq!(credentials.service_account(), Some("app@my-project.iam.gserviceaccount.com"));
/// assert_eq!(credentials.quota_project_id(), Some("billing-project"));
/// // One cache for the whole process: give every API client a clone.
/// let for_storage = credentials.clone();
/// let for_pubsub = credentials.clone();
/// assert_eq!(for_storage.cache().completed_fetches(), 0); // nothing is fetched before the first call
/// # Ok::<(), federated_credentials::Error>(())
/// ```
#[derive(Clone)]
pub struct ExternalAccountCredentials {
    cache: ProviderCache<AccessToken>,
    quota_project_id: Option<Arc<str>>,
    /// `quota_project_id` as a header value, checked at build.
    quota_project_header: Option<HeaderValue>,
    service_account: Option<Arc<str>>,
    scopes: Arc<[String]>,
    universe_domain: Arc<str>,
    description: Arc<str>,
}

impl std::fmt::Debug for ExternalAccountCredentials {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ExternalAccountCredentials")
            .field("flow", &self.description)
            .field("quota_project_id", &self.quota_project_id)
            .field("cache", &self.cache)
            .finish()
    }
}

impl ExternalAccountCredentials {
    /// Starts a builder, for configuring every part in code.
    pub fn builder() -> ExternalAccountCredentialsBuilder {
        ExternalAccountCredentialsBuilder::default()
    }

    /// From an `external_account` configuration file, with the real environment.
    ///
    /// ```
    /// use federated_credentials::google::ExternalAccountCredentials;
    ///
    /// # let dir = tempfile::tempdir().unwrap();
    /// # let path = dir.path().join("config.json");
    /// std::fs::write(&path, r#"{
    ///   "type": "external_account",
    ///   "audience": "//iam.googleapis.com/projects/123456/locations/global/workloadIdentityPools/pool/providers/oidc",
    ///   "subject_token_type": "urn:ietf:params:oauth:token-type:jwt",
    ///   "credential_source": {"file": "/var/run/secrets/tokens/gcp-ksa/token"},
    ///   "quota_project_id": "billing-project"
    /// }"#).unwrap();
    /// let credentials = ExternalAccountCredentials::from_file(&path)?;
    /// assert_eq!(credentials.quota_project_id(), Some("billing-project"));
    /// // A missing file is a configuration error that names it.
    /// let err = ExternalAccountCredentials::from_file(dir.path().join("nope.json")).unwrap_err();
    /// assert!(err.to_string().contains("nope.json: no such file"), "{err}");
    /// # Ok::<(), federated_credentials::Error>(())
    /// ```
    pub fn from_file(path: impl AsRef<Path>) -> Result<Self, Error> {
        Self::builder()
            .config(ExternalAccountConfig::from_file(path)?)
            .build()
    }

    /// From the file named by `GOOGLE_APPLICATION_CREDENTIALS`.
    ///
    /// ```no_run
    /// use federated_credentials::google::ExternalAccountCredentials;
    /// // GOOGLE_APPLICATION_CREDENTIALS=/path/to/config.json
    /// let credentials = ExternalAccountCredentials::from_env()?;
    /// # Ok::<(), federated_credentials::Error>(())
    /// ```
    pub fn from_env() -> Result<Self, Error> {
        let ctx = Context::default();
        Self::builder()
            .config(ExternalAccountConfig::from_env(&ctx)?)
            .context(ctx)
            .build()
    }

    /// A valid access token, fetching one if needed.
    pub async fn access_token(&self) -> Result<Arc<AccessToken>, Error> {
        self.cache.get().await
    }

    /// The project to bill API calls to (`x-goog-user-project`), from `quota_project_id`.
    pub fn quota_project_id(&self) -> Option<&str> {
        self.quota_project_id.as_deref()
    }

    /// `x-goog-user-project`'s value, checked when the credentials were built.
    pub(crate) fn quota_project_header(&self) -> Option<&HeaderValue> {
        self.quota_project_header.as_ref()
    }

    /// The impersonated service account, if any.
    pub fn service_account(&self) -> Option<&str> {
        self.service_account.as_deref()
    }

    /// The scopes of the tokens these credentials produce (from the builder or the
    /// configuration; default `https://www.googleapis.com/auth/cloud-platform`).
    pub fn scopes(&self) -> &[String] {
        &self.scopes
    }

    /// The universe domain from the configuration (default `googleapis.com`).
    pub fn universe_domain(&self) -> &str {
        &self.universe_domain
    }

    /// The headers for a Google API call: `authorization` (marked sensitive) and, when a
    /// quota project is configured, `x-goog-user-project`. Ready for any `http`-based client:
    ///
    /// ```no_run
    /// # async fn f(creds: federated_credentials::google::ExternalAccountCredentials) -> Result<(), Box<dyn std::error::Error>> {
    /// let response = reqwest::Client::new()
    ///     .get("https://storage.googleapis.com/storage/v1/b/my-bucket/o")
    ///     .headers(creds.headers().await?)
    ///     .send()
    ///     .await?;
    /// if response.status() == reqwest::StatusCode::UNAUTHORIZED {
    ///     creds.cache().invalidate(); // the next call fetches a new token
    /// }
    /// # Ok(()) }
    /// ```
    ///
    /// On a warm cache this is a cache read plus a map of two reference-counted values.
    pub async fn headers(&self) -> Result<HeaderMap, Error> {
        let token = self.access_token().await?;
        let mut headers = HeaderMap::with_capacity(2);
        headers.insert(AUTHORIZATION, token.authorization_header_value()?);
        if let Some(project) = self.quota_project_header() {
            headers.insert(QUOTA_PROJECT_HEADER, project.clone());
        }
        Ok(headers)
    }

    /// The cache behind the credentials, shared by their clones: `prefetch()` to fail fast
    /// at startup, `invalidate()` after a 401 from an API (every clone then refetches once),
    /// `metrics()` for a metrics system.
    pub fn cache(&self) -> &ProviderCache<AccessToken> {
        &self.cache
    }

    /// A token source of Google-signed ID tokens for `service_account` with `aud` =
    /// `audience`, made with these credentials through `generateIdToken`: how a workload that
    /// is federated into Google assumes an AWS role
    /// ([`WebIdentityProvider`](crate::aws::WebIdentityProvider)`::builder().token_source(..)`).
    ///
    /// ```
    /// use federated_credentials::aws::WebIdentityProvider;
    /// use federated_credentials::exchange::GenerateIdToken;
    /// use federated_credentials::google::ExternalAccountCredentials;
    /// # use federated_credentials::source::StaticToken;
    /// # use federated_credentials::token::TokenType;
    ///
    /// # let google = ExternalAccountCredentials::builder()
    /// #     .audience("//iam.googleapis.com/projects/123456/locations/global/workloadIdentityPools/pool/providers/oidc")
    /// #     .token_source(StaticToken::new("eyJhbGciOi...", TokenType::Jwt))
    /// #     .build()?;
    /// // `google`: federated credentials, e.g. from ExternalAccountCredentials::from_env()
    /// let id_tokens = google.id_token_source(GenerateIdToken::new(
    ///     "aws-caller@my-project.iam.gserviceaccount.com",
    ///     "sts.amazonaws.com",
    /// ));
    /// let aws = WebIdentityProvider::builder()
    ///     .token_source(id_tokens)
    ///     .role_arn("arn:aws:iam::123456789012:role/from-google")
    ///     .build()?;
    /// assert_eq!(aws.cache().completed_fetches(), 0);
    /// # Ok::<(), federated_credentials::Error>(())
    /// ```
    pub fn id_token_source(&self, id_token: GenerateIdToken) -> GoogleIdTokenSource {
        GoogleIdTokenSource {
            credentials: self.clone(),
            id_token: id_token.in_universe(&self.universe_domain),
        }
    }
}

impl CachedProvider for ExternalAccountCredentials {
    type Credential = AccessToken;

    fn cache(&self) -> &ProviderCache<AccessToken> {
        &self.cache
    }
}

/// Google-signed ID tokens via `generateIdToken`, for AWS STS; see
/// [`ExternalAccountCredentials::id_token_source`].
///
/// ```
/// use federated_credentials::exchange::GenerateIdToken;
/// use federated_credentials::google::ExternalAccountCredentials;
/// use federated_credentials::source::SubjectTokenSource;
/// # use federated_credentials::source::StaticToken;
/// # use federated_credentials::token::TokenType;
///
/// # let google = ExternalAccountCredentials::builder()
/// #     .audience("//iam.googleapis.com/projects/123456/locations/global/workloadIdentityPools/pool/providers/oidc")
/// #     .token_source(StaticToken::new("eyJhbGciOi...", TokenType::Jwt))
/// #     .build()?;
/// let source = google.id_token_source(GenerateIdToken::new("app@my-project.iam.gserviceaccount.com", "sts.amazonaws.com"));
/// assert_eq!(source.name(), "google-generate-id-token");
/// assert!(source.validate().is_ok());
/// // An ID token needs an audience; checked before any request:
/// let no_audience = google.id_token_source(GenerateIdToken::new("app@my-project.iam.gserviceaccount.com", ""));
/// assert!(no_audience.validate().is_err());
/// # Ok::<(), federated_credentials::Error>(())
/// ```
#[derive(Debug, Clone)]
pub struct GoogleIdTokenSource {
    credentials: ExternalAccountCredentials,
    id_token: GenerateIdToken,
}

#[async_trait]
impl SubjectTokenSource for GoogleIdTokenSource {
    async fn subject_token(&self, ctx: &Context) -> Result<SubjectToken, Error> {
        let caller = self.credentials.access_token().await?;
        self.id_token.exchange(ctx, &caller).await
    }

    fn name(&self) -> &'static str {
        "google-generate-id-token"
    }

    fn validate(&self) -> Result<(), Error> {
        self.id_token.validate(&Context::default())
    }
}

/// Builds [`ExternalAccountCredentials`], from a configuration file or piece by piece.
///
/// ```
/// use federated_credentials::google::ExternalAccountCredentials;
/// use federated_credentials::source::StaticToken;
/// use federated_credentials::token::TokenType;
///
/// let credentials = ExternalAccountCredentials::builder()
///     .audience("//iam.googleapis.com/projects/123456/locations/global/workloadIdentityPools/pool/providers/oidc")
///     .token_source(StaticToken::new("eyJhbGciOi...", TokenType::Jwt))
///     .service_account_impersonation_url("https://iamcredentials.googleapis.com/v1/projects/-/serviceAccounts/app@my-project.iam.gserviceaccount.com:generateAccessToken")
///     .scopes(["https://www.googleapis.com/auth/bigquery"])
///     .quota_project_id("billing-project")
///     .build()?;
/// assert_eq!(credentials.scopes(), ["https://www.googleapis.com/auth/bigquery"]);
/// # Ok::<(), federated_credentials::Error>(())
/// ```
#[derive(Default)]
pub struct ExternalAccountCredentialsBuilder {
    ctx: Option<Context>,
    config: Option<ExternalAccountConfig>,
    source: Option<DynSource>,
    audience: Option<String>,
    subject_token_type: Option<TokenType>,
    token_url: Option<String>,
    scopes: Option<Vec<String>>,
    impersonation_url: Option<String>,
    token_lifetime: Option<Duration>,
    impersonation: Option<DynTokenExchange>,
    client: Option<(String, SecretString)>,
    workforce_pool_user_project: Option<String>,
    quota_project_id: Option<String>,
    cache_policy: Option<CachePolicy>,
}

impl ExternalAccountCredentialsBuilder {
    /// The context (clock, environment, HTTP client).
    pub fn context(mut self, ctx: Context) -> Self {
        self.ctx = Some(ctx);
        self
    }

    /// Starts from a parsed configuration; later builder calls override its fields.
    pub fn config(mut self, config: ExternalAccountConfig) -> Self {
        self.config = Some(config);
        self
    }

    /// The subject token source (replaces the configuration's `credential_source`).
    pub fn token_source(mut self, source: impl SubjectTokenSource + 'static) -> Self {
        self.source = Some(Arc::new(source));
        self
    }

    /// The workload or workforce identity pool provider.
    pub fn audience(mut self, audience: impl Into<String>) -> Self {
        self.audience = Some(audience.into());
        self
    }

    /// Overrides the token type the source reports.
    pub fn subject_token_type(mut self, token_type: TokenType) -> Self {
        self.subject_token_type = Some(token_type);
        self
    }

    /// The STS endpoint (default `https://sts.googleapis.com/v1/token`).
    pub fn token_url(mut self, url: impl Into<String>) -> Self {
        self.token_url = Some(url.into());
        self
    }

    /// The scopes of the final token (default cloud-platform).
    pub fn scopes(mut self, scopes: impl IntoIterator<Item = impl Into<String>>) -> Self {
        self.scopes = Some(scopes.into_iter().map(Into::into).collect());
        self
    }

    /// Impersonates a service account through this `generateAccessToken` URL.
    pub fn service_account_impersonation_url(mut self, url: impl Into<String>) -> Self {
        self.impersonation_url = Some(url.into());
        self
    }

    /// The impersonated token's lifetime (600–43200 s).
    pub fn token_lifetime(mut self, lifetime: Duration) -> Self {
        self.token_lifetime = Some(lifetime);
        self
    }

    /// Replaces the impersonation step with any exchange of access tokens.
    pub fn impersonation(
        mut self,
        exchange: impl Exchange<AccessToken, Output = AccessToken> + 'static,
    ) -> Self {
        self.impersonation = Some(Arc::new(exchange));
        self
    }

    /// Client authentication at STS.
    pub fn client_credentials(
        mut self,
        id: impl Into<String>,
        secret: impl Into<SecretString>,
    ) -> Self {
        self.client = Some((id.into(), secret.into()));
        self
    }

    /// The workforce pool user project.
    pub fn workforce_pool_user_project(mut self, project: impl Into<String>) -> Self {
        self.workforce_pool_user_project = Some(project.into());
        self
    }

    /// The quota project (`x-goog-user-project`).
    pub fn quota_project_id(mut self, project: impl Into<String>) -> Self {
        self.quota_project_id = Some(project.into());
        self
    }

    /// When to refresh (default [`CachePolicy::google_token`]).
    pub fn cache_policy(mut self, policy: CachePolicy) -> Self {
        self.cache_policy = Some(policy);
        self
    }

    /// Builds the credentials and fetches the first token before returning, so that a
    /// misconfiguration (untrusted subject token, unknown pool provider, missing
    /// impersonation permission) fails at startup instead of on the first request: the
    /// async, eager counterpart of [`build`](Self::build). Must be called inside a tokio
    /// runtime, which then also runs the background refresh.
    ///
    /// ```no_run
    /// use federated_credentials::config::ExternalAccountConfig;
    /// use federated_credentials::google::ExternalAccountCredentials;
    ///
    /// # #[tokio::main]
    /// # async fn main() -> Result<(), federated_credentials::Error> {
    /// let credentials = ExternalAccountCredentials::builder()
    ///     .config(ExternalAccountConfig::from_file("/etc/gcp/config.json")?)
    ///     .build_and_prefetch()
    ///     .await?; // an untrusted token or a missing permission stops the service here
    /// assert_eq!(credentials.cache().completed_fetches(), 1);
    /// # Ok(())
    /// # }
    /// ```
    pub async fn build_and_prefetch(self) -> Result<ExternalAccountCredentials, Error> {
        let credentials = self.build()?;
        credentials.cache.prefetch().await?;
        Ok(credentials)
    }

    /// Validates and builds. Nothing is fetched until the first call (or
    /// [`cache().prefetch()`](crate::cache::CredentialCache::prefetch)).
    pub fn build(self) -> Result<ExternalAccountCredentials, Error> {
        let ctx = self.ctx.unwrap_or_default();
        let config = self.config;
        let audience = self
            .audience
            .or_else(|| config.as_ref().map(|c| c.audience.clone()))
            .ok_or_else(|| {
                Error::config(
                    "audience",
                    "is required: the workload identity pool provider resource name",
                )
            })?;
        let impersonation_url = self.impersonation_url.or_else(|| {
            config
                .as_ref()
                .and_then(|c| c.service_account_impersonation_url.clone())
        });
        let token_lifetime = self
            .token_lifetime
            .or_else(|| config.as_ref().and_then(|c| c.token_lifetime));
        let scopes = self
            .scopes
            .or_else(|| {
                config
                    .as_ref()
                    .map(|c| c.scopes.clone())
                    .filter(|s| !s.is_empty())
            })
            .unwrap_or_else(|| vec![CLOUD_PLATFORM_SCOPE.to_string()]);
        let subject_token_type = self
            .subject_token_type
            .or_else(|| config.as_ref().map(|c| c.subject_token_type));
        let service_account = impersonation_url
            .as_deref()
            .and_then(crate::exchange::service_account_from_url);

        let source: DynSource = match self.source {
            Some(s) => s,
            None => {
                let config = config.as_ref().ok_or_else(|| {
                    Error::config(
                        "token_source",
                        "no subject token source: call .token_source() or .config()",
                    )
                })?;
                config.subject_token_source(&audience, service_account.as_deref())?
            }
        };
        source.validate()?;

        let mut sts = GoogleStsExchange::new(&audience);
        if let Some(url) = self
            .token_url
            .or_else(|| config.as_ref().map(|c| c.token_url.clone()))
        {
            sts = sts.token_url(url);
        }
        let has_impersonation = self.impersonation.is_some() || impersonation_url.is_some();
        // With impersonation the federated token only needs to call IAM; the user's scopes
        // go on the service account token.
        sts = sts.scopes(if has_impersonation {
            vec![CLOUD_PLATFORM_SCOPE.to_string()]
        } else {
            scopes.clone()
        });
        let client = self.client.or_else(|| {
            config.as_ref().and_then(|c| {
                let id = c.client_id.clone()?;
                Some((id, c.client_secret.clone().unwrap_or_else(|| "".into())))
            })
        });
        if let Some((id, secret)) = client {
            sts = sts.client_credentials(id, secret);
        }
        if let Some(p) = self.workforce_pool_user_project.or_else(|| {
            config
                .as_ref()
                .and_then(|c| c.workforce_pool_user_project.clone())
        }) {
            sts = sts.workforce_pool_user_project(p);
        }
        sts.validate(&ctx)?;

        let impersonation: Option<DynTokenExchange> = match (self.impersonation, impersonation_url)
        {
            (Some(custom), _) => Some(custom),
            (None, Some(url)) => {
                let mut imp = ServiceAccountImpersonation::new(url).scopes(scopes.clone());
                if let Some(l) = token_lifetime {
                    imp = imp.lifetime(l);
                }
                imp.validate(&ctx)?;
                Some(Arc::new(imp))
            }
            (None, None) => {
                if token_lifetime.is_some() {
                    return Err(Error::config(
                        "token_lifetime",
                        "only applies with service account impersonation",
                    ));
                }
                None
            }
        };
        let description: Arc<str> = format!(
            "{} -> google-sts{}",
            source.name(),
            if impersonation.is_some() {
                " -> impersonation"
            } else {
                ""
            }
        )
        .into();
        let quota_project_id = self
            .quota_project_id
            .or_else(|| config.as_ref().and_then(|c| c.quota_project_id.clone()))
            .map(Arc::<str>::from);
        let quota_project_header = quota_project_id
            .as_deref()
            .map(|project| {
                HeaderValue::from_str(project).map_err(|_| {
                    Error::config(
                        "quota_project_id",
                        "is not a valid HTTP header value; a project ID is lowercase letters, \
                         digits and hyphens",
                    )
                })
            })
            .transpose()?;
        let universe_domain: Arc<str> = config
            .as_ref()
            .map_or(DEFAULT_UNIVERSE_DOMAIN, |c| c.universe_domain.as_str())
            .into();
        let scopes: Arc<[String]> = scopes.into();
        let clock = ctx.clock().clone();
        let fetch = FederatedFetch {
            ctx,
            source,
            subject_token_type,
            sts,
            impersonation,
        };
        Ok(ExternalAccountCredentials {
            cache: CredentialCache::new(
                DynFetch::new(fetch),
                clock,
                self.cache_policy.unwrap_or_else(CachePolicy::google_token),
            ),
            quota_project_id,
            quota_project_header,
            service_account: service_account.map(Arc::from),
            scopes,
            universe_domain,
            description,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::context::StaticEnv;
    use crate::source::StaticToken;

    const AUD: &str =
        "//iam.googleapis.com/projects/1/locations/global/workloadIdentityPools/p/providers/x";

    fn ctx() -> Context {
        Context::builder().env(StaticEnv::empty()).build()
    }

    #[test]
    fn builder_validates_pieces() {
        let err = ExternalAccountCredentials::builder()
            .context(ctx())
            .build()
            .unwrap_err();
        assert!(err.message().starts_with("audience"));
        let err = ExternalAccountCredentials::builder()
            .context(ctx())
            .audience(AUD)
            .build()
            .unwrap_err();
        assert!(err.message().starts_with("token_source"));
        let ok = || {
            ExternalAccountCredentials::builder()
                .context(ctx())
                .audience(AUD)
                .token_source(StaticToken::new("abcd", TokenType::Jwt))
        };
        assert!(ok().build().is_ok());
        assert!(
            ok().token_url("http://sts.googleapis.com/v1/token")
                .build()
                .unwrap_err()
                .message()
                .starts_with("token_url")
        );
        assert!(
            ok().token_lifetime(Duration::from_secs(3600))
                .build()
                .is_err()
        );
        let imp = "https://iamcredentials.googleapis.com/v1/projects/-/serviceAccounts/a@p.iam.gserviceaccount.com:generateAccessToken";
        let c = ok()
            .service_account_impersonation_url(imp)
            .token_lifetime(Duration::from_secs(7200))
            .build()
            .unwrap();
        assert_eq!(c.service_account(), Some("a@p.iam.gserviceaccount.com"));
        assert!(
            ok().service_account_impersonation_url(imp)
                .token_lifetime(Duration::from_secs(100))
                .build()
                .is_err()
        );
    }

    /// Each builder setter's validation and the getters (moved from the rustdoc examples).
    #[test]
    fn builder_settings_are_validated_and_reported() {
        let builder = || {
            ExternalAccountCredentials::builder()
                .context(ctx())
                .audience(AUD)
                .token_source(StaticToken::new("abcd", TokenType::Jwt))
        };
        let plain = builder().build().unwrap();
        assert_eq!(plain.scopes(), [CLOUD_PLATFORM_SCOPE]);
        assert_eq!(plain.service_account(), None);
        assert_eq!(plain.quota_project_id(), None);
        assert_eq!(plain.universe_domain(), "googleapis.com");
        assert_eq!(
            plain.cache().completed_fetches(),
            0,
            "building fetches nothing"
        );
        let m = plain.cache().metrics();
        assert_eq!((m.fetches, m.failures, m.served_stale), (0, 0, 0));
        assert_eq!(m.expires_at, None);
        assert!(!m.refresh_failing);
        let read_only = "https://www.googleapis.com/auth/devstorage.read_only";
        assert_eq!(
            builder().scopes([read_only]).build().unwrap().scopes(),
            [read_only]
        );
        let err = ExternalAccountCredentials::builder()
            .context(ctx())
            .token_source(StaticToken::new("abcd", TokenType::Jwt))
            .build()
            .unwrap_err();
        assert!(err.message().starts_with("audience: is required"), "{err}");
        assert!(
            builder()
                .token_url("https://sts-xyz.p.googleapis.com/v1/token")
                .build()
                .is_ok()
        );
        assert!(
            builder()
                .client_credentials("my-client-id", "my-client-secret")
                .build()
                .is_ok()
        );
        let err = builder()
            .client_credentials("bad:id", "secret")
            .build()
            .unwrap_err();
        assert!(err.message().starts_with("client_id"), "{err}");
        let workforce = ExternalAccountCredentials::builder()
            .context(ctx())
            .audience("//iam.googleapis.com/locations/global/workforcePools/staff/providers/okta")
            .token_source(StaticToken::new("abcd", TokenType::Jwt))
            .workforce_pool_user_project("billing-project")
            .build();
        assert!(workforce.is_ok());
        let err = builder()
            .workforce_pool_user_project("billing-project")
            .build()
            .unwrap_err();
        assert!(
            err.message().starts_with("workforce_pool_user_project"),
            "{err}"
        );
        let billed = builder()
            .quota_project_id("billing-project")
            .build()
            .unwrap();
        assert_eq!(billed.quota_project_id(), Some("billing-project"));
        let err = builder()
            .quota_project_id("billing\nproject")
            .build()
            .unwrap_err();
        assert!(err.message().starts_with("quota_project_id"), "{err}");
        // A builder setting wins over the configuration file's.
        let config = ExternalAccountConfig::from_value(&serde_json::json!({
            "type": "external_account",
            "audience": AUD,
            "subject_token_type": "urn:ietf:params:oauth:token-type:jwt",
            "quota_project_id": "file-project",
            "credential_source": {"file": "/t"}
        }))
        .unwrap();
        let overridden = ExternalAccountCredentials::builder()
            .context(ctx())
            .config(config)
            .quota_project_id("other-project")
            .build()
            .unwrap();
        assert_eq!(overridden.quota_project_id(), Some("other-project"));
        let policy = CachePolicy::google_token()
            .refresh_window(Duration::from_secs(600))
            .jitter(Duration::from_secs(300));
        assert!(builder().cache_policy(policy).build().is_ok());
    }

    /// Regression: `universe_domain` did not reach the IAM Credentials endpoint of
    /// `generateIdToken`, which always went to googleapis.com.
    #[test]
    fn id_tokens_use_the_universe_of_the_credentials() {
        let config = serde_json::json!({
            "type": "external_account",
            "audience": AUD,
            "subject_token_type": "urn:ietf:params:oauth:token-type:jwt",
            "universe_domain": "example-universe.com",
            "credential_source": {"file": "/t"}
        });
        let creds = ExternalAccountCredentials::builder()
            .context(ctx())
            .config(ExternalAccountConfig::from_value(&config).unwrap())
            .build()
            .unwrap();
        let id = GenerateIdToken::new("sa@p.iam.gserviceaccount.com", "aud");
        assert_eq!(
            creds
                .id_token_source(id.clone())
                .id_token
                .url()
                .unwrap()
                .as_str(),
            "https://iamcredentials.example-universe.com/v1/projects/-/serviceAccounts/sa@p.iam.gserviceaccount.com:generateIdToken"
        );
        // An explicit base URL wins.
        let explicit = id.base_url("http://127.0.0.1:1/v1");
        assert!(
            creds
                .id_token_source(explicit)
                .id_token
                .url()
                .unwrap()
                .as_str()
                .starts_with("http://127.0.0.1:1/v1/")
        );
    }
}
