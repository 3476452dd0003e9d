//! [`ProviderSpec`]: a workload or workforce identity pool provider registered with the Google
//! STS emulator, and the subject token types it accepts.

use crate::jwt::GoogleIdentity;

/// A subject token type of RFC 8693 as Google STS knows them ([token API](https://cloud.google.com/iam/docs/reference/sts/rest/v1/TopLevel/token)).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum SubjectTokenType {
    Jwt,
    IdToken,
    Saml2,
    Aws4Request,
}

impl SubjectTokenType {
    const ALL: [Self; 4] = [Self::Jwt, Self::IdToken, Self::Saml2, Self::Aws4Request];

    pub(super) fn parse(urn: &str) -> Option<Self> {
        Self::ALL.into_iter().find(|kind| kind.urn() == urn)
    }

    pub(super) fn urn(self) -> &'static str {
        match self {
            Self::Jwt => "urn:ietf:params:oauth:token-type:jwt",
            Self::IdToken => "urn:ietf:params:oauth:token-type:id_token",
            Self::Saml2 => "urn:ietf:params:oauth:token-type:saml2",
            Self::Aws4Request => "urn:ietf:params:aws:token-type:aws4_request",
        }
    }
}

/// What kind of identity a provider federates.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(super) enum ProviderKind {
    /// AWS: `aws4_request` subject tokens from this AWS account.
    Aws { account_id: String },
    /// OIDC: JWT / ID-token subject tokens (and SAML when enabled).
    Oidc,
}

/// An identity pool provider the Google STS emulator accepts as `audience`.
///
/// - [`ProviderSpec::aws`]: accepts `urn:ietf:params:aws:token-type:aws4_request` subject
///   tokens, i.e. SigV4-signed `GetCallerIdentity` requests, verified against the AWS keys
///   trusted with
///   [`GoogleStsEmulator::trust_aws_key`](super::GoogleStsEmulator::trust_aws_key) and
///   required to come from the provider's AWS account.
/// - [`ProviderSpec::oidc`]: accepts `jwt` and `id_token` subject tokens that decode as a JWT
///   whose `exp` is after the emulator clock's now; with [`trust`](Self::trust) their RS256
///   signature must verify too. `saml2` only after [`accept_saml`](Self::accept_saml).
///
/// An audience of the form `//iam.googleapis.com/locations/LOC/workforcePools/...` is a
/// workforce pool provider: its exchanges need `options={"userProject":...}` unless the client
/// authenticates.
///
/// ```
/// use federated_credentials_testkit::{GoogleIdentity, ProviderSpec};
///
/// let aws = ProviderSpec::aws(
///     "//iam.googleapis.com/projects/123456/locations/global/workloadIdentityPools/pool/providers/aws",
///     "123456789012",
/// );
/// let oidc = ProviderSpec::oidc(
///     "//iam.googleapis.com/locations/global/workforcePools/staff/providers/idp",
/// )
/// .trust(GoogleIdentity::shared());
/// assert!(!aws.is_workforce_pool());
/// assert!(oidc.is_workforce_pool());
/// ```
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ProviderSpec {
    audience: String,
    kind: ProviderKind,
    trusted: Vec<GoogleIdentity>,
    issuer: Option<String>,
    allowed_audiences: Vec<String>,
    accept_saml: bool,
    require_client_auth: bool,
}

impl ProviderSpec {
    /// An AWS provider with this full resource name (the `audience`) for AWS account
    /// `aws_account_id`.
    pub fn aws(audience: impl Into<String>, aws_account_id: impl Into<String>) -> Self {
        Self::new(
            audience.into(),
            ProviderKind::Aws {
                account_id: aws_account_id.into(),
            },
        )
    }

    /// An OIDC provider with this full resource name (the `audience`). Without
    /// [`trust`](Self::trust) it checks the token's `exp` but not its signature.
    ///
    /// ```
    /// use federated_credentials::google::ExternalAccountCredentials;
    /// use federated_credentials::source::StaticToken;
    /// use federated_credentials::token::{SubjectToken, TokenType};
    /// use federated_credentials_testkit::{GoogleIdentity, GoogleStsEmulator, ProviderSpec};
    ///
    /// # #[tokio::main(flavor = "current_thread")]
    /// # async fn main() -> Result<(), Box<dyn std::error::Error>> {
    /// let audience = "//iam.googleapis.com/projects/123456/locations/global/workloadIdentityPools/pool/providers/oidc";
    /// let sts = GoogleStsEmulator::builder().provider(ProviderSpec::oidc(audience)).start().await?;
    /// // Without `trust`, any key will do, but an expired token is still refused.
    /// let jwt = GoogleIdentity::generate().sign(&serde_json::json!({"sub": "workload", "exp": 1_000_000_000}));
    /// // (sent as is: a `StaticToken::new` would notice the expiry and not send it at all)
    /// let unchecked = StaticToken::from_subject_token(SubjectToken::new(jwt, TokenType::Jwt));
    /// let credentials = ExternalAccountCredentials::builder()
    ///     .audience(audience)
    ///     .token_source(unchecked)
    ///     .token_url(sts.token_url())
    ///     .build()?;
    /// let err = credentials.access_token().await.unwrap_err();
    /// assert_eq!(err.upstream_code(), Some("invalid_grant"));
    /// # Ok(())
    /// # }
    /// ```
    pub fn oidc(audience: impl Into<String>) -> Self {
        Self::new(audience.into(), ProviderKind::Oidc)
    }

    fn new(audience: String, kind: ProviderKind) -> Self {
        Self {
            audience,
            kind,
            trusted: Vec::new(),
            issuer: None,
            allowed_audiences: Vec::new(),
            accept_saml: false,
            require_client_auth: false,
        }
    }

    /// Requires JWT subject tokens to carry a valid RS256 signature by `identity` (or by
    /// another identity given the same way).
    pub fn trust(mut self, identity: GoogleIdentity) -> Self {
        self.trusted.push(identity);
        self
    }

    /// The provider's issuer URI (`--issuer-uri`): JWT subject tokens must carry exactly this
    /// `iss`, and one of their `aud` values must be an allowed audience
    /// ([`allowed_audience`](Self::allowed_audience); by default the provider's full resource
    /// name, with or without `https:`), as Google checks them. Without an issuer URI the
    /// emulator checks neither.
    ///
    /// ```
    /// use federated_credentials_testkit::{GoogleIdentity, ProviderSpec};
    ///
    /// let aks = ProviderSpec::oidc(
    ///     "//iam.googleapis.com/projects/123456/locations/global/workloadIdentityPools/pool/providers/aks",
    /// )
    /// .issuer_uri("https://eastus.oic.prod-aks.azure.com/TENANT/CLUSTER/")
    /// .allowed_audience("api://AzureADTokenExchange")
    /// .trust(GoogleIdentity::shared());
    /// # let _ = aks;
    /// ```
    pub fn issuer_uri(mut self, issuer: impl Into<String>) -> Self {
        self.issuer = Some(issuer.into());
        self
    }

    /// Adds an allowed audience (`--allowed-audiences`), replacing the default one; checked
    /// only with an [`issuer_uri`](Self::issuer_uri).
    pub fn allowed_audience(mut self, audience: impl Into<String>) -> Self {
        self.allowed_audiences.push(audience.into());
        self
    }

    /// Also accepts `urn:ietf:params:oauth:token-type:saml2` subject tokens (any base64 text;
    /// the assertion itself is not checked). Meaningful for OIDC-like providers only.
    ///
    /// ```
    /// use federated_credentials::google::ExternalAccountCredentials;
    /// use federated_credentials::source::StaticToken;
    /// use federated_credentials::token::TokenType;
    /// use federated_credentials_testkit::{GoogleStsEmulator, ProviderSpec};
    ///
    /// # #[tokio::main(flavor = "current_thread")]
    /// # async fn main() -> Result<(), Box<dyn std::error::Error>> {
    /// let audience = "//iam.googleapis.com/locations/global/workforcePools/staff/providers/saml";
    /// let sts = GoogleStsEmulator::builder()
    ///     .provider(ProviderSpec::oidc(audience).accept_saml())
    ///     .start()
    ///     .await?;
    /// let assertion = "PHNhbWxwOlJlc3BvbnNlPi4uLjwvc2FtbHA6UmVzcG9uc2U+"; // base64 of a SAML response
    /// let credentials = ExternalAccountCredentials::builder()
    ///     .audience(audience)
    ///     .token_source(StaticToken::new(assertion, TokenType::Saml2))
    ///     .workforce_pool_user_project("my-project")
    ///     .token_url(sts.token_url())
    ///     .build()?;
    /// credentials.access_token().await?;
    /// assert_eq!(sts.issued_tokens()[0].subject_token_type, "urn:ietf:params:oauth:token-type:saml2");
    /// # Ok(())
    /// # }
    /// ```
    pub fn accept_saml(mut self) -> Self {
        self.accept_saml = true;
        self
    }

    /// Rejects exchanges without `Authorization: Basic` client authentication (401
    /// `invalid_client`).
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
    ///     .provider(ProviderSpec::oidc(audience).require_client_auth())
    ///     .client("my-client", "my-client-secret")
    ///     .start()
    ///     .await?;
    /// let jwt = GoogleIdentity::shared().sign(&serde_json::json!({"sub": "workload", "exp": 4_102_444_800u64}));
    /// let credentials = ExternalAccountCredentials::builder()
    ///     .audience(audience)
    ///     .token_source(StaticToken::new(jwt, TokenType::Jwt))
    ///     .token_url(sts.token_url())
    ///     .client_credentials("my-client", "my-client-secret") // without: 401 invalid_client
    ///     .build()?;
    /// credentials.access_token().await?;
    /// # Ok(())
    /// # }
    /// ```
    pub fn require_client_auth(mut self) -> Self {
        self.require_client_auth = true;
        self
    }

    /// The provider's full resource name, which clients send as `audience`.
    pub fn audience(&self) -> &str {
        &self.audience
    }

    /// Whether the audience names a workforce pool provider.
    pub fn is_workforce_pool(&self) -> bool {
        self.audience
            .strip_prefix("//iam.googleapis.com/locations/")
            .and_then(|rest| rest.split_once('/'))
            .is_some_and(|(_, rest)| rest.starts_with("workforcePools/"))
    }

    pub(super) fn kind(&self) -> &ProviderKind {
        &self.kind
    }

    pub(super) fn trusted(&self) -> &[GoogleIdentity] {
        &self.trusted
    }

    pub(super) fn issuer(&self) -> Option<&str> {
        self.issuer.as_deref()
    }

    /// The audiences a token must name one of: the configured ones, else the provider's
    /// resource name with and without `https:`.
    pub(super) fn allowed_audiences(&self) -> Vec<String> {
        if self.allowed_audiences.is_empty() {
            vec![self.audience.clone(), format!("https:{}", self.audience)]
        } else {
            self.allowed_audiences.clone()
        }
    }

    pub(super) fn requires_client_auth(&self) -> bool {
        self.require_client_auth
    }

    /// Whether subject tokens of this type can be exchanged with this provider.
    pub(super) fn accepts(&self, token_type: SubjectTokenType) -> bool {
        match (&self.kind, token_type) {
            (ProviderKind::Aws { .. }, SubjectTokenType::Aws4Request) => true,
            (ProviderKind::Oidc, SubjectTokenType::Jwt | SubjectTokenType::IdToken) => true,
            (ProviderKind::Oidc, SubjectTokenType::Saml2) => self.accept_saml,
            _ => false,
        }
    }
}

/// An AWS access key the emulator can verify signatures with, standing for AWS's key store.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(super) struct AwsKey {
    pub(super) access_key_id: String,
    pub(super) secret_access_key: String,
    /// When set, signed requests must carry exactly this `x-amz-security-token`.
    pub(super) session_token: Option<String>,
    pub(super) account_id: String,
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn token_types_and_acceptance() {
        for kind in SubjectTokenType::ALL {
            assert_eq!(SubjectTokenType::parse(kind.urn()), Some(kind));
        }
        assert_eq!(
            SubjectTokenType::parse("urn:ietf:params:oauth:token-type:id-token"),
            None
        );
        let aws = ProviderSpec::aws("//a", "1");
        assert!(aws.accepts(SubjectTokenType::Aws4Request));
        assert!(!aws.accepts(SubjectTokenType::Jwt));
        let oidc = ProviderSpec::oidc("//o");
        assert!(oidc.accepts(SubjectTokenType::IdToken));
        assert!(!oidc.accepts(SubjectTokenType::Saml2));
        assert!(!oidc.accepts(SubjectTokenType::Aws4Request));
        assert!(oidc.accept_saml().accepts(SubjectTokenType::Saml2));
    }

    #[test]
    fn workforce_pools() {
        let workforce = "//iam.googleapis.com/locations/global/workforcePools/p/providers/x";
        assert!(ProviderSpec::oidc(workforce).is_workforce_pool());
        let workload =
            "//iam.googleapis.com/projects/1/locations/global/workloadIdentityPools/p/providers/x";
        assert!(!ProviderSpec::oidc(workload).is_workforce_pool());
    }
}
