//! The `google serve-metadata` broker (`server::MetadataServer`) against google-auth (Python),
//! pointed at it only by `GCE_METADATA_HOST`/`GCE_METADATA_IP`: `compute_engine.Credentials`,
//! `google.auth.default()` (which pings the server to decide it is on GCE) and
//! `compute_engine.IDTokenCredentials` get the tokens our AWS → GCP configuration produces;
//! so do google-cloud-auth 1.x's metadata-server credentials (Rust).
//! Run with `.ci/interop.sh` (`INTEROP_PYTHON`: a venv with the pinned google-auth).

use std::process::Command;

use federated_credentials::config::ExternalAccountConfig;
use federated_credentials::server::MetadataServer;
use federated_credentials_interop::required_env;
use federated_credentials_testkit::{Clouds, SERVICE_ACCOUNT};

const GOOGLE_AUTH: &str = r#"
import json
import google.auth, google.auth.transport.requests
from google.auth import compute_engine
request = google.auth.transport.requests.Request()
gce = compute_engine.Credentials()
gce.refresh(request)
default, project = google.auth.default()
default.refresh(request)
ids = compute_engine.IDTokenCredentials(request, "https://app.example", use_metadata_identity_endpoint=True)
ids.refresh(request)
print(json.dumps({
    "google_auth": google.auth.__version__,
    "token": gce.token, "email": gce.service_account_email,
    "default_type": type(default).__module__ + "." + type(default).__name__,
    "default_token": default.token, "project": project,
    "id_token": ids.token,
}))
"#;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn google_auth_uses_the_metadata_broker_as_a_gce_metadata_server() {
    let Some(python) = required_env("INTEROP_PYTHON", "a python with google-auth installed") else {
        return;
    };
    let clouds = Clouds::start().await.unwrap();
    let config =
        ExternalAccountConfig::from_json(&clouds.external_account_config().to_string()).unwrap();
    let server = MetadataServer::builder()
        .config(config)
        .project_id("emulated-project")
        .bind()
        .await
        .unwrap();
    server.prefetch().await.unwrap();
    let host = server.host();
    let (stop, stopped) = tokio::sync::oneshot::channel::<()>();
    let serving = tokio::spawn(server.run(async {
        let _ = stopped.await;
    }));

    let home = tempfile::tempdir().unwrap();
    let mut command = Command::new(&python);
    command
        .args(["-c", GOOGLE_AUTH])
        .env_clear()
        .env("PATH", std::env::var_os("PATH").unwrap_or_default())
        .env("HOME", home.path())
        .env("GCE_METADATA_HOST", &host)
        .env("GCE_METADATA_IP", &host);
    let out = tokio::task::spawn_blocking(move || command.output())
        .await
        .unwrap()
        .expect("run python");
    assert!(
        out.status.success(),
        "google-auth failed: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    let json: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    let issued = clouds.iam.issued_access_tokens();
    assert_eq!(
        issued.len(),
        1,
        "every client served from the one cached token"
    );
    assert_eq!(json["token"], issued[0].access_token.as_str(), "{json}");
    assert_eq!(
        json["default_token"],
        issued[0].access_token.as_str(),
        "{json}"
    );
    assert_eq!(
        json["default_type"], "google.auth.compute_engine.credentials.Credentials",
        "{json}"
    );
    assert_eq!(json["email"], SERVICE_ACCOUNT);
    assert_eq!(json["project"], "emulated-project");
    let ids = clouds.iam.issued_id_tokens();
    assert_eq!(ids.len(), 1);
    assert_eq!(json["id_token"], ids[0].token.as_str());
    assert_eq!(ids[0].audience, "https://app.example");
    println!(
        "google-auth {} used the metadata broker: compute_engine, default(), IDTokenCredentials",
        json["google_auth"]
    );

    // google-cloud-auth 1.x (Rust): its metadata-server credentials, pointed at the broker.
    let mds = google_cloud_auth::credentials::mds::Builder::default()
        .with_endpoint(format!("http://{host}"))
        .build_access_token_credentials()
        .unwrap();
    let token = mds.access_token().await.unwrap();
    assert!(
        token.token == clouds.iam.issued_access_tokens()[0].access_token,
        "google-cloud-auth got the broker's cached token"
    );
    assert_eq!(clouds.iam.issued_access_tokens().len(), 1);
    let _ = stop.send(());
    serving.await.unwrap().unwrap();
}
