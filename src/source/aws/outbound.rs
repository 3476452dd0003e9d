//! [`OutboundWebIdentityToken`]: an OIDC token for the workload's own AWS identity, from AWS
//! STS `GetWebIdentityToken` ("IAM outbound identity federation"): a SigV4-signed form POST to
//! a **regional** STS endpoint with the identity of any [`AwsIdentitySource`] (the `aws1`
//! chain on every AWS platform). The JWT's `sub` is the caller's role ARN and its issuer the
//! account's (`https://ID.tokens.sts.global.api.aws`), so it works with any OIDC relying party:
//! a Google workload identity pool provider (AWS → GCP without `aws4_request`), Microsoft Entra
//! ID, another AWS account.
//!
//! Wire (botocore 1.44.8's STS model): `Action=GetWebIdentityToken&Version=2011-06-15`,
//! `Audience.member.N` (1–10, each 1–1000 characters), `SigningAlgorithm` `RS256`|`ES384`
//! (required), `DurationSeconds` 60–3600 (default 300), `Tags.member.N.Key/Value` (at most 50);
//! answer `GetWebIdentityTokenResult/{WebIdentityToken, Expiration}`. Errors:
//! `OutboundWebIdentityFederationDisabledException` (403), `SessionDurationEscalationException`
//! (403: the token may not outlive the calling session), `JWTPayloadSizeExceededException` (400).

use std::sync::Arc;
use std::time::{Duration, SystemTime};

use async_trait::async_trait;
use aws_credential_types::Credentials;
use aws_sigv4::http_request::{SignableBody, SignableRequest, SigningSettings, sign};
use aws_sigv4::sign::v4;
use reqwest::Method;
use reqwest::header::{HeaderName, HeaderValue};
use url::Url;

use super::{AwsIdentitySource, check_region};
use crate::context::{CallSettings, Context};
use crate::error::{Error, ErrorKind, Service, sanitize_upstream_text};
use crate::exchange::aws_sts::parse_sts_error;
use crate::http::{HttpRequest, HttpResponse, RetryPolicy, send_with_retries};
use crate::source::SubjectTokenSource;
use crate::token::{SubjectToken, TokenType, format_rfc3339, parse_rfc3339};
use crate::xml::XmlLeaves;

/// The token lifetime STS uses when none is asked for.
pub const DEFAULT_TOKEN_DURATION: Duration = Duration::from_secs(300);
/// The shortest and longest lifetimes STS accepts.
const MIN_DURATION_SECS: u64 = 60;
const MAX_DURATION_SECS: u64 = 3600;
const MAX_AUDIENCES: usize = 10;
const MAX_TAGS: usize = 50;
const RESULT: &str = "GetWebIdentityTokenResponse/GetWebIdentityTokenResult";

/// How STS signs the token.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
#[non_exhaustive]
pub enum SigningAlgorithm {
    /// RSA with SHA-256 (what every relying party accepts; Entra ID accepts only this).
    #[default]
    Rs256,
    /// ECDSA on P-384 with SHA-384.
    Es384,
}

impl SigningAlgorithm {
    /// The wire value, `RS256` or `ES384`.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Rs256 => "RS256",
            Self::Es384 => "ES384",
        }
    }
}

/// An OIDC token for the caller's AWS identity from STS `GetWebIdentityToken`, fetched anew
/// on every refresh and never outliving the AWS session that signed for it.
///
/// Endpoint: `endpoint_url`, else `AWS_ENDPOINT_URL_STS`, else `AWS_ENDPOINT_URL`, else
/// `https://sts.REGION.amazonaws.com` (`.com.cn` in China) with the region from `region` or the
/// identity source; the global endpoint refuses the call, so it is refused here first.
///
/// ```
/// use federated_credentials::source::aws::{
///     AwsDefaultChain, OutboundWebIdentityToken, SigningAlgorithm,
/// };
///
/// let token = OutboundWebIdentityToken::new(AwsDefaultChain::default(), "api://AzureADTokenExchange")
///     .signing_algorithm(SigningAlgorithm::Rs256);
/// # let _ = token;
/// ```
#[derive(Debug, Clone)]
pub struct OutboundWebIdentityToken {
    identity: Arc<dyn AwsIdentitySource>,
    audiences: Vec<String>,
    algorithm: SigningAlgorithm,
    duration: Option<Duration>,
    tags: Vec<(String, String)>,
    region: Option<String>,
    endpoint: Option<String>,
    call: CallSettings,
}

impl OutboundWebIdentityToken {
    /// A token for `audience`, signed for with `identity`'s credentials.
    pub fn new(identity: impl AwsIdentitySource + 'static, audience: impl Into<String>) -> Self {
        Self::from_shared(Arc::new(identity), audience)
    }

    /// Like [`new`](Self::new) with an identity source that is shared.
    pub fn from_shared(identity: Arc<dyn AwsIdentitySource>, audience: impl Into<String>) -> Self {
        Self {
            identity,
            audiences: vec![audience.into()],
            algorithm: SigningAlgorithm::default(),
            duration: None,
            tags: Vec::new(),
            region: None,
            endpoint: None,
            call: CallSettings::new(),
        }
    }

    /// Adds another audience (the token's `aud` becomes a list; at most 10).
    pub fn audience(mut self, audience: impl Into<String>) -> Self {
        self.audiences.push(audience.into());
        self
    }

    /// The signing algorithm (default RS256).
    pub fn signing_algorithm(mut self, algorithm: SigningAlgorithm) -> Self {
        self.algorithm = algorithm;
        self
    }

    /// The token lifetime, 60 s–1 h (default [`DEFAULT_TOKEN_DURATION`]); shortened to what
    /// is left of the AWS session when that is less.
    pub fn duration(mut self, duration: Duration) -> Self {
        self.duration = Some(duration);
        self
    }

    /// A tag, which STS puts in the token's `https://sts.amazonaws.com/` claims.
    pub fn tag(mut self, key: impl Into<String>, value: impl Into<String>) -> Self {
        self.tags.push((key.into(), value.into()));
        self
    }

    /// The STS region (default: the identity source's region).
    pub fn region(mut self, region: impl Into<String>) -> Self {
        self.region = Some(region.into());
        self
    }

    /// A fixed STS endpoint URL.
    pub fn endpoint_url(mut self, url: impl Into<String>) -> Self {
        self.endpoint = Some(url.into());
        self
    }

    /// The timeout of one attempt.
    pub fn attempt_timeout(mut self, timeout: Duration) -> Self {
        self.call = self.call.attempt_timeout(timeout);
        self
    }

    /// The retry policy.
    pub fn retry_policy(mut self, policy: RetryPolicy) -> Self {
        self.call = self.call.retry_policy(policy);
        self
    }

    /// The endpoint and signing region for this fetch.
    async fn endpoint(&self, ctx: &Context) -> Result<(Url, String), Error> {
        let env = ctx.env();
        let region = match &self.region {
            Some(r) => check_region(r.trim().to_string(), "region")?,
            None => self.identity.region(ctx).await.map_err(|e| {
                e.context("GetWebIdentityToken needs a regional STS endpoint; set AWS_REGION or .region()")
            })?,
        };
        let explicit = [
            (self.endpoint.clone(), "endpoint_url"),
            (
                env.get_non_empty("AWS_ENDPOINT_URL_STS"),
                "AWS_ENDPOINT_URL_STS",
            ),
            (env.get_non_empty("AWS_ENDPOINT_URL"), "AWS_ENDPOINT_URL"),
        ]
        .into_iter()
        .find_map(|(v, name)| v.map(|v| (v.trim().to_string(), name)));
        let url = match explicit {
            Some((raw, setting)) => {
                let url = Url::parse(&raw)
                    .ok()
                    .filter(|u| matches!(u.scheme(), "http" | "https") && u.has_host())
                    .ok_or_else(|| {
                        Error::config(setting, format!("`{raw}` is not an http(s) URL"))
                    })?;
                if url
                    .host_str()
                    .is_some_and(|h| h.eq_ignore_ascii_case("sts.amazonaws.com"))
                {
                    return Err(Error::config(
                        setting,
                        "is the global STS endpoint, which does not offer GetWebIdentityToken; use a regional one (https://sts.REGION.amazonaws.com)",
                    ));
                }
                url
            }
            None => {
                let suffix = if region.starts_with("cn-") {
                    "amazonaws.com.cn"
                } else {
                    "amazonaws.com"
                };
                Url::parse(&format!("https://sts.{region}.{suffix}/"))
                    .map_err(|_| Error::config("region", "does not form a valid host"))?
            }
        };
        Ok((url, region))
    }

    /// The lifetime to ask for: the configured one, cut to what is left of the session.
    fn duration_for(&self, credentials: &Credentials, now: SystemTime) -> Result<u64, Error> {
        let wanted = self.duration.unwrap_or(DEFAULT_TOKEN_DURATION).as_secs();
        let Some(expiry) = credentials.expiry() else {
            return Ok(wanted);
        };
        let left = expiry.duration_since(now).unwrap_or_default().as_secs();
        if left >= wanted {
            return Ok(wanted);
        }
        if left < MIN_DURATION_SECS {
            return Err(Error::new(
                ErrorKind::Expired,
                Service::AwsSts,
                format!(
                    "the AWS credentials expire at {} ({left} s from now), too soon for a web identity token (at least {MIN_DURATION_SECS} s); they are refreshed before that, so retry",
                    format_rfc3339(expiry)
                ),
            )
            .with_transient(true));
        }
        tracing::debug!(
            wanted,
            left,
            "GetWebIdentityToken: lifetime cut to what is left of the AWS session"
        );
        Ok(left)
    }

    fn form(&self, duration_secs: u64) -> String {
        let mut pairs: Vec<(String, String)> = vec![
            ("Action".into(), "GetWebIdentityToken".into()),
            ("Version".into(), "2011-06-15".into()),
        ];
        for (i, audience) in self.audiences.iter().enumerate() {
            pairs.push((format!("Audience.member.{}", i + 1), audience.clone()));
        }
        pairs.push(("SigningAlgorithm".into(), self.algorithm.as_str().into()));
        pairs.push(("DurationSeconds".into(), duration_secs.to_string()));
        for (i, (key, value)) in self.tags.iter().enumerate() {
            pairs.push((format!("Tags.member.{}.Key", i + 1), key.clone()));
            pairs.push((format!("Tags.member.{}.Value", i + 1), value.clone()));
        }
        url::form_urlencoded::Serializer::new(String::new())
            .extend_pairs(&pairs)
            .finish()
    }

    fn parse_success(
        &self,
        response: &HttpResponse,
        now: SystemTime,
    ) -> Result<SubjectToken, Error> {
        let invalid = |what: &str| {
            Error::new(
                ErrorKind::InvalidResponse,
                Service::AwsSts,
                format!("GetWebIdentityToken answered HTTP 200 but {what}"),
            )
        };
        let doc = XmlLeaves::parse(&response.body)
            .filter(|d| d.root() == Some("GetWebIdentityTokenResponse"))
            .ok_or_else(|| invalid("the body is not a GetWebIdentityTokenResponse"))?;
        let jwt = doc
            .get(&format!("{RESULT}/WebIdentityToken"))
            .map(str::trim)
            .filter(|t| !t.is_empty())
            .ok_or_else(|| invalid("WebIdentityToken is missing"))?;
        let expiration = doc
            .get(&format!("{RESULT}/Expiration"))
            .and_then(|t| parse_rfc3339(t.trim()));
        let token = SubjectToken::new(jwt.to_string(), TokenType::Jwt);
        let expiry = match (token.jwt_exp(), expiration) {
            (Some(a), Some(b)) => a.min(b),
            (a, b) => a
                .or(b)
                .ok_or_else(|| invalid("the token has no exp and no Expiration"))?,
        };
        if expiry <= now {
            return Err(Error::new(
                ErrorKind::Expired,
                Service::AwsSts,
                format!(
                    "GetWebIdentityToken returned a token that expired at {} (now {}); check this machine's clock",
                    format_rfc3339(expiry),
                    format_rfc3339(now)
                ),
            )
            .with_transient(true));
        }
        Ok(token.with_expiry(expiry))
    }
}

/// The hint for an STS error code of this operation.
fn hint_for(code: &str) -> Option<String> {
    Some(match code {
        "OutboundWebIdentityFederationDisabledException" => "Outbound identity federation is off for this AWS account: enable it once (IAM console, Account settings, or `aws iam enable-outbound-web-identity-federation`); `aws iam get-outbound-web-identity-federation-info` then shows the account's issuer (IssuerIdentifier) for the relying party".to_string(),
        "SessionDurationEscalationException" => "The token would outlive the AWS session that asked for it; ask for a shorter duration (the crate already cuts it to the session's remaining lifetime, so the session's expiry is probably wrong)".to_string(),
        "JWTPayloadSizeExceededException" => "The token's claims are too large: pass fewer or shorter tags".to_string(),
        "AccessDenied" | "AccessDeniedException" => "The caller's policies must allow sts:GetWebIdentityToken (and sts:TagGetWebIdentityToken for tags)".to_string(),
        "InvalidClientTokenId" | "SignatureDoesNotMatch" | "ExpiredToken" => "The AWS credentials that signed the request were refused; check which identity the aws1 chain resolved and this machine's clock".to_string(),
        _ => return None,
    })
}

/// The signed request headers (`x-amz-date`, `x-amz-security-token`, `authorization`).
fn sign_request(
    url: &Url,
    region: &str,
    credentials: &Credentials,
    time: SystemTime,
    body: &[u8],
) -> Result<Vec<(&'static str, String)>, Error> {
    let failed = |what: &str, e: &dyn std::fmt::Display| {
        Error::new(
            ErrorKind::Configuration,
            Service::AwsCredentials,
            format!(
                "could not sign the GetWebIdentityToken request ({what}: {})",
                sanitize_upstream_text(&e.to_string(), 200)
            ),
        )
    };
    let host = match (url.host_str(), url.port()) {
        (Some(h), Some(p)) => format!("{h}:{p}"),
        (Some(h), None) => h.to_string(),
        _ => return Err(failed("URL", &"no host")),
    };
    let identity = credentials.clone().into();
    let params = v4::SigningParams::builder()
        .identity(&identity)
        .region(region)
        .name("sts")
        .time(time)
        .settings(SigningSettings::default())
        .build()
        .map_err(|e| failed("parameters", &e))?
        .into();
    let headers = [("host", host.as_str()), ("content-type", FORM_CONTENT_TYPE)];
    let request = SignableRequest::new(
        "POST",
        url.as_str(),
        headers.into_iter(),
        SignableBody::Bytes(body),
    )
    .map_err(|e| failed("URL", &e))?;
    let (instructions, _) = sign(request, &params)
        .map_err(|e| failed("signature", &e))?
        .into_parts();
    Ok(["x-amz-date", "x-amz-security-token", "authorization"]
        .into_iter()
        .filter_map(|name| {
            instructions
                .headers()
                .find(|(n, _)| n.eq_ignore_ascii_case(name))
                .map(|(_, v)| (name, v.to_string()))
        })
        .collect())
}

const FORM_CONTENT_TYPE: &str = "application/x-www-form-urlencoded; charset=utf-8";

#[async_trait]
impl SubjectTokenSource for OutboundWebIdentityToken {
    async fn subject_token(&self, ctx: &Context) -> Result<SubjectToken, Error> {
        self.validate()?;
        let credentials = self.identity.credentials(ctx).await?;
        let (url, region) = self.endpoint(ctx).await?;
        let duration_secs = self.duration_for(&credentials, ctx.now())?;
        let body = self.form(duration_secs);
        let call = ctx.resolve_call(Service::AwsSts, self.call);
        let signed = sign_request(&url, &region, &credentials, ctx.now(), body.as_bytes())?;
        let mut request = HttpRequest::new(
            Service::AwsSts,
            "fetching the web identity token (GetWebIdentityToken)",
            Method::POST,
            url,
            call.attempt_timeout,
        )
        .request_id_header("x-amzn-requestid");
        request.headers.insert(
            reqwest::header::CONTENT_TYPE,
            HeaderValue::from_static(FORM_CONTENT_TYPE),
        );
        for (name, value) in signed {
            let mut value = HeaderValue::from_str(&value).map_err(|_| {
                Error::config(
                    "AWS credentials",
                    "contain characters not allowed in an HTTP header",
                )
            })?;
            value.set_sensitive(name != "x-amz-date");
            request.headers.insert(HeaderName::from_static(name), value);
        }
        request.body = Some(body.into_bytes());
        tracing::debug!(identity = self.identity.name(), region = %region, duration_secs, "GetWebIdentityToken request");
        send_with_retries(ctx, &call.retry, &request, |response, requested_at| {
            if response.status != 200 {
                let sent = [
                    credentials.secret_access_key(),
                    credentials.session_token().unwrap_or_default(),
                ];
                return Err(parse_sts_error(
                    &response,
                    "GetWebIdentityToken",
                    &sent,
                    hint_for,
                ));
            }
            self.parse_success(&response, requested_at)
        })
        .await
    }

    fn name(&self) -> &'static str {
        "aws-web-identity-token"
    }

    fn validate(&self) -> Result<(), Error> {
        if self.audiences.is_empty() || self.audiences.len() > MAX_AUDIENCES {
            return Err(Error::config(
                "audience",
                format!("1 to {MAX_AUDIENCES} audiences are required"),
            ));
        }
        if let Some(bad) = self
            .audiences
            .iter()
            .find(|a| a.is_empty() || a.chars().count() > 1000)
        {
            return Err(Error::config(
                "audience",
                format!(
                    "`{}` must have 1 to 1000 characters",
                    sanitize_upstream_text(bad, 40)
                ),
            ));
        }
        if let Some(d) = self.duration
            && (d.subsec_nanos() != 0
                || !(MIN_DURATION_SECS..=MAX_DURATION_SECS).contains(&d.as_secs()))
        {
            return Err(Error::config(
                "duration_seconds",
                format!(
                    "{d:?} is out of range: STS accepts whole seconds from {MIN_DURATION_SECS} to {MAX_DURATION_SECS}"
                ),
            ));
        }
        if self.tags.len() > MAX_TAGS {
            return Err(Error::config("tags", format!("at most {MAX_TAGS} tags")));
        }
        if let Some((k, _)) = self
            .tags
            .iter()
            .find(|(k, v)| k.is_empty() || k.chars().count() > 128 || v.chars().count() > 256)
        {
            return Err(Error::config(
                "tags",
                format!(
                    "tag `{}`: keys have 1 to 128 characters, values at most 256",
                    sanitize_upstream_text(k, 40)
                ),
            ));
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::source::aws::AwsEnvironment;

    #[test]
    fn form_and_validation() {
        let source = OutboundWebIdentityToken::new(AwsEnvironment::new(), "api://a")
            .audience("b c")
            .signing_algorithm(SigningAlgorithm::Es384)
            .tag("team", "pay ments");
        assert_eq!(
            source.form(300),
            "Action=GetWebIdentityToken&Version=2011-06-15&Audience.member.1=api%3A%2F%2Fa&Audience.member.2=b+c&SigningAlgorithm=ES384&DurationSeconds=300&Tags.member.1.Key=team&Tags.member.1.Value=pay+ments"
        );
        assert!(source.validate().is_ok());
        let bad = [
            OutboundWebIdentityToken::new(AwsEnvironment::new(), ""),
            OutboundWebIdentityToken::new(AwsEnvironment::new(), "a")
                .duration(Duration::from_secs(59)),
            OutboundWebIdentityToken::new(AwsEnvironment::new(), "a")
                .duration(Duration::from_secs(3601)),
            OutboundWebIdentityToken::new(AwsEnvironment::new(), "a").tag("", "v"),
            (0..10).fold(
                OutboundWebIdentityToken::new(AwsEnvironment::new(), "a"),
                |s, i| s.audience(format!("{i}")),
            ),
        ];
        for source in bad {
            assert_eq!(
                source.validate().unwrap_err().kind(),
                ErrorKind::Configuration
            );
        }
    }

    #[test]
    fn the_lifetime_never_outlives_the_session() {
        let now = SystemTime::UNIX_EPOCH + Duration::from_secs(1_800_000_000);
        let creds = |left: u64| {
            Credentials::new(
                "AKID",
                "secret",
                Some("t".into()),
                Some(now + Duration::from_secs(left)),
                "test",
            )
        };
        let source = OutboundWebIdentityToken::new(AwsEnvironment::new(), "a")
            .duration(Duration::from_secs(3600));
        assert_eq!(source.duration_for(&creds(7200), now).unwrap(), 3600);
        assert_eq!(source.duration_for(&creds(900), now).unwrap(), 900);
        let err = source.duration_for(&creds(30), now).unwrap_err();
        assert_eq!(err.kind(), ErrorKind::Expired);
        assert!(err.is_transient());
        let keys = Credentials::new("AKID", "secret", None, None, "test");
        assert_eq!(source.duration_for(&keys, now).unwrap(), 3600);
        assert_eq!(
            OutboundWebIdentityToken::new(AwsEnvironment::new(), "a")
                .duration_for(&keys, now)
                .unwrap(),
            300
        );
    }

    #[test]
    fn hints_name_the_fix() {
        assert!(
            hint_for("OutboundWebIdentityFederationDisabledException")
                .unwrap()
                .contains("enable")
        );
        assert!(
            hint_for("JWTPayloadSizeExceededException")
                .unwrap()
                .contains("tags")
        );
        assert!(hint_for("Throttling").is_none());
    }
}
