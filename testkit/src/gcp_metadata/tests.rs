//! Tests of the metadata emulator over HTTP, as a client sees it.

use serde_json::{Value, json};

use super::*;
use crate::Fault;
use crate::jwt::{JwtError, decode_payload};
use crate::test_support::{Reply, T0_SECS, at, client, clock, send};
use federated_credentials::context::{Context, StaticEnv};
use federated_credentials::source::{GcpMetadataIdentityToken, IdTokenFormat, SubjectTokenSource};

const IDENTITY: &str = "/computeMetadata/v1/instance/service-accounts/default/identity";

async fn get(mds: &GcpMetadataEmulator, path_and_query: &str) -> Reply {
    let url = format!("{}{path_and_query}", mds.base_url());
    send(client().get(url).header("Metadata-Flavor", "Google")).await
}

async fn started() -> (
    GcpMetadataEmulator,
    federated_credentials::context::ManualClock,
) {
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
    assert!(
        !decode_payload(&standard.body)
            .unwrap()
            .contains_key("google")
    );
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

/// A `GcpMetadataIdentityToken` of `format` reading `mds`, for `sts.amazonaws.com`.
fn source(mds: &GcpMetadataEmulator, format: IdTokenFormat) -> GcpMetadataIdentityToken {
    GcpMetadataIdentityToken::new("sts.amazonaws.com")
        .format(format)
        .metadata_host(mds.host())
}

/// The claims of the token `source` fetches.
async fn claims_of(source: &GcpMetadataIdentityToken) -> serde_json::Map<String, Value> {
    let token = source.subject_token(&Context::default()).await.unwrap();
    decode_payload(token.token().expose_secret()).unwrap()
}

#[tokio::test]
async fn the_identity_source_sees_the_builder_settings() {
    let mds = GcpMetadataEmulator::builder()
        .service_account("app@my-project.iam.gserviceaccount.com", "1234")
        .extra_service_account(ServiceAccount::new(
            "batch@my-project.iam.gserviceaccount.com",
            "5678",
        ))
        .project("my-project", 987_654_321)
        .zone("europe-west1-b")
        .instance(42, "worker-1")
        .instance_creation_timestamp(1_700_000_000)
        .licenses(["1000010", "5926592092274602096"])
        .token_lifetime(Duration::from_secs(600))
        .start()
        .await
        .unwrap();
    let full = claims_of(&source(&mds, IdTokenFormat::Full).licenses(true)).await;
    assert_eq!(full["email"], "app@my-project.iam.gserviceaccount.com");
    let compute_engine = &full["google"]["compute_engine"];
    assert_eq!(compute_engine["project_id"], "my-project");
    assert_eq!(compute_engine["project_number"], 987_654_321);
    assert_eq!(compute_engine["zone"], "europe-west1-b");
    assert_eq!(
        compute_engine["instance_id"], "42",
        "a string, as Google sends it"
    );
    assert_eq!(compute_engine["instance_name"], "worker-1");
    assert_eq!(compute_engine["instance_creation_timestamp"], 1_700_000_000);
    assert_eq!(
        compute_engine["license_id"],
        json!(["1000010", "5926592092274602096"])
    );

    let standard = claims_of(&source(&mds, IdTokenFormat::Standard)).await;
    assert_eq!(standard["sub"], "1234");
    assert!(
        standard.get("email").is_none(),
        "only format=full carries it"
    );
    assert_eq!(
        standard["exp"].as_u64(),
        standard["iat"].as_u64().map(|iat| iat + 600)
    );

    let batch = source(&mds, IdTokenFormat::Standard)
        .service_account("batch@my-project.iam.gserviceaccount.com");
    assert_eq!(claims_of(&batch).await["sub"], "5678");
}

#[tokio::test]
async fn default_account_scopes_and_access_token_lifetime() {
    let account = ServiceAccount::new("app@my-project.iam.gserviceaccount.com", "1234");
    assert_eq!(account.scopes, [CLOUD_PLATFORM_SCOPE]);
    let reader = account.with_scopes(["https://www.googleapis.com/auth/devstorage.read_only"]);
    let mds = GcpMetadataEmulator::builder()
        .clock(clock())
        .default_service_account(reader.clone())
        .access_token_expires_in(Duration::from_secs(300))
        .start()
        .await
        .unwrap();
    assert_eq!(mds.default_service_account(), &reader);
    let scopes = get(
        &mds,
        "/computeMetadata/v1/instance/service-accounts/default/scopes",
    )
    .await;
    assert_eq!(
        scopes.body,
        "https://www.googleapis.com/auth/devstorage.read_only\n"
    );
    let token = get(
        &mds,
        "/computeMetadata/v1/instance/service-accounts/default/token",
    )
    .await;
    let json: Value = serde_json::from_str(&token.body).unwrap();
    assert_eq!(json["expires_in"], 300);
}

#[tokio::test]
async fn getters_and_defaults() {
    let mds = GcpMetadataEmulator::start().await.unwrap();
    let jwt = mds.issue_identity_token("sts.amazonaws.com", Duration::from_secs(300));
    let claims = decode_payload(&jwt).unwrap();
    assert_eq!(claims["aud"], "sts.amazonaws.com");
    assert_eq!(
        claims["exp"].as_u64(),
        claims["iat"].as_u64().map(|iat| iat + 300)
    );
    assert_eq!(mds.request_count(), 0, "signed directly, no HTTP involved");
    assert_eq!(mds.host(), mds.local_addr().to_string(), "no scheme");
    assert_eq!(mds.project_id(), "test-project");
    assert_eq!(mds.project_number(), 123_456_789);
    let served = get(&mds, "/computeMetadata/v1/project/project-id").await;
    assert_eq!(served.body, mds.project_id());
    assert_eq!(mds.identity(), GoogleIdentity::shared());
    let claims = claims_of(&source(&mds, IdTokenFormat::Standard)).await;
    assert_eq!(
        claims["azp"],
        mds.default_service_account().unique_id.as_str()
    );

    let mds = GcpMetadataEmulator::builder()
        .service_account("app@my-project.iam.gserviceaccount.com", "1234")
        .project("my-project", 42)
        .start()
        .await
        .unwrap();
    assert_eq!((mds.project_id(), mds.project_number()), ("my-project", 42));
    assert_eq!(
        mds.default_service_account().email,
        "app@my-project.iam.gserviceaccount.com"
    );
}

#[tokio::test]
async fn a_key_no_other_emulator_trusts() {
    let rogue = GoogleIdentity::generate();
    let mds = GcpMetadataEmulator::builder()
        .identity(rogue.clone())
        .start()
        .await
        .unwrap();
    let token = source(&mds, IdTokenFormat::Standard)
        .subject_token(&Context::default())
        .await
        .unwrap();
    let jwt = token.token().expose_secret();
    assert!(rogue.verify(jwt).is_ok());
    assert!(matches!(
        GoogleIdentity::shared().verify(jwt),
        Err(JwtError::UnknownKey(_))
    ));
}

#[tokio::test]
async fn the_source_request_as_recorded() {
    let mds = GcpMetadataEmulator::start().await.unwrap();
    mds.push_fault(Fault::status(503)); // the source retries
    let ctx = Context::builder()
        .env(StaticEnv::from_pairs([("GCE_METADATA_HOST", mds.host())]))
        .build();
    let token = GcpMetadataIdentityToken::new("sts.amazonaws.com")
        .subject_token(&ctx)
        .await
        .unwrap();
    assert!(mds.identity().verify(token.token().expose_secret()).is_ok());

    let requests = mds.requests();
    assert_eq!(requests.len(), 2, "the faulted attempt is logged too");
    assert_eq!(
        requests[0], requests[1],
        "and the retry was the same request"
    );
    let request = mds.last_request().unwrap();
    assert_eq!(request.method, "GET");
    assert!(request.path.ends_with("/service-accounts/default/identity"));
    assert_eq!(request.header("Metadata-Flavor"), Some("Google"));
    assert_eq!(request.header("metadata-flavor"), Some("Google"));
    assert_eq!(request.query_param("audience"), Some("sts.amazonaws.com"));
    assert_eq!(request.query_param("format"), Some("standard"));
    assert_eq!(
        request.query_param("Audience"),
        None,
        "names are case-sensitive"
    );
    assert_eq!(
        request.path_segments(),
        [
            "computeMetadata",
            "v1",
            "instance",
            "service-accounts",
            "default",
            "identity"
        ],
    );
}
