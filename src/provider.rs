//! What the providers of every destination share: a cheap-to-clone handle on one
//! [`CredentialCache`] over a fetch pipeline (source, then one or more exchanges).
//!
//! [`WebIdentityProvider`](crate::aws::WebIdentityProvider) and
//! [`ExternalAccountCredentials`](crate::google::ExternalAccountCredentials) each add what
//! their callers speak (`ProvideCredentials`, `headers()`); the cache operations are the
//! same for both and live on the cache: [`get`](CredentialCache::get),
//! [`prefetch`](CredentialCache::prefetch), [`invalidate`](CredentialCache::invalidate),
//! [`metrics`](CredentialCache::metrics), [`completed_fetches`](CredentialCache::completed_fetches).
//! [`CachedProvider`] lets code that hands out credentials (an adapter, a server) take any
//! provider.
//!
//! ```no_run
//! use federated_credentials::CachedProvider;
//!
//! /// Fails fast at startup, whatever the provider.
//! async fn warm<P: CachedProvider>(provider: &P) -> Result<(), federated_credentials::Error> {
//!     provider.cache().prefetch().await
//! }
//! ```

use crate::cache::{CredentialCache, DynFetch};
use crate::token::Expiry;

/// The cache type of every provider handing out `C`.
pub type ProviderCache<C> = CredentialCache<DynFetch<C>>;

/// A provider of cached credentials of one type; its clones share the cache.
pub trait CachedProvider: Clone + Send + Sync + 'static {
    /// What the provider hands out.
    type Credential: Expiry + Send + Sync + 'static;

    /// The provider's cache, shared by its clones.
    fn cache(&self) -> &ProviderCache<Self::Credential>;
}
