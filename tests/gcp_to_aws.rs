//! GCP → AWS end to end against the loopback emulators: the metadata server's identity token
//! traded at STS, every STS error code and metadata-server failure, retry classes, token-file
//! rotation, and the cache never handing out an expired credential.

use std::sync::Arc;
use std::time::{Duration, UNIX_EPOCH};

use aws_credential_types::provider::ProvideCredentials;
use federated_credentials::aws::WebIdentityProvider;
use federated_credentials::context::{Clock, Context, InstantSleep, ManualClock, StaticEnv};
use federated_credentials::http::RetryPolicy;
use federated_credentials::source::{
    FnTokenSource, GcpMetadataIdentityToken, IdTokenFormat, TokenFile,
};
use federated_credentials::token::{SubjectToken, TokenType};
use federated_credentials::{Error, ErrorKind, Service};
use federated_credentials_testkit::{
    AwsStsEmulator, Fault, GcpMetadataEmulator, RoleSpec, StsErrorCode,
};

const AUDIENCE: &str = "sts.amazonaws.com";
const START: u64 = 1_800_000_000;

struct World {
    clock: ManualClock,
    mds: GcpMetadataEmulator,
    sts: AwsStsEmulator,
    role_arn: String,
}

impl World {
    async fn new() -> Self {
        Self::with_sts(|b| b).await
    }

    async fn with_sts(
        f: impl FnOnce(
            federated_credentials_testkit::AwsStsEmulatorBuilder,
        ) -> federated_credentials_testkit::AwsStsEmulatorBuilder,
    ) -> Self {
        let clock = ManualClock::new(UNIX_EPOCH + Duration::from_secs(START));
        let mds = GcpMetadataEmulator::builder()
            .clock(clock.clone())
            .start()
            .await
            .unwrap();
        let sts = f(AwsStsEmulator::builder().clock(clock.clone()))
            .start()
            .await
            .unwrap();
        let role_arn = sts.role_arn("gcp-workload");
        sts.add_role(
            RoleSpec::new(&role_arn)
                .google_aud(&mds.default_service_account().unique_id)
                .google_oaud(AUDIENCE)
                .max_session_duration(Duration::from_secs(7200)),
        );
        Self {
            clock,
            mds,
            sts,
            role_arn,
        }
    }

    fn ctx(&self) -> Context {
        self.ctx_with(&[])
    }

    fn ctx_with(&self, extra: &[(&str, &str)]) -> Context {
        let mut env = StaticEnv::from_pairs([("GCE_METADATA_HOST", self.mds.host())]);
        for (k, v) in extra {
            env = env.with(*k, *v);
        }
        Context::builder()
            .clock(self.clock.clone())
            .env(env)
            .sleep(InstantSleep)
            .build()
    }

    fn builder(&self) -> federated_credentials::aws::WebIdentityProviderBuilder {
        WebIdentityProvider::builder()
            .context(self.ctx())
            .token_source(GcpMetadataIdentityToken::new(AUDIENCE))
            .role_arn(&self.role_arn)
            .configure_sts(|s| s.session_name("it-session"))
            .configure_sts(|s| s.endpoint_url(self.sts.endpoint()))
    }

    fn provider(&self) -> WebIdentityProvider {
        self.builder().build().unwrap()
    }
}

fn assert_no_secret(rendered: &str, secrets: &[&str]) {
    for s in secrets {
        assert!(!rendered.contains(s), "secret leaked into: {rendered}");
    }
}

#[tokio::test]
async fn metadata_token_is_traded_for_role_credentials() {
    let w = World::new().await;
    let provider = w.provider();
    let creds = provider.credentials().await.unwrap();

    let account = w.sts.account_id().to_string();
    assert_eq!(
        creds.assumed_role_arn(),
        format!("arn:aws:sts::{account}:assumed-role/gcp-workload/it-session")
    );
    assert_eq!(creds.account_id(), Some(account.as_str()));
    assert_eq!(
        creds.subject(),
        Some(w.mds.default_service_account().unique_id.as_str())
    );
    assert!(creds.request_id().is_some());
    let issued = w.sts.credentials_for(creds.access_key_id()).unwrap();
    assert_eq!(creds.expiration(), issued.expiration);

    // what went over the wire
    let md = w.mds.requests();
    assert_eq!(md.len(), 1);
    assert_eq!(md[0].header("metadata-flavor"), Some("Google"));
    assert_eq!(md[0].query_param("audience"), Some(AUDIENCE));
    assert_eq!(md[0].query_param("format"), Some("standard"));
    let st = w.sts.requests();
    assert_eq!(st.len(), 1);
    let req = &st[0];
    assert_eq!(req.method, "POST");
    assert!(
        !req.has_header("authorization"),
        "AssumeRoleWithWebIdentity is unsigned"
    );
    assert!(
        req.header("content-type")
            .unwrap()
            .starts_with("application/x-www-form-urlencoded")
    );
    assert_eq!(
        req.form_param("Action").as_deref(),
        Some("AssumeRoleWithWebIdentity")
    );
    assert_eq!(req.form_param("Version").as_deref(), Some("2011-06-15"));
    assert_eq!(req.form_param("RoleArn"), Some(w.role_arn.clone()));
    assert_eq!(
        req.form_param("RoleSessionName").as_deref(),
        Some("it-session")
    );
    assert_eq!(req.form_param("DurationSeconds"), None);
    let jwt = req.form_param("WebIdentityToken").unwrap();
    assert!(w.mds.identity().verify(&jwt).is_ok());

    // the SDK view
    let sdk = provider.provide_credentials().await.unwrap();
    assert_eq!(sdk.access_key_id(), creds.access_key_id());
    assert_eq!(sdk.expiry(), Some(creds.expiration()));
    assert_eq!(sdk.account_id().map(|a| a.as_str()), Some(account.as_str()));
    assert!(sdk.session_token().is_some());
    assert!(format!("{sdk:?}").contains("FederatedWebIdentity"));

    // cached: no more requests
    for _ in 0..10 {
        provider.credentials().await.unwrap();
    }
    assert_eq!(w.mds.request_count(), 1);
    assert_eq!(w.sts.request_count(), 1);

    // secrets never rendered
    let secret = sdk.secret_access_key().to_string();
    let session = sdk.session_token().unwrap().to_string();
    let rendered = format!("{provider:?} {creds:?} {sdk:?}");
    assert_no_secret(&rendered, &[&secret, &session, &jwt]);
}

#[tokio::test]
async fn optional_parameters_reach_sts() {
    let w = World::new().await;
    let policy = r#"{"Version":"2012-10-17","Statement":[{"Effect":"Allow","Action":"s3:GetObject","Resource":"*"}]}"#;
    let provider = w
        .builder()
        .token_source(
            GcpMetadataIdentityToken::new(AUDIENCE)
                .format(IdTokenFormat::Full)
                .licenses(true),
        )
        .configure_sts(|s| s.duration(Duration::from_secs(7200)))
        .configure_sts(|s| s.policy(policy))
        .configure_sts(|s| {
            s.policy_arns([
                "arn:aws:iam::aws:policy/ReadOnlyAccess",
                "arn:aws:iam::aws:policy/AmazonS3ReadOnlyAccess",
            ])
        })
        .build()
        .unwrap();
    let creds = provider.credentials().await.unwrap();
    assert_eq!(
        creds.expiration(),
        UNIX_EPOCH + Duration::from_secs(START + 7200)
    );
    let req = w.sts.last_request().unwrap();
    assert_eq!(req.form_param("DurationSeconds").as_deref(), Some("7200"));
    assert_eq!(req.form_param("Policy").as_deref(), Some(policy));
    assert_eq!(
        req.form_param("PolicyArns.member.2.arn").as_deref(),
        Some("arn:aws:iam::aws:policy/AmazonS3ReadOnlyAccess")
    );
    let md = w.mds.last_request().unwrap();
    assert_eq!(md.query_param("format"), Some("full"));
    assert_eq!(md.query_param("licenses"), Some("TRUE"));
}

#[tokio::test]
async fn fractional_expiration_from_sts_is_parsed() {
    let w = World::with_sts(|b| b.fractional_seconds(true)).await;
    let creds = w.provider().credentials().await.unwrap();
    let issued = w.sts.credentials_for(creds.access_key_id()).unwrap();
    assert_eq!(creds.expiration(), issued.expiration);
}

/// STS error codes that must not be retried: one request, the code and message reach the user.
#[tokio::test]
async fn permanent_sts_errors_are_reported_not_retried() {
    let cases = [
        (StsErrorCode::InvalidIdentityToken, 400),
        (StsErrorCode::IdpRejectedClaim, 403),
        (StsErrorCode::AccessDenied, 403),
        (StsErrorCode::MalformedPolicyDocument, 400),
        (StsErrorCode::PackedPolicyTooLarge, 400),
        (StsErrorCode::RegionDisabled, 403),
        (StsErrorCode::ValidationError, 400),
    ];
    for (code, status) in cases {
        let w = World::new().await;
        w.sts
            .push_error_with_message(code, format!("scripted {} message", code.code()));
        let err = w.provider().credentials().await.unwrap_err();
        assert_eq!(err.upstream_code(), Some(code.code()), "{err}");
        assert_eq!(err.http_status(), Some(status));
        assert_eq!(err.service(), Service::AwsSts);
        assert_eq!(err.kind(), ErrorKind::Upstream);
        assert!(!err.is_transient(), "{err}");
        assert!(err.request_id().is_some(), "{err}");
        assert!(
            err.to_string()
                .contains(&format!("scripted {} message", code.code())),
            "{err}"
        );
        assert_eq!(
            w.sts.request_count(),
            1,
            "{} must not be retried",
            code.code()
        );
    }
}

/// `ExpiredTokenException`: one more attempt with a fresh token, then the error.
#[tokio::test]
async fn expired_token_exception_refetches_the_token_once() {
    let w = World::new().await;
    w.sts.push_error(StsErrorCode::ExpiredToken);
    w.provider().credentials().await.unwrap();
    assert_eq!(w.mds.request_count(), 2);
    assert_eq!(w.sts.request_count(), 2);

    let w = World::new().await;
    w.sts.push_error_times(StsErrorCode::ExpiredToken, 5);
    let err = w.provider().credentials().await.unwrap_err();
    assert_eq!(err.upstream_code(), Some("ExpiredTokenException"));
    assert!(err.message().contains("clock"), "{err}");
    assert_eq!(w.sts.request_count(), 2);
}

#[tokio::test]
async fn transient_sts_errors_are_retried_then_succeed() {
    for code in [
        StsErrorCode::IdpCommunicationError,
        StsErrorCode::Throttling,
        StsErrorCode::ServiceUnavailable,
        StsErrorCode::InternalFailure,
    ] {
        let w = World::new().await;
        w.sts.push_error_times(code, 2);
        w.provider().credentials().await.unwrap();
        assert_eq!(w.sts.request_count(), 3, "{}", code.code());
    }
}

#[tokio::test]
async fn transient_sts_errors_give_up_after_the_retry_budget() {
    let w = World::new().await;
    w.sts
        .push_error_times(StsErrorCode::IdpCommunicationError, 10);
    let err = w.provider().credentials().await.unwrap_err();
    assert_eq!(err.upstream_code(), Some("IDPCommunicationError"));
    assert!(err.is_transient());
    assert_eq!(w.sts.request_count(), 4);

    let w = World::new().await;
    w.sts.push_fault_times(Fault::status(502), 10);
    let provider = w
        .builder()
        .configure_sts(|s| s.retry_policy(RetryPolicy::new(2)))
        .build()
        .unwrap();
    let err = provider.credentials().await.unwrap_err();
    assert_eq!(err.http_status(), Some(502));
    assert!(err.is_transient());
    assert_eq!(w.sts.request_count(), 2);
}

#[tokio::test]
async fn sts_enforced_rules_surface_as_typed_errors() {
    // trust policy: wrong audience (oaud) is AccessDenied
    let w = World::new().await;
    let err = w
        .builder()
        .token_source(GcpMetadataIdentityToken::new("some-other-audience"))
        .build()
        .unwrap()
        .credentials()
        .await
        .unwrap_err();
    assert_eq!(err.upstream_code(), Some("AccessDenied"));
    assert!(
        err.message().contains("azp"),
        "the hint explains the aud/azp mapping: {err}"
    );

    // duration above the role's maximum
    let err = w
        .builder()
        .configure_sts(|s| s.duration(Duration::from_secs(10800)))
        .build()
        .unwrap()
        .credentials()
        .await
        .unwrap_err();
    assert_eq!(err.upstream_code(), Some("ValidationError"));

    // a token STS considers expired (the source did not know its expiry)
    let stale = w
        .mds
        .issue_identity_token(AUDIENCE, Duration::from_secs(60));
    w.clock.advance(Duration::from_secs(120));
    // (FnTokenSource reads a JWT's exp and would refuse it locally: a source that does not.)
    #[derive(Debug)]
    struct Unparsed(String);
    #[async_trait::async_trait]
    impl federated_credentials::source::SubjectTokenSource for Unparsed {
        async fn subject_token(&self, _: &Context) -> Result<SubjectToken, Error> {
            Ok(SubjectToken::new(self.0.clone(), TokenType::Jwt))
        }
        fn name(&self) -> &'static str {
            "unparsed"
        }
    }
    let err = w
        .builder()
        .token_source(Unparsed(stale))
        .build()
        .unwrap()
        .credentials()
        .await
        .unwrap_err();
    assert_eq!(err.upstream_code(), Some("ExpiredTokenException"));

    // a token not signed by Google
    let err = w
        .builder()
        .token_source(FnTokenSource::new(|| async {
            Ok(SubjectToken::new(
                "eyJhbGciOiJSUzI1NiJ9.eyJzdWIiOiIxIn0.c2lnbmF0dXJl",
                TokenType::Jwt,
            ))
        }))
        .build()
        .unwrap()
        .credentials()
        .await
        .unwrap_err();
    assert_eq!(err.upstream_code(), Some("InvalidIdentityToken"));
}

#[tokio::test]
async fn sts_garbage_answers_are_invalid_responses() {
    let cases = [
        Fault::Body("<html><body>Service Unavailable</body></html>".into()),
        Fault::Body("not xml at all".into()),
        Fault::Body("<Other><Thing/></Other>".into()),
        Fault::Body(
            "<AssumeRoleWithWebIdentityResponse><AssumeRoleWithWebIdentityResult><Credentials><AccessKeyId>ASIAX</AccessKeyId></Credentials></AssumeRoleWithWebIdentityResult></AssumeRoleWithWebIdentityResponse>".into(),
        ),
    ];
    for fault in cases {
        let w = World::new().await;
        w.sts.push_fault(fault);
        let err = w.provider().credentials().await.unwrap_err();
        assert_eq!(err.kind(), ErrorKind::InvalidResponse, "{err}");
        assert!(!err.is_transient());
        assert_eq!(w.sts.request_count(), 1);
    }
    // a 5xx HTML page from a load balancer is transient
    let w = World::new().await;
    w.sts.push_fault(Fault::status_with_body(
        503,
        "<html>Service Unavailable</html>",
    ));
    w.provider().credentials().await.unwrap();
    assert_eq!(w.sts.request_count(), 2);
}

#[tokio::test]
async fn sts_credentials_already_expired_are_rejected() {
    let w = World::new().await;
    let body = format!(
        "<AssumeRoleWithWebIdentityResponse xmlns=\"https://sts.amazonaws.com/doc/2011-06-15/\"><AssumeRoleWithWebIdentityResult><AssumedRoleUser><Arn>{}</Arn><AssumedRoleId>AROAX:s</AssumedRoleId></AssumedRoleUser><Credentials><AccessKeyId>ASIAEXAMPLEEXAMPLE</AccessKeyId><SecretAccessKey>s3cr3t</SecretAccessKey><SessionToken>t0k3n</SessionToken><Expiration>2020-01-01T00:00:00Z</Expiration></Credentials></AssumeRoleWithWebIdentityResult></AssumeRoleWithWebIdentityResponse>",
        "arn:aws:sts::123456789012:assumed-role/gcp-workload/s"
    );
    w.sts.push_fault(Fault::Body(body));
    let err = w.provider().credentials().await.unwrap_err();
    assert_eq!(err.kind(), ErrorKind::Expired);
    assert_no_secret(&format!("{err} {err:?}"), &["s3cr3t", "t0k3n"]);
}

#[tokio::test]
async fn sts_redirects_are_not_followed() {
    let w = World::new().await;
    let other = AwsStsEmulator::start().await.unwrap();
    w.sts.push_fault(Fault::Redirect(other.endpoint()));
    let err = w.provider().credentials().await.unwrap_err();
    assert_eq!(err.kind(), ErrorKind::InvalidResponse);
    assert!(err.message().contains("redirect"), "{err}");
    assert_eq!(other.request_count(), 0);
}

#[tokio::test]
async fn metadata_transient_failures_are_retried() {
    let w = World::new().await;
    w.mds.push_fault(Fault::status(503));
    w.mds
        .push_fault(Fault::too_many_requests(Duration::from_secs(1)));
    w.mds.push_fault(Fault::status(500));
    w.provider().credentials().await.unwrap();
    assert_eq!(w.mds.request_count(), 4);

    let w = World::new().await;
    w.mds.push_fault_times(Fault::status(503), 10);
    let err = w.provider().credentials().await.unwrap_err();
    assert_eq!(err.service(), Service::GcpMetadata);
    assert_eq!(err.http_status(), Some(503));
    assert!(err.is_transient());
    assert_eq!(w.mds.request_count(), 4);
    assert_eq!(w.sts.request_count(), 0);
}

#[tokio::test]
async fn metadata_permanent_failures_are_not_retried() {
    for (fault, kind) in [
        (Fault::status(400), ErrorKind::Configuration),
        (Fault::status(403), ErrorKind::Upstream),
        (Fault::status(404), ErrorKind::Configuration),
    ] {
        let w = World::new().await;
        w.mds.push_fault(fault);
        let err = w.provider().credentials().await.unwrap_err();
        assert_eq!(err.kind(), kind, "{err}");
        assert!(!err.is_transient());
        assert_eq!(w.mds.request_count(), 1);
    }

    // a real 404: the service account is not on this instance
    let w = World::new().await;
    let err = w
        .builder()
        .token_source(
            GcpMetadataIdentityToken::new(AUDIENCE)
                .service_account("nobody@p.iam.gserviceaccount.com"),
        )
        .build()
        .unwrap()
        .credentials()
        .await
        .unwrap_err();
    assert_eq!(err.http_status(), Some(404));
    assert!(
        err.message().contains("nobody@p.iam.gserviceaccount.com"),
        "{err}"
    );
}

#[tokio::test]
async fn answers_without_metadata_flavor_are_rejected() {
    // point GCE_METADATA_HOST at something that is not a metadata server
    let w = World::new().await;
    let impostor = AwsStsEmulator::start().await.unwrap();
    let host = impostor.local_addr().to_string();
    let provider = WebIdentityProvider::builder()
        .context(w.ctx_with(&[("GCE_METADATA_HOST", &host)]))
        .token_source(GcpMetadataIdentityToken::new(AUDIENCE))
        .role_arn(&w.role_arn)
        .configure_sts(|s| s.endpoint_url(w.sts.endpoint()))
        .build()
        .unwrap();
    let err = provider.credentials().await.unwrap_err();
    assert_eq!(err.kind(), ErrorKind::InvalidResponse);
    assert!(err.message().contains("Metadata-Flavor"), "{err}");
    assert!(err.message().contains("GCE_METADATA_HOST"), "{err}");
}

#[tokio::test]
async fn metadata_garbage_and_redirects_are_rejected() {
    let w = World::new().await;
    w.mds
        .push_fault(Fault::Body("<html>captive portal</html>".into()));
    let err = w.provider().credentials().await.unwrap_err();
    assert_eq!(err.kind(), ErrorKind::InvalidResponse);
    assert!(err.message().contains("not a JWT"), "{err}");

    let w = World::new().await;
    w.mds.push_fault(Fault::Redirect(
        "http://169.254.169.254/latest/meta-data/".into(),
    ));
    let err = w.provider().credentials().await.unwrap_err();
    assert!(err.message().contains("redirect"), "{err}");
    assert_eq!(w.mds.request_count(), 1);
}

#[tokio::test]
async fn not_on_gcp_says_what_to_do() {
    let w = World::new().await;
    // a port nothing listens on
    let closed = {
        let l = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        l.local_addr().unwrap().to_string()
    };
    let provider = WebIdentityProvider::builder()
        .context(w.ctx_with(&[("GCE_METADATA_HOST", &closed)]))
        .token_source(GcpMetadataIdentityToken::new(AUDIENCE))
        .role_arn(&w.role_arn)
        .configure_sts(|s| s.endpoint_url(w.sts.endpoint()))
        .build()
        .unwrap();
    let err = provider.credentials().await.unwrap_err();
    assert_eq!(err.kind(), ErrorKind::Transport);
    assert!(err.message().contains("unreachable"), "{err}");
    assert!(err.message().contains("GCE_METADATA_HOST"), "{err}");
}

#[tokio::test]
async fn hanging_metadata_server_is_bounded_by_the_deadline() {
    let w = World::new().await;
    w.mds.push_fault_times(Fault::Hang, 10);
    let provider = w
        .builder()
        .token_source(
            GcpMetadataIdentityToken::new(AUDIENCE)
                .attempt_timeout(Duration::from_millis(100))
                .retry_policy(RetryPolicy::new(3).deadline(Duration::from_secs(2))),
        )
        .build()
        .unwrap();
    let started = std::time::Instant::now();
    let err = provider.credentials().await.unwrap_err();
    assert!(
        started.elapsed() < Duration::from_secs(3),
        "{:?}",
        started.elapsed()
    );
    assert_eq!(err.kind(), ErrorKind::Transport);
    assert!(err.message().contains("timed out"), "{err}");
    assert_eq!(w.mds.request_count(), 3);
}

#[tokio::test]
async fn dropped_connections_are_retried() {
    let w = World::new().await;
    w.mds.push_fault(Fault::CloseConnection);
    w.sts.push_fault(Fault::CloseConnection);
    w.provider().credentials().await.unwrap();
    assert_eq!(w.mds.request_count(), 2);
    assert_eq!(w.sts.request_count(), 2);
}

#[tokio::test]
async fn expired_metadata_token_is_not_sent() {
    let w = World::new().await;
    w.mds.set_token_lifetime(Duration::ZERO);
    let err = w
        .builder()
        .token_source(GcpMetadataIdentityToken::new(AUDIENCE).retry_policy(RetryPolicy::new(2)))
        .build()
        .unwrap()
        .credentials()
        .await
        .unwrap_err();
    assert_eq!(err.kind(), ErrorKind::Expired);
    assert_eq!(w.sts.request_count(), 0);
}

#[tokio::test]
async fn rotated_token_file_is_reread_on_refresh() {
    let w = World::new().await;
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("token");
    let first = w
        .mds
        .issue_identity_token(AUDIENCE, Duration::from_secs(3600));
    std::fs::write(&path, format!("{first}\n")).unwrap();
    let ctx = w.ctx_with(&[
        ("AWS_ROLE_ARN", &w.role_arn),
        ("AWS_WEB_IDENTITY_TOKEN_FILE", path.to_str().unwrap()),
        ("AWS_ENDPOINT_URL_STS", &w.sts.endpoint()),
        ("AWS_ROLE_SESSION_NAME", "from-env"),
    ]);
    let provider = WebIdentityProvider::builder()
        .context(ctx)
        .configure_from_env()
        .build()
        .unwrap();
    let creds1 = provider.credentials().await.unwrap();
    let sent1 = w.sts.last_request().unwrap();
    assert_eq!(
        sent1.form_param("WebIdentityToken"),
        Some(first.clone()),
        "trailing newline trimmed"
    );
    assert_eq!(
        sent1.form_param("RoleSessionName").as_deref(),
        Some("from-env")
    );

    // the kubelet rotates the file; an hour later the credentials are refreshed from it
    w.clock.advance(Duration::from_secs(1800));
    let second = w
        .mds
        .issue_identity_token(AUDIENCE, Duration::from_secs(3600));
    std::fs::write(&path, &second).unwrap();
    w.clock.advance(Duration::from_secs(1800));
    let creds2 = provider.credentials().await.unwrap();
    assert_ne!(creds1.access_key_id(), creds2.access_key_id());
    assert_eq!(
        w.sts.last_request().unwrap().form_param("WebIdentityToken"),
        Some(second)
    );
}

#[tokio::test]
async fn expired_credentials_are_never_returned() {
    let w = World::new().await;
    let provider = w.provider();
    let creds = provider.credentials().await.unwrap();
    // STS goes down, and the host sleeps past expiry
    w.sts.push_fault_times(Fault::status(503), 100);
    w.clock.set(creds.expiration() + Duration::from_secs(1));
    let err = provider.credentials().await.unwrap_err();
    assert_eq!(err.http_status(), Some(503));
    assert!(provider.provide_credentials().await.is_err());
    // and recovers
    w.sts.clear_faults();
    let fresh = provider.credentials().await.unwrap();
    assert!(fresh.expiration() > w.clock.now());
}

#[tokio::test]
async fn refresh_happens_in_the_background_before_expiry() {
    let w = World::new().await;
    let provider = w.provider();
    let first = provider.credentials().await.unwrap();
    // inside the refresh window (5 min + up to 20 min jitter before expiry)
    w.clock.advance(Duration::from_secs(3600 - 60));
    let served = provider.credentials().await.unwrap();
    assert_eq!(
        served.access_key_id(),
        first.access_key_id(),
        "callers are not blocked"
    );
    // the background refresh lands
    tokio::time::timeout(Duration::from_secs(10), async {
        while w.sts.request_count() < 2 {
            tokio::time::sleep(Duration::from_millis(5)).await;
        }
    })
    .await
    .expect("background refresh");
    tokio::time::timeout(Duration::from_secs(10), async {
        loop {
            if provider.credentials().await.unwrap().access_key_id() != first.access_key_id() {
                break;
            }
            tokio::time::sleep(Duration::from_millis(5)).await;
        }
    })
    .await
    .expect("new credentials served");
}

#[tokio::test]
async fn concurrent_cold_callers_share_one_fetch() {
    let w = World::new().await;
    w.sts.push_fault(Fault::Delay(Duration::from_millis(100)));
    let provider = Arc::new(w.provider());
    let tasks: Vec<_> = (0..200)
        .map(|_| {
            let p = provider.clone();
            tokio::spawn(
                async move { p.credentials().await.map(|c| c.access_key_id().to_string()) },
            )
        })
        .collect();
    let mut keys = std::collections::HashSet::new();
    for t in tasks {
        keys.insert(t.await.unwrap().unwrap());
    }
    assert_eq!(keys.len(), 1);
    assert_eq!(w.mds.request_count(), 1);
    assert_eq!(w.sts.request_count(), 1);
}

#[tokio::test]
async fn errors_and_debug_output_never_contain_secrets() {
    let w = World::new().await;
    let provider = w.provider();
    let creds = provider.credentials().await.unwrap();
    let sdk = creds.sdk_credentials().clone();
    let jwt = w
        .sts
        .last_request()
        .unwrap()
        .form_param("WebIdentityToken")
        .unwrap();
    let secrets = [
        sdk.secret_access_key().to_string(),
        sdk.session_token().unwrap().to_string(),
        jwt.clone(),
    ];
    let secrets: Vec<&str> = secrets.iter().map(String::as_str).collect();

    // an STS error message that echoes the token must not leak it
    w.sts.push_error_with_message(
        StsErrorCode::InvalidIdentityToken,
        format!("bad token {jwt}"),
    );
    provider.cache().invalidate();
    let err: Error = provider.credentials().await.unwrap_err();
    let mut rendered = format!("{err} {err:?} {provider:?} {creds:?} {sdk:?}");
    let mut source = std::error::Error::source(&err);
    while let Some(s) = source {
        rendered.push_str(&format!(" {s} {s:?}"));
        source = s.source();
    }
    let sdk_err = provider.provide_credentials().await;
    rendered.push_str(&format!(" {sdk_err:?}"));
    assert_no_secret(&rendered, &secrets);
    assert!(rendered.contains("[redacted]"), "{rendered}");
}

#[tokio::test]
async fn token_file_source_reports_missing_file_with_the_setting() {
    let w = World::new().await;
    let err = w
        .builder()
        .token_source(
            TokenFile::text("/nonexistent/token").setting_name("AWS_WEB_IDENTITY_TOKEN_FILE"),
        )
        .build()
        .unwrap()
        .credentials()
        .await
        .unwrap_err();
    assert_eq!(err.kind(), ErrorKind::NotAvailable);
    assert!(
        err.message()
            .contains("AWS_WEB_IDENTITY_TOKEN_FILE: no such file /nonexistent/token"),
        "{err}"
    );
    assert_eq!(w.sts.request_count(), 0);
}

/// The documented `~/.aws/config` form (`federated_credentials_role_arn` +
/// `federated_credentials_gcp_audience` next to a `credential_process` line) through the
/// default chain: every setting of the profile reaches STS.
#[tokio::test]
async fn a_profile_configures_role_audience_duration_and_session() {
    let w = World::new().await;
    let dir = tempfile::tempdir().unwrap();
    let config = dir.path().join("config");
    std::fs::write(
        &config,
        format!(
            "[profile gcp]\n\
             credential_process = /usr/local/bin/federated-credentials aws credential-process --profile gcp\n\
             federated_credentials_role_arn = {role}\n\
             federated_credentials_gcp_audience = {AUDIENCE}\n\
             role_session_name = from-profile\n\
             duration_seconds = 900\n\
             endpoint_url = {sts}\n\
             [profile wrong-audience]\n\
             federated_credentials_role_arn = {role}\n\
             federated_credentials_gcp_audience = https://not-the-trusted-audience\n\
             endpoint_url = {sts}\n\
             [profile no-role]\n\
             federated_credentials_gcp_audience = {AUDIENCE}\n\
             [profile bad-duration]\n\
             federated_credentials_role_arn = {role}\n\
             federated_credentials_gcp_audience = {AUDIENCE}\n\
             duration_seconds = 1h\n",
            role = w.role_arn,
            sts = w.sts.endpoint()
        ),
    )
    .unwrap();
    let config = config.display().to_string();
    let chain = |profile: &str| {
        let ctx = w.ctx_with(&[
            ("AWS_CONFIG_FILE", &config),
            ("AWS_PROFILE", profile),
            ("NO_GCE_CHECK", "true"),
        ]);
        async move { federated_credentials::default_chain::aws_web_identity(&ctx).await }
    };
    let provider = chain("gcp").await.unwrap();
    let creds = provider.credentials().await.unwrap();
    let issued = &w.sts.issued_credentials()[0];
    assert_eq!(issued.access_key_id, creds.access_key_id());
    assert_eq!(issued.role_arn, w.role_arn);
    assert_eq!(issued.role_session_name, "from-profile");
    assert_eq!(
        issued.expiration,
        UNIX_EPOCH + Duration::from_secs(START + 900)
    );
    // The audience is the profile's: the role trusts only AUDIENCE.
    let err = chain("wrong-audience")
        .await
        .unwrap()
        .credentials()
        .await
        .unwrap_err();
    assert_eq!(err.upstream_code(), Some("AccessDenied"), "{err}");
    // Our keys without a role: an error naming the key, not a fall-through.
    let err = chain("no-role").await.unwrap_err();
    assert_eq!(
        err.message(),
        "profile no-role.federated_credentials_role_arn: is required with federated_credentials_gcp_audience"
    );
    // A profile that cannot be parsed is an error too, not a reason to look elsewhere.
    let err = chain("bad-duration").await.unwrap_err();
    assert!(
        err.message()
            .starts_with("profile bad-duration.duration_seconds"),
        "{err}"
    );
}
