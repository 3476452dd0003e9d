//! Azure workloads to AWS and Google Cloud: a VM's or App Service's managed identity
//! (`AzureManagedIdentityToken`) and an AKS pod's projected workload identity token
//! (`AzureWorkloadIdentityToken`), each trusted on the other side the way the clouds document
//! it (an IAM OIDC provider for the issuer; a workload identity pool provider with the issuer
//! URI and allowed audience), and gcloud's unchanged `create-cred-config --azure` file.

use std::time::{Duration, UNIX_EPOCH};

use federated_credentials::config::ExternalAccountConfig;
use federated_credentials::context::{Context, InstantSleep, ManualClock, StaticEnv};
use federated_credentials::default_chain::{self, AZURE_RESOURCE_ENV};
use federated_credentials::google::ExternalAccountCredentials;
use federated_credentials::source::AzureWorkloadIdentityToken;
use federated_credentials_testkit::{
    AwsStsEmulator, AzureManagedIdentityEmulator, GoogleIdentity, GoogleStsEmulator,
    ManagedIdentitySpec, OIDC_PROVIDER_AUDIENCE, OidcProviderSpec, ProviderSpec, RoleSpec,
};
use serde_json::json;

const T0: u64 = 1_800_000_000;
/// The app registration whose application id URI the managed identity asks a token for.
const RESOURCE: &str = "api://aws-federation";
/// The audience the AKS webhook puts in every projected token.
const AKS_AUDIENCE: &str = "api://AzureADTokenExchange";
const AKS_ISSUER: &str = "https://eastus.oic.prod-aks.azure.com/72f9a8bf-0000-4000-8000-00000000a2e1/0c1d2e3f-aaaa-bbbb-cccc-000000000001/";

fn clock() -> ManualClock {
    ManualClock::new(UNIX_EPOCH + Duration::from_secs(T0))
}

fn ctx(clock: &ManualClock, env: Vec<(String, String)>) -> Context {
    Context::builder()
        .clock(clock.clone())
        .env(StaticEnv::from_pairs(env))
        .sleep(InstantSleep)
        .build()
}

fn pairs(items: &[(&str, &str)]) -> Vec<(String, String)> {
    items
        .iter()
        .map(|(k, v)| (k.to_string(), v.to_string()))
        .collect()
}

#[tokio::test]
async fn an_azure_vm_and_an_app_service_assume_an_aws_role_as_their_managed_identity() {
    let clock = clock();
    let reader = ManagedIdentitySpec::user_assigned("reader");
    let azure = AzureManagedIdentityEmulator::builder()
        .clock(clock.clone())
        .user_assigned(reader.clone())
        .resources([RESOURCE])
        .start()
        .await
        .unwrap();
    let issuer = azure.issuer();
    let host = issuer.trim_start_matches("https://").to_string();
    let sts = AwsStsEmulator::builder()
        .clock(clock.clone())
        .oidc_provider(
            OidcProviderSpec::new(&issuer)
                .client_id(RESOURCE)
                .trust(azure.identity()),
        )
        .start()
        .await
        .unwrap();
    // The role trusts the VM's system-assigned identity only.
    let vm = azure.system_assigned().unwrap().clone();
    let role = sts.role_arn("azure-vm");
    sts.add_role(
        RoleSpec::new(&role)
            .oidc_principal(&issuer)
            .condition(format!("{host}:sub"), &vm.object_id),
    );
    let mut env = azure.imds_env();
    env.extend(pairs(&[
        ("AWS_ROLE_ARN", &role),
        (AZURE_RESOURCE_ENV, RESOURCE),
        ("AWS_ENDPOINT_URL_STS", &sts.endpoint()),
        ("AWS_CONFIG_FILE", "/nonexistent"),
    ]));
    let aws = default_chain::aws_web_identity(&ctx(&clock, env.clone()))
        .await
        .unwrap();
    let credentials = aws.credentials().await.unwrap();
    let issued = sts.credentials_for(credentials.access_key_id()).unwrap();
    assert_eq!(issued.subject, vm.object_id);
    assert_eq!(issued.audience, RESOURCE);
    assert!(issued.provider.ends_with(&format!(":oidc-provider/{host}")));
    let asked = azure.last_request().unwrap();
    assert_eq!(asked.query_param("resource"), Some(RESOURCE));
    assert_eq!(asked.header("metadata"), Some("true"));

    // AZURE_CLIENT_ID picks the user-assigned identity, as azure-identity does: another
    // subject, which this role does not trust (AWS's AccessDenied, never the VM's identity).
    let mut as_reader = env.clone();
    as_reader.push(("AZURE_CLIENT_ID".into(), reader.client_id.clone()));
    let err = default_chain::aws_web_identity(&ctx(&clock, as_reader))
        .await
        .unwrap()
        .credentials()
        .await
        .unwrap_err();
    assert_eq!(err.upstream_code(), Some("AccessDenied"), "{err}");
    assert_eq!(
        azure.last_request().unwrap().query_param("client_id"),
        Some(reader.client_id.as_str())
    );

    // An identity that is not assigned: Azure's answer with the hint, no AWS call.
    let before = sts.request_count();
    let mut unknown = env.clone();
    unknown.push((
        "AZURE_CLIENT_ID".into(),
        "99999999-0000-4000-8000-000000000000".into(),
    ));
    let err = default_chain::aws_web_identity(&ctx(&clock, unknown))
        .await
        .unwrap()
        .credentials()
        .await
        .unwrap_err();
    assert!(
        err.to_string().contains("is not assigned to this VM"),
        "{err}"
    );
    assert_eq!(sts.request_count(), before);

    // App Service: IDENTITY_ENDPOINT + IDENTITY_HEADER (and no IMDS variable).
    let mut app = azure.app_service_env();
    app.extend(
        env.into_iter()
            .filter(|(k, _)| k != "AZURE_POD_IDENTITY_AUTHORITY_HOST"),
    );
    let credentials = default_chain::aws_web_identity(&ctx(&clock, app))
        .await
        .unwrap()
        .credentials()
        .await
        .unwrap();
    assert_eq!(
        sts.credentials_for(credentials.access_key_id())
            .unwrap()
            .subject,
        vm.object_id
    );
    let asked = azure.last_request().unwrap();
    assert_eq!(asked.path, "/msi/token");
    assert_eq!(
        asked.header("x-identity-header"),
        Some(azure.identity_header().as_str())
    );
}

/// A projected AKS service-account token, as the webhook mounts it.
fn aks_token(cluster: &GoogleIdentity, now: u64, jti: &str) -> String {
    cluster.sign(&json!({
        "iss": AKS_ISSUER,
        "aud": [AKS_AUDIENCE],
        "sub": "system:serviceaccount:payments:api",
        "iat": now,
        "nbf": now,
        "exp": now + 3600,
        "jti": jti,
        "kubernetes.io": {"namespace": "payments", "serviceaccount": {"name": "api"}},
    }))
}

#[tokio::test]
async fn an_aks_pod_reaches_google_and_aws_with_its_rotated_projected_token() {
    let clock = clock();
    let cluster = GoogleIdentity::generate();
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("azure-identity-token");
    std::fs::write(&file, aks_token(&cluster, T0, "first")).unwrap();
    let pod_env = pairs(&[("AZURE_FEDERATED_TOKEN_FILE", file.to_str().unwrap())]);

    // Google: a pool provider for the cluster's issuer that allows the webhook's audience.
    let google_sts = GoogleStsEmulator::builder()
        .clock(clock.clone())
        .provider(
            ProviderSpec::oidc(OIDC_PROVIDER_AUDIENCE)
                .issuer_uri(AKS_ISSUER)
                .allowed_audience(AKS_AUDIENCE)
                .trust(cluster.clone()),
        )
        .start()
        .await
        .unwrap();
    let google = ExternalAccountCredentials::builder()
        .context(ctx(&clock, pod_env.clone()))
        .audience(OIDC_PROVIDER_AUDIENCE)
        .token_url(google_sts.token_url())
        .token_source(AzureWorkloadIdentityToken::new())
        .build()
        .unwrap();
    google.access_token().await.unwrap();
    // The kubelet rotates the file; the next refresh sends the new token.
    clock.advance(Duration::from_secs(3000));
    std::fs::write(&file, aks_token(&cluster, T0 + 3000, "second")).unwrap();
    google.cache().invalidate();
    google.access_token().await.unwrap();
    let sent: Vec<String> = google_sts
        .requests()
        .iter()
        .map(|r| r.form_param("subject_token").unwrap())
        .collect();
    assert_eq!(sent.len(), 2);
    assert_ne!(sent[0], sent[1], "the rotated file was not re-read");
    assert_eq!(
        google_sts.issued_tokens()[0].subject,
        "system:serviceaccount:payments:api"
    );

    // AWS: the default chain finds the file; an IAM OIDC provider for the cluster's issuer
    // with the webhook's audience as client id.
    let sts = AwsStsEmulator::builder()
        .clock(clock.clone())
        .oidc_provider(
            OidcProviderSpec::new(AKS_ISSUER)
                .client_id(AKS_AUDIENCE)
                .trust(cluster.clone()),
        )
        .start()
        .await
        .unwrap();
    let role = sts.role_arn("aks-payments");
    let host = AKS_ISSUER.trim_start_matches("https://");
    sts.add_role(
        RoleSpec::new(&role)
            .oidc_principal(AKS_ISSUER)
            .condition(format!("{host}:sub"), "system:serviceaccount:payments:*"),
    );
    let mut env = pod_env.clone();
    env.extend(pairs(&[
        ("AWS_ROLE_ARN", &role),
        ("AWS_ENDPOINT_URL_STS", &sts.endpoint()),
        ("AWS_CONFIG_FILE", "/nonexistent"),
    ]));
    let credentials = default_chain::aws_web_identity(&ctx(&clock, env))
        .await
        .unwrap()
        .credentials()
        .await
        .unwrap();
    let issued = sts.credentials_for(credentials.access_key_id()).unwrap();
    assert_eq!(issued.subject, "system:serviceaccount:payments:api");
    assert_eq!(issued.audience, AKS_AUDIENCE);

    // A token from another cluster (another key) is refused by both.
    std::fs::write(
        &file,
        aks_token(&GoogleIdentity::generate(), T0 + 3000, "x"),
    )
    .unwrap();
    google.cache().invalidate();
    let err = google.access_token().await.unwrap_err();
    assert_eq!(err.upstream_code(), Some("invalid_grant"), "{err}");
}

#[tokio::test]
async fn the_create_cred_config_azure_file_works_unchanged() {
    let clock = clock();
    let azure = AzureManagedIdentityEmulator::builder()
        .clock(clock.clone())
        .start()
        .await
        .unwrap();
    let google_sts = GoogleStsEmulator::builder()
        .clock(clock.clone())
        .provider(
            ProviderSpec::oidc(OIDC_PROVIDER_AUDIENCE)
                .issuer_uri(azure.issuer())
                .allowed_audience(RESOURCE)
                .trust(azure.identity()),
        )
        .start()
        .await
        .unwrap();
    // What `gcloud iam workload-identity-pools create-cred-config … --azure --app-id-uri`
    // writes, with IMDS moved to the emulator.
    let config = json!({
        "universe_domain": "googleapis.com",
        "type": "external_account",
        "audience": OIDC_PROVIDER_AUDIENCE,
        "subject_token_type": "urn:ietf:params:oauth:token-type:jwt",
        "token_url": google_sts.token_url(),
        "credential_source": {
            "url": format!(
                "{}/metadata/identity/oauth2/token?api-version=2018-02-01&resource={RESOURCE}",
                azure.imds_endpoint()
            ),
            "headers": {"Metadata": "True"},
            "format": {"type": "json", "subject_token_field_name": "access_token"}
        }
    });
    let google = ExternalAccountCredentials::builder()
        .context(ctx(&clock, Vec::new()))
        .config(ExternalAccountConfig::from_value(&config).unwrap())
        .build()
        .unwrap();
    google.access_token().await.unwrap();
    assert_eq!(
        google_sts.issued_tokens()[0].subject,
        azure.system_assigned().unwrap().object_id
    );
}
