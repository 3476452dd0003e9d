//! Google STS token exchange (RFC 8693): trades a subject token from another identity provider
//! (an OIDC JWT, a SAML assertion, or a SigV4-signed AWS request) for a Google federated access
//! token: the RFC 8693 form, workforce-pool options, and the hints for Google's OAuth error
//! codes (what all OAuth token endpoints share is in `oauth`).

use std::time::{Duration, SystemTime};
use tracing::Instrument;

use async_trait::async_trait;
use reqwest::Method;
use url::Url;

use super::{Exchange, oauth};
use crate::context::{CallSettings, Context};
use crate::error::{Error, Service};
use crate::http::{HttpRequest, HttpResponse, RetryPolicy, send_with_retries};
use crate::secret::SecretString;
use crate::token::{AccessToken, SubjectToken, TokenType};

/// The default STS endpoint (`token_url`), for the `googleapis.com` universe.
pub const DEFAULT_TOKEN_URL: &str = "https://sts.googleapis.com/v1/token";
/// The scope that covers every Google Cloud API, the default of the exchanges and
/// providers here.
pub const CLOUD_PLATFORM_SCOPE: &str = "https://www.googleapis.com/auth/cloud-platform";
const GRANT_TYPE: &str = "urn:ietf:params:oauth:grant-type:token-exchange";

/// Whether `audience` names a workforce pool provider (`//iam.googleapis.com/locations/L/workforcePools/...`).
pub fn is_workforce_audience(audience: &str) -> bool {
    // Host-agnostic (other universes), like the reference clients' regex.
    let Some(rest) = audience.strip_prefix("//") else {
        return false;
    };
    let mut parts = rest.split('/').skip(1);
    matches!(
        (parts.next(), parts.next(), parts.next()),
        (Some("locations"), Some(loc), Some("workforcePools")) if !loc.is_empty()
    )
}

/// Google STS `token` exchange.
///
/// ```
/// use federated_credentials::context::Context;
/// use federated_credentials::exchange::{Exchange, GoogleStsExchange};
/// let sts = GoogleStsExchange::new(
///     "//iam.googleapis.com/projects/123/locations/global/workloadIdentityPools/aws/providers/aws",
/// )
/// .scopes(["https://www.googleapis.com/auth/cloud-platform"]);
/// sts.validate(&Context::default())?; // checked without I/O
/// # Ok::<(), federated_credentials::Error>(())
/// ```
///
/// A workforce pool (people signing in through an identity provider) bills a project, or
/// authenticates as an OAuth client:
///
/// ```
/// use federated_credentials::exchange::GoogleStsExchange;
///
/// let workforce = "//iam.googleapis.com/locations/global/workforcePools/staff/providers/okta";
/// let billed = GoogleStsExchange::new(workforce).workforce_pool_user_project("my-project");
/// let as_client = GoogleStsExchange::new(workforce)
///     .client_credentials("example-client-id", "example-client-secret");
/// ```
#[derive(Debug, Clone)]
pub struct GoogleStsExchange {
    token_url: String,
    audience: String,
    scopes: Vec<String>,
    client_id: Option<String>,
    client_secret: Option<SecretString>,
    workforce_pool_user_project: Option<String>,
    /// Set by `attempt_timeout`/`retry_policy`; the rest comes from the context.
    call: CallSettings,
}

impl GoogleStsExchange {
    /// An exchange for the workload or workforce identity pool provider `audience`, at
    /// [`DEFAULT_TOKEN_URL`], asking for the cloud-platform scope.
    pub fn new(audience: impl Into<String>) -> Self {
        Self {
            token_url: DEFAULT_TOKEN_URL.to_string(),
            audience: audience.into(),
            scopes: vec![CLOUD_PLATFORM_SCOPE.to_string()],
            client_id: None,
            client_secret: None,
            workforce_pool_user_project: None,
            call: CallSettings::new(),
        }
    }

    /// The STS endpoint (`token_url`): `https`, or plain `http` for loopback hosts only
    /// (emulators).
    pub fn token_url(mut self, url: impl Into<String>) -> Self {
        self.token_url = url.into();
        self
    }

    /// The scopes requested (space-joined on the wire; none sends no `scope`). Default:
    /// [`CLOUD_PLATFORM_SCOPE`].
    pub fn scopes(mut self, scopes: impl IntoIterator<Item = impl Into<String>>) -> Self {
        self.scopes = scopes.into_iter().map(Into::into).collect();
        self
    }

    /// Client authentication (`Authorization: Basic`), for workforce and gcloud flows. The
    /// client id must not contain `:`.
    pub fn client_credentials(
        mut self,
        client_id: impl Into<String>,
        client_secret: impl Into<SecretString>,
    ) -> Self {
        self.client_id = Some(client_id.into());
        self.client_secret = Some(client_secret.into());
        self
    }

    /// Client authentication for a public client (a `client_id` without a secret):
    /// `Authorization: Basic` of `client_id:` with an empty password, as google-auth sends it.
    pub fn client_id(mut self, client_id: impl Into<String>) -> Self {
        self.client_id = Some(client_id.into());
        self.client_secret = None;
        self
    }

    /// The project billed for a workforce pool exchange (`options.userProject`). Only allowed
    /// with a workforce pool audience; not sent when client credentials are set.
    pub fn workforce_pool_user_project(mut self, project: impl Into<String>) -> Self {
        self.workforce_pool_user_project = Some(project.into());
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

    /// The audience.
    pub fn audience(&self) -> &str {
        &self.audience
    }

    fn url(&self) -> Result<Url, Error> {
        crate::exchange::validate_google_url("token_url", &self.token_url)
    }

    fn check(&self) -> Result<(), Error> {
        if self.audience.trim().is_empty() {
            return Err(Error::config(
                "audience",
                "is required: the workload identity pool provider, //iam.googleapis.com/projects/NUMBER/locations/global/workloadIdentityPools/POOL/providers/PROVIDER",
            ));
        }
        if self.workforce_pool_user_project.is_some() && !is_workforce_audience(&self.audience) {
            return Err(Error::config(
                "workforce_pool_user_project",
                "is only allowed with a workforce pool audience (//iam.googleapis.com/locations/LOCATION/workforcePools/...)",
            ));
        }
        if self.client_id.as_deref().is_some_and(|id| id.contains(':')) {
            return Err(Error::config("client_id", "must not contain ':'"));
        }
        self.url().map(|_| ())
    }

    fn form(&self, token: &SubjectToken) -> Vec<(&'static str, String)> {
        let mut form = vec![
            ("grant_type", GRANT_TYPE.to_string()),
            ("audience", self.audience.clone()),
            (
                "requested_token_type",
                TokenType::AccessToken.urn().to_string(),
            ),
            ("subject_token_type", token.token_type().urn().to_string()),
            ("subject_token", token.token().expose_secret().to_string()),
        ];
        if !self.scopes.is_empty() {
            form.push(("scope", self.scopes.join(" ")));
        }
        if let Some(project) = &self.workforce_pool_user_project
            && self.client_id.is_none()
            && is_workforce_audience(&self.audience)
        {
            form.push((
                "options",
                serde_json::json!({ "userProject": project }).to_string(),
            ));
        }
        form
    }

    pub(crate) fn parse_success(
        response: &HttpResponse,
        requested_at: SystemTime,
    ) -> Result<AccessToken, Error> {
        oauth::parse_token_response(response, Service::GoogleSts, ENDPOINT, requested_at)
    }

    pub(crate) fn parse_error(response: &HttpResponse) -> Error {
        oauth::token_endpoint_error(response, Service::GoogleSts, ENDPOINT, |body| {
            oauth_hint(&body.error).map(str::to_string)
        })
    }
}

/// How errors name the endpoint.
const ENDPOINT: &str = "the token exchange";

fn oauth_hint(code: &str) -> Option<&'static str> {
    Some(match code {
        "invalid_request" => {
            "Check the audience (the full provider resource name) and subject_token_type"
        }
        "invalid_grant" => {
            "The subject token was rejected: check that it is valid and unexpired, that the provider's issuer or AWS account matches, and the clock"
        }
        "unauthorized_client" => {
            "The provider rejected this identity: check its attribute condition and, for AWS providers, that the AWS account id matches"
        }
        "invalid_target" => {
            "The workload identity pool or provider does not exist or is disabled: check the audience"
        }
        "invalid_client" => "Check client_id and client_secret",
        "invalid_scope" => "Check the requested scopes",
        _ => return None,
    })
}

#[async_trait]
impl Exchange<SubjectToken> for GoogleStsExchange {
    type Output = AccessToken;

    async fn exchange(&self, ctx: &Context, token: &SubjectToken) -> Result<AccessToken, Error> {
        self.check()?;
        let form = self.form(token);
        let pairs: Vec<(&str, &str)> = form.iter().map(|(k, v)| (*k, v.as_str())).collect();
        let call = ctx.resolve_call(Service::GoogleSts, self.call);
        let mut request = HttpRequest::new(
            Service::GoogleSts,
            "exchanging the subject token at Google STS",
            Method::POST,
            self.url()?,
            call.attempt_timeout,
        )
        .form_body(&pairs);
        // A client id without a secret is a public client: `id:` with an empty password, as
        // google-auth 2.63.0 sends it (`oauth2/utils.py`, `client_secret or ""`).
        if let Some(id) = &self.client_id {
            let secret = self
                .client_secret
                .as_ref()
                .map_or("", |s| s.expose_secret());
            request =
                request.secret_header("authorization", &oauth::basic_client_auth(id, secret))?;
        }
        let span = tracing::debug_span!("google_sts_exchange", endpoint = %request.url.host_str().unwrap_or(""), subject_token_type = %token.token_type());
        send_with_retries(ctx, &call.retry, &request, |response, requested_at| {
            if response.status == 200 {
                Self::parse_success(&response, requested_at)
            } else {
                Err(Self::parse_error(&response))
            }
        })
        .instrument(span)
        .await
    }

    fn validate(&self, _ctx: &Context) -> Result<(), Error> {
        self.check()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::ErrorKind;
    use std::time::UNIX_EPOCH;

    const AUD: &str =
        "//iam.googleapis.com/projects/1/locations/global/workloadIdentityPools/p/providers/x";
    const WF: &str = "//iam.googleapis.com/locations/global/workforcePools/p/providers/x";

    fn response(status: u16, body: &str) -> HttpResponse {
        HttpResponse::with_body(status, body)
    }

    #[test]
    fn form_has_every_field_and_single_encoded_options() {
        let token = SubjectToken::new("subject", TokenType::Aws4Request);
        let sts = GoogleStsExchange::new(WF)
            .scopes(["a", "b"])
            .workforce_pool_user_project("proj-1");
        let form = sts.form(&token);
        let get = |k: &str| form.iter().find(|(n, _)| *n == k).map(|(_, v)| v.clone());
        assert_eq!(get("grant_type").as_deref(), Some(GRANT_TYPE));
        assert_eq!(
            get("requested_token_type").as_deref(),
            Some("urn:ietf:params:oauth:token-type:access_token")
        );
        assert_eq!(
            get("subject_token_type").as_deref(),
            Some("urn:ietf:params:aws:token-type:aws4_request")
        );
        assert_eq!(get("scope").as_deref(), Some("a b"));
        assert_eq!(
            get("options").as_deref(),
            Some(r#"{"userProject":"proj-1"}"#)
        );
        // with client auth, no options
        let form = sts.clone().client_credentials("id", "secret").form(&token);
        assert!(!form.iter().any(|(k, _)| *k == "options"));
        // no scopes, no scope field
        let form = GoogleStsExchange::new(AUD)
            .scopes(Vec::<String>::new())
            .form(&token);
        assert!(!form.iter().any(|(k, _)| *k == "scope"));
    }

    #[test]
    fn validation_names_fields() {
        assert!(
            GoogleStsExchange::new("")
                .check()
                .unwrap_err()
                .message()
                .starts_with("audience")
        );
        let err = GoogleStsExchange::new(AUD)
            .workforce_pool_user_project("p")
            .check()
            .unwrap_err();
        assert!(err.message().starts_with("workforce_pool_user_project"));
        assert!(
            GoogleStsExchange::new(AUD)
                .token_url("http://sts.googleapis.com/v1/token")
                .check()
                .is_err()
        );
        assert!(
            GoogleStsExchange::new(AUD)
                .token_url("http://127.0.0.1:9/v1/token")
                .check()
                .is_ok()
        );
    }

    #[test]
    fn documented_settings_validate_and_redact() {
        let ctx = Context::default();
        let workload = "//iam.googleapis.com/projects/123456789/locations/global/workloadIdentityPools/aws-pool/providers/aws";
        let workforce = "//iam.googleapis.com/locations/global/workforcePools/staff/providers/okta";
        assert!(is_workforce_audience(
            "//iam.googleapis.com/locations/global/workforcePools/p/providers/x"
        ));
        assert!(!is_workforce_audience(
            "//iam.googleapis.com/projects/1/locations/global/workloadIdentityPools/p/providers/x"
        ));
        let sts = GoogleStsExchange::new(workload);
        assert_eq!(sts.audience(), workload);
        assert!(GoogleStsExchange::new("").validate(&ctx).is_err());
        GoogleStsExchange::new(workload)
            .token_url("http://127.0.0.1:8080/v1/token")
            .validate(&ctx)
            .unwrap();
        assert!(
            GoogleStsExchange::new(workload)
                .token_url("http://sts.example.com/v1/token")
                .validate(&ctx)
                .is_err()
        );
        GoogleStsExchange::new(workload)
            .scopes(["https://www.googleapis.com/auth/devstorage.read_only"])
            .validate(&ctx)
            .unwrap();
        let with_client = GoogleStsExchange::new(workforce)
            .client_credentials("example-client-id", "example-client-secret");
        with_client.validate(&ctx).unwrap();
        assert!(!format!("{with_client:?}").contains("example-client-secret"));
        assert!(is_workforce_audience(with_client.audience()));
        GoogleStsExchange::new(workforce)
            .workforce_pool_user_project("my-project")
            .validate(&ctx)
            .unwrap();
        let err = GoogleStsExchange::new(workload)
            .workforce_pool_user_project("my-project")
            .validate(&ctx)
            .unwrap_err();
        assert!(
            err.message()
                .starts_with("workforce_pool_user_project: is only allowed")
        );
        let config = crate::config::ExternalAccountConfig::from_json(
            r#"{
              "type": "external_account",
              "audience": "//iam.googleapis.com/projects/123456789/locations/global/workloadIdentityPools/aws-pool/providers/aws",
              "subject_token_type": "urn:ietf:params:oauth:token-type:jwt",
              "credential_source": { "file": "/var/run/secrets/tokens/gcp-token" }
            }"#,
        )
        .unwrap();
        assert_eq!(config.token_url, DEFAULT_TOKEN_URL);
    }

    #[test]
    fn success_parsing_is_lenient() {
        let at = UNIX_EPOCH + Duration::from_secs(1000);
        let t = GoogleStsExchange::parse_success(
            &response(200, r#"{"access_token":"ya29.x","expires_in":3599}"#),
            at,
        )
        .unwrap();
        assert_eq!(t.expires_at(), Some(at + Duration::from_secs(3599)));
        assert_eq!(t.token_type(), "Bearer");
        let t = GoogleStsExchange::parse_success(&response(200, r#"{"access_token":"ya29.x","expires_in":"60","token_type":"Bearer","issued_token_type":"x","extra":1}"#), at).unwrap();
        assert_eq!(t.expires_at(), Some(at + Duration::from_secs(60)));
        let t =
            GoogleStsExchange::parse_success(&response(200, r#"{"access_token":"ya29.x"}"#), at)
                .unwrap();
        assert_eq!(t.expires_at(), None);
        for bad in [
            r#"{"expires_in":1}"#,
            r#"{"access_token":"x","expires_in":0}"#,
            r#"{"access_token":"x","expires_in":"soon"}"#,
            "<html>",
            "[]",
        ] {
            let err = GoogleStsExchange::parse_success(&response(200, bad), at).unwrap_err();
            assert_eq!(err.kind(), ErrorKind::InvalidResponse, "{bad}");
        }
    }

    #[test]
    fn oauth_errors_show_code_and_description() {
        let err = GoogleStsExchange::parse_error(&response(
            400,
            r#"{"error":"invalid_grant","error_description":"The audience in ID Token does not match."}"#,
        ));
        assert_eq!(err.upstream_code(), Some("invalid_grant"));
        assert!(
            err.to_string()
                .contains("invalid_grant: The audience in ID Token does not match."),
            "{err}"
        );
        assert!(!err.is_transient());
        let err = GoogleStsExchange::parse_error(&response(503, "<html>unavailable</html>"));
        assert!(err.is_transient());
        assert_eq!(err.kind(), ErrorKind::Upstream);
        let err = GoogleStsExchange::parse_error(&response(429, r#"{"error":"rate_limited"}"#));
        assert!(err.is_transient());
        assert!(GoogleStsExchange::parse_error(&response(408, "")).is_transient());
    }

    /// Regression (fuzz target google_sts_json, crash-00c57d4b): an `expires_in` near
    /// i64::MAX overflowed `SystemTime + Duration` and panicked.
    #[test]
    fn huge_expires_in_is_invalid_not_a_panic() {
        let at = UNIX_EPOCH + Duration::from_secs(1_800_000_000);
        for expires_in in ["9223372036854775807", "\"9223372036854775807\"", "1e300"] {
            let body = format!(r#"{{"access_token":"ya29.x","expires_in":{expires_in}}}"#);
            let err = GoogleStsExchange::parse_success(&response(200, &body), at).unwrap_err();
            assert_eq!(
                err.kind(),
                ErrorKind::InvalidResponse,
                "{expires_in}: {err}"
            );
            assert!(err.message().contains("expires_in"), "{err}");
        }
    }
}
