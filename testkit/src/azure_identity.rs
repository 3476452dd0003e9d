//! [`AzureManagedIdentityEmulator`]: the two places an Azure workload gets a managed identity
//! token, on one loopback port: the instance metadata service
//! (`/metadata/identity/oauth2/token`, `Metadata: true`) and the App Service/Functions
//! identity endpoint (`/msi/token`, `X-IDENTITY-HEADER`). Tokens are JWTs from
//! `https://sts.windows.net/TENANT/` for the requested resource, signed by a
//! [`GoogleIdentity`] test key; errors have the services' shapes.

use std::sync::{Arc, Mutex};
use std::time::{Duration, UNIX_EPOCH};

use serde_json::{Value, json};

use crate::jwt::GoogleIdentity;
use crate::request::RecordedRequest;
use crate::server::{Handler, NoFault, Response, Server, emulator_controls, lock};
use federated_credentials::context::{Clock, SystemClock};

/// The IMDS token path.
pub const AZURE_IMDS_TOKEN_PATH: &str = "/metadata/identity/oauth2/token";
/// The App Service identity endpoint path (what `IDENTITY_ENDPOINT` points at).
pub const APP_SERVICE_TOKEN_PATH: &str = "/msi/token";

/// A managed identity: what the token says about it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ManagedIdentitySpec {
    /// The client (application) id: `appid` in the token, `client_id` in the answer.
    pub client_id: String,
    /// The object (principal) id: `oid` and `sub`.
    pub object_id: String,
    /// The Azure resource id: `xms_mirid`.
    pub resource_id: String,
}

impl ManagedIdentitySpec {
    /// A user-assigned identity named `name`, with ids derived from it (stable per name).
    pub fn user_assigned(name: &str) -> Self {
        let n = name
            .bytes()
            .fold(0u32, |h, b| h.wrapping_mul(31).wrapping_add(u32::from(b)));
        Self {
            client_id: format!("{n:08x}-0000-4000-8000-00000000c11d"),
            object_id: format!("{n:08x}-0000-4000-8000-0000000000b1"),
            resource_id: format!(
                "/subscriptions/00000000-0000-0000-0000-000000000000/resourceGroups/rg/providers/Microsoft.ManagedIdentity/userAssignedIdentities/{name}"
            ),
        }
    }

    /// The system-assigned identity of a VM named `vm`.
    pub fn system_assigned(vm: &str) -> Self {
        Self {
            resource_id: format!(
                "/subscriptions/00000000-0000-0000-0000-000000000000/resourceGroups/rg/providers/Microsoft.Compute/virtualMachines/{vm}"
            ),
            ..Self::user_assigned(&format!("system-{vm}"))
        }
    }
}

/// Builds an [`AzureManagedIdentityEmulator`].
#[derive(Debug)]
#[must_use]
pub struct AzureManagedIdentityEmulatorBuilder {
    clock: Arc<dyn Clock>,
    tenant_id: String,
    system_assigned: Option<ManagedIdentitySpec>,
    user_assigned: Vec<ManagedIdentitySpec>,
    lifetime: Duration,
    identity_header: String,
    identity: GoogleIdentity,
    resources: Option<Vec<String>>,
}

impl Default for AzureManagedIdentityEmulatorBuilder {
    fn default() -> Self {
        Self {
            clock: Arc::new(SystemClock),
            tenant_id: "72f9a8bf-0000-4000-8000-00000000a2e1".into(),
            system_assigned: Some(ManagedIdentitySpec::system_assigned("vm")),
            user_assigned: Vec::new(),
            lifetime: Duration::from_secs(24 * 3600),
            identity_header: "emulated-identity-header".into(),
            identity: GoogleIdentity::shared(),
            resources: None,
        }
    }
}

impl AzureManagedIdentityEmulatorBuilder {
    /// The clock tokens are issued by (default: the system clock).
    pub fn clock(mut self, clock: impl Clock + 'static) -> Self {
        self.clock = Arc::new(clock);
        self
    }

    /// The Entra tenant (the issuer is `https://sts.windows.net/TENANT/`).
    pub fn tenant_id(mut self, tenant: impl Into<String>) -> Self {
        self.tenant_id = tenant.into();
        self
    }

    /// The system-assigned identity (default one for a VM named `vm`), or `None` for a
    /// machine without one.
    pub fn system_assigned(mut self, identity: Option<ManagedIdentitySpec>) -> Self {
        self.system_assigned = identity;
        self
    }

    /// Assigns a user-assigned identity.
    pub fn user_assigned(mut self, identity: ManagedIdentitySpec) -> Self {
        self.user_assigned.push(identity);
        self
    }

    /// How long tokens live (default 24 h, as IMDS issues them).
    pub fn token_lifetime(mut self, lifetime: Duration) -> Self {
        self.lifetime = lifetime;
        self
    }

    /// The secret App Service expects in `X-IDENTITY-HEADER` (`IDENTITY_HEADER`).
    pub fn identity_header(mut self, secret: impl Into<String>) -> Self {
        self.identity_header = secret.into();
        self
    }

    /// The key tokens are signed with (default [`GoogleIdentity::shared`]).
    pub fn identity(mut self, identity: GoogleIdentity) -> Self {
        self.identity = identity;
        self
    }

    /// Only these resources exist in the tenant; others get `invalid_resource` /
    /// AADSTS500011 (default: any resource).
    pub fn resources<I, S>(mut self, resources: I) -> Self
    where
        I: IntoIterator<Item = S>,
        S: Into<String>,
    {
        self.resources = Some(resources.into_iter().map(Into::into).collect());
        self
    }

    /// Starts the emulator on `127.0.0.1` with an ephemeral port.
    pub async fn start(self) -> std::io::Result<AzureManagedIdentityEmulator> {
        let handler = IdentityHandler {
            clock: self.clock,
            tenant_id: self.tenant_id,
            system_assigned: self.system_assigned,
            user_assigned: self.user_assigned,
            lifetime: self.lifetime,
            identity_header: Mutex::new(self.identity_header),
            identity: self.identity,
            resources: self.resources,
        };
        Ok(AzureManagedIdentityEmulator {
            server: Server::start(handler).await?,
        })
    }
}

/// A loopback Azure managed identity endpoint (IMDS and App Service shapes).
///
/// ```
/// use federated_credentials::context::{Context, StaticEnv};
/// use federated_credentials::source::{AzureManagedIdentityToken, SubjectTokenSource};
/// use federated_credentials_testkit::AzureManagedIdentityEmulator;
///
/// # #[tokio::main(flavor = "current_thread")]
/// # async fn main() -> Result<(), Box<dyn std::error::Error>> {
/// let azure = AzureManagedIdentityEmulator::start().await?;
/// let vm = Context::builder().env(StaticEnv::from_pairs(azure.imds_env())).build();
/// let token = AzureManagedIdentityToken::new("api://aws").subject_token(&vm).await?;
/// assert!(token.expires_at().is_some());
/// # Ok(())
/// # }
/// ```
#[derive(Debug)]
pub struct AzureManagedIdentityEmulator {
    server: Server<IdentityHandler>,
}

emulator_controls!(AzureManagedIdentityEmulator);

impl AzureManagedIdentityEmulator {
    /// A builder.
    pub fn builder() -> AzureManagedIdentityEmulatorBuilder {
        AzureManagedIdentityEmulatorBuilder::default()
    }

    /// Starts one with the defaults: a VM with a system-assigned identity.
    pub async fn start() -> std::io::Result<Self> {
        Self::builder().start().await
    }

    /// `http://127.0.0.1:PORT`: the IMDS base (`AZURE_POD_IDENTITY_AUTHORITY_HOST`).
    pub fn imds_endpoint(&self) -> String {
        self.base_url()
    }

    /// `http://127.0.0.1:PORT/msi/token`: `IDENTITY_ENDPOINT` on App Service.
    pub fn app_service_endpoint(&self) -> String {
        format!("{}{APP_SERVICE_TOKEN_PATH}", self.base_url())
    }

    /// The `IDENTITY_HEADER` secret.
    pub fn identity_header(&self) -> String {
        lock(&self.handler().identity_header).clone()
    }

    /// Changes the `IDENTITY_HEADER` secret (App Service rotates it on restart).
    pub fn set_identity_header(&self, secret: impl Into<String>) {
        *lock(&self.handler().identity_header) = secret.into();
    }

    /// The tenant id.
    pub fn tenant_id(&self) -> &str {
        &self.handler().tenant_id
    }

    /// `https://sts.windows.net/TENANT/`, the `iss` of every token.
    pub fn issuer(&self) -> String {
        format!("https://sts.windows.net/{}/", self.tenant_id())
    }

    /// The system-assigned identity, if the machine has one.
    pub fn system_assigned(&self) -> Option<&ManagedIdentitySpec> {
        self.handler().system_assigned.as_ref()
    }

    /// The signing key (for an AWS IAM OIDC provider or a Google pool provider that trusts
    /// this tenant).
    pub fn identity(&self) -> GoogleIdentity {
        self.handler().identity.clone()
    }

    /// The environment of a VM: `AZURE_POD_IDENTITY_AUTHORITY_HOST` moves IMDS here.
    pub fn imds_env(&self) -> Vec<(String, String)> {
        vec![(
            "AZURE_POD_IDENTITY_AUTHORITY_HOST".into(),
            self.imds_endpoint(),
        )]
    }

    /// The environment of App Service or Functions: `IDENTITY_ENDPOINT`, `IDENTITY_HEADER`.
    pub fn app_service_env(&self) -> Vec<(String, String)> {
        vec![
            ("IDENTITY_ENDPOINT".into(), self.app_service_endpoint()),
            ("IDENTITY_HEADER".into(), self.identity_header()),
        ]
    }

    fn handler(&self) -> &IdentityHandler {
        self.server.handler()
    }
}

#[derive(Debug)]
struct IdentityHandler {
    clock: Arc<dyn Clock>,
    tenant_id: String,
    system_assigned: Option<ManagedIdentitySpec>,
    user_assigned: Vec<ManagedIdentitySpec>,
    lifetime: Duration,
    identity_header: Mutex<String>,
    identity: GoogleIdentity,
    resources: Option<Vec<String>>,
}

/// Which endpoint a request came to, for the error shapes.
#[derive(Clone, Copy, PartialEq, Eq)]
enum Shape {
    Imds,
    AppService,
}

fn error(shape: Shape, status: u16, code: &str, description: &str) -> Response {
    match shape {
        Shape::Imds => Response::json(
            status,
            &json!({"error": code, "error_description": description}),
        ),
        Shape::AppService => Response::json(
            status,
            &json!({"statusCode": status, "message": description, "correlationId": "00000000-0000-4000-8000-0000000000c0"}),
        ),
    }
}

impl Handler for IdentityHandler {
    type Fault = NoFault;
    const BODY_CONTENT_TYPE: &'static str = "application/json";

    fn handle(&self, request: &RecordedRequest) -> Response {
        let shape = match (request.method.as_str(), request.path.as_str()) {
            ("GET", AZURE_IMDS_TOKEN_PATH) => Shape::Imds,
            ("GET", APP_SERVICE_TOKEN_PATH) => Shape::AppService,
            _ => return Response::json(404, &json!({"error": "not_found"})),
        };
        match shape {
            Shape::Imds => {
                // gcloud's `create-cred-config --azure` sends `Metadata: True`.
                if !request
                    .header("metadata")
                    .is_some_and(|v| v.eq_ignore_ascii_case("true"))
                {
                    return error(
                        shape,
                        400,
                        "invalid_request",
                        "Required metadata header not specified",
                    );
                }
                if request.has_header("x-forwarded-for") {
                    return error(
                        shape,
                        400,
                        "invalid_request",
                        "Request contains X-Forwarded-For header",
                    );
                }
                if request.query_param("api-version").is_none() {
                    return error(
                        shape,
                        400,
                        "invalid_request",
                        "Required query variable 'api-version' is missing",
                    );
                }
            }
            Shape::AppService => {
                let expected = lock(&self.identity_header).clone();
                if request.header("x-identity-header") != Some(expected.as_str()) {
                    return error(
                        shape,
                        401,
                        "",
                        "The X-IDENTITY-HEADER is missing or invalid.",
                    );
                }
                if request.query_param("api-version") != Some("2019-08-01") {
                    return error(shape, 400, "", "api-version 2019-08-01 is required.");
                }
            }
        }
        let Some(resource) = request.query_param("resource").filter(|r| !r.is_empty()) else {
            return error(
                shape,
                400,
                "invalid_request",
                "Required query variable 'resource' is missing",
            );
        };
        if let Some(known) = &self.resources
            && !known.iter().any(|r| r == resource)
        {
            return error(
                shape,
                400,
                "invalid_resource",
                &format!(
                    "AADSTS500011: The resource principal named {resource} was not found in the tenant named {}.",
                    self.tenant_id
                ),
            );
        }
        let (object_param, resource_param) = match shape {
            Shape::Imds => ("object_id", "msi_res_id"),
            Shape::AppService => ("principal_id", "mi_res_id"),
        };
        let chosen = if let Some(id) = request.query_param("client_id") {
            self.user_assigned.iter().find(|i| i.client_id == id)
        } else if let Some(id) = request.query_param(object_param) {
            self.user_assigned.iter().find(|i| i.object_id == id)
        } else if let Some(id) = request.query_param(resource_param) {
            self.user_assigned.iter().find(|i| i.resource_id == id)
        } else if let Some(system) = &self.system_assigned {
            Some(system)
        } else if self.user_assigned.len() > 1 {
            return error(
                shape,
                400,
                "invalid_request",
                "Multiple user assigned identities exist, please specify the clientId / resourceId of the identity in the token request",
            );
        } else {
            self.user_assigned.first()
        };
        let Some(identity) = chosen else {
            return match shape {
                Shape::Imds => error(shape, 400, "invalid_request", "Identity not found"),
                Shape::AppService => error(
                    shape,
                    400,
                    "",
                    "No ManagedIdentity found for specified ClientId/ResourceId/PrincipalId.",
                ),
            };
        };
        let now = self
            .clock
            .now()
            .duration_since(UNIX_EPOCH)
            .map(|d| d.as_secs())
            .unwrap_or(0);
        let exp = now + self.lifetime.as_secs();
        let token = self.identity.sign(&json!({
            "aud": resource,
            "iss": format!("https://sts.windows.net/{}/", self.tenant_id),
            "iat": now,
            "nbf": now,
            "exp": exp,
            "appid": identity.client_id,
            "idtyp": "app",
            "oid": identity.object_id,
            "sub": identity.object_id,
            "tid": self.tenant_id,
            "xms_mirid": identity.resource_id,
            "ver": "1.0",
        }));
        let mut body = json!({
            "access_token": token,
            "client_id": identity.client_id,
            "expires_on": exp.to_string(),
            "resource": resource,
            "token_type": "Bearer",
        });
        if shape == Shape::Imds {
            // IMDS also sends these, numbers as strings.
            body["expires_in"] = Value::String(self.lifetime.as_secs().to_string());
            body["ext_expires_in"] = Value::String(self.lifetime.as_secs().to_string());
            body["not_before"] = Value::String(now.to_string());
        }
        Response::json(200, &body)
    }

    fn handle_fault(&self, _: &RecordedRequest, fault: NoFault) -> Response {
        match fault {}
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::test_support::client;

    #[tokio::test]
    async fn imds_and_app_service_answers_and_errors() {
        let azure = AzureManagedIdentityEmulator::builder()
            .user_assigned(ManagedIdentitySpec::user_assigned("a"))
            .user_assigned(ManagedIdentitySpec::user_assigned("b"))
            .resources(["api://aws"])
            .start()
            .await
            .unwrap();
        let http = client();
        let imds = |query: &str| {
            format!(
                "{}{AZURE_IMDS_TOKEN_PATH}?api-version=2018-02-01&{query}",
                azure.imds_endpoint()
            )
        };
        let ok = http
            .get(imds("resource=api://aws"))
            .header("Metadata", "true")
            .send()
            .await
            .unwrap();
        assert_eq!(ok.status(), 200);
        let body: Value = serde_json::from_str(&ok.text().await.unwrap()).unwrap();
        assert!(body["expires_on"].is_string());
        let claims = azure
            .identity()
            .verify(body["access_token"].as_str().unwrap())
            .unwrap();
        assert_eq!(
            claims["oid"],
            azure.system_assigned().unwrap().object_id.as_str()
        );
        assert_eq!(claims["iss"], azure.issuer().as_str());

        let b = ManagedIdentitySpec::user_assigned("b");
        let chosen: Value = http
            .get(imds(&format!(
                "resource=api://aws&object_id={}",
                b.object_id
            )))
            .header("Metadata", "true")
            .send()
            .await
            .unwrap()
            .text()
            .await
            .map(|t| serde_json::from_str(&t).unwrap())
            .unwrap();
        assert_eq!(chosen["client_id"], b.client_id.as_str());

        for (url, metadata, status, says) in [
            (
                imds("resource=api://aws"),
                false,
                400,
                "Required metadata header",
            ),
            (imds("resource=api://other"), true, 400, "AADSTS500011"),
            (
                imds("resource=api://aws&client_id=nope"),
                true,
                400,
                "Identity not found",
            ),
        ] {
            let mut r = http.get(url);
            if metadata {
                r = r.header("Metadata", "true");
            }
            let reply = r.send().await.unwrap();
            assert_eq!(reply.status().as_u16(), status);
            assert!(reply.text().await.unwrap().contains(says), "{says}");
        }

        let app = format!(
            "{}?api-version=2019-08-01&resource=api://aws",
            azure.app_service_endpoint()
        );
        let denied = http
            .get(&app)
            .header("X-IDENTITY-HEADER", "wrong")
            .send()
            .await
            .unwrap();
        assert_eq!(denied.status(), 401);
        let ok = http
            .get(&app)
            .header("X-IDENTITY-HEADER", azure.identity_header())
            .send()
            .await
            .unwrap();
        assert_eq!(ok.status(), 200);
        let body: Value = serde_json::from_str(&ok.text().await.unwrap()).unwrap();
        assert!(body.get("expires_in").is_none());
        assert_eq!(azure.request_count(), 7);
    }
}
