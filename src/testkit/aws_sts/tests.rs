//! Tests of the STS emulator over HTTP, as a client sees it.

use std::time::Duration;

use serde_json::{json, Value};

use super::*;
use crate::context::ManualClock;
use crate::testkit::test_support::{at, client, clock, form, send, Reply, T0_SECS};
use crate::testkit::{Fault, GcpMetadataEmulator};

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
    assert!(reply
        .body
        .starts_with("<ErrorResponse xmlns=\"https://sts.amazonaws.com/doc/2011-06-15/\">"));
    assert_eq!(element(&reply.body, "Code"), Some(code), "{}", reply.body);
    let fault_type = if status >= 500 { "Receiver" } else { "Sender" };
    assert_eq!(element(&reply.body, "Type"), Some(fault_type));
    let request_id = reply.header("x-amzn-requestid").expect("request id header");
    assert!(reply
        .body
        .contains(&format!("</Error>\n  <RequestId>{request_id}</RequestId>")));
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
    assert!(key_id[4..]
        .bytes()
        .all(|b| b.is_ascii_uppercase() || b.is_ascii_digit()));
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
