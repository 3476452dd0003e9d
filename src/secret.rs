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
//! assert!(secret.expose_secret().starts_with("example-"));
//! ```

use std::fmt;

use zeroize::Zeroize;

/// A string that must never be logged: redacted in `Debug`/`Display`, zeroized on drop.
///
/// ```
/// use federated_credentials::secret::SecretString;
/// let token = SecretString::new("eyJhbGciOi.secret.value");
/// assert_eq!(format!("{token:?}"), "SecretString([redacted])");
/// assert_eq!(token.to_string(), "[redacted]");
/// assert_eq!(token.expose_secret(), "eyJhbGciOi.secret.value");
/// ```
#[derive(Clone, PartialEq, Eq)]
pub struct SecretString {
    value: String,
}

impl SecretString {
    /// Wraps `value`.
    ///
    /// ```
    /// use federated_credentials::secret::SecretString;
    /// let key = SecretString::new(String::from("AKIDEXAMPLE-secret"));
    /// assert_eq!(key.expose_secret(), "AKIDEXAMPLE-secret");
    /// ```
    pub fn new(value: impl Into<String>) -> Self {
        Self {
            value: value.into(),
        }
    }

    /// The secret itself. Call it only where the value goes on the wire.
    ///
    /// ```
    /// use federated_credentials::secret::SecretString;
    /// let token = SecretString::new("ya29.example");
    /// let header = format!("Bearer {}", token.expose_secret());
    /// assert_eq!(header, "Bearer ya29.example");
    /// ```
    pub fn expose_secret(&self) -> &str {
        &self.value
    }

    /// Whether the secret is the empty string.
    ///
    /// ```
    /// use federated_credentials::secret::SecretString;
    /// assert!(SecretString::new("").is_empty());
    /// assert!(!SecretString::new("ya29.example").is_empty());
    /// ```
    pub fn is_empty(&self) -> bool {
        self.value.is_empty()
    }

    /// The length in bytes (not secret: it says nothing useful about the value).
    ///
    /// ```
    /// use federated_credentials::secret::SecretString;
    /// assert_eq!(SecretString::new("ya29.example").len(), 12);
    /// ```
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

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn debug_and_display_never_show_the_value() {
        let s = SecretString::new("AKIA-very-secret");
        let rendered = format!("{s:?} {s} {s:#?} {:?}", Some(&s));
        assert!(!rendered.contains("very-secret"), "{rendered}");
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
