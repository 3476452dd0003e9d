//! `server::ContainerCredentialsServer` (the `aws serve` broker) against the emulators: the
//! container-credentials protocol for authorized callers only, one upstream fetch for many
//! callers, stale through an outage and a 503 after expiry, health, readiness and metrics;
//! our own container-credentials client reads it; the CLI's `aws serve` and `aws exec`.

use std::sync::Arc;
use std::time::{Duration, UNIX_EPOCH};

use federated_credentials::aws::WebIdentityProvider;
use federated_credentials::context::{Context, InstantSleep, ManualClock, StaticEnv};
use federated_credentials::file_cache::{CacheKey, FileCache};
use federated_credentials::server::{
    AuthToken, ContainerCredentialsServer, ContainerCredentialsServerBuilder, ServerOptions,
};
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
        self.provider_for(&self.role)
    }

    /// A second role with the same trust, for the per-request role tests.
    fn second_role(&self) -> String {
        let role = self.sts.role_arn("broker-b");
        self.sts.add_role(
            RoleSpec::new(&role)
                .google_aud(&self.mds.default_service_account().unique_id)
                .google_oaud(AUDIENCE),
        );
        role
    }

    fn provider_for(&self, role: &str) -> WebIdentityProvider {
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
            .role_arn(role)
            .configure_sts(|s| s.endpoint_url(self.sts.endpoint()))
            .build()
            .unwrap()
    }

    async fn server(&self) -> (String, tokio::sync::oneshot::Sender<()>) {
        self.start(ContainerCredentialsServer::builder()).await
    }

    /// Binds `builder` with this world's provider and token and runs it until the sender is
    /// dropped or used.
    async fn start(
        &self,
        builder: ContainerCredentialsServerBuilder,
    ) -> (String, tokio::sync::oneshot::Sender<()>) {
        let server = builder
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

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn per_request_roles_are_served_from_their_own_cache_for_the_allow_list_only() {
    let w = World::new(None).await;
    let role_b = w.second_role();
    let (base, _stop) = w
        .start(ContainerCredentialsServer::builder().role(&role_b, w.provider_for(&role_b)))
        .await;
    let role_url = format!("{base}/role-arn/{role_b}");

    assert_eq!(get(&role_url, None).await.0, 401);
    let (status, body, _) = get(&role_url, Some("wrong")).await;
    assert_eq!(status, 403);
    assert!(body.get("AccessKeyId").is_none());
    assert!(w.sts.issued_credentials().is_empty());

    let (status, b, text) = get(&role_url, Some(TOKEN)).await;
    assert_eq!(status, 200, "{text}");
    assert!(
        b["RoleArn"]
            .as_str()
            .unwrap()
            .contains(":assumed-role/broker-b/"),
        "{}",
        b["RoleArn"]
    );
    // The ARN percent-encoded (as a client quoting the path would send it) is the same role,
    // from the same cache.
    let encoded = role_b.replace(':', "%3A").replace('/', "%2F");
    let (status, again, _) = get(&format!("{base}/role-arn/{encoded}"), Some(TOKEN)).await;
    assert_eq!(status, 200);
    assert_eq!(again["AccessKeyId"], b["AccessKeyId"]);
    // The default role is another cache.
    let (status, default, _) = get(&format!("{base}/credentials"), Some(TOKEN)).await;
    assert_eq!(status, 200);
    assert!(
        default["RoleArn"]
            .as_str()
            .unwrap()
            .contains(":assumed-role/broker/")
    );
    assert_ne!(default["AccessKeyId"], b["AccessKeyId"]);
    assert_eq!(w.sts.issued_credentials().len(), 2, "one fetch per role");
    let (_, _, metrics) = get(&format!("{base}/metrics"), None).await;
    for line in [
        "federated_credentials_cache_fetches_total 1".to_string(),
        format!("federated_credentials_cache_fetches_total{{role=\"{role_b}\"}} 1"),
    ] {
        assert!(metrics.contains(&line), "{line} in\n{metrics}");
    }

    // A role off the list is refused by name, and nothing is asked of STS for it; the
    // default role's ARN is not on the per-request list either.
    for other in [w.sts.role_arn("admin"), w.role.clone()] {
        let (status, body, text) = get(&format!("{base}/role-arn/{other}"), Some(TOKEN)).await;
        assert_eq!(status, 403, "{text}");
        assert_eq!(body["code"], "RoleNotAllowed");
        assert!(body["message"].as_str().unwrap().contains(&other), "{text}");
        assert!(body.get("AccessKeyId").is_none());
    }
    assert_eq!(w.sts.issued_credentials().len(), 2);
}

#[tokio::test]
async fn per_request_roles_are_off_unless_given_and_must_be_role_arns() {
    let w = World::new(None).await;
    let (base, _stop) = w.server().await;
    let (status, body, text) = get(&format!("{base}/role-arn/{}", w.role), Some(TOKEN)).await;
    assert_eq!(status, 404, "{text}");
    assert!(body["message"].as_str().unwrap().contains("off"), "{text}");
    // Unauthenticated callers learn nothing, not even that the feature is off.
    assert_eq!(get(&format!("{base}/role-arn/x"), None).await.0, 401);

    for bad in ["", "admin", "arn:aws:iam::1:role/a b"] {
        let err = ContainerCredentialsServer::builder()
            .provider(w.provider())
            .auth_token(AuthToken::fixed(TOKEN))
            .role(bad, w.provider())
            .bind()
            .await
            .unwrap_err();
        assert!(err.to_string().contains("is not a role ARN"), "{err}");
    }
    let err = ContainerCredentialsServer::builder()
        .provider(w.provider())
        .auth_token(AuthToken::fixed(TOKEN))
        .role(&w.role, w.provider())
        .role(&w.role, w.provider())
        .bind()
        .await
        .unwrap_err();
    assert!(err.to_string().contains("twice"), "{err}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_restarted_server_serves_its_persisted_credentials_without_sts() {
    let w = World::new(None).await;
    let role_b = w.second_role();
    let dir = tempfile::tempdir().unwrap();
    let files = FileCache::open(dir.path().join("cache")).unwrap();
    let key = CacheKey::new(["broker test", w.role.as_str()]);
    let persisted = || {
        ContainerCredentialsServer::builder()
            .persist(files.clone(), key.clone())
            .role(&role_b, w.provider_for(&role_b))
    };

    let (base, stop) = w.start(persisted()).await;
    let (_, first, _) = get(&format!("{base}/credentials"), Some(TOKEN)).await;
    let (_, first_b, _) = get(&format!("{base}/role-arn/{role_b}"), Some(TOKEN)).await;
    assert_eq!(w.sts.issued_credentials().len(), 2);
    // Written by the server's keeper task: wait for both entries (no sleep for correctness:
    // the loop only polls for the files).
    let entries = || {
        std::fs::read_dir(files.dir())
            .unwrap()
            .filter_map(Result::ok)
            .filter(|e| e.path().extension().is_some_and(|x| x == "json"))
            .count()
    };
    for _ in 0..500 {
        if entries() >= 2 {
            break;
        }
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    assert_eq!(entries(), 2, "one entry per role");
    use std::os::unix::fs::PermissionsExt;
    for entry in std::fs::read_dir(files.dir()).unwrap() {
        let path = entry.unwrap().path();
        if path.extension().is_some_and(|x| x == "json") {
            let mode = std::fs::metadata(&path).unwrap().permissions().mode() & 0o777;
            assert_eq!(mode, 0o600, "{}", path.display());
        }
    }
    let _ = stop.send(());

    // Restarted while STS is down: both roles are served from the files, STS is not asked.
    w.sts.push_fault_times(Fault::status(503), 10_000);
    let before = w.sts.requests().len();
    let (base, _stop) = w.start(persisted()).await;
    let (status, again, text) = get(&format!("{base}/credentials"), Some(TOKEN)).await;
    assert_eq!(status, 200, "{text}");
    assert_eq!(again, first);
    let (status, again_b, _) = get(&format!("{base}/role-arn/{role_b}"), Some(TOKEN)).await;
    assert_eq!(status, 200);
    assert_eq!(again_b, first_b);
    assert_eq!(
        w.sts.requests().len(),
        before,
        "no STS request after the restart"
    );

    // Another key (another identity) does not read these entries.
    let (base, _stop) = w
        .start(
            ContainerCredentialsServer::builder().persist(files.clone(), CacheKey::new(["other"])),
        )
        .await;
    assert_eq!(
        get(&format!("{base}/credentials"), Some(TOKEN)).await.0,
        503
    );
}

/// Every way STS can fail, behind the broker with nothing cached: each request is answered
/// within `upstream_wait` (1 s) plus slack, with a 503 JSON error and no credential, and the
/// broker serves again once STS recovers.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn every_sts_fault_is_a_prompt_503_and_the_broker_recovers() {
    let faults = [
        ("HTTP 500", Fault::status(500)),
        ("HTTP 503", Fault::status(503)),
        ("HTTP 429", Fault::too_many_requests(Duration::ZERO)),
        ("HTTP 400, no STS document", Fault::status(400)),
        (
            "HTTP 403 HTML",
            Fault::status_with_body(403, "<html>denied</html>"),
        ),
        (
            "HTTP 200 HTML",
            Fault::status_with_body(200, "<html>portal</html>"),
        ),
        ("connection closed", Fault::CloseConnection),
        ("hang", Fault::Hang),
        ("slow answer", Fault::Delay(Duration::from_secs(3))),
        ("dripped body", Fault::drip(Duration::from_millis(200))),
        ("huge body", Fault::huge_body(64 * 1024 * 1024)),
    ];
    for (name, fault) in faults {
        let w = World::new(None).await;
        w.sts.push_fault_times(fault, 10_000);
        let (base, _stop) = w.server().await;
        let url = format!("{base}/credentials");
        let started = std::time::Instant::now();
        let (status, body, text) = get(&url, Some(TOKEN)).await;
        let took = started.elapsed();
        assert_eq!(status, 503, "{name}: {text}");
        assert_eq!(body["code"], "CredentialsUnavailable", "{name}: {text}");
        assert!(body.get("AccessKeyId").is_none(), "{name}");
        assert!(
            took < Duration::from_millis(2500),
            "{name}: answered after {took:?}"
        );

        // STS recovers: the broker serves again (once the fetch in flight, if it hangs,
        // reaches its attempt timeout).
        w.sts.clear_faults();
        let mut served = false;
        for _ in 0..60 {
            let (status, body, _) = get(&url, Some(TOKEN)).await;
            if status == 200 {
                assert!(body.get("AccessKeyId").is_some(), "{name}");
                served = true;
                break;
            }
            assert_eq!(status, 503, "{name}");
        }
        assert!(served, "{name}: not served after STS recovered");
    }
}

/// Reads from `stream` until the server closes it (or `limit` passes: then the test fails),
/// returning what it sent.
async fn read_until_closed(stream: &mut tokio::net::TcpStream, limit: Duration) -> String {
    use tokio::io::AsyncReadExt;
    let mut out = Vec::new();
    let mut buf = [0u8; 4096];
    let deadline = tokio::time::Instant::now() + limit;
    loop {
        match tokio::time::timeout_at(deadline, stream.read(&mut buf)).await {
            Err(_) => panic!(
                "the server kept the connection open for {limit:?}; it sent: {}",
                String::from_utf8_lossy(&out)
            ),
            Ok(Ok(0)) | Ok(Err(_)) => return String::from_utf8_lossy(&out).into_owned(),
            Ok(Ok(n)) => out.extend_from_slice(&buf[..n]),
        }
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn hostile_clients_are_cut_off_and_the_server_keeps_serving() {
    use tokio::io::AsyncWriteExt;
    use tokio::net::TcpStream;

    let w = World::new(None).await;
    let mut options = ServerOptions::default();
    options.header_read_timeout = Duration::from_secs(1);
    options.max_connections = 3;
    let (base, _stop) = w
        .start(ContainerCredentialsServer::builder().options(options))
        .await;
    let addr = base.trim_start_matches("http://").to_string();
    let url = format!("{base}/credentials");
    let limit = Duration::from_secs(10);

    // Not HTTP: a 400, and the connection closed.
    let mut garbage = TcpStream::connect(&addr).await.unwrap();
    garbage
        .write_all(b"\x16\x03\x01 hello\r\n\r\n")
        .await
        .unwrap();
    let answer = read_until_closed(&mut garbage, limit).await;
    assert!(answer.starts_with("HTTP/1.1 400"), "{answer}");

    // A request head over the limit (16 KiB): refused, no credential.
    let mut big = TcpStream::connect(&addr).await.unwrap();
    let head = format!(
        "GET /credentials HTTP/1.1\r\nHost: x\r\nAuthorization: {TOKEN}\r\nX-Pad: {}\r\n\r\n",
        "a".repeat(64 * 1024)
    );
    let _ = big.write_all(head.as_bytes()).await;
    let answer = read_until_closed(&mut big, limit).await;
    assert!(
        answer.is_empty() || answer.starts_with("HTTP/1.1 431"),
        "{answer}"
    );
    assert!(!answer.contains("AccessKeyId"));

    // Slowloris: half a request head, then nothing. Cut off after the head timeout.
    let mut slow = TcpStream::connect(&addr).await.unwrap();
    slow.write_all(b"GET /credentials HTTP/1.1\r\nHost: x\r\n")
        .await
        .unwrap();
    let answer = read_until_closed(&mut slow, limit).await;
    assert!(!answer.contains("AccessKeyId"), "{answer}");

    // An idle keep-alive connection does not hold its slot for ever either.
    let mut idle = TcpStream::connect(&addr).await.unwrap();
    idle.write_all(b"GET /healthz HTTP/1.1\r\nHost: x\r\n\r\n")
        .await
        .unwrap();
    let answer = read_until_closed(&mut idle, limit).await;
    assert!(answer.starts_with("HTTP/1.1 200"), "{answer}");

    // The connection limit: with 3 connections held open, a 4th is closed at once with
    // nothing sent (and counted); once they are cut off (the head timeout), new ones are
    // served.
    let mut held = Vec::new();
    for _ in 0..3 {
        let mut c = TcpStream::connect(&addr).await.unwrap();
        c.write_all(b"GET /heal").await.unwrap();
        held.push(c);
    }
    let mut fourth = TcpStream::connect(&addr).await.unwrap();
    assert_eq!(read_until_closed(&mut fourth, limit).await, "");
    for mut c in held {
        read_until_closed(&mut c, limit).await;
    }
    let (_, _, metrics) = get(&format!("{base}/metrics"), None).await;
    assert!(
        metrics.contains("federated_credentials_server_refused_connections_total 1"),
        "{metrics}"
    );
    let (status, body, _) = get(&url, Some(TOKEN)).await;
    assert_eq!(status, 200);
    assert!(body.get("AccessKeyId").is_some());
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
        let exports = exports(&mut child);
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

    /// The two `export NAME='VALUE'` lines a server prints once it is ready.
    fn exports(child: &mut std::process::Child) -> std::collections::HashMap<String, String> {
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
        exports
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn aws_serve_serves_allowed_roles_and_restarts_from_its_cache_without_sts() {
        let w = World::new(None).await;
        let role_b = w.second_role();
        let home = tempfile::tempdir().unwrap();
        let run = |listen: &str, extra: &[&str]| {
            command(&w, home.path())
                .arg("serve")
                .args(identity(&w))
                .args(["--allow-role-arn", &role_b, "--listen", listen])
                .args(extra)
                .stdout(Stdio::piped())
                .stderr(Stdio::piped())
                .spawn()
                .unwrap()
        };
        let mut child = run("127.0.0.1:0", &[]);
        let first = exports(&mut child);
        let token =
            std::fs::read_to_string(&first["AWS_CONTAINER_AUTHORIZATION_TOKEN_FILE"]).unwrap();
        let base = first["AWS_CONTAINER_CREDENTIALS_FULL_URI"]
            .trim_end_matches("/credentials")
            .to_string();
        let (status, a, _) = get(&format!("{base}/credentials"), Some(&token)).await;
        assert_eq!(status, 200);
        let (status, b, text) = get(&format!("{base}/role-arn/{role_b}"), Some(&token)).await;
        assert_eq!(status, 200, "{text}");
        assert!(
            b["RoleArn"]
                .as_str()
                .unwrap()
                .contains(":assumed-role/broker-b/")
        );
        let (status, _, _) = get(
            &format!("{base}/role-arn/{}", w.sts.role_arn("x")),
            Some(&token),
        )
        .await;
        assert_eq!(status, 403);
        assert_eq!(
            w.sts.issued_credentials().len(),
            2,
            "both roles fetched at startup, once"
        );
        // The entries are written by a task of the server: wait for both before stopping it.
        let cache_dir = home.path().join(".cache/federated-credentials");
        for _ in 0..500 {
            let n = std::fs::read_dir(&cache_dir)
                .map(|d| {
                    d.filter_map(Result::ok)
                        .filter(|e| e.path().extension().is_some_and(|x| x == "json"))
                        .count()
                })
                .unwrap_or(0);
            if n >= 2 {
                break;
            }
            tokio::time::sleep(Duration::from_millis(10)).await;
        }
        rustix_kill(child.id());
        assert!(child.wait().unwrap().success());

        // STS is down. Restarted on another (explicit) port: ready at once, from the
        // persisted copies.
        w.sts.push_fault_times(Fault::status(503), 10_000);
        let before = w.sts.requests().len();
        let port = std::net::TcpListener::bind("127.0.0.1:0")
            .unwrap()
            .local_addr()
            .unwrap()
            .port();
        let mut child = run(&format!("127.0.0.1:{port}"), &[]);
        let second = exports(&mut child);
        let base = second["AWS_CONTAINER_CREDENTIALS_FULL_URI"]
            .trim_end_matches("/credentials")
            .to_string();
        assert_eq!(get(&format!("{base}/credentials"), Some(&token)).await.1, a);
        assert_eq!(
            get(&format!("{base}/role-arn/{role_b}"), Some(&token))
                .await
                .1,
            b
        );
        assert_eq!(
            w.sts.requests().len(),
            before,
            "the restart asked STS nothing"
        );
        rustix_kill(child.id());
        let out = child.wait_with_output().unwrap();
        assert!(out.status.success());
        let stderr = String::from_utf8_lossy(&out.stderr);
        assert!(
            !stderr.contains(a["SecretAccessKey"].as_str().unwrap()),
            "{stderr}"
        );

        // --no-cache: nothing persisted is used, so with STS down it cannot start, and says why.
        let out = run("127.0.0.1:0", &["--no-cache"])
            .wait_with_output()
            .unwrap();
        assert!(!out.status.success());
        assert!(out.stdout.is_empty(), "no export lines");
        let stderr = String::from_utf8_lossy(&out.stderr);
        assert!(stderr.contains("STS") || stderr.contains("sts"), "{stderr}");
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
