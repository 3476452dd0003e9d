//! The `federated-credentials` command: cross-cloud credentials from the shell, for tools
//! that cannot link the library.
//!
//! - `aws credential-process`: AWS credentials in the `credential_process` JSON format, for
//!   `~/.aws/config` (the AWS CLI, boto3 and every AWS SDK read it).
//! - `aws web-identity-token`: an OIDC token for this machine's AWS identity from STS
//!   `GetWebIdentityToken`.
//! - `google id-token`: the metadata server's identity token, like
//!   `gcloud auth print-identity-token` on a VM.
//! - `google access-token`: a Google access token from an `external_account` configuration,
//!   like `gcloud auth print-access-token`.
//! - `google executable-output`: a pluggable-auth executable response, so any Google client
//!   library can use our token sources through an `executable` credential_source.
//!
//! Errors go to stderr as one line, with a non-zero exit status. `aws credential-process` and
//! `google access-token` keep their result between invocations ([`process_cache`]) unless
//! given `--no-cache`.

mod broker;
mod process_cache;

use std::path::Path;
use std::process::ExitCode;
use std::sync::Arc;
use std::time::Duration;

use clap::{Args, Parser, Subcommand, ValueEnum};
use federated_credentials::Error;
use federated_credentials::aws::WebIdentityProvider;
use federated_credentials::azure::EntraCredentials;
use federated_credentials::config::{AwsProfile, ExternalAccountConfig};
use federated_credentials::context::{Context, Env, ProcessEnv};
use federated_credentials::default_chain;
use federated_credentials::google::ExternalAccountCredentials;
use federated_credentials::source::aws::{
    AwsDefaultChain, OutboundWebIdentityToken, SigningAlgorithm,
};
use federated_credentials::source::{
    AzureManagedIdentityToken, AzureWorkloadIdentityToken, GcpMetadataIdentityToken,
    GitHubActionsToken, IdTokenFormat, SubjectTokenSource, TokenFile, UserAssignedIdentity,
};
use federated_credentials::token::{AccessToken, SubjectToken, TokenType};
use std::time::SystemTime;

#[derive(Parser)]
#[command(
    name = "federated-credentials",
    version,
    about = "Keyless cross-cloud credentials (GCP ⇄ AWS)"
)]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand)]
enum Command {
    /// AWS credentials.
    #[command(subcommand)]
    Aws(AwsCommand),
    /// Google tokens.
    #[command(subcommand)]
    Google(GoogleCommand),
    /// Microsoft Entra ID (Azure) tokens.
    #[command(subcommand)]
    Azure(AzureCommand),
}

#[derive(Subcommand)]
enum AzureCommand {
    /// Print an Entra ID access token for an app with a federated identity credential, from
    /// this workload's identity (what `az account get-access-token` gives). Honours
    /// AZURE_TENANT_ID, AZURE_CLIENT_ID and AZURE_AUTHORITY_HOST.
    AccessToken(AzureAccessTokenArgs),
}

#[derive(Args)]
struct AzureAccessTokenArgs {
    /// The tenant (default AZURE_TENANT_ID).
    #[arg(long, value_name = "T")]
    tenant_id: Option<String>,
    /// The application (client) id with the federated credential (default AZURE_CLIENT_ID).
    #[arg(long, value_name = "C")]
    client_id: Option<String>,
    /// The scope, RESOURCE/.default.
    #[arg(
        long,
        value_name = "S",
        default_value = "https://management.azure.com/.default"
    )]
    scope: String,
    /// Where the assertion comes from (default: the default chain: AKS file, GitHub Actions,
    /// AWS, Google Cloud).
    #[arg(long, value_enum, value_name = "SOURCE")]
    source: Option<SourceArg>,
    /// The audience asked of the source (default api://AzureADTokenExchange).
    #[arg(long, value_name = "AUD", conflicts_with = "token_file")]
    audience: Option<String>,
    /// Read the assertion from this file (--source file).
    #[arg(long, value_name = "PATH")]
    token_file: Option<String>,
    /// Output format.
    #[arg(long, value_enum, default_value = "token")]
    format: OutputFormat,
}

#[derive(Subcommand)]
enum AwsCommand {
    /// Print AWS credentials as `credential_process` JSON (Version 1).
    ///
    /// With --profile, the settings come from that profile of AWS_CONFIG_FILE
    /// (~/.aws/config): federated_credentials_role_arn and federated_credentials_gcp_audience,
    /// or role_arn and web_identity_token_file. Otherwise unset options fall back to
    /// AWS_ROLE_ARN, AWS_ROLE_SESSION_NAME, AWS_WEB_IDENTITY_TOKEN_FILE,
    /// FEDERATED_CREDENTIALS_GCP_AUDIENCE and AWS_REGION.
    CredentialProcess(CredentialProcessCommand),
    /// Print an OIDC token for this machine's AWS identity from STS GetWebIdentityToken
    /// (IAM outbound identity federation), like `aws sts get-web-identity-token`. The AWS
    /// identity is the SDKs' chain: environment keys, web identity, container credentials,
    /// EC2 instance metadata.
    WebIdentityToken(WebIdentityTokenArgs),
    /// Serve the credentials over the ECS container-credentials protocol, so every process
    /// on the host shares one cache: once the first credentials are fetched, prints
    /// `export AWS_CONTAINER_CREDENTIALS_FULL_URI=…` and
    /// `export AWS_CONTAINER_AUTHORIZATION_TOKEN_FILE=…` (for `eval`), then serves until
    /// SIGTERM or SIGINT. Takes the identity options of credential-process.
    Serve(broker::ServeArgs),
    /// Run a command with the credentials served to it over the container-credentials
    /// protocol by an in-process server (as `aws-vault exec --ecs-server`); exits with the
    /// command's status. Takes the identity options of credential-process.
    Exec(broker::ExecArgs),
}

#[derive(Args)]
struct WebIdentityTokenArgs {
    /// The token's audience (repeat for up to 10).
    #[arg(long, value_name = "AUD", required = true)]
    audience: Vec<String>,
    /// How STS signs the token.
    #[arg(long, value_enum, default_value = "RS256")]
    signing_algorithm: AlgorithmArg,
    /// The token's lifetime in seconds (60–3600; default 300), cut to the session's.
    #[arg(long, value_name = "S")]
    duration_seconds: Option<u64>,
    /// The STS region (default: AWS_REGION, the ECS task, or IMDS).
    #[arg(long, value_name = "R")]
    region: Option<String>,
    /// A fixed (regional) STS endpoint URL.
    #[arg(long, value_name = "URL")]
    sts_endpoint: Option<String>,
}

#[derive(Clone, Copy, ValueEnum)]
enum AlgorithmArg {
    #[value(name = "RS256")]
    Rs256,
    #[value(name = "ES384")]
    Es384,
}

#[derive(Args, Clone)]
pub(crate) struct CredentialProcessArgs {
    /// Read the settings from this profile of AWS_CONFIG_FILE (default ~/.aws/config); the
    /// other options override it.
    #[arg(long, value_name = "NAME", conflicts_with_all = ["audience", "token_file", "source"])]
    profile: Option<String>,
    /// The IAM role to assume.
    #[arg(long, value_name = "ARN")]
    role_arn: Option<String>,
    /// Where the web identity token comes from (default: gcp-metadata with --audience, file
    /// with --token-file, else the environment as the default chain reads it).
    #[arg(long, value_enum, value_name = "SOURCE")]
    source: Option<SourceArg>,
    /// The audience asked of the source (default with --source: sts.amazonaws.com); alone,
    /// it means --source gcp-metadata.
    #[arg(long, value_name = "AUD", conflicts_with = "token_file")]
    audience: Option<String>,
    /// Read the web identity token from this file (--source file).
    #[arg(long, value_name = "PATH")]
    token_file: Option<String>,
    /// The role session name.
    #[arg(long, value_name = "NAME")]
    session_name: Option<String>,
    /// The session duration in seconds (900–43200).
    #[arg(long, value_name = "S")]
    duration_seconds: Option<u64>,
    /// The AWS region whose STS endpoint to use.
    #[arg(long, value_name = "R")]
    region: Option<String>,
    /// A fixed STS endpoint URL.
    #[arg(long, value_name = "URL")]
    sts_endpoint: Option<String>,
}

#[derive(Args)]
struct CredentialProcessCommand {
    #[command(flatten)]
    identity: CredentialProcessArgs,
    /// Do not keep the credentials between invocations (by default they are, under
    /// $XDG_CACHE_HOME/federated-credentials, and reused while more than 15 minutes are left).
    #[arg(long)]
    no_cache: bool,
}

#[derive(Subcommand)]
enum GoogleCommand {
    /// Print an identity token from the GCE/GKE metadata server.
    IdToken(IdTokenArgs),
    /// Print a Google access token from an external_account credential configuration
    /// (what `gcloud auth print-access-token` gives).
    AccessToken(AccessTokenArgs),
    /// Print a pluggable-auth executable response (version 1) with an OIDC token from one of
    /// our sources, for an `executable` credential_source of any Google client library.
    ExecutableOutput(ExecutableOutputArgs),
    /// Serve tokens from an external_account configuration over the GCE metadata protocol,
    /// so every Google client library on the host uses them: once the first token is
    /// fetched, prints `export GCE_METADATA_HOST=…` and `export GCE_METADATA_IP=…` (for
    /// `eval`), then serves until SIGTERM or SIGINT. Any local process can read the tokens,
    /// as on a real VM.
    ServeMetadata(broker::ServeMetadataArgs),
}

#[derive(Clone, Copy, ValueEnum)]
enum OutputFormat {
    /// The bare token.
    Token,
    /// JSON: access_token, token_type, expires_in, expiry.
    Json,
}

#[derive(Args)]
struct AccessTokenArgs {
    /// The external_account JSON (default: GOOGLE_APPLICATION_CREDENTIALS).
    #[arg(long, value_name = "PATH")]
    credential_config: Option<String>,
    /// Comma-separated scopes (default: cloud-platform).
    #[arg(long, value_name = "S,...", value_delimiter = ',')]
    scopes: Vec<String>,
    /// Output format.
    #[arg(long, value_enum, default_value = "token")]
    format: OutputFormat,
    /// Do not keep the token between invocations (by default it is, under
    /// $XDG_CACHE_HOME/federated-credentials, and reused while more than 225 s are left).
    #[arg(long)]
    no_cache: bool,
}

#[derive(Args)]
struct ExecutableOutputArgs {
    /// Where the token comes from (default: gcp-metadata with --audience, file with
    /// --token-file).
    #[arg(long, value_enum, value_name = "SOURCE")]
    source: Option<SourceArg>,
    /// The audience asked of the source (default with --source: the
    /// GOOGLE_EXTERNAL_ACCOUNT_AUDIENCE the Google client library passes); alone, it means
    /// --source gcp-metadata.
    #[arg(long, value_name = "AUD", conflicts_with = "token_file")]
    audience: Option<String>,
    /// Read the token from this file (--source file).
    #[arg(long, value_name = "PATH")]
    token_file: Option<String>,
}

/// The token sources the commands can take their identity from.
#[derive(Clone, Copy, ValueEnum)]
enum SourceArg {
    /// The GCE/GKE metadata server's identity token (`--audience`).
    GcpMetadata,
    /// A token file, re-read on each use (`--token-file`).
    File,
    /// The GitHub Actions job's OIDC token (needs `permissions: id-token: write`).
    GithubActions,
    /// An Azure managed identity's token (IMDS, or App Service's IDENTITY_ENDPOINT) for the
    /// resource `--audience` (default FEDERATED_CREDENTIALS_AZURE_RESOURCE); the
    /// user-assigned identity AZURE_CLIENT_ID when set.
    AzureManagedIdentity,
    /// The AKS pod's projected token (AZURE_FEDERATED_TOKEN_FILE, re-read on each use; its
    /// audience is set by the webhook).
    AzureWorkloadIdentity,
    /// An OIDC token for this machine's AWS identity from STS GetWebIdentityToken (RS256).
    AwsWebIdentityToken,
}

/// The source the command line names, if it names one: `--source`, or the one `--audience`
/// (metadata server) or `--token-file` implies. `default_audience` is used when a source that
/// mints tokens gets no `--audience`.
fn source_from_args(
    source: Option<SourceArg>,
    audience: Option<String>,
    token_file: Option<String>,
    default_audience: Option<String>,
) -> Result<Option<Arc<dyn SubjectTokenSource>>, Error> {
    let source = match (source, &audience, &token_file) {
        (Some(s), _, _) => s,
        (None, Some(_), _) => SourceArg::GcpMetadata,
        (None, None, Some(_)) => SourceArg::File,
        (None, None, None) => return Ok(None),
    };
    let given_audience = audience.clone();
    let audience = || {
        audience
            .clone()
            .or(default_audience.clone())
            .ok_or_else(|| {
                Error::config(
                    "--audience",
                    "is required: the audience to ask the source for",
                )
            })
    };
    let env = Context::default();
    let env = env.env();
    Ok(Some(match source {
        SourceArg::GcpMetadata => Arc::new(GcpMetadataIdentityToken::new(audience()?)),
        SourceArg::GithubActions => Arc::new(GitHubActionsToken::new(audience()?)),
        SourceArg::AwsWebIdentityToken => Arc::new(OutboundWebIdentityToken::new(
            AwsDefaultChain::default(),
            audience()?,
        )),
        SourceArg::AzureManagedIdentity => {
            let resource = given_audience
                .clone()
                .or_else(|| {
                    env.get_non_empty(default_chain::AZURE_RESOURCE_ENV)
                        .map(|r| r.trim().to_string())
                })
                .ok_or_else(|| {
                    Error::config(
                        "--audience",
                        "is required with --source azure-managed-identity (or set FEDERATED_CREDENTIALS_AZURE_RESOURCE): the Entra resource (application id URI) the token is for",
                    )
                })?;
            let mut source = AzureManagedIdentityToken::new(resource);
            if let Some(client_id) = env.get_non_empty("AZURE_CLIENT_ID") {
                source = source
                    .user_assigned(UserAssignedIdentity::ClientId(client_id.trim().to_string()));
            }
            Arc::new(source)
        }
        SourceArg::AzureWorkloadIdentity => {
            if given_audience.is_some() {
                return Err(Error::config(
                    "--audience",
                    "does not apply to --source azure-workload-identity: the AKS webhook sets the token's audience (api://AzureADTokenExchange)",
                ));
            }
            Arc::new(AzureWorkloadIdentityToken::new())
        }
        SourceArg::File => {
            let path = token_file
                .ok_or_else(|| Error::config("--token-file", "is required with --source file"))?;
            Arc::new(TokenFile::text(path).setting_name("--token-file"))
        }
    }))
}

#[derive(Clone, Copy, ValueEnum)]
enum FormatArg {
    Standard,
    Full,
}

#[derive(Args)]
struct IdTokenArgs {
    /// The token's audience.
    #[arg(long, value_name = "AUD")]
    audience: String,
    /// `standard` or `full` (adds the instance claims).
    #[arg(long, value_enum, default_value = "standard")]
    format: FormatArg,
    /// Include license codes (with --format full).
    #[arg(long)]
    licenses: bool,
    /// The service account (default: the instance's default one).
    #[arg(long, value_name = "EMAIL", default_value = "default")]
    service_account: String,
}

fn main() -> ExitCode {
    let cli = Cli::parse();
    match cli.command {
        Command::Aws(AwsCommand::Serve(args)) => return broker::serve_main(args),
        Command::Aws(AwsCommand::Exec(args)) => return broker::exec_main(args),
        Command::Google(GoogleCommand::ServeMetadata(args)) => {
            return broker::serve_metadata_main(args);
        }
        _ => {}
    }
    let runtime = match tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
    {
        Ok(rt) => rt,
        Err(e) => {
            eprintln!("federated-credentials: error: cannot start the async runtime: {e}");
            return ExitCode::FAILURE;
        }
    };
    match runtime.block_on(run(cli.command)) {
        Ok(output) => {
            println!("{output}");
            ExitCode::SUCCESS
        }
        Err(e) => {
            eprintln!("federated-credentials: error: {e}");
            ExitCode::FAILURE
        }
    }
}

async fn run(command: Command) -> Result<String, Error> {
    match command {
        Command::Aws(AwsCommand::CredentialProcess(args)) => credential_process(args).await,
        // main() runs these on a runtime of their own before getting here.
        Command::Aws(AwsCommand::Serve(_) | AwsCommand::Exec(_))
        | Command::Google(GoogleCommand::ServeMetadata(_)) => Err(Error::config(
            "command",
            "the servers run through their own entry point",
        )),
        Command::Aws(AwsCommand::WebIdentityToken(args)) => web_identity_token(args).await,
        Command::Azure(AzureCommand::AccessToken(args)) => azure_access_token(args).await,
        Command::Google(GoogleCommand::IdToken(args)) => id_token(args).await,
        Command::Google(GoogleCommand::AccessToken(args)) => access_token(args).await,
        Command::Google(GoogleCommand::ExecutableOutput(args)) => executable_output(args).await,
    }
}

async fn access_token(args: AccessTokenArgs) -> Result<String, Error> {
    // Nothing is built before the cache is read: a hit costs no HTTP client and no parsing.
    let config_path = credential_config_path(args.credential_config.as_deref().map(Path::new));
    let fetch = || async {
        let ctx = Context::default();
        let config = match &args.credential_config {
            Some(path) => ExternalAccountConfig::from_file(path)?,
            None => ExternalAccountConfig::from_env(&ctx)?,
        };
        let mut builder = ExternalAccountCredentials::builder()
            .context(ctx)
            .config(config);
        if !args.scopes.is_empty() {
            builder = builder.scopes(args.scopes.iter().map(|s| s.trim().to_string()));
        }
        builder.build()?.access_token().await
    };
    let token = if args.no_cache {
        fetch().await?
    } else {
        let now = SystemTime::now();
        process_cache::cached(
            process_cache::key_for(
                "google access-token",
                process_cache::OUTPUT_OPTIONS,
                &[config_path],
            ),
            process_cache::GOOGLE_MIN_REMAINING,
            fetch,
            |token| {
                let expires_at = token
                    .expires_at()
                    .unwrap_or(now + federated_credentials::cache::NO_EXPIRY_LIFETIME);
                (token.token().clone(), expires_at)
            },
            |cached| Arc::new(AccessToken::new(cached.value, Some(cached.expires_at))),
        )
        .await?
    };
    Ok(match args.format {
        OutputFormat::Token => token.token().expose_secret().to_string(),
        OutputFormat::Json => token
            .to_token_response_json(SystemTime::now())
            .expose_secret()
            .to_string(),
    })
}

/// The pluggable-auth response for `token`, or for `error`.
fn executable_response(
    result: &Result<SubjectToken, Error>,
    token_type: TokenType,
) -> serde_json::Value {
    match result {
        Ok(token) => {
            let mut out = serde_json::json!({
                "version": 1,
                "success": true,
                "token_type": token_type.urn(),
                "id_token": token.token().expose_secret(),
            });
            if let Some(exp) = token.expires_at() {
                out["expiration_time"] = exp
                    .duration_since(std::time::UNIX_EPOCH)
                    .unwrap_or_default()
                    .as_secs()
                    .into();
            }
            out
        }
        Err(e) => serde_json::json!({
            "version": 1,
            "success": false,
            "code": e.upstream_code().unwrap_or(match e.kind() {
                federated_credentials::ErrorKind::Configuration => "CONFIGURATION",
                federated_credentials::ErrorKind::NotAvailable => "NOT_AVAILABLE",
                federated_credentials::ErrorKind::Expired => "EXPIRED",
                _ => "UNAVAILABLE",
            }),
            "message": e.to_string(),
        }),
    }
}

async fn executable_output(args: ExecutableOutputArgs) -> Result<String, Error> {
    let ctx = Context::default();
    let token_type = match ctx
        .env()
        .get_non_empty("GOOGLE_EXTERNAL_ACCOUNT_TOKEN_TYPE")
    {
        None => TokenType::Jwt,
        Some(urn) => match TokenType::from_urn(urn.trim()) {
            Some(t @ (TokenType::Jwt | TokenType::IdToken)) => t,
            _ => {
                return Err(Error::config(
                    "GOOGLE_EXTERNAL_ACCOUNT_TOKEN_TYPE",
                    format!("`{urn}` is not a jwt or id_token type"),
                ));
            }
        },
    };
    let pool_audience = ctx
        .env()
        .get_non_empty("GOOGLE_EXTERNAL_ACCOUNT_AUDIENCE")
        .map(|a| a.trim().to_string());
    let result = match source_from_args(args.source, args.audience, args.token_file, pool_audience)
    {
        Ok(Some(source)) => source.subject_token(&ctx).await,
        Ok(None) => Err(Error::config(
            "--source",
            "say where the token comes from: --source gcp-metadata|github-actions|azure-managed-identity|aws-web-identity-token [--audience AUD], --source azure-workload-identity, or --source file --token-file PATH",
        )),
        Err(e) => Err(e),
    };
    let response = executable_response(&result, token_type);
    // Cache for the calling library when it asks for an output file.
    if result.is_ok()
        && let Some(path) = ctx
            .env()
            .get_non_empty("GOOGLE_EXTERNAL_ACCOUNT_OUTPUT_FILE")
    {
        let path = std::path::Path::new(path.trim());
        federated_credentials::secret::write_secret_file(path, response.to_string().as_bytes())
            .map_err(|e| {
                Error::config(
                    "GOOGLE_EXTERNAL_ACCOUNT_OUTPUT_FILE",
                    format!("cannot write {}: {e}", path.display()),
                )
            })?;
    }
    match result {
        Ok(_) => Ok(response.to_string()),
        // The protocol wants the failure as JSON on stdout, and a non-zero exit.
        Err(e) => {
            println!("{response}");
            Err(e)
        }
    }
}

async fn credential_process(command: CredentialProcessCommand) -> Result<String, Error> {
    let no_cache = command.no_cache;
    // The provider (and its HTTP client) is built on a miss only.
    let fetch = || async {
        let creds = aws_provider(command.identity)?.credentials().await?;
        Ok((creds.to_credential_process_json(), creds.expiration()))
    };
    let (json, _) = if no_cache {
        fetch().await?
    } else {
        process_cache::cached(
            process_cache::key_for(
                "aws credential-process",
                process_cache::OUTPUT_OPTIONS,
                &[aws_config_file(&ProcessEnv)],
            ),
            process_cache::AWS_MIN_REMAINING,
            fetch,
            |(json, expires_at)| (json.clone(), *expires_at),
            |cached| (cached.value, cached.expires_at),
        )
        .await?
    };
    Ok(json.expose_secret().to_string())
}

/// The provider the identity options describe (a profile, or flags and environment).
pub(crate) fn aws_provider(args: CredentialProcessArgs) -> Result<WebIdentityProvider, Error> {
    match args.profile.clone() {
        Some(name) => provider_from_profile(&name, args),
        None => provider_from_args(args),
    }
}

/// The external_account file a Google command reads: `--credential-config`, else
/// GOOGLE_APPLICATION_CREDENTIALS.
pub(crate) fn credential_config_path(flag: Option<&Path>) -> Option<std::path::PathBuf> {
    match flag {
        Some(path) => Some(path.to_path_buf()),
        None => ProcessEnv
            .get_non_empty("GOOGLE_APPLICATION_CREDENTIALS")
            .map(|p| std::path::PathBuf::from(p.trim())),
    }
}

/// The AWS config file profiles are read from: AWS_CONFIG_FILE, else ~/.aws/config.
pub(crate) fn aws_config_file(env: &dyn Env) -> Option<std::path::PathBuf> {
    match env.get_non_empty("AWS_CONFIG_FILE") {
        Some(path) => Some(std::path::PathBuf::from(path.trim())),
        None => env.get_non_empty("HOME").map(|home| {
            std::path::Path::new(home.trim())
                .join(".aws")
                .join("config")
        }),
    }
}

/// The provider a profile describes, with the command line's options over it.
fn provider_from_profile(
    name: &str,
    args: CredentialProcessArgs,
) -> Result<WebIdentityProvider, Error> {
    let ctx = Context::default();
    let mut profile = AwsProfile::load_named(&ctx, name.trim())?;
    if let Some(arn) = args.role_arn {
        profile.role_arn = Some(arn);
    }
    if let Some(n) = args.session_name {
        profile.role_session_name = Some(n);
    }
    if let Some(secs) = args.duration_seconds {
        profile.duration = Some(Duration::from_secs(secs));
    }
    if let Some(r) = args.region {
        profile.region = Some(r);
    }
    if let Some(url) = args.sts_endpoint {
        profile.endpoint_url = Some(url);
    }
    default_chain::from_profile(&ctx, profile)
}

fn provider_from_args(args: CredentialProcessArgs) -> Result<WebIdentityProvider, Error> {
    let mut builder = WebIdentityProvider::builder()
        .context(Context::default())
        .configure_from_env();
    let env = Context::default();
    let env_has_source = [
        "AWS_WEB_IDENTITY_TOKEN_FILE",
        federated_credentials::aws::GCP_AUDIENCE_ENV,
    ]
    .iter()
    .any(|v| env.env().get_non_empty(v).is_some());
    let source = source_from_args(
        args.source,
        args.audience,
        args.token_file,
        Some(default_chain::DEFAULT_AWS_AUDIENCE.to_string()),
    )?;
    if source.is_none() && !env_has_source {
        return Err(Error::config(
            "--source",
            "say where the web identity token comes from: --source gcp-metadata|github-actions|azure-managed-identity [--audience AUD], --source azure-workload-identity, --source file --token-file PATH (or --audience AUD alone for the GCE/GKE metadata server)",
        ));
    }
    if args.role_arn.is_none() && env.env().get_non_empty("AWS_ROLE_ARN").is_none() {
        return Err(Error::config(
            "--role-arn",
            "is required (or set AWS_ROLE_ARN)",
        ));
    }
    if let Some(source) = source {
        builder = builder.token_source(source);
    }
    if let Some(arn) = args.role_arn {
        builder = builder.role_arn(arn);
    }
    if let Some(name) = args.session_name {
        builder = builder.configure_sts(|s| s.session_name(name));
    }
    if let Some(secs) = args.duration_seconds {
        builder = builder.configure_sts(|s| s.duration(Duration::from_secs(secs)));
    }
    if let Some(region) = args.region {
        builder = builder.configure_sts(|s| s.region(region));
    }
    if let Some(url) = args.sts_endpoint {
        builder = builder.configure_sts(|s| s.endpoint_url(url));
    }
    builder.build()
}

async fn web_identity_token(args: WebIdentityTokenArgs) -> Result<String, Error> {
    let mut audiences = args.audience.into_iter();
    let first = audiences.next().unwrap_or_default();
    let mut source = audiences.fold(
        OutboundWebIdentityToken::new(AwsDefaultChain::default(), first),
        OutboundWebIdentityToken::audience,
    );
    source = source.signing_algorithm(match args.signing_algorithm {
        AlgorithmArg::Rs256 => SigningAlgorithm::Rs256,
        AlgorithmArg::Es384 => SigningAlgorithm::Es384,
    });
    if let Some(secs) = args.duration_seconds {
        source = source.duration(Duration::from_secs(secs));
    }
    if let Some(region) = args.region {
        source = source.region(region);
    }
    if let Some(url) = args.sts_endpoint {
        source = source.endpoint_url(url);
    }
    let token = source.subject_token(&Context::default()).await?;
    Ok(token.token().expose_secret().to_string())
}

async fn azure_access_token(args: AzureAccessTokenArgs) -> Result<String, Error> {
    let ctx = Context::default();
    let source = source_from_args(
        args.source,
        args.audience,
        args.token_file,
        Some(
            federated_credentials::exchange::AzureCloud::Public
                .assertion_audience()
                .to_string(),
        ),
    )?;
    let credentials = match source {
        Some(source) => {
            let mut builder = EntraCredentials::builder()
                .context(ctx.clone())
                .configure_from_env()
                .shared_token_source(source)
                .scope(args.scope);
            if let Some(t) = args.tenant_id {
                builder = builder.tenant_id(t);
            }
            if let Some(c) = args.client_id {
                builder = builder.client_id(c);
            }
            builder.build()?
        }
        None => {
            if args.tenant_id.is_some() || args.client_id.is_some() {
                // The default chain reads the environment; the flags go on top of it.
                // (vars_os: a variable that is not Unicode is skipped, not a panic.)
                let mut env: Vec<(String, String)> = std::env::vars_os()
                    .filter_map(|(k, v)| Some((k.into_string().ok()?, v.into_string().ok()?)))
                    .filter(|(k, _)| {
                        !(k == "AZURE_TENANT_ID" && args.tenant_id.is_some()
                            || k == "AZURE_CLIENT_ID" && args.client_id.is_some())
                    })
                    .collect();
                env.extend(args.tenant_id.map(|t| ("AZURE_TENANT_ID".to_string(), t)));
                env.extend(args.client_id.map(|c| ("AZURE_CLIENT_ID".to_string(), c)));
                let layered =
                    ctx.with_env(federated_credentials::context::StaticEnv::from_pairs(env));
                default_chain::entra(&layered, args.scope).await?
            } else {
                default_chain::entra(&ctx, args.scope).await?
            }
        }
    };
    let token = credentials.access_token().await?;
    Ok(match args.format {
        OutputFormat::Token => token.token().expose_secret().to_string(),
        OutputFormat::Json => token
            .to_token_response_json(ctx.now())
            .expose_secret()
            .to_string(),
    })
}

async fn id_token(args: IdTokenArgs) -> Result<String, Error> {
    let source = GcpMetadataIdentityToken::new(args.audience)
        .format(match args.format {
            FormatArg::Standard => IdTokenFormat::Standard,
            FormatArg::Full => IdTokenFormat::Full,
        })
        .licenses(args.licenses)
        .service_account(args.service_account);
    let token = source.subject_token(&Context::default()).await?;
    Ok(token.token().expose_secret().to_string())
}
