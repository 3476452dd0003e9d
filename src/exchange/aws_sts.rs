//! AWS STS `AssumeRoleWithWebIdentity`: an unsigned form POST that trades an OIDC token for
//! temporary AWS credentials ([`AwsCredentials`]). Endpoint resolution, parameter
//! validation, the XML success and error bodies, and which STS errors are worth retrying.

use std::time::{Duration, SystemTime, UNIX_EPOCH};
use tracing::Instrument;

use async_trait::async_trait;
use reqwest::Method;
use url::Url;

use super::Exchange;
use crate::context::{CallSettings, Context};
use crate::error::{Error, ErrorKind, Service, redact_sent, sanitize_upstream_text};
use crate::http::{HttpRequest, HttpResponse, RetryPolicy, send_with_retries};
use crate::secret::SecretString;
use crate::token::{Expiry, SubjectToken, format_rfc3339, parse_rfc3339};
use crate::xml::XmlLeaves;

/// The name our credentials report to the AWS SDK (`Credentials::provider_name`).
pub(crate) const PROVIDER_NAME: &str = "FederatedWebIdentity";

const RESULT: &str = "AssumeRoleWithWebIdentityResponse/AssumeRoleWithWebIdentityResult";

/// The response header carrying the STS request id.
const REQUEST_ID_HEADER: &str = "x-amzn-requestid";

/// STS error codes that are worth retrying.
const TRANSIENT_CODES: &[&str] = &[
    "IDPCommunicationError",
    "Throttling",
    "ThrottlingException",
    "RequestLimitExceeded",
    "InternalFailure",
    "ServiceUnavailable",
];

/// Temporary AWS credentials from STS, with what STS said about the session.
///
/// `Debug` redacts the secret key and session token.
///
/// A custom exchange or a test builds them with [`new`](Self::new):
///
/// ```
/// use federated_credentials::exchange::AwsCredentials;
/// use std::time::{Duration, SystemTime};
///
/// let creds = AwsCredentials::new(
///     "AKIDEXAMPLE",
///     "example-secret-key",
///     Some("example-session-token".to_string()),
///     SystemTime::now() + Duration::from_secs(3600),
///     "arn:aws:sts::123456789012:assumed-role/app/billing-worker",
/// );
/// // What the AWS SDK gets:
/// let sdk: &aws_credential_types::Credentials = creds.sdk_credentials();
/// ```
#[derive(Debug, Clone)]
pub struct AwsCredentials {
    credentials: aws_credential_types::Credentials,
    assumed_role_arn: String,
    assumed_role_id: Option<String>,
    subject: Option<String>,
    audience: Option<String>,
    provider: Option<String>,
    request_id: Option<String>,
}

impl AwsCredentials {
    /// The credentials as the AWS SDK type (secret, session token, expiry and account id).
    pub fn sdk_credentials(&self) -> &aws_credential_types::Credentials {
        &self.credentials
    }

    /// The access key id (not secret).
    pub fn access_key_id(&self) -> &str {
        self.credentials.access_key_id()
    }

    /// When the credentials expire.
    pub fn expiration(&self) -> SystemTime {
        self.credentials
            .expiry()
            .expect("STS credentials always carry an expiry")
    }

    /// The assumed-role ARN, `arn:aws:sts::ACCOUNT:assumed-role/ROLE/SESSION`.
    pub fn assumed_role_arn(&self) -> &str {
        &self.assumed_role_arn
    }

    /// The assumed-role id, `AROA…:SESSION`, as STS reported it (`None` on credentials
    /// built with [`new`](Self::new)).
    pub fn assumed_role_id(&self) -> Option<&str> {
        self.assumed_role_id.as_deref()
    }

    /// The account id, from the assumed-role ARN.
    pub fn account_id(&self) -> Option<&str> {
        self.credentials.account_id().map(|a| a.as_str())
    }

    /// `SubjectFromWebIdentityToken`: the token's `sub`, as STS reported it (`None` on
    /// credentials built with [`new`](Self::new)).
    pub fn subject(&self) -> Option<&str> {
        self.subject.as_deref()
    }

    /// `Audience` as STS reports it (`None` on credentials built with [`new`](Self::new)).
    pub fn audience(&self) -> Option<&str> {
        self.audience.as_deref()
    }

    /// `Provider` as STS reports it (`None` on credentials built with [`new`](Self::new)).
    pub fn provider(&self) -> Option<&str> {
        self.provider.as_deref()
    }

    /// The STS request id, for AWS support (`None` on credentials built with
    /// [`new`](Self::new)).
    pub fn request_id(&self) -> Option<&str> {
        self.request_id.as_deref()
    }

    /// The JSON a `credential_process` program prints (the AWS CLI and SDKs' version 1
    /// format): `Version`, `AccessKeyId`, `SecretAccessKey`, `SessionToken`, `Expiration`
    /// (RFC 3339) and, when known, `AccountId`. It holds the secret key, hence the type.
    pub fn to_credential_process_json(&self) -> SecretString {
        let c = &self.credentials;
        let mut out = serde_json::json!({
            "Version": 1,
            "AccessKeyId": c.access_key_id(),
            "SecretAccessKey": c.secret_access_key(),
            "SessionToken": c.session_token().unwrap_or_default(),
            "Expiration": format_rfc3339(self.expiration()),
        });
        if let Some(account) = self.account_id() {
            out["AccountId"] = account.into();
        }
        SecretString::new(out.to_string())
    }

    /// The JSON an ECS/EKS container-credentials endpoint answers
    /// (`AWS_CONTAINER_CREDENTIALS_FULL_URI`): `AccessKeyId`, `SecretAccessKey`, `Token`,
    /// `Expiration` (RFC 3339), `RoleArn` and, when known, `AccountId`. It holds the secret
    /// key, hence the type.
    pub fn to_container_credentials_json(&self) -> SecretString {
        let c = &self.credentials;
        let mut out = serde_json::json!({
            "AccessKeyId": c.access_key_id(),
            "SecretAccessKey": c.secret_access_key(),
            "Token": c.session_token().unwrap_or_default(),
            "Expiration": format_rfc3339(self.expiration()),
            "RoleArn": self.assumed_role_arn,
        });
        if let Some(account) = self.account_id() {
            out["AccountId"] = account.into();
        }
        SecretString::new(out.to_string())
    }

    /// Reads what [`to_container_credentials_json`](Self::to_container_credentials_json)
    /// wrote (a copy kept on disk by an earlier run): `AccessKeyId`, `SecretAccessKey`,
    /// `Token` (empty: none), `Expiration`, `RoleArn`. The fields only STS reports are `None`,
    /// as with [`new`](Self::new). Anything else is an
    /// [`InvalidResponse`](ErrorKind::InvalidResponse) error that quotes none of the text.
    pub fn from_container_credentials_json(json: &str) -> Result<Self, Error> {
        #[derive(serde::Deserialize)]
        #[serde(rename_all = "PascalCase")]
        struct Stored {
            access_key_id: String,
            secret_access_key: String,
            #[serde(default)]
            token: String,
            expiration: String,
            role_arn: String,
        }
        let invalid = |what: &str| {
            Error::new(
                ErrorKind::InvalidResponse,
                Service::AwsCredentials,
                format!("stored AWS credentials {what}; delete the copy and fetch new ones"),
            )
        };
        // serde's message can quote a value: never show it.
        let stored: Stored = serde_json::from_str(json).map_err(|_| {
            invalid("are not container-credentials JSON (AccessKeyId, SecretAccessKey, Token, Expiration, RoleArn)")
        })?;
        if stored.access_key_id.is_empty() || stored.secret_access_key.is_empty() {
            return Err(invalid("have an empty AccessKeyId or SecretAccessKey"));
        }
        let expiration = parse_rfc3339(&stored.expiration)
            .ok_or_else(|| invalid("have an Expiration that is not an RFC 3339 time"))?;
        Ok(Self::new(
            stored.access_key_id,
            stored.secret_access_key,
            Some(stored.token).filter(|t| !t.is_empty()),
            expiration,
            stored.role_arn,
        ))
    }

    /// Builds credentials by hand (for custom exchanges and tests). The account id is
    /// taken from `assumed_role_arn` when it is an ARN; the fields only STS reports
    /// ([`subject`](Self::subject), [`request_id`](Self::request_id), …) are `None`.
    pub fn new(
        access_key_id: impl Into<String>,
        secret_access_key: impl Into<String>,
        session_token: Option<String>,
        expiration: SystemTime,
        assumed_role_arn: impl Into<String>,
    ) -> Self {
        let assumed_role_arn = assumed_role_arn.into();
        let mut builder = aws_credential_types::Credentials::builder()
            .access_key_id(access_key_id)
            .secret_access_key(secret_access_key)
            .expiry(expiration)
            .provider_name(PROVIDER_NAME);
        builder.set_session_token(session_token);
        if let Some(account) = account_from_arn(&assumed_role_arn) {
            builder = builder.account_id(account);
        }
        Self {
            credentials: builder.build(),
            assumed_role_arn,
            assumed_role_id: None,
            subject: None,
            audience: None,
            provider: None,
            request_id: None,
        }
    }
}

impl Expiry for AwsCredentials {
    fn expires_at(&self) -> Option<SystemTime> {
        self.credentials.expiry()
    }
}

/// `arn:PARTITION:sts::ACCOUNT:assumed-role/...` → `ACCOUNT` (the 5th field).
fn account_from_arn(arn: &str) -> Option<&str> {
    let account = arn.split(':').nth(4)?;
    (account.len() == 12 && account.bytes().all(|b| b.is_ascii_digit())).then_some(account)
}

/// AWS STS `AssumeRoleWithWebIdentity`.
///
/// Sends `RoleArn`, `RoleSessionName`, `WebIdentityToken` and the optional
/// `DurationSeconds`, `Policy`, `PolicyArns` as an unsigned form POST. Retries
/// `IDPCommunicationError`, throttling and 5xx; reports every other STS error code with its
/// message and a hint.
///
/// The endpoint is, in order: [`endpoint_url`](Self::endpoint_url),
/// `AWS_ENDPOINT_URL_STS`, `AWS_ENDPOINT_URL`, then the regional endpoint (FIPS when
/// [`fips`](Self::fips) or `AWS_USE_FIPS_ENDPOINT=true`).
///
/// ```
/// use federated_credentials::context::{Context, StaticEnv};
/// use federated_credentials::exchange::{AssumeRoleWithWebIdentity, Exchange};
/// use std::time::Duration;
/// let sts = AssumeRoleWithWebIdentity::new("arn:aws:iam::123456789012:role/app")
///     .session_name("billing-worker")
///     .duration(Duration::from_secs(3600))
///     .region("eu-west-1");
/// let ctx = Context::builder().env(StaticEnv::empty()).build();
/// sts.validate(&ctx)?; // every parameter checked, no I/O
/// # Ok::<(), federated_credentials::Error>(())
/// ```
#[derive(Debug, Clone)]
pub struct AssumeRoleWithWebIdentity {
    role_arn: String,
    session_name: Option<String>,
    duration: Option<Duration>,
    policy: Option<String>,
    policy_arns: Vec<String>,
    region: Option<String>,
    endpoint: Option<String>,
    fips: Option<bool>,
    /// Set by `attempt_timeout`/`retry_policy`; the rest comes from the context.
    call: CallSettings,
}

impl AssumeRoleWithWebIdentity {
    /// Assumes `role_arn`, which must be an IAM role ARN (`arn:aws:iam::ACCOUNT:role/NAME`);
    /// [`Exchange::validate`] and the exchange check it.
    pub fn new(role_arn: impl Into<String>) -> Self {
        Self {
            role_arn: role_arn.into(),
            session_name: None,
            duration: None,
            policy: None,
            policy_arns: Vec::new(),
            region: None,
            endpoint: None,
            fips: None,
            call: CallSettings::new(),
        }
    }

    /// The `RoleSessionName`: 2–64 characters of `[A-Za-z0-9_+=,.@-]`. Default:
    /// `federated-credentials-<unix millis>`, fresh for every call.
    pub fn session_name(mut self, name: impl Into<String>) -> Self {
        self.session_name = Some(name.into());
        self
    }

    /// `DurationSeconds`, 900–43200 s and at most the role's maximum session duration
    /// (default: STS's, 3600 s).
    pub fn duration(mut self, duration: Duration) -> Self {
        self.duration = Some(duration);
        self
    }

    /// An inline session `Policy` (JSON, at most 2048 characters).
    pub fn policy(mut self, policy_json: impl Into<String>) -> Self {
        self.policy = Some(policy_json.into());
        self
    }

    /// Managed session `PolicyArns` (at most 10).
    pub fn policy_arns(mut self, arns: impl IntoIterator<Item = impl Into<String>>) -> Self {
        self.policy_arns = arns.into_iter().map(Into::into).collect();
        self
    }

    /// The region whose STS endpoint is used (default `AWS_REGION`, `AWS_DEFAULT_REGION`).
    pub fn region(mut self, region: impl Into<String>) -> Self {
        self.region = Some(region.into());
        self
    }

    /// A base URL for STS, overriding the region and the `AWS_ENDPOINT_URL*` variables.
    pub fn endpoint_url(mut self, url: impl Into<String>) -> Self {
        self.endpoint = Some(url.into());
        self
    }

    /// Uses the FIPS endpoint `sts-fips.{region}.amazonaws.com` (default: whether
    /// `AWS_USE_FIPS_ENDPOINT` is `true`). It needs a region.
    pub fn fips(mut self, fips: bool) -> Self {
        self.fips = Some(fips);
        self
    }

    /// The timeout of one attempt (default 10 s).
    pub fn attempt_timeout(mut self, timeout: Duration) -> Self {
        self.call = self.call.attempt_timeout(timeout);
        self
    }

    /// The retry policy (default: 4 attempts, 200 ms–5 s backoff, 30 s deadline).
    pub fn retry_policy(mut self, policy: RetryPolicy) -> Self {
        self.call = self.call.retry_policy(policy);
        self
    }

    /// The role ARN.
    pub fn role_arn(&self) -> &str {
        &self.role_arn
    }

    /// The same exchange for another role (the provider builder sets the role last).
    pub(crate) fn with_role_arn(mut self, role_arn: impl Into<String>) -> Self {
        self.role_arn = role_arn.into();
        self
    }

    /// Whether a session name was set.
    pub(crate) fn has_session_name(&self) -> bool {
        self.session_name.is_some()
    }

    /// The resolved STS URL for this context (see the type's documentation for the order),
    /// e.g. to log where requests will go:
    ///
    /// ```
    /// use federated_credentials::context::Context;
    /// use federated_credentials::exchange::AssumeRoleWithWebIdentity;
    ///
    /// let sts = AssumeRoleWithWebIdentity::new("arn:aws:iam::123456789012:role/app");
    /// println!("AWS STS at {}", sts.resolve_endpoint(&Context::default())?);
    /// # Ok::<(), federated_credentials::Error>(())
    /// ```
    pub fn resolve_endpoint(&self, ctx: &Context) -> Result<Url, Error> {
        let env = ctx.env();
        let explicit = [
            (self.endpoint.clone(), "endpoint_url"),
            (
                env.get_non_empty("AWS_ENDPOINT_URL_STS"),
                "AWS_ENDPOINT_URL_STS",
            ),
            (env.get_non_empty("AWS_ENDPOINT_URL"), "AWS_ENDPOINT_URL"),
        ]
        .into_iter()
        .find_map(|(v, name)| v.map(|v| (v, name)));
        if let Some((raw, setting)) = explicit {
            let url = Url::parse(raw.trim())
                .map_err(|e| Error::config(setting, format!("`{raw}` is not a valid URL ({e})")))?;
            if !matches!(url.scheme(), "http" | "https") || url.host_str().is_none() {
                return Err(Error::config(
                    setting,
                    format!("`{raw}` must be an http(s) URL with a host"),
                ));
            }
            if url.query().is_some() || url.fragment().is_some() {
                return Err(Error::config(
                    setting,
                    format!("`{raw}` must not have a query or fragment"),
                ));
            }
            return Ok(url);
        }
        let region = self.resolve_region(ctx)?;
        let fips = self.fips.unwrap_or_else(|| {
            env.get("AWS_USE_FIPS_ENDPOINT")
                .is_some_and(|v| v.trim().eq_ignore_ascii_case("true"))
        });
        let url = match region {
            None if fips => {
                return Err(Error::config(
                    "region",
                    "the FIPS STS endpoint needs a region; set AWS_REGION or call .region()",
                ));
            }
            None => "https://sts.amazonaws.com/".to_string(),
            Some(region) => {
                let suffix = if region.starts_with("cn-") {
                    "amazonaws.com.cn"
                } else {
                    "amazonaws.com"
                };
                let host = if fips { "sts-fips" } else { "sts" };
                format!("https://{host}.{region}.{suffix}/")
            }
        };
        Url::parse(&url).map_err(|_| Error::config("region", "does not form a valid host"))
    }

    fn resolve_region(&self, ctx: &Context) -> Result<Option<String>, Error> {
        let (region, setting) = match &self.region {
            Some(r) => (Some(r.clone()), "region"),
            None => match ctx.env().get_non_empty("AWS_REGION") {
                Some(r) => (Some(r), "AWS_REGION"),
                None => (
                    ctx.env().get_non_empty("AWS_DEFAULT_REGION"),
                    "AWS_DEFAULT_REGION",
                ),
            },
        };
        let Some(region) = region.map(|r| r.trim().to_string()) else {
            return Ok(None);
        };
        let valid = !region.is_empty()
            && region.len() <= 63
            && region
                .bytes()
                .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'-')
            && !region.starts_with('-')
            && !region.ends_with('-');
        if !valid {
            return Err(Error::config(
                setting,
                format!("`{region}` is not an AWS region name (like us-east-1)"),
            ));
        }
        Ok(Some(region))
    }

    fn session_name_for(&self, ctx: &Context) -> String {
        match &self.session_name {
            Some(name) => name.clone(),
            None => {
                let millis = ctx
                    .now()
                    .duration_since(UNIX_EPOCH)
                    .unwrap_or_default()
                    .as_millis();
                format!("federated-credentials-{millis}")
            }
        }
    }

    fn check(&self) -> Result<(), Error> {
        validate_role_arn(&self.role_arn)?;
        if let Some(name) = &self.session_name {
            validate_session_name(name)?;
        }
        if let Some(d) = self.duration
            && (d.subsec_nanos() != 0 || !(900..=43200).contains(&d.as_secs()))
        {
            return Err(Error::config(
                "duration_seconds",
                format!(
                    "{:?} is out of range: STS accepts whole seconds from 900 (15 min) to 43200 (12 h), and at most the role's MaxSessionDuration",
                    d
                ),
            ));
        }
        if let Some(policy) = &self.policy {
            let chars = policy.chars().count();
            let allowed = policy
                .chars()
                .all(|c| matches!(c, '\t' | '\n' | '\r' | ' '..='~' | '\u{a0}'..='\u{ff}'));
            if chars == 0 || chars > 2048 || !allowed {
                return Err(Error::config(
                    "policy",
                    "must be 1–2048 characters of printable ASCII (plus tab, newline, U+00A0–U+00FF)",
                ));
            }
        }
        if self.policy_arns.len() > 10 {
            return Err(Error::config(
                "policy_arns",
                format!("{} given; STS accepts at most 10", self.policy_arns.len()),
            ));
        }
        for arn in &self.policy_arns {
            if !arn.starts_with("arn:") || !(20..=2048).contains(&arn.len()) {
                return Err(Error::config(
                    "policy_arns",
                    format!("`{arn}` is not a policy ARN"),
                ));
            }
        }
        Ok(())
    }

    fn parameters(&self, ctx: &Context, token: &SubjectToken) -> Vec<(&'static str, String)> {
        let mut params = vec![
            ("Action", "AssumeRoleWithWebIdentity".to_string()),
            ("Version", "2011-06-15".to_string()),
            ("RoleArn", self.role_arn.clone()),
            ("RoleSessionName", self.session_name_for(ctx)),
            (
                "WebIdentityToken",
                token.token().expose_secret().trim_end().to_string(),
            ),
        ];
        if let Some(d) = self.duration {
            params.push(("DurationSeconds", d.as_secs().to_string()));
        }
        if let Some(p) = &self.policy {
            params.push(("Policy", p.clone()));
        }
        params
    }

    pub(crate) fn parse_success(
        &self,
        response: &HttpResponse,
        now: SystemTime,
    ) -> Result<AwsCredentials, Error> {
        let header_request_id = response.header(REQUEST_ID_HEADER);
        let invalid = |what: &str| {
            let err = Error::new(
                ErrorKind::InvalidResponse,
                Service::AwsSts,
                format!("AssumeRoleWithWebIdentity answered HTTP 200 but {what}"),
            )
            .with_http_status(response.status);
            match header_request_id {
                Some(id) => err.with_request_id(id),
                None => err,
            }
        };
        let doc = XmlLeaves::parse(&response.body).ok_or_else(|| invalid("the body is not XML"))?;
        if doc.root() != Some("AssumeRoleWithWebIdentityResponse") {
            return Err(invalid(
                "the body is not an AssumeRoleWithWebIdentityResponse",
            ));
        }
        let field = |name: &str| {
            doc.get(&format!("{RESULT}/{name}"))
                .filter(|v| !v.is_empty())
        };
        let required =
            |name: &str| field(name).ok_or_else(|| invalid(&format!("{name} is missing")));
        let access_key_id = required("Credentials/AccessKeyId")?;
        let secret = required("Credentials/SecretAccessKey")?;
        let session_token = required("Credentials/SessionToken")?;
        let expiration_text = required("Credentials/Expiration")?;
        let expiration = parse_expiration(expiration_text).ok_or_else(|| {
            invalid(&format!(
                "Expiration `{expiration_text}` is not an RFC 3339 time"
            ))
        })?;
        if expiration <= now {
            return Err(Error::new(
                ErrorKind::Expired,
                Service::AwsSts,
                format!(
                    "STS returned credentials that expired at {} (now {}); check this machine's clock",
                    format_rfc3339(expiration),
                    format_rfc3339(now)
                ),
            ));
        }
        let assumed_role_arn = required("AssumedRoleUser/Arn")?.to_string();
        let mut creds = AwsCredentials::new(
            access_key_id,
            secret,
            Some(session_token.to_string()),
            expiration,
            assumed_role_arn,
        );
        creds.assumed_role_id = field("AssumedRoleUser/AssumedRoleId").map(str::to_owned);
        creds.subject = field("SubjectFromWebIdentityToken").map(str::to_owned);
        creds.audience = field("Audience").map(str::to_owned);
        creds.provider = field("Provider").map(str::to_owned);
        creds.request_id = doc
            .get("AssumeRoleWithWebIdentityResponse/ResponseMetadata/RequestId")
            .map(str::to_owned)
            .or_else(|| header_request_id.map(str::to_owned));
        Ok(creds)
    }

    pub(crate) fn parse_error(&self, response: &HttpResponse) -> Error {
        parse_sts_error(response, "AssumeRoleWithWebIdentity", &[], |code| {
            hint_for(code, &self.role_arn)
        })
    }
}

/// The error for a non-200 STS answer to `operation`: the `ErrorResponse` code and message
/// with `hint` for the code, the request id, and whether it is worth retrying. Any of the
/// `sent` values (credentials the request carried) that the answer echoes is cut out.
pub(crate) fn parse_sts_error(
    response: &HttpResponse,
    operation: &str,
    sent: &[&str],
    hint: impl Fn(&str) -> Option<String>,
) -> Error {
    let header_request_id = response.header(REQUEST_ID_HEADER).map(str::to_owned);
    let transient_status = response.is_transient_status();
    let Some(doc) = XmlLeaves::parse(&response.body).filter(|d| d.root() == Some("ErrorResponse"))
    else {
        let kind = if transient_status {
            ErrorKind::Upstream
        } else {
            ErrorKind::InvalidResponse
        };
        let err = response.error(
            kind,
            Service::AwsSts,
            format!(
                "{operation} answered HTTP {} without an STS error document: {}",
                response.status,
                match redact_sent(
                    sanitize_upstream_text(&response.body_text(), 200),
                    sent.iter().copied()
                ) {
                    t if t.is_empty() => "(empty body)".to_string(),
                    t => t,
                }
            ),
        );
        return match header_request_id {
            Some(id) => err.with_request_id(id),
            None => err,
        };
    };
    let code = doc
        .get("ErrorResponse/Error/Code")
        .unwrap_or("Unknown")
        .to_string();
    let message = redact_sent(
        sanitize_upstream_text(doc.get("ErrorResponse/Error/Message").unwrap_or(""), 500),
        sent.iter().copied(),
    );
    let text = match (message.is_empty(), hint(&code)) {
        (true, Some(h)) => h,
        (false, Some(h)) => format!("{message}. {h}"),
        (true, None) => "STS rejected the request".to_string(),
        (false, None) => message,
    };
    let err = response
        .error(ErrorKind::Upstream, Service::AwsSts, text)
        .with_upstream_code(code.clone())
        .with_transient(transient_status || TRANSIENT_CODES.contains(&code.as_str()));
    match doc
        .get("ErrorResponse/RequestId")
        .or_else(|| doc.get("ErrorResponse/ResponseMetadata/RequestId"))
        .map(str::to_owned)
        .or(header_request_id)
    {
        Some(id) => err.with_request_id(id),
        None => err,
    }
}

fn hint_for(code: &str, role_arn: &str) -> Option<String> {
    Some(match code {
        "InvalidIdentityToken" => "Check that the token's issuer is trusted by the account (accounts.google.com is built in; other issuers need an IAM OIDC provider) and that its audience matches".to_string(),
        "ExpiredTokenException" => "The web identity token had expired when STS checked it; check the token source and this machine's clock".to_string(),
        "AccessDenied" => format!("The trust policy of {role_arn} does not admit this identity; for Google tokens the condition key accounts.google.com:aud is compared with the token's azp (the service account's numeric id) and accounts.google.com:oaud with its aud (the audience you requested)"),
        "ValidationError" => "A parameter is invalid, for example DurationSeconds above the role's MaxSessionDuration".to_string(),
        "RegionDisabledException" => "STS is not activated in this region; activate it under IAM account settings or use another region or endpoint".to_string(),
        "IDPRejectedClaim" => "The identity provider or its claims were rejected; check the role's trust policy conditions".to_string(),
        "MalformedPolicyDocument" => "The session policy is not a valid IAM policy".to_string(),
        "PackedPolicyTooLarge" => "The session policy is too large; shorten it or use fewer policy ARNs".to_string(),
        "IDPCommunicationError" => "STS could not reach the identity provider to verify the token".to_string(),
        _ => return None,
    })
}

/// RFC 3339 with optional fractional seconds, or (JSON variant) epoch seconds.
fn parse_expiration(text: &str) -> Option<SystemTime> {
    parse_rfc3339(text).or_else(|| {
        let secs: f64 = text.trim().parse().ok()?;
        if !(secs.is_finite() && secs > 0.0) {
            return None;
        }
        // Checked all the way: an absurd value from a broken endpoint must not panic.
        UNIX_EPOCH.checked_add(Duration::try_from_secs_f64(secs).ok()?)
    })
}

/// `arn:PARTITION:iam::ACCOUNT:role/NAME`, 20–2048 characters.
fn validate_role_arn(arn: &str) -> Result<(), Error> {
    let parts: Vec<&str> = arn.splitn(6, ':').collect();
    let ok = (20..=2048).contains(&arn.len())
        && parts.len() == 6
        && parts[0] == "arn"
        && parts[1].starts_with("aws")
        && parts[2] == "iam"
        && parts[3].is_empty()
        && account_from_arn(arn).is_some()
        && parts[5].starts_with("role/")
        && parts[5].len() > "role/".len()
        && !arn.chars().any(|c| c.is_control() || c.is_whitespace());
    if ok {
        Ok(())
    } else {
        Err(Error::config(
            "role_arn",
            format!("`{arn}` is not an IAM role ARN (arn:aws:iam::123456789012:role/NAME)"),
        ))
    }
}

/// 2–64 characters of `[\w+=,.@-]`.
fn validate_session_name(name: &str) -> Result<(), Error> {
    let ok = (2..=64).contains(&name.len())
        && name
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b"_+=,.@-".contains(&b));
    if ok {
        Ok(())
    } else {
        Err(Error::config(
            "role_session_name",
            format!("`{name}` must be 2–64 characters of letters, digits and _+=,.@-"),
        ))
    }
}

#[async_trait]
impl Exchange<SubjectToken> for AssumeRoleWithWebIdentity {
    type Output = AwsCredentials;

    async fn exchange(&self, ctx: &Context, token: &SubjectToken) -> Result<AwsCredentials, Error> {
        self.check()?;
        let url = self.resolve_endpoint(ctx)?;
        let params = self.parameters(ctx, token);
        let mut pairs: Vec<(&str, &str)> = params.iter().map(|(k, v)| (*k, v.as_str())).collect();
        let member_keys: Vec<String> = (1..=self.policy_arns.len())
            .map(|i| format!("PolicyArns.member.{i}.arn"))
            .collect();
        for (key, arn) in member_keys.iter().zip(&self.policy_arns) {
            pairs.push((key.as_str(), arn.as_str()));
        }
        let token_len = pairs
            .iter()
            .find(|(k, _)| *k == "WebIdentityToken")
            .map_or(0, |(_, v)| v.len());
        if !(4..=20000).contains(&token_len) {
            return Err(Error::new(
                ErrorKind::InvalidResponse,
                Service::AwsSts,
                format!("the web identity token is {token_len} characters; STS accepts 4–20000"),
            ));
        }
        let request = HttpRequest::new(
            Service::AwsSts,
            "AssumeRoleWithWebIdentity",
            Method::POST,
            url,
            ctx.resolve_call(Service::AwsSts, self.call).attempt_timeout,
        )
        .request_id_header(REQUEST_ID_HEADER)
        .form_body(&pairs);
        let span = tracing::debug_span!(
            "aws_sts_assume_role_with_web_identity",
            role_arn = %self.role_arn,
            endpoint = %request.url.host_str().unwrap_or(""),
        );
        let retry = ctx.resolve_call(Service::AwsSts, self.call).retry;
        let creds = send_with_retries(ctx, &retry, &request, |response, requested_at| {
            if response.status == 200 {
                self.parse_success(&response, requested_at)
            } else {
                Err(self.parse_error(&response))
            }
        })
        .instrument(span.clone())
        .await?;
        span.in_scope(|| {
            tracing::debug!(
                assumed_role_arn = %creds.assumed_role_arn,
                expiration = %format_rfc3339(creds.expiration()),
                "assumed role"
            )
        });
        Ok(creds)
    }

    fn validate(&self, ctx: &Context) -> Result<(), Error> {
        self.check()?;
        self.resolve_endpoint(ctx).map(|_| ())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::context::StaticEnv;

    #[test]
    fn credential_process_and_container_json_carry_every_field_and_redact_in_debug() {
        let at = UNIX_EPOCH + Duration::from_secs(1_800_000_000);
        let creds = AwsCredentials::new(
            "ASIAEXAMPLE",
            "secret-access-key-value",
            Some("session-token-value".into()),
            at,
            "arn:aws:sts::123456789012:assumed-role/app/s",
        );
        let process: serde_json::Value =
            serde_json::from_str(creds.to_credential_process_json().expose_secret()).unwrap();
        assert_eq!(
            process,
            serde_json::json!({
                "Version": 1, "AccessKeyId": "ASIAEXAMPLE",
                "SecretAccessKey": "secret-access-key-value", "SessionToken": "session-token-value",
                "Expiration": "2027-01-15T08:00:00Z", "AccountId": "123456789012",
            })
        );
        let container: serde_json::Value =
            serde_json::from_str(creds.to_container_credentials_json().expose_secret()).unwrap();
        assert_eq!(
            container,
            serde_json::json!({
                "AccessKeyId": "ASIAEXAMPLE", "SecretAccessKey": "secret-access-key-value",
                "Token": "session-token-value", "Expiration": "2027-01-15T08:00:00Z",
                "RoleArn": "arn:aws:sts::123456789012:assumed-role/app/s",
                "AccountId": "123456789012",
            })
        );
        let back = AwsCredentials::from_container_credentials_json(
            creds.to_container_credentials_json().expose_secret(),
        )
        .unwrap();
        assert_eq!(back.sdk_credentials(), creds.sdk_credentials());
        assert_eq!(back.assumed_role_arn(), creds.assumed_role_arn());
        assert_eq!(back.account_id(), Some("123456789012"));
        let debug = format!("{:?}", creds.to_container_credentials_json());
        assert!(!debug.contains("secret-access-key-value"), "{debug}");
        // No account in a non-ARN role: the field is left out, not empty.
        let bare = AwsCredentials::new("AKID", "s", None, at, "not-an-arn");
        let process: serde_json::Value =
            serde_json::from_str(bare.to_credential_process_json().expose_secret()).unwrap();
        assert_eq!(process.get("AccountId"), None);
        assert_eq!(process["SessionToken"], "");
    }

    #[test]
    fn stored_credentials_that_do_not_parse_are_errors_that_quote_nothing() {
        for bad in [
            "",
            "not json",
            r#"{"AccessKeyId":"A","Token":"t","Expiration":"2027-01-15T08:00:00Z","RoleArn":"r"}"#,
            r#"{"AccessKeyId":"A","SecretAccessKey":"hush-secret","Expiration":"soon","RoleArn":"r"}"#,
            r#"{"AccessKeyId":"","SecretAccessKey":"hush-secret","Expiration":"2027-01-15T08:00:00Z","RoleArn":"r"}"#,
            r#"{"AccessKeyId":"A","SecretAccessKey":7,"Expiration":"2027-01-15T08:00:00Z","RoleArn":"r"}"#,
        ] {
            let err = AwsCredentials::from_container_credentials_json(bad).unwrap_err();
            assert_eq!(err.kind(), ErrorKind::InvalidResponse, "{bad}");
            assert!(!err.to_string().contains("hush-secret"), "{err}");
            assert!(err.to_string().contains("delete the copy"), "{err}");
        }
        let no_token = AwsCredentials::from_container_credentials_json(
            r#"{"AccessKeyId":"AKID","SecretAccessKey":"s","Token":"","Expiration":"2027-01-15T08:00:00Z","RoleArn":"arn:aws:sts::123456789012:assumed-role/a/b"}"#,
        )
        .unwrap();
        assert_eq!(no_token.sdk_credentials().session_token(), None);
    }

    fn ctx(pairs: &[(&str, &str)]) -> Context {
        Context::builder()
            .env(StaticEnv::from_pairs(pairs.iter().copied()))
            .build()
    }

    const ROLE: &str = "arn:aws:iam::123456789012:role/app";

    #[test]
    fn endpoint_resolution_order() {
        let sts = AssumeRoleWithWebIdentity::new(ROLE);
        let url = |s: &AssumeRoleWithWebIdentity, env: &[(&str, &str)]| {
            s.resolve_endpoint(&ctx(env)).unwrap().to_string()
        };
        assert_eq!(url(&sts, &[]), "https://sts.amazonaws.com/");
        assert_eq!(
            url(&sts, &[("AWS_DEFAULT_REGION", "eu-west-1")]),
            "https://sts.eu-west-1.amazonaws.com/"
        );
        assert_eq!(
            url(
                &sts,
                &[
                    ("AWS_REGION", "us-east-2"),
                    ("AWS_DEFAULT_REGION", "eu-west-1")
                ]
            ),
            "https://sts.us-east-2.amazonaws.com/"
        );
        assert_eq!(
            url(&sts.clone().region("cn-north-1"), &[]),
            "https://sts.cn-north-1.amazonaws.com.cn/"
        );
        assert_eq!(
            url(&sts.clone().region("us-gov-west-1").fips(true), &[]),
            "https://sts-fips.us-gov-west-1.amazonaws.com/"
        );
        assert_eq!(
            url(
                &sts,
                &[
                    ("AWS_REGION", "us-east-1"),
                    ("AWS_USE_FIPS_ENDPOINT", "true")
                ]
            ),
            "https://sts-fips.us-east-1.amazonaws.com/"
        );
        assert_eq!(
            url(
                &sts,
                &[
                    ("AWS_ENDPOINT_URL", "http://127.0.0.1:1/"),
                    ("AWS_REGION", "x1")
                ]
            ),
            "http://127.0.0.1:1/"
        );
        assert_eq!(
            url(
                &sts,
                &[
                    ("AWS_ENDPOINT_URL", "http://a/"),
                    ("AWS_ENDPOINT_URL_STS", "http://b/")
                ]
            ),
            "http://b/"
        );
        assert_eq!(
            url(
                &sts.clone().endpoint_url("http://c:9"),
                &[("AWS_ENDPOINT_URL_STS", "http://b/")]
            ),
            "http://c:9/"
        );
    }

    #[test]
    fn endpoint_and_region_errors_name_the_setting() {
        let sts = AssumeRoleWithWebIdentity::new(ROLE);
        let err = |s: &AssumeRoleWithWebIdentity, env: &[(&str, &str)]| {
            s.resolve_endpoint(&ctx(env))
                .unwrap_err()
                .message()
                .to_string()
        };
        assert!(err(&sts, &[("AWS_REGION", "us-east-1.evil.com/")]).starts_with("AWS_REGION:"));
        assert!(err(&sts.clone().region("US EAST"), &[]).starts_with("region:"));
        assert!(
            err(&sts, &[("AWS_ENDPOINT_URL_STS", "not a url")])
                .starts_with("AWS_ENDPOINT_URL_STS:")
        );
        assert!(err(&sts.clone().endpoint_url("ftp://x"), &[]).starts_with("endpoint_url:"));
        assert!(err(&sts.clone().endpoint_url("http://x/?a=b"), &[]).starts_with("endpoint_url:"));
        assert!(err(&sts.clone().fips(true), &[]).starts_with("region:"));
    }

    #[test]
    fn parameter_validation() {
        let ok = AssumeRoleWithWebIdentity::new(ROLE);
        assert!(ok.check().is_ok());
        assert!(
            AssumeRoleWithWebIdentity::new("arn:aws-cn:iam::123456789012:role/path/app")
                .check()
                .is_ok()
        );
        for bad in [
            "",
            "role",
            "arn:aws:iam::123:role/x",
            "arn:aws:sts::123456789012:role/x",
            "arn:aws:iam::123456789012:user/x",
            "arn:aws:iam::123456789012:role/",
        ] {
            assert!(
                AssumeRoleWithWebIdentity::new(bad)
                    .check()
                    .unwrap_err()
                    .message()
                    .starts_with("role_arn"),
                "{bad}"
            );
        }
        assert!(ok.clone().session_name("a").check().is_err());
        assert!(ok.clone().session_name("x".repeat(65)).check().is_err());
        assert!(ok.clone().session_name("has space").check().is_err());
        assert!(
            ok.clone()
                .session_name("a\r\nX-Injected: 1")
                .check()
                .is_err()
        );
        assert!(ok.clone().session_name("ok_+=,.@-9").check().is_ok());
        assert!(ok.clone().session_name("x".repeat(64)).check().is_ok());
        assert!(
            ok.clone()
                .duration(Duration::from_secs(899))
                .check()
                .unwrap_err()
                .message()
                .starts_with("duration_seconds")
        );
        assert!(
            ok.clone()
                .duration(Duration::from_secs(43201))
                .check()
                .is_err()
        );
        assert!(
            ok.clone()
                .duration(Duration::from_millis(1_000_500))
                .check()
                .is_err()
        );
        assert!(
            ok.clone()
                .duration(Duration::from_secs(900))
                .check()
                .is_ok()
        );
        assert!(
            ok.clone()
                .duration(Duration::from_secs(43200))
                .check()
                .is_ok()
        );
        assert!(ok.clone().policy("x".repeat(2049)).check().is_err());
        assert!(ok.clone().policy("\u{1}").check().is_err());
        assert!(
            ok.clone()
                .policy(r#"{"Version":"2012-10-17"}"#)
                .check()
                .is_ok()
        );
        assert!(
            ok.clone()
                .policy_arns((0..11).map(|i| format!("arn:aws:iam::aws:policy/P{i}")))
                .check()
                .is_err()
        );
        assert!(ok.clone().policy_arns(["nope"]).check().is_err());
    }

    #[test]
    fn hand_built_credentials_expose_fields_and_redact_secrets() {
        let expiry = UNIX_EPOCH + Duration::from_secs(1_700_003_600);
        let creds = AwsCredentials::new(
            "AKIDEXAMPLE",
            "example-secret-key",
            Some("example-session-token".to_string()),
            expiry,
            "arn:aws:sts::123456789012:assumed-role/app/billing-worker",
        );
        let sdk = creds.sdk_credentials();
        assert_eq!(sdk.secret_access_key(), "example-secret-key");
        assert_eq!(sdk.session_token(), Some("example-session-token"));
        assert_eq!(sdk.expiry(), Some(expiry));
        assert_eq!(creds.access_key_id(), "AKIDEXAMPLE");
        assert_eq!(creds.expiration(), expiry);
        assert_eq!(
            creds.assumed_role_arn(),
            "arn:aws:sts::123456789012:assumed-role/app/billing-worker"
        );
        assert_eq!(creds.account_id(), Some("123456789012"));
        assert_eq!(creds.subject(), None);
        let shown = format!("{creds:?}");
        assert!(shown.contains("AKIDEXAMPLE") && !shown.contains("example-secret-key"));
    }

    #[test]
    fn builder_settings_validate_and_resolve_as_documented() {
        let empty = ctx(&[]);
        let sts = AssumeRoleWithWebIdentity::new(ROLE);
        assert_eq!(sts.role_arn(), ROLE);
        assert!(
            AssumeRoleWithWebIdentity::new("app")
                .validate(&Context::default())
                .is_err()
        );
        let configured = sts
            .clone()
            .session_name("billing-worker")
            .duration(Duration::from_secs(3600))
            .region("eu-west-1");
        configured.validate(&empty).unwrap();
        assert_eq!(
            configured.resolve_endpoint(&empty).unwrap().as_str(),
            "https://sts.eu-west-1.amazonaws.com/"
        );
        assert!(sts.clone().session_name("x").validate(&empty).is_err());
        sts.clone()
            .duration(Duration::from_secs(12 * 3600))
            .validate(&empty)
            .unwrap();
        assert!(
            sts.clone()
                .duration(Duration::from_secs(300))
                .validate(&empty)
                .is_err()
        );
        let deny_writes = r#"{"Version":"2012-10-17","Statement":[{"Effect":"Deny","Action":"s3:Put*","Resource":"*"}]}"#;
        sts.clone().policy(deny_writes).validate(&empty).unwrap();
        sts.clone()
            .policy_arns(["arn:aws:iam::aws:policy/ReadOnlyAccess"])
            .validate(&empty)
            .unwrap();
        assert!(
            sts.clone()
                .policy_arns(["ReadOnlyAccess"])
                .validate(&empty)
                .is_err()
        );
        let url = |s: AssumeRoleWithWebIdentity| s.resolve_endpoint(&empty).unwrap().to_string();
        assert_eq!(
            url(sts.clone().region("ap-southeast-2")),
            "https://sts.ap-southeast-2.amazonaws.com/"
        );
        assert_eq!(
            url(sts
                .clone()
                .endpoint_url("http://127.0.0.1:4566")
                .region("us-east-1")),
            "http://127.0.0.1:4566/"
        );
        assert_eq!(
            url(sts.clone().fips(true).region("us-east-1")),
            "https://sts-fips.us-east-1.amazonaws.com/"
        );
        let in_env =
            |pairs: &[(&str, &str)]| sts.resolve_endpoint(&ctx(pairs)).unwrap().to_string();
        assert_eq!(
            in_env(&[("AWS_REGION", "cn-north-1")]),
            "https://sts.cn-north-1.amazonaws.com.cn/"
        );
        assert_eq!(
            in_env(&[("AWS_ENDPOINT_URL_STS", "http://127.0.0.1:4566")]),
            "http://127.0.0.1:4566/"
        );
    }

    #[test]
    fn default_session_name_is_valid_and_fresh() {
        let sts = AssumeRoleWithWebIdentity::new(ROLE);
        let name = sts.session_name_for(&ctx(&[]));
        assert!(name.starts_with("federated-credentials-"));
        assert!(validate_session_name(&name).is_ok());
    }

    #[test]
    fn expiration_formats() {
        assert_eq!(
            parse_expiration("2021-08-16T20:52:53Z"),
            Some(UNIX_EPOCH + Duration::from_secs(1_629_147_173))
        );
        assert!(parse_expiration("2021-08-16T20:52:53.123456Z").is_some());
        assert_eq!(
            parse_expiration("1.726572582E9"),
            Some(UNIX_EPOCH + Duration::from_secs_f64(1.726572582e9))
        );
        assert!(parse_expiration("tomorrow").is_none());
        assert_eq!(
            account_from_arn("arn:aws:sts::123456789012:assumed-role/R/s"),
            Some("123456789012")
        );
        assert_eq!(account_from_arn("arn:aws:sts::12:assumed-role/R/s"), None);
    }

    /// Regression (fault matrix, garbage 200 bodies): the request id STS sends in its header
    /// was dropped when the body could not be read as a success.
    #[test]
    fn unreadable_success_bodies_keep_the_header_request_id() {
        let mut headers = reqwest::header::HeaderMap::new();
        headers.insert(REQUEST_ID_HEADER, "req-123".parse().unwrap());
        for body in ["<html>502</html>", "{}", "<Other/>"] {
            let response = HttpResponse {
                status: 200,
                headers: headers.clone(),
                body: body.as_bytes().to_vec(),
            };
            let err = AssumeRoleWithWebIdentity::new(ROLE)
                .parse_success(&response, UNIX_EPOCH)
                .unwrap_err();
            assert_eq!(err.kind(), ErrorKind::InvalidResponse);
            assert_eq!(err.request_id(), Some("req-123"), "{body}: {err}");
        }
    }

    /// Regression (fuzz target sts_xml_success, crash-e94d6f52): an epoch-seconds Expiration
    /// too large for a `Duration` panicked in `Duration::from_secs_f64`.
    #[test]
    fn absurd_epoch_expirations_are_rejected_not_panicked_on() {
        for text in [
            "18000036666666666666666666666666666666666666666666666666666666666600.5",
            "1e300",
            "18446744073709551616",
        ] {
            assert_eq!(parse_expiration(text), None, "{text}");
        }
        let body = "<AssumeRoleWithWebIdentityResponse><AssumeRoleWithWebIdentityResult>\
            <AssumedRoleUser><Arn>arn:aws:sts::123456789012:assumed-role/R/s</Arn></AssumedRoleUser>\
            <Credentials><AccessKeyId>ASIA</AccessKeyId><SecretAccessKey>s</SecretAccessKey>\
            <SessionToken>t</SessionToken><Expiration>1e300</Expiration></Credentials>\
            </AssumeRoleWithWebIdentityResult></AssumeRoleWithWebIdentityResponse>";
        let response = HttpResponse {
            status: 200,
            headers: Default::default(),
            body: body.as_bytes().to_vec(),
        };
        let err = AssumeRoleWithWebIdentity::new(ROLE)
            .parse_success(&response, UNIX_EPOCH)
            .unwrap_err();
        assert!(err.message().contains("not an RFC 3339 time"), "{err}");
    }
}
