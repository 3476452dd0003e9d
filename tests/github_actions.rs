//! A GitHub Actions job to Google Cloud and to AWS with `GitHubActionsToken`: the runtime's
//! OIDC token (fetched fresh on every refresh, as job tokens live minutes) traded at Google STS,
//! and at AWS STS through an IAM OIDC provider for `token.actions.githubusercontent.com`,
//! found by the default chain.

use std::time::{Duration, UNIX_EPOCH};

use federated_credentials::ErrorKind;
use federated_credentials::context::{Context, InstantSleep, ManualClock, StaticEnv};
use federated_credentials::default_chain;
use federated_credentials::google::ExternalAccountCredentials;
use federated_credentials::source::GitHubActionsToken;
use federated_credentials_testkit::{
    AwsStsEmulator, Clouds, GITHUB_ISSUER, GitHubActionsOidcEmulator, OIDC_PROVIDER_AUDIENCE,
    OidcProviderSpec, RoleSpec,
};

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

#[tokio::test]
async fn a_job_assumes_an_aws_role_through_the_default_chain() {
    const GH: &str = "token.actions.githubusercontent.com";
    let clock = ManualClock::new(UNIX_EPOCH + Duration::from_secs(1_800_000_000));
    let actions = GitHubActionsOidcEmulator::builder()
        .clock(clock.clone())
        .repository("octo-org/deployer")
        .start()
        .await
        .unwrap();
    // The AWS side of GitHub's guide: an IAM OIDC provider for the issuer with client id
    // sts.amazonaws.com, and a role that trusts it for one repository.
    let sts = AwsStsEmulator::builder()
        .clock(clock.clone())
        .oidc_provider(
            OidcProviderSpec::new(GITHUB_ISSUER)
                .client_id("sts.amazonaws.com")
                .trust(actions.identity()),
        )
        .start()
        .await
        .unwrap();
    let role = sts.role_arn("github-deploy");
    sts.add_role(
        RoleSpec::new(&role)
            .oidc_principal(GITHUB_ISSUER)
            .condition(format!("{GH}:aud"), "sts.amazonaws.com")
            .condition(format!("{GH}:sub"), "repo:octo-org/deployer:*"),
    );
    let mut env = actions.env();
    env.extend([
        ("GITHUB_ACTIONS".to_string(), "true".to_string()),
        ("AWS_ROLE_ARN".to_string(), role.clone()),
        (
            "AWS_ROLE_SESSION_NAME".to_string(),
            "github-run-42".to_string(),
        ),
        ("AWS_ENDPOINT_URL_STS".to_string(), sts.endpoint()),
        ("AWS_REGION".to_string(), "us-east-1".to_string()),
        ("AWS_CONFIG_FILE".to_string(), "/nonexistent".to_string()),
    ]);
    let job = Context::builder()
        .clock(clock.clone())
        .env(StaticEnv::from_pairs(env.clone()))
        .sleep(InstantSleep)
        .build();
    let aws = default_chain::aws_web_identity(&job).await.unwrap();
    let credentials = aws.credentials().await.unwrap();
    let issued = sts.credentials_for(credentials.access_key_id()).unwrap();
    assert_eq!(issued.role_arn, role);
    assert_eq!(issued.subject, "repo:octo-org/deployer:ref:refs/heads/main");
    assert_eq!(issued.audience, "sts.amazonaws.com");
    assert_eq!(
        issued.provider,
        format!("arn:aws:iam::{}:oidc-provider/{GH}", sts.account_id())
    );
    assert_eq!(issued.role_session_name, "github-run-42");
    assert_eq!(
        actions.last_request().unwrap().query_param("audience"),
        Some("sts.amazonaws.com")
    );

    // Another repository's job is refused by the role's condition: AWS's AccessDenied, not a
    // retry.
    let other = GitHubActionsOidcEmulator::builder()
        .clock(clock.clone())
        .repository("octo-org/other")
        .start()
        .await
        .unwrap();
    let mut other_env = other.env();
    other_env.extend(env.into_iter().filter(|(k, _)| !k.starts_with("ACTIONS_")));
    let refused = default_chain::aws_web_identity(&job.with_env(StaticEnv::from_pairs(other_env)))
        .await
        .unwrap()
        .credentials()
        .await
        .unwrap_err();
    assert_eq!(refused.upstream_code(), Some("AccessDenied"), "{refused}");
    assert!(!refused.is_transient());
    assert_eq!(sts.issued_credentials().len(), 1);
}

/// The `external_account` file google-github-actions/auth writes for a job: a `url` source on
/// the runtime's endpoint with the audience in the query, the request token as a bearer header
/// and the JWT in the answer's `value`. The unchanged file works here too.
#[tokio::test]
async fn the_url_source_file_a_job_gets_works_unchanged() {
    let clock = ManualClock::new(UNIX_EPOCH + Duration::from_secs(1_800_000_000));
    let clouds = Clouds::start_with_clock(clock.clone()).await.unwrap();
    let actions = GitHubActionsOidcEmulator::builder()
        .clock(clock.clone())
        .request_token("job-request-token")
        .start()
        .await
        .unwrap();
    let audience = format!("https:{OIDC_PROVIDER_AUDIENCE}");
    let config = serde_json::json!({
        "type": "external_account",
        "audience": OIDC_PROVIDER_AUDIENCE,
        "subject_token_type": "urn:ietf:params:oauth:token-type:jwt",
        "token_url": clouds.google_sts.token_url(),
        "credential_source": {
            "url": format!("{}&audience={}", actions.request_url(), url::form_urlencoded::byte_serialize(audience.as_bytes()).collect::<String>()),
            "headers": {"Authorization": "Bearer job-request-token"},
            "format": {"type": "json", "subject_token_field_name": "value"}
        }
    });
    let google = ExternalAccountCredentials::builder()
        .context(
            Context::builder()
                .clock(clock.clone())
                .env(StaticEnv::empty())
                .sleep(InstantSleep)
                .build(),
        )
        .config(federated_credentials::config::ExternalAccountConfig::from_value(&config).unwrap())
        .build()
        .unwrap();
    google.access_token().await.unwrap();
    assert_eq!(
        actions.last_request().unwrap().query_param("audience"),
        Some(audience.as_str())
    );
    assert_eq!(
        clouds.google_sts.issued_tokens()[0].subject,
        "repo:octo-org/octo-repo:ref:refs/heads/main"
    );
}
