//! [`ServiceAccountSpec`]: a service account the IAM Credentials emulator can mint tokens for,
//! with who may impersonate it and how long its access tokens may live.

use std::time::Duration;

/// The default and maximum `lifetime` of access tokens.
const DEFAULT_MAX_LIFETIME: Duration = Duration::from_secs(3600);
/// The maximum for accounts listed in `constraints/iam.allowServiceAccountCredentialLifetimeExtension`.
const EXTENDED_MAX_LIFETIME: Duration = Duration::from_secs(43_200);

/// A service account registered with the
/// [`IamCredentialsEmulator`](super::IamCredentialsEmulator).
///
/// By default every caller the emulator authenticates may impersonate it; restrict that with
/// [`allow_audience`](Self::allow_audience), which names the Google STS provider (the
/// `audience` of the federated token) whose principals hold `roles/iam.serviceAccountTokenCreator`.
///
/// ```
/// use federated_credentials_testkit::ServiceAccountSpec;
///
/// let account = ServiceAccountSpec::new("reader@my-project.iam.gserviceaccount.com", "112233445566778899001")
///     .allow_audience("//iam.googleapis.com/projects/123456/locations/global/workloadIdentityPools/pool/providers/aws")
///     .allow_extended_lifetime();
/// assert_eq!(account.unique_id(), "112233445566778899001");
/// ```
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ServiceAccountSpec {
    email: String,
    unique_id: String,
    allowed_audiences: Vec<String>,
    extended_lifetime: bool,
}

impl ServiceAccountSpec {
    /// A service account with this email and numeric unique id, impersonable by any
    /// authenticated caller, with access tokens of at most one hour.
    pub fn new(email: impl Into<String>, unique_id: impl Into<String>) -> Self {
        Self {
            email: email.into(),
            unique_id: unique_id.into(),
            allowed_audiences: Vec::new(),
            extended_lifetime: false,
        }
    }

    /// Only callers whose federated token was issued for this STS `audience` (or another one
    /// given the same way) may impersonate the account; others get `403 PERMISSION_DENIED`.
    pub fn allow_audience(mut self, audience: impl Into<String>) -> Self {
        self.allowed_audiences.push(audience.into());
        self
    }

    /// Allows access-token lifetimes up to 12 hours, as the organization policy
    /// `constraints/iam.allowServiceAccountCredentialLifetimeExtension` does.
    pub fn allow_extended_lifetime(mut self) -> Self {
        self.extended_lifetime = true;
        self
    }

    /// The account's email.
    pub fn email(&self) -> &str {
        &self.email
    }

    /// The account's numeric unique id (`sub` and `azp` of its ID tokens).
    pub fn unique_id(&self) -> &str {
        &self.unique_id
    }

    /// Whether `id` (an email or unique id, as in the URL) names this account.
    pub(super) fn is(&self, id: &str) -> bool {
        id == self.email || id == self.unique_id
    }

    /// Whether a caller federated at `audience` may impersonate the account.
    pub(super) fn permits(&self, audience: &str) -> bool {
        self.allowed_audiences.is_empty() || self.allowed_audiences.iter().any(|a| a == audience)
    }

    /// The longest `lifetime` an access token may have.
    pub(super) fn max_lifetime(&self) -> Duration {
        if self.extended_lifetime {
            EXTENDED_MAX_LIFETIME
        } else {
            DEFAULT_MAX_LIFETIME
        }
    }
}
