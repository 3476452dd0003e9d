//! [`Clouds`]: all five emulators started and wired together in one line, with the environment
//! and the credential configuration that point a workload at them. This is how to test code
//! that uses `federated-credentials` (or any client that honours the same variables) offline.

use std::path::{Path, PathBuf};

use serde_json::json;

use std::fmt;
use std::sync::Arc;

use super::{
    AwsStsEmulator, AwsStsEmulatorBuilder, Ec2MetadataEmulator, Ec2MetadataEmulatorBuilder,
    GcpMetadataEmulator, GcpMetadataEmulatorBuilder, GoogleIdentity, GoogleStsEmulator,
    GoogleStsEmulatorBuilder, IamCredentialsEmulator, IamCredentialsEmulatorBuilder, ProviderSpec,
    RoleSpec, ServiceAccountSpec,
};
use federated_credentials::context::{Clock, Context, StaticEnv, SystemClock};

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
/// use federated_credentials_testkit::Clouds;
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
        Self::start_with_clock(federated_credentials::context::SystemClock).await
    }

    /// Starts all five sharing `clock` (e.g. a [`ManualClock`](federated_credentials::context::ManualClock)).
    ///
    /// ```
    /// use std::time::{Duration, UNIX_EPOCH};
    /// use federated_credentials::aws::WebIdentityProvider;
    /// use federated_credentials::context::{Context, ManualClock, StaticEnv};
    /// use federated_credentials_testkit::Clouds;
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
        Self::builder().clock(clock).start().await
    }

    /// A builder to change one emulator's settings (its clock, credential lifetimes, identity)
    /// while keeping the wiring: every hook receives that emulator's builder with the shared
    /// clock already set, and runs before the emulators start.
    ///
    /// ```
    /// use std::time::Duration;
    /// use federated_credentials_testkit::Clouds;
    ///
    /// # #[tokio::main(flavor = "current_thread")]
    /// # async fn main() -> std::io::Result<()> {
    /// let clouds = Clouds::builder()
    ///     .imds(|imds| imds.credentials_lifetime(Duration::from_secs(6 * 3600)))
    ///     .start()
    ///     .await?;
    /// # Ok(())
    /// # }
    /// ```
    pub fn builder() -> CloudsBuilder {
        CloudsBuilder::default()
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
    /// # use federated_credentials_testkit::Clouds;
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
            (
                federated_credentials::aws::GCP_AUDIENCE_ENV.into(),
                AWS_AUDIENCE.into(),
            ),
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

type Hook<B> = Box<dyn FnOnce(B) -> B + Send>;

/// Builds [`Clouds`] with per-emulator settings; see [`Clouds::builder`].
#[must_use]
pub struct CloudsBuilder {
    clock: Option<Arc<dyn Clock>>,
    gcp_metadata: Hook<GcpMetadataEmulatorBuilder>,
    aws_sts: Hook<AwsStsEmulatorBuilder>,
    imds: Hook<Ec2MetadataEmulatorBuilder>,
    google_sts: Hook<GoogleStsEmulatorBuilder>,
    iam: Hook<IamCredentialsEmulatorBuilder>,
}

impl Default for CloudsBuilder {
    fn default() -> Self {
        Self {
            clock: None,
            gcp_metadata: Box::new(|b| b),
            aws_sts: Box::new(|b| b),
            imds: Box::new(|b| b),
            google_sts: Box::new(|b| b),
            iam: Box::new(|b| b),
        }
    }
}

impl fmt::Debug for CloudsBuilder {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("CloudsBuilder")
            .field("clock", &self.clock.is_some())
            .finish_non_exhaustive()
    }
}

impl CloudsBuilder {
    /// The clock all five share (default: the system clock).
    pub fn clock(mut self, clock: impl Clock + 'static) -> Self {
        self.clock = Some(Arc::new(clock));
        self
    }

    /// Adjusts the GCE metadata server's builder.
    pub fn gcp_metadata(
        mut self,
        hook: impl FnOnce(GcpMetadataEmulatorBuilder) -> GcpMetadataEmulatorBuilder + Send + 'static,
    ) -> Self {
        self.gcp_metadata = Box::new(hook);
        self
    }

    /// Adjusts AWS STS's builder.
    pub fn aws_sts(
        mut self,
        hook: impl FnOnce(AwsStsEmulatorBuilder) -> AwsStsEmulatorBuilder + Send + 'static,
    ) -> Self {
        self.aws_sts = Box::new(hook);
        self
    }

    /// Adjusts the EC2 instance metadata service's builder.
    pub fn imds(
        mut self,
        hook: impl FnOnce(Ec2MetadataEmulatorBuilder) -> Ec2MetadataEmulatorBuilder + Send + 'static,
    ) -> Self {
        self.imds = Box::new(hook);
        self
    }

    /// Adjusts Google STS's builder (the two providers of [`Clouds`] are added before it).
    pub fn google_sts(
        mut self,
        hook: impl FnOnce(GoogleStsEmulatorBuilder) -> GoogleStsEmulatorBuilder + Send + 'static,
    ) -> Self {
        self.google_sts = Box::new(hook);
        self
    }

    /// Adjusts IAM Credentials' builder ([`SERVICE_ACCOUNT`] is added before it).
    pub fn iam(
        mut self,
        hook: impl FnOnce(IamCredentialsEmulatorBuilder) -> IamCredentialsEmulatorBuilder
        + Send
        + 'static,
    ) -> Self {
        self.iam = Box::new(hook);
        self
    }

    /// Starts the five emulators and wires them together.
    pub async fn start(self) -> std::io::Result<Clouds> {
        let clock: Arc<dyn Clock> = self.clock.unwrap_or_else(|| Arc::new(SystemClock));
        let gcp_metadata = (self.gcp_metadata)(GcpMetadataEmulator::builder().clock(clock.clone()))
            .start()
            .await?;
        let aws_sts = (self.aws_sts)(AwsStsEmulator::builder().clock(clock.clone()))
            .start()
            .await?;
        aws_sts.add_role(
            RoleSpec::new(aws_sts.role_arn("workload"))
                .google_aud(&gcp_metadata.default_service_account().unique_id)
                .google_oaud(AWS_AUDIENCE),
        );
        let imds = (self.imds)(Ec2MetadataEmulator::builder().clock(clock.clone()))
            .start()
            .await?;
        let role = imds.credentials();
        let google_sts = (self.google_sts)(
            GoogleStsEmulator::builder()
                .clock(clock.clone())
                .provider(ProviderSpec::aws(
                    AWS_PROVIDER_AUDIENCE,
                    role.account_id.clone(),
                ))
                .provider(
                    ProviderSpec::oidc(OIDC_PROVIDER_AUDIENCE).trust(GoogleIdentity::shared()),
                ),
        )
        .start()
        .await?;
        google_sts.trust_aws_session_key(
            role.access_key_id,
            role.secret_access_key,
            role.session_token,
            role.account_id,
        );
        let iam = (self.iam)(
            IamCredentialsEmulator::builder()
                .clock(clock)
                .service_account(ServiceAccountSpec::new(
                    SERVICE_ACCOUNT,
                    "100000000000000000001",
                )),
        )
        .start()
        .await?;
        iam.trust_sts(&google_sts);
        Ok(Clouds {
            gcp_metadata,
            aws_sts,
            imds,
            google_sts,
            iam,
        })
    }
}

#[cfg(test)]
mod tests;
