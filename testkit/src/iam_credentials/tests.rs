//! Tests of the IAM Credentials emulator over HTTP, together with a Google STS emulator.

use std::time::Duration;

use serde_json::{Value, json};

use super::*;
use crate::google_sts::test_signer::{Signer, Style, sts_url};
use crate::test_support::{Reply, T0_SECS, at, client, clock, form, send};
use crate::{AwsStsEmulator, Fault, ProviderSpec, RoleSpec};
use federated_credentials::context::{Context, ManualClock};
use federated_credentials::exchange::GenerateIdToken;
use federated_credentials::google::{
    ExternalAccountCredentials, ExternalAccountCredentialsBuilder, GoogleIdTokenSource,
};
use federated_credentials::source::{StaticToken, SubjectTokenSource};
use federated_credentials::token::TokenType;

const PROVIDER: &str = "//iam.googleapis.com/projects/123456/locations/global/workloadIdentityPools/pool/providers/oidc";
const OTHER_PROVIDER: &str = "//iam.googleapis.com/projects/123456/locations/global/workloadIdentityPools/pool/providers/other";
const AWS_PROVIDER: &str = "//iam.googleapis.com/projects/123456/locations/global/workloadIdentityPools/pool/providers/aws";
const SA: &str = "reader@my-project.iam.gserviceaccount.com";
const SA_ID: &str = "112233445566778899001";
const LONG_SA: &str = "long@my-project.iam.gserviceaccount.com";
const IAM_SCOPE: &str = "https://www.googleapis.com/auth/iam";
const CLOUD_PLATFORM: &str = "https://www.googleapis.com/auth/cloud-platform";

struct Fixture {
    sts: GoogleStsEmulator,
    iam: IamCredentialsEmulator,
    clock: ManualClock,
}

async fn fixture() -> Fixture {
    fixture_with(IamCredentialsEmulator::builder()).await
}

async fn fixture_with(builder: IamCredentialsEmulatorBuilder) -> Fixture {
    let clock = clock();
    let sts = GoogleStsEmulator::builder()
        .clock(clock.clone())
        .provider(ProviderSpec::oidc(PROVIDER))
        .provider(ProviderSpec::oidc(OTHER_PROVIDER))
        .start()
        .await
        .unwrap();
    let iam = builder
        .clock(clock.clone())
        .seed(5)
        .service_account(ServiceAccountSpec::new(SA, SA_ID))
        .service_account(
            ServiceAccountSpec::new(LONG_SA, "998877665544332211000").allow_extended_lifetime(),
        )
        .start()
        .await
        .unwrap();
    iam.trust_sts(&sts);
    Fixture { sts, iam, clock }
}

/// Exchanges an (unsigned) JWT at `sts` for a federated token with `scope`.
async fn federated_token(sts: &GoogleStsEmulator, audience: &str, scope: &str) -> String {
    let jwt = GoogleIdentity::shared().sign(&json!({"sub": "workload", "exp": T0_SECS + 7200}));
    let request = client()
        .post(sts.token_url())
        .header("Content-Type", "application/x-www-form-urlencoded")
        .body(form(&[
            (
                "grant_type",
                "urn:ietf:params:oauth:grant-type:token-exchange",
            ),
            ("audience", audience),
            ("scope", scope),
            (
                "requested_token_type",
                "urn:ietf:params:oauth:token-type:access_token",
            ),
            ("subject_token_type", "urn:ietf:params:oauth:token-type:jwt"),
            ("subject_token", &jwt),
        ]));
    let reply = send(request).await;
    assert_eq!(reply.status, 200, "{}", reply.body);
    let body: Value = serde_json::from_str(&reply.body).unwrap();
    body["access_token"].as_str().unwrap().to_owned()
}

impl Fixture {
    async fn token(&self) -> String {
        federated_token(&self.sts, PROVIDER, IAM_SCOPE).await
    }

    async fn call(&self, url: &str, bearer: Option<&str>, body: &Value) -> Reply {
        let mut request = client()
            .post(url)
            .header("Content-Type", "application/json")
            .body(body.to_string());
        if let Some(bearer) = bearer {
            request = request.header("Authorization", format!("Bearer {bearer}"));
        }
        send(request).await
    }

    /// `generateAccessToken` for `account` with a fresh federated token.
    async fn access_token(&self, account: &str, body: &Value) -> Reply {
        let token = self.token().await;
        let url = self.iam.generate_access_token_url(account);
        self.call(&url, Some(&token), body).await
    }
}

#[track_caller]
fn assert_ok(reply: &Reply) -> Value {
    assert_eq!(reply.status, 200, "{}", reply.body);
    serde_json::from_str(&reply.body).unwrap()
}

/// Asserts the `google.rpc.Status` envelope; returns its `error` object.
#[track_caller]
fn assert_rpc_error(reply: &Reply, code: u16, status: &str) -> Value {
    assert_eq!(reply.status, code, "{}", reply.body);
    assert_eq!(reply.header("content-type"), Some("application/json"));
    let body: Value = serde_json::from_str(&reply.body).unwrap();
    let error = body["error"].clone();
    assert_eq!(error["code"], code);
    assert_eq!(error["status"], status, "{}", reply.body);
    assert!(error["message"].as_str().is_some_and(|m| !m.is_empty()));
    error
}

fn scope() -> Value {
    json!({"scope": [CLOUD_PLATFORM]})
}

#[tokio::test]
async fn generate_access_token_success_and_record() {
    let f = fixture().await;
    let encoded = SA.replace('@', "%40");
    for account in [SA, encoded.as_str(), SA_ID] {
        let body = assert_ok(&f.access_token(account, &scope()).await);
        assert!(
            body["accessToken"]
                .as_str()
                .unwrap()
                .starts_with("ya29.c.emulated-")
        );
        assert_eq!(body["expireTime"], "2023-11-14T23:13:20Z");
        assert_eq!(body.as_object().unwrap().len(), 2);
    }
    let issued = f.iam.issued_access_tokens();
    assert_eq!(issued.len(), 3);
    assert_eq!(issued[2].service_account, SA);
    assert_eq!(issued[2].scopes, [CLOUD_PLATFORM]);
    assert_eq!(issued[2].lifetime, Duration::from_secs(3600));
    assert_eq!(issued[2].expire_time, at(T0_SECS + 3600));
    assert_eq!(issued[2].caller_audience, PROVIDER);
    let request = f.iam.last_request().unwrap();
    assert_eq!(
        request.path,
        format!("/v1/projects/-/serviceAccounts/{SA_ID}:generateAccessToken")
    );
}

#[tokio::test]
async fn deterministic_tokens_depend_on_what_was_requested() {
    let f = fixture_with(IamCredentialsEmulator::builder().deterministic_tokens(true)).await;
    let token_of = |reply: Reply| {
        assert_ok(&reply)["accessToken"]
            .as_str()
            .unwrap()
            .to_owned()
    };
    let body = |scopes: &[&str], lifetime: &str, delegates: &[&str]| json!({"scope": scopes, "lifetime": lifetime, "delegates": delegates});
    let first = token_of(
        f.access_token(SA, &body(&[CLOUD_PLATFORM], "3600s", &[]))
            .await,
    );
    assert!(first.starts_with("ya29.c.emulated-"), "{first}");
    // the same request by another caller (another federated token, another provider), with
    // the account named by its unique id, `delegates: null` and the default lifetime
    let other_caller = federated_token(&f.sts, OTHER_PROVIDER, CLOUD_PLATFORM).await;
    let url = f.iam.generate_access_token_url(SA_ID);
    let same = json!({"scope": [CLOUD_PLATFORM], "delegates": null});
    let reply = f.call(&url, Some(&other_caller), &same).await;
    assert_eq!(token_of(reply), first);
    // scopes are a set
    let ab = token_of(
        f.access_token(SA, &body(&[CLOUD_PLATFORM, IAM_SCOPE], "3600s", &[]))
            .await,
    );
    let ba = token_of(
        f.access_token(SA, &body(&[IAM_SCOPE, CLOUD_PLATFORM], "3600s", &[]))
            .await,
    );
    assert_eq!(ab, ba);
    assert_ne!(ab, first);
    // anything else that differs gives another token
    let delegate = format!("projects/-/serviceAccounts/{LONG_SA}");
    let others = [
        f.access_token(SA, &body(&[CLOUD_PLATFORM], "1800s", &[]))
            .await,
        f.access_token(SA, &body(&[CLOUD_PLATFORM], "3600s", &[&delegate]))
            .await,
        f.access_token(LONG_SA, &body(&[CLOUD_PLATFORM], "3600s", &[]))
            .await,
    ];
    for reply in others {
        assert_ne!(token_of(reply), first);
    }
    assert_eq!(f.iam.issued_access_tokens().len(), 7);

    // off (the default): random tokens
    let f = fixture().await;
    let a = token_of(f.access_token(SA, &scope()).await);
    assert_ne!(a, token_of(f.access_token(SA, &scope()).await));
}

#[tokio::test]
async fn lifetime_rules() {
    let f = fixture().await;
    let with = |lifetime: &str| json!({"scope": [CLOUD_PLATFORM], "lifetime": lifetime});
    let body = assert_ok(&f.access_token(SA, &with("1800s")).await);
    assert_eq!(body["expireTime"], "2023-11-14T22:43:20Z");
    assert_ok(&f.access_token(SA, &with("3600s")).await);
    assert_ok(&f.access_token(SA, &with("600.25s")).await);
    assert_eq!(
        f.iam.issued_access_tokens()[2].lifetime,
        Duration::from_millis(600_250)
    );
    for bad in ["3601s", "3600", "1h", "0s", "-5s", "3600.s"] {
        assert_rpc_error(
            &f.access_token(SA, &with(bad)).await,
            400,
            "INVALID_ARGUMENT",
        );
    }
    let numeric = json!({"scope": [CLOUD_PLATFORM], "lifetime": 3600});
    assert_rpc_error(&f.access_token(SA, &numeric).await, 400, "INVALID_ARGUMENT");

    let body = assert_ok(&f.access_token(LONG_SA, &with("43200s")).await);
    assert_eq!(body["expireTime"], "2023-11-15T10:13:20Z");
    assert_rpc_error(
        &f.access_token(LONG_SA, &with("43201s")).await,
        400,
        "INVALID_ARGUMENT",
    );
}

#[tokio::test]
async fn fractional_expire_time() {
    for (digits, expected) in [
        (0, "2023-11-14T23:13:19Z"),
        (3, "2023-11-14T23:13:19.623Z"),
        (6, "2023-11-14T23:13:19.623456Z"),
        (9, "2023-11-14T23:13:19.623456789Z"),
    ] {
        let f = fixture_with(IamCredentialsEmulator::builder().expire_time_fraction_digits(digits))
            .await;
        f.clock.advance(Duration::from_nanos(123_456_789));
        let body = json!({"scope": [CLOUD_PLATFORM], "lifetime": "3599.5s"});
        let reply = assert_ok(&f.access_token(SA, &body).await);
        assert_eq!(reply["expireTime"], expected);
        let sent =
            time::OffsetDateTime::parse(expected, &time::format_description::well_known::Rfc3339)
                .unwrap();
        assert_eq!(
            time::OffsetDateTime::from(f.iam.issued_access_tokens()[0].expire_time),
            sent
        );
    }
}

#[tokio::test]
#[should_panic(expected = "0, 3, 6 or 9")]
async fn other_fraction_digits_are_refused() {
    let _ = IamCredentialsEmulator::builder().expire_time_fraction_digits(2);
}

#[tokio::test]
async fn scope_and_body_are_validated() {
    let f = fixture().await;
    for body in [
        json!({}),
        json!({"scope": []}),
        json!({"scope": "https://www.googleapis.com/auth/cloud-platform"}),
        json!({"scope": [CLOUD_PLATFORM], "lifetimeSeconds": 3600}),
        json!([CLOUD_PLATFORM]),
    ] {
        assert_rpc_error(&f.access_token(SA, &body).await, 400, "INVALID_ARGUMENT");
    }
    // Python sends `"delegates": null`.
    let python = json!({"scope": [CLOUD_PLATFORM], "delegates": null, "lifetime": "3600s"});
    assert_ok(&f.access_token(SA, &python).await);
}

#[tokio::test]
async fn bearer_authentication() {
    let f = fixture().await;
    let url = f.iam.generate_access_token_url(SA);
    let missing = f.call(&url, None, &scope()).await;
    let error = assert_rpc_error(&missing, 401, "UNAUTHENTICATED");
    assert_eq!(error["details"][0]["reason"], "CREDENTIALS_MISSING");
    let unknown = f.call(&url, Some("ya29.not-issued"), &scope()).await;
    assert_rpc_error(&unknown, 401, "UNAUTHENTICATED");

    let untrusted_sts = GoogleStsEmulator::builder()
        .clock(f.clock.clone())
        .provider(ProviderSpec::oidc(PROVIDER))
        .start()
        .await
        .unwrap();
    let foreign = federated_token(&untrusted_sts, PROVIDER, IAM_SCOPE).await;
    assert_rpc_error(
        &f.call(&url, Some(&foreign), &scope()).await,
        401,
        "UNAUTHENTICATED",
    );
    f.iam.trust_sts(&untrusted_sts);
    f.iam.trust_sts(&untrusted_sts);
    assert_ok(&f.call(&url, Some(&foreign), &scope()).await);

    let token = f.token().await;
    f.clock.advance(Duration::from_secs(3598));
    assert_ok(&f.call(&url, Some(&token), &scope()).await);
    f.clock.advance(Duration::from_secs(1));
    let expired = f.call(&url, Some(&token), &scope()).await;
    let error = assert_rpc_error(&expired, 401, "UNAUTHENTICATED");
    assert_eq!(error["details"][0]["reason"], "ACCESS_TOKEN_EXPIRED");
}

#[tokio::test]
async fn bearer_tokens_need_an_iam_scope_unless_disabled() {
    let f = fixture().await;
    let url = f.iam.generate_access_token_url(SA);
    let narrow = federated_token(
        &f.sts,
        PROVIDER,
        "https://www.googleapis.com/auth/devstorage.read_only",
    )
    .await;
    let error = assert_rpc_error(
        &f.call(&url, Some(&narrow), &scope()).await,
        403,
        "PERMISSION_DENIED",
    );
    assert_eq!(
        error["details"][0]["reason"],
        "ACCESS_TOKEN_SCOPE_INSUFFICIENT"
    );
    let cloud_platform = federated_token(&f.sts, PROVIDER, CLOUD_PLATFORM).await;
    assert_ok(&f.call(&url, Some(&cloud_platform), &scope()).await);

    let lenient = fixture_with(IamCredentialsEmulator::builder().check_scopes(false)).await;
    let unscoped = federated_token(&lenient.sts, PROVIDER, "").await;
    let url = lenient.iam.generate_access_token_url(SA);
    assert_ok(&lenient.call(&url, Some(&unscoped), &scope()).await);
}

#[tokio::test]
async fn permission_and_lookup_errors() {
    let f = fixture().await;
    f.iam
        .add_service_account(ServiceAccountSpec::new(SA, SA_ID).allow_audience(OTHER_PROVIDER));
    let denied = f.access_token(SA, &scope()).await;
    let error = assert_rpc_error(&denied, 403, "PERMISSION_DENIED");
    assert_eq!(
        error["details"][0],
        json!({
            "@type": "type.googleapis.com/google.rpc.ErrorInfo",
            "reason": "IAM_PERMISSION_DENIED",
            "domain": "iam.googleapis.com",
            "metadata": {"permission": "iam.serviceAccounts.getAccessToken"},
        })
    );
    let other = federated_token(&f.sts, OTHER_PROVIDER, IAM_SCOPE).await;
    let url = f.iam.generate_access_token_url(SA);
    assert_ok(&f.call(&url, Some(&other), &scope()).await);

    let missing = f
        .access_token("nobody@my-project.iam.gserviceaccount.com", &scope())
        .await;
    assert_rpc_error(&missing, 404, "NOT_FOUND");
    let token = f.token().await;
    let project_url = url.replace("/projects/-/", "/projects/my-project/");
    assert_rpc_error(
        &f.call(&project_url, Some(&token), &scope()).await,
        400,
        "INVALID_ARGUMENT",
    );
}

#[tokio::test]
async fn delegates_must_be_registered_accounts() {
    let f = fixture().await;
    let delegate = format!("projects/-/serviceAccounts/{LONG_SA}");
    let body = json!({"scope": [CLOUD_PLATFORM], "delegates": [delegate]});
    assert_ok(&f.access_token(SA, &body).await);
    assert_eq!(f.iam.issued_access_tokens()[0].delegates, [delegate]);
    let unknown =
        json!({"scope": [CLOUD_PLATFORM], "delegates": ["projects/-/serviceAccounts/x@y.com"]});
    assert_rpc_error(&f.access_token(SA, &unknown).await, 404, "NOT_FOUND");
    let malformed = json!({"scope": [CLOUD_PLATFORM], "delegates": [LONG_SA]});
    assert_rpc_error(
        &f.access_token(SA, &malformed).await,
        400,
        "INVALID_ARGUMENT",
    );
}

#[tokio::test]
async fn generate_id_token_is_a_google_signed_jwt_aws_sts_accepts() {
    let f = fixture().await;
    let token = f.token().await;
    let url = f.iam.generate_id_token_url(SA);
    let reply = f
        .call(
            &url,
            Some(&token),
            &json!({"audience": "sts.amazonaws.com", "includeEmail": true}),
        )
        .await;
    let jwt = assert_ok(&reply)["token"].as_str().unwrap().to_owned();
    let claims = f.iam.identity().verify(&jwt).unwrap();
    assert_eq!(
        Value::Object(claims),
        json!({
            "iss": "https://accounts.google.com",
            "aud": "sts.amazonaws.com",
            "azp": SA_ID,
            "sub": SA_ID,
            "email": SA,
            "email_verified": true,
            "iat": T0_SECS,
            "exp": T0_SECS + 3600,
        })
    );
    let recorded = &f.iam.issued_id_tokens()[0];
    assert_eq!(
        (recorded.token.as_str(), recorded.include_email),
        (jwt.as_str(), true)
    );

    let reply = f.call(&url, Some(&token), &json!({"audience": "x"})).await;
    let plain = assert_ok(&reply)["token"].as_str().unwrap().to_owned();
    let claims = GoogleIdentity::shared().verify(&plain).unwrap();
    assert!(!claims.contains_key("email") && !claims.contains_key("email_verified"));
    assert_rpc_error(
        &f.call(&url, Some(&token), &json!({})).await,
        400,
        "INVALID_ARGUMENT",
    );

    // The AWS STS emulator trusts it like any Google ID token.
    let aws = AwsStsEmulator::builder()
        .clock(f.clock.clone())
        .start()
        .await
        .unwrap();
    let role = aws.role_arn("from-gcp");
    aws.add_role(
        RoleSpec::new(&role)
            .google_aud(SA_ID)
            .google_oaud("sts.amazonaws.com"),
    );
    let assume = client()
        .post(aws.endpoint())
        .header("Content-Type", "application/x-www-form-urlencoded")
        .body(form(&[
            ("Action", "AssumeRoleWithWebIdentity"),
            ("Version", "2011-06-15"),
            ("RoleArn", &role),
            ("RoleSessionName", "iam"),
            ("WebIdentityToken", &jwt),
        ]));
    assert_eq!(send(assume).await.status, 200);
}

#[tokio::test]
async fn from_aws_through_sts_to_iam() {
    let f = fixture().await;
    f.sts
        .add_provider(ProviderSpec::aws(AWS_PROVIDER, "123456789012"));
    f.sts.trust_aws_session_key(
        "ASIAIMDSROLEKEY00001",
        "imds/secret",
        "imds-session",
        "123456789012",
    );
    f.iam
        .add_service_account(ServiceAccountSpec::new(SA, SA_ID).allow_audience(AWS_PROVIDER));
    let signed = Signer {
        access_key_id: "ASIAIMDSROLEKEY00001",
        secret_access_key: "imds/secret",
        session_token: Some("imds-session"),
        region: "eu-west-1",
        url: sts_url("eu-west-1"),
        audience: AWS_PROVIDER,
        sign_target: true,
        at: at(T0_SECS),
    }
    .sign();
    let exchange = client()
        .post(f.sts.token_url())
        .header("Content-Type", "application/x-www-form-urlencoded")
        .body(form(&[
            (
                "grant_type",
                "urn:ietf:params:oauth:grant-type:token-exchange",
            ),
            ("audience", AWS_PROVIDER),
            ("scope", CLOUD_PLATFORM),
            (
                "requested_token_type",
                "urn:ietf:params:oauth:token-type:access_token",
            ),
            (
                "subject_token_type",
                "urn:ietf:params:aws:token-type:aws4_request",
            ),
            ("subject_token", &signed.subject_token(Style::Recommended)),
        ]));
    let federated = assert_ok(&send(exchange).await)["access_token"]
        .as_str()
        .unwrap()
        .to_owned();
    let url = f.iam.generate_access_token_url(SA);
    assert_ok(&f.call(&url, Some(&federated), &scope()).await);
    assert_eq!(
        f.iam.issued_access_tokens()[0].caller_audience,
        AWS_PROVIDER
    );
    assert_eq!(
        f.sts.token_info(&federated).unwrap().subject,
        "ASIAIMDSROLEKEY00001"
    );
}

#[tokio::test]
async fn scripted_errors_faults_and_routing() {
    let f = fixture().await;
    let token = f.token().await;
    let url = f.iam.generate_access_token_url(SA);
    f.iam
        .push_rpc_error(429, "RESOURCE_EXHAUSTED", "Quota exceeded");
    f.iam.push_fault(Fault::status(503));
    let error = assert_rpc_error(
        &f.call(&url, Some(&token), &scope()).await,
        429,
        "RESOURCE_EXHAUSTED",
    );
    assert_eq!(error["message"], "Quota exceeded");
    assert!(error.get("details").is_none());
    assert_eq!(f.call(&url, Some(&token), &scope()).await.status, 503);
    assert_ok(&f.call(&url, Some(&token), &scope()).await);

    let unknown_method = url.replace(":generateAccessToken", ":signBlob");
    assert_eq!(
        f.call(&unknown_method, Some(&token), &scope()).await.status,
        404
    );
    assert_eq!(send(client().get(&url)).await.status, 405);
}

const APP: &str = "app@my-project.iam.gserviceaccount.com";

/// An STS emulator with the OIDC provider and an IAM emulator from `builder` that knows
/// [`APP`] and trusts it, both on the system clock.
async fn app_on(
    builder: IamCredentialsEmulatorBuilder,
) -> (GoogleStsEmulator, IamCredentialsEmulator) {
    let sts = GoogleStsEmulator::builder()
        .provider(ProviderSpec::oidc(PROVIDER))
        .start()
        .await
        .unwrap();
    let iam = builder
        .service_account(ServiceAccountSpec::new(APP, "1234"))
        .start()
        .await
        .unwrap();
    iam.trust_sts(&sts);
    (sts, iam)
}

/// Credentials that federate a live JWT at `sts` (add impersonation to taste).
fn federated(sts: &GoogleStsEmulator) -> ExternalAccountCredentialsBuilder {
    let exp = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_secs()
        + 3600;
    let jwt = GoogleIdentity::shared().sign(&json!({"sub": "workload", "exp": exp}));
    ExternalAccountCredentials::builder()
        .audience(PROVIDER)
        .token_source(StaticToken::new(jwt, TokenType::Jwt))
        .token_url(sts.token_url())
}

fn impersonating(
    sts: &GoogleStsEmulator,
    iam: &IamCredentialsEmulator,
    account: &str,
) -> ExternalAccountCredentials {
    federated(sts)
        .service_account_impersonation_url(iam.generate_access_token_url(account))
        .build()
        .unwrap()
}

/// Federated credentials' `generateIdToken` source for [`APP`], pointed at `iam`.
fn id_token_source(
    sts: &GoogleStsEmulator,
    iam: &IamCredentialsEmulator,
    include_email: bool,
) -> GoogleIdTokenSource {
    let credentials = federated(sts).build().unwrap();
    credentials.id_token_source(
        GenerateIdToken::new(APP, "sts.amazonaws.com")
            .include_email(include_email)
            .base_url(format!("{}/v1", iam.base_url())),
    )
}

#[tokio::test]
async fn what_impersonation_gets_is_recorded() {
    let (sts, iam) = app_on(IamCredentialsEmulator::builder()).await;
    assert!(
        iam.generate_access_token_url(APP)
            .starts_with("http://127.0.0.1:")
    );
    let url = iam.generate_access_token_url(APP);
    assert_eq!(
        url,
        format!(
            "{}/v1/projects/-/serviceAccounts/{APP}:generateAccessToken",
            iam.base_url()
        )
    );
    let credentials = impersonating(&sts, &iam, APP);
    assert_eq!(credentials.service_account(), Some(APP));
    let token = credentials.access_token().await.unwrap();
    let issued = iam.issued_access_tokens();
    assert_eq!(issued.len(), 1);
    assert_eq!(issued[0].access_token, token.token().expose_secret());
    assert_eq!(issued[0].service_account, APP);
    assert_eq!(issued[0].scopes, [CLOUD_PLATFORM]);
    assert_eq!(issued[0].lifetime, Duration::from_secs(3600));
    assert_eq!(
        issued[0].caller_audience, PROVIDER,
        "the provider the caller federated at"
    );
    let request = iam.last_request().unwrap();
    assert!(
        request
            .header("authorization")
            .unwrap()
            .starts_with("Bearer ya29.emulated-"),
        "the STS token"
    );

    // An account the emulator does not know:
    let ghost = impersonating(&sts, &iam, "ghost@my-project.iam.gserviceaccount.com");
    let err = ghost.access_token().await.unwrap_err();
    assert_eq!(err.upstream_code(), Some("NOT_FOUND"));
    assert_eq!(ServiceAccountSpec::new(APP, "1234").email(), APP);
}

#[tokio::test]
async fn what_the_id_token_source_gets_is_recorded() {
    let signer = GoogleIdentity::generate();
    let (sts, iam) = app_on(IamCredentialsEmulator::builder().identity(signer.clone())).await;
    let id_token = id_token_source(&sts, &iam, false)
        .subject_token(&Context::default())
        .await
        .unwrap();
    let jwt = id_token.token().expose_secret();
    assert!(signer.verify(jwt).is_ok());
    assert!(iam.identity().verify(jwt).is_ok());
    let issued = &iam.issued_id_tokens()[0];
    assert_eq!(issued.token, jwt);
    assert_eq!(issued.audience, "sts.amazonaws.com");
    assert!(!issued.include_email);
    let request = iam.last_request().unwrap();
    assert_eq!(
        format!("{}{}", iam.base_url(), request.path),
        iam.generate_id_token_url(APP)
    );

    // The default signer is the shared identity, which AwsStsEmulator trusts by default.
    let (sts, iam) = app_on(IamCredentialsEmulator::builder()).await;
    assert_eq!(iam.identity(), GoogleIdentity::shared());
    let id_token = id_token_source(&sts, &iam, true)
        .subject_token(&Context::default())
        .await
        .unwrap();
    let issued = &iam.issued_id_tokens()[0];
    assert_eq!(issued.token, id_token.token().expose_secret());
    assert!(issued.include_email);
    assert_eq!(crate::decode_payload(&issued.token).unwrap()["email"], APP);
}

#[tokio::test]
async fn expire_times_as_the_credentials_read_them() {
    for digits in [3, 9] {
        let builder = IamCredentialsEmulator::builder().expire_time_fraction_digits(digits);
        let (sts, iam) = app_on(builder).await;
        let token = impersonating(&sts, &iam, APP).access_token().await.unwrap();
        // "expireTime": "…:56.123Z" or "…:56.123456789Z" is read to the last digit.
        assert_eq!(
            token.expires_at(),
            Some(iam.issued_access_tokens()[0].expire_time)
        );
    }

    let start = at(1_800_000_000);
    let clock = ManualClock::new(start);
    let sts = GoogleStsEmulator::builder()
        .clock(clock.clone())
        .provider(ProviderSpec::oidc(PROVIDER))
        .start()
        .await
        .unwrap();
    let iam = IamCredentialsEmulator::builder()
        .clock(clock.clone())
        .service_account(ServiceAccountSpec::new(APP, "1234"))
        .start()
        .await
        .unwrap();
    iam.trust_sts(&sts);
    let jwt = GoogleIdentity::shared().sign(&json!({"sub": "workload", "exp": 1_800_003_600}));
    let credentials = ExternalAccountCredentials::builder()
        .context(Context::builder().clock(clock.clone()).build())
        .audience(PROVIDER)
        .token_source(StaticToken::new(jwt, TokenType::Jwt))
        .token_url(sts.token_url())
        .service_account_impersonation_url(iam.generate_access_token_url(APP))
        .build()
        .unwrap();
    let token = credentials.access_token().await.unwrap();
    assert_eq!(token.expires_at(), Some(start + Duration::from_secs(3600)));
}

#[tokio::test]
async fn extended_lifetimes_and_seeds_as_the_credentials_see_them() {
    let sts = GoogleStsEmulator::builder()
        .provider(ProviderSpec::oidc(PROVIDER))
        .start()
        .await
        .unwrap();
    let iam = IamCredentialsEmulator::builder()
        .service_account(ServiceAccountSpec::new(APP, "1234").allow_extended_lifetime())
        .start()
        .await
        .unwrap();
    iam.trust_sts(&sts);
    let credentials = federated(&sts)
        .service_account_impersonation_url(iam.generate_access_token_url(APP))
        .token_lifetime(Duration::from_secs(12 * 3600))
        .build()
        .unwrap();
    credentials.access_token().await.unwrap();
    assert_eq!(
        iam.issued_access_tokens()[0].lifetime,
        Duration::from_secs(12 * 3600)
    );

    let mut tokens = Vec::new();
    for _ in 0..2 {
        let (sts, iam) = app_on(IamCredentialsEmulator::builder().seed(7)).await;
        let token = impersonating(&sts, &iam, APP).access_token().await.unwrap();
        tokens.push(token.token().expose_secret().to_string());
    }
    assert_eq!(tokens[0], tokens[1]);
}

#[tokio::test]
async fn scripted_errors_as_the_credentials_see_them() {
    let (sts, iam) = app_on(IamCredentialsEmulator::builder()).await;
    let credentials = impersonating(&sts, &iam, APP);
    iam.push_rpc_error(
        403,
        "PERMISSION_DENIED",
        "Permission 'iam.serviceAccounts.getAccessToken' denied",
    );
    let err = credentials.access_token().await.unwrap_err();
    assert_eq!(err.upstream_code(), Some("PERMISSION_DENIED"));
    assert_eq!(err.http_status(), Some(403));

    // 503 is retried: the token arrives on the third attempt.
    let (sts, iam) = app_on(IamCredentialsEmulator::builder()).await;
    iam.push_rpc_error_times(
        503,
        "UNAVAILABLE",
        "The service is currently unavailable.",
        2,
    );
    assert!(impersonating(&sts, &iam, APP).access_token().await.is_ok());
    assert_eq!(iam.request_count(), 3);
}
