//! [`EntraEmulator`]: the Microsoft Entra ID v2 token endpoint's client-credentials grant with
//! a federated client assertion. Applications carry federated identity credentials (issuer,
//! subject, audience; at most 20, as Entra enforces); the assertion's signature is checked
//! against the keys of the issuers the emulator trusts (the other emulators' keys), its
//! `nbf`/`exp` against the emulator's clock, and errors have Entra's shape and AADSTS codes.

use std::sync::{Arc, Mutex};
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use serde_json::{Map, Value, json};

use crate::jwt::{GoogleIdentity, JwtError, decode_header, decode_payload};
use crate::request::RecordedRequest;
use crate::server::{Handler, NoFault, Response, Server, emulator_controls, lock};
use crate::timestamp;
use federated_credentials::context::{Clock, SystemClock};

/// Entra's limit on federated identity credentials per application.
pub const MAX_FEDERATED_CREDENTIALS: usize = 20;
const ASSERTION_TYPE: &str = "urn:ietf:params:oauth:client-assertion-type:jwt-bearer";

/// A federated identity credential: the assertion must carry exactly this issuer, subject and
/// audience (case-sensitive).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FederatedCredential {
    /// The `iss` to match.
    pub issuer: String,
    /// The `sub` to match.
    pub subject: String,
    /// The `aud` to match (one value, as in Entra).
    pub audience: String,
}

impl FederatedCredential {
    /// With the default audience `api://AzureADTokenExchange`.
    pub fn new(issuer: impl Into<String>, subject: impl Into<String>) -> Self {
        Self {
            issuer: issuer.into(),
            subject: subject.into(),
            audience: "api://AzureADTokenExchange".into(),
        }
    }

    /// Another audience.
    pub fn audience(mut self, audience: impl Into<String>) -> Self {
        self.audience = audience.into();
        self
    }
}

/// An app registration (or user-assigned managed identity) in the tenant.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct EntraApplication {
    /// The application (client) id.
    pub client_id: String,
    /// The service principal's object id: `oid` and `sub` of the tokens it gets.
    pub object_id: String,
    /// Its federated identity credentials.
    pub federated_credentials: Vec<FederatedCredential>,
}

impl EntraApplication {
    /// An application with this client id and no federated credentials yet.
    pub fn new(client_id: impl Into<String>) -> Self {
        let client_id = client_id.into();
        let n = client_id
            .bytes()
            .fold(7u32, |h, b| h.wrapping_mul(31).wrapping_add(u32::from(b)));
        Self {
            object_id: format!("{n:08x}-0000-4000-8000-0000000000e1"),
            client_id,
            federated_credentials: Vec::new(),
        }
    }

    /// Adds a federated identity credential.
    pub fn federated_credential(mut self, credential: FederatedCredential) -> Self {
        self.federated_credentials.push(credential);
        self
    }
}

/// An access token the emulator issued.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub struct IssuedEntraToken {
    /// The JWT.
    pub access_token: String,
    /// The application it was issued to.
    pub client_id: String,
    /// The requested scope(s), as sent.
    pub scope: String,
    /// The assertion's issuer and subject.
    pub assertion_issuer: String,
    /// The assertion's subject.
    pub assertion_subject: String,
    /// When it expires.
    pub expires_at: SystemTime,
}

/// Builds an [`EntraEmulator`].
#[derive(Debug)]
#[must_use]
pub struct EntraEmulatorBuilder {
    clock: Arc<dyn Clock>,
    tenant_id: String,
    domains: Vec<String>,
    applications: Vec<EntraApplication>,
    issuers: Vec<(String, GoogleIdentity)>,
    lifetime: Duration,
    identity: GoogleIdentity,
}

impl Default for EntraEmulatorBuilder {
    fn default() -> Self {
        Self {
            clock: Arc::new(SystemClock),
            tenant_id: "72f9a8bf-0000-4000-8000-00000000a2e1".into(),
            domains: vec!["contoso.onmicrosoft.com".into()],
            applications: Vec::new(),
            issuers: Vec::new(),
            lifetime: Duration::from_secs(3599),
            identity: GoogleIdentity::shared(),
        }
    }
}

impl EntraEmulatorBuilder {
    /// The clock tokens and assertions are judged by (default: the system clock).
    pub fn clock(mut self, clock: impl Clock + 'static) -> Self {
        self.clock = Arc::new(clock);
        self
    }

    /// The tenant id (a GUID); its domain `contoso.onmicrosoft.com` also names it.
    pub fn tenant_id(mut self, tenant: impl Into<String>) -> Self {
        self.tenant_id = tenant.into();
        self
    }

    /// Registers an application.
    pub fn application(mut self, application: EntraApplication) -> Self {
        self.applications.push(application);
        self
    }

    /// Trusts assertions with `iss` = `issuer` signed by `key` (what Entra fetches from the
    /// issuer's JWKS).
    pub fn trust_issuer(mut self, issuer: impl Into<String>, key: GoogleIdentity) -> Self {
        self.issuers.push((issuer.into(), key));
        self
    }

    /// The `expires_in` of issued tokens (default 3599 s, as Entra sends).
    pub fn token_lifetime(mut self, lifetime: Duration) -> Self {
        self.lifetime = lifetime;
        self
    }

    /// Starts the emulator on `127.0.0.1` with an ephemeral port. Fails (`InvalidInput`)
    /// when an application has more than [`MAX_FEDERATED_CREDENTIALS`] federated credentials
    /// or two with the same issuer and subject, as Entra refuses them.
    pub async fn start(self) -> std::io::Result<EntraEmulator> {
        for app in &self.applications {
            check_application(app)?;
        }
        let handler = EntraHandler {
            clock: self.clock,
            tenant_id: self.tenant_id,
            domains: self.domains,
            applications: Mutex::new(self.applications),
            issuers: Mutex::new(self.issuers),
            lifetime: self.lifetime,
            identity: self.identity,
            issued: Mutex::new(Vec::new()),
            counter: Mutex::new(0),
        };
        Ok(EntraEmulator {
            server: Server::start(handler).await?,
        })
    }
}

fn check_application(app: &EntraApplication) -> std::io::Result<()> {
    let invalid = |why: String| std::io::Error::new(std::io::ErrorKind::InvalidInput, why);
    if app.federated_credentials.len() > MAX_FEDERATED_CREDENTIALS {
        return Err(invalid(format!(
            "application {} has {} federated identity credentials; Entra allows {MAX_FEDERATED_CREDENTIALS}",
            app.client_id,
            app.federated_credentials.len()
        )));
    }
    for (i, a) in app.federated_credentials.iter().enumerate() {
        if app.federated_credentials[..i]
            .iter()
            .any(|b| a.issuer == b.issuer && a.subject == b.subject)
        {
            return Err(invalid(format!(
                "application {} has two federated identity credentials for issuer {} and subject {}",
                app.client_id, a.issuer, a.subject
            )));
        }
    }
    Ok(())
}

/// A loopback Entra ID token endpoint (`POST /{tenant}/oauth2/v2.0/token`).
///
/// ```
/// use federated_credentials_testkit::{EntraApplication, EntraEmulator, FederatedCredential, GoogleIdentity};
///
/// # #[tokio::main(flavor = "current_thread")]
/// # async fn main() -> std::io::Result<()> {
/// let entra = EntraEmulator::builder()
///     .trust_issuer("https://accounts.google.com", GoogleIdentity::shared())
///     .application(
///         EntraApplication::new("0000c11d-0000-4000-8000-000000000001")
///             .federated_credential(FederatedCredential::new("https://accounts.google.com", "117234567890123456789")),
///     )
///     .start()
///     .await?;
/// assert!(entra.token_url().ends_with("/oauth2/v2.0/token"));
/// # Ok(())
/// # }
/// ```
#[derive(Debug)]
pub struct EntraEmulator {
    server: Server<EntraHandler>,
}

emulator_controls!(EntraEmulator);

impl EntraEmulator {
    /// A builder.
    pub fn builder() -> EntraEmulatorBuilder {
        EntraEmulatorBuilder::default()
    }

    /// `http://127.0.0.1:PORT`: the authority host (`AZURE_AUTHORITY_HOST`).
    pub fn authority_host(&self) -> String {
        self.base_url()
    }

    /// The tenant id.
    pub fn tenant_id(&self) -> &str {
        &self.handler().tenant_id
    }

    /// `{authority}/{tenant}/oauth2/v2.0/token`.
    pub fn token_url(&self) -> String {
        format!("{}/{}/oauth2/v2.0/token", self.base_url(), self.tenant_id())
    }

    /// Registers an application (replacing one with the same client id).
    pub fn add_application(&self, application: EntraApplication) -> std::io::Result<()> {
        check_application(&application)?;
        let mut apps = lock(&self.handler().applications);
        apps.retain(|a| a.client_id != application.client_id);
        apps.push(application);
        Ok(())
    }

    /// Trusts another issuer's key.
    pub fn trust_issuer(&self, issuer: impl Into<String>, key: GoogleIdentity) {
        lock(&self.handler().issuers).push((issuer.into(), key));
    }

    /// Every token issued so far.
    pub fn issued_tokens(&self) -> Vec<IssuedEntraToken> {
        lock(&self.handler().issued).clone()
    }

    /// The key issued tokens are signed with.
    pub fn identity(&self) -> GoogleIdentity {
        self.handler().identity.clone()
    }

    fn handler(&self) -> &EntraHandler {
        self.server.handler()
    }
}

#[derive(Debug)]
struct EntraHandler {
    clock: Arc<dyn Clock>,
    tenant_id: String,
    domains: Vec<String>,
    applications: Mutex<Vec<EntraApplication>>,
    issuers: Mutex<Vec<(String, GoogleIdentity)>>,
    lifetime: Duration,
    identity: GoogleIdentity,
    issued: Mutex<Vec<IssuedEntraToken>>,
    counter: Mutex<u64>,
}

/// An Entra error: HTTP status, `error`, AADSTS number and text.
struct EntraError {
    status: u16,
    error: &'static str,
    code: u64,
    text: String,
}

fn fail(status: u16, error: &'static str, code: u64, text: impl Into<String>) -> EntraError {
    EntraError {
        status,
        error,
        code,
        text: text.into(),
    }
}

impl EntraHandler {
    fn error_response(&self, e: EntraError) -> Response {
        let n = {
            let mut c = lock(&self.counter);
            *c += 1;
            *c
        };
        let trace = format!("00000000-0000-4000-8000-{n:012x}");
        let correlation = format!("00000000-0000-4000-9000-{n:012x}");
        let stamp = timestamp::format_rfc3339(self.clock.now(), 0).replace('T', " ");
        Response::json(
            e.status,
            &json!({
                "error": e.error,
                "error_description": format!("AADSTS{}: {} Trace ID: {trace} Correlation ID: {correlation} Timestamp: {stamp}", e.code, e.text),
                "error_codes": [e.code],
                "timestamp": stamp,
                "trace_id": trace,
                "correlation_id": correlation,
                "error_uri": format!("https://login.microsoftonline.com/error?code={}", e.code),
            }),
        )
    }

    fn token(&self, request: &RecordedRequest) -> Result<IssuedEntraToken, EntraError> {
        let segments = request.path_segments();
        let tenant = match segments.as_slice() {
            [tenant, a, b, c] if a == "oauth2" && b == "v2.0" && c == "token" => tenant.clone(),
            _ => return Err(fail(404, "invalid_request", 90002, "Not found.")),
        };
        if tenant != self.tenant_id && !self.domains.iter().any(|d| d.eq_ignore_ascii_case(&tenant))
        {
            return Err(fail(
                400,
                "invalid_request",
                90002,
                format!(
                    "Tenant '{tenant}' not found. Check to make sure you have the correct tenant ID and are signing into the correct cloud."
                ),
            ));
        }
        let form = |name: &str| request.form_param(name).unwrap_or_default();
        if form("grant_type") != "client_credentials" {
            return Err(fail(
                400,
                "unsupported_grant_type",
                70003,
                "The app requested an unsupported grant type.",
            ));
        }
        let client_id = form("client_id");
        let app = lock(&self.applications)
            .iter()
            .find(|a| a.client_id == client_id)
            .cloned()
            .ok_or_else(|| {
                fail(
                    400,
                    "unauthorized_client",
                    700016,
                    format!("Application with identifier '{client_id}' was not found in the directory '{}'. This can happen if the application has not been installed by the administrator of the tenant or consented to by any user in the tenant. You may have sent your authentication request to the wrong tenant.", self.tenant_id),
                )
            })?;
        let scope = form("scope");
        if scope.is_empty() || scope.split(' ').any(|s| !s.ends_with("/.default")) {
            return Err(fail(
                400,
                "invalid_scope",
                1002012,
                format!(
                    "The provided value for scope {scope} is not valid. Client credential flows must have a scope value with /.default suffixed to the resource identifier (application ID URI)."
                ),
            ));
        }
        if form("client_assertion_type") != ASSERTION_TYPE {
            return Err(fail(
                400,
                "invalid_request",
                7000216,
                "'client_assertion', 'client_secret' or 'request' is required for the 'client_credentials' grant type.",
            ));
        }
        let assertion = form("client_assertion");
        let malformed = || {
            fail(
                400,
                "invalid_request",
                50027,
                "JWT token is invalid or malformed.",
            )
        };
        let header = decode_header(&assertion).map_err(|_| malformed())?;
        let claims = decode_payload(&assertion).map_err(|_| malformed())?;
        if header.get("alg").and_then(Value::as_str) != Some("RS256") {
            return Err(malformed());
        }
        let text = |c: &Map<String, Value>, k: &str| {
            c.get(k)
                .and_then(Value::as_str)
                .unwrap_or_default()
                .to_owned()
        };
        let iss = text(&claims, "iss");
        let sub = text(&claims, "sub");
        let auds: Vec<String> = match claims.get("aud") {
            Some(Value::String(a)) => vec![a.clone()],
            Some(Value::Array(items)) => items
                .iter()
                .filter_map(Value::as_str)
                .map(str::to_owned)
                .collect(),
            _ => Vec::new(),
        };
        // Which federated credential: by issuer, then audience, then subject.
        let by_issuer: Vec<&FederatedCredential> = app
            .federated_credentials
            .iter()
            .filter(|f| f.issuer == iss)
            .collect();
        if by_issuer.is_empty() {
            return Err(fail(
                401,
                "invalid_client",
                700211,
                format!(
                    "No matching federated identity record found for presented assertion issuer '{iss}'. Please check your federated identity credential Subject, Audience and Issuer against the presented assertion. https://learn.microsoft.com/entra/workload-id/workload-identity-federation"
                ),
            ));
        }
        let by_audience: Vec<&&FederatedCredential> = by_issuer
            .iter()
            .filter(|f| auds.contains(&f.audience))
            .collect();
        if by_audience.is_empty() {
            return Err(fail(
                401,
                "invalid_client",
                700212,
                format!(
                    "No matching federated identity record found for presented assertion audience '{}'. Please check your federated identity credential Subject, Audience and Issuer against the presented assertion. https://learn.microsoft.com/entra/workload-id/workload-identity-federation",
                    auds.join(",")
                ),
            ));
        }
        if !by_audience.iter().any(|f| f.subject == sub) {
            let case_only = by_audience
                .iter()
                .any(|f| f.subject.eq_ignore_ascii_case(&sub));
            return Err(if case_only {
                fail(
                    401,
                    "invalid_client",
                    7002138,
                    format!(
                        "No matching federated identity record found for presented assertion subject '{sub}'. The subject matches with case-insensitive comparison, but not with case-sensitive comparison."
                    ),
                )
            } else {
                fail(
                    401,
                    "invalid_client",
                    700213,
                    format!(
                        "No matching federated identity record found for presented assertion subject '{sub}'. Check your federated identity credential Subject, Audience and Issuer against the presented assertion. https://learn.microsoft.com/entra/workload-id/workload-identity-federation"
                    ),
                )
            });
        }
        // The signature, with the issuer's keys.
        let kid = header
            .get("kid")
            .and_then(Value::as_str)
            .unwrap_or_default()
            .to_owned();
        let key = lock(&self.issuers)
            .iter()
            .find(|(i, k)| *i == iss && k.kid() == kid)
            .map(|(_, k)| k.clone())
            .ok_or_else(|| {
                fail(
                    401,
                    "invalid_client",
                    700027,
                    "Client assertion failed signature validation.",
                )
            })?;
        key.verify(&assertion).map_err(|e| match e {
            JwtError::BadSignature => fail(
                401,
                "invalid_client",
                700027,
                "Client assertion failed signature validation.",
            ),
            _ => malformed(),
        })?;
        // Its validity period.
        let now = self.clock.now();
        let now_secs = now.duration_since(UNIX_EPOCH).unwrap_or_default().as_secs();
        let exp = claims.get("exp").and_then(Value::as_u64).unwrap_or(0);
        let nbf = claims.get("nbf").and_then(Value::as_u64).unwrap_or(0);
        if exp <= now_secs || nbf > now_secs + 300 {
            let at = |s: u64| timestamp::format_rfc3339(UNIX_EPOCH + Duration::from_secs(s), 7);
            return Err(fail(
                401,
                "invalid_client",
                700024,
                format!(
                    "Client assertion is not within its valid time range. Current time: {}, assertion valid from {}, expiry time of assertion {}. Review the documentation at https://learn.microsoft.com/entra/identity-platform/certificate-credentials",
                    timestamp::format_rfc3339(now, 7),
                    at(nbf),
                    at(exp)
                ),
            ));
        }
        let resource = scope
            .split(' ')
            .next()
            .unwrap_or_default()
            .trim_end_matches("/.default")
            .to_owned();
        let expires = now_secs + self.lifetime.as_secs();
        let access_token = self.identity.sign(&json!({
            "aud": resource,
            "iss": format!("https://sts.windows.net/{}/", self.tenant_id),
            "iat": now_secs,
            "nbf": now_secs,
            "exp": expires,
            "appid": app.client_id,
            "oid": app.object_id,
            "sub": app.object_id,
            "tid": self.tenant_id,
            "idtyp": "app",
            "ver": "1.0",
        }));
        Ok(IssuedEntraToken {
            access_token,
            client_id: app.client_id,
            scope,
            assertion_issuer: iss,
            assertion_subject: sub,
            expires_at: UNIX_EPOCH + Duration::from_secs(expires),
        })
    }
}

impl Handler for EntraHandler {
    type Fault = NoFault;
    const BODY_CONTENT_TYPE: &'static str = "application/json";

    fn handle(&self, request: &RecordedRequest) -> Response {
        if request.method != "POST" {
            return self.error_response(fail(
                405,
                "invalid_request",
                900561,
                "The endpoint only accepts POST requests.",
            ));
        }
        match self.token(request) {
            Ok(issued) => {
                lock(&self.issued).push(issued.clone());
                Response::json(
                    200,
                    &json!({
                        "token_type": "Bearer",
                        "expires_in": self.lifetime.as_secs(),
                        "ext_expires_in": self.lifetime.as_secs(),
                        "access_token": issued.access_token,
                    }),
                )
            }
            Err(e) => self.error_response(e),
        }
    }

    fn handle_fault(&self, _: &RecordedRequest, fault: NoFault) -> Response {
        match fault {}
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn more_than_twenty_federated_credentials_are_refused() {
        let app = (0..21).fold(EntraApplication::new("c"), |a, i| {
            a.federated_credential(FederatedCredential::new("https://i", format!("s{i}")))
        });
        let err = EntraEmulator::builder()
            .application(app)
            .start()
            .await
            .unwrap_err();
        assert_eq!(err.kind(), std::io::ErrorKind::InvalidInput);
        let twice = EntraApplication::new("c")
            .federated_credential(FederatedCredential::new("https://i", "s"))
            .federated_credential(FederatedCredential::new("https://i", "s").audience("other"));
        assert!(
            EntraEmulator::builder()
                .application(twice)
                .start()
                .await
                .is_err()
        );
    }
}
