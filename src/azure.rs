//! → Azure: [`EntraCredentials`], Microsoft Entra ID access tokens from a workload's own
//! identity on another cloud (a GCE/GKE metadata token, an AWS outbound token, a GitHub
//! Actions job's token, a token file), traded at Entra as a federated client assertion, cached
//! and refreshed ahead of expiry like the AWS and Google providers.
//!
//! ```no_run
//! use federated_credentials::azure::EntraCredentials;
//! use federated_credentials::source::GcpMetadataIdentityToken;
//!
//! # async fn run() -> Result<(), federated_credentials::Error> {
//! let entra = EntraCredentials::builder()
//!     .token_source(GcpMetadataIdentityToken::new("api://AzureADTokenExchange"))
//!     .tenant_id("72f988bf-86f1-41af-91ab-2d7cd011db47")
//!     .client_id("00000000-0000-0000-0000-00000000c11d")
//!     .scope("https://storage.azure.com/.default")
//!     .build()?;
//! let token = entra.access_token().await?;
//! # Ok(()) }
//! ```

use std::sync::Arc;

use async_trait::async_trait;
use reqwest::header::{AUTHORIZATION, HeaderMap};

use crate::cache::{CachePolicy, CredentialCache, DynFetch, Fetch};
use crate::context::Context;
use crate::error::Error;
use crate::exchange::{AzureCloud, EntraTokenExchange, Exchange};
use crate::provider::{CachedProvider, ProviderCache};
use crate::source::SubjectTokenSource;
use crate::token::AccessToken;

/// The variable naming the tenant (azure-identity's).
pub const TENANT_ID_ENV: &str = "AZURE_TENANT_ID";
/// The variable naming the application (client) id (azure-identity's).
pub const CLIENT_ID_ENV: &str = "AZURE_CLIENT_ID";

/// One fetch: the assertion from the source, traded at Entra.
struct EntraFetch {
    ctx: Context,
    source: Arc<dyn SubjectTokenSource>,
    exchange: EntraTokenExchange,
}

#[async_trait]
impl Fetch for EntraFetch {
    type Credential = AccessToken;

    async fn fetch(&self) -> Result<AccessToken, Error> {
        let assertion = self.source.subject_token(&self.ctx).await.map_err(|e| {
            e.context(format!(
                "getting the {} token for Entra",
                self.source.name()
            ))
        })?;
        self.exchange.exchange(&self.ctx, &assertion).await
    }
}

/// Entra ID access tokens for one app (or user-assigned managed identity) and one set of
/// scopes; cached and refreshed ahead of expiry (single flight, jitter, served stale through an
/// outage while still valid, never expired). Cheap to clone: clones share the cache.
#[derive(Clone)]
pub struct EntraCredentials {
    cache: ProviderCache<AccessToken>,
    description: Arc<str>,
    exchange: EntraTokenExchange,
    shared: Arc<Shared>,
}

/// What every scope set of one identity shares: where the assertion comes from.
struct Shared {
    ctx: Context,
    source: Arc<dyn SubjectTokenSource>,
    policy: CachePolicy,
}

impl std::fmt::Debug for EntraCredentials {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("EntraCredentials")
            .field("flow", &self.description)
            .field("cache", &self.cache)
            .finish()
    }
}

impl EntraCredentials {
    /// Starts a builder.
    pub fn builder() -> EntraCredentialsBuilder {
        EntraCredentialsBuilder::default()
    }

    /// Credentials for `scope` from the process environment, as azure-identity reads it:
    /// `AZURE_TENANT_ID`, `AZURE_CLIENT_ID`, `AZURE_AUTHORITY_HOST`, and the assertion from the
    /// first identity found (AKS token file, GitHub Actions, the AWS role, GCE metadata):
    /// [`default_chain::entra`](crate::default_chain::entra) with the default context.
    pub async fn from_env(scope: impl Into<String>) -> Result<EntraCredentials, Error> {
        crate::default_chain::entra(&Context::default(), scope).await
    }

    /// A current access token: from the cache, or fetched (once, however many callers wait).
    pub async fn access_token(&self) -> Result<Arc<AccessToken>, Error> {
        self.cache.get().await
    }

    /// `Authorization: Bearer …` for an Azure API call.
    pub async fn headers(&self) -> Result<HeaderMap, Error> {
        let token = self.access_token().await?;
        let mut headers = HeaderMap::with_capacity(1);
        headers.insert(AUTHORIZATION, token.authorization_header_value()?);
        Ok(headers)
    }

    /// The tenant tokens are for.
    pub fn tenant_id(&self) -> &str {
        self.exchange.tenant_id()
    }

    /// The application (client) id tokens are for.
    pub fn client_id(&self) -> &str {
        self.exchange.client_id()
    }

    /// The scopes tokens are for.
    pub fn scopes(&self) -> &[String] {
        self.exchange.requested_scopes()
    }

    /// The cache, shared by clones.
    pub fn cache(&self) -> &ProviderCache<AccessToken> {
        &self.cache
    }

    /// The same identity (source, tenant, client id, authority, cache policy) for other
    /// scopes, with a cache of its own: an Entra token is for one resource, so each scope set
    /// needs its own token. The assertion source is shared, not copied.
    ///
    /// ```
    /// # use federated_credentials::azure::EntraCredentials;
    /// # use federated_credentials::source::StaticToken;
    /// # use federated_credentials::token::TokenType;
    /// # let storage = EntraCredentials::builder()
    /// #     .token_source(StaticToken::new("eyJhbGciOi...", TokenType::Jwt))
    /// #     .tenant_id("72f9a8bf-0000-4000-8000-00000000a2e1")
    /// #     .client_id("0000c11d-0000-4000-8000-000000000001")
    /// #     .scope("https://storage.azure.com/.default")
    /// #     .build()?;
    /// let vault = storage.with_scopes(["https://vault.azure.net/.default"])?;
    /// assert_eq!(vault.scopes(), ["https://vault.azure.net/.default"]);
    /// assert_eq!(vault.client_id(), storage.client_id());
    /// # Ok::<(), federated_credentials::Error>(())
    /// ```
    pub fn with_scopes<I, S>(&self, scopes: I) -> Result<EntraCredentials, Error>
    where
        I: IntoIterator<Item = S>,
        S: Into<String>,
    {
        let exchange = self.exchange.clone().scopes(scopes);
        exchange.validate(&self.shared.ctx)?;
        Ok(EntraCredentials::assemble(exchange, self.shared.clone()))
    }

    /// Now, by the context's clock.
    #[cfg_attr(not(feature = "azure"), allow(dead_code))]
    pub(crate) fn now(&self) -> std::time::SystemTime {
        self.shared.ctx.clock().now()
    }

    fn assemble(exchange: EntraTokenExchange, shared: Arc<Shared>) -> EntraCredentials {
        let description: Arc<str> = format!("{} -> entra", shared.source.name()).into();
        let fetch = EntraFetch {
            ctx: shared.ctx.clone(),
            source: shared.source.clone(),
            exchange: exchange.clone(),
        };
        EntraCredentials {
            cache: CredentialCache::new(
                DynFetch::new(fetch),
                shared.ctx.clock().clone(),
                shared.policy,
            ),
            description,
            exchange,
            shared,
        }
    }
}

impl CachedProvider for EntraCredentials {
    type Credential = AccessToken;

    fn cache(&self) -> &ProviderCache<AccessToken> {
        &self.cache
    }
}

/// Builds [`EntraCredentials`].
///
/// ```
/// use federated_credentials::azure::EntraCredentials;
/// use federated_credentials::context::{Context, StaticEnv};
/// use federated_credentials::source::TokenFile;
///
/// let pod = Context::builder()
///     .env(StaticEnv::from_pairs([
///         ("AZURE_TENANT_ID", "72f9a8bf-0000-4000-8000-00000000a2e1"),
///         ("AZURE_CLIENT_ID", "0000c11d-0000-4000-8000-000000000001"),
///     ]))
///     .build();
/// let entra = EntraCredentials::builder()
///     .context(pod)
///     .configure_from_env()
///     .token_source(TokenFile::text("/var/run/secrets/tokens/azure"))
///     .scope("https://vault.azure.net/.default")
///     .build()?;
/// assert_eq!(entra.tenant_id(), "72f9a8bf-0000-4000-8000-00000000a2e1");
/// # Ok::<(), federated_credentials::Error>(())
/// ```
#[derive(Default)]
#[must_use]
pub struct EntraCredentialsBuilder {
    ctx: Option<Context>,
    source: Option<Arc<dyn SubjectTokenSource>>,
    tenant_id: Option<String>,
    client_id: Option<String>,
    scopes: Vec<String>,
    authority: Option<String>,
    cloud: AzureCloud,
    from_env: bool,
    configure: Option<Box<dyn FnOnce(EntraTokenExchange) -> EntraTokenExchange + Send>>,
    cache_policy: Option<CachePolicy>,
}

impl EntraCredentialsBuilder {
    /// The context (clock, environment, HTTP client).
    pub fn context(mut self, ctx: Context) -> Self {
        self.ctx = Some(ctx);
        self
    }

    /// Where the assertion comes from; ask it for the federated credential's audience
    /// (`api://AzureADTokenExchange` by default, [`AzureCloud::assertion_audience`]).
    pub fn token_source(mut self, source: impl SubjectTokenSource + 'static) -> Self {
        self.source = Some(Arc::new(source));
        self
    }

    /// Like [`token_source`](Self::token_source) for a shared source.
    pub fn shared_token_source(mut self, source: Arc<dyn SubjectTokenSource>) -> Self {
        self.source = Some(source);
        self
    }

    /// The tenant: a GUID or verified domain.
    pub fn tenant_id(mut self, tenant: impl Into<String>) -> Self {
        self.tenant_id = Some(tenant.into());
        self
    }

    /// The application (client) id of the app registration or user-assigned managed
    /// identity that has the federated credential.
    pub fn client_id(mut self, client_id: impl Into<String>) -> Self {
        self.client_id = Some(client_id.into());
        self
    }

    /// Adds a scope (`RESOURCE/.default`).
    pub fn scope(mut self, scope: impl Into<String>) -> Self {
        self.scopes.push(scope.into());
        self
    }

    /// The authority host (default `AZURE_AUTHORITY_HOST`, else the cloud's).
    pub fn authority_host(mut self, host: impl Into<String>) -> Self {
        self.authority = Some(host.into());
        self
    }

    /// The cloud (default public).
    pub fn cloud(mut self, cloud: AzureCloud) -> Self {
        self.cloud = cloud;
        self
    }

    /// Fills what is unset from `AZURE_TENANT_ID` and `AZURE_CLIENT_ID` (the authority host
    /// always comes from `AZURE_AUTHORITY_HOST` when not set here).
    pub fn configure_from_env(mut self) -> Self {
        self.from_env = true;
        self
    }

    /// Adjusts the exchange (timeouts, retries) before it is built.
    pub fn configure_exchange(
        mut self,
        f: impl FnOnce(EntraTokenExchange) -> EntraTokenExchange + Send + 'static,
    ) -> Self {
        self.configure = Some(Box::new(f));
        self
    }

    /// The cache policy (default [`CachePolicy::google_token`]: Entra tokens live about an
    /// hour as Google's do).
    pub fn cache_policy(mut self, policy: CachePolicy) -> Self {
        self.cache_policy = Some(policy);
        self
    }

    /// Checks the settings and builds the credentials; nothing is fetched yet.
    pub fn build(self) -> Result<EntraCredentials, Error> {
        let ctx = self.ctx.unwrap_or_default();
        let env = ctx.env();
        let pick = |set: Option<String>, var: &str| {
            set.or_else(|| {
                self.from_env
                    .then(|| env.get_non_empty(var).map(|v| v.trim().to_string()))
                    .flatten()
            })
        };
        let tenant = pick(self.tenant_id, TENANT_ID_ENV).ok_or_else(|| {
            Error::config(
                "tenant_id",
                "is required: call .tenant_id() or set AZURE_TENANT_ID (with .configure_from_env())",
            )
        })?;
        let client = pick(self.client_id, CLIENT_ID_ENV).ok_or_else(|| {
            Error::config(
                "client_id",
                "is required: call .client_id() or set AZURE_CLIENT_ID (with .configure_from_env())",
            )
        })?;
        let source = self.source.ok_or_else(|| {
            Error::config(
                "token_source",
                "is required: the identity to present to Entra (call .token_source(), or use default_chain::entra)",
            )
        })?;
        source.validate()?;
        let mut exchange = EntraTokenExchange::new(tenant, client)
            .scopes(self.scopes)
            .cloud(self.cloud);
        if let Some(a) = self.authority {
            exchange = exchange.authority_host(a);
        }
        if let Some(f) = self.configure {
            exchange = f(exchange);
        }
        exchange.validate(&ctx)?;
        let shared = Arc::new(Shared {
            ctx,
            source,
            policy: self.cache_policy.unwrap_or_else(CachePolicy::google_token),
        });
        Ok(EntraCredentials::assemble(exchange, shared))
    }
}
