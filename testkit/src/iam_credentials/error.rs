//! [`RpcError`]: the `google.rpc.Status` JSON envelope of IAM Credentials errors
//! (`{"error":{"code","message","status","details"}}`, the standard Google API error body).

use serde_json::{Value, json};

use crate::server::Response;

/// The `service` of the `ErrorInfo` details.
const SERVICE: &str = "iamcredentials.googleapis.com";

/// An IAM Credentials error answer.
#[derive(Debug, Clone, PartialEq)]
pub(crate) struct RpcError {
    pub(crate) code: u16,
    pub(crate) status: String,
    pub(crate) message: String,
    pub(crate) details: Vec<Value>,
}

impl RpcError {
    pub(crate) fn new(code: u16, status: impl Into<String>, message: impl Into<String>) -> Self {
        Self {
            code,
            status: status.into(),
            message: message.into(),
            details: Vec::new(),
        }
    }

    /// 400 `INVALID_ARGUMENT`.
    pub(crate) fn invalid_argument(message: impl Into<String>) -> Self {
        Self::new(400, "INVALID_ARGUMENT", message)
    }

    /// 401 `UNAUTHENTICATED`, with an `ErrorInfo` giving `reason`.
    pub(crate) fn unauthenticated(reason: &str) -> Self {
        Self::new(
            401,
            "UNAUTHENTICATED",
            "Request had invalid authentication credentials. Expected OAuth 2 access token, login cookie or other valid authentication credential. See https://developers.google.com/identity/sign-in/web/devconsole-project.",
        )
        .with_error_info(reason, "googleapis.com", json!({"service": SERVICE}))
    }

    /// 403 `PERMISSION_DENIED` for IAM `permission` on `resource`, with the
    /// `IAM_PERMISSION_DENIED` `ErrorInfo`.
    pub(crate) fn permission_denied(permission: &str, resource: &str) -> Self {
        Self::new(
            403,
            "PERMISSION_DENIED",
            format!(
                "Permission '{permission}' denied on resource '{resource}' (or it may not exist)."
            ),
        )
        .with_error_info(
            "IAM_PERMISSION_DENIED",
            "iam.googleapis.com",
            json!({"permission": permission}),
        )
    }

    /// 403 `PERMISSION_DENIED`: the bearer token lacks the `iam` / `cloud-platform` scope.
    pub(crate) fn insufficient_scopes() -> Self {
        Self::new(
            403,
            "PERMISSION_DENIED",
            "Request had insufficient authentication scopes.",
        )
        .with_error_info(
            "ACCESS_TOKEN_SCOPE_INSUFFICIENT",
            "googleapis.com",
            json!({"service": SERVICE}),
        )
    }

    /// 404 `NOT_FOUND`.
    pub(crate) fn not_found(message: impl Into<String>) -> Self {
        Self::new(404, "NOT_FOUND", message)
    }

    fn with_error_info(mut self, reason: &str, domain: &str, metadata: Value) -> Self {
        self.details.push(json!({
            "@type": "type.googleapis.com/google.rpc.ErrorInfo",
            "reason": reason,
            "domain": domain,
            "metadata": metadata,
        }));
        self
    }

    /// The JSON answer.
    pub(crate) fn response(&self) -> Response {
        let mut error = json!({"code": self.code, "message": self.message, "status": self.status});
        if !self.details.is_empty() {
            error["details"] = Value::Array(self.details.clone());
        }
        Response::json(self.code, &json!({ "error": error }))
    }
}
