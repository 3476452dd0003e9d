//! botocore's own default credential chain against the `aws1` chain, for the platform
//! environments that the container test (`tests/aws_container.rs`) does not cover:
//!
//! * EKS IRSA (`AWS_ROLE_ARN` + `AWS_WEB_IDENTITY_TOKEN_FILE`): botocore's
//!   `AssumeRoleWithWebIdentityProvider` and ours both call `AssumeRoleWithWebIdentity` on the
//!   testkit's AWS STS emulator. Each call mints new keys, so the test compares what the
//!   emulator issued them for: the same role, session name, token subject and audience.
//! * Lambda (environment keys): both take the keys from the environment.
//!
//! Both environments also set `AWS_CONTAINER_CREDENTIALS_FULL_URI`, lower in the precedence:
//! neither chain may ask it. Run with `.ci/interop.sh` (`INTEROP_PYTHON`: a venv with the pinned
//! botocore).

use std::process::Command;
use std::time::Duration;

use federated_credentials::context::{Context, StaticEnv};
use federated_credentials::source::aws::{Aws1Source, AwsIdentitySource, Ec2InstanceMetadata};
use federated_credentials_interop::required_env;
use federated_credentials_testkit::{AWS_AUDIENCE, Clouds, ContainerCredentialsEmulator, RoleSpec};

/// botocore's default chain (what boto3 and the AWS CLI use); prints the method and access
/// key id it resolved, or the exception, as JSON.
const BOTOCORE_CHAIN: &str = r#"
import json
import botocore, botocore.session
try:
    creds = botocore.session.Session().get_credentials()
    print(json.dumps({"botocore": botocore.__version__, "method": creds.method,
                      "access_key": creds.get_frozen_credentials().access_key}))
except Exception as e:
    print(json.dumps({"botocore": botocore.__version__, "error": type(e).__name__, "message": str(e)}))
"#;

/// Runs [`BOTOCORE_CHAIN`] with exactly `env` (plus `PATH` and a `HOME` without AWS files).
async fn botocore_chain(python: &str, home: &str, env: &[(&str, String)]) -> serde_json::Value {
    let mut command = Command::new(python);
    command
        .args(["-c", BOTOCORE_CHAIN])
        .env_clear()
        .env("PATH", std::env::var_os("PATH").unwrap_or_default())
        .env("HOME", home)
        .env("AWS_CONFIG_FILE", format!("{home}/no-config"))
        .env(
            "AWS_SHARED_CREDENTIALS_FILE",
            format!("{home}/no-credentials"),
        )
        .envs(env.iter().map(|(k, v)| (*k, v.as_str())));
    let out = tokio::task::spawn_blocking(move || command.output())
        .await
        .unwrap()
        .expect("run python");
    assert!(
        out.status.success(),
        "python failed: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    serde_json::from_slice(&out.stdout).unwrap()
}

fn context(env: &[(&str, String)]) -> Context {
    Context::builder()
        .env(StaticEnv::from_pairs(
            env.iter().map(|(k, v)| (k.to_string(), v.clone())),
        ))
        .build()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn botocore_and_aws1_assume_the_same_role_with_the_irsa_token_file() {
    let Some(python) = required_env("INTEROP_PYTHON", "a python with botocore installed") else {
        return;
    };
    let clouds = Clouds::start().await.unwrap();
    let container = ContainerCredentialsEmulator::builder()
        .start()
        .await
        .unwrap();
    let role = clouds.aws_sts.role_arn("irsa-pod");
    clouds.aws_sts.add_role(RoleSpec::new(&role));
    let dir = tempfile::tempdir().unwrap();
    let token_file = dir.path().join("eks.amazonaws.com-serviceaccount-token");
    std::fs::write(
        &token_file,
        clouds
            .gcp_metadata
            .issue_identity_token(AWS_AUDIENCE, Duration::from_secs(3600)),
    )
    .unwrap();
    // What the EKS pod identity webhook injects for IRSA, with the STS endpoint on loopback.
    let env = vec![
        ("AWS_ROLE_ARN", role.clone()),
        (
            "AWS_WEB_IDENTITY_TOKEN_FILE",
            token_file.to_str().unwrap().to_string(),
        ),
        ("AWS_ROLE_SESSION_NAME", "irsa-interop".to_string()),
        ("AWS_REGION", "us-east-2".to_string()),
        ("AWS_DEFAULT_REGION", "us-east-2".to_string()),
        ("AWS_STS_REGIONAL_ENDPOINTS", "regional".to_string()),
        ("AWS_ENDPOINT_URL_STS", clouds.aws_sts.endpoint()),
        ("AWS_EC2_METADATA_DISABLED", "true".to_string()),
        // Lower in the precedence than web identity: never asked.
        (
            "AWS_CONTAINER_CREDENTIALS_FULL_URI",
            container.credentials_url(),
        ),
    ];

    let ours = Aws1Source::new(Ec2InstanceMetadata::new())
        .credentials(&context(&env))
        .await
        .unwrap();
    let theirs = botocore_chain(&python, dir.path().to_str().unwrap(), &env).await;
    assert_eq!(
        theirs["method"], "assume-role-with-web-identity",
        "{theirs}"
    );

    let issued = clouds.aws_sts.issued_credentials();
    assert_eq!(issued.len(), 2, "one AssumeRoleWithWebIdentity each");
    let ours = clouds
        .aws_sts
        .credentials_for(ours.access_key_id())
        .unwrap();
    let theirs = clouds
        .aws_sts
        .credentials_for(theirs["access_key"].as_str().unwrap())
        .unwrap();
    assert_eq!(ours.role_arn, role);
    assert_eq!(theirs.role_arn, ours.role_arn);
    assert_eq!(theirs.role_session_name, "irsa-interop");
    assert_eq!(theirs.role_session_name, ours.role_session_name);
    assert_eq!(theirs.assumed_role_arn, ours.assumed_role_arn);
    assert_eq!(theirs.subject, ours.subject);
    assert_eq!(theirs.audience, ours.audience);
    assert_eq!(
        container.request_count(),
        0,
        "the container endpoint was asked"
    );
    assert_eq!(clouds.imds.request_count(), 0, "IMDS was asked");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn botocore_and_aws1_take_lambda_keys_from_the_environment() {
    let Some(python) = required_env("INTEROP_PYTHON", "a python with botocore installed") else {
        return;
    };
    let container = ContainerCredentialsEmulator::builder()
        .start()
        .await
        .unwrap();
    let dir = tempfile::tempdir().unwrap();
    // What Lambda sets for the function's execution role (the keys are made up).
    let env = vec![
        ("AWS_ACCESS_KEY_ID", "ASIALAMBDAINTEROP001".to_string()),
        (
            "AWS_SECRET_ACCESS_KEY",
            "lambda/interop/secret/key/0000000000000000".to_string(),
        ),
        (
            "AWS_SESSION_TOKEN",
            "lambda-interop-session-token".to_string(),
        ),
        ("AWS_REGION", "eu-central-1".to_string()),
        ("AWS_DEFAULT_REGION", "eu-central-1".to_string()),
        ("AWS_LAMBDA_FUNCTION_NAME", "interop".to_string()),
        ("AWS_EC2_METADATA_DISABLED", "true".to_string()),
        (
            "AWS_CONTAINER_CREDENTIALS_FULL_URI",
            container.credentials_url(),
        ),
    ];
    let ours = Aws1Source::new(Ec2InstanceMetadata::new())
        .credentials(&context(&env))
        .await
        .unwrap();
    let theirs = botocore_chain(&python, dir.path().to_str().unwrap(), &env).await;
    assert_eq!(theirs["method"], "env", "{theirs}");
    assert_eq!(theirs["access_key"], ours.access_key_id(), "{theirs}");
    assert_eq!(ours.access_key_id(), "ASIALAMBDAINTEROP001");
    assert_eq!(
        container.request_count(),
        0,
        "the container endpoint was asked"
    );
}
