//! botocore (boto3's STS client) and our `OutboundWebIdentityToken` sign the same
//! `GetWebIdentityToken` call, and the testkit's AWS STS emulator verifies both SigV4
//! signatures (moto has no handler for the operation): the same form parameters, a token for
//! the same role and audiences from each. Run with `.ci/interop.sh` (`INTEROP_PYTHON`: a venv
//! with the pinned boto3/botocore).

use std::collections::BTreeSet;
use std::process::Command;
use std::time::{Duration, SystemTime};

use federated_credentials::context::{Context, StaticEnv};
use federated_credentials::source::SubjectTokenSource;
use federated_credentials::source::aws::{
    AwsEnvironment, OutboundWebIdentityToken, SigningAlgorithm,
};
use federated_credentials_interop::required_env;
use federated_credentials_testkit::{AwsStsEmulator, CallerCredentials};

const KEY: &str = "ASIAINTEROPOUTBOUND1";
const SECRET: &str = "interop/outbound/secret/access/key/00000";
const SESSION: &str = "interop-outbound-session-token";
const ROLE: &str = "arn:aws:iam::123456789012:role/interop";

/// boto3's STS client against `argv[1]`; prints the token and botocore's version.
const BOTO3: &str = r#"
import json, sys
import boto3, botocore
sts = boto3.client("sts", endpoint_url=sys.argv[1], region_name="eu-west-1",
                   aws_access_key_id=sys.argv[2], aws_secret_access_key=sys.argv[3],
                   aws_session_token=sys.argv[4])
r = sts.get_web_identity_token(Audience=["https://a.example", "b"], SigningAlgorithm="ES384",
                               DurationSeconds=900, Tags=[{"Key": "team", "Value": "payments"}])
print(json.dumps({"botocore": botocore.__version__, "token": r["WebIdentityToken"]}))
"#;

/// The form parameters of a recorded request, order aside (botocore follows the order of the
/// call's keyword arguments, we follow the API model's).
fn form(request: &federated_credentials_testkit::RecordedRequest) -> BTreeSet<(String, String)> {
    request.form().into_iter().collect()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn botocore_and_ours_sign_the_same_get_web_identity_token_call() {
    let Some(python) = required_env("INTEROP_PYTHON", "a python with boto3 installed") else {
        return;
    };
    let sts = AwsStsEmulator::builder()
        .outbound_web_identity_federation(true)
        .start()
        .await
        .unwrap();
    sts.allow_caller(CallerCredentials::role_session(
        KEY,
        SECRET,
        SESSION,
        ROLE,
        SystemTime::now() + Duration::from_secs(3600),
    ));

    let mut command = Command::new(&python);
    command
        .args(["-c", BOTO3, &sts.endpoint(), KEY, SECRET, SESSION])
        .env_clear()
        .env("PATH", std::env::var_os("PATH").unwrap_or_default())
        .env("AWS_CONFIG_FILE", "/nonexistent")
        .env("AWS_SHARED_CREDENTIALS_FILE", "/nonexistent")
        .env("AWS_EC2_METADATA_DISABLED", "true");
    let out = tokio::task::spawn_blocking(move || command.output())
        .await
        .unwrap()
        .expect("run python");
    assert!(
        out.status.success(),
        "boto3 failed (the emulator refused its signature?): {}",
        String::from_utf8_lossy(&out.stderr)
    );
    let theirs: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    let their_request = sts.last_request().unwrap();

    let ctx = Context::builder()
        .env(StaticEnv::from_pairs([
            ("AWS_ACCESS_KEY_ID", KEY),
            ("AWS_SECRET_ACCESS_KEY", SECRET),
            ("AWS_SESSION_TOKEN", SESSION),
        ]))
        .build();
    let ours = OutboundWebIdentityToken::new(AwsEnvironment::new(), "https://a.example")
        .audience("b")
        .signing_algorithm(SigningAlgorithm::Es384)
        .duration(Duration::from_secs(900))
        .tag("team", "payments")
        .region("eu-west-1")
        .endpoint_url(sts.endpoint())
        .subject_token(&ctx)
        .await
        .unwrap();
    let our_request = sts.last_request().unwrap();

    assert_eq!(form(&our_request), form(&their_request), "{theirs}");
    for request in [&our_request, &their_request] {
        let auth = request.header("authorization").unwrap();
        assert!(auth.contains(&format!("Credential={KEY}/")), "{auth}");
        assert!(auth.contains("/eu-west-1/sts/aws4_request"), "{auth}");
        assert_eq!(request.header("x-amz-security-token"), Some(SESSION));
    }
    let issued = sts.issued_web_identity_tokens();
    assert_eq!(issued.len(), 2, "both signatures verified");
    for token in [
        theirs["token"].as_str().unwrap(),
        ours.token().expose_secret(),
    ] {
        let claims = sts.verify_web_identity_token(token).unwrap();
        assert_eq!(claims["sub"], ROLE);
        assert_eq!(claims["aud"], serde_json::json!(["https://a.example", "b"]));
    }
}
