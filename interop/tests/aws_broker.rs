//! The `aws serve` broker (`server::ContainerCredentialsServer`) against the AWS SDKs' own
//! container-credentials clients, configured only by `AWS_CONTAINER_CREDENTIALS_FULL_URI` and
//! `AWS_CONTAINER_AUTHORIZATION_TOKEN_FILE`: aws-config's default chain (whose ECS provider
//! enforces the allowed-host rule) and boto3, 24 sessions at once in threads. The broker assumes
//! its role in moto; from then on moto checks every request's SigV4 signature and the role's
//! policy, and the SDKs' calls (STS `GetCallerIdentity`, S3) with the broker's credentials pass,
//! while the same key with a wrong secret is refused. One `AssumeRoleWithWebIdentity` serves
//! all 25 sessions.
//!
//! aws-config reads only the process environment, so this binary holds one test that sets it
//! before any other thread exists. Run with `.ci/interop.sh` (`INTEROP_PYTHON`: a venv with the
//! pinned boto3; `MOTO_ENDPOINT`: its moto_server).

use std::process::Command;

use aws_config::retry::RetryConfig;
use aws_config::{BehaviorVersion, Region, SdkConfig};
use aws_credential_types::Credentials;
use aws_credential_types::provider::ProvideCredentials;
use aws_sdk_s3::error::{DisplayErrorContext, ProvideErrorMetadata};
use federated_credentials::aws::WebIdentityProvider;
use federated_credentials::context::{Context, StaticEnv};
use federated_credentials::server::{AuthToken, ContainerCredentialsServer};
use federated_credentials::source::GcpMetadataIdentityToken;
use federated_credentials_interop::required_env;
use federated_credentials_testkit::GcpMetadataEmulator;

#[path = "common/moto.rs"]
#[allow(dead_code)]
mod moto_support;
use moto_support::*;

/// 24 boto3 sessions in threads resolve their credentials through the default chain and call
/// moto's STS with them; one also writes and reads an S3 object. Prints, per session, how the
/// credentials were found, the access key id and the ARN `GetCallerIdentity` answered.
const BOTO3: &str = r#"
import json, os, threading
import boto3
from botocore.config import Config
endpoint, bucket = os.environ["MOTO_ENDPOINT"], os.environ["BUCKET"]
results = [None] * 24
def resolve(i):
    session = boto3.Session(region_name="us-east-1")
    c = session.get_credentials()
    arn = session.client("sts", endpoint_url=endpoint).get_caller_identity()["Arn"]
    results[i] = (c.method, c.get_frozen_credentials().access_key, arn)
    if i == 0:
        s3 = session.client("s3", endpoint_url=endpoint, config=Config(s3={"addressing_style": "path"}))
        s3.put_object(Bucket=bucket, Key="from-boto3", Body=b"boto3 via the broker")
        assert s3.get_object(Bucket=bucket, Key="from-boto3")["Body"].read() == b"boto3 via the broker"
threads = [threading.Thread(target=resolve, args=(i,)) for i in range(24)]
for t in threads: t.start()
for t in threads: t.join()
print(json.dumps({"boto3": boto3.__version__, "results": results}))
"#;

/// aws-config's default chain, with calls sent to moto and no retries (a refused call shows
/// as it is).
async fn default_chain_config(moto: &Moto) -> SdkConfig {
    aws_config::defaults(BehaviorVersion::latest())
        .endpoint_url(&moto.endpoint)
        .retry_config(RetryConfig::disabled())
        .load()
        .await
}

#[test]
fn aws_config_and_boto3_use_the_brokers_credentials_against_moto_with_sigv4_checked() {
    let Some(python) = required_env("INTEROP_PYTHON", "a python with boto3 installed") else {
        return;
    };
    let Some(endpoint) = moto_endpoint() else {
        return;
    };
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap();
    let dir = tempfile::tempdir().unwrap();
    let token_file = dir.path().join("token");
    let moto = Moto::new(&endpoint);
    let bucket = unique("broker");
    let (mds, provider, role_arn, server) = runtime.block_on(async {
        // Checking off while the role is set up.
        moto.reset_auth("inf").await;
        let role_arn = moto.create_role(&unique("broker-role"), "s3:*").await;
        let mds = GcpMetadataEmulator::start().await.unwrap();
        let provider = WebIdentityProvider::builder()
            .context(
                Context::builder()
                    .env(StaticEnv::from_pairs([("GCE_METADATA_HOST", mds.host())]))
                    .build(),
            )
            .token_source(GcpMetadataIdentityToken::new(AUDIENCE))
            .role_arn(&role_arn)
            .configure_sts(|s| s.session_name(SESSION))
            .configure_sts(|s| s.region(REGION))
            .configure_sts(|s| s.endpoint_url(moto.endpoint.as_str()))
            .build()
            .unwrap();
        let server = ContainerCredentialsServer::builder()
            .provider(provider.clone())
            .auth_token(AuthToken::from_file(&token_file).unwrap())
            .bind()
            .await
            .unwrap();
        // From here on moto checks every call but the broker's AssumeRoleWithWebIdentity.
        moto.enforce_after_one_call().await;
        provider.cache().prefetch().await.unwrap();
        (mds, provider, role_arn, server)
    });
    let served = runtime.block_on(provider.credentials()).unwrap();
    let role_name = role_arn.rsplit('/').next().unwrap();
    let assumed = format!("arn:aws:sts::{ACCOUNT}:assumed-role/{role_name}/{SESSION}");
    assert_eq!(served.assumed_role_arn(), assumed);

    let env = [
        ("AWS_CONTAINER_CREDENTIALS_FULL_URI", server.full_uri()),
        (
            "AWS_CONTAINER_AUTHORIZATION_TOKEN_FILE",
            token_file.display().to_string(),
        ),
        ("AWS_REGION", REGION.to_string()),
        // No config or credentials file, no IMDS: only the endpoint can answer.
        (
            "AWS_CONFIG_FILE",
            dir.path().join("none").display().to_string(),
        ),
        (
            "AWS_SHARED_CREDENTIALS_FILE",
            dir.path().join("none").display().to_string(),
        ),
        ("AWS_EC2_METADATA_DISABLED", "true".to_string()),
    ];
    for var in [
        "AWS_ACCESS_KEY_ID",
        "AWS_SECRET_ACCESS_KEY",
        "AWS_SESSION_TOKEN",
        "AWS_PROFILE",
        "AWS_ROLE_ARN",
        "AWS_WEB_IDENTITY_TOKEN_FILE",
        "AWS_CONTAINER_CREDENTIALS_RELATIVE_URI",
        "AWS_CONTAINER_AUTHORIZATION_TOKEN",
        "AWS_ENDPOINT_URL",
    ] {
        // SAFETY: this binary's only test, before any other thread exists.
        unsafe { std::env::remove_var(var) };
    }
    for (key, value) in &env {
        // SAFETY: as above.
        unsafe { std::env::set_var(key, value) };
    }
    let (stop, stopped) = tokio::sync::oneshot::channel::<()>();
    let serving = runtime.spawn(server.run(async {
        let _ = stopped.await;
    }));

    // aws-config's default chain: the broker's credentials, accepted by moto's checks.
    runtime.block_on(async {
        let config = default_chain_config(&moto).await;
        let resolved = config
            .credentials_provider()
            .expect("a credentials provider")
            .provide_credentials()
            .await
            .expect("aws-config resolved the broker's credentials");
        assert_eq!(resolved.access_key_id(), served.access_key_id());
        let identity = aws_sdk_sts::Client::new(&config)
            .get_caller_identity()
            .send()
            .await
            .unwrap_or_else(|e| panic!("GetCallerIdentity: {}", DisplayErrorContext(&e)));
        assert_eq!(identity.arn(), Some(assumed.as_str()));
        let s3 = s3_client(&config);
        create_bucket_and_put(
            &s3,
            &bucket,
            "from-aws-config",
            b"aws-config via the broker",
        )
        .await;

        // The checks are on: the same key with a wrong secret is refused.
        let secret = resolved.secret_access_key();
        let wrong = format!(
            "{}{}",
            if secret.starts_with('A') { "B" } else { "A" },
            &secret[1..]
        );
        let forged = Credentials::new(
            resolved.access_key_id(),
            wrong,
            resolved.session_token().map(str::to_owned),
            resolved.expiry(),
            "forged",
        );
        let forged_config = aws_config::defaults(BehaviorVersion::latest())
            .credentials_provider(forged)
            .region(Region::new(REGION))
            .endpoint_url(&moto.endpoint)
            .retry_config(RetryConfig::disabled())
            .load()
            .await;
        let refused = s3_client(&forged_config)
            .list_objects_v2()
            .bucket(&bucket)
            .send()
            .await
            .expect_err("moto must refuse a wrong signature");
        assert_eq!(refused.code(), Some("SignatureDoesNotMatch"), "{refused:?}");
    });

    // boto3, 24 sessions at once; the server keeps running on the runtime's thread.
    let mut boto3 = Command::new(&python);
    boto3
        .args(["-c", BOTO3])
        .env_clear()
        .env("PATH", std::env::var_os("PATH").unwrap_or_default())
        .env("MOTO_ENDPOINT", &moto.endpoint)
        .env("BUCKET", &bucket)
        .envs(env.iter().map(|(k, v)| (*k, v.as_str())));
    let out = runtime
        .block_on(async { tokio::task::spawn_blocking(move || boto3.output()).await })
        .unwrap()
        .expect("run python");
    assert!(
        out.status.success(),
        "python failed: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    let json: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    let results = json["results"].as_array().unwrap();
    assert_eq!(results.len(), 24);
    for r in results {
        assert_eq!(r[0], "container-role", "{json}");
        assert_eq!(r[1], served.access_key_id(), "{json}");
        assert_eq!(r[2], assumed.as_str(), "{json}");
    }
    assert_eq!(
        provider.cache().completed_fetches(),
        1,
        "one AssumeRoleWithWebIdentity for 25 SDK sessions"
    );
    println!(
        "aws-config and boto3 {} (24 sessions) used the broker's credentials against moto with SigV4 checked; STS asked once",
        json["boto3"]
    );
    let _ = stop.send(());
    runtime.block_on(serving).unwrap().unwrap();
    // Leave moto unchecked for the suites after this one.
    runtime.block_on(moto.reset_auth("inf"));
    drop(mds);
}
