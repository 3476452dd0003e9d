//! [`SecretString`]: the one type that holds tokens, secret keys, session tokens and JWTs.
//!
//! Its `Debug` and `Display` print `[redacted]`, it is zeroized when dropped, and the only way
//! to read the value is the explicit [`SecretString::expose_secret`], which makes every place
//! that touches a secret easy to find in review.
//!
//! ```
//! use federated_credentials::secret::SecretString;
//!
//! let secret: SecretString = String::from("example-client-secret").into();
//! // Safe to log: the value never shows.
//! assert_eq!(format!("client_secret={secret}"), "client_secret=[redacted]");
//! // Reading it is explicit.
//! let value: &str = secret.expose_secret();
//! ```

use std::fmt;

use zeroize::Zeroize;

/// A string that must never be logged: redacted in `Debug`/`Display`, zeroized on drop.
///
/// ```
/// use federated_credentials::secret::SecretString;
///
/// let token = SecretString::new("ya29.example");
/// let header = format!("Bearer {}", token.expose_secret());
/// println!("sending {token:?}"); // prints `SecretString([redacted])`
/// ```
#[derive(Clone, PartialEq, Eq)]
pub struct SecretString {
    value: String,
}

impl SecretString {
    /// Wraps `value`.
    pub fn new(value: impl Into<String>) -> Self {
        Self {
            value: value.into(),
        }
    }

    /// The secret itself. Call it only where the value goes on the wire.
    pub fn expose_secret(&self) -> &str {
        &self.value
    }

    /// Whether the secret is the empty string.
    pub fn is_empty(&self) -> bool {
        self.value.is_empty()
    }

    /// The length in bytes (not secret: it says nothing useful about the value).
    pub fn len(&self) -> usize {
        self.value.len()
    }
}

impl From<String> for SecretString {
    fn from(value: String) -> Self {
        Self::new(value)
    }
}

impl From<&str> for SecretString {
    fn from(value: &str) -> Self {
        Self::new(value)
    }
}

impl Drop for SecretString {
    fn drop(&mut self) {
        self.value.zeroize();
    }
}

impl fmt::Debug for SecretString {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("SecretString([redacted])")
    }
}

impl fmt::Display for SecretString {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("[redacted]")
    }
}

/// Writes `contents` to `path` the way a file holding a secret must be written: created with
/// mode 0600 whatever the umask (on unix), and atomically (a temporary file in the same
/// directory, flushed, then renamed over `path`), so a reader sees the old file or the whole
/// new one, never part of it. An existing file at `path` is replaced, and its looser mode
/// with it.
///
/// ```
/// # let dir = tempfile::tempdir().unwrap();
/// let path = dir.path().join("token.json");
/// federated_credentials::secret::write_secret_file(&path, b"{\"id_token\":\"...\"}")?;
/// # Ok::<(), std::io::Error>(())
/// ```
pub fn write_secret_file(path: &std::path::Path, contents: &[u8]) -> std::io::Result<()> {
    use std::io::Write;
    let dir = match path.parent() {
        Some(d) if !d.as_os_str().is_empty() => d,
        _ => std::path::Path::new("."),
    };
    let name = path.file_name().ok_or_else(|| {
        std::io::Error::new(std::io::ErrorKind::InvalidInput, "the path names no file")
    })?;
    let mut tmp_name = std::ffi::OsString::from(".");
    tmp_name.push(name);
    tmp_name.push(format!(
        ".{}.{:016x}.tmp",
        std::process::id(),
        fastrand::u64(..)
    ));
    let tmp = dir.join(tmp_name);
    let mut options = std::fs::OpenOptions::new();
    options.write(true).create_new(true);
    #[cfg(unix)]
    std::os::unix::fs::OpenOptionsExt::mode(&mut options, 0o600);
    let mut file = options.open(&tmp)?;
    let written = (|| {
        // The umask can only clear bits of 0600; set it anyway in case the mode came out
        // different (an ACL default, a filesystem that ignores the create mode).
        #[cfg(unix)]
        file.set_permissions(std::os::unix::fs::PermissionsExt::from_mode(0o600))?;
        file.write_all(contents)?;
        file.sync_all()?;
        std::fs::rename(&tmp, path)
    })();
    if written.is_err() {
        let _ = std::fs::remove_file(&tmp);
    }
    written
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn secret_files_are_private_whole_and_replace_looser_ones() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("out.json");
        std::fs::write(&path, "old, world-readable").unwrap();
        #[cfg(unix)]
        {
            use std::os::unix::fs::PermissionsExt;
            std::fs::set_permissions(&path, std::fs::Permissions::from_mode(0o644)).unwrap();
        }
        write_secret_file(&path, b"new").unwrap();
        assert_eq!(std::fs::read(&path).unwrap(), b"new");
        #[cfg(unix)]
        {
            use std::os::unix::fs::PermissionsExt;
            let mode = std::fs::metadata(&path).unwrap().permissions().mode();
            assert_eq!(mode & 0o777, 0o600);
        }
        let left: Vec<_> = std::fs::read_dir(dir.path()).unwrap().collect();
        assert_eq!(left.len(), 1, "no temporary file left behind");
        let err = write_secret_file(&dir.path().join("missing/out.json"), b"x").unwrap_err();
        assert_eq!(err.kind(), std::io::ErrorKind::NotFound);
    }

    #[test]
    fn debug_and_display_never_show_the_value() {
        let s = SecretString::new("AKIA-very-secret");
        let rendered = format!("{s:?} {s} {s:#?} {:?}", Some(&s));
        assert!(!rendered.contains("very-secret"), "{rendered}");
        assert_eq!(format!("{s:?}"), "SecretString([redacted])");
        assert_eq!(s.to_string(), "[redacted]");
        assert_eq!(format!("client_secret={s}"), "client_secret=[redacted]");
        assert_eq!(s.expose_secret(), "AKIA-very-secret");
        assert_eq!(SecretString::new("ya29.example").len(), 12);
    }

    #[test]
    fn clone_compares_equal_and_exposes_value() {
        let s = SecretString::from("abc");
        assert_eq!(s.clone(), s);
        assert_eq!(s.len(), 3);
        assert!(!s.is_empty());
        assert!(SecretString::from(String::new()).is_empty());
    }
}
