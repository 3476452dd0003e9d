//! Sources for tokens the caller already has: a fixed token ([`StaticToken`]) or an async
//! closure ([`FnTokenSource`]) for Vault, SPIFFE, or a test double.

use std::fmt;
use std::future::Future;
use std::pin::Pin;
use std::sync::Arc;

use async_trait::async_trait;

use crate::context::Context;
use crate::error::{Error, ErrorKind, Service};
use crate::source::SubjectTokenSource;
use crate::token::{SubjectToken, TokenType, format_rfc3339};

/// A fixed token. Once it expires, fetching fails with [`ErrorKind::Expired`]: a static
/// token cannot be renewed, so the error says to supply a source that can.
///
/// ```
/// use federated_credentials::source::StaticToken;
/// use federated_credentials::token::{SubjectToken, TokenType};
/// use std::time::{Duration, SystemTime};
///
/// // A JWT: its `exp` claim is the expiry.
/// let jwt = StaticToken::new("eyJhbGciOi...", TokenType::Jwt);
/// // A SAML assertion you know to be valid for five more minutes.
/// let saml = StaticToken::from_subject_token(
///     SubjectToken::new("PHNhbWxwOlJlc3BvbnNlPi4uLg==", TokenType::Saml2)
///         .with_expiry(SystemTime::now() + Duration::from_secs(300)),
/// );
/// ```
#[derive(Debug, Clone)]
pub struct StaticToken {
    token: SubjectToken,
}

impl StaticToken {
    /// A static token of the given type. If it is a JWT, its `exp` claim is read as the
    /// expiry.
    pub fn new(token: impl Into<String>, token_type: TokenType) -> Self {
        Self {
            token: SubjectToken::new(token.into(), token_type).with_jwt_expiry_if_unset(),
        }
    }

    /// A static token with its expiry already known.
    pub fn from_subject_token(token: SubjectToken) -> Self {
        Self { token }
    }
}

#[async_trait]
impl SubjectTokenSource for StaticToken {
    async fn subject_token(&self, ctx: &Context) -> Result<SubjectToken, Error> {
        if let Some(exp) = self.token.expires_at()
            && exp <= ctx.now()
        {
            return Err(Error::new(
                ErrorKind::Expired,
                Service::CustomSource,
                format!(
                    "the static token expired at {}; a static token cannot be renewed, use a source that fetches fresh tokens",
                    format_rfc3339(exp)
                ),
            ));
        }
        Ok(self.token.clone())
    }

    fn name(&self) -> &'static str {
        "static"
    }

    fn validate(&self) -> Result<(), Error> {
        if self.token.token().is_empty() {
            return Err(Error::config("token_source", "the static token is empty"));
        }
        Ok(())
    }
}

type BoxedTokenFuture = Pin<Box<dyn Future<Output = Result<SubjectToken, Error>> + Send>>;

/// A source backed by an async closure, called on every refresh.
///
/// ```
/// use federated_credentials::context::Context;
/// use federated_credentials::source::{FnTokenSource, SubjectTokenSource};
/// use federated_credentials::token::{SubjectToken, TokenType};
///
/// # #[tokio::main(flavor = "current_thread")]
/// # async fn main() -> Result<(), federated_credentials::Error> {
/// let source = FnTokenSource::new(|| async {
///     // e.g. read a JWT from Vault
///     Ok(SubjectToken::new("eyJ...", TokenType::Jwt))
/// });
/// let token = source.subject_token(&Context::default()).await?;
/// # Ok(())
/// # }
/// ```
///
/// When the closure returns a JWT or ID token without an expiry, its `exp` claim is read as
/// the expiry (as [`StaticToken`] does), so an expired token is refused rather than sent.
#[derive(Clone)]
pub struct FnTokenSource {
    f: Arc<dyn Fn() -> BoxedTokenFuture + Send + Sync>,
}

impl FnTokenSource {
    /// Wraps `f`.
    pub fn new<F, Fut>(f: F) -> Self
    where
        F: Fn() -> Fut + Send + Sync + 'static,
        Fut: Future<Output = Result<SubjectToken, Error>> + Send + 'static,
    {
        Self {
            f: Arc::new(move || Box::pin(f())),
        }
    }
}

impl fmt::Debug for FnTokenSource {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("FnTokenSource")
    }
}

#[async_trait]
impl SubjectTokenSource for FnTokenSource {
    async fn subject_token(&self, ctx: &Context) -> Result<SubjectToken, Error> {
        // Like StaticToken: a JWT's `exp` is its expiry when the closure gives none.
        let token = (self.f)().await?.with_jwt_expiry_if_unset();
        if token.token().is_empty() {
            return Err(Error::new(
                ErrorKind::InvalidResponse,
                Service::CustomSource,
                "the token source returned an empty token",
            ));
        }
        if token.is_expired_at(ctx.now()) {
            return Err(Error::new(
                ErrorKind::Expired,
                Service::CustomSource,
                "the token source returned a token that is already expired",
            )
            .with_transient(true));
        }
        Ok(token)
    }

    fn name(&self) -> &'static str {
        "custom"
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::context::ManualClock;
    use std::time::{Duration, UNIX_EPOCH};

    #[tokio::test]
    async fn static_token_fails_once_expired() {
        let clock = ManualClock::new(UNIX_EPOCH + Duration::from_secs(50));
        let ctx = Context::builder().clock(clock.clone()).build();
        let src = StaticToken::from_subject_token(
            SubjectToken::new("tok", TokenType::Jwt)
                .with_expiry(UNIX_EPOCH + Duration::from_secs(100)),
        );
        assert!(src.subject_token(&ctx).await.is_ok());
        clock.advance(Duration::from_secs(50));
        let err = src.subject_token(&ctx).await.unwrap_err();
        assert_eq!(err.kind(), ErrorKind::Expired);
        assert!(!err.to_string().contains("tok "));
    }

    #[tokio::test]
    async fn closure_source_rejects_empty_and_expired() {
        let ctx = Context::builder()
            .clock(ManualClock::new(UNIX_EPOCH + Duration::from_secs(10)))
            .build();
        let empty = FnTokenSource::new(|| async { Ok(SubjectToken::new("", TokenType::Jwt)) });
        assert_eq!(
            empty.subject_token(&ctx).await.unwrap_err().kind(),
            ErrorKind::InvalidResponse
        );
        let expired = FnTokenSource::new(|| async {
            Ok(SubjectToken::new("x", TokenType::Jwt).with_expiry(UNIX_EPOCH))
        });
        assert_eq!(
            expired.subject_token(&ctx).await.unwrap_err().kind(),
            ErrorKind::Expired
        );
        assert!(StaticToken::new("", TokenType::Jwt).validate().is_err());
    }

    #[tokio::test]
    async fn static_token_reads_the_jwt_exp_and_accepts_a_known_expiry() {
        use base64::{Engine as _, engine::general_purpose::URL_SAFE_NO_PAD};
        let ctx = Context::default();
        let jwt = format!(
            "{}.{}.sig",
            URL_SAFE_NO_PAD.encode(r#"{"alg":"RS256"}"#),
            URL_SAFE_NO_PAD.encode(r#"{"sub":"workload","exp":4000000000}"#)
        );
        let source = StaticToken::new(jwt, TokenType::Jwt);
        assert_eq!(source.name(), "static");
        assert_eq!(
            source.subject_token(&ctx).await.unwrap().expires_at(),
            Some(UNIX_EPOCH + Duration::from_secs(4_000_000_000))
        );
        let opaque = StaticToken::new("opaque-token", TokenType::AccessToken);
        assert_eq!(opaque.subject_token(&ctx).await.unwrap().expires_at(), None);
        let five_minutes = std::time::SystemTime::now() + Duration::from_secs(300);
        let saml = SubjectToken::new("PHNhbWxwOlJlc3BvbnNlPi4uLg==", TokenType::Saml2)
            .with_expiry(five_minutes);
        assert!(
            StaticToken::from_subject_token(saml)
                .subject_token(&ctx)
                .await
                .is_ok()
        );
        let expired = SubjectToken::new("PHNhbWxwOlJlc3BvbnNlPi4uLg==", TokenType::Saml2)
            .with_expiry(std::time::SystemTime::now() - Duration::from_secs(1));
        let err = StaticToken::from_subject_token(expired)
            .subject_token(&ctx)
            .await
            .unwrap_err();
        assert_eq!(err.kind(), ErrorKind::Expired);
    }

    #[tokio::test]
    async fn closure_source_is_called_on_every_fetch() {
        use std::sync::atomic::{AtomicU32, Ordering};
        let calls = Arc::new(AtomicU32::new(0));
        let counter = calls.clone();
        let source = FnTokenSource::new(move || {
            let n = counter.fetch_add(1, Ordering::SeqCst) + 1;
            async move { Ok(SubjectToken::new(format!("token-{n}"), TokenType::Jwt)) }
        });
        let ctx = Context::default();
        assert_eq!(source.name(), "custom");
        assert_eq!(
            source
                .subject_token(&ctx)
                .await
                .unwrap()
                .token()
                .expose_secret(),
            "token-1"
        );
        assert_eq!(
            source
                .subject_token(&ctx)
                .await
                .unwrap()
                .token()
                .expose_secret(),
            "token-2"
        );
        let vault =
            FnTokenSource::new(|| async { Ok(SubjectToken::new("eyJ...", TokenType::Jwt)) });
        assert_eq!(
            vault
                .subject_token(&ctx)
                .await
                .unwrap()
                .token()
                .expose_secret(),
            "eyJ..."
        );
    }

    /// Regression: a JWT from the closure had no expiry unless the closure set one, so an
    /// expired one was sent and the cache could not refresh ahead of it.
    #[tokio::test]
    async fn closure_source_reads_the_jwt_exp_when_no_expiry_is_given() {
        use base64::Engine;
        let jwt = |exp: u64| {
            let b64 = |s: &str| base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(s);
            format!(
                "{}.{}.sig",
                b64(r#"{"alg":"RS256"}"#),
                b64(&format!(r#"{{"exp":{exp}}}"#))
            )
        };
        let ctx = Context::builder()
            .clock(ManualClock::new(UNIX_EPOCH + Duration::from_secs(1000)))
            .build();
        let fresh = jwt(2000);
        let source = FnTokenSource::new(move || {
            let t = fresh.clone();
            async move { Ok(SubjectToken::new(t, TokenType::Jwt)) }
        });
        assert_eq!(
            source.subject_token(&ctx).await.unwrap().expires_at(),
            Some(UNIX_EPOCH + Duration::from_secs(2000))
        );
        let stale = jwt(500);
        let expired = FnTokenSource::new(move || {
            let t = stale.clone();
            async move { Ok(SubjectToken::new(t, TokenType::IdToken)) }
        });
        assert_eq!(
            expired.subject_token(&ctx).await.unwrap_err().kind(),
            ErrorKind::Expired
        );
        // An expiry the closure sets wins; opaque tokens have none to read.
        let explicit = jwt(2000);
        let given = FnTokenSource::new(move || {
            let t = explicit.clone();
            async move {
                Ok(SubjectToken::new(t, TokenType::Jwt)
                    .with_expiry(UNIX_EPOCH + Duration::from_secs(1500)))
            }
        });
        assert_eq!(
            given.subject_token(&ctx).await.unwrap().expires_at(),
            Some(UNIX_EPOCH + Duration::from_secs(1500))
        );
        let saml =
            FnTokenSource::new(|| async { Ok(SubjectToken::new("PHNhbWw+", TokenType::Saml2)) });
        assert_eq!(saml.subject_token(&ctx).await.unwrap().expires_at(), None);
    }
}
