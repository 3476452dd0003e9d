//! The official Google Cloud Storage client (`google-cloud-storage`, on `google-cloud-auth`
//! 1.x) reading an object with credentials from an AWS workload: EC2 IMDSv2 role → SigV4
//! `GetCallerIdentity` subject token → Google STS → service-account impersonation, all
//! against the testkit's loopback emulators. A minimal stand-in for the Cloud Storage JSON
//! API serves the object only to the bearer of a token IAM Credentials issued.
//!
//! Run with `cargo test -p federated-credentials-interop --test google_cloud_storage`
//! (`.ci/interop.sh` runs it with the other interop suites).

use std::sync::{Arc, Mutex};

use federated_credentials::config::ExternalAccountConfig;
use federated_credentials::google::ExternalAccountCredentials;
use federated_credentials::integrations::google_cloud_auth::GoogleCloudAuthProvider;
use federated_credentials_testkit::Clouds;
use google_cloud_auth::credentials::anonymous::Builder as Anonymous;
use google_cloud_storage::client::Storage;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpListener;

const BUCKET: &str = "demo-bucket";
const OBJECT: &str = "reports/hello.txt";
const CONTENTS: &[u8] = b"hello from Cloud Storage";

/// What the stand-in was shown: the bearer token and the `x-goog-user-project` header.
type Seen = Arc<Mutex<Vec<(String, Option<String>)>>>;

/// Serves `GET /storage/v1/b/demo-bucket/o/reports%2Fhello.txt?alt=media` to a caller whose
/// `authorization: Bearer <token>` passes `valid`; 401 otherwise. One request per
/// connection. Records every bearer token and quota project it was shown.
struct StorageStandIn {
    url: String,
    seen: Seen,
}

impl StorageStandIn {
    async fn start(valid: impl Fn(&str) -> bool + Send + Sync + 'static) -> Self {
        let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
        let url = format!("http://{}", listener.local_addr().unwrap());
        let seen: Seen = Arc::default();
        let valid = Arc::new(valid);
        let record = seen.clone();
        tokio::spawn(async move {
            loop {
                let Ok((mut socket, _)) = listener.accept().await else {
                    return;
                };
                let (valid, record) = (valid.clone(), record.clone());
                tokio::spawn(async move {
                    let mut head = Vec::new();
                    let mut buf = [0u8; 4096];
                    while !head.windows(4).any(|w| w == b"\r\n\r\n") {
                        match socket.read(&mut buf).await {
                            Ok(0) | Err(_) => return,
                            Ok(n) => head.extend_from_slice(&buf[..n]),
                        }
                    }
                    let head = String::from_utf8_lossy(&head).to_string();
                    let mut lines = head.split("\r\n");
                    let request_line = lines.next().unwrap_or_default().to_string();
                    let header = |name: &str| {
                        head.split("\r\n").skip(1).find_map(|l| {
                            let (n, v) = l.split_once(':')?;
                            n.trim()
                                .eq_ignore_ascii_case(name)
                                .then(|| v.trim().to_string())
                        })
                    };
                    let bearer = header("authorization")
                        .and_then(|v| v.strip_prefix("Bearer ").map(str::to_string))
                        .unwrap_or_default();
                    record
                        .lock()
                        .unwrap()
                        .push((bearer.clone(), header("x-goog-user-project")));
                    let wanted = format!(
                        "GET /storage/v1/b/{BUCKET}/o/{}?",
                        OBJECT.replace('/', "%2F")
                    );
                    let response = if !request_line.starts_with(&wanted)
                        || !request_line.contains("alt=media")
                    {
                        error(404, "NOT_FOUND", "No such object")
                    } else if !valid(&bearer) {
                        error(401, "UNAUTHENTICATED", "Invalid Credentials")
                    } else {
                        let mut r = format!(
                            "HTTP/1.1 200 OK\r\ncontent-type: text/plain\r\ncontent-length: {}\r\n\
                             x-goog-generation: 1\r\nconnection: close\r\n\r\n",
                            CONTENTS.len()
                        )
                        .into_bytes();
                        r.extend_from_slice(CONTENTS);
                        r
                    };
                    let _ = socket.write_all(&response).await;
                    let _ = socket.shutdown().await;
                });
            }
        });
        Self { url, seen }
    }

    fn seen(&self) -> Vec<(String, Option<String>)> {
        self.seen.lock().unwrap().clone()
    }
}

fn error(code: u16, status: &str, message: &str) -> Vec<u8> {
    let body = format!(
        r#"{{"error":{{"code":{code},"message":"{message}","status":"{status}","errors":[{{"message":"{message}","domain":"global","reason":"required"}}]}}}}"#
    );
    format!(
        "HTTP/1.1 {code} {status}\r\ncontent-type: application/json\r\ncontent-length: {}\r\n\
         connection: close\r\n\r\n{body}",
        body.len()
    )
    .into_bytes()
}

async fn read_all(storage: &Storage) -> Result<Vec<u8>, google_cloud_storage::Error> {
    let mut reader = storage
        .read_object(format!("projects/_/buckets/{BUCKET}"), OBJECT)
        .send()
        .await?;
    let mut contents = Vec::new();
    while let Some(chunk) = reader.next().await.transpose()? {
        contents.extend_from_slice(&chunk);
    }
    Ok(contents)
}

#[tokio::test]
async fn official_storage_client_reads_an_object_with_federated_aws_credentials() {
    let clouds = Arc::new(Clouds::start().await.unwrap());
    let issued = clouds.clone();
    let gcs = StorageStandIn::start(move |bearer| {
        issued
            .iam
            .issued_access_tokens()
            .iter()
            .any(|t| t.access_token == bearer)
    })
    .await;

    // The configuration `gcloud iam workload-identity-pools create-cred-config --aws
    // --enable-imdsv2 --service-account ...` would write, pointing at the emulators.
    let dir = tempfile::tempdir().unwrap();
    let config = clouds.write_external_account_config(dir.path()).unwrap();
    let google = ExternalAccountCredentials::builder()
        .context(clouds.context())
        .config(ExternalAccountConfig::from_file(config).unwrap())
        .quota_project_id("billing-project")
        .build()
        .unwrap();
    let storage = Storage::builder()
        .with_endpoint(&gcs.url)
        .with_credentials(GoogleCloudAuthProvider::new(google.clone()).into_credentials())
        .build()
        .await
        .unwrap();

    assert_eq!(read_all(&storage).await.unwrap(), CONTENTS);
    assert_eq!(read_all(&storage).await.unwrap(), CONTENTS);

    // Both reads presented the token IAM Credentials minted for the service account, with
    // the quota project; our cache made one exchange for the two.
    let minted = clouds.iam.issued_access_tokens();
    assert_eq!(minted.len(), 1);
    assert_eq!(
        minted[0].service_account,
        federated_credentials_testkit::SERVICE_ACCOUNT
    );
    let seen = gcs.seen();
    assert_eq!(seen.len(), 2);
    for (bearer, project) in &seen {
        assert_eq!(bearer, &minted[0].access_token);
        assert_eq!(project.as_deref(), Some("billing-project"));
    }
    assert_eq!(google.cache().completed_fetches(), 1);

    // Control: the same client with anonymous credentials is refused by the stand-in.
    let anonymous = Storage::builder()
        .with_endpoint(&gcs.url)
        .with_credentials(Anonymous::new().build())
        .build()
        .await
        .unwrap();
    let err = read_all(&anonymous).await.unwrap_err();
    assert_eq!(err.http_status_code(), Some(401), "{err:?}");
}
