//! The AWS STS error codes the emulator produces or can be scripted to return
//! ([`StsErrorCode`]), each with its HTTP status and `Sender`/`Receiver` fault type.

use std::fmt;

/// An AWS STS error code, as sent in `ErrorResponse/Error/Code`.
///
/// Push one with [`AwsStsEmulator::push_error`](super::AwsStsEmulator::push_error) to make
/// the next request fail the way the real service does.
///
/// ```
/// use federated_credentials_testkit::{AwsStsEmulator, StsErrorCode};
///
/// # #[tokio::main(flavor = "current_thread")]
/// # async fn main() -> Result<(), Box<dyn std::error::Error>> {
/// let sts = AwsStsEmulator::start().await?;
/// sts.push_error(StsErrorCode::Throttling); // a 400 that clients should retry
/// let http = reqwest::Client::builder().no_proxy().build()?;
/// let response = http.post(sts.endpoint()).send().await?;
/// assert_eq!(response.status(), StsErrorCode::Throttling.http_status());
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
    /// `OutboundWebIdentityFederationDisabledException` (403): `GetWebIdentityToken` before
    /// the account enabled outbound identity federation.
    OutboundWebIdentityFederationDisabled,
    /// `SessionDurationEscalationException` (403): the token would outlive the calling
    /// session.
    SessionDurationEscalation,
    /// `JWTPayloadSizeExceededException` (400): too many or too large tags.
    JwtPayloadSizeExceeded,
    /// `InvalidClientTokenId` (403): an unknown access key or session token.
    InvalidClientTokenId,
    /// `SignatureDoesNotMatch` (403): the SigV4 signature does not verify.
    SignatureDoesNotMatch,
    /// `MissingAuthenticationToken` (403): a signed operation without a signature.
    MissingAuthenticationToken,
}

impl StsErrorCode {
    /// The code as sent on the wire, e.g. `ExpiredTokenException`.
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
            Self::OutboundWebIdentityFederationDisabled => {
                "OutboundWebIdentityFederationDisabledException"
            }
            Self::SessionDurationEscalation => "SessionDurationEscalationException",
            Self::JwtPayloadSizeExceeded => "JWTPayloadSizeExceededException",
            Self::InvalidClientTokenId => "InvalidClientTokenId",
            Self::SignatureDoesNotMatch => "SignatureDoesNotMatch",
            Self::MissingAuthenticationToken => "MissingAuthenticationToken",
        }
    }

    /// The HTTP status STS answers with.
    pub fn http_status(self) -> u16 {
        match self {
            Self::IdpRejectedClaim
            | Self::AccessDenied
            | Self::RegionDisabled
            | Self::OutboundWebIdentityFederationDisabled
            | Self::SessionDurationEscalation
            | Self::InvalidClientTokenId
            | Self::SignatureDoesNotMatch
            | Self::MissingAuthenticationToken => 403,
            Self::ServiceUnavailable => 503,
            Self::InternalFailure => 500,
            _ => 400,
        }
    }

    /// `Sender` (the caller's fault) or `Receiver` (the service's), as in `Error/Type`.
    pub fn fault_type(self) -> &'static str {
        if self.http_status() >= 500 {
            "Receiver"
        } else {
            "Sender"
        }
    }

    /// A realistic message for scripted errors.
    pub fn default_message(self) -> &'static str {
        match self {
            Self::IdpCommunicationError => {
                "The request could not be fulfilled because the identity provider (IDP) that was asked to verify the incoming identity token could not be reached."
            }
            Self::InvalidIdentityToken => {
                "The ID Token provided is not a valid JWT. (You may see this error if you sent an Access Token)"
            }
            Self::ExpiredToken => "Token expired",
            Self::IdpRejectedClaim => "The identity provider rejected the claims in the token",
            Self::AccessDenied => "Not authorized to perform sts:AssumeRoleWithWebIdentity",
            Self::MalformedPolicyDocument => "The policy is not in the valid JSON format.",
            Self::PackedPolicyTooLarge => {
                "Packed size of consumed session policies exceeds the limit"
            }
            Self::RegionDisabled => {
                "STS is not activated in this region for account. Your account administrator can activate STS in this region using the IAM Console."
            }
            Self::ValidationError => "1 validation error detected",
            Self::Throttling => "Rate exceeded",
            Self::InvalidAction => "Could not find operation for version 2011-06-15",
            Self::MissingAction => "Missing Action",
            Self::ServiceUnavailable => "Service is unable to handle request.",
            Self::InternalFailure => "An internal error has occurred",
            Self::OutboundWebIdentityFederationDisabled => {
                "Outbound web identity federation is disabled for this account."
            }
            Self::SessionDurationEscalation => {
                "The requested token duration would extend the session beyond its original expiration time."
            }
            Self::JwtPayloadSizeExceeded => {
                "The requested token payload size exceeds the maximum allowed size."
            }
            Self::InvalidClientTokenId => "The security token included in the request is invalid.",
            Self::SignatureDoesNotMatch => {
                "The request signature we calculated does not match the signature you provided. Check your AWS Secret Access Key and signing method. Consult the service documentation for details."
            }
            Self::MissingAuthenticationToken => "Request is missing Authentication Token",
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
