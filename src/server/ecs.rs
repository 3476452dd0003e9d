//! [`ContainerCredentialsServer`]: AWS credentials from a [`WebIdentityProvider`] over the
//! ECS/EKS container-credentials protocol, what the AWS SDKs read from
//! `AWS_CONTAINER_CREDENTIALS_FULL_URI` with `AWS_CONTAINER_AUTHORIZATION_TOKEN_FILE`
//! (aws-vault's `--ecs-server`, the ECS agent, EKS Pod Identity).
//!
//! Wire: `GET /credentials` with `Authorization: <token>` (the file's contents, no scheme) →
//! `200 {"AccessKeyId","SecretAccessKey","Token","Expiration","RoleArn","AccountId"}`; a
//! missing token → 401, a wrong one → 403, each `{"code","message"}` and no credential; a
//! credential that cannot be had within [`ServerOptions::upstream_wait`] → 503 saying what is
//! failing; other paths 404, other methods 405.
//!
//! Per-request roles (off unless roles are given): `GET /role-arn/<ARN>` (the ARN as is, or
//! percent-encoded) answers that role's credentials from its own cache, for the roles on the
//! server's allow-list only; another role is a 403 that names it.
//!
//! Persistence (optional): every credential fetched is also written to a [`FileCache`] entry,
//! and a server started again reads it back, so a restart costs no STS call while the copy
//! has more than [`PERSISTED_MIN_REMAINING`](super::PERSISTED_MIN_REMAINING) left.

use std::collections::HashMap;
use std::net::SocketAddr;
use std::sync::Arc;
use std::time::SystemTime;

use async_trait::async_trait;
use hyper::body::Incoming;
use hyper::{Method, Request, Response, StatusCode};
use tokio::net::TcpListener;

use super::http::{
    Body, Handler, StatusCounts, bind, error, json, render_cache_metrics, respond, serve,
};
use super::persist::{Keepers, Labelled, seed_all};
use super::{AuthToken, ServerOptions};
use crate::aws::WebIdentityProvider;
use crate::error::sanitize_upstream_text;
use crate::exchange::AwsCredentials;
use crate::file_cache::{CacheKey, FileCache};

/// The path credentials are served on.
pub const CREDENTIALS_PATH: &str = "/credentials";

/// The prefix of the per-request role paths: `GET /role-arn/<ARN>`.
pub const ROLE_ARN_PATH_PREFIX: &str = "/role-arn/";

/// The container-credentials endpoint in front of a provider: `GET /credentials` with
/// `Authorization: <token>` answers the provider's cached credentials as the ECS agent does
/// (`AccessKeyId`, `SecretAccessKey`, `Token`, `Expiration`, `RoleArn`, `AccountId`); a
/// missing token is a 401, a wrong one a 403, no credential within
/// [`ServerOptions::upstream_wait`] a 503 saying what fails; `/healthz`, `/readyz` and
/// `/metrics` as the [server module](crate::server) describes.
///
/// ```no_run
/// use federated_credentials::aws::WebIdentityProvider;
/// use federated_credentials::server::{AuthToken, ContainerCredentialsServer};
///
/// # async fn run() -> Result<(), Box<dyn std::error::Error>> {
/// let server = ContainerCredentialsServer::builder()
///     .provider(WebIdentityProvider::from_env()?)
///     .auth_token(AuthToken::from_file("/run/federated-credentials/token")?)
///     .bind()
///     .await?;
/// println!("AWS_CONTAINER_CREDENTIALS_FULL_URI={}", server.full_uri());
/// server.run(async { let _ = tokio::signal::ctrl_c().await; }).await?;
/// # Ok(()) }
/// ```
#[derive(Debug)]
pub struct ContainerCredentialsServer {
    listener: TcpListener,
    addr: SocketAddr,
    handler: Arc<EcsHandler>,
    options: ServerOptions,
}

/// Builds a [`ContainerCredentialsServer`].
#[derive(Debug, Default)]
#[must_use]
pub struct ContainerCredentialsServerBuilder {
    provider: Option<WebIdentityProvider>,
    roles: Vec<(String, WebIdentityProvider)>,
    token: Option<AuthToken>,
    listen: Option<SocketAddr>,
    persist: Option<(FileCache, CacheKey)>,
    options: ServerOptions,
}

impl ContainerCredentialsServer {
    /// A builder.
    pub fn builder() -> ContainerCredentialsServerBuilder {
        ContainerCredentialsServerBuilder::default()
    }

    /// The address it listens on.
    pub fn local_addr(&self) -> SocketAddr {
        self.addr
    }

    /// `http://ADDR/credentials`: the value of `AWS_CONTAINER_CREDENTIALS_FULL_URI`.
    pub fn full_uri(&self) -> String {
        format!("http://{}{CREDENTIALS_PATH}", self.addr)
    }

    /// `http://ADDR/role-arn/<ARN>`: the `AWS_CONTAINER_CREDENTIALS_FULL_URI` of one role of
    /// the allow-list ([`ContainerCredentialsServerBuilder::role`]).
    pub fn role_uri(&self, role_arn: &str) -> String {
        format!("http://{}{ROLE_ARN_PATH_PREFIX}{role_arn}", self.addr)
    }

    /// The token callers must present.
    pub fn auth_token(&self) -> &AuthToken {
        &self.handler.token
    }

    /// Serves until `shutdown` completes, then lets open requests finish (up to
    /// [`ServerOptions::shutdown_grace`]).
    pub async fn run(self, shutdown: impl std::future::Future<Output = ()>) -> std::io::Result<()> {
        let _keepers = Keepers::spawn(
            self.handler.persist.as_ref(),
            self.handler.persisted_caches(),
        );
        serve(self.listener, self.handler, self.options, shutdown).await
    }
}

impl ContainerCredentialsServerBuilder {
    /// The provider whose cache is served (required).
    pub fn provider(mut self, provider: WebIdentityProvider) -> Self {
        self.provider = Some(provider);
        self
    }

    /// Adds `role_arn` to the allow-list of per-request roles: `GET /role-arn/<role_arn>`
    /// answers `provider`'s credentials (a provider for that role, with a cache of its own).
    /// Without any, per-request roles are off and those paths are 404s.
    pub fn role(mut self, role_arn: impl Into<String>, provider: WebIdentityProvider) -> Self {
        self.roles.push((role_arn.into(), provider));
        self
    }

    /// Keeps every credential fetched in `cache` under `key` (one entry per role, derived
    /// from it), and starts from what is there: a restarted server serves the persisted
    /// credentials without an STS call while more than
    /// [`PERSISTED_MIN_REMAINING`](super::PERSISTED_MIN_REMAINING) is left. The key must hash
    /// everything that determines the credentials (source, role, session, endpoint), as
    /// [`CacheKey`] says.
    pub fn persist(mut self, cache: FileCache, key: CacheKey) -> Self {
        self.persist = Some((cache, key));
        self
    }

    /// The token callers must present (required).
    pub fn auth_token(mut self, token: AuthToken) -> Self {
        self.token = Some(token);
        self
    }

    /// Where to listen (default `127.0.0.1:0`, an ephemeral loopback port). Another
    /// address is logged at WARN: any host that reaches it can ask, with the token.
    pub fn listen(mut self, addr: SocketAddr) -> Self {
        self.listen = Some(addr);
        self
    }

    /// Limits and timeouts.
    pub fn options(mut self, options: ServerOptions) -> Self {
        self.options = options;
        self
    }

    /// Binds the socket; nothing is served until [`ContainerCredentialsServer::run`].
    pub async fn bind(self) -> std::io::Result<ContainerCredentialsServer> {
        let missing = |what: &str| {
            std::io::Error::new(
                std::io::ErrorKind::InvalidInput,
                format!("ContainerCredentialsServer needs {what}"),
            )
        };
        let provider = self
            .provider
            .ok_or_else(|| missing("a provider (.provider())"))?;
        let token = self
            .token
            .ok_or_else(|| missing("an auth token (.auth_token())"))?;
        let mut roles = HashMap::with_capacity(self.roles.len());
        for (arn, role_provider) in self.roles {
            if !arn.starts_with("arn:") || arn.chars().any(|c| c.is_whitespace() || c.is_control())
            {
                return Err(std::io::Error::new(
                    std::io::ErrorKind::InvalidInput,
                    format!(
                        "per-request role `{}` is not a role ARN (arn:aws:iam::ACCOUNT:role/NAME)",
                        sanitize_upstream_text(&arn, 200)
                    ),
                ));
            }
            if roles.insert(arn.clone(), role_provider).is_some() {
                return Err(std::io::Error::new(
                    std::io::ErrorKind::InvalidInput,
                    format!("per-request role {arn} is on the allow-list twice"),
                ));
            }
        }
        let handler = EcsHandler {
            provider,
            roles,
            token,
            persist: self.persist,
            options: self.options,
            counts: StatusCounts::default(),
        };
        seed_all(handler.persist.as_ref(), handler.persisted_caches());
        let (listener, addr) = bind(self.listen, "AWS credentials (with the token)").await?;
        Ok(ContainerCredentialsServer {
            listener,
            addr,
            handler: Arc::new(handler),
            options: self.options,
        })
    }
}

#[derive(Debug)]
struct EcsHandler {
    provider: WebIdentityProvider,
    /// The per-request roles, by ARN.
    roles: HashMap<String, WebIdentityProvider>,
    token: AuthToken,
    persist: Option<(FileCache, CacheKey)>,
    options: ServerOptions,
    counts: StatusCounts,
}

impl EcsHandler {
    /// The caches of the default provider (`None`) and of the per-request ones (their ARN):
    /// what is persisted and reported in `/metrics`.
    fn persisted_caches(&self) -> impl Iterator<Item = Labelled<'_, AwsCredentials>> {
        std::iter::once((None, self.provider.cache())).chain(
            self.roles
                .iter()
                .map(|(arn, p)| (Some(arn.as_str()), p.cache())),
        )
    }

    /// `None` when the request carries this server's token, else the 401 or 403.
    fn refuse(&self, request: &Request<Incoming>) -> Option<Response<Body>> {
        let Some(presented) = request.headers().get(hyper::header::AUTHORIZATION) else {
            return Some(error(
                StatusCode::UNAUTHORIZED,
                "Unauthorized",
                "no Authorization header: set AWS_CONTAINER_AUTHORIZATION_TOKEN_FILE to the server's token file",
            ));
        };
        if !self.token.matches(presented.as_bytes()) {
            return Some(error(
                StatusCode::FORBIDDEN,
                "Forbidden",
                "the Authorization token is not this server's: use the token file it printed",
            ));
        }
        None
    }

    /// `GET /role-arn/<ARN>` (`encoded`: what follows the prefix).
    async fn role_credentials(&self, encoded: &str) -> Response<Body> {
        if self.roles.is_empty() {
            return error(
                StatusCode::NOT_FOUND,
                "NotFound",
                "per-request roles are off on this server: credentials are served on /credentials",
            );
        }
        let arn = percent_encoding::percent_decode_str(encoded).decode_utf8_lossy();
        match self.roles.get(arn.as_ref()) {
            Some(provider) => self.credentials(provider).await,
            None => error(
                StatusCode::FORBIDDEN,
                "RoleNotAllowed",
                &format!(
                    "role `{}` is not on this server's allow-list of per-request roles; add it there (aws serve --allow-role-arn) or ask for one of the {} it serves",
                    sanitize_upstream_text(&arn, 200),
                    self.roles.len()
                ),
            ),
        }
    }

    async fn credentials(&self, provider: &WebIdentityProvider) -> Response<Body> {
        match tokio::time::timeout(self.options.upstream_wait, provider.credentials()).await {
            Ok(Ok(credentials)) => json(
                StatusCode::OK,
                credentials
                    .to_container_credentials_json()
                    .expose_secret()
                    .to_owned(),
            ),
            Ok(Err(e)) => error(
                StatusCode::SERVICE_UNAVAILABLE,
                "CredentialsUnavailable",
                &format!("no valid AWS credentials to serve: {e}"),
            ),
            Err(_) => error(
                StatusCode::SERVICE_UNAVAILABLE,
                "CredentialsUnavailable",
                &format!(
                    "no valid AWS credentials cached, and the fetch from STS is taking longer than {} ms; retry",
                    self.options.upstream_wait.as_millis()
                ),
            ),
        }
    }

    fn ready(&self) -> Response<Body> {
        let metrics = self.provider.cache().metrics();
        match metrics.expires_at {
            Some(at) if at > SystemTime::now() => json(StatusCode::OK, r#"{"status":"ready"}"#),
            _ => error(
                StatusCode::SERVICE_UNAVAILABLE,
                "NotReady",
                "no valid credential cached yet",
            ),
        }
    }

    fn metrics(&self) -> Response<Body> {
        let mut out = String::with_capacity(2048);
        let caches: Vec<_> = self
            .persisted_caches()
            .map(|(role, cache)| (role, cache.metrics()))
            .collect();
        render_cache_metrics(&caches, &mut out);
        self.counts.render("federated_credentials_server", &mut out);
        respond(StatusCode::OK, "text/plain; version=0.0.4", out)
    }
}

#[async_trait]
impl Handler for EcsHandler {
    async fn handle(&self, request: Request<Incoming>) -> Response<Body> {
        if request.method() != Method::GET {
            return error(
                StatusCode::METHOD_NOT_ALLOWED,
                "MethodNotAllowed",
                "only GET is served",
            );
        }
        let path = request.uri().path();
        if path == CREDENTIALS_PATH || path.starts_with(ROLE_ARN_PATH_PREFIX) {
            if let Some(refused) = self.refuse(&request) {
                return refused;
            }
            return match path.strip_prefix(ROLE_ARN_PATH_PREFIX) {
                Some(arn) => self.role_credentials(arn).await,
                None => self.credentials(&self.provider).await,
            };
        }
        match path {
            "/healthz" => json(StatusCode::OK, r#"{"status":"ok"}"#),
            "/readyz" => self.ready(),
            "/metrics" => self.metrics(),
            _ => error(
                StatusCode::NOT_FOUND,
                "NotFound",
                "credentials are served on /credentials",
            ),
        }
    }

    fn counts(&self) -> &StatusCounts {
        &self.counts
    }
}
