//! Tests of the IAM Credentials emulator over HTTP, together with a Google STS emulator.

use std::time::Duration;

use serde_json::{json, Value};

use super::*;
use crate::context::ManualClock;
use crate::testkit::google_sts::test_signer::{sts_url, Signer, Style};
use crate::testkit::test_support::{at, client, clock, form, send, Reply, T0_SECS};
use crate::testkit::{AwsStsEmulator, Fault, ProviderSpec, RoleSpec};

const PROVIDER: &str =
    "//iam.googleapis.com/projects/123456/locations/global/workloadIdentityPools/pool/providers/oidc";
const OTHER_PROVIDER: &str =
    "//iam.googleapis.com/projects/123456/locations/global/workloadIdentityPools/pool/providers/other";
const AWS_PROVIDER: &str =
    "//iam.googleapis.com/projects/123456/locations/global/workloadIdentityPools/pool/providers/aws";
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
        assert!(body["accessToken"]
            .as_str()
            .unwrap()
            .starts_with("ya29.c.emulated-"));
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
