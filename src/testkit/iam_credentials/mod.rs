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
use super::server::{emulator_controls, lock, Scripted, Server};
use crate::context::{Clock, SystemClock};

pub use self::account::ServiceAccountSpec;

/// An access token minted by `generateAccessToken`.
///
/// ```
/// use federated_credentials::google::ExternalAccountCredentials;
/// use federated_credentials::source::StaticToken;
/// use federated_credentials::token::TokenType;
/// use federated_credentials::testkit::{GoogleIdentity, GoogleStsEmulator, IamCredentialsEmulator, ProviderSpec, ServiceAccountSpec};
///
/// # #[tokio::main(flavor = "current_thread")]
/// # async fn main() -> Result<(), Box<dyn std::error::Error>> {
/// # let audience = "//iam.googleapis.com/projects/123456/locations/global/workloadIdentityPools/pool/providers/oidc";
/// # let sts = GoogleStsEmulator::builder().provider(ProviderSpec::oidc(audience)).start().await?;
/// # let iam = IamCredentialsEmulator::builder()
/// #     .service_account(ServiceAccountSpec::new("app@my-project.iam.gserviceaccount.com", "1234"))
/// #     .start()
/// #     .await?;
/// # iam.trust_sts(&sts);
/// # let exp = std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH)?.as_secs() + 3600;
/// # let jwt = GoogleIdentity::shared().sign(&serde_json::json!({"sub": "workload", "exp": exp}));
/// # let credentials = ExternalAccountCredentials::builder()
/// #     .audience(audience)
/// #     .token_source(StaticToken::new(jwt, TokenType::Jwt))
/// #     .token_url(sts.token_url())
/// #     .service_account_impersonation_url(iam.generate_access_token_url("app@my-project.iam.gserviceaccount.com"))
/// #     .build()?;
/// let token = credentials.access_token().await?;
/// let issued = &iam.issued_access_tokens()[0];
/// assert_eq!(issued.access_token, token.token().expose_secret());
/// assert_eq!(issued.service_account, "app@my-project.iam.gserviceaccount.com");
/// assert_eq!(issued.scopes, ["https://www.googleapis.com/auth/cloud-platform"]);
/// assert_eq!(issued.caller_audience, audience); // the STS provider the caller federated at
/// # Ok(())
/// # }
/// ```
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
///
/// ```
/// use federated_credentials::google::ExternalAccountCredentials;
/// use federated_credentials::source::StaticToken;
/// use federated_credentials::token::TokenType;
/// use federated_credentials::exchange::GenerateIdToken;
/// use federated_credentials::source::SubjectTokenSource;
/// use federated_credentials::testkit::{GoogleIdentity, GoogleStsEmulator, IamCredentialsEmulator, ProviderSpec, ServiceAccountSpec};
///
/// # #[tokio::main(flavor = "current_thread")]
/// # async fn main() -> Result<(), Box<dyn std::error::Error>> {
/// # let audience = "//iam.googleapis.com/projects/123456/locations/global/workloadIdentityPools/pool/providers/oidc";
/// # let sts = GoogleStsEmulator::builder().provider(ProviderSpec::oidc(audience)).start().await?;
/// # let iam = IamCredentialsEmulator::builder()
/// #     .service_account(ServiceAccountSpec::new("app@my-project.iam.gserviceaccount.com", "1234"))
/// #     .start()
/// #     .await?;
/// # iam.trust_sts(&sts);
/// # let exp = std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH)?.as_secs() + 3600;
/// # let jwt = GoogleIdentity::shared().sign(&serde_json::json!({"sub": "workload", "exp": exp}));
/// # let credentials = ExternalAccountCredentials::builder()
/// #     .audience(audience)
/// #     .token_source(StaticToken::new(jwt, TokenType::Jwt))
/// #     .token_url(sts.token_url())
/// #     .build()?;
/// // Federated credentials (without impersonation) call generateIdToken for the account.
/// let source = credentials.id_token_source(
///     GenerateIdToken::new("app@my-project.iam.gserviceaccount.com", "sts.amazonaws.com").base_url(format!("{}/v1", iam.base_url())),
/// );
/// let id_token = source.subject_token(&Default::default()).await?;
/// let issued = &iam.issued_id_tokens()[0];
/// assert_eq!(issued.token, id_token.token().expose_secret());
/// assert_eq!(issued.audience, "sts.amazonaws.com");
/// assert!(!issued.include_email);
/// # Ok(())
/// # }
/// ```
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
/// use federated_credentials::google::ExternalAccountCredentials;
/// use federated_credentials::source::StaticToken;
/// use federated_credentials::token::TokenType;
/// use federated_credentials::testkit::{GoogleIdentity, GoogleStsEmulator, IamCredentialsEmulator, ProviderSpec, ServiceAccountSpec};
///
/// # #[tokio::main(flavor = "current_thread")]
/// # async fn main() -> Result<(), Box<dyn std::error::Error>> {
/// let audience = "//iam.googleapis.com/projects/123456/locations/global/workloadIdentityPools/pool/providers/oidc";
/// let sts = GoogleStsEmulator::builder().provider(ProviderSpec::oidc(audience)).start().await?;
/// let iam = IamCredentialsEmulator::builder()
///     .service_account(ServiceAccountSpec::new("app@my-project.iam.gserviceaccount.com", "1234"))
///     .expire_time_fraction_digits(3)
///     .start()
///     .await?;
/// iam.trust_sts(&sts);
/// # let exp = std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH)?.as_secs() + 3600;
/// # let jwt = GoogleIdentity::shared().sign(&serde_json::json!({"sub": "workload", "exp": exp}));
/// # let credentials = ExternalAccountCredentials::builder()
/// #     .audience(audience)
/// #     .token_source(StaticToken::new(jwt, TokenType::Jwt))
/// #     .token_url(sts.token_url())
/// #     .service_account_impersonation_url(iam.generate_access_token_url("app@my-project.iam.gserviceaccount.com"))
/// #     .build()?;
/// let token = credentials.access_token().await?;
/// let issued = &iam.issued_access_tokens()[0];
/// assert_eq!(token.expires_at(), Some(issued.expire_time)); // milliseconds and all
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
    /// [`ManualClock`](crate::context::ManualClock) for deterministic tests.
    ///
    /// ```
    /// use std::time::{Duration, UNIX_EPOCH};
    /// use federated_credentials::context::{Context, ManualClock};
    /// use federated_credentials::google::ExternalAccountCredentials;
    /// use federated_credentials::source::StaticToken;
    /// use federated_credentials::token::TokenType;
    /// use federated_credentials::testkit::{GoogleIdentity, GoogleStsEmulator, IamCredentialsEmulator, ProviderSpec, ServiceAccountSpec};
    ///
    /// # #[tokio::main(flavor = "current_thread")]
    /// # async fn main() -> Result<(), Box<dyn std::error::Error>> {
    /// let start = UNIX_EPOCH + Duration::from_secs(1_800_000_000);
    /// let clock = ManualClock::new(start);
    /// let audience = "//iam.googleapis.com/projects/123456/locations/global/workloadIdentityPools/pool/providers/oidc";
    /// let sts = GoogleStsEmulator::builder().clock(clock.clone()).provider(ProviderSpec::oidc(audience)).start().await?;
    /// let iam = IamCredentialsEmulator::builder()
    ///     .clock(clock.clone())
    ///     .service_account(ServiceAccountSpec::new("app@my-project.iam.gserviceaccount.com", "1234"))
    ///     .start()
    ///     .await?;
    /// iam.trust_sts(&sts);
    /// # let jwt = GoogleIdentity::shared().sign(&serde_json::json!({"sub": "workload", "exp": 1_800_003_600}));
    /// let credentials = ExternalAccountCredentials::builder()
    ///     .context(Context::builder().clock(clock.clone()).build())
    ///     .audience(audience)
    ///     .token_source(StaticToken::new(jwt, TokenType::Jwt))
    ///     .token_url(sts.token_url())
    ///     .service_account_impersonation_url(iam.generate_access_token_url("app@my-project.iam.gserviceaccount.com"))
    ///     .build()?;
    /// let token = credentials.access_token().await?;
    /// assert_eq!(token.expires_at(), Some(start + Duration::from_secs(3600)));
    /// # Ok(())
    /// # }
    /// ```
    pub fn clock(mut self, clock: impl Clock + 'static) -> Self {
        self.clock = Arc::new(clock);
        self
    }

    /// The key that signs ID tokens (default [`GoogleIdentity::shared`], which the
    /// [`AwsStsEmulator`](crate::testkit::AwsStsEmulator) trusts by default).
    ///
    /// ```
    /// use federated_credentials::google::ExternalAccountCredentials;
    /// use federated_credentials::source::StaticToken;
    /// use federated_credentials::token::TokenType;
    /// use federated_credentials::exchange::GenerateIdToken;
    /// use federated_credentials::source::SubjectTokenSource;
    /// use federated_credentials::testkit::{GoogleIdentity, GoogleStsEmulator, IamCredentialsEmulator, ProviderSpec, ServiceAccountSpec};
    ///
    /// # #[tokio::main(flavor = "current_thread")]
    /// # async fn main() -> Result<(), Box<dyn std::error::Error>> {
    /// let signer = GoogleIdentity::generate();
    /// # let audience = "//iam.googleapis.com/projects/123456/locations/global/workloadIdentityPools/pool/providers/oidc";
    /// # let sts = GoogleStsEmulator::builder().provider(ProviderSpec::oidc(audience)).start().await?;
    /// let iam = IamCredentialsEmulator::builder()
    ///     .identity(signer.clone())
    /// #     .service_account(ServiceAccountSpec::new("app@my-project.iam.gserviceaccount.com", "1234"))
    /// #     .start()
    /// #     .await?;
    /// # iam.trust_sts(&sts);
    /// # let exp = std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH)?.as_secs() + 3600;
    /// # let jwt = GoogleIdentity::shared().sign(&serde_json::json!({"sub": "workload", "exp": exp}));
    /// # let credentials = ExternalAccountCredentials::builder()
    /// #     .audience(audience)
    /// #     .token_source(StaticToken::new(jwt, TokenType::Jwt))
    /// #     .token_url(sts.token_url())
    /// #     .build()?;
    /// // Federated credentials (without impersonation) call generateIdToken for the account.
    /// let source = credentials.id_token_source(
    ///     GenerateIdToken::new("app@my-project.iam.gserviceaccount.com", "sts.amazonaws.com").base_url(format!("{}/v1", iam.base_url())),
    /// );
    /// let id_token = source.subject_token(&Default::default()).await?;
    /// assert!(signer.verify(id_token.token().expose_secret()).is_ok());
    /// # Ok(())
    /// # }
    /// ```
    pub fn identity(mut self, identity: GoogleIdentity) -> Self {
        self.identity = Some(identity);
        self
    }

    /// A service account tokens can be minted for (more can be added later with
    /// [`IamCredentialsEmulator::add_service_account`]).
    ///
    /// ```
    /// use federated_credentials::google::ExternalAccountCredentials;
    /// use federated_credentials::source::StaticToken;
    /// use federated_credentials::token::TokenType;
    /// use federated_credentials::testkit::{GoogleIdentity, GoogleStsEmulator, IamCredentialsEmulator, ProviderSpec, ServiceAccountSpec};
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
    /// # let exp = std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH)?.as_secs() + 3600;
    /// # let jwt = GoogleIdentity::shared().sign(&serde_json::json!({"sub": "workload", "exp": exp}));
    /// # let credentials = ExternalAccountCredentials::builder()
    /// #     .audience(audience)
    /// #     .token_source(StaticToken::new(jwt.clone(), TokenType::Jwt))
    /// #     .token_url(sts.token_url())
    /// #     .service_account_impersonation_url(iam.generate_access_token_url("app@my-project.iam.gserviceaccount.com"))
    /// #     .build()?;
    /// assert!(credentials.access_token().await.is_ok());
    /// // An account the emulator does not know:
    /// let unknown = ExternalAccountCredentials::builder()
    ///     .audience(audience)
    ///     .token_source(StaticToken::new(jwt, TokenType::Jwt))
    ///     .token_url(sts.token_url())
    ///     .service_account_impersonation_url(iam.generate_access_token_url("ghost@my-project.iam.gserviceaccount.com"))
    ///     .build()?;
    /// assert_eq!(unknown.access_token().await.unwrap_err().upstream_code(), Some("NOT_FOUND"));
    /// # Ok(())
    /// # }
    /// ```
    pub fn service_account(mut self, account: ServiceAccountSpec) -> Self {
        self.accounts.push(account);
        self
    }

    /// Sends `expireTime` with this many fractional digits: 0 (the default,
    /// `2024-05-01T12:34:56Z`), 3, 6 or 9, as Google's JSON mapping may.
    ///
    /// # Panics
    /// If `digits` is not 0, 3, 6 or 9.
    ///
    /// ```
    /// use federated_credentials::google::ExternalAccountCredentials;
    /// use federated_credentials::source::StaticToken;
    /// use federated_credentials::token::TokenType;
    /// use federated_credentials::testkit::{GoogleIdentity, GoogleStsEmulator, IamCredentialsEmulator, ProviderSpec, ServiceAccountSpec};
    ///
    /// # #[tokio::main(flavor = "current_thread")]
    /// # async fn main() -> Result<(), Box<dyn std::error::Error>> {
    /// let audience = "//iam.googleapis.com/projects/123456/locations/global/workloadIdentityPools/pool/providers/oidc";
    /// let sts = GoogleStsEmulator::builder().provider(ProviderSpec::oidc(audience)).start().await?;
    /// let iam = IamCredentialsEmulator::builder()
    ///     .service_account(ServiceAccountSpec::new("app@my-project.iam.gserviceaccount.com", "1234"))
    ///     .expire_time_fraction_digits(9)
    ///     .start()
    ///     .await?;
    /// iam.trust_sts(&sts);
    /// # let exp = std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH)?.as_secs() + 3600;
    /// # let jwt = GoogleIdentity::shared().sign(&serde_json::json!({"sub": "workload", "exp": exp}));
    /// # let credentials = ExternalAccountCredentials::builder()
    /// #     .audience(audience)
    /// #     .token_source(StaticToken::new(jwt, TokenType::Jwt))
    /// #     .token_url(sts.token_url())
    /// #     .service_account_impersonation_url(iam.generate_access_token_url("app@my-project.iam.gserviceaccount.com"))
    /// #     .build()?;
    /// // `"expireTime": "2024-05-01T12:34:56.123456789Z"` is read to the nanosecond.
    /// let token = credentials.access_token().await?;
    /// assert_eq!(token.expires_at(), Some(iam.issued_access_tokens()[0].expire_time));
    /// # Ok(())
    /// # }
    /// ```
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
    ///
    /// ```
    /// use federated_credentials::google::ExternalAccountCredentials;
    /// use federated_credentials::source::StaticToken;
    /// use federated_credentials::token::TokenType;
    /// use federated_credentials::testkit::{GoogleIdentity, GoogleStsEmulator, IamCredentialsEmulator, ProviderSpec, ServiceAccountSpec};
    ///
    /// # #[tokio::main(flavor = "current_thread")]
    /// # async fn main() -> Result<(), Box<dyn std::error::Error>> {
    /// # let audience = "//iam.googleapis.com/projects/123456/locations/global/workloadIdentityPools/pool/providers/oidc";
    /// # let sts = GoogleStsEmulator::builder().provider(ProviderSpec::oidc(audience)).start().await?;
    /// # let iam = IamCredentialsEmulator::builder()
    /// #     .service_account(ServiceAccountSpec::new("app@my-project.iam.gserviceaccount.com", "1234"))
    /// #     .start()
    /// #     .await?;
    /// # iam.trust_sts(&sts);
    /// # let exp = std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH)?.as_secs() + 3600;
    /// # let jwt = GoogleIdentity::shared().sign(&serde_json::json!({"sub": "workload", "exp": exp}));
    /// // A federated token with a narrow scope, and no impersonation.
    /// let federated = ExternalAccountCredentials::builder()
    ///     .audience(audience)
    ///     .token_source(StaticToken::new(jwt, TokenType::Jwt))
    ///     .token_url(sts.token_url())
    ///     .scopes(["https://www.googleapis.com/auth/devstorage.read_only"])
    ///     .build()?;
    /// let bearer = federated.access_token().await?;
    /// let http = reqwest::Client::builder().no_proxy().build()?;
    /// let response = http
    ///     .post(iam.generate_access_token_url("app@my-project.iam.gserviceaccount.com"))
    ///     .bearer_auth(bearer.token().expose_secret())
    ///     .body(r#"{"scope": ["https://www.googleapis.com/auth/cloud-platform"]}"#)
    ///     .send()
    ///     .await?;
    /// assert_eq!(response.status(), 403); // ACCESS_TOKEN_SCOPE_INSUFFICIENT, as IAM answers
    /// # Ok(())
    /// # }
    /// ```
    pub fn check_scopes(mut self, enabled: bool) -> Self {
        self.check_scopes = enabled;
        self
    }

    /// Seeds the generator of access tokens, for reproducible tokens (default: random).
    ///
    /// ```
    /// use federated_credentials::google::ExternalAccountCredentials;
    /// use federated_credentials::source::StaticToken;
    /// use federated_credentials::token::TokenType;
    /// use federated_credentials::testkit::{GoogleIdentity, GoogleStsEmulator, IamCredentialsEmulator, ProviderSpec, ServiceAccountSpec};
    ///
    /// # #[tokio::main(flavor = "current_thread")]
    /// # async fn main() -> Result<(), Box<dyn std::error::Error>> {
    /// let audience = "//iam.googleapis.com/projects/123456/locations/global/workloadIdentityPools/pool/providers/oidc";
    /// # let exp = std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH)?.as_secs() + 3600;
    /// # let jwt = GoogleIdentity::shared().sign(&serde_json::json!({"sub": "workload", "exp": exp}));
    /// let mut tokens = Vec::new();
    /// for _ in 0..2 {
    ///     let sts = GoogleStsEmulator::builder().provider(ProviderSpec::oidc(audience)).start().await?;
    ///     let iam = IamCredentialsEmulator::builder()
    ///         .service_account(ServiceAccountSpec::new("app@my-project.iam.gserviceaccount.com", "1234"))
    ///         .seed(7)
    ///         .start()
    ///         .await?;
    ///     iam.trust_sts(&sts);
    ///     # let credentials = ExternalAccountCredentials::builder()
    ///     #     .audience(audience)
    ///     #     .token_source(StaticToken::new(jwt.clone(), TokenType::Jwt))
    ///     #     .token_url(sts.token_url())
    ///     #     .service_account_impersonation_url(iam.generate_access_token_url("app@my-project.iam.gserviceaccount.com"))
    ///     #     .build()?;
    ///     tokens.push(credentials.access_token().await?.token().expose_secret().to_string());
    /// }
    /// assert_eq!(tokens[0], tokens[1]);
    /// # Ok(())
    /// # }
    /// ```
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
    ///
    /// ```
    /// use federated_credentials::google::ExternalAccountCredentials;
    /// use federated_credentials::source::StaticToken;
    /// use federated_credentials::token::TokenType;
    /// use federated_credentials::testkit::{GoogleIdentity, GoogleStsEmulator, IamCredentialsEmulator, ProviderSpec, ServiceAccountSpec};
    ///
    /// # #[tokio::main(flavor = "current_thread")]
    /// # async fn main() -> Result<(), Box<dyn std::error::Error>> {
    /// let audience = "//iam.googleapis.com/projects/123456/locations/global/workloadIdentityPools/pool/providers/oidc";
    /// let sts = GoogleStsEmulator::builder().provider(ProviderSpec::oidc(audience)).start().await?;
    /// let iam = IamCredentialsEmulator::builder()
    ///     .service_account(ServiceAccountSpec::new("app@my-project.iam.gserviceaccount.com", "1234"))
    ///     .deterministic_tokens(true)
    ///     .start()
    ///     .await?;
    /// iam.trust_sts(&sts);
    /// # let exp = std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH)?.as_secs() + 3600;
    /// let mut tokens = Vec::new();
    /// // Two workloads with different federated tokens impersonate the same account:
    /// for sub in ["workload-a", "workload-b"] {
    ///     let jwt = GoogleIdentity::shared().sign(&serde_json::json!({"sub": sub, "exp": exp}));
    ///     # let credentials = ExternalAccountCredentials::builder()
    ///     #     .audience(audience)
    ///     #     .token_source(StaticToken::new(jwt, TokenType::Jwt))
    ///     #     .token_url(sts.token_url())
    ///     #     .service_account_impersonation_url(iam.generate_access_token_url("app@my-project.iam.gserviceaccount.com"))
    ///     #     .build()?;
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
    ///
    /// ```
    /// use federated_credentials::testkit::{IamCredentialsEmulator, ServiceAccountSpec};
    ///
    /// # #[tokio::main(flavor = "current_thread")]
    /// # async fn main() -> Result<(), Box<dyn std::error::Error>> {
    /// let iam = IamCredentialsEmulator::builder()
    ///     .service_account(ServiceAccountSpec::new("app@my-project.iam.gserviceaccount.com", "1234"))
    ///     .start()
    ///     .await?;
    /// assert!(iam.generate_access_token_url("app@my-project.iam.gserviceaccount.com").starts_with("http://127.0.0.1:"));
    /// # Ok(())
    /// # }
    /// ```
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
/// use federated_credentials::testkit::{GoogleIdentity, GoogleStsEmulator, IamCredentialsEmulator, ProviderSpec, ServiceAccountSpec};
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
/// # let exp = std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH)?.as_secs() + 3600;
/// # let jwt = GoogleIdentity::shared().sign(&serde_json::json!({"sub": "workload", "exp": exp}));
/// let credentials = ExternalAccountCredentials::builder()
///     .audience(audience)
///     .token_source(StaticToken::new(jwt, TokenType::Jwt))
///     .token_url(sts.token_url())
///     .service_account_impersonation_url(iam.generate_access_token_url("app@my-project.iam.gserviceaccount.com"))
///     .build()?;
/// let token = credentials.access_token().await?;
/// assert!(token.token().expose_secret().starts_with("ya29.c.emulated-"));
/// assert_eq!(credentials.service_account(), Some("app@my-project.iam.gserviceaccount.com"));
/// let request = iam.last_request().unwrap();
/// assert!(request.header("authorization").unwrap().starts_with("Bearer ya29.emulated-")); // the STS token
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
    ///
    /// ```
    /// use federated_credentials::google::ExternalAccountCredentials;
    /// use federated_credentials::source::StaticToken;
    /// use federated_credentials::token::TokenType;
    /// use federated_credentials::testkit::{GoogleIdentity, GoogleStsEmulator, IamCredentialsEmulator, ProviderSpec, ServiceAccountSpec};
    ///
    /// # #[tokio::main(flavor = "current_thread")]
    /// # async fn main() -> Result<(), Box<dyn std::error::Error>> {
    /// let audience = "//iam.googleapis.com/projects/123456/locations/global/workloadIdentityPools/pool/providers/oidc";
    /// let sts = GoogleStsEmulator::builder().provider(ProviderSpec::oidc(audience)).start().await?;
    /// let iam = IamCredentialsEmulator::start().await?;
    /// iam.trust_sts(&sts);
    /// # let exp = std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH)?.as_secs() + 3600;
    /// # let jwt = GoogleIdentity::shared().sign(&serde_json::json!({"sub": "workload", "exp": exp}));
    /// # let credentials = ExternalAccountCredentials::builder()
    /// #     .audience(audience)
    /// #     .token_source(StaticToken::new(jwt, TokenType::Jwt))
    /// #     .token_url(sts.token_url())
    /// #     .service_account_impersonation_url(iam.generate_access_token_url("app@my-project.iam.gserviceaccount.com"))
    /// #     .build()?;
    /// // No service account registered:
    /// assert_eq!(credentials.access_token().await.unwrap_err().upstream_code(), Some("NOT_FOUND"));
    /// # Ok(())
    /// # }
    /// ```
    pub async fn start() -> std::io::Result<Self> {
        Self::builder().start().await
    }

    /// A builder for custom settings.
    ///
    /// ```
    /// use federated_credentials::google::ExternalAccountCredentials;
    /// use federated_credentials::source::StaticToken;
    /// use federated_credentials::token::TokenType;
    /// use federated_credentials::testkit::{GoogleIdentity, GoogleStsEmulator, IamCredentialsEmulator, ProviderSpec, ServiceAccountSpec};
    ///
    /// # #[tokio::main(flavor = "current_thread")]
    /// # async fn main() -> Result<(), Box<dyn std::error::Error>> {
    /// let audience = "//iam.googleapis.com/projects/123456/locations/global/workloadIdentityPools/pool/providers/oidc";
    /// let sts = GoogleStsEmulator::builder().provider(ProviderSpec::oidc(audience)).start().await?;
    /// let iam = IamCredentialsEmulator::builder()
    ///     .service_account(ServiceAccountSpec::new("app@my-project.iam.gserviceaccount.com", "1234"))
    ///     .check_scopes(true)
    ///     .start()
    ///     .await?;
    /// iam.trust_sts(&sts);
    /// # let exp = std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH)?.as_secs() + 3600;
    /// # let jwt = GoogleIdentity::shared().sign(&serde_json::json!({"sub": "workload", "exp": exp}));
    /// # let credentials = ExternalAccountCredentials::builder()
    /// #     .audience(audience)
    /// #     .token_source(StaticToken::new(jwt, TokenType::Jwt))
    /// #     .token_url(sts.token_url())
    /// #     .service_account_impersonation_url(iam.generate_access_token_url("app@my-project.iam.gserviceaccount.com"))
    /// #     .build()?;
    /// credentials.access_token().await?;
    /// # Ok(())
    /// # }
    /// ```
    pub fn builder() -> IamCredentialsEmulatorBuilder {
        IamCredentialsEmulatorBuilder::default()
    }

    /// `http://127.0.0.1:PORT/v1/projects/-/serviceAccounts/{account}:generateAccessToken`,
    /// the `service_account_impersonation_url` to configure in the client.
    ///
    /// ```
    /// use federated_credentials::google::ExternalAccountCredentials;
    /// use federated_credentials::source::StaticToken;
    /// use federated_credentials::token::TokenType;
    /// use federated_credentials::testkit::{GoogleIdentity, GoogleStsEmulator, IamCredentialsEmulator, ProviderSpec, ServiceAccountSpec};
    ///
    /// # #[tokio::main(flavor = "current_thread")]
    /// # async fn main() -> Result<(), Box<dyn std::error::Error>> {
    /// # let audience = "//iam.googleapis.com/projects/123456/locations/global/workloadIdentityPools/pool/providers/oidc";
    /// # let sts = GoogleStsEmulator::builder().provider(ProviderSpec::oidc(audience)).start().await?;
    /// # let iam = IamCredentialsEmulator::builder()
    /// #     .service_account(ServiceAccountSpec::new("app@my-project.iam.gserviceaccount.com", "1234"))
    /// #     .start()
    /// #     .await?;
    /// # iam.trust_sts(&sts);
    /// # let exp = std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH)?.as_secs() + 3600;
    /// # let jwt = GoogleIdentity::shared().sign(&serde_json::json!({"sub": "workload", "exp": exp}));
    ///
    /// let url = iam.generate_access_token_url("app@my-project.iam.gserviceaccount.com");
    /// assert_eq!(url, format!("{}/v1/projects/-/serviceAccounts/app@my-project.iam.gserviceaccount.com:generateAccessToken", iam.base_url()));
    /// // What `service_account_impersonation_url` names in a credential configuration:
    /// let credentials = ExternalAccountCredentials::builder()
    ///     .audience(audience)
    ///     .token_source(StaticToken::new(jwt, TokenType::Jwt))
    ///     .token_url(sts.token_url())
    ///     .service_account_impersonation_url(url)
    ///     .build()?;
    /// credentials.access_token().await?;
    /// assert_eq!(iam.issued_access_tokens().len(), 1);
    /// # Ok(())
    /// # }
    /// ```
    pub fn generate_access_token_url(&self, account: &str) -> String {
        self.method_url(account, "generateAccessToken")
    }

    /// `http://127.0.0.1:PORT/v1/projects/-/serviceAccounts/{account}:generateIdToken`.
    ///
    /// ```
    /// use federated_credentials::google::ExternalAccountCredentials;
    /// use federated_credentials::source::StaticToken;
    /// use federated_credentials::token::TokenType;
    /// use federated_credentials::exchange::GenerateIdToken;
    /// use federated_credentials::source::SubjectTokenSource;
    /// use federated_credentials::testkit::{GoogleIdentity, GoogleStsEmulator, IamCredentialsEmulator, ProviderSpec, ServiceAccountSpec};
    ///
    /// # #[tokio::main(flavor = "current_thread")]
    /// # async fn main() -> Result<(), Box<dyn std::error::Error>> {
    /// # let audience = "//iam.googleapis.com/projects/123456/locations/global/workloadIdentityPools/pool/providers/oidc";
    /// # let sts = GoogleStsEmulator::builder().provider(ProviderSpec::oidc(audience)).start().await?;
    /// # let iam = IamCredentialsEmulator::builder()
    /// #     .service_account(ServiceAccountSpec::new("app@my-project.iam.gserviceaccount.com", "1234"))
    /// #     .start()
    /// #     .await?;
    /// # iam.trust_sts(&sts);
    /// # let exp = std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH)?.as_secs() + 3600;
    /// # let jwt = GoogleIdentity::shared().sign(&serde_json::json!({"sub": "workload", "exp": exp}));
    /// # let credentials = ExternalAccountCredentials::builder()
    /// #     .audience(audience)
    /// #     .token_source(StaticToken::new(jwt, TokenType::Jwt))
    /// #     .token_url(sts.token_url())
    /// #     .build()?;
    /// // Federated credentials (without impersonation) call generateIdToken for the account.
    /// let source = credentials.id_token_source(
    ///     GenerateIdToken::new("app@my-project.iam.gserviceaccount.com", "sts.amazonaws.com").base_url(format!("{}/v1", iam.base_url())),
    /// );
    /// let id_token = source.subject_token(&Default::default()).await?;
    /// let request = iam.last_request().unwrap();
    /// assert_eq!(format!("{}{}", iam.base_url(), request.path), iam.generate_id_token_url("app@my-project.iam.gserviceaccount.com"));
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
    ///
    /// ```
    /// use federated_credentials::google::ExternalAccountCredentials;
    /// use federated_credentials::source::StaticToken;
    /// use federated_credentials::token::TokenType;
    /// use federated_credentials::testkit::{GoogleIdentity, GoogleStsEmulator, IamCredentialsEmulator, ProviderSpec, ServiceAccountSpec};
    ///
    /// # #[tokio::main(flavor = "current_thread")]
    /// # async fn main() -> Result<(), Box<dyn std::error::Error>> {
    /// let audience = "//iam.googleapis.com/projects/123456/locations/global/workloadIdentityPools/pool/providers/oidc";
    /// let sts = GoogleStsEmulator::builder().provider(ProviderSpec::oidc(audience)).start().await?;
    /// let iam = IamCredentialsEmulator::builder()
    ///     .service_account(ServiceAccountSpec::new("app@my-project.iam.gserviceaccount.com", "1234"))
    ///     .start()
    ///     .await?;
    /// # let exp = std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH)?.as_secs() + 3600;
    /// # let jwt = GoogleIdentity::shared().sign(&serde_json::json!({"sub": "workload", "exp": exp}));
    /// # let credentials = ExternalAccountCredentials::builder()
    /// #     .audience(audience)
    /// #     .token_source(StaticToken::new(jwt, TokenType::Jwt))
    /// #     .token_url(sts.token_url())
    /// #     .service_account_impersonation_url(iam.generate_access_token_url("app@my-project.iam.gserviceaccount.com"))
    /// #     .build()?;
    /// assert_eq!(credentials.access_token().await.unwrap_err().upstream_code(), Some("UNAUTHENTICATED"));
    /// iam.trust_sts(&sts);
    /// assert!(credentials.access_token().await.is_ok());
    /// # Ok(())
    /// # }
    /// ```
    pub fn trust_sts(&self, sts: &GoogleStsEmulator) {
        let registry = sts.registry();
        let mut trusted = lock(&self.handler().trusted);
        if !trusted.iter().any(|known| known.same_as(&registry)) {
            trusted.push(registry);
        }
    }

    /// Registers a service account, replacing any account with the same email.
    ///
    /// ```
    /// use federated_credentials::google::ExternalAccountCredentials;
    /// use federated_credentials::source::StaticToken;
    /// use federated_credentials::token::TokenType;
    /// use federated_credentials::testkit::{GoogleIdentity, GoogleStsEmulator, IamCredentialsEmulator, ProviderSpec, ServiceAccountSpec};
    ///
    /// # #[tokio::main(flavor = "current_thread")]
    /// # async fn main() -> Result<(), Box<dyn std::error::Error>> {
    /// # let audience = "//iam.googleapis.com/projects/123456/locations/global/workloadIdentityPools/pool/providers/oidc";
    /// # let sts = GoogleStsEmulator::builder().provider(ProviderSpec::oidc(audience)).start().await?;
    /// # let iam = IamCredentialsEmulator::start().await?;
    /// # iam.trust_sts(&sts);
    /// # let exp = std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH)?.as_secs() + 3600;
    /// # let jwt = GoogleIdentity::shared().sign(&serde_json::json!({"sub": "workload", "exp": exp}));
    /// # let credentials = ExternalAccountCredentials::builder()
    /// #     .audience(audience)
    /// #     .token_source(StaticToken::new(jwt, TokenType::Jwt))
    /// #     .token_url(sts.token_url())
    /// #     .service_account_impersonation_url(iam.generate_access_token_url("app@my-project.iam.gserviceaccount.com"))
    /// #     .build()?;
    /// iam.add_service_account(ServiceAccountSpec::new("app@my-project.iam.gserviceaccount.com", "1234").allow_audience(audience));
    /// assert!(credentials.access_token().await.is_ok());
    /// # Ok(())
    /// # }
    /// ```
    pub fn add_service_account(&self, account: ServiceAccountSpec) {
        let mut accounts = lock(&self.handler().accounts);
        accounts.retain(|a| a.email() != account.email());
        accounts.push(account);
    }

    /// The key that signs ID tokens.
    ///
    /// ```
    /// use federated_credentials::google::ExternalAccountCredentials;
    /// use federated_credentials::source::StaticToken;
    /// use federated_credentials::token::TokenType;
    /// use federated_credentials::exchange::GenerateIdToken;
    /// use federated_credentials::source::SubjectTokenSource;
    /// use federated_credentials::testkit::{GoogleIdentity, GoogleStsEmulator, IamCredentialsEmulator, ProviderSpec, ServiceAccountSpec};
    ///
    /// # #[tokio::main(flavor = "current_thread")]
    /// # async fn main() -> Result<(), Box<dyn std::error::Error>> {
    /// # let audience = "//iam.googleapis.com/projects/123456/locations/global/workloadIdentityPools/pool/providers/oidc";
    /// # let sts = GoogleStsEmulator::builder().provider(ProviderSpec::oidc(audience)).start().await?;
    /// # let iam = IamCredentialsEmulator::builder()
    /// #     .service_account(ServiceAccountSpec::new("app@my-project.iam.gserviceaccount.com", "1234"))
    /// #     .start()
    /// #     .await?;
    /// # iam.trust_sts(&sts);
    /// # let exp = std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH)?.as_secs() + 3600;
    /// # let jwt = GoogleIdentity::shared().sign(&serde_json::json!({"sub": "workload", "exp": exp}));
    /// # let credentials = ExternalAccountCredentials::builder()
    /// #     .audience(audience)
    /// #     .token_source(StaticToken::new(jwt, TokenType::Jwt))
    /// #     .token_url(sts.token_url())
    /// #     .build()?;
    /// // Federated credentials (without impersonation) call generateIdToken for the account.
    /// let source = credentials.id_token_source(
    ///     GenerateIdToken::new("app@my-project.iam.gserviceaccount.com", "sts.amazonaws.com").base_url(format!("{}/v1", iam.base_url())),
    /// );
    /// let id_token = source.subject_token(&Default::default()).await?;
    /// assert!(iam.identity().verify(id_token.token().expose_secret()).is_ok());
    /// // The default signer is the shared identity, which AwsStsEmulator trusts by default.
    /// assert_eq!(iam.identity(), GoogleIdentity::shared());
    /// # Ok(())
    /// # }
    /// ```
    pub fn identity(&self) -> GoogleIdentity {
        self.handler().identity.clone()
    }

    /// Every access token minted so far, oldest first.
    ///
    /// ```
    /// use federated_credentials::google::ExternalAccountCredentials;
    /// use federated_credentials::source::StaticToken;
    /// use federated_credentials::token::TokenType;
    /// use federated_credentials::testkit::{GoogleIdentity, GoogleStsEmulator, IamCredentialsEmulator, ProviderSpec, ServiceAccountSpec};
    ///
    /// # #[tokio::main(flavor = "current_thread")]
    /// # async fn main() -> Result<(), Box<dyn std::error::Error>> {
    /// # let audience = "//iam.googleapis.com/projects/123456/locations/global/workloadIdentityPools/pool/providers/oidc";
    /// # let sts = GoogleStsEmulator::builder().provider(ProviderSpec::oidc(audience)).start().await?;
    /// # let iam = IamCredentialsEmulator::builder()
    /// #     .service_account(ServiceAccountSpec::new("app@my-project.iam.gserviceaccount.com", "1234"))
    /// #     .start()
    /// #     .await?;
    /// # iam.trust_sts(&sts);
    /// # let exp = std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH)?.as_secs() + 3600;
    /// # let jwt = GoogleIdentity::shared().sign(&serde_json::json!({"sub": "workload", "exp": exp}));
    /// # let credentials = ExternalAccountCredentials::builder()
    /// #     .audience(audience)
    /// #     .token_source(StaticToken::new(jwt, TokenType::Jwt))
    /// #     .token_url(sts.token_url())
    /// #     .service_account_impersonation_url(iam.generate_access_token_url("app@my-project.iam.gserviceaccount.com"))
    /// #     .build()?;
    /// let token = credentials.access_token().await?;
    /// let issued = iam.issued_access_tokens();
    /// assert_eq!(issued.len(), 1);
    /// assert_eq!(issued[0].access_token, token.token().expose_secret());
    /// assert_eq!(issued[0].lifetime, std::time::Duration::from_secs(3600));
    /// # Ok(())
    /// # }
    /// ```
    pub fn issued_access_tokens(&self) -> Vec<IssuedAccessToken> {
        lock(&self.handler().access_tokens).clone()
    }

    /// Every ID token minted so far, oldest first.
    ///
    /// ```
    /// use federated_credentials::google::ExternalAccountCredentials;
    /// use federated_credentials::source::StaticToken;
    /// use federated_credentials::token::TokenType;
    /// use federated_credentials::exchange::GenerateIdToken;
    /// use federated_credentials::source::SubjectTokenSource;
    /// use federated_credentials::testkit::{GoogleIdentity, GoogleStsEmulator, IamCredentialsEmulator, ProviderSpec, ServiceAccountSpec, decode_payload};
    ///
    /// # #[tokio::main(flavor = "current_thread")]
    /// # async fn main() -> Result<(), Box<dyn std::error::Error>> {
    /// # let audience = "//iam.googleapis.com/projects/123456/locations/global/workloadIdentityPools/pool/providers/oidc";
    /// # let sts = GoogleStsEmulator::builder().provider(ProviderSpec::oidc(audience)).start().await?;
    /// # let iam = IamCredentialsEmulator::builder()
    /// #     .service_account(ServiceAccountSpec::new("app@my-project.iam.gserviceaccount.com", "1234"))
    /// #     .start()
    /// #     .await?;
    /// # iam.trust_sts(&sts);
    /// # let exp = std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH)?.as_secs() + 3600;
    /// # let jwt = GoogleIdentity::shared().sign(&serde_json::json!({"sub": "workload", "exp": exp}));
    /// # let credentials = ExternalAccountCredentials::builder()
    /// #     .audience(audience)
    /// #     .token_source(StaticToken::new(jwt, TokenType::Jwt))
    /// #     .token_url(sts.token_url())
    /// #     .build()?;
    /// // Federated credentials (without impersonation) call generateIdToken for the account.
    /// let source = credentials.id_token_source(
    ///     GenerateIdToken::new("app@my-project.iam.gserviceaccount.com", "sts.amazonaws.com")
    ///         .include_email(true)
    ///         .base_url(format!("{}/v1", iam.base_url())),
    /// );
    /// let id_token = source.subject_token(&Default::default()).await?;
    /// let issued = iam.issued_id_tokens();
    /// assert_eq!(issued[0].token, id_token.token().expose_secret());
    /// assert!(issued[0].include_email);
    /// assert_eq!(decode_payload(&issued[0].token)?["email"], "app@my-project.iam.gserviceaccount.com");
    /// # Ok(())
    /// # }
    /// ```
    pub fn issued_id_tokens(&self) -> Vec<IssuedIdToken> {
        lock(&self.handler().id_tokens).clone()
    }

    /// Answers the next request with `{"error":{"code": code, "message": message, "status":
    /// status}}` and HTTP status `code`, queued with the generic
    /// [`Fault`](crate::testkit::Fault)s in push order.
    ///
    /// ```
    /// use federated_credentials::google::ExternalAccountCredentials;
    /// use federated_credentials::source::StaticToken;
    /// use federated_credentials::token::TokenType;
    /// use federated_credentials::testkit::{GoogleIdentity, GoogleStsEmulator, IamCredentialsEmulator, ProviderSpec, ServiceAccountSpec};
    ///
    /// # #[tokio::main(flavor = "current_thread")]
    /// # async fn main() -> Result<(), Box<dyn std::error::Error>> {
    /// # let audience = "//iam.googleapis.com/projects/123456/locations/global/workloadIdentityPools/pool/providers/oidc";
    /// # let sts = GoogleStsEmulator::builder().provider(ProviderSpec::oidc(audience)).start().await?;
    /// # let iam = IamCredentialsEmulator::builder()
    /// #     .service_account(ServiceAccountSpec::new("app@my-project.iam.gserviceaccount.com", "1234"))
    /// #     .start()
    /// #     .await?;
    /// # iam.trust_sts(&sts);
    /// # let exp = std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH)?.as_secs() + 3600;
    /// # let jwt = GoogleIdentity::shared().sign(&serde_json::json!({"sub": "workload", "exp": exp}));
    /// # let credentials = ExternalAccountCredentials::builder()
    /// #     .audience(audience)
    /// #     .token_source(StaticToken::new(jwt, TokenType::Jwt))
    /// #     .token_url(sts.token_url())
    /// #     .service_account_impersonation_url(iam.generate_access_token_url("app@my-project.iam.gserviceaccount.com"))
    /// #     .build()?;
    /// iam.push_rpc_error(403, "PERMISSION_DENIED", "Permission 'iam.serviceAccounts.getAccessToken' denied");
    /// let err = credentials.access_token().await.unwrap_err();
    /// assert_eq!(err.upstream_code(), Some("PERMISSION_DENIED"));
    /// assert_eq!(err.http_status(), Some(403));
    /// # Ok(())
    /// # }
    /// ```
    pub fn push_rpc_error(&self, code: u16, status: &str, message: &str) {
        self.push_rpc_error_times(code, status, message, 1);
    }

    /// Answers each of the next `times` requests with this error.
    ///
    /// ```
    /// use federated_credentials::google::ExternalAccountCredentials;
    /// use federated_credentials::source::StaticToken;
    /// use federated_credentials::token::TokenType;
    /// use federated_credentials::testkit::{GoogleIdentity, GoogleStsEmulator, IamCredentialsEmulator, ProviderSpec, ServiceAccountSpec};
    ///
    /// # #[tokio::main(flavor = "current_thread")]
    /// # async fn main() -> Result<(), Box<dyn std::error::Error>> {
    /// # let audience = "//iam.googleapis.com/projects/123456/locations/global/workloadIdentityPools/pool/providers/oidc";
    /// # let sts = GoogleStsEmulator::builder().provider(ProviderSpec::oidc(audience)).start().await?;
    /// # let iam = IamCredentialsEmulator::builder()
    /// #     .service_account(ServiceAccountSpec::new("app@my-project.iam.gserviceaccount.com", "1234"))
    /// #     .start()
    /// #     .await?;
    /// # iam.trust_sts(&sts);
    /// # let exp = std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH)?.as_secs() + 3600;
    /// # let jwt = GoogleIdentity::shared().sign(&serde_json::json!({"sub": "workload", "exp": exp}));
    /// # let credentials = ExternalAccountCredentials::builder()
    /// #     .audience(audience)
    /// #     .token_source(StaticToken::new(jwt, TokenType::Jwt))
    /// #     .token_url(sts.token_url())
    /// #     .service_account_impersonation_url(iam.generate_access_token_url("app@my-project.iam.gserviceaccount.com"))
    /// #     .build()?;
    /// // 503 is retried: the token arrives on the third attempt.
    /// iam.push_rpc_error_times(503, "UNAVAILABLE", "The service is currently unavailable.", 2);
    /// assert!(credentials.access_token().await.is_ok());
    /// assert_eq!(iam.request_count(), 3);
    /// # Ok(())
    /// # }
    /// ```
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
