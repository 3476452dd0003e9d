//! [`GcpMetadataEmulator`]: a loopback emulator of the GCE/GKE metadata server (the part this
//! crate reads: OIDC identity tokens, access tokens, service-account email, project and zone),
//! enforcing the `Metadata-Flavor: Google` request header like the real server.

mod handler;

use std::sync::{Arc, Mutex};
use std::time::{Duration, SystemTime};

use self::handler::{Instance, MetadataHandler, TokenFormat};
use super::jwt::GoogleIdentity;
use super::server::{Server, emulator_controls, lock};
use federated_credentials::context::{Clock, SystemClock};

/// The scope of the `default` service account's access tokens.
const CLOUD_PLATFORM_SCOPE: &str = "https://www.googleapis.com/auth/cloud-platform";

/// A service account attached to the emulated instance.
///
/// ```
/// use federated_credentials::source::{GcpMetadataIdentityToken, SubjectTokenSource};
/// use federated_credentials_testkit::{decode_payload, GcpMetadataEmulator, ServiceAccount};
///
/// # #[tokio::main(flavor = "current_thread")]
/// # async fn main() -> Result<(), Box<dyn std::error::Error>> {
/// let app = ServiceAccount::new("app@my-project.iam.gserviceaccount.com", "112233445566778899001");
/// let mds = GcpMetadataEmulator::builder().default_service_account(app.clone()).start().await?;
/// let token = GcpMetadataIdentityToken::new("sts.amazonaws.com")
///     .metadata_host(mds.host())
///     .subject_token(&Default::default())
///     .await?;
/// let claims = decode_payload(token.token().expose_secret())?;
/// assert_eq!(claims["azp"], app.unique_id.as_str());
/// # Ok(())
/// # }
/// ```
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub struct ServiceAccount {
    /// Its email, e.g. `123456789-compute@developer.gserviceaccount.com`.
    pub email: String,
    /// Its numeric unique id (the OAuth2 client id), sent as `azp` and `sub` in ID tokens.
    pub unique_id: String,
    /// The OAuth scopes of its access tokens.
    pub scopes: Vec<String>,
}

impl ServiceAccount {
    /// A service account with the `cloud-platform` scope.
    pub fn new(email: impl Into<String>, unique_id: impl Into<String>) -> Self {
        Self {
            email: email.into(),
            unique_id: unique_id.into(),
            scopes: vec![CLOUD_PLATFORM_SCOPE.to_owned()],
        }
    }

    /// Returns the account with these scopes instead.
    pub fn with_scopes<S: Into<String>>(mut self, scopes: impl IntoIterator<Item = S>) -> Self {
        self.scopes = scopes.into_iter().map(Into::into).collect();
        self
    }
}

/// Builds a [`GcpMetadataEmulator`]; every setting has a realistic default.
///
/// ```
/// use federated_credentials::source::{GcpMetadataIdentityToken, IdTokenFormat, SubjectTokenSource};
/// use federated_credentials_testkit::{decode_payload, GcpMetadataEmulator};
///
/// # #[tokio::main(flavor = "current_thread")]
/// # async fn main() -> Result<(), Box<dyn std::error::Error>> {
/// let mds = GcpMetadataEmulator::builder()
///     .service_account("app@my-project.iam.gserviceaccount.com", "1234")
///     .project("my-project", 42)
///     .zone("europe-west1-b")
///     .start()
///     .await?;
/// let token = GcpMetadataIdentityToken::new("sts.amazonaws.com")
///     .format(IdTokenFormat::Full)
///     .metadata_host(mds.host())
///     .subject_token(&Default::default())
///     .await?;
/// let claims = decode_payload(token.token().expose_secret())?;
/// assert_eq!(claims["google"]["compute_engine"]["project_id"], "my-project");
/// # Ok(())
/// # }
/// ```
#[derive(Debug)]
pub struct GcpMetadataEmulatorBuilder {
    instance: Instance,
    identity: Option<GoogleIdentity>,
    clock: Arc<dyn Clock>,
    token_lifetime: Duration,
}

impl Default for GcpMetadataEmulatorBuilder {
    fn default() -> Self {
        Self {
            instance: Instance::default(),
            identity: None,
            clock: Arc::new(SystemClock),
            token_lifetime: Duration::from_secs(3600),
        }
    }
}

impl GcpMetadataEmulatorBuilder {
    /// The `default` service account: its email and numeric unique id (default
    /// `123456789-compute@developer.gserviceaccount.com`, `104729384756102938475`).
    pub fn service_account(
        mut self,
        email: impl Into<String>,
        unique_id: impl Into<String>,
    ) -> Self {
        self.instance.default_account = ServiceAccount::new(email, unique_id);
        self
    }

    /// Replaces the `default` service account, scopes included.
    pub fn default_service_account(mut self, account: ServiceAccount) -> Self {
        self.instance.default_account = account;
        self
    }

    /// Attaches another service account, reachable by its email in the path.
    pub fn extra_service_account(mut self, account: ServiceAccount) -> Self {
        self.instance.extra_accounts.push(account);
        self
    }

    /// The project id and number (default `test-project`, `123456789`).
    pub fn project(mut self, id: impl Into<String>, number: u64) -> Self {
        self.instance.project_id = id.into();
        self.instance.project_number = number;
        self
    }

    /// The zone name, e.g. `europe-west1-b` (default `us-central1-a`).
    pub fn zone(mut self, zone: impl Into<String>) -> Self {
        self.instance.zone = zone.into();
        self
    }

    /// The instance's numeric id and name (default `4502934710362847561`, `test-instance`).
    pub fn instance(mut self, id: u64, name: impl Into<String>) -> Self {
        self.instance.instance_id = id;
        self.instance.instance_name = name.into();
        self
    }

    /// The instance creation time in Unix seconds (default `1600000000`).
    pub fn instance_creation_timestamp(mut self, unix_secs: u64) -> Self {
        self.instance.instance_creation_timestamp = unix_secs;
        self
    }

    /// The license ids listed in `format=full&licenses=TRUE` tokens (default `["1000010"]`).
    pub fn licenses<S: Into<String>>(mut self, licenses: impl IntoIterator<Item = S>) -> Self {
        self.instance.licenses = licenses.into_iter().map(Into::into).collect();
        self
    }

    /// `exp - iat` of issued identity tokens (default one hour). Can be changed later with
    /// [`GcpMetadataEmulator::set_token_lifetime`].
    pub fn token_lifetime(mut self, lifetime: Duration) -> Self {
        self.token_lifetime = lifetime;
        self
    }

    /// The `expires_in` of access tokens (default 3599 s).
    pub fn access_token_expires_in(mut self, expires_in: Duration) -> Self {
        self.instance.access_token_expires_in = expires_in;
        self
    }

    /// The key that signs identity tokens (default [`GoogleIdentity::shared`]).
    pub fn identity(mut self, identity: GoogleIdentity) -> Self {
        self.identity = Some(identity);
        self
    }

    /// The clock for `iat`/`exp` (default the system clock). Pass a
    /// [`ManualClock`](federated_credentials::context::ManualClock) for deterministic tests.
    pub fn clock(mut self, clock: impl Clock + 'static) -> Self {
        self.clock = Arc::new(clock);
        self
    }

    /// Binds `127.0.0.1:0` and starts serving on the current tokio runtime.
    pub async fn start(self) -> std::io::Result<GcpMetadataEmulator> {
        let handler = MetadataHandler {
            instance: self.instance,
            identity: self.identity.unwrap_or_else(GoogleIdentity::shared),
            clock: self.clock,
            token_lifetime: Mutex::new(self.token_lifetime),
        };
        Ok(GcpMetadataEmulator {
            server: Server::start(handler).await?,
        })
    }
}

/// A loopback emulator of the GCE/GKE metadata server.
///
/// Point clients at it with `GCE_METADATA_HOST` = [`host()`](Self::host). It serves:
///
/// | Path (under `/computeMetadata/v1/`) | Answer |
/// |---|---|
/// | `/`, `/computeMetadata/v1/` | `200`, a directory listing (the detection ping) |
/// | `instance/service-accounts/{default\|EMAIL}/identity?audience=A[&format=standard\|full][&licenses=TRUE\|FALSE]` | `200`, the bare RS256 JWT; `400` for a missing audience or bad `format`/`licenses` |
/// | `instance/service-accounts/{default\|EMAIL}/token[?scopes=S1,S2]` | `200`, `{"access_token","expires_in","token_type":"Bearer"}` |
/// | `instance/service-accounts/{default\|EMAIL}/email`, `.../scopes` | `200`, text |
/// | `instance/service-accounts/{default\|EMAIL}/?recursive=true` | `200`, JSON `aliases`, `email`, `scopes` |
/// | `project/project-id`, `project/numeric-project-id`, `instance/zone`, `instance/id`, `instance/name` | `200`, text |
///
/// An unknown service account or path gives `404`. Every request must carry
/// `Metadata-Flavor: Google` and no `X-Forwarded-For`, else `403`; every response, faults
/// included, carries `Metadata-Flavor: Google`.
///
/// Identity-token claims: `iss` = `https://accounts.google.com`, `aud` = the audience, `azp` =
/// `sub` = the account's unique id, `email`, `email_verified`, `iat`, `exp`; `format=full` adds
/// `google.compute_engine` (`project_id`, `project_number` as a number, `zone`, `instance_id` as
/// a string, `instance_name`, `instance_creation_timestamp`, and `license_id` with
/// `licenses=TRUE`).
///
/// ```
/// use federated_credentials::context::{Context, StaticEnv};
/// use federated_credentials::source::{GcpMetadataIdentityToken, SubjectTokenSource};
/// use federated_credentials_testkit::GcpMetadataEmulator;
///
/// # #[tokio::main(flavor = "current_thread")]
/// # async fn main() -> Result<(), Box<dyn std::error::Error>> {
/// let mds = GcpMetadataEmulator::start().await?;
/// // What a workload under test would see on a VM:
/// let ctx = Context::builder()
///     .env(StaticEnv::from_pairs([("GCE_METADATA_HOST", mds.host())]))
///     .build();
/// let token = GcpMetadataIdentityToken::new("sts.amazonaws.com").subject_token(&ctx).await?;
/// assert!(mds.identity().verify(token.token().expose_secret()).is_ok());
/// # Ok(())
/// # }
/// ```
#[derive(Debug)]
pub struct GcpMetadataEmulator {
    server: Server<MetadataHandler>,
}

emulator_controls!(GcpMetadataEmulator);

impl GcpMetadataEmulator {
    /// Starts an emulator with the default settings (see [`GcpMetadataEmulatorBuilder`]).
    pub async fn start() -> std::io::Result<Self> {
        Self::builder().start().await
    }

    /// A builder for custom settings.
    pub fn builder() -> GcpMetadataEmulatorBuilder {
        GcpMetadataEmulatorBuilder::default()
    }

    /// `127.0.0.1:PORT`: the value for `GCE_METADATA_HOST` (no scheme).
    pub fn host(&self) -> String {
        self.local_addr().to_string()
    }

    /// The key that signs the identity tokens; give it to the STS emulator to trust.
    pub fn identity(&self) -> GoogleIdentity {
        self.handler().identity.clone()
    }

    /// The `default` service account.
    pub fn default_service_account(&self) -> &ServiceAccount {
        &self.handler().instance.default_account
    }

    /// The project id.
    pub fn project_id(&self) -> &str {
        &self.handler().instance.project_id
    }

    /// The project number.
    pub fn project_number(&self) -> u64 {
        self.handler().instance.project_number
    }

    /// Changes `exp - iat` of the identity tokens issued from now on. [`Duration::ZERO`] makes
    /// tokens that are already expired when issued (`exp == iat`).
    ///
    /// ```
    /// use std::time::Duration;
    /// use federated_credentials::source::{GcpMetadataIdentityToken, SubjectTokenSource};
    /// use federated_credentials_testkit::GcpMetadataEmulator;
    /// use federated_credentials::ErrorKind;
    ///
    /// # #[tokio::main(flavor = "current_thread")]
    /// # async fn main() -> Result<(), Box<dyn std::error::Error>> {
    /// let mds = GcpMetadataEmulator::start().await?;
    /// mds.set_token_lifetime(Duration::ZERO);
    /// let source = GcpMetadataIdentityToken::new("sts.amazonaws.com").metadata_host(mds.host());
    /// let err = source.subject_token(&Default::default()).await.unwrap_err();
    /// assert_eq!(err.kind(), ErrorKind::Expired); // the source checks `exp` before using a token
    /// # Ok(())
    /// # }
    /// ```
    pub fn set_token_lifetime(&self, lifetime: Duration) {
        *lock(&self.handler().token_lifetime) = lifetime;
    }

    /// A `format=standard` identity token for the `default` account, issued now by the
    /// emulator's clock, exactly as the identity endpoint would sign it but with this lifetime.
    pub fn issue_identity_token(&self, audience: &str, lifetime: Duration) -> String {
        let handler = self.handler();
        self.issue_identity_token_at(audience, handler.clock.now(), lifetime)
    }

    /// Like [`issue_identity_token`](Self::issue_identity_token) with an explicit issue time,
    /// e.g. two hours ago with a one-hour lifetime for a token that expired an hour ago.
    ///
    /// ```
    /// use std::time::{Duration, SystemTime};
    /// use federated_credentials::source::{StaticToken, SubjectTokenSource};
    /// use federated_credentials_testkit::GcpMetadataEmulator;
    /// use federated_credentials::token::TokenType;
    /// use federated_credentials::ErrorKind;
    ///
    /// # #[tokio::main(flavor = "current_thread")]
    /// # async fn main() -> Result<(), Box<dyn std::error::Error>> {
    /// let mds = GcpMetadataEmulator::start().await?;
    /// let two_hours_ago = SystemTime::now() - Duration::from_secs(2 * 3600);
    /// let expired = mds.issue_identity_token_at("sts.amazonaws.com", two_hours_ago, Duration::from_secs(3600));
    /// let source = StaticToken::new(expired, TokenType::Jwt);
    /// let err = source.subject_token(&Default::default()).await.unwrap_err();
    /// assert_eq!(err.kind(), ErrorKind::Expired);
    /// # Ok(())
    /// # }
    /// ```
    pub fn issue_identity_token_at(
        &self,
        audience: &str,
        issued_at: SystemTime,
        lifetime: Duration,
    ) -> String {
        let handler = self.handler();
        let claims = handler.identity_claims(
            &handler.instance.default_account,
            audience,
            TokenFormat::Standard,
            issued_at,
            lifetime,
        );
        handler.identity.sign(&claims)
    }

    fn handler(&self) -> &MetadataHandler {
        self.server.handler()
    }
}

#[cfg(test)]
mod tests;
