//! The crate's one error type, [`Error`]: what kind of failure it was, which service or step
//! failed, the upstream error code and request id when there is one, and whether retrying can
//! help. Messages say what to fix. They never contain a secret: constructors take only text
//! the crate wrote or upstream error text that has gone through [`sanitize_upstream_text`].
//!
//! ```
//! use federated_credentials::aws::WebIdentityProvider;
//! use federated_credentials::source::GcpMetadataIdentityToken;
//! use federated_credentials::ErrorKind;
//!
//! // No role ARN: the builder fails before any I/O, naming the setting.
//! let err = WebIdentityProvider::builder()
//!     .token_source(GcpMetadataIdentityToken::new("sts.amazonaws.com"))
//!     .build()
//!     .unwrap_err();
//! assert_eq!(err.kind(), ErrorKind::Configuration);
//! ```

use std::fmt;
use std::sync::Arc;
use std::time::Duration;

/// The longest upstream code or request id kept in an error.
const MAX_UPSTREAM_ID_CHARS: usize = 100;

/// What went wrong, broadly. Match on this rather than on messages.
///
/// Its `Display` is a short lower-case phrase (`"configuration error"`, `"transport error"`,
/// …).
///
/// ```
/// use federated_credentials::{Error, ErrorKind};
///
/// fn exit_code(err: &Error) -> i32 {
///     match err.kind() {
///         ErrorKind::Configuration => 78, // EX_CONFIG: fix the settings
///         ErrorKind::NotAvailable => 69,  // EX_UNAVAILABLE: wrong environment
///         _ => 75,                        // EX_TEMPFAIL: try again later
///     }
/// }
/// assert_eq!(exit_code(&Error::config("role_arn", "is required")), 78);
/// ```
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum ErrorKind {
    /// The configuration is wrong or incomplete (a missing role ARN, an out-of-range
    /// duration, an unreadable token file path). Fix the configuration; retrying will not help.
    Configuration,
    /// The identity this source needs does not exist here (not running on Google Cloud, no
    /// token file). Usually a deployment problem.
    NotAvailable,
    /// The request did not get an HTTP answer: connection refused or reset, DNS failure,
    /// timeout.
    Transport,
    /// The service answered with an error (an STS error code, a 403 from the metadata
    /// server).
    Upstream,
    /// The service answered, but not in a form we understand (garbage, wrong XML, missing
    /// fields, a redirect, an oversized body).
    InvalidResponse,
    /// A token or credential was already expired, or about to be, when we got it.
    Expired,
}

impl fmt::Display for ErrorKind {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            ErrorKind::Configuration => "configuration error",
            ErrorKind::NotAvailable => "not available",
            ErrorKind::Transport => "transport error",
            ErrorKind::Upstream => "upstream error",
            ErrorKind::InvalidResponse => "invalid response",
            ErrorKind::Expired => "expired",
        })
    }
}

/// Which service, source or step failed.
///
/// Its `Display` is [`Service::name`], which also starts every error's `Display`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum Service {
    /// The GCE/GKE metadata server.
    GcpMetadata,
    /// AWS STS.
    AwsSts,
    /// A token file on disk.
    TokenFile,
    /// A caller-supplied token source.
    CustomSource,
    /// The credential cache itself.
    Cache,
    /// Configuration (environment variables, builders, files).
    Config,
    /// The EC2 instance metadata service (IMDS).
    AwsImds,
    /// Where AWS credentials for signing come from (environment, an aws-config provider).
    AwsCredentials,
    /// The ECS/EKS container-credentials endpoint (`AWS_CONTAINER_CREDENTIALS_*_URI`).
    AwsContainerCredentials,
    /// Google STS (`sts.googleapis.com`).
    GoogleSts,
    /// Google IAM Credentials (`iamcredentials.googleapis.com`).
    IamCredentials,
    /// A URL-sourced subject token (`credential_source.url`).
    UrlSource,
    /// An executable-sourced subject token (`credential_source.executable`).
    Executable,
    /// The GitHub Actions OIDC token endpoint (`ACTIONS_ID_TOKEN_REQUEST_URL`).
    GitHubActions,
    /// An Azure managed identity endpoint (the instance metadata service, or App Service's
    /// `IDENTITY_ENDPOINT`).
    AzureManagedIdentity,
    /// The Microsoft Entra ID token endpoint (`login.microsoftonline.com`).
    Entra,
}

impl Service {
    /// A short human name, used in messages.
    pub fn name(&self) -> &'static str {
        match self {
            Service::GcpMetadata => "GCE metadata server",
            Service::AwsSts => "AWS STS",
            Service::TokenFile => "token file",
            Service::CustomSource => "custom token source",
            Service::Cache => "credential cache",
            Service::Config => "configuration",
            Service::AwsImds => "EC2 instance metadata service",
            Service::AwsCredentials => "AWS credentials",
            Service::AwsContainerCredentials => "container credentials endpoint",
            Service::GoogleSts => "Google STS",
            Service::IamCredentials => "IAM Credentials",
            Service::UrlSource => "URL token source",
            Service::Executable => "executable token source",
            Service::GitHubActions => "GitHub Actions OIDC token endpoint",
            Service::AzureManagedIdentity => "Azure managed identity endpoint",
            Service::Entra => "Microsoft Entra ID",
        }
    }
}

impl fmt::Display for Service {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}

/// The crate's error. Cheap to clone (the cache hands one failure to every waiting caller).
///
/// A custom [`Exchange`](crate::exchange::Exchange) or
/// [`SubjectTokenSource`](crate::source::SubjectTokenSource) builds one like this:
///
/// ```
/// use federated_credentials::{Error, ErrorKind, Service};
/// use std::time::Duration;
///
/// let err = Error::new(ErrorKind::Upstream, Service::CustomSource, "the broker is throttling")
///     .with_upstream_code("Throttling")
///     .with_http_status(429)
///     .with_transient(true)
///     .with_retry_after(Duration::from_secs(30));
/// assert!(err.is_transient());
/// ```
#[derive(Clone)]
pub struct Error {
    inner: Arc<Inner>,
}

struct Inner {
    kind: ErrorKind,
    service: Service,
    message: String,
    upstream_code: Option<String>,
    http_status: Option<u16>,
    request_id: Option<String>,
    transient: bool,
    retry_after: Option<Duration>,
    source: Option<Arc<dyn std::error::Error + Send + Sync + 'static>>,
}

impl Error {
    /// A new error. `message` must say what failed and, where possible, what to fix; it must
    /// not contain secrets. Transport errors start transient, everything else not.
    pub fn new(kind: ErrorKind, service: Service, message: impl Into<String>) -> Self {
        Self {
            inner: Arc::new(Inner {
                kind,
                service,
                message: message.into(),
                upstream_code: None,
                http_status: None,
                request_id: None,
                transient: kind == ErrorKind::Transport,
                retry_after: None,
                source: None,
            }),
        }
    }

    /// A configuration error naming the field or setting that is wrong.
    pub fn config(field: &str, problem: impl fmt::Display) -> Self {
        Self::new(
            ErrorKind::Configuration,
            Service::Config,
            format!("{field}: {problem}"),
        )
    }

    fn edit(mut self, f: impl FnOnce(&mut Inner)) -> Self {
        match Arc::get_mut(&mut self.inner) {
            Some(inner) => f(inner),
            None => {
                let old = &self.inner;
                let mut copy = Inner {
                    kind: old.kind,
                    service: old.service,
                    message: old.message.clone(),
                    upstream_code: old.upstream_code.clone(),
                    http_status: old.http_status,
                    request_id: old.request_id.clone(),
                    transient: old.transient,
                    retry_after: old.retry_after,
                    source: old.source.clone(),
                };
                f(&mut copy);
                self.inner = Arc::new(copy);
            }
        }
        self
    }

    /// Sets the upstream error code (e.g. `InvalidIdentityToken`). Codes come from
    /// upstream bodies, so they are sanitized like upstream text and kept to 100 characters.
    pub fn with_upstream_code(self, code: impl Into<String>) -> Self {
        let code = sanitize_upstream_text(&code.into(), MAX_UPSTREAM_ID_CHARS);
        self.edit(|i| i.upstream_code = Some(code))
    }

    /// Sets the HTTP status the service answered with. It does not change
    /// [`is_transient`](Self::is_transient); set that with
    /// [`with_transient`](Self::with_transient).
    pub fn with_http_status(self, status: u16) -> Self {
        self.edit(|i| i.http_status = Some(status))
    }

    /// Sets the upstream request id, for support cases. Kept to 100 characters, control
    /// characters replaced, since it comes from an upstream answer.
    pub fn with_request_id(self, id: impl Into<String>) -> Self {
        let id: String = id
            .into()
            .chars()
            .map(|c| if c.is_control() { ' ' } else { c })
            .collect();
        let id = match id.char_indices().nth(MAX_UPSTREAM_ID_CHARS) {
            Some((cut, _)) => format!("{}…", &id[..cut]),
            None => id,
        };
        self.edit(|i| i.request_id = Some(id))
    }

    /// Marks the error as transient (retrying may succeed) or permanent.
    pub fn with_transient(self, transient: bool) -> Self {
        self.edit(|i| i.transient = transient)
    }

    /// Records the delay the service asked for (`Retry-After`).
    pub fn with_retry_after(self, after: Duration) -> Self {
        self.edit(|i| i.retry_after = Some(after))
    }

    /// Attaches the underlying cause. The cause must not carry secrets either.
    pub fn with_source(self, source: impl std::error::Error + Send + Sync + 'static) -> Self {
        let source: Arc<dyn std::error::Error + Send + Sync> = Arc::new(source);
        self.edit(|i| i.source = Some(source))
    }

    /// Prefixes the message with the step that was being taken, e.g. `"fetching the
    /// identity token"`.
    pub fn context(self, step: impl fmt::Display) -> Self {
        self.edit(|i| i.message = format!("{step}: {}", i.message))
    }

    /// The kind of failure.
    pub fn kind(&self) -> ErrorKind {
        self.inner.kind
    }

    /// The service, source or step that failed.
    pub fn service(&self) -> Service {
        self.inner.service
    }

    /// The message, without the service prefix and upstream details.
    pub fn message(&self) -> &str {
        &self.inner.message
    }

    /// The upstream error code, e.g. `ExpiredTokenException`.
    pub fn upstream_code(&self) -> Option<&str> {
        self.inner.upstream_code.as_deref()
    }

    /// The HTTP status the service answered with.
    pub fn http_status(&self) -> Option<u16> {
        self.inner.http_status
    }

    /// The upstream request id, to quote in a support case.
    pub fn request_id(&self) -> Option<&str> {
        self.inner.request_id.as_deref()
    }

    /// Whether retrying the same request may succeed.
    pub fn is_transient(&self) -> bool {
        self.inner.transient
    }

    /// How long the service asked us to wait before retrying.
    pub fn retry_after(&self) -> Option<Duration> {
        self.inner.retry_after
    }
}

impl fmt::Display for Error {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let i = &self.inner;
        write!(f, "{}: {}", i.service, i.message)?;
        let mut details = Vec::new();
        if let Some(code) = &i.upstream_code {
            details.push(format!("code {code}"));
        }
        if let Some(status) = i.http_status {
            details.push(format!("HTTP {status}"));
        }
        if let Some(id) = &i.request_id {
            details.push(format!("request id {id}"));
        }
        if !details.is_empty() {
            write!(f, " ({})", details.join(", "))?;
        }
        Ok(())
    }
}

impl fmt::Debug for Error {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let i = &self.inner;
        f.debug_struct("Error")
            .field("kind", &i.kind)
            .field("service", &i.service)
            .field("message", &i.message)
            .field("upstream_code", &i.upstream_code)
            .field("http_status", &i.http_status)
            .field("request_id", &i.request_id)
            .field("transient", &i.transient)
            .field("source", &i.source)
            .finish()
    }
}

impl std::error::Error for Error {
    fn source(&self) -> Option<&(dyn std::error::Error + 'static)> {
        self.inner
            .source
            .as_deref()
            .map(|e| e as &(dyn std::error::Error + 'static))
    }
}

/// Makes upstream error text safe to put in a message: keeps at most `max_chars`
/// characters of the first lines, and replaces anything that looks like a JWT or a long
/// opaque token with `[redacted]`. Upstream error bodies should not contain secrets, but a
/// misbehaving proxy may echo a request back, so we never trust them.
///
/// A custom source quoting its upstream's answer:
///
/// ```
/// use federated_credentials::error::sanitize_upstream_text;
/// use federated_credentials::{Error, ErrorKind, Service};
///
/// let body = "403 Forbidden: token eyJhbGciOiJSUzI1NiJ9.eyJzdWIiOiIxIn0.c2ln is not allowed";
/// let err = Error::new(
///     ErrorKind::Upstream,
///     Service::CustomSource,
///     format!("the broker refused: {}", sanitize_upstream_text(body, 200)),
/// );
/// ```
pub fn sanitize_upstream_text(text: &str, max_chars: usize) -> String {
    let mut out = Vec::new();
    for word in text.split_whitespace() {
        let looks_like_jwt = word.matches('.').count() >= 2 && word.starts_with("eyJ");
        // Keys and tokens are random: they mix in digits or symbols. A long word of letters
        // only is a name (AWS's `OutboundWebIdentityFederationDisabledException` has 47).
        let looks_like_opaque = word.len() >= 40
            && word
                .chars()
                .all(|c| c.is_ascii_alphanumeric() || "+/=_-.".contains(c))
            && word
                .chars()
                .any(|c| c.is_ascii_digit() || "+/=_-".contains(c));
        if looks_like_jwt || looks_like_opaque {
            out.push("[redacted]".to_string());
        } else {
            out.push(word.to_string());
        }
    }
    let joined = out.join(" ");
    if joined.chars().count() > max_chars {
        let cut: String = joined.chars().take(max_chars).collect();
        format!("{cut}…")
    } else {
        joined
    }
}

/// `text` with the credentials we sent cut out: each of `sent` (header values, tokens) and,
/// for a `Scheme credential` value (`Bearer X`), the credential on its own. For error text
/// built from an upstream body, which may echo what it was sent. Values under 4 characters
/// are left alone (they would cut ordinary words).
pub(crate) fn redact_sent<'a>(mut text: String, sent: impl IntoIterator<Item = &'a str>) -> String {
    for value in sent {
        let value = value.trim();
        let credential = value.split_once(' ').map_or(value, |(_, c)| c.trim());
        for secret in [value, credential] {
            if secret.len() >= 4 {
                text = text.replace(secret, "[redacted]");
            }
        }
    }
    text
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn what_we_sent_is_cut_out_of_echoed_text() {
        let echoed = "denied: Bearer tok-123456 and tok-123456 again, key abc".to_string();
        assert_eq!(
            redact_sent(echoed, ["Bearer tok-123456", "abc"]),
            "denied: [redacted] and [redacted] again, key abc"
        );
    }

    #[test]
    fn display_lists_upstream_details() {
        let e = Error::new(ErrorKind::Upstream, Service::AwsSts, "token rejected")
            .with_upstream_code("InvalidIdentityToken")
            .with_http_status(400)
            .with_request_id("abc-123");
        assert_eq!(
            e.to_string(),
            "AWS STS: token rejected (code InvalidIdentityToken, HTTP 400, request id abc-123)"
        );
    }

    #[test]
    fn transport_errors_start_transient_and_can_be_overridden() {
        let e = Error::new(ErrorKind::Transport, Service::GcpMetadata, "refused");
        assert!(e.is_transient());
        assert!(!e.with_transient(false).is_transient());
        assert!(!Error::config("x", "y").is_transient());
    }

    #[test]
    fn edits_on_shared_errors_do_not_affect_clones() {
        let e = Error::new(ErrorKind::Upstream, Service::AwsSts, "m");
        let clone = e.clone();
        let edited = e.with_upstream_code("Throttling").context("assuming role");
        assert_eq!(clone.upstream_code(), None);
        assert_eq!(clone.message(), "m");
        assert_eq!(edited.message(), "assuming role: m");
    }

    /// Regression (fuzz target imds_credentials_json, crash-4edec08b): an IMDS answer whose
    /// `Code` was 2.7 KB of text put all of it, twice, into the error (the code is shown by
    /// `Display` and `Debug`), unbounded and unsanitized.
    #[test]
    fn long_error_codes_are_names_not_secrets() {
        let code = "OutboundWebIdentityFederationDisabledException";
        assert_eq!(sanitize_upstream_text(code, 100), code);
        let err = Error::new(ErrorKind::Upstream, Service::AwsSts, "x").with_upstream_code(code);
        assert_eq!(err.upstream_code(), Some(code));
        // A secret access key (letters, digits, `/`) still is one.
        assert_eq!(
            sanitize_upstream_text("wJalrXUtnFEMI/K7MDENG/bPxRfiCYEXAMPLEKEYxyz", 100),
            "[redacted]"
        );
    }

    #[test]
    fn upstream_codes_and_request_ids_are_bounded() {
        let long = "As:sumeRoddUnauaaehtznd\u{1689}eook ".repeat(100);
        let e = Error::new(ErrorKind::Upstream, Service::AwsImds, "m")
            .with_upstream_code(long.clone())
            .with_request_id(format!("{long}\r\nInjected: 1"));
        assert!(e.upstream_code().unwrap().chars().count() <= 101);
        assert!(e.request_id().unwrap().chars().count() <= 101);
        assert!(!e.request_id().unwrap().contains('\n'));
        assert!(e.to_string().len() < 600, "{e}");
        let short = Error::new(ErrorKind::Upstream, Service::AwsSts, "m")
            .with_upstream_code("InvalidIdentityToken")
            .with_request_id("c6104cbe-af31-11e0-8154-cbc7ccf896c7");
        assert_eq!(short.upstream_code(), Some("InvalidIdentityToken"));
        assert_eq!(
            short.request_id(),
            Some("c6104cbe-af31-11e0-8154-cbc7ccf896c7")
        );
    }

    #[test]
    fn builder_errors_name_the_setting_before_any_io() {
        use crate::aws::WebIdentityProvider;
        use crate::source::GcpMetadataIdentityToken;
        let err = WebIdentityProvider::builder()
            .token_source(GcpMetadataIdentityToken::new("sts.amazonaws.com"))
            .build()
            .unwrap_err();
        assert_eq!(err.kind(), ErrorKind::Configuration);
        assert_eq!(err.service(), Service::Config);
        assert!(!err.is_transient());
        assert_eq!(
            err.to_string(),
            "configuration: role_arn: is required: call .role_arn()"
        );
    }

    #[test]
    fn display_names_kinds_and_services() {
        assert_eq!(ErrorKind::Transport.to_string(), "transport error");
        assert_eq!(Service::AwsSts.name(), "AWS STS");
        assert_eq!(Service::IamCredentials.to_string(), "IAM Credentials");
        let err = Error::new(
            ErrorKind::Transport,
            Service::GcpMetadata,
            "could not connect",
        );
        assert_eq!(err.service(), Service::GcpMetadata);
        assert_eq!(err.to_string(), "GCE metadata server: could not connect");
        let e = Error::config(
            "role_arn",
            "is required; set AWS_ROLE_ARN or call .role_arn()",
        );
        assert_eq!(e.kind(), ErrorKind::Configuration);
        assert_eq!(e.service(), Service::Config);
        assert_eq!(
            e.to_string(),
            "configuration: role_arn: is required; set AWS_ROLE_ARN or call .role_arn()"
        );
    }

    #[test]
    fn display_shows_each_upstream_detail_alone() {
        let err = Error::new(
            ErrorKind::Upstream,
            Service::AwsSts,
            "the token is not trusted",
        )
        .with_upstream_code("InvalidIdentityToken");
        assert_eq!(err.upstream_code(), Some("InvalidIdentityToken"));
        assert_eq!(err.message(), "the token is not trusted");
        assert_eq!(
            err.to_string(),
            "AWS STS: the token is not trusted (code InvalidIdentityToken)"
        );
        let err = Error::new(ErrorKind::Upstream, Service::GcpMetadata, "forbidden")
            .with_http_status(403);
        assert_eq!(err.http_status(), Some(403));
        assert_eq!(err.to_string(), "GCE metadata server: forbidden (HTTP 403)");
        let err = Error::new(ErrorKind::Upstream, Service::AwsSts, "access denied")
            .with_request_id("c6104cbe-af31-11e0-8154-cbc7ccf896c7");
        assert!(
            err.to_string()
                .ends_with("(request id c6104cbe-af31-11e0-8154-cbc7ccf896c7)")
        );
        let err = Error::new(ErrorKind::Upstream, Service::AwsSts, "access denied")
            .with_request_id("c6104cbe-af31-11e0-8154-cbc7ccf896c7\n");
        assert_eq!(
            err.request_id(),
            Some("c6104cbe-af31-11e0-8154-cbc7ccf896c7 ")
        );
        let err = Error::new(
            ErrorKind::Upstream,
            Service::AwsSts,
            "Not authorized to perform sts:AssumeRoleWithWebIdentity",
        )
        .with_upstream_code("AccessDenied")
        .with_http_status(403);
        assert_eq!(err.kind(), ErrorKind::Upstream);
        assert!(!err.is_transient());
        assert!(err.to_string().contains("AccessDenied"));
    }

    #[test]
    fn unset_details_are_none_and_set_ones_are_kept() {
        use std::error::Error as _;
        let config = Error::config("role_arn", "is required");
        assert_eq!(config.upstream_code(), None);
        assert_eq!(config.retry_after(), None);
        assert!(config.source().is_none());
        let refused = Error::new(ErrorKind::Transport, Service::IamCredentials, "refused");
        assert_eq!(refused.http_status(), None);
        assert!(!Error::new(ErrorKind::Upstream, Service::CustomSource, "refused").is_transient());
        let throttled = Error::new(ErrorKind::Upstream, Service::GoogleSts, "quota exceeded")
            .with_http_status(429)
            .with_transient(true)
            .with_retry_after(Duration::from_secs(30));
        assert!(throttled.is_transient());
        assert_eq!(throttled.retry_after(), Some(Duration::from_secs(30)));
        let io = std::io::Error::new(std::io::ErrorKind::PermissionDenied, "permission denied");
        let err =
            Error::new(ErrorKind::NotAvailable, Service::TokenFile, "cannot read").with_source(io);
        assert_eq!(err.source().unwrap().to_string(), "permission denied");
        let err = Error::new(ErrorKind::Transport, Service::GcpMetadata, "timed out")
            .context("fetching the identity token");
        assert_eq!(err.message(), "fetching the identity token: timed out");
    }

    #[test]
    fn sanitize_redacts_an_echoed_jwt() {
        let echoed = "bad token eyJhbGciOiJSUzI1NiJ9.eyJzdWIiOiIxIn0.c2ln in request";
        assert_eq!(
            sanitize_upstream_text(echoed, 200),
            "bad token [redacted] in request"
        );
    }

    #[test]
    fn sanitize_truncates_and_redacts() {
        let long = "x".repeat(10);
        assert_eq!(sanitize_upstream_text(&long, 4), "xxxx…");
        let opaque = "A".repeat(64);
        assert_eq!(
            sanitize_upstream_text(&format!("k={opaque}"), 100),
            "[redacted]"
        );
        assert_eq!(sanitize_upstream_text("line1\nline2", 100), "line1 line2");
    }
}
