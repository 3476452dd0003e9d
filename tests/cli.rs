//! The `federated-credentials` binary against the loopback emulators: the
//! `credential_process` JSON, the identity token, and one-line errors with a non-zero exit.

use std::process::Output;
use std::time::Duration;

use federated_credentials_testkit::{AwsStsEmulator, GcpMetadataEmulator, RoleSpec, StsErrorCode};

const AUDIENCE: &str = "sts.amazonaws.com";

async fn run(args: Vec<String>, env: Vec<(&'static str, String)>) -> Output {
    tokio::task::spawn_blocking(move || {
        let mut cmd = std::process::Command::new(env!("CARGO_BIN_EXE_federated-credentials"));
        cmd.args(&args).env_clear();
        for (k, v) in env {
            cmd.env(k, v);
        }
        cmd.output().expect("run the binary")
    })
    .await
    .unwrap()
}

async fn world() -> (GcpMetadataEmulator, AwsStsEmulator, String) {
    let mds = GcpMetadataEmulator::start().await.unwrap();
    let sts = AwsStsEmulator::start().await.unwrap();
    let role = sts.role_arn("cli-role");
    sts.add_role(
        RoleSpec::new(&role)
            .google_aud(&mds.default_service_account().unique_id)
            .google_oaud(AUDIENCE)
            .max_session_duration(Duration::from_secs(7200)),
    );
    (mds, sts, role)
}

/// The JSON the command printed, after checking it succeeded (stderr in the failure message).
fn success_json(out: &Output) -> serde_json::Value {
    assert!(
        out.status.success(),
        "stderr: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    serde_json::from_slice(&out.stdout).expect("JSON on stdout")
}

fn s(v: &str) -> String {
    v.to_string()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn credential_process_prints_version_1_json() {
    let (mds, sts, role) = world().await;
    let out = run(
        vec![
            s("aws"),
            s("credential-process"),
            s("--role-arn"),
            role.clone(),
            s("--audience"),
            s(AUDIENCE),
            s("--session-name"),
            s("cli"),
            s("--duration-seconds"),
            s("7200"),
            s("--sts-endpoint"),
            sts.endpoint(),
        ],
        vec![("GCE_METADATA_HOST", mds.host())],
    )
    .await;
    let json = success_json(&out);
    let issued = &sts.issued_credentials()[0];
    assert_eq!(json["Version"], 1);
    assert_eq!(json["AccessKeyId"], issued.access_key_id.as_str());
    assert_eq!(json["SecretAccessKey"], issued.secret_access_key.as_str());
    assert_eq!(json["SessionToken"], issued.session_token.as_str());
    assert_eq!(json["AccountId"], sts.account_id());
    let exp = parse_rfc3339(json["Expiration"].as_str().unwrap());
    assert_eq!(exp, issued.expiration);
    assert!(out.stderr.is_empty());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn credential_process_reads_env_and_token_file() {
    let (mds, sts, role) = world().await;
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("token");
    std::fs::write(
        &path,
        mds.issue_identity_token(AUDIENCE, Duration::from_secs(600)),
    )
    .unwrap();
    let out = run(
        vec![s("aws"), s("credential-process")],
        vec![
            ("AWS_ROLE_ARN", role),
            ("AWS_WEB_IDENTITY_TOKEN_FILE", path.display().to_string()),
            ("AWS_ENDPOINT_URL_STS", sts.endpoint()),
        ],
    )
    .await;
    assert!(
        out.status.success(),
        "stderr: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert_eq!(sts.request_count(), 1);
    assert_eq!(mds.request_count(), 0);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn errors_are_one_line_on_stderr_with_exit_1() {
    let (mds, sts, role) = world().await;
    sts.push_error(StsErrorCode::AccessDenied);
    let out = run(
        vec![
            s("aws"),
            s("credential-process"),
            s("--role-arn"),
            role,
            s("--audience"),
            s(AUDIENCE),
            s("--sts-endpoint"),
            sts.endpoint(),
        ],
        vec![("GCE_METADATA_HOST", mds.host())],
    )
    .await;
    assert_eq!(out.status.code(), Some(1));
    assert!(out.stdout.is_empty());
    let stderr = String::from_utf8(out.stderr).unwrap();
    assert_eq!(stderr.trim_end().lines().count(), 1, "{stderr}");
    assert!(
        stderr.starts_with("federated-credentials: error: AWS STS:"),
        "{stderr}"
    );
    assert!(stderr.contains("AccessDenied"), "{stderr}");

    for (args, expect) in [
        (
            vec![
                s("aws"),
                s("credential-process"),
                s("--role-arn"),
                s("arn:aws:iam::123456789012:role/r"),
            ],
            "--audience",
        ),
        (
            vec![s("aws"), s("credential-process"), s("--audience"), s("a")],
            "--role-arn",
        ),
        (
            vec![
                s("aws"),
                s("credential-process"),
                s("--audience"),
                s("a"),
                s("--role-arn"),
                s("nope"),
            ],
            "role_arn",
        ),
        (
            vec![
                s("aws"),
                s("credential-process"),
                s("--token-file"),
                s("/missing"),
                s("--role-arn"),
                s("arn:aws:iam::123456789012:role/r"),
            ],
            "--token-file: no such file /missing",
        ),
    ] {
        let out = run(args, vec![]).await;
        assert_eq!(out.status.code(), Some(1));
        let stderr = String::from_utf8(out.stderr).unwrap();
        assert_eq!(stderr.trim_end().lines().count(), 1, "{stderr}");
        assert!(stderr.contains(expect), "{stderr}");
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn google_id_token_prints_the_metadata_token() {
    let (mds, _sts, _) = world().await;
    let out = run(
        vec![
            s("google"),
            s("id-token"),
            s("--audience"),
            s("https://example.com"),
            s("--format"),
            s("full"),
        ],
        vec![("GCE_METADATA_HOST", mds.host())],
    )
    .await;
    assert!(
        out.status.success(),
        "stderr: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    let token = String::from_utf8(out.stdout).unwrap();
    let claims = mds.identity().verify(token.trim()).unwrap();
    assert_eq!(claims["aud"], "https://example.com");
    assert!(claims.contains_key("google"));
    assert_eq!(
        mds.last_request().unwrap().query_param("format"),
        Some("full")
    );

    // not on GCP
    let out = run(
        vec![s("google"), s("id-token"), s("--audience"), s("a")],
        vec![("GCE_METADATA_HOST", s("127.0.0.1:9"))],
    )
    .await;
    assert_eq!(out.status.code(), Some(1));
    assert!(String::from_utf8_lossy(&out.stderr).contains("unreachable"));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn google_access_token_from_a_credential_config() {
    use federated_credentials_testkit::{GoogleIdentity, GoogleStsEmulator, ProviderSpec};
    let aud =
        "//iam.googleapis.com/projects/1/locations/global/workloadIdentityPools/p/providers/oidc";
    let sts = GoogleStsEmulator::builder()
        .provider(ProviderSpec::oidc(aud).trust(GoogleIdentity::shared()))
        .start()
        .await
        .unwrap();
    let dir = tempfile::tempdir().unwrap();
    let exp = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_secs()
        + 600;
    std::fs::write(
        dir.path().join("jwt"),
        GoogleIdentity::shared().sign(&serde_json::json!({"sub": "w", "exp": exp})),
    )
    .unwrap();
    let config = serde_json::json!({
        "type": "external_account", "audience": aud,
        "subject_token_type": "urn:ietf:params:oauth:token-type:jwt",
        "token_url": sts.token_url(),
        "credential_source": {"file": dir.path().join("jwt")}
    });
    let path = dir.path().join("config.json");
    std::fs::write(&path, config.to_string()).unwrap();

    // via GOOGLE_APPLICATION_CREDENTIALS, bare token
    let out = run(
        vec![s("google"), s("access-token")],
        vec![("GOOGLE_APPLICATION_CREDENTIALS", path.display().to_string())],
    )
    .await;
    assert!(
        out.status.success(),
        "stderr: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert_eq!(
        String::from_utf8(out.stdout).unwrap().trim(),
        sts.issued_tokens()[0].access_token
    );

    // explicit path, scopes, JSON
    let out = run(
        vec![
            s("google"),
            s("access-token"),
            s("--credential-config"),
            path.display().to_string(),
            s("--scopes"),
            s("a,b"),
            s("--format"),
            s("json"),
        ],
        vec![],
    )
    .await;
    let json = success_json(&out);
    assert_eq!(
        json["access_token"],
        sts.issued_tokens()[1].access_token.as_str()
    );
    assert_eq!(json["token_type"], "Bearer");
    assert!(json["expires_in"].as_u64().unwrap() > 3000);
    assert_eq!(sts.issued_tokens()[1].scopes, vec![s("a"), s("b")]);

    // a broken configuration is one line naming the field
    std::fs::write(&path, r#"{"type":"external_account"}"#).unwrap();
    let out = run(
        vec![
            s("google"),
            s("access-token"),
            s("--credential-config"),
            path.display().to_string(),
        ],
        vec![],
    )
    .await;
    assert_eq!(out.status.code(), Some(1));
    let stderr = String::from_utf8(out.stderr).unwrap();
    assert_eq!(stderr.trim_end().lines().count(), 1, "{stderr}");
    assert!(stderr.contains("audience: is required"), "{stderr}");
    let out = run(vec![s("google"), s("access-token")], vec![]).await;
    assert!(String::from_utf8_lossy(&out.stderr).contains("GOOGLE_APPLICATION_CREDENTIALS"));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn executable_output_feeds_an_executable_credential_source() {
    use federated_credentials::context::{Context, StaticEnv};
    use federated_credentials::source::{ExecutableToken, SubjectTokenSource};
    let (mds, _sts, _) = world().await;
    let dir = tempfile::tempdir().unwrap();
    let cache = dir.path().join("out.json");
    let out = run(
        vec![
            s("google"),
            s("executable-output"),
            s("--audience"),
            s("//iam.googleapis.com/x"),
        ],
        vec![
            ("GCE_METADATA_HOST", mds.host()),
            (
                "GOOGLE_EXTERNAL_ACCOUNT_OUTPUT_FILE",
                cache.display().to_string(),
            ),
        ],
    )
    .await;
    let json = success_json(&out);
    assert_eq!(json["version"], 1);
    assert_eq!(json["success"], true);
    assert_eq!(json["token_type"], "urn:ietf:params:oauth:token-type:jwt");
    assert!(
        mds.identity()
            .verify(json["id_token"].as_str().unwrap())
            .is_ok()
    );
    assert!(json["expiration_time"].as_u64().is_some());
    assert_eq!(
        std::fs::read_to_string(&cache).unwrap().trim(),
        String::from_utf8_lossy(&out.stdout).trim()
    );
    // It holds a token: private whatever the umask (0644 under the usual 022 before the fix).
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        let mode = std::fs::metadata(&cache).unwrap().permissions().mode();
        assert_eq!(mode & 0o777, 0o600, "{mode:o}");
    }

    // the crate's own executable source accepts it, command line and environment included
    // The child inherits the process environment; `env` points it at the emulator without
    // changing this (multi-threaded) process's environment.
    let cmd = format!(
        "/usr/bin/env GCE_METADATA_HOST={} {} google executable-output --audience aud",
        mds.host(),
        env!("CARGO_BIN_EXE_federated-credentials")
    );
    let ctx = Context::builder()
        .env(StaticEnv::from_pairs([(
            "GOOGLE_EXTERNAL_ACCOUNT_ALLOW_EXECUTABLES",
            "1",
        )]))
        .build();
    let token = ExecutableToken::new(cmd).subject_token(&ctx).await.unwrap();
    assert!(mds.identity().verify(token.token().expose_secret()).is_ok());

    // failures are the protocol's JSON on stdout plus a non-zero exit
    let out = run(
        vec![
            s("google"),
            s("executable-output"),
            s("--token-file"),
            s("/nonexistent"),
        ],
        vec![],
    )
    .await;
    assert_eq!(out.status.code(), Some(1));
    let json: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(json["success"], false);
    assert_eq!(json["code"], "NOT_AVAILABLE");
    assert!(json["message"].as_str().unwrap().contains("/nonexistent"));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn source_github_actions_for_aws_and_for_google() {
    use federated_credentials_testkit::{
        GITHUB_ISSUER, GitHubActionsOidcEmulator, OidcProviderSpec,
    };
    let actions = GitHubActionsOidcEmulator::start().await.unwrap();
    let sts = AwsStsEmulator::builder()
        .oidc_provider(
            OidcProviderSpec::new(GITHUB_ISSUER)
                .client_id(AUDIENCE)
                .trust(actions.identity()),
        )
        .start()
        .await
        .unwrap();
    let role = sts.role_arn("github");
    sts.add_role(RoleSpec::new(&role).oidc_principal(GITHUB_ISSUER));
    let job_env = || -> Vec<(&'static str, String)> {
        vec![
            ("ACTIONS_ID_TOKEN_REQUEST_URL", actions.request_url()),
            ("ACTIONS_ID_TOKEN_REQUEST_TOKEN", actions.request_token()),
        ]
    };
    // AWS: the default audience is sts.amazonaws.com, what the IAM OIDC provider lists.
    let out = run(
        vec![
            s("aws"),
            s("credential-process"),
            s("--source"),
            s("github-actions"),
            s("--role-arn"),
            role.clone(),
            s("--sts-endpoint"),
            sts.endpoint(),
        ],
        job_env(),
    )
    .await;
    let json = success_json(&out);
    assert_eq!(
        json["AccessKeyId"],
        sts.issued_credentials()[0].access_key_id.as_str()
    );
    assert_eq!(
        actions.last_request().unwrap().query_param("audience"),
        Some(AUDIENCE)
    );

    // Google: the pluggable-auth executable, asked with the pool's audience the client library
    // passes in GOOGLE_EXTERNAL_ACCOUNT_AUDIENCE.
    let pool =
        "//iam.googleapis.com/projects/1/locations/global/workloadIdentityPools/gh/providers/gh";
    let mut env = job_env();
    env.push(("GOOGLE_EXTERNAL_ACCOUNT_AUDIENCE", s(pool)));
    let out = run(
        vec![
            s("google"),
            s("executable-output"),
            s("--source"),
            s("github-actions"),
        ],
        env,
    )
    .await;
    let json = success_json(&out);
    assert_eq!(json["success"], true);
    assert_eq!(
        actions.last_request().unwrap().query_param("audience"),
        Some(pool)
    );

    // Outside a job: the permission hint, in the protocol's JSON and on stderr.
    let out = run(
        vec![
            s("google"),
            s("executable-output"),
            s("--source"),
            s("github-actions"),
            s("--audience"),
            s("a"),
        ],
        vec![],
    )
    .await;
    assert_eq!(out.status.code(), Some(1));
    let json: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    assert!(
        json["message"]
            .as_str()
            .unwrap()
            .contains("id-token: write"),
        "{json}"
    );
    // --source file needs its file.
    let out = run(
        vec![
            s("aws"),
            s("credential-process"),
            s("--source"),
            s("file"),
            s("--role-arn"),
            role,
        ],
        vec![],
    )
    .await;
    assert_eq!(out.status.code(), Some(1));
    assert!(String::from_utf8_lossy(&out.stderr).contains("--token-file"));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn source_azure_managed_and_workload_identity() {
    use federated_credentials_testkit::{AzureManagedIdentityEmulator, OidcProviderSpec};
    let azure = AzureManagedIdentityEmulator::start().await.unwrap();
    let sts = AwsStsEmulator::builder()
        .oidc_provider(
            OidcProviderSpec::new(azure.issuer())
                .client_id("api://aws-federation")
                .trust(azure.identity()),
        )
        .start()
        .await
        .unwrap();
    let role = sts.role_arn("azure");
    sts.add_role(RoleSpec::new(&role).oidc_principal(azure.issuer()));
    let aws = |source: &str| {
        vec![
            s("aws"),
            s("credential-process"),
            s("--source"),
            s(source),
            s("--role-arn"),
            role.clone(),
            s("--sts-endpoint"),
            sts.endpoint(),
        ]
    };
    // A VM: IMDS moved to the emulator, the resource from the environment.
    let out = run(
        aws("azure-managed-identity"),
        vec![
            ("AZURE_POD_IDENTITY_AUTHORITY_HOST", azure.imds_endpoint()),
            (
                "FEDERATED_CREDENTIALS_AZURE_RESOURCE",
                s("api://aws-federation"),
            ),
        ],
    )
    .await;
    let json = success_json(&out);
    assert_eq!(
        sts.credentials_for(json["AccessKeyId"].as_str().unwrap())
            .unwrap()
            .subject,
        azure.system_assigned().unwrap().object_id
    );
    // Without a resource: says what to set, asks nobody.
    let before = azure.request_count();
    let out = run(
        aws("azure-managed-identity"),
        vec![("AZURE_POD_IDENTITY_AUTHORITY_HOST", azure.imds_endpoint())],
    )
    .await;
    assert_eq!(out.status.code(), Some(1));
    assert!(String::from_utf8_lossy(&out.stderr).contains("FEDERATED_CREDENTIALS_AZURE_RESOURCE"));
    assert_eq!(azure.request_count(), before);

    // An AKS pod: the token file, for the Google executable source.
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("azure-identity-token");
    let token = azure.identity().sign(&serde_json::json!({
        "iss": "https://oidc.example/aks/", "aud": "api://AzureADTokenExchange",
        "sub": "system:serviceaccount:ns:sa", "exp": 4_102_444_800_u64,
    }));
    std::fs::write(&file, &token).unwrap();
    let out = run(
        vec![
            s("google"),
            s("executable-output"),
            s("--source"),
            s("azure-workload-identity"),
        ],
        vec![("AZURE_FEDERATED_TOKEN_FILE", file.display().to_string())],
    )
    .await;
    let json = success_json(&out);
    assert_eq!(json["id_token"], token.as_str());
    let out = run(
        vec![
            s("google"),
            s("executable-output"),
            s("--source"),
            s("azure-workload-identity"),
            s("--audience"),
            s("x"),
        ],
        vec![("AZURE_FEDERATED_TOKEN_FILE", file.display().to_string())],
    )
    .await;
    assert_eq!(out.status.code(), Some(1));
    assert!(String::from_utf8_lossy(&out.stdout).contains("does not apply"));
}

/// Regression: in an image without CA certificates (distroless, `scratch`) building the
/// default HTTP client panicked. The metadata server is plain http and must keep working; an
/// https endpoint gets an ordinary error.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn no_ca_certificates_is_not_a_panic() {
    let (mds, _sts, role) = world().await;
    let empty = tempfile::tempdir().unwrap();
    let no_roots = || {
        vec![
            ("SSL_CERT_FILE", s("/dev/null")),
            ("SSL_CERT_DIR", empty.path().display().to_string()),
            ("GCE_METADATA_HOST", mds.host()),
        ]
    };
    let out = run(
        vec![s("google"), s("id-token"), s("--audience"), s(AUDIENCE)],
        no_roots(),
    )
    .await;
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(out.status.success(), "stderr: {stderr}");
    assert_eq!(String::from_utf8_lossy(&out.stdout).matches('.').count(), 2);

    let out = run(
        vec![
            s("aws"),
            s("credential-process"),
            s("--role-arn"),
            role,
            s("--audience"),
            s(AUDIENCE),
            s("--sts-endpoint"),
            s("https://127.0.0.1:1"),
        ],
        no_roots(),
    )
    .await;
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(1), "stderr: {stderr}");
    assert!(!stderr.contains("panicked"), "{stderr}");
    assert_eq!(stderr.lines().count(), 1, "{stderr}");
}

/// `credential_process = … aws credential-process --profile gcp`: the settings come from the
/// profile the AWS tools read the line from (the documented `~/.aws/config` form).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn credential_process_reads_its_profile() {
    let (mds, sts, role) = world().await;
    let dir = tempfile::tempdir().unwrap();
    let config = dir.path().join("config");
    std::fs::write(
        &config,
        format!(
            "[profile gcp]\n\
             credential_process = {bin} aws credential-process --profile gcp\n\
             federated_credentials_role_arn = {role}\n\
             federated_credentials_gcp_audience = {AUDIENCE}\n\
             role_session_name = profile-session\n\
             endpoint_url = {sts}\n",
            bin = env!("CARGO_BIN_EXE_federated-credentials"),
            sts = sts.endpoint()
        ),
    )
    .unwrap();
    let out = run(
        vec![
            s("aws"),
            s("credential-process"),
            s("--profile"),
            s("gcp"),
            s("--duration-seconds"),
            s("7200"),
        ],
        vec![
            ("GCE_METADATA_HOST", mds.host()),
            ("AWS_CONFIG_FILE", config.display().to_string()),
        ],
    )
    .await;
    let json = success_json(&out);
    let issued = &sts.issued_credentials()[0];
    assert_eq!(json["AccessKeyId"], issued.access_key_id.as_str());
    assert_eq!(issued.role_session_name, "profile-session");
    assert_eq!(issued.role_arn, role);
    let exp = parse_rfc3339(json["Expiration"].as_str().unwrap());
    let lifetime = exp
        .duration_since(std::time::SystemTime::now())
        .unwrap()
        .as_secs();
    assert!(
        (7100..=7200).contains(&lifetime),
        "the flag overrides: {lifetime}"
    );

    let out = run(
        vec![s("aws"), s("credential-process"), s("--profile"), s("nope")],
        vec![("AWS_CONFIG_FILE", config.display().to_string())],
    )
    .await;
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(1));
    assert!(stderr.contains("profile `nope` not found"), "{stderr}");
}

/// `SSL_CERT_FILE` names the CA bundle to trust (with the platform verifier): an STS behind a
/// private CA is refused without it and reached with it.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn ssl_cert_file_trusts_a_private_ca() {
    let (mds, sts, role) = world().await;
    let backend: std::net::SocketAddr = sts
        .endpoint()
        .trim_start_matches("http://")
        .trim_end_matches('/')
        .parse()
        .unwrap();
    let front = federated_credentials_testkit::TlsFront::start(backend)
        .await
        .unwrap();
    let (ca_pem, port) = (front.ca_pem().to_string(), front.local_addr().port());
    let dir = tempfile::tempdir().unwrap();
    let ca_file = dir.path().join("ca.pem");
    std::fs::write(&ca_file, ca_pem).unwrap();
    let args = vec![
        s("aws"),
        s("credential-process"),
        s("--role-arn"),
        role,
        s("--audience"),
        s(AUDIENCE),
        s("--sts-endpoint"),
        format!("https://localhost:{port}"),
    ];
    let empty = tempfile::tempdir().unwrap();
    let refused = run(
        args.clone(),
        vec![
            ("GCE_METADATA_HOST", mds.host()),
            ("SSL_CERT_FILE", s("/dev/null")),
            ("SSL_CERT_DIR", empty.path().display().to_string()),
        ],
    )
    .await;
    assert_eq!(refused.status.code(), Some(1));
    assert!(sts.issued_credentials().is_empty());
    let trusted = run(
        args,
        vec![
            ("GCE_METADATA_HOST", mds.host()),
            ("SSL_CERT_FILE", ca_file.display().to_string()),
            ("SSL_CERT_DIR", empty.path().display().to_string()),
        ],
    )
    .await;
    let json = success_json(&trusted);
    assert_eq!(
        json["AccessKeyId"],
        sts.issued_credentials()[0].access_key_id.as_str()
    );
}

/// An RFC 3339 timestamp as a `SystemTime` (panics on anything else).
fn parse_rfc3339(text: &str) -> std::time::SystemTime {
    time::OffsetDateTime::parse(text, &time::format_description::well_known::Rfc3339)
        .unwrap()
        .into()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn aws_web_identity_token_prints_the_outbound_token() {
    use federated_credentials_testkit::CallerCredentials;
    let sts = AwsStsEmulator::builder()
        .outbound_web_identity_federation(true)
        .start()
        .await
        .unwrap();
    sts.allow_caller(CallerCredentials::role_session(
        "ASIACLIOUTBOUND00001",
        "cli/outbound/secret",
        "cli-session-token",
        "arn:aws:iam::123456789012:role/cli",
        std::time::SystemTime::now() + Duration::from_secs(3600),
    ));
    let env = || {
        vec![
            ("AWS_ACCESS_KEY_ID", s("ASIACLIOUTBOUND00001")),
            ("AWS_SECRET_ACCESS_KEY", s("cli/outbound/secret")),
            ("AWS_SESSION_TOKEN", s("cli-session-token")),
            ("AWS_REGION", s("us-west-2")),
            ("AWS_ENDPOINT_URL_STS", sts.endpoint()),
        ]
    };
    let out = run(
        vec![
            s("aws"),
            s("web-identity-token"),
            s("--audience"),
            s("https://a.example"),
            s("--audience"),
            s("b"),
            s("--signing-algorithm"),
            s("ES384"),
            s("--duration-seconds"),
            s("900"),
        ],
        env(),
    )
    .await;
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let jwt = String::from_utf8(out.stdout).unwrap();
    let claims = sts.verify_web_identity_token(jwt.trim()).unwrap();
    assert_eq!(claims["sub"], "arn:aws:iam::123456789012:role/cli");
    assert_eq!(claims["aud"], serde_json::json!(["https://a.example", "b"]));
    let issued = &sts.issued_web_identity_tokens()[0];
    assert_eq!(issued.signing_algorithm, "ES384");
    assert_eq!(issued.duration, Duration::from_secs(900));

    // As the Google executable source: the pool provider is the audience.
    let mut with_pool = env();
    with_pool.push((
        "GOOGLE_EXTERNAL_ACCOUNT_AUDIENCE",
        s("//iam.googleapis.com/x"),
    ));
    let out = run(
        vec![
            s("google"),
            s("executable-output"),
            s("--source"),
            s("aws-web-identity-token"),
        ],
        with_pool,
    )
    .await;
    let json = success_json(&out);
    let claims = sts
        .verify_web_identity_token(json["id_token"].as_str().unwrap())
        .unwrap();
    assert_eq!(claims["aud"], "//iam.googleapis.com/x");

    // Disabled for the account: one line naming the fix, exit 1.
    sts.set_outbound_web_identity_federation(false);
    let out = run(
        vec![s("aws"), s("web-identity-token"), s("--audience"), s("a")],
        env(),
    )
    .await;
    assert_eq!(out.status.code(), Some(1));
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(
        stderr.contains("OutboundWebIdentityFederationDisabledException"),
        "{stderr}"
    );
    assert_eq!(stderr.trim().lines().count(), 1);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn azure_access_token_from_the_default_chain_and_a_source() {
    use federated_credentials_testkit::{EntraApplication, EntraEmulator, FederatedCredential};
    let (mds, _sts, _) = world().await;
    let sa = mds.default_service_account().unique_id.clone();
    let client = "0000c11d-0000-4000-8000-000000000001";
    let entra = EntraEmulator::builder()
        .trust_issuer("https://accounts.google.com", mds.identity())
        .application(
            EntraApplication::new(client)
                .federated_credential(FederatedCredential::new("https://accounts.google.com", &sa)),
        )
        .start()
        .await
        .unwrap();
    let env = || {
        vec![
            ("AZURE_TENANT_ID", entra.tenant_id().to_string()),
            ("AZURE_AUTHORITY_HOST", entra.authority_host()),
            ("GCE_METADATA_HOST", mds.host()),
        ]
    };
    // On a GCE VM the default chain uses the metadata server; the client id from the flag.
    let out = run(
        vec![
            s("azure"),
            s("access-token"),
            s("--client-id"),
            s(client),
            s("--scope"),
            s("https://vault.azure.net/.default"),
            s("--format"),
            s("json"),
        ],
        env(),
    )
    .await;
    let json = success_json(&out);
    assert_eq!(json["token_type"], "Bearer");
    assert_eq!(
        json["access_token"].as_str(),
        Some(entra.issued_tokens()[0].access_token.as_str())
    );
    assert_eq!(
        entra.issued_tokens()[0].scope,
        "https://vault.azure.net/.default"
    );
    // An explicit source; a scope without /.default is refused with the fix, asking nobody.
    let mut with_client = env();
    with_client.push(("AZURE_CLIENT_ID", s(client)));
    let out = run(
        vec![
            s("azure"),
            s("access-token"),
            s("--source"),
            s("gcp-metadata"),
        ],
        with_client.clone(),
    )
    .await;
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let before = entra.request_count();
    let out = run(
        vec![
            s("azure"),
            s("access-token"),
            s("--scope"),
            s("https://vault.azure.net"),
        ],
        with_client,
    )
    .await;
    assert_eq!(out.status.code(), Some(1));
    assert!(String::from_utf8_lossy(&out.stderr).contains("https://vault.azure.net/.default"));
    assert_eq!(entra.request_count(), before);
}

/// `azure access-token` with each other identity: an AWS role's outbound token, a GitHub
/// Actions job's token, and a token file; each asked for (or carrying) the Entra audience.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn azure_access_token_from_aws_github_and_a_token_file() {
    use federated_credentials_testkit::{
        CallerCredentials, EntraApplication, EntraEmulator, FederatedCredential,
        GitHubActionsOidcEmulator, GoogleIdentity,
    };
    let sts = AwsStsEmulator::builder()
        .outbound_web_identity_federation(true)
        .start()
        .await
        .unwrap();
    let role = "arn:aws:iam::123456789012:role/to-azure";
    sts.allow_caller(CallerCredentials::role_session(
        "ASIACLITOAZURE000001",
        "cli/azure/secret",
        "cli-azure-session",
        role,
        std::time::SystemTime::now() + Duration::from_secs(3600),
    ));
    let actions = GitHubActionsOidcEmulator::builder().start().await.unwrap();
    let cluster_issuer = "https://oidc.cluster.example/";
    let cluster = GoogleIdentity::generate();
    let github_subject = "repo:octo-org/octo-repo:ref:refs/heads/main";
    let pod = "system:serviceaccount:payments:api";
    let client = "0000c11d-0000-4000-8000-000000000001";
    let entra = EntraEmulator::builder()
        .trust_issuer(sts.outbound_issuer(), sts.outbound_identity())
        .trust_issuer(
            federated_credentials_testkit::GITHUB_ISSUER,
            actions.identity(),
        )
        .trust_issuer(cluster_issuer, cluster.clone())
        .application(
            EntraApplication::new(client)
                .federated_credential(FederatedCredential::new(sts.outbound_issuer(), role))
                .federated_credential(FederatedCredential::new(
                    federated_credentials_testkit::GITHUB_ISSUER,
                    github_subject,
                ))
                .federated_credential(FederatedCredential::new(cluster_issuer, pod)),
        )
        .start()
        .await
        .unwrap();
    let azure = || {
        vec![
            ("AZURE_TENANT_ID", entra.tenant_id().to_string()),
            ("AZURE_CLIENT_ID", s(client)),
            ("AZURE_AUTHORITY_HOST", entra.authority_host()),
        ]
    };
    let access_token = |source: &str| {
        vec![
            s("azure"),
            s("access-token"),
            s("--scope"),
            s("https://storage.azure.com/.default"),
            s("--source"),
            s(source),
        ]
    };

    let mut aws = azure();
    aws.extend([
        ("AWS_ACCESS_KEY_ID", s("ASIACLITOAZURE000001")),
        ("AWS_SECRET_ACCESS_KEY", s("cli/azure/secret")),
        ("AWS_SESSION_TOKEN", s("cli-azure-session")),
        ("AWS_REGION", s("us-west-2")),
        ("AWS_ENDPOINT_URL_STS", sts.endpoint()),
    ]);
    let out = run(access_token("aws-web-identity-token"), aws).await;
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert_eq!(
        sts.issued_web_identity_tokens()[0].audiences,
        ["api://AzureADTokenExchange"]
    );

    let mut github = azure();
    github.extend([
        ("ACTIONS_ID_TOKEN_REQUEST_URL", actions.request_url()),
        ("ACTIONS_ID_TOKEN_REQUEST_TOKEN", actions.request_token()),
    ]);
    let out = run(access_token("github-actions"), github).await;
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert_eq!(
        actions.last_request().unwrap().query_param("audience"),
        Some("api://AzureADTokenExchange")
    );

    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("token");
    let now = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_secs();
    std::fs::write(
        &file,
        cluster.sign(&serde_json::json!({
            "iss": cluster_issuer, "sub": pod, "aud": "api://AzureADTokenExchange",
            "iat": now, "exp": now + 3600,
        })),
    )
    .unwrap();
    let mut args = access_token("file");
    args.extend([s("--token-file"), file.to_str().unwrap().to_string()]);
    let out = run(args, azure()).await;
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );

    let subjects: Vec<String> = entra
        .issued_tokens()
        .into_iter()
        .map(|t| t.assertion_subject)
        .collect();
    assert_eq!(subjects, [role, github_subject, pod]);
}
