//! Configuration files: the Google `external_account` credential configuration that
//! `gcloud iam workload-identity-pools create-cred-config` writes.

mod external_account;
mod json;

pub use external_account::{AwsSourceConfig, CredentialSource, ExternalAccountConfig};
