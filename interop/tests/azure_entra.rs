//! Entra as a destination, against clients nobody here wrote:
//!
//! * azure-identity (Python, `ClientAssertionCredential`) and our `EntraCredentials` send the
//!   same token request for the same inputs, captured by the testkit's Entra emulator behind an
//!   https front (azure-identity refuses an http authority);
//! * azure_identity (Rust, `ClientAssertionCredential` over our `AzureClientAssertion`) sends
//!   it too, and gets a token;
//! * azure_storage_blob's `BlobServiceClient` takes our `AzureTokenCredential` and its requests
//!   carry the token the emulator issued to us, fetched once.
//!
//! Run with `.ci/interop.sh` (`INTEROP_PYTHON`: a venv with the pinned azure-identity).

use std::collections::BTreeMap;
use std::process::Command;
use std::sync::{Arc, Mutex};

use azure_core::credentials::TokenCredential;
use azure_core::http::{
    AsyncRawResponse, ClientOptions, HttpClient, Request, StatusCode, Transport, headers::Headers,
};
use federated_credentials::azure::EntraCredentials;
use federated_credentials::context::{Context, StaticEnv};
use federated_credentials::integrations::azure_core::AzureTokenCredential;
use federated_credentials::integrations::azure_identity::AzureClientAssertion;
use federated_credentials::source::GcpMetadataIdentityToken;
use federated_credentials_interop::required_env;
use federated_credentials_testkit::{
    EntraApplication, EntraEmulator, FederatedCredential, GcpMetadataEmulator, RecordedRequest,
    TlsFront, decode_payload,
};

const CLIENT: &str = "0000c11d-0000-4000-8000-000000000001";
const AUDIENCE: &str = "api://AzureADTokenExchange";
const STORAGE: &str = "https://storage.azure.com/.default";
const GOOGLE: &str = "https://accounts.google.com";

/// A GCE metadata server whose default service account Entra trusts, behind an https front.
struct World {
    mds: GcpMetadataEmulator,
    entra: EntraEmulator,
    front: TlsFront,
}

impl World {
    async fn new() -> World {
        let mds = GcpMetadataEmulator::builder().start().await.unwrap();
        let subject = mds.default_service_account().unique_id.clone();
        let entra = EntraEmulator::builder()
            .trust_issuer(GOOGLE, mds.identity())
            .application(
                EntraApplication::new(CLIENT)
                    .federated_credential(FederatedCredential::new(GOOGLE, subject)),
            )
            .start()
            .await
            .unwrap();
        let front = TlsFront::start(entra.local_addr()).await.unwrap();
        World { mds, entra, front }
    }

    fn source(&self) -> GcpMetadataIdentityToken {
        GcpMetadataIdentityToken::new(AUDIENCE).metadata_host(self.mds.host())
    }

    fn ours(&self) -> EntraCredentials {
        EntraCredentials::builder()
            .context(Context::builder().env(StaticEnv::empty()).build())
            .token_source(self.source())
            .tenant_id(self.entra.tenant_id())
            .client_id(CLIENT)
            .scope(STORAGE)
            .authority_host(self.entra.authority_host())
            .build()
            .unwrap()
    }

    /// A reqwest client (the transport azure_core uses) trusting the front's CA.
    fn transport(&self) -> Transport {
        let ca = reqwest::Certificate::from_pem(self.front.ca_pem().as_bytes()).unwrap();
        let client = reqwest::Client::builder()
            .tls_certs_only([ca])
            .build()
            .unwrap();
        Transport::new(Arc::new(client))
    }
}

/// The token request as a map, the assertion replaced by its `iss`/`sub`/`aud` (two fetches of
/// the metadata token differ in `iat`, not in who they are for), plus path and content type.
fn essentials(request: &RecordedRequest) -> BTreeMap<String, String> {
    let mut out: BTreeMap<String, String> = request.form().into_iter().collect();
    if let Some(assertion) = out.remove("client_assertion") {
        let claims = decode_payload(&assertion).expect("the assertion is a JWT");
        for claim in ["iss", "sub", "aud"] {
            out.insert(
                format!("client_assertion.{claim}"),
                claims[claim].to_string(),
            );
        }
    }
    out.insert("(method)".into(), request.method.clone());
    out.insert("(path)".into(), request.path.clone());
    out.insert(
        "(content-type)".into(),
        request
            .header("content-type")
            .unwrap_or_default()
            .split(';')
            .next()
            .unwrap_or_default()
            .trim()
            .to_ascii_lowercase(),
    );
    out
}

/// azure-identity's `ClientAssertionCredential` with the assertion in argv[4]; prints the
/// token and the package version as JSON.
const AZURE_IDENTITY: &str = r#"
import json, sys
import azure.identity
from azure.identity import ClientAssertionCredential
authority, tenant, client, assertion, ca = sys.argv[1:6]
credential = ClientAssertionCredential(tenant, client, lambda: assertion, authority=authority, connection_verify=ca)
token = credential.get_token("https://storage.azure.com/.default")
print(json.dumps({"azure_identity": azure.identity.__version__, "token": token.token}))
"#;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn azure_identity_python_and_ours_send_the_same_token_request() {
    let Some(python) = required_env("INTEROP_PYTHON", "a python with azure-identity installed")
    else {
        return;
    };
    let w = World::new().await;

    // ours
    w.ours().access_token().await.unwrap();
    let ours = w.entra.last_request().unwrap();

    // theirs, with an assertion from the same metadata server
    let assertion = {
        use federated_credentials::source::SubjectTokenSource;
        let token = w.source().subject_token(&Context::default()).await.unwrap();
        token.token().expose_secret().to_owned()
    };
    let dir = tempfile::tempdir().unwrap();
    let ca = dir.path().join("ca.pem");
    std::fs::write(&ca, w.front.ca_pem()).unwrap();
    let mut command = Command::new(&python);
    command
        .args([
            "-c",
            AZURE_IDENTITY,
            &w.front.url(),
            w.entra.tenant_id(),
            CLIENT,
        ])
        .arg(&assertion)
        .arg(&ca)
        .env_clear()
        .env("PATH", std::env::var_os("PATH").unwrap_or_default());
    let out = tokio::task::spawn_blocking(move || command.output())
        .await
        .unwrap()
        .unwrap();
    assert!(
        out.status.success(),
        "azure-identity failed: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    let printed: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    let theirs = w.entra.last_request().unwrap();
    let issued = w.entra.issued_tokens();
    assert_eq!(issued.len(), 2, "one token each");
    assert_eq!(printed["token"], issued[1].access_token.as_str());

    let (ours, theirs) = (essentials(&ours), essentials(&theirs));
    assert_eq!(ours, theirs, "azure-identity {}", printed["azure_identity"]);
    assert_eq!(ours["grant_type"], "client_credentials");
    assert_eq!(ours["client_assertion.aud"], format!("\"{AUDIENCE}\""));
    println!(
        "azure-identity {} and ours sent the same Entra token request: {ours:?}",
        printed["azure_identity"]
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn azure_identity_rust_takes_our_sources_as_its_client_assertion() {
    use azure_core::cloud::{CloudConfiguration, CustomConfiguration};
    use azure_identity::{ClientAssertionCredential, ClientAssertionCredentialOptions};

    let w = World::new().await;
    w.ours().access_token().await.unwrap();
    let ours = essentials(&w.entra.last_request().unwrap());

    let mut cloud = CustomConfiguration::default();
    cloud.authority_host = w.front.url();
    let options = ClientAssertionCredentialOptions {
        client_options: ClientOptions {
            transport: Some(w.transport()),
            cloud: Some(Arc::new(CloudConfiguration::from(cloud))),
            ..Default::default()
        },
    };
    let credential = ClientAssertionCredential::new(
        w.entra.tenant_id().to_string(),
        CLIENT.to_string(),
        AzureClientAssertion::new(w.source()),
        Some(options),
    )
    .unwrap();
    let token = credential.get_token(&[STORAGE], None).await.unwrap();
    let issued = w.entra.issued_tokens();
    assert_eq!(issued.len(), 2);
    assert!(token.token.secret() == issued[1].access_token);
    let theirs = essentials(&w.entra.last_request().unwrap());
    assert_eq!(ours, theirs, "azure_identity 1.0.0 and ours");
}

/// An azure_core transport that answers every request itself (200, no body) and keeps each
/// request's URL and `Authorization` header: the Blob service, without a network.
#[derive(Debug, Default)]
struct BlobService {
    seen: Mutex<Vec<(String, Option<String>)>>,
}

#[async_trait::async_trait]
impl HttpClient for BlobService {
    async fn execute_request(&self, request: &Request) -> azure_core::Result<AsyncRawResponse> {
        let authorization = request
            .headers()
            .iter()
            .find(|(name, _)| name.as_str().eq_ignore_ascii_case("authorization"))
            .map(|(_, value)| value.as_str().to_owned());
        self.seen
            .lock()
            .unwrap()
            .push((request.url().to_string(), authorization));
        let mut headers = Headers::new();
        headers.insert("x-ms-sku-name", "Standard_LRS");
        headers.insert("x-ms-account-kind", "StorageV2");
        Ok(AsyncRawResponse::from_bytes(
            StatusCode::Ok,
            headers,
            Vec::<u8>::new(),
        ))
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn azure_storage_blob_gets_its_bearer_token_from_us() {
    use azure_storage_blob::{BlobServiceClient, BlobServiceClientOptions};

    let w = World::new().await;
    let credential: Arc<dyn TokenCredential> = Arc::new(AzureTokenCredential::new(w.ours()));
    let blob = Arc::new(BlobService::default());
    let options = BlobServiceClientOptions {
        client_options: ClientOptions {
            transport: Some(Transport::new(blob.clone())),
            ..Default::default()
        },
        ..Default::default()
    };
    let client = BlobServiceClient::new(
        "https://account.blob.core.windows.net/".parse().unwrap(),
        Some(credential),
        Some(options),
    )
    .unwrap();
    for _ in 0..3 {
        client.get_account_info(None).await.unwrap();
    }

    let issued = w.entra.issued_tokens();
    assert_eq!(issued.len(), 1, "one Entra token for three calls");
    assert_eq!(
        issued[0].scope, STORAGE,
        "the scope the Blob client asks for"
    );
    let seen = blob.seen.lock().unwrap().clone();
    assert_eq!(seen.len(), 3);
    let expected = format!("Bearer {}", issued[0].access_token);
    for (url, authorization) in &seen {
        assert!(
            url.starts_with("https://account.blob.core.windows.net/"),
            "{url}"
        );
        assert!(
            authorization.as_deref() == Some(expected.as_str()),
            "{url}: the Blob request does not carry the token Entra issued"
        );
    }
}
