//! Exchanges: trading a token from one trust domain for a credential in another.
//!
//! An [`Exchange`] takes an input (a [`SubjectToken`](crate::token::SubjectToken)) and
//! returns a credential. The built-in one is [`AssumeRoleWithWebIdentity`] (AWS STS); the
//! providers accept any implementation, so a caller can put their own broker in its place.

mod aws_sts;

pub use aws_sts::{AssumeRoleWithWebIdentity, AwsCredentials, StsEndpoint};

use std::fmt;

use async_trait::async_trait;

use crate::context::Context;
use crate::error::Error;

/// One step that trades an input credential for an output credential.
///
/// ```
/// use async_trait::async_trait;
/// use federated_credentials::context::Context;
/// use federated_credentials::exchange::{AwsCredentials, Exchange};
/// use federated_credentials::token::SubjectToken;
/// use federated_credentials::Error;
///
/// /// Trades tokens at an in-house broker instead of AWS STS.
/// #[derive(Debug)]
/// struct Broker;
///
/// #[async_trait]
/// impl Exchange<SubjectToken> for Broker {
///     type Output = AwsCredentials;
///     async fn exchange(&self, _ctx: &Context, _token: &SubjectToken) -> Result<AwsCredentials, Error> {
///         unimplemented!("call the broker")
///     }
/// }
/// ```
#[async_trait]
pub trait Exchange<Input: Send + Sync + ?Sized>: Send + Sync + fmt::Debug {
    /// What the exchange produces.
    type Output: Send;

    /// Performs the exchange.
    async fn exchange(&self, ctx: &Context, input: &Input) -> Result<Self::Output, Error>;

    /// Checks the configuration without I/O, so builders can fail early.
    fn validate(&self, _ctx: &Context) -> Result<(), Error> {
        Ok(())
    }
}
