//! `server::ContainerCredentialsServer` (the `aws serve` broker) against the emulators: the
//! container-credentials protocol for authorized callers only, one upstream fetch for many
//! callers, stale through an outage and a 503 after expiry, health, readiness and metrics;
//! our own container-credentials client reads it; the CLI's `aws serve` and `aws exec`.

use std::sync::Arc;
use std::time::{Duration, UNIX_EPOCH};

use federated_credentials::aws::WebIdentityProvider;
use federated_credentials::context::{Context, InstantSleep, ManualClock, StaticEnv};
use federated_credentials::server::{AuthToken, ContainerCredentialsServer};
use federated_credentials::source::GcpMetadataIdentityToken;
use federated_credentials::source::aws::{AwsIdentitySource, ContainerCredentials};
use federated_credentials_testkit::{AwsStsEmulator, Fault, GcpMetadataEmulator, RoleSpec};

const AUDIENCE: &str = "sts.amazonaws.com";
const TOKEN: &str = "0123456789abcdef0123456789abcdef";

struct World {
    clock: Option<ManualClock>,
    mds: GcpMetadataEmulator,
    sts: AwsStsEmulator,
    role: String,
}

impl World {
    /// With `clock`, everything runs on it; without, on the system clock.
    async fn new(clock: Option<ManualClock>) -> World {
        let mut mds = GcpMetadataEmulator::builder();
        let mut sts = AwsStsEmulator::builder();
        if let Some(c) = &clock {
            mds = mds.clock(c.clone());
            sts = sts.clock(c.clone());
        }
        let mds = mds.start().await.unwrap();
        let sts = sts.start().await.unwrap();
        let role = sts.role_arn("broker");
        sts.add_role(
            RoleSpec::new(&role)
                .google_aud(&mds.default_service_account().unique_id)
                .google_oaud(AUDIENCE),
        );
        World {
            clock,
            mds,
            sts,
            role,
        }
    }

    fn provider(&self) -> WebIdentityProvider {
        let mut ctx = Context::builder()
            .env(StaticEnv::from_pairs([(
                "GCE_METADATA_HOST",
                self.mds.host(),
            )]))
            .sleep(InstantSleep);
        if let Some(c) = &self.clock {
            ctx = ctx.clock(c.clone());
        }
        WebIdentityProvider::builder()
            .context(ctx.build())
            .token_source(GcpMetadataIdentityToken::new(AUDIENCE))
            .role_arn(&self.role)
            .configure_sts(|s| s.endpoint_url(self.sts.endpoint()))
            .build()
            .unwrap()
    }

    async fn server(&self) -> (String, tokio::sync::oneshot::Sender<()>) {
        let server = ContainerCredentialsServer::builder()
            .provider(self.provider())
            .auth_token(AuthToken::fixed(TOKEN))
            .bind()
            .await
            .unwrap();
        let base = format!("http://{}", server.local_addr());
        let (stop, stopped) = tokio::sync::oneshot::channel::<()>();
        tokio::spawn(server.run(async {
            let _ = stopped.await;
        }));
        (base, stop)
    }
}

async fn get(url: &str, token: Option<&str>) -> (u16, serde_json::Value, String) {
    let mut request = reqwest::Client::new().get(url);
    if let Some(t) = token {
        request = request.header("Authorization", t);
    }
    let response = request.send().await.unwrap();
    let status = response.status().as_u16();
    let text = response.text().await.unwrap();
    let json = serde_json::from_str(&text).unwrap_or(serde_json::Value::Null);
    (status, json, text)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn serves_the_container_protocol_to_authorized_callers_only() {
    let w = World::new(None).await;
    let (base, _stop) = w.server().await;
    let url = format!("{base}/credentials");

    let (status, body, text) = get(&url, None).await;
    assert_eq!(status, 401, "{text}");
    assert!(
        body["message"]
            .as_str()
            .unwrap()
            .contains("AWS_CONTAINER_AUTHORIZATION_TOKEN_FILE")
    );
    let (status, body, text) = get(&url, Some("wrong")).await;
    assert_eq!(status, 403, "{text}");
    assert!(body.get("AccessKeyId").is_none());
    assert!(
        w.sts.issued_credentials().is_empty(),
        "nothing fetched for refused callers"
    );

    let (status, body, _) = get(&url, Some(TOKEN)).await;
    assert_eq!(status, 200);
    let issued = &w.sts.issued_credentials()[0];
    assert_eq!(body["AccessKeyId"], issued.access_key_id.as_str());
    assert_eq!(body["SecretAccessKey"], issued.secret_access_key.as_str());
    assert_eq!(body["Token"], issued.session_token.as_str());
    assert!(
        body["RoleArn"]
            .as_str()
            .unwrap()
            .contains(":assumed-role/broker/"),
        "{}",
        body["RoleArn"]
    );
    assert_eq!(body["AccountId"], w.sts.account_id());
    assert!(body["Expiration"].as_str().unwrap().ends_with('Z'));

    assert_eq!(get(&format!("{base}/other"), Some(TOKEN)).await.0, 404);
    let post = reqwest::Client::new()
        .post(&url)
        .header("Authorization", TOKEN)
        .send()
        .await
        .unwrap();
    assert_eq!(post.status().as_u16(), 405);
    assert_eq!(get(&format!("{base}/healthz"), None).await.0, 200);
    assert_eq!(get(&format!("{base}/readyz"), None).await.0, 200);
    let (_, _, metrics) = get(&format!("{base}/metrics"), None).await;
    for line in [
        "federated_credentials_cache_fetches_total 1",
        "federated_credentials_server_requests_total{status=\"200\"} 3",
        "federated_credentials_server_requests_total{status=\"401\"} 1",
        "federated_credentials_server_requests_total{status=\"403\"} 1",
        "federated_credentials_server_requests_total{status=\"404\"} 1",
        "federated_credentials_server_requests_total{status=\"405\"} 1",
    ] {
        assert!(metrics.contains(line), "{line} in\n{metrics}");
    }
    assert!(!metrics.contains(&issued.secret_access_key));

    // Our own container-credentials client (the SDKs' rules) reads it.
    let dir = tempfile::tempdir().unwrap();
    let token_file = dir.path().join("token");
    std::fs::write(&token_file, TOKEN).unwrap();
    let ctx = Context::builder()
        .env(StaticEnv::from_pairs([
            ("AWS_CONTAINER_CREDENTIALS_FULL_URI", url.as_str()),
            (
                "AWS_CONTAINER_AUTHORIZATION_TOKEN_FILE",
                token_file.to_str().unwrap(),
            ),
        ]))
        .build();
    let creds = ContainerCredentials::new().credentials(&ctx).await.unwrap();
    assert_eq!(creds.access_key_id(), issued.access_key_id);
    assert_eq!(w.sts.issued_credentials().len(), 1);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_thousand_concurrent_requests_cost_one_fetch() {
    let w = World::new(None).await;
    let (base, _stop) = w.server().await;
    let url = Arc::new(format!("{base}/credentials"));
    let client = reqwest::Client::new();
    let requests: Vec<_> = (0..1000)
        .map(|_| {
            let (client, url) = (client.clone(), url.clone());
            tokio::spawn(async move {
                client
                    .get(url.as_str())
                    .header("Authorization", TOKEN)
                    .send()
                    .await
                    .map(|r| r.status().as_u16())
            })
        })
        .collect();
    let mut ok = 0;
    for r in requests {
        if r.await.unwrap().unwrap() == 200 {
            ok += 1;
        }
    }
    assert_eq!(ok, 1000);
    assert_eq!(w.sts.issued_credentials().len(), 1, "one upstream fetch");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_outage_is_served_stale_then_a_503_says_what_fails() {
    let clock = ManualClock::new(UNIX_EPOCH + Duration::from_secs(1_800_000_000));
    let w = World::new(Some(clock.clone())).await;
    let (base, _stop) = w.server().await;
    let url = format!("{base}/credentials");
    let (status, first, _) = get(&url, Some(TOKEN)).await;
    assert_eq!(status, 200);

    // STS goes down; inside the refresh window the valid credential is still served.
    w.sts.push_fault_times(Fault::status(503), 10_000);
    clock.advance(Duration::from_secs(3600 - 120));
    let (status, during, _) = get(&url, Some(TOKEN)).await;
    assert_eq!(status, 200);
    assert_eq!(during["AccessKeyId"], first["AccessKeyId"]);

    // After expiry: never the expired credential, a 503 naming the failure.
    clock.advance(Duration::from_secs(300));
    let (status, body, text) = get(&url, Some(TOKEN)).await;
    assert_eq!(status, 503, "{text}");
    assert!(body.get("AccessKeyId").is_none());
    let message = body["message"].as_str().unwrap();
    assert!(
        message.contains("STS") || message.contains("sts"),
        "{message}"
    );
}

#[cfg(feature = "cli")]
mod cli {
    use std::io::{BufRead, BufReader};
    use std::process::{Command, Stdio};

    use super::*;

    fn command(w: &World, home: &std::path::Path) -> Command {
        let mut cmd = Command::new(env!("CARGO_BIN_EXE_federated-credentials"));
        cmd.env_clear()
            .env("HOME", home)
            .env("PATH", std::env::var_os("PATH").unwrap_or_default())
            .env("GCE_METADATA_HOST", w.mds.host())
            .args(["aws"]);
        cmd
    }

    fn identity(w: &World) -> Vec<String> {
        vec![
            "--role-arn".into(),
            w.role.clone(),
            "--audience".into(),
            AUDIENCE.into(),
            "--sts-endpoint".into(),
            w.sts.endpoint(),
        ]
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn aws_serve_prints_exports_serves_and_stops_on_sigterm() {
        let w = World::new(None).await;
        let home = tempfile::tempdir().unwrap();
        let mut child = command(&w, home.path())
            .arg("serve")
            .args(identity(&w))
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .unwrap();
        let mut lines = BufReader::new(child.stdout.take().unwrap()).lines();
        let mut exports = std::collections::HashMap::new();
        for _ in 0..2 {
            let line = lines.next().unwrap().unwrap();
            let (name, value) = line
                .strip_prefix("export ")
                .and_then(|l| l.split_once('='))
                .unwrap_or_else(|| panic!("not an export line: {line}"));
            exports.insert(name.to_string(), value.trim_matches('\'').to_string());
        }
        let uri = exports["AWS_CONTAINER_CREDENTIALS_FULL_URI"].clone();
        let token_file =
            std::path::PathBuf::from(&exports["AWS_CONTAINER_AUTHORIZATION_TOKEN_FILE"]);
        assert!(uri.starts_with("http://127.0.0.1:"), "{uri}");
        assert!(token_file.starts_with(home.path()));
        use std::os::unix::fs::PermissionsExt;
        let mode = std::fs::metadata(&token_file).unwrap().permissions().mode() & 0o777;
        assert_eq!(mode, 0o600);
        let token = std::fs::read_to_string(&token_file).unwrap();
        assert_eq!(token.len(), 64);

        let (status, body, _) = get(&uri, Some(&token)).await;
        assert_eq!(status, 200);
        assert_eq!(
            body["AccessKeyId"],
            w.sts.issued_credentials()[0].access_key_id.as_str()
        );

        rustix_kill(child.id());
        let out = child.wait_with_output().unwrap();
        assert!(out.status.success(), "{:?}", out.status);
        let stderr = String::from_utf8_lossy(&out.stderr);
        assert!(!stderr.contains(&token));
        assert!(!stderr.contains(&w.sts.issued_credentials()[0].secret_access_key));
    }

    fn rustix_kill(pid: u32) {
        let status = Command::new("kill")
            .args(["-TERM", &pid.to_string()])
            .status()
            .unwrap();
        assert!(status.success());
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn aws_exec_runs_the_command_with_the_endpoint_and_returns_its_status() {
        let w = World::new(None).await;
        let home = tempfile::tempdir().unwrap();
        // The child reads the endpoint the way an SDK does and exits 7.
        let script = r#"
import json, os, sys, urllib.request
assert "AWS_ACCESS_KEY_ID" not in os.environ
token = open(os.environ["AWS_CONTAINER_AUTHORIZATION_TOKEN_FILE"]).read()
request = urllib.request.Request(os.environ["AWS_CONTAINER_CREDENTIALS_FULL_URI"], headers={"Authorization": token})
print(json.load(urllib.request.urlopen(request))["AccessKeyId"])
sys.exit(7)
"#;
        let out = tokio::task::spawn_blocking({
            let mut cmd = command(&w, home.path());
            cmd.env("AWS_ACCESS_KEY_ID", "AKIASHADOWING")
                .arg("exec")
                .args(identity(&w))
                .args(["--", "python3", "-c", script]);
            move || cmd.output().unwrap()
        })
        .await
        .unwrap();
        assert_eq!(
            out.status.code(),
            Some(7),
            "{}",
            String::from_utf8_lossy(&out.stderr)
        );
        assert_eq!(
            String::from_utf8_lossy(&out.stdout).trim(),
            w.sts.issued_credentials()[0].access_key_id
        );
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn google_serve_metadata_prints_exports_and_serves_tokens() {
        let clouds = federated_credentials_testkit::Clouds::start()
            .await
            .unwrap();
        let dir = tempfile::tempdir().unwrap();
        let config = clouds.write_external_account_config(dir.path()).unwrap();
        let mut child = Command::new(env!("CARGO_BIN_EXE_federated-credentials"))
            .env_clear()
            .env("GOOGLE_APPLICATION_CREDENTIALS", &config)
            .args(["google", "serve-metadata", "--project-id", "p1"])
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .unwrap();
        let mut lines = BufReader::new(child.stdout.take().unwrap()).lines();
        let first = lines.next().unwrap().unwrap();
        let second = lines.next().unwrap().unwrap();
        let host = first
            .strip_prefix("export GCE_METADATA_HOST=")
            .unwrap_or_else(|| panic!("{first}"))
            .trim_matches('\'');
        assert_eq!(second, format!("export GCE_METADATA_IP='{host}'"));
        let response = reqwest::Client::new()
            .get(format!(
                "http://{host}/computeMetadata/v1/instance/service-accounts/default/token"
            ))
            .header("Metadata-Flavor", "Google")
            .send()
            .await
            .unwrap();
        assert_eq!(response.status().as_u16(), 200);
        let json: serde_json::Value = response.json().await.unwrap();
        let issued = clouds.iam.issued_access_tokens();
        assert_eq!(json["access_token"], issued[0].access_token.as_str());
        rustix_kill(child.id());
        let out = child.wait_with_output().unwrap();
        assert!(out.status.success(), "{:?}", out.status);
        assert!(!String::from_utf8_lossy(&out.stderr).contains(&issued[0].access_token));
    }
}
