//! Tests of the IMDS emulator over HTTP, as a client sees it.

use super::*;
use crate::testkit::test_support::{client, clock, send, Reply};
use crate::testkit::Fault;

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
