//! AWS outbound identity federation: `OutboundWebIdentityToken` asks STS `GetWebIdentityToken`
//! for an OIDC token for the workload's own AWS identity (SigV4-signed with the `aws1` chain),
//! and a Google workload identity pool provider trusts the account's issuer: AWS → GCP without
//! `aws4_request`. Against the AWS STS emulator, which verifies the signature, enforces the
//! account setting and the session's lifetime, and signs RS256 or ES384.

use std::time::{Duration, UNIX_EPOCH};

use federated_credentials::context::{Context, InstantSleep, ManualClock, StaticEnv};
use federated_credentials::google::ExternalAccountCredentials;
use federated_credentials::source::SubjectTokenSource;
use federated_credentials::source::aws::{
    Aws1Source, Ec2InstanceMetadata, OutboundWebIdentityToken, SigningAlgorithm,
};
use federated_credentials::{ErrorKind, Service};
use federated_credentials_testkit::{
    AwsStsEmulator, CallerCredentials, ContainerCredentialsEmulator, GoogleStsEmulator,
    OIDC_PROVIDER_AUDIENCE, ProviderSpec, StsErrorCode,
};

const T0: u64 = 1_800_000_000;
const ROLE: &str = "arn:aws:iam::123456789012:role/lambda-exec";
const KEY: &str = "ASIAOUTBOUNDEXAMPLE1";
const SECRET: &str = "outbound/secret/access/key/000000000000000";
const SESSION: &str = "outbound-session-token";

struct World {
    clock: ManualClock,
    sts: AwsStsEmulator,
}

impl World {
    async fn new(enabled: bool) -> Self {
        let clock = ManualClock::new(UNIX_EPOCH + Duration::from_secs(T0));
        let sts = AwsStsEmulator::builder()
            .clock(clock.clone())
            .outbound_web_identity_federation(enabled)
            .start()
            .await
            .unwrap();
        // The Lambda function's execution-role session, valid for 12 h.
        sts.allow_caller(CallerCredentials::role_session(
            KEY,
            SECRET,
            SESSION,
            ROLE,
            UNIX_EPOCH + Duration::from_secs(T0 + 12 * 3600),
        ));
        Self { clock, sts }
    }

    /// A Lambda environment (keys, region) with STS on loopback, plus `extra`.
    fn lambda(&self, extra: &[(&str, &str)]) -> Context {
        let mut env = vec![
            ("AWS_ACCESS_KEY_ID".to_string(), KEY.to_string()),
            ("AWS_SECRET_ACCESS_KEY".to_string(), SECRET.to_string()),
            ("AWS_SESSION_TOKEN".to_string(), SESSION.to_string()),
            ("AWS_REGION".to_string(), "eu-west-1".to_string()),
            ("AWS_ENDPOINT_URL_STS".to_string(), self.sts.endpoint()),
        ];
        for (k, v) in extra {
            env.retain(|(key, _)| key != k);
            env.push((k.to_string(), v.to_string()));
        }
        Context::builder()
            .clock(self.clock.clone())
            .env(StaticEnv::from_pairs(env))
            .sleep(InstantSleep)
            .build()
    }
}

fn chain() -> Aws1Source {
    Aws1Source::new(Ec2InstanceMetadata::new())
}

#[tokio::test]
async fn a_lambda_gets_a_token_for_its_role_rs256_and_es384() {
    let w = World::new(true).await;
    let ctx = w.lambda(&[]);
    let token = OutboundWebIdentityToken::new(chain(), "https://relying.example")
        .subject_token(&ctx)
        .await
        .unwrap();
    let claims = w
        .sts
        .verify_web_identity_token(token.token().expose_secret())
        .unwrap();
    assert_eq!(claims["sub"], ROLE);
    assert_eq!(claims["aud"], "https://relying.example");
    assert_eq!(claims["iss"], w.sts.outbound_issuer().as_str());
    assert_eq!(
        claims["https://sts.amazonaws.com/"]["source_region"],
        "eu-west-1"
    );
    assert_eq!(
        token.expires_at(),
        Some(UNIX_EPOCH + Duration::from_secs(T0 + 300))
    );
    let sent = w.sts.last_request().unwrap();
    assert!(
        sent.header("authorization")
            .unwrap()
            .contains("/eu-west-1/sts/aws4_request")
    );

    // ES384, two audiences, a tag, an hour.
    let token = OutboundWebIdentityToken::new(chain(), "a")
        .audience("b")
        .signing_algorithm(SigningAlgorithm::Es384)
        .duration(Duration::from_secs(3600))
        .tag("team", "payments")
        .subject_token(&ctx)
        .await
        .unwrap();
    let jwt = token.token().expose_secret();
    let claims = w.sts.verify_web_identity_token(jwt).unwrap();
    assert_eq!(claims["aud"], serde_json::json!(["a", "b"]));
    assert_eq!(
        claims["https://sts.amazonaws.com/"]["request_tags"]["team"],
        "payments"
    );
    let issued = w.sts.issued_web_identity_tokens();
    assert_eq!(issued[1].signing_algorithm, "ES384");
    assert_eq!(issued[1].duration, Duration::from_secs(3600));
    let jwks = w.sts.outbound_jwks();
    assert!(
        jwks["keys"]
            .as_array()
            .unwrap()
            .iter()
            .any(|k| k["crv"] == "P-384")
    );
}

#[tokio::test]
async fn the_token_never_outlives_the_container_session() {
    let w = World::new(true).await;
    // ECS task credentials with 10 minutes left.
    let container = ContainerCredentialsEmulator::builder()
        .clock(w.clock.clone())
        .credentials_lifetime(Duration::from_secs(600))
        .start()
        .await
        .unwrap();
    let c = container.credentials();
    w.sts.allow_caller(CallerCredentials::role_session(
        &c.access_key_id,
        &c.secret_access_key,
        &c.session_token,
        "arn:aws:iam::123456789012:role/task",
        UNIX_EPOCH + Duration::from_secs(T0 + 600),
    ));
    let ctx = Context::builder()
        .clock(w.clock.clone())
        .env(StaticEnv::from_pairs([
            (
                "AWS_CONTAINER_CREDENTIALS_FULL_URI".to_string(),
                container.credentials_url(),
            ),
            ("AWS_REGION".to_string(), "us-east-2".to_string()),
            ("AWS_ENDPOINT_URL_STS".to_string(), w.sts.endpoint()),
        ]))
        .sleep(InstantSleep)
        .build();
    let token = OutboundWebIdentityToken::new(chain(), "aud")
        .duration(Duration::from_secs(3600))
        .subject_token(&ctx)
        .await
        .unwrap();
    // Cut to the session (the emulator refuses anything longer with
    // SessionDurationEscalationException).
    assert_eq!(
        token.expires_at(),
        Some(UNIX_EPOCH + Duration::from_secs(T0 + 600))
    );
    assert_eq!(
        w.sts.issued_web_identity_tokens()[0].subject,
        "arn:aws:iam::123456789012:role/task"
    );
}

#[tokio::test]
async fn refusals_are_typed_and_say_what_to_fix() {
    // Outbound federation not enabled for the account.
    let w = World::new(false).await;
    let source = OutboundWebIdentityToken::new(chain(), "aud");
    let err = source.subject_token(&w.lambda(&[])).await.unwrap_err();
    assert_eq!(
        err.upstream_code(),
        Some("OutboundWebIdentityFederationDisabledException")
    );
    assert_eq!(err.http_status(), Some(403));
    assert!(!err.is_transient());
    assert!(err.to_string().contains("enable it once"), "{err}");
    assert!(err.request_id().is_some());
    w.sts.set_outbound_web_identity_federation(true);

    // Scripted: the session escalation and payload errors AWS documents.
    for (code, says) in [
        (StsErrorCode::SessionDurationEscalation, "outlive"),
        (
            StsErrorCode::JwtPayloadSizeExceeded,
            "fewer or shorter tags",
        ),
    ] {
        w.sts.push_error(code);
        let err = source.subject_token(&w.lambda(&[])).await.unwrap_err();
        assert_eq!(err.upstream_code(), Some(code.code()));
        assert!(err.to_string().contains(says), "{err}");
    }

    // A wrong secret: the emulator recomputes the signature.
    let err = source
        .subject_token(&w.lambda(&[("AWS_SECRET_ACCESS_KEY", "not/the/secret")]))
        .await
        .unwrap_err();
    assert_eq!(err.upstream_code(), Some("SignatureDoesNotMatch"));
    assert!(!err.to_string().contains(SECRET));

    // The global endpoint does not offer the call: refused before sending.
    let before = w.sts.request_count();
    let err = source
        .subject_token(&w.lambda(&[("AWS_ENDPOINT_URL_STS", "https://sts.amazonaws.com")]))
        .await
        .unwrap_err();
    assert_eq!(err.kind(), ErrorKind::Configuration);
    assert!(err.to_string().contains("regional"), "{err}");
    assert_eq!(w.sts.request_count(), before);

    // No region anywhere: says so (IMDS disabled, as outside EC2).
    let ctx = Context::builder()
        .env(StaticEnv::from_pairs([
            ("AWS_ACCESS_KEY_ID", KEY),
            ("AWS_SECRET_ACCESS_KEY", SECRET),
            ("AWS_EC2_METADATA_DISABLED", "true"),
        ]))
        .build();
    let err = source.subject_token(&ctx).await.unwrap_err();
    assert!(err.to_string().contains("AWS_REGION"), "{err}");
    assert_eq!(err.service(), Service::AwsImds);
}

#[tokio::test]
async fn aws_to_google_through_the_accounts_issuer() {
    let w = World::new(true).await;
    let google_sts = GoogleStsEmulator::builder()
        .clock(w.clock.clone())
        .provider(
            ProviderSpec::oidc(OIDC_PROVIDER_AUDIENCE)
                .issuer_uri(w.sts.outbound_issuer())
                .trust(w.sts.outbound_identity()),
        )
        .start()
        .await
        .unwrap();
    let google = ExternalAccountCredentials::builder()
        .context(w.lambda(&[]))
        .audience(OIDC_PROVIDER_AUDIENCE)
        .token_url(google_sts.token_url())
        .token_source(OutboundWebIdentityToken::new(
            chain(),
            OIDC_PROVIDER_AUDIENCE,
        ))
        .build()
        .unwrap();
    google.access_token().await.unwrap();
    assert_eq!(google_sts.issued_tokens()[0].subject, ROLE);
    // A refresh asks STS for a new token (job-like lifetimes: 5 min by default).
    w.clock.advance(Duration::from_secs(3600));
    google.access_token().await.unwrap();
    assert_eq!(w.sts.issued_web_identity_tokens().len(), 2);
}
