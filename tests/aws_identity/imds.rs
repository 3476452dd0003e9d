//! [`Ec2InstanceMetadata`] against the IMDS emulator.

use std::time::{Duration, Instant, UNIX_EPOCH};

use super::{assert_no_secrets_in, client_of, clock, ctx};
use federated_credentials::ErrorKind;
use federated_credentials::http::RetryPolicy;
use federated_credentials::source::aws::*;
use federated_credentials_testkit::{
    Ec2MetadataEmulator, Ec2MetadataEmulatorBuilder, Fault, ImdsMode,
};

async fn start(builder: Ec2MetadataEmulatorBuilder) -> Ec2MetadataEmulator {
    builder.start().await.unwrap()
}

#[tokio::test]
async fn session_token_is_reused_and_renewed_120s_before_its_ttl() {
    let clock = clock();
    let emulator = start(
        Ec2MetadataEmulator::builder()
            .clock(clock.clone())
            .credentials_lifetime(Duration::from_secs(3600)),
    )
    .await;
    let imds = client_of(&emulator).build().unwrap();
    let c = ctx(&clock, &[]);

    assert_eq!(imds.region(&c).await.unwrap(), "us-east-1");
    let first = imds.credentials(&c).await.unwrap();
    assert_eq!(first.access_key_id(), emulator.credentials().access_key_id);
    assert_eq!((emulator.put_count(), emulator.get_count()), (1, 3));

    // Within 5 min of expiry the credentials are fetched again, with the same token.
    clock.advance(Duration::from_secs(56 * 60));
    imds.credentials(&c).await.unwrap();
    assert_eq!((emulator.put_count(), emulator.get_count()), (1, 4));

    // Past TTL - 120 s a new token is fetched first.
    clock.set(UNIX_EPOCH + Duration::from_secs(1_700_000_000 + 21600 - 119));
    let later = imds.credentials(&c).await.unwrap();
    assert_eq!((emulator.put_count(), emulator.get_count()), (2, 5));
    assert_ne!(later.access_key_id(), first.access_key_id());

    // Requests carry the token and nothing else of ours.
    let put = &emulator.requests()[0];
    assert_eq!(put.method, "PUT");
    assert_eq!(
        put.header("x-aws-ec2-metadata-token-ttl-seconds"),
        Some("21600")
    );
    for request in emulator.requests() {
        assert!(!request.has_header("content-type"), "{request:?}");
        assert!(!request.has_header("x-forwarded-for"));
        assert_eq!(
            request.has_header("x-aws-ec2-metadata-token"),
            request.method == "GET"
        );
    }
}

#[tokio::test]
async fn a_401_drops_the_token_and_fetches_a_new_one_once() {
    let clock = clock();
    let emulator = start(Ec2MetadataEmulator::builder().clock(clock.clone())).await;
    let imds = client_of(&emulator).build().unwrap();
    let c = ctx(&clock, &[]);
    imds.region(&c).await.unwrap();
    emulator.revoke_tokens();
    imds.credentials(&c).await.unwrap();
    // PUT, region; listing (401), PUT, listing, credentials.
    assert_eq!((emulator.put_count(), emulator.get_count()), (2, 4));

    // A service that rejects every token is reported, not looped on.
    let fresh = client_of(&emulator)
        .region_url(emulator.placement_region_url())
        .build()
        .unwrap();
    fresh.credentials(&c).await.unwrap();
    // GET 401, the new token's PUT answered normally, GET 401 again.
    emulator.push_fault(Fault::status(401));
    emulator.push_fault(Fault::Delay(Duration::ZERO));
    emulator.push_fault(Fault::status(401));
    let err = fresh.region(&c).await.unwrap_err();
    assert_eq!(err.http_status(), Some(401));
    assert!(err.message().contains("fresh session token"), "{err}");
}

#[tokio::test]
async fn no_role_and_untrusted_role_are_explained() {
    let clock = clock();
    let emulator = start(
        Ec2MetadataEmulator::builder()
            .clock(clock.clone())
            .no_role(),
    )
    .await;
    let imds = client_of(&emulator).build().unwrap();
    let c = ctx(&clock, &[]);
    let err = imds.credentials(&c).await.unwrap_err();
    assert_eq!(err.kind(), ErrorKind::NotAvailable);
    assert!(
        err.message()
            .contains("no IAM role is attached to this instance (attach an instance profile)"),
        "{err}"
    );

    emulator.set_role(Some("web"));
    emulator.set_credentials_error(Some("AssumeRoleUnauthorizedAccess"));
    let err = imds.credentials(&c).await.unwrap_err();
    assert_eq!(err.upstream_code(), Some("AssumeRoleUnauthorizedAccess"));
    assert!(
        err.message()
            .contains("lacks a trust relationship with ec2.amazonaws.com"),
        "{err}"
    );
    emulator.set_credentials_error(None);
    assert!(imds.credentials(&c).await.is_ok());
}

#[tokio::test]
async fn hop_limit_hang_fails_in_bounded_time_with_the_hint() {
    let clock = clock();
    let emulator = start(
        Ec2MetadataEmulator::builder()
            .clock(clock.clone())
            .hop_limit_exceeded(true),
    )
    .await;
    let imds = client_of(&emulator).build().unwrap();
    let started = Instant::now();
    let err = imds.region(&ctx(&clock, &[])).await.unwrap_err();
    assert!(
        started.elapsed() < Duration::from_secs(3),
        "{:?}",
        started.elapsed()
    );
    assert_eq!(err.kind(), ErrorKind::Transport);
    assert!(
        err.message()
            .contains("IMDSv2 session token request timed out")
            && err
                .message()
                .contains("HttpPutResponseHopLimit must be 2 or more"),
        "{err}"
    );
    assert_eq!(emulator.put_count(), 2);
}

#[tokio::test]
async fn v1_only_service_with_v2_configured_is_a_clear_error_and_v1_works() {
    let clock = clock();
    let emulator = start(
        Ec2MetadataEmulator::builder()
            .clock(clock.clone())
            .mode(ImdsMode::V1Only { put_status: 405 }),
    )
    .await;
    let c = ctx(&clock, &[]);
    let err = client_of(&emulator)
        .build()
        .unwrap()
        .region(&c)
        .await
        .unwrap_err();
    assert_eq!(err.http_status(), Some(405));
    assert!(err.message().contains("IMDSv2 not supported"), "{err}");

    let v1 = client_of(&emulator).imds_v1().build().unwrap();
    assert!(!v1.uses_session_token());
    assert_eq!(v1.region(&c).await.unwrap(), "us-east-1");
    v1.credentials(&c).await.unwrap();
    assert_eq!(emulator.put_count(), 1);

    // And IMDSv1 against a service that requires tokens says what to configure.
    let strict = start(Ec2MetadataEmulator::builder().clock(clock.clone())).await;
    let err = client_of(&strict)
        .imds_v1()
        .build()
        .unwrap()
        .region(&c)
        .await
        .unwrap_err();
    assert!(err.message().contains("imdsv2_session_token_url"), "{err}");
}

#[tokio::test]
async fn local_zones_and_placement_region_urls() {
    let clock = clock();
    let emulator = start(
        Ec2MetadataEmulator::builder()
            .clock(clock.clone())
            .availability_zone("us-west-2-lax-1a")
            .region("us-west-2"),
    )
    .await;
    let c = ctx(&clock, &[]);
    let zone = client_of(&emulator).build().unwrap();
    assert_eq!(zone.region(&c).await.unwrap(), "us-west-2");
    assert_eq!(zone.region(&c).await.unwrap(), "us-west-2");
    assert_eq!(emulator.get_count(), 1, "the region is cached");

    let placement = client_of(&emulator)
        .region_url(emulator.placement_region_url())
        .build()
        .unwrap();
    assert_eq!(placement.region(&c).await.unwrap(), "us-west-2");
}

#[tokio::test]
async fn credentials_are_cached_until_five_minutes_before_expiry() {
    let clock = clock();
    let emulator = start(
        Ec2MetadataEmulator::builder()
            .clock(clock.clone())
            .credentials_lifetime(Duration::from_secs(3600))
            .include_account_id(true),
    )
    .await;
    let imds = client_of(&emulator).build().unwrap();
    let c = ctx(&clock, &[]);
    let first = imds.credentials(&c).await.unwrap();
    let served = emulator.credentials();
    assert_eq!(first.session_token(), Some(served.session_token.as_str()));
    assert_eq!(first.secret_access_key(), served.secret_access_key);
    assert_eq!(first.expiry(), Some(served.expiration));
    assert_eq!(first.account_id().map(|a| a.as_str()), Some("123456789012"));

    let rotated = emulator.rotate_credentials();
    clock.advance(Duration::from_secs(54 * 60));
    assert_eq!(
        imds.credentials(&c).await.unwrap().access_key_id(),
        first.access_key_id()
    );
    clock.advance(Duration::from_secs(2 * 60));
    assert_eq!(
        imds.credentials(&c).await.unwrap().access_key_id(),
        rotated.access_key_id
    );
}

#[tokio::test]
async fn environment_switches_endpoint_and_disables() {
    let clock = clock();
    let emulator = start(Ec2MetadataEmulator::builder().clock(clock.clone())).await;
    let endpoint = emulator.endpoint();
    let imds = Ec2InstanceMetadata::new();
    let c = ctx(
        &clock,
        &[("AWS_EC2_METADATA_SERVICE_ENDPOINT", &format!("{endpoint}/"))],
    );
    assert_eq!(imds.region(&c).await.unwrap(), "us-east-1");
    assert_eq!(emulator.put_count(), 1);

    let before = emulator.request_count();
    let off = ctx(
        &clock,
        &[
            ("AWS_EC2_METADATA_SERVICE_ENDPOINT", &endpoint),
            ("AWS_EC2_METADATA_DISABLED", "TRUE"),
        ],
    );
    let err = Ec2InstanceMetadata::new()
        .credentials(&off)
        .await
        .unwrap_err();
    assert_eq!(err.kind(), ErrorKind::NotAvailable);
    assert!(err.message().contains("AWS_EC2_METADATA_DISABLED"), "{err}");
    assert_eq!(emulator.request_count(), before);
}

#[tokio::test]
async fn not_on_ec2_and_server_errors() {
    let clock = clock();
    let c = ctx(&clock, &[]);
    let port = std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port();
    let nowhere = Ec2InstanceMetadata::builder()
        .session_token_url(format!("http://127.0.0.1:{port}/latest/api/token"))
        .region_url(format!(
            "http://127.0.0.1:{port}/latest/meta-data/placement/region"
        ))
        .attempt_timeout(Duration::from_millis(300))
        .retry_policy(
            RetryPolicy::new(2).backoff(Duration::from_millis(1), Duration::from_millis(1)),
        )
        .build()
        .unwrap();
    let err = nowhere.region(&c).await.unwrap_err();
    assert_eq!(err.kind(), ErrorKind::Transport);
    assert!(err.message().contains("not running on EC2"), "{err}");

    let emulator = start(Ec2MetadataEmulator::builder().clock(clock.clone())).await;
    let imds = client_of(&emulator).build().unwrap();
    emulator.push_fault(Fault::status(503));
    assert_eq!(
        imds.region(&c).await.unwrap(),
        "us-east-1",
        "5xx is retried"
    );
    let forbidden = start(Ec2MetadataEmulator::builder().clock(clock.clone())).await;
    forbidden.push_fault(Fault::status(403));
    let err = client_of(&forbidden)
        .build()
        .unwrap()
        .region(&c)
        .await
        .unwrap_err();
    assert!(err.message().contains("disabled"), "{err}");
}

#[test]
fn builder_validates() {
    let bad = Ec2InstanceMetadata::builder()
        .region_url("ftp://x/")
        .build()
        .unwrap_err();
    assert!(bad.message().starts_with("region_url"), "{bad}");
    let ttl = Ec2InstanceMetadata::builder()
        .session_token_ttl(Duration::from_secs(21601))
        .build()
        .unwrap_err();
    assert!(ttl.message().starts_with("session_token_ttl"));
    let mut builder = Ec2InstanceMetadata::builder();
    builder.set_session_token_url(None);
    assert!(!builder.build().unwrap().uses_session_token());
}

#[tokio::test]
async fn nothing_secret_in_debug_or_errors() {
    let clock = clock();
    let emulator = start(Ec2MetadataEmulator::builder().clock(clock.clone())).await;
    let imds = client_of(&emulator).build().unwrap();
    let c = ctx(&clock, &[]);
    let creds = imds.credentials(&c).await.unwrap();
    emulator.set_credentials_error(Some("InternalError"));
    clock.advance(Duration::from_secs(6 * 3600));
    let err = imds.credentials(&c).await.unwrap_err();
    let served = emulator.credentials();
    let token = emulator.requests()[0].clone();
    let session = emulator
        .requests()
        .iter()
        .find_map(|r| r.header("x-aws-ec2-metadata-token").map(str::to_owned))
        .unwrap();
    let rendered = [
        format!("{imds:?}"),
        format!("{creds:?}"),
        format!("{err:?}"),
        err.to_string(),
    ];
    let rendered: Vec<&str> = rendered.iter().map(String::as_str).collect();
    assert_no_secrets_in(
        &rendered,
        &[&served.secret_access_key, &served.session_token, &session],
    );
    let _ = token;
}

#[tokio::test]
async fn concurrent_callers_share_one_token_and_one_fetch() {
    let clock = clock();
    let emulator = start(Ec2MetadataEmulator::builder().clock(clock.clone())).await;
    let imds = client_of(&emulator).build().unwrap();
    let c = ctx(&clock, &[]);
    let tasks: Vec<_> = (0..8)
        .map(|_| {
            let (imds, c) = (imds.clone(), c.clone());
            tokio::spawn(async move {
                imds.credentials(&c)
                    .await
                    .map(|k| k.access_key_id().to_string())
            })
        })
        .collect();
    for task in tasks {
        assert_eq!(
            task.await.unwrap().unwrap(),
            emulator.credentials().access_key_id
        );
    }
    assert_eq!((emulator.put_count(), emulator.get_count()), (1, 2));
}
