//! `GcloudTokenSource` through `Arc<dyn TokenSourceProvider>`, against the Google STS
//! emulator.

mod common;

use std::sync::Arc;

use common::{MAX_ATTEMPTS, World};
use federated_credentials::integrations::gcloud_token::GcloudTokenSource;
use token_source::TokenSourceProvider;

#[tokio::test]
async fn token_is_the_bearer_header_value_of_the_issued_token() {
    let w = World::new().await;
    let provider: Arc<dyn TokenSourceProvider> = Arc::new(GcloudTokenSource::new(w.credentials()));
    let source = provider.token_source();
    assert_eq!(
        source.token().await.unwrap(),
        format!("Bearer {}", w.last_issued())
    );
    // cached, and shared by every source the provider hands out
    assert_eq!(
        provider.token_source().token().await.unwrap(),
        format!("Bearer {}", w.last_issued())
    );
    assert_eq!(w.sts.request_count(), 1);
    assert!(!format!("{provider:?}").contains(&w.last_issued()));
}

#[tokio::test]
async fn errors_are_ours_with_the_transient_flag() {
    let w = World::new().await;
    w.fail_permanently();
    let provider: Arc<dyn TokenSourceProvider> = Arc::new(GcloudTokenSource::new(w.credentials()));
    let err = provider.token_source().token().await.unwrap_err();
    let ours = err.downcast_ref::<federated_credentials::Error>().unwrap();
    assert!(!ours.is_transient());
    assert_eq!(ours.upstream_code(), Some("invalid_grant"));

    let w = World::new().await;
    w.fail_transiently();
    let provider: Arc<dyn TokenSourceProvider> = Arc::new(GcloudTokenSource::new(w.credentials()));
    let err = provider.token_source().token().await.unwrap_err();
    let ours = err.downcast_ref::<federated_credentials::Error>().unwrap();
    assert!(ours.is_transient(), "{ours:?}");
    assert_eq!(w.sts.request_count(), MAX_ATTEMPTS);
}
