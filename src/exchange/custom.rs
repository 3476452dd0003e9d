//! [`FnExchange`]: an exchange from a closure, the counterpart of
//! [`FnTokenSource`](crate::source::FnTokenSource), for an in-house broker, a test double or an
//! example that runs offline.

use std::fmt;
use std::future::Future;
use std::pin::Pin;
use std::sync::Arc;

use async_trait::async_trait;

use super::Exchange;
use crate::context::Context;
use crate::error::Error;

type BoxedExchangeFuture<Out> = Pin<Box<dyn Future<Output = Result<Out, Error>> + Send>>;

/// An [`Exchange`] that calls a closure with the context and (a clone of) the input.
///
/// ```
/// use federated_credentials::aws::WebIdentityProvider;
/// use federated_credentials::exchange::{AwsCredentials, FnExchange};
/// use federated_credentials::source::StaticToken;
/// use federated_credentials::token::{SubjectToken, TokenType};
/// use std::time::Duration;
///
/// // An offline stand-in for AWS STS: one-hour credentials for any token.
/// let sts = FnExchange::new(|ctx, _token: SubjectToken| async move {
///     Ok(AwsCredentials::new(
///         "AKIDEXAMPLE",
///         "example-secret",
///         Some("example-session-token".into()),
///         ctx.now() + Duration::from_secs(3600),
///         "arn:aws:sts::123456789012:assumed-role/app/example",
///     ))
/// });
/// let provider = WebIdentityProvider::builder()
///     .token_source(StaticToken::new("eyJ.example.jwt", TokenType::Jwt))
///     .exchange(sts)
///     .build()?;
/// # Ok::<(), federated_credentials::Error>(())
/// ```
pub struct FnExchange<In, Out> {
    f: Arc<dyn Fn(Context, In) -> BoxedExchangeFuture<Out> + Send + Sync>,
}

impl<In, Out> FnExchange<In, Out> {
    /// Wraps `f`, which is called on every exchange.
    pub fn new<F, Fut>(f: F) -> Self
    where
        F: Fn(Context, In) -> Fut + Send + Sync + 'static,
        Fut: Future<Output = Result<Out, Error>> + Send + 'static,
    {
        Self {
            f: Arc::new(move |ctx, input| Box::pin(f(ctx, input))),
        }
    }
}

impl<In, Out> Clone for FnExchange<In, Out> {
    fn clone(&self) -> Self {
        Self { f: self.f.clone() }
    }
}

impl<In, Out> fmt::Debug for FnExchange<In, Out> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("FnExchange")
    }
}

#[async_trait]
impl<In, Out> Exchange<In> for FnExchange<In, Out>
where
    In: Clone + Send + Sync + 'static,
    Out: Send + 'static,
{
    type Output = Out;

    async fn exchange(&self, ctx: &Context, input: &In) -> Result<Out, Error> {
        (self.f)(ctx.clone(), input.clone()).await
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::error::{ErrorKind, Service};
    use crate::token::{SubjectToken, TokenType};

    #[tokio::test]
    async fn calls_the_closure_with_the_input_and_passes_errors_through() {
        let echo = FnExchange::new(|_ctx, token: SubjectToken| async move {
            Ok(token.token().expose_secret().len())
        });
        let token = SubjectToken::new("abcd", TokenType::Jwt);
        assert_eq!(echo.exchange(&Context::default(), &token).await.unwrap(), 4);
        let failing = FnExchange::new(|_ctx, _token: SubjectToken| async move {
            Err::<(), _>(Error::new(ErrorKind::Upstream, Service::AwsSts, "refused"))
        });
        let err = failing
            .exchange(&Context::default(), &token)
            .await
            .unwrap_err();
        assert_eq!(err.message(), "refused");
        assert_eq!(format!("{failing:?}"), "FnExchange");
    }
}
