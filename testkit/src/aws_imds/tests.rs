//! Tests of the IMDS emulator over HTTP, as a client sees it.

use std::time::UNIX_EPOCH;

use super::*;
use crate::Fault;
use crate::test_support::{Reply, T0_SECS, at, client, clock, send};
use federated_credentials::ErrorKind;
use federated_credentials::context::{Context, StaticEnv};
use federated_credentials::http::RetryPolicy;
use federated_credentials::source::aws::{AwsIdentitySource, Ec2InstanceMetadata};

use self::handler::{TOKEN_HEADER, TTL_HEADER};

async fn put(imds: &Ec2MetadataEmulator, ttl: Option<&str>) -> Reply {
    let mut request = client().put(imds.token_url());
    if let Some(ttl) = ttl {
        request = request.header(TTL_HEADER, ttl);
    }
    send(request).await
}

async fn get(url: &str, token: Option<&str>) -> Reply {
    let mut request = client().get(url);
    if let Some(token) = token {
        request = request.header(TOKEN_HEADER, token);
    }
    send(request).await
}

#[tokio::test]
async fn token_put_requires_a_valid_ttl_and_echoes_it() {
    let imds = Ec2MetadataEmulator::start().await.unwrap();
    for bad in [None, Some("0"), Some("21601"), Some("abc")] {
        assert_eq!(put(&imds, bad).await.status, 400, "{bad:?}");
    }
    let reply = put(&imds, Some("300")).await;
    assert_eq!(reply.status, 200);
    assert_eq!(reply.header(TTL_HEADER), Some("300"));
    assert!(!reply.body.is_empty());
    let forwarded = client()
        .put(imds.token_url())
        .header(TTL_HEADER, "300")
        .header("X-Forwarded-For", "10.0.0.1");
    assert_eq!(send(forwarded).await.status, 403);
    assert_eq!(imds.put_count(), 6);
}

#[tokio::test]
async fn v2_required_checks_tokens_and_their_ttl_by_the_clock() {
    let clock = clock();
    let imds = Ec2MetadataEmulator::builder()
        .clock(clock.clone())
        .start()
        .await
        .unwrap();
    let url = imds.placement_region_url();
    assert_eq!(get(&url, None).await.status, 401);
    assert_eq!(get(&url, Some("forged")).await.status, 401);
    let token = put(&imds, Some("60")).await.body;
    let reply = get(&url, Some(&token)).await;
    assert_eq!((reply.status, reply.body.as_str()), (200, "us-east-1"));
    clock.advance(Duration::from_secs(60));
    assert_eq!(get(&url, Some(&token)).await.status, 401);
    assert_eq!(imds.get_count(), 4);
}

#[tokio::test]
async fn v2_optional_and_v1_only() {
    let imds = Ec2MetadataEmulator::builder()
        .mode(ImdsMode::V2Optional)
        .availability_zone("us-west-2-lax-1a")
        .start()
        .await
        .unwrap();
    let reply = get(&imds.availability_zone_url(), None).await;
    assert_eq!(
        (reply.status, reply.body.as_str()),
        (200, "us-west-2-lax-1a")
    );
    assert_eq!(
        get(&imds.availability_zone_url(), Some("bad")).await.status,
        401
    );

    imds.set_mode(ImdsMode::V1Only { put_status: 405 });
    assert_eq!(put(&imds, Some("21600")).await.status, 405);
    assert_eq!(
        get(&imds.availability_zone_url(), Some("bad")).await.status,
        200
    );
    imds.set_mode(ImdsMode::V1Only { put_status: 404 });
    assert_eq!(put(&imds, Some("21600")).await.status, 404);
}

#[tokio::test]
async fn role_listing_and_pretty_printed_credentials() {
    let clock = clock();
    let imds = Ec2MetadataEmulator::builder()
        .clock(clock.clone())
        .mode(ImdsMode::V2Optional)
        .role("app-role")
        .credentials_lifetime(Duration::from_secs(3600))
        .start()
        .await
        .unwrap();
    for listing in [
        imds.credentials_url(),
        format!("{}/", imds.credentials_url()),
    ] {
        let reply = get(&listing, None).await;
        assert_eq!((reply.status, reply.body.as_str()), (200, "app-role"));
    }
    let reply = get(&format!("{}/app-role", imds.credentials_url()), None).await;
    assert_eq!(reply.status, 200);
    assert!(
        reply.body.contains("\"Code\" : \"Success\""),
        "{}",
        reply.body
    );
    let json: serde_json::Value = serde_json::from_str(&reply.body).unwrap();
    let served = imds.credentials();
    assert_eq!(json["AccessKeyId"], served.access_key_id);
    assert_eq!(json["SecretAccessKey"], served.secret_access_key);
    assert_eq!(json["Token"], served.session_token);
    assert_eq!(json["AccountId"], "123456789012");
    assert_eq!(json["Expiration"], "2023-11-14T23:13:20Z");
    assert_eq!(
        get(&format!("{}/other", imds.credentials_url()), None)
            .await
            .status,
        404
    );

    // Expired credentials are replaced on the next request.
    clock.advance(Duration::from_secs(3600));
    get(&format!("{}/app-role", imds.credentials_url()), None).await;
    assert_ne!(imds.credentials().access_key_id, served.access_key_id);

    imds.set_credentials_error(Some("AssumeRoleUnauthorizedAccess"));
    let reply = get(&format!("{}/app-role", imds.credentials_url()), None).await;
    assert_eq!(reply.status, 200);
    let json: serde_json::Value = serde_json::from_str(&reply.body).unwrap();
    assert_eq!(json["Code"], "AssumeRoleUnauthorizedAccess");

    imds.set_role(None);
    assert_eq!(get(&imds.credentials_url(), None).await.status, 404);
}

#[tokio::test]
async fn hop_limit_hangs_only_the_put_and_faults_still_apply() {
    let imds = Ec2MetadataEmulator::builder()
        .mode(ImdsMode::V2Optional)
        .hop_limit_exceeded(true)
        .start()
        .await
        .unwrap();
    let hung = client()
        .put(imds.token_url())
        .header(TTL_HEADER, "21600")
        .timeout(Duration::from_millis(200))
        .send()
        .await;
    assert!(hung.unwrap_err().is_timeout());
    assert_eq!(get(&imds.placement_region_url(), None).await.status, 200);
    imds.push_fault(Fault::status(503));
    assert_eq!(get(&imds.placement_region_url(), None).await.status, 503);
    assert_eq!((imds.put_count(), imds.get_count()), (1, 2));
}

/// What a workload on the instance sees: `AWS_EC2_METADATA_SERVICE_ENDPOINT`, and `clock`.
fn on_instance_with(imds: &Ec2MetadataEmulator, clock: impl Clock + 'static) -> Context {
    Context::builder()
        .clock(clock)
        .env(StaticEnv::from_pairs([(
            "AWS_EC2_METADATA_SERVICE_ENDPOINT",
            imds.endpoint(),
        )]))
        .build()
}

fn on_instance(imds: &Ec2MetadataEmulator) -> Context {
    on_instance_with(imds, SystemClock)
}

/// A source that gives up on a hanging `PUT` after 200 ms, without retrying.
fn impatient() -> Ec2InstanceMetadata {
    Ec2InstanceMetadata::builder()
        .attempt_timeout(Duration::from_millis(200))
        .retry_policy(RetryPolicy::never())
        .build()
        .unwrap()
}

#[tokio::test]
async fn the_source_reads_what_is_served() {
    let imds = Ec2MetadataEmulator::start().await.unwrap();
    assert!(imds.endpoint().starts_with("http://127.0.0.1:"));
    let ctx = on_instance(&imds);
    let source = Ec2InstanceMetadata::new();
    assert_eq!(source.region(&ctx).await.unwrap(), "us-east-1");
    assert_eq!(source.region(&ctx).await.unwrap(), "us-east-1", "cached");
    let fetched = source.credentials(&ctx).await.unwrap();
    let served = imds.credentials();
    assert!(served.access_key_id.starts_with("ASIA"));
    assert_eq!(fetched.access_key_id(), served.access_key_id);
    assert_eq!(fetched.session_token(), Some(served.session_token.as_str()));
    // `Expiration` goes over the wire in whole seconds:
    let expiration = served
        .expiration
        .duration_since(UNIX_EPOCH)
        .unwrap()
        .as_secs();
    assert_eq!(
        fetched.expiry(),
        Some(UNIX_EPOCH + Duration::from_secs(expiration))
    );
    assert_eq!(
        fetched.account_id().map(|a| a.as_str()),
        Some("123456789012")
    );
    // One session token serves every request; the role name, then its credentials.
    assert_eq!(imds.put_count(), 1);
    assert_eq!(imds.get_count(), 3);
    let last = imds.last_request().unwrap();
    assert!(
        last.path
            .ends_with("/iam/security-credentials/test-instance-role")
    );
}

#[tokio::test]
async fn builder_settings_as_the_source_sees_them() {
    let imds = Ec2MetadataEmulator::builder()
        .availability_zone("eu-west-1b")
        .role("app-role")
        .account_id("210987654321")
        .credentials_lifetime(Duration::from_secs(15 * 60))
        .start()
        .await
        .unwrap();
    let ctx = on_instance(&imds);
    let source = Ec2InstanceMetadata::new();
    assert_eq!(source.region(&ctx).await.unwrap(), "eu-west-1");
    let credentials = source.credentials(&ctx).await.unwrap();
    assert_eq!(imds.credentials().account_id, "210987654321");
    assert_eq!(
        credentials.account_id().map(|a| a.as_str()),
        Some("210987654321")
    );
    let last = imds.last_request().expect("the credentials request");
    assert!(last.path.ends_with("/iam/security-credentials/app-role"));
    let served = imds.credentials();
    let lifetime = served
        .expiration
        .duration_since(served.last_updated)
        .unwrap();
    assert_eq!(lifetime, Duration::from_secs(15 * 60));

    let old = Ec2MetadataEmulator::builder()
        .include_account_id(false)
        .start()
        .await
        .unwrap();
    let credentials = Ec2InstanceMetadata::new()
        .credentials(&on_instance(&old))
        .await
        .unwrap();
    assert_eq!(credentials.account_id(), None);

    let a = Ec2MetadataEmulator::builder()
        .seed(7)
        .start()
        .await
        .unwrap();
    let b = Ec2MetadataEmulator::builder()
        .seed(7)
        .start()
        .await
        .unwrap();
    assert_eq!(a.credentials().access_key_id, b.credentials().access_key_id);
    assert_eq!(
        a.credentials().secret_access_key,
        b.credentials().secret_access_key
    );
}

#[tokio::test]
async fn regions_from_zones_and_placement() {
    for (zone, region) in [
        ("eu-central-1a", "eu-central-1"),
        ("us-west-2-lax-1a", "us-west-2"), // a Local Zone: the parent region
    ] {
        let imds = Ec2MetadataEmulator::builder()
            .availability_zone(zone)
            .start()
            .await
            .unwrap();
        let found = Ec2InstanceMetadata::new().region(&on_instance(&imds)).await;
        assert_eq!(found.unwrap(), region, "{zone}");
    }

    let imds = Ec2MetadataEmulator::builder()
        .region("eu-north-1")
        .start()
        .await
        .unwrap();
    let source = Ec2InstanceMetadata::builder()
        .region_url(imds.placement_region_url())
        .build()
        .unwrap();
    assert_eq!(
        source.region(&on_instance(&imds)).await.unwrap(),
        "eu-north-1"
    );

    let imds = Ec2MetadataEmulator::builder()
        .region("ca-central-1")
        .start()
        .await
        .unwrap();
    let source = Ec2InstanceMetadata::builder()
        .region_url(imds.placement_region_url())
        .session_token_url(imds.token_url())
        .build()
        .unwrap();
    let region = source.region(&Context::default()).await.unwrap();
    assert_eq!(region, "ca-central-1");

    let imds = Ec2MetadataEmulator::start().await.unwrap();
    imds.set_availability_zone("ap-southeast-2b");
    let region = Ec2InstanceMetadata::new().region(&on_instance(&imds)).await;
    assert_eq!(region.unwrap(), "ap-southeast-2");
}

#[tokio::test]
async fn explicit_urls_of_a_credential_source() {
    let imds = Ec2MetadataEmulator::start().await.unwrap();
    let source = Ec2InstanceMetadata::builder()
        .region_url(imds.availability_zone_url())
        .credentials_url(imds.credentials_url())
        .session_token_url(imds.token_url())
        .build()
        .unwrap();
    let credentials = source.credentials(&Context::default()).await.unwrap();
    assert_eq!(
        credentials.access_key_id(),
        imds.credentials().access_key_id
    );
    // The role listing, then the role's credentials:
    let paths: Vec<String> = imds.requests().into_iter().map(|r| r.path).collect();
    assert_eq!(
        paths,
        [
            "/latest/api/token",
            "/latest/meta-data/iam/security-credentials",
            "/latest/meta-data/iam/security-credentials/test-instance-role",
        ],
    );
}

#[tokio::test]
async fn credentials_follow_the_clock_and_rotation() {
    let start = at(T0_SECS);
    let clock = clock();
    let imds = Ec2MetadataEmulator::builder()
        .clock(clock.clone())
        .start()
        .await
        .unwrap();
    assert_eq!(
        imds.credentials().expiration,
        start + Duration::from_secs(6 * 3600)
    );
    // Seven hours later by that clock, a client gets new credentials.
    clock.advance(Duration::from_secs(7 * 3600));
    let ctx = on_instance_with(&imds, clock.clone());
    let source = Ec2InstanceMetadata::new();
    let fetched = source.credentials(&ctx).await.unwrap();
    assert_eq!(
        fetched.expiry(),
        Some(start + Duration::from_secs(13 * 3600))
    );

    let rotated = imds.rotate_credentials();
    assert_ne!(rotated.access_key_id, fetched.access_key_id());
    source.clear_cache().await; // the source caches credentials until shortly before expiry
    let after = source.credentials(&ctx).await.unwrap();
    assert_eq!(after.access_key_id(), rotated.access_key_id);
}

#[tokio::test]
async fn revoked_tokens_make_the_source_fetch_a_new_one() {
    let imds = Ec2MetadataEmulator::start().await.unwrap();
    let ctx = on_instance(&imds);
    let source = Ec2InstanceMetadata::new();
    source.region(&ctx).await.unwrap(); // gets a session token, and keeps it
    imds.revoke_tokens();
    source.credentials(&ctx).await.unwrap(); // a 401, then a new token and a retry
    assert_eq!(imds.put_count(), 2);
}

#[tokio::test]
async fn v1_only_and_switching_modes() {
    let imds = Ec2MetadataEmulator::builder()
        .mode(ImdsMode::V1Only { put_status: 405 })
        .start()
        .await
        .unwrap();
    let ctx = on_instance(&imds);
    let v1 = Ec2InstanceMetadata::builder().imds_v1().build().unwrap();
    assert_eq!(v1.region(&ctx).await.unwrap(), "us-east-1");
    assert_eq!(imds.put_count(), 0);
    // An IMDSv2 client is told why it fails.
    let err = Ec2InstanceMetadata::new().region(&ctx).await.unwrap_err();
    assert!(err.to_string().contains("IMDSv2 not supported"), "{err}");

    let imds = Ec2MetadataEmulator::start().await.unwrap(); // IMDSv2 required
    let url = imds.availability_zone_url();
    assert_eq!(get(&url, None).await.status, 401);
    imds.set_mode(ImdsMode::V2Optional);
    assert_eq!(get(&url, None).await.body, "us-east-1a");
    imds.set_mode(ImdsMode::V2Required);
    assert_eq!(get(&url, None).await.status, 401);

    // The emulator's own example: one PUT, one GET.
    let imds = Ec2MetadataEmulator::start().await.unwrap();
    let token = put(&imds, Some("21600")).await.body;
    let zone = get(&imds.availability_zone_url(), Some(&token)).await.body;
    assert_eq!(zone, "us-east-1a");
    assert_eq!((imds.put_count(), imds.get_count()), (1, 1));
}

#[tokio::test]
async fn the_hop_limit_hang_as_the_source_sees_it() {
    let imds = Ec2MetadataEmulator::builder()
        .hop_limit_exceeded(true)
        .start()
        .await
        .unwrap();
    let err = impatient().region(&on_instance(&imds)).await.unwrap_err();
    assert_eq!(err.kind(), ErrorKind::Transport);
    assert!(err.to_string().contains("HttpPutResponseHopLimit"), "{err}");

    let imds = Ec2MetadataEmulator::start().await.unwrap();
    let ctx = on_instance(&imds);
    let source = impatient();
    imds.set_hop_limit_exceeded(true); // as if the workload moved into a container
    assert!(source.region(&ctx).await.is_err());
    imds.set_hop_limit_exceeded(false);
    assert_eq!(source.region(&ctx).await.unwrap(), "us-east-1");
}

#[tokio::test]
async fn missing_roles_and_credential_errors() {
    let imds = Ec2MetadataEmulator::builder()
        .no_role()
        .start()
        .await
        .unwrap();
    let err = Ec2InstanceMetadata::new()
        .credentials(&on_instance(&imds))
        .await
        .unwrap_err();
    assert_eq!(err.kind(), ErrorKind::NotAvailable);
    assert!(err.to_string().contains("no IAM role is attached"), "{err}");

    let imds = Ec2MetadataEmulator::builder()
        .credentials_error("AssumeRoleUnauthorizedAccess")
        .start()
        .await
        .unwrap();
    let err = Ec2InstanceMetadata::new()
        .credentials(&on_instance(&imds))
        .await
        .unwrap_err();
    assert_eq!(err.upstream_code(), Some("AssumeRoleUnauthorizedAccess"));
    assert!(
        err.to_string()
            .contains("trust relationship with ec2.amazonaws.com"),
        "{err}"
    );

    let imds = Ec2MetadataEmulator::start().await.unwrap();
    let ctx = on_instance(&imds);
    imds.set_role(None);
    let err = Ec2InstanceMetadata::new()
        .credentials(&ctx)
        .await
        .unwrap_err();
    assert_eq!(err.kind(), ErrorKind::NotAvailable);
    imds.set_role(Some("app-role"));
    Ec2InstanceMetadata::new().credentials(&ctx).await.unwrap();
    assert!(imds.last_request().unwrap().path.ends_with("/app-role"));

    imds.set_credentials_error(Some("InternalError"));
    let err = Ec2InstanceMetadata::new()
        .credentials(&ctx)
        .await
        .unwrap_err();
    assert_eq!(err.upstream_code(), Some("InternalError"));
    imds.set_credentials_error(None);
    assert!(Ec2InstanceMetadata::new().credentials(&ctx).await.is_ok());
}
