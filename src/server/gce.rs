//! [`MetadataServer`]: Google access and identity tokens from an `external_account`
//! configuration (AWS, Azure, any OIDC identity federated into Google Cloud), served over the
//! GCE metadata protocol, so every Google client library (which falls back to the metadata
//! server, `GCE_METADATA_HOST`) uses them with no code change.
//!
//! Served, each with `Metadata-Flavor: Google` on the response: `/` (the ping),
//! `/computeMetadata/v1/`, `instance/`, `instance/service-accounts/` (`default/` and the email),
//! and under `instance/service-accounts/{default,EMAIL}/`: `token` (`?scopes=a,b`: a token for
//! those scopes, each scope set with its own cache), `identity?audience=&format=` (through IAM
//! `generateIdToken` when the configuration impersonates a service account; a 404 that says so
//! otherwise), `email`, `scopes`, `aliases`, and `?recursive=true` on the account; `project/project-id`,
//! `project/numeric-project-id` (from `--numeric-project-id`, else the pool provider's
//! audience), `universe/universe-domain`.
//!
//! As the real server: requests without `Metadata-Flavor: Google` are refused (403), as are
//! requests carrying `X-Forwarded-For` (a proxy forwarding someone else); a `Host` that is not
//! the server's own address, `metadata.google.internal`, `metadata` or `169.254.169.254` is
//! refused (DNS rebinding).

use std::collections::HashMap;
use std::net::SocketAddr;
use std::sync::{Arc, Mutex, PoisonError};
use std::time::{Duration, SystemTime};

use arc_swap::ArcSwap;
use async_trait::async_trait;
use hyper::body::Incoming;
use hyper::{Method, Request, Response, StatusCode};
use tokio::net::TcpListener;

use super::ServerOptions;
use super::http::{Body, Handler, StatusCounts, bind, render_cache_metrics, respond, serve};
use super::persist::{Keepers, Labelled, seed_all};
use crate::config::ExternalAccountConfig;
use crate::context::Context;
use crate::error::Error;
use crate::exchange::GenerateIdToken;
use crate::file_cache::{CacheKey, FileCache};
use crate::google::ExternalAccountCredentials;
use crate::source::SubjectTokenSource;
use crate::token::{AccessToken, SubjectToken};

/// How many scope sets (and audiences) one server keeps credentials for.
pub const MAX_CACHED_SETS: usize = 64;

/// Identity tokens are served again while more than this is left.
const ID_TOKEN_REUSE: Duration = Duration::from_secs(300);

/// The GCE metadata protocol over an `external_account` configuration (see the
/// [server module](crate::server) for what it serves).
#[derive(Debug)]
pub struct MetadataServer {
    listener: TcpListener,
    addr: SocketAddr,
    handler: Arc<GceHandler>,
    options: ServerOptions,
}

/// Builds a [`MetadataServer`].
#[derive(Debug, Default)]
#[must_use]
pub struct MetadataServerBuilder {
    config: Option<ExternalAccountConfig>,
    ctx: Option<Context>,
    listen: Option<SocketAddr>,
    project_id: Option<String>,
    numeric_project_id: Option<String>,
    email: Option<String>,
    persist: Option<(FileCache, CacheKey)>,
    options: Option<ServerOptions>,
}

impl MetadataServer {
    /// A builder.
    pub fn builder() -> MetadataServerBuilder {
        MetadataServerBuilder::default()
    }

    /// The address it listens on.
    pub fn local_addr(&self) -> SocketAddr {
        self.addr
    }

    /// `127.0.0.1:PORT`: the value of `GCE_METADATA_HOST`.
    pub fn host(&self) -> String {
        self.addr.to_string()
    }

    /// Fetches the configured token now (a misconfiguration or an unreachable upstream is an
    /// error here rather than on the first request).
    pub async fn prefetch(&self) -> Result<(), Error> {
        self.handler.base.cache().prefetch().await
    }

    /// Serves until `shutdown` completes, then lets open requests finish.
    pub async fn run(self, shutdown: impl std::future::Future<Output = ()>) -> std::io::Result<()> {
        let _keepers = Keepers::spawn(
            self.handler.persist.as_ref(),
            self.handler.persisted_caches(),
        );
        serve(self.listener, self.handler, self.options, shutdown).await
    }
}

impl MetadataServerBuilder {
    /// The `external_account` configuration tokens come from (required).
    pub fn config(mut self, config: ExternalAccountConfig) -> Self {
        self.config = Some(config);
        self
    }

    /// The context of the credentials (clock, environment, HTTP client).
    pub fn context(mut self, ctx: Context) -> Self {
        self.ctx = Some(ctx);
        self
    }

    /// Where to listen (default `127.0.0.1:0`); another than loopback is logged at WARN.
    pub fn listen(mut self, addr: SocketAddr) -> Self {
        self.listen = Some(addr);
        self
    }

    /// `project/project-id` (default: the configuration's `quota_project_id`; else 404).
    pub fn project_id(mut self, project: impl Into<String>) -> Self {
        self.project_id = Some(project.into());
        self
    }

    /// `project/numeric-project-id` (default: the project number in the pool provider's
    /// audience).
    pub fn numeric_project_id(mut self, number: impl Into<String>) -> Self {
        self.numeric_project_id = Some(number.into());
        self
    }

    /// The account's `email` (default: the impersonated service account; without one,
    /// `PROJECT_ID.svc.id.goog` as GKE answers for a federated principal, else `default`).
    pub fn email(mut self, email: impl Into<String>) -> Self {
        self.email = Some(email.into());
        self
    }

    /// Keeps the token of the configured scopes (and the federated token `identity` is asked
    /// with) in `files` under `key` and entries derived from it, and starts from what is
    /// there: a restarted server serves them without an STS or IAM call while more than
    /// [`PERSISTED_MIN_REMAINING`](super::PERSISTED_MIN_REMAINING) is left. Tokens for other
    /// scopes and identity tokens are not kept. The key must hash everything that determines
    /// the tokens (the configuration's contents, above all), as [`CacheKey`] says.
    pub fn persist(mut self, files: FileCache, key: CacheKey) -> Self {
        self.persist = Some((files, key));
        self
    }

    /// Limits and timeouts (default [`ServerOptions::default`] with `upstream_wait` 10 s: a
    /// first token for new scopes takes an STS and an IAM call, and Google clients wait longer
    /// than the AWS SDKs).
    pub fn options(mut self, options: ServerOptions) -> Self {
        self.options = Some(options);
        self
    }

    /// Checks the configuration (building the credentials) and binds the socket.
    pub async fn bind(self) -> Result<MetadataServer, Error> {
        let config = self.config.ok_or_else(|| {
            Error::config(
                "config",
                "the metadata server needs an external_account configuration",
            )
        })?;
        let ctx = self.ctx.unwrap_or_default();
        let base = ExternalAccountCredentials::builder()
            .context(ctx.clone())
            .config(config.clone())
            .build()?;
        // generateIdToken is called with the federated token, as google-auth's impersonated
        // IDTokenCredentials call it with their source credentials: the federated principal
        // holds the Token Creator role on the service account, not the account on itself.
        let federated = match base.service_account() {
            Some(_) => {
                let mut direct = config.clone();
                direct.service_account_impersonation_url = None;
                Some(
                    ExternalAccountCredentials::builder()
                        .context(ctx.clone())
                        .config(direct)
                        .build()?,
                )
            }
            None => None,
        };
        let project_id = self.project_id.or_else(|| config.quota_project_id.clone());
        let numeric_project_id = self
            .numeric_project_id
            .or_else(|| project_number(&config.audience));
        let email = self
            .email
            .or_else(|| base.service_account().map(str::to_owned))
            .or_else(|| project_id.as_ref().map(|p| format!("{p}.svc.id.goog")))
            .unwrap_or_else(|| "default".to_string());
        let iam_base = config
            .service_account_impersonation_url
            .as_deref()
            .and_then(|u| u.split_once("/projects/").map(|(b, _)| b.to_string()));
        let (listener, addr) = bind(self.listen, "Google tokens").await.map_err(|e| {
            Error::config("listen", format!("cannot listen on {:?}: {e}", self.listen))
        })?;
        let scopes_key = scope_key(base.scopes().iter().map(String::as_str));
        let options = self.options.unwrap_or(ServerOptions {
            upstream_wait: Duration::from_secs(10),
            ..ServerOptions::default()
        });
        let handler = GceHandler {
            ctx,
            config,
            base,
            federated,
            scopes_key,
            by_scopes: ArcSwap::from_pointee(HashMap::new()),
            id_tokens: Mutex::new(HashMap::new()),
            adding: Mutex::new(()),
            project_id,
            numeric_project_id,
            email,
            iam_base,
            addr,
            upstream_wait: options.upstream_wait,
            persist: self.persist,
            counts: StatusCounts::default(),
        };
        seed_all(handler.persist.as_ref(), handler.persisted_caches());
        Ok(MetadataServer {
            listener,
            addr,
            handler: Arc::new(handler),
            options,
        })
    }
}

/// The project number in `//iam.googleapis.com/projects/NUMBER/locations/...`.
fn project_number(audience: &str) -> Option<String> {
    let rest = audience.split("/projects/").nth(1)?;
    let number = rest.split('/').next()?;
    (!number.is_empty() && number.bytes().all(|b| b.is_ascii_digit())).then(|| number.to_string())
}

fn scope_key<'a>(scopes: impl IntoIterator<Item = &'a str>) -> Vec<String> {
    let mut key: Vec<String> = scopes
        .into_iter()
        .map(str::trim)
        .filter(|s| !s.is_empty())
        .map(str::to_owned)
        .collect();
    key.sort_unstable();
    key.dedup();
    key
}

#[derive(Debug)]
struct GceHandler {
    ctx: Context,
    config: ExternalAccountConfig,
    base: ExternalAccountCredentials,
    /// Without impersonation, for generateIdToken; `None` when nothing is impersonated.
    federated: Option<ExternalAccountCredentials>,
    scopes_key: Vec<String>,
    by_scopes: ArcSwap<HashMap<Vec<String>, ExternalAccountCredentials>>,
    id_tokens: Mutex<HashMap<(String, bool), SubjectToken>>,
    adding: Mutex<()>,
    project_id: Option<String>,
    numeric_project_id: Option<String>,
    email: String,
    iam_base: Option<String>,
    addr: SocketAddr,
    upstream_wait: Duration,
    persist: Option<(FileCache, CacheKey)>,
    counts: StatusCounts,
}

impl GceHandler {
    /// The caches kept on disk with [`MetadataServerBuilder::persist`], by entry label.
    fn persisted_caches(&self) -> impl Iterator<Item = Labelled<'_, AccessToken>> {
        std::iter::once((None, self.base.cache())).chain(
            self.federated
                .iter()
                .map(|f| (Some("federated"), f.cache())),
        )
    }
}

fn text(status: StatusCode, body: impl Into<bytes::Bytes>) -> Response<Body> {
    flavored(respond(status, "application/text", body))
}

fn json_body(body: String) -> Response<Body> {
    flavored(respond(StatusCode::OK, "application/json", body))
}

fn flavored(mut response: Response<Body>) -> Response<Body> {
    response.headers_mut().insert(
        "metadata-flavor",
        hyper::header::HeaderValue::from_static("Google"),
    );
    response
}

fn not_found(what: &str) -> Response<Body> {
    text(StatusCode::NOT_FOUND, format!("{what}\n"))
}

fn query_param(request: &Request<Incoming>, name: &str) -> Option<String> {
    let query = request.uri().query()?;
    url::form_urlencoded::parse(query.as_bytes())
        .find(|(k, _)| k == name)
        .map(|(_, v)| v.into_owned())
}

impl GceHandler {
    /// The real server's checks: flavor header, no forwarding, a known Host.
    fn refuse(&self, request: &Request<Incoming>) -> Option<Response<Body>> {
        let headers = request.headers();
        if headers.contains_key("x-forwarded-for") {
            return Some(text(
                StatusCode::FORBIDDEN,
                "Request denied: X-Forwarded-For is not allowed (a proxy forwarding another caller)\n",
            ));
        }
        if let Some(host) = headers
            .get(hyper::header::HOST)
            .and_then(|h| h.to_str().ok())
        {
            let name = host.rsplit_once(':').map_or(host, |(n, _)| n);
            let own = host == self.addr.to_string()
                || (self.addr.ip().is_loopback()
                    && matches!(name, "localhost" | "127.0.0.1" | "[::1]"));
            let metadata = matches!(
                name,
                "metadata.google.internal" | "metadata" | "169.254.169.254"
            );
            if !own && !metadata {
                return Some(text(
                    StatusCode::FORBIDDEN,
                    "Request denied: unknown Host (DNS rebinding protection)\n",
                ));
            }
        }
        let path = request.uri().path();
        if path != "/" && path.starts_with("/computeMetadata") {
            let flavor = headers.get("metadata-flavor").and_then(|v| v.to_str().ok());
            if flavor != Some("Google") {
                return Some(text(
                    StatusCode::FORBIDDEN,
                    "Missing required header: Metadata-Flavor: Google\n",
                ));
            }
        }
        None
    }

    /// The credentials for `scopes` (the configured ones when empty).
    fn credentials_for(&self, scopes: &[String]) -> Result<ExternalAccountCredentials, Error> {
        let key = scope_key(scopes.iter().map(String::as_str));
        if key.is_empty() || key == self.scopes_key {
            return Ok(self.base.clone());
        }
        if let Some(found) = self.by_scopes.load().get(&key) {
            return Ok(found.clone());
        }
        let _adding = self.adding.lock().unwrap_or_else(PoisonError::into_inner);
        let current = self.by_scopes.load_full();
        if let Some(found) = current.get(&key) {
            return Ok(found.clone());
        }
        if current.len() >= MAX_CACHED_SETS {
            return Err(Error::config(
                "scopes",
                format!(
                    "more than {MAX_CACHED_SETS} scope sets requested from this metadata server"
                ),
            ));
        }
        let made = ExternalAccountCredentials::builder()
            .context(self.ctx.clone())
            .config(self.config.clone())
            .scopes(key.clone())
            .build()?;
        let mut next = HashMap::clone(&current);
        next.insert(key, made.clone());
        self.by_scopes.store(Arc::new(next));
        Ok(made)
    }

    async fn token(&self, request: &Request<Incoming>) -> Response<Body> {
        let scopes: Vec<String> = query_param(request, "scopes")
            .map(|s| s.split(',').map(str::to_owned).collect())
            .unwrap_or_default();
        let credentials = match self.credentials_for(&scopes) {
            Ok(c) => c,
            Err(e) => return text(StatusCode::BAD_REQUEST, format!("{e}\n")),
        };
        match self.upstream(credentials.access_token()).await {
            Ok(token) => json_body(token_json(&token, self.ctx.now())),
            Err(response) => response,
        }
    }

    async fn identity(&self, request: &Request<Incoming>) -> Response<Body> {
        let Some(audience) = query_param(request, "audience").filter(|a| !a.trim().is_empty())
        else {
            return text(
                StatusCode::BAD_REQUEST,
                "non-empty audience parameter required\n",
            );
        };
        let (Some(service_account), Some(federated)) = (
            self.base.service_account().map(str::to_owned),
            &self.federated,
        ) else {
            return not_found(
                "identity tokens need a service account: this configuration has no service_account_impersonation_url (federated principals cannot get Google ID tokens)",
            );
        };
        let full = query_param(request, "format").as_deref() == Some("full");
        let now = self.ctx.now();
        let key = (audience.clone(), full);
        if let Some(token) = self
            .id_tokens
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .get(&key)
            .filter(|t| t.expires_at().is_some_and(|at| at > now + ID_TOKEN_REUSE))
        {
            return text(StatusCode::OK, token.token().expose_secret().to_owned());
        }
        let mut generate = GenerateIdToken::new(service_account, audience).include_email(full);
        if let Some(base) = &self.iam_base {
            generate = generate.base_url(base.clone());
        }
        let source = federated.id_token_source(generate);
        match self.upstream(source.subject_token(&self.ctx)).await {
            Ok(token) => {
                let body = token.token().expose_secret().to_owned();
                let mut cache = self
                    .id_tokens
                    .lock()
                    .unwrap_or_else(PoisonError::into_inner);
                if cache.len() >= MAX_CACHED_SETS {
                    cache.clear();
                }
                cache.insert(key, token);
                text(StatusCode::OK, body)
            }
            Err(response) => response,
        }
    }

    /// Waits for `fetch` at most the upstream wait; a failure is a 503 naming it.
    async fn upstream<T>(
        &self,
        fetch: impl std::future::Future<Output = Result<T, Error>>,
    ) -> Result<T, Response<Body>> {
        let wait = self.upstream_wait;
        match tokio::time::timeout(wait, fetch).await {
            Ok(Ok(value)) => Ok(value),
            Ok(Err(e)) => Err(text(
                StatusCode::SERVICE_UNAVAILABLE,
                format!("no valid Google token to serve: {e}\n"),
            )),
            Err(_) => Err(text(
                StatusCode::SERVICE_UNAVAILABLE,
                format!(
                    "the token fetch is taking longer than {} ms; retry\n",
                    wait.as_millis()
                ),
            )),
        }
    }

    fn account(&self, rest: &str, request: &Request<Incoming>) -> Response<Body> {
        let scopes = self.base.scopes().join("\n");
        match rest {
            "" if query_param(request, "recursive").as_deref() == Some("true") => json_body(
                serde_json::json!({
                    "aliases": ["default"],
                    "email": self.email,
                    "scopes": self.base.scopes(),
                })
                .to_string(),
            ),
            "" => text(StatusCode::OK, "aliases\nemail\nidentity\nscopes\ntoken\n"),
            "email" => text(StatusCode::OK, self.email.clone()),
            "aliases" => text(StatusCode::OK, "default\n"),
            "scopes" => text(StatusCode::OK, format!("{scopes}\n")),
            _ => not_found("not found"),
        }
    }
}

/// The metadata server's token answer: `access_token`, `expires_in` (seconds left),
/// `token_type`.
fn token_json(token: &AccessToken, now: SystemTime) -> String {
    let expires_in = token
        .expires_at()
        .and_then(|at| at.duration_since(now).ok())
        .map_or(0, |d| d.as_secs());
    serde_json::json!({
        "access_token": token.token().expose_secret(),
        "expires_in": expires_in,
        "token_type": "Bearer",
    })
    .to_string()
}

#[async_trait]
impl Handler for GceHandler {
    async fn handle(&self, request: Request<Incoming>) -> Response<Body> {
        if let Some(refused) = self.refuse(&request) {
            return refused;
        }
        if request.method() != Method::GET {
            return text(StatusCode::METHOD_NOT_ALLOWED, "only GET is served\n");
        }
        let path = request.uri().path().to_string();
        let Some(rest) = path.strip_prefix("/computeMetadata/v1/") else {
            return match path.as_str() {
                "/" => text(StatusCode::OK, "computeMetadata/\n"),
                "/healthz" => text(StatusCode::OK, "ok\n"),
                "/readyz" => match self.base.cache().metrics().expires_at {
                    Some(at) if at > self.ctx.now() => text(StatusCode::OK, "ready\n"),
                    _ => text(
                        StatusCode::SERVICE_UNAVAILABLE,
                        "no valid token cached yet\n",
                    ),
                },
                "/metrics" => {
                    let mut out = String::with_capacity(2048);
                    render_cache_metrics(&[(None, self.base.cache().metrics())], &mut out);
                    self.counts.render("federated_credentials_server", &mut out);
                    flavored(respond(StatusCode::OK, "text/plain; version=0.0.4", out))
                }
                "/computeMetadata/v1" | "/computeMetadata/" => text(StatusCode::OK, "v1/\n"),
                _ => not_found("not found"),
            };
        };
        match rest {
            "" => text(StatusCode::OK, "instance/\nproject/\nuniverse/\n"),
            "instance/" => text(StatusCode::OK, "service-accounts/\n"),
            "instance/service-accounts/" => {
                text(StatusCode::OK, format!("default/\n{}/\n", self.email))
            }
            "project/project-id" => match &self.project_id {
                Some(p) => text(StatusCode::OK, p.clone()),
                None => not_found("no project id: pass --project-id (or set quota_project_id)"),
            },
            "project/numeric-project-id" => match &self.numeric_project_id {
                Some(p) => text(StatusCode::OK, p.clone()),
                None => not_found("no numeric project id: pass --numeric-project-id"),
            },
            "universe/universe-domain" => {
                text(StatusCode::OK, self.base.universe_domain().to_string())
            }
            _ => {
                let Some(account_path) = rest.strip_prefix("instance/service-accounts/") else {
                    return not_found("not found");
                };
                let (account, rest) = account_path.split_once('/').unwrap_or((account_path, ""));
                if account != "default" && account != self.email {
                    return not_found("no such service account");
                }
                match rest {
                    "token" => self.token(&request).await,
                    "identity" => self.identity(&request).await,
                    _ => self.account(rest, &request),
                }
            }
        }
    }

    fn counts(&self) -> &StatusCounts {
        &self.counts
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_project_number_comes_from_the_audience() {
        assert_eq!(
            project_number("//iam.googleapis.com/projects/123456/locations/global/workloadIdentityPools/p/providers/x")
                .as_deref(),
            Some("123456")
        );
        assert_eq!(
            project_number("//iam.googleapis.com/locations/global/workforcePools/p"),
            None
        );
        assert_eq!(project_number("//iam.googleapis.com/projects/abc/x"), None);
    }
}
