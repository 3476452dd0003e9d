//! The AWS STS error codes the emulator produces or can be scripted to return
//! ([`StsErrorCode`]), each with its HTTP status and `Sender`/`Receiver` fault type.

use std::fmt;

/// An AWS STS error code, as sent in `ErrorResponse/Error/Code`.
///
/// Push one with [`AwsStsEmulator::push_error`](super::AwsStsEmulator::push_error) to make
/// the next request fail the way the real service does.
///
/// ```
/// use federated_credentials::aws::WebIdentityProvider;
/// use federated_credentials::source::GcpMetadataIdentityToken;
/// use federated_credentials::testkit::{AwsStsEmulator, GcpMetadataEmulator, RoleSpec, StsErrorCode};
/// use federated_credentials::ErrorKind;
///
/// # #[tokio::main(flavor = "current_thread")]
/// # async fn main() -> Result<(), Box<dyn std::error::Error>> {
/// # let mds = GcpMetadataEmulator::start().await?;
/// # let sts = AwsStsEmulator::start().await?;
/// # let role_arn = sts.role_arn("workload");
/// # sts.add_role(RoleSpec::new(&role_arn));
/// # let provider = WebIdentityProvider::builder()
/// #     .token_source(GcpMetadataIdentityToken::new("sts.amazonaws.com").metadata_host(mds.host()))
/// #     .role_arn(&role_arn)
/// #     .sts_endpoint(sts.endpoint())
/// #     .build()?;
/// let code = StsErrorCode::InvalidIdentityToken;
/// sts.push_error(code);
/// let err = provider.credentials().await.unwrap_err();
/// assert_eq!(err.kind(), ErrorKind::Upstream);
/// assert_eq!(err.upstream_code(), Some(code.code()));
/// assert_eq!(err.http_status(), Some(code.http_status()));
///
/// // An expired token is worth one more try, with a fresh token: the provider recovers.
/// sts.push_error(StsErrorCode::ExpiredToken);
/// assert!(provider.credentials().await.is_ok());
/// # Ok(())
/// # }
/// ```
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum StsErrorCode {
    /// `IDPCommunicationError` (400): STS could not reach the identity provider. Retryable.
    IdpCommunicationError,
    /// `InvalidIdentityToken` (400): bad signature, issuer or format.
    InvalidIdentityToken,
    /// `ExpiredTokenException` (400): the web identity token has expired.
    ExpiredToken,
    /// `IDPRejectedClaim` (403): the identity provider or the claims were rejected.
    IdpRejectedClaim,
    /// `AccessDenied` (403): no such role, or its trust policy does not allow the token.
    AccessDenied,
    /// `MalformedPolicyDocument` (400): the `Policy` parameter is not a valid policy.
    MalformedPolicyDocument,
    /// `PackedPolicyTooLarge` (400): the session policies are too large.
    PackedPolicyTooLarge,
    /// `RegionDisabledException` (403): STS is not activated in this region.
    RegionDisabled,
    /// `ValidationError` (400): a parameter violates its constraints.
    ValidationError,
    /// `Throttling` (400): rate exceeded. Retryable.
    Throttling,
    /// `InvalidAction` (400): unknown `Action`, or wrong `Version`.
    InvalidAction,
    /// `MissingAction` (400): no `Action` parameter.
    MissingAction,
    /// `ServiceUnavailable` (503, `Receiver`). Retryable.
    ServiceUnavailable,
    /// `InternalFailure` (500, `Receiver`). Retryable.
    InternalFailure,
}

impl StsErrorCode {
    /// The code as sent on the wire, e.g. `ExpiredTokenException`.
    ///
    /// ```
    /// use federated_credentials::testkit::StsErrorCode;
    ///
    /// assert_eq!(StsErrorCode::ExpiredToken.code(), "ExpiredTokenException");
    /// assert_eq!(StsErrorCode::IdpCommunicationError.code(), "IDPCommunicationError");
    /// assert_eq!(StsErrorCode::AccessDenied.to_string(), "AccessDenied"); // `Display` is the code
    /// ```
    pub fn code(self) -> &'static str {
        match self {
            Self::IdpCommunicationError => "IDPCommunicationError",
            Self::InvalidIdentityToken => "InvalidIdentityToken",
            Self::ExpiredToken => "ExpiredTokenException",
            Self::IdpRejectedClaim => "IDPRejectedClaim",
            Self::AccessDenied => "AccessDenied",
            Self::MalformedPolicyDocument => "MalformedPolicyDocument",
            Self::PackedPolicyTooLarge => "PackedPolicyTooLarge",
            Self::RegionDisabled => "RegionDisabledException",
            Self::ValidationError => "ValidationError",
            Self::Throttling => "Throttling",
            Self::InvalidAction => "InvalidAction",
            Self::MissingAction => "MissingAction",
            Self::ServiceUnavailable => "ServiceUnavailable",
            Self::InternalFailure => "InternalFailure",
        }
    }

    /// The HTTP status STS answers with.
    ///
    /// ```
    /// use federated_credentials::testkit::StsErrorCode;
    ///
    /// assert_eq!(StsErrorCode::InvalidIdentityToken.http_status(), 400);
    /// assert_eq!(StsErrorCode::AccessDenied.http_status(), 403);
    /// assert_eq!(StsErrorCode::ServiceUnavailable.http_status(), 503);
    /// // Throttling is a 400 on the wire: only the code says it is worth retrying.
    /// assert_eq!(StsErrorCode::Throttling.http_status(), 400);
    /// ```
    pub fn http_status(self) -> u16 {
        match self {
            Self::IdpRejectedClaim | Self::AccessDenied | Self::RegionDisabled => 403,
            Self::ServiceUnavailable => 503,
            Self::InternalFailure => 500,
            _ => 400,
        }
    }

    /// `Sender` (the caller's fault) or `Receiver` (the service's), as in `Error/Type`.
    ///
    /// ```
    /// use federated_credentials::testkit::{AwsStsEmulator, StsErrorCode};
    ///
    /// # #[tokio::main(flavor = "current_thread")]
    /// # async fn main() -> Result<(), Box<dyn std::error::Error>> {
    /// assert_eq!(StsErrorCode::ValidationError.fault_type(), "Sender");
    /// assert_eq!(StsErrorCode::InternalFailure.fault_type(), "Receiver");
    /// let sts = AwsStsEmulator::start().await?;
    /// sts.push_error(StsErrorCode::InternalFailure);
    /// let http = reqwest::Client::builder().no_proxy().build()?;
    /// let xml = http.post(sts.endpoint()).send().await?.text().await?;
    /// assert!(xml.contains("<Type>Receiver</Type>"), "{xml}");
    /// # Ok(())
    /// # }
    /// ```
    pub fn fault_type(self) -> &'static str {
        if self.http_status() >= 500 {
            "Receiver"
        } else {
            "Sender"
        }
    }

    /// A realistic message for scripted errors.
    ///
    /// ```
    /// use federated_credentials::testkit::{AwsStsEmulator, StsErrorCode};
    ///
    /// # #[tokio::main(flavor = "current_thread")]
    /// # async fn main() -> Result<(), Box<dyn std::error::Error>> {
    /// let sts = AwsStsEmulator::start().await?;
    /// sts.push_error(StsErrorCode::Throttling);
    /// let http = reqwest::Client::builder().no_proxy().build()?;
    /// let xml = http.post(sts.endpoint()).send().await?.text().await?;
    /// let message = StsErrorCode::Throttling.default_message();
    /// assert!(xml.contains(&format!("<Message>{message}</Message>")), "{xml}");
    /// # Ok(())
    /// # }
    /// ```
    pub fn default_message(self) -> &'static str {
        match self {
            Self::IdpCommunicationError => {
                "The request could not be fulfilled because the identity provider (IDP) that was asked to verify the incoming identity token could not be reached."
            }
            Self::InvalidIdentityToken => "The ID Token provided is not a valid JWT. (You may see this error if you sent an Access Token)",
            Self::ExpiredToken => "Token expired",
            Self::IdpRejectedClaim => "The identity provider rejected the claims in the token",
            Self::AccessDenied => "Not authorized to perform sts:AssumeRoleWithWebIdentity",
            Self::MalformedPolicyDocument => "The policy is not in the valid JSON format.",
            Self::PackedPolicyTooLarge => "Packed size of consumed session policies exceeds the limit",
            Self::RegionDisabled => {
                "STS is not activated in this region for account. Your account administrator can activate STS in this region using the IAM Console."
            }
            Self::ValidationError => "1 validation error detected",
            Self::Throttling => "Rate exceeded",
            Self::InvalidAction => "Could not find operation for version 2011-06-15",
            Self::MissingAction => "Missing Action",
            Self::ServiceUnavailable => "Service is unable to handle request.",
            Self::InternalFailure => "An internal error has occurred",
        }
    }
}

impl fmt::Display for StsErrorCode {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.code())
    }
}

/// An error answer: a code and its message.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct StsError {
    pub(crate) code: StsErrorCode,
    pub(crate) message: String,
}

impl StsError {
    pub(crate) fn new(code: StsErrorCode, message: impl Into<String>) -> Self {
        Self {
            code,
            message: message.into(),
        }
    }

    pub(crate) fn validation(message: impl Into<String>) -> Self {
        Self::new(StsErrorCode::ValidationError, message)
    }

    pub(crate) fn invalid_token(message: impl Into<String>) -> Self {
        Self::new(StsErrorCode::InvalidIdentityToken, message)
    }

    pub(crate) fn access_denied() -> Self {
        let code = StsErrorCode::AccessDenied;
        Self::new(code, code.default_message())
    }
}
