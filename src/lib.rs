//! Keyless cross-cloud workload identity.
//!
//! `federated-credentials` lets a workload in one cloud get credentials for another with
//! nothing but its own ambient identity: no static keys, no secrets to rotate.
//!
//! **GCP → AWS.** A Compute Engine VM or GKE pod fetches a Google-signed OIDC token from the
//! metadata server, trades it at AWS STS `AssumeRoleWithWebIdentity`, and hands the
//! temporary credentials to every AWS SDK client through `aws-config`:
//!
//! ```no_run
//! use federated_credentials::aws::WebIdentityProvider;
//! use federated_credentials::source::GcpMetadataIdentityToken;
//!
//! # async fn run() -> Result<(), federated_credentials::Error> {
//! let provider = WebIdentityProvider::builder()
//!     .token_source(GcpMetadataIdentityToken::new("sts.amazonaws.com"))
//!     .role_arn("arn:aws:iam::123456789012:role/gcp-workload")
//!     .configure_sts(|sts| sts.region("us-east-1"))
//!     .build()?;
//! // aws_config::defaults(BehaviorVersion::latest()).credentials_provider(provider).load().await
//! # Ok(()) }
//! ```
//!
//! Every credential flows the same way: a **source** says who the workload is
//! ([`source`]), an **exchange** trades that for a credential in the other cloud
//! ([`exchange`]), a **cache** keeps it fresh ([`cache`]), and an **adapter** speaks the
//! caller's trait ([`aws::WebIdentityProvider`] implements `ProvideCredentials`). Each stage
//! is a trait, so any one can be replaced.
//!
//! Everything the crate reads from the outside world (clock, environment, HTTP) comes
//! through a [`context::Context`], so tests run offline against loopback emulators: the
//! [`federated-credentials-testkit`](https://docs.rs/federated-credentials-testkit) crate
//! (a dev-dependency) has one for every endpoint the crate talks to.
//!
//! Secrets live in [`secret::SecretString`] (or the AWS SDK's own redacting types) and never
//! reach `Debug`, `Display`, errors or logs.
//!
//! ## Features
//!
//! | feature | what it adds |
//! |---|---|
//! | `cli` | the `federated-credentials` command (clap) |
//! | `google-cloud-auth` | `integrations::google_cloud_auth`: `ExternalAccountCredentials` as a `google-cloud-auth` 1.x `CredentialsProvider`, for the official Google Cloud client libraries |
//! | `gcloud-token` | `integrations::gcloud_token`: `TokenSource`/`TokenSourceProvider` (`token-source` 1.x), for the `gcloud-*` community clients |
//! | `gcp-auth` | `integrations::gcp_auth`: a `gcp_auth` 0.12 `TokenProvider` |
#![cfg_attr(docsrs, feature(doc_cfg))]
#![deny(missing_docs)]
#![forbid(unsafe_code)]

pub mod aws;
pub mod azure;
pub mod cache;
pub mod config;
pub mod context;
pub mod default_chain;
pub mod error;
pub mod exchange;
pub mod file_cache;
#[cfg(feature = "fuzzing")]
#[doc(hidden)]
pub mod fuzzing;
pub mod google;
pub mod http;
#[cfg(any(
    feature = "google-cloud-auth",
    feature = "gcloud-token",
    feature = "gcp-auth",
    feature = "azure"
))]
#[cfg_attr(
    docsrs,
    doc(cfg(any(
        feature = "google-cloud-auth",
        feature = "gcloud-token",
        feature = "gcp-auth",
        feature = "azure"
    )))
)]
pub mod integrations;
pub mod jwt;
pub mod provider;
pub mod secret;
#[cfg(feature = "server")]
#[cfg_attr(docsrs, doc(cfg(feature = "server")))]
pub mod server;
pub mod source;
pub mod token;
mod xml;

pub use error::{Error, ErrorKind, Service};
pub use provider::CachedProvider;
