//! The `federated-credentials` command: cross-cloud credentials from the shell, for tools
//! that cannot link the library.
//!
//! - `aws credential-process`: AWS credentials in the `credential_process` JSON format, for
//!   `~/.aws/config` (the AWS CLI, boto3 and every AWS SDK read it).
//! - `google id-token`: the metadata server's identity token, like
//!   `gcloud auth print-identity-token` on a VM.
//!
//! Errors go to stderr as one line, with a non-zero exit status.

use std::process::ExitCode;
use std::time::Duration;

use clap::{Args, Parser, Subcommand, ValueEnum};
use federated_credentials::aws::WebIdentityProvider;
use federated_credentials::context::Context;
use federated_credentials::source::{
    GcpMetadataIdentityToken, IdTokenFormat, SubjectTokenSource, TokenFile,
};
use federated_credentials::token::format_rfc3339;
use federated_credentials::Error;

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
}

#[derive(Subcommand)]
enum AwsCommand {
    /// Print AWS credentials as `credential_process` JSON (Version 1).
    ///
    /// Unset options fall back to AWS_ROLE_ARN, AWS_ROLE_SESSION_NAME,
    /// AWS_WEB_IDENTITY_TOKEN_FILE, FEDERATED_CREDENTIALS_GCP_AUDIENCE and AWS_REGION.
    CredentialProcess(CredentialProcessArgs),
}

#[derive(Args)]
struct CredentialProcessArgs {
    /// The IAM role to assume.
    #[arg(long, value_name = "ARN")]
    role_arn: Option<String>,
    /// Get the web identity token from the GCE/GKE metadata server, for this audience.
    #[arg(long, value_name = "AUD", conflicts_with = "token_file")]
    audience: Option<String>,
    /// Read the web identity token from this file.
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

#[derive(Subcommand)]
enum GoogleCommand {
    /// Print an identity token from the GCE/GKE metadata server.
    IdToken(IdTokenArgs),
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
        Command::Google(GoogleCommand::IdToken(args)) => id_token(args).await,
    }
}

async fn credential_process(args: CredentialProcessArgs) -> Result<String, Error> {
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
    if args.audience.is_none() && args.token_file.is_none() && !env_has_source {
        return Err(Error::config(
            "--audience/--token-file",
            "say where the web identity token comes from: --audience AUD (GCE/GKE metadata server) or --token-file PATH",
        ));
    }
    if args.role_arn.is_none() && env.env().get_non_empty("AWS_ROLE_ARN").is_none() {
        return Err(Error::config(
            "--role-arn",
            "is required (or set AWS_ROLE_ARN)",
        ));
    }
    if let Some(aud) = args.audience {
        builder = builder.token_source(GcpMetadataIdentityToken::new(aud));
    } else if let Some(path) = args.token_file {
        builder = builder.token_source(TokenFile::text(path).setting_name("--token-file"));
    }
    if let Some(arn) = args.role_arn {
        builder = builder.role_arn(arn);
    }
    if let Some(name) = args.session_name {
        builder = builder.session_name(name);
    }
    if let Some(secs) = args.duration_seconds {
        builder = builder.duration(Duration::from_secs(secs));
    }
    if let Some(region) = args.region {
        builder = builder.region(region);
    }
    if let Some(url) = args.sts_endpoint {
        builder = builder.sts_endpoint(url);
    }
    let creds = builder.build()?.credentials().await?;
    let sdk = creds.sdk_credentials();
    let mut out = serde_json::json!({
        "Version": 1,
        "AccessKeyId": sdk.access_key_id(),
        "SecretAccessKey": sdk.secret_access_key(),
        "SessionToken": sdk.session_token().unwrap_or_default(),
        "Expiration": format_rfc3339(creds.expiration()),
    });
    if let Some(account) = creds.account_id() {
        out["AccountId"] = serde_json::Value::String(account.to_string());
    }
    Ok(out.to_string())
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
