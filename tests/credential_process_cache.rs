//! The CLI's cache between invocations (`aws credential-process`, `google access-token`):
//! reused while enough is left, keyed by what determines the credential, private files,
//! unsafe or corrupt files ignored and replaced with a warning, one fetch for concurrent
//! invocations, `--no-cache`.

use std::os::unix::fs::PermissionsExt;
use std::path::{Path, PathBuf};
use std::process::Output;

use federated_credentials_testkit::{
    AwsStsEmulator, GcpMetadataEmulator, GoogleIdentity, GoogleStsEmulator, ProviderSpec, RoleSpec,
};

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

fn stdout(out: &Output) -> String {
    assert!(
        out.status.success(),
        "stderr: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8(out.stdout.clone()).unwrap()
}

fn stderr(out: &Output) -> String {
    String::from_utf8_lossy(&out.stderr).into_owned()
}

struct Aws {
    mds: GcpMetadataEmulator,
    sts: AwsStsEmulator,
    role: String,
    home: tempfile::TempDir,
}

impl Aws {
    async fn new() -> Aws {
        let mds = GcpMetadataEmulator::start().await.unwrap();
        let sts = AwsStsEmulator::start().await.unwrap();
        let role = sts.role_arn("cached");
        sts.add_role(
            RoleSpec::new(&role)
                .google_aud(&mds.default_service_account().unique_id)
                .google_oaud(AUDIENCE),
        );
        Aws {
            mds,
            sts,
            role,
            home: tempfile::tempdir().unwrap(),
        }
    }

    fn args(&self, extra: &[&str]) -> Vec<String> {
        let mut args: Vec<String> = [
            "aws",
            "credential-process",
            "--role-arn",
            &self.role,
            "--audience",
            AUDIENCE,
            "--sts-endpoint",
            &self.sts.endpoint(),
        ]
        .iter()
        .map(|s| s.to_string())
        .collect();
        args.extend(extra.iter().map(|s| s.to_string()));
        args
    }

    fn env(&self) -> Vec<(&'static str, String)> {
        vec![
            ("HOME", self.home.path().display().to_string()),
            ("GCE_METADATA_HOST", self.mds.host()),
        ]
    }

    fn cache_dir(&self) -> PathBuf {
        self.home
            .path()
            .join(".cache")
            .join("federated-credentials")
    }

    fn fetches(&self) -> usize {
        self.sts.issued_credentials().len()
    }
}

/// The cache's entry files (not the lock files).
fn entries(dir: &Path) -> Vec<PathBuf> {
    let mut files: Vec<PathBuf> = std::fs::read_dir(dir)
        .unwrap()
        .map(|e| e.unwrap().path())
        .filter(|p| p.extension().is_some_and(|e| e == "json"))
        .collect();
    files.sort();
    files
}

fn mode(path: &Path) -> u32 {
    std::fs::metadata(path).unwrap().permissions().mode() & 0o777
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_second_invocation_asks_nobody() {
    let w = Aws::new().await;
    let first = stdout(&run(w.args(&[]), w.env()).await);
    let mds_requests = w.mds.request_count();
    let second = run(w.args(&[]), w.env()).await;
    assert_eq!(stdout(&second), first, "the same credentials");
    assert!(stderr(&second).is_empty(), "quiet: {}", stderr(&second));
    assert_eq!(w.fetches(), 1, "one AssumeRoleWithWebIdentity");
    assert_eq!(w.mds.request_count(), mds_requests, "no metadata request");

    // Private: the directory 0700, the entry 0600, and no secret in its name.
    assert_eq!(mode(&w.cache_dir()), 0o700);
    let files = entries(&w.cache_dir());
    assert_eq!(files.len(), 1);
    assert_eq!(mode(&files[0]), 0o600);
    let key_id = w.sts.issued_credentials()[0].access_key_id.clone();
    assert!(!files[0].display().to_string().contains(&key_id));

    // XDG_CACHE_HOME (absolute) is where the cache lives when set.
    let xdg = tempfile::tempdir().unwrap();
    let mut env = w.env();
    env.push(("XDG_CACHE_HOME", xdg.path().display().to_string()));
    stdout(&run(w.args(&[]), env.clone()).await);
    stdout(&run(w.args(&[]), env).await);
    assert_eq!(w.fetches(), 2);
    assert_eq!(entries(&xdg.path().join("federated-credentials")).len(), 1);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn what_determines_the_credential_is_in_the_key() {
    let w = Aws::new().await;
    stdout(&run(w.args(&[]), w.env()).await);
    // --no-cache: fetched, and the entry left as it was.
    stdout(&run(w.args(&["--no-cache"]), w.env()).await);
    assert_eq!(w.fetches(), 2);
    stdout(&run(w.args(&[]), w.env()).await);
    assert_eq!(w.fetches(), 2, "the cached entry still serves");
    // Another session name, another role setting: another key.
    stdout(&run(w.args(&["--session-name", "other"]), w.env()).await);
    assert_eq!(w.fetches(), 3);
    // Another environment (a region): another key.
    let mut env = w.env();
    env.push(("AWS_REGION", "eu-west-1".to_string()));
    stdout(&run(w.args(&[]), env).await);
    assert_eq!(w.fetches(), 4);
    // A 15-minute session is never reused: botocore would run us again at once.
    stdout(&run(w.args(&["--duration-seconds", "900"]), w.env()).await);
    stdout(&run(w.args(&["--duration-seconds", "900"]), w.env()).await);
    assert_eq!(w.fetches(), 6);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn unsafe_and_corrupt_entries_are_replaced_with_a_warning() {
    let w = Aws::new().await;
    stdout(&run(w.args(&[]), w.env()).await);
    let entry = entries(&w.cache_dir()).remove(0);

    std::fs::set_permissions(&entry, std::fs::Permissions::from_mode(0o644)).unwrap();
    let out = run(w.args(&[]), w.env()).await;
    stdout(&out);
    assert!(stderr(&out).contains("mode 644"), "{}", stderr(&out));
    assert!(stderr(&out).starts_with("federated-credentials: warning: "));
    assert_eq!(w.fetches(), 2, "not trusted");
    assert_eq!(mode(&entry), 0o600, "replaced");

    std::fs::write(&entry, b"{\"version\":1,\"expi").unwrap();
    let out = run(w.args(&[]), w.env()).await;
    stdout(&out);
    assert!(stderr(&out).contains("corrupt"), "{}", stderr(&out));
    assert_eq!(w.fetches(), 3);
    stdout(&run(w.args(&[]), w.env()).await);
    assert_eq!(w.fetches(), 3, "the replacement serves");

    // No secret in any warning.
    let secret = w.sts.issued_credentials()[2].secret_access_key.clone();
    assert!(!stderr(&out).contains(&secret));

    // A cache directory others can read is made private again.
    std::fs::set_permissions(w.cache_dir(), std::fs::Permissions::from_mode(0o755)).unwrap();
    stdout(&run(w.args(&[]), w.env()).await);
    assert_eq!(mode(&w.cache_dir()), 0o700);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn concurrent_invocations_fetch_once() {
    let w = Aws::new().await;
    let runs: Vec<_> = (0..8)
        .map(|_| tokio::spawn(run(w.args(&[]), w.env())))
        .collect();
    let mut outputs = Vec::new();
    for r in runs {
        outputs.push(stdout(&r.await.unwrap()));
    }
    assert_eq!(w.fetches(), 1, "one STS call for eight invocations");
    assert!(outputs.iter().all(|o| o == &outputs[0]));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn google_access_tokens_are_cached_per_configuration() {
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
    let config = |scopes: &[&str]| {
        serde_json::json!({
            "type": "external_account", "audience": aud,
            "subject_token_type": "urn:ietf:params:oauth:token-type:jwt",
            "token_url": sts.token_url(),
            "credential_source": {"file": dir.path().join("jwt")},
            "scopes": scopes,
        })
        .to_string()
    };
    let path = dir.path().join("config.json");
    std::fs::write(
        &path,
        config(&["https://www.googleapis.com/auth/cloud-platform"]),
    )
    .unwrap();
    let env = vec![
        ("HOME", dir.path().display().to_string()),
        ("GOOGLE_APPLICATION_CREDENTIALS", path.display().to_string()),
    ];
    let args = || vec!["google".to_string(), "access-token".to_string()];
    let first = stdout(&run(args(), env.clone()).await);
    assert_eq!(stdout(&run(args(), env.clone()).await), first);
    assert_eq!(sts.issued_tokens().len(), 1);
    // JSON from the cache: expires_in counts down from the stored expiry.
    let mut json_args = args();
    json_args.extend(["--format".to_string(), "json".to_string()]);
    let json: serde_json::Value =
        serde_json::from_str(&stdout(&run(json_args, env.clone()).await)).unwrap();
    assert_eq!(json["access_token"].as_str(), Some(first.trim()));
    let left = json["expires_in"].as_u64().unwrap();
    assert!(left > 3000 && left <= 3600, "{left}");
    assert_eq!(sts.issued_tokens().len(), 1);
    // The configuration file changed (other scopes): another key.
    std::fs::write(
        &path,
        config(&["https://www.googleapis.com/auth/devstorage.read_only"]),
    )
    .unwrap();
    stdout(&run(args(), env).await);
    assert_eq!(sts.issued_tokens().len(), 2);
}
