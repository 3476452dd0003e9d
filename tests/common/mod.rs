//! The world the integration tests share: a Google STS emulator trusting a Kubernetes-style
//! OIDC token read from a file, and `ExternalAccountCredentials` configured for it.

#![allow(dead_code)]

use std::time::{Duration, SystemTime, UNIX_EPOCH};

use federated_credentials::config::ExternalAccountConfig;
use federated_credentials::context::{Context, InstantSleep, ManualClock, StaticEnv};
use federated_credentials::google::ExternalAccountCredentials;
use federated_credentials_testkit::{GoogleIdentity, GoogleStsEmulator, ProviderSpec};
use serde_json::{Value, json};

pub const AUDIENCE: &str = "//iam.googleapis.com/projects/123456789012/locations/global/workloadIdentityPools/k8s/providers/k8s";
pub const QUOTA_PROJECT: &str = "billing-proj";

pub struct World {
    pub clock: ManualClock,
    pub sts: GoogleStsEmulator,
    pub dir: tempfile::TempDir,
}

impl World {
    /// The emulator clock starts at the real time (whole seconds), so expiry times mean the
    /// same to crates that read the system clock.
    pub async fn new() -> Self {
        let now = SystemTime::now().duration_since(UNIX_EPOCH).unwrap();
        let clock = ManualClock::new(UNIX_EPOCH + Duration::from_secs(now.as_secs()));
        let sts = GoogleStsEmulator::builder()
            .clock(clock.clone())
            .provider(ProviderSpec::oidc(AUDIENCE).trust(GoogleIdentity::shared()))
            .start()
            .await
            .unwrap();
        let w = Self {
            clock,
            sts,
            dir: tempfile::tempdir().unwrap(),
        };
        let now = w.now_secs();
        let jwt = GoogleIdentity::shared().sign(&json!({
            "iss": "https://k8s.example",
            "sub": "system:serviceaccount:ns:app",
            "aud": "gcp",
            "iat": now,
            "exp": now + 3600,
        }));
        std::fs::write(w.token_path(), jwt).unwrap();
        w
    }

    pub fn now_secs(&self) -> u64 {
        use federated_credentials::context::Clock;
        self.clock
            .now()
            .duration_since(UNIX_EPOCH)
            .unwrap()
            .as_secs()
    }

    fn token_path(&self) -> std::path::PathBuf {
        self.dir.path().join("token")
    }

    /// The configuration `gcloud iam workload-identity-pools create-cred-config` writes for a
    /// file-sourced OIDC token, pointed at the emulator, with a quota project.
    pub fn config(&self) -> Value {
        json!({
            "type": "external_account",
            "audience": AUDIENCE,
            "subject_token_type": "urn:ietf:params:oauth:token-type:jwt",
            "token_url": self.sts.token_url(),
            "credential_source": {"file": self.token_path()},
            "quota_project_id": QUOTA_PROJECT,
        })
    }

    pub fn credentials_from(&self, config: &Value) -> ExternalAccountCredentials {
        let path = self.dir.path().join("config.json");
        std::fs::write(&path, config.to_string()).unwrap();
        ExternalAccountCredentials::builder()
            .context(
                Context::builder()
                    .clock(self.clock.clone())
                    .env(StaticEnv::empty())
                    .sleep(InstantSleep)
                    .build(),
            )
            .config(ExternalAccountConfig::from_file(&path).unwrap())
            .build()
            .unwrap()
    }

    pub fn credentials(&self) -> ExternalAccountCredentials {
        self.credentials_from(&self.config())
    }

    /// The access token the emulator issued last.
    pub fn last_issued(&self) -> String {
        self.sts
            .issued_tokens()
            .last()
            .unwrap()
            .access_token
            .clone()
    }

    /// Scripts a permanent OAuth error for the next STS request.
    pub fn fail_permanently(&self) {
        self.sts
            .push_oauth_error(400, "invalid_grant", "The subject token is not valid.");
    }

    /// Scripts a transient OAuth error for every attempt of the next fetch.
    pub fn fail_transiently(&self) {
        self.sts.push_oauth_error_times(
            503,
            "temporarily_unavailable",
            "Try again later.",
            MAX_ATTEMPTS,
        );
    }
}

/// The HTTP retry policy's default number of attempts.
pub const MAX_ATTEMPTS: usize = 3;
