//! Interop tests against moto (<https://github.com/getmoto/moto>), an
//! independent implementation of AWS STS, IAM and S3 that verifies SigV4
//! signatures and evaluates IAM policies once "auth enforcement" is on.
//!
//! Run them with `.ci/interop.sh`, which starts a pinned `moto_server` and sets
//! `MOTO_ENDPOINT`. Without `MOTO_ENDPOINT` the tests fail, unless skipping is
//! asked for with `FEDERATED_CREDENTIALS_SKIP_INTEROP=1`.
//!
//! How moto behaves (moto 5.2.5, see the `moto-api` calls below):
//! * `POST /moto-api/reset-auth` with a raw body `N` (no form Content-Type!)
//!   lets the next `N` AWS API calls through without any check, and checks
//!   signatures and IAM policies from then on. `inf` turns checking off. The
//!   switch and its counter are global to the server, so these tests take
//!   [`MOTO_LOCK`] and the script also runs them with `--test-threads=1`.
//! * An *unsigned* `AssumeRoleWithWebIdentity` is answered (any token, no
//!   trust-policy check) only while it is inside that free window; after that
//!   moto fails it with HTTP 500 (it looks for an `Authorization` header). So
//!   every test opens a window of exactly one call for the provider's single
//!   `AssumeRoleWithWebIdentity`, and everything after it is checked.
//! * Credentials from it are checked like real ones: a wrong secret gives
//!   `SignatureDoesNotMatch`, and actions not allowed by the role's policies
//!   give `AccessDenied` (except `sts:GetCallerIdentity`, which is always allowed).

use std::fmt::Debug;
use std::time::{Duration, SystemTime};

use aws_config::retry::RetryConfig;
use aws_config::{BehaviorVersion, Region, SdkConfig};
use aws_credential_types::Credentials;
use aws_credential_types::provider::ProvideCredentials;
use aws_sdk_s3::config::http::HttpResponse;
use aws_sdk_s3::error::{DisplayErrorContext, ProvideErrorMetadata, SdkError};
use aws_sdk_s3::primitives::ByteStream;

use federated_credentials::aws::WebIdentityProvider;
use federated_credentials::context::{Context, StaticEnv};
use federated_credentials::source::GcpMetadataIdentityToken;
use federated_credentials_testkit::GcpMetadataEmulator;

#[path = "common/moto.rs"]
#[allow(dead_code)]
mod moto_support;
use moto_support::*;

/// Serializes the test, turns moto's checking off and returns the handle,
/// or `None` if the test is skipped.
async fn setup() -> Option<(tokio::sync::MutexGuard<'static, ()>, Moto)> {
    let endpoint = moto_endpoint()?;
    let guard = MOTO_LOCK.lock().await;
    let moto = Moto::new(&endpoint);
    moto.reset_auth("inf").await;
    Some((guard, moto))
}

/// The provider under test, pointed at moto and at a local metadata emulator.
fn web_identity_provider(
    mds: &GcpMetadataEmulator,
    moto: &Moto,
    role_arn: &str,
) -> WebIdentityProvider {
    let ctx = Context::builder()
        .env(StaticEnv::from_pairs([("GCE_METADATA_HOST", mds.host())]))
        .build();
    WebIdentityProvider::builder()
        .context(ctx)
        .token_source(GcpMetadataIdentityToken::new(AUDIENCE))
        .role_arn(role_arn)
        .configure_sts(|s| s.session_name(SESSION))
        .configure_sts(|s| s.region(REGION))
        .configure_sts(|s| s.endpoint_url(moto.endpoint.as_str()))
        .build()
        .expect("provider")
}

/// What the SDK needs of a credentials provider.
fn assert_sdk_compatible<T: ProvideCredentials + Clone + Debug + 'static>(_: &T) {}

async fn sdk_config(moto: &Moto, credentials: impl ProvideCredentials + 'static) -> SdkConfig {
    aws_config::defaults(BehaviorVersion::latest())
        .credentials_provider(credentials)
        .region(Region::new(REGION))
        .endpoint_url(&moto.endpoint)
        // No retries: a rejected or failed call must show up as it is, and must
        // not use up moto's unchecked window a second time.
        .retry_config(RetryConfig::disabled())
        .load()
        .await
}

fn assumed_role_arn(role_arn: &str) -> String {
    let role_name = role_arn.rsplit('/').next().expect("role name");
    format!("arn:aws:sts::{ACCOUNT}:assumed-role/{role_name}/{SESSION}")
}

/// The error code of a failed SDK call, failing the test if the call succeeded.
/// Falls back to the `<Code>` in the raw body: moto's auth errors for query
/// services (here STS) use the EC2-style `<ErrorResponse><Errors><Error>`
/// nesting, which the SDK's awsQuery error parser does not read.
fn error_code<T: Debug, E: ProvideErrorMetadata + std::error::Error + 'static>(
    what: &str,
    result: Result<T, SdkError<E, HttpResponse>>,
) -> String {
    let e = match result {
        Ok(v) => panic!("{what}: expected moto to reject the call, but it succeeded: {v:?}"),
        Err(e) => e,
    };
    let raw = e.raw_response();
    let body = raw
        .and_then(|r| r.body().bytes())
        .map(String::from_utf8_lossy)
        .unwrap_or_default();
    eprintln!(
        "{what}: rejected as expected: HTTP {:?}: {body}",
        raw.map(|r| r.status().as_u16())
    );
    match e.code() {
        Some(code) => code.to_owned(),
        None => xml_text(&body, "Code")
            .unwrap_or_else(|| panic!("{what}: no error code: {}", DisplayErrorContext(&e)))
            .to_owned(),
    }
}

#[tokio::test]
async fn provider_credentials_work_for_sts_and_s3() {
    let Some((_guard, moto)) = setup().await else {
        return;
    };
    let role_arn = moto.create_role(&unique("s3-role"), "s3:*").await;
    let bucket = unique("bucket");

    let mds = GcpMetadataEmulator::start().await.unwrap();
    let provider = web_identity_provider(&mds, &moto, &role_arn);
    assert_sdk_compatible(&provider);
    // From here on every call is checked, except the provider's own
    // AssumeRoleWithWebIdentity, made lazily by the SDK's first call.
    moto.enforce_after_one_call().await;
    let conf = sdk_config(&moto, provider.clone()).await;

    let identity = aws_sdk_sts::Client::new(&conf)
        .get_caller_identity()
        .send()
        .await
        .unwrap_or_else(|e| panic!("GetCallerIdentity: {}", DisplayErrorContext(&e)));
    assert_eq!(identity.arn(), Some(assumed_role_arn(&role_arn).as_str()));
    assert_eq!(identity.account(), Some(ACCOUNT));

    let s3 = s3_client(&conf);
    create_bucket_and_put(
        &s3,
        &bucket,
        "hello.txt",
        b"hello from federated-credentials",
    )
    .await;
    let listed = s3
        .list_objects_v2()
        .bucket(&bucket)
        .send()
        .await
        .unwrap_or_else(|e| panic!("ListObjectsV2: {}", DisplayErrorContext(&e)));
    let keys: Vec<&str> = listed.contents().iter().filter_map(|o| o.key()).collect();
    assert_eq!(keys, ["hello.txt"]);
    let buckets = s3
        .list_buckets()
        .send()
        .await
        .unwrap_or_else(|e| panic!("ListBuckets: {}", DisplayErrorContext(&e)));
    assert!(
        buckets
            .buckets()
            .iter()
            .any(|b| b.name() == Some(bucket.as_str())),
        "bucket {bucket} not in ListBuckets"
    );

    moto.reset_auth("inf").await;
}

/// Negative control: moto really checks signatures. The provider's own
/// credentials work; the same call with the same key id and session token but
/// a wrong secret is rejected.
#[tokio::test]
async fn wrong_secret_is_rejected() {
    let Some((_guard, moto)) = setup().await else {
        return;
    };
    let role_arn = moto.create_role(&unique("sig-role"), "s3:*").await;
    let bucket = unique("bucket");

    let mds = GcpMetadataEmulator::start().await.unwrap();
    let provider = web_identity_provider(&mds, &moto, &role_arn);
    moto.enforce_after_one_call().await;
    // The provider's one AssumeRoleWithWebIdentity, called directly.
    let creds = provider
        .provide_credentials()
        .await
        .unwrap_or_else(|e| panic!("provide_credentials: {}", DisplayErrorContext(&e)));
    assert!(creds.access_key_id().starts_with("ASIA"), "{creds:?}");
    assert!(
        creds.session_token().is_some(),
        "no session token: {creds:?}"
    );
    // moto's <Expiration> has microseconds (e.g. 2026-01-01T12:00:00.123456Z).
    let expiry = creds.expiry().expect("assumed-role credentials expire");
    let now = SystemTime::now();
    assert!(
        expiry > now + Duration::from_secs(60),
        "expiry {expiry:?} is not in the future"
    );
    assert!(
        expiry < now + Duration::from_secs(13 * 3600),
        "expiry {expiry:?} too far away"
    );

    let good = s3_client(&sdk_config(&moto, creds.clone()).await);
    good.create_bucket()
        .bucket(&bucket)
        .send()
        .await
        .unwrap_or_else(|e| panic!("CreateBucket: {}", DisplayErrorContext(&e)));
    good.list_objects_v2()
        .bucket(&bucket)
        .send()
        .await
        .unwrap_or_else(|e| panic!("ListObjectsV2: {}", DisplayErrorContext(&e)));

    let mut wrong_secret = creds.secret_access_key().to_owned();
    wrong_secret.replace_range(
        ..4,
        if wrong_secret.starts_with("AAAA") {
            "BBBB"
        } else {
            "AAAA"
        },
    );
    let forged = Credentials::new(
        creds.access_key_id(),
        wrong_secret,
        creds.session_token().map(str::to_owned),
        creds.expiry(),
        "forged",
    );
    let bad_conf = sdk_config(&moto, forged).await;
    let bad = s3_client(&bad_conf);
    let code = error_code(
        "ListObjectsV2 with a wrong secret",
        bad.list_objects_v2().bucket(&bucket).send().await,
    );
    assert_eq!(code, "SignatureDoesNotMatch");
    let code = error_code(
        "PutObject with a wrong secret",
        bad.put_object()
            .bucket(&bucket)
            .key("x")
            .body(ByteStream::from_static(b"x"))
            .send()
            .await,
    );
    assert_eq!(code, "SignatureDoesNotMatch");
    let code = error_code(
        "GetCallerIdentity with a wrong secret",
        aws_sdk_sts::Client::new(&bad_conf)
            .get_caller_identity()
            .send()
            .await,
    );
    assert_eq!(code, "SignatureDoesNotMatch");

    moto.reset_auth("inf").await;
}

/// Negative control: moto really evaluates the role's policies. A role that
/// may not use S3 gets valid credentials (GetCallerIdentity works) but S3
/// calls are denied.
#[tokio::test]
async fn role_without_s3_permission_is_denied() {
    let Some((_guard, moto)) = setup().await else {
        return;
    };
    let role_arn = moto.create_role(&unique("no-s3-role"), "sqs:*").await;
    let bucket = unique("bucket");

    let mds = GcpMetadataEmulator::start().await.unwrap();
    let provider = web_identity_provider(&mds, &moto, &role_arn);
    moto.enforce_after_one_call().await;
    let conf = sdk_config(&moto, provider.clone()).await;

    let identity = aws_sdk_sts::Client::new(&conf)
        .get_caller_identity()
        .send()
        .await
        .unwrap_or_else(|e| panic!("GetCallerIdentity: {}", DisplayErrorContext(&e)));
    assert_eq!(identity.arn(), Some(assumed_role_arn(&role_arn).as_str()));

    let s3 = s3_client(&conf);
    let code = error_code(
        "ListBuckets without s3 permission",
        s3.list_buckets().send().await,
    );
    assert_eq!(code, "AccessDenied");
    let code = error_code(
        "CreateBucket without s3 permission",
        s3.create_bucket().bucket(&bucket).send().await,
    );
    assert_eq!(code, "AccessDenied");

    moto.reset_auth("inf").await;
}
