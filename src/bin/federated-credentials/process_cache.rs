//! The cache between invocations of `aws credential-process` and `google access-token`: the
//! AWS and Google tools start the command again for every command they run, so without it
//! each `aws s3 ls` costs a metadata request and an STS call (aws-cli 5585).
//!
//! The key hashes everything that determines the credential: the command and its arguments,
//! the environment variables our sources and exchanges read (by prefix, values included: a
//! different role, audience, endpoint or job token gives a different key), and the contents of
//! the configuration files the command reads (`~/.aws/config`, the `external_account` file).
//! The rules of the files themselves are [`federated_credentials::file_cache`]'s.

use std::future::Future;
use std::time::{Duration, SystemTime};

use federated_credentials::Error;
use federated_credentials::context::{ProcessEnv, TokioSleep};
use federated_credentials::file_cache::{CacheKey, CachedValue, FileCache, Lookup};
use federated_credentials::secret::SecretString;

/// AWS credentials are reused while more than this is left: botocore (1.44.8) refreshes
/// `credential_process` credentials 15 minutes before they expire
/// (`_DEFAULT_ADVISORY_REFRESH_TIMEOUT`), so a credential with less left would only make it
/// run us again at once.
pub const AWS_MIN_REMAINING: Duration = Duration::from_secs(15 * 60);

/// Google access tokens are reused while more than this is left: google-auth (2.63.0) treats
/// a token as expired 3 min 45 s before its expiry (`_helpers.REFRESH_THRESHOLD`), as our
/// Google cache policy's window does.
pub const GOOGLE_MIN_REMAINING: Duration = Duration::from_secs(225);

/// How long an invocation waits for another that is fetching the same credential.
const LOCK_WAIT: Duration = Duration::from_secs(60);

/// Environment variables that can change which credential a command gets, by prefix.
const KEY_ENV_PREFIXES: &[&str] = &[
    "AWS_",
    "GCE_",
    "GOOGLE_",
    "CLOUDSDK_",
    "FEDERATED_CREDENTIALS_",
    "AZURE_",
    "ACTIONS_ID_TOKEN_",
    "IDENTITY_",
    "MSI_",
    "ECS_",
    "NO_GCE_CHECK",
];

/// The flag that turns the cache off; not part of the key.
pub const NO_CACHE_FLAG: &str = "--no-cache";

/// Options (with a value) that change how the credential is printed, not which: not part of
/// the key, so `--format json` is served from what `--format token` stored.
pub const OUTPUT_OPTIONS: &[&str] = &["--format"];

/// Options (with a value) of the servers that change where and to whom they serve, not what:
/// not part of the key, so a server restarted on another port finds its entry.
pub const SERVER_OPTIONS: &[&str] = &["--listen", "--auth-token-file", "--allow-role-arn"];

/// The arguments that determine the credential: all but [`NO_CACHE_FLAG`], the options in
/// `not_in_key` with their values (as `--format json` or `--format=json`), and anything
/// after `--` (the command `aws exec` runs).
fn key_args(
    args: impl IntoIterator<Item = std::ffi::OsString>,
    not_in_key: &[&str],
) -> Vec<Vec<u8>> {
    let mut out = Vec::new();
    let mut skip_value = false;
    for arg in args {
        if std::mem::take(&mut skip_value) {
            continue;
        }
        let text = arg.to_string_lossy();
        if text == "--" {
            break;
        }
        if text == NO_CACHE_FLAG {
            continue;
        }
        if let Some(option) = not_in_key
            .iter()
            .find(|o| text == **o || text.starts_with(&format!("{o}=")))
        {
            skip_value = text == *option;
            continue;
        }
        out.push(arg.into_encoded_bytes());
    }
    out
}

/// The key for this invocation: `command`, the process's arguments (less `not_in_key`, see
/// [`key_args`]), the environment by [`KEY_ENV_PREFIXES`], and the contents of `files` (a
/// missing file counts as empty).
pub fn key_for(
    command: &str,
    not_in_key: &[&str],
    files: &[Option<std::path::PathBuf>],
) -> CacheKey {
    let mut parts: Vec<Vec<u8>> = vec![command.as_bytes().to_vec()];
    parts.extend(key_args(std::env::args_os().skip(1), not_in_key));
    let mut env: Vec<(String, String)> = std::env::vars_os()
        .filter_map(|(k, v)| Some((k.into_string().ok()?, v.to_string_lossy().into_owned())))
        .filter(|(k, _)| KEY_ENV_PREFIXES.iter().any(|p| k.starts_with(p)))
        .collect();
    env.sort();
    parts.push(b"--env--".to_vec());
    for (k, v) in env {
        parts.push(k.into_bytes());
        parts.push(v.into_bytes());
    }
    parts.push(b"--files--".to_vec());
    for file in files.iter().flatten() {
        parts.push(file.as_os_str().as_encoded_bytes().to_vec());
        parts.push(std::fs::read(file).unwrap_or_default());
    }
    CacheKey::new(parts)
}

/// `fetch` through the file cache: a cached value with more than `min_remaining` left, else
/// (holding the key's lock, so concurrent invocations fetch once) a fresh one, stored.
/// Warnings (an ignored file, a cache that cannot be used) go to stderr; none stops the
/// command. The hit path builds nothing (no HTTP client, no provider): `fetch` does, on a miss.
pub async fn cached<T, Fut>(
    key: CacheKey,
    min_remaining: Duration,
    fetch: impl FnOnce() -> Fut,
    store: impl Fn(&T) -> (SecretString, SystemTime),
    load: impl Fn(CachedValue) -> T,
) -> Result<T, Error>
where
    Fut: Future<Output = Result<T, Error>>,
{
    let cache = match FileCache::in_default_dir(&ProcessEnv) {
        Ok(Some(cache)) => cache,
        Ok(None) => return fetch().await,
        Err(why) => {
            warn(&format!("not caching credentials: {why}"));
            return fetch().await;
        }
    };
    let look = |cache: &FileCache| match cache.read(&key, SystemTime::now(), min_remaining) {
        Lookup::Hit(value) => Some(value),
        Lookup::Miss => None,
        Lookup::Ignored(why) => {
            warn(&why);
            None
        }
    };
    if let Some(value) = look(&cache) {
        return Ok(load(value));
    }
    let _lock = cache.lock(&TokioSleep, &key, LOCK_WAIT).await;
    // Whoever held the lock may have fetched it.
    if _lock.is_some()
        && let Some(value) = look(&cache)
    {
        return Ok(load(value));
    }
    let fresh = fetch().await?;
    let (value, expires_at) = store(&fresh);
    if let Err(e) = cache.write(&key, &value, expires_at) {
        warn(&format!(
            "could not write the credential cache in {}: {e}",
            cache.dir().display()
        ));
    }
    Ok(fresh)
}

fn warn(message: &str) {
    eprintln!("federated-credentials: warning: {message}");
}

#[cfg(test)]
mod tests {
    use super::*;

    fn args(a: &[&str]) -> Vec<Vec<u8>> {
        key_args(a.iter().map(std::ffi::OsString::from), OUTPUT_OPTIONS)
    }

    #[test]
    fn output_options_and_no_cache_are_not_in_the_key() {
        let plain = args(&["google", "access-token", "--scopes", "a"]);
        assert_eq!(
            args(&[
                "google",
                "access-token",
                "--format",
                "json",
                "--scopes",
                "a"
            ]),
            plain
        );
        assert_eq!(
            args(&[
                "google",
                "access-token",
                "--format=json",
                "--no-cache",
                "--scopes",
                "a"
            ]),
            plain
        );
        assert_ne!(args(&["google", "access-token", "--scopes", "b"]), plain);
    }

    #[test]
    fn where_a_server_listens_and_what_exec_runs_are_not_in_the_key() {
        let serve = |a: &[&str]| key_args(a.iter().map(std::ffi::OsString::from), SERVER_OPTIONS);
        let plain = serve(&["aws", "serve", "--role-arn", "r"]);
        assert_eq!(
            serve(&[
                "aws",
                "serve",
                "--listen",
                "127.0.0.1:9000",
                "--role-arn",
                "r",
                "--auth-token-file=/t",
                "--allow-role-arn",
                "x"
            ]),
            plain
        );
        assert_eq!(
            serve(&["aws", "serve", "--role-arn", "r", "--", "env"]),
            plain
        );
        assert_ne!(serve(&["aws", "serve", "--role-arn", "q"]), plain);
    }
}
