//! The `federated-credentials` binary against the loopback emulators: the
//! `credential_process` JSON, the identity token, and one-line errors with a non-zero exit.

use std::process::Output;
use std::time::Duration;

use federated_credentials::testkit::{AwsStsEmulator, GcpMetadataEmulator, RoleSpec, StsErrorCode};

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
    assert!(
        out.status.success(),
        "stderr: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    let json: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    let issued = &sts.issued_credentials()[0];
    assert_eq!(json["Version"], 1);
    assert_eq!(json["AccessKeyId"], issued.access_key_id.as_str());
    assert_eq!(json["SecretAccessKey"], issued.secret_access_key.as_str());
    assert_eq!(json["SessionToken"], issued.session_token.as_str());
    assert_eq!(json["AccountId"], sts.account_id());
    let exp =
        federated_credentials::token::parse_rfc3339(json["Expiration"].as_str().unwrap()).unwrap();
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
