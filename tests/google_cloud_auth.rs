//! `GoogleCloudAuthProvider` through `google_cloud_auth::credentials::Credentials`, against
//! the Google STS emulator.

mod common;

use std::error::Error as _;

use common::{MAX_ATTEMPTS, QUOTA_PROJECT, World};
use federated_credentials::integrations::google_cloud_auth::GoogleCloudAuthProvider;
use google_cloud_auth::credentials::{
    AccessTokenCredentials, CacheableResource, Credentials, EntityTag,
};
use http::{Extensions, HeaderMap};

fn new_headers(resource: CacheableResource<HeaderMap>) -> (EntityTag, HeaderMap) {
    match resource {
        CacheableResource::New { entity_tag, data } => (entity_tag, data),
        CacheableResource::NotModified => panic!("expected new headers"),
    }
}

fn with_tag(tag: &EntityTag) -> Extensions {
    let mut e = Extensions::new();
    e.insert(tag.clone());
    e
}

#[tokio::test]
async fn headers_carry_the_issued_token_and_the_quota_project() {
    let w = World::new().await;
    let credentials = Credentials::from(GoogleCloudAuthProvider::new(w.credentials()));

    let (_, headers) = new_headers(credentials.headers(Extensions::new()).await.unwrap());
    assert_eq!(headers.len(), 2, "{headers:?}");
    let authorization = headers.get("authorization").unwrap();
    assert_eq!(
        authorization.to_str().unwrap(),
        format!("Bearer {}", w.last_issued())
    );
    assert!(authorization.is_sensitive());
    assert!(!format!("{headers:?}").contains(&w.last_issued()));
    assert_eq!(headers.get("x-goog-user-project").unwrap(), QUOTA_PROJECT);
    assert_eq!(credentials.universe_domain().await, None);
    assert_eq!(w.sts.request_count(), 1);
}

#[tokio::test]
async fn without_a_quota_project_only_authorization() {
    let w = World::new().await;
    let mut config = w.config();
    config.as_object_mut().unwrap().remove("quota_project_id");
    let credentials = Credentials::from(GoogleCloudAuthProvider::new(w.credentials_from(&config)));
    let (_, headers) = new_headers(credentials.headers(Extensions::new()).await.unwrap());
    assert_eq!(headers.len(), 1, "{headers:?}");
    assert!(headers.contains_key("authorization"));
}

#[tokio::test]
async fn entity_tags_follow_the_cached_token() {
    let w = World::new().await;
    let provider = GoogleCloudAuthProvider::new(w.credentials());
    let credentials = Credentials::from(provider.clone());

    let (tag, first) = new_headers(credentials.headers(Extensions::new()).await.unwrap());
    // the same token: the caller's tag still holds, without a fetch
    let again = credentials.headers(with_tag(&tag)).await.unwrap();
    assert_eq!(again, CacheableResource::NotModified);
    // no tag: new headers, with the same tag
    let (same_tag, same) = new_headers(credentials.headers(Extensions::new()).await.unwrap());
    assert_eq!(same_tag, tag);
    assert_eq!(same, first);
    // a tag from somewhere else
    let (_, _) = new_headers(
        credentials
            .headers(with_tag(&EntityTag::new()))
            .await
            .unwrap(),
    );
    assert_eq!(w.sts.request_count(), 1);

    // a new token: a new tag, and the old one no longer matches
    provider.credentials().cache().invalidate();
    let (new_tag, refreshed) = new_headers(credentials.headers(with_tag(&tag)).await.unwrap());
    assert_ne!(new_tag, tag);
    assert_ne!(refreshed, first);
    assert_eq!(
        refreshed.get("authorization").unwrap().to_str().unwrap(),
        format!("Bearer {}", w.last_issued())
    );
    assert_eq!(w.sts.request_count(), 2);
    assert_eq!(
        credentials.headers(with_tag(&new_tag)).await.unwrap(),
        CacheableResource::NotModified
    );
}

#[tokio::test]
async fn access_token_credentials() {
    let w = World::new().await;
    let credentials = AccessTokenCredentials::from(GoogleCloudAuthProvider::new(w.credentials()));
    let token = credentials.access_token().await.unwrap();
    assert_eq!(token.token, w.last_issued());
}

#[tokio::test]
async fn universe_domain_from_the_configuration() {
    let w = World::new().await;
    let mut config = w.config();
    config["universe_domain"] = "example-universe.net".into();
    let credentials = GoogleCloudAuthProvider::new(w.credentials_from(&config)).into_credentials();
    assert_eq!(
        credentials.universe_domain().await.as_deref(),
        Some("example-universe.net")
    );
}

#[tokio::test]
async fn errors_keep_the_transient_flag() {
    let w = World::new().await;
    w.fail_permanently();
    let credentials = Credentials::from(GoogleCloudAuthProvider::new(w.credentials()));
    let err = credentials.headers(Extensions::new()).await.unwrap_err();
    assert!(!err.is_transient());
    assert!(err.to_string().contains("invalid_grant"), "{err}");
    let ours = err
        .source()
        .and_then(|s| s.downcast_ref::<federated_credentials::Error>())
        .unwrap();
    assert_eq!(ours.upstream_code(), Some("invalid_grant"));
    assert_eq!(w.sts.request_count(), 1);

    let w = World::new().await;
    w.fail_transiently();
    let credentials = Credentials::from(GoogleCloudAuthProvider::new(w.credentials()));
    let err = credentials.headers(Extensions::new()).await.unwrap_err();
    assert!(err.is_transient(), "{err:?}");
    assert_eq!(w.sts.request_count(), MAX_ATTEMPTS);
    let ours = err
        .source()
        .and_then(|s| s.downcast_ref::<federated_credentials::Error>())
        .unwrap();
    assert!(ours.is_transient());
}
