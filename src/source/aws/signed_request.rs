//! [`AwsSignedRequestToken`]: the `aws4_request` subject token Google STS accepts from AWS
//! workloads, a SigV4-signed (never sent) STS `GetCallerIdentity` request serialized as JSON
//! and percent-encoded. Google replays it to AWS, which says who signed it.
//!
//! Signing is done by the `aws-sigv4` crate; this module only chooses what to sign and how
//! to serialize it (the `aws4_request` subject token of the [Google STS token API](https://cloud.google.com/iam/docs/reference/sts/rest/v1/TopLevel/token) and [AIP-4117](https://google.aip.dev/auth/4117)).

use std::sync::Arc;
use std::time::{Duration, SystemTime};

use async_trait::async_trait;
use aws_credential_types::Credentials;
use aws_sigv4::http_request::{SignableBody, SignableRequest, SigningSettings, sign};
use aws_sigv4::sign::v4;
use serde::Serialize;
use url::Url;

use super::{AwsIdentitySource, is_region_name};
use crate::context::Context;
use crate::error::{Error, ErrorKind, Service, sanitize_upstream_text};
use crate::source::SubjectTokenSource;
use crate::token::{SubjectToken, TokenType, format_rfc3339};

/// The `regional_cred_verification_url` of generated credential configurations.
pub const DEFAULT_REGIONAL_CRED_VERIFICATION_URL: &str =
    "https://sts.{region}.amazonaws.com?Action=GetCallerIdentity&Version=2011-06-15";

/// The setting named in configuration errors about the template.
const URL_SETTING: &str = "credential_source.regional_cred_verification_url";

/// The header that binds the signed request to one workload identity provider.
const TARGET_RESOURCE: &str = "x-goog-cloud-target-resource";

/// How long a signed request is worth using: AWS rejects SigV4 requests older than ~15 min.
const SIGNATURE_LIFETIME: Duration = Duration::from_secs(15 * 60);

/// A Google STS subject token of type `urn:ietf:params:aws:token-type:aws4_request`, made
/// from the credentials and region of an [`AwsIdentitySource`].
///
/// Each call resolves the region, fetches credentials, substitutes `{region}` in the
/// verification URL template, and signs `POST` with an empty body over the headers
/// `host;x-amz-date[;x-amz-security-token];x-goog-cloud-target-resource` (the target header
/// is signed, as Go, Java and google-cloud-rust do and Google recommends). The token is
///
/// ```text
/// {"url":"…","method":"POST","headers":[{"key":"host","value":"…"},{"key":"x-amz-date",…},
///  [{"key":"x-amz-security-token",…},]{"key":"x-goog-cloud-target-resource",…},{"key":"Authorization",…}]}
/// ```
///
/// percent-encoded (everything but `A-Za-z0-9-_.~` escaped). It expires 15 minutes after
/// signing, or with the credentials if sooner.
///
/// ```
/// use federated_credentials::context::{Context, StaticEnv};
/// use federated_credentials::source::aws::AwsEnvironment;
/// use federated_credentials::source::{AwsSignedRequestToken, SubjectTokenSource};
/// use federated_credentials::token::TokenType;
///
/// # #[tokio::main(flavor = "current_thread")]
/// # async fn main() -> Result<(), federated_credentials::Error> {
/// let source = AwsSignedRequestToken::new(
///     AwsEnvironment::new(),
///     "//iam.googleapis.com/projects/123456/locations/global/workloadIdentityPools/pool/providers/aws",
/// );
/// let ctx = Context::builder()
///     .env(StaticEnv::from_pairs([
///         ("AWS_ACCESS_KEY_ID", "AKIDEXAMPLE"),
///         ("AWS_SECRET_ACCESS_KEY", "wJalrXUtnFEMI/K7MDENG+bPxRfiCYEXAMPLEKEY"),
///         ("AWS_REGION", "us-east-2"),
///     ]))
///     .build();
/// // Signed locally, never sent: no network involved.
/// let token = source.subject_token(&ctx).await?;
/// assert_eq!(token.token_type(), TokenType::Aws4Request);
/// # Ok(())
/// # }
/// ```
#[derive(Debug, Clone)]
pub struct AwsSignedRequestToken {
    identity: Arc<dyn AwsIdentitySource>,
    audience: String,
    url_template: String,
    sign_target_resource: bool,
}

impl AwsSignedRequestToken {
    /// Signs with `identity` for `audience`, the workload identity provider's full resource
    /// name (`//iam.googleapis.com/projects/NUMBER/locations/global/workloadIdentityPools/POOL/providers/PROVIDER`).
    pub fn new(identity: impl AwsIdentitySource + 'static, audience: impl Into<String>) -> Self {
        Self::from_shared(Arc::new(identity), audience)
    }

    /// Like [`new`](Self::new), with an identity source shared with other users:
    ///
    /// ```
    /// use std::sync::Arc;
    /// use federated_credentials::source::aws::{AwsIdentitySource, Ec2InstanceMetadata};
    /// use federated_credentials::source::AwsSignedRequestToken;
    ///
    /// // One IMDS client (and its caches) for two workload identity providers:
    /// let imds: Arc<dyn AwsIdentitySource> = Arc::new(Ec2InstanceMetadata::new());
    /// let prod = AwsSignedRequestToken::from_shared(imds.clone(), "//iam.googleapis.com/projects/1/locations/global/workloadIdentityPools/prod/providers/aws");
    /// let logs = AwsSignedRequestToken::from_shared(imds, "//iam.googleapis.com/projects/2/locations/global/workloadIdentityPools/logs/providers/aws");
    /// ```
    pub fn from_shared(identity: Arc<dyn AwsIdentitySource>, audience: impl Into<String>) -> Self {
        Self {
            identity,
            audience: audience.into(),
            url_template: DEFAULT_REGIONAL_CRED_VERIFICATION_URL.to_string(),
            sign_target_resource: true,
        }
    }

    /// The verification URL template (`credential_source.regional_cred_verification_url`);
    /// `{region}` is replaced by the region. Must be `https` to an AWS STS host. Default
    /// [`DEFAULT_REGIONAL_CRED_VERIFICATION_URL`].
    pub fn regional_cred_verification_url(mut self, template: impl Into<String>) -> Self {
        self.url_template = template.into();
        self
    }

    /// Leaves `x-goog-cloud-target-resource` out of the signature (still listed), as
    /// google-auth Python does. Only for the golden-vector tests.
    #[cfg(test)]
    pub(crate) fn without_signed_target_resource(mut self) -> Self {
        self.sign_target_resource = false;
        self
    }

    /// The audience the token is bound to.
    pub fn audience(&self) -> &str {
        &self.audience
    }

    /// The identity source.
    pub fn identity(&self) -> &Arc<dyn AwsIdentitySource> {
        &self.identity
    }

    /// The verification URL for `region`, checked.
    fn url_for(&self, region: &str) -> Result<(String, Url), Error> {
        let url = self.url_template.trim().replace("{region}", region);
        let parsed = check_verification_url(&url, self.url_template.contains("{region}"))?;
        Ok((url, parsed))
    }
}

/// Checks a verification URL after substitution: https, an AWS STS host, the
/// `GetCallerIdentity` action.
fn check_verification_url(url: &str, has_placeholder: bool) -> Result<Url, Error> {
    let parsed = Url::parse(url)
        .map_err(|e| Error::config(URL_SETTING, format!("`{url}` is not a valid URL ({e})")))?;
    if parsed.scheme() != "https" {
        return Err(Error::config(
            URL_SETTING,
            format!("`{url}` must use https"),
        ));
    }
    let host = parsed.host_str().unwrap_or("").to_ascii_lowercase();
    let labels: Vec<&str> = host.split('.').collect();
    let first = labels.first().copied().unwrap_or("");
    let sts_first_label = first == "sts" || first.starts_with("sts-");
    let aws_domain = host.ends_with(".amazonaws.com") || host.ends_with(".amazonaws.com.cn");
    if !sts_first_label || !aws_domain || !parsed.username().is_empty() {
        return Err(Error::config(
            URL_SETTING,
            format!(
                "host `{host}` is not an AWS STS endpoint (sts.{{region}}.amazonaws.com, or amazonaws.com.cn in China)"
            ),
        ));
    }
    if !has_placeholder && !labels.get(1).is_some_and(|l| is_region_name(l)) {
        return Err(Error::config(
            URL_SETTING,
            format!(
                "`{url}` has neither a `{{region}}` placeholder nor a regional host like sts.us-east-1.amazonaws.com"
            ),
        ));
    }
    let action_ok = parsed
        .query_pairs()
        .any(|(k, v)| k == "Action" && v == "GetCallerIdentity");
    if !action_ok || parsed.fragment().is_some() {
        return Err(Error::config(
            URL_SETTING,
            format!(
                "`{url}` must carry ?Action=GetCallerIdentity&Version=2011-06-15 and no fragment"
            ),
        ));
    }
    Ok(parsed)
}

/// The SigV4 service name for an STS host: its first DNS label, without a `-fips` suffix.
fn service_for(host: &str) -> &str {
    let first = host.split('.').next().unwrap_or(host);
    first.strip_suffix("-fips").unwrap_or(first)
}

/// `host[:port]` as it goes into the `host` header (default ports omitted).
fn host_header(url: &Url) -> String {
    let host = url.host_str().unwrap_or_default();
    match url.port() {
        Some(port) => format!("{host}:{port}"),
        None => host.to_string(),
    }
}

/// The headers of a signed `GetCallerIdentity`, in serialization order:
/// `host, x-amz-date, [x-amz-security-token,] x-goog-cloud-target-resource, Authorization`.
pub(crate) fn sign_get_caller_identity(
    url: &str,
    parsed: &Url,
    region: &str,
    credentials: &Credentials,
    time: SystemTime,
    audience: &str,
    sign_target_resource: bool,
) -> Result<Vec<(&'static str, String)>, Error> {
    let signing_failed = |what: &str, e: &dyn std::fmt::Display| {
        Error::new(
            ErrorKind::Configuration,
            Service::AwsCredentials,
            format!(
                "could not sign the GetCallerIdentity request ({what}: {})",
                sanitize_upstream_text(&e.to_string(), 200)
            ),
        )
    };
    let host = host_header(parsed);
    let mut signed_headers = vec![("host", host.as_str())];
    if sign_target_resource {
        signed_headers.push((TARGET_RESOURCE, audience));
    }
    let identity = credentials.clone().into();
    let params = v4::SigningParams::builder()
        .identity(&identity)
        .region(region)
        .name(service_for(&host))
        .time(time)
        .settings(SigningSettings::default())
        .build()
        .map_err(|e| signing_failed("parameters", &e))?
        .into();
    let request = SignableRequest::new(
        "POST",
        url,
        signed_headers.iter().copied(),
        SignableBody::Bytes(&[]),
    )
    .map_err(|e| signing_failed("URL", &e))?;
    let (instructions, _signature) = sign(request, &params)
        .map_err(|e| signing_failed("signature", &e))?
        .into_parts();
    let added = |name: &str| {
        instructions
            .headers()
            .find(|(n, _)| n.eq_ignore_ascii_case(name))
            .map(|(_, v)| v.to_string())
    };
    let missing = || signing_failed("output", &"a signing header is missing");
    let mut headers = vec![
        ("host", host.clone()),
        ("x-amz-date", added("x-amz-date").ok_or_else(missing)?),
    ];
    if credentials.session_token().is_some() {
        headers.push((
            "x-amz-security-token",
            added("x-amz-security-token").ok_or_else(missing)?,
        ));
    }
    headers.push((TARGET_RESOURCE, audience.to_string()));
    headers.push(("Authorization", added("authorization").ok_or_else(missing)?));
    Ok(headers)
}

#[derive(Serialize)]
struct SerializedRequest<'a> {
    url: &'a str,
    method: &'a str,
    headers: Vec<SerializedHeader<'a>>,
}

#[derive(Serialize)]
struct SerializedHeader<'a> {
    key: &'a str,
    value: &'a str,
}

/// The JSON form of the signed request: `{"url","method","headers":[{"key","value"}…]}`.
pub(crate) fn serialize_request(url: &str, headers: &[(&'static str, String)]) -> String {
    let body = SerializedRequest {
        url,
        method: "POST",
        headers: headers
            .iter()
            .map(|(key, value)| SerializedHeader { key, value })
            .collect(),
    };
    serde_json::to_string(&body).expect("a struct of strings always serializes")
}

/// Percent-encodes every byte except the RFC 3986 unreserved characters `A-Za-z0-9-_.~`.
pub(crate) fn percent_encode_all(text: &str) -> String {
    let mut out = String::with_capacity(text.len() * 3);
    for &b in text.as_bytes() {
        if b.is_ascii_alphanumeric() || b"-_.~".contains(&b) {
            out.push(char::from(b));
        } else {
            out.push_str(&format!("%{b:02X}"));
        }
    }
    out
}

#[async_trait]
impl SubjectTokenSource for AwsSignedRequestToken {
    async fn subject_token(&self, ctx: &Context) -> Result<SubjectToken, Error> {
        self.validate()?;
        let region = self.identity.region(ctx).await?;
        if !is_region_name(&region) {
            return Err(Error::new(
                ErrorKind::InvalidResponse,
                Service::AwsCredentials,
                format!(
                    "{} produced `{}`, which is not an AWS region name",
                    self.identity.name(),
                    sanitize_upstream_text(&region, 64)
                ),
            ));
        }
        let credentials = self.identity.credentials(ctx).await?;
        let now = ctx.now();
        let mut expires_at = now + SIGNATURE_LIFETIME;
        if let Some(expiry) = credentials.expiry() {
            if expiry <= now {
                return Err(Error::new(
                    ErrorKind::Expired,
                    Service::AwsCredentials,
                    format!(
                        "the credentials from {} expired at {}; check the source and this machine's clock",
                        self.identity.name(),
                        format_rfc3339(expiry)
                    ),
                )
                .with_transient(true));
            }
            expires_at = expires_at.min(expiry);
        }
        let (url, parsed) = self.url_for(&region)?;
        let headers = sign_get_caller_identity(
            &url,
            &parsed,
            &region,
            &credentials,
            now,
            &self.audience,
            self.sign_target_resource,
        )?;
        tracing::debug!(
            source = self.identity.name(),
            region = %region,
            access_key_id = credentials.access_key_id(),
            "signed GetCallerIdentity"
        );
        let token = percent_encode_all(&serialize_request(&url, &headers));
        Ok(SubjectToken::new(token, TokenType::Aws4Request).with_expiry(expires_at))
    }

    fn name(&self) -> &'static str {
        "aws-signed-request"
    }

    fn validate(&self) -> Result<(), Error> {
        let audience = self.audience.trim();
        if audience.is_empty() || audience.chars().any(char::is_control) {
            return Err(Error::config(
                "audience",
                "is required: the workload identity provider, //iam.googleapis.com/projects/NUMBER/locations/global/workloadIdentityPools/POOL/providers/PROVIDER",
            ));
        }
        self.url_for("us-east-1").map(|_| ())
    }
}

#[cfg(test)]
mod tests;
