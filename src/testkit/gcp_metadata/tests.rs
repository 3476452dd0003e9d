//! Tests of the metadata emulator over HTTP, as a client sees it.

use serde_json::{json, Value};

use super::*;
use crate::testkit::jwt::decode_payload;
use crate::testkit::test_support::{at, client, clock, send, Reply, T0_SECS};
use crate::testkit::Fault;

const IDENTITY: &str = "/computeMetadata/v1/instance/service-accounts/default/identity";

async fn get(mds: &GcpMetadataEmulator, path_and_query: &str) -> Reply {
    let url = format!("{}{path_and_query}", mds.base_url());
    send(client().get(url).header("Metadata-Flavor", "Google")).await
}

async fn started() -> (GcpMetadataEmulator, crate::context::ManualClock) {
    let clock = clock();
    let mds = GcpMetadataEmulator::builder()
        .clock(clock.clone())
        .start()
        .await
        .unwrap();
    (mds, clock)
}

#[tokio::test]
async fn requires_the_flavor_header_and_always_sends_it() {
    let (mds, _) = started().await;
    let url = format!("{}/computeMetadata/v1/project/project-id", mds.base_url());
    for request in [
        client().get(&url),
        client().get(&url).header("Metadata-Flavor", "google"),
    ] {
        let reply = send(request).await;
        assert_eq!(reply.status, 403);
        assert_eq!(reply.header("metadata-flavor"), Some("Google"));
        assert!(reply.body.contains("Metadata-Flavor"), "{}", reply.body);
    }
    let reply = get(&mds, "/computeMetadata/v1/project/project-id").await;
    assert_eq!((reply.status, reply.body.as_str()), (200, "test-project"));
    assert_eq!(reply.header("metadata-flavor"), Some("Google"));
}

#[tokio::test]
async fn rejects_x_forwarded_for() {
    let (mds, _) = started().await;
    let request = client()
        .get(format!("{}/computeMetadata/v1/", mds.base_url()))
        .header("Metadata-Flavor", "Google")
        .header("X-Forwarded-For", "10.0.0.1");
    let reply = send(request).await;
    assert_eq!(reply.status, 403);
    assert_eq!(reply.header("metadata-flavor"), Some("Google"));
}

#[tokio::test]
async fn detection_ping_and_plain_values() {
    let (mds, _) = started().await;
    assert_eq!(get(&mds, "/").await.status, 200);
    assert_eq!(get(&mds, "/computeMetadata/v1/").await.status, 200);
    let cases = [
        (
            "/computeMetadata/v1/project/numeric-project-id",
            "123456789",
        ),
        (
            "/computeMetadata/v1/instance/zone",
            "projects/123456789/zones/us-central1-a",
        ),
        (
            "/computeMetadata/v1/instance/service-accounts/default/email",
            "123456789-compute@developer.gserviceaccount.com",
        ),
    ];
    for (path, expected) in cases {
        let reply = get(&mds, path).await;
        assert_eq!(
            (reply.status, reply.body.as_str()),
            (200, expected),
            "{path}"
        );
    }
    let reply = get(&mds, "/computeMetadata/v1/nope").await;
    assert_eq!(reply.status, 404);
    assert_eq!(reply.header("metadata-flavor"), Some("Google"));
    assert_eq!(mds.request_count(), 6);
}

#[tokio::test]
async fn standard_identity_token_claims() {
    let (mds, _) = started().await;
    let reply = get(
        &mds,
        &format!("{IDENTITY}?audience=https%3A%2F%2Fsts.example%2Fx"),
    )
    .await;
    assert_eq!(reply.status, 200);
    assert!(!reply.body.starts_with('{'), "bare JWT, not JSON");
    let claims = mds.identity().verify(&reply.body).unwrap();
    assert_eq!(
        Value::Object(claims),
        json!({
            "iss": "https://accounts.google.com",
            "aud": "https://sts.example/x",
            "azp": "104729384756102938475",
            "sub": "104729384756102938475",
            "iat": T0_SECS,
            "exp": T0_SECS + 3600,
        }),
        "standard tokens carry no email (format=full adds it)"
    );
    assert_eq!(
        mds.last_request().unwrap().query_param("audience"),
        Some("https://sts.example/x")
    );
}

#[tokio::test]
async fn full_identity_token_with_and_without_licenses() {
    let mds = GcpMetadataEmulator::builder()
        .clock(clock())
        .project("my-proj", 42)
        .zone("europe-west1-b")
        .instance(987_654_321_987_654_321, "vm-1")
        .licenses(["111", "222"])
        .start()
        .await
        .unwrap();
    let full = get(&mds, &format!("{IDENTITY}?audience=a&format=full")).await;
    let claims = decode_payload(&full.body).unwrap();
    assert_eq!(
        claims["google"],
        json!({"compute_engine": {
            "project_id": "my-proj",
            "project_number": 42,
            "zone": "europe-west1-b",
            "instance_id": "987654321987654321",
            "instance_name": "vm-1",
            "instance_creation_timestamp": 1_600_000_000,
        }})
    );
    let licensed = get(
        &mds,
        &format!("{IDENTITY}?audience=a&format=full&licenses=TRUE"),
    )
    .await;
    let claims = decode_payload(&licensed.body).unwrap();
    assert_eq!(
        claims["google"]["compute_engine"]["license_id"],
        json!(["111", "222"])
    );
    let standard = get(&mds, &format!("{IDENTITY}?audience=a&licenses=TRUE")).await;
    assert!(!decode_payload(&standard.body)
        .unwrap()
        .contains_key("google"));
}

#[tokio::test]
async fn identity_parameter_errors_and_unknown_accounts() {
    let (mds, _) = started().await;
    for query in [
        "",
        "?audience=",
        "?audience=a&format=compact",
        "?audience=a&licenses=yes",
    ] {
        let reply = get(&mds, &format!("{IDENTITY}{query}")).await;
        assert_eq!(reply.status, 400, "{query}");
    }
    let unknown = "/computeMetadata/v1/instance/service-accounts/x@y.iam.gserviceaccount.com";
    assert_eq!(
        get(&mds, &format!("{unknown}/identity?audience=a"))
            .await
            .status,
        404
    );
    assert_eq!(get(&mds, &format!("{unknown}/token")).await.status, 404);
}

#[tokio::test]
async fn extra_accounts_are_reachable_by_email() {
    let extra = ServiceAccount::new("ci@p.iam.gserviceaccount.com", "555");
    let mds = GcpMetadataEmulator::builder()
        .clock(clock())
        .extra_service_account(extra)
        .start()
        .await
        .unwrap();
    let path = "/computeMetadata/v1/instance/service-accounts/ci%40p.iam.gserviceaccount.com";
    let reply = get(&mds, &format!("{path}/identity?audience=a")).await;
    let claims = decode_payload(&reply.body).unwrap();
    assert_eq!(
        (claims["sub"].as_str(), claims["azp"].as_str()),
        (Some("555"), Some("555"))
    );
    let listing = get(&mds, "/computeMetadata/v1/instance/service-accounts/").await;
    assert!(listing.body.contains("ci@p.iam.gserviceaccount.com/\n"));
    let recursive = get(&mds, &format!("{path}/?recursive=true")).await;
    let json: Value = serde_json::from_str(&recursive.body).unwrap();
    assert_eq!(json["email"], "ci@p.iam.gserviceaccount.com");
}

#[tokio::test]
async fn access_token_is_json() {
    let (mds, _) = started().await;
    let path = "/computeMetadata/v1/instance/service-accounts/default/token?scopes=a,b";
    let reply = get(&mds, path).await;
    assert_eq!(reply.header("content-type"), Some("application/json"));
    let json: Value = serde_json::from_str(&reply.body).unwrap();
    assert!(json["access_token"].as_str().unwrap().starts_with("ya29."));
    assert_eq!(json["expires_in"], 3599);
    assert_eq!(json["token_type"], "Bearer");
}

#[tokio::test]
async fn token_lifetime_and_issue_helpers_follow_the_clock() {
    let (mds, clock) = started().await;
    mds.set_token_lifetime(Duration::ZERO);
    clock.advance(Duration::from_secs(10));
    let reply = get(&mds, &format!("{IDENTITY}?audience=a")).await;
    let claims = decode_payload(&reply.body).unwrap();
    assert_eq!(claims["iat"], T0_SECS + 10);
    assert_eq!(claims["exp"], T0_SECS + 10);

    let jwt = mds.issue_identity_token("b", Duration::from_secs(60));
    let claims = mds.identity().verify(&jwt).unwrap();
    assert_eq!(
        (claims["aud"].as_str(), claims["exp"].as_u64()),
        (Some("b"), Some(T0_SECS + 70))
    );
    let old = mds.issue_identity_token_at("b", at(T0_SECS - 7200), Duration::from_secs(3600));
    assert_eq!(decode_payload(&old).unwrap()["exp"], T0_SECS - 3600);
}

#[tokio::test]
async fn faults_keep_the_flavor_header_then_normal_service_resumes() {
    let (mds, _) = started().await;
    mds.push_fault_times(Fault::status(503), 2);
    mds.push_fault(Fault::Body("not a jwt".into()));
    assert_eq!(mds.pending_faults(), 3);
    for _ in 0..2 {
        let reply = get(&mds, "/").await;
        assert_eq!(reply.status, 503);
        assert_eq!(reply.header("metadata-flavor"), Some("Google"));
    }
    let garbage = get(&mds, &format!("{IDENTITY}?audience=a")).await;
    assert_eq!((garbage.status, garbage.body.as_str()), (200, "not a jwt"));
    let reply = get(&mds, &format!("{IDENTITY}?audience=a")).await;
    assert!(mds.identity().verify(&reply.body).is_ok());
    assert_eq!(mds.pending_faults(), 0);
    assert_eq!(mds.request_count(), 4);
}
