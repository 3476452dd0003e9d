//! [`AwsStsEmulator`]: a loopback emulator of AWS STS `AssumeRoleWithWebIdentity` for Google
//! ID tokens. It validates parameters like the STS API model, verifies the token's signature,
//! issuer and expiry, applies the role's trust conditions, and answers with STS's XML.

mod error;
mod oidc_provider;
mod outbound;
mod params;
mod response;
mod role;

use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use serde_json::{Map, Value};

use self::error::StsError;
use self::oidc_provider::issuer_host;
use self::outbound::OutboundIssuer;
use self::params::AssumeRoleCall;
use self::role::parse_role_arn;
use super::jwt::{GoogleIdentity, JwtError, decode_header, decode_payload};
use super::random::{BASE64, UPPER_ALPHANUMERIC, random_string};
use super::request::RecordedRequest;
use super::server::{Handler, Response, Scripted, Server, emulator_controls, lock};
use federated_credentials::context::{Clock, SystemClock};

pub use self::error::StsErrorCode;
pub use self::oidc_provider::OidcProviderSpec;
pub use self::outbound::{CallerCredentials, IssuedWebIdentityToken};
pub use self::role::RoleSpec;

/// The issuers of Google ID tokens (Google documents both forms).
const GOOGLE_ISSUERS: [&str; 2] = ["https://accounts.google.com", "accounts.google.com"];
/// The `Provider` of credentials obtained with a Google token.
const GOOGLE_PROVIDER: &str = "accounts.google.com";

/// Credentials the emulator handed out, with what they were issued for.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub struct IssuedCredentials {
    /// `ASIA` and 16 characters of `A-Z0-9`.
    pub access_key_id: String,
    /// The secret access key.
    pub secret_access_key: String,
    /// The session token.
    pub session_token: String,
    /// The expiration, exactly as sent (whole seconds unless fractional seconds are on).
    pub expiration: SystemTime,
    /// The `RoleArn` that was assumed.
    pub role_arn: String,
    /// The `RoleSessionName`.
    pub role_session_name: String,
    /// `AssumedRoleUser/AssumedRoleId`: `AROA…:SESSION`.
    pub assumed_role_id: String,
    /// `AssumedRoleUser/Arn`: `arn:aws:sts::ACCOUNT:assumed-role/ROLE/SESSION`.
    pub assumed_role_arn: String,
    /// `SubjectFromWebIdentityToken`: the token's `sub`.
    pub subject: String,
    /// `Audience`: for Google, the token's `azp` (the client id AWS matches
    /// `accounts.google.com:aud` against), or its `aud` when it has no `azp`; for an OIDC
    /// provider, the `aud` value that is one of its client ids.
    pub audience: String,
    /// `Provider`: `accounts.google.com`, or the ARN of the IAM OIDC provider
    /// (`arn:aws:iam::ACCOUNT:oidc-provider/HOST`).
    pub provider: String,
    /// The session duration (`DurationSeconds`, default one hour).
    pub duration: Duration,
    /// The inline session `Policy`, if any.
    pub policy: Option<String>,
    /// The session policy ARNs (`PolicyArns.member.N.arn`).
    pub policy_arns: Vec<String>,
    /// `PackedPolicySize` (percent of the limit), sent when session policies were given.
    pub packed_policy_size: Option<u64>,
    /// The request id of the response that carried the credentials.
    pub request_id: String,
}

/// Builds an [`AwsStsEmulator`].
///
/// ```
/// use federated_credentials_testkit::{AwsStsEmulator, RoleSpec};
///
/// # #[tokio::main(flavor = "current_thread")]
/// # async fn main() -> std::io::Result<()> {
/// let sts = AwsStsEmulator::builder()
///     .account_id("210987654321")
///     .role(RoleSpec::new("arn:aws:iam::210987654321:role/reader").google_oaud("sts.amazonaws.com"))
///     .seed(7) // the same access keys on every run
///     .start()
///     .await?;
/// assert_eq!(sts.role_arn("reader"), "arn:aws:iam::210987654321:role/reader");
/// # Ok(())
/// # }
/// ```
#[derive(Debug)]
pub struct AwsStsEmulatorBuilder {
    clock: Arc<dyn Clock>,
    trusted: Option<Vec<GoogleIdentity>>,
    fractional_seconds: bool,
    account_id: String,
    roles: Vec<RoleSpec>,
    oidc_providers: Vec<OidcProviderSpec>,
    seed: Option<u64>,
    outbound_enabled: bool,
    outbound_identity: Option<GoogleIdentity>,
    max_clock_skew: Duration,
}

impl Default for AwsStsEmulatorBuilder {
    fn default() -> Self {
        Self {
            clock: Arc::new(SystemClock),
            trusted: None,
            fractional_seconds: false,
            account_id: "123456789012".to_owned(),
            roles: Vec::new(),
            oidc_providers: Vec::new(),
            seed: None,
            outbound_enabled: false,
            outbound_identity: None,
            max_clock_skew: outbound::MAX_SKEW,
        }
    }
}

impl AwsStsEmulatorBuilder {
    /// The clock that decides token expiry and credential `Expiration` (default the system
    /// clock). Share a [`ManualClock`](federated_credentials::context::ManualClock) with the metadata emulator
    /// for deterministic tests.
    pub fn clock(mut self, clock: impl Clock + 'static) -> Self {
        self.clock = Arc::new(clock);
        self
    }

    /// Trusts tokens signed by `identity`, e.g.
    /// [`GcpMetadataEmulator::identity`](crate::GcpMetadataEmulator::identity).
    /// Without any call the emulator trusts [`GoogleIdentity::shared`] only; once called,
    /// exactly the identities given are trusted.
    ///
    /// ```
    /// use federated_credentials_testkit::{AwsStsEmulator, GcpMetadataEmulator, GoogleIdentity};
    ///
    /// # #[tokio::main(flavor = "current_thread")]
    /// # async fn main() -> std::io::Result<()> {
    /// // A metadata server with its own key, and an STS that trusts it (and only it):
    /// let mds = GcpMetadataEmulator::builder().identity(GoogleIdentity::generate()).start().await?;
    /// let sts = AwsStsEmulator::builder().trust(mds.identity()).start().await?;
    /// # Ok(())
    /// # }
    /// ```
    pub fn trust(mut self, identity: GoogleIdentity) -> Self {
        self.trusted.get_or_insert_with(Vec::new).push(identity);
        self
    }

    /// Sends `Expiration` with microseconds (`2026-11-22T04:00:00.123456Z`), as moto does,
    /// instead of whole seconds (`2026-11-22T04:00:00Z`, the default).
    pub fn fractional_seconds(mut self, enabled: bool) -> Self {
        self.fractional_seconds = enabled;
        self
    }

    /// The account used by [`AwsStsEmulator::role_arn`] (default `123456789012`).
    pub fn account_id(mut self, account_id: impl Into<String>) -> Self {
        self.account_id = account_id.into();
        self
    }

    /// A role that can be assumed (more can be added later with
    /// [`AwsStsEmulator::add_role`]).
    pub fn role(mut self, role: RoleSpec) -> Self {
        self.roles.push(role);
        self
    }

    /// An IAM OIDC identity provider of the account (more can be added later with
    /// [`AwsStsEmulator::add_oidc_provider`]): tokens from issuers other than Google are
    /// accepted only through one.
    pub fn oidc_provider(mut self, provider: OidcProviderSpec) -> Self {
        self.oidc_providers.push(provider);
        self
    }

    /// Enables IAM outbound identity federation for the account (off by default, as in AWS):
    /// without it `GetWebIdentityToken` answers `OutboundWebIdentityFederationDisabledException`.
    pub fn outbound_web_identity_federation(mut self, enabled: bool) -> Self {
        self.outbound_enabled = enabled;
        self
    }

    /// The RSA key of the account's outbound issuer (default [`GoogleIdentity::shared`]); the
    /// ES384 key is generated on first use.
    pub fn outbound_identity(mut self, identity: GoogleIdentity) -> Self {
        self.outbound_identity = Some(identity);
        self
    }

    /// How far a signed request's `x-amz-date` may be from the emulator's clock (default
    /// 15 min, as AWS allows); larger for tests that skew the emulator's clock on purpose.
    pub fn max_clock_skew(mut self, skew: Duration) -> Self {
        self.max_clock_skew = skew;
        self
    }

    /// Seeds the generator of access keys, secrets and session tokens, for reproducible
    /// credentials (default: a random seed). Request ids are always a counter.
    pub fn seed(mut self, seed: u64) -> Self {
        self.seed = Some(seed);
        self
    }

    /// Binds `127.0.0.1:0` and starts serving on the current tokio runtime.
    pub async fn start(self) -> std::io::Result<AwsStsEmulator> {
        let handler = StsHandler {
            clock: self.clock,
            trusted: Mutex::new(
                self.trusted
                    .unwrap_or_else(|| vec![GoogleIdentity::shared()]),
            ),
            fractional_seconds: self.fractional_seconds,
            account_id: self.account_id,
            roles: Mutex::new(self.roles),
            oidc_providers: Mutex::new(self.oidc_providers),
            outbound: OutboundIssuer::new(
                self.outbound_identity
                    .unwrap_or_else(GoogleIdentity::shared),
            ),
            outbound_enabled: AtomicBool::new(self.outbound_enabled),
            max_clock_skew: self.max_clock_skew,
            callers: Mutex::new(Vec::new()),
            issued_tokens: Mutex::new(Vec::new()),
            issued: Mutex::new(Vec::new()),
            request_counter: AtomicU64::new(0),
            rng: Mutex::new(match self.seed {
                Some(seed) => fastrand::Rng::with_seed(seed),
                None => fastrand::Rng::new(),
            }),
        };
        let server = Server::start(handler).await?;
        let _ = server.handler().outbound.url.set(server.base_url());
        Ok(AwsStsEmulator { server })
    }
}

/// A loopback emulator of AWS STS `AssumeRoleWithWebIdentity` for Google-signed ID tokens.
///
/// Point clients at [`endpoint()`](Self::endpoint). It accepts `POST /` with an
/// `application/x-www-form-urlencoded` body and `GET /?Action=...` (query parameters count for
/// both), without any `Authorization` header (the call is unsigned). It enforces:
///
/// - `Action=AssumeRoleWithWebIdentity` (`MissingAction`, `InvalidAction`) and
///   `Version=2011-06-15` (`InvalidAction`);
/// - the API model's constraints (`ValidationError`): `RoleArn` 20–2048 characters and a role
///   ARN, `RoleSessionName` 2–64 of `[\w+=,.@-]`, `WebIdentityToken` 4–20000, `DurationSeconds`
///   900–43200 and at most the role's maximum, `Policy` at most 2048 characters, at most 10
///   `PolicyArns`; an unparsable `Policy` is a `MalformedPolicyDocument`, oversized session
///   policies `PackedPolicyTooLarge`;
/// - the token: RS256 by a trusted [`GoogleIdentity`] with issuer `https://accounts.google.com`
///   (`InvalidIdentityToken`), `exp` after the clock's now (`ExpiredTokenException`);
/// - the role: known and trusting the token per [`RoleSpec`] (`AccessDenied`, 403).
///
/// Success is the `AssumeRoleWithWebIdentityResponse` XML; errors are the `ErrorResponse` XML
/// with the code's HTTP status. Every response carries `x-amzn-RequestId`, with ids from a
/// counter (`00000000-0000-4000-8000-000000000001`, ...).
///
/// ```
/// use federated_credentials::aws::WebIdentityProvider;
/// use federated_credentials::source::GcpMetadataIdentityToken;
/// use federated_credentials_testkit::{AwsStsEmulator, GcpMetadataEmulator, RoleSpec};
///
/// # #[tokio::main(flavor = "current_thread")]
/// # async fn main() -> Result<(), Box<dyn std::error::Error>> {
/// let mds = GcpMetadataEmulator::start().await?;
/// let sts = AwsStsEmulator::start().await?;
/// let role_arn = sts.role_arn("gcp-workload");
/// sts.add_role(
///     RoleSpec::new(&role_arn)
///         .google_aud(&mds.default_service_account().unique_id)
///         .google_oaud("sts.amazonaws.com"),
/// );
/// let provider = WebIdentityProvider::builder()
///     .token_source(GcpMetadataIdentityToken::new("sts.amazonaws.com").metadata_host(mds.host()))
///     .role_arn(&role_arn)
///     .configure_sts(|s| s.session_name("it-session").endpoint_url(sts.endpoint()))
///     .build()?;
/// let credentials = provider.credentials().await?;
/// assert!(credentials.assumed_role_arn().ends_with(":assumed-role/gcp-workload/it-session"));
/// # Ok(())
/// # }
/// ```
#[derive(Debug)]
pub struct AwsStsEmulator {
    server: Server<StsHandler>,
}

emulator_controls!(AwsStsEmulator);

impl AwsStsEmulator {
    /// Starts an emulator with no roles, trusting [`GoogleIdentity::shared`].
    pub async fn start() -> std::io::Result<Self> {
        Self::builder().start().await
    }

    /// A builder for custom settings.
    pub fn builder() -> AwsStsEmulatorBuilder {
        AwsStsEmulatorBuilder::default()
    }

    /// `http://127.0.0.1:PORT`: the STS endpoint URL to configure in the client.
    pub fn endpoint(&self) -> String {
        self.base_url()
    }

    /// The account id used by [`role_arn`](Self::role_arn).
    pub fn account_id(&self) -> &str {
        &self.handler().account_id
    }

    /// `arn:aws:iam::ACCOUNT:role/NAME` in the emulator's account.
    pub fn role_arn(&self, name: &str) -> String {
        format!("arn:aws:iam::{}:role/{name}", self.account_id())
    }

    /// Makes a role assumable, replacing any role with the same ARN.
    pub fn add_role(&self, role: RoleSpec) {
        let mut roles = lock(&self.handler().roles);
        roles.retain(|r| r.arn() != role.arn());
        roles.push(role);
    }

    /// Lets these credentials call `GetWebIdentityToken` (credentials the emulator issued
    /// through `AssumeRoleWithWebIdentity` always may).
    pub fn allow_caller(&self, caller: CallerCredentials) {
        lock(&self.handler().callers).push(caller);
    }

    /// Turns IAM outbound identity federation on or off.
    pub fn set_outbound_web_identity_federation(&self, enabled: bool) {
        self.handler()
            .outbound_enabled
            .store(enabled, Ordering::SeqCst);
    }

    /// The account's outbound issuer URL (this emulator's base URL; it serves
    /// `/.well-known/openid-configuration` and `/.well-known/jwks.json`). AWS's look like
    /// `https://ID.tokens.sts.global.api.aws`.
    pub fn outbound_issuer(&self) -> String {
        self.handler().outbound.issuer()
    }

    /// The outbound issuer's RSA key (RS256 tokens), e.g. for a Google pool provider's
    /// [`ProviderSpec::trust`](crate::ProviderSpec::trust).
    pub fn outbound_identity(&self) -> GoogleIdentity {
        self.handler().outbound.rsa.clone()
    }

    /// The outbound issuer's JWKS (RSA and P-384 keys).
    pub fn outbound_jwks(&self) -> Value {
        self.handler().outbound.jwks()
    }

    /// Verifies a token from `GetWebIdentityToken` (RS256 or ES384); returns its claims.
    pub fn verify_web_identity_token(&self, token: &str) -> Result<Map<String, Value>, JwtError> {
        self.handler().outbound.verify(token)
    }

    /// Every token issued through `GetWebIdentityToken`, oldest first.
    pub fn issued_web_identity_tokens(&self) -> Vec<IssuedWebIdentityToken> {
        lock(&self.handler().issued_tokens).clone()
    }

    /// Adds an IAM OIDC identity provider, replacing any with the same URL.
    pub fn add_oidc_provider(&self, provider: OidcProviderSpec) {
        let mut providers = lock(&self.handler().oidc_providers);
        providers.retain(|p| p.host() != provider.host());
        providers.push(provider);
    }

    /// Also trusts tokens signed by `identity` from now on.
    pub fn trust(&self, identity: GoogleIdentity) {
        lock(&self.handler().trusted).push(identity);
    }

    /// Every set of credentials issued so far, oldest first.
    pub fn issued_credentials(&self) -> Vec<IssuedCredentials> {
        lock(&self.handler().issued).clone()
    }

    /// The issued credentials with this access key id (what the client under test got), if
    /// any.
    pub fn credentials_for(&self, access_key_id: &str) -> Option<IssuedCredentials> {
        lock(&self.handler().issued)
            .iter()
            .find(|c| c.access_key_id == access_key_id)
            .cloned()
    }

    /// Answers the next request with STS error `code` and its default message, queued with
    /// the generic [`Fault`](crate::Fault)s in push order.
    pub fn push_error(&self, code: StsErrorCode) {
        self.push_error_times(code, 1);
    }

    /// Answers each of the next `times` requests with STS error `code`.
    pub fn push_error_times(&self, code: StsErrorCode, times: usize) {
        let error = StsError::new(code, code.default_message());
        self.server.push(Scripted::Emulator(error), times);
    }

    /// Answers the next request with STS error `code` and this message.
    pub fn push_error_with_message(&self, code: StsErrorCode, message: impl Into<String>) {
        self.server
            .push(Scripted::Emulator(StsError::new(code, message)), 1);
    }

    fn handler(&self) -> &StsHandler {
        self.server.handler()
    }
}

/// A token whose signature, audience and expiry checked out.
#[derive(Debug)]
struct Verified {
    claims: Map<String, Value>,
    /// The provider's host: `accounts.google.com`, or an OIDC provider's URL without scheme.
    host: String,
    /// The `Audience` of the answer.
    audience: String,
    /// `accounts.google.com`, or the OIDC provider's host (the answer's `Provider` is then the
    /// provider's ARN in the role's account).
    provider: String,
}

/// The STS service logic.
#[derive(Debug)]
struct StsHandler {
    clock: Arc<dyn Clock>,
    trusted: Mutex<Vec<GoogleIdentity>>,
    fractional_seconds: bool,
    account_id: String,
    roles: Mutex<Vec<RoleSpec>>,
    oidc_providers: Mutex<Vec<OidcProviderSpec>>,
    outbound: OutboundIssuer,
    outbound_enabled: AtomicBool,
    max_clock_skew: Duration,
    callers: Mutex<Vec<CallerCredentials>>,
    issued_tokens: Mutex<Vec<IssuedWebIdentityToken>>,
    issued: Mutex<Vec<IssuedCredentials>>,
    request_counter: AtomicU64,
    rng: Mutex<fastrand::Rng>,
}

impl Handler for StsHandler {
    type Fault = StsError;
    const BODY_CONTENT_TYPE: &'static str = "text/xml";

    fn handle(&self, request: &RecordedRequest) -> Response {
        if request.method == "GET" {
            match request.path.as_str() {
                "/.well-known/openid-configuration" => {
                    return Response::json(200, &self.outbound.discovery());
                }
                "/.well-known/jwks.json" => return Response::json(200, &self.outbound.jwks()),
                _ => {}
            }
        }
        let request_id = self.next_request_id();
        if params::action(request).as_deref() == Some(params::GET_WEB_IDENTITY_TOKEN) {
            return match self.get_web_identity_token(request) {
                Ok(issued) => response::web_identity_token(&issued, &request_id),
                Err(error) => response::error(&error, &request_id),
            };
        }
        match self.assume_role(request, &request_id) {
            Ok(issued) => response::success(&issued, &request_id, self.fractional_seconds),
            Err(error) => response::error(&error, &request_id),
        }
    }

    fn handle_fault(&self, _: &RecordedRequest, error: StsError) -> Response {
        response::error(&error, &self.next_request_id())
    }

    fn decorate(&self, response: &mut Response) {
        if response.header(response::REQUEST_ID_HEADER).is_none() {
            let request_id = self.next_request_id();
            response.set_header_if_absent(response::REQUEST_ID_HEADER, request_id);
        }
    }
}

impl StsHandler {
    fn next_request_id(&self) -> String {
        let n = self.request_counter.fetch_add(1, Ordering::SeqCst) + 1;
        format!("00000000-0000-4000-8000-{n:012x}")
    }

    /// `GetWebIdentityToken`: parameters, then the caller's signature, then the account
    /// setting, then the token.
    fn get_web_identity_token(
        &self,
        request: &RecordedRequest,
    ) -> Result<IssuedWebIdentityToken, StsError> {
        let call = params::parse_get_web_identity_token(request)?;
        let now = self.clock.now();
        let mut callers = lock(&self.callers).clone();
        callers.extend(lock(&self.issued).iter().map(|c| {
            CallerCredentials::role_session(
                &c.access_key_id,
                &c.secret_access_key,
                &c.session_token,
                &c.role_arn,
                c.expiration,
            )
        }));
        let (caller, region) = outbound::authenticate(request, &callers, now, self.max_clock_skew)?;
        if !self.outbound_enabled.load(Ordering::SeqCst) {
            let code = StsErrorCode::OutboundWebIdentityFederationDisabled;
            return Err(StsError::new(code, code.default_message()));
        }
        let account = parse_role_arn(&caller.principal_arn)
            .map(|arn| arn.account.to_owned())
            .unwrap_or_else(|| self.account_id.clone());
        let issued = self.outbound.issue(call, caller, &account, &region, now)?;
        lock(&self.issued_tokens).push(issued.clone());
        Ok(issued)
    }

    fn assume_role(
        &self,
        request: &RecordedRequest,
        request_id: &str,
    ) -> Result<IssuedCredentials, StsError> {
        let call = params::parse(request)?;
        let now = self.clock.now();
        let verified = self.verify_token(&call.web_identity_token, now)?;
        let role = lock(&self.roles)
            .iter()
            .find(|role| role.arn() == call.role_arn)
            .cloned()
            .ok_or_else(StsError::access_denied)?;
        if !role.trusts(&verified.host, &verified.claims) {
            return Err(StsError::access_denied());
        }
        let duration = Duration::from_secs(call.duration_secs);
        if duration > role.session_duration_limit() {
            return Err(StsError::validation(
                "The requested DurationSeconds exceeds the MaxSessionDuration set for this role.",
            ));
        }
        let issued = self.issue(call, &role, &verified, now + duration, request_id);
        lock(&self.issued).push(issued.clone());
        Ok(issued)
    }

    /// Finds the token's provider by its (unverified) issuer, then checks the signature with
    /// that provider's keys, the audience (OIDC providers) and the expiry.
    fn verify_token(&self, token: &str, now: SystemTime) -> Result<Verified, StsError> {
        let not_a_jwt =
            || StsError::invalid_token(StsErrorCode::InvalidIdentityToken.default_message());
        let header = decode_header(token).map_err(|_| not_a_jwt())?;
        let unverified = decode_payload(token).map_err(|_| not_a_jwt())?;
        let issuer = unverified
            .get("iss")
            .and_then(Value::as_str)
            .unwrap_or_default()
            .to_owned();
        let (keys, oidc) = if GOOGLE_ISSUERS.contains(&issuer.as_str()) {
            (lock(&self.trusted).clone(), None)
        } else {
            let host = issuer_host(&issuer);
            let provider = lock(&self.oidc_providers)
                .iter()
                .find(|p| !host.is_empty() && p.host() == host)
                .cloned()
                .ok_or_else(|| {
                    StsError::invalid_token(format!(
                        "No OpenIDConnect provider found in your account for {issuer}"
                    ))
                })?;
            (provider.keys().to_vec(), Some(provider))
        };
        let kid = header
            .get("kid")
            .and_then(Value::as_str)
            .unwrap_or_default();
        let identity = keys
            .into_iter()
            .find(|identity| identity.kid() == kid)
            .ok_or_else(|| {
                StsError::invalid_token(
                    "Couldn't retrieve verification key from your identity provider,  please reference AssumeRoleWithWebIdentity documentation for requirements",
                )
            })?;
        let claims = identity.verify(token).map_err(|error| match error {
            JwtError::BadSignature => {
                StsError::invalid_token("The web identity token signature could not be verified")
            }
            _ => not_a_jwt(),
        })?;
        let (host, audience, provider) = match &oidc {
            None => {
                let claim = |name: &str| claims.get(name).and_then(Value::as_str);
                let audience = claim("azp").or(claim("aud")).unwrap_or_default().to_owned();
                (
                    GOOGLE_PROVIDER.to_owned(),
                    audience,
                    GOOGLE_PROVIDER.to_owned(),
                )
            }
            Some(spec) => {
                let audience = spec
                    .accepted_audience(&claims)
                    .ok_or_else(|| StsError::invalid_token("Incorrect token audience"))?;
                (spec.host().to_owned(), audience, spec.host().to_owned())
            }
        };
        let exp = claims.get("exp").and_then(Value::as_u64).ok_or_else(|| {
            StsError::invalid_token("The web identity token has no valid exp claim")
        })?;
        let now_secs = now.duration_since(UNIX_EPOCH).unwrap_or_default().as_secs();
        if exp <= now_secs {
            return Err(StsError::new(
                StsErrorCode::ExpiredToken,
                format!(
                    "Token expired: current date/time {now_secs} must be before the expiration date/time {exp}"
                ),
            ));
        }
        Ok(Verified {
            claims,
            host,
            audience,
            provider,
        })
    }

    fn issue(
        &self,
        call: AssumeRoleCall,
        role: &RoleSpec,
        verified: &Verified,
        expiration: SystemTime,
        request_id: &str,
    ) -> IssuedCredentials {
        let claim = |name: &str| verified.claims.get(name).and_then(Value::as_str);
        let (partition, account) = parse_role_arn(&call.role_arn)
            .map(|arn| (arn.partition.to_owned(), arn.account.to_owned()))
            .unwrap_or_default();
        let session = &call.role_session_name;
        let mut rng = lock(&self.rng);
        IssuedCredentials {
            access_key_id: format!("ASIA{}", random_string(&mut rng, UPPER_ALPHANUMERIC, 16)),
            secret_access_key: random_string(&mut rng, BASE64, 40),
            session_token: format!("IQoJb3JpZ2luX2VjE{}", random_string(&mut rng, BASE64, 400)),
            expiration: response::wire_precision(expiration, self.fractional_seconds),
            assumed_role_id: format!("{}:{session}", role.unique_id()),
            assumed_role_arn: format!(
                "arn:{partition}:sts::{account}:assumed-role/{}/{session}",
                role.name()
            ),
            subject: claim("sub").unwrap_or_default().to_owned(),
            audience: verified.audience.clone(),
            provider: if verified.provider == GOOGLE_PROVIDER {
                GOOGLE_PROVIDER.to_owned()
            } else {
                format!(
                    "arn:{partition}:iam::{account}:oidc-provider/{}",
                    verified.provider
                )
            },
            duration: Duration::from_secs(call.duration_secs),
            packed_policy_size: call.packed_policy_size,
            request_id: request_id.to_owned(),
            role_session_name: call.role_session_name,
            role_arn: call.role_arn,
            policy: call.policy,
            policy_arns: call.policy_arns,
        }
    }
}

#[cfg(test)]
mod tests;
