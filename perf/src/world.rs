//! The loopback emulators both directions run against.

use std::time::{Duration, SystemTime};

use federated_credentials::aws::{WebIdentityProvider, WebIdentityProviderBuilder};
use federated_credentials::config::ExternalAccountConfig;
use federated_credentials::context::{Context, ManualClock, StaticEnv};
use federated_credentials::google::ExternalAccountCredentials;
use federated_credentials::source::GcpMetadataIdentityToken;
use federated_credentials::testkit::{
    AwsStsEmulator, Ec2MetadataEmulator, GcpMetadataEmulator, GoogleIdentity, GoogleStsEmulator,
    IamCredentialsEmulator, ProviderSpec, RoleSpec, ServiceAccountSpec,
};
use serde_json::{Value, json};

pub const AWS_AUDIENCE: &str = "//iam.googleapis.com/projects/123456789012/locations/global/workloadIdentityPools/aws-pool/providers/aws-prov";
pub const SA: &str = "app@my-proj.iam.gserviceaccount.com";
const STS_AUDIENCE: &str = "sts.amazonaws.com";

/// GCP → AWS: metadata server and AWS STS.
pub struct GcpToAws {
    pub clock: ManualClock,
    pub mds: GcpMetadataEmulator,
    pub sts: AwsStsEmulator,
    role_arn: String,
}

impl GcpToAws {
    pub async fn start() -> Self {
        let clock = ManualClock::new(SystemTime::now());
        let mds = GcpMetadataEmulator::builder()
            .clock(clock.clone())
            .start()
            .await
            .unwrap();
        let sts = AwsStsEmulator::builder()
            .clock(clock.clone())
            .start()
            .await
            .unwrap();
        let role_arn = sts.role_arn("gcp-workload");
        sts.add_role(
            RoleSpec::new(&role_arn)
                .google_aud(&mds.default_service_account().unique_id)
                .google_oaud(STS_AUDIENCE),
        );
        Self {
            clock,
            mds,
            sts,
            role_arn,
        }
    }

    /// A provider builder on the emulators' manual clock.
    pub fn builder(&self) -> WebIdentityProviderBuilder {
        self.builder_with_clock(Some(self.clock.clone()))
    }

    /// A provider builder on the given clock, or the system clock.
    pub fn builder_with_clock(&self, clock: Option<ManualClock>) -> WebIdentityProviderBuilder {
        let mut ctx = Context::builder().env(StaticEnv::from_pairs([(
            "GCE_METADATA_HOST",
            self.mds.host(),
        )]));
        if let Some(c) = clock {
            ctx = ctx.clock(c);
        }
        let ctx = ctx.build();
        WebIdentityProvider::builder()
            .context(ctx)
            .token_source(GcpMetadataIdentityToken::new(STS_AUDIENCE))
            .role_arn(&self.role_arn)
            .configure_sts(|s| s.endpoint_url(self.sts.endpoint()))
    }

    pub fn requests(&self) -> usize {
        self.mds.request_count() + self.sts.request_count()
    }
}

/// AWS → GCP: EC2 metadata, Google STS and IAM Credentials. `iam_behind` sets the IAM
/// emulator's clock that far behind the others, so the tokens it issues expire sooner on the
/// real clock (to make a peer that runs on real time refresh within seconds).
pub struct AwsToGcp {
    pub clock: ManualClock,
    pub imds: Ec2MetadataEmulator,
    pub sts: GoogleStsEmulator,
    pub iam: IamCredentialsEmulator,
}

impl AwsToGcp {
    pub async fn start(iam_behind: Duration) -> Self {
        let clock = ManualClock::new(SystemTime::now());
        let imds = Ec2MetadataEmulator::builder()
            .clock(clock.clone())
            .credentials_lifetime(Duration::from_secs(6 * 3600))
            .start()
            .await
            .unwrap();
        let sts = GoogleStsEmulator::builder()
            .clock(clock.clone())
            .provider(ProviderSpec::aws(AWS_AUDIENCE, "123456789012"))
            .start()
            .await
            .unwrap();
        let c = imds.credentials();
        sts.trust_aws_session_key(
            c.access_key_id,
            c.secret_access_key,
            c.session_token,
            c.account_id,
        );
        let iam = IamCredentialsEmulator::builder()
            .clock(if iam_behind.is_zero() {
                clock.clone()
            } else {
                ManualClock::new(SystemTime::now() - iam_behind)
            })
            .identity(GoogleIdentity::shared())
            .service_account(ServiceAccountSpec::new(SA, "111222333444555666777"))
            .start()
            .await
            .unwrap();
        iam.trust_sts(&sts);
        Self {
            clock,
            imds,
            sts,
            iam,
        }
    }

    /// The `external_account` file gcloud writes for EC2 (IMDSv2, impersonation).
    pub fn config(&self) -> Value {
        json!({
            "type": "external_account",
            "audience": AWS_AUDIENCE,
            "subject_token_type": "urn:ietf:params:aws:token-type:aws4_request",
            "token_url": self.sts.token_url(),
            "service_account_impersonation_url": self.iam.generate_access_token_url(SA),
            "credential_source": {
                "environment_id": "aws1",
                "region_url": self.imds.availability_zone_url(),
                "url": self.imds.credentials_url(),
                "regional_cred_verification_url": "https://sts.{region}.amazonaws.com?Action=GetCallerIdentity&Version=2011-06-15",
                "imdsv2_session_token_url": self.imds.token_url()
            }
        })
    }

    pub fn ours(&self, clock: Option<ManualClock>) -> ExternalAccountCredentials {
        // Same input as google-cloud-auth gets in `theirs`: the configuration as JSON.
        let config = ExternalAccountConfig::from_json(&self.config().to_string()).unwrap();
        let mut ctx = Context::builder().env(StaticEnv::empty());
        if let Some(c) = clock {
            ctx = ctx.clock(c);
        }
        ExternalAccountCredentials::builder()
            .context(ctx.build())
            .config(config)
            .build()
            .unwrap()
    }

    pub fn theirs(&self) -> google_cloud_auth::credentials::Credentials {
        google_cloud_auth::credentials::external_account::Builder::new(self.config())
            .build()
            .expect("google-cloud-auth accepts the config")
    }

    pub fn requests(&self) -> usize {
        self.imds.put_count()
            + self.imds.get_count()
            + self.sts.request_count()
            + self.iam.request_count()
    }
}
