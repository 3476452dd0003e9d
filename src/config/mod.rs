//! Configuration files: the Google `external_account` credential configuration that
//! `gcloud iam workload-identity-pools create-cred-config` writes, and AWS shared-config
//! profiles with web identity settings.
//!
//! ```
//! use federated_credentials::config::{AwsProfile, ExternalAccountConfig};
//! use std::path::Path;
//!
//! // AWS → GCP: the file `gcloud iam workload-identity-pools create-cred-config` writes.
//! let google = ExternalAccountConfig::from_json(r#"{
//!   "type": "external_account",
//!   "audience": "//iam.googleapis.com/projects/123456789/locations/global/workloadIdentityPools/aws-pool/providers/aws",
//!   "subject_token_type": "urn:ietf:params:aws:token-type:aws4_request",
//!   "token_url": "https://sts.googleapis.com/v1/token",
//!   "credential_source": {
//!     "environment_id": "aws1",
//!     "regional_cred_verification_url": "https://sts.{region}.amazonaws.com?Action=GetCallerIdentity&Version=2011-06-15"
//!   }
//! }"#)?;
//!
//! // GCP → AWS: a profile of ~/.aws/config.
//! let ini = "[profile gcp]\nfederated_credentials_role_arn = arn:aws:iam::123456789012:role/gcp-workload\nfederated_credentials_gcp_audience = sts.amazonaws.com\n";
//! let aws = AwsProfile::parse(ini, "gcp", Path::new("~/.aws/config"))?;
//! # Ok::<(), federated_credentials::Error>(())
//! ```

mod aws_profile;
mod external_account;
mod json;
mod source;

pub(crate) use aws_profile::expand_home;
pub use aws_profile::{AwsProfile, GCP_AUDIENCE_KEY, ROLE_ARN_KEY};
pub use external_account::{
    AwsSourceConfig, CredentialSource, ExternalAccountConfig, ExternalAccountConfigLoader,
};

#[cfg(test)]
mod tests {
    use super::*;
    use std::path::Path;

    #[test]
    fn both_directions_parse() {
        let google = ExternalAccountConfig::from_json(r#"{
          "type": "external_account",
          "audience": "//iam.googleapis.com/projects/123456789/locations/global/workloadIdentityPools/aws-pool/providers/aws",
          "subject_token_type": "urn:ietf:params:aws:token-type:aws4_request",
          "token_url": "https://sts.googleapis.com/v1/token",
          "credential_source": {
            "environment_id": "aws1",
            "regional_cred_verification_url": "https://sts.{region}.amazonaws.com?Action=GetCallerIdentity&Version=2011-06-15"
          }
        }"#)
        .unwrap();
        assert!(matches!(google.credential_source, CredentialSource::Aws(_)));
        let ini = "[profile gcp]\nfederated_credentials_role_arn = arn:aws:iam::123456789012:role/gcp-workload\nfederated_credentials_gcp_audience = sts.amazonaws.com\n";
        let aws = AwsProfile::parse(ini, "gcp", Path::new("~/.aws/config")).unwrap();
        assert_eq!(aws.gcp_audience.as_deref(), Some("sts.amazonaws.com"));
    }
}
