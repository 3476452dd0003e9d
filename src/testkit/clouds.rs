//! [`Clouds`]: all five emulators started and wired together in one line, with the environment
//! and the credential configuration that point a workload at them. This is how to test code
//! that uses this crate (or any client that honours the same variables) offline.

use std::path::{Path, PathBuf};

use serde_json::json;

use super::{
    AwsStsEmulator, Ec2MetadataEmulator, GcpMetadataEmulator, GoogleIdentity, GoogleStsEmulator,
    IamCredentialsEmulator, ProviderSpec, RoleSpec, ServiceAccountSpec,
};
use crate::context::{Clock, Context, StaticEnv};

/// The workload identity pool provider for AWS identities that [`Clouds`] registers.
pub const AWS_PROVIDER_AUDIENCE: &str = "//iam.googleapis.com/projects/123456789012/locations/global/workloadIdentityPools/aws-pool/providers/aws";
/// The workload identity pool provider for OIDC tokens (JWTs signed by the emulated Google
/// identity) that [`Clouds`] registers.
pub const OIDC_PROVIDER_AUDIENCE: &str = "//iam.googleapis.com/projects/123456789012/locations/global/workloadIdentityPools/oidc-pool/providers/oidc";
/// The service account [`Clouds`] lets federated identities impersonate.
pub const SERVICE_ACCOUNT: &str = "workload@emulated-project.iam.gserviceaccount.com";
/// The audience the GCE metadata server's tokens are requested with for AWS.
pub const AWS_AUDIENCE: &str = "sts.amazonaws.com";

/// The GCE metadata server, AWS STS, EC2 IMDS, Google STS and IAM Credentials, started on
/// loopback and trusting each other like the real clouds do once set up:
///
/// - AWS STS has a role `workload` ([`Clouds::role_arn`]) trusting the metadata server's
///   default service account for audience `sts.amazonaws.com`;
/// - Google STS has an AWS provider ([`AWS_PROVIDER_AUDIENCE`]) for the IMDS role's account
///   and key, and an OIDC provider ([`OIDC_PROVIDER_AUDIENCE`]);
/// - IAM Credentials accepts Google STS tokens and knows [`SERVICE_ACCOUNT`].
///
/// ```
/// use federated_credentials::aws::WebIdentityProvider;
/// use federated_credentials::config::ExternalAccountConfig;
/// use federated_credentials::google::ExternalAccountCredentials;
/// use federated_credentials::testkit::Clouds;
///
/// # #[tokio::main(flavor = "current_thread")]
/// # async fn main() -> Result<(), Box<dyn std::error::Error>> {
/// let clouds = Clouds::start().await?;
///
/// // GCP → AWS, configured from the environment the emulators hand out
/// let aws = WebIdentityProvider::builder().context(clouds.context()).configure_from_env().build()?;
/// aws.credentials().await?;
///
/// // AWS → GCP, from the credential configuration they hand out
/// let dir = tempfile::tempdir()?;
/// let config = ExternalAccountConfig::from_file(clouds.write_external_account_config(dir.path())?)?;
/// let google = ExternalAccountCredentials::builder().context(clouds.context()).config(config).build()?;
/// google.access_token().await?;
/// # Ok(())
/// # }
/// ```
#[derive(Debug)]
#[non_exhaustive]
pub struct Clouds {
    /// The GCE/GKE metadata server.
    pub gcp_metadata: GcpMetadataEmulator,
    /// AWS STS.
    pub aws_sts: AwsStsEmulator,
    /// The EC2 instance metadata service.
    pub imds: Ec2MetadataEmulator,
    /// Google STS.
    pub google_sts: GoogleStsEmulator,
    /// IAM Credentials.
    pub iam: IamCredentialsEmulator,
}

impl Clouds {
    /// Starts all five with the system clock.
    pub async fn start() -> std::io::Result<Self> {
        Self::start_with_clock(crate::context::SystemClock).await
    }

    /// Starts all five sharing `clock` (e.g. a [`ManualClock`](crate::context::ManualClock)).
    ///
    /// ```
    /// use std::time::{Duration, UNIX_EPOCH};
    /// use federated_credentials::aws::WebIdentityProvider;
    /// use federated_credentials::context::{Context, ManualClock, StaticEnv};
    /// use federated_credentials::testkit::Clouds;
    ///
    /// # #[tokio::main(flavor = "current_thread")]
    /// # async fn main() -> Result<(), Box<dyn std::error::Error>> {
    /// let start = UNIX_EPOCH + Duration::from_secs(1_800_000_000);
    /// let clock = ManualClock::new(start);
    /// let clouds = Clouds::start_with_clock(clock.clone()).await?;
    /// // The workload under test must read the same clock.
    /// let ctx = Context::builder().clock(clock.clone()).env(StaticEnv::from_pairs(clouds.env())).build();
    /// let provider = WebIdentityProvider::builder().context(ctx).configure_from_env().build()?;
    /// assert_eq!(provider.credentials().await?.expiration(), start + Duration::from_secs(3600));
    /// # Ok(())
    /// # }
    /// ```
    pub async fn start_with_clock(clock: impl Clock + Clone + 'static) -> std::io::Result<Self> {
        let gcp_metadata = GcpMetadataEmulator::builder()
            .clock(clock.clone())
            .start()
            .await?;
        let aws_sts = AwsStsEmulator::builder()
            .clock(clock.clone())
            .start()
            .await?;
        aws_sts.add_role(
            RoleSpec::new(aws_sts.role_arn("workload"))
                .google_aud(&gcp_metadata.default_service_account().unique_id)
                .google_oaud(AWS_AUDIENCE),
        );
        let imds = Ec2MetadataEmulator::builder()
            .clock(clock.clone())
            .start()
            .await?;
        let google_sts = GoogleStsEmulator::builder()
            .clock(clock.clone())
            .provider(ProviderSpec::aws(
                AWS_PROVIDER_AUDIENCE,
                imds.credentials().account_id,
            ))
            .provider(ProviderSpec::oidc(OIDC_PROVIDER_AUDIENCE).trust(GoogleIdentity::shared()))
            .start()
            .await?;
        let role = imds.credentials();
        google_sts.trust_aws_session_key(
            role.access_key_id,
            role.secret_access_key,
            role.session_token,
            role.account_id,
        );
        let iam = IamCredentialsEmulator::builder()
            .clock(clock)
            .service_account(ServiceAccountSpec::new(
                SERVICE_ACCOUNT,
                "100000000000000000001",
            ))
            .start()
            .await?;
        iam.trust_sts(&google_sts);
        Ok(Self {
            gcp_metadata,
            aws_sts,
            imds,
            google_sts,
            iam,
        })
    }

    /// The ARN of the AWS role that trusts the metadata server's default service account.
    pub fn role_arn(&self) -> String {
        self.aws_sts.role_arn("workload")
    }

    /// The environment a workload needs to use the emulators: `GCE_METADATA_HOST`,
    /// `AWS_ENDPOINT_URL_STS`, `AWS_ROLE_ARN`, `FEDERATED_CREDENTIALS_GCP_AUDIENCE`,
    /// `AWS_EC2_METADATA_SERVICE_ENDPOINT`, `AWS_REGION`.
    ///
    /// ```
    /// # use federated_credentials::testkit::Clouds;
    /// # #[tokio::main(flavor = "current_thread")]
    /// # async fn main() -> std::io::Result<()> {
    /// let clouds = Clouds::start().await?;
    /// let mut workload = std::process::Command::new("my-workload"); // a child process under test
    /// workload.envs(clouds.env());
    /// # Ok(())
    /// # }
    /// ```
    pub fn env(&self) -> Vec<(String, String)> {
        vec![
            ("GCE_METADATA_HOST".into(), self.gcp_metadata.host()),
            ("AWS_ENDPOINT_URL_STS".into(), self.aws_sts.endpoint()),
            ("AWS_ROLE_ARN".into(), self.role_arn()),
            (crate::aws::GCP_AUDIENCE_ENV.into(), AWS_AUDIENCE.into()),
            (
                "AWS_EC2_METADATA_SERVICE_ENDPOINT".into(),
                self.imds.endpoint(),
            ),
            ("AWS_REGION".into(), "us-east-1".into()),
        ]
    }

    /// A [`Context`] whose environment is exactly [`env`](Self::env).
    pub fn context(&self) -> Context {
        Context::builder()
            .env(StaticEnv::from_pairs(self.env()))
            .build()
    }

    /// The `external_account` configuration an EC2 workload would use (IMDSv2, impersonating
    /// [`SERVICE_ACCOUNT`]), pointed at the emulators.
    pub fn external_account_config(&self) -> serde_json::Value {
        json!({
            "type": "external_account",
            "audience": AWS_PROVIDER_AUDIENCE,
            "subject_token_type": "urn:ietf:params:aws:token-type:aws4_request",
            "token_url": self.google_sts.token_url(),
            "service_account_impersonation_url": self.iam.generate_access_token_url(SERVICE_ACCOUNT),
            "credential_source": {
                "environment_id": "aws1",
                "region_url": self.imds.availability_zone_url(),
                "url": self.imds.credentials_url(),
                "regional_cred_verification_url": "https://sts.{region}.amazonaws.com?Action=GetCallerIdentity&Version=2011-06-15",
                "imdsv2_session_token_url": self.imds.token_url()
            }
        })
    }

    /// Writes [`external_account_config`](Self::external_account_config) to
    /// `dir/credentials.json` and returns the path (for `GOOGLE_APPLICATION_CREDENTIALS`).
    pub fn write_external_account_config(&self, dir: &Path) -> std::io::Result<PathBuf> {
        let path = dir.join("credentials.json");
        std::fs::write(
            &path,
            serde_json::to_string_pretty(&self.external_account_config())?,
        )?;
        Ok(path)
    }
}

#[cfg(test)]
mod tests;
