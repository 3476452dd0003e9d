//! Tests of the STS emulator over HTTP, as a client sees it.

use std::time::Duration;

use serde_json::{Value, json};

use super::*;
use crate::test_support::{Reply, T0_SECS, at, client, clock, form, send};
use crate::{Fault, GcpMetadataEmulator};
use federated_credentials::ErrorKind;
use federated_credentials::aws::{WebIdentityProvider, WebIdentityProviderBuilder};
use federated_credentials::context::{Context, ManualClock, StaticEnv};
use federated_credentials::source::GcpMetadataIdentityToken;

const AZP: &str = "104729384756102938475";
const AUD: &str = "sts.amazonaws.com";

/// Claims of a Google ID token issued at T0 for an hour.
fn claims() -> Value {
    json!({
        "iss": "https://accounts.google.com",
        "aud": AUD,
        "azp": AZP,
        "sub": AZP,
        "email": "sa@p.iam.gserviceaccount.com",
        "email_verified": true,
        "iat": T0_SECS,
        "exp": T0_SECS + 3600,
    })
}

fn token_with(changes: Value) -> String {
    let mut claims = claims();
    for (name, value) in changes.as_object().into_iter().flatten() {
        claims[name] = value.clone();
    }
    GoogleIdentity::shared().sign(&claims)
}

struct Fixture {
    sts: AwsStsEmulator,
    clock: ManualClock,
    role_arn: String,
}

async fn fixture() -> Fixture {
    fixture_with(AwsStsEmulator::builder()).await
}

async fn fixture_with(builder: AwsStsEmulatorBuilder) -> Fixture {
    let clock = clock();
    let sts = builder.clock(clock.clone()).seed(7).start().await.unwrap();
    let role_arn = sts.role_arn("gcp-workload");
    sts.add_role(
        RoleSpec::new(&role_arn)
            .max_session_duration(Duration::from_secs(7200))
            .google_aud(AZP)
            .google_oaud(AUD),
    );
    Fixture {
        sts,
        clock,
        role_arn,
    }
}

impl Fixture {
    /// POSTs a call with a valid token; `changes` replace (or, when empty, remove) parameters.
    async fn assume(&self, changes: &[(&str, &str)]) -> Reply {
        let token = token_with(json!({}));
        let mut pairs = vec![
            ("Action", "AssumeRoleWithWebIdentity"),
            ("Version", "2011-06-15"),
            ("RoleArn", self.role_arn.as_str()),
            ("RoleSessionName", "s1"),
            ("WebIdentityToken", token.as_str()),
        ];
        for (name, value) in changes {
            pairs.retain(|(k, _)| k != name);
            if !value.is_empty() {
                pairs.push((name, value));
            }
        }
        let request = client()
            .post(self.sts.endpoint())
            .header(
                "Content-Type",
                "application/x-www-form-urlencoded; charset=utf-8",
            )
            .body(form(&pairs));
        send(request).await
    }
}

/// The text of the first `<tag>` element.
fn element<'a>(xml: &'a str, tag: &str) -> Option<&'a str> {
    let start = xml.find(&format!("<{tag}>"))? + tag.len() + 2;
    let end = start + xml[start..].find(&format!("</{tag}>"))?;
    Some(&xml[start..end])
}

#[track_caller]
fn assert_error(reply: &Reply, status: u16, code: &str) {
    assert_eq!(reply.status, status, "{}", reply.body);
    assert!(
        reply
            .body
            .starts_with("<ErrorResponse xmlns=\"https://sts.amazonaws.com/doc/2011-06-15/\">")
    );
    assert_eq!(element(&reply.body, "Code"), Some(code), "{}", reply.body);
    let fault_type = if status >= 500 { "Receiver" } else { "Sender" };
    assert_eq!(element(&reply.body, "Type"), Some(fault_type));
    let request_id = reply.header("x-amzn-requestid").expect("request id header");
    assert!(
        reply
            .body
            .contains(&format!("</Error>\n  <RequestId>{request_id}</RequestId>"))
    );
}

#[tokio::test]
async fn success_response_shape_and_record() {
    let f = fixture().await;
    let reply = f.assume(&[("DurationSeconds", "7200")]).await;
    assert_eq!(reply.status, 200, "{}", reply.body);
    assert_eq!(reply.header("content-type"), Some("text/xml"));
    let body = &reply.body;
    assert!(body.starts_with(
        "<AssumeRoleWithWebIdentityResponse xmlns=\"https://sts.amazonaws.com/doc/2011-06-15/\">"
    ));

    let issued = f.sts.issued_credentials();
    assert_eq!(issued.len(), 1);
    let c = &issued[0];
    let key_id = element(body, "AccessKeyId").unwrap();
    assert_eq!(key_id, c.access_key_id);
    assert!(key_id.starts_with("ASIA") && key_id.len() == 20);
    assert!(
        key_id[4..]
            .bytes()
            .all(|b| b.is_ascii_uppercase() || b.is_ascii_digit())
    );
    assert_eq!(
        element(body, "SecretAccessKey"),
        Some(c.secret_access_key.as_str())
    );
    assert_eq!(
        element(body, "SessionToken"),
        Some(c.session_token.as_str())
    );
    assert_eq!(element(body, "Expiration"), Some("2023-11-15T00:13:20Z"));
    assert_eq!(c.expiration, at(T0_SECS + 7200));
    assert_eq!(element(body, "Audience"), Some(AZP));
    assert_eq!(element(body, "Provider"), Some("accounts.google.com"));
    assert_eq!(element(body, "SubjectFromWebIdentityToken"), Some(AZP));
    assert_eq!(
        element(body, "Arn"),
        Some("arn:aws:sts::123456789012:assumed-role/gcp-workload/s1")
    );
    let role_id = element(body, "AssumedRoleId").unwrap();
    assert!(
        role_id.starts_with("AROA") && role_id.ends_with(":s1"),
        "{role_id}"
    );
    assert_eq!(element(body, "PackedPolicySize"), None);
    let request_id = reply.header("x-amzn-requestid").unwrap();
    assert_eq!(request_id, "00000000-0000-4000-8000-000000000001");
    assert_eq!(element(body, "RequestId"), Some(request_id));
    assert_eq!(c.request_id, request_id);
    assert_eq!(f.sts.credentials_for(key_id).as_ref(), Some(c));
    assert!(!f.sts.last_request().unwrap().has_header("authorization"));
}

#[tokio::test]
async fn get_with_query_parameters_works_too() {
    let f = fixture().await;
    let query = form(&[
        ("Action", "AssumeRoleWithWebIdentity"),
        ("Version", "2011-06-15"),
        ("RoleArn", &f.role_arn),
        ("RoleSessionName", "via-get"),
        ("WebIdentityToken", &token_with(json!({}))),
    ]);
    let reply = send(client().get(format!("{}/?{query}", f.sts.endpoint()))).await;
    assert_eq!(reply.status, 200, "{}", reply.body);
    assert_eq!(f.sts.issued_credentials()[0].role_session_name, "via-get");
}

#[tokio::test]
async fn fractional_seconds_and_packed_policy_size() {
    let f = fixture_with(AwsStsEmulator::builder().fractional_seconds(true)).await;
    f.clock.advance(Duration::from_micros(1_500_250));
    let policy = r#"{"Version":"2012-10-17","Statement":[]}"#;
    let reply = f.assume(&[("Policy", policy)]).await;
    assert_eq!(
        element(&reply.body, "Expiration"),
        Some("2023-11-14T23:13:21.500250Z")
    );
    assert_eq!(element(&reply.body, "PackedPolicySize"), Some("2"));
    let issued = &f.sts.issued_credentials()[0];
    assert_eq!(
        issued.expiration,
        at(T0_SECS + 3600) + Duration::from_micros(1_500_250)
    );
    assert_eq!(issued.policy.as_deref(), Some(policy));
}

#[tokio::test]
async fn parameter_violations_are_validation_errors() {
    let f = fixture().await;
    let cases: &[&[(&str, &str)]] = &[
        &[("RoleSessionName", "a")],
        &[("RoleSessionName", "bad/name")],
        &[("WebIdentityToken", "abc")],
        &[("DurationSeconds", "600")],
        &[("DurationSeconds", "43201")],
        &[("RoleArn", "")],
    ];
    for changes in cases {
        let reply = f.assume(changes).await;
        assert_error(&reply, 400, "ValidationError");
        assert!(
            element(&reply.body, "Message")
                .unwrap()
                .starts_with("1 validation error detected: Value"),
            "{changes:?}: {}",
            reply.body
        );
    }
    assert_error(
        &f.assume(&[("Action", "GetCallerIdentity")]).await,
        400,
        "InvalidAction",
    );
    assert_error(
        &f.assume(&[("Version", "2011-06-14")]).await,
        400,
        "InvalidAction",
    );
    assert!(f.sts.issued_credentials().is_empty());
}

#[tokio::test]
async fn duration_is_capped_by_the_role_maximum() {
    let f = fixture().await;
    let reply = f.assume(&[("DurationSeconds", "7201")]).await;
    assert_error(&reply, 400, "ValidationError");
    assert_eq!(
        element(&reply.body, "Message"),
        Some("The requested DurationSeconds exceeds the MaxSessionDuration set for this role.")
    );
}

#[tokio::test]
async fn expired_tokens_are_rejected_by_the_clock() {
    let f = fixture().await;
    f.clock.set(at(T0_SECS + 3600));
    let reply = f.assume(&[]).await;
    assert_error(&reply, 400, "ExpiredTokenException");
    let expected = format!(
        "Token expired: current date/time {} must be before the expiration date/time {}",
        T0_SECS + 3600,
        T0_SECS + 3600
    );
    assert_eq!(element(&reply.body, "Message"), Some(expected.as_str()));
    f.clock.set(at(T0_SECS + 3599));
    assert_eq!(f.assume(&[]).await.status, 200);
}

#[tokio::test]
async fn bad_signatures_issuers_and_keys_are_invalid_tokens() {
    let f = fixture().await;
    let good = token_with(json!({}));
    let (input, signature) = good.rsplit_once('.').unwrap();
    let flipped = if signature.starts_with('A') { "B" } else { "A" };
    let tampered = format!("{input}.{flipped}{}", &signature[1..]);
    let stranger = GoogleIdentity::generate();
    let foreign = stranger.sign(&claims());
    let evil_issuer = token_with(json!({"iss": "https://evil.example"}));
    for token in [
        tampered.as_str(),
        "not.a.jwt",
        "garbage",
        &foreign,
        &evil_issuer,
    ] {
        let reply = f.assume(&[("WebIdentityToken", token)]).await;
        assert_error(&reply, 400, "InvalidIdentityToken");
    }
    f.sts.trust(stranger);
    assert_eq!(
        f.assume(&[("WebIdentityToken", &foreign)]).await.status,
        200
    );
}

#[tokio::test]
async fn trust_conditions_follow_the_google_claim_mapping() {
    let f = fixture().await;
    // A role written with the intuitive but wrong mapping: `aud` condition = requested audience.
    let naive = f.sts.role_arn("naive");
    f.sts.add_role(RoleSpec::new(&naive).google_aud(AUD));
    let reply = f.assume(&[("RoleArn", &naive)]).await;
    assert_error(&reply, 403, "AccessDenied");
    assert_eq!(
        element(&reply.body, "Message"),
        Some("Not authorized to perform sts:AssumeRoleWithWebIdentity")
    );
    let other_audience = token_with(json!({"aud": "someone-else"}));
    let reply = f.assume(&[("WebIdentityToken", &other_audience)]).await;
    assert_error(&reply, 403, "AccessDenied");
    let other_account = token_with(json!({"azp": "999", "sub": "999"}));
    let reply = f.assume(&[("WebIdentityToken", &other_account)]).await;
    assert_error(&reply, 403, "AccessDenied");
    let unknown = f.sts.role_arn("nope");
    assert_error(
        &f.assume(&[("RoleArn", &unknown)]).await,
        403,
        "AccessDenied",
    );
    assert_eq!(f.assume(&[]).await.status, 200);
}

#[tokio::test]
async fn scripted_errors_have_their_status_and_type() {
    let f = fixture().await;
    let codes = [
        (
            StsErrorCode::IdpCommunicationError,
            400,
            "IDPCommunicationError",
        ),
        (StsErrorCode::Throttling, 400, "Throttling"),
        (StsErrorCode::RegionDisabled, 403, "RegionDisabledException"),
        (
            StsErrorCode::InvalidIdentityToken,
            400,
            "InvalidIdentityToken",
        ),
        (StsErrorCode::AccessDenied, 403, "AccessDenied"),
        (StsErrorCode::ValidationError, 400, "ValidationError"),
        (StsErrorCode::ServiceUnavailable, 503, "ServiceUnavailable"),
        (StsErrorCode::InternalFailure, 500, "InternalFailure"),
    ];
    for (code, _, _) in codes {
        f.sts.push_error(code);
    }
    for (_, status, wire_code) in codes {
        assert_error(&f.assume(&[]).await, status, wire_code);
    }
    f.sts
        .push_error_with_message(StsErrorCode::Throttling, "Rate exceeded (scripted)");
    f.sts.push_fault(Fault::Body("<not-xml".into()));
    let reply = f.assume(&[]).await;
    assert_eq!(
        element(&reply.body, "Message"),
        Some("Rate exceeded (scripted)")
    );
    let garbage = f.assume(&[]).await;
    assert_eq!((garbage.status, garbage.body.as_str()), (200, "<not-xml"));
    assert_eq!(garbage.header("content-type"), Some("text/xml"));
    assert!(garbage.header("x-amzn-requestid").is_some());
    assert_eq!(f.assume(&[]).await.status, 200);
    assert_eq!(f.sts.issued_credentials().len(), 1);
    assert_eq!(f.sts.request_count(), 11);
}

#[tokio::test]
async fn trusts_the_metadata_emulator_tokens() {
    let clock = clock();
    let mds = GcpMetadataEmulator::builder()
        .identity(GoogleIdentity::generate())
        .clock(clock.clone())
        .start()
        .await
        .unwrap();
    let f = fixture_with(AwsStsEmulator::builder().trust(mds.identity())).await;
    let token = mds.issue_identity_token(AUD, Duration::from_secs(3600));
    assert_eq!(f.assume(&[("WebIdentityToken", &token)]).await.status, 200);
    // Only the identities given to `trust` are trusted once it is called.
    let shared = token_with(json!({}));
    let reply = f.assume(&[("WebIdentityToken", &shared)]).await;
    assert_error(&reply, 400, "InvalidIdentityToken");
}

/// A GitHub Actions token (the claims that matter here) for `aud`, signed by `identity`.
fn github_token(identity: &GoogleIdentity, aud: &str, sub: &str) -> String {
    identity.sign(&json!({
        "iss": "https://token.actions.githubusercontent.com",
        "aud": aud,
        "sub": sub,
        "repository": "octo-org/octo-repo",
        "iat": T0_SECS,
        "exp": T0_SECS + 300,
    }))
}

#[tokio::test]
async fn oidc_providers_are_trusted_only_as_configured() {
    const GH: &str = "token.actions.githubusercontent.com";
    let key = GoogleIdentity::generate();
    let f = fixture_with(
        AwsStsEmulator::builder().oidc_provider(
            OidcProviderSpec::new("https://token.actions.githubusercontent.com")
                .client_id(AUD)
                .trust(key.clone()),
        ),
    )
    .await;
    let deploy = f.sts.role_arn("deploy");
    f.sts.add_role(
        RoleSpec::new(&deploy)
            .oidc_principal(GH)
            .condition(format!("{GH}:sub"), "repo:octo-org/octo-repo:*"),
    );
    let main = "repo:octo-org/octo-repo:ref:refs/heads/main";
    let ok = f
        .assume(&[
            ("RoleArn", &deploy),
            ("WebIdentityToken", &github_token(&key, AUD, main)),
        ])
        .await;
    assert_eq!(ok.status, 200, "{}", ok.body);
    assert_eq!(
        element(&ok.body, "Provider"),
        Some("arn:aws:iam::123456789012:oidc-provider/token.actions.githubusercontent.com")
    );
    assert_eq!(element(&ok.body, "Audience"), Some(AUD));
    assert_eq!(element(&ok.body, "SubjectFromWebIdentityToken"), Some(main));

    for (token, role, status, code, says) in [
        // Another repository: the role's condition refuses it.
        (
            github_token(&key, AUD, "repo:evil-org/x:ref:refs/heads/main"),
            &deploy,
            403,
            "AccessDenied",
            "",
        ),
        // An audience the provider does not list.
        (
            github_token(&key, "api://AzureADTokenExchange", main),
            &deploy,
            400,
            "InvalidIdentityToken",
            "Incorrect token audience",
        ),
        // Signed with a key that is not in the provider's JWKS.
        (
            github_token(&GoogleIdentity::shared(), AUD, main),
            &deploy,
            400,
            "InvalidIdentityToken",
            "verification key",
        ),
        // The Google role does not trust GitHub, and the GitHub role does not trust Google.
        (
            github_token(&key, AUD, main),
            &f.role_arn,
            403,
            "AccessDenied",
            "",
        ),
        (token_with(json!({})), &deploy, 403, "AccessDenied", ""),
    ] {
        let reply = f
            .assume(&[("RoleArn", role), ("WebIdentityToken", &token)])
            .await;
        assert_error(&reply, status, code);
        assert!(reply.body.contains(says), "{}", reply.body);
    }

    // An issuer with no IAM OIDC provider in the account.
    let unknown = GoogleIdentity::shared().sign(&json!({
        "iss": "https://oidc.eks.us-east-1.amazonaws.com/id/EXAMPLE",
        "aud": AUD, "sub": "system:serviceaccount:ns:sa", "exp": T0_SECS + 300,
    }));
    let reply = f
        .assume(&[("RoleArn", &deploy), ("WebIdentityToken", &unknown)])
        .await;
    assert_error(&reply, 400, "InvalidIdentityToken");
    assert!(
        reply.body.contains("No OpenIDConnect provider found in your account for https://oidc.eks.us-east-1.amazonaws.com/id/EXAMPLE"),
        "{}",
        reply.body
    );
    assert_eq!(f.sts.issued_credentials().len(), 1);
}

/// A provider that gets its token for `sts.amazonaws.com` from `mds` and assumes `role_arn`.
fn provider(
    mds: &GcpMetadataEmulator,
    sts: &AwsStsEmulator,
    role_arn: &str,
) -> WebIdentityProvider {
    provider_builder(mds, sts, role_arn).build().unwrap()
}

fn provider_builder(
    mds: &GcpMetadataEmulator,
    sts: &AwsStsEmulator,
    role_arn: &str,
) -> WebIdentityProviderBuilder {
    WebIdentityProvider::builder()
        .token_source(GcpMetadataIdentityToken::new(AUD).metadata_host(mds.host()))
        .role_arn(role_arn)
        .configure_sts(|s| s.endpoint_url(sts.endpoint()))
}

/// A metadata emulator and an STS emulator with role `workload` (no conditions), on the
/// system clock; returns the role's ARN too.
async fn with_provider() -> (GcpMetadataEmulator, AwsStsEmulator, String) {
    let mds = GcpMetadataEmulator::start().await.unwrap();
    let sts = AwsStsEmulator::start().await.unwrap();
    let role_arn = sts.role_arn("workload");
    sts.add_role(RoleSpec::new(&role_arn));
    (mds, sts, role_arn)
}

#[tokio::test]
async fn what_the_provider_gets_is_recorded() {
    let (mds, sts, role_arn) = with_provider().await;
    assert!(sts.endpoint().starts_with("http://127.0.0.1:"));
    let provider = provider(&mds, &sts, &role_arn);
    let first = provider.credentials().await.unwrap();
    assert_eq!(sts.request_count(), 1);
    let issued = &sts.issued_credentials()[0];
    assert_eq!(issued.access_key_id, first.access_key_id());
    assert_eq!(
        issued.audience,
        mds.default_service_account().unique_id,
        "the token's `azp`"
    );
    assert_eq!(issued.provider, "accounts.google.com");
    assert_eq!(issued.duration, Duration::from_secs(3600));
    let found = sts
        .credentials_for(first.access_key_id())
        .expect("issued by this emulator");
    assert_eq!(found.role_arn, role_arn);
    assert_eq!(first.expiration(), found.expiration);
    assert!(sts.credentials_for("ASIAEXAMPLEEXAMPLE00").is_none());
    assert_eq!(sts.account_id(), "123456789012");
    assert_eq!(first.account_id(), Some(sts.account_id()));

    provider.cache().invalidate();
    let second = provider.credentials().await.unwrap();
    let issued = sts.issued_credentials();
    assert_eq!(issued.len(), 2);
    assert_eq!(issued[0].access_key_id, first.access_key_id());
    assert_eq!(issued[1].access_key_id, second.access_key_id());
}

#[tokio::test]
async fn the_provider_request_as_recorded() {
    let (mds, sts, role_arn) = with_provider().await;
    let provider = provider_builder(&mds, &sts, &role_arn)
        .configure_sts(|s| s.session_name("demo"))
        .build()
        .unwrap();
    provider.credentials().await.unwrap();
    let request = sts
        .last_request()
        .expect("the AssumeRoleWithWebIdentity call");
    // AssumeRoleWithWebIdentity is an unsigned call: the web identity token is the proof.
    assert!(!request.has_header("authorization"));
    assert!(request.has_header("Content-Type"));
    let form = request.form();
    assert!(form.contains(&(
        "Action".to_string(),
        "AssumeRoleWithWebIdentity".to_string()
    )));
    assert!(form.contains(&("RoleArn".to_string(), role_arn.clone())));
    assert_eq!(
        request.form_param("RoleSessionName").as_deref(),
        Some("demo")
    );
    assert_eq!(request.form_param("Version").as_deref(), Some("2011-06-15"));
    assert_eq!(
        request.form_param("DurationSeconds"),
        None,
        "not set: STS's default"
    );
    assert!(
        request
            .body_text()
            .contains("Action=AssumeRoleWithWebIdentity")
    );
    assert_eq!(request.body_text().as_bytes(), request.body.as_slice());
}

#[tokio::test]
async fn builder_settings_as_the_provider_sees_them() {
    let mds = GcpMetadataEmulator::start().await.unwrap();
    let role_arn = "arn:aws:iam::210987654321:role/reader";
    let sts = AwsStsEmulator::builder()
        .account_id("210987654321")
        .role(RoleSpec::new(role_arn).google_oaud("sts.amazonaws.com"))
        .seed(1)
        .start()
        .await
        .unwrap();
    assert_eq!(sts.account_id(), "210987654321");
    assert_eq!(sts.role_arn("app"), "arn:aws:iam::210987654321:role/app");
    let credentials = provider(&mds, &sts, role_arn).credentials().await.unwrap();
    assert_eq!(credentials.account_id(), Some("210987654321"));
    assert!(
        credentials
            .assumed_role_arn()
            .contains(":assumed-role/reader/")
    );

    let moto_like = AwsStsEmulator::builder()
        .fractional_seconds(true)
        .start()
        .await
        .unwrap();
    let role_arn = moto_like.role_arn("workload");
    moto_like.add_role(RoleSpec::new(&role_arn));
    let credentials = provider(&mds, &moto_like, &role_arn)
        .credentials()
        .await
        .unwrap();
    // The client parses the microseconds rather than dropping them.
    assert_eq!(
        credentials.expiration(),
        moto_like.issued_credentials()[0].expiration
    );

    let mut access_keys = Vec::new();
    for _ in 0..2 {
        let sts = AwsStsEmulator::builder().seed(42).start().await.unwrap();
        let role_arn = sts.role_arn("workload");
        sts.add_role(RoleSpec::new(&role_arn));
        let credentials = provider(&mds, &sts, &role_arn).credentials().await.unwrap();
        access_keys.push(credentials.access_key_id().to_string());
    }
    assert_eq!(access_keys[0], access_keys[1]);
}

#[tokio::test]
async fn a_shared_manual_clock_decides_the_expiration() {
    let start = at(1_800_000_000);
    let clock = ManualClock::new(start);
    let mds = GcpMetadataEmulator::builder()
        .clock(clock.clone())
        .start()
        .await
        .unwrap();
    let sts = AwsStsEmulator::builder()
        .clock(clock.clone())
        .start()
        .await
        .unwrap();
    let role_arn = sts.role_arn("workload");
    sts.add_role(RoleSpec::new(&role_arn));
    let provider = provider_builder(&mds, &sts, &role_arn)
        .context(Context::builder().clock(clock.clone()).build())
        .build()
        .unwrap();
    let credentials = provider.credentials().await.unwrap();
    assert_eq!(credentials.expiration(), start + Duration::from_secs(3600));
}

#[tokio::test]
async fn trust_decides_which_metadata_servers_count() {
    // A metadata server with its own key, which STS emulators do not trust by default.
    let mds = GcpMetadataEmulator::builder()
        .identity(GoogleIdentity::generate())
        .start()
        .await
        .unwrap();
    for (sts, trusted) in [
        (AwsStsEmulator::start().await.unwrap(), false),
        (
            AwsStsEmulator::builder()
                .trust(mds.identity())
                .start()
                .await
                .unwrap(),
            true,
        ),
    ] {
        let role_arn = sts.role_arn("workload");
        sts.add_role(RoleSpec::new(&role_arn));
        match provider(&mds, &sts, &role_arn).credentials().await {
            Ok(_) => assert!(trusted),
            Err(err) => {
                assert!(!trusted);
                assert_eq!(err.upstream_code(), Some("InvalidIdentityToken"));
            }
        }
    }
}

#[tokio::test]
async fn roles_as_the_provider_sees_them() {
    let mds = GcpMetadataEmulator::start().await.unwrap();
    let sts = AwsStsEmulator::start().await.unwrap();
    let role_arn = sts.role_arn("workload");
    assert_eq!(role_arn, "arn:aws:iam::123456789012:role/workload");
    // Not added: the emulator starts with no roles.
    let provider = provider(&mds, &sts, &role_arn);
    let err = provider.credentials().await.unwrap_err();
    assert_eq!(err.upstream_code(), Some("AccessDenied"));
    // Trusted only for tokens requested for another audience: denied.
    sts.add_role(RoleSpec::new(&role_arn).google_oaud("https://example.com"));
    let err = provider.credentials().await.unwrap_err();
    assert_eq!(err.upstream_code(), Some("AccessDenied"));
    // Replaced by a role with the right condition: allowed.
    sts.add_role(RoleSpec::new(&role_arn).google_oaud("sts.amazonaws.com"));
    assert!(provider.credentials().await.is_ok());

    // `sub` = `azp` for service accounts
    let sub = mds.default_service_account().unique_id.clone();
    sts.add_role(RoleSpec::new(&role_arn).google_sub(sub.clone()));
    provider.cache().invalidate();
    let credentials = provider.credentials().await.unwrap();
    assert_eq!(credentials.subject(), Some(sub.as_str()));

    // The assumed-role ARN names the role without its path.
    let with_path = RoleSpec::new("arn:aws:iam::123456789012:role/path/to/reader");
    assert_eq!(
        with_path.arn(),
        "arn:aws:iam::123456789012:role/path/to/reader"
    );
    assert_eq!(with_path.name(), "reader");
    let role_arn = with_path.arn().to_string();
    sts.add_role(with_path);
    let credentials = self::provider(&mds, &sts, &role_arn)
        .credentials()
        .await
        .unwrap();
    assert!(
        credentials
            .assumed_role_arn()
            .contains(":assumed-role/reader/")
    );

    // More than the role allows.
    let long = provider_builder(&mds, &sts, &sts.role_arn("workload"))
        .configure_sts(|s| s.duration(Duration::from_secs(2 * 3600)))
        .build()
        .unwrap();
    let err = long.credentials().await.unwrap_err();
    assert_eq!(err.upstream_code(), Some("ValidationError"));

    let role = RoleSpec::new("arn:aws:iam::123456789012:role/app");
    assert_eq!(
        role.session_duration_limit(),
        Duration::from_secs(3600),
        "IAM's default"
    );
    let role = role.max_session_duration(Duration::from_secs(12 * 3600));
    assert_eq!(
        role.session_duration_limit(),
        Duration::from_secs(12 * 3600)
    );
}

#[tokio::test]
async fn the_endpoint_is_found_through_the_environment() {
    let (mds, sts, role_arn) = with_provider().await;
    // As the AWS SDKs do, the provider honours AWS_ENDPOINT_URL_STS.
    let ctx = Context::builder()
        .env(StaticEnv::from_pairs([(
            "AWS_ENDPOINT_URL_STS",
            sts.endpoint(),
        )]))
        .build();
    let provider = WebIdentityProvider::builder()
        .context(ctx)
        .token_source(GcpMetadataIdentityToken::new(AUD).metadata_host(mds.host()))
        .role_arn(&role_arn)
        .build()
        .unwrap();
    provider.credentials().await.unwrap();
    assert_eq!(sts.request_count(), 1);
}

#[tokio::test]
async fn scripted_errors_as_the_provider_sees_them() {
    let (mds, sts, role_arn) = with_provider().await;
    let provider = provider(&mds, &sts, &role_arn);

    let code = StsErrorCode::InvalidIdentityToken;
    sts.push_error(code);
    let err = provider.credentials().await.unwrap_err();
    assert_eq!(err.kind(), ErrorKind::Upstream);
    assert_eq!(err.upstream_code(), Some(code.code()));
    assert_eq!(err.http_status(), Some(code.http_status()));
    // An expired token is worth one more try, with a fresh token: the provider recovers.
    sts.push_error(StsErrorCode::ExpiredToken);
    assert!(provider.credentials().await.is_ok());

    provider.cache().invalidate();
    sts.push_error(StsErrorCode::RegionDisabled);
    let err = provider.credentials().await.unwrap_err();
    assert_eq!(err.upstream_code(), Some("RegionDisabledException"));
    assert_eq!(err.http_status(), Some(403));
    assert!(
        provider.credentials().await.is_ok(),
        "only the next request failed"
    );

    provider.cache().invalidate();
    sts.push_error_with_message(StsErrorCode::IdpRejectedClaim, "Incorrect token audience");
    let err = provider.credentials().await.unwrap_err();
    assert_eq!(err.upstream_code(), Some("IDPRejectedClaim"));
    assert!(
        err.to_string().contains("Incorrect token audience"),
        "{err}"
    );

    // Throttling is retryable: the provider backs off and tries again.
    let (mds, sts, role_arn) = with_provider().await;
    sts.push_error_times(StsErrorCode::Throttling, 2);
    assert!(
        self::provider(&mds, &sts, &role_arn)
            .credentials()
            .await
            .is_ok()
    );
    assert_eq!(sts.request_count(), 3);
}

#[tokio::test]
async fn error_codes_on_the_wire() {
    assert_eq!(StsErrorCode::ExpiredToken.code(), "ExpiredTokenException");
    assert_eq!(
        StsErrorCode::IdpCommunicationError.code(),
        "IDPCommunicationError"
    );
    assert_eq!(
        StsErrorCode::AccessDenied.to_string(),
        "AccessDenied",
        "`Display` is the code"
    );
    assert_eq!(StsErrorCode::InvalidIdentityToken.http_status(), 400);
    assert_eq!(StsErrorCode::AccessDenied.http_status(), 403);
    assert_eq!(StsErrorCode::ServiceUnavailable.http_status(), 503);
    // Throttling is a 400 on the wire: only the code says it is worth retrying.
    assert_eq!(StsErrorCode::Throttling.http_status(), 400);
    assert_eq!(StsErrorCode::ValidationError.fault_type(), "Sender");
    assert_eq!(StsErrorCode::InternalFailure.fault_type(), "Receiver");

    let sts = AwsStsEmulator::start().await.unwrap();
    sts.push_error(StsErrorCode::InternalFailure);
    sts.push_error(StsErrorCode::Throttling);
    let xml = send(client().post(sts.endpoint())).await.body;
    assert!(xml.contains("<Type>Receiver</Type>"), "{xml}");
    let reply = send(client().post(sts.endpoint())).await;
    assert_eq!(reply.status, StsErrorCode::Throttling.http_status());
    let message = StsErrorCode::Throttling.default_message();
    assert!(
        reply
            .body
            .contains(&format!("<Message>{message}</Message>")),
        "{}",
        reply.body
    );
}
