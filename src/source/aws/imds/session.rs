//! The IMDSv2 session token: fetched with a `PUT`, cached until 120 s before its TTL ends,
//! shared by every metadata `GET`, and dropped when IMDS answers 401.

use std::time::{Duration, SystemTime};

use reqwest::Method;
use url::Url;

use super::{Ec2InstanceMetadata, transport_hint};
use crate::context::Context;
use crate::error::{Error, ErrorKind, Service, sanitize_upstream_text};
use crate::http::{HttpRequest, HttpResponse, with_retries};
use crate::secret::SecretString;

/// The request header naming the TTL; IMDS echoes it in the answer.
pub(super) const TTL_HEADER: &str = "x-aws-ec2-metadata-token-ttl-seconds";

/// The header carrying the session token on metadata requests.
pub(super) const TOKEN_HEADER: &str = "x-aws-ec2-metadata-token";

/// A token is replaced this long before IMDS would stop accepting it (as aws-config does).
pub(super) const REFRESH_MARGIN: Duration = Duration::from_secs(120);

const STEP: &str = "requesting an IMDSv2 session token";

/// A session token and when to stop using it.
#[derive(Debug, Clone)]
pub(super) struct SessionToken {
    pub(super) value: SecretString,
    pub(super) refresh_at: SystemTime,
}

impl Ec2InstanceMetadata {
    /// The cached session token, or a new one. One `PUT` at a time: concurrent callers wait
    /// for it and share the result.
    pub(super) async fn session_token(
        &self,
        ctx: &Context,
        url: &Url,
    ) -> Result<SecretString, Error> {
        let mut cached = self.inner.session.lock().await;
        if let Some(token) = cached.as_ref().filter(|t| ctx.now() < t.refresh_at) {
            return Ok(token.value.clone());
        }
        *cached = None;
        let token = self.fetch_session_token(ctx, url).await?;
        let value = token.value.clone();
        *cached = Some(token);
        Ok(value)
    }

    /// Forgets `rejected` (unless a newer token has replaced it already).
    pub(super) async fn drop_session_token(&self, rejected: &SecretString) {
        let mut cached = self.inner.session.lock().await;
        if cached.as_ref().is_some_and(|t| &t.value == rejected) {
            *cached = None;
        }
    }

    async fn fetch_session_token(&self, ctx: &Context, url: &Url) -> Result<SessionToken, Error> {
        let ttl = self.inner.config.token_ttl.as_secs().clamp(1, 21600);
        let request = HttpRequest::new(
            Service::AwsImds,
            STEP,
            Method::PUT,
            url.clone(),
            ctx.resolve_call(Service::AwsImds, self.inner.config.call)
                .attempt_timeout,
        )
        .header(TTL_HEADER, &ttl.to_string())?
        .direct();
        let retry = ctx
            .resolve_call(Service::AwsImds, self.inner.config.call)
            .retry;
        let response = with_retries(ctx, &retry, Service::AwsImds, STEP, |_| {
            let request = &request;
            async move {
                match ctx.http().send(request).await {
                    Ok(r) if r.is_transient_status() => Err(token_error(&r, url)),
                    Ok(r) => Ok(r),
                    Err(e) => Err(transport_hint(e, true)),
                }
            }
        })
        .await?;
        if response.status != 200 {
            return Err(token_error(&response, url));
        }
        let value = response.body_text().trim().to_string();
        if value.is_empty() || value.chars().any(|c| c.is_control()) {
            return Err(Error::new(
                ErrorKind::InvalidResponse,
                Service::AwsImds,
                format!(
                    "{url} answered the session token request with an empty or malformed token; is it a real IMDS?"
                ),
            ));
        }
        // IMDS echoes the TTL it granted; trust it when present and plausible.
        let granted = response
            .header(TTL_HEADER)
            .and_then(|v| v.trim().parse::<u64>().ok())
            .filter(|&t| (1..=21600).contains(&t))
            .unwrap_or(ttl);
        let refresh_at = ctx.now() + Duration::from_secs(granted).saturating_sub(REFRESH_MARGIN);
        tracing::debug!(ttl = granted, "IMDSv2 session token obtained");
        Ok(SessionToken {
            value: SecretString::new(value),
            refresh_at,
        })
    }
}

/// The error for a non-200 answer to the token `PUT`.
fn token_error(response: &HttpResponse, url: &Url) -> Error {
    let status = response.status;
    let (kind, text) = match status {
        400 => (
            ErrorKind::InvalidResponse,
            format!("IMDS rejected the session token request as malformed (HTTP 400: TTL header missing or invalid) at {url}"),
        ),
        403 => (
            ErrorKind::Upstream,
            "IMDS refused a session token (HTTP 403): the instance metadata service is disabled for this instance or token requests are not allowed; enable it (aws ec2 modify-instance-metadata-options --http-endpoint enabled) and never send the request through a proxy".to_string(),
        ),
        404 | 405 => (
            ErrorKind::NotAvailable,
            format!("IMDSv2 not supported by the metadata endpoint {url} (HTTP {status}); use IMDSv1 (leave imdsv2_session_token_url out of the credential configuration) or point it at a real EC2 metadata service"),
        ),
        _ => {
            let body = sanitize_upstream_text(&response.body_text(), 200);
            let text = if body.is_empty() {
                format!("the session token request to {url} failed")
            } else {
                format!("the session token request to {url} failed: {body}")
            };
            (ErrorKind::Upstream, text)
        }
    };
    let mut err = Error::new(kind, Service::AwsImds, text)
        .with_http_status(status)
        .with_transient(response.is_transient_status());
    if let Some(after) = response.retry_after() {
        err = err.with_retry_after(after);
    }
    err
}
