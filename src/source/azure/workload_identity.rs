//! [`AzureWorkloadIdentityToken`]: the service-account token that Azure workload identity
//! projects into an AKS pod (`AZURE_FEDERATED_TOKEN_FILE`), re-read on every fetch because
//! the kubelet rotates it (reading it once is the bug azure-sdk-for-rust 1739 shipped).

use async_trait::async_trait;

use crate::context::Context;
use crate::error::{Error, ErrorKind, Service};
use crate::source::{SubjectTokenSource, TokenFile};
use crate::token::SubjectToken;

/// The variable the workload identity webhook sets to the projected token's path.
pub const FEDERATED_TOKEN_FILE_ENV: &str = "AZURE_FEDERATED_TOKEN_FILE";

/// The projected token of an AKS pod with Azure workload identity: a Kubernetes
/// service-account JWT from the cluster's OIDC issuer, with audience
/// `api://AzureADTokenExchange`, read from `AZURE_FEDERATED_TOKEN_FILE` (or a path given
/// here) on every fetch.
///
/// ```
/// use federated_credentials::context::{Context, StaticEnv};
/// use federated_credentials::source::AzureWorkloadIdentityToken;
///
/// let pod = Context::builder()
///     .env(StaticEnv::from_pairs([(
///         "AZURE_FEDERATED_TOKEN_FILE",
///         "/var/run/secrets/azure/tokens/azure-identity-token",
///     )]))
///     .build();
/// assert!(AzureWorkloadIdentityToken::is_available(&pod));
/// let source = AzureWorkloadIdentityToken::new();
/// # let _ = source;
/// ```
#[derive(Debug, Clone, Default)]
pub struct AzureWorkloadIdentityToken {
    path: Option<String>,
}

impl AzureWorkloadIdentityToken {
    /// The token at `AZURE_FEDERATED_TOKEN_FILE`, looked up on each fetch.
    pub fn new() -> Self {
        Self::default()
    }

    /// The token at `path` instead of `AZURE_FEDERATED_TOKEN_FILE`.
    pub fn path(mut self, path: impl Into<String>) -> Self {
        self.path = Some(path.into());
        self
    }

    /// Whether `AZURE_FEDERATED_TOKEN_FILE` is set (the pod uses workload identity).
    pub fn is_available(ctx: &Context) -> bool {
        ctx.env().get_non_empty(FEDERATED_TOKEN_FILE_ENV).is_some()
    }
}

#[async_trait]
impl SubjectTokenSource for AzureWorkloadIdentityToken {
    async fn subject_token(&self, ctx: &Context) -> Result<SubjectToken, Error> {
        let (path, setting) = match &self.path {
            Some(path) => (path.clone(), "path"),
            None => {
                let path = ctx.env().get_non_empty(FEDERATED_TOKEN_FILE_ENV).ok_or_else(|| {
                    Error::new(
                        ErrorKind::NotAvailable,
                        Service::TokenFile,
                        format!("{FEDERATED_TOKEN_FILE_ENV} is not set: on AKS, enable the workload identity add-on, label the pod `azure.workload.identity/use: \"true\"` and annotate its service account with `azure.workload.identity/client-id`"),
                    )
                })?;
                (path.trim().to_string(), FEDERATED_TOKEN_FILE_ENV)
            }
        };
        TokenFile::text(path)
            .setting_name(setting)
            .subject_token(ctx)
            .await
    }

    fn name(&self) -> &'static str {
        "azure-workload-identity"
    }
}
