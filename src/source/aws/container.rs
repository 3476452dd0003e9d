//! [`ContainerCredentials`]: the ECS/EKS container-credentials endpoint, which ECS (on EC2 and
//! Fargate), EKS Pod Identity, CodeBuild and App Runner give a workload through
//! `AWS_CONTAINER_CREDENTIALS_RELATIVE_URI` or `AWS_CONTAINER_CREDENTIALS_FULL_URI`.
//!
//! The rules are those of botocore 1.43.11 (`ContainerProvider`, `ContainerMetadataFetcher`)
//! and aws-config's ECS provider: the relative URI wins and is fetched from 169.254.170.2 over
//! http; a full URI must be https or name a host that is (or resolves only to) a loopback
//! address, 169.254.170.2 (ECS), 169.254.170.23 or fd00:ec2::23 (EKS Pod Identity); the
//! `Authorization` header is the contents of `AWS_CONTAINER_AUTHORIZATION_TOKEN_FILE` (read on
//! every fetch: EKS rotates it) or else `AWS_CONTAINER_AUTHORIZATION_TOKEN`, sent verbatim and
//! refused if it holds CR or LF.

use std::net::IpAddr;
use std::time::Duration;

use async_trait::async_trait;
use aws_credential_types::Credentials;
use reqwest::Method;
use serde_json::{Map, Value};
use url::Url;

use super::imds::parse::field;
use super::{AwsIdentitySource, CredentialSlot, check_region, region_from_env};
use crate::context::{CallSettings, Context};
use crate::error::{Error, ErrorKind, Service, redact_sent, sanitize_upstream_text};
use crate::http::{HttpRequest, HttpResponse, RetryPolicy, send_with_retries};
use crate::token::{format_rfc3339, parse_rfc3339};

/// The variable holding a path on the ECS credentials host (ECS, Fargate, CodeBuild).
pub const RELATIVE_URI_ENV: &str = "AWS_CONTAINER_CREDENTIALS_RELATIVE_URI";
/// The variable holding a whole URL (EKS Pod Identity, App Runner, local brokers).
pub const FULL_URI_ENV: &str = "AWS_CONTAINER_CREDENTIALS_FULL_URI";
/// The variable naming a file holding the `Authorization` value (re-read on every fetch).
pub const AUTHORIZATION_TOKEN_FILE_ENV: &str = "AWS_CONTAINER_AUTHORIZATION_TOKEN_FILE";
/// The variable holding the `Authorization` value itself.
pub const AUTHORIZATION_TOKEN_ENV: &str = "AWS_CONTAINER_AUTHORIZATION_TOKEN";
/// Where a relative URI is fetched from: the ECS agent's link-local address.
pub const DEFAULT_CONTAINER_HOST: &str = "169.254.170.2";
/// Overrides [`DEFAULT_CONTAINER_HOST`] (`host:port`) for tests and emulators, the way
/// `GCE_METADATA_HOST` moves the GCE metadata server. Unset on real platforms.
pub const CONTAINER_HOST_ENV: &str = "FEDERATED_CREDENTIALS_CONTAINER_HOST";

/// The link-local hosts a plain-http full URI may name besides loopback (botocore 1.43.11
/// `_ALLOWED_HOSTS`, aws-config's ECS provider).
const ALLOWED_HTTP_IPS: [&str; 3] = ["169.254.170.2", "169.254.170.23", "fd00:ec2::23"];

/// The `provider_name` of credentials from the container endpoint.
const PROVIDER_NAME: &str = "ContainerCredentials";

/// The AWS identity of an ECS task or EKS pod, from its container-credentials endpoint.
///
/// Configured entirely by the environment the platform sets; [`is_configured`](Self::is_configured)
/// says whether it is. Credentials are cached until five minutes before they expire. The
/// region comes from `AWS_REGION`/`AWS_DEFAULT_REGION`, which ECS, EKS and CodeBuild set.
///
/// ```
/// use federated_credentials::context::{Context, StaticEnv};
/// use federated_credentials::source::aws::ContainerCredentials;
///
/// let fargate = Context::builder()
///     .env(StaticEnv::from_pairs([("AWS_CONTAINER_CREDENTIALS_RELATIVE_URI", "/v2/credentials/1")]))
///     .build();
/// assert!(ContainerCredentials::is_configured(&fargate));
/// ```
#[derive(Debug, Clone, Default)]
pub struct ContainerCredentials {
    call: CallSettings,
    cached: CredentialSlot,
}

impl ContainerCredentials {
    /// A source configured by the environment, with the context's call settings.
    pub fn new() -> Self {
        Self::default()
    }

    /// Whether the environment names a container-credentials endpoint (either URI variable
    /// set and non-empty).
    pub fn is_configured(ctx: &Context) -> bool {
        [RELATIVE_URI_ENV, FULL_URI_ENV]
            .iter()
            .any(|name| ctx.env().get_non_empty(name).is_some())
    }

    /// The timeout of one attempt (default 2 s, as botocore).
    pub fn attempt_timeout(mut self, timeout: Duration) -> Self {
        self.call = self.call.attempt_timeout(timeout);
        self
    }

    /// The retry policy (default 3 attempts within 10 s).
    pub fn retry_policy(mut self, policy: RetryPolicy) -> Self {
        self.call = self.call.retry_policy(policy);
        self
    }

    /// Forgets the cached credentials.
    pub async fn clear_cache(&self) {
        self.cached.clear().await;
    }

    /// The endpoint the environment names, with the variable it came from.
    fn endpoint(ctx: &Context) -> Result<(Url, &'static str), Error> {
        let env = ctx.env();
        if let Some(path) = env.get_non_empty(RELATIVE_URI_ENV) {
            let host = env
                .get_non_empty(CONTAINER_HOST_ENV)
                .unwrap_or_else(|| DEFAULT_CONTAINER_HOST.to_string());
            let path = path.trim();
            let sep = if path.starts_with('/') { "" } else { "/" };
            let url = Url::parse(&format!("http://{}{sep}{path}", host.trim())).map_err(|_| {
                Error::config(RELATIVE_URI_ENV, "is not a path on the credentials host")
            })?;
            return Ok((url, RELATIVE_URI_ENV));
        }
        let raw = env.get_non_empty(FULL_URI_ENV).ok_or_else(|| {
            Error::new(
                ErrorKind::NotAvailable,
                Service::AwsContainerCredentials,
                format!("neither {RELATIVE_URI_ENV} nor {FULL_URI_ENV} is set"),
            )
        })?;
        let url =
            Url::parse(raw.trim()).map_err(|_| Error::config(FULL_URI_ENV, "is not a URL"))?;
        if !matches!(url.scheme(), "http" | "https") || url.host().is_none() {
            return Err(Error::config(FULL_URI_ENV, "must be an http or https URL"));
        }
        Ok((url, FULL_URI_ENV))
    }

    /// Refuses a plain-http full URI whose host is not loopback or a container-credentials
    /// address; a host name must resolve to such addresses only.
    async fn check_host(url: &Url, setting: &str) -> Result<(), Error> {
        if url.scheme() == "https" || setting == RELATIVE_URI_ENV {
            return Ok(());
        }
        let allowed =
            |ip: IpAddr| ip.is_loopback() || ALLOWED_HTTP_IPS.iter().any(|a| a.parse() == Ok(ip));
        let refuse = |why: String| {
            Error::config(
                FULL_URI_ENV,
                format!(
                    "{why}; over plain http only loopback, 169.254.170.2, 169.254.170.23 and fd00:ec2::23 are allowed (use https for any other host)"
                ),
            )
        };
        let ips: Vec<IpAddr> = match url.host() {
            Some(url::Host::Ipv4(ip)) => vec![IpAddr::V4(ip)],
            Some(url::Host::Ipv6(ip)) => vec![IpAddr::V6(ip)],
            Some(url::Host::Domain(name)) => {
                let port = url.port_or_known_default().unwrap_or(80);
                tokio::net::lookup_host((name, port))
                    .await
                    .map_err(|_| refuse(format!("its host `{name}` does not resolve")))?
                    .map(|addr| addr.ip())
                    .collect()
            }
            None => Vec::new(),
        };
        if ips.is_empty() || !ips.iter().all(|ip| allowed(*ip)) {
            return Err(refuse(format!(
                "its host `{}` is not allowed",
                url.host_str().unwrap_or_default()
            )));
        }
        Ok(())
    }

    /// The `Authorization` value: the token file (re-read now) over the variable.
    async fn authorization(ctx: &Context) -> Result<Option<String>, Error> {
        let env = ctx.env();
        let (value, setting) = if let Some(path) = env.get_non_empty(AUTHORIZATION_TOKEN_FILE_ENV) {
            let text = std::fs::read_to_string(path.trim()).map_err(|e| {
                Error::new(
                    ErrorKind::Configuration,
                    Service::AwsContainerCredentials,
                    format!(
                        "{AUTHORIZATION_TOKEN_FILE_ENV}: cannot read `{}`: {}",
                        path.trim(),
                        e.kind()
                    ),
                )
            })?;
            (text, AUTHORIZATION_TOKEN_FILE_ENV)
        } else if let Some(token) = env.get_non_empty(AUTHORIZATION_TOKEN_ENV) {
            (token, AUTHORIZATION_TOKEN_ENV)
        } else {
            return Ok(None);
        };
        if value.contains(['\r', '\n']) {
            return Err(Error::config(
                setting,
                "holds a carriage return or line feed, which cannot be sent in a header (write the token without a trailing newline)",
            ));
        }
        Ok(Some(value))
    }

    async fn fetch(&self, ctx: &Context) -> Result<Credentials, Error> {
        let (url, setting) = Self::endpoint(ctx)?;
        Self::check_host(&url, setting).await?;
        let call = ctx.resolve_call(Service::AwsContainerCredentials, self.call);
        let mut request = HttpRequest::new(
            Service::AwsContainerCredentials,
            "fetching container credentials",
            Method::GET,
            url,
            call.attempt_timeout,
        )
        .header("accept", "application/json")?
        .direct();
        let authorization = Self::authorization(ctx).await?;
        if let Some(token) = &authorization {
            request = request.secret_header("authorization", token)?;
        }
        tracing::debug!(endpoint = %request.describe(), from = setting, "container credentials request");
        send_with_retries(ctx, &call.retry, &request, |response, _| {
            if response.status != 200 {
                return Err(endpoint_error(&response, setting, authorization.as_deref()));
            }
            let creds = parse_credentials(&response.body)?;
            let now = ctx.now();
            if let Some(exp) = creds.expiry().filter(|&exp| exp <= now) {
                // Not retried: the agent answers the same credentials until it refreshes.
                return Err(Error::new(
                    ErrorKind::Expired,
                    Service::AwsContainerCredentials,
                    format!(
                        "the endpoint from {setting} returned credentials that expired at {} (now {}); check this machine's clock",
                        format_rfc3339(exp),
                        format_rfc3339(now)
                    ),
                ));
            }
            Ok(creds)
        })
        .await
    }
}

/// The variable ECS sets to its task metadata endpoint (version 4).
pub const TASK_METADATA_ENV: &str = "ECS_CONTAINER_METADATA_URI_V4";

/// The region of an ECS task, from `ECS_CONTAINER_METADATA_URI_V4`'s `/task` document
/// (`AvailabilityZone`), or `None` when the variable is unset.
pub(crate) async fn task_metadata_region(ctx: &Context) -> Option<Result<String, Error>> {
    let base = ctx.env().get_non_empty(TASK_METADATA_ENV)?;
    Some(fetch_task_region(ctx, base.trim()).await)
}

async fn fetch_task_region(ctx: &Context, base: &str) -> Result<String, Error> {
    let url = Url::parse(&format!("{}/task", base.trim_end_matches('/')))
        .map_err(|_| Error::config(TASK_METADATA_ENV, "is not a URL"))?;
    let call = ctx.resolve_call(Service::AwsContainerCredentials, CallSettings::new());
    let request = HttpRequest::new(
        Service::AwsContainerCredentials,
        "reading the ECS task metadata",
        Method::GET,
        url,
        call.attempt_timeout,
    )
    .direct();
    send_with_retries(ctx, &call.retry, &request, |response, _| {
        if response.status != 200 {
            return Err(response.error(
                if response.is_transient_status() {
                    ErrorKind::Upstream
                } else {
                    ErrorKind::InvalidResponse
                },
                Service::AwsContainerCredentials,
                format!(
                    "the ECS task metadata endpoint ({TASK_METADATA_ENV}) answered HTTP {}",
                    response.status
                ),
            ));
        }
        let map: Map<String, Value> = serde_json::from_slice(&response.body).unwrap_or_default();
        let zone = field(&map, &["AvailabilityZone"]).ok_or_else(|| {
            Error::new(
                ErrorKind::InvalidResponse,
                Service::AwsContainerCredentials,
                format!("the ECS task metadata ({TASK_METADATA_ENV}/task) has no AvailabilityZone; set AWS_REGION"),
            )
        })?;
        super::imds::parse::region_of_placement(zone).ok_or_else(|| {
            Error::new(
                ErrorKind::InvalidResponse,
                Service::AwsContainerCredentials,
                format!(
                    "the ECS task metadata ({TASK_METADATA_ENV}/task) has AvailabilityZone `{}`, which is not an availability zone; set AWS_REGION",
                    sanitize_upstream_text(zone, 64)
                ),
            )
        })
    })
    .await
}

/// Parses the endpoint's 200 body: `AccessKeyId`, `SecretAccessKey`, `Token`, `Expiration`,
/// optional `AccountId` (keys matched case-insensitively). Never puts the body in errors.
pub(crate) fn parse_credentials(body: &[u8]) -> Result<Credentials, Error> {
    let invalid = |what: String| {
        Error::new(
            ErrorKind::InvalidResponse,
            Service::AwsContainerCredentials,
            format!("the container credentials endpoint answered HTTP 200 but {what}"),
        )
    };
    let map: Map<String, Value> = serde_json::from_slice(body)
        .map_err(|_| invalid("the body is not a JSON object".into()))?;
    let required =
        |name: &str| field(&map, &[name]).ok_or_else(|| invalid(format!("{name} is missing")));
    let expiration_text = required("Expiration")?;
    let expiration = parse_rfc3339(expiration_text).ok_or_else(|| {
        invalid(format!(
            "Expiration `{}` is not an RFC 3339 time",
            sanitize_upstream_text(expiration_text, 40)
        ))
    })?;
    let mut builder = Credentials::builder()
        .access_key_id(required("AccessKeyId")?)
        .secret_access_key(required("SecretAccessKey")?)
        .session_token(required("Token")?)
        .expiry(expiration)
        .provider_name(PROVIDER_NAME);
    if let Some(account) = field(&map, &["AccountId"]) {
        builder = builder.account_id(account);
    }
    Ok(builder.build())
}

/// A non-200 answer: the `{code, message}` body ECS and EKS send, or the status. The
/// authorization token we sent is cut out of whatever the endpoint echoes.
fn endpoint_error(response: &HttpResponse, setting: &str, sent_token: Option<&str>) -> Error {
    let body: Option<Map<String, Value>> = serde_json::from_slice(&response.body).ok();
    let code = body
        .as_ref()
        .and_then(|m| field(m, &["code", "Code"]).map(str::to_string));
    let message = body
        .as_ref()
        .and_then(|m| field(m, &["message", "Message"]).map(|t| sanitize_upstream_text(t, 300)));
    let hint = match response.status {
        401 | 403 => {
            ". The endpoint refused the authorization token: check AWS_CONTAINER_AUTHORIZATION_TOKEN_FILE (EKS Pod Identity mounts it) or AWS_CONTAINER_AUTHORIZATION_TOKEN"
        }
        404 => {
            ". Check that the task or pod has a role (ECS task role, EKS Pod Identity association)"
        }
        _ => "",
    };
    let detail = match (&code, message) {
        (Some(code), Some(message)) => format!("{code}: {message}"),
        (Some(code), None) => code.clone(),
        (None, Some(message)) => message,
        (None, None) => sanitize_upstream_text(&response.body_text(), 200),
    };
    let detail = redact_sent(detail, sent_token);
    let kind = if response.is_transient_status()
        || code.is_some()
        || matches!(response.status, 401 | 403 | 404)
    {
        ErrorKind::Upstream
    } else {
        ErrorKind::InvalidResponse
    };
    let mut err = response.error(
        kind,
        Service::AwsContainerCredentials,
        format!(
            "the endpoint from {setting} answered HTTP {}: {detail}{hint}",
            response.status
        ),
    );
    if let Some(code) = code {
        err = err.with_upstream_code(code);
    }
    err
}

#[async_trait]
impl AwsIdentitySource for ContainerCredentials {
    async fn region(&self, ctx: &Context) -> Result<String, Error> {
        match region_from_env(ctx) {
            Some((region, setting)) => check_region(region, setting),
            None => Err(Error::new(
                ErrorKind::NotAvailable,
                Service::AwsContainerCredentials,
                "AWS_REGION and AWS_DEFAULT_REGION are unset (ECS, EKS and CodeBuild set them; set AWS_REGION)",
            )),
        }
    }

    async fn credentials(&self, ctx: &Context) -> Result<Credentials, Error> {
        self.cached.get_or_fetch(ctx, || self.fetch(ctx)).await
    }

    fn name(&self) -> &'static str {
        "container-credentials"
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::source::aws::test_support::{
        SECRET, SESSION_TOKEN, assert_no_secrets, env_ctx as ctx,
    };

    #[test]
    fn relative_uri_wins_and_goes_to_the_ecs_host() {
        let c = ctx(&[
            (RELATIVE_URI_ENV, "/v2/credentials/abc"),
            (FULL_URI_ENV, "http://127.0.0.1:9/x"),
        ]);
        let (url, from) = ContainerCredentials::endpoint(&c).unwrap();
        assert_eq!(url.as_str(), "http://169.254.170.2/v2/credentials/abc");
        assert_eq!(from, RELATIVE_URI_ENV);
        let moved = ctx(&[
            (RELATIVE_URI_ENV, "creds"),
            (CONTAINER_HOST_ENV, "127.0.0.1:8"),
        ]);
        let (url, _) = ContainerCredentials::endpoint(&moved).unwrap();
        assert_eq!(url.as_str(), "http://127.0.0.1:8/creds");
        let err = ContainerCredentials::endpoint(&ctx(&[])).unwrap_err();
        assert_eq!(err.kind(), ErrorKind::NotAvailable);
        let err = ContainerCredentials::endpoint(&ctx(&[(FULL_URI_ENV, "ftp://x/y")])).unwrap_err();
        assert!(err.to_string().contains(FULL_URI_ENV), "{err}");
    }

    #[tokio::test]
    async fn full_uri_hosts_follow_the_sdks_allow_list() {
        for ok in [
            "https://credentials.example.com/x",
            "http://127.0.0.1:8080/x",
            "http://127.0.0.2/x",
            "http://[::1]/x",
            "http://169.254.170.2/x",
            "http://169.254.170.23/v1/credentials",
            "http://[fd00:ec2::23]/v1/credentials",
            "http://localhost:1234/x",
        ] {
            let url = Url::parse(ok).unwrap();
            ContainerCredentials::check_host(&url, FULL_URI_ENV)
                .await
                .unwrap_or_else(|e| panic!("{ok}: {e}"));
        }
        for bad in [
            "http://169.254.169.254/latest/meta-data/iam/security-credentials/role",
            "http://10.0.0.1/x",
            "http://[fd00:ec2::254]/x",
        ] {
            let url = Url::parse(bad).unwrap();
            let err = ContainerCredentials::check_host(&url, FULL_URI_ENV)
                .await
                .unwrap_err();
            assert_eq!(err.kind(), ErrorKind::Configuration, "{bad}");
            assert!(err.to_string().contains("use https"), "{err}");
        }
    }

    #[tokio::test]
    async fn the_token_file_wins_is_reread_and_crlf_is_refused() {
        let dir = tempfile::tempdir().unwrap();
        let file = dir.path().join("token");
        std::fs::write(&file, "first-token").unwrap();
        let path = file.to_str().unwrap();
        let c = ctx(&[
            (AUTHORIZATION_TOKEN_FILE_ENV, path),
            (AUTHORIZATION_TOKEN_ENV, "from-the-variable"),
        ]);
        let first = ContainerCredentials::authorization(&c).await.unwrap();
        assert_eq!(first.as_deref(), Some("first-token"));
        std::fs::write(&file, "rotated-token").unwrap();
        let second = ContainerCredentials::authorization(&c).await.unwrap();
        assert_eq!(second.as_deref(), Some("rotated-token"));
        std::fs::write(&file, "token-with-newline\n").unwrap();
        let err = ContainerCredentials::authorization(&c).await.unwrap_err();
        assert!(
            err.to_string().contains(AUTHORIZATION_TOKEN_FILE_ENV),
            "{err}"
        );
        assert!(!err.to_string().contains("token-with-newline"), "{err}");
        let only_var = ctx(&[(AUTHORIZATION_TOKEN_ENV, "from-the-variable")]);
        assert_eq!(
            ContainerCredentials::authorization(&only_var)
                .await
                .unwrap()
                .as_deref(),
            Some("from-the-variable")
        );
        let missing = ctx(&[(AUTHORIZATION_TOKEN_FILE_ENV, "/nonexistent/token")]);
        let err = ContainerCredentials::authorization(&missing)
            .await
            .unwrap_err();
        assert_eq!(err.kind(), ErrorKind::Configuration);
        assert_eq!(
            ContainerCredentials::authorization(&ctx(&[]))
                .await
                .unwrap(),
            None
        );
    }

    #[test]
    fn bodies_parse_and_errors_are_typed_without_secrets() {
        let body = format!(
            r#"{{"AccessKeyId":"ASIAEXAMPLE","SecretAccessKey":"{SECRET}","Token":"{SESSION_TOKEN}","Expiration":"2027-01-15T08:00:00Z","RoleArn":"arn:aws:iam::123456789012:role/task","AccountId":"123456789012"}}"#
        );
        let creds = parse_credentials(body.as_bytes()).unwrap();
        assert_eq!(creds.access_key_id(), "ASIAEXAMPLE");
        assert_eq!(creds.account_id().map(|a| a.as_str()), Some("123456789012"));
        assert_no_secrets(&[&format!("{creds:?}")]);
        for (bad, what) in [
            (
                r#"{"AccessKeyId":"A","Token":"t","Expiration":"2027-01-15T08:00:00Z"}"#,
                "SecretAccessKey is missing",
            ),
            (
                r#"{"AccessKeyId":"A","SecretAccessKey":"s","Token":"t","Expiration":"soon"}"#,
                "not an RFC 3339 time",
            ),
            ("<html>", "not a JSON object"),
        ] {
            let err = parse_credentials(bad.as_bytes()).unwrap_err();
            assert_eq!(err.kind(), ErrorKind::InvalidResponse);
            assert!(err.to_string().contains(what), "{err}");
        }
        let denied = endpoint_error(
            &HttpResponse::with_body(401, r#"{"code":"InvalidToken","message":"bad token"}"#),
            FULL_URI_ENV,
            None,
        );
        assert_eq!(denied.upstream_code(), Some("InvalidToken"));
        let echoed = endpoint_error(
            &HttpResponse::with_body(
                403,
                r#"{"code":"Denied","message":"token sent-token-value is wrong"}"#,
            ),
            FULL_URI_ENV,
            Some("sent-token-value"),
        );
        assert!(!echoed.to_string().contains("sent-token-value"), "{echoed}");
        assert!(!denied.is_transient());
        assert!(
            denied
                .to_string()
                .contains("AWS_CONTAINER_AUTHORIZATION_TOKEN_FILE"),
            "{denied}"
        );
        let busy = endpoint_error(&HttpResponse::with_body(503, ""), RELATIVE_URI_ENV, None);
        assert!(busy.is_transient());
        let odd = endpoint_error(
            &HttpResponse::with_body(418, "teapot"),
            RELATIVE_URI_ENV,
            None,
        );
        assert_eq!(odd.kind(), ErrorKind::InvalidResponse);
    }
}
