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
use super::{AuthToken, ServerOptions};
use crate::aws::WebIdentityProvider;

/// The path credentials are served on.
pub const CREDENTIALS_PATH: &str = "/credentials";

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
    token: Option<AuthToken>,
    listen: Option<SocketAddr>,
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

    /// The token callers must present.
    pub fn auth_token(&self) -> &AuthToken {
        &self.handler.token
    }

    /// Serves until `shutdown` completes, then lets open requests finish (up to
    /// [`ServerOptions::shutdown_grace`]).
    pub async fn run(self, shutdown: impl std::future::Future<Output = ()>) -> std::io::Result<()> {
        serve(self.listener, self.handler, self.options, shutdown).await
    }
}

impl ContainerCredentialsServerBuilder {
    /// The provider whose cache is served (required).
    pub fn provider(mut self, provider: WebIdentityProvider) -> Self {
        self.provider = Some(provider);
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
        let (listener, addr) = bind(self.listen, "AWS credentials (with the token)").await?;
        Ok(ContainerCredentialsServer {
            listener,
            addr,
            handler: Arc::new(EcsHandler {
                provider,
                token,
                options: self.options,
                counts: StatusCounts::default(),
            }),
            options: self.options,
        })
    }
}

#[derive(Debug)]
struct EcsHandler {
    provider: WebIdentityProvider,
    token: AuthToken,
    options: ServerOptions,
    counts: StatusCounts,
}

impl EcsHandler {
    async fn credentials(&self, request: &Request<Incoming>) -> Response<Body> {
        let Some(presented) = request.headers().get(hyper::header::AUTHORIZATION) else {
            return error(
                StatusCode::UNAUTHORIZED,
                "Unauthorized",
                "no Authorization header: set AWS_CONTAINER_AUTHORIZATION_TOKEN_FILE to the server's token file",
            );
        };
        if !self.token.matches(presented.as_bytes()) {
            return error(
                StatusCode::FORBIDDEN,
                "Forbidden",
                "the Authorization token is not this server's: use the token file it printed",
            );
        }
        match tokio::time::timeout(self.options.upstream_wait, self.provider.credentials()).await {
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
        render_cache_metrics(&self.provider.cache().metrics(), &mut out);
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
        match request.uri().path() {
            CREDENTIALS_PATH => self.credentials(&request).await,
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
