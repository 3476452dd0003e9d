//! → Azure: Entra ID tokens from a Google, AWS, GitHub Actions and AKS identity, against the
//! testkit's Entra emulator (federated identity credentials, the assertion verified with the
//! issuing emulator's key): the library, the default chain, the cache, and the typed errors.

use std::time::{Duration, UNIX_EPOCH};

use federated_credentials::azure::EntraCredentials;
use federated_credentials::context::{Context, InstantSleep, ManualClock, StaticEnv};
use federated_credentials::default_chain;
use federated_credentials::source::GcpMetadataIdentityToken;
use federated_credentials_testkit::{
    AwsStsEmulator, CallerCredentials, EntraApplication, EntraEmulator, FederatedCredential,
    GITHUB_ISSUER, GcpMetadataEmulator, GitHubActionsOidcEmulator, GoogleIdentity,
};

const T0: u64 = 1_800_000_000;
const CLIENT: &str = "0000c11d-0000-4000-8000-000000000001";
const AUDIENCE: &str = "api://AzureADTokenExchange";
const STORAGE: &str = "https://storage.azure.com/.default";

fn clock() -> ManualClock {
    ManualClock::new(UNIX_EPOCH + Duration::from_secs(T0))
}

fn ctx(clock: &ManualClock, env: Vec<(String, String)>) -> Context {
    Context::builder()
        .clock(clock.clone())
        .env(StaticEnv::from_pairs(env))
        .sleep(InstantSleep)
        .build()
}

/// `AZURE_TENANT_ID`, `AZURE_CLIENT_ID`, `AZURE_AUTHORITY_HOST` for `entra`, plus `extra`.
fn azure_env(entra: &EntraEmulator, extra: Vec<(String, String)>) -> Vec<(String, String)> {
    let mut env = vec![
        ("AZURE_TENANT_ID".to_string(), entra.tenant_id().to_string()),
        ("AZURE_CLIENT_ID".to_string(), CLIENT.to_string()),
        ("AZURE_AUTHORITY_HOST".to_string(), entra.authority_host()),
        ("NO_GCE_CHECK".to_string(), "true".to_string()),
    ];
    env.extend(extra);
    env
}

#[tokio::test]
async fn a_gce_workload_gets_an_entra_token_cached_and_refreshed() {
    let clock = clock();
    let mds = GcpMetadataEmulator::builder()
        .clock(clock.clone())
        .start()
        .await
        .unwrap();
    let sa = mds.default_service_account().unique_id.clone();
    let entra = EntraEmulator::builder()
        .clock(clock.clone())
        .trust_issuer("https://accounts.google.com", mds.identity())
        .application(
            EntraApplication::new(CLIENT)
                .federated_credential(FederatedCredential::new("https://accounts.google.com", &sa)),
        )
        .start()
        .await
        .unwrap();
    let credentials = EntraCredentials::builder()
        .context(ctx(&clock, Vec::new()))
        .token_source(GcpMetadataIdentityToken::new(AUDIENCE).metadata_host(mds.host()))
        .tenant_id(entra.tenant_id())
        .client_id(CLIENT)
        .scope(STORAGE)
        .authority_host(entra.authority_host())
        .build()
        .unwrap();
    let token = credentials.access_token().await.unwrap();
    assert_eq!(
        token.expires_at(),
        Some(UNIX_EPOCH + Duration::from_secs(T0 + 3599))
    );
    let issued = &entra.issued_tokens()[0];
    assert_eq!(issued.assertion_subject, sa);
    assert_eq!(issued.scope, STORAGE);
    let sent = entra.last_request().unwrap();
    let fields: Vec<String> = sent.form().into_iter().map(|(k, _)| k).collect();
    assert_eq!(
        fields,
        [
            "client_assertion",
            "client_assertion_type",
            "client_id",
            "grant_type",
            "scope"
        ]
    );
    // Cached: a second caller makes no request; an hour later it is refreshed.
    credentials.access_token().await.unwrap();
    assert_eq!(entra.request_count(), 1);
    clock.advance(Duration::from_secs(3600));
    credentials.access_token().await.unwrap();
    assert_eq!(entra.request_count(), 2);
    assert_eq!(mds.request_count(), 2);
}

#[tokio::test]
async fn the_default_chain_finds_github_aws_and_aks_identities() {
    let clock = clock();
    let actions = GitHubActionsOidcEmulator::builder()
        .clock(clock.clone())
        .start()
        .await
        .unwrap();
    let sts = AwsStsEmulator::builder()
        .clock(clock.clone())
        .outbound_web_identity_federation(true)
        .start()
        .await
        .unwrap();
    let role = "arn:aws:iam::123456789012:role/lambda-exec";
    sts.allow_caller(CallerCredentials::role_session(
        "ASIAENTRAOUTBOUND001",
        "entra/outbound/secret",
        "entra-session",
        role,
        UNIX_EPOCH + Duration::from_secs(T0 + 3600),
    ));
    let aks_issuer = "https://eastus.oic.prod-aks.azure.com/tenant/cluster/";
    let cluster = GoogleIdentity::generate();
    let entra = EntraEmulator::builder()
        .clock(clock.clone())
        .trust_issuer(GITHUB_ISSUER, actions.identity())
        .trust_issuer(sts.outbound_issuer(), sts.outbound_identity())
        .trust_issuer(aks_issuer, cluster.clone())
        .application(
            EntraApplication::new(CLIENT)
                .federated_credential(FederatedCredential::new(
                    GITHUB_ISSUER,
                    "repo:octo-org/octo-repo:ref:refs/heads/main",
                ))
                .federated_credential(FederatedCredential::new(sts.outbound_issuer(), role))
                .federated_credential(FederatedCredential::new(
                    aks_issuer,
                    "system:serviceaccount:payments:api",
                )),
        )
        .start()
        .await
        .unwrap();

    // GitHub Actions.
    let github = default_chain::entra(&ctx(&clock, azure_env(&entra, actions.env())), STORAGE)
        .await
        .unwrap();
    github.access_token().await.unwrap();
    assert_eq!(
        actions.last_request().unwrap().query_param("audience"),
        Some(AUDIENCE)
    );

    // AWS (Lambda keys): STS GetWebIdentityToken for the role.
    let lambda = vec![
        (
            "AWS_ACCESS_KEY_ID".to_string(),
            "ASIAENTRAOUTBOUND001".to_string(),
        ),
        (
            "AWS_SECRET_ACCESS_KEY".to_string(),
            "entra/outbound/secret".to_string(),
        ),
        ("AWS_SESSION_TOKEN".to_string(), "entra-session".to_string()),
        ("AWS_REGION".to_string(), "eu-west-1".to_string()),
        ("AWS_ENDPOINT_URL_STS".to_string(), sts.endpoint()),
    ];
    let aws = default_chain::entra(&ctx(&clock, azure_env(&entra, lambda)), STORAGE)
        .await
        .unwrap();
    aws.access_token().await.unwrap();
    assert_eq!(sts.issued_web_identity_tokens()[0].audiences, [AUDIENCE]);

    // AKS: the projected token file.
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("azure-identity-token");
    std::fs::write(
        &file,
        cluster.sign(&serde_json::json!({
            "iss": aks_issuer, "aud": [AUDIENCE], "sub": "system:serviceaccount:payments:api",
            "iat": T0, "exp": T0 + 3600,
        })),
    )
    .unwrap();
    let aks_env = vec![(
        "AZURE_FEDERATED_TOKEN_FILE".to_string(),
        file.to_str().unwrap().to_string(),
    )];
    let aks = default_chain::entra(&ctx(&clock, azure_env(&entra, aks_env)), STORAGE)
        .await
        .unwrap();
    aks.access_token().await.unwrap();

    let subjects: Vec<String> = entra
        .issued_tokens()
        .into_iter()
        .map(|t| t.assertion_subject)
        .collect();
    assert_eq!(
        subjects,
        [
            "repo:octo-org/octo-repo:ref:refs/heads/main",
            role,
            "system:serviceaccount:payments:api"
        ]
    );

    // Nothing to present: says what would do.
    let err = default_chain::entra(&ctx(&clock, azure_env(&entra, Vec::new())), STORAGE)
        .await
        .unwrap_err();
    assert!(
        err.to_string().contains("no identity to present to Entra"),
        "{err}"
    );
}

#[tokio::test]
async fn entra_refusals_name_the_fix() {
    let clock = clock();
    let mds = GcpMetadataEmulator::builder()
        .clock(clock.clone())
        .start()
        .await
        .unwrap();
    let entra =
        EntraEmulator::builder()
            .clock(clock.clone())
            .trust_issuer("https://accounts.google.com", mds.identity())
            .application(EntraApplication::new(CLIENT).federated_credential(
                FederatedCredential::new("https://accounts.google.com", "someone-else"),
            ))
            .start()
            .await
            .unwrap();
    let build = |tenant: &str, client: &str| {
        EntraCredentials::builder()
            .context(ctx(&clock, Vec::new()))
            .token_source(GcpMetadataIdentityToken::new(AUDIENCE).metadata_host(mds.host()))
            .tenant_id(tenant)
            .client_id(client)
            .scope(STORAGE)
            .authority_host(entra.authority_host())
            .build()
            .unwrap()
    };
    // No federated credential for this subject: the claims to paste into one.
    let err = build(entra.tenant_id(), CLIENT)
        .access_token()
        .await
        .unwrap_err();
    assert_eq!(err.upstream_code(), Some("AADSTS700213"), "{err}");
    assert_eq!(err.http_status(), Some(401));
    assert!(!err.is_transient());
    let sa = &mds.default_service_account().unique_id;
    for says in [
        "issuer `https://accounts.google.com`".to_string(),
        format!("subject `{sa}`"),
        format!("audience `{AUDIENCE}`"),
    ] {
        assert!(err.to_string().contains(&says), "{says}: {err}");
    }
    assert!(err.request_id().is_some(), "trace id kept: {err}");

    // The right subject, but Entra's clock is two hours ahead: the assertion has expired.
    entra
        .add_application(
            EntraApplication::new(CLIENT)
                .federated_credential(FederatedCredential::new("https://accounts.google.com", sa)),
        )
        .unwrap();
    let ahead = ManualClock::new(UNIX_EPOCH + Duration::from_secs(T0 + 7200));
    let skewed = EntraEmulator::builder()
        .clock(ahead)
        .trust_issuer("https://accounts.google.com", mds.identity())
        .application(
            EntraApplication::new(CLIENT)
                .federated_credential(FederatedCredential::new("https://accounts.google.com", sa)),
        )
        .start()
        .await
        .unwrap();
    let err = EntraCredentials::builder()
        .context(ctx(&clock, Vec::new()))
        .token_source(GcpMetadataIdentityToken::new(AUDIENCE).metadata_host(mds.host()))
        .tenant_id(skewed.tenant_id())
        .client_id(CLIENT)
        .scope(STORAGE)
        .authority_host(skewed.authority_host())
        .build()
        .unwrap()
        .access_token()
        .await
        .unwrap_err();
    assert_eq!(err.upstream_code(), Some("AADSTS700024"), "{err}");
    assert!(err.to_string().contains("clock"), "{err}");

    // Unknown tenant, unknown application.
    let err = build("contoso-typo.onmicrosoft.com", CLIENT)
        .access_token()
        .await
        .unwrap_err();
    assert_eq!(err.upstream_code(), Some("AADSTS90002"), "{err}");
    assert!(err.to_string().contains("AZURE_TENANT_ID"), "{err}");
    let err = build(entra.tenant_id(), "0000c11d-0000-4000-8000-00000000dead")
        .access_token()
        .await
        .unwrap_err();
    assert_eq!(err.upstream_code(), Some("AADSTS700016"), "{err}");
    assert!(err.to_string().contains("AZURE_CLIENT_ID"), "{err}");
    // And the fixed configuration works.
    build(entra.tenant_id(), CLIENT)
        .access_token()
        .await
        .unwrap();
}
