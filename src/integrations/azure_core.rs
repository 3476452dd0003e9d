//! The Azure SDK for Rust: [`AzureTokenCredential`] implements
//! [`azure_core::credentials::TokenCredential`] (azure_core 1.x), so every client built on it
//! (`azure_storage_blob`, `azure_security_keyvault_secrets`, …) takes Entra tokens obtained
//! with a foreign identity through [`EntraCredentials`].
//!
//! **Scopes.** Azure clients ask for the scope of their service (`https://storage.azure.com/.default`
//! for Blob Storage). An Entra token is for one resource, so each distinct scope set gets its own
//! [`EntraCredentials`] (same identity, its own cache), made on first use with
//! [`EntraCredentials::with_scopes`]; the scopes the credentials were built with are used as
//! they are. Looking one up is lock-free; at most [`MAX_SCOPE_SETS`] are kept, and a request for
//! more is an error rather than unbounded growth.
//!
//! **Refresh.** azure_core's `BearerTokenAuthorizationPolicy` (1.1.0) keeps the token it gets
//! and asks again when it is within 5 minutes of `expires_on`; our cache refreshes earlier (the
//! policy's window, 10 minutes by default), so the policy gets a fresh token when it asks and its
//! requests do not wait on Entra.
//!
//! **Errors.** Our [`Error`] becomes an `azure_core::Error` of kind `Credential` with ours as the
//! source: `err.source().and_then(|s| s.downcast_ref::<federated_credentials::Error>())` gives back
//! the kind, the AADSTS code and [`is_transient`](Error::is_transient).
//!
//! Requires feature `azure`.

use std::collections::HashMap;
use std::sync::{Arc, Mutex, PoisonError};
use std::time::SystemTime;

use ::azure_core::credentials::{
    AccessToken as AzureAccessToken, TokenCredential, TokenRequestOptions,
};
use ::azure_core::error::{Error as AzureError, ErrorKind as AzureErrorKind};
use arc_swap::ArcSwap;
use async_trait::async_trait;

use crate::azure::EntraCredentials;
use crate::cache::NO_EXPIRY_LIFETIME;
use crate::error::Error;

/// How many scope sets one [`AzureTokenCredential`] keeps credentials for.
pub const MAX_SCOPE_SETS: usize = 32;

/// A scope set, trimmed, sorted and without duplicates.
type ScopeKey = Box<[String]>;

fn scope_key<'a>(scopes: impl IntoIterator<Item = &'a str>) -> ScopeKey {
    let mut key: Vec<String> = scopes
        .into_iter()
        .map(str::trim)
        .filter(|s| !s.is_empty())
        .map(str::to_owned)
        .collect();
    key.sort_unstable();
    key.dedup();
    key.into_boxed_slice()
}

/// [`EntraCredentials`] as an `azure_core` [`TokenCredential`]. Cheap to clone: clones share
/// the caches.
///
/// ```no_run
/// use std::sync::Arc;
/// use azure_core::credentials::TokenCredential;
/// use federated_credentials::context::Context;
/// use federated_credentials::integrations::azure_core::AzureTokenCredential;
///
/// # async fn run() -> Result<(), Box<dyn std::error::Error>> {
/// let entra = federated_credentials::default_chain::entra(
///     &Context::default(),
///     "https://storage.azure.com/.default",
/// )
/// .await?;
/// // What azure_storage_blob's BlobServiceClient::new(endpoint, Some(credential), None) takes.
/// let credential: Arc<dyn TokenCredential> = Arc::new(AzureTokenCredential::new(entra));
/// # Ok(()) }
/// ```
#[derive(Clone)]
pub struct AzureTokenCredential {
    inner: Arc<Inner>,
}

struct Inner {
    base: EntraCredentials,
    base_key: ScopeKey,
    others: ArcSwap<HashMap<ScopeKey, EntraCredentials>>,
    adding: Mutex<()>,
}

impl std::fmt::Debug for AzureTokenCredential {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let others = self.inner.others.load();
        f.debug_struct("AzureTokenCredential")
            .field("credentials", &self.inner.base)
            .field("scopes", &self.inner.base_key)
            .field("other_scope_sets", &others.keys().collect::<Vec<_>>())
            .finish()
    }
}

impl AzureTokenCredential {
    /// Wraps `credentials`; their scopes are served from their own cache, other scope sets
    /// from credentials derived on first use.
    pub fn new(credentials: EntraCredentials) -> Self {
        let base_key = scope_key(credentials.scopes().iter().map(String::as_str));
        Self {
            inner: Arc::new(Inner {
                base: credentials,
                base_key,
                others: ArcSwap::from_pointee(HashMap::new()),
                adding: Mutex::new(()),
            }),
        }
    }

    /// The credentials for `scopes`: the wrapped ones, or ones for that scope set.
    pub fn credentials_for(&self, scopes: &[&str]) -> Result<EntraCredentials, Error> {
        let key = scope_key(scopes.iter().copied());
        if key.is_empty() {
            return Err(Error::config(
                "scopes",
                "get_token was called without a scope: ask for `RESOURCE/.default`, e.g. https://storage.azure.com/.default",
            ));
        }
        if key == self.inner.base_key {
            return Ok(self.inner.base.clone());
        }
        if let Some(found) = self.inner.others.load().get(&key) {
            return Ok(found.clone());
        }
        let _adding = self
            .inner
            .adding
            .lock()
            .unwrap_or_else(PoisonError::into_inner);
        let current = self.inner.others.load_full();
        if let Some(found) = current.get(&key) {
            return Ok(found.clone());
        }
        if current.len() >= MAX_SCOPE_SETS {
            return Err(Error::config(
                "scopes",
                format!(
                    "this credential already serves {MAX_SCOPE_SETS} scope sets; share one AzureTokenCredential per \
                     resource instead of asking for ever new scopes"
                ),
            ));
        }
        let made = self.inner.base.with_scopes(key.iter().cloned())?;
        let mut next = HashMap::clone(&current);
        next.insert(key, made.clone());
        self.inner.others.store(Arc::new(next));
        Ok(made)
    }
}

/// Our error as azure_core's, kind `Credential`, ours as its source.
fn to_azure_error(e: Error) -> AzureError {
    AzureError::new(AzureErrorKind::Credential, e)
}

#[async_trait]
impl TokenCredential for AzureTokenCredential {
    async fn get_token(
        &self,
        scopes: &[&str],
        _options: Option<TokenRequestOptions<'_>>,
    ) -> ::azure_core::Result<AzureAccessToken> {
        let credentials = self.credentials_for(scopes).map_err(to_azure_error)?;
        let token = credentials.access_token().await.map_err(to_azure_error)?;
        let expires_at = token
            .expires_at()
            .unwrap_or_else(|| credentials.now() + NO_EXPIRY_LIFETIME);
        Ok(AzureAccessToken::new(
            token.token().expose_secret().to_owned(),
            offset_date_time(expires_at),
        ))
    }
}

fn offset_date_time(at: SystemTime) -> ::azure_core::time::OffsetDateTime {
    ::azure_core::time::OffsetDateTime::from(at)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn scope_keys_ignore_order_spaces_and_duplicates() {
        assert_eq!(
            scope_key([" b/.default", "a/.default", "b/.default", ""]),
            scope_key(["a/.default", "b/.default"])
        );
        assert!(scope_key(["  "]).is_empty());
    }
}
