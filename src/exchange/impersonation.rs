//! Google IAM Credentials: service-account impersonation (`generateAccessToken`) on top of a
//! federated token, and Google-signed ID tokens (`generateIdToken`) for a workload that is
//! itself federated into Google and needs an OIDC token, for example to assume an AWS role.

use std::time::{Duration, SystemTime};
use tracing::Instrument;

use async_trait::async_trait;
use reqwest::Method;
use serde::Deserialize;
use url::Url;

use super::{Exchange, validate_google_url};
use crate::context::{CallSettings, Context};
use crate::error::{Error, ErrorKind, Service, sanitize_upstream_text};
use crate::http::{HttpRequest, HttpResponse, RetryPolicy, send_with_retries};
use crate::token::{AccessToken, SubjectToken, TokenType, format_rfc3339, parse_rfc3339};

/// The default IAM Credentials API base.
pub const DEFAULT_IAM_CREDENTIALS_BASE: &str = "https://iamcredentials.googleapis.com/v1";

/// Extracts the service account from a `.../serviceAccounts/{SA}:generateAccessToken` URL.
pub fn service_account_from_url(url: &str) -> Option<String> {
    let tail = url.rsplit('/').next()?;
    let sa = tail.strip_suffix(":generateAccessToken")?;
    let sa = url::form_urlencoded::parse(format!("x={sa}").as_bytes())
        .next()
        .map(|(_, v)| v.into_owned())?;
    (!sa.is_empty()).then_some(sa)
}

/// `generateAccessToken`: trades a federated token for a service account's access token.
///
/// ```
/// use federated_credentials::context::Context;
/// use federated_credentials::exchange::{Exchange, ServiceAccountImpersonation};
/// use std::time::Duration;
/// let imp = ServiceAccountImpersonation::new(
///     "https://iamcredentials.googleapis.com/v1/projects/-/serviceAccounts/app@p.iam.gserviceaccount.com:generateAccessToken",
/// )
/// .lifetime(Duration::from_secs(3600))
/// .scopes(["https://www.googleapis.com/auth/cloud-platform"]);
/// imp.validate(&Context::default())?; // checked without I/O
/// # Ok::<(), federated_credentials::Error>(())
/// ```
#[derive(Debug, Clone)]
pub struct ServiceAccountImpersonation {
    url: String,
    scopes: Vec<String>,
    lifetime: Option<Duration>,
    delegates: Vec<String>,
    /// Set by `attempt_timeout`/`retry_policy`; the rest comes from the context.
    call: CallSettings,
}

impl ServiceAccountImpersonation {
    /// Impersonation through `url` (the config's `service_account_impersonation_url`),
    /// asking for the cloud-platform scope. The URL must end in
    /// `/serviceAccounts/EMAIL:generateAccessToken`.
    pub fn new(url: impl Into<String>) -> Self {
        Self {
            url: url.into(),
            scopes: vec![super::google_sts::CLOUD_PLATFORM_SCOPE.to_string()],
            lifetime: None,
            delegates: Vec::new(),
            call: CallSettings::new(),
        }
    }

    /// The scopes of the service account token (required, non-empty).
    pub fn scopes(mut self, scopes: impl IntoIterator<Item = impl Into<String>>) -> Self {
        self.scopes = scopes.into_iter().map(Into::into).collect();
        self
    }

    /// The token lifetime, 600–43200 s (above 3600 s needs the
    /// `iam.allowServiceAccountCredentialLifetimeExtension` org policy). Default: IAM's 3600 s.
    pub fn lifetime(mut self, lifetime: Duration) -> Self {
        self.lifetime = Some(lifetime);
        self
    }

    /// Delegation chain (`projects/-/serviceAccounts/EMAIL`, or plain emails, which are
    /// expanded to that form).
    pub fn delegates(mut self, delegates: impl IntoIterator<Item = impl Into<String>>) -> Self {
        self.delegates = delegates.into_iter().map(Into::into).collect();
        self
    }

    /// The timeout of one attempt (default 10 s).
    pub fn attempt_timeout(mut self, timeout: Duration) -> Self {
        self.call = self.call.attempt_timeout(timeout);
        self
    }

    /// The retry policy (default: 3 attempts on 408/429/5xx and transport errors, 200 ms–3 s
    /// backoff, 30 s deadline).
    pub fn retry_policy(mut self, policy: RetryPolicy) -> Self {
        self.call = self.call.retry_policy(policy);
        self
    }

    /// The impersonated service account, from the URL.
    pub fn service_account(&self) -> Option<String> {
        service_account_from_url(&self.url)
    }

    fn check(&self) -> Result<Url, Error> {
        let url = validate_google_url("service_account_impersonation_url", &self.url)?;
        if self.service_account().is_none() {
            return Err(Error::config(
                "service_account_impersonation_url",
                "must end in /serviceAccounts/EMAIL:generateAccessToken",
            ));
        }
        if self.scopes.is_empty() || self.scopes.iter().any(|s| s.trim().is_empty()) {
            return Err(Error::config(
                "scopes",
                "impersonation needs at least one scope",
            ));
        }
        if let Some(l) = self.lifetime
            && (l.subsec_nanos() != 0 || !(600..=43200).contains(&l.as_secs()))
        {
            return Err(Error::config(
                "service_account_impersonation.token_lifetime_seconds",
                format!("{} is out of range: 600 to 43200 seconds", l.as_secs_f64()),
            ));
        }
        Ok(url)
    }
}

#[async_trait]
impl Exchange<AccessToken> for ServiceAccountImpersonation {
    type Output = AccessToken;

    async fn exchange(&self, ctx: &Context, federated: &AccessToken) -> Result<AccessToken, Error> {
        let url = self.check()?;
        let mut body = serde_json::json!({ "scope": self.scopes });
        if let Some(l) = self.lifetime {
            body["lifetime"] = serde_json::Value::String(format!("{}s", l.as_secs()));
        }
        if !self.delegates.is_empty() {
            body["delegates"] = serde_json::json!(qualified_delegates(&self.delegates));
        }
        let request = HttpRequest::new(
            Service::IamCredentials,
            "impersonating the service account (generateAccessToken)",
            Method::POST,
            url,
            ctx.resolve_call(Service::IamCredentials, self.call)
                .attempt_timeout,
        )
        .secret_header("authorization", &federated.authorization_header())?
        .json_body(&body);
        let sa = self.service_account().unwrap_or_default();
        let span = tracing::debug_span!("iam_generate_access_token", service_account = %sa);
        let retry = ctx.resolve_call(Service::IamCredentials, self.call).retry;
        send_with_retries(ctx, &retry, &request, |response, _| {
            if response.status != 200 {
                return Err(rpc_error(&response, &sa));
            }
            let token = parse_access_token(&response.body)?;
            reject_expired("generateAccessToken", token.expires_at(), ctx.now())?;
            Ok(token)
        })
        .instrument(span)
        .await
    }

    fn validate(&self, _ctx: &Context) -> Result<(), Error> {
        self.check().map(|_| ())
    }
}

fn qualified_delegates(delegates: &[String]) -> Vec<String> {
    delegates
        .iter()
        .map(|d| {
            if d.starts_with("projects/") {
                d.clone()
            } else {
                format!("projects/-/serviceAccounts/{d}")
            }
        })
        .collect()
}

/// An `Expired` error when a token IAM just issued is already past its expiry by our clock
/// (a clock skewed by an hour or more, since tokens live an hour).
fn reject_expired(
    method: &str,
    expires_at: Option<SystemTime>,
    now: SystemTime,
) -> Result<(), Error> {
    match expires_at {
        Some(at) if at <= now => Err(Error::new(
            ErrorKind::Expired,
            Service::IamCredentials,
            format!(
                "{method} returned a token that expired at {} (now {}); check this machine's clock",
                format_rfc3339(at),
                format_rfc3339(now)
            ),
        )),
        _ => Ok(()),
    }
}

/// Reads a `generateAccessToken` success body (`accessToken`, `expireTime`).
pub(crate) fn parse_access_token(body: &[u8]) -> Result<AccessToken, Error> {
    #[derive(Deserialize)]
    #[serde(rename_all = "camelCase")]
    struct Body {
        access_token: Option<String>,
        expire_time: Option<String>,
    }
    let invalid = |what: &str| {
        Error::new(
            ErrorKind::InvalidResponse,
            Service::IamCredentials,
            format!("generateAccessToken answered HTTP 200 but {what}"),
        )
    };
    let body: Body =
        serde_json::from_slice(body).map_err(|_| invalid("the body is not a JSON object"))?;
    let token = body
        .access_token
        .filter(|t| !t.is_empty())
        .ok_or_else(|| invalid("accessToken is missing"))?;
    let expire = body
        .expire_time
        .ok_or_else(|| invalid("expireTime is missing"))?;
    let expires_at = parse_rfc3339(&expire).ok_or_else(|| {
        invalid(&format!(
            "expireTime `{}` is not RFC 3339",
            sanitize_upstream_text(&expire, 40)
        ))
    })?;
    Ok(AccessToken::new(token, Some(expires_at)))
}

/// Reads a `generateIdToken` success body (`token`, a JWT whose `exp` becomes the expiry).
pub(crate) fn parse_id_token(body: &[u8]) -> Result<SubjectToken, Error> {
    #[derive(Deserialize)]
    struct Body {
        token: Option<String>,
    }
    let invalid = |what: &str| {
        Error::new(
            ErrorKind::InvalidResponse,
            Service::IamCredentials,
            format!("generateIdToken answered HTTP 200 but {what}"),
        )
    };
    let body: Body =
        serde_json::from_slice(body).map_err(|_| invalid("the body is not a JSON object"))?;
    let jwt = body
        .token
        .filter(|t| !t.is_empty())
        .ok_or_else(|| invalid("token is missing"))?;
    let claims = crate::jwt::decode_unverified(&jwt)
        .map_err(|e| invalid(&format!("the token is not a JWT ({e})")))?;
    let mut token = SubjectToken::new(jwt, TokenType::Jwt);
    if let Some(exp) = claims.expires_at() {
        token = token.with_expiry(exp);
    }
    Ok(token)
}

/// Turns a `google.rpc.Status` error body into an [`Error`].
pub(crate) fn rpc_error(response: &HttpResponse, service_account: &str) -> Error {
    #[derive(Deserialize)]
    struct Envelope {
        error: Status,
    }
    #[derive(Deserialize)]
    struct Status {
        message: Option<String>,
        status: Option<String>,
        #[serde(default)]
        details: Vec<serde_json::Value>,
    }
    match serde_json::from_slice::<Envelope>(&response.body) {
        Ok(Envelope { error }) => {
            let status = error
                .status
                .unwrap_or_else(|| format!("HTTP_{}", response.status));
            let reason = error
                .details
                .iter()
                .find_map(|d| d.get("reason").and_then(|r| r.as_str()))
                .map(|r| format!(" [{r}]"))
                .unwrap_or_default();
            let hint = match status.as_str() {
                "PERMISSION_DENIED" => format!(". Grant the federated principal roles/iam.workloadIdentityUser (or roles/iam.serviceAccountTokenCreator) on {service_account}"),
                "NOT_FOUND" => format!(". The service account {service_account} does not exist"),
                "UNAUTHENTICATED" => ". The federated token was rejected; it may have expired".to_string(),
                "INVALID_ARGUMENT" => ". Check the scopes and lifetime (over 3600 s needs the lifetime-extension org policy)".to_string(),
                _ => String::new(),
            };
            response
                .error(
                    ErrorKind::Upstream,
                    Service::IamCredentials,
                    format!(
                        "{}{reason}{hint}",
                        sanitize_upstream_text(
                            error.message.as_deref().unwrap_or("(no message)"),
                            500
                        )
                    ),
                )
                .with_upstream_code(status)
        }
        Err(_) => response.error(
            if response.is_transient_status() {
                ErrorKind::Upstream
            } else {
                ErrorKind::InvalidResponse
            },
            Service::IamCredentials,
            format!(
                "answered HTTP {}: {}",
                response.status,
                sanitize_upstream_text(&response.body_text(), 200)
            ),
        ),
    }
}

/// `generateIdToken`: a Google-signed OIDC ID token for a service account, from a token that
/// may act as it. The result is a [`SubjectToken`] (a JWT) with its expiry, ready for AWS STS.
///
/// ```
/// use federated_credentials::context::Context;
/// use federated_credentials::exchange::{Exchange, GenerateIdToken};
/// let id = GenerateIdToken::new("app@p.iam.gserviceaccount.com", "sts.amazonaws.com").include_email(true);
/// id.validate(&Context::default())?; // checked without I/O
/// # Ok::<(), federated_credentials::Error>(())
/// ```
///
/// With [`ExternalAccountCredentials::id_token_source`](crate::google::ExternalAccountCredentials::id_token_source),
/// an AWS workload federated into Google gets ID tokens for that service account.
#[derive(Debug, Clone)]
pub struct GenerateIdToken {
    service_account: String,
    audience: String,
    include_email: bool,
    delegates: Vec<String>,
    /// `None`: the universe's (`https://iamcredentials.{universe}/v1`, googleapis.com unless
    /// the credentials it is used with say otherwise).
    base_url: Option<String>,
    /// Set by `attempt_timeout`/`retry_policy`; the rest comes from the context.
    call: CallSettings,
}

impl GenerateIdToken {
    /// Uses the IAM Credentials endpoint of `universe_domain` unless a base URL was set.
    pub(crate) fn in_universe(mut self, universe_domain: &str) -> Self {
        if self.base_url.is_none() && universe_domain != "googleapis.com" {
            self.base_url = Some(format!("https://iamcredentials.{universe_domain}/v1"));
        }
        self
    }

    /// An ID token for `service_account` (an email or unique id) with `aud` = `audience`.
    pub fn new(service_account: impl Into<String>, audience: impl Into<String>) -> Self {
        Self {
            service_account: service_account.into(),
            audience: audience.into(),
            include_email: false,
            delegates: Vec::new(),
            base_url: None,
            call: CallSettings::new(),
        }
    }

    /// Adds `email` and `email_verified` claims (default: not).
    pub fn include_email(mut self, include: bool) -> Self {
        self.include_email = include;
        self
    }

    /// Delegation chain (`projects/-/serviceAccounts/EMAIL`, or plain emails, which are
    /// expanded to that form).
    pub fn delegates(mut self, delegates: impl IntoIterator<Item = impl Into<String>>) -> Self {
        self.delegates = delegates.into_iter().map(Into::into).collect();
        self
    }

    /// The IAM Credentials API base URL: `https`, or plain `http` for loopback hosts only
    /// (emulators). Default: `https://iamcredentials.{universe_domain}/v1` of the credentials
    /// it is used with ([`DEFAULT_IAM_CREDENTIALS_BASE`] in the public universe).
    pub fn base_url(mut self, base: impl Into<String>) -> Self {
        self.base_url = Some(base.into());
        self
    }

    /// The timeout of one attempt (default 10 s).
    pub fn attempt_timeout(mut self, timeout: Duration) -> Self {
        self.call = self.call.attempt_timeout(timeout);
        self
    }

    /// The retry policy (default: 3 attempts on 408/429/5xx and transport errors, 200 ms–3 s
    /// backoff, 30 s deadline).
    pub fn retry_policy(mut self, policy: RetryPolicy) -> Self {
        self.call = self.call.retry_policy(policy);
        self
    }

    pub(crate) fn url(&self) -> Result<Url, Error> {
        if self.audience.trim().is_empty() {
            return Err(Error::config("audience", "is required for generateIdToken"));
        }
        if self.service_account.is_empty() || self.service_account.contains(['/', ':', '?', '#']) {
            return Err(Error::config(
                "service_account",
                "must be a service account email or unique id",
            ));
        }
        let base = self
            .base_url
            .as_deref()
            .unwrap_or(DEFAULT_IAM_CREDENTIALS_BASE)
            .trim_end_matches('/');
        validate_google_url(
            "iam_credentials_url",
            &format!(
                "{base}/projects/-/serviceAccounts/{}:generateIdToken",
                self.service_account
            ),
        )
    }
}

#[async_trait]
impl Exchange<AccessToken> for GenerateIdToken {
    type Output = SubjectToken;

    async fn exchange(&self, ctx: &Context, caller: &AccessToken) -> Result<SubjectToken, Error> {
        let url = self.url()?;
        let mut body =
            serde_json::json!({ "audience": self.audience, "includeEmail": self.include_email });
        if !self.delegates.is_empty() {
            body["delegates"] = serde_json::json!(qualified_delegates(&self.delegates));
        }
        let request = HttpRequest::new(
            Service::IamCredentials,
            "getting an ID token (generateIdToken)",
            Method::POST,
            url,
            ctx.resolve_call(Service::IamCredentials, self.call)
                .attempt_timeout,
        )
        .secret_header("authorization", &caller.authorization_header())?
        .json_body(&body);
        let retry = ctx.resolve_call(Service::IamCredentials, self.call).retry;
        send_with_retries(ctx, &retry, &request, |response, _| {
            if response.status != 200 {
                return Err(rpc_error(&response, &self.service_account));
            }
            let token = parse_id_token(&response.body)?;
            reject_expired("generateIdToken", token.expires_at(), ctx.now())?;
            Ok(token)
        })
        .await
    }

    fn validate(&self, _ctx: &Context) -> Result<(), Error> {
        self.url().map(|_| ())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const URL: &str = "https://iamcredentials.googleapis.com/v1/projects/-/serviceAccounts/app@p.iam.gserviceaccount.com:generateAccessToken";

    fn response(status: u16, body: &str) -> HttpResponse {
        HttpResponse::with_body(status, body)
    }

    #[test]
    fn lifetime_and_scopes_are_validated() {
        assert!(ServiceAccountImpersonation::new(URL).check().is_ok());
        for secs in [599, 43201] {
            let err = ServiceAccountImpersonation::new(URL)
                .lifetime(Duration::from_secs(secs))
                .check()
                .unwrap_err();
            assert!(
                err.message()
                    .starts_with("service_account_impersonation.token_lifetime_seconds"),
                "{err}"
            );
        }
        assert!(
            ServiceAccountImpersonation::new(URL)
                .lifetime(Duration::from_secs(43200))
                .check()
                .is_ok()
        );
        assert!(
            ServiceAccountImpersonation::new(URL)
                .scopes(Vec::<String>::new())
                .check()
                .is_err()
        );
        assert!(
            ServiceAccountImpersonation::new("https://iamcredentials.googleapis.com/v1/x")
                .check()
                .is_err()
        );
        assert!(
            ServiceAccountImpersonation::new(URL.replace("https", "http"))
                .check()
                .is_err()
        );
    }

    #[test]
    fn documented_settings_validate() {
        let ctx = Context::default();
        let sa = "app@my-project.iam.gserviceaccount.com";
        let url = format!(
            "{DEFAULT_IAM_CREDENTIALS_BASE}/projects/-/serviceAccounts/{sa}:generateAccessToken"
        );
        assert_eq!(service_account_from_url(&url).as_deref(), Some(sa));
        assert_eq!(
            service_account_from_url(
                "https://iamcredentials.googleapis.com/v1/projects/-/serviceAccounts/app@p.iam.gserviceaccount.com:generateAccessToken"
            ),
            Some("app@p.iam.gserviceaccount.com".to_string())
        );
        assert_eq!(service_account_from_url("https://example.com/token"), None);
        let imp = ServiceAccountImpersonation::new(url.as_str());
        assert_eq!(imp.service_account().as_deref(), Some(sa));
        imp.validate(&ctx).unwrap();
        assert!(
            ServiceAccountImpersonation::new("https://iamcredentials.googleapis.com/v1/token")
                .validate(&ctx)
                .is_err()
        );
        ServiceAccountImpersonation::new(url.as_str())
            .scopes(["https://www.googleapis.com/auth/bigquery.readonly"])
            .validate(&ctx)
            .unwrap();
        let none: [&str; 0] = [];
        assert!(
            ServiceAccountImpersonation::new(url.as_str())
                .scopes(none)
                .validate(&ctx)
                .is_err()
        );
        ServiceAccountImpersonation::new(url.as_str())
            .lifetime(Duration::from_secs(1800))
            .validate(&ctx)
            .unwrap();
        assert!(
            ServiceAccountImpersonation::new(url.as_str())
                .lifetime(Duration::from_secs(60))
                .validate(&ctx)
                .is_err()
        );
        ServiceAccountImpersonation::new(url.as_str())
            .delegates(["hop@my-project.iam.gserviceaccount.com"])
            .validate(&ctx)
            .unwrap();
        let id = GenerateIdToken::new(sa, "sts.amazonaws.com");
        id.validate(&ctx).unwrap();
        assert!(GenerateIdToken::new(sa, "").validate(&ctx).is_err());
        id.clone()
            .base_url("http://127.0.0.1:8081/v1")
            .validate(&ctx)
            .unwrap();
        assert!(
            id.base_url("http://iam.example.com/v1")
                .validate(&ctx)
                .is_err()
        );
    }

    #[test]
    fn rpc_errors_are_typed() {
        let body = r#"{"error":{"code":403,"message":"Permission 'iam.serviceAccounts.getAccessToken' denied","status":"PERMISSION_DENIED","details":[{"@type":"type.googleapis.com/google.rpc.ErrorInfo","reason":"IAM_PERMISSION_DENIED"}]}}"#;
        let err = rpc_error(&response(403, body), "app@p");
        assert_eq!(err.upstream_code(), Some("PERMISSION_DENIED"));
        assert!(err.message().contains("[IAM_PERMISSION_DENIED]"), "{err}");
        assert!(
            err.message().contains("roles/iam.workloadIdentityUser"),
            "{err}"
        );
        assert!(!err.is_transient());
        let err = rpc_error(
            &response(
                503,
                r#"{"error":{"code":503,"message":"x","status":"UNAVAILABLE"}}"#,
            ),
            "a",
        );
        assert!(err.is_transient());
        let err = rpc_error(&response(502, "<html>bad gateway</html>"), "a");
        assert!(err.is_transient());
        assert_eq!(err.http_status(), Some(502));
    }

    #[test]
    fn delegates_are_qualified() {
        assert_eq!(
            qualified_delegates(&[
                "a@p.iam.gserviceaccount.com".into(),
                "projects/-/serviceAccounts/b@p".into()
            ]),
            vec![
                "projects/-/serviceAccounts/a@p.iam.gserviceaccount.com",
                "projects/-/serviceAccounts/b@p"
            ]
        );
    }

    #[test]
    fn id_token_url() {
        let u = GenerateIdToken::new("sa@p.iam.gserviceaccount.com", "aud")
            .url()
            .unwrap();
        assert_eq!(
            u.as_str(),
            "https://iamcredentials.googleapis.com/v1/projects/-/serviceAccounts/sa@p.iam.gserviceaccount.com:generateIdToken"
        );
        assert!(GenerateIdToken::new("sa", "").url().is_err());
        assert!(GenerateIdToken::new("../x", "a").url().is_err());
    }

    /// Regression (fault matrix, expired credential and clock skew): an access token whose
    /// expireTime had already passed was handed out as if valid.
    #[test]
    fn expired_tokens_are_rejected_with_a_clock_hint() {
        let body = br#"{"accessToken":"ya29.x","expireTime":"2027-01-15T08:00:00Z"}"#;
        let token = parse_access_token(body).unwrap();
        let exp = token.expires_at().unwrap();
        let err = reject_expired("generateAccessToken", Some(exp), exp).unwrap_err();
        assert_eq!(err.kind(), ErrorKind::Expired);
        assert_eq!(err.service(), Service::IamCredentials);
        assert!(err.message().contains("clock"), "{err}");
        assert!(!err.message().contains("ya29"), "{err}");
        assert!(
            reject_expired(
                "generateAccessToken",
                Some(exp),
                exp - Duration::from_secs(1)
            )
            .is_ok()
        );
        assert!(reject_expired("generateIdToken", None, exp).is_ok());
    }
}
