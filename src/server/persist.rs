//! Keeping a server's credentials in a [`FileCache`] so that a restarted server starts from
//! them instead of calling its upstream: every credential a cache fetches is written to its
//! entry ([`keep_persisted`]), and a new server seeds its caches from the entries
//! ([`seed_from_file`]) while more than [`PERSISTED_MIN_REMAINING`] is left.

use std::time::{Duration, SystemTime};

use crate::error::{Error, ErrorKind, Service};
use crate::exchange::AwsCredentials;
use crate::file_cache::{CacheKey, FileCache, Lookup};
use crate::provider::ProviderCache;
use crate::secret::SecretString;
use crate::token::{AccessToken, Expiry};

/// A persisted credential is served again after a restart only while more than this is left
/// (15 min: botocore 1.44.8 refreshes container credentials that close to expiry,
/// `_DEFAULT_ADVISORY_REFRESH_TIMEOUT`, so one with less would be asked for again at once;
/// it is also four times google-auth 2.63.0's 225 s refresh threshold).
pub const PERSISTED_MIN_REMAINING: Duration = Duration::from_secs(15 * 60);

/// A credential that can be written to a file entry and read back.
pub(crate) trait Stored: Expiry + Send + Sync + Sized + 'static {
    /// What it is, for log lines.
    const WHAT: &'static str;
    /// Its text (the entry's expiry is stored beside it).
    fn to_stored(&self) -> SecretString;
    /// Reads what [`to_stored`](Self::to_stored) wrote; errors quote nothing of `text`.
    fn from_stored(text: &str, expires_at: SystemTime) -> Result<Self, Error>;
}

impl Stored for AwsCredentials {
    const WHAT: &'static str = "AWS credentials";

    fn to_stored(&self) -> SecretString {
        self.to_container_credentials_json()
    }

    fn from_stored(text: &str, _: SystemTime) -> Result<Self, Error> {
        AwsCredentials::from_container_credentials_json(text)
    }
}

impl Stored for AccessToken {
    const WHAT: &'static str = "Google access token";

    fn to_stored(&self) -> SecretString {
        SecretString::new(
            serde_json::json!({
                "access_token": self.token().expose_secret(),
                "token_type": self.token_type(),
            })
            .to_string(),
        )
    }

    fn from_stored(text: &str, expires_at: SystemTime) -> Result<Self, Error> {
        #[derive(serde::Deserialize)]
        struct Entry {
            access_token: String,
            token_type: String,
        }
        // serde's message can quote a value: never show it.
        let entry: Entry = serde_json::from_str(text)
            .ok()
            .filter(|e: &Entry| !e.access_token.is_empty())
            .ok_or_else(|| {
                Error::new(
                    ErrorKind::InvalidResponse,
                    Service::Cache,
                    "a stored access token is not {access_token, token_type} JSON; delete the copy and fetch a new one",
                )
            })?;
        Ok(
            AccessToken::new(entry.access_token, Some(expires_at))
                .with_token_type(entry.token_type),
        )
    }
}

/// A server's persisted caches, each with its entry label (`None`: the main one).
pub(crate) type Labelled<'a, C> = (Option<&'a str>, &'a ProviderCache<C>);

/// Seeds each of `caches` from its entry under `persist` (nothing when `None`).
pub(crate) fn seed_all<'a, C: Stored>(
    persist: Option<&(FileCache, CacheKey)>,
    caches: impl Iterator<Item = Labelled<'a, C>>,
) {
    if let Some((files, key)) = persist {
        for (label, cache) in caches {
            seed_from_file(cache, files, &entry_key(key, label));
        }
    }
}

/// The tasks keeping a server's caches on disk ([`keep_persisted`]); aborted when dropped, so
/// they end with the server's `run`.
#[derive(Debug, Default)]
pub(crate) struct Keepers(Vec<tokio::task::JoinHandle<()>>);

impl Keepers {
    /// A keeper for each of `caches` under `persist` (none when `None`).
    pub(crate) fn spawn<'a, C: Stored>(
        persist: Option<&(FileCache, CacheKey)>,
        caches: impl Iterator<Item = Labelled<'a, C>>,
    ) -> Keepers {
        let Some((files, key)) = persist else {
            return Keepers::default();
        };
        Keepers(
            caches
                .map(|(label, cache)| {
                    tokio::spawn(keep_persisted(
                        cache.clone(),
                        files.clone(),
                        entry_key(key, label),
                    ))
                })
                .collect(),
        )
    }
}

impl Drop for Keepers {
    fn drop(&mut self) {
        for keeper in &self.0 {
            keeper.abort();
        }
    }
}

/// The entry of one of a server's caches: `key` itself for the main one (`None`), a key
/// derived from it and `label` for the others.
pub(crate) fn entry_key(key: &CacheKey, label: Option<&str>) -> CacheKey {
    match label {
        None => key.clone(),
        Some(label) => CacheKey::new([key.as_str(), "entry", label]),
    }
}

/// Seeds `cache` from its entry, if one is there with more than [`PERSISTED_MIN_REMAINING`]
/// left. What cannot be used is logged and left for the next write to replace.
pub(crate) fn seed_from_file<C: Stored>(
    cache: &ProviderCache<C>,
    files: &FileCache,
    key: &CacheKey,
) {
    let value = match files.read(key, SystemTime::now(), PERSISTED_MIN_REMAINING) {
        Lookup::Hit(value) => value,
        Lookup::Miss => return,
        Lookup::Ignored(why) => {
            tracing::warn!("not using the persisted {}: {why}", C::WHAT);
            return;
        }
    };
    let seeded = C::from_stored(value.value.expose_secret(), value.expires_at)
        .and_then(|credential| cache.seed(credential));
    match seeded {
        Ok(true) => tracing::info!(
            dir = %files.dir().display(),
            "serving the persisted {} until its refresh",
            C::WHAT
        ),
        Ok(false) => {}
        Err(e) => tracing::warn!("not using the persisted {}: {e}", C::WHAT),
    }
}

/// Writes what `cache` holds now (nothing is fetched for it), then every credential it
/// fetches, to its entry. Runs until the cache is dropped (or the task is aborted).
pub(crate) async fn keep_persisted<C: Stored>(
    cache: ProviderCache<C>,
    files: FileCache,
    key: CacheKey,
) {
    let mut refreshes = cache.refreshes();
    let mut current = match cache.cached() {
        Some(credential) => Some(credential),
        None => refreshes.next().await,
    };
    while let Some(credential) = current.take() {
        let Some(expires_at) = credential.expires_at() else {
            // Nothing says how long it would be good for: not kept.
            current = refreshes.next().await;
            continue;
        };
        let (files, key) = (files.clone(), key.clone());
        let written = tokio::task::spawn_blocking(move || {
            files.write(&key, &credential.to_stored(), expires_at)
        })
        .await;
        match written {
            Ok(Ok(())) => {}
            Ok(Err(e)) => tracing::warn!("could not persist the {}: {e}", C::WHAT),
            Err(_) => return,
        }
        current = refreshes.next().await;
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn access_tokens_round_trip_and_bad_entries_quote_nothing() {
        let at = SystemTime::UNIX_EPOCH + Duration::from_secs(1_800_000_000);
        let token = AccessToken::new("ya29.stored-token", Some(at));
        let text = token.to_stored();
        let back = AccessToken::from_stored(text.expose_secret(), at).unwrap();
        assert_eq!(back.token().expose_secret(), "ya29.stored-token");
        assert_eq!(back.token_type(), "Bearer");
        assert_eq!(back.expires_at(), Some(at));
        for bad in [
            "",
            "{}",
            r#"{"access_token":"","token_type":"Bearer"}"#,
            r#"{"access_token":7}"#,
            "hush-secret",
        ] {
            let err = AccessToken::from_stored(bad, at).unwrap_err();
            assert!(!err.to_string().contains("hush-secret"), "{err}");
            assert!(err.to_string().contains("delete the copy"), "{err}");
        }
    }

    #[test]
    fn entry_keys_differ_by_label_and_keep_the_main_key() {
        let key = CacheKey::new(["server"]);
        assert_eq!(entry_key(&key, None), key);
        assert_ne!(entry_key(&key, Some("a")), key);
        assert_ne!(entry_key(&key, Some("a")), entry_key(&key, Some("b")));
    }
}
