//! The `azure_identity` crate: [`AzureClientAssertion`] implements
//! [`azure_identity::ClientAssertion`] (azure_identity 1.x), so its `ClientAssertionCredential`
//! can present any of our sources (a GCE/GKE metadata token, an AWS outbound token, a GitHub
//! Actions job's token, a token file) to Entra.
//!
//! Prefer [`AzureTokenCredential`](super::azure_core::AzureTokenCredential) over
//! [`EntraCredentials`](crate::azure::EntraCredentials) where you can: it refreshes ahead of
//! expiry, serves the token through an Entra outage while it is valid, and its errors print
//! the assertion's `iss`/`sub`/`aud` when no federated credential matches. This adapter is for
//! code that is already built on `ClientAssertionCredential`.
//!
//! Each call of [`secret`](azure_identity::ClientAssertion::secret) asks the source (which
//! reads its token fresh, or from the metadata server): azure_identity calls it only when its
//! own token cache needs a new token. Errors become `azure_core::Error` of kind `Credential`
//! with ours as the source.
//!
//! Requires feature `azure-identity`.

use std::sync::Arc;

use ::azure_core::error::{Error as AzureError, ErrorKind as AzureErrorKind};
use ::azure_core::http::ClientMethodOptions;
use async_trait::async_trait;

use crate::context::Context;
use crate::source::SubjectTokenSource;

/// A [`SubjectTokenSource`] as an `azure_identity` [`ClientAssertion`](azure_identity::ClientAssertion).
///
/// ```no_run
/// use azure_identity::ClientAssertionCredential;
/// use federated_credentials::integrations::azure_identity::AzureClientAssertion;
/// use federated_credentials::source::GcpMetadataIdentityToken;
///
/// # fn run() -> azure_core::Result<()> {
/// let assertion = AzureClientAssertion::new(GcpMetadataIdentityToken::new("api://AzureADTokenExchange"));
/// let credential = ClientAssertionCredential::new(
///     "72f988bf-86f1-41af-91ab-2d7cd011db47".to_string(),
///     "00000000-0000-0000-0000-00000000c11d".to_string(),
///     assertion,
///     None,
/// )?;
/// # Ok(()) }
/// ```
#[derive(Clone)]
pub struct AzureClientAssertion {
    ctx: Context,
    source: Arc<dyn SubjectTokenSource>,
}

impl std::fmt::Debug for AzureClientAssertion {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("AzureClientAssertion")
            .field("source", &self.source.name())
            .finish()
    }
}

impl AzureClientAssertion {
    /// `source`'s tokens, fetched with the default context.
    pub fn new(source: impl SubjectTokenSource + 'static) -> Self {
        Self::shared(Arc::new(source))
    }

    /// Like [`new`](Self::new) for a shared source.
    pub fn shared(source: Arc<dyn SubjectTokenSource>) -> Self {
        Self {
            ctx: Context::default(),
            source,
        }
    }

    /// The context the source is asked with (clock, environment, HTTP client).
    #[must_use]
    pub fn context(mut self, ctx: Context) -> Self {
        self.ctx = ctx;
        self
    }
}

#[async_trait]
impl ::azure_identity::ClientAssertion for AzureClientAssertion {
    async fn secret(
        &self,
        _options: Option<ClientMethodOptions<'_>>,
    ) -> ::azure_core::Result<String> {
        let token = self.source.subject_token(&self.ctx).await.map_err(|e| {
            AzureError::new(
                AzureErrorKind::Credential,
                e.context(format!(
                    "getting the {} token for Entra",
                    self.source.name()
                )),
            )
        })?;
        Ok(token.token().expose_secret().to_owned())
    }
}
