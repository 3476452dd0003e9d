//! Default chains: what to use when the user configured nothing beyond the conventions of
//! each ecosystem. Every step logs at DEBUG why it was chosen or skipped.
//!
//! GCP → AWS ([`aws_web_identity`]), first match wins:
//! 1. `AWS_WEB_IDENTITY_TOKEN_FILE` with `AWS_ROLE_ARN` (the AWS SDK convention; EKS, GKE with a
//!    projected token);
//! 2. `FEDERATED_CREDENTIALS_GCP_AUDIENCE` with `AWS_ROLE_ARN` (the metadata server's token);
//! 3. the `AWS_PROFILE` profile of `~/.aws/config` (or `AWS_CONFIG_FILE`) when it has
//!    `role_arn` and `web_identity_token_file`, or `federated_credentials_gcp_audience` (with
//!    `federated_credentials_role_arn`); a profile with only part of either is an error;
//! 4. in a GitHub Actions job that may request tokens (`ACTIONS_ID_TOKEN_REQUEST_URL` and
//!    `_TOKEN`, set by `permissions: id-token: write`), the job's OIDC token with audience
//!    `sts.amazonaws.com` and `AWS_ROLE_ARN`;
//! 5. in an AKS pod with Azure workload identity (`AZURE_FEDERATED_TOKEN_FILE`), that token
//!    (audience `api://AzureADTokenExchange`, fixed by the webhook) and `AWS_ROLE_ARN`;
//! 6. on Azure App Service/Functions (`IDENTITY_ENDPOINT` + `IDENTITY_HEADER`), or anywhere
//!    [`AZURE_RESOURCE_ENV`] is set (an Azure VM: IMDS cannot be detected otherwise), the
//!    managed identity's token for that resource (the user-assigned identity `AZURE_CLIENT_ID`
//!    when set, as azure-identity does) and `AWS_ROLE_ARN`;
//! 7. on Google Cloud (detected as the reference clients do), the metadata server's token with
//!    audience `sts.amazonaws.com` and `AWS_ROLE_ARN`.
//!
//! → Azure ([`entra`]): `AZURE_TENANT_ID` and `AZURE_CLIENT_ID`, and the assertion from the
//! first that applies: the AKS workload identity file (`AZURE_FEDERATED_TOKEN_FILE`); a GitHub
//! Actions job's token; on AWS (environment keys, web identity or container credentials
//! configured) STS `GetWebIdentityToken`; on Google Cloud the metadata server's token. Each is
//! asked for audience `api://AzureADTokenExchange`.
//!
//! AWS → GCP ([`google_external_account`]): `GOOGLE_APPLICATION_CREDENTIALS`, then gcloud's
//! well-known file (`~/.config/gcloud/application_default_credentials.json`) when it holds an
//! `external_account` configuration.
//!
//! ```no_run
//! use federated_credentials::context::Context;
//! use federated_credentials::default_chain;
//! # async fn run() -> Result<(), federated_credentials::Error> {
//! let ctx = Context::default();
//! // On Google Cloud (or with a web identity token): AWS credentials.
//! let aws = default_chain::aws_web_identity(&ctx).await?;
//! // On AWS (with an external_account configuration): Google credentials.
//! let google = default_chain::google_external_account(&ctx)?;
//! # Ok(()) }
//! ```

use std::time::Duration;

use reqwest::Method;
use url::Url;

use crate::aws::{GCP_AUDIENCE_ENV, WebIdentityProvider};
use crate::azure::EntraCredentials;
use crate::config::{AwsProfile, ExternalAccountConfig};
use crate::context::Context;
use crate::error::{Error, ErrorKind, Service};
use crate::google::ExternalAccountCredentials;
use crate::http::HttpRequest;
use crate::source::aws::{
    AwsDefaultChain, AwsEnvironment, ContainerCredentials, OutboundWebIdentityToken,
};
use crate::source::{
    AzureManagedIdentityToken, AzureWorkloadIdentityToken, GcpMetadataIdentityToken,
    GitHubActionsToken, TokenFile, UserAssignedIdentity,
};

/// The audience used for the metadata server's token when nothing else says.
pub const DEFAULT_AWS_AUDIENCE: &str = "sts.amazonaws.com";

/// The Entra resource (application id URI) to ask an Azure managed identity for, when the
/// default chain uses one for AWS; setting it also opts an Azure VM in (IMDS has no variable
/// to detect it by).
pub const AZURE_RESOURCE_ENV: &str = "FEDERATED_CREDENTIALS_AZURE_RESOURCE";

/// Builds the GCP → AWS provider from the first source in the chain that applies (see the
/// [module docs](self)). Nothing is fetched until the provider is asked for credentials.
///
/// In production pass `&Context::default()`; here the environment is fixed so that the
/// first step applies:
///
/// ```
/// use federated_credentials::context::{Context, StaticEnv};
/// use federated_credentials::default_chain::aws_web_identity;
/// # #[tokio::main(flavor = "current_thread")]
/// # async fn main() -> Result<(), federated_credentials::Error> {
/// let ctx = Context::builder()
///     .env(StaticEnv::from_pairs([
///         ("AWS_ROLE_ARN", "arn:aws:iam::123456789012:role/app"),
///         ("AWS_WEB_IDENTITY_TOKEN_FILE", "/var/run/secrets/tokens/aws-token"),
///     ]))
///     .build();
/// let provider = aws_web_identity(&ctx).await?;
/// # Ok(()) }
/// ```
pub async fn aws_web_identity(ctx: &Context) -> Result<WebIdentityProvider, Error> {
    let env = ctx.env();
    if env.get_non_empty("AWS_WEB_IDENTITY_TOKEN_FILE").is_some() {
        tracing::debug!("default chain: AWS_WEB_IDENTITY_TOKEN_FILE is set; using the token file");
        return WebIdentityProvider::builder()
            .context(ctx.clone())
            .configure_from_env()
            .build();
    }
    tracing::debug!("default chain: AWS_WEB_IDENTITY_TOKEN_FILE is not set; skipped");
    if env.get_non_empty(GCP_AUDIENCE_ENV).is_some() {
        tracing::debug!("default chain: {GCP_AUDIENCE_ENV} is set; using the metadata server");
        return WebIdentityProvider::builder()
            .context(ctx.clone())
            .configure_from_env()
            .build();
    }
    tracing::debug!("default chain: {GCP_AUDIENCE_ENV} is not set; skipped");
    match AwsProfile::load(ctx) {
        // Our own keys configure this direction even when incomplete: a missing role is an
        // error, not a reason to look for another identity.
        Ok(profile)
            if profile.gcp_audience.is_some()
                || (profile.role_arn.is_some() && profile.web_identity_token_file.is_some()) =>
        {
            tracing::debug!(profile = %profile.name, "default chain: using the web identity settings of the AWS profile");
            return from_profile(ctx, profile);
        }
        Ok(profile) => {
            tracing::debug!(profile = %profile.name, "default chain: the AWS profile has no web identity settings; skipped")
        }
        // A profile that exists but is wrong was meant for us: say so.
        Err(e) if e.message().starts_with("profile ") => return Err(e),
        Err(e) => tracing::debug!(error = %e, "default chain: no AWS profile; skipped"),
    }
    if GitHubActionsToken::is_available(ctx) {
        tracing::debug!(
            "default chain: in a GitHub Actions job with id-token: write; using the job's OIDC token with audience {DEFAULT_AWS_AUDIENCE}"
        );
        return WebIdentityProvider::builder()
            .context(ctx.clone())
            .configure_from_env()
            .token_source(GitHubActionsToken::new(DEFAULT_AWS_AUDIENCE))
            .build();
    }
    tracing::debug!(
        "default chain: ACTIONS_ID_TOKEN_REQUEST_URL/_TOKEN are not set (not GitHub Actions, or no id-token: write); skipped"
    );
    if AzureWorkloadIdentityToken::is_available(ctx) {
        tracing::debug!(
            "default chain: AZURE_FEDERATED_TOKEN_FILE is set (AKS workload identity); using that token"
        );
        return WebIdentityProvider::builder()
            .context(ctx.clone())
            .configure_from_env()
            .token_source(AzureWorkloadIdentityToken::new())
            .build();
    }
    tracing::debug!("default chain: AZURE_FEDERATED_TOKEN_FILE is not set; skipped");
    let azure_resource = env.get_non_empty(AZURE_RESOURCE_ENV);
    if AzureManagedIdentityToken::is_app_service(ctx) || azure_resource.is_some() {
        let resource = azure_resource.ok_or_else(|| {
            Error::config(
                AZURE_RESOURCE_ENV,
                "is required to use this App Service/Functions managed identity with AWS: set it to the application id URI that the IAM OIDC provider lists as its audience",
            )
        })?;
        tracing::debug!(resource = %resource.trim(), "default chain: using the Azure managed identity");
        let mut source = AzureManagedIdentityToken::new(resource.trim());
        if let Some(client_id) = env.get_non_empty("AZURE_CLIENT_ID") {
            source =
                source.user_assigned(UserAssignedIdentity::ClientId(client_id.trim().to_string()));
        }
        return WebIdentityProvider::builder()
            .context(ctx.clone())
            .configure_from_env()
            .token_source(source)
            .build();
    }
    tracing::debug!(
        "default chain: no Azure managed identity endpoint (IDENTITY_ENDPOINT/IDENTITY_HEADER) and no {AZURE_RESOURCE_ENV}; skipped"
    );
    if is_on_gce(ctx).await {
        tracing::debug!(
            "default chain: running on Google Cloud; using the metadata server with audience {DEFAULT_AWS_AUDIENCE}"
        );
        return WebIdentityProvider::builder()
            .context(ctx.clone())
            .configure_from_env()
            .token_source(GcpMetadataIdentityToken::new(DEFAULT_AWS_AUDIENCE))
            .build();
    }
    tracing::debug!("default chain: not on Google Cloud; skipped");
    let github_hint = if ctx.env().get_non_empty("GITHUB_ACTIONS").is_some() {
        " (this is a GitHub Actions job without a token: add `permissions: id-token: write` to the workflow or job)"
    } else {
        ""
    };
    Err(Error::new(
        ErrorKind::NotAvailable,
        Service::Config,
        format!(
            "no web identity found: set AWS_WEB_IDENTITY_TOKEN_FILE or {GCP_AUDIENCE_ENV} with AWS_ROLE_ARN, configure an AWS profile with role_arn and web_identity_token_file, run in a GitHub Actions job with id-token: write{github_hint}, in an AKS pod with workload identity, with an Azure managed identity and {AZURE_RESOURCE_ENV}, or on Google Cloud"
        ),
    ))
}

/// Entra credentials for `scope` from the environment (see the [module docs](self)): the
/// tenant and client from `AZURE_TENANT_ID` and `AZURE_CLIENT_ID`, the assertion from the
/// first identity found. Nothing is fetched until a token is asked for.
///
/// ```
/// use federated_credentials::context::{Context, StaticEnv};
/// use federated_credentials::default_chain::entra;
/// # #[tokio::main(flavor = "current_thread")]
/// # async fn main() -> Result<(), federated_credentials::Error> {
/// let pod = Context::builder()
///     .env(StaticEnv::from_pairs([
///         ("AZURE_TENANT_ID", "72f9a8bf-0000-4000-8000-00000000a2e1"),
///         ("AZURE_CLIENT_ID", "0000c11d-0000-4000-8000-000000000001"),
///         ("AZURE_FEDERATED_TOKEN_FILE", "/var/run/secrets/azure/tokens/azure-identity-token"),
///     ]))
///     .build();
/// let credentials = entra(&pod, "https://storage.azure.com/.default").await?;
/// # Ok(()) }
/// ```
pub async fn entra(ctx: &Context, scope: impl Into<String>) -> Result<EntraCredentials, Error> {
    let builder = EntraCredentials::builder()
        .context(ctx.clone())
        .configure_from_env()
        .scope(scope);
    let audience = crate::exchange::AzureCloud::Public.assertion_audience();
    if AzureWorkloadIdentityToken::is_available(ctx) {
        tracing::debug!(
            "default chain (Entra): AZURE_FEDERATED_TOKEN_FILE is set; using that token"
        );
        return builder
            .token_source(AzureWorkloadIdentityToken::new())
            .build();
    }
    if GitHubActionsToken::is_available(ctx) {
        tracing::debug!("default chain (Entra): in a GitHub Actions job with id-token: write");
        return builder
            .token_source(GitHubActionsToken::new(audience))
            .build();
    }
    let env = ctx.env();
    let aws_configured = AwsEnvironment::has_credentials(ctx)
        || ContainerCredentials::is_configured(ctx)
        || (env.get_non_empty("AWS_ROLE_ARN").is_some()
            && env.get_non_empty("AWS_WEB_IDENTITY_TOKEN_FILE").is_some());
    if aws_configured {
        tracing::debug!(
            "default chain (Entra): an AWS identity is configured; using STS GetWebIdentityToken"
        );
        return builder
            .token_source(OutboundWebIdentityToken::new(
                AwsDefaultChain::default(),
                audience,
            ))
            .build();
    }
    if is_on_gce(ctx).await {
        tracing::debug!(
            "default chain (Entra): on Google Cloud; using the metadata server's token"
        );
        return builder
            .token_source(GcpMetadataIdentityToken::new(audience))
            .build();
    }
    Err(Error::new(
        ErrorKind::NotAvailable,
        Service::Config,
        "no identity to present to Entra: run in an AKS pod with workload identity, a GitHub Actions job with id-token: write, on AWS (with credentials the AWS SDKs find) or on Google Cloud, or build EntraCredentials with a token source",
    ))
}

/// The provider described by an AWS profile's web identity settings; unset settings fall
/// back to the environment (`AWS_REGION`, `AWS_ENDPOINT_URL_STS`, …).
///
/// ```
/// use federated_credentials::config::AwsProfile;
/// use federated_credentials::context::Context;
/// use federated_credentials::default_chain::from_profile;
/// use std::path::Path;
///
/// let ini = "[profile gcp]\nfederated_credentials_role_arn = arn:aws:iam::123456789012:role/gcp-workload\nfederated_credentials_gcp_audience = sts.amazonaws.com\nregion = us-east-1\n";
/// let profile = AwsProfile::parse(ini, "gcp", Path::new("config"))?;
/// let provider = from_profile(&Context::default(), profile)?;
/// # Ok::<(), federated_credentials::Error>(())
/// ```
pub fn from_profile(ctx: &Context, profile: AwsProfile) -> Result<WebIdentityProvider, Error> {
    let field = |k: &str| format!("profile {}.{k}", profile.name);
    let mut b = WebIdentityProvider::builder()
        .context(ctx.clone())
        .configure_from_env();
    match (&profile.web_identity_token_file, &profile.gcp_audience) {
        (Some(path), None) => {
            let path = crate::config::expand_home(ctx, &path.to_string_lossy());
            b = b.token_source(TokenFile::text(path).setting_name("web_identity_token_file"))
        }
        (None, Some(aud)) => b = b.token_source(GcpMetadataIdentityToken::new(aud.clone())),
        (Some(_), Some(_)) => {
            return Err(Error::config(
                &field("web_identity_token_file"),
                "set either web_identity_token_file or federated_credentials_gcp_audience, not both",
            ));
        }
        (None, None) => {
            return Err(Error::config(
                &field("web_identity_token_file"),
                "is required (or federated_credentials_gcp_audience)",
            ));
        }
    }
    let role = profile.role_arn.ok_or_else(|| {
        if profile.gcp_audience.is_some() {
            Error::config(
                &field(crate::config::ROLE_ARN_KEY),
                "is required with federated_credentials_gcp_audience",
            )
        } else {
            Error::config(&field("role_arn"), "is required")
        }
    })?;
    b = b.role_arn(role);
    if let Some(n) = profile.role_session_name {
        b = b.configure_sts(|s| s.session_name(n));
    }
    if let Some(d) = profile.duration {
        b = b.configure_sts(|s| s.duration(d));
    }
    if let Some(r) = profile.region {
        b = b.configure_sts(|s| s.region(r));
    }
    if let Some(e) = profile.endpoint_url {
        b = b.configure_sts(|s| s.endpoint_url(e));
    }
    b.build()
}

/// Google credentials from `GOOGLE_APPLICATION_CREDENTIALS`, or gcloud's well-known file when
/// it holds an `external_account` configuration (`$CLOUDSDK_CONFIG/application_default_credentials.json`,
/// or `$HOME/.config/gcloud/application_default_credentials.json`).
pub fn google_external_account(ctx: &Context) -> Result<ExternalAccountCredentials, Error> {
    if let Some(path) = ctx.env().get_non_empty("GOOGLE_APPLICATION_CREDENTIALS") {
        tracing::debug!(path = %path.trim(), "default chain: using GOOGLE_APPLICATION_CREDENTIALS");
        return ExternalAccountCredentials::builder()
            .context(ctx.clone())
            .config(ExternalAccountConfig::from_file(path.trim())?)
            .build();
    }
    tracing::debug!("default chain: GOOGLE_APPLICATION_CREDENTIALS is not set; skipped");
    let well_known = ctx
        .env()
        .get_non_empty("CLOUDSDK_CONFIG")
        .map(std::path::PathBuf::from)
        .or_else(|| {
            ctx.env()
                .get_non_empty("HOME")
                .map(|h| std::path::Path::new(&h).join(".config/gcloud"))
        })
        .map(|dir| dir.join("application_default_credentials.json"));
    if let Some(path) = well_known.filter(|p| p.exists()) {
        tracing::debug!(path = %path.display(), "default chain: using gcloud's application default credentials file");
        return ExternalAccountCredentials::builder()
            .context(ctx.clone())
            .config(ExternalAccountConfig::from_file(&path)?)
            .build();
    }
    Err(Error::new(
        ErrorKind::NotAvailable,
        Service::Config,
        "no external_account configuration: set GOOGLE_APPLICATION_CREDENTIALS to the file from `gcloud iam workload-identity-pools create-cred-config`",
    ))
}

/// Whether this is Google Cloud. In order: `NO_GCE_CHECK=true` says no; `GCE_METADATA_HOST`
/// set says yes (as the Go client decides); a DMI product name starting with `Google` (Linux)
/// says yes without a network round trip; otherwise a metadata server (`GCE_METADATA_IP`,
/// default `169.254.169.254`) must answer a 500 ms ping with the `Metadata-Flavor: Google`
/// header.
pub async fn is_on_gce(ctx: &Context) -> bool {
    if ctx
        .env()
        .get_non_empty("NO_GCE_CHECK")
        .is_some_and(|v| v.trim().eq_ignore_ascii_case("true"))
    {
        tracing::debug!("GCE detection: NO_GCE_CHECK=true");
        return false;
    }
    let host = ctx.env().get_non_empty("GCE_METADATA_HOST");
    if host.is_some() {
        tracing::debug!("GCE detection: GCE_METADATA_HOST is set");
        return true;
    }
    if std::fs::read_to_string("/sys/class/dmi/id/product_name")
        .is_ok_and(|p| p.trim().starts_with("Google"))
    {
        tracing::debug!("GCE detection: DMI product name is Google");
        return true;
    }
    let ip = ctx
        .env()
        .get_non_empty("GCE_METADATA_IP")
        .unwrap_or_else(|| "169.254.169.254".to_string());
    let Ok(url) = Url::parse(&format!("http://{}/", ip.trim())) else {
        return false;
    };
    let Ok(request) = HttpRequest::new(
        Service::GcpMetadata,
        "detecting Google Cloud",
        Method::GET,
        url,
        Duration::from_millis(500),
    )
    .header("metadata-flavor", "Google")
    .map(HttpRequest::direct) else {
        return false;
    };
    let found = matches!(ctx.http().send(&request).await, Ok(r) if r.header("metadata-flavor").is_some_and(|v| v.eq_ignore_ascii_case("google")));
    tracing::debug!(found, host = %ip.trim(), "GCE detection: metadata ping");
    found
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::context::StaticEnv;

    fn ctx(pairs: &[(&str, &str)]) -> Context {
        Context::builder()
            .env(StaticEnv::from_pairs(pairs.iter().copied()))
            .build()
    }

    const ROLE: &str = "arn:aws:iam::123456789012:role/r";

    #[tokio::test]
    async fn chain_order_and_reasons() {
        let p = aws_web_identity(&ctx(&[
            ("AWS_WEB_IDENTITY_TOKEN_FILE", "/t"),
            ("AWS_ROLE_ARN", ROLE),
            (GCP_AUDIENCE_ENV, "a"),
        ]))
        .await
        .unwrap();
        assert!(format!("{p:?}").contains("token-file"));
        let p = aws_web_identity(&ctx(&[(GCP_AUDIENCE_ENV, "a"), ("AWS_ROLE_ARN", ROLE)]))
            .await
            .unwrap();
        assert!(format!("{p:?}").contains("gcp-metadata"));
        // GCE_METADATA_HOST counts as being on Google Cloud
        let p = aws_web_identity(&ctx(&[
            ("GCE_METADATA_HOST", "127.0.0.1:1"),
            ("AWS_ROLE_ARN", ROLE),
            ("AWS_CONFIG_FILE", "/nonexistent"),
        ]))
        .await
        .unwrap();
        assert!(format!("{p:?}").contains("gcp-metadata"));
        // on GCP but no role: the builder's error names AWS_ROLE_ARN
        let err = aws_web_identity(&ctx(&[
            ("GCE_METADATA_HOST", "127.0.0.1:1"),
            ("AWS_CONFIG_FILE", "/nonexistent"),
        ]))
        .await
        .unwrap_err();
        assert!(err.message().contains("AWS_ROLE_ARN"), "{err}");
        // nothing at all: NO_GCE_CHECK avoids the network probe
        let err = aws_web_identity(&ctx(&[
            ("NO_GCE_CHECK", "true"),
            ("AWS_CONFIG_FILE", "/nonexistent"),
        ]))
        .await
        .unwrap_err();
        assert_eq!(err.kind(), ErrorKind::NotAvailable);
        assert!(
            !err.message().contains("this is a GitHub Actions job"),
            "{err}"
        );
    }

    #[tokio::test]
    async fn github_actions_comes_after_the_explicit_settings_and_before_google_cloud() {
        let job = [
            ("ACTIONS_ID_TOKEN_REQUEST_URL", "http://127.0.0.1:1/token"),
            ("ACTIONS_ID_TOKEN_REQUEST_TOKEN", "request-token"),
            ("GITHUB_ACTIONS", "true"),
            ("AWS_ROLE_ARN", ROLE),
            ("AWS_CONFIG_FILE", "/nonexistent"),
        ];
        let p = aws_web_identity(&ctx(&job)).await.unwrap();
        assert!(format!("{p:?}").contains("github-actions"), "{p:?}");
        // A self-hosted runner on GCE: the job's identity, not the VM's.
        let mut on_gce = job.to_vec();
        on_gce.push(("GCE_METADATA_HOST", "127.0.0.1:1"));
        let p = aws_web_identity(&ctx(&on_gce)).await.unwrap();
        assert!(format!("{p:?}").contains("github-actions"), "{p:?}");
        // An explicit token file still wins.
        let mut explicit = job.to_vec();
        explicit.push(("AWS_WEB_IDENTITY_TOKEN_FILE", "/t"));
        let p = aws_web_identity(&ctx(&explicit)).await.unwrap();
        assert!(format!("{p:?}").contains("token-file"), "{p:?}");
        // A job without id-token: write gets the permission hint.
        let err = aws_web_identity(&ctx(&[
            ("GITHUB_ACTIONS", "true"),
            ("NO_GCE_CHECK", "true"),
            ("AWS_ROLE_ARN", ROLE),
            ("AWS_CONFIG_FILE", "/nonexistent"),
        ]))
        .await
        .unwrap_err();
        assert_eq!(err.kind(), ErrorKind::NotAvailable);
        assert!(
            err.message().contains("permissions: id-token: write"),
            "{err}"
        );
    }

    #[tokio::test]
    async fn azure_comes_after_github_and_before_google_cloud() {
        let base = [
            ("AWS_ROLE_ARN", ROLE),
            ("AWS_CONFIG_FILE", "/nonexistent"),
            ("GCE_METADATA_HOST", "127.0.0.1:1"),
        ];
        let with = |extra: &[(&'static str, &'static str)]| {
            let mut env = base.to_vec();
            env.extend_from_slice(extra);
            env
        };
        let aks = [(
            "AZURE_FEDERATED_TOKEN_FILE",
            "/var/run/secrets/azure/tokens/azure-identity-token",
        )];
        let p = aws_web_identity(&ctx(&with(&aks))).await.unwrap();
        assert!(
            format!("{p:?}").contains("azure-workload-identity"),
            "{p:?}"
        );
        let app = [
            ("IDENTITY_ENDPOINT", "http://127.0.0.1:41000/msi/token"),
            ("IDENTITY_HEADER", "h"),
        ];
        let err = aws_web_identity(&ctx(&with(&app))).await.unwrap_err();
        assert!(err.message().contains(AZURE_RESOURCE_ENV), "{err}");
        let mut app_with_resource = app.to_vec();
        app_with_resource.push((AZURE_RESOURCE_ENV, "api://aws"));
        let p = aws_web_identity(&ctx(&with(&app_with_resource)))
            .await
            .unwrap();
        assert!(format!("{p:?}").contains("azure-managed-identity"), "{p:?}");
        let vm = [(AZURE_RESOURCE_ENV, "api://aws"), ("AZURE_CLIENT_ID", "c")];
        let p = aws_web_identity(&ctx(&with(&vm))).await.unwrap();
        assert!(format!("{p:?}").contains("azure-managed-identity"), "{p:?}");
        // GitHub Actions comes first.
        let mut both = aks.to_vec();
        both.extend([
            ("ACTIONS_ID_TOKEN_REQUEST_URL", "http://127.0.0.1:1/t"),
            ("ACTIONS_ID_TOKEN_REQUEST_TOKEN", "r"),
        ]);
        let p = aws_web_identity(&ctx(&with(&both))).await.unwrap();
        assert!(format!("{p:?}").contains("github-actions"), "{p:?}");
    }

    #[tokio::test]
    async fn profile_step() {
        let dir = tempfile::tempdir().unwrap();
        let cfg = dir.path().join("config");
        std::fs::write(&cfg, format!("[profile gcp]\nrole_arn = {ROLE}\nfederated_credentials_gcp_audience = aud\nregion = eu-west-1\nduration_seconds = 900\n[profile both]\nrole_arn = {ROLE}\nweb_identity_token_file = /t\nfederated_credentials_gcp_audience = a\n")).unwrap();
        let c = cfg.display().to_string();
        let p = aws_web_identity(&ctx(&[
            ("AWS_CONFIG_FILE", &c),
            ("AWS_PROFILE", "gcp"),
            ("NO_GCE_CHECK", "true"),
        ]))
        .await
        .unwrap();
        // The settings reaching STS are checked on the wire in
        // tests/gcp_to_aws.rs (a_profile_configures_role_audience_duration_and_session).
        let flow = format!("{p:?}");
        assert!(flow.contains("gcp-metadata"), "{flow}");
        assert!(flow.contains(r#"region: Some(\"eu-west-1\")"#), "{flow}");
        assert!(flow.contains("duration: Some(900s)"), "{flow}");
        let err = from_profile(
            &ctx(&[]),
            AwsProfile::parse(&std::fs::read_to_string(&cfg).unwrap(), "both", &cfg).unwrap(),
        )
        .unwrap_err();
        assert!(
            err.message()
                .starts_with("profile both.web_identity_token_file"),
            "{err}"
        );
    }

    /// The checks the documentation's examples used to make.
    #[tokio::test]
    async fn documented_examples() {
        assert_eq!(
            GcpMetadataIdentityToken::new(DEFAULT_AWS_AUDIENCE).audience(),
            "sts.amazonaws.com"
        );
        let provider = aws_web_identity(&ctx(&[
            ("AWS_ROLE_ARN", "arn:aws:iam::123456789012:role/app"),
            (
                "AWS_WEB_IDENTITY_TOKEN_FILE",
                "/var/run/secrets/tokens/aws-token",
            ),
        ]))
        .await
        .unwrap();
        assert!(format!("{provider:?}").contains("token-file"));

        let empty = ctx(&[]);
        let ini = "[profile gcp]\nfederated_credentials_role_arn = arn:aws:iam::123456789012:role/gcp-workload\nfederated_credentials_gcp_audience = sts.amazonaws.com\nregion = us-east-1\n";
        let profile = AwsProfile::parse(ini, "gcp", std::path::Path::new("config")).unwrap();
        let provider = from_profile(&empty, profile).unwrap();
        assert!(format!("{provider:?}").contains("gcp-metadata"));
        let no_token = AwsProfile::parse(
            "[profile x]\nrole_arn = arn:aws:iam::123456789012:role/x\n",
            "x",
            std::path::Path::new("config"),
        )
        .unwrap();
        assert!(from_profile(&empty, no_token).is_err());

        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("gcp-credentials.json");
        std::fs::write(&path, r#"{
          "type": "external_account",
          "audience": "//iam.googleapis.com/projects/123456789/locations/global/workloadIdentityPools/aws-pool/providers/aws",
          "subject_token_type": "urn:ietf:params:aws:token-type:aws4_request",
          "credential_source": { "environment_id": "aws1" }
        }"#).unwrap();
        let credentials = google_external_account(&ctx(&[(
            "GOOGLE_APPLICATION_CREDENTIALS",
            path.to_str().unwrap(),
        )]))
        .unwrap();
        assert_eq!(
            credentials.scopes(),
            [crate::exchange::CLOUD_PLATFORM_SCOPE]
        );
        let err = google_external_account(&empty).unwrap_err();
        assert_eq!(err.kind(), ErrorKind::NotAvailable);

        assert!(!is_on_gce(&ctx(&[("NO_GCE_CHECK", "true")])).await);
        assert!(is_on_gce(&ctx(&[("GCE_METADATA_HOST", "metadata.google.internal")])).await);
    }

    #[test]
    fn google_chain() {
        let err = google_external_account(&ctx(&[])).unwrap_err();
        assert_eq!(err.kind(), ErrorKind::NotAvailable);
        let dir = tempfile::tempdir().unwrap();
        let gcloud = dir.path().join("gcloud");
        std::fs::create_dir_all(&gcloud).unwrap();
        std::fs::write(gcloud.join("application_default_credentials.json"), serde_json::json!({
            "type":"external_account","audience":"//iam.googleapis.com/projects/1/locations/global/workloadIdentityPools/p/providers/x",
            "subject_token_type":"urn:ietf:params:oauth:token-type:jwt","credential_source":{"file":"/t"}}).to_string()).unwrap();
        let g = gcloud.display().to_string();
        assert!(google_external_account(&ctx(&[("CLOUDSDK_CONFIG", &g)])).is_ok());
        let err = google_external_account(&ctx(&[(
            "GOOGLE_APPLICATION_CREDENTIALS",
            "/nonexistent.json",
        )]))
        .unwrap_err();
        assert!(err.message().contains("/nonexistent.json"));
    }
}
