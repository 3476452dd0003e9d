//! [`OAuthError`]: the RFC 6749 §5.2 error answers of Google STS (`{"error", "error_description"}`
//! with status 400, 401 or 403), including the shape of AWS verification failures.

use serde_json::json;

use crate::server::Response;

/// An STS error answer.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct OAuthError {
    pub(crate) status: u16,
    pub(crate) error: String,
    pub(crate) description: String,
}

impl OAuthError {
    pub(crate) fn new(
        status: u16,
        error: impl Into<String>,
        description: impl Into<String>,
    ) -> Self {
        Self {
            status,
            error: error.into(),
            description: description.into(),
        }
    }

    /// 400 `invalid_request`: a missing or bad parameter.
    pub(crate) fn invalid_request(description: impl Into<String>) -> Self {
        Self::new(400, "invalid_request", description)
    }

    /// 400 `invalid_grant`: a bad, expired or unverifiable subject token.
    pub(crate) fn invalid_grant(description: impl Into<String>) -> Self {
        Self::new(400, "invalid_grant", description)
    }

    /// 401 `invalid_client`: bad client authentication.
    pub(crate) fn invalid_client(description: impl Into<String>) -> Self {
        Self::new(401, "invalid_client", description)
    }

    /// 400 `unauthorized_client`: a valid credential the provider does not accept.
    pub(crate) fn unauthorized_client(description: impl Into<String>) -> Self {
        Self::new(400, "unauthorized_client", description)
    }

    /// `invalid_grant` carrying the error AWS answered when the request was replayed.
    pub(crate) fn aws(code: &str, message: impl AsRef<str>) -> Self {
        Self::invalid_grant(format!(
            "Received invalid AWS response of type {code} with error message: {}",
            message.as_ref()
        ))
    }

    /// The JSON answer.
    pub(crate) fn response(&self) -> Response {
        Response::json(
            self.status,
            &json!({"error": self.error, "error_description": self.description}),
        )
    }
}
