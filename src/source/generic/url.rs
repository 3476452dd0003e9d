//! [`UrlToken`]: a subject token fetched with a `GET` from a URL with fixed headers, as in
//! `credential_source.url` (Azure IMDS, a GCE metadata identity URL, a sidecar).

use std::time::Duration;

use async_trait::async_trait;
use reqwest::Method;
use reqwest::header::{HeaderName, HeaderValue};
use url::Url;

use super::TokenFormat;
use crate::context::{CallSettings, Context};
use crate::error::{Error, ErrorKind, Service, redact_sent, sanitize_upstream_text};
use crate::http::{HttpRequest, RetryPolicy, send_with_retries};
use crate::source::SubjectTokenSource;
use crate::token::{SubjectToken, TokenType, format_rfc3339};

/// A token fetched from a URL on every refresh.
///
/// ```
/// use federated_credentials::source::{SubjectTokenSource, TokenFormat, UrlToken};
/// use federated_credentials::token::TokenType;
///
/// // Azure's instance metadata, as a `credential_source.url` with a JSON format.
/// let source = UrlToken::new("http://169.254.169.254/metadata/identity/oauth2/token?api-version=2018-02-01")
///     .header("Metadata", "True")
///     .format(TokenFormat::json("access_token"))
///     .token_type(TokenType::Jwt);
/// source.validate()?; // checked without any request
/// # Ok::<(), federated_credentials::Error>(())
/// ```
#[derive(Debug, Clone)]
pub struct UrlToken {
    url: String,
    headers: Vec<(String, String)>,
    format: TokenFormat,
    token_type: TokenType,
    /// Set by `attempt_timeout`/`retry_policy`; the rest comes from the context.
    call: CallSettings,
    /// The service errors and call settings name (another one for sources built on this).
    service: Service,
}

impl UrlToken {
    /// A text token (a JWT) from `url`.
    pub fn new(url: impl Into<String>) -> Self {
        Self {
            url: url.into(),
            headers: Vec::new(),
            format: TokenFormat::Text,
            token_type: TokenType::Jwt,
            call: CallSettings::new(),
            service: Service::UrlSource,
        }
    }

    /// Names `service` in errors and call settings, with `call` as its own settings (for
    /// sources built on this one).
    pub(crate) fn for_service(mut self, service: Service, call: CallSettings) -> Self {
        self.service = service;
        self.call = call;
        self
    }

    /// Adds a request header (sent exactly as given).
    pub fn header(mut self, name: impl Into<String>, value: impl Into<String>) -> Self {
        self.headers.push((name.into(), value.into()));
        self
    }

    /// How the response holds the token (default text).
    pub fn format(mut self, format: TokenFormat) -> Self {
        self.format = format;
        self
    }

    /// The token type (default [`TokenType::Jwt`]).
    pub fn token_type(mut self, token_type: TokenType) -> Self {
        self.token_type = token_type;
        self
    }

    /// The timeout of one attempt (default 5 s).
    pub fn attempt_timeout(mut self, timeout: Duration) -> Self {
        self.call = self.call.attempt_timeout(timeout);
        self
    }

    /// The retry policy (default: 3 attempts on 408/429/5xx, 100 ms–1 s backoff, 15 s
    /// deadline).
    pub fn retry_policy(mut self, policy: RetryPolicy) -> Self {
        self.call = self.call.retry_policy(policy);
        self
    }

    fn parsed_url(&self) -> Result<Url, Error> {
        let url = Url::parse(self.url.trim()).map_err(|e| {
            Error::config(
                "credential_source.url",
                format!("`{}` is not a valid URL ({e})", self.url),
            )
        })?;
        if !matches!(url.scheme(), "http" | "https") || url.host_str().is_none() {
            return Err(Error::config(
                "credential_source.url",
                "must be an http(s) URL with a host",
            ));
        }
        Ok(url)
    }

    fn request(&self, attempt_timeout: Duration) -> Result<HttpRequest, Error> {
        let mut request = HttpRequest::new(
            self.service,
            "fetching the subject token",
            Method::GET,
            self.parsed_url()?,
            attempt_timeout,
        );
        for (name, value) in &self.headers {
            let name = HeaderName::from_bytes(name.as_bytes()).map_err(|_| {
                Error::config(
                    "credential_source.headers",
                    format!("`{name}` is not a valid header name"),
                )
            })?;
            let mut value = HeaderValue::from_str(value).map_err(|_| {
                Error::config(
                    "credential_source.headers",
                    format!("the value of `{name}` contains control characters"),
                )
            })?;
            // Header values may be credentials (an API key for a sidecar): never log them.
            value.set_sensitive(true);
            request.headers.append(name, value);
        }
        Ok(request)
    }
}

#[async_trait]
impl SubjectTokenSource for UrlToken {
    async fn subject_token(&self, ctx: &Context) -> Result<SubjectToken, Error> {
        let call = ctx.resolve_call(self.service, self.call);
        let request = self.request(call.attempt_timeout)?;
        let raw = send_with_retries(ctx, &call.retry, &request, |response, _| {
            if response.status != 200 {
                return Err(response.error(
                    ErrorKind::Upstream,
                    self.service,
                    format!(
                        "{} answered HTTP {}: {}",
                        request.describe(),
                        response.status,
                        redact_sent(
                            sanitize_upstream_text(&response.body_text(), 200),
                            self.headers.iter().map(|(_, v)| v.as_str())
                        )
                    ),
                ));
            }
            String::from_utf8(response.body).map_err(|_| {
                Error::new(
                    ErrorKind::InvalidResponse,
                    self.service,
                    "the response is not UTF-8 text",
                )
            })
        })
        .await?;
        let token = self.format.extract(&raw).map_err(|problem| {
            Error::new(
                ErrorKind::InvalidResponse,
                self.service,
                format!("the response of {} {problem}", request.describe()),
            )
        })?;
        if token.is_empty() {
            return Err(Error::new(
                ErrorKind::InvalidResponse,
                self.service,
                format!("{} returned an empty token", request.describe()),
            ));
        }
        let is_jwt = matches!(self.token_type, TokenType::Jwt | TokenType::IdToken);
        if is_jwt && !is_compact_jwt(&token) {
            // An HTML error page or some other document served with 200: say so here rather
            // than let Google STS reject it as an invalid grant.
            return Err(Error::new(
                ErrorKind::InvalidResponse,
                self.service,
                format!(
                    "the response of {} is not a JWT (expected header.payload.signature); check credential_source.url, format and subject_token_type",
                    request.describe()
                ),
            ));
        }
        let mut subject = SubjectToken::new(token, self.token_type);
        if is_jwt && let Some(exp) = subject.jwt_exp() {
            let now = ctx.now();
            if exp <= now {
                return Err(Error::new(
                        ErrorKind::Expired,
                        self.service,
                        format!(
                            "{} returned a token that expired at {} (now {}); check this machine's clock and the token issuer",
                            request.describe(),
                            format_rfc3339(exp),
                            format_rfc3339(now)
                        ),
                    )
                    .with_transient(true));
            }
            subject = subject.with_expiry(exp);
        }
        Ok(subject)
    }

    fn name(&self) -> &'static str {
        "url"
    }

    fn validate(&self) -> Result<(), Error> {
        self.format.validate()?;
        // Only the URL and headers are checked; the timeout is not.
        self.request(Duration::ZERO).map(|_| ())
    }
}

/// Whether `token` has the shape of a compact JWS (`header.payload.signature`, the signature
/// possibly empty) or JWE (five parts): base64url segments separated by dots.
fn is_compact_jwt(token: &str) -> bool {
    let parts: Vec<&str> = token.split('.').collect();
    matches!(parts.len(), 3 | 5)
        && !parts[0].is_empty()
        && !parts[1].is_empty()
        && parts.iter().all(|p| {
            p.bytes()
                .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'-' | b'_' | b'='))
        })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn validation_names_fields() {
        assert!(UrlToken::new("http://x/").validate().is_ok());
        assert!(
            UrlToken::new("file:///etc/passwd")
                .validate()
                .unwrap_err()
                .message()
                .starts_with("credential_source.url")
        );
        assert!(UrlToken::new("nope").validate().is_err());
        let err = UrlToken::new("http://x/")
            .header("Bad Name", "v")
            .validate()
            .unwrap_err();
        assert!(err.message().starts_with("credential_source.headers"));
        let err = UrlToken::new("http://x/")
            .header("X-Ok", "a\r\nInjected: 1")
            .validate()
            .unwrap_err();
        assert!(err.message().starts_with("credential_source.headers"));
        assert!(
            UrlToken::new("http://x/")
                .format(TokenFormat::json(""))
                .validate()
                .is_err()
        );
    }

    #[test]
    fn documented_settings_validate() {
        let err = UrlToken::new("file:///var/run/token")
            .validate()
            .unwrap_err();
        assert_eq!(
            err.message(),
            "credential_source.url: must be an http(s) URL with a host"
        );
        let local = "http://127.0.0.1:8080/token";
        UrlToken::new(local)
            .header("Authorization", "Bearer sidecar-key")
            .validate()
            .unwrap();
        UrlToken::new(local)
            .format(TokenFormat::json("id_token"))
            .validate()
            .unwrap();
        assert!(
            UrlToken::new(local)
                .format(TokenFormat::json(""))
                .validate()
                .unwrap_err()
                .message()
                .starts_with("format.subject_token_field_name")
        );
        UrlToken::new("http://127.0.0.1:8080/oauth/token")
            .format(TokenFormat::json("access_token"))
            .token_type(TokenType::AccessToken)
            .validate()
            .unwrap();
        UrlToken::new(local)
            .attempt_timeout(Duration::from_millis(500))
            .retry_policy(RetryPolicy::new(2).deadline(Duration::from_secs(2)))
            .validate()
            .unwrap();
        UrlToken::new(local)
            .retry_policy(RetryPolicy::never())
            .validate()
            .unwrap();
    }

    #[test]
    fn header_values_are_sensitive_in_debug() {
        let r = UrlToken::new("http://x/")
            .header("Authorization", "Bearer topsecret")
            .request(Duration::from_secs(1))
            .unwrap();
        assert!(!format!("{r:?}").contains("topsecret"));
    }

    /// Regression (fault matrix, garbage bodies): an HTML error page served with 200 was
    /// taken as the subject token.
    #[test]
    fn only_compact_jwts_pass_as_jwt_tokens() {
        assert!(is_compact_jwt("eyJhbGciOiJSUzI1NiJ9.eyJzdWIiOiIxIn0.c2ln"));
        assert!(is_compact_jwt("eyJhbGciOiJub25lIn0.eyJzdWIiOiIxIn0."));
        assert!(is_compact_jwt("a.b.c.d.e"));
        for bad in [
            "<html><body>502 Bad Gateway</body></html>",
            r#"{"unexpected": true}"#,
            "a.b",
            ".b.c",
            "a b.c.d",
            "",
        ] {
            assert!(!is_compact_jwt(bad), "{bad}");
        }
    }
}
