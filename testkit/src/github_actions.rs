//! [`GitHubActionsOidcEmulator`]: the Actions runtime's OIDC token endpoint
//! (`ACTIONS_ID_TOKEN_REQUEST_URL`), checking the job's bearer token and issuing JWTs with
//! GitHub's claims (`iss` `https://token.actions.githubusercontent.com`, `sub`
//! `repo:OWNER/REPO:ref:REF`, the requested `aud`), signed by a [`GoogleIdentity`] test key.

use std::sync::{Arc, Mutex};
use std::time::{Duration, UNIX_EPOCH};

use serde_json::json;

use crate::jwt::GoogleIdentity;
use crate::request::RecordedRequest;
use crate::server::{Handler, NoFault, Response, Server, emulator_controls, lock};
use federated_credentials::context::{Clock, SystemClock};

/// GitHub's OIDC issuer, the `iss` of every token.
pub const GITHUB_ISSUER: &str = "https://token.actions.githubusercontent.com";
const TOKEN_PATH: &str = "/_apis/distributedtask/idtoken";

/// Builds a [`GitHubActionsOidcEmulator`].
#[derive(Debug)]
#[must_use]
pub struct GitHubActionsOidcEmulatorBuilder {
    clock: Arc<dyn Clock>,
    lifetime: Duration,
    request_token: String,
    repository: String,
    git_ref: String,
    identity: GoogleIdentity,
}

impl Default for GitHubActionsOidcEmulatorBuilder {
    fn default() -> Self {
        Self {
            clock: Arc::new(SystemClock),
            lifetime: Duration::from_secs(300),
            request_token: "emulated-actions-request-token".into(),
            repository: "octo-org/octo-repo".into(),
            git_ref: "refs/heads/main".into(),
            identity: GoogleIdentity::shared(),
        }
    }
}

impl GitHubActionsOidcEmulatorBuilder {
    /// The clock tokens are issued by (default: the system clock).
    pub fn clock(mut self, clock: impl Clock + 'static) -> Self {
        self.clock = Arc::new(clock);
        self
    }

    /// How long tokens live (default 5 min, about what GitHub issues).
    pub fn token_lifetime(mut self, lifetime: Duration) -> Self {
        self.lifetime = lifetime;
        self
    }

    /// The bearer token the job must present (`ACTIONS_ID_TOKEN_REQUEST_TOKEN`).
    pub fn request_token(mut self, token: impl Into<String>) -> Self {
        self.request_token = token.into();
        self
    }

    /// `OWNER/REPO` (default `octo-org/octo-repo`).
    pub fn repository(mut self, repository: impl Into<String>) -> Self {
        self.repository = repository.into();
        self
    }

    /// The key tokens are signed with (default [`GoogleIdentity::shared`]).
    pub fn identity(mut self, identity: GoogleIdentity) -> Self {
        self.identity = identity;
        self
    }

    /// Starts the emulator on `127.0.0.1` with an ephemeral port.
    pub async fn start(self) -> std::io::Result<GitHubActionsOidcEmulator> {
        let request_token = Arc::new(Mutex::new(self.request_token));
        let handler = ActionsHandler {
            clock: self.clock,
            lifetime: self.lifetime,
            request_token: Arc::clone(&request_token),
            sub: format!("repo:{}:ref:{}", self.repository, self.git_ref),
            repository: self.repository,
            identity: self.identity,
        };
        Ok(GitHubActionsOidcEmulator {
            server: Server::start(handler).await?,
            request_token,
        })
    }
}

/// A loopback Actions OIDC token endpoint.
///
/// ```
/// use federated_credentials::context::{Context, StaticEnv};
/// use federated_credentials::source::{GitHubActionsToken, SubjectTokenSource};
/// use federated_credentials_testkit::GitHubActionsOidcEmulator;
///
/// # #[tokio::main(flavor = "current_thread")]
/// # async fn main() -> Result<(), Box<dyn std::error::Error>> {
/// let actions = GitHubActionsOidcEmulator::start().await?;
/// let job = Context::builder().env(StaticEnv::from_pairs(actions.env())).build();
/// let token = GitHubActionsToken::new("sts.amazonaws.com").subject_token(&job).await?;
/// assert!(token.expires_at().is_some());
/// # Ok(())
/// # }
/// ```
#[derive(Debug)]
pub struct GitHubActionsOidcEmulator {
    server: Server<ActionsHandler>,
    request_token: Arc<Mutex<String>>,
}

emulator_controls!(GitHubActionsOidcEmulator);

impl GitHubActionsOidcEmulator {
    /// A builder.
    pub fn builder() -> GitHubActionsOidcEmulatorBuilder {
        GitHubActionsOidcEmulatorBuilder::default()
    }

    /// Starts one with the defaults.
    pub async fn start() -> std::io::Result<Self> {
        Self::builder().start().await
    }

    /// `ACTIONS_ID_TOKEN_REQUEST_URL` (with its `api-version` query, as the runner sets it).
    pub fn request_url(&self) -> String {
        format!("{}{TOKEN_PATH}?api-version=2.0", self.base_url())
    }

    /// The bearer token the endpoint accepts now.
    pub fn request_token(&self) -> String {
        lock(&self.request_token).clone()
    }

    /// The key tokens are signed with (for an IAM OIDC provider or a Google provider that
    /// trusts this issuer).
    pub fn identity(&self) -> GoogleIdentity {
        self.server.handler().identity.clone()
    }

    /// The two variables a job with `permissions: id-token: write` has.
    pub fn env(&self) -> Vec<(String, String)> {
        vec![
            ("ACTIONS_ID_TOKEN_REQUEST_URL".into(), self.request_url()),
            (
                "ACTIONS_ID_TOKEN_REQUEST_TOKEN".into(),
                self.request_token(),
            ),
        ]
    }
}

#[derive(Debug)]
struct ActionsHandler {
    clock: Arc<dyn Clock>,
    lifetime: Duration,
    request_token: Arc<Mutex<String>>,
    sub: String,
    repository: String,
    identity: GoogleIdentity,
}

impl Handler for ActionsHandler {
    type Fault = NoFault;
    const BODY_CONTENT_TYPE: &'static str = "application/json";

    fn handle(&self, request: &RecordedRequest) -> Response {
        if request.path != TOKEN_PATH || request.method != "GET" {
            return Response::json(404, &json!({"message": "not found"}));
        }
        let expected = format!("Bearer {}", lock(&self.request_token));
        if request.header("authorization") != Some(expected.as_str()) {
            return Response::json(401, &json!({"message": "Bad credentials"}));
        }
        let now = self
            .clock
            .now()
            .duration_since(UNIX_EPOCH)
            .map(|d| d.as_secs())
            .unwrap_or(0);
        let aud = request
            .query_param("audience")
            .map(str::to_string)
            .unwrap_or_else(|| format!("https://github.com/{}", self.repository));
        let token = self.identity.sign(&json!({
            "iss": GITHUB_ISSUER,
            "sub": self.sub,
            "aud": aud,
            "repository": self.repository,
            "iat": now,
            "nbf": now,
            "exp": now + self.lifetime.as_secs(),
        }));
        Response::json(200, &json!({"count": 1, "value": token}))
    }

    fn handle_fault(&self, _: &RecordedRequest, fault: NoFault) -> Response {
        match fault {}
    }
}
