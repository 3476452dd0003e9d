//! The AWS SDKs' own container-credentials providers against the testkit's container endpoint,
//! in the EKS Pod Identity shape (`AWS_CONTAINER_CREDENTIALS_FULL_URI` on loopback plus
//! `AWS_CONTAINER_AUTHORIZATION_TOKEN_FILE`): aws-config's `EcsCredentialsProvider` (through
//! our `SdkCredentialsProvider`) and botocore's `ContainerProvider` resolve the same access key
//! id as our `aws1` chain. (The relative-URI shape cannot be pointed at loopback in either SDK:
//! both fix the host to 169.254.170.2.)
//!
//! aws-config reads only the process environment, so this binary holds one test that sets it
//! before any other thread exists. Run with `.ci/interop.sh` (`INTEROP_PYTHON`: a venv with
//! the pinned botocore).
//!
//! The same test then drives google-auth (Python) with a boto3-backed
//! `AwsSecurityCredentialsSupplier`, the route its docs give for containers, against the Google
//! STS emulator, and checks that our config-file path reaches Google STS as the same AWS
//! identity and gets the same token.

use std::process::Command;

use federated_credentials::config::ExternalAccountConfig;
use federated_credentials::context::{Context, StaticEnv};
use federated_credentials::google::ExternalAccountCredentials;
use federated_credentials::source::aws::{
    Aws1Source, AwsIdentitySource, Ec2InstanceMetadata, SdkCredentialsProvider,
};
use federated_credentials_interop::required_env;
use federated_credentials_testkit::{AWS_PROVIDER_AUDIENCE, Clouds, ContainerCredentialsEmulator};

const TOKEN: &str = "interop-pod-identity-token";

/// google-auth `aws.Credentials` with a boto3 supplier; prints the Google access token.
const GOOGLE_AUTH_BOTO3: &str = r#"
import json, os, sys
import boto3
import google.auth, google.auth.transport.requests
from google.auth import aws

class Boto3Supplier(aws.AwsSecurityCredentialsSupplier):
    def __init__(self):
        self.session = boto3.Session()
    def get_aws_security_credentials(self, context, request):
        c = self.session.get_credentials().get_frozen_credentials()
        return aws.AwsSecurityCredentials(c.access_key, c.secret_key, c.token)
    def get_aws_region(self, context, request):
        # boto3 1.44.8 reads AWS_DEFAULT_REGION only; ECS and EKS set AWS_REGION.
        return os.environ.get("AWS_REGION") or self.session.region_name

creds = aws.Credentials(
    audience=sys.argv[1],
    subject_token_type="urn:ietf:params:aws:token-type:aws4_request",
    token_url=sys.argv[2],
    aws_security_credentials_supplier=Boto3Supplier(),
    scopes=["https://www.googleapis.com/auth/cloud-platform"],
)
creds.refresh(google.auth.transport.requests.Request())
print(json.dumps({"google_auth": google.auth.__version__, "boto3": boto3.__version__, "token": creds.token}))
"#;

/// botocore's `ContainerProvider` with the environment it is given; prints the access key id
/// (or the exception) as JSON.
const BOTOCORE: &str = r#"
import json
import botocore
from botocore.credentials import ContainerProvider
try:
    creds = ContainerProvider().load()
    print(json.dumps({"botocore": botocore.__version__, "method": creds.method,
                      "access_key": creds.get_frozen_credentials().access_key}))
except Exception as e:
    print(json.dumps({"botocore": botocore.__version__, "error": type(e).__name__, "message": str(e)}))
"#;

#[test]
fn aws_config_and_botocore_resolve_the_same_container_identity_as_aws1() {
    let Some(python) = required_env("INTEROP_PYTHON", "a python with botocore installed") else {
        return;
    };
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap();
    let (endpoint, clouds) = runtime.block_on(async {
        let endpoint = ContainerCredentialsEmulator::builder()
            .authorization(TOKEN)
            .start()
            .await
            .unwrap();
        let clouds = Clouds::builder()
            .google_sts(|sts| sts.deterministic_tokens(true))
            .start()
            .await
            .unwrap();
        let c = endpoint.credentials();
        clouds.google_sts.trust_aws_session_key(
            c.access_key_id,
            c.secret_access_key,
            c.session_token,
            c.account_id,
        );
        (endpoint, clouds)
    });
    let dir = tempfile::tempdir().unwrap();
    let token_file = dir.path().join("eks-pod-identity-token");
    std::fs::write(&token_file, TOKEN).unwrap();
    let env = [
        (
            "AWS_CONTAINER_CREDENTIALS_FULL_URI".to_string(),
            endpoint.credentials_url(),
        ),
        (
            "AWS_CONTAINER_AUTHORIZATION_TOKEN_FILE".to_string(),
            token_file.to_str().unwrap().to_string(),
        ),
        ("AWS_REGION".to_string(), "us-west-2".to_string()),
    ];
    for var in [
        "AWS_ACCESS_KEY_ID",
        "AWS_SECRET_ACCESS_KEY",
        "AWS_SESSION_TOKEN",
        "AWS_ROLE_ARN",
        "AWS_WEB_IDENTITY_TOKEN_FILE",
        "AWS_CONTAINER_CREDENTIALS_RELATIVE_URI",
        "AWS_CONTAINER_AUTHORIZATION_TOKEN",
        "AWS_PROFILE",
    ] {
        // SAFETY: this binary's only test, on a current-thread runtime: no other thread reads
        // the environment while it is changed.
        unsafe { std::env::remove_var(var) };
    }
    for (key, value) in &env {
        // SAFETY: as above.
        unsafe { std::env::set_var(key, value) };
    }
    let expected = endpoint.credentials().access_key_id;

    runtime.block_on(async {
        // Ours: the aws1 chain from an injected environment.
        let ctx = Context::builder()
            .env(StaticEnv::from_pairs(env.clone()))
            .build();
        let aws1 = Aws1Source::new(Ec2InstanceMetadata::new());
        assert_eq!(
            aws1.credentials(&ctx).await.unwrap().access_key_id(),
            expected
        );

        // aws-config 1.x's ECS provider, read from the process environment.
        let ecs = aws_config::ecs::EcsCredentialsProvider::builder().build();
        let sdk = SdkCredentialsProvider::new(ecs);
        let theirs = sdk.credentials(&ctx).await.unwrap();
        assert_eq!(theirs.access_key_id(), expected);
    });
    let requests_before_botocore = endpoint.request_count();

    let mut botocore = Command::new(&python);
    botocore
        .args(["-c", BOTOCORE])
        .env_clear()
        .env("PATH", std::env::var_os("PATH").unwrap_or_default())
        .envs(env.iter().map(|(k, v)| (k.as_str(), v.as_str())));
    // The emulator runs on this thread's runtime: keep driving it while python runs.
    let out = runtime
        .block_on(async { tokio::task::spawn_blocking(move || botocore.output()).await })
        .unwrap()
        .expect("run python");
    assert!(
        out.status.success(),
        "python failed: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    let json: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(json["access_key"], expected.as_str(), "{json}");
    assert_eq!(json["method"], "container-role", "{json}");
    // botocore sent the token from the file, as we do.
    assert_eq!(endpoint.request_count(), requests_before_botocore + 1);
    assert_eq!(
        endpoint.last_request().unwrap().header("authorization"),
        Some(TOKEN)
    );

    // google-auth + boto3 against Google STS, then our unchanged config-file path.
    let mut google_auth = Command::new(&python);
    google_auth
        .args(["-c", GOOGLE_AUTH_BOTO3, AWS_PROVIDER_AUDIENCE])
        .arg(clouds.google_sts.token_url())
        .env_clear()
        .env("PATH", std::env::var_os("PATH").unwrap_or_default())
        .envs(env.iter().map(|(k, v)| (k.as_str(), v.as_str())));
    let out = runtime
        .block_on(async { tokio::task::spawn_blocking(move || google_auth.output()).await })
        .unwrap()
        .expect("run python");
    assert!(
        out.status.success(),
        "google-auth failed: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    let theirs: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    let mut config = clouds.external_account_config();
    config
        .as_object_mut()
        .unwrap()
        .remove("service_account_impersonation_url");
    let ours = runtime.block_on(async {
        ExternalAccountCredentials::builder()
            .context(
                Context::builder()
                    .env(StaticEnv::from_pairs(env.clone()))
                    .build(),
            )
            .config(ExternalAccountConfig::from_value(&config).unwrap())
            .build()
            .unwrap()
            .access_token()
            .await
            .unwrap()
    });
    assert_eq!(
        theirs["token"].as_str(),
        Some(ours.token().expose_secret()),
        "{theirs}"
    );
    let subjects: Vec<String> = clouds
        .google_sts
        .issued_tokens()
        .into_iter()
        .map(|t| t.subject)
        .collect();
    assert_eq!(subjects, [expected.clone(), expected]);
    assert_eq!(clouds.imds.request_count(), 0, "IMDS was asked");
}
