//! [`GoogleStsEmulator`]: a loopback emulator of the Google Security Token Service token
//! exchange (RFC 8693, `POST /v1/token`), for workload and workforce identity federation. It
//! verifies AWS `aws4_request` subject tokens down to their SigV4 signature, and records the
//! federated tokens it issues in a registry that [`IamCredentialsEmulator`] can trust.
//!
//! [`IamCredentialsEmulator`]: crate::IamCredentialsEmulator

mod aws4;
mod error;
mod exchange;
mod params;
mod provider;
mod registry;
#[cfg(test)]
pub(crate) mod test_signer;

use std::sync::{Arc, Mutex};
use std::time::Duration;

use self::error::OAuthError;
use self::exchange::{ResponseStyle, StsHandler};
use self::provider::AwsKey;
use super::server::{Scripted, Server, emulator_controls, lock};
use federated_credentials::context::{Clock, SystemClock};

pub use self::provider::ProviderSpec;
pub use self::registry::IssuedFederatedToken;
pub(crate) use self::registry::TokenRegistry;

/// Builds a [`GoogleStsEmulator`].
///
/// ```
/// use std::time::Duration;
/// use federated_credentials_testkit::{GoogleIdentity, GoogleStsEmulator, ProviderSpec};
///
/// # #[tokio::main(flavor = "current_thread")]
/// # async fn main() -> std::io::Result<()> {
/// let pool = "//iam.googleapis.com/projects/123456/locations/global/workloadIdentityPools/pool";
/// let sts = GoogleStsEmulator::builder()
///     .provider(ProviderSpec::aws(format!("{pool}/providers/aws"), "123456789012"))
///     .provider(ProviderSpec::oidc(format!("{pool}/providers/k8s")).trust(GoogleIdentity::shared()))
///     .expires_in(Duration::from_secs(600))
///     .seed(7) // the same tokens on every run
///     .start()
///     .await?;
/// # Ok(())
/// # }
/// ```
#[derive(Debug)]
pub struct GoogleStsEmulatorBuilder {
    clock: Arc<dyn Clock>,
    providers: Vec<ProviderSpec>,
    clients: Vec<(String, String)>,
    expires_in: Duration,
    style: ResponseStyle,
    seed: Option<u64>,
    deterministic_tokens: bool,
}

impl Default for GoogleStsEmulatorBuilder {
    fn default() -> Self {
        Self {
            clock: Arc::new(SystemClock),
            providers: Vec::new(),
            clients: Vec::new(),
            expires_in: Duration::from_secs(3599),
            style: ResponseStyle::default(),
            seed: None,
            deterministic_tokens: false,
        }
    }
}

impl GoogleStsEmulatorBuilder {
    /// The clock that decides subject-token expiry, the SigV4 time-skew window and the expiry
    /// of issued tokens (default the system clock). Share a
    /// [`ManualClock`](federated_credentials::context::ManualClock) with the other emulators for
    /// deterministic tests.
    pub fn clock(mut self, clock: impl Clock + 'static) -> Self {
        self.clock = Arc::new(clock);
        self
    }

    /// A provider tokens can be exchanged at (more can be added later with
    /// [`GoogleStsEmulator::add_provider`]).
    pub fn provider(mut self, provider: ProviderSpec) -> Self {
        self.providers.push(provider);
        self
    }

    /// An OAuth client that may authenticate with `Authorization: Basic` (see
    /// [`GoogleStsEmulator::add_client`]).
    pub fn client(
        mut self,
        client_id: impl Into<String>,
        client_secret: impl Into<String>,
    ) -> Self {
        self.clients.push((client_id.into(), client_secret.into()));
        self
    }

    /// The lifetime of issued tokens, sent as `expires_in` in whole seconds (default 3599 s).
    pub fn expires_in(mut self, expires_in: Duration) -> Self {
        self.expires_in = expires_in;
        self
    }

    /// Sends `expires_in` as a JSON string (`"3599"`), which Python tolerates, instead of a
    /// number.
    pub fn expires_in_as_string(mut self, enabled: bool) -> Self {
        self.style.expires_in_as_string = enabled;
        self
    }

    /// Leaves `issued_token_type` out of the success body (Go accepts that; Java and
    /// google-cloud-rust do not).
    pub fn omit_issued_token_type(mut self, enabled: bool) -> Self {
        self.style.omit_issued_token_type = enabled;
        self
    }

    /// Leaves `token_type` out of the success body.
    pub fn omit_token_type(mut self, enabled: bool) -> Self {
        self.style.omit_token_type = enabled;
        self
    }

    /// Seeds the generator of access tokens, for reproducible tokens (default: random).
    pub fn seed(mut self, seed: u64) -> Self {
        self.seed = Some(seed);
        self
    }

    /// Derives each access token from what the exchange means instead of drawing it at random
    /// (default false): a SHA-256 of the provider `audience`, the authenticated subject (the
    /// access key id of an `aws4_request` token, the `sub` of a JWT, see
    /// [`IssuedFederatedToken::subject`]) and the requested scopes as a set. Two clients that
    /// exchange for the same thing, however differently they serialize and sign their subject
    /// tokens, then get the same token, which lets interop tests compare the tokens of
    /// different client libraries. Overrides [`seed`](Self::seed).
    ///
    /// Repeated exchanges get the same token again, each recorded as issued; IAM emulators
    /// that [trust](crate::IamCredentialsEmulator::trust_sts) this one authenticate
    /// such a token by its newest record.
    ///
    /// ```
    /// use federated_credentials::google::ExternalAccountCredentials;
    /// use federated_credentials::source::StaticToken;
    /// use federated_credentials::token::TokenType;
    /// use federated_credentials_testkit::{GoogleIdentity, GoogleStsEmulator, ProviderSpec};
    ///
    /// # #[tokio::main(flavor = "current_thread")]
    /// # async fn main() -> Result<(), Box<dyn std::error::Error>> {
    /// let audience = "//iam.googleapis.com/projects/123456/locations/global/workloadIdentityPools/pool/providers/oidc";
    /// let sts = GoogleStsEmulator::builder()
    ///     .provider(ProviderSpec::oidc(audience))
    ///     .deterministic_tokens(true)
    ///     .start()
    ///     .await?;
    /// let mut tokens = Vec::new();
    /// // Two different subject tokens for the same subject, e.g. from two client libraries:
    /// for jti in ["first", "second"] {
    ///     let claims = serde_json::json!({"sub": "workload", "jti": jti, "exp": 4_102_444_800u64});
    ///     let credentials = ExternalAccountCredentials::builder()
    ///         .audience(audience)
    ///         .token_source(StaticToken::new(GoogleIdentity::shared().sign(&claims), TokenType::Jwt))
    ///         .token_url(sts.token_url())
    ///         .build()?;
    ///     tokens.push(credentials.access_token().await?.token().expose_secret().to_string());
    /// }
    /// assert_eq!(tokens[0], tokens[1]);
    /// # Ok(())
    /// # }
    /// ```
    pub fn deterministic_tokens(mut self, enabled: bool) -> Self {
        self.deterministic_tokens = enabled;
        self
    }

    /// Binds `127.0.0.1:0` and starts serving on the current tokio runtime.
    pub async fn start(self) -> std::io::Result<GoogleStsEmulator> {
        let handler = StsHandler {
            clock: self.clock,
            providers: Mutex::new(self.providers),
            clients: Mutex::new(self.clients),
            aws_keys: Mutex::new(Vec::new()),
            registry: TokenRegistry::default(),
            expires_in: Mutex::new(self.expires_in),
            style: self.style,
            deterministic_tokens: self.deterministic_tokens,
            rng: Mutex::new(
                self.seed
                    .map_or_else(fastrand::Rng::new, fastrand::Rng::with_seed),
            ),
        };
        Ok(GoogleStsEmulator {
            server: Server::start(handler).await?,
        })
    }
}

/// A loopback emulator of Google STS `POST /v1/token` (RFC 8693 token exchange).
///
/// Point clients' `token_url` at [`token_url()`](Self::token_url); any path ending in `/token`
/// is served. Checks, in order (errors are RFC 6749 JSON, `{"error","error_description"}`):
///
/// 1. `Authorization`: none, or `Basic` with the standard-base64 (padded) `id:secret` of a
///    client added with [`add_client`](Self::add_client), else 401 `invalid_client`; a `Bearer`
///    header is a 400 `invalid_request`.
/// 2. `Content-Type: application/x-www-form-urlencoded`; `grant_type` =
///    `urn:ietf:params:oauth:grant-type:token-exchange` (else `unsupported_grant_type`);
///    `requested_token_type` = `urn:ietf:params:oauth:token-type:access_token`;
///    `subject_token_type` one of `jwt`, `id_token`, `saml2`, `aws4_request`; a non-empty
///    `subject_token`; `audience` naming a registered [`ProviderSpec`]; `options`, if present,
///    a JSON object (single-encoded, or Python's double encoding) — all 400 `invalid_request`.
/// 3. The provider: client authentication if it [requires
///    it](ProviderSpec::require_client_auth) (401); `options.userProject` for workforce pools
///    without client authentication; a subject token type it accepts.
/// 4. The subject token (400 `invalid_grant`): for `aws4_request`, the serialized
///    `GetCallerIdentity` request decoded as AIP-4117 describes, shaped like a
///    call to `https://sts[.REGION].amazonaws.com?Action=GetCallerIdentity&Version=2011-06-15`
///    with `Authorization`, `host`, `x-amz-date` and `x-goog-cloud-target-resource` = the
///    audience (or `https:` + audience), then authenticated as AWS would: an access key
///    trusted with [`trust_aws_key`](Self::trust_aws_key) (else `InvalidClientTokenId`), the
///    registered session token if any, `x-amz-date` within 15 minutes of the clock, and the
///    SigV4 signature recomputed over exactly the `SignedHeaders` (so clients that sign
///    `x-goog-cloud-target-resource` and Python, which does not, both pass; else
///    `SignatureDoesNotMatch`). The key's AWS account must be the provider's (400
///    `unauthorized_client`). For JWTs, see [`ProviderSpec::oidc`].
///
/// Success is `200 {"access_token":"ya29.emulated-…","issued_token_type":"urn:ietf:params:oauth:token-type:access_token","token_type":"Bearer","expires_in":3599}`;
/// each issued token is recorded ([`issued_tokens`](Self::issued_tokens)) in a registry that
/// [`IamCredentialsEmulator::trust_sts`](crate::IamCredentialsEmulator::trust_sts)
/// shares.
///
/// ```
/// use federated_credentials::google::ExternalAccountCredentials;
/// use federated_credentials::source::StaticToken;
/// use federated_credentials::token::TokenType;
/// use federated_credentials_testkit::{GoogleIdentity, GoogleStsEmulator, ProviderSpec};
///
/// # #[tokio::main(flavor = "current_thread")]
/// # async fn main() -> Result<(), Box<dyn std::error::Error>> {
/// let audience = "//iam.googleapis.com/projects/123456/locations/global/workloadIdentityPools/pool/providers/oidc";
/// let sts = GoogleStsEmulator::builder()
///     .provider(ProviderSpec::oidc(audience).trust(GoogleIdentity::shared()))
///     .start()
///     .await?;
/// // e.g. a Kubernetes service account token, signed by a key the provider trusts
/// let claims = serde_json::json!({"sub": "system:serviceaccount:ns:app", "exp": 4_102_444_800u64});
/// let jwt = GoogleIdentity::shared().sign(&claims);
/// let credentials = ExternalAccountCredentials::builder()
///     .audience(audience)
///     .token_source(StaticToken::new(jwt, TokenType::Jwt))
///     .token_url(sts.token_url())
///     .build()?;
/// let token = credentials.access_token().await?;
/// assert!(token.token().expose_secret().starts_with("ya29.emulated-"));
/// # Ok(())
/// # }
/// ```
#[derive(Debug)]
pub struct GoogleStsEmulator {
    server: Server<StsHandler>,
}

emulator_controls!(GoogleStsEmulator);

impl GoogleStsEmulator {
    /// Starts an emulator with no providers, clients or AWS keys.
    pub async fn start() -> std::io::Result<Self> {
        Self::builder().start().await
    }

    /// A builder for custom settings.
    pub fn builder() -> GoogleStsEmulatorBuilder {
        GoogleStsEmulatorBuilder::default()
    }

    /// `http://127.0.0.1:PORT/v1/token`: the `token_url` to configure in the client.
    pub fn token_url(&self) -> String {
        format!("{}/v1/token", self.base_url())
    }

    /// Registers a provider, replacing any provider with the same audience.
    pub fn add_provider(&self, provider: ProviderSpec) {
        let mut providers = lock(&self.handler().providers);
        providers.retain(|p| p.audience() != provider.audience());
        providers.push(provider);
    }

    /// Registers an OAuth client for `Authorization: Basic` authentication, replacing any
    /// client with the same id.
    pub fn add_client(&self, client_id: impl Into<String>, client_secret: impl Into<String>) {
        let client_id = client_id.into();
        let mut clients = lock(&self.handler().clients);
        clients.retain(|(id, _)| *id != client_id);
        clients.push((client_id, client_secret.into()));
    }

    /// Trusts a long-term AWS access key of `account_id`: `aws4_request` subject tokens signed
    /// with it verify, whatever `x-amz-security-token` they carry.
    ///
    /// ```
    /// use federated_credentials::context::{Context, StaticEnv};
    /// use federated_credentials::google::ExternalAccountCredentials;
    /// use federated_credentials::source::aws::AwsEnvironment;
    /// use federated_credentials::source::AwsSignedRequestToken;
    /// use federated_credentials_testkit::{GoogleStsEmulator, ProviderSpec};
    ///
    /// # #[tokio::main(flavor = "current_thread")]
    /// # async fn main() -> Result<(), Box<dyn std::error::Error>> {
    /// let audience = "//iam.googleapis.com/projects/123456/locations/global/workloadIdentityPools/pool/providers/aws";
    /// let sts = GoogleStsEmulator::builder()
    ///     .provider(ProviderSpec::aws(audience, "123456789012"))
    ///     .start()
    ///     .await?;
    /// sts.trust_aws_key("AKIDEXAMPLE", "wJalrXUtnFEMI/K7MDENG+bPxRfiCYEXAMPLEKEY", "123456789012");
    /// // A workload with long-term keys in its environment:
    /// let ctx = Context::builder()
    ///     .env(StaticEnv::from_pairs([
    ///         ("AWS_ACCESS_KEY_ID", "AKIDEXAMPLE"),
    ///         ("AWS_SECRET_ACCESS_KEY", "wJalrXUtnFEMI/K7MDENG+bPxRfiCYEXAMPLEKEY"),
    ///         ("AWS_REGION", "eu-west-1"),
    ///     ]))
    ///     .build();
    /// let credentials = ExternalAccountCredentials::builder()
    ///     .context(ctx)
    ///     .audience(audience)
    ///     .token_source(AwsSignedRequestToken::new(AwsEnvironment::new(), audience))
    ///     .token_url(sts.token_url())
    ///     .build()?;
    /// credentials.access_token().await?;
    /// assert_eq!(sts.issued_tokens()[0].subject, "AKIDEXAMPLE"); // the signing key
    /// # Ok(())
    /// # }
    /// ```
    pub fn trust_aws_key(
        &self,
        access_key_id: impl Into<String>,
        secret_access_key: impl Into<String>,
        account_id: impl Into<String>,
    ) {
        self.add_aws_key(AwsKey {
            access_key_id: access_key_id.into(),
            secret_access_key: secret_access_key.into(),
            session_token: None,
            account_id: account_id.into(),
        });
    }

    /// Trusts temporary AWS credentials of `account_id` (e.g. what an IMDS emulator hands
    /// out): signed subject tokens must carry exactly this `x-amz-security-token`.
    pub fn trust_aws_session_key(
        &self,
        access_key_id: impl Into<String>,
        secret_access_key: impl Into<String>,
        session_token: impl Into<String>,
        account_id: impl Into<String>,
    ) {
        self.add_aws_key(AwsKey {
            access_key_id: access_key_id.into(),
            secret_access_key: secret_access_key.into(),
            session_token: Some(session_token.into()),
            account_id: account_id.into(),
        });
    }

    fn add_aws_key(&self, key: AwsKey) {
        let mut keys = lock(&self.handler().aws_keys);
        keys.retain(|k| k.access_key_id != key.access_key_id);
        keys.push(key);
    }

    /// Changes the lifetime (`expires_in`) of the tokens issued from now on.
    /// [`Duration::ZERO`] issues tokens that are already expired.
    pub fn set_expires_in(&self, expires_in: Duration) {
        *lock(&self.handler().expires_in) = expires_in;
    }

    /// Every token issued so far, oldest first.
    pub fn issued_tokens(&self) -> Vec<IssuedFederatedToken> {
        self.handler().registry.all()
    }

    /// The issued token with this `access_token`, if any (its newest record, for
    /// [deterministic tokens](GoogleStsEmulatorBuilder::deterministic_tokens)).
    pub fn token_info(&self, access_token: &str) -> Option<IssuedFederatedToken> {
        self.handler().registry.find(access_token)
    }

    /// Answers the next request with `{"error": error, "error_description": description}`
    /// and this status, queued with the generic [`Fault`](crate::Fault)s in push
    /// order.
    ///
    /// ```
    /// use federated_credentials_testkit::GoogleStsEmulator;
    ///
    /// # #[tokio::main(flavor = "current_thread")]
    /// # async fn main() -> Result<(), Box<dyn std::error::Error>> {
    /// let sts = GoogleStsEmulator::start().await?;
    /// sts.push_oauth_error(400, "invalid_grant", "The audience in ID Token does not match");
    /// let http = reqwest::Client::builder().no_proxy().build()?;
    /// assert_eq!(http.post(sts.token_url()).send().await?.status(), 400);
    /// # Ok(())
    /// # }
    /// ```
    pub fn push_oauth_error(&self, status: u16, error: &str, description: &str) {
        self.push_oauth_error_times(status, error, description, 1);
    }

    /// Answers each of the next `times` requests with this OAuth error.
    pub fn push_oauth_error_times(
        &self,
        status: u16,
        error: &str,
        description: &str,
        times: usize,
    ) {
        let error = OAuthError::new(status, error, description);
        self.server.push(Scripted::Emulator(error), times);
    }

    /// The registry of issued tokens, shared with the IAM emulators that trust this one.
    pub(crate) fn registry(&self) -> TokenRegistry {
        self.handler().registry.clone()
    }

    fn handler(&self) -> &StsHandler {
        self.server.handler()
    }
}

#[cfg(test)]
mod tests;
