//! Golden SigV4 vectors and the exact serialized shape of the token.

use std::time::{Duration, UNIX_EPOCH};

use super::*;
use crate::context::{ManualClock, StaticEnv};
use crate::source::aws::AwsEnvironment;

const AKID: &str = "AKIAIOSFODNN7EXAMPLE";
const SECRET: &str = "wJalrXUtnFEMI/K7MDENG/bPxRfiCYEXAMPLEKEY";
const REGION: &str = "us-east-2";
/// 2020-08-11T06:55:22Z
const TIME_SECS: u64 = 1_597_128_922;
const URL: &str = "https://sts.us-east-2.amazonaws.com?Action=GetCallerIdentity&Version=2011-06-15";
const TOKEN: &str = "AQoEXAMPLEH4aoAH0gNCAPyJxz4BlCFFxWNE1OPTgk5TthT+FvwqnKwRcOIfrRh3c/LTo6UDdyJwOOvEVPvLXCrrrUtdnniCEXAMPLE/IvU1dYUg2RVAJBanLiHb4IgRmpRV3zrkuWJOgQs8IZZaIv2BXIa2R4OlgkBN9bkUDNCJiBeb/AXlzBBko7b15fjrBs2+cTQtpZ3CYWFXG8C5zqx37wnOE49mRl/+OtkIKGO7fAE";
const AUDIENCE: &str = "//iam.googleapis.com/projects/123456/locations/global/workloadIdentityPools/POOL_ID/providers/PROVIDER_ID";

fn ctx(with_token: bool) -> Context {
    let mut env = StaticEnv::from_pairs([
        ("AWS_ACCESS_KEY_ID", AKID),
        ("AWS_SECRET_ACCESS_KEY", SECRET),
        ("AWS_REGION", REGION),
    ]);
    if with_token {
        env = env.with("AWS_SESSION_TOKEN", TOKEN);
    }
    Context::builder()
        .env(env)
        .clock(ManualClock::new(
            UNIX_EPOCH + Duration::from_secs(TIME_SECS),
        ))
        .build()
}

/// Percent-decodes the token and parses the JSON.
fn decode(token: &str) -> serde_json::Value {
    let bytes: Vec<u8> = url::form_urlencoded::parse(format!("x={token}").as_bytes())
        .next()
        .map(|(_, v)| v.into_owned().into_bytes())
        .unwrap();
    serde_json::from_slice(&bytes).unwrap()
}

fn header<'a>(json: &'a serde_json::Value, name: &str) -> Option<&'a str> {
    json["headers"]
        .as_array()
        .unwrap()
        .iter()
        .find(|h| h["key"].as_str().unwrap().eq_ignore_ascii_case(name))
        .map(|h| h["value"].as_str().unwrap())
}

async fn token(with_token: bool, sign_target: bool) -> SubjectToken {
    let mut source = AwsSignedRequestToken::new(AwsEnvironment::new(), AUDIENCE);
    if !sign_target {
        source = source.without_signed_target_resource();
    }
    source.subject_token(&ctx(with_token)).await.unwrap()
}

#[tokio::test]
async fn golden_vectors_of_protocols_4_3() {
    let cases = [
        (
            false,
            false,
            "host;x-amz-date",
            "9e722e5b7bfa163447e2a14df118b45ebd283c5aea72019bdf921d6e7dc01a9a",
        ),
        (
            true,
            false,
            "host;x-amz-date;x-amz-security-token",
            "596aa990b792d763465d73703e684ca273c45536c6d322c31be01a41d02e5b60",
        ),
        (
            false,
            true,
            "host;x-amz-date;x-goog-cloud-target-resource",
            "fae09118e41357ad87677b120e1977871dadb5d8b4110e6d46fb50c8f7a4ff7f",
        ),
        (
            true,
            true,
            "host;x-amz-date;x-amz-security-token;x-goog-cloud-target-resource",
            "460b491cd92b746345219747e679bf55541e3f8bb18eb11516305dbecded91b8",
        ),
    ];
    for (with_token, sign_target, signed_headers, signature) in cases {
        let t = token(with_token, sign_target).await;
        let json = decode(t.token().expose_secret());
        let expected = format!(
            "AWS4-HMAC-SHA256 Credential={AKID}/20200811/us-east-2/sts/aws4_request, SignedHeaders={signed_headers}, Signature={signature}"
        );
        assert_eq!(header(&json, "Authorization"), Some(expected.as_str()));
    }
}

#[tokio::test]
async fn serialization_has_the_exact_shape_and_order() {
    let t = token(true, true).await;
    assert_eq!(t.token_type(), TokenType::Aws4Request);
    let encoded = t.token().expose_secret();
    assert!(
        encoded
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b"-_.~%".contains(&b))
    );
    let authorization = "AWS4-HMAC-SHA256 Credential=AKIAIOSFODNN7EXAMPLE/20200811/us-east-2/sts/aws4_request, SignedHeaders=host;x-amz-date;x-amz-security-token;x-goog-cloud-target-resource, Signature=460b491cd92b746345219747e679bf55541e3f8bb18eb11516305dbecded91b8";
    let expected = format!(
        concat!(
            r#"{{"url":"{URL}","method":"POST","headers":["#,
            r#"{{"key":"host","value":"sts.us-east-2.amazonaws.com"}},"#,
            r#"{{"key":"x-amz-date","value":"20200811T065522Z"}},"#,
            r#"{{"key":"x-amz-security-token","value":"{TOKEN}"}},"#,
            r#"{{"key":"x-goog-cloud-target-resource","value":"{AUDIENCE}"}},"#,
            r#"{{"key":"Authorization","value":"{AUTH}"}}]}}"#
        ),
        URL = URL,
        TOKEN = TOKEN,
        AUDIENCE = AUDIENCE,
        AUTH = authorization
    );
    assert_eq!(encoded, percent_encode_all(&expected));

    // Decoding gives back the same request, and the signed list matches the headers sent.
    let json = decode(encoded);
    assert_eq!(json["url"], URL);
    assert_eq!(json["method"], "POST");
    let keys: Vec<&str> = json["headers"]
        .as_array()
        .unwrap()
        .iter()
        .map(|h| h["key"].as_str().unwrap())
        .collect();
    assert_eq!(
        keys,
        [
            "host",
            "x-amz-date",
            "x-amz-security-token",
            TARGET_RESOURCE,
            "Authorization"
        ]
    );
    assert_eq!(header(&json, TARGET_RESOURCE), Some(AUDIENCE));
    let auth = header(&json, "Authorization").unwrap();
    let signed = auth
        .split(", ")
        .find_map(|p| p.strip_prefix("SignedHeaders="))
        .unwrap();
    let lower: Vec<String> = keys[..keys.len() - 1]
        .iter()
        .map(|k| k.to_ascii_lowercase())
        .collect();
    assert_eq!(signed, lower.join(";"));
}

#[tokio::test]
async fn no_session_token_header_without_a_token_and_expiry_is_15_minutes() {
    let t = token(false, true).await;
    let json = decode(t.token().expose_secret());
    assert_eq!(header(&json, "x-amz-security-token"), None);
    assert_eq!(json["headers"].as_array().unwrap().len(), 4);
    assert_eq!(
        t.expires_at(),
        Some(UNIX_EPOCH + Duration::from_secs(TIME_SECS + 900))
    );
    // An empty AWS_SESSION_TOKEN is the same as none.
    let c = Context::builder()
        .env(
            StaticEnv::from_pairs([
                ("AWS_ACCESS_KEY_ID", AKID),
                ("AWS_SECRET_ACCESS_KEY", SECRET),
                ("AWS_REGION", REGION),
            ])
            .with("AWS_SESSION_TOKEN", ""),
        )
        .clock(ManualClock::new(
            UNIX_EPOCH + Duration::from_secs(TIME_SECS),
        ))
        .build();
    let source = AwsSignedRequestToken::new(AwsEnvironment::new(), AUDIENCE);
    let t2 = source.subject_token(&c).await.unwrap();
    assert_eq!(t2.token().expose_secret(), t.token().expose_secret());
}

#[test]
fn expiry_is_capped_by_the_credentials() {
    #[derive(Debug)]
    struct Short;
    #[async_trait]
    impl AwsIdentitySource for Short {
        async fn region(&self, _: &Context) -> Result<String, Error> {
            Ok("eu-west-1".into())
        }
        async fn credentials(&self, ctx: &Context) -> Result<Credentials, Error> {
            Ok(Credentials::new(
                AKID,
                SECRET,
                Some(TOKEN.into()),
                Some(ctx.now() + Duration::from_secs(60)),
                "t",
            ))
        }
        fn name(&self) -> &'static str {
            "short"
        }
    }
    let rt = tokio::runtime::Builder::new_current_thread()
        .build()
        .unwrap();
    let c = ctx(false);
    let t = rt
        .block_on(AwsSignedRequestToken::new(Short, AUDIENCE).subject_token(&c))
        .unwrap();
    assert_eq!(t.expires_at(), Some(c.now() + Duration::from_secs(60)));
    let json = decode(t.token().expose_secret());
    assert_eq!(
        json["url"],
        "https://sts.eu-west-1.amazonaws.com?Action=GetCallerIdentity&Version=2011-06-15"
    );
}

/// The checks the documentation's examples used to make.
#[tokio::test]
async fn documented_shapes_urls_and_sharing() {
    let ctx = |region: &str| {
        Context::builder()
            .env(StaticEnv::from_pairs([
                ("AWS_ACCESS_KEY_ID", "AKIDEXAMPLE"),
                (
                    "AWS_SECRET_ACCESS_KEY",
                    "wJalrXUtnFEMI/K7MDENG+bPxRfiCYEXAMPLEKEY",
                ),
                ("AWS_REGION", region),
            ]))
            .build()
    };
    let audience = "//iam.googleapis.com/projects/123456/locations/global/workloadIdentityPools/pool/providers/aws";
    assert!(DEFAULT_REGIONAL_CRED_VERIFICATION_URL.contains("{region}"));
    let source = AwsSignedRequestToken::new(AwsEnvironment::new(), audience);
    assert!(source.audience().ends_with("/providers/aws"));

    let token = source.subject_token(&ctx("us-east-2")).await.unwrap();
    assert_eq!(token.token_type(), TokenType::Aws4Request);
    assert!(
        token
            .token()
            .expose_secret()
            .starts_with("%7B%22url%22%3A%22https%3A%2F%2Fsts.us-east-2.")
    );

    let request = decode(
        source
            .subject_token(&ctx("eu-west-1"))
            .await
            .unwrap()
            .token()
            .expose_secret(),
    );
    assert_eq!(
        request["url"],
        "https://sts.eu-west-1.amazonaws.com?Action=GetCallerIdentity&Version=2011-06-15"
    );
    assert_eq!(request["method"], "POST");
    let headers = request["headers"].as_array().unwrap();
    let keys: Vec<&str> = headers.iter().map(|h| h["key"].as_str().unwrap()).collect();
    assert_eq!(
        keys,
        [
            "host",
            "x-amz-date",
            "x-goog-cloud-target-resource",
            "Authorization"
        ]
    );
    assert_eq!(headers[2]["value"], audience);

    let fips = AwsSignedRequestToken::new(AwsEnvironment::new(), audience)
        .regional_cred_verification_url(
            "https://sts-fips.{region}.amazonaws.com?Action=GetCallerIdentity&Version=2011-06-15",
        );
    let request = decode(
        fips.subject_token(&ctx("eu-west-1"))
            .await
            .unwrap()
            .token()
            .expose_secret(),
    );
    assert!(
        request["url"]
            .as_str()
            .unwrap()
            .starts_with("https://sts-fips.eu-west-1.amazonaws.com")
    );
    let elsewhere = AwsSignedRequestToken::new(AwsEnvironment::new(), audience)
        .regional_cred_verification_url("https://example.com?Action=GetCallerIdentity");
    assert!(elsewhere.validate().is_err());

    let imds: Arc<dyn AwsIdentitySource> = Arc::new(crate::source::aws::Ec2InstanceMetadata::new());
    let prod = AwsSignedRequestToken::from_shared(imds.clone(), audience);
    let logs = AwsSignedRequestToken::from_shared(imds.clone(), audience);
    assert!(Arc::ptr_eq(prod.identity(), logs.identity()));
    let aws1 = AwsSignedRequestToken::new(crate::source::aws::Aws1Source::default(), audience);
    assert_eq!(aws1.identity().name(), "aws1");
}

#[test]
fn template_validation_names_the_setting() {
    let make = |t: &str| {
        AwsSignedRequestToken::new(AwsEnvironment::new(), AUDIENCE)
            .regional_cred_verification_url(t)
    };
    for ok in [
        DEFAULT_REGIONAL_CRED_VERIFICATION_URL,
        "https://sts.us-east-1.amazonaws.com?Action=GetCallerIdentity&Version=2011-06-15",
        "https://sts-fips.{region}.amazonaws.com/?Action=GetCallerIdentity&Version=2011-06-15",
        "https://sts.{region}.amazonaws.com.cn?Action=GetCallerIdentity&Version=2011-06-15",
    ] {
        make(ok).validate().unwrap_or_else(|e| panic!("{ok}: {e}"));
    }
    for bad in [
        "http://sts.{region}.amazonaws.com?Action=GetCallerIdentity&Version=2011-06-15",
        "https://sts.{region}.evil.com?Action=GetCallerIdentity&Version=2011-06-15",
        "https://evil.com/sts.{region}.amazonaws.com?Action=GetCallerIdentity",
        "https://sts.amazonaws.com?Action=GetCallerIdentity&Version=2011-06-15",
        "https://sts.{region}.amazonaws.com?Action=AssumeRole&Version=2011-06-15",
        "not a url",
    ] {
        let err = make(bad).validate().unwrap_err();
        assert_eq!(err.kind(), ErrorKind::Configuration, "{bad}");
        assert!(err.message().starts_with(URL_SETTING), "{err}");
    }
    let err = AwsSignedRequestToken::new(AwsEnvironment::new(), " ")
        .validate()
        .unwrap_err();
    assert!(err.message().starts_with("audience"));
}

#[test]
fn service_name_and_encoding_helpers() {
    assert_eq!(service_for("sts.us-east-1.amazonaws.com"), "sts");
    assert_eq!(service_for("sts-fips.us-east-1.amazonaws.com"), "sts");
    assert_eq!(percent_encode_all("a b/+~é"), "a%20b%2F%2B~%C3%A9");
}

#[tokio::test]
async fn nothing_secret_in_debug_or_errors() {
    let t = token(true, true).await;
    let source = AwsSignedRequestToken::new(AwsEnvironment::new(), AUDIENCE);
    let rendered = format!("{t:?} {source:?}");
    assert!(
        !rendered.contains(SECRET) && !rendered.contains(TOKEN),
        "{rendered}"
    );
}
