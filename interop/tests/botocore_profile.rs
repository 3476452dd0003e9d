//! botocore (the AWS CLI's and boto3's credential resolution) reading the `~/.aws/config` form
//! the crate documents for GCP → AWS: a `credential_process` line running our CLI with
//! `--profile`, next to `federated_credentials_*` keys that botocore must ignore. The CLI runs
//! against the loopback GCE metadata and AWS STS emulators.
//!
//! Run with `.ci/interop.sh`, which sets `INTEROP_PYTHON` (a venv with a pinned botocore) and
//! `FEDERATED_CREDENTIALS_BIN` (the CLI it builds). Without them the tests fail, unless skipping
//! is asked for with `FEDERATED_CREDENTIALS_SKIP_INTEROP=1`.

use std::path::Path;
use std::process::Command;
use std::time::Duration;

use federated_credentials_interop::required_env;
use federated_credentials_testkit::{AwsStsEmulator, GcpMetadataEmulator, RoleSpec};

const AUDIENCE: &str = "sts.amazonaws.com";

/// Resolves the credentials of `profile` with botocore and prints them (or the exception's
/// class and message) as JSON.
const RESOLVE: &str = r#"
import json, sys
import botocore, botocore.session
try:
    creds = botocore.session.Session(profile=sys.argv[1]).get_credentials()
    frozen = creds.get_frozen_credentials()
    print(json.dumps({"botocore": botocore.__version__, "method": creds.method,
                      "access_key": frozen.access_key, "secret_key": frozen.secret_key,
                      "token": frozen.token}))
except Exception as e:
    print(json.dumps({"botocore": botocore.__version__, "error": type(e).__name__, "message": str(e)}))
"#;

fn resolve(python: &str, config: &Path, profile: &str, mds_host: &str) -> serde_json::Value {
    let out = Command::new(python)
        .args(["-c", RESOLVE, profile])
        .env_clear()
        .env("PATH", std::env::var_os("PATH").unwrap_or_default())
        .env("AWS_CONFIG_FILE", config)
        .env("AWS_SHARED_CREDENTIALS_FILE", "/nonexistent")
        .env("AWS_EC2_METADATA_DISABLED", "true")
        .env("GCE_METADATA_HOST", mds_host)
        .output()
        .expect("run python");
    assert!(
        out.status.success(),
        "python failed: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    serde_json::from_slice(&out.stdout).unwrap_or_else(|e| {
        panic!(
            "not JSON ({e}): {} / {}",
            String::from_utf8_lossy(&out.stdout),
            String::from_utf8_lossy(&out.stderr)
        )
    })
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn botocore_loads_the_documented_profile() {
    let Some(python) = required_env("INTEROP_PYTHON", "a python with botocore installed") else {
        return;
    };
    let Some(bin) = required_env(
        "FEDERATED_CREDENTIALS_BIN",
        "the federated-credentials CLI (cargo build --features cli)",
    ) else {
        return;
    };
    let mds = GcpMetadataEmulator::start().await.unwrap();
    let sts = AwsStsEmulator::start().await.unwrap();
    let role = sts.role_arn("gcp-workload");
    sts.add_role(
        RoleSpec::new(&role)
            .google_aud(&mds.default_service_account().unique_id)
            .google_oaud(AUDIENCE)
            .max_session_duration(Duration::from_secs(3600)),
    );
    let dir = tempfile::tempdir().unwrap();
    let config = dir.path().join("config");
    // As in docs/gcp-to-aws.md; the STS endpoint is the emulator's.
    std::fs::write(
        &config,
        format!(
            "[profile gcp]\n\
             credential_process = {bin} aws credential-process --profile gcp\n\
             federated_credentials_role_arn = {role}\n\
             federated_credentials_gcp_audience = {AUDIENCE}\n\
             region = us-east-1\n\
             endpoint_url = {sts}\n\
             \n\
             [profile old-form]\n\
             credential_process = {bin} aws credential-process --profile old-form\n\
             role_arn = {role}\n\
             federated_credentials_gcp_audience = {AUDIENCE}\n\
             endpoint_url = {sts}\n",
            sts = sts.endpoint()
        ),
    )
    .unwrap();
    let (py, cfg, host) = (python.clone(), config.clone(), mds.host());
    let got = tokio::task::spawn_blocking(move || resolve(&py, &cfg, "gcp", &host))
        .await
        .unwrap();
    eprintln!("botocore {}", got["botocore"]);
    assert_eq!(got["method"], "custom-process", "{got}");
    let issued = sts.issued_credentials();
    assert_eq!(issued.len(), 1, "{got}");
    assert_eq!(got["access_key"], issued[0].access_key_id.as_str());
    assert_eq!(got["secret_key"], issued[0].secret_access_key.as_str());
    assert_eq!(got["token"], issued[0].session_token.as_str());

    // The earlier form (role_arn next to our audience key) is why the form changed: botocore
    // tries to assume role_arn itself and fails before it reaches credential_process.
    let (py, cfg, host) = (python, config, mds.host());
    let old = tokio::task::spawn_blocking(move || resolve(&py, &cfg, "old-form", &host))
        .await
        .unwrap();
    assert_eq!(old["error"], "PartialCredentialsError", "{old}");
    assert_eq!(
        sts.issued_credentials().len(),
        1,
        "no credential_process ran"
    );
}
