//! [`IssuedFederatedToken`] and the token registry a Google STS emulator shares with the IAM
//! Credentials emulators that trust it, so they can authenticate its access tokens.

use std::sync::{Arc, Mutex};
use std::time::SystemTime;

use crate::server::lock;

/// A federated access token the Google STS emulator issued, with what it was issued for.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub struct IssuedFederatedToken {
    /// The `access_token`: `ya29.emulated-` and random characters (or characters derived from
    /// the exchange, with
    /// [`deterministic_tokens`](crate::GoogleStsEmulatorBuilder::deterministic_tokens)).
    pub access_token: String,
    /// The provider's resource name the token was exchanged at (`audience`).
    pub audience: String,
    /// The requested scopes (`scope`, split on spaces; empty when absent or blank).
    pub scopes: Vec<String>,
    /// The `subject_token_type` URN.
    pub subject_token_type: String,
    /// Who the subject token identified: the access key id for `aws4_request` tokens (the
    /// role ARN is not derivable from a signature), the `sub` claim for JWTs, empty for SAML.
    pub subject: String,
    /// `options.userProject`, if sent.
    pub user_project: Option<String>,
    /// The client id of the `Authorization: Basic` client authentication, if any.
    pub client_id: Option<String>,
    /// When the token was issued, by the emulator clock.
    pub issued_at: SystemTime,
    /// `issued_at + expires_in`.
    pub expires_at: SystemTime,
}

/// The tokens one STS emulator issued. Cloning shares the registry.
#[derive(Debug, Clone, Default)]
pub(crate) struct TokenRegistry(Arc<Mutex<Vec<IssuedFederatedToken>>>);

impl TokenRegistry {
    pub(crate) fn record(&self, token: IssuedFederatedToken) {
        lock(&self.0).push(token);
    }

    pub(crate) fn all(&self) -> Vec<IssuedFederatedToken> {
        lock(&self.0).clone()
    }

    /// The newest record of `access_token` (a deterministic token is issued again and again).
    pub(crate) fn find(&self, access_token: &str) -> Option<IssuedFederatedToken> {
        lock(&self.0)
            .iter()
            .rev()
            .find(|token| token.access_token == access_token)
            .cloned()
    }

    /// Whether both handles share one registry.
    pub(crate) fn same_as(&self, other: &Self) -> bool {
        Arc::ptr_eq(&self.0, &other.0)
    }
}
