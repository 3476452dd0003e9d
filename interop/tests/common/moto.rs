//! What the tests against moto share (`tests/moto.rs`, `tests/aws_broker.rs`): its control
//! API (the auth switch), IAM roles for Google ID tokens, names no other run used. See
//! `tests/moto.rs` for how moto 5.2.5 checks requests.

use std::sync::atomic::{AtomicU32, Ordering};
use std::time::{Duration, SystemTime, UNIX_EPOCH};

/// moto's default account.
pub const ACCOUNT: &str = "123456789012";
pub const REGION: &str = "us-east-1";
pub const SESSION: &str = "interop-test";
pub const AUDIENCE: &str = "sts.amazonaws.com";

/// moto's auth switch is server-global: only one test may use it at a time.
/// (A `tokio` mutex, so a failed test does not poison it for the others.)
pub static MOTO_LOCK: tokio::sync::Mutex<()> = tokio::sync::Mutex::const_new(());

/// The moto endpoint; the test fails without it unless skipping was asked for.
pub fn moto_endpoint() -> Option<String> {
    federated_credentials_interop::required_env("MOTO_ENDPOINT", "a running moto_server")
        .map(|v| v.trim_end_matches('/').to_owned())
}

/// A name no other test (or earlier run against the same server) has used.
/// Lower-case letters, digits and `-` only, so it is also a valid bucket name.
pub fn unique(prefix: &str) -> String {
    static COUNTER: AtomicU32 = AtomicU32::new(0);
    let nanos = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .expect("clock after 1970")
        .subsec_nanos();
    let n = COUNTER.fetch_add(1, Ordering::Relaxed);
    format!("fc-{prefix}-{}-{nanos}-{n}", std::process::id())
}

pub fn policy_allowing(action: &str) -> String {
    format!(
        r#"{{"Version":"2012-10-17","Statement":[{{"Effect":"Allow","Action":"{action}","Resource":"*"}}]}}"#
    )
}

/// The trust policy a real deployment would use for Google-issued ID tokens.
/// (moto does not evaluate it for `AssumeRoleWithWebIdentity`.)
pub fn google_trust_policy() -> String {
    format!(
        r#"{{"Version":"2012-10-17","Statement":[{{"Effect":"Allow","Principal":{{"Federated":"accounts.google.com"}},"Action":"sts:AssumeRoleWithWebIdentity","Condition":{{"StringEquals":{{"accounts.google.com:aud":"{AUDIENCE}"}}}}}}]}}"#
    )
}

/// The text of the first `<tag>` element of an XML document.
pub fn xml_text<'a>(xml: &'a str, tag: &str) -> Option<&'a str> {
    let open = format!("<{tag}>");
    let start = xml.find(&open)? + open.len();
    let len = xml[start..].find(&format!("</{tag}>"))?;
    Some(&xml[start..start + len])
}

/// Plain-HTTP access to moto's control API and to its IAM API.
pub struct Moto {
    pub endpoint: String,
    http: reqwest::Client,
}

impl Moto {
    pub fn new(endpoint: &str) -> Self {
        Moto {
            endpoint: endpoint.to_owned(),
            http: reqwest::Client::builder()
                .timeout(Duration::from_secs(30))
                .build()
                .expect("reqwest client"),
        }
    }

    /// `POST /moto-api/reset-auth`: let the next `allowed` AWS calls through
    /// unchecked and check all later ones (`"inf"`: never check). The body must
    /// be raw: with a form Content-Type moto reads an empty body and fails.
    pub async fn reset_auth(&self, allowed: &str) {
        let resp = self
            .http
            .post(format!("{}/moto-api/reset-auth", self.endpoint))
            .body(allowed.to_owned())
            .send()
            .await
            .expect("POST /moto-api/reset-auth");
        let status = resp.status();
        let body = resp.text().await.unwrap_or_default();
        assert!(
            status.is_success(),
            "reset-auth {allowed}: HTTP {status}: {body}"
        );
    }

    /// Turns checking on, after exactly one unchecked call: the provider's
    /// unsigned `AssumeRoleWithWebIdentity`.
    pub async fn enforce_after_one_call(&self) {
        self.reset_auth("1").await;
    }

    /// One IAM query-protocol call, made while checking is off. The
    /// `Authorization` header is not a valid signature; moto only uses its
    /// credential scope to route the request to IAM.
    pub async fn iam(&self, action: &str, params: &[(&str, &str)]) -> String {
        let mut form = vec![("Action", action), ("Version", "2010-05-08")];
        form.extend_from_slice(params);
        let resp = self
            .http
            .post(format!("{}/", self.endpoint))
            .header(
                "Authorization",
                "AWS4-HMAC-SHA256 Credential=AKIAIOSFODNN7EXAMPLE/20240101/us-east-1/iam/aws4_request, \
                 SignedHeaders=host, Signature=0",
            )
            .form(&form)
            .send()
            .await
            .unwrap_or_else(|e| panic!("IAM {action}: {e}"));
        let status = resp.status();
        let body = resp.text().await.unwrap_or_default();
        assert!(status.is_success(), "IAM {action}: HTTP {status}: {body}");
        body
    }

    /// Creates a role trusted for Google ID tokens, with one inline policy
    /// allowing `allowed_action`, and returns its ARN.
    pub async fn create_role(&self, name: &str, allowed_action: &str) -> String {
        let body = self
            .iam(
                "CreateRole",
                &[
                    ("RoleName", name),
                    ("AssumeRolePolicyDocument", &google_trust_policy()),
                ],
            )
            .await;
        let arn = xml_text(&body, "Arn")
            .unwrap_or_else(|| panic!("no <Arn> in CreateRole response: {body}"))
            .to_owned();
        assert_eq!(arn, format!("arn:aws:iam::{ACCOUNT}:role/{name}"));
        self.iam(
            "PutRolePolicy",
            &[
                ("RoleName", name),
                ("PolicyName", "interop"),
                ("PolicyDocument", &policy_allowing(allowed_action)),
            ],
        )
        .await;
        arn
    }
}

/// An S3 client for moto: its endpoint (from `conf`) with path-style addressing.
pub fn s3_client(conf: &aws_config::SdkConfig) -> aws_sdk_s3::Client {
    aws_sdk_s3::Client::from_conf(
        aws_sdk_s3::config::Builder::from(conf)
            .force_path_style(true)
            .build(),
    )
}

/// Creates `bucket` and puts `body` under `key` in it; a refusal fails the test with the SDK's
/// whole error.
pub async fn create_bucket_and_put(
    s3: &aws_sdk_s3::Client,
    bucket: &str,
    key: &str,
    body: &'static [u8],
) {
    use aws_sdk_s3::error::DisplayErrorContext;
    s3.create_bucket()
        .bucket(bucket)
        .send()
        .await
        .unwrap_or_else(|e| panic!("CreateBucket: {}", DisplayErrorContext(&e)));
    s3.put_object()
        .bucket(bucket)
        .key(key)
        .body(aws_sdk_s3::primitives::ByteStream::from_static(body))
        .send()
        .await
        .unwrap_or_else(|e| panic!("PutObject: {}", DisplayErrorContext(&e)));
}
