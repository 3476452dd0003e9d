//! azure-identity (Python, the reference client, which sends its managed identity requests
//! through MSAL) and our `AzureManagedIdentityToken` against the same testkit emulator, on a
//! VM (IMDS, moved with `AZURE_POD_IDENTITY_AUTHORITY_HOST`) and on App Service
//! (`IDENTITY_ENDPOINT` + `IDENTITY_HEADER`), for the system-assigned identity and a
//! user-assigned one chosen by client id: both send the same method, path, query and identity
//! headers, and get a token for the same identity. Run with `.ci/interop.sh` (`INTEROP_PYTHON`:
//! a venv with the pinned azure-identity).

use std::collections::BTreeMap;
use std::process::Command;

use federated_credentials::context::{Context, StaticEnv};
use federated_credentials::source::{
    AzureManagedIdentityToken, SubjectTokenSource, UserAssignedIdentity,
};
use federated_credentials_interop::required_env;
use federated_credentials_testkit::{
    AzureManagedIdentityEmulator, ManagedIdentitySpec, RecordedRequest, decode_payload,
};

const RESOURCE: &str = "api://aws-federation";

/// azure-identity's `ManagedIdentityCredential` (client id in argv[1], or none); prints the
/// token and the package versions as JSON.
const AZURE_IDENTITY: &str = r#"
import json, sys
import azure.identity, msal
from azure.identity import ManagedIdentityCredential
client_id = sys.argv[2] or None
token = ManagedIdentityCredential(client_id=client_id).get_token(sys.argv[1] + "/.default")
print(json.dumps({"azure_identity": azure.identity.__version__, "msal": msal.__version__, "token": token.token}))
"#;

/// What must be equal between the two clients' requests: method, path, every query
/// parameter (decoded), and the identity headers.
fn essentials(
    request: &RecordedRequest,
) -> (
    String,
    String,
    BTreeMap<String, String>,
    Vec<Option<String>>,
) {
    let query = request.query.iter().cloned().collect();
    let headers = ["metadata", "x-identity-header"]
        .iter()
        .map(|h| request.header(h).map(str::to_ascii_lowercase))
        .collect();
    (request.method.clone(), request.path.clone(), query, headers)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn azure_identity_and_ours_send_the_same_managed_identity_requests() {
    let Some(python) = required_env("INTEROP_PYTHON", "a python with azure-identity installed")
    else {
        return;
    };
    let reader = ManagedIdentitySpec::user_assigned("reader");
    let azure = AzureManagedIdentityEmulator::builder()
        .user_assigned(reader.clone())
        .start()
        .await
        .unwrap();
    let vm = azure.system_assigned().unwrap().clone();
    let mut cases = 0;
    for (platform, env) in [
        ("VM", azure.imds_env()),
        ("App Service", azure.app_service_env()),
    ] {
        for (identity, expected_oid) in [(None, &vm.object_id), (Some(&reader), &reader.object_id)]
        {
            // theirs
            let mut command = Command::new(&python);
            command
                .args(["-c", AZURE_IDENTITY, RESOURCE])
                .arg(identity.map_or("", |i| i.client_id.as_str()))
                .env_clear()
                .env("PATH", std::env::var_os("PATH").unwrap_or_default())
                .envs(env.iter().map(|(k, v)| (k.as_str(), v.as_str())));
            let out = tokio::task::spawn_blocking(move || command.output())
                .await
                .unwrap()
                .expect("run python");
            assert!(
                out.status.success(),
                "{platform}: azure-identity failed: {}",
                String::from_utf8_lossy(&out.stderr)
            );
            let theirs: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
            let their_request = azure.last_request().unwrap();

            // ours
            let mut source = AzureManagedIdentityToken::new(RESOURCE);
            if let Some(i) = identity {
                source = source.user_assigned(UserAssignedIdentity::ClientId(i.client_id.clone()));
            }
            let ctx = Context::builder()
                .env(StaticEnv::from_pairs(env.clone()))
                .build();
            let ours = source.subject_token(&ctx).await.unwrap();
            let our_request = azure.last_request().unwrap();

            assert_eq!(
                essentials(&our_request),
                essentials(&their_request),
                "{platform}, {identity:?}: the requests differ ({theirs})"
            );
            for token in [
                theirs["token"].as_str().unwrap(),
                ours.token().expose_secret(),
            ] {
                let claims = decode_payload(token).unwrap();
                assert_eq!(claims["oid"], expected_oid.as_str(), "{platform}");
                assert_eq!(claims["aud"], RESOURCE, "{platform}");
            }
            cases += 1;
        }
    }
    assert_eq!(cases, 4);
}
