//! The tokens that flow between stages: [`SubjectToken`] (what a source produces and an
//! exchange consumes) with its [`TokenType`], the [`AccessToken`] that Google exchanges
//! produce, and the [`Expiry`] every credential reports.
//!
//! ```
//! use federated_credentials::token::{AccessToken, SubjectToken, TokenType};
//! use std::time::{Duration, UNIX_EPOCH};
//!
//! let now = UNIX_EPOCH + Duration::from_secs(1_700_000_000);
//! let subject = SubjectToken::new("eyJ.example.jwt", TokenType::Jwt)
//!     .with_expiry(now + Duration::from_secs(600));
//! assert_eq!(subject.token_type().urn(), "urn:ietf:params:oauth:token-type:jwt");
//!
//! let access = AccessToken::new("ya29.example", Some(now + Duration::from_secs(3600)));
//! assert_eq!(access.expires_at(), Some(now + Duration::from_secs(3600)));
//! ```

use std::fmt;
use std::time::{Duration, SystemTime};

use reqwest::header::HeaderValue;
use zeroize::Zeroize;

use crate::error::{Error, ErrorKind, Service};
use crate::secret::SecretString;

/// The type of a subject token, as the RFC 8693 URN that token exchanges expect.
///
/// Its `Display` is the URN.
///
/// ```
/// use federated_credentials::token::{SubjectToken, TokenType};
///
/// // The `subject_token_type` of a credential configuration:
/// let token_type = TokenType::from_urn("urn:ietf:params:oauth:token-type:saml2").unwrap_or(TokenType::Jwt);
/// let assertion = SubjectToken::new("PHNhbWxwOlJlc3BvbnNlPg==", token_type);
/// ```
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum TokenType {
    /// A JWT (`urn:ietf:params:oauth:token-type:jwt`): OIDC ID tokens from Kubernetes,
    /// GitHub, the GCE metadata server, …
    Jwt,
    /// An OIDC ID token (`urn:ietf:params:oauth:token-type:id_token`).
    IdToken,
    /// A base64 SAML 2.0 assertion (`urn:ietf:params:oauth:token-type:saml2`).
    Saml2,
    /// A serialized, SigV4-signed `GetCallerIdentity` request
    /// (`urn:ietf:params:aws:token-type:aws4_request`).
    Aws4Request,
    /// An OAuth 2.0 access token (`urn:ietf:params:oauth:token-type:access_token`).
    AccessToken,
}

impl TokenType {
    /// The URN for this token type.
    pub fn urn(&self) -> &'static str {
        match self {
            TokenType::Jwt => "urn:ietf:params:oauth:token-type:jwt",
            TokenType::IdToken => "urn:ietf:params:oauth:token-type:id_token",
            TokenType::Saml2 => "urn:ietf:params:oauth:token-type:saml2",
            TokenType::Aws4Request => "urn:ietf:params:aws:token-type:aws4_request",
            TokenType::AccessToken => "urn:ietf:params:oauth:token-type:access_token",
        }
    }

    /// Parses a URN. Returns `None` for anything unknown.
    pub fn from_urn(urn: &str) -> Option<Self> {
        [
            TokenType::Jwt,
            TokenType::IdToken,
            TokenType::Saml2,
            TokenType::Aws4Request,
            TokenType::AccessToken,
        ]
        .into_iter()
        .find(|t| t.urn() == urn)
    }
}

impl fmt::Display for TokenType {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.urn())
    }
}

/// A token proving who the workload is, to be traded at an exchange. `Debug` redacts it.
///
/// ```
/// use federated_credentials::token::{SubjectToken, TokenType};
/// use std::time::{Duration, SystemTime};
///
/// let t = SubjectToken::new("eyJ.example.jwt", TokenType::Jwt)
///     .with_expiry(SystemTime::now() + Duration::from_secs(600));
/// assert!(!t.is_expired_at(SystemTime::now()));
/// ```
#[derive(Clone, Debug)]
pub struct SubjectToken {
    token: SecretString,
    token_type: TokenType,
    expires_at: Option<SystemTime>,
}

impl SubjectToken {
    /// A token of the given type with no known expiry.
    pub fn new(token: impl Into<SecretString>, token_type: TokenType) -> Self {
        Self {
            token: token.into(),
            token_type,
            expires_at: None,
        }
    }

    /// Records when the token expires.
    pub fn with_expiry(mut self, expires_at: SystemTime) -> Self {
        self.expires_at = Some(expires_at);
        self
    }

    /// The `exp` claim of a JWT or ID token (read, not verified); `None` for other types and
    /// for tokens that are not a JWT with an `exp`.
    pub(crate) fn jwt_exp(&self) -> Option<SystemTime> {
        match self.token_type {
            TokenType::Jwt | TokenType::IdToken => {
                crate::jwt::decode_unverified(self.token.expose_secret())
                    .ok()
                    .and_then(|c| c.expires_at())
            }
            _ => None,
        }
    }

    /// With its expiry read from the JWT's `exp` when none is set.
    pub(crate) fn with_jwt_expiry_if_unset(mut self) -> Self {
        if self.expires_at.is_none() {
            self.expires_at = self.jwt_exp();
        }
        self
    }

    /// Replaces the token type (the configuration's `subject_token_type` is authoritative).
    pub fn with_token_type(mut self, token_type: TokenType) -> Self {
        self.token_type = token_type;
        self
    }

    /// The token value.
    pub fn token(&self) -> &SecretString {
        &self.token
    }

    /// Its type.
    pub fn token_type(&self) -> TokenType {
        self.token_type
    }

    /// When it expires, if known.
    pub fn expires_at(&self) -> Option<SystemTime> {
        self.expires_at
    }

    /// Whether it is expired at `now` (a token without expiry never is).
    pub fn is_expired_at(&self, now: SystemTime) -> bool {
        self.expires_at.is_some_and(|exp| exp <= now)
    }
}

/// An OAuth 2.0 access token (a Google federated or service-account token). `Debug`
/// redacts it.
///
/// ```
/// use federated_credentials::token::AccessToken;
/// use std::time::{Duration, SystemTime};
///
/// let t = AccessToken::new("ya29.example", Some(SystemTime::now() + Duration::from_secs(3600)));
/// let mut headers = reqwest::header::HeaderMap::new();
/// headers.insert(reqwest::header::AUTHORIZATION, t.authorization_header_value()?);
/// # Ok::<(), federated_credentials::Error>(())
/// ```
#[derive(Clone, Debug)]
pub struct AccessToken {
    token: SecretString,
    token_type: String,
    expires_at: Option<SystemTime>,
    /// `Bearer <token>`, built once: every API call needs it, and cloning it is a reference
    /// count. Marked sensitive; its bytes are zeroized when the last clone is dropped.
    /// `None` when the token has bytes a header cannot carry.
    authorization: Option<HeaderValue>,
}

impl AccessToken {
    /// A bearer token with an optional expiry.
    pub fn new(token: impl Into<SecretString>, expires_at: Option<SystemTime>) -> Self {
        let token = token.into();
        let authorization = bearer_header_value(token.expose_secret());
        Self {
            token,
            token_type: "Bearer".to_string(),
            expires_at,
            authorization,
        }
    }

    /// Sets the token type (as the server reported it; default `Bearer`). The
    /// `Authorization` header always uses the `Bearer` scheme, whatever the spelling here.
    pub fn with_token_type(mut self, token_type: impl Into<String>) -> Self {
        self.token_type = token_type.into();
        self
    }

    /// The token value.
    pub fn token(&self) -> &SecretString {
        &self.token
    }

    /// The token type, normally `Bearer`.
    pub fn token_type(&self) -> &str {
        &self.token_type
    }

    /// When it expires, if known.
    pub fn expires_at(&self) -> Option<SystemTime> {
        self.expires_at
    }

    /// The OAuth 2.0 token response for this token, as the GCE metadata server and `gcloud`
    /// print it: `access_token`, `token_type` and, when the expiry is known, `expires_in`
    /// (whole seconds from `now`, zero once past) and `expiry` (RFC 3339). It holds the
    /// token, hence the type.
    pub fn to_token_response_json(&self, now: SystemTime) -> SecretString {
        let mut out = serde_json::json!({
            "access_token": self.token.expose_secret(),
            "token_type": self.token_type,
        });
        if let Some(exp) = self.expires_at {
            out["expires_in"] = remaining(exp, now).as_secs().into();
            out["expiry"] = format_rfc3339(exp).into();
        }
        SecretString::new(out.to_string())
    }

    /// The `Authorization` header value, `Bearer <token>`. Treat the result as a secret;
    /// prefer [`authorization_header_value`](Self::authorization_header_value), which is
    /// cheaper and marked sensitive.
    pub fn authorization_header(&self) -> String {
        format!("Bearer {}", self.token.expose_secret())
    }

    /// The `Authorization` header value, `Bearer <token>`, as a header value marked
    /// sensitive (HTTP clients and `Debug` do not show it). Built once per token, so this
    /// is a reference-count increment.
    pub fn authorization_header_value(&self) -> Result<HeaderValue, Error> {
        self.authorization.clone().ok_or_else(|| {
            Error::new(
                ErrorKind::InvalidResponse,
                Service::Cache,
                "the access token has bytes an HTTP header cannot carry (control characters or \
                 non-ASCII); it was not issued by a Google token endpoint",
            )
        })
    }
}

/// `Bearer <token>` as a sensitive header value whose buffer is zeroized when its last
/// clone is dropped.
fn bearer_header_value(token: &str) -> Option<HeaderValue> {
    /// Owns the header bytes; wipes them on drop.
    struct Wiped(Vec<u8>);
    impl AsRef<[u8]> for Wiped {
        fn as_ref(&self) -> &[u8] {
            &self.0
        }
    }
    impl Drop for Wiped {
        fn drop(&mut self) {
            self.0.zeroize();
        }
    }
    let mut bytes = Vec::with_capacity("Bearer ".len() + token.len());
    bytes.extend_from_slice(b"Bearer ");
    bytes.extend_from_slice(token.as_bytes());
    // A rejected value is dropped, and so wiped, inside `from_maybe_shared`.
    let mut value = HeaderValue::from_maybe_shared(bytes::Bytes::from_owner(Wiped(bytes))).ok()?;
    value.set_sensitive(true);
    Some(value)
}

impl Expiry for AccessToken {
    fn expires_at(&self) -> Option<SystemTime> {
        self.expires_at
    }
}

/// Anything with an expiry time, so the cache can decide when to refresh.
///
/// Implement it for your own credential type to keep it in a
/// [`CredentialCache`](crate::cache::CredentialCache):
///
/// ```
/// use federated_credentials::token::Expiry;
/// use std::time::SystemTime;
///
/// struct ApiKey {
///     key: String,
///     valid_until: Option<SystemTime>,
/// }
///
/// impl Expiry for ApiKey {
///     fn expires_at(&self) -> Option<SystemTime> {
///         self.valid_until
///     }
/// }
/// ```
pub trait Expiry {
    /// When the credential stops being valid; `None` means it does not expire on its own.
    fn expires_at(&self) -> Option<SystemTime>;
}

/// How long until `expires_at`, seen from `now`; zero when already past.
pub(crate) fn remaining(expires_at: SystemTime, now: SystemTime) -> Duration {
    expires_at.duration_since(now).unwrap_or(Duration::ZERO)
}

/// Formats a time as RFC 3339 in UTC with whole seconds, e.g. `2026-11-22T04:00:00Z`.
/// Times outside years 0–9999 (which a broken upstream can produce) are shown as
/// `unix time <seconds>` instead; this never panics.
pub(crate) fn format_rfc3339(at: SystemTime) -> String {
    let secs: i128 = match at.duration_since(std::time::UNIX_EPOCH) {
        Ok(after) => i128::from(after.as_secs()),
        Err(before) => {
            let d = before.duration();
            -i128::from(d.as_secs()) - i128::from(d.subsec_nanos() > 0)
        }
    };
    i64::try_from(secs)
        .ok()
        .and_then(|s| time::OffsetDateTime::from_unix_timestamp(s).ok())
        .and_then(|t| {
            t.format(&time::format_description::well_known::Rfc3339)
                .ok()
        })
        .unwrap_or_else(|| format!("unix time {secs}"))
}

/// Parses an RFC 3339 timestamp with or without fractional seconds and any offset.
pub(crate) fn parse_rfc3339(value: &str) -> Option<SystemTime> {
    time::OffsetDateTime::parse(value.trim(), &time::format_description::well_known::Rfc3339)
        .ok()
        .map(SystemTime::from)
}

#[cfg(test)]
mod tests {

    #[test]
    fn authorization_value_is_built_once_and_shared() {
        let t = AccessToken::new("ya29.abc", None);
        let a = t.authorization_header_value().unwrap();
        let b = t.clone().authorization_header_value().unwrap();
        assert_eq!(a.as_bytes(), b"Bearer ya29.abc");
        assert!(a.is_sensitive() && b.is_sensitive());
        // the same buffer, not a copy
        assert_eq!(a.as_bytes().as_ptr(), b.as_bytes().as_ptr());
        assert_eq!(t.authorization_header(), "Bearer ya29.abc");
    }

    #[test]
    fn authorization_value_refuses_header_breaking_tokens() {
        for bad in ["a\r\nx-injected: 1", "nul\0", "del\x7f"] {
            let err = AccessToken::new(bad, None)
                .authorization_header_value()
                .unwrap_err();
            assert_eq!(err.kind(), ErrorKind::InvalidResponse);
            assert!(!err.to_string().contains("injected"));
        }
    }
    use super::*;
    use std::time::UNIX_EPOCH;

    #[test]
    fn token_response_json_counts_down_and_omits_an_unknown_expiry() {
        let now = UNIX_EPOCH + Duration::from_secs(1_800_000_000);
        let token = AccessToken::new("ya29.value", Some(now + Duration::from_secs(3599)));
        let json: serde_json::Value =
            serde_json::from_str(token.to_token_response_json(now).expose_secret()).unwrap();
        assert_eq!(
            json,
            serde_json::json!({"access_token": "ya29.value", "token_type": "Bearer",
                "expires_in": 3599, "expiry": "2027-01-15T08:59:59Z"})
        );
        let late = now + Duration::from_secs(7200);
        let json: serde_json::Value =
            serde_json::from_str(token.to_token_response_json(late).expose_secret()).unwrap();
        assert_eq!(json["expires_in"], 0);
        let forever = AccessToken::new("ya29.value", None);
        let json: serde_json::Value =
            serde_json::from_str(forever.to_token_response_json(now).expose_secret()).unwrap();
        assert_eq!(json.as_object().unwrap().len(), 2, "{json}");
        assert!(!format!("{:?}", forever.to_token_response_json(now)).contains("ya29"));
    }

    #[test]
    fn urns_round_trip() {
        for t in [
            TokenType::Jwt,
            TokenType::IdToken,
            TokenType::Saml2,
            TokenType::Aws4Request,
            TokenType::AccessToken,
        ] {
            assert_eq!(TokenType::from_urn(t.urn()), Some(t));
            assert_eq!(t.to_string(), t.urn());
        }
    }

    #[test]
    fn rfc3339_formats_and_parses_with_offsets() {
        let t = UNIX_EPOCH + Duration::new(1_629_147_173, 999_000_000);
        assert_eq!(format_rfc3339(t), "2021-08-16T20:52:53Z");
        // Found while fixing the first fuzz crash: `SystemTime` reaches far beyond what
        // `time` can represent, and the conversion used to panic.
        let far = UNIX_EPOCH + Duration::from_secs(1_000_000_000_000);
        assert_eq!(format_rfc3339(far), "unix time 1000000000000");
        let before = UNIX_EPOCH - Duration::from_millis(1500);
        assert_eq!(format_rfc3339(before), "1969-12-31T23:59:58Z");
        assert_eq!(
            parse_rfc3339("2021-08-16T22:52:53+02:00"),
            Some(UNIX_EPOCH + Duration::from_secs(1_629_147_173))
        );
    }

    #[test]
    fn token_type_urns_and_unknown_urns() {
        let t = TokenType::from_urn("urn:ietf:params:aws:token-type:aws4_request").unwrap();
        assert_eq!(t, TokenType::Aws4Request);
        assert_eq!(t.to_string(), "urn:ietf:params:aws:token-type:aws4_request");
        assert_eq!(
            TokenType::IdToken.urn(),
            "urn:ietf:params:oauth:token-type:id_token"
        );
        assert_eq!(
            TokenType::from_urn("urn:ietf:params:oauth:token-type:id-token"),
            None
        );
    }

    #[test]
    fn subject_token_expiry_type_and_redaction() {
        let t = SubjectToken::new("eyJ.example.jwt", TokenType::IdToken);
        assert_eq!(t.token_type(), TokenType::IdToken);
        assert_eq!(t.expires_at(), None);
        assert!(!t.is_expired_at(UNIX_EPOCH + Duration::from_secs(1_700_000_000)));
        assert_eq!(t.token().expose_secret(), "eyJ.example.jwt");
        assert_eq!(t.token().to_string(), "[redacted]");
        let t = t
            .with_token_type(TokenType::Jwt)
            .with_expiry(UNIX_EPOCH + Duration::from_secs(100));
        assert_eq!(t.token_type(), TokenType::Jwt);
        assert_eq!(t.expires_at(), Some(UNIX_EPOCH + Duration::from_secs(100)));
        assert!(t.is_expired_at(UNIX_EPOCH + Duration::from_secs(100)));
        assert!(!t.is_expired_at(UNIX_EPOCH + Duration::from_secs(99)));
        assert!(!format!("{t:?}").contains("eyJ"));
    }

    #[test]
    fn access_token_fields_header_and_redaction() {
        let exp = UNIX_EPOCH + Duration::from_secs(1_700_003_600);
        let t = AccessToken::new("ya29.secret", Some(exp));
        assert_eq!(t.expires_at(), Some(exp));
        assert_eq!(Expiry::expires_at(&t), Some(exp));
        assert_eq!(AccessToken::new("ya29.example", None).expires_at(), None);
        assert_eq!(t.token_type(), "Bearer");
        assert_eq!(t.token().expose_secret(), "ya29.secret");
        assert_eq!(format!("{:?}", t.token()), "SecretString([redacted])");
        assert!(!format!("{t:?}").contains("ya29"));
        let value = t.authorization_header_value().unwrap();
        assert!(!format!("{value:?}").contains("ya29"));
        assert!(
            AccessToken::new("line\nbreak", None)
                .authorization_header_value()
                .is_err()
        );
        let t = AccessToken::new("ya29.example", None).with_token_type("bearer");
        assert_eq!(t.token_type(), "bearer");
        assert_eq!(t.authorization_header(), "Bearer ya29.example");
    }

    #[test]
    fn rfc3339_whole_seconds_fractions_and_garbage() {
        assert_eq!(
            format_rfc3339(UNIX_EPOCH + Duration::from_secs(1)),
            "1970-01-01T00:00:01Z"
        );
        assert_eq!(
            format_rfc3339(UNIX_EPOCH + Duration::from_secs(1 << 40)),
            "unix time 1099511627776"
        );
        assert_eq!(
            parse_rfc3339("2021-08-16T20:52:53.123456Z"),
            Some(UNIX_EPOCH + Duration::new(1629147173, 123_456_000))
        );
        assert!(parse_rfc3339("yesterday").is_none());
    }

    #[test]
    fn remaining_saturates() {
        let t = UNIX_EPOCH + Duration::from_secs(10);
        assert_eq!(remaining(t, UNIX_EPOCH), Duration::from_secs(10));
        assert_eq!(remaining(UNIX_EPOCH, t), Duration::ZERO);
    }
}
