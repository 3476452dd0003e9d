//! The metadata server's service logic: request checks, path routing, and the identity-token
//! claims.

use std::sync::{Arc, Mutex};
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use serde_json::{Value, json};

use super::ServiceAccount;
use crate::jwt::GoogleIdentity;
use crate::random::{BASE64_URL, random_string};
use crate::request::RecordedRequest;
use crate::server::{Handler, NoFault, Response, lock};
use federated_credentials::context::Clock;

/// Content type of plain metadata values, as the real server sends them.
const VALUE_CONTENT_TYPE: &str = "application/text";
/// Content type of the identity endpoint's bare JWT.
const IDENTITY_CONTENT_TYPE: &str = "text/html; charset=utf-8";

/// The emulated instance and project, fixed when the emulator starts.
#[derive(Debug, Clone)]
pub(super) struct Instance {
    pub(super) default_account: ServiceAccount,
    pub(super) extra_accounts: Vec<ServiceAccount>,
    pub(super) project_id: String,
    pub(super) project_number: u64,
    pub(super) zone: String,
    pub(super) instance_id: u64,
    pub(super) instance_name: String,
    pub(super) instance_creation_timestamp: u64,
    pub(super) licenses: Vec<String>,
    pub(super) access_token_expires_in: Duration,
}

impl Default for Instance {
    fn default() -> Self {
        Self {
            default_account: ServiceAccount::new(
                "123456789-compute@developer.gserviceaccount.com",
                "104729384756102938475",
            ),
            extra_accounts: Vec::new(),
            project_id: "test-project".to_owned(),
            project_number: 123_456_789,
            zone: "us-central1-a".to_owned(),
            instance_id: 4_502_934_710_362_847_561,
            instance_name: "test-instance".to_owned(),
            instance_creation_timestamp: 1_600_000_000,
            licenses: vec!["1000010".to_owned()],
            access_token_expires_in: Duration::from_secs(3599),
        }
    }
}

/// Which claims an identity token carries (the `format` and `licenses` query parameters).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum TokenFormat {
    Standard,
    Full { licenses: bool },
}

/// The metadata server's service logic.
#[derive(Debug)]
pub(super) struct MetadataHandler {
    pub(super) instance: Instance,
    pub(super) identity: GoogleIdentity,
    pub(super) clock: Arc<dyn Clock>,
    pub(super) token_lifetime: Mutex<Duration>,
}

impl Handler for MetadataHandler {
    type Fault = NoFault;
    const BODY_CONTENT_TYPE: &'static str = VALUE_CONTENT_TYPE;

    fn handle(&self, request: &RecordedRequest) -> Response {
        if request.header("metadata-flavor") != Some("Google") {
            return Response::text(
                403,
                "Missing required header: \"Metadata-Flavor: Google\"\n",
            );
        }
        if request.has_header("x-forwarded-for") {
            return Response::text(
                403,
                "Request with an \"X-Forwarded-For\" header refused: proxied requests are not allowed\n",
            );
        }
        if request.method != "GET" {
            return Response::text(405, "Method Not Allowed\n");
        }
        let segments = request.path_segments();
        let segments: Vec<&str> = segments.iter().map(String::as_str).collect();
        match segments.as_slice() {
            [] => value("computeMetadata/\n"),
            ["computeMetadata"] => value("v1/\n"),
            ["computeMetadata", "v1", rest @ ..] => self.v1(rest, request),
            _ => not_found(),
        }
    }

    fn handle_fault(&self, _: &RecordedRequest, fault: NoFault) -> Response {
        match fault {}
    }

    fn decorate(&self, response: &mut Response) {
        response.set_header_if_absent("metadata-flavor", "Google");
    }
}

impl MetadataHandler {
    fn v1(&self, path: &[&str], request: &RecordedRequest) -> Response {
        let instance = &self.instance;
        match path {
            [] => value("instance/\noauth/\nproject/\n"),
            ["project", "project-id"] => value(&instance.project_id),
            ["project", "numeric-project-id"] => value(instance.project_number.to_string()),
            ["instance", "zone"] => value(format!(
                "projects/{}/zones/{}",
                instance.project_number, instance.zone
            )),
            ["instance", "id"] => value(instance.instance_id.to_string()),
            ["instance", "name"] => value(&instance.instance_name),
            ["instance", "service-accounts"] => {
                let listing: String = std::iter::once("default")
                    .chain(self.accounts().map(|a| a.email.as_str()))
                    .map(|name| format!("{name}/\n"))
                    .collect();
                value(listing)
            }
            ["instance", "service-accounts", name, rest @ ..] => match self.account(name) {
                Some(account) => self.service_account(account, rest, request),
                None => not_found(),
            },
            _ => not_found(),
        }
    }

    fn service_account(
        &self,
        account: &ServiceAccount,
        path: &[&str],
        request: &RecordedRequest,
    ) -> Response {
        match path {
            [] if request.query_param("recursive") == Some("true") => Response::json(
                200,
                &json!({
                    "aliases": ["default"],
                    "email": account.email,
                    "scopes": account.scopes,
                }),
            ),
            [] => value("aliases\nemail\nidentity\nscopes\ntoken\n"),
            ["email"] => value(&account.email),
            ["scopes"] => value(account.scopes.join("\n") + "\n"),
            ["identity"] => self.identity_token(account, request),
            ["token"] => self.access_token(),
            _ => not_found(),
        }
    }

    fn identity_token(&self, account: &ServiceAccount, request: &RecordedRequest) -> Response {
        let audience = match request.query_param("audience") {
            Some(audience) if !audience.is_empty() => audience,
            _ => return Response::text(400, "non-empty audience parameter required\n"),
        };
        let licenses = match request.query_param("licenses") {
            None => false,
            Some(v) if v.eq_ignore_ascii_case("true") => true,
            Some(v) if v.eq_ignore_ascii_case("false") => false,
            Some(_) => return Response::text(400, "licenses parameter must be TRUE or FALSE\n"),
        };
        let format = match request.query_param("format") {
            None | Some("standard") => TokenFormat::Standard,
            Some("full") => TokenFormat::Full { licenses },
            Some(_) => return Response::text(400, "format parameter must be standard or full\n"),
        };
        let lifetime = *lock(&self.token_lifetime);
        let claims = self.identity_claims(account, audience, format, self.clock.now(), lifetime);
        Response::new(200, IDENTITY_CONTENT_TYPE, self.identity.sign(&claims))
    }

    /// A fresh access token. The `scopes` parameter is accepted as sent; it does not matter.
    fn access_token(&self) -> Response {
        let token = random_string(&mut fastrand::Rng::new(), BASE64_URL, 160);
        Response::json(
            200,
            &json!({
                "access_token": format!("ya29.{token}"),
                "expires_in": self.instance.access_token_expires_in.as_secs(),
                "token_type": "Bearer",
            }),
        )
    }

    /// The claims the identity endpoint signs for `account`.
    pub(super) fn identity_claims(
        &self,
        account: &ServiceAccount,
        audience: &str,
        format: TokenFormat,
        issued_at: SystemTime,
        lifetime: Duration,
    ) -> Value {
        let iat = issued_at
            .duration_since(UNIX_EPOCH)
            .unwrap_or_default()
            .as_secs();
        let mut claims = json!({
            "iss": "https://accounts.google.com",
            "aud": audience,
            "azp": account.unique_id,
            "sub": account.unique_id,
            "iat": iat,
            "exp": iat + lifetime.as_secs(),
        });
        // As on Compute Engine: `email` only with format=full ("Verify VM identity"; google-auth
        // PR 462), together with the instance claims.
        if let TokenFormat::Full { licenses } = format {
            claims["email"] = json!(account.email);
            claims["email_verified"] = json!(true);
            let instance = &self.instance;
            let mut compute_engine = json!({
                "project_id": instance.project_id,
                "project_number": instance.project_number,
                "zone": instance.zone,
                "instance_id": instance.instance_id.to_string(),
                "instance_name": instance.instance_name,
                "instance_creation_timestamp": instance.instance_creation_timestamp,
            });
            if licenses {
                compute_engine["license_id"] = json!(instance.licenses);
            }
            claims["google"] = json!({ "compute_engine": compute_engine });
        }
        claims
    }

    fn accounts(&self) -> impl Iterator<Item = &ServiceAccount> {
        std::iter::once(&self.instance.default_account).chain(&self.instance.extra_accounts)
    }

    /// The account named `default` or by its email.
    fn account(&self, name: &str) -> Option<&ServiceAccount> {
        if name == "default" {
            return Some(&self.instance.default_account);
        }
        self.accounts().find(|a| a.email == name)
    }
}

fn value(text: impl Into<String>) -> Response {
    Response::new(200, VALUE_CONTENT_TYPE, text.into())
}

fn not_found() -> Response {
    Response::text(404, "Not Found\n")
}
