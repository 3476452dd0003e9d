//! [`FileCache`]: credentials kept on disk between runs of a short-lived process (the CLI's
//! `credential_process` and `google access-token`, which the AWS and Google tools start again
//! for every command), so that each run does not cost a metadata request and an STS call.
//!
//! Safety rules, each checked on every read:
//! * the directory is created 0700; one that another user owns is not used, one of ours that
//!   others can read is made 0700 again (with a warning);
//! * an entry is used only if it is a regular file (not a link) owned by this user, readable by
//!   nobody else, whole and parseable; anything else is ignored with a warning and replaced;
//! * entries are written 0600 and atomically ([`write_secret_file`]), so a reader never sees
//!   half of one;
//! * an entry is used only while more than the caller's window remains before its expiry;
//! * a lock file per key ([`FileCache::lock`]) lets concurrent runs wait for the one that
//!   fetches instead of all calling STS.
//!
//! The key ([`CacheKey`]) is a SHA-256 over everything that determines the credential, so a
//! different role, audience, source, endpoint or configuration file never reads another's
//! entry. Unix only: elsewhere [`FileCache::open`] says the cache is unavailable.

use std::fs::File;
use std::path::{Path, PathBuf};
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};

use crate::context::{Env, Sleep};
use crate::secret::{SecretString, write_secret_file};

/// The directory name under `$XDG_CACHE_HOME` (else `~/.cache`).
pub const DIR_NAME: &str = "federated-credentials";

/// What identifies one cached credential: a SHA-256 over its inputs, hex.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CacheKey(String);

impl CacheKey {
    /// The key for `parts` (each length-prefixed, so `["ab", "c"]` and `["a", "bc"]` differ).
    pub fn new<I, P>(parts: I) -> CacheKey
    where
        I: IntoIterator<Item = P>,
        P: AsRef<[u8]>,
    {
        let mut hash = Sha256::new();
        hash.update(b"federated-credentials file cache v1\0");
        for part in parts {
            let part = part.as_ref();
            hash.update((part.len() as u64).to_be_bytes());
            hash.update(part);
        }
        CacheKey(hash.finalize().iter().map(|b| format!("{b:02x}")).collect())
    }

    /// The hex digest.
    pub fn as_str(&self) -> &str {
        &self.0
    }
}

/// A cached value and when it expires.
#[derive(Debug)]
pub struct CachedValue {
    /// The value (a credential document).
    pub value: SecretString,
    /// When the credential in it expires.
    pub expires_at: SystemTime,
}

/// What [`FileCache::read`] found.
#[derive(Debug)]
pub enum Lookup {
    /// A valid entry with more than the window left.
    Hit(CachedValue),
    /// No entry, or one too close to expiry.
    Miss,
    /// An entry that must not be trusted (why, without any secret); it is replaced on the next
    /// write.
    Ignored(String),
}

/// The file's JSON.
#[derive(Deserialize)]
struct Entry {
    version: u32,
    expires_at_unix: u64,
    value: String,
}

/// [`Entry`] for writing, borrowing the value.
#[derive(Serialize)]
struct EntryRef<'a> {
    version: u32,
    expires_at_unix: u64,
    value: &'a str,
}

/// Credentials on disk, one file per [`CacheKey`] (see the [module docs](self)).
#[derive(Debug, Clone)]
pub struct FileCache {
    dir: PathBuf,
}

/// Holds a key's lock file locked; unlocked when dropped.
#[derive(Debug)]
pub struct FileLock {
    _file: File,
}

impl FileCache {
    /// The cache in `$XDG_CACHE_HOME/federated-credentials` (an absolute path, as the XDG
    /// specification requires), else `$HOME/.cache/federated-credentials`, created 0700.
    /// `Ok(None)` when neither variable is set (no home: nowhere to keep a cache); `Err` with
    /// why when the directory cannot be made or is not safe to use.
    pub fn in_default_dir(env: &dyn Env) -> Result<Option<FileCache>, String> {
        let base = match env.get_non_empty("XDG_CACHE_HOME") {
            Some(x) if Path::new(x.trim()).is_absolute() => PathBuf::from(x.trim()),
            _ => match env.get_non_empty("HOME") {
                Some(home) => Path::new(home.trim()).join(".cache"),
                None => return Ok(None),
            },
        };
        FileCache::open(base.join(DIR_NAME)).map(Some)
    }

    /// The cache in `dir`, created 0700 if absent. A directory another user owns is refused;
    /// one of ours that others can read or write is made 0700.
    pub fn open(dir: impl Into<PathBuf>) -> Result<FileCache, String> {
        let dir = dir.into();
        platform::prepare_dir(&dir)?;
        Ok(FileCache { dir })
    }

    /// The directory.
    pub fn dir(&self) -> &Path {
        &self.dir
    }

    fn entry_path(&self, key: &CacheKey) -> PathBuf {
        self.dir.join(format!("{}.json", key.as_str()))
    }

    /// The entry for `key` if it is safe, whole, and has more than `window` left at `now`.
    pub fn read(&self, key: &CacheKey, now: SystemTime, window: Duration) -> Lookup {
        let path = self.entry_path(key);
        let meta = match std::fs::symlink_metadata(&path) {
            Ok(m) => m,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Lookup::Miss,
            Err(e) => return self.ignored(&path, format!("cannot be read ({e})")),
        };
        if let Err(why) = platform::check_entry(&meta) {
            return self.ignored(&path, why);
        }
        let bytes = match std::fs::read(&path) {
            Ok(b) => zeroize::Zeroizing::new(b),
            Err(e) => return self.ignored(&path, format!("cannot be read ({e})")),
        };
        let entry: Entry = match serde_json::from_slice(&bytes) {
            Ok(e) => e,
            Err(_) => return self.ignored(&path, "is not a cache entry (corrupt)".to_string()),
        };
        if entry.version != 1 {
            return self.ignored(&path, format!("has unknown version {}", entry.version));
        }
        let Some(expires_at) = UNIX_EPOCH.checked_add(Duration::from_secs(entry.expires_at_unix))
        else {
            return self.ignored(&path, "has an impossible expiry".to_string());
        };
        match expires_at.duration_since(now) {
            Ok(left) if left > window => Lookup::Hit(CachedValue {
                value: SecretString::new(entry.value),
                expires_at,
            }),
            _ => Lookup::Miss,
        }
    }

    fn ignored(&self, path: &Path, why: String) -> Lookup {
        let why = format!("cache file {} {why}; ignoring it", path.display());
        tracing::warn!(target: "federated_credentials::file_cache", "{why}");
        Lookup::Ignored(why)
    }

    /// Writes the entry for `key` (0600, atomically; replaces whatever was there).
    pub fn write(
        &self,
        key: &CacheKey,
        value: &SecretString,
        expires_at: SystemTime,
    ) -> std::io::Result<()> {
        let entry = EntryRef {
            version: 1,
            expires_at_unix: expires_at
                .duration_since(UNIX_EPOCH)
                .map(|d| d.as_secs())
                .unwrap_or(0),
            value: value.expose_secret(),
        };
        let json =
            zeroize::Zeroizing::new(serde_json::to_vec(&entry).map_err(std::io::Error::other)?);
        write_secret_file(&self.entry_path(key), &json)
    }

    /// Locks `key`'s lock file, waiting (polling every 20 ms with `sleep`) up to
    /// `timeout` while another process holds it. `None` when it could not be had in time (go
    /// on without it: the lock only saves upstream calls, it does not guard correctness).
    pub async fn lock(
        &self,
        sleep: &dyn Sleep,
        key: &CacheKey,
        timeout: Duration,
    ) -> Option<FileLock> {
        let path = self.dir.join(format!("{}.lock", key.as_str()));
        let mut options = std::fs::OpenOptions::new();
        options.read(true).write(true).create(true).truncate(false);
        #[cfg(unix)]
        std::os::unix::fs::OpenOptionsExt::mode(&mut options, 0o600);
        let file = options.open(&path).ok()?;
        let step = Duration::from_millis(20);
        let mut waited = Duration::ZERO;
        loop {
            match file.try_lock() {
                Ok(()) => return Some(FileLock { _file: file }),
                Err(std::fs::TryLockError::WouldBlock) if waited < timeout => {
                    sleep.sleep(step).await;
                    waited += step;
                }
                Err(_) => return None,
            }
        }
    }
}

#[cfg(unix)]
mod platform {
    use std::os::unix::fs::{DirBuilderExt, MetadataExt, PermissionsExt};
    use std::path::Path;

    fn euid() -> u32 {
        rustix::process::geteuid().as_raw()
    }

    pub(super) fn prepare_dir(dir: &Path) -> Result<(), String> {
        if let Err(e) = std::fs::DirBuilder::new()
            .recursive(true)
            .mode(0o700)
            .create(dir)
        {
            return Err(format!("cannot create {}: {e}", dir.display()));
        }
        let meta = std::fs::symlink_metadata(dir)
            .map_err(|e| format!("cannot read {}: {e}", dir.display()))?;
        if !meta.is_dir() {
            return Err(format!("{} is not a directory", dir.display()));
        }
        if meta.uid() != euid() {
            return Err(format!(
                "{} is owned by uid {}, not by this user (uid {}): not using it",
                dir.display(),
                meta.uid(),
                euid()
            ));
        }
        if meta.mode() & 0o077 != 0 {
            tracing::warn!(
                target: "federated_credentials::file_cache",
                "{} had mode {:o}; making it 0700",
                dir.display(),
                meta.mode() & 0o777
            );
            std::fs::set_permissions(dir, std::fs::Permissions::from_mode(0o700))
                .map_err(|e| format!("cannot make {} private: {e}", dir.display()))?;
        }
        Ok(())
    }

    pub(super) fn check_entry(meta: &std::fs::Metadata) -> Result<(), String> {
        entry_is_safe(meta.file_type().is_file(), meta.uid(), meta.mode(), euid())
    }

    /// The rule on its own, for tests: a regular file of ours that only we can read.
    pub(super) fn entry_is_safe(
        regular: bool,
        uid: u32,
        mode: u32,
        euid: u32,
    ) -> Result<(), String> {
        if !regular {
            return Err("is not a regular file".to_string());
        }
        if uid != euid {
            return Err(format!(
                "is owned by uid {uid}, not by this user (uid {euid})"
            ));
        }
        if mode & 0o077 != 0 {
            return Err(format!(
                "has mode {:o}: readable or writable by others",
                mode & 0o777
            ));
        }
        Ok(())
    }
}

#[cfg(not(unix))]
mod platform {
    use std::path::Path;

    pub(super) fn prepare_dir(_dir: &Path) -> Result<(), String> {
        Err("the credential file cache is only available on unix".to_string())
    }

    pub(super) fn check_entry(_meta: &std::fs::Metadata) -> Result<(), String> {
        Err("the credential file cache is only available on unix".to_string())
    }
}

#[cfg(all(test, unix))]
mod tests {
    use std::os::unix::fs::PermissionsExt;

    use super::*;

    const HOUR: Duration = Duration::from_secs(3600);

    fn cache() -> (tempfile::TempDir, FileCache) {
        let dir = tempfile::tempdir().unwrap();
        let cache = FileCache::open(dir.path().join("fc")).unwrap();
        (dir, cache)
    }

    #[test]
    fn keys_separate_their_parts() {
        assert_ne!(CacheKey::new(["ab", "c"]), CacheKey::new(["a", "bc"]));
        assert_eq!(CacheKey::new(["a"]), CacheKey::new(["a"]));
        assert_eq!(CacheKey::new(["a"]).as_str().len(), 64);
    }

    #[test]
    fn an_entry_is_used_while_more_than_the_window_remains() {
        let (_d, cache) = cache();
        let key = CacheKey::new(["k"]);
        let now = UNIX_EPOCH + Duration::from_secs(1_800_000_000);
        assert!(matches!(cache.read(&key, now, HOUR), Lookup::Miss));
        cache
            .write(&key, &SecretString::new("creds"), now + 2 * HOUR)
            .unwrap();
        let meta = std::fs::metadata(cache.entry_path(&key)).unwrap();
        assert_eq!(meta.permissions().mode() & 0o777, 0o600);
        let dir = std::fs::metadata(cache.dir()).unwrap();
        assert_eq!(dir.permissions().mode() & 0o777, 0o700);
        match cache.read(&key, now, HOUR) {
            Lookup::Hit(v) => {
                assert_eq!(v.value.expose_secret(), "creds");
                assert_eq!(v.expires_at, now + 2 * HOUR);
            }
            other => panic!("{other:?}"),
        }
        // Exactly the window left, or less: a miss.
        assert!(matches!(cache.read(&key, now + HOUR, HOUR), Lookup::Miss));
        assert!(matches!(
            cache.read(&key, now + 3 * HOUR, HOUR),
            Lookup::Miss
        ));
    }

    #[test]
    fn unsafe_or_corrupt_entries_are_ignored_and_replaced() {
        let (_d, cache) = cache();
        let key = CacheKey::new(["k"]);
        let now = UNIX_EPOCH + Duration::from_secs(1_800_000_000);
        let path = cache.entry_path(&key);

        cache
            .write(&key, &SecretString::new("v"), now + 2 * HOUR)
            .unwrap();
        std::fs::set_permissions(&path, std::fs::Permissions::from_mode(0o644)).unwrap();
        match cache.read(&key, now, HOUR) {
            Lookup::Ignored(why) => assert!(why.contains("mode 644"), "{why}"),
            other => panic!("{other:?}"),
        }
        cache
            .write(&key, &SecretString::new("v"), now + 2 * HOUR)
            .unwrap();
        assert!(matches!(cache.read(&key, now, HOUR), Lookup::Hit(_)));

        std::fs::write(&path, b"{\"version\":1,\"expires_at_unix\":").unwrap();
        std::fs::set_permissions(&path, std::fs::Permissions::from_mode(0o600)).unwrap();
        match cache.read(&key, now, HOUR) {
            Lookup::Ignored(why) => assert!(why.contains("corrupt"), "{why}"),
            other => panic!("{other:?}"),
        }

        std::fs::remove_file(&path).unwrap();
        let elsewhere = cache.dir().join("elsewhere.json");
        cache
            .write(
                &CacheKey::new(["other"]),
                &SecretString::new("v"),
                now + 2 * HOUR,
            )
            .unwrap();
        std::fs::copy(cache.entry_path(&CacheKey::new(["other"])), &elsewhere).unwrap();
        std::os::unix::fs::symlink(&elsewhere, &path).unwrap();
        match cache.read(&key, now, HOUR) {
            Lookup::Ignored(why) => assert!(why.contains("not a regular file"), "{why}"),
            other => panic!("{other:?}"),
        }
    }

    #[test]
    fn foreign_owners_are_refused() {
        assert!(platform::entry_is_safe(true, 1000, 0o100600, 1000).is_ok());
        let why = platform::entry_is_safe(true, 0, 0o100600, 1000).unwrap_err();
        assert!(why.contains("owned by uid 0"), "{why}");
        assert!(platform::entry_is_safe(true, 1000, 0o100640, 1000).is_err());
        assert!(platform::entry_is_safe(false, 1000, 0o100600, 1000).is_err());
    }

    #[test]
    fn a_loose_directory_is_made_private() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("fc");
        std::fs::create_dir(&path).unwrap();
        std::fs::set_permissions(&path, std::fs::Permissions::from_mode(0o755)).unwrap();
        FileCache::open(&path).unwrap();
        let mode = std::fs::metadata(&path).unwrap().permissions().mode();
        assert_eq!(mode & 0o777, 0o700);
        let file = dir.path().join("file");
        std::fs::write(&file, b"").unwrap();
        assert!(FileCache::open(&file).is_err());
    }

    #[tokio::test]
    async fn the_lock_is_exclusive_until_dropped() {
        let (_d, cache) = cache();
        let ctx = crate::context::InstantSleep;
        let key = CacheKey::new(["k"]);
        let held = cache
            .lock(&ctx, &key, Duration::from_secs(1))
            .await
            .unwrap();
        assert!(
            cache
                .lock(&ctx, &key, Duration::from_millis(100))
                .await
                .is_none()
        );
        drop(held);
        assert!(cache.lock(&ctx, &key, Duration::ZERO).await.is_some());
    }
}
