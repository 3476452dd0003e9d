//! The `aws1` chain (`Aws1Source`): environment keys, then EC2 instance metadata.

use super::{SECRET, SESSION_TOKEN, client_of, clock, ctx};
use federated_credentials::error::ErrorKind;
use federated_credentials::source::aws::*;
use federated_credentials::source::{AwsSignedRequestToken, SubjectTokenSource};
use federated_credentials_testkit::Ec2MetadataEmulator;

const AUDIENCE: &str =
    "//iam.googleapis.com/projects/1/locations/global/workloadIdentityPools/p/providers/aws";

/// The percent-decoded JSON of a signed-request token.
fn decode(token: &federated_credentials::token::SubjectToken) -> serde_json::Value {
    let raw = format!("x={}", token.token().expose_secret());
    let (_, json) = url::form_urlencoded::parse(raw.as_bytes()).next().unwrap();
    serde_json::from_str(&json).unwrap()
}

fn header(json: &serde_json::Value, name: &str) -> Option<String> {
    json["headers"]
        .as_array()
        .unwrap()
        .iter()
        .find_map(|h| (h["key"] == name).then(|| h["value"].as_str().unwrap().to_string()))
}

async fn setup() -> (
    Ec2MetadataEmulator,
    Aws1Source,
    federated_credentials::context::ManualClock,
) {
    let clock = clock();
    let emulator = Ec2MetadataEmulator::builder()
        .clock(clock.clone())
        .availability_zone("eu-west-1b")
        .start()
        .await
        .unwrap();
    let source = Aws1Source::new(client_of(&emulator).build().unwrap());
    (emulator, source, clock)
}

#[tokio::test]
async fn env_credentials_and_region_never_touch_imds() {
    let (emulator, source, clock) = setup().await;
    let c = ctx(
        &clock,
        &[
            ("AWS_ACCESS_KEY_ID", "AKIDEXAMPLE"),
            ("AWS_SECRET_ACCESS_KEY", SECRET),
            ("AWS_SESSION_TOKEN", SESSION_TOKEN),
            ("AWS_REGION", "us-east-2"),
        ],
    );
    let token = AwsSignedRequestToken::new(source, AUDIENCE)
        .subject_token(&c)
        .await
        .unwrap();
    assert_eq!(emulator.request_count(), 0);
    let json = decode(&token);
    assert_eq!(
        header(&json, "x-amz-security-token").as_deref(),
        Some(SESSION_TOKEN)
    );
    assert!(json["url"].as_str().unwrap().contains("sts.us-east-2."));
}

#[tokio::test]
async fn env_credentials_without_region_ask_imds_for_the_region_only() {
    let (emulator, source, clock) = setup().await;
    let c = ctx(
        &clock,
        &[
            ("AWS_ACCESS_KEY_ID", "AKIDEXAMPLE"),
            ("AWS_SECRET_ACCESS_KEY", SECRET),
            ("AWS_SESSION_TOKEN", ""),
            ("AWS_REGION", ""),
        ],
    );
    let token = AwsSignedRequestToken::new(source, AUDIENCE)
        .subject_token(&c)
        .await
        .unwrap();
    assert_eq!((emulator.put_count(), emulator.get_count()), (1, 1));
    let json = decode(&token);
    assert_eq!(header(&json, "x-amz-security-token"), None);
    assert!(header(&json, "Authorization").unwrap().contains(
        "/eu-west-1/sts/aws4_request, SignedHeaders=host;x-amz-date;x-goog-cloud-target-resource,"
    ));
}

#[tokio::test]
async fn everything_from_imds_with_one_session_token() {
    let (emulator, source, clock) = setup().await;
    let c = ctx(&clock, &[("AWS_ACCESS_KEY_ID", "AKIDHALF")]);
    let token = AwsSignedRequestToken::new(source.clone(), AUDIENCE)
        .subject_token(&c)
        .await
        .unwrap();
    assert_eq!((emulator.put_count(), emulator.get_count()), (1, 3));
    let served = emulator.credentials();
    let json = decode(&token);
    assert_eq!(
        header(&json, "x-amz-security-token"),
        Some(served.session_token.clone())
    );
    assert!(
        header(&json, "Authorization")
            .unwrap()
            .contains(&format!("Credential={}/", served.access_key_id))
    );
    // The signed token expires with the signature, well before the credentials.
    assert_eq!(
        token.expires_at(),
        Some(c.now() + std::time::Duration::from_secs(900))
    );

    // Half-set keys fall back to IMDS, and a failure there says so.
    emulator.set_role(None);
    source.imds().clear_cache().await;
    let err = source.credentials(&c).await.unwrap_err();
    assert_eq!(err.kind(), ErrorKind::NotAvailable);
    assert!(
        err.message().contains("only one of AWS_ACCESS_KEY_ID"),
        "{err}"
    );
    let err = source
        .region(&ctx(&clock, &[("AWS_EC2_METADATA_DISABLED", "true")]))
        .await;
    assert!(
        err.unwrap_err()
            .message()
            .contains("AWS_REGION and AWS_DEFAULT_REGION are unset")
    );
}
