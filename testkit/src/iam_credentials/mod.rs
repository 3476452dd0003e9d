//! [`IamCredentialsEmulator`]: a loopback emulator of the IAM Service Account Credentials API
//! (`generateAccessToken`, `generateIdToken`) that authenticates callers with the federated
//! tokens of a trusted [`GoogleStsEmulator`] and answers errors in the `google.rpc.Status`
//! envelope.

mod account;
mod body;
mod error;
mod handler;

use std::sync::{Arc, Mutex};
use std::time::{Duration, SystemTime};

use self::error::RpcError;
use self::handler::IamHandler;
use super::google_sts::GoogleStsEmulator;
use super::jwt::GoogleIdentity;
use super::server::{Scripted, Server, emulator_controls, lock};
use federated_credentials::context::{Clock, SystemClock};

pub use self::account::ServiceAccountSpec;

/// An access token minted by `generateAccessToken`.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub struct IssuedAccessToken {
    /// The `accessToken`: `ya29.c.emulated-` and random characters (or characters derived from
    /// the request, with
    /// [`deterministic_tokens`](IamCredentialsEmulatorBuilder::deterministic_tokens)).
    pub access_token: String,
    /// The impersonated service account's email.
    pub service_account: String,
    /// The requested `scope`s.
    pub scopes: Vec<String>,
    /// The requested `lifetime` (default one hour).
    pub lifetime: Duration,
    /// The `delegates`, as sent.
    pub delegates: Vec<String>,
    /// The `expireTime`, exactly as sent.
    pub expire_time: SystemTime,
    /// The STS `audience` (provider) of the caller's federated token.
    pub caller_audience: String,
}

/// An ID token minted by `generateIdToken`.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub struct IssuedIdToken {
    /// The signed JWT.
    pub token: String,
    /// The impersonated service account's email.
    pub service_account: String,
    /// The requested `audience` (the token's `aud`).
    pub audience: String,
    /// Whether `includeEmail` was set (the token has `email` and `email_verified`).
    pub include_email: bool,
    /// The `delegates`, as sent.
    pub delegates: Vec<String>,
    /// The STS `audience` (provider) of the caller's federated token.
    pub caller_audience: String,
}

/// Builds an [`IamCredentialsEmulator`].
///
/// ```
/// use federated_credentials_testkit::{GoogleStsEmulator, IamCredentialsEmulator, ServiceAccountSpec};
///
/// # #[tokio::main(flavor = "current_thread")]
/// # async fn main() -> std::io::Result<()> {
/// let sts = GoogleStsEmulator::start().await?;
/// let iam = IamCredentialsEmulator::builder()
///     .service_account(ServiceAccountSpec::new("app@my-project.iam.gserviceaccount.com", "1234"))
///     .expire_time_fraction_digits(3) // "expireTime": "2024-05-01T12:34:56.789Z"
///     .seed(7) // the same tokens on every run
///     .start()
///     .await?;
/// iam.trust_sts(&sts); // callers authenticate with the federated tokens of this STS
/// # Ok(())
/// # }
/// ```
#[derive(Debug)]
pub struct IamCredentialsEmulatorBuilder {
    clock: Arc<dyn Clock>,
    identity: Option<GoogleIdentity>,
    accounts: Vec<ServiceAccountSpec>,
    expire_time_digits: u8,
    check_scopes: bool,
    seed: Option<u64>,
    deterministic_tokens: bool,
}

impl Default for IamCredentialsEmulatorBuilder {
    fn default() -> Self {
        Self {
            clock: Arc::new(SystemClock),
            identity: None,
            accounts: Vec::new(),
            expire_time_digits: 0,
            check_scopes: true,
            seed: None,
            deterministic_tokens: false,
        }
    }
}

impl IamCredentialsEmulatorBuilder {
    /// The clock that decides bearer-token expiry, `expireTime` and ID-token `iat`/`exp`
    /// (default the system clock). Share the STS emulator's
    /// [`ManualClock`](federated_credentials::context::ManualClock) for deterministic tests.
    pub fn clock(mut self, clock: impl Clock + 'static) -> Self {
        self.clock = Arc::new(clock);
        self
    }

    /// The key that signs ID tokens (default [`GoogleIdentity::shared`], which the
    /// [`AwsStsEmulator`](crate::AwsStsEmulator) trusts by default).
    pub fn identity(mut self, identity: GoogleIdentity) -> Self {
        self.identity = Some(identity);
        self
    }

    /// A service account tokens can be minted for (more can be added later with
    /// [`IamCredentialsEmulator::add_service_account`]).
    pub fn service_account(mut self, account: ServiceAccountSpec) -> Self {
        self.accounts.push(account);
        self
    }

    /// Sends `expireTime` with this many fractional digits: 0 (the default,
    /// `2024-05-01T12:34:56Z`), 3, 6 or 9, as Google's JSON mapping may.
    ///
    /// # Panics
    /// If `digits` is not 0, 3, 6 or 9.
    pub fn expire_time_fraction_digits(mut self, digits: u8) -> Self {
        assert!(
            matches!(digits, 0 | 3 | 6 | 9),
            "expireTime has 0, 3, 6 or 9 fractional digits, not {digits}"
        );
        self.expire_time_digits = digits;
        self
    }

    /// Whether bearer tokens must have the `cloud-platform` or `iam` scope (default true;
    /// without it, 403 `ACCESS_TOKEN_SCOPE_INSUFFICIENT`).
    pub fn check_scopes(mut self, enabled: bool) -> Self {
        self.check_scopes = enabled;
        self
    }

    /// Seeds the generator of access tokens, for reproducible tokens (default: random).
    pub fn seed(mut self, seed: u64) -> Self {
        self.seed = Some(seed);
        self
    }

    /// Derives each `generateAccessToken` token from what the request means instead of drawing
    /// it at random (default false): a SHA-256 of the service account (its email, however the
    /// URL named it), the scopes as a set, the lifetime and the `delegates` chain in order. The
    /// caller's bearer token does not enter it, so two clients that impersonate the same
    /// account for the same scopes get the same token even when their federated tokens
    /// differ, which lets interop tests compare the tokens of different client libraries.
    /// Overrides [`seed`](Self::seed). ID tokens are JWTs and are not affected.
    pub fn deterministic_tokens(mut self, enabled: bool) -> Self {
        self.deterministic_tokens = enabled;
        self
    }

    /// Binds `127.0.0.1:0` and starts serving on the current tokio runtime.
    pub async fn start(self) -> std::io::Result<IamCredentialsEmulator> {
        let handler = IamHandler {
            clock: self.clock,
            identity: self.identity.unwrap_or_else(GoogleIdentity::shared),
            trusted: Mutex::new(Vec::new()),
            accounts: Mutex::new(self.accounts),
            expire_time_digits: self.expire_time_digits,
            check_scopes: self.check_scopes,
            deterministic_tokens: self.deterministic_tokens,
            access_tokens: Mutex::new(Vec::new()),
            id_tokens: Mutex::new(Vec::new()),
            rng: Mutex::new(
                self.seed
                    .map_or_else(fastrand::Rng::new, fastrand::Rng::with_seed),
            ),
        };
        Ok(IamCredentialsEmulator {
            server: Server::start(handler).await?,
        })
    }
}

/// A loopback emulator of the IAM Service Account Credentials API.
///
/// It serves `POST /v1/projects/-/serviceAccounts/{ACCOUNT}:generateAccessToken` and
/// `...:generateIdToken`, where `ACCOUNT` is the email (`@` may be percent-encoded) or the
/// unique id of a [`ServiceAccountSpec`]. Checks, in order:
///
/// 1. `Authorization: Bearer` with a token issued by a Google STS emulator trusted with
///    [`trust_sts`](Self::trust_sts), not expired by the clock, else 401 `UNAUTHENTICATED`;
///    with the `cloud-platform` or `iam` scope, else 403 (see
///    [`check_scopes`](IamCredentialsEmulatorBuilder::check_scopes)).
/// 2. The project `-` (400), a registered account (404 `NOT_FOUND`) that permits the caller's
///    STS audience (403 `PERMISSION_DENIED` with an `IAM_PERMISSION_DENIED` `ErrorInfo`).
/// 3. The JSON body (400 `INVALID_ARGUMENT`; unknown fields are rejected like Google's proto
///    JSON parser does). `generateAccessToken`: a non-empty `scope` list, `lifetime` matching
///    `^\d+(\.\d+)?s$` (default `3600s`, at most 3600 s or, for accounts with
///    [`allow_extended_lifetime`](ServiceAccountSpec::allow_extended_lifetime), 43200 s).
///    `generateIdToken`: a non-empty `audience`, optional `includeEmail`. Both: optional
///    `delegates`, each `projects/-/serviceAccounts/<registered account>`.
///
/// Success: `{"accessToken":"ya29.c.emulated-…","expireTime":"<RFC 3339>"}`, or
/// `{"token":"<JWT>"}`: an RS256 ID token by the emulator's [`GoogleIdentity`] with `iss` =
/// `https://accounts.google.com`, `aud`, `azp` = `sub` = the account's unique id, `iat`, `exp`
/// one hour later, and `email`/`email_verified` with `includeEmail`. Errors use the
/// `{"error":{"code","message","status","details"}}` envelope.
///
/// ```
/// use federated_credentials::google::ExternalAccountCredentials;
/// use federated_credentials::source::StaticToken;
/// use federated_credentials::token::TokenType;
/// use federated_credentials_testkit::{GoogleIdentity, GoogleStsEmulator, IamCredentialsEmulator, ProviderSpec, ServiceAccountSpec};
///
/// # #[tokio::main(flavor = "current_thread")]
/// # async fn main() -> Result<(), Box<dyn std::error::Error>> {
/// let audience = "//iam.googleapis.com/projects/123456/locations/global/workloadIdentityPools/pool/providers/oidc";
/// let sts = GoogleStsEmulator::builder().provider(ProviderSpec::oidc(audience)).start().await?;
/// let iam = IamCredentialsEmulator::builder()
///     .service_account(ServiceAccountSpec::new("app@my-project.iam.gserviceaccount.com", "1234"))
///     .start()
///     .await?;
/// iam.trust_sts(&sts);
/// let jwt = GoogleIdentity::shared().sign(&serde_json::json!({"sub": "workload", "exp": 4_102_444_800u64}));
/// let credentials = ExternalAccountCredentials::builder()
///     .audience(audience)
///     .token_source(StaticToken::new(jwt, TokenType::Jwt))
///     .token_url(sts.token_url())
///     .service_account_impersonation_url(iam.generate_access_token_url("app@my-project.iam.gserviceaccount.com"))
///     .build()?;
/// let token = credentials.access_token().await?;
/// assert!(token.token().expose_secret().starts_with("ya29.c.emulated-"));
/// # Ok(())
/// # }
/// ```
#[derive(Debug)]
pub struct IamCredentialsEmulator {
    server: Server<IamHandler>,
}

emulator_controls!(IamCredentialsEmulator);

impl IamCredentialsEmulator {
    /// Starts an emulator with no service accounts, trusting no STS yet, signing ID tokens
    /// with [`GoogleIdentity::shared`].
    pub async fn start() -> std::io::Result<Self> {
        Self::builder().start().await
    }

    /// A builder for custom settings.
    pub fn builder() -> IamCredentialsEmulatorBuilder {
        IamCredentialsEmulatorBuilder::default()
    }

    /// `http://127.0.0.1:PORT/v1/projects/-/serviceAccounts/{account}:generateAccessToken`,
    /// the `service_account_impersonation_url` to configure in the client.
    pub fn generate_access_token_url(&self, account: &str) -> String {
        self.method_url(account, "generateAccessToken")
    }

    /// `http://127.0.0.1:PORT/v1/projects/-/serviceAccounts/{account}:generateIdToken`.
    ///
    /// This crate's [`GenerateIdToken`](federated_credentials::exchange::GenerateIdToken) takes the part before
    /// `/projects` as its base URL:
    ///
    /// ```
    /// use federated_credentials::exchange::GenerateIdToken;
    /// use federated_credentials_testkit::IamCredentialsEmulator;
    ///
    /// # #[tokio::main(flavor = "current_thread")]
    /// # async fn main() -> std::io::Result<()> {
    /// let iam = IamCredentialsEmulator::start().await?;
    /// // For `ExternalAccountCredentials::id_token_source`:
    /// let id_token = GenerateIdToken::new("app@my-project.iam.gserviceaccount.com", "sts.amazonaws.com")
    ///     .base_url(format!("{}/v1", iam.base_url()));
    /// # Ok(())
    /// # }
    /// ```
    pub fn generate_id_token_url(&self, account: &str) -> String {
        self.method_url(account, "generateIdToken")
    }

    fn method_url(&self, account: &str, method: &str) -> String {
        format!(
            "{}/v1/projects/-/serviceAccounts/{account}:{method}",
            self.base_url()
        )
    }

    /// Accepts the access tokens `sts` has issued or will issue as bearer tokens.
    pub fn trust_sts(&self, sts: &GoogleStsEmulator) {
        let registry = sts.registry();
        let mut trusted = lock(&self.handler().trusted);
        if !trusted.iter().any(|known| known.same_as(&registry)) {
            trusted.push(registry);
        }
    }

    /// Registers a service account, replacing any account with the same email.
    pub fn add_service_account(&self, account: ServiceAccountSpec) {
        let mut accounts = lock(&self.handler().accounts);
        accounts.retain(|a| a.email() != account.email());
        accounts.push(account);
    }

    /// The key that signs ID tokens.
    pub fn identity(&self) -> GoogleIdentity {
        self.handler().identity.clone()
    }

    /// Every access token minted so far, oldest first.
    pub fn issued_access_tokens(&self) -> Vec<IssuedAccessToken> {
        lock(&self.handler().access_tokens).clone()
    }

    /// Every ID token minted so far, oldest first.
    pub fn issued_id_tokens(&self) -> Vec<IssuedIdToken> {
        lock(&self.handler().id_tokens).clone()
    }

    /// Answers the next request with `{"error":{"code": code, "message": message, "status":
    /// status}}` and HTTP status `code`, queued with the generic
    /// [`Fault`](crate::Fault)s in push order.
    ///
    /// ```
    /// use federated_credentials_testkit::IamCredentialsEmulator;
    ///
    /// # #[tokio::main(flavor = "current_thread")]
    /// # async fn main() -> Result<(), Box<dyn std::error::Error>> {
    /// let iam = IamCredentialsEmulator::start().await?;
    /// iam.push_rpc_error(403, "PERMISSION_DENIED", "Permission 'iam.serviceAccounts.getAccessToken' denied");
    /// let http = reqwest::Client::builder().no_proxy().build()?;
    /// let url = iam.generate_access_token_url("app@my-project.iam.gserviceaccount.com");
    /// assert_eq!(http.post(url).send().await?.status(), 403);
    /// # Ok(())
    /// # }
    /// ```
    pub fn push_rpc_error(&self, code: u16, status: &str, message: &str) {
        self.push_rpc_error_times(code, status, message, 1);
    }

    /// Answers each of the next `times` requests with this error.
    pub fn push_rpc_error_times(&self, code: u16, status: &str, message: &str, times: usize) {
        let error = RpcError::new(code, status, message);
        self.server.push(Scripted::Emulator(error), times);
    }

    fn handler(&self) -> &IamHandler {
        self.server.handler()
    }
}

#[cfg(test)]
mod tests;
