//! `aws serve` and `aws exec`: the CLI side of [`federated_credentials::server`]. A thin
//! wrapper: the provider comes from the same options as `aws credential-process`, the server
//! is the library's.

use std::net::SocketAddr;
use std::path::PathBuf;
use std::process::ExitCode;

use clap::Args;
use federated_credentials::Error;
use federated_credentials::config::ExternalAccountConfig;
use federated_credentials::context::{Context, ProcessEnv};
use federated_credentials::file_cache::FileCache;
use federated_credentials::server::{AuthToken, ContainerCredentialsServer, MetadataServer};

use crate::{
    CredentialProcessArgs, aws_config_file, aws_provider, credential_config_path, process_cache,
};

#[derive(Args)]
pub(crate) struct ServeArgs {
    #[command(flatten)]
    identity: CredentialProcessArgs,
    /// The address to listen on. Another than loopback is served with a warning: any host
    /// that reaches it can ask, with the token.
    #[arg(long, value_name = "ADDR", default_value = "127.0.0.1:0")]
    listen: SocketAddr,
    /// The file holding the token callers present (created with 32 random bytes, mode 0600,
    /// when absent; re-read when it changes). Default:
    /// $XDG_RUNTIME_DIR/federated-credentials/aws-container-token, else under
    /// $XDG_CACHE_HOME or ~/.cache.
    #[arg(long, value_name = "PATH")]
    auth_token_file: Option<PathBuf>,
    /// Also serve this role on /role-arn/ARN (repeat for more): each is assumed with the same
    /// identity and kept in a cache of its own. Roles not listed are refused.
    #[arg(long, value_name = "ARN")]
    allow_role_arn: Vec<String>,
    /// Do not keep the credentials on disk (by default they are, under
    /// $XDG_CACHE_HOME/federated-credentials, and a restarted server serves them again while
    /// more than 15 minutes are left).
    #[arg(long)]
    no_cache: bool,
}

#[derive(Args)]
pub(crate) struct ServeMetadataArgs {
    /// The external_account JSON (default: GOOGLE_APPLICATION_CREDENTIALS).
    #[arg(long, value_name = "PATH")]
    credential_config: Option<PathBuf>,
    /// The address to listen on. Another than loopback is served with a warning.
    #[arg(long, value_name = "ADDR", default_value = "127.0.0.1:0")]
    listen: SocketAddr,
    /// project/project-id (default: the configuration's quota_project_id).
    #[arg(long, value_name = "ID")]
    project_id: Option<String>,
    /// project/numeric-project-id (default: the number in the pool provider's audience).
    #[arg(long, value_name = "N")]
    numeric_project_id: Option<String>,
    /// The service account email served (default: the impersonated one; else
    /// PROJECT_ID.svc.id.goog, as GKE for a federated principal).
    #[arg(long, value_name = "EMAIL")]
    email: Option<String>,
    /// Do not keep the tokens on disk (by default the configured scopes' token is kept under
    /// $XDG_CACHE_HOME/federated-credentials, and a restarted server serves it again while
    /// more than 15 minutes are left).
    #[arg(long)]
    no_cache: bool,
}

#[derive(Args)]
pub(crate) struct ExecArgs {
    #[command(flatten)]
    identity: CredentialProcessArgs,
    /// The command and its arguments (after `--`).
    #[arg(required = true, last = true, value_name = "CMD")]
    command: Vec<std::ffi::OsString>,
    /// Do not keep the credentials on disk (by default they are, as for credential-process,
    /// so the next run starts without an STS call).
    #[arg(long)]
    no_cache: bool,
}

/// Variables that would make the child's SDK pick another identity over the container
/// endpoint (the SDKs read them first), removed from its environment.
const SHADOWING_VARIABLES: &[&str] = &[
    "AWS_ACCESS_KEY_ID",
    "AWS_SECRET_ACCESS_KEY",
    "AWS_SESSION_TOKEN",
    "AWS_SECURITY_TOKEN",
    "AWS_PROFILE",
    "AWS_DEFAULT_PROFILE",
    "AWS_ROLE_ARN",
    "AWS_WEB_IDENTITY_TOKEN_FILE",
    "AWS_CONTAINER_CREDENTIALS_RELATIVE_URI",
    "AWS_CONTAINER_AUTHORIZATION_TOKEN",
];

fn runtime() -> Result<tokio::runtime::Runtime, String> {
    tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .map_err(|e| format!("cannot start the async runtime: {e}"))
}

fn fail(message: impl std::fmt::Display) -> ExitCode {
    eprintln!("federated-credentials: error: {message}");
    ExitCode::FAILURE
}

/// The default token file: under XDG_RUNTIME_DIR (a per-user tmpfs), else the cache dir.
fn default_token_file(ctx: &Context) -> Result<PathBuf, Error> {
    let env = ctx.env();
    let base = env
        .get_non_empty("XDG_RUNTIME_DIR")
        .filter(|d| std::path::Path::new(d.trim()).is_absolute())
        .map(|d| PathBuf::from(d.trim()))
        .or_else(|| {
            env.get_non_empty("XDG_CACHE_HOME")
                .filter(|d| std::path::Path::new(d.trim()).is_absolute())
                .map(|d| PathBuf::from(d.trim()))
        })
        .or_else(|| {
            env.get_non_empty("HOME")
                .map(|h| std::path::Path::new(h.trim()).join(".cache"))
        })
        .ok_or_else(|| {
            Error::config(
                "--auth-token-file",
                "is required when neither XDG_RUNTIME_DIR, XDG_CACHE_HOME nor HOME is set",
            )
        })?;
    Ok(base
        .join("federated-credentials")
        .join("aws-container-token"))
}

/// Shell-quoted for `eval`: single quotes, with `'` as `'\''`.
fn shell_quote(text: &str) -> String {
    format!("'{}'", text.replace('\'', r"'\''"))
}

/// Completes on SIGTERM or SIGINT.
async fn termination() {
    #[cfg(unix)]
    {
        use tokio::signal::unix::{SignalKind, signal};
        match signal(SignalKind::terminate()) {
            Ok(mut term) => {
                tokio::select! {
                    _ = term.recv() => {}
                    _ = tokio::signal::ctrl_c() => {}
                }
            }
            Err(_) => {
                let _ = tokio::signal::ctrl_c().await;
            }
        }
    }
    #[cfg(not(unix))]
    {
        let _ = tokio::signal::ctrl_c().await;
    }
}

/// Where a server keeps its credentials: the credential_process cache directory, under a key
/// for `command` (`None`: not kept) over its arguments (less where and to whom it serves),
/// the environment and `config_file`'s contents.
fn persisted(
    command: Option<&str>,
    config_file: Option<PathBuf>,
) -> Option<(FileCache, federated_credentials::file_cache::CacheKey)> {
    let command = command?;
    match FileCache::in_default_dir(&ProcessEnv) {
        Ok(Some(files)) => Some((
            files,
            process_cache::key_for(command, process_cache::SERVER_OPTIONS, &[config_file]),
        )),
        Ok(None) => None,
        Err(why) => {
            eprintln!("federated-credentials: warning: not keeping credentials on disk: {why}");
            None
        }
    }
}

/// The server `aws serve` and `aws exec` run: the identity's provider, one per allowed role,
/// persisted unless `no_cache` (`command` names the key's entry); binds, then fetches the
/// first credentials of each (a misconfiguration fails here, before anything is printed;
/// after a restart the persisted ones need no fetch).
async fn start(
    identity: CredentialProcessArgs,
    allowed_roles: Vec<String>,
    listen: SocketAddr,
    token: AuthToken,
    persist_as: Option<&str>,
) -> Result<ContainerCredentialsServer, String> {
    let provider = aws_provider(identity.clone()).map_err(|e| e.to_string())?;
    let mut warm = vec![provider.clone()];
    let mut builder = ContainerCredentialsServer::builder()
        .provider(provider)
        .auth_token(token)
        .listen(listen);
    for arn in allowed_roles {
        let mut for_role = identity.clone();
        for_role.role_arn = Some(arn.clone());
        let role_provider =
            aws_provider(for_role).map_err(|e| format!("--allow-role-arn {arn}: {e}"))?;
        warm.push(role_provider.clone());
        builder = builder.role(arn, role_provider);
    }
    if let Some((files, key)) = persisted(persist_as, aws_config_file(&ProcessEnv)) {
        builder = builder.persist(files, key);
    }
    let server = builder
        .bind()
        .await
        .map_err(|e| format!("cannot serve on {listen}: {e}"))?;
    for provider in warm {
        provider
            .cache()
            .prefetch()
            .await
            .map_err(|e| e.to_string())?;
    }
    Ok(server)
}

pub(crate) fn serve_main(args: ServeArgs) -> ExitCode {
    let runtime = match runtime() {
        Ok(rt) => rt,
        Err(e) => return fail(e),
    };
    runtime.block_on(async move {
        let ctx = Context::default();
        let path = match args.auth_token_file {
            Some(p) => p,
            None => match default_token_file(&ctx) {
                Ok(p) => p,
                Err(e) => return fail(e),
            },
        };
        let token = match AuthToken::from_file(&path) {
            Ok(t) => t,
            Err(e) => return fail(format!("auth token file {}: {e}", path.display())),
        };
        let persist = (!args.no_cache).then_some("aws serve");
        let server = match start(
            args.identity,
            args.allow_role_arn,
            args.listen,
            token,
            persist,
        )
        .await
        {
            Ok(s) => s,
            Err(e) => return fail(e),
        };
        println!(
            "export AWS_CONTAINER_CREDENTIALS_FULL_URI={}\nexport AWS_CONTAINER_AUTHORIZATION_TOKEN_FILE={}",
            shell_quote(&server.full_uri()),
            shell_quote(&path.display().to_string())
        );
        use std::io::Write;
        let _ = std::io::stdout().flush();
        eprintln!(
            "federated-credentials: serving AWS credentials on {} until SIGTERM or SIGINT",
            server.full_uri()
        );
        match server.run(termination()).await {
            Ok(()) => ExitCode::SUCCESS,
            Err(e) => fail(e),
        }
    })
}

pub(crate) fn serve_metadata_main(args: ServeMetadataArgs) -> ExitCode {
    let runtime = match runtime() {
        Ok(rt) => rt,
        Err(e) => return fail(e),
    };
    runtime.block_on(async move {
        let ctx = Context::default();
        let config = match &args.credential_config {
            Some(path) => ExternalAccountConfig::from_file(path),
            None => ExternalAccountConfig::from_env(&ctx),
        };
        let config = match config {
            Ok(c) => c,
            Err(e) => return fail(e),
        };
        let mut builder = MetadataServer::builder()
            .context(ctx)
            .config(config)
            .listen(args.listen);
        if let Some(p) = args.project_id {
            builder = builder.project_id(p);
        }
        if let Some(n) = args.numeric_project_id {
            builder = builder.numeric_project_id(n);
        }
        if let Some(e) = args.email {
            builder = builder.email(e);
        }
        if let Some((files, key)) = persisted(
            (!args.no_cache).then_some("google serve-metadata"),
            credential_config_path(args.credential_config.as_deref()),
        ) {
            builder = builder.persist(files, key);
        }
        let server = match builder.bind().await {
            Ok(s) => s,
            Err(e) => return fail(e),
        };
        if let Err(e) = server.prefetch().await {
            return fail(e);
        }
        let host = server.host();
        println!(
            "export GCE_METADATA_HOST={}\nexport GCE_METADATA_IP={}",
            shell_quote(&host),
            shell_quote(&host)
        );
        use std::io::Write;
        let _ = std::io::stdout().flush();
        eprintln!(
            "federated-credentials: serving Google tokens on http://{host} until SIGTERM or SIGINT; any local process can read them, as on a VM"
        );
        match server.run(termination()).await {
            Ok(()) => ExitCode::SUCCESS,
            Err(e) => fail(e),
        }
    })
}

pub(crate) fn exec_main(args: ExecArgs) -> ExitCode {
    let runtime = match runtime() {
        Ok(rt) => rt,
        Err(e) => return fail(e),
    };
    runtime.block_on(async move {
        // The token lives in a private directory of this run, removed afterwards.
        let dir = match tempfile_dir() {
            Ok(d) => d,
            Err(e) => {
                return fail(format!(
                    "cannot create a private directory for the token: {e}"
                ));
            }
        };
        let path = dir.join("token");
        let outcome = async {
            let token = AuthToken::from_file(&path).map_err(|e| e.to_string())?;
            let server = start(
                args.identity,
                Vec::new(),
                SocketAddr::from(([127, 0, 0, 1], 0)),
                token,
                (!args.no_cache).then_some("aws exec"),
            )
            .await?;
            let uri = server.full_uri();
            let (stop, stopped) = tokio::sync::oneshot::channel::<()>();
            let serving = tokio::spawn(server.run(async {
                let _ = stopped.await;
            }));
            let (program, rest) = args
                .command
                .split_first()
                .ok_or_else(|| "no command given after --".to_string())?;
            let mut child = tokio::process::Command::new(program);
            child
                .args(rest)
                .env("AWS_CONTAINER_CREDENTIALS_FULL_URI", &uri)
                .env("AWS_CONTAINER_AUTHORIZATION_TOKEN_FILE", &path);
            for var in SHADOWING_VARIABLES {
                child.env_remove(var);
            }
            let status = child
                .status()
                .await
                .map_err(|e| format!("cannot run {}: {e}", program.to_string_lossy()))?;
            let _ = stop.send(());
            let _ = serving.await;
            Ok::<_, String>(status)
        }
        .await;
        let _ = std::fs::remove_dir_all(&dir);
        match outcome {
            Ok(status) => exit_code_of(status),
            Err(e) => fail(e),
        }
    })
}

/// The child's status as ours: its code, or 128 + the signal that ended it (as shells do).
fn exit_code_of(status: std::process::ExitStatus) -> ExitCode {
    if let Some(code) = status.code() {
        return ExitCode::from(u8::try_from(code).unwrap_or(1));
    }
    #[cfg(unix)]
    {
        use std::os::unix::process::ExitStatusExt;
        if let Some(signal) = status.signal() {
            return ExitCode::from(u8::try_from(128 + signal).unwrap_or(1));
        }
    }
    ExitCode::FAILURE
}

/// A new directory only this user can enter, under XDG_RUNTIME_DIR or the temp directory.
fn tempfile_dir() -> std::io::Result<PathBuf> {
    let base = std::env::var_os("XDG_RUNTIME_DIR")
        .map(PathBuf::from)
        .filter(|p| p.is_absolute())
        .unwrap_or_else(std::env::temp_dir);
    let mut builder = std::fs::DirBuilder::new();
    #[cfg(unix)]
    std::os::unix::fs::DirBuilderExt::mode(&mut builder, 0o700);
    for _ in 0..8 {
        let dir = base.join(format!(
            "federated-credentials-exec-{}-{:016x}",
            std::process::id(),
            fastrand_u64()
        ));
        match builder.create(&dir) {
            Ok(()) => return Ok(dir),
            Err(e) if e.kind() == std::io::ErrorKind::AlreadyExists => continue,
            Err(e) => return Err(e),
        }
    }
    Err(std::io::Error::other("no free directory name"))
}

fn fastrand_u64() -> u64 {
    use std::hash::{BuildHasher, RandomState};
    RandomState::new().hash_one(std::time::SystemTime::now())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn shell_quoting_survives_quotes() {
        assert_eq!(shell_quote("/a b/c"), "'/a b/c'");
        assert_eq!(shell_quote("it's"), r"'it'\''s'");
    }
}
