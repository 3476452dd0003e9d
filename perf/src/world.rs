//! The loopback emulators both directions run against.

use std::time::{Duration, SystemTime};

use federated_credentials::aws::{WebIdentityProvider, WebIdentityProviderBuilder};
use federated_credentials::config::ExternalAccountConfig;
use federated_credentials::context::{Context, ManualClock, StaticEnv};
use federated_credentials::google::ExternalAccountCredentials;
use federated_credentials::source::GcpMetadataIdentityToken;
use federated_credentials_testkit::{AWS_AUDIENCE, Clouds};
use serde_json::Value;

/// GCP → AWS: the metadata server and AWS STS of one [`Clouds`].
pub struct GcpToAws {
    pub clock: ManualClock,
    pub clouds: Clouds,
}

impl GcpToAws {
    pub async fn start() -> Self {
        let clock = ManualClock::new(SystemTime::now());
        let clouds = Clouds::start_with_clock(clock.clone()).await.unwrap();
        Self { clock, clouds }
    }

    /// A provider builder on the emulators' manual clock.
    pub fn builder(&self) -> WebIdentityProviderBuilder {
        self.builder_with_clock(Some(self.clock.clone()))
    }

    /// A provider builder on the given clock, or the system clock.
    pub fn builder_with_clock(&self, clock: Option<ManualClock>) -> WebIdentityProviderBuilder {
        let mut ctx = Context::builder().env(StaticEnv::from_pairs([(
            "GCE_METADATA_HOST",
            self.clouds.gcp_metadata.host(),
        )]));
        if let Some(c) = clock {
            ctx = ctx.clock(c);
        }
        let ctx = ctx.build();
        WebIdentityProvider::builder()
            .context(ctx)
            .token_source(GcpMetadataIdentityToken::new(AWS_AUDIENCE))
            .role_arn(self.clouds.role_arn())
            .configure_sts(|s| s.endpoint_url(self.clouds.aws_sts.endpoint()))
    }

    pub fn requests(&self) -> usize {
        self.clouds.gcp_metadata.request_count() + self.clouds.aws_sts.request_count()
    }
}

/// AWS → GCP: EC2 metadata, Google STS and IAM Credentials of one [`Clouds`]. `iam_behind`
/// sets the IAM emulator's clock that far behind the others, so the tokens it issues expire
/// sooner on the real clock (to make a peer that runs on real time refresh within seconds).
pub struct AwsToGcp {
    pub clock: ManualClock,
    pub clouds: Clouds,
}

impl AwsToGcp {
    pub async fn start(iam_behind: Duration) -> Self {
        let clock = ManualClock::new(SystemTime::now());
        let iam_clock = if iam_behind.is_zero() {
            clock.clone()
        } else {
            ManualClock::new(SystemTime::now() - iam_behind)
        };
        let clouds = Clouds::builder()
            .clock(clock.clone())
            .imds(|imds| imds.credentials_lifetime(Duration::from_secs(6 * 3600)))
            .iam(move |iam| iam.clock(iam_clock))
            .start()
            .await
            .unwrap();
        Self { clock, clouds }
    }

    /// The `external_account` file gcloud writes for EC2 (IMDSv2, impersonation).
    pub fn config(&self) -> Value {
        self.clouds.external_account_config()
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
        self.clouds.imds.put_count()
            + self.clouds.imds.get_count()
            + self.clouds.google_sts.request_count()
            + self.clouds.iam.request_count()
    }
}
