//! A GitHub Actions job to Google Cloud with `GitHubActionsToken`: the runtime's OIDC token
//! (fetched fresh on every refresh, as job tokens live minutes) traded at Google STS.

use std::time::{Duration, UNIX_EPOCH};

use federated_credentials::ErrorKind;
use federated_credentials::context::{Context, InstantSleep, ManualClock, StaticEnv};
use federated_credentials::google::ExternalAccountCredentials;
use federated_credentials::source::GitHubActionsToken;
use federated_credentials_testkit::{Clouds, GitHubActionsOidcEmulator, OIDC_PROVIDER_AUDIENCE};

#[tokio::test]
async fn a_job_gets_google_credentials_and_long_jobs_fetch_fresh_tokens() {
    let clock = ManualClock::new(UNIX_EPOCH + Duration::from_secs(1_800_000_000));
    let clouds = Clouds::start_with_clock(clock.clone()).await.unwrap();
    let actions = GitHubActionsOidcEmulator::builder()
        .clock(clock.clone())
        .request_token("job-request-token")
        .start()
        .await
        .unwrap();
    let job = Context::builder()
        .clock(clock.clone())
        .env(StaticEnv::from_pairs(actions.env()))
        .sleep(InstantSleep)
        .build();
    let google = ExternalAccountCredentials::builder()
        .context(job.clone())
        .audience(OIDC_PROVIDER_AUDIENCE)
        .token_url(clouds.google_sts.token_url())
        .token_source(GitHubActionsToken::new(OIDC_PROVIDER_AUDIENCE))
        .build()
        .unwrap();
    google.access_token().await.unwrap();
    let issued = clouds.google_sts.issued_tokens();
    assert_eq!(
        issued[0].subject,
        "repo:octo-org/octo-repo:ref:refs/heads/main"
    );
    let asked = actions.last_request().unwrap();
    assert_eq!(asked.query_param("audience"), Some(OIDC_PROVIDER_AUDIENCE));
    assert_eq!(asked.query_param("api-version"), Some("2.0"));
    assert_eq!(
        asked.header("authorization"),
        Some("Bearer job-request-token")
    );

    // An hour-long job: the Google token is refreshed with a new job token each time, long
    // after the first one (5 min) expired.
    for _ in 0..3 {
        clock.advance(Duration::from_secs(3600));
        google.access_token().await.unwrap();
    }
    assert_eq!(actions.request_count(), 4);
    assert_eq!(clouds.google_sts.issued_tokens().len(), 4);

    // Without `permissions: id-token: write` the error says to add it.
    let no_permission = ExternalAccountCredentials::builder()
        .context(job.with_env(StaticEnv::empty()))
        .audience(OIDC_PROVIDER_AUDIENCE)
        .token_url(clouds.google_sts.token_url())
        .token_source(GitHubActionsToken::new(OIDC_PROVIDER_AUDIENCE))
        .build()
        .unwrap();
    let err = no_permission.access_token().await.unwrap_err();
    assert_eq!(err.kind(), ErrorKind::NotAvailable);
    assert!(err.to_string().contains("id-token: write"), "{err}");

    // A wrong request token is the runtime's 401, not a retry storm.
    let wrong = ExternalAccountCredentials::builder()
        .context(job.with_env(StaticEnv::from_pairs([
            (
                "ACTIONS_ID_TOKEN_REQUEST_URL".to_string(),
                actions.request_url(),
            ),
            (
                "ACTIONS_ID_TOKEN_REQUEST_TOKEN".to_string(),
                "stale".to_string(),
            ),
        ])))
        .audience(OIDC_PROVIDER_AUDIENCE)
        .token_url(clouds.google_sts.token_url())
        .token_source(GitHubActionsToken::new(OIDC_PROVIDER_AUDIENCE))
        .build()
        .unwrap();
    let before = actions.request_count();
    let err = wrong.access_token().await.unwrap_err();
    assert_eq!(err.http_status(), Some(401), "{err}");
    assert!(!err.to_string().contains("stale"), "{err}");
    assert_eq!(actions.request_count(), before + 1);
}
