//! [`ContainerCredentialsEmulator`]: the ECS agent's / EKS Pod Identity agent's
//! container-credentials endpoint (`AWS_CONTAINER_CREDENTIALS_RELATIVE_URI` /
//! `_FULL_URI`), checking the `Authorization` token, plus the ECS task metadata document
//! (`ECS_CONTAINER_METADATA_URI_V4` + `/task`) for the region.

use std::sync::{Arc, Mutex};
use std::time::{Duration, SystemTime};

use serde_json::json;

use crate::random::{BASE64, UPPER_ALPHANUMERIC, random_string};
use crate::request::RecordedRequest;
use crate::server::{Handler, NoFault, Response, Server, emulator_controls, lock};
use crate::timestamp;
use federated_credentials::context::{Clock, SystemClock};

/// The path the emulator serves credentials on (what ECS puts in the relative URI).
pub const CONTAINER_CREDENTIALS_PATH: &str = "/v2/credentials/emulated-task";
/// The path of the ECS task metadata root (what `ECS_CONTAINER_METADATA_URI_V4` holds).
pub const TASK_METADATA_PATH: &str = "/v4/emulated-container";

/// The credentials the endpoint hands out.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub struct ContainerRoleCredentials {
    /// `AccessKeyId`.
    pub access_key_id: String,
    /// `SecretAccessKey`.
    pub secret_access_key: String,
    /// `Token`.
    pub session_token: String,
    /// `RoleArn`.
    pub role_arn: String,
    /// `AccountId`.
    pub account_id: String,
}

/// Builds a [`ContainerCredentialsEmulator`].
#[derive(Debug)]
#[must_use]
pub struct ContainerCredentialsEmulatorBuilder {
    clock: Arc<dyn Clock>,
    lifetime: Duration,
    authorization: Option<String>,
    role_arn: String,
    availability_zone: String,
}

impl Default for ContainerCredentialsEmulatorBuilder {
    fn default() -> Self {
        Self {
            clock: Arc::new(SystemClock),
            lifetime: Duration::from_secs(6 * 3600),
            authorization: None,
            role_arn: "arn:aws:iam::123456789012:role/emulated-task-role".into(),
            availability_zone: "us-east-1a".into(),
        }
    }
}

impl ContainerCredentialsEmulatorBuilder {
    /// The clock credentials are issued by (default: the system clock).
    pub fn clock(mut self, clock: impl Clock + 'static) -> Self {
        self.clock = Arc::new(clock);
        self
    }

    /// How long issued credentials live (default 6 h, as ECS's).
    pub fn credentials_lifetime(mut self, lifetime: Duration) -> Self {
        self.lifetime = lifetime;
        self
    }

    /// Requires this exact `Authorization` value (EKS Pod Identity, FULL_URI brokers); by
    /// default none is required, as on ECS with a relative URI.
    pub fn authorization(mut self, token: impl Into<String>) -> Self {
        self.authorization = Some(token.into());
        self
    }

    /// The role the credentials belong to (its account becomes `AccountId`).
    pub fn role_arn(mut self, arn: impl Into<String>) -> Self {
        self.role_arn = arn.into();
        self
    }

    /// The task's `AvailabilityZone` in the task metadata (default `us-east-1a`).
    pub fn availability_zone(mut self, zone: impl Into<String>) -> Self {
        self.availability_zone = zone.into();
        self
    }

    /// Starts the emulator on `127.0.0.1` with an ephemeral port.
    pub async fn start(self) -> std::io::Result<ContainerCredentialsEmulator> {
        let account_id = self
            .role_arn
            .split(':')
            .nth(4)
            .unwrap_or("123456789012")
            .to_string();
        let credentials = issue(&self.role_arn, &account_id);
        let handler = ContainerHandler {
            clock: self.clock,
            lifetime: self.lifetime,
            state: Arc::new(Mutex::new(HandlerState {
                authorization: self.authorization,
                credentials,
                availability_zone: self.availability_zone,
            })),
        };
        let state = Arc::clone(&handler.state);
        Ok(ContainerCredentialsEmulator {
            server: Server::start(handler).await?,
            state,
        })
    }
}

fn issue(role_arn: &str, account_id: &str) -> ContainerRoleCredentials {
    let mut rng = fastrand::Rng::new();
    ContainerRoleCredentials {
        access_key_id: format!("ASIA{}", random_string(&mut rng, UPPER_ALPHANUMERIC, 16)),
        secret_access_key: random_string(&mut rng, BASE64, 40),
        session_token: random_string(&mut rng, BASE64, 96),
        role_arn: role_arn.to_string(),
        account_id: account_id.to_string(),
    }
}

/// A loopback container-credentials endpoint.
///
/// ```
/// use federated_credentials::context::{Context, StaticEnv};
/// use federated_credentials::source::aws::{AwsIdentitySource, ContainerCredentials};
/// use federated_credentials_testkit::ContainerCredentialsEmulator;
///
/// # #[tokio::main(flavor = "current_thread")]
/// # async fn main() -> Result<(), Box<dyn std::error::Error>> {
/// let eks = ContainerCredentialsEmulator::builder().authorization("pod-token").start().await?;
/// let ctx = Context::builder()
///     .env(StaticEnv::from_pairs([
///         ("AWS_CONTAINER_CREDENTIALS_FULL_URI", eks.credentials_url()),
///         ("AWS_CONTAINER_AUTHORIZATION_TOKEN", "pod-token".into()),
///     ]))
///     .build();
/// let creds = ContainerCredentials::new().credentials(&ctx).await?;
/// assert_eq!(creds.access_key_id(), eks.credentials().access_key_id);
/// # Ok(())
/// # }
/// ```
#[derive(Debug)]
pub struct ContainerCredentialsEmulator {
    server: Server<ContainerHandler>,
    state: Arc<Mutex<HandlerState>>,
}

emulator_controls!(ContainerCredentialsEmulator);

impl ContainerCredentialsEmulator {
    /// A builder.
    pub fn builder() -> ContainerCredentialsEmulatorBuilder {
        ContainerCredentialsEmulatorBuilder::default()
    }

    /// Starts one with the defaults (no authorization required).
    pub async fn start() -> std::io::Result<Self> {
        Self::builder().start().await
    }

    /// `host:port`, for `FEDERATED_CREDENTIALS_CONTAINER_HOST` with a relative URI.
    pub fn host(&self) -> String {
        self.local_addr().to_string()
    }

    /// The credentials URL (for `AWS_CONTAINER_CREDENTIALS_FULL_URI`).
    pub fn credentials_url(&self) -> String {
        format!("{}{CONTAINER_CREDENTIALS_PATH}", self.base_url())
    }

    /// The task metadata root (for `ECS_CONTAINER_METADATA_URI_V4`).
    pub fn task_metadata_url(&self) -> String {
        format!("{}{TASK_METADATA_PATH}", self.base_url())
    }

    /// The credentials currently handed out.
    pub fn credentials(&self) -> ContainerRoleCredentials {
        lock(&self.state).credentials.clone()
    }

    /// Issues new credentials (as the agent does before the old ones expire).
    pub fn rotate_credentials(&self) {
        let mut state = lock(&self.state);
        let c = &state.credentials;
        state.credentials = issue(&c.role_arn.clone(), &c.account_id.clone());
    }

    /// Requires a new `Authorization` value from now on (EKS rotates the pod's token).
    pub fn set_authorization(&self, token: Option<String>) {
        lock(&self.state).authorization = token;
    }
}

#[derive(Debug)]
struct HandlerState {
    authorization: Option<String>,
    credentials: ContainerRoleCredentials,
    availability_zone: String,
}

#[derive(Debug)]
struct ContainerHandler {
    clock: Arc<dyn Clock>,
    lifetime: Duration,
    state: Arc<Mutex<HandlerState>>,
}

impl Handler for ContainerHandler {
    type Fault = NoFault;
    const BODY_CONTENT_TYPE: &'static str = "application/json";

    fn handle(&self, request: &RecordedRequest) -> Response {
        let state = lock(&self.state);
        if request.method != "GET" {
            return Response::json(
                405,
                &json!({"code": "MethodNotAllowed", "message": "GET only"}),
            );
        }
        if request.path == format!("{TASK_METADATA_PATH}/task") {
            return Response::json(
                200,
                &json!({"Cluster": "emulated", "AvailabilityZone": state.availability_zone}),
            );
        }
        if request.path != CONTAINER_CREDENTIALS_PATH {
            return Response::json(404, &json!({"code": "NotFound", "message": "no such path"}));
        }
        if let Some(expected) = &state.authorization {
            match request.header("authorization") {
                None => {
                    return Response::json(
                        401,
                        &json!({"code": "AccessDeniedException", "message": "missing Authorization header"}),
                    );
                }
                Some(given) if given != expected => {
                    return Response::json(
                        403,
                        &json!({"code": "AccessDeniedException", "message": "invalid authorization token"}),
                    );
                }
                Some(_) => {}
            }
        }
        let now: SystemTime = self.clock.now();
        let c = &state.credentials;
        Response::json(
            200,
            &json!({
                "AccessKeyId": c.access_key_id,
                "SecretAccessKey": c.secret_access_key,
                "Token": c.session_token,
                "Expiration": timestamp::format_rfc3339(now + self.lifetime, 0),
                "RoleArn": c.role_arn,
                "AccountId": c.account_id,
            }),
        )
    }

    fn handle_fault(&self, _: &RecordedRequest, fault: NoFault) -> Response {
        match fault {}
    }
}
