//! No secret reaches a log line, `Debug`, `Display`, an error or its source chain: both
//! directions run with every `tracing` event captured at TRACE, successful and failing, and
//! everything is searched for every secret that was in play.

use std::io::Write;
use std::sync::{Arc, Mutex};
use std::time::{Duration, UNIX_EPOCH};

use federated_credentials::aws::WebIdentityProvider;
use federated_credentials::azure::EntraCredentials;
use federated_credentials::config::ExternalAccountConfig;
use federated_credentials::context::{Context, InstantSleep, ManualClock, StaticEnv};
use federated_credentials::google::ExternalAccountCredentials;
use federated_credentials::source::aws::{
    AwsEnvironment, AwsIdentitySource, ContainerCredentials, OutboundWebIdentityToken,
};
use federated_credentials::source::{
    AzureManagedIdentityToken, GcpMetadataIdentityToken, GitHubActionsToken, SubjectTokenSource,
};
use federated_credentials_testkit::{
    AWS_PROVIDER_AUDIENCE, AwsStsEmulator, AzureManagedIdentityEmulator, CallerCredentials, Clouds,
    ContainerCredentialsEmulator, EntraApplication, EntraEmulator, Fault, FederatedCredential,
    GITHUB_ISSUER, GitHubActionsOidcEmulator, SERVICE_ACCOUNT, StsErrorCode,
};
use serde_json::json;

#[derive(Clone, Default)]
struct Capture(Arc<Mutex<Vec<u8>>>);

impl Write for Capture {
    fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
        self.0.lock().unwrap().extend_from_slice(buf);
        Ok(buf.len())
    }
    fn flush(&mut self) -> std::io::Result<()> {
        Ok(())
    }
}

impl<'a> tracing_subscriber::fmt::MakeWriter<'a> for Capture {
    type Writer = Capture;
    fn make_writer(&'a self) -> Self::Writer {
        self.clone()
    }
}

/// A file cache holding one unexpired entry with `value` (a server's persisted copy that is
/// not what it should be), its directory, and the entry's key.
#[cfg(feature = "server")]
fn planted_entry(
    value: &str,
) -> (
    tempfile::TempDir,
    federated_credentials::file_cache::FileCache,
    federated_credentials::file_cache::CacheKey,
) {
    use federated_credentials::file_cache::{CacheKey, FileCache};
    let dir = tempfile::tempdir().unwrap();
    let files = FileCache::open(dir.path().join("cache")).unwrap();
    let key = CacheKey::new([value]);
    files
        .write(
            &key,
            &federated_credentials::secret::SecretString::new(value),
            std::time::SystemTime::now() + std::time::Duration::from_secs(3600),
        )
        .unwrap();
    (dir, files, key)
}

fn error_chain(e: &dyn std::error::Error) -> String {
    let mut out = format!("{e} | {e:?}");
    let mut source = e.source();
    while let Some(s) = source {
        out.push_str(&format!(" | {s} | {s:?}"));
        source = s.source();
    }
    out
}

#[tokio::test]
async fn no_secret_in_logs_debug_display_or_errors() {
    let capture = Capture::default();
    let subscriber = tracing_subscriber::fmt()
        .with_max_level(tracing::Level::TRACE)
        .with_writer(capture.clone())
        .with_ansi(false)
        .finish();
    let _guard = tracing::subscriber::set_default(subscriber);
    let clock = ManualClock::new(UNIX_EPOCH + Duration::from_secs(1_800_000_000));
    let mut rendered = String::new();
    let mut secrets: Vec<String> = Vec::new();

    let clouds = Clouds::start_with_clock(clock.clone()).await.unwrap();
    let (mds, sts, role) = (&clouds.gcp_metadata, &clouds.aws_sts, clouds.role_arn());

    // GCP -> AWS
    let ctx = Context::builder()
        .clock(clock.clone())
        .env(StaticEnv::from_pairs([("GCE_METADATA_HOST", mds.host())]))
        .sleep(InstantSleep)
        .build();
    let source = GcpMetadataIdentityToken::new("sts.amazonaws.com");
    let subject = source.subject_token(&ctx).await.unwrap();
    secrets.push(subject.token().expose_secret().to_string());
    rendered.push_str(&format!("{subject:?} {source:?}"));
    let provider = WebIdentityProvider::builder()
        .context(ctx.clone())
        .token_source(source)
        .role_arn(&role)
        .configure_sts(|s| s.endpoint_url(sts.endpoint()))
        .build()
        .unwrap();
    let creds = provider.credentials().await.unwrap();
    let sdk = creds.sdk_credentials();
    secrets.push(sdk.secret_access_key().to_string());
    secrets.push(sdk.session_token().unwrap().to_string());
    secrets.push(
        sts.last_request()
            .unwrap()
            .form_param("WebIdentityToken")
            .unwrap(),
    );
    rendered.push_str(&format!("{provider:?} {creds:?} {sdk:?}"));
    // failures: an STS error echoing the token, a transient outage, garbage
    let token = secrets[0].clone();
    sts.push_error_with_message(
        StsErrorCode::InvalidIdentityToken,
        format!("token {token} rejected"),
    );
    provider.cache().invalidate();
    rendered.push_str(&error_chain(&provider.credentials().await.unwrap_err()));
    sts.push_fault(Fault::Body(format!("<html>{token}</html>")));
    provider.cache().invalidate();
    rendered.push_str(&error_chain(&provider.credentials().await.unwrap_err()));
    sts.push_fault_times(Fault::status_with_body(503, format!("echo {token}")), 10);
    provider.cache().invalidate();
    rendered.push_str(&error_chain(&provider.credentials().await.unwrap_err()));

    // AWS -> GCP, with client credentials and impersonation
    let (aud, sa) = (AWS_PROVIDER_AUDIENCE, SERVICE_ACCOUNT);
    let (imds, gsts, iam) = (&clouds.imds, &clouds.google_sts, &clouds.iam);
    let c = imds.credentials();
    gsts.add_client("client-id", "client-secret-value");
    secrets.extend([
        c.secret_access_key.clone(),
        c.session_token.clone(),
        "client-secret-value".to_string(),
    ]);
    let config = json!({
        "type": "external_account", "audience": aud,
        "subject_token_type": "urn:ietf:params:aws:token-type:aws4_request",
        "token_url": gsts.token_url(),
        "service_account_impersonation_url": iam.generate_access_token_url(sa),
        "client_id": "client-id", "client_secret": "client-secret-value",
        "credential_source": {
            "environment_id": "aws1", "region_url": imds.availability_zone_url(),
            "url": imds.credentials_url(), "imdsv2_session_token_url": imds.token_url()
        }
    });
    let parsed = ExternalAccountConfig::from_value(&config).unwrap();
    rendered.push_str(&format!("{parsed:?}"));
    let google = ExternalAccountCredentials::builder()
        .context(
            Context::builder()
                .clock(clock.clone())
                .env(StaticEnv::empty())
                .sleep(InstantSleep)
                .build(),
        )
        .config(parsed)
        .build()
        .unwrap();
    let access = google.access_token().await.unwrap();
    secrets.push(access.token().expose_secret().to_string());
    secrets.push(gsts.issued_tokens()[0].access_token.clone());
    secrets.push(
        gsts.last_request()
            .unwrap()
            .form_param("subject_token")
            .unwrap(),
    );
    rendered.push_str(&format!(
        "{google:?} {access:?} {:?}",
        google.headers().await.unwrap()
    ));
    let federated = gsts.issued_tokens()[0].access_token.clone();
    iam.push_rpc_error(401, "UNAUTHENTICATED", &format!("bad bearer {federated}"));
    google.cache().invalidate();
    rendered.push_str(&error_chain(&google.access_token().await.unwrap_err()));
    gsts.push_oauth_error(400, "invalid_grant", &format!("subject {federated}"));
    google.cache().invalidate();
    rendered.push_str(&error_chain(&google.access_token().await.unwrap_err()));

    // AWS container credentials (EKS Pod Identity): the authorization token and the keys.
    let container = ContainerCredentialsEmulator::builder()
        .clock(clock.clone())
        .authorization("pod-identity-authorization-token")
        .start()
        .await
        .unwrap();
    let container_ctx = Context::builder()
        .clock(clock.clone())
        .env(StaticEnv::from_pairs([
            (
                "AWS_CONTAINER_CREDENTIALS_FULL_URI".to_string(),
                container.credentials_url(),
            ),
            (
                "AWS_CONTAINER_AUTHORIZATION_TOKEN".to_string(),
                "pod-identity-authorization-token".to_string(),
            ),
        ]))
        .sleep(InstantSleep)
        .build();
    let source = ContainerCredentials::new();
    let got = source.credentials(&container_ctx).await.unwrap();
    let served = container.credentials();
    secrets.extend([
        "pod-identity-authorization-token".to_string(),
        served.secret_access_key.clone(),
        served.session_token.clone(),
    ]);
    rendered.push_str(&format!("{source:?} {got:?}"));
    container.push_fault(Fault::status_with_body(
        403,
        format!(
            r#"{{"code":"AccessDenied","message":"{} {}"}}"#,
            served.secret_access_key, "pod-identity-authorization-token"
        ),
    ));
    source.clear_cache().await;
    rendered.push_str(&error_chain(
        &source.credentials(&container_ctx).await.unwrap_err(),
    ));
    container.push_fault(Fault::Body(served.session_token.clone()));
    rendered.push_str(&error_chain(
        &source.credentials(&container_ctx).await.unwrap_err(),
    ));

    // GitHub Actions: the job's request token and the OIDC token it buys.
    let actions = GitHubActionsOidcEmulator::builder()
        .clock(clock.clone())
        .request_token("actions-request-token-value")
        .start()
        .await
        .unwrap();
    let job = container_ctx.with_env(StaticEnv::from_pairs(actions.env()));
    let github = GitHubActionsToken::new("sts.amazonaws.com");
    let jwt = github.subject_token(&job).await.unwrap();
    secrets.extend([
        "actions-request-token-value".to_string(),
        jwt.token().expose_secret().to_string(),
    ]);
    rendered.push_str(&format!("{github:?} {jwt:?}"));
    actions.push_fault(Fault::status_with_body(
        401,
        "bad credentials actions-request-token-value".to_string(),
    ));
    rendered.push_str(&error_chain(&github.subject_token(&job).await.unwrap_err()));

    // Azure managed identity: App Service's identity header and the token it buys, also when
    // the endpoint echoes the header in an error.
    let azure = AzureManagedIdentityEmulator::builder()
        .clock(clock.clone())
        .identity_header("app-service-identity-header")
        .start()
        .await
        .unwrap();
    let app = container_ctx.with_env(StaticEnv::from_pairs(azure.app_service_env()));
    let managed = AzureManagedIdentityToken::new("api://aws-federation");
    let entra = managed.subject_token(&app).await.unwrap();
    secrets.extend([
        "app-service-identity-header".to_string(),
        entra.token().expose_secret().to_string(),
    ]);
    rendered.push_str(&format!("{managed:?} {entra:?}"));
    azure.push_fault(Fault::status_with_body(
        400,
        r#"{"statusCode":400,"message":"bad header app-service-identity-header"}"#.to_string(),
    ));
    rendered.push_str(&error_chain(
        &managed.subject_token(&app).await.unwrap_err(),
    ));
    azure.push_fault(Fault::Body(entra.token().expose_secret().to_string()));
    rendered.push_str(&error_chain(
        &managed.subject_token(&app).await.unwrap_err(),
    ));

    // AWS GetWebIdentityToken: the signing keys and the token STS signs, also when STS echoes
    // the session token in an error.
    let outbound_sts = AwsStsEmulator::builder()
        .clock(clock.clone())
        .outbound_web_identity_federation(true)
        .start()
        .await
        .unwrap();
    outbound_sts.allow_caller(CallerCredentials::role_session(
        "ASIAHYGIENEOUTBOUND1",
        "hygiene/outbound/secret/key",
        "hygiene-outbound-session-token",
        "arn:aws:iam::123456789012:role/hygiene",
        UNIX_EPOCH + Duration::from_secs(4_000_000_000),
    ));
    let aws_ctx = container_ctx.with_env(StaticEnv::from_pairs([
        ("AWS_ACCESS_KEY_ID", "ASIAHYGIENEOUTBOUND1"),
        ("AWS_SECRET_ACCESS_KEY", "hygiene/outbound/secret/key"),
        ("AWS_SESSION_TOKEN", "hygiene-outbound-session-token"),
        ("AWS_REGION", "us-east-1"),
    ]));
    let outbound = OutboundWebIdentityToken::new(AwsEnvironment::new(), "aud")
        .endpoint_url(outbound_sts.endpoint());
    let jwt = outbound.subject_token(&aws_ctx).await.unwrap();
    secrets.extend([
        "hygiene/outbound/secret/key".to_string(),
        "hygiene-outbound-session-token".to_string(),
        jwt.token().expose_secret().to_string(),
    ]);
    rendered.push_str(&format!("{outbound:?} {jwt:?}"));
    outbound_sts.push_fault(Fault::status_with_body(
        403,
        "<ErrorResponse><Error><Code>InvalidClientTokenId</Code><Message>bad token hygiene-outbound-session-token</Message></Error></ErrorResponse>".to_string(),
    ));
    rendered.push_str(&error_chain(
        &outbound.subject_token(&aws_ctx).await.unwrap_err(),
    ));

    // Entra: the assertion and the access token it buys, also when Entra echoes the
    // assertion in an error.
    let entra = EntraEmulator::builder()
        .clock(clock.clone())
        .trust_issuer(GITHUB_ISSUER, actions.identity())
        .application(
            EntraApplication::new("0000c11d-0000-4000-8000-000000000001").federated_credential(
                FederatedCredential::new(
                    GITHUB_ISSUER,
                    "repo:octo-org/octo-repo:ref:refs/heads/main",
                ),
            ),
        )
        .start()
        .await
        .unwrap();
    let to_entra = EntraCredentials::builder()
        .context(job.clone())
        .token_source(GitHubActionsToken::new("api://AzureADTokenExchange"))
        .tenant_id(entra.tenant_id())
        .client_id("0000c11d-0000-4000-8000-000000000001")
        .scope("https://storage.azure.com/.default")
        .authority_host(entra.authority_host())
        .build()
        .unwrap();
    let token = to_entra.access_token().await.unwrap();
    let assertion = entra
        .last_request()
        .unwrap()
        .form_param("client_assertion")
        .unwrap();
    secrets.extend([token.token().expose_secret().to_string(), assertion.clone()]);
    rendered.push_str(&format!("{to_entra:?} {token:?}"));
    entra.push_fault(Fault::status_with_body(
        401,
        serde_json::json!({"error": "invalid_client", "error_description": format!("AADSTS700027: bad assertion {assertion}"), "error_codes": [700027]}).to_string(),
    ));
    to_entra.cache().invalidate();
    rendered.push_str(&error_chain(&to_entra.access_token().await.unwrap_err()));

    // The aws serve broker: served, refused, and failing requests (with `provider`, GCP -> AWS).
    #[cfg(feature = "server")]
    {
        use federated_credentials::server::{AuthToken, ContainerCredentialsServer};
        let broker_token = "broker-auth-token-5e1f0a9d7c3b2e41";
        secrets.push(broker_token.to_string());
        sts.clear_faults();
        provider.cache().invalidate();
        // Persisted, with a planted entry that is not credentials (its warning must not
        // quote it), and one per-request role.
        let planted = "planted-secret-access-key-0c9d7e";
        secrets.push(planted.to_string());
        let (_persisted, files, key) = planted_entry(&format!(
            r#"{{"AccessKeyId":"A","SecretAccessKey":"{planted}","Expiration":"soon","RoleArn":"r"}}"#
        ));
        let other_role = "arn:aws:iam::123456789012:role/other";
        let server = ContainerCredentialsServer::builder()
            .provider(provider.clone())
            .role(other_role, provider.clone())
            .persist(files, key)
            .auth_token(AuthToken::fixed(broker_token))
            .bind()
            .await
            .unwrap();
        rendered.push_str(&format!("{server:?}"));
        let url = server.full_uri();
        let role_url = server.role_uri(other_role);
        let (stop, stopped) = tokio::sync::oneshot::channel::<()>();
        let serving = tokio::spawn(server.run(async {
            let _ = stopped.await;
        }));
        let client = reqwest::Client::new();
        let ask = |token: &'static str| client.get(&url).header("Authorization", token).send();
        let served = ask(broker_token).await.unwrap().text().await.unwrap();
        let served: serde_json::Value = serde_json::from_str(&served).unwrap();
        assert!(served.get("SecretAccessKey").is_some(), "{served}");
        secrets.push(served["SecretAccessKey"].as_str().unwrap().to_string());
        secrets.push(served["Token"].as_str().unwrap().to_string());
        rendered.push_str(
            &ask("broker-auth-token-5e1f0a9d7c3b2e42")
                .await
                .unwrap()
                .text()
                .await
                .unwrap(),
        );
        let get_role = |path: String| {
            client
                .get(path)
                .header("Authorization", broker_token)
                .send()
        };
        let role_served = get_role(role_url.clone())
            .await
            .unwrap()
            .text()
            .await
            .unwrap();
        let role_served: serde_json::Value = serde_json::from_str(&role_served).unwrap();
        secrets.push(role_served["SecretAccessKey"].as_str().unwrap().to_string());
        rendered.push_str(
            &get_role(format!("{role_url}-not-allowed"))
                .await
                .unwrap()
                .text()
                .await
                .unwrap(),
        );
        sts.push_fault_times(Fault::status(503), 1000);
        provider.cache().invalidate();
        rendered.push_str(&ask(broker_token).await.unwrap().text().await.unwrap());
        sts.clear_faults();
        let _ = stop.send(());
        serving.await.unwrap().unwrap();
    }

    // The serve-metadata broker (AWS -> GCP with impersonation): tokens served, a failing IAM
    // echoing the federated token, refusals.
    #[cfg(feature = "server")]
    {
        use federated_credentials::server::MetadataServer;
        // Persisted, with a planted entry that is not a token (its warning must not quote it).
        let planted = "planted-google-token-9f8e7d6c5b";
        secrets.push(planted.to_string());
        let (_persisted, files, key) = planted_entry(&format!(r#"{{"token":"{planted}"}}"#));
        let server = MetadataServer::builder()
            .persist(files, key)
            .context(
                Context::builder()
                    .clock(clock.clone())
                    .env(StaticEnv::empty())
                    .sleep(InstantSleep)
                    .build(),
            )
            .config(ExternalAccountConfig::from_value(&config).unwrap())
            .bind()
            .await
            .unwrap();
        rendered.push_str(&format!("{server:?}"));
        let base = format!("http://{}", server.host());
        let (stop, stopped) = tokio::sync::oneshot::channel::<()>();
        let serving = tokio::spawn(server.run(async {
            let _ = stopped.await;
        }));
        let client = reqwest::Client::new();
        let path = "/computeMetadata/v1/instance/service-accounts/default";
        let ask = |p: String| {
            client
                .get(format!("{base}{p}"))
                .header("Metadata-Flavor", "Google")
                .send()
        };
        let served = ask(format!("{path}/token"))
            .await
            .unwrap()
            .text()
            .await
            .unwrap();
        let served: serde_json::Value = serde_json::from_str(&served).unwrap();
        secrets.push(served["access_token"].as_str().unwrap().to_string());
        let id = ask(format!("{path}/identity?audience=https://app.example"))
            .await
            .unwrap()
            .text()
            .await
            .unwrap();
        assert!(id.starts_with("ey"), "{id}");
        secrets.push(id);
        let federated = gsts.issued_tokens().last().unwrap().access_token.clone();
        secrets.push(federated.clone());
        iam.push_rpc_error(401, "UNAUTHENTICATED", &format!("bad bearer {federated}"));
        rendered.push_str(
            &ask(format!(
                "{path}/token?scopes=https://www.googleapis.com/auth/other"
            ))
            .await
            .unwrap()
            .text()
            .await
            .unwrap(),
        );
        rendered.push_str(
            &client
                .get(format!("{base}{path}/token"))
                .send()
                .await
                .unwrap()
                .text()
                .await
                .unwrap(),
        );
        let _ = stop.send(());
        serving.await.unwrap().unwrap();
    }

    drop(_guard);
    let logs = String::from_utf8(capture.0.lock().unwrap().clone()).unwrap();
    assert!(
        logs.contains("TRACE") || logs.contains("DEBUG"),
        "the subscriber captured events"
    );
    let everything = format!("{rendered}\n{logs}");
    for secret in &secrets {
        assert!(secret.len() >= 8, "a real secret: {secret:?}");
        assert!(
            !everything.contains(secret.as_str()),
            "secret found in output: {secret}\n{everything}"
        );
    }
}
