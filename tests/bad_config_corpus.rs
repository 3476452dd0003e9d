//! The bad-input corpus: malformed credential configurations, environment combinations and
//! builder misuse. Each must fail at load/build time with a configuration error that names the
//! field, and none may panic.

use std::time::Duration;

use federated_credentials::ErrorKind;
use federated_credentials::aws::WebIdentityProvider;
use federated_credentials::config::ExternalAccountConfig;
use federated_credentials::context::{Context, StaticEnv};
use federated_credentials::exchange::{AssumeRoleWithWebIdentity, Exchange};
use federated_credentials::google::ExternalAccountCredentials;
use federated_credentials::source::{GcpMetadataIdentityToken, StaticToken, TokenFile};
use federated_credentials::token::TokenType;
use serde_json::{Value, json};

const AUD: &str =
    "//iam.googleapis.com/projects/123/locations/global/workloadIdentityPools/p/providers/x";
const WF_AUD: &str = "//iam.googleapis.com/locations/global/workforcePools/p/providers/x";
const JWT: &str = "urn:ietf:params:oauth:token-type:jwt";
const AWS4: &str = "urn:ietf:params:aws:token-type:aws4_request";

fn file_config() -> Value {
    json!({"type":"external_account","audience":AUD,"subject_token_type":JWT,
           "token_url":"https://sts.googleapis.com/v1/token","credential_source":{"file":"/var/run/token"}})
}

fn aws_config() -> Value {
    json!({"type":"external_account","audience":AUD,"subject_token_type":AWS4,
           "token_url":"https://sts.googleapis.com/v1/token",
           "credential_source":{"environment_id":"aws1",
             "region_url":"http://169.254.169.254/latest/meta-data/placement/availability-zone",
             "url":"http://169.254.169.254/latest/meta-data/iam/security-credentials",
             "regional_cred_verification_url":"https://sts.{region}.amazonaws.com?Action=GetCallerIdentity&Version=2011-06-15",
             "imdsv2_session_token_url":"http://169.254.169.254/latest/api/token"}})
}

fn with(mut base: Value, path: &[&str], value: Value) -> Value {
    let mut cur = &mut base;
    for p in &path[..path.len() - 1] {
        cur = cur.get_mut(*p).unwrap();
    }
    cur.as_object_mut()
        .unwrap()
        .insert(path[path.len() - 1].to_string(), value);
    base
}

fn without(mut base: Value, path: &[&str]) -> Value {
    let mut cur = &mut base;
    for p in &path[..path.len() - 1] {
        cur = cur.get_mut(*p).unwrap();
    }
    cur.as_object_mut().unwrap().remove(path[path.len() - 1]);
    base
}

/// (what, document, the field the error must start with)
fn corpus() -> Vec<(&'static str, String, &'static str)> {
    let f = file_config;
    let a = aws_config;
    let imp = "https://iamcredentials.googleapis.com/v1/projects/-/serviceAccounts/sa@p.iam.gserviceaccount.com:generateAccessToken";
    let v = |what, value: Value, field| (what, value.to_string(), field);
    vec![
        ("empty file", String::new(), "(file)"),
        ("whitespace", "   \n".into(), "(file)"),
        ("not json", "type=external_account".into(), "(file)"),
        (
            "truncated json",
            r#"{"type":"external_account","audience":"#.into(),
            "(file)",
        ),
        ("json array", "[]".into(), "(file)"),
        ("json string", "\"external_account\"".into(), "(file)"),
        ("json null", "null".into(), "(file)"),
        (
            "number out of range",
            format!("{{\"type\":{}}}", "9".repeat(400)),
            "(file)",
        ),
        v("type missing", without(f(), &["type"]), "type"),
        v(
            "type service_account",
            with(f(), &["type"], json!("service_account")),
            "type",
        ),
        v(
            "type authorized_user",
            with(f(), &["type"], json!("authorized_user")),
            "type",
        ),
        v("type number", with(f(), &["type"], json!(1)), "type"),
        v("audience missing", without(f(), &["audience"]), "audience"),
        v(
            "audience empty",
            with(f(), &["audience"], json!("")),
            "audience",
        ),
        v(
            "audience object",
            with(f(), &["audience"], json!({})),
            "audience",
        ),
        v(
            "audience array",
            with(f(), &["audience"], json!([AUD])),
            "audience",
        ),
        v(
            "subject_token_type missing",
            without(f(), &["subject_token_type"]),
            "subject_token_type",
        ),
        v(
            "subject_token_type unknown",
            with(f(), &["subject_token_type"], json!("urn:x")),
            "subject_token_type",
        ),
        v(
            "subject_token_type hyphen id-token",
            with(
                f(),
                &["subject_token_type"],
                json!("urn:ietf:params:oauth:token-type:id-token"),
            ),
            "subject_token_type",
        ),
        v(
            "subject_token_type access_token",
            with(
                f(),
                &["subject_token_type"],
                json!("urn:ietf:params:oauth:token-type:access_token"),
            ),
            "subject_token_type",
        ),
        v(
            "aws4 with a file source",
            with(f(), &["subject_token_type"], json!(AWS4)),
            "subject_token_type",
        ),
        v(
            "jwt with an aws source",
            with(a(), &["subject_token_type"], json!(JWT)),
            "subject_token_type",
        ),
        v(
            "token_url http",
            with(
                f(),
                &["token_url"],
                json!("http://sts.googleapis.com/v1/token"),
            ),
            "token_url",
        ),
        v(
            "token_url not a url",
            with(f(), &["token_url"], json!("sts.googleapis.com")),
            "token_url",
        ),
        v(
            "token_url ftp",
            with(
                f(),
                &["token_url"],
                json!("ftp://sts.googleapis.com/v1/token"),
            ),
            "token_url",
        ),
        v(
            "token_url number",
            with(f(), &["token_url"], json!(443)),
            "token_url",
        ),
        v(
            "token_url empty host",
            with(f(), &["token_url"], json!("https://")),
            "token_url",
        ),
        v(
            "impersonation url http",
            with(
                f(),
                &["service_account_impersonation_url"],
                json!(imp.replace("https", "http")),
            ),
            "service_account_impersonation_url",
        ),
        v(
            "impersonation url wrong shape",
            with(
                f(),
                &["service_account_impersonation_url"],
                json!("https://iamcredentials.googleapis.com/v1/x"),
            ),
            "service_account_impersonation_url",
        ),
        v(
            "impersonation url not a url",
            with(
                f(),
                &["service_account_impersonation_url"],
                json!("iamcredentials"),
            ),
            "service_account_impersonation_url",
        ),
        v(
            "lifetime too short",
            with(
                with(f(), &["service_account_impersonation_url"], json!(imp)),
                &["service_account_impersonation"],
                json!({"token_lifetime_seconds": 599}),
            ),
            "service_account_impersonation.token_lifetime_seconds",
        ),
        v(
            "lifetime too long",
            with(
                with(f(), &["service_account_impersonation_url"], json!(imp)),
                &["service_account_impersonation"],
                json!({"token_lifetime_seconds": 43201}),
            ),
            "service_account_impersonation.token_lifetime_seconds",
        ),
        v(
            "lifetime negative",
            with(
                with(f(), &["service_account_impersonation_url"], json!(imp)),
                &["service_account_impersonation"],
                json!({"token_lifetime_seconds": -1}),
            ),
            "service_account_impersonation.token_lifetime_seconds",
        ),
        v(
            "lifetime fractional",
            with(
                with(f(), &["service_account_impersonation_url"], json!(imp)),
                &["service_account_impersonation"],
                json!({"token_lifetime_seconds": 3600.5}),
            ),
            "service_account_impersonation.token_lifetime_seconds",
        ),
        v(
            "lifetime boolean",
            with(
                with(f(), &["service_account_impersonation_url"], json!(imp)),
                &["service_account_impersonation"],
                json!({"token_lifetime_seconds": true}),
            ),
            "service_account_impersonation.token_lifetime_seconds",
        ),
        v(
            "lifetime without impersonation",
            with(
                f(),
                &["service_account_impersonation"],
                json!({"token_lifetime_seconds": 3600}),
            ),
            "service_account_impersonation.token_lifetime_seconds",
        ),
        v(
            "impersonation not an object",
            with(f(), &["service_account_impersonation"], json!(3600)),
            "service_account_impersonation",
        ),
        v(
            "workforce project on workload pool",
            with(f(), &["workforce_pool_user_project"], json!("p")),
            "workforce_pool_user_project",
        ),
        v(
            "client_secret without client_id",
            with(f(), &["client_secret"], json!("s")),
            "client_secret",
        ),
        v(
            "client_id number",
            with(f(), &["client_id"], json!(7)),
            "client_id",
        ),
        v(
            "quota project number",
            with(f(), &["quota_project_id"], json!(7)),
            "quota_project_id",
        ),
        v(
            "quota project with a header break",
            with(f(), &["quota_project_id"], json!("proj\r\nx-injected: 1")),
            "quota_project_id",
        ),
        v(
            "scopes string",
            with(f(), &["scopes"], json!("a b")),
            "scopes",
        ),
        v(
            "scopes with a number",
            with(f(), &["scopes"], json!(["a", 1])),
            "scopes",
        ),
        v(
            "universe_domain url",
            with(f(), &["universe_domain"], json!("https://googleapis.com")),
            "universe_domain",
        ),
        v(
            "universe_domain empty",
            with(f(), &["universe_domain"], json!("")),
            "universe_domain",
        ),
        v(
            "misspelled audience",
            with(f(), &["audiance"], json!(AUD)),
            "audiance",
        ),
        v(
            "misspelled token_url",
            with(f(), &["token_uri"], json!("https://x")),
            "token_uri",
        ),
        v(
            "credential_source missing",
            without(f(), &["credential_source"]),
            "credential_source",
        ),
        v(
            "credential_source string",
            with(f(), &["credential_source"], json!("/var/run/token")),
            "credential_source",
        ),
        v(
            "credential_source empty",
            with(f(), &["credential_source"], json!({})),
            "credential_source",
        ),
        v(
            "file and url",
            with(f(), &["credential_source", "url"], json!("http://x/")),
            "credential_source",
        ),
        v(
            "file and executable",
            with(
                f(),
                &["credential_source", "executable"],
                json!({"command":"/x"}),
            ),
            "credential_source",
        ),
        v(
            "aws and file",
            with(a(), &["credential_source", "file"], json!("/x")),
            "credential_source",
        ),
        v(
            "certificate source",
            with(
                f(),
                &["credential_source"],
                json!({"certificate":{"use_default_certificate_config":true}}),
            ),
            "credential_source.certificate",
        ),
        v(
            "file empty",
            with(f(), &["credential_source", "file"], json!("")),
            "credential_source.file",
        ),
        v(
            "file number",
            with(f(), &["credential_source", "file"], json!(1)),
            "credential_source.file",
        ),
        v(
            "format json without field",
            with(
                f(),
                &["credential_source", "format"],
                json!({"type":"json"}),
            ),
            "credential_source.format.subject_token_field_name",
        ),
        v(
            "format unknown type",
            with(
                f(),
                &["credential_source", "format"],
                json!({"type":"yaml"}),
            ),
            "credential_source.format.type",
        ),
        v(
            "format not an object",
            with(f(), &["credential_source", "format"], json!("text")),
            "credential_source.format",
        ),
        v(
            "url invalid",
            json!({"type":"external_account","audience":AUD,"subject_token_type":JWT,"credential_source":{"url":"::"}}),
            "credential_source.url",
        ),
        v(
            "url file scheme",
            json!({"type":"external_account","audience":AUD,"subject_token_type":JWT,"credential_source":{"url":"file:///etc/passwd"}}),
            "credential_source.url",
        ),
        v(
            "url headers not strings",
            json!({"type":"external_account","audience":AUD,"subject_token_type":JWT,"credential_source":{"url":"http://x/","headers":{"a":[1]}}}),
            "credential_source.headers.a",
        ),
        v(
            "url headers array",
            json!({"type":"external_account","audience":AUD,"subject_token_type":JWT,"credential_source":{"url":"http://x/","headers":["a"]}}),
            "credential_source.headers",
        ),
        v(
            "executable without command",
            json!({"type":"external_account","audience":AUD,"subject_token_type":JWT,"credential_source":{"executable":{}}}),
            "credential_source.executable.command",
        ),
        v(
            "executable empty command",
            json!({"type":"external_account","audience":AUD,"subject_token_type":JWT,"credential_source":{"executable":{"command":" "}}}),
            "credential_source.executable.command",
        ),
        v(
            "executable timeout low",
            json!({"type":"external_account","audience":AUD,"subject_token_type":JWT,"credential_source":{"executable":{"command":"/x","timeout_millis":4999}}}),
            "credential_source.executable.timeout_millis",
        ),
        v(
            "executable timeout high",
            json!({"type":"external_account","audience":AUD,"subject_token_type":JWT,"credential_source":{"executable":{"command":"/x","timeout_millis":120001}}}),
            "credential_source.executable.timeout_millis",
        ),
        v(
            "executable timeout string",
            json!({"type":"external_account","audience":AUD,"subject_token_type":JWT,"credential_source":{"executable":{"command":"/x","timeout_millis":"soon"}}}),
            "credential_source.executable.timeout_millis",
        ),
        v(
            "executable not an object",
            json!({"type":"external_account","audience":AUD,"subject_token_type":JWT,"credential_source":{"executable":"/x"}}),
            "credential_source.executable",
        ),
        v(
            "aws2",
            with(a(), &["credential_source", "environment_id"], json!("aws2")),
            "credential_source.environment_id",
        ),
        v(
            "aws10",
            with(
                a(),
                &["credential_source", "environment_id"],
                json!("aws10"),
            ),
            "credential_source.environment_id",
        ),
        v(
            "azure1",
            with(
                a(),
                &["credential_source", "environment_id"],
                json!("azure1"),
            ),
            "credential_source.environment_id",
        ),
        v(
            "aws without version",
            with(a(), &["credential_source", "environment_id"], json!("aws")),
            "credential_source.environment_id",
        ),
        v(
            "environment_id number",
            with(a(), &["credential_source", "environment_id"], json!(1)),
            "credential_source.environment_id",
        ),
        v(
            "region_url off IMDS",
            with(
                a(),
                &["credential_source", "region_url"],
                json!("http://metadata.example.com/az"),
            ),
            "credential_source.region_url",
        ),
        v(
            "credentials url off IMDS",
            with(
                a(),
                &["credential_source", "url"],
                json!("http://10.0.0.1/creds"),
            ),
            "credential_source.url",
        ),
        v(
            "imdsv2 url off IMDS",
            with(
                a(),
                &["credential_source", "imdsv2_session_token_url"],
                json!("http://169.254.169.253/latest/api/token"),
            ),
            "credential_source.imdsv2_session_token_url",
        ),
        v(
            "imdsv2 url not a url",
            with(
                a(),
                &["credential_source", "imdsv2_session_token_url"],
                json!("latest/api/token"),
            ),
            "credential_source.imdsv2_session_token_url",
        ),
        v(
            "regional url not sts",
            with(
                a(),
                &["credential_source", "regional_cred_verification_url"],
                json!("https://evil.example.com/?Action=GetCallerIdentity"),
            ),
            "credential_source.regional_cred_verification_url",
        ),
        v(
            "regional url http",
            with(
                a(),
                &["credential_source", "regional_cred_verification_url"],
                json!(
                    "http://sts.{region}.amazonaws.com?Action=GetCallerIdentity&Version=2011-06-15"
                ),
            ),
            "credential_source.regional_cred_verification_url",
        ),
    ]
}

fn build(
    json: &str,
    env: StaticEnv,
) -> Result<ExternalAccountCredentials, federated_credentials::Error> {
    let config = ExternalAccountConfig::from_json(json)?;
    ExternalAccountCredentials::builder()
        .context(Context::builder().env(env).build())
        .config(config)
        .build()
}

#[test]
fn every_malformed_configuration_names_its_field() {
    let corpus = corpus();
    assert!(corpus.len() >= 60, "the corpus has {} cases", corpus.len());
    let mut failures = Vec::new();
    for (what, doc, field) in corpus {
        let outcome = std::panic::catch_unwind(|| build(&doc, StaticEnv::empty()));
        match outcome {
            Err(_) => failures.push(format!("{what}: panicked")),
            Ok(Ok(_)) => failures.push(format!("{what}: accepted")),
            Ok(Err(e)) => {
                if e.kind() != ErrorKind::Configuration {
                    failures.push(format!("{what}: kind {:?}: {e}", e.kind()));
                }
                let msg = e.message();
                if !msg.starts_with(&format!("{field}:")) {
                    failures.push(format!("{what}: expected `{field}:` in `{msg}`"));
                }
            }
        }
    }
    assert!(
        failures.is_empty(),
        "{} failures:\n{}",
        failures.len(),
        failures.join("\n")
    );
}

#[test]
fn huge_and_odd_files_fail_cleanly() {
    let dir = tempfile::tempdir().unwrap();
    let huge = dir.path().join("huge.json");
    std::fs::write(&huge, vec![b' '; 2 * 1024 * 1024]).unwrap();
    let err = ExternalAccountConfig::from_file(&huge).unwrap_err();
    assert!(err.message().contains("bytes"), "{err}");
    let binary = dir.path().join("bin.json");
    std::fs::write(&binary, [0xff, 0xfe, 0x00, 0x7b]).unwrap();
    assert_eq!(
        ExternalAccountConfig::from_file(&binary)
            .unwrap_err()
            .kind(),
        ErrorKind::Configuration
    );
    let deep = "[".repeat(100_000);
    assert!(ExternalAccountConfig::from_json(&deep).is_err());
    assert!(
        ExternalAccountConfig::from_file(dir.path()).is_err(),
        "a directory"
    );
    assert!(
        ExternalAccountConfig::from_file(dir.path().join("missing.json"))
            .unwrap_err()
            .message()
            .contains("no such file")
    );
}

#[test]
fn environment_combinations() {
    // GOOGLE_APPLICATION_CREDENTIALS unset, empty, or pointing nowhere
    for env in [
        StaticEnv::empty(),
        StaticEnv::from_pairs([("GOOGLE_APPLICATION_CREDENTIALS", " ")]),
    ] {
        let err =
            ExternalAccountConfig::from_env(&Context::builder().env(env).build()).unwrap_err();
        assert!(
            err.message().starts_with("GOOGLE_APPLICATION_CREDENTIALS"),
            "{err}"
        );
    }
    let err = ExternalAccountConfig::from_env(
        &Context::builder()
            .env(StaticEnv::from_pairs([(
                "GOOGLE_APPLICATION_CREDENTIALS",
                "/nonexistent.json",
            )]))
            .build(),
    )
    .unwrap_err();
    assert!(err.message().contains("/nonexistent.json"), "{err}");

    // AWS web identity environment
    let aws = |pairs: Vec<(&str, &str)>| {
        WebIdentityProvider::builder()
            .context(Context::builder().env(StaticEnv::from_pairs(pairs)).build())
            .configure_from_env()
            .build()
            .map(|_| ())
            .unwrap_err()
            .message()
            .to_string()
    };
    assert!(aws(vec![]).starts_with("token_source"));
    assert!(aws(vec![("AWS_WEB_IDENTITY_TOKEN_FILE", "/t")]).starts_with("role_arn"));
    assert!(
        aws(vec![
            ("AWS_WEB_IDENTITY_TOKEN_FILE", "/t"),
            ("AWS_ROLE_ARN", "role")
        ])
        .starts_with("role_arn")
    );
    assert!(
        aws(vec![
            ("AWS_WEB_IDENTITY_TOKEN_FILE", "/t"),
            ("AWS_ROLE_ARN", "arn:aws:iam::123456789012:role/r"),
            ("AWS_ROLE_SESSION_NAME", "x")
        ])
        .starts_with("role_session_name")
    );
    assert!(
        aws(vec![
            ("AWS_WEB_IDENTITY_TOKEN_FILE", "/t"),
            ("AWS_ROLE_ARN", "arn:aws:iam::123456789012:role/r"),
            ("AWS_REGION", "us east")
        ])
        .starts_with("AWS_REGION")
    );
    assert!(
        aws(vec![
            ("AWS_WEB_IDENTITY_TOKEN_FILE", "/t"),
            ("AWS_ROLE_ARN", "arn:aws:iam::123456789012:role/r"),
            ("AWS_ENDPOINT_URL_STS", "localhost:4566")
        ])
        .starts_with("AWS_ENDPOINT_URL_STS")
    );
    assert!(
        aws(vec![
            ("FEDERATED_CREDENTIALS_GCP_AUDIENCE", " "),
            ("AWS_ROLE_ARN", "arn:aws:iam::123456789012:role/r")
        ])
        .starts_with("token_source")
    );

    // an executable configuration loads, but will not run without the allow variable
    let exe = json!({"type":"external_account","audience":AUD,"subject_token_type":JWT,"credential_source":{"executable":{"command":"/bin/echo"}}});
    let creds = build(&exe.to_string(), StaticEnv::empty()).unwrap();
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap();
    let err = rt.block_on(creds.access_token()).unwrap_err();
    assert_eq!(err.kind(), ErrorKind::Configuration);
    assert!(
        err.message()
            .contains("GOOGLE_EXTERNAL_ACCOUNT_ALLOW_EXECUTABLES"),
        "{err}"
    );
    // a workforce audience with a user project is fine
    let wf = json!({"type":"external_account","audience":WF_AUD,"subject_token_type":JWT,"workforce_pool_user_project":"p","credential_source":{"file":"/t"}});
    assert!(build(&wf.to_string(), StaticEnv::empty()).is_ok());
}

#[test]
fn builder_misuse() {
    let ctx = || Context::builder().env(StaticEnv::empty()).build();
    let role = "arn:aws:iam::123456789012:role/r";
    let base = || {
        WebIdentityProvider::builder()
            .context(ctx())
            .token_source(StaticToken::new("abcd", TokenType::Jwt))
            .role_arn(role)
    };
    let err = |b: federated_credentials::aws::WebIdentityProviderBuilder| {
        b.build().unwrap_err().message().to_string()
    };
    assert!(
        err(base().configure_sts(|s| s.duration(Duration::from_secs(899))))
            .starts_with("duration_seconds")
    );
    assert!(
        err(base().configure_sts(|s| s.duration(Duration::from_secs(43201))))
            .starts_with("duration_seconds")
    );
    assert!(err(base().configure_sts(|s| s.session_name("a"))).starts_with("role_session_name"));
    assert!(
        err(base().configure_sts(|s| s.session_name("bad\nname"))).starts_with("role_session_name")
    );
    assert!(err(base().configure_sts(|s| s.policy(""))).starts_with("policy"));
    assert!(
        err(base().configure_sts(
            |s| s.policy_arns((0..11).map(|i| format!("arn:aws:iam::aws:policy/p{i}")))
        ))
        .starts_with("policy_arns")
    );
    assert!(err(base().configure_sts(|s| s.region("us-east-1/../x"))).starts_with("region"));
    assert!(err(base().configure_sts(|s| s.endpoint_url("not a url"))).starts_with("endpoint_url"));
    assert!(err(base().configure_sts(|s| s.fips(true))).starts_with("region"));
    assert!(
        err(WebIdentityProvider::builder()
            .context(ctx())
            .token_source(GcpMetadataIdentityToken::new(""))
            .role_arn(role))
        .starts_with("audience")
    );
    assert!(
        err(WebIdentityProvider::builder()
            .context(ctx())
            .token_source(GcpMetadataIdentityToken::new("a").service_account("a/b"))
            .role_arn(role))
        .starts_with("service_account")
    );
    assert!(
        err(WebIdentityProvider::builder()
            .context(ctx())
            .token_source(TokenFile::json("/t", ""))
            .role_arn(role))
        .starts_with("format.subject_token_field_name")
    );
    assert!(
        err(WebIdentityProvider::builder()
            .context(ctx())
            .token_source(StaticToken::new("", TokenType::Jwt))
            .role_arn(role))
        .starts_with("token_source")
    );
    assert!(
        AssumeRoleWithWebIdentity::new("nope")
            .validate(&ctx())
            .unwrap_err()
            .message()
            .starts_with("role_arn")
    );

    let g = || {
        ExternalAccountCredentials::builder()
            .context(ctx())
            .token_source(StaticToken::new("abcd", TokenType::Jwt))
    };
    let gerr = |b: federated_credentials::google::ExternalAccountCredentialsBuilder| {
        b.build().unwrap_err().message().to_string()
    };
    assert!(gerr(g()).starts_with("audience"));
    assert!(
        gerr(g().audience(AUD).quota_project_id("p\nx-injected: 1"))
            .starts_with("quota_project_id")
    );
    assert!(
        gerr(
            g().audience(AUD)
                .token_url("http://sts.googleapis.com/v1/token")
        )
        .starts_with("token_url")
    );
    assert!(
        gerr(g().audience(AUD).workforce_pool_user_project("p"))
            .starts_with("workforce_pool_user_project")
    );
    assert!(
        gerr(
            g().audience(AUD)
                .service_account_impersonation_url("https://x/y")
        )
        .starts_with("service_account_impersonation_url")
    );
    assert!(
        gerr(g().audience(AUD).token_lifetime(Duration::from_secs(3600)))
            .starts_with("token_lifetime")
    );
    assert!(gerr(g().audience(AUD).scopes(Vec::<String>::new()).service_account_impersonation_url("https://iamcredentials.googleapis.com/v1/projects/-/serviceAccounts/a@b:generateAccessToken")).starts_with("scopes"));
    assert!(gerr(g().audience(AUD).client_credentials("a:b", "s")).starts_with("client_id"));
}
