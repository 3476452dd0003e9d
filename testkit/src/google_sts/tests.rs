//! Tests of the Google STS emulator over HTTP, as a client sees it.

use std::time::Duration;

use base64::Engine as _;
use base64::engine::general_purpose::{STANDARD, URL_SAFE_NO_PAD};
use serde_json::{Value, json};

use super::test_signer::{Signer, Style, python_quote, sts_url};
use super::*;
use crate::sigv4::tests::{AMZ_DATE, AUDIENCE, SECRET, TOKEN, URL};
use crate::test_support::{Reply, T0_SECS, at, client, clock, form, send};
use crate::{Fault, GoogleIdentity};
use federated_credentials::ErrorKind;
use federated_credentials::context::{Context, ManualClock, StaticEnv};
use federated_credentials::google::{
    ExternalAccountCredentials, ExternalAccountCredentialsBuilder,
};
use federated_credentials::source::aws::AwsEnvironment;
use federated_credentials::source::{AwsSignedRequestToken, StaticToken};
use federated_credentials::token::TokenType;

const AKID: &str = "AKIAIOSFODNN7EXAMPLE";
const ACCOUNT: &str = "123456789012";
const REGION: &str = "us-east-2";
/// 2020-08-11T06:55:22Z, the time of the golden vectors.
const GOLDEN_SECS: u64 = 1_597_128_922;
const OIDC: &str = "//iam.googleapis.com/projects/123456/locations/global/workloadIdentityPools/pool/providers/oidc";
const WORKFORCE: &str = "//iam.googleapis.com/locations/global/workforcePools/staff/providers/idp";
const AWS4: &str = "urn:ietf:params:aws:token-type:aws4_request";
const JWT: &str = "urn:ietf:params:oauth:token-type:jwt";
const IAM_SCOPE: &str = "https://www.googleapis.com/auth/iam";

struct Fixture {
    sts: GoogleStsEmulator,
    clock: ManualClock,
}

async fn fixture() -> Fixture {
    fixture_with(GoogleStsEmulator::builder()).await
}

async fn fixture_with(builder: GoogleStsEmulatorBuilder) -> Fixture {
    let clock = clock();
    let sts = builder
        .clock(clock.clone())
        .seed(3)
        .provider(ProviderSpec::aws(AUDIENCE, ACCOUNT))
        .provider(ProviderSpec::oidc(OIDC))
        .start()
        .await
        .unwrap();
    sts.trust_aws_key(AKID, SECRET, ACCOUNT);
    Fixture { sts, clock }
}

/// A signer for the golden key at T0, signing the target resource.
fn signer() -> Signer<'static> {
    Signer {
        access_key_id: AKID,
        secret_access_key: SECRET,
        session_token: None,
        region: REGION,
        url: sts_url(REGION),
        audience: AUDIENCE,
        sign_target: true,
        at: at(T0_SECS),
    }
}

/// The form fields of a valid exchange of `subject_token` of type `token_type` for `audience`.
fn fields<'a>(
    audience: &'a str,
    token_type: &'a str,
    subject_token: &'a str,
) -> Vec<(&'a str, &'a str)> {
    vec![
        (
            "grant_type",
            "urn:ietf:params:oauth:grant-type:token-exchange",
        ),
        ("audience", audience),
        ("scope", IAM_SCOPE),
        (
            "requested_token_type",
            "urn:ietf:params:oauth:token-type:access_token",
        ),
        ("subject_token_type", token_type),
        ("subject_token", subject_token),
    ]
}

/// Form fields to replace, add, or remove (`None`).
type Changes<'a> = Vec<(&'a str, Option<&'a str>)>;

/// `pairs` with `changes` applied: replaced, added, or removed when the value is `None`.
fn edit<'a>(
    mut pairs: Vec<(&'a str, &'a str)>,
    changes: &[(&'a str, Option<&'a str>)],
) -> Vec<(&'a str, &'a str)> {
    for (name, value) in changes {
        pairs.retain(|(k, _)| k != name);
        if let Some(value) = value {
            pairs.push((name, value));
        }
    }
    pairs
}

impl Fixture {
    async fn post(&self, pairs: &[(&str, &str)], authorization: Option<&str>) -> Reply {
        let mut request = client()
            .post(self.sts.token_url())
            .header("Content-Type", "application/x-www-form-urlencoded")
            .body(form(pairs));
        if let Some(authorization) = authorization {
            request = request.header("Authorization", authorization);
        }
        send(request).await
    }

    async fn exchange_aws(&self, subject_token: &str) -> Reply {
        self.post(&fields(AUDIENCE, AWS4, subject_token), None)
            .await
    }
}

#[track_caller]
fn assert_success(reply: &Reply) -> Value {
    assert_eq!(reply.status, 200, "{}", reply.body);
    assert_eq!(reply.header("content-type"), Some("application/json"));
    serde_json::from_str(&reply.body).unwrap()
}

#[track_caller]
fn assert_oauth_error(reply: &Reply, status: u16, error: &str, description_part: &str) {
    assert_eq!(reply.status, status, "{}", reply.body);
    let body: Value = serde_json::from_str(&reply.body).unwrap();
    assert_eq!(body["error"], error, "{}", reply.body);
    let description = body["error_description"].as_str().unwrap();
    assert!(
        description.contains(description_part),
        "{description:?} should contain {description_part:?}"
    );
}

/// The subject token of the golden request (the golden vectors) with the golden signature for
/// `signed_headers`, serialized as Python does (sorted keys, `Authorization` first, `quote`).
fn golden_subject_token(signed_headers: &str, signature: &str) -> String {
    let authorization = format!(
        "AWS4-HMAC-SHA256 Credential={AKID}/20200811/{REGION}/sts/aws4_request, SignedHeaders={signed_headers}, Signature={signature}"
    );
    let headers = json!([
        {"key": "Authorization", "value": authorization},
        {"key": "host", "value": "sts.us-east-2.amazonaws.com"},
        {"key": "x-amz-date", "value": AMZ_DATE},
        {"key": "x-amz-security-token", "value": TOKEN},
        {"key": "x-goog-cloud-target-resource", "value": AUDIENCE},
    ]);
    python_quote(&json!({"url": URL, "method": "POST", "headers": headers}).to_string())
}

#[tokio::test]
async fn golden_vectors_verify_end_to_end() {
    let f = fixture().await;
    f.clock.set(at(GOLDEN_SECS + 60));
    f.sts.trust_aws_session_key(AKID, SECRET, TOKEN, ACCOUNT);
    let vectors = [
        (
            "host;x-amz-date;x-amz-security-token",
            "596aa990b792d763465d73703e684ca273c45536c6d322c31be01a41d02e5b60",
        ),
        (
            "host;x-amz-date;x-amz-security-token;x-goog-cloud-target-resource",
            "460b491cd92b746345219747e679bf55541e3f8bb18eb11516305dbecded91b8",
        ),
    ];
    for (signed_headers, signature) in vectors {
        let reply = f
            .exchange_aws(&golden_subject_token(signed_headers, signature))
            .await;
        let body = assert_success(&reply);
        assert!(
            body["access_token"]
                .as_str()
                .unwrap()
                .starts_with("ya29.emulated-")
        );
    }
    let wrong = golden_subject_token(
        "host;x-amz-date;x-amz-security-token",
        "460b491cd92b746345219747e679bf55541e3f8bb18eb11516305dbecded91b8",
    );
    assert_oauth_error(
        &f.exchange_aws(&wrong).await,
        400,
        "invalid_grant",
        "SignatureDoesNotMatch",
    );
}

#[tokio::test]
async fn every_client_style_is_accepted() {
    let f = fixture().await;
    f.sts
        .trust_aws_session_key("ASIAEXAMPLETEMPKEY01", "temp/secret+key", TOKEN, ACCOUNT);
    let styles = [
        Style::Recommended,
        Style::Python,
        Style::Go,
        Style::Java,
        Style::GoogleCloudRust,
    ];
    for style in styles {
        for temporary in [false, true] {
            let mut signer = signer();
            signer.sign_target = style != Style::Python;
            if temporary {
                signer.access_key_id = "ASIAEXAMPLETEMPKEY01";
                signer.secret_access_key = "temp/secret+key";
                signer.session_token = Some(TOKEN);
            }
            let signed = signer.sign();
            let reply = f.exchange_aws(&signed.subject_token(style)).await;
            let body = assert_success(&reply);
            let issued = f
                .sts
                .token_info(body["access_token"].as_str().unwrap())
                .unwrap();
            assert_eq!(issued.subject, signer.access_key_id, "{style:?}");
            assert_eq!(issued.audience, AUDIENCE);
            assert_eq!(issued.subject_token_type, AWS4);
            assert_eq!(issued.scopes, [IAM_SCOPE]);
        }
    }
    assert_eq!(f.sts.issued_tokens().len(), 10);
}

#[tokio::test]
async fn global_endpoint_and_https_prefixed_target() {
    let f = fixture().await;
    let mut signer = signer();
    signer.region = "us-east-1";
    signer.url = "https://sts.amazonaws.com?Action=GetCallerIdentity&Version=2011-06-15".to_owned();
    let prefixed = format!("https:{AUDIENCE}");
    signer.audience = &prefixed;
    let token = signer.sign().subject_token(Style::Recommended);
    assert_success(&f.exchange_aws(&token).await);
}

#[tokio::test]
async fn success_body_and_record() {
    let f = fixture().await;
    let token = signer().sign().subject_token(Style::Recommended);
    let body = assert_success(&f.exchange_aws(&token).await);
    let access_token = body["access_token"].as_str().unwrap();
    assert_eq!(
        body,
        json!({
            "access_token": access_token,
            "issued_token_type": "urn:ietf:params:oauth:token-type:access_token",
            "token_type": "Bearer",
            "expires_in": 3599,
        })
    );
    let issued = &f.sts.issued_tokens()[0];
    assert_eq!(issued.access_token, access_token);
    assert_eq!(
        (issued.issued_at, issued.expires_at),
        (at(T0_SECS), at(T0_SECS + 3599))
    );
    assert_eq!(
        (issued.user_project.as_deref(), issued.client_id.as_deref()),
        (None, None)
    );
    let request = f.sts.last_request().unwrap();
    assert_eq!(request.path, "/v1/token");
}

#[tokio::test]
async fn response_style_options() {
    let builder = GoogleStsEmulator::builder()
        .expires_in(Duration::from_secs(600))
        .expires_in_as_string(true)
        .omit_issued_token_type(true)
        .omit_token_type(true);
    let f = fixture_with(builder).await;
    let token = signer().sign().subject_token(Style::Recommended);
    let body = assert_success(&f.exchange_aws(&token).await);
    assert_eq!(body["expires_in"], "600");
    assert!(body.get("issued_token_type").is_none() && body.get("token_type").is_none());

    f.sts.set_expires_in(Duration::from_secs(60));
    let body = assert_success(&f.exchange_aws(&token).await);
    assert_eq!(body["expires_in"], "60");
    assert_eq!(f.sts.issued_tokens()[1].expires_at, at(T0_SECS + 60));
}

#[tokio::test]
async fn signatures_older_or_newer_than_15_minutes_are_rejected() {
    let f = fixture().await;
    let token = signer().sign().subject_token(Style::Recommended);
    f.clock.set(at(T0_SECS + 15 * 60));
    assert_success(&f.exchange_aws(&token).await);
    f.clock.set(at(T0_SECS + 15 * 60 + 1));
    let reply = f.exchange_aws(&token).await;
    assert_oauth_error(&reply, 400, "invalid_grant", "SignatureDoesNotMatch");
    assert_oauth_error(
        &reply,
        400,
        "invalid_grant",
        "Signature expired: 20231114T221320Z is now earlier than 20231114T221321Z (20231114T222821Z - 15 min.)",
    );
    assert_oauth_error(&reply, 400, "invalid_grant", "clock skew");
    f.clock.set(at(T0_SECS - 15 * 60 - 1));
    assert_oauth_error(
        &f.exchange_aws(&token).await,
        400,
        "invalid_grant",
        "Signature not yet current",
    );
}

#[tokio::test]
async fn aws_authentication_failures() {
    let f = fixture().await;
    let mut unknown = signer();
    unknown.access_key_id = "AKIAUNKNOWNKEY000000";
    let reply = f
        .exchange_aws(&unknown.sign().subject_token(Style::Recommended))
        .await;
    assert_oauth_error(
        &reply,
        400,
        "invalid_grant",
        "Received invalid AWS response of type InvalidClientTokenId with error message: The security token included in the request is invalid.",
    );

    let mut wrong_secret = signer();
    wrong_secret.secret_access_key = "not-the-secret";
    let reply = f
        .exchange_aws(&wrong_secret.sign().subject_token(Style::Go))
        .await;
    assert_oauth_error(&reply, 400, "invalid_grant", "SignatureDoesNotMatch");

    // A signed header changed after signing.
    let signed = signer().sign();
    let tampered = signed.subject_token_with(Style::Recommended, |headers| {
        headers.retain(|(k, _)| k != "x-amz-date");
        headers.push(("x-amz-date".into(), "20231114T221321Z".into()));
    });
    assert_oauth_error(
        &f.exchange_aws(&tampered).await,
        400,
        "invalid_grant",
        "SignatureDoesNotMatch",
    );

    // Signed for another region than the URL's.
    let mut other_region = signer();
    other_region.region = "eu-west-1";
    let reply = f
        .exchange_aws(&other_region.sign().subject_token(Style::Recommended))
        .await;
    assert_oauth_error(
        &reply,
        400,
        "invalid_grant",
        "Credential should be scoped to a valid region",
    );
}

#[tokio::test]
async fn session_tokens_must_match_the_registered_one() {
    let f = fixture().await;
    f.sts
        .trust_aws_session_key("ASIATEMP", "s3cret", "the-session-token", ACCOUNT);
    let mut temp = signer();
    temp.access_key_id = "ASIATEMP";
    temp.secret_access_key = "s3cret";
    temp.session_token = Some("the-session-token");
    assert_success(
        &f.exchange_aws(&temp.sign().subject_token(Style::Python))
            .await,
    );
    temp.session_token = Some("another-token");
    let reply = f
        .exchange_aws(&temp.sign().subject_token(Style::Python))
        .await;
    assert_oauth_error(&reply, 400, "invalid_grant", "InvalidClientTokenId");
    temp.session_token = None;
    let reply = f
        .exchange_aws(&temp.sign().subject_token(Style::Python))
        .await;
    assert_oauth_error(&reply, 400, "invalid_grant", "InvalidClientTokenId");
}

#[tokio::test]
async fn the_key_must_belong_to_the_providers_account() {
    let f = fixture().await;
    f.sts.trust_aws_key(AKID, SECRET, "999999999999");
    let reply = f
        .exchange_aws(&signer().sign().subject_token(Style::Recommended))
        .await;
    assert_oauth_error(&reply, 400, "unauthorized_client", "999999999999");
}

#[tokio::test]
async fn malformed_aws_subject_tokens() {
    let f = fixture().await;
    let signed = signer().sign();
    let without = |name: &'static str| {
        signed.subject_token_with(Style::Recommended, move |headers| {
            headers.retain(|(k, _)| !k.eq_ignore_ascii_case(name));
        })
    };
    for name in [
        "authorization",
        "host",
        "x-amz-date",
        "x-goog-cloud-target-resource",
    ] {
        let reply = f.exchange_aws(&without(name)).await;
        assert_oauth_error(
            &reply,
            400,
            "invalid_grant",
            &format!("must include the {name} header"),
        );
    }
    let other_target = signed.subject_token_with(Style::Recommended, |headers| {
        headers.retain(|(k, _)| k != "x-goog-cloud-target-resource");
        headers.push(("x-goog-cloud-target-resource".into(), OIDC.into()));
    });
    assert_oauth_error(
        &f.exchange_aws(&other_target).await,
        400,
        "invalid_grant",
        "does not match the audience",
    );

    let mut evil = signer();
    evil.url = "https://sts.us-east-2.amazonaws.com.evil.example?Action=GetCallerIdentity&Version=2011-06-15".into();
    let reply = f
        .exchange_aws(&evil.sign().subject_token(Style::Recommended))
        .await;
    assert_oauth_error(
        &reply,
        400,
        "invalid_grant",
        "is not an AWS STS GetCallerIdentity endpoint",
    );

    let get = signed
        .subject_token(Style::Recommended)
        .replace("POST", "GET");
    assert_oauth_error(
        &f.exchange_aws(&get).await,
        400,
        "invalid_grant",
        "the method must be POST",
    );

    let raw_json = url::form_urlencoded::parse(signed.subject_token(Style::Recommended).as_bytes())
        .map(|(k, v)| format!("{k}{v}"))
        .collect::<String>();
    assert!(raw_json.starts_with('{'));
    assert_oauth_error(
        &f.exchange_aws(&raw_json).await,
        400,
        "invalid_grant",
        "URL-encoded JSON",
    );
    assert_oauth_error(
        &f.exchange_aws("%5B%5D").await,
        400,
        "invalid_grant",
        "Unable to parse",
    );
}

#[tokio::test]
async fn form_checks() {
    let f = fixture().await;
    let token = signer().sign().subject_token(Style::Recommended);
    let base = fields(AUDIENCE, AWS4, &token);
    let cases: Vec<(Changes, &str, &str)> = vec![
        (
            vec![("grant_type", None)],
            "invalid_request",
            "Missing required field \"grant_type\"",
        ),
        (
            vec![("grant_type", Some("client_credentials"))],
            "unsupported_grant_type",
            "grant_type",
        ),
        (
            vec![(
                "requested_token_type",
                Some("urn:ietf:params:oauth:token-type:id_token"),
            )],
            "invalid_request",
            "requested_token_type",
        ),
        (
            vec![(
                "subject_token_type",
                Some("urn:ietf:params:oauth:token-type:id-token"),
            )],
            "invalid_request",
            "subject_token_type",
        ),
        (
            vec![("subject_token", Some(""))],
            "invalid_request",
            "subject_token",
        ),
        (
            vec![(
                "audience",
                Some(
                    "//iam.googleapis.com/projects/1/locations/global/workloadIdentityPools/x/providers/y",
                ),
            )],
            "invalid_request",
            "Invalid value for \"audience\"",
        ),
        (
            vec![("subject_token_type", Some(JWT))],
            "invalid_request",
            "does not accept urn:ietf:params:oauth:token-type:jwt",
        ),
        (
            vec![("options", Some("{not json"))],
            "invalid_request",
            "options",
        ),
    ];
    for (changes, error, description) in cases {
        let reply = f.post(&edit(base.clone(), &changes), None).await;
        assert_oauth_error(&reply, 400, error, description);
    }
    let json_body = client()
        .post(f.sts.token_url())
        .header("Content-Type", "application/json")
        .body(json!({"grant_type": "x"}).to_string());
    assert_oauth_error(
        &send(json_body).await,
        400,
        "invalid_request",
        "Content-Type",
    );
    let bearer = f.post(&base, Some("Bearer ya29.a")).await;
    assert_oauth_error(&bearer, 400, "invalid_request", "Bearer");
    assert_oauth_error(
        &f.post(&base, Some("Digest x")).await,
        401,
        "invalid_client",
        "",
    );
    // Go sends an empty scope.
    let reply = f.post(&edit(base, &[("scope", Some(""))]), None).await;
    assert_success(&reply);
    assert!(f.sts.issued_tokens()[0].scopes.is_empty());
}

#[tokio::test]
async fn basic_client_authentication() {
    let f = fixture().await;
    f.sts
        .add_provider(ProviderSpec::aws(AUDIENCE, ACCOUNT).require_client_auth());
    f.sts.add_client("client", "secret");
    let token = signer().sign().subject_token(Style::Recommended);
    let pairs = fields(AUDIENCE, AWS4, &token);
    let standard = format!("Basic {}", STANDARD.encode("client:secret"));
    assert!(standard.ends_with("=="), "the padding matters in this test");
    assert_success(&f.post(&pairs, Some(&standard)).await);
    assert_eq!(
        f.sts.issued_tokens()[0].client_id.as_deref(),
        Some("client")
    );

    let unpadded = format!("Basic {}", URL_SAFE_NO_PAD.encode("client:secret"));
    assert_oauth_error(
        &f.post(&pairs, Some(&unpadded)).await,
        401,
        "invalid_client",
        "padding",
    );
    let url_safe = format!("Basic {}", URL_SAFE_NO_PAD.encode("client:s?>?"));
    assert!(url_safe.contains('_') || url_safe.contains('-'));
    assert_oauth_error(
        &f.post(&pairs, Some(&url_safe)).await,
        401,
        "invalid_client",
        "base64",
    );
    let wrong = format!("Basic {}", STANDARD.encode("client:other"));
    assert_oauth_error(
        &f.post(&pairs, Some(&wrong)).await,
        401,
        "invalid_client",
        "not found",
    );
    assert_oauth_error(
        &f.post(&pairs, None).await,
        401,
        "invalid_client",
        "required",
    );
}

#[tokio::test]
async fn workforce_pools_need_a_user_project_or_a_client() {
    let f = fixture().await;
    f.sts.add_provider(ProviderSpec::oidc(WORKFORCE));
    f.sts.add_client("gcloud", "pw");
    let jwt = GoogleIdentity::shared().sign(&json!({"sub": "alice", "exp": T0_SECS + 60}));
    let pairs = fields(WORKFORCE, JWT, &jwt);
    assert_oauth_error(
        &f.post(&pairs, None).await,
        400,
        "invalid_request",
        "userProject",
    );

    let single = edit(
        pairs.clone(),
        &[("options", Some(r#"{"userProject":"my-project"}"#))],
    );
    assert_success(&f.post(&single, None).await);
    let python = python_quote(r#"{"userProject": "python-project"}"#);
    let double = edit(pairs.clone(), &[("options", Some(&python))]);
    assert_success(&f.post(&double, None).await);
    let basic = format!("Basic {}", STANDARD.encode("gcloud:pw"));
    assert_success(&f.post(&pairs, Some(&basic)).await);

    let issued = f.sts.issued_tokens();
    let projects: Vec<_> = issued.iter().map(|t| t.user_project.as_deref()).collect();
    assert_eq!(projects, [Some("my-project"), Some("python-project"), None]);
    assert_eq!(issued[0].subject, "alice");
}

#[tokio::test]
async fn oidc_subject_tokens() {
    let f = fixture().await;
    let google = GoogleIdentity::shared();
    let trusted_audience =
        "//iam.googleapis.com/projects/1/locations/global/workloadIdentityPools/p/providers/google";
    f.sts
        .add_provider(ProviderSpec::oidc(trusted_audience).trust(google.clone()));
    let valid = google.sign(&json!({"sub": "1234", "exp": T0_SECS + 1}));
    let expired = google.sign(&json!({"sub": "1234", "exp": T0_SECS}));
    let foreign = GoogleIdentity::generate().sign(&json!({"sub": "1234", "exp": T0_SECS + 60}));
    let id_token = "urn:ietf:params:oauth:token-type:id_token";

    assert_success(&f.post(&fields(OIDC, JWT, &valid), None).await);
    assert_success(&f.post(&fields(OIDC, id_token, &foreign), None).await);
    assert_success(&f.post(&fields(trusted_audience, JWT, &valid), None).await);
    let reply = f.post(&fields(trusted_audience, JWT, &foreign), None).await;
    assert_oauth_error(&reply, 400, "invalid_grant", "unknown JWT signing key id");
    let reply = f.post(&fields(OIDC, JWT, &expired), None).await;
    assert_oauth_error(&reply, 400, "invalid_grant", "expired");
    let reply = f.post(&fields(OIDC, JWT, "not-a-jwt"), None).await;
    assert_oauth_error(&reply, 400, "invalid_grant", "malformed JWT");
    assert_eq!(f.sts.issued_tokens()[0].subject, "1234");
}

#[tokio::test]
async fn deterministic_tokens_depend_on_what_was_exchanged() {
    let f = fixture_with(GoogleStsEmulator::builder().deterministic_tokens(true)).await;
    let token_of = |reply: Reply| {
        assert_success(&reply)["access_token"]
            .as_str()
            .unwrap()
            .to_owned()
    };

    // Python's serialization (target resource not signed) and the recommended one, signed a
    // second later, mean the same exchange: the same token
    let python = signer().sign().subject_token(Style::Python);
    let mut later = signer();
    later.at = at(T0_SECS + 1);
    let recommended = later.sign().subject_token(Style::Recommended);
    assert_ne!(python, recommended);
    let first = token_of(f.exchange_aws(&python).await);
    assert!(first.starts_with("ya29.emulated-"), "{first}");
    assert_eq!(first, token_of(f.exchange_aws(&recommended).await));
    // scopes count as a set
    let two = |scope| {
        edit(
            fields(AUDIENCE, AWS4, &recommended),
            &[("scope", Some(scope))],
        )
    };
    let both = token_of(f.post(&two("a b"), None).await);
    assert_eq!(both, token_of(f.post(&two("b a a"), None).await));
    assert_ne!(both, first);
    // another subject, another token
    let jwt = |sub: &str, exp| GoogleIdentity::shared().sign(&json!({"sub": sub, "exp": exp}));
    let alice = token_of(
        f.post(&fields(OIDC, JWT, &jwt("alice", T0_SECS + 60)), None)
            .await,
    );
    let again = token_of(
        f.post(&fields(OIDC, JWT, &jwt("alice", T0_SECS + 90)), None)
            .await,
    );
    let bob = token_of(
        f.post(&fields(OIDC, JWT, &jwt("bob", T0_SECS + 60)), None)
            .await,
    );
    assert_eq!(alice, again);
    assert_ne!(alice, bob);
    assert_ne!(alice, first);
    // each issue is recorded; lookups find the newest record
    assert_eq!(f.sts.issued_tokens().len(), 7);
    f.clock.set(at(T0_SECS + 10));
    let newest = token_of(f.exchange_aws(&recommended).await);
    assert_eq!(newest, first);
    assert_eq!(
        f.sts.token_info(&first).unwrap().issued_at,
        at(T0_SECS + 10)
    );

    // off (the default): random tokens
    let f = fixture().await;
    let a = token_of(f.exchange_aws(&python).await);
    assert_ne!(a, token_of(f.exchange_aws(&python).await));
}

#[tokio::test]
async fn saml_only_when_enabled() {
    let f = fixture().await;
    let saml = "urn:ietf:params:oauth:token-type:saml2";
    let assertion = STANDARD.encode("<samlp:Response/>");
    let reply = f.post(&fields(OIDC, saml, &assertion), None).await;
    assert_oauth_error(&reply, 400, "invalid_request", "does not accept");
    f.sts.add_provider(ProviderSpec::oidc(OIDC).accept_saml());
    assert_success(&f.post(&fields(OIDC, saml, &assertion), None).await);
    let reply = f.post(&fields(OIDC, saml, "<not base64>"), None).await;
    assert_oauth_error(&reply, 400, "invalid_grant", "base64");
}

#[tokio::test]
async fn scripted_errors_faults_and_routing() {
    let f = fixture().await;
    let token = signer().sign().subject_token(Style::Recommended);
    f.sts.push_oauth_error(403, "access_denied", "scripted");
    f.sts.push_fault(Fault::status(503));
    let reply = f.exchange_aws(&token).await;
    assert_oauth_error(&reply, 403, "access_denied", "scripted");
    assert_eq!(f.exchange_aws(&token).await.status, 503);
    assert_success(&f.exchange_aws(&token).await);
    assert_eq!(f.sts.request_count(), 3);

    let custom_path = client()
        .post(format!("{}/v1beta/projects/x/token", f.sts.base_url()))
        .header("Content-Type", "application/x-www-form-urlencoded")
        .body(form(&fields(AUDIENCE, AWS4, &token)));
    assert_success(&send(custom_path).await);
    assert_eq!(
        send(client().post(format!("{}/v1/other", f.sts.base_url())))
            .await
            .status,
        404
    );
    assert_eq!(send(client().get(f.sts.token_url())).await.status, 405);
}

/// A JWT for `sub` signed by the shared identity, valid for an hour of real time.
fn live_jwt(sub: &str) -> String {
    let exp = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_secs()
        + 3600;
    GoogleIdentity::shared().sign(&json!({"iss": "https://idp.example", "sub": sub, "exp": exp}))
}

/// Credentials that exchange `jwt` at `sts` for `audience`, without impersonation.
fn exchanging(
    sts: &GoogleStsEmulator,
    audience: &str,
    jwt: String,
) -> ExternalAccountCredentialsBuilder {
    ExternalAccountCredentials::builder()
        .audience(audience)
        .token_source(StaticToken::new(jwt, TokenType::Jwt))
        .token_url(sts.token_url())
}

/// An emulator on the system clock with the OIDC provider, and credentials for it.
async fn oidc_on(
    builder: GoogleStsEmulatorBuilder,
) -> (GoogleStsEmulator, ExternalAccountCredentials) {
    let sts = builder
        .provider(ProviderSpec::oidc(OIDC))
        .start()
        .await
        .unwrap();
    let credentials = exchanging(&sts, OIDC, live_jwt("workload"))
        .build()
        .unwrap();
    (sts, credentials)
}

/// AWS long-term (and temporary) keys in a workload's environment.
fn aws_env(session_token: Option<&str>) -> Context {
    let mut env = StaticEnv::from_pairs([
        ("AWS_ACCESS_KEY_ID", "AKIDEXAMPLE"),
        (
            "AWS_SECRET_ACCESS_KEY",
            "wJalrXUtnFEMI/K7MDENG+bPxRfiCYEXAMPLEKEY",
        ),
        ("AWS_REGION", "eu-west-1"),
    ]);
    if let Some(token) = session_token {
        env = env.with("AWS_SESSION_TOKEN", token);
    }
    Context::builder().env(env).build()
}

#[tokio::test]
async fn what_the_credentials_get_is_recorded() {
    let (sts, credentials) = oidc_on(GoogleStsEmulator::builder()).await;
    assert!(sts.token_url().starts_with("http://127.0.0.1:"));
    assert!(sts.token_url().ends_with("/v1/token"));
    let token = credentials.access_token().await.unwrap();
    let secret = token.token().expose_secret();
    assert_eq!(sts.last_request().unwrap().path, "/v1/token");
    assert_eq!(
        sts.last_request()
            .unwrap()
            .form_param("subject_token_type")
            .as_deref(),
        Some(JWT)
    );
    let issued = &sts.issued_tokens()[0];
    assert_eq!(issued.access_token, secret);
    assert_eq!(issued.subject, "workload", "the JWT's `sub`");
    assert_eq!(issued.subject_token_type, JWT);
    assert_eq!(issued.audience, OIDC);
    assert_eq!(
        issued
            .expires_at
            .duration_since(issued.issued_at)
            .unwrap()
            .as_secs(),
        3599
    );
    let info = sts.token_info(secret).expect("issued by this emulator");
    assert_eq!(
        info.scopes,
        ["https://www.googleapis.com/auth/cloud-platform"]
    );
    assert!(sts.token_info("ya29.example").is_none());

    credentials.cache().invalidate();
    credentials.access_token().await.unwrap();
    let issued = sts.issued_tokens();
    assert_eq!(issued.len(), 2);
    assert!(
        issued
            .iter()
            .all(|t| t.subject == "workload" && t.audience == OIDC)
    );
}

#[tokio::test]
async fn response_styles_as_the_credentials_read_them() {
    let (sts, credentials) =
        oidc_on(GoogleStsEmulator::builder().expires_in(Duration::from_secs(600))).await;
    let token = credentials.access_token().await.unwrap();
    let issued = sts.token_info(token.token().expose_secret()).unwrap();
    assert_eq!(
        issued
            .expires_at
            .duration_since(issued.issued_at)
            .unwrap()
            .as_secs(),
        600
    );

    let (_sts, credentials) =
        oidc_on(GoogleStsEmulator::builder().expires_in(Duration::from_secs(300))).await;
    let token = credentials.access_token().await.unwrap();
    let lifetime = token
        .expires_at()
        .unwrap()
        .duration_since(std::time::SystemTime::now())
        .unwrap();
    assert!(lifetime <= Duration::from_secs(300) && lifetime > Duration::from_secs(290));

    // `"expires_in": "3599"` is read like the number 3599.
    let (_sts, credentials) =
        oidc_on(GoogleStsEmulator::builder().expires_in_as_string(true)).await;
    assert!(
        credentials
            .access_token()
            .await
            .unwrap()
            .expires_at()
            .is_some()
    );
    // This crate does not need `issued_token_type`, like Go's client.
    let (_sts, credentials) =
        oidc_on(GoogleStsEmulator::builder().omit_issued_token_type(true)).await;
    assert!(credentials.access_token().await.is_ok());
    let (_sts, credentials) = oidc_on(GoogleStsEmulator::builder().omit_token_type(true)).await;
    let token = credentials.access_token().await.unwrap();
    assert_eq!(
        token.token_type(),
        "Bearer",
        "assumed when the response does not say"
    );

    let (sts, credentials) = oidc_on(GoogleStsEmulator::builder()).await;
    sts.set_expires_in(Duration::ZERO);
    let err = credentials.access_token().await.unwrap_err();
    assert_eq!(
        err.kind(),
        ErrorKind::InvalidResponse,
        "`expires_in` must be positive"
    );
}

#[tokio::test]
async fn a_shared_manual_clock_decides_the_expiry() {
    let start = at(1_800_000_000);
    let clock = ManualClock::new(start);
    let sts = GoogleStsEmulator::builder()
        .clock(clock.clone())
        .provider(ProviderSpec::oidc(OIDC))
        .start()
        .await
        .unwrap();
    // A subject token that is valid at the emulated time (and long expired in the real world).
    let jwt = GoogleIdentity::shared().sign(&json!({"sub": "workload", "exp": 1_800_000_600}));
    let credentials = exchanging(&sts, OIDC, jwt)
        .context(Context::builder().clock(clock.clone()).build())
        .build()
        .unwrap();
    let token = credentials.access_token().await.unwrap();
    assert_eq!(token.expires_at(), Some(start + Duration::from_secs(3599)));
}

#[tokio::test]
async fn seeded_tokens_repeat() {
    let mut tokens = Vec::new();
    for _ in 0..2 {
        let (_sts, credentials) = oidc_on(GoogleStsEmulator::builder().seed(7)).await;
        let token = credentials.access_token().await.unwrap();
        tokens.push(token.token().expose_secret().to_string());
    }
    assert_eq!(tokens[0], tokens[1]);

    let sts = GoogleStsEmulator::builder()
        .provider(ProviderSpec::oidc(OIDC))
        .deterministic_tokens(true)
        .start()
        .await
        .unwrap();
    let mut tokens = Vec::new();
    for jti in ["first", "second"] {
        let exp = 4_102_444_800_u64;
        let jwt =
            GoogleIdentity::shared().sign(&json!({"sub": "workload", "jti": jti, "exp": exp}));
        let credentials = exchanging(&sts, OIDC, jwt).build().unwrap();
        let token = credentials.access_token().await.unwrap();
        tokens.push(token.token().expose_secret().to_string());
    }
    assert_eq!(tokens[0], tokens[1]);
    assert_eq!(
        sts.issued_tokens().len(),
        2,
        "each exchange is still recorded"
    );
}

#[tokio::test]
async fn client_authentication_as_the_credentials_send_it() {
    for by_builder in [true, false] {
        let audience = OIDC;
        let sts = if by_builder {
            GoogleStsEmulator::builder()
                .provider(ProviderSpec::oidc(audience).require_client_auth())
                .client("my-client", "my-client-secret")
                .start()
                .await
                .unwrap()
        } else {
            let sts = GoogleStsEmulator::start().await.unwrap();
            sts.add_provider(ProviderSpec::oidc(audience).require_client_auth());
            sts.add_client("my-client", "my-client-secret");
            sts
        };
        let anonymous = exchanging(&sts, audience, live_jwt("workload"))
            .build()
            .unwrap();
        let err = anonymous.access_token().await.unwrap_err();
        assert_eq!(
            (err.http_status(), err.upstream_code()),
            (Some(401), Some("invalid_client"))
        );
        let credentials = exchanging(&sts, audience, live_jwt("workload"))
            .client_credentials("my-client", "my-client-secret")
            .build()
            .unwrap();
        credentials.access_token().await.unwrap();
        assert_eq!(
            sts.issued_tokens()[0].client_id.as_deref(),
            Some("my-client")
        );
        let authorization = sts.last_request().unwrap();
        assert!(
            authorization
                .header("authorization")
                .unwrap()
                .starts_with("Basic ")
        );
    }
}

#[tokio::test]
async fn providers_as_the_credentials_see_them() {
    // No provider is registered for this audience.
    let sts = GoogleStsEmulator::start().await.unwrap();
    let err = exchanging(&sts, OIDC, live_jwt("workload"))
        .build()
        .unwrap()
        .access_token()
        .await
        .unwrap_err();
    assert_eq!(err.upstream_code(), Some("invalid_request"));

    // `trust`: only the given issuer's signature counts.
    let issuer = GoogleIdentity::generate();
    sts.add_provider(ProviderSpec::oidc(OIDC).trust(issuer.clone()));
    let exp = 4_102_444_800_u64;
    let claims = json!({"sub": "workload", "exp": exp});
    for (signer, accepted) in [(issuer, true), (GoogleIdentity::shared(), false)] {
        let credentials = exchanging(&sts, OIDC, signer.sign(&claims))
            .build()
            .unwrap();
        assert_eq!(credentials.access_token().await.is_ok(), accepted);
    }

    // `issuer_uri`: the token's iss must be it, and its aud an allowed audience (by default
    // the provider's name, with or without https:).
    let aks = "https://eastus.oic.prod-aks.azure.com/tenant/cluster/";
    let signer = GoogleIdentity::generate();
    sts.add_provider(
        ProviderSpec::oidc(OIDC)
            .issuer_uri(aks)
            .trust(signer.clone()),
    );
    for (iss, aud, accepted, says) in [
        (aks, json!(format!("https:{OIDC}")), true, ""),
        (aks, json!(["other", OIDC]), true, ""),
        (
            aks,
            json!("api://AzureADTokenExchange"),
            false,
            "audience in ID Token",
        ),
        (
            "https://evil.example/",
            json!(OIDC),
            false,
            "issuer in ID Token",
        ),
    ] {
        let token = signer.sign(
            &json!({"iss": iss, "aud": aud, "sub": "system:serviceaccount:ns:sa", "exp": exp}),
        );
        let result = exchanging(&sts, OIDC, token)
            .build()
            .unwrap()
            .access_token()
            .await;
        assert_eq!(result.is_ok(), accepted, "{iss} {aud}");
        if let Err(err) = result {
            assert_eq!(err.upstream_code(), Some("invalid_grant"));
            assert!(err.to_string().contains(says), "{err}");
        }
    }
    sts.add_provider(
        ProviderSpec::oidc(OIDC)
            .issuer_uri(aks)
            .allowed_audience("api://AzureADTokenExchange")
            .trust(signer.clone()),
    );
    let token = signer
        .sign(&json!({"iss": aks, "aud": "api://AzureADTokenExchange", "sub": "s", "exp": exp}));
    exchanging(&sts, OIDC, token)
        .build()
        .unwrap()
        .access_token()
        .await
        .unwrap();
    let token = signer.sign(&json!({"iss": aks, "aud": OIDC, "sub": "s", "exp": exp}));
    assert!(
        exchanging(&sts, OIDC, token)
            .build()
            .unwrap()
            .access_token()
            .await
            .is_err()
    );

    // A workforce pool exchange names the project to bill (or authenticates a client).
    let workforce = ProviderSpec::oidc(WORKFORCE);
    assert_eq!(workforce.audience(), WORKFORCE);
    assert!(workforce.is_workforce_pool());
    let sts = GoogleStsEmulator::builder()
        .provider(workforce)
        .start()
        .await
        .unwrap();
    let credentials = exchanging(&sts, WORKFORCE, live_jwt("alice"))
        .workforce_pool_user_project("my-project")
        .build()
        .unwrap();
    credentials.access_token().await.unwrap();
    assert_eq!(
        sts.issued_tokens()[0].user_project.as_deref(),
        Some("my-project")
    );
}

#[tokio::test]
async fn aws_keys_as_the_credentials_sign_with_them() {
    let audience = AUDIENCE;
    let credentials = |sts: &GoogleStsEmulator, ctx: Context| {
        ExternalAccountCredentials::builder()
            .context(ctx)
            .audience(audience)
            .token_source(AwsSignedRequestToken::new(AwsEnvironment::new(), audience))
            .token_url(sts.token_url())
            .build()
            .unwrap()
    };
    let sts = GoogleStsEmulator::builder()
        .provider(ProviderSpec::aws(audience, ACCOUNT))
        .start()
        .await
        .unwrap();
    sts.trust_aws_key(
        "AKIDEXAMPLE",
        "wJalrXUtnFEMI/K7MDENG+bPxRfiCYEXAMPLEKEY",
        ACCOUNT,
    );
    credentials(&sts, aws_env(None))
        .access_token()
        .await
        .unwrap();
    assert_eq!(
        sts.issued_tokens()[0].subject,
        "AKIDEXAMPLE",
        "the signing key"
    );

    let sts = GoogleStsEmulator::builder()
        .provider(ProviderSpec::aws(audience, ACCOUNT))
        .start()
        .await
        .unwrap();
    sts.trust_aws_session_key(
        "AKIDEXAMPLE",
        "wJalrXUtnFEMI/K7MDENG+bPxRfiCYEXAMPLEKEY",
        "FwoGZXIvYXdzEXAMPLE",
        ACCOUNT,
    );
    let temporary = credentials(&sts, aws_env(Some("FwoGZXIvYXdzEXAMPLE")));
    assert!(temporary.access_token().await.is_ok());

    // The provider federates another AWS account than the key's.
    let sts = GoogleStsEmulator::builder()
        .provider(ProviderSpec::aws(audience, "210987654321"))
        .start()
        .await
        .unwrap();
    sts.trust_aws_key(
        "AKIDEXAMPLE",
        "wJalrXUtnFEMI/K7MDENG+bPxRfiCYEXAMPLEKEY",
        ACCOUNT,
    );
    let err = credentials(&sts, aws_env(None))
        .access_token()
        .await
        .unwrap_err();
    assert_eq!(err.upstream_code(), Some("unauthorized_client"));
}

#[tokio::test]
async fn scripted_errors_as_the_credentials_see_them() {
    let (sts, credentials) = oidc_on(GoogleStsEmulator::builder()).await;
    sts.push_oauth_error(
        400,
        "invalid_grant",
        "The audience in ID Token does not match",
    );
    let err = credentials.access_token().await.unwrap_err();
    assert_eq!(err.upstream_code(), Some("invalid_grant"));
    assert_eq!(err.http_status(), Some(400));
    assert!(err.to_string().contains("does not match"), "{err}");

    // A 503 is retried: two of them delay the token but do not fail it.
    let (sts, credentials) = oidc_on(GoogleStsEmulator::builder()).await;
    sts.push_oauth_error_times(503, "temporarily_unavailable", "try again", 2);
    assert!(credentials.access_token().await.is_ok());
    assert_eq!(sts.request_count(), 3);
}
