//! Adapters that hand [`ExternalAccountCredentials`](crate::google::ExternalAccountCredentials)
//! and [`EntraCredentials`](crate::azure::EntraCredentials) to other crates' credential traits,
//! so Google Cloud and Azure clients built on them get their tokens through workload identity
//! federation. Each is behind its own cargo feature.
//!
//! | feature | module | implements |
//! |---|---|---|
//! | `google-cloud-auth` | [`google_cloud_auth`] | `google_cloud_auth::credentials::CredentialsProvider` (the official `google-cloud-*` clients) |
//! | `gcloud-token` | [`gcloud_token`] | `token_source::TokenSource` and `TokenSourceProvider` (the `gcloud-*` community clients) |
//! | `gcp-auth` | [`gcp_auth`] | `gcp_auth::TokenProvider` |
//! | `azure` | [`azure_core`] | `azure_core::credentials::TokenCredential` (the Azure SDK for Rust clients), over [`EntraCredentials`](crate::azure::EntraCredentials) |
//! | `azure-identity` | [`azure_identity`] | `azure_identity::ClientAssertion` (any of our sources as the assertion of its `ClientAssertionCredential`) |
//!
//! Every adapter is a thin, cheap-to-clone wrapper: the token cache stays in
//! `ExternalAccountCredentials` (or `EntraCredentials`), so clones and adapters over the same credentials share one
//! cache, and errors keep their [`is_transient`](crate::Error::is_transient) flag (directly
//! where the other crate has one, otherwise as the error's source).
//!
//! ```
//! use federated_credentials::google::ExternalAccountCredentials;
//!
//! # use federated_credentials::source::StaticToken;
//! # use federated_credentials::token::TokenType;
//! # let federated = ExternalAccountCredentials::builder()
//! #     .audience("//iam.googleapis.com/projects/123456/locations/global/workloadIdentityPools/pool/providers/oidc")
//! #     .token_source(StaticToken::new("eyJhbGciOi...", TokenType::Jwt))
//! #     .build()?;
//! // `federated`: e.g. ExternalAccountCredentials::from_env()?; one token cache for all of:
//! # #[cfg(feature = "google-cloud-auth")] {
//! let official = federated_credentials::integrations::google_cloud_auth::GoogleCloudAuthProvider::new(federated.clone());
//! # }
//! # #[cfg(feature = "gcloud-token")] {
//! let community = federated_credentials::integrations::gcloud_token::GcloudTokenSource::new(federated.clone());
//! # }
//! # #[cfg(feature = "gcp-auth")] {
//! let gcp_auth = federated_credentials::integrations::gcp_auth::GcpAuthProvider::new(federated.clone());
//! # }
//! # Ok::<(), federated_credentials::Error>(())
//! ```

#[cfg(feature = "azure")]
#[cfg_attr(docsrs, doc(cfg(feature = "azure")))]
pub mod azure_core;
#[cfg(feature = "azure-identity")]
#[cfg_attr(docsrs, doc(cfg(feature = "azure-identity")))]
pub mod azure_identity;
#[cfg(any(feature = "google-cloud-auth", feature = "gcp-auth"))]
mod derived;
#[cfg(feature = "gcloud-token")]
#[cfg_attr(docsrs, doc(cfg(feature = "gcloud-token")))]
pub mod gcloud_token;
#[cfg(feature = "gcp-auth")]
#[cfg_attr(docsrs, doc(cfg(feature = "gcp-auth")))]
pub mod gcp_auth;
#[cfg(feature = "google-cloud-auth")]
#[cfg_attr(docsrs, doc(cfg(feature = "google-cloud-auth")))]
pub mod google_cloud_auth;
