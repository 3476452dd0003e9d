//! The `aws serve` broker (`server::ContainerCredentialsServer`) against the AWS SDKs' own
//! container-credentials clients, configured only by `AWS_CONTAINER_CREDENTIALS_FULL_URI` and
//! `AWS_CONTAINER_AUTHORIZATION_TOKEN_FILE`: aws-config's default chain (whose ECS provider
//! enforces the allowed-host rule) and boto3, 24 sessions at once in threads, all get the
//! credentials STS issued once.
//!
//! aws-config reads only the process environment, so this binary holds one test that sets it
//! before any other thread exists. Run with `.ci/interop.sh` (`INTEROP_PYTHON`: a venv with the
//! pinned boto3).

use std::process::Command;

use aws_config::BehaviorVersion;
use aws_credential_types::provider::ProvideCredentials;
use federated_credentials::aws::WebIdentityProvider;
use federated_credentials::context::{Context, StaticEnv};
use federated_credentials::server::{AuthToken, ContainerCredentialsServer};
use federated_credentials::source::GcpMetadataIdentityToken;
use federated_credentials_interop::required_env;
use federated_credentials_testkit::{AwsStsEmulator, GcpMetadataEmulator, RoleSpec};

const AUDIENCE: &str = "sts.amazonaws.com";

/// 24 boto3 sessions in threads resolve their credentials through the default chain; prints
/// the access key ids and how each was found.
const BOTO3: &str = r#"
import json, threading
import boto3
results = [None] * 24
def resolve(i):
    c = boto3.Session().get_credentials()
    results[i] = (c.method, c.get_frozen_credentials().access_key)
threads = [threading.Thread(target=resolve, args=(i,)) for i in range(24)]
for t in threads: t.start()
for t in threads: t.join()
print(json.dumps({"boto3": boto3.__version__, "results": results}))
"#;

#[test]
fn aws_config_and_boto3_get_the_brokers_credentials() {
    let Some(python) = required_env("INTEROP_PYTHON", "a python with boto3 installed") else {
        return;
    };
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap();
    let dir = tempfile::tempdir().unwrap();
    let token_file = dir.path().join("token");
    let (mds, sts, server) = runtime.block_on(async {
        let mds = GcpMetadataEmulator::start().await.unwrap();
        let sts = AwsStsEmulator::start().await.unwrap();
        let role = sts.role_arn("broker");
        sts.add_role(
            RoleSpec::new(&role)
                .google_aud(&mds.default_service_account().unique_id)
                .google_oaud(AUDIENCE),
        );
        let provider = WebIdentityProvider::builder()
            .context(
                Context::builder()
                    .env(StaticEnv::from_pairs([("GCE_METADATA_HOST", mds.host())]))
                    .build(),
            )
            .token_source(GcpMetadataIdentityToken::new(AUDIENCE))
            .role_arn(&role)
            .configure_sts(|s| s.endpoint_url(sts.endpoint()))
            .build()
            .unwrap();
        let server = ContainerCredentialsServer::builder()
            .provider(provider)
            .auth_token(AuthToken::from_file(&token_file).unwrap())
            .bind()
            .await
            .unwrap();
        (mds, sts, server)
    });
    let env = [
        ("AWS_CONTAINER_CREDENTIALS_FULL_URI", server.full_uri()),
        (
            "AWS_CONTAINER_AUTHORIZATION_TOKEN_FILE",
            token_file.display().to_string(),
        ),
        ("AWS_REGION", "us-east-1".to_string()),
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

    // aws-config's default chain.
    let from_aws_config = runtime.block_on(async {
        let config = aws_config::defaults(BehaviorVersion::latest()).load().await;
        config
            .credentials_provider()
            .expect("a credentials provider")
            .provide_credentials()
            .await
            .expect("aws-config resolved the broker's credentials")
    });
    let issued = sts.issued_credentials();
    assert_eq!(issued.len(), 1);
    assert_eq!(from_aws_config.access_key_id(), issued[0].access_key_id);
    assert_eq!(
        from_aws_config.secret_access_key(),
        issued[0].secret_access_key
    );
    assert_eq!(
        from_aws_config.session_token(),
        Some(issued[0].session_token.as_str())
    );

    // boto3, 24 sessions at once; the server keeps running on the runtime's thread.
    let mut boto3 = Command::new(&python);
    boto3
        .args(["-c", BOTO3])
        .env_clear()
        .env("PATH", std::env::var_os("PATH").unwrap_or_default())
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
        assert_eq!(r[1], issued[0].access_key_id.as_str(), "{json}");
    }
    assert_eq!(
        sts.issued_credentials().len(),
        1,
        "one STS call for 25 SDK sessions"
    );
    println!(
        "aws-config and boto3 {} (24 sessions) got the broker's credentials; STS asked once",
        json["boto3"]
    );
    let _ = stop.send(());
    runtime.block_on(serving).unwrap().unwrap();
    drop(mds);
}
