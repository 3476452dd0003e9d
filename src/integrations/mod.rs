//! Adapters that hand [`ExternalAccountCredentials`](crate::google::ExternalAccountCredentials)
//! to other crates' credential traits, so Google Cloud clients built on them get their tokens
//! through Workload Identity Federation. Each is behind its own cargo feature.
//!
//! | feature | module | implements |
//! |---|---|---|
//! | `google-cloud-auth` | [`google_cloud_auth`] | `google_cloud_auth::credentials::CredentialsProvider` (the official `google-cloud-*` clients) |
//! | `gcloud-token` | [`gcloud_token`] | `token_source::TokenSource` and `TokenSourceProvider` (the `gcloud-*` community clients) |
//! | `gcp-auth` | [`gcp_auth`] | `gcp_auth::TokenProvider` |
//!
//! Every adapter is a thin, cheap-to-clone wrapper: the token cache stays in
//! `ExternalAccountCredentials`, so clones and adapters over the same credentials share one
//! cache, and errors keep their [`is_transient`](crate::Error::is_transient) flag (directly
//! where the other crate has one, otherwise as the error's source).

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
