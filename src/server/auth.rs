//! [`AuthToken`]: the secret a broker's callers present in `Authorization`, kept in a file
//! (`AWS_CONTAINER_AUTHORIZATION_TOKEN_FILE`) that the server creates when absent and re-reads
//! when it changes, compared in constant time.

use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Instant, SystemTime};

use arc_swap::ArcSwap;

use crate::secret::{SecretString, write_secret_file};

/// How often, at most, the file is checked for a change (milliseconds).
const RECHECK_MILLIS: u64 = 1000;

/// The token callers must present. Cheap to clone.
#[derive(Clone)]
pub struct AuthToken {
    inner: Arc<Inner>,
}

struct Inner {
    file: Option<PathBuf>,
    current: ArcSwap<(SecretString, Option<SystemTime>)>,
    started: Instant,
    checked_at: AtomicU64,
}

impl std::fmt::Debug for AuthToken {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("AuthToken")
            .field("file", &self.inner.file)
            .field("token", &"[redacted]")
            .finish()
    }
}

fn modified(path: &Path) -> Option<SystemTime> {
    std::fs::metadata(path).and_then(|m| m.modified()).ok()
}

/// 32 random bytes from the kernel, hex: 64 characters, safe in a header.
fn random_token() -> std::io::Result<SecretString> {
    use std::io::Read;
    let mut bytes = zeroize::Zeroizing::new([0u8; 32]);
    std::fs::File::open("/dev/urandom")?.read_exact(bytes.as_mut())?;
    Ok(SecretString::new(
        bytes.iter().map(|b| format!("{b:02x}")).collect::<String>(),
    ))
}

fn read_token(path: &Path) -> std::io::Result<SecretString> {
    #[cfg(unix)]
    {
        use std::os::unix::fs::MetadataExt;
        let meta = std::fs::metadata(path)?;
        // The owner's group may read it (how a token is shared with the users meant to get
        // the credentials); nobody else may, and the group may not change it.
        if meta.mode() & 0o037 != 0 {
            return Err(std::io::Error::new(
                std::io::ErrorKind::PermissionDenied,
                format!(
                    "{} has mode {:o}: other users could read or change the token; run `chmod 600` on it (or 640 to share it with its group)",
                    path.display(),
                    meta.mode() & 0o777
                ),
            ));
        }
    }
    let text = zeroize::Zeroizing::new(std::fs::read_to_string(path)?);
    let token = text.trim();
    if token.is_empty() || token.bytes().any(|b| !(0x21..0x7f).contains(&b)) {
        return Err(std::io::Error::new(
            std::io::ErrorKind::InvalidData,
            format!(
                "{} must hold one printable token without spaces",
                path.display()
            ),
        ));
    }
    Ok(SecretString::new(token))
}

impl AuthToken {
    /// A fixed token.
    pub fn fixed(token: impl Into<SecretString>) -> AuthToken {
        AuthToken::with(None, token.into(), None)
    }

    fn with(file: Option<PathBuf>, token: SecretString, mtime: Option<SystemTime>) -> AuthToken {
        AuthToken {
            inner: Arc::new(Inner {
                file,
                current: ArcSwap::from_pointee((token, mtime)),
                started: Instant::now(),
                checked_at: AtomicU64::new(0),
            }),
        }
    }

    /// The token in `path`, re-read whenever the file changes (checked at most once a
    /// second). When the file does not exist it is created with 32 random bytes (hex), mode
    /// 0600, atomically. A file others can read, or its group can change, is refused (group
    /// read, 0640, is how a token is shared with the users meant to get the credentials).
    pub fn from_file(path: impl Into<PathBuf>) -> std::io::Result<AuthToken> {
        let path = path.into();
        if !path.exists() {
            if let Some(dir) = path.parent().filter(|d| !d.as_os_str().is_empty()) {
                let mut builder = std::fs::DirBuilder::new();
                builder.recursive(true);
                #[cfg(unix)]
                std::os::unix::fs::DirBuilderExt::mode(&mut builder, 0o700);
                builder.create(dir)?;
            }
            let token = random_token()?;
            write_secret_file(&path, token.expose_secret().as_bytes())?;
        }
        let token = read_token(&path)?;
        #[cfg(unix)]
        {
            use std::os::unix::fs::MetadataExt;
            if let Ok(meta) = std::fs::metadata(&path)
                && meta.mode() & 0o040 != 0
            {
                tracing::warn!(
                    target: "federated_credentials::server",
                    path = %path.display(),
                    gid = meta.gid(),
                    "the token file is readable by its group: every member of group {} can get the credentials; chmod 600 it unless that group holds only the users meant to",
                    meta.gid()
                );
            }
        }
        let mtime = modified(&path);
        Ok(AuthToken::with(Some(path), token, mtime))
    }

    /// The file the token lives in, if any.
    pub fn file(&self) -> Option<&Path> {
        self.inner.file.as_deref()
    }

    /// The current token.
    pub fn current(&self) -> SecretString {
        self.refresh();
        self.inner.current.load().0.clone()
    }

    /// Re-reads the file if it changed since the last look (at most once a second). A file
    /// that became unreadable or unsafe keeps the last good token and is logged.
    fn refresh(&self) {
        let Some(path) = &self.inner.file else {
            return;
        };
        // Milliseconds since creation, plus one so that 0 means "never checked".
        let now = self.inner.started.elapsed().as_millis() as u64 + 1;
        let last = self.inner.checked_at.load(Ordering::Relaxed);
        if (last != 0 && now < last + RECHECK_MILLIS)
            || self
                .inner
                .checked_at
                .compare_exchange(last, now, Ordering::Relaxed, Ordering::Relaxed)
                .is_err()
        {
            return;
        }
        let mtime = modified(path);
        if mtime == self.inner.current.load().1 {
            return;
        }
        match read_token(path) {
            Ok(token) => self.inner.current.store(Arc::new((token, mtime))),
            Err(e) => tracing::warn!(
                target: "federated_credentials::server",
                error = %e,
                "the authorization token file changed but cannot be used; keeping the previous token"
            ),
        }
    }

    /// Whether `presented` is the token (constant time in the token's contents).
    pub fn matches(&self, presented: &[u8]) -> bool {
        self.refresh();
        let current = self.inner.current.load();
        constant_time_eq(current.0.expose_secret().as_bytes(), presented)
    }
}

/// Compares without returning early on the first difference (the length is not secret).
fn constant_time_eq(a: &[u8], b: &[u8]) -> bool {
    if a.len() != b.len() {
        return false;
    }
    a.iter().zip(b).fold(0u8, |acc, (x, y)| acc | (x ^ y)) == 0
}

#[cfg(all(test, unix))]
mod tests {
    use std::os::unix::fs::PermissionsExt;

    use super::*;

    #[test]
    fn a_missing_file_is_created_private_and_random() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("sub").join("token");
        let token = AuthToken::from_file(&path).unwrap();
        let text = std::fs::read_to_string(&path).unwrap();
        assert_eq!(text.len(), 64);
        assert!(token.matches(text.as_bytes()));
        assert!(!token.matches(b"wrong"));
        let mode = std::fs::metadata(&path).unwrap().permissions().mode() & 0o777;
        assert_eq!(mode, 0o600);
        assert!(!format!("{token:?}").contains(&text));
        let other = AuthToken::from_file(dir.path().join("other")).unwrap();
        assert!(!other.matches(text.as_bytes()), "random each time");
    }

    #[test]
    fn a_readable_or_empty_file_is_refused() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("token");
        std::fs::write(&path, "abc").unwrap();
        std::fs::set_permissions(&path, std::fs::Permissions::from_mode(0o644)).unwrap();
        let err = AuthToken::from_file(&path).unwrap_err();
        assert!(err.to_string().contains("chmod 600"), "{err}");
        for loose in [0o604, 0o660, 0o620] {
            std::fs::set_permissions(&path, std::fs::Permissions::from_mode(loose)).unwrap();
            assert!(AuthToken::from_file(&path).is_err(), "{loose:o}");
        }
        // Readable by the owner's group: how the token is shared on purpose.
        std::fs::set_permissions(&path, std::fs::Permissions::from_mode(0o640)).unwrap();
        assert!(AuthToken::from_file(&path).unwrap().matches(b"abc"));
        std::fs::write(&path, "  \n").unwrap();
        std::fs::set_permissions(&path, std::fs::Permissions::from_mode(0o600)).unwrap();
        assert!(AuthToken::from_file(&path).is_err());
    }

    #[test]
    fn a_changed_file_is_read_again() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("token");
        write_secret_file(&path, b"first\n").unwrap();
        let token = AuthToken::from_file(&path).unwrap();
        assert!(token.matches(b"first"));
        write_secret_file(&path, b"second").unwrap();
        // Make the change visible even on filesystems with coarse timestamps.
        let later = SystemTime::now() + std::time::Duration::from_secs(5);
        std::fs::File::options()
            .write(true)
            .open(&path)
            .unwrap()
            .set_modified(later)
            .unwrap();
        // Checked at most once a second: pretend the last check was long ago.
        token.inner.checked_at.store(0, Ordering::Relaxed);
        assert!(token.matches(b"second"));
        assert!(!token.matches(b"first"));
    }
}
