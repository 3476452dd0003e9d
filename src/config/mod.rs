//! Configuration files: the Google `external_account` credential configuration that
//! `gcloud iam workload-identity-pools create-cred-config` writes, and AWS shared-config
//! profiles with web identity settings.

mod aws_profile;
mod external_account;
mod json;

pub use aws_profile::{AwsProfile, GCP_AUDIENCE_KEY};
pub use external_account::{AwsSourceConfig, CredentialSource, ExternalAccountConfig};
