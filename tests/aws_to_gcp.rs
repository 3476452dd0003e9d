//! AWS → GCP end to end against the loopback emulators: an EC2 instance's role credentials
//! (IMDSv2) signed into an `aws4_request` subject token, traded at Google STS, then for a
//! service account's token; the other credential sources; the errors of each step; and the
//! GCP-federated → AWS chain through `generateIdToken`.

use std::time::{Duration, UNIX_EPOCH};

use federated_credentials::aws::WebIdentityProvider;
use federated_credentials::config::ExternalAccountConfig;
use federated_credentials::context::{Context, InstantSleep, ManualClock, StaticEnv};
use federated_credentials::exchange::GenerateIdToken;
use federated_credentials::google::ExternalAccountCredentials;
use federated_credentials::{ErrorKind, Service};
use federated_credentials_testkit::{
    AWS_PROVIDER_AUDIENCE, AwsStsEmulator, Clouds, Fault, GoogleIdentity, OIDC_PROVIDER_AUDIENCE,
    RoleSpec, ServiceAccountSpec,
};
use serde_json::{Value, json};

const AWS_AUDIENCE: &str = AWS_PROVIDER_AUDIENCE;
const OIDC_AUDIENCE: &str = OIDC_PROVIDER_AUDIENCE;
const SA: &str = "app@my-proj.iam.gserviceaccount.com";
const START: u64 = 1_800_000_000;

struct World {
    clock: ManualClock,
    clouds: Clouds,
    dir: tempfile::TempDir,
}

impl World {
    async fn new() -> Self {
        let clock = ManualClock::new(UNIX_EPOCH + Duration::from_secs(START));
        let clouds = Clouds::builder()
            .clock(clock.clone())
            .imds(|imds| imds.credentials_lifetime(Duration::from_secs(6 * 3600)))
            .iam(|iam| {
                iam.service_account(
                    ServiceAccountSpec::new(SA, "111222333444555666777").allow_extended_lifetime(),
                )
            })
            .start()
            .await
            .unwrap();
        Self {
            clock,
            clouds,
            dir: tempfile::tempdir().unwrap(),
        }
    }

    /// The file gcloud writes for EC2 with --enable-imdsv2 and impersonation, pointed at the
    /// emulators.
    fn aws_config(&self) -> Value {
        json!({
            "type": "external_account",
            "audience": AWS_AUDIENCE,
            "subject_token_type": "urn:ietf:params:aws:token-type:aws4_request",
            "token_url": self.clouds.google_sts.token_url(),
            "service_account_impersonation_url": self.clouds.iam.generate_access_token_url(SA),
            "credential_source": {
                "environment_id": "aws1",
                "region_url": self.clouds.imds.availability_zone_url(),
                "url": self.clouds.imds.credentials_url(),
                "regional_cred_verification_url": "https://sts.{region}.amazonaws.com?Action=GetCallerIdentity&Version=2011-06-15",
                "imdsv2_session_token_url": self.clouds.imds.token_url()
            },
            "quota_project_id": "billing-proj"
        })
    }

    fn ctx(&self, env: &[(&str, &str)]) -> Context {
        Context::builder()
            .clock(self.clock.clone())
            .env(StaticEnv::from_pairs(env.iter().copied()))
            .sleep(InstantSleep)
            .build()
    }

    fn credentials(&self, config: &Value, env: &[(&str, &str)]) -> ExternalAccountCredentials {
        let path = self.dir.path().join("config.json");
        std::fs::write(&path, config.to_string()).unwrap();
        ExternalAccountCredentials::builder()
            .context(self.ctx(env))
            .config(ExternalAccountConfig::from_file(&path).unwrap())
            .build()
            .unwrap()
    }
}

#[tokio::test]
async fn ec2_role_to_impersonated_service_account() {
    let w = World::new().await;
    let creds = w.credentials(&w.aws_config(), &[]);
    let token = creds.access_token().await.unwrap();

    let issued = w.clouds.iam.issued_access_tokens();
    assert_eq!(issued.len(), 1);
    assert_eq!(token.token().expose_secret(), issued[0].access_token);
    assert_eq!(token.expires_at(), Some(issued[0].expire_time));
    assert_eq!(creds.service_account(), Some(SA));

    // the STS exchange used the IMDS role's key, signed for the AZ's region
    let federated = w.clouds.google_sts.issued_tokens();
    assert_eq!(federated.len(), 1);
    assert_eq!(
        federated[0].subject,
        w.clouds.imds.credentials().access_key_id
    );
    assert_eq!(
        federated[0].scopes,
        vec!["https://www.googleapis.com/auth/cloud-platform".to_string()]
    );
    let form = w.clouds.google_sts.last_request().unwrap();
    assert_eq!(
        form.form_param("subject_token_type").as_deref(),
        Some("urn:ietf:params:aws:token-type:aws4_request")
    );
    assert!(
        !form.has_header("authorization"),
        "no client auth configured"
    );
    let subject: Value = serde_json::from_str(
        &url::form_urlencoded::parse(
            format!("x={}", form.form_param("subject_token").unwrap()).as_bytes(),
        )
        .next()
        .unwrap()
        .1,
    )
    .unwrap();
    assert_eq!(
        subject["url"],
        "https://sts.us-east-1.amazonaws.com?Action=GetCallerIdentity&Version=2011-06-15"
    );
    assert_eq!(subject["method"], "POST");

    // headers for API calls
    let headers = creds.headers().await.unwrap();
    assert_eq!(headers.len(), 2);
    assert_eq!(headers["x-goog-user-project"], "billing-proj");
    let authorization = &headers["authorization"];
    assert!(authorization.is_sensitive());
    assert_eq!(
        authorization.to_str().unwrap(),
        format!("Bearer {}", token.token().expose_secret())
    );

    // first refresh: 1 PUT + region + role + credentials from IMDS, then STS and IAM
    assert_eq!(w.clouds.imds.put_count(), 1);
    assert_eq!(w.clouds.imds.get_count(), 3);
    assert_eq!(w.clouds.google_sts.request_count(), 1);
    assert_eq!(w.clouds.iam.request_count(), 1);

    // a steady-state refresh while the instance credentials are valid: STS + IAM only
    w.clock.advance(Duration::from_secs(3600));
    let again = creds.access_token().await.unwrap();
    assert_ne!(again.token().expose_secret(), token.token().expose_secret());
    assert_eq!(
        w.clouds.imds.put_count() + w.clouds.imds.get_count(),
        4,
        "IMDS token, role and credentials were cached"
    );
    assert_eq!(w.clouds.google_sts.request_count(), 2);
    assert_eq!(w.clouds.iam.request_count(), 2);
}

#[tokio::test]
async fn token_lifetime_is_honoured() {
    let w = World::new().await;
    let mut config = w.aws_config();
    config["service_account_impersonation"] = json!({"token_lifetime_seconds": 7200});
    let token = w.credentials(&config, &[]).access_token().await.unwrap();
    assert!(
        w.clouds
            .iam
            .last_request()
            .unwrap()
            .body_text()
            .contains("\"lifetime\":\"7200s\"")
    );
    assert_eq!(
        token.expires_at(),
        Some(UNIX_EPOCH + Duration::from_secs(START + 7200))
    );
}

#[tokio::test]
async fn env_credentials_skip_imds_entirely() {
    let w = World::new().await;
    let c = w.clouds.imds.credentials();
    let env = [
        ("AWS_ACCESS_KEY_ID", c.access_key_id.as_str()),
        ("AWS_SECRET_ACCESS_KEY", c.secret_access_key.as_str()),
        ("AWS_SESSION_TOKEN", c.session_token.as_str()),
        ("AWS_REGION", "eu-west-1"),
    ];
    let mut config = w.aws_config();
    config
        .as_object_mut()
        .unwrap()
        .remove("service_account_impersonation_url");
    config["scopes"] = json!(["https://www.googleapis.com/auth/devstorage.read_only"]);
    let creds = w.credentials(&config, &env);
    let token = creds.access_token().await.unwrap();
    assert_eq!(
        w.clouds.imds.request_count(),
        0,
        "no IMDS call, not even the PUT"
    );
    assert_eq!(
        token.token().expose_secret(),
        w.clouds.google_sts.issued_tokens()[0].access_token
    );
    assert_eq!(
        w.clouds.google_sts.issued_tokens()[0].scopes,
        vec!["https://www.googleapis.com/auth/devstorage.read_only".to_string()]
    );
    assert_eq!(w.clouds.iam.request_count(), 0);
}

#[tokio::test]
async fn sts_errors_are_typed_and_transient_ones_retried() {
    let w = World::new().await;
    w.clouds.google_sts.push_oauth_error(
        400,
        "invalid_grant",
        "The given AWS credentials are not valid.",
    );
    let err = w
        .credentials(&w.aws_config(), &[])
        .access_token()
        .await
        .unwrap_err();
    assert_eq!(err.service(), Service::GoogleSts);
    assert_eq!(err.upstream_code(), Some("invalid_grant"));
    assert!(
        err.to_string()
            .contains("invalid_grant: The given AWS credentials are not valid."),
        "{err}"
    );
    assert_eq!(w.clouds.google_sts.request_count(), 1);

    let w = World::new().await;
    w.clouds.google_sts.push_fault(Fault::status(503));
    w.clouds
        .google_sts
        .push_fault(Fault::too_many_requests(Duration::from_secs(1)));
    w.credentials(&w.aws_config(), &[])
        .access_token()
        .await
        .unwrap();
    assert_eq!(w.clouds.google_sts.request_count(), 3);
}

#[tokio::test]
async fn clock_skew_over_fifteen_minutes_is_rejected_by_sts() {
    let w = World::new().await;
    let skewed = ManualClock::new(UNIX_EPOCH + Duration::from_secs(START - 20 * 60));
    let path = w.dir.path().join("c.json");
    std::fs::write(&path, w.aws_config().to_string()).unwrap();
    let creds = ExternalAccountCredentials::builder()
        .context(
            Context::builder()
                .clock(skewed)
                .env(StaticEnv::empty())
                .sleep(InstantSleep)
                .build(),
        )
        .config(ExternalAccountConfig::from_file(&path).unwrap())
        .build()
        .unwrap();
    let err = creds.access_token().await.unwrap_err();
    assert_eq!(err.upstream_code(), Some("invalid_grant"));
}

#[tokio::test]
async fn iam_errors_are_typed() {
    let w = World::new().await;
    w.clouds.iam.push_rpc_error(
        403,
        "PERMISSION_DENIED",
        "Permission 'iam.serviceAccounts.getAccessToken' denied on resource (or it may not exist).",
    );
    let err = w
        .credentials(&w.aws_config(), &[])
        .access_token()
        .await
        .unwrap_err();
    assert_eq!(err.service(), Service::IamCredentials);
    assert_eq!(err.upstream_code(), Some("PERMISSION_DENIED"));
    assert!(
        err.message().contains("roles/iam.workloadIdentityUser"),
        "{err}"
    );
    assert_eq!(w.clouds.iam.request_count(), 1);

    // an unknown service account
    let w = World::new().await;
    let mut config = w.aws_config();
    config["service_account_impersonation_url"] = w
        .clouds
        .iam
        .generate_access_token_url("nobody@p.iam.gserviceaccount.com")
        .into();
    let err = w
        .credentials(&config, &[])
        .access_token()
        .await
        .unwrap_err();
    assert_eq!(err.upstream_code(), Some("NOT_FOUND"));
}

#[tokio::test]
async fn imds_problems_say_what_to_fix() {
    let w = World::new().await;
    w.clouds.imds.set_role(None);
    let err = w
        .credentials(&w.aws_config(), &[])
        .access_token()
        .await
        .unwrap_err();
    assert_eq!(err.service(), Service::AwsImds);
    assert!(err.message().contains("instance profile"), "{err}");
    assert_eq!(w.clouds.google_sts.request_count(), 0);
}

#[tokio::test]
async fn file_url_and_executable_sources() {
    let w = World::new().await;
    let jwt = |lifetime: u64| {
        GoogleIdentity::shared().sign(&json!({"iss":"https://k8s.example","sub":"system:serviceaccount:ns:app","aud":"gcp","iat":START,"exp":START + lifetime}))
    };
    let oidc = |source: Value| json!({"type":"external_account","audience":OIDC_AUDIENCE,"subject_token_type":"urn:ietf:params:oauth:token-type:jwt","token_url":w.clouds.google_sts.token_url(),"credential_source":source});

    // file, re-read on every refresh
    let token_path = w.dir.path().join("token");
    std::fs::write(&token_path, jwt(3600)).unwrap();
    let creds = w.credentials(&oidc(json!({"file": token_path})), &[]);
    creds.access_token().await.unwrap();
    std::fs::write(&token_path, jwt(7200)).unwrap();
    w.clock.advance(Duration::from_secs(3590)); // past the token's usable life: a blocking refresh
    creds.access_token().await.unwrap();
    let sent: Vec<String> = w
        .clouds
        .google_sts
        .requests()
        .iter()
        .filter_map(|r| r.form_param("subject_token"))
        .collect();
    assert_eq!(sent, vec![jwt(3600), jwt(7200)]);

    // url, JSON format, with headers (served by the GCE metadata emulator's token endpoint shape)
    let gce = federated_credentials_testkit::GcpMetadataEmulator::builder()
        .clock(w.clock.clone())
        .start()
        .await
        .unwrap();
    let id_url = format!(
        "http://{}/computeMetadata/v1/instance/service-accounts/default/identity?audience=gcp",
        gce.host()
    );
    let creds = w.credentials(&oidc(json!({"url": id_url, "headers": {"Metadata-Flavor": "Google"}, "format": {"type": "text"}})), &[]);
    creds.access_token().await.unwrap();
    assert_eq!(gce.request_count(), 1);

    // executable
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        let script = w.dir.path().join("token.sh");
        let body = json!({"version":1,"success":true,"token_type":"urn:ietf:params:oauth:token-type:jwt","id_token":jwt(3600),"expiration_time":START + 7200});
        std::fs::write(&script, format!("#!/bin/sh\necho '{body}'\n")).unwrap();
        std::fs::set_permissions(&script, std::fs::Permissions::from_mode(0o755)).unwrap();
        let config = oidc(
            json!({"executable": {"command": script.display().to_string(), "timeout_millis": 5000}}),
        );
        let err = w
            .credentials(&config, &[])
            .access_token()
            .await
            .unwrap_err();
        assert_eq!(
            err.kind(),
            ErrorKind::Configuration,
            "not allowed without the variable: {err}"
        );
        let creds = w.credentials(
            &config,
            &[("GOOGLE_EXTERNAL_ACCOUNT_ALLOW_EXECUTABLES", "1")],
        );
        creds.access_token().await.unwrap();
    }
}

#[tokio::test]
async fn gcp_federated_workload_assumes_an_aws_role() {
    // AWS workload → Google (impersonating SA) → generateIdToken → AWS STS in another account
    // (the federated principal itself holds roles/iam.serviceAccountOpenIdTokenCreator on SA)
    let w = World::new().await;
    let mut config = w.aws_config();
    config
        .as_object_mut()
        .unwrap()
        .remove("service_account_impersonation_url");
    let google = w.credentials(&config, &[]);
    let aws_sts = AwsStsEmulator::builder()
        .clock(w.clock.clone())
        .trust(w.clouds.iam.identity())
        .start()
        .await
        .unwrap();
    let role = aws_sts.role_arn("from-gcp");
    aws_sts.add_role(
        RoleSpec::new(&role)
            .google_aud("111222333444555666777")
            .google_oaud("sts.amazonaws.com"),
    );
    let base = format!("{}/v1", w.clouds.iam.base_url());
    let provider = WebIdentityProvider::builder()
        .context(w.ctx(&[]))
        .token_source(
            google.id_token_source(
                GenerateIdToken::new(SA, "sts.amazonaws.com")
                    .include_email(true)
                    .base_url(base),
            ),
        )
        .role_arn(&role)
        .configure_sts(|s| s.endpoint_url(aws_sts.endpoint()))
        .build()
        .unwrap();
    let creds = provider.credentials().await.unwrap();
    assert!(creds.assumed_role_arn().contains("assumed-role/from-gcp/"));
    assert_eq!(w.clouds.iam.issued_id_tokens().len(), 1);
}

/// Regression: a `client_id` without `client_secret` sent no client authentication; google-auth
/// sends HTTP Basic `client_id:` with an empty secret.
#[tokio::test]
async fn a_client_id_without_a_secret_is_basic_auth_with_an_empty_password() {
    use base64::Engine;
    let w = World::new().await;
    let mut config = w.aws_config();
    config["client_id"] = "public-client".into();
    w.clouds.google_sts.add_client("public-client", "");
    w.credentials(&config, &[]).access_token().await.unwrap();
    let request = w.clouds.google_sts.last_request().unwrap();
    let expected = format!(
        "Basic {}",
        base64::engine::general_purpose::STANDARD.encode("public-client:")
    );
    assert_eq!(request.header("authorization"), Some(expected.as_str()));
}

#[tokio::test]
async fn nothing_secret_is_rendered() {
    let w = World::new().await;
    let mut config = w.aws_config();
    config["client_id"] = "client".into();
    config["client_secret"] = "client-secret-value".into();
    w.clouds
        .google_sts
        .add_client("client", "client-secret-value");
    let creds = w.credentials(&config, &[]);
    let token = creds.access_token().await.unwrap();
    let c = w.clouds.imds.credentials();
    let federated = w.clouds.google_sts.issued_tokens()[0].access_token.clone();
    let subject = w
        .clouds
        .google_sts
        .last_request()
        .unwrap()
        .form_param("subject_token")
        .unwrap();
    w.clouds
        .iam
        .push_rpc_error(401, "UNAUTHENTICATED", &format!("bad token {federated}"));
    creds.cache().invalidate();
    let err = creds.access_token().await.unwrap_err();
    let rendered = format!(
        "{creds:?} {token:?} {err} {err:?} {:?}",
        ExternalAccountConfig::from_value(&config).unwrap()
    );
    for secret in [
        token.token().expose_secret(),
        &federated,
        &subject,
        &c.secret_access_key,
        &c.session_token,
        "client-secret-value",
    ] {
        assert!(!rendered.contains(secret), "leaked: {rendered}");
    }
}

/// Call settings in the context reach the components a provider builds from a configuration
/// file (a user could not tune Google STS retries before): per service, for every service,
/// and below a component's own setter.
#[tokio::test]
async fn context_call_settings_reach_the_exchanges_built_from_the_file() {
    use federated_credentials::Service;
    use federated_credentials::context::CallSettings;
    use federated_credentials::http::RetryPolicy;
    let with = |w: &World, ctx: Context| {
        let path = w.dir.path().join("call.json");
        std::fs::write(&path, w.aws_config().to_string()).unwrap();
        ExternalAccountCredentials::builder()
            .context(ctx)
            .config(ExternalAccountConfig::from_file(&path).unwrap())
            .build()
            .unwrap()
    };
    let base = |w: &World| {
        Context::builder()
            .clock(w.clock.clone())
            .env(StaticEnv::empty())
            .sleep(InstantSleep)
    };
    // Default: Google STS is tried 3 times, so two 503s are absorbed.
    let w = World::new().await;
    w.clouds.google_sts.push_fault_times(Fault::status(503), 2);
    with(&w, base(&w).build()).access_token().await.unwrap();
    assert_eq!(w.clouds.google_sts.request_count(), 3);
    // One attempt for Google STS from the context: the first 503 is the answer.
    let w = World::new().await;
    w.clouds.google_sts.push_fault_times(Fault::status(503), 2);
    let one_attempt = CallSettings::new().retry_policy(RetryPolicy::new(1));
    let ctx = base(&w)
        .call_settings(Service::GoogleSts, one_attempt)
        .build();
    let err = with(&w, ctx).access_token().await.unwrap_err();
    assert_eq!(err.http_status(), Some(503), "{err}");
    assert_eq!(w.clouds.google_sts.request_count(), 1);
    // The same for every service; a per-service setting wins over it.
    let w = World::new().await;
    w.clouds.google_sts.push_fault_times(Fault::status(503), 2);
    let ctx = base(&w)
        .default_call_settings(one_attempt)
        .call_settings(
            Service::GoogleSts,
            CallSettings::new().retry_policy(RetryPolicy::new(3)),
        )
        .build();
    assert_eq!(
        ctx.call_settings(Service::IamCredentials),
        one_attempt,
        "every service without its own"
    );
    with(&w, ctx).access_token().await.unwrap();
    assert_eq!(w.clouds.google_sts.request_count(), 3);
}
