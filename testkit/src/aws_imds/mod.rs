//! [`Ec2MetadataEmulator`]: a loopback emulator of the EC2 instance metadata service (the
//! part this crate reads): IMDSv2 session tokens with their TTL by the injected clock, the
//! v2-required / v2-optional / v1-only modes, the hop-limit hang, placement, and the
//! instance-profile role and its credentials.

mod handler;

use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::{Duration, SystemTime};

use self::handler::{ImdsHandler, State};
use super::server::{Server, emulator_controls, lock};
use federated_credentials::context::{Clock, SystemClock};

/// How the emulated instance treats IMDSv2 session tokens.
///
/// ```
/// use federated_credentials_testkit::{Ec2MetadataEmulator, ImdsMode};
///
/// # #[tokio::main(flavor = "current_thread")]
/// # async fn main() -> Result<(), Box<dyn std::error::Error>> {
/// let imds = Ec2MetadataEmulator::builder().mode(ImdsMode::V2Optional).start().await?;
/// let http = reqwest::Client::builder().no_proxy().build()?;
/// // An IMDSv1 GET, without a session token:
/// assert_eq!(http.get(imds.availability_zone_url()).send().await?.status(), 200);
/// # Ok(())
/// # }
/// ```
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ImdsMode {
    /// `HttpTokens=required`: a metadata `GET` without a valid token gets `401`.
    V2Required,
    /// `HttpTokens=optional`: `GET`s work without a token; an invalid or expired one still
    /// gets `401`.
    V2Optional,
    /// An IMDSv1-only service (old emulators, some proxies): the token `PUT` gets this status
    /// (404 or 405) and tokens are ignored.
    V1Only {
        /// The status of the token `PUT`.
        put_status: u16,
    },
}

/// The role credentials the emulator serves.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub struct ImdsCredentials {
    /// `ASIA` and 16 characters of `A-Z0-9`.
    pub access_key_id: String,
    /// The secret access key (40 characters of base64).
    pub secret_access_key: String,
    /// The session token (`Token`).
    pub session_token: String,
    /// `LastUpdated`.
    pub last_updated: SystemTime,
    /// `Expiration`. Kept at full precision; the credentials document sends it truncated to
    /// whole seconds.
    pub expiration: SystemTime,
    /// `AccountId` (sent unless turned off with
    /// [`include_account_id`](Ec2MetadataEmulatorBuilder::include_account_id)).
    pub account_id: String,
}

/// Builds an [`Ec2MetadataEmulator`]; every setting has a realistic default.
///
/// ```
/// use federated_credentials::context::{Context, StaticEnv};
/// use federated_credentials::source::aws::{AwsIdentitySource, Ec2InstanceMetadata};
/// use federated_credentials_testkit::Ec2MetadataEmulator;
///
/// # #[tokio::main(flavor = "current_thread")]
/// # async fn main() -> Result<(), Box<dyn std::error::Error>> {
/// let imds = Ec2MetadataEmulator::builder()
///     .availability_zone("eu-west-1b")
///     .role("app-role")
///     .account_id("210987654321")
///     .start()
///     .await?;
/// // What a workload under test would see on an instance:
/// let ctx = Context::builder()
///     .env(StaticEnv::from_pairs([("AWS_EC2_METADATA_SERVICE_ENDPOINT", imds.endpoint())]))
///     .build();
/// let source = Ec2InstanceMetadata::new();
/// assert_eq!(source.region(&ctx).await?, "eu-west-1");
/// source.credentials(&ctx).await?;
/// # Ok(())
/// # }
/// ```
#[derive(Debug)]
pub struct Ec2MetadataEmulatorBuilder {
    clock: Arc<dyn Clock>,
    mode: ImdsMode,
    hop_limit_exceeded: bool,
    region: String,
    availability_zone: String,
    role: Option<String>,
    credentials_error: Option<String>,
    credentials_lifetime: Duration,
    include_account_id: bool,
    account_id: String,
    seed: Option<u64>,
}

impl Default for Ec2MetadataEmulatorBuilder {
    fn default() -> Self {
        Self {
            clock: Arc::new(SystemClock),
            mode: ImdsMode::V2Required,
            hop_limit_exceeded: false,
            region: "us-east-1".to_owned(),
            availability_zone: "us-east-1a".to_owned(),
            role: Some("test-instance-role".to_owned()),
            credentials_error: None,
            credentials_lifetime: Duration::from_secs(6 * 3600),
            include_account_id: true,
            account_id: "123456789012".to_owned(),
            seed: None,
        }
    }
}

impl Ec2MetadataEmulatorBuilder {
    /// The clock for token TTLs and credential expiry (default the system clock).
    pub fn clock(mut self, clock: impl Clock + 'static) -> Self {
        self.clock = Arc::new(clock);
        self
    }

    /// The token mode (default [`ImdsMode::V2Required`]).
    pub fn mode(mut self, mode: ImdsMode) -> Self {
        self.mode = mode;
        self
    }

    /// Token `PUT`s are accepted and never answered, as when the response's IP TTL
    /// (`HttpPutResponseHopLimit`) runs out before it reaches a container.
    ///
    /// ```
    /// use std::time::Duration;
    /// use federated_credentials_testkit::Ec2MetadataEmulator;
    ///
    /// # #[tokio::main(flavor = "current_thread")]
    /// # async fn main() -> Result<(), Box<dyn std::error::Error>> {
    /// let imds = Ec2MetadataEmulator::builder().hop_limit_exceeded(true).start().await?;
    /// let http = reqwest::Client::builder().no_proxy().build()?;
    /// let put = http
    ///     .put(imds.token_url())
    ///     .header("X-aws-ec2-metadata-token-ttl-seconds", "21600")
    ///     .timeout(Duration::from_millis(200)); // a client must give up on its own
    /// assert!(put.send().await.is_err());
    /// # Ok(())
    /// # }
    /// ```
    pub fn hop_limit_exceeded(mut self, exceeded: bool) -> Self {
        self.hop_limit_exceeded = exceeded;
        self
    }

    /// `placement/region` (default `us-east-1`).
    pub fn region(mut self, region: impl Into<String>) -> Self {
        self.region = region.into();
        self
    }

    /// `placement/availability-zone` (default `us-east-1a`; e.g. `us-west-2-lax-1a` for a
    /// Local Zone).
    pub fn availability_zone(mut self, zone: impl Into<String>) -> Self {
        self.availability_zone = zone.into();
        self
    }

    /// The instance-profile role name (default `test-instance-role`).
    pub fn role(mut self, role: impl Into<String>) -> Self {
        self.role = Some(role.into());
        self
    }

    /// No instance profile: the role listing answers `404`.
    pub fn no_role(mut self) -> Self {
        self.role = None;
        self
    }

    /// The role credentials answer `200` with this `Code` instead of credentials, e.g.
    /// `AssumeRoleUnauthorizedAccess` (the role does not trust `ec2.amazonaws.com`).
    pub fn credentials_error(mut self, code: impl Into<String>) -> Self {
        self.credentials_error = Some(code.into());
        self
    }

    /// How long served credentials are valid (default 6 h). Expired credentials are replaced
    /// by new ones when next requested.
    pub fn credentials_lifetime(mut self, lifetime: Duration) -> Self {
        self.credentials_lifetime = lifetime;
        self
    }

    /// Whether the credentials document includes `AccountId` (default yes).
    pub fn include_account_id(mut self, include: bool) -> Self {
        self.include_account_id = include;
        self
    }

    /// The `AccountId` (default `123456789012`).
    pub fn account_id(mut self, account_id: impl Into<String>) -> Self {
        self.account_id = account_id.into();
        self
    }

    /// Seeds the generator of tokens and credentials (default: random).
    pub fn seed(mut self, seed: u64) -> Self {
        self.seed = Some(seed);
        self
    }

    /// Binds `127.0.0.1:0` and starts serving on the current tokio runtime.
    pub async fn start(self) -> std::io::Result<Ec2MetadataEmulator> {
        let now = self.clock.now();
        let mut state = State {
            mode: self.mode,
            hop_limit_exceeded: self.hop_limit_exceeded,
            region: self.region,
            availability_zone: self.availability_zone,
            role: self.role,
            credentials_error: self.credentials_error,
            credentials_lifetime: self.credentials_lifetime,
            include_account_id: self.include_account_id,
            account_id: self.account_id,
            credentials: ImdsCredentials {
                access_key_id: String::new(),
                secret_access_key: String::new(),
                session_token: String::new(),
                last_updated: now,
                expiration: now,
                account_id: String::new(),
            },
            tokens: HashMap::new(),
            rng: match self.seed {
                Some(seed) => fastrand::Rng::with_seed(seed),
                None => fastrand::Rng::new(),
            },
        };
        state.credentials = state.new_credentials(now);
        let handler = ImdsHandler {
            clock: self.clock,
            state: Mutex::new(state),
        };
        Ok(Ec2MetadataEmulator {
            server: Server::start(handler).await?,
        })
    }
}

/// A loopback emulator of the EC2 instance metadata service.
///
/// | Request | Answer |
/// |---|---|
/// | `PUT /latest/api/token` with `X-aws-ec2-metadata-token-ttl-seconds: 1..=21600` | `200`, the token, echoing the TTL header; `400` without a valid TTL; `403` with `X-Forwarded-For`; the [`ImdsMode::V1Only`] status; no answer at all when the hop limit is exceeded |
/// | `GET /latest/meta-data/placement/region`, `…/placement/availability-zone` | `200`, text |
/// | `GET /latest/meta-data/iam/security-credentials[/]` | `200`, the role name; `404` without a role |
/// | `GET /latest/meta-data/iam/security-credentials/{role}` | `200`, the pretty-printed (`" : "`) credentials JSON, or `{"Code":…,"Message":…}` in the credentials-error mode; `404` for another role |
///
/// `GET`s carry `X-aws-ec2-metadata-token`: an unknown or expired token (by the injected
/// clock) gets `401`, and so does no token when v2 is required. Credentials are replaced when
/// they have expired, or on [`rotate_credentials`](Self::rotate_credentials).
///
/// ```
/// use federated_credentials_testkit::Ec2MetadataEmulator;
///
/// # #[tokio::main(flavor = "current_thread")]
/// # async fn main() -> Result<(), Box<dyn std::error::Error>> {
/// let imds = Ec2MetadataEmulator::start().await?;
/// let http = reqwest::Client::builder().no_proxy().build()?;
/// let token = http
///     .put(imds.token_url())
///     .header("X-aws-ec2-metadata-token-ttl-seconds", "21600")
///     .send()
///     .await?
///     .text()
///     .await?;
/// let zone = http
///     .get(imds.availability_zone_url())
///     .header("X-aws-ec2-metadata-token", token)
///     .send()
///     .await?
///     .text()
///     .await?;
/// assert_eq!(zone, "us-east-1a");
/// # Ok(())
/// # }
/// ```
#[derive(Debug)]
pub struct Ec2MetadataEmulator {
    server: Server<ImdsHandler>,
}

emulator_controls!(Ec2MetadataEmulator);

impl Ec2MetadataEmulator {
    /// Starts an emulator with the default settings (see [`Ec2MetadataEmulatorBuilder`]).
    pub async fn start() -> std::io::Result<Self> {
        Self::builder().start().await
    }

    /// A builder for custom settings.
    pub fn builder() -> Ec2MetadataEmulatorBuilder {
        Ec2MetadataEmulatorBuilder::default()
    }

    /// The value for `AWS_EC2_METADATA_SERVICE_ENDPOINT`: `http://127.0.0.1:PORT`.
    pub fn endpoint(&self) -> String {
        self.base_url()
    }

    /// `…/latest/api/token`.
    pub fn token_url(&self) -> String {
        format!("{}/latest/api/token", self.base_url())
    }

    /// `…/latest/meta-data/placement/availability-zone`.
    ///
    /// ```
    /// use federated_credentials::source::aws::{AwsIdentitySource, Ec2InstanceMetadata};
    /// use federated_credentials_testkit::Ec2MetadataEmulator;
    ///
    /// # #[tokio::main(flavor = "current_thread")]
    /// # async fn main() -> Result<(), Box<dyn std::error::Error>> {
    /// let imds = Ec2MetadataEmulator::builder().availability_zone("eu-west-3c").start().await?;
    /// // The URLs of a google-auth `credential_source`, pointed at the emulator:
    /// let source = Ec2InstanceMetadata::builder()
    ///     .region_url(imds.availability_zone_url())
    ///     .credentials_url(imds.credentials_url())
    ///     .session_token_url(imds.token_url())
    ///     .build()?;
    /// assert_eq!(source.region(&Default::default()).await?, "eu-west-3");
    /// # Ok(())
    /// # }
    /// ```
    pub fn availability_zone_url(&self) -> String {
        format!(
            "{}/latest/meta-data/placement/availability-zone",
            self.base_url()
        )
    }

    /// `…/latest/meta-data/placement/region`.
    pub fn placement_region_url(&self) -> String {
        format!("{}/latest/meta-data/placement/region", self.base_url())
    }

    /// `…/latest/meta-data/iam/security-credentials` (no trailing slash).
    pub fn credentials_url(&self) -> String {
        format!(
            "{}/latest/meta-data/iam/security-credentials",
            self.base_url()
        )
    }

    /// The credentials currently served (trust their access key in another emulator).
    ///
    /// ```
    /// use federated_credentials_testkit::{Ec2MetadataEmulator, GoogleStsEmulator};
    ///
    /// # #[tokio::main(flavor = "current_thread")]
    /// # async fn main() -> std::io::Result<()> {
    /// let imds = Ec2MetadataEmulator::start().await?;
    /// let sts = GoogleStsEmulator::start().await?;
    /// // Google STS verifies subject tokens signed with the instance role's keys:
    /// let role = imds.credentials();
    /// sts.trust_aws_session_key(role.access_key_id, role.secret_access_key, role.session_token, role.account_id);
    /// # Ok(())
    /// # }
    /// ```
    pub fn credentials(&self) -> ImdsCredentials {
        lock(&self.handler().state).credentials.clone()
    }

    /// Replaces the served credentials with new ones valid for the configured lifetime from
    /// now, and returns them. A client that caches credentials sees them once its cache
    /// expires or is cleared.
    pub fn rotate_credentials(&self) -> ImdsCredentials {
        let now = self.handler().clock.now();
        let mut state = lock(&self.handler().state);
        state.credentials = state.new_credentials(now);
        state.credentials.clone()
    }

    /// Changes the token mode.
    pub fn set_mode(&self, mode: ImdsMode) {
        lock(&self.handler().state).mode = mode;
    }

    /// Makes token `PUT`s hang (or answer again).
    pub fn set_hop_limit_exceeded(&self, exceeded: bool) {
        lock(&self.handler().state).hop_limit_exceeded = exceeded;
    }

    /// Attaches a role (`Some`) or detaches it (`None`).
    pub fn set_role(&self, role: Option<&str>) {
        lock(&self.handler().state).role = role.map(str::to_owned);
    }

    /// Sets or clears the credentials-error `Code` (see
    /// [`credentials_error`](Ec2MetadataEmulatorBuilder::credentials_error)).
    pub fn set_credentials_error(&self, code: Option<&str>) {
        lock(&self.handler().state).credentials_error = code.map(str::to_owned);
    }

    /// Changes `placement/availability-zone`.
    pub fn set_availability_zone(&self, zone: &str) {
        lock(&self.handler().state).availability_zone = zone.to_owned();
    }

    /// Invalidates every session token issued so far (as an instance stop/start would): a
    /// client holding one gets `401` and must fetch a new token.
    pub fn revoke_tokens(&self) {
        lock(&self.handler().state).tokens.clear();
    }

    /// Token `PUT`s received (in the request log, so since the last `clear_requests`).
    pub fn put_count(&self) -> usize {
        self.count("PUT")
    }

    /// Metadata `GET`s received (in the request log, so since the last `clear_requests`).
    pub fn get_count(&self) -> usize {
        self.count("GET")
    }

    fn count(&self, method: &str) -> usize {
        self.requests()
            .iter()
            .filter(|r| r.method == method)
            .count()
    }

    fn handler(&self) -> &ImdsHandler {
        self.server.handler()
    }
}

#[cfg(test)]
mod tests;
