//! [`AzureManagedIdentityToken`]: an Entra access token for the workload's managed identity,
//! from the Azure VM/VMSS instance metadata service (IMDS) or the App Service/Functions
//! identity endpoint, usable as a subject token wherever an OIDC token is (AWS IAM OIDC
//! providers and Google workload identity pools trust `https://sts.windows.net/TENANT/`).
//!
//! Wire shapes (checked against azure-identity and MSAL Python; see docs/azure-sources.md):
//! - IMDS: `GET http://169.254.169.254/metadata/identity/oauth2/token?api-version=2018-02-01&resource=R`
//!   with `Metadata: true`, never through a proxy; a user-assigned identity by `client_id`,
//!   `object_id` or `msi_res_id`. `AZURE_POD_IDENTITY_AUTHORITY_HOST` replaces
//!   `http://169.254.169.254` (MSAL's override, also how tests reach a loopback emulator).
//! - App Service: `GET $IDENTITY_ENDPOINT?api-version=2019-08-01&resource=R` with
//!   `X-IDENTITY-HEADER: $IDENTITY_HEADER` (and `Metadata: true`, as MSAL sends); a
//!   user-assigned identity by `client_id`,
//!   `principal_id` or `mi_res_id`.
//!
//! Answers are JSON with `access_token` and `expires_on` (epoch seconds, sent as a string);
//! errors are `{"error", "error_description"}` (IMDS) or `{"statusCode", "message"}` (App
//! Service) and become typed errors with a hint.

use std::time::{Duration, SystemTime, UNIX_EPOCH};

use async_trait::async_trait;
use reqwest::Method;
use serde_json::{Map, Value};
use url::Url;

use crate::context::{CallSettings, Context};
use crate::error::{Error, ErrorKind, Service, redact_sent, sanitize_upstream_text};
use crate::http::{HttpRequest, HttpResponse, RetryPolicy, send_with_retries};
use crate::source::SubjectTokenSource;
use crate::token::{SubjectToken, TokenType, format_rfc3339};

/// The Azure instance metadata service, where VMs and scale sets get managed identity tokens.
pub const DEFAULT_AZURE_IMDS_ENDPOINT: &str = "http://169.254.169.254";
/// Replaces [`DEFAULT_AZURE_IMDS_ENDPOINT`] (MSAL's name; AAD Pod Identity set it).
pub const AZURE_IMDS_ENDPOINT_ENV: &str = "AZURE_POD_IDENTITY_AUTHORITY_HOST";
/// The App Service / Functions identity endpoint.
pub const IDENTITY_ENDPOINT_ENV: &str = "IDENTITY_ENDPOINT";
/// The secret App Service expects in `X-IDENTITY-HEADER`.
pub const IDENTITY_HEADER_ENV: &str = "IDENTITY_HEADER";

const IMDS_PATH: &str = "/metadata/identity/oauth2/token";
const IMDS_API_VERSION: &str = "2018-02-01";
const APP_SERVICE_API_VERSION: &str = "2019-08-01";
/// The wait before retrying an IMDS 410 (IMDS answers 410 while it restarts, up to 70 s).
const IMDS_RESTART_WAIT: Duration = Duration::from_secs(15);

/// Which user-assigned managed identity to use; without one, the system-assigned identity
/// (or the only user-assigned one).
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub enum UserAssignedIdentity {
    /// The identity's client (application) id.
    ClientId(String),
    /// The identity's object (principal) id.
    ObjectId(String),
    /// The identity's Azure resource id
    /// (`/subscriptions/…/resourceGroups/…/providers/Microsoft.ManagedIdentity/userAssignedIdentities/NAME`).
    ResourceId(String),
}

impl UserAssignedIdentity {
    /// The query parameter for the endpoint `kind`, and the value.
    fn query_pair(&self, kind: Endpoint) -> (&'static str, &str) {
        match (self, kind) {
            (Self::ClientId(id), _) => ("client_id", id),
            (Self::ObjectId(id), Endpoint::Imds) => ("object_id", id),
            (Self::ObjectId(id), Endpoint::AppService) => ("principal_id", id),
            (Self::ResourceId(id), Endpoint::Imds) => ("msi_res_id", id),
            (Self::ResourceId(id), Endpoint::AppService) => ("mi_res_id", id),
        }
    }

    fn describe(&self) -> String {
        match self {
            Self::ClientId(id) => format!("the user-assigned identity with client id {id}"),
            Self::ObjectId(id) => format!("the user-assigned identity with object id {id}"),
            Self::ResourceId(id) => format!("the user-assigned identity {id}"),
        }
    }
}

/// Where the token comes from, decided from the environment on each fetch.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Endpoint {
    Imds,
    AppService,
}

/// A managed identity's Entra access token for `resource`, from IMDS (VMs, scale sets, AKS
/// nodes) or the App Service/Functions identity endpoint (chosen by `IDENTITY_ENDPOINT` +
/// `IDENTITY_HEADER`, read on every fetch).
///
/// The token is a JWT whose issuer is `https://sts.windows.net/TENANT/` and whose audience is
/// `resource`: an AWS IAM OIDC provider or a Google workload identity pool provider for that
/// issuer, with `resource` as its audience, accepts it.
///
/// Azure Arc, Service Fabric and Cloud Shell (their own endpoint variables) are refused with
/// an error rather than mistaken for App Service or IMDS.
///
/// ```
/// use federated_credentials::source::{AzureManagedIdentityToken, UserAssignedIdentity};
///
/// let source = AzureManagedIdentityToken::new("api://aws-federation")
///     .user_assigned(UserAssignedIdentity::ClientId(
///         "00000000-0000-0000-0000-000000000001".into(),
///     ));
/// # let _ = source;
/// ```
#[derive(Debug, Clone)]
pub struct AzureManagedIdentityToken {
    resource: String,
    identity: Option<UserAssignedIdentity>,
    imds_endpoint: Option<String>,
    call: CallSettings,
}

impl AzureManagedIdentityToken {
    /// A token for `resource`: an application id URI or client id (`api://…`), the audience
    /// the federation on the other side expects.
    pub fn new(resource: impl Into<String>) -> Self {
        Self {
            resource: resource.into(),
            identity: None,
            imds_endpoint: None,
            call: CallSettings::new(),
        }
    }

    /// Uses this user-assigned identity instead of the system-assigned one.
    pub fn user_assigned(mut self, identity: UserAssignedIdentity) -> Self {
        self.identity = Some(identity);
        self
    }

    /// The IMDS base URL (default `AZURE_POD_IDENTITY_AUTHORITY_HOST`, else
    /// [`DEFAULT_AZURE_IMDS_ENDPOINT`]); the token path is appended.
    pub fn imds_endpoint(mut self, base: impl Into<String>) -> Self {
        self.imds_endpoint = Some(base.into());
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

    /// Whether the environment names an App Service/Functions identity endpoint
    /// (`IDENTITY_ENDPOINT` and `IDENTITY_HEADER`). IMDS cannot be detected from the
    /// environment.
    pub fn is_app_service(ctx: &Context) -> bool {
        let env = ctx.env();
        env.get_non_empty(IDENTITY_ENDPOINT_ENV).is_some()
            && env.get_non_empty(IDENTITY_HEADER_ENV).is_some()
            && env.get_non_empty("IDENTITY_SERVER_THUMBPRINT").is_none()
            && env.get_non_empty("IMDS_ENDPOINT").is_none()
    }

    /// The request for this fetch, and which endpoint it goes to.
    fn request(&self, ctx: &Context) -> Result<(HttpRequest, Endpoint, Option<String>), Error> {
        let env = ctx.env();
        let unsupported = |what: &str| {
            Error::new(
                ErrorKind::NotAvailable,
                Service::AzureManagedIdentity,
                format!(
                    "{what} managed identity is not supported; use an Azure workload identity token file or another source"
                ),
            )
        };
        let identity_endpoint = env.get_non_empty(IDENTITY_ENDPOINT_ENV);
        if identity_endpoint.is_some() && env.get_non_empty("IMDS_ENDPOINT").is_some() {
            return Err(unsupported(
                "IDENTITY_ENDPOINT and IMDS_ENDPOINT are set: this is Azure Arc, whose",
            ));
        }
        if env.get_non_empty("IDENTITY_SERVER_THUMBPRINT").is_some() {
            return Err(unsupported(
                "IDENTITY_SERVER_THUMBPRINT is set: this is Service Fabric, whose",
            ));
        }
        if identity_endpoint.is_none() && env.get_non_empty("MSI_ENDPOINT").is_some() {
            return Err(unsupported(
                "MSI_ENDPOINT is set: this is Cloud Shell, Azure ML or a legacy App Service, whose",
            ));
        }
        if self.resource.trim().is_empty() {
            return Err(Error::config(
                "resource",
                "is required: the application id URI the token is for (the audience the AWS OIDC provider or Google pool provider expects)",
            ));
        }
        let call = ctx.resolve_call(Service::AzureManagedIdentity, self.call);
        let (endpoint, mut url, secret) = match identity_endpoint {
            Some(raw) => {
                let header = env.get_non_empty(IDENTITY_HEADER_ENV).ok_or_else(|| {
                    Error::config(
                        IDENTITY_HEADER_ENV,
                        "is not set while IDENTITY_ENDPOINT is: App Service sets both; set neither outside App Service",
                    )
                })?;
                let url = Url::parse(raw.trim())
                    .ok()
                    .filter(|u| matches!(u.scheme(), "http" | "https") && u.has_host())
                    .ok_or_else(|| Error::config(IDENTITY_ENDPOINT_ENV, "is not an http(s) URL"))?;
                (Endpoint::AppService, url, Some(header.trim().to_string()))
            }
            None => {
                let (base, setting) = match &self.imds_endpoint {
                    Some(base) => (base.clone(), "imds_endpoint"),
                    None => match env.get_non_empty(AZURE_IMDS_ENDPOINT_ENV) {
                        Some(base) => (base.trim().to_string(), AZURE_IMDS_ENDPOINT_ENV),
                        None => (DEFAULT_AZURE_IMDS_ENDPOINT.to_string(), "imds_endpoint"),
                    },
                };
                let url = Url::parse(&format!("{}{IMDS_PATH}", base.trim_end_matches('/')))
                    .ok()
                    .filter(|u| u.scheme() == "http" || u.scheme() == "https")
                    .ok_or_else(|| {
                        Error::config(
                            setting,
                            "is not an http(s) URL (e.g. http://169.254.169.254)",
                        )
                    })?;
                (Endpoint::Imds, url, None)
            }
        };
        {
            let mut query = url.query_pairs_mut();
            query.append_pair(
                "api-version",
                match endpoint {
                    Endpoint::Imds => IMDS_API_VERSION,
                    Endpoint::AppService => APP_SERVICE_API_VERSION,
                },
            );
            query.append_pair("resource", self.resource.trim());
            if let Some(identity) = &self.identity {
                let (name, value) = identity.query_pair(endpoint);
                query.append_pair(name, value.trim());
            }
        }
        let request = HttpRequest::new(
            Service::AzureManagedIdentity,
            match endpoint {
                Endpoint::Imds => "fetching the managed identity token from IMDS",
                Endpoint::AppService => "fetching the managed identity token from App Service",
            },
            Method::GET,
            url,
            call.attempt_timeout,
        )
        .direct();
        // `Metadata: true` on both: MSAL 1.39.0 sends it to App Service too (Azure Automation's
        // endpoint requires it; App Service ignores it).
        let request = request.header("metadata", "true")?;
        let request = match (&endpoint, &secret) {
            (Endpoint::AppService, Some(secret)) => {
                request.secret_header("x-identity-header", secret)?
            }
            _ => request,
        };
        Ok((request, endpoint, secret))
    }

    /// Turns one answer into a token or a typed error.
    fn classify(
        &self,
        endpoint: Endpoint,
        secret: Option<&str>,
        response: HttpResponse,
        requested_at: SystemTime,
    ) -> Result<SubjectToken, Error> {
        if response.status != 200 {
            return Err(self.endpoint_error(endpoint, secret, &response));
        }
        parse_token_response(&response.body, requested_at)
    }

    /// The error for a non-200 answer, with a hint for the known causes.
    fn endpoint_error(
        &self,
        endpoint: Endpoint,
        secret: Option<&str>,
        response: &HttpResponse,
    ) -> Error {
        let map: Map<String, Value> = serde_json::from_slice(&response.body).unwrap_or_default();
        let text = |key: &str| map.get(key).and_then(Value::as_str).unwrap_or_default();
        let code = text("error");
        let described = [text("error_description"), text("message"), text("Message")]
            .into_iter()
            .find(|t| !t.is_empty())
            .unwrap_or_default();
        let description = redact_sent(sanitize_upstream_text(described, 300), secret);
        let lower = description.to_ascii_lowercase();
        let who = self.identity.as_ref().map_or(
            "the system-assigned identity".to_string(),
            UserAssignedIdentity::describe,
        );
        let hint = if lower.contains("identity not found")
            || lower.contains("no managedidentity found")
            || lower.contains("no managed identity")
        {
            format!(
                "{who} is not assigned to this {}: assign it (Identity blade, or `az vm identity assign` / `az webapp identity assign`), or name the right one",
                if endpoint == Endpoint::Imds {
                    "VM"
                } else {
                    "app"
                }
            )
        } else if lower.contains("multiple user assigned identities") {
            "several user-assigned identities are assigned: choose one with its client id, object id or resource id".to_string()
        } else if code == "invalid_resource" || lower.contains("aadsts500011") {
            format!(
                "the resource `{}` is not known to Entra ID: use the application id URI (or client id) of an app registration in this tenant, as the federation on the other side expects",
                self.resource
            )
        } else if lower.contains("required metadata header") {
            "the endpoint wants the `Metadata: true` header; a proxy in between may have removed it"
                .to_string()
        } else {
            String::new()
        };
        let transient = match endpoint {
            // IMDS answers 404 while it is being updated and 410 while it restarts;
            // azure-identity retries both.
            Endpoint::Imds => {
                matches!(response.status, 404 | 410) || response.is_transient_status()
            }
            Endpoint::AppService => response.is_transient_status(),
        };
        let mut message = format!("HTTP {}", response.status);
        if !code.is_empty() {
            message.push_str(&format!(" {}", sanitize_upstream_text(code, 64)));
        }
        if !description.is_empty() {
            message.push_str(&format!(": {description}"));
        }
        if !hint.is_empty() {
            message.push_str(&format!("; {hint}"));
        }
        let mut err = response
            .error(ErrorKind::Upstream, Service::AzureManagedIdentity, message)
            .with_transient(transient);
        if !code.is_empty() {
            err = err.with_upstream_code(sanitize_upstream_text(code, 64));
        }
        if endpoint == Endpoint::Imds && response.status == 410 && response.retry_after().is_none()
        {
            // IMDS is restarting (up to 70 s): wait for it rather than burn the attempts.
            err = err.with_retry_after(IMDS_RESTART_WAIT);
        }
        err
    }
}

/// Reads `access_token` and the expiry (the JWT's `exp`, else `expires_on` in epoch seconds,
/// else `expires_in` after `requested_at`) from a 200 answer. Numbers may arrive as strings.
pub(crate) fn parse_token_response(
    body: &[u8],
    requested_at: SystemTime,
) -> Result<SubjectToken, Error> {
    let invalid = |what: &str| {
        Error::new(
            ErrorKind::InvalidResponse,
            Service::AzureManagedIdentity,
            format!("the managed identity endpoint answered HTTP 200 but {what}"),
        )
    };
    let map: Map<String, Value> =
        serde_json::from_slice(body).map_err(|_| invalid("the body is not a JSON object"))?;
    let token = map
        .get("access_token")
        .and_then(Value::as_str)
        .filter(|t| !t.trim().is_empty())
        .ok_or_else(|| invalid("access_token is missing"))?;
    let seconds = |key: &str| match map.get(key) {
        Some(Value::String(s)) => s.trim().parse::<u64>().ok(),
        Some(Value::Number(n)) => n.as_u64(),
        _ => None,
    };
    let mut subject = SubjectToken::new(token.trim().to_string(), TokenType::Jwt);
    let expiry = subject
        .jwt_exp()
        .or_else(|| seconds("expires_on").map(|s| UNIX_EPOCH + Duration::from_secs(s)))
        .or_else(|| seconds("expires_in").map(|s| requested_at + Duration::from_secs(s)))
        .ok_or_else(|| {
            invalid("the token has no exp and the answer no expires_on or expires_in")
        })?;
    if expiry <= requested_at {
        return Err(Error::new(
            ErrorKind::Expired,
            Service::AzureManagedIdentity,
            format!(
                "the managed identity endpoint returned a token that expired at {} (now {}); check this machine's clock",
                format_rfc3339(expiry),
                format_rfc3339(requested_at)
            ),
        )
        .with_transient(true));
    }
    subject = subject.with_expiry(expiry);
    Ok(subject)
}

#[async_trait]
impl SubjectTokenSource for AzureManagedIdentityToken {
    async fn subject_token(&self, ctx: &Context) -> Result<SubjectToken, Error> {
        let (request, endpoint, secret) = self.request(ctx)?;
        tracing::debug!(endpoint = ?endpoint, "azure managed identity token request");
        let call = ctx.resolve_call(Service::AzureManagedIdentity, self.call);
        send_with_retries(ctx, &call.retry, &request, |response, requested_at| {
            self.classify(endpoint, secret.as_deref(), response, requested_at)
        })
        .await
        .map_err(|e| {
            if e.kind() == ErrorKind::Transport && endpoint == Endpoint::Imds {
                e.context(format!(
                    "the Azure instance metadata service is unreachable; outside an Azure VM set {AZURE_IMDS_ENDPOINT_ENV} or use another token source"
                ))
            } else {
                e
            }
        })
    }

    fn name(&self) -> &'static str {
        "azure-managed-identity"
    }

    fn validate(&self) -> Result<(), Error> {
        if self.resource.trim().is_empty() {
            return Err(Error::config(
                "resource",
                "is required: the application id URI the token is for",
            ));
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::context::StaticEnv;

    fn ctx(pairs: &[(&str, &str)]) -> Context {
        Context::builder()
            .env(StaticEnv::from_pairs(pairs.iter().copied()))
            .build()
    }

    #[test]
    fn imds_and_app_service_requests() {
        let source = AzureManagedIdentityToken::new("api://aws")
            .user_assigned(UserAssignedIdentity::ObjectId("oid-1".into()));
        let (imds, endpoint, _) = source.request(&ctx(&[])).unwrap();
        assert_eq!(endpoint, Endpoint::Imds);
        assert_eq!(
            imds.url.as_str(),
            "http://169.254.169.254/metadata/identity/oauth2/token?api-version=2018-02-01&resource=api%3A%2F%2Faws&object_id=oid-1"
        );
        assert_eq!(imds.headers.get("metadata").unwrap(), "true");
        assert!(imds.direct);

        let moved = source
            .request(&ctx(&[(AZURE_IMDS_ENDPOINT_ENV, "http://127.0.0.1:9/")]))
            .unwrap()
            .0;
        assert!(
            moved
                .url
                .as_str()
                .starts_with("http://127.0.0.1:9/metadata/identity/oauth2/token?")
        );

        let app = ctx(&[
            (IDENTITY_ENDPOINT_ENV, "http://127.0.0.1:41000/msi/token"),
            (IDENTITY_HEADER_ENV, "header-secret"),
        ]);
        assert!(AzureManagedIdentityToken::is_app_service(&app));
        let (request, endpoint, secret) = AzureManagedIdentityToken::new("api://aws")
            .user_assigned(UserAssignedIdentity::ResourceId(
                "/subscriptions/s/id".into(),
            ))
            .request(&app)
            .unwrap();
        assert_eq!(endpoint, Endpoint::AppService);
        assert_eq!(secret.as_deref(), Some("header-secret"));
        assert_eq!(
            request.url.as_str(),
            "http://127.0.0.1:41000/msi/token?api-version=2019-08-01&resource=api%3A%2F%2Faws&mi_res_id=%2Fsubscriptions%2Fs%2Fid"
        );
        assert_eq!(request.headers.get("metadata").unwrap(), "true");
        assert!(!format!("{request:?}").contains("header-secret"));
    }

    #[test]
    fn other_hosts_and_bad_settings_are_refused() {
        let source = AzureManagedIdentityToken::new("api://aws");
        for (env, says) in [
            (
                vec![
                    (
                        IDENTITY_ENDPOINT_ENV,
                        "http://127.0.0.1:40342/metadata/identity/oauth2/token",
                    ),
                    ("IMDS_ENDPOINT", "http://127.0.0.1:40342"),
                ],
                "Azure Arc",
            ),
            (
                vec![
                    (IDENTITY_ENDPOINT_ENV, "https://127.0.0.1:2377/"),
                    (IDENTITY_HEADER_ENV, "h"),
                    ("IDENTITY_SERVER_THUMBPRINT", "ab"),
                ],
                "Service Fabric",
            ),
            (
                vec![("MSI_ENDPOINT", "http://localhost:50342/oauth2/token")],
                "Cloud Shell",
            ),
            (
                vec![(IDENTITY_ENDPOINT_ENV, "http://127.0.0.1:1/")],
                IDENTITY_HEADER_ENV,
            ),
            (
                vec![
                    (IDENTITY_ENDPOINT_ENV, "not a url"),
                    (IDENTITY_HEADER_ENV, "h"),
                ],
                IDENTITY_ENDPOINT_ENV,
            ),
            (
                vec![(AZURE_IMDS_ENDPOINT_ENV, "ftp://x")],
                AZURE_IMDS_ENDPOINT_ENV,
            ),
            (
                vec![
                    (IDENTITY_ENDPOINT_ENV, "http://x/"),
                    (IDENTITY_HEADER_ENV, "a\r\nb"),
                ],
                "x-identity-header",
            ),
        ] {
            let err = source.request(&ctx(&env)).unwrap_err();
            assert!(err.to_string().contains(says), "{says}: {err}");
            assert!(
                !AzureManagedIdentityToken::is_app_service(&ctx(&env))
                    || says == "x-identity-header"
                    || says == IDENTITY_ENDPOINT_ENV
            );
        }
        let err = AzureManagedIdentityToken::new(" ")
            .request(&ctx(&[]))
            .unwrap_err();
        assert_eq!(err.kind(), ErrorKind::Configuration);
        assert!(AzureManagedIdentityToken::new("").validate().is_err());
    }

    #[test]
    fn token_answers_with_numbers_as_strings() {
        let now = UNIX_EPOCH + Duration::from_secs(1_800_000_000);
        let t = parse_token_response(
            br#"{"access_token":"opaque","expires_on":"1800003600","expires_in":"3600","resource":"api://aws","token_type":"Bearer"}"#,
            now,
        )
        .unwrap();
        assert_eq!(
            t.expires_at(),
            Some(UNIX_EPOCH + Duration::from_secs(1_800_003_600))
        );
        let t =
            parse_token_response(br#"{"access_token":"opaque","expires_in":600}"#, now).unwrap();
        assert_eq!(t.expires_at(), Some(now + Duration::from_secs(600)));
        for (body, says) in [
            (
                &br#"{"expires_on":"1800003600"}"#[..],
                "access_token is missing",
            ),
            (b"<html>", "not a JSON object"),
            (br#"{"access_token":"opaque"}"#, "no exp"),
        ] {
            let err = parse_token_response(body, now).unwrap_err();
            assert!(err.to_string().contains(says), "{err}");
        }
        let err = parse_token_response(
            br#"{"access_token":"opaque","expires_on":"1700000000"}"#,
            now,
        )
        .unwrap_err();
        assert_eq!(err.kind(), ErrorKind::Expired);
    }

    #[test]
    fn error_answers_are_typed_with_hints() {
        let source = AzureManagedIdentityToken::new("api://aws");
        let answer =
            |status: u16, body: &str| HttpResponse::with_body(status, body.as_bytes().to_vec());
        let err = source.endpoint_error(
            Endpoint::Imds,
            None,
            &answer(
                400,
                r#"{"error":"invalid_request","error_description":"Identity not found"}"#,
            ),
        );
        assert_eq!(err.kind(), ErrorKind::Upstream);
        assert_eq!(err.upstream_code(), Some("invalid_request"));
        assert!(!err.is_transient());
        assert!(
            err.to_string()
                .contains("system-assigned identity is not assigned to this VM"),
            "{err}"
        );
        let err = source.endpoint_error(
            Endpoint::Imds,
            None,
            &answer(400, r#"{"error":"invalid_resource","error_description":"AADSTS500011: The resource principal named api://aws was not found in the tenant"}"#),
        );
        assert!(
            err.to_string().contains("is not known to Entra ID"),
            "{err}"
        );
        for status in [404, 410, 429, 500, 503] {
            assert!(
                source
                    .endpoint_error(Endpoint::Imds, None, &answer(status, ""))
                    .is_transient(),
                "{status}"
            );
        }
        assert!(
            !source
                .endpoint_error(Endpoint::AppService, None, &answer(404, ""))
                .is_transient()
        );
        // App Service's shape, echoing the secret header: cut out.
        let err = source.endpoint_error(
            Endpoint::AppService,
            Some("header-secret"),
            &answer(400, r#"{"statusCode":400,"message":"No ManagedIdentity found for specified ClientId/ResourceId/PrincipalId. header-secret"}"#),
        );
        assert!(
            err.to_string().contains("not assigned to this app"),
            "{err}"
        );
        assert!(!err.to_string().contains("header-secret"), "{err}");
    }
}
