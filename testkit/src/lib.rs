//! Loopback emulators of the cloud endpoints `federated-credentials` talks to, for its tests
//! and for yours (add this crate to `[dev-dependencies]`).
//!
//! Each emulator is a real HTTP/1.1 server on `127.0.0.1` with an ephemeral port, run by a task
//! on the current tokio runtime and stopped when the emulator is dropped. They enforce what the
//! real services enforce (required headers, parameter constraints, token signatures and expiry,
//! trust conditions), so a client that passes against them is likely to pass against the cloud.
//!
//! - [`GcpMetadataEmulator`]: the GCE/GKE metadata server, issuing RS256 identity tokens signed
//!   by a [`GoogleIdentity`].
//! - [`AwsStsEmulator`]: AWS STS `AssumeRoleWithWebIdentity`, verifying those tokens against the
//!   trust conditions of the [`RoleSpec`]s it knows.
//! - [`GoogleStsEmulator`]: Google STS token exchange (RFC 8693) for the providers
//!   ([`ProviderSpec`]) it knows, re-verifying the SigV4 signature of AWS `aws4_request`
//!   subject tokens against the AWS keys it is told to trust.
//! - [`IamCredentialsEmulator`]: IAM Credentials `generateAccessToken` / `generateIdToken` for
//!   the [`ServiceAccountSpec`]s it knows, authenticating callers with the federated tokens of
//!   the [`GoogleStsEmulator`]s it trusts.
//! - [`Ec2MetadataEmulator`]: the EC2 instance metadata service (IMDSv2 session tokens, the
//!   v2-required/optional/v1-only modes, the hop-limit hang, placement, role credentials).
//! - [`ContainerCredentialsEmulator`]: the ECS/EKS container-credentials endpoint and the ECS
//!   task metadata.
//! - [`GitHubActionsOidcEmulator`]: the GitHub Actions job's OIDC token endpoint.
//! - [`AzureManagedIdentityEmulator`]: Azure managed identity tokens from the instance metadata
//!   service and the App Service identity endpoint.
//! - [`EntraEmulator`]: the Microsoft Entra ID token endpoint with federated identity
//!   credentials (client assertions from the other emulators' issuers).
//!
//! The [`AwsStsEmulator`] also trusts other issuers through IAM OIDC providers
//! ([`OidcProviderSpec`]), as GitHub Actions, EKS and Azure tokens reach AWS.
//!
//! [`Clouds`] starts all five at once, wired to trust each other, and hands out the environment
//! and credential configuration that point a workload at them.
//!
//! Every emulator records the requests it receives ([`RecordedRequest`]) and can be scripted to
//! misbehave on its next requests with [`Fault`]s (error statuses, hangs, dropped connections,
//! delays, garbage bodies, redirects). Pass a [`ManualClock`](federated_credentials::context::ManualClock) to
//! control token issue and expiry times.
//!
//! # Example
//!
//! A workload on GCP getting AWS credentials, end to end against both emulators. By default
//! both use [`GoogleIdentity::shared`], so the STS emulator trusts the metadata emulator's
//! tokens without further configuration.
//!
//! ```
//! use federated_credentials_testkit::{AwsStsEmulator, GcpMetadataEmulator, RoleSpec};
//!
//! # fn main() -> Result<(), Box<dyn std::error::Error>> {
//! let runtime = tokio::runtime::Builder::new_current_thread().enable_all().build()?;
//! runtime.block_on(async {
//!     let mds = GcpMetadataEmulator::start().await?;
//!     let sts = AwsStsEmulator::start().await?;
//!     let role_arn = sts.role_arn("gcp-workload");
//!     // Only tokens of this service account (matched against `azp`) requested for this
//!     // audience (matched against `aud`) may assume the role.
//!     sts.add_role(
//!         RoleSpec::new(&role_arn)
//!             .google_aud(&mds.default_service_account().unique_id)
//!             .google_oaud("sts.amazonaws.com"),
//!     );
//!
//!     let http = reqwest::Client::builder().no_proxy().build()?;
//!     let token = http
//!         .get(format!(
//!             "http://{}/computeMetadata/v1/instance/service-accounts/default/identity?audience=sts.amazonaws.com",
//!             mds.host()
//!         ))
//!         .header("Metadata-Flavor", "Google")
//!         .send()
//!         .await?
//!         .text()
//!         .await?;
//!
//!     let form = url::form_urlencoded::Serializer::new(String::new())
//!         .append_pair("Action", "AssumeRoleWithWebIdentity")
//!         .append_pair("Version", "2011-06-15")
//!         .append_pair("RoleArn", &role_arn)
//!         .append_pair("RoleSessionName", "demo")
//!         .append_pair("WebIdentityToken", &token)
//!         .finish();
//!     let response = http
//!         .post(sts.endpoint())
//!         .header("Content-Type", "application/x-www-form-urlencoded")
//!         .body(form)
//!         .send()
//!         .await?;
//!     assert_eq!(response.status(), 200); // with the XML of the issued credentials
//!     Ok(())
//! })
//! # }
//! ```
//!
//! # Example: Google STS and service-account impersonation
//!
//! A federated workload exchanging a token at Google STS, then impersonating a service account.
//! AWS workloads send a SigV4-signed `aws4_request` subject token instead, verified against the
//! keys given to [`GoogleStsEmulator::trust_aws_key`] (or
//! [`trust_aws_session_key`](GoogleStsEmulator::trust_aws_session_key) for the temporary
//! credentials of an instance role).
//!
//! ```
//! use federated_credentials_testkit::{
//!     GoogleIdentity, GoogleStsEmulator, IamCredentialsEmulator, ProviderSpec, ServiceAccountSpec,
//! };
//! use serde_json::{json, Value};
//!
//! # fn main() -> Result<(), Box<dyn std::error::Error>> {
//! let runtime = tokio::runtime::Builder::new_current_thread().enable_all().build()?;
//! runtime.block_on(async {
//!     let audience = "//iam.googleapis.com/projects/1/locations/global/workloadIdentityPools/p/providers/oidc";
//!     let sts = GoogleStsEmulator::builder().provider(ProviderSpec::oidc(audience)).start().await?;
//!     let iam = IamCredentialsEmulator::builder()
//!         .service_account(ServiceAccountSpec::new("sa@p.iam.gserviceaccount.com", "1234"))
//!         .start()
//!         .await?;
//!     iam.trust_sts(&sts); // IAM accepts the access tokens this STS issues
//!
//!     let exp = std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH)?.as_secs() + 600;
//!     let subject_token = GoogleIdentity::shared().sign(&json!({"sub": "workload", "exp": exp}));
//!     let http = reqwest::Client::builder().no_proxy().build()?;
//!     let form = url::form_urlencoded::Serializer::new(String::new())
//!         .append_pair("grant_type", "urn:ietf:params:oauth:grant-type:token-exchange")
//!         .append_pair("audience", audience)
//!         .append_pair("scope", "https://www.googleapis.com/auth/cloud-platform")
//!         .append_pair("requested_token_type", "urn:ietf:params:oauth:token-type:access_token")
//!         .append_pair("subject_token_type", "urn:ietf:params:oauth:token-type:jwt")
//!         .append_pair("subject_token", &subject_token)
//!         .finish();
//!     let exchanged = http
//!         .post(sts.token_url())
//!         .header("Content-Type", "application/x-www-form-urlencoded")
//!         .body(form)
//!         .send()
//!         .await?
//!         .text()
//!         .await?;
//!     let exchanged: Value = serde_json::from_str(&exchanged)?;
//!     let federated = exchanged["access_token"].as_str().unwrap_or_default();
//!
//!     let response = http
//!         .post(iam.generate_access_token_url("sa@p.iam.gserviceaccount.com"))
//!         .bearer_auth(federated)
//!         .body(json!({"scope": ["https://www.googleapis.com/auth/cloud-platform"]}).to_string())
//!         .send()
//!         .await?;
//!     assert_eq!(response.status(), 200);
//!     Ok(())
//! })
//! # }
//! ```
#![deny(missing_docs)]
#![forbid(unsafe_code)]

mod aws_imds;
mod aws_sts;
mod azure_identity;
mod clouds;
mod container_credentials;
mod entra;
mod fault;
mod gcp_metadata;
mod github_actions;
mod google_sts;
mod iam_credentials;
mod jwt;
mod random;
mod request;
pub(crate) mod server;
mod sigv4;
#[cfg(test)]
mod test_support;
mod timestamp;
#[cfg(feature = "tls")]
mod tls;

pub use aws_imds::{Ec2MetadataEmulator, Ec2MetadataEmulatorBuilder, ImdsCredentials, ImdsMode};
pub use aws_sts::{
    AwsStsEmulator, AwsStsEmulatorBuilder, CallerCredentials, IssuedCredentials,
    IssuedWebIdentityToken, OidcProviderSpec, RoleSpec, StsErrorCode,
};
pub use azure_identity::{
    APP_SERVICE_TOKEN_PATH, AZURE_IMDS_TOKEN_PATH, AzureManagedIdentityEmulator,
    AzureManagedIdentityEmulatorBuilder, ManagedIdentitySpec,
};
pub use clouds::{
    AWS_AUDIENCE, AWS_PROVIDER_AUDIENCE, Clouds, CloudsBuilder, OIDC_PROVIDER_AUDIENCE,
    SERVICE_ACCOUNT,
};
pub use container_credentials::{
    CONTAINER_CREDENTIALS_PATH, ContainerCredentialsEmulator, ContainerCredentialsEmulatorBuilder,
    ContainerRoleCredentials, TASK_METADATA_PATH,
};
pub use entra::{
    EntraApplication, EntraEmulator, EntraEmulatorBuilder, FederatedCredential, IssuedEntraToken,
    MAX_FEDERATED_CREDENTIALS,
};
pub use fault::Fault;
pub use gcp_metadata::{GcpMetadataEmulator, GcpMetadataEmulatorBuilder, ServiceAccount};
pub use github_actions::{
    GITHUB_ISSUER, GitHubActionsOidcEmulator, GitHubActionsOidcEmulatorBuilder,
};
pub use google_sts::{
    GoogleStsEmulator, GoogleStsEmulatorBuilder, IssuedFederatedToken, ProviderSpec,
};
pub use iam_credentials::{
    IamCredentialsEmulator, IamCredentialsEmulatorBuilder, IssuedAccessToken, IssuedIdToken,
    ServiceAccountSpec,
};
pub use jwt::{GoogleIdentity, JwtError, decode_header, decode_payload};
pub use request::RecordedRequest;
#[cfg(feature = "tls")]
pub use tls::TlsFront;
