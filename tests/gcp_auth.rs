//! `GcpAuthProvider` through `Arc<dyn gcp_auth::TokenProvider>`, against the Google STS
//! emulator.

mod common;

use std::error::Error as _;
use std::sync::Arc;
use std::time::SystemTime;

use common::{MAX_ATTEMPTS, QUOTA_PROJECT, World};
use federated_credentials::integrations::gcp_auth::GcpAuthProvider;
use gcp_auth::TokenProvider;

const CLOUD_PLATFORM: &str = "https://www.googleapis.com/auth/cloud-platform";

#[tokio::test]
async fn token_is_the_issued_token_with_its_expiry() {
    let w = World::new().await;
    let provider: Arc<dyn TokenProvider> = Arc::new(GcpAuthProvider::new(w.credentials()));
    let token = provider.token(&[CLOUD_PLATFORM]).await.unwrap();
    assert_eq!(token.as_str(), w.last_issued());
    assert!(!token.has_expired());
    let issued_expiry = w.sts.issued_tokens()[0].expires_at;
    let expiry: SystemTime = token.expires_at().into();
    let skew = issued_expiry
        .duration_since(expiry)
        .unwrap_or_else(|e| e.duration());
    assert!(skew.as_secs() <= 2, "{skew:?}");
    assert!(!format!("{token:?}").contains(&w.last_issued()));

    // converted once per cached token; other scopes are ignored
    let again = provider
        .token(&["https://www.googleapis.com/auth/devstorage.read_only"])
        .await
        .unwrap();
    assert!(Arc::ptr_eq(&token, &again));
    assert_eq!(w.sts.request_count(), 1);
    assert_eq!(
        w.sts.issued_tokens()[0].scopes,
        vec![CLOUD_PLATFORM.to_string()]
    );
}

#[tokio::test]
async fn a_refreshed_token_is_converted_again() {
    let w = World::new().await;
    let provider = GcpAuthProvider::new(w.credentials());
    let first = provider.token(&[]).await.unwrap();
    provider.credentials().cache().invalidate();
    let second = provider.token(&[]).await.unwrap();
    assert_ne!(first.as_str(), second.as_str());
    assert_eq!(second.as_str(), w.last_issued());
}

#[tokio::test]
async fn project_id_from_quota_project_service_account_or_override() {
    let w = World::new().await;
    let provider: Arc<dyn TokenProvider> = Arc::new(GcpAuthProvider::new(w.credentials()));
    assert_eq!(&*provider.project_id().await.unwrap(), QUOTA_PROJECT);

    let mut config = w.config();
    config.as_object_mut().unwrap().remove("quota_project_id");
    let provider = GcpAuthProvider::new(w.credentials_from(&config));
    let err = provider.project_id().await.unwrap_err();
    assert!(err.to_string().contains("quota_project_id"), "{err}");
    let provider = provider.with_project_id("explicit");
    assert_eq!(&*provider.project_id().await.unwrap(), "explicit");

    config["service_account_impersonation_url"] = "https://iamcredentials.googleapis.com/v1/projects/-/serviceAccounts/app@sa-proj.iam.gserviceaccount.com:generateAccessToken".into();
    let provider = GcpAuthProvider::new(w.credentials_from(&config));
    assert_eq!(&*provider.project_id().await.unwrap(), "sa-proj");
}

#[tokio::test]
async fn errors_carry_ours_with_the_transient_flag() {
    let w = World::new().await;
    w.fail_permanently();
    let provider: Arc<dyn TokenProvider> = Arc::new(GcpAuthProvider::new(w.credentials()));
    let err = provider.token(&[CLOUD_PLATFORM]).await.unwrap_err();
    assert!(matches!(err, gcp_auth::Error::Other(..)), "{err:?}");
    assert!(err.to_string().contains("invalid_grant"), "{err}");
    let ours = err
        .source()
        .and_then(|s| s.downcast_ref::<federated_credentials::Error>())
        .unwrap();
    assert!(!ours.is_transient());

    let w = World::new().await;
    w.fail_transiently();
    let provider: Arc<dyn TokenProvider> = Arc::new(GcpAuthProvider::new(w.credentials()));
    let err = provider.token(&[CLOUD_PLATFORM]).await.unwrap_err();
    let ours = err
        .source()
        .and_then(|s| s.downcast_ref::<federated_credentials::Error>())
        .unwrap();
    assert!(ours.is_transient(), "{ours:?}");
    assert_eq!(w.sts.request_count(), MAX_ATTEMPTS);
}
