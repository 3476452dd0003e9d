//! [`GcpMetadataIdentityToken`]: a Google-signed OIDC identity token from the GCE/GKE metadata
//! server (`instance/service-accounts/{sa}/identity`), the identity a Google Cloud workload
//! presents to AWS STS.

use std::time::Duration;
use tracing::Instrument;

use async_trait::async_trait;
use reqwest::Method;
use url::Url;

use crate::context::{CallSettings, Context};
use crate::error::{Error, ErrorKind, Service, sanitize_upstream_text};
use crate::http::{HttpRequest, HttpResponse, RetryPolicy, with_retries};
use crate::source::SubjectTokenSource;
use crate::token::{SubjectToken, TokenType, format_rfc3339};

/// The metadata server's host when `GCE_METADATA_HOST` is not set.
pub const DEFAULT_METADATA_HOST: &str = "metadata.google.internal";

/// The `format` of the identity token.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum IdTokenFormat {
    /// The standard claims (`iss`, `aud`, `azp`, `sub`, `email`, `iat`, `exp`).
    #[default]
    Standard,
    /// Adds the `google.compute_engine` block (project, zone, instance).
    Full,
}

impl IdTokenFormat {
    fn as_str(&self) -> &'static str {
        match self {
            IdTokenFormat::Standard => "standard",
            IdTokenFormat::Full => "full",
        }
    }
}

/// An OIDC identity token from the GCE/GKE metadata server.
///
/// The host is, in order: [`metadata_host`](Self::metadata_host), `GCE_METADATA_HOST`,
/// `GCE_METADATA_ROOT` (legacy), then `metadata.google.internal`. Requests send
/// `Metadata-Flavor: Google`, bypass any proxy, and answers without that header are rejected
/// (they did not come from a metadata server). 429 and 5xx are retried; each attempt has a
/// 3 s timeout and the whole fetch a 10 s deadline by default.
///
/// ```
/// use federated_credentials::source::{GcpMetadataIdentityToken, IdTokenFormat, SubjectTokenSource};
/// let source = GcpMetadataIdentityToken::new("sts.amazonaws.com")
///     .format(IdTokenFormat::Full)
///     .service_account("app@my-project.iam.gserviceaccount.com");
/// source.validate()?; // checked without I/O; fetching needs a VM or GKE pod
/// # Ok::<(), federated_credentials::Error>(())
/// ```
#[derive(Debug, Clone)]
pub struct GcpMetadataIdentityToken {
    audience: String,
    format: IdTokenFormat,
    licenses: bool,
    service_account: String,
    metadata_host: Option<String>,
    /// Set by `attempt_timeout`/`retry_policy`; the rest comes from the context.
    call: CallSettings,
}

impl GcpMetadataIdentityToken {
    /// A token for `audience` (required: the `aud` claim the receiver checks; for AWS, the
    /// value of the role trust policy's `accounts.google.com:oaud` condition).
    pub fn new(audience: impl Into<String>) -> Self {
        Self {
            audience: audience.into(),
            format: IdTokenFormat::Standard,
            licenses: false,
            service_account: "default".to_string(),
            metadata_host: None,
            call: CallSettings::new(),
        }
    }

    /// `standard` (default) or `full`.
    pub fn format(mut self, format: IdTokenFormat) -> Self {
        self.format = format;
        self
    }

    /// Adds license codes (only with [`IdTokenFormat::Full`]).
    pub fn licenses(mut self, licenses: bool) -> Self {
        self.licenses = licenses;
        self
    }

    /// The service account to act as: `default` (the default) or an email attached to the
    /// instance.
    pub fn service_account(mut self, email_or_default: impl Into<String>) -> Self {
        self.service_account = email_or_default.into();
        self
    }

    /// The metadata server's `host[:port]`, overriding `GCE_METADATA_HOST`.
    pub fn metadata_host(mut self, host: impl Into<String>) -> Self {
        self.metadata_host = Some(host.into());
        self
    }

    /// The timeout of each attempt (default 3 s).
    pub fn attempt_timeout(mut self, timeout: Duration) -> Self {
        self.call = self.call.attempt_timeout(timeout);
        self
    }

    /// The retry policy (default: 4 attempts, 100 ms–1 s backoff, 10 s deadline).
    pub fn retry_policy(mut self, policy: RetryPolicy) -> Self {
        self.call = self.call.retry_policy(policy);
        self
    }

    /// The audience requested.
    pub fn audience(&self) -> &str {
        &self.audience
    }

    fn host(&self, ctx: &Context) -> String {
        let raw = self
            .metadata_host
            .clone()
            .or_else(|| ctx.env().get_non_empty("GCE_METADATA_HOST"))
            .or_else(|| ctx.env().get_non_empty("GCE_METADATA_ROOT"))
            .unwrap_or_else(|| DEFAULT_METADATA_HOST.to_string());
        let raw = raw.trim();
        // Be lenient: people write `http://host:port` although the convention is no scheme.
        raw.strip_prefix("http://")
            .unwrap_or(raw)
            .trim_end_matches('/')
            .to_string()
    }

    fn url(&self, host: &str) -> Result<Url, Error> {
        let mut url = Url::parse(&format!("http://{host}/computeMetadata/v1/")).map_err(|_| {
            Error::config(
                "GCE_METADATA_HOST",
                format!("`{host}` is not a valid host[:port]"),
            )
        })?;
        url.path_segments_mut()
            .map_err(|_| Error::config("GCE_METADATA_HOST", "cannot hold a path"))?
            .pop_if_empty()
            .extend([
                "instance",
                "service-accounts",
                &self.service_account,
                "identity",
            ]);
        {
            let mut q = url.query_pairs_mut();
            q.append_pair("audience", &self.audience);
            q.append_pair("format", self.format.as_str());
            if self.licenses {
                q.append_pair("licenses", "TRUE");
            }
        }
        Ok(url)
    }

    fn classify(
        &self,
        host: &str,
        response: HttpResponse,
        ctx: &Context,
    ) -> Result<SubjectToken, Error> {
        let flavor_ok = response
            .header("metadata-flavor")
            .is_some_and(|v| v.eq_ignore_ascii_case("google"));
        if !flavor_ok {
            return Err(Error::new(
                ErrorKind::InvalidResponse,
                Service::GcpMetadata,
                format!(
                    "the answer from {host} (HTTP {}) lacks the `Metadata-Flavor: Google` header, so it is not from a metadata server; check GCE_METADATA_HOST and that no proxy intercepts the request",
                    response.status
                ),
            )
            .with_http_status(response.status));
        }
        let status = response.status;
        if status != 200 {
            let body = sanitize_upstream_text(&response.body_text(), 200);
            let (kind, hint) = match status {
                400 => (ErrorKind::Configuration, "the request was rejected; check the audience".to_string()),
                403 => (ErrorKind::Upstream, "access forbidden; on GKE check that Workload Identity is enabled for this node pool and the Kubernetes service account is bound to a Google service account".to_string()),
                404 => (ErrorKind::Configuration, format!("service account `{}` is not attached to this instance; check service_account (or attach one to the VM)", self.service_account)),
                _ => (ErrorKind::Upstream, "the metadata server failed".to_string()),
            };
            return Err(response.error(kind, Service::GcpMetadata, format!("{hint}: {body}")));
        }
        let jwt = response.body_text().trim().to_string();
        let claims = crate::jwt::decode_unverified(&jwt).map_err(|e| {
            Error::new(
                ErrorKind::InvalidResponse,
                Service::GcpMetadata,
                format!("the identity endpoint returned something that is not a JWT ({e})"),
            )
            .with_source(e)
        })?;
        let mut token = SubjectToken::new(jwt, TokenType::Jwt);
        if let Some(exp) = claims.expires_at() {
            if exp <= ctx.now() {
                return Err(Error::new(
                    ErrorKind::Expired,
                    Service::GcpMetadata,
                    format!(
                        "the identity token is already expired (exp {}); check the clock of this machine",
                        format_rfc3339(exp)
                    ),
                )
                .with_transient(true));
            }
            token = token.with_expiry(exp);
        }
        Ok(token)
    }
}

#[async_trait]
impl SubjectTokenSource for GcpMetadataIdentityToken {
    async fn subject_token(&self, ctx: &Context) -> Result<SubjectToken, Error> {
        self.validate()?;
        let host = self.host(ctx);
        let url = self.url(&host)?;
        let request = HttpRequest::new(
            Service::GcpMetadata,
            "fetching the identity token",
            Method::GET,
            url,
            ctx.resolve_call(Service::GcpMetadata, self.call)
                .attempt_timeout,
        )
        .header("metadata-flavor", "Google")?
        .direct();
        let span = tracing::debug_span!("gcp_metadata_identity", host = %host, service_account = %self.service_account);
        with_retries(ctx, &ctx.resolve_call(Service::GcpMetadata, self.call).retry, Service::GcpMetadata, "fetching the identity token", |attempt| {
            let request = &request;
            let host = &host;
            async move {
                tracing::debug!(attempt, "metadata identity request");
                match ctx.http().send(request).await {
                    Ok(response) => self.classify(host, response, ctx),
                    Err(e) if e.kind() == ErrorKind::Transport => Err(e.context(format!(
                        "metadata server at {host} unreachable; outside Google Cloud set GCE_METADATA_HOST or use another token source"
                    ))),
                    Err(e) => Err(e),
                }
            }
        })
        .instrument(span)
        .await
    }

    fn name(&self) -> &'static str {
        "gcp-metadata"
    }

    fn validate(&self) -> Result<(), Error> {
        if self.audience.trim().is_empty() {
            return Err(Error::config(
                "audience",
                "is required for a metadata identity token (e.g. sts.amazonaws.com, matched by the role's accounts.google.com:oaud condition)",
            ));
        }
        if self.service_account.is_empty() || self.service_account.contains(['/', '?', '#', ' ']) {
            return Err(Error::config(
                "service_account",
                "must be `default` or a service account email",
            ));
        }
        if self.licenses && self.format != IdTokenFormat::Full {
            return Err(Error::config(
                "licenses",
                "only has an effect with format=full",
            ));
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::context::StaticEnv;

    #[test]
    fn url_encodes_audience_and_options() {
        let s = GcpMetadataIdentityToken::new("https://x/y?z")
            .format(IdTokenFormat::Full)
            .licenses(true)
            .service_account("a@b.iam.gserviceaccount.com");
        let url = s.url("127.0.0.1:8080").unwrap();
        assert_eq!(
            url.as_str(),
            "http://127.0.0.1:8080/computeMetadata/v1/instance/service-accounts/a@b.iam.gserviceaccount.com/identity?audience=https%3A%2F%2Fx%2Fy%3Fz&format=full&licenses=TRUE"
        );
    }

    #[test]
    fn host_precedence_and_leniency() {
        let s = GcpMetadataIdentityToken::new("a");
        let ctx =
            |pairs: Vec<(&str, &str)>| Context::builder().env(StaticEnv::from_pairs(pairs)).build();
        assert_eq!(s.host(&ctx(vec![])), DEFAULT_METADATA_HOST);
        assert_eq!(
            s.host(&ctx(vec![("GCE_METADATA_ROOT", "legacy:1")])),
            "legacy:1"
        );
        assert_eq!(
            s.host(&ctx(vec![
                ("GCE_METADATA_HOST", "http://10.0.0.1:80/"),
                ("GCE_METADATA_ROOT", "x")
            ])),
            "10.0.0.1:80"
        );
        assert_eq!(
            s.clone()
                .metadata_host("m:1")
                .host(&ctx(vec![("GCE_METADATA_HOST", "h")])),
            "m:1"
        );
        assert!(s.url("bad host").is_err());
    }

    #[test]
    fn documented_settings_validate() {
        assert_eq!(DEFAULT_METADATA_HOST, "metadata.google.internal");
        assert_eq!(IdTokenFormat::default(), IdTokenFormat::Standard);
        let source = GcpMetadataIdentityToken::new("sts.amazonaws.com");
        assert_eq!(source.audience(), "sts.amazonaws.com");
        source.validate().unwrap();
        let err = GcpMetadataIdentityToken::new(" ").validate().unwrap_err();
        assert!(err.message().starts_with("audience: is required"), "{err}");
        let full = GcpMetadataIdentityToken::new("sts.amazonaws.com").format(IdTokenFormat::Full);
        full.validate().unwrap();
        full.licenses(true).validate().unwrap();
        let standard = GcpMetadataIdentityToken::new("sts.amazonaws.com").licenses(true);
        assert!(
            standard
                .validate()
                .unwrap_err()
                .message()
                .starts_with("licenses")
        );
        GcpMetadataIdentityToken::new("sts.amazonaws.com")
            .service_account("batch@my-project.iam.gserviceaccount.com")
            .validate()
            .unwrap();
        let bad = GcpMetadataIdentityToken::new("sts.amazonaws.com").service_account("a/b");
        assert!(
            bad.validate()
                .unwrap_err()
                .message()
                .starts_with("service_account")
        );
        GcpMetadataIdentityToken::new("sts.amazonaws.com")
            .attempt_timeout(Duration::from_millis(300))
            .retry_policy(RetryPolicy::new(2).deadline(Duration::from_secs(1)))
            .validate()
            .unwrap();
        let policy = RetryPolicy::new(6)
            .backoff(Duration::from_millis(200), Duration::from_secs(2))
            .deadline(Duration::from_secs(20));
        assert_eq!(
            (policy.max_attempts(), policy.deadline_duration()),
            (6, Duration::from_secs(20))
        );
        GcpMetadataIdentityToken::new("sts.amazonaws.com")
            .retry_policy(policy)
            .validate()
            .unwrap();
    }

    #[tokio::test]
    async fn an_explicit_metadata_host_is_the_one_tried() {
        let port = std::net::TcpListener::bind("127.0.0.1:0")
            .unwrap()
            .local_addr()
            .unwrap()
            .port();
        // Nothing listens there: the error names the host that was tried, which is the
        // explicit one even though GCE_METADATA_HOST is set.
        let host = format!("127.0.0.1:{port}");
        let ctx = Context::builder()
            .env(StaticEnv::from_pairs([(
                "GCE_METADATA_HOST",
                "10.0.0.1:8080",
            )]))
            .build();
        let source = GcpMetadataIdentityToken::new("sts.amazonaws.com").metadata_host(&host);
        let err = source.subject_token(&ctx).await.unwrap_err();
        assert_eq!(err.kind(), ErrorKind::Transport);
        assert!(err.to_string().contains(&host), "{err}");
    }

    #[test]
    fn validation_names_fields() {
        assert!(
            GcpMetadataIdentityToken::new(" ")
                .validate()
                .unwrap_err()
                .message()
                .starts_with("audience")
        );
        assert!(
            GcpMetadataIdentityToken::new("a")
                .service_account("../x")
                .validate()
                .is_err()
        );
        assert!(
            GcpMetadataIdentityToken::new("a")
                .licenses(true)
                .validate()
                .is_err()
        );
    }
}
