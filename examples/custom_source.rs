//! Bring your own identity: any async function that returns a JWT becomes a token source.
//! Here a pretend Vault/SPIFFE lookup feeds AWS STS; it runs against the loopback emulators.
//!
//! ```sh
//! cargo run --example custom_source
//! ```

use async_trait::async_trait;
use federated_credentials::Error;
use federated_credentials::aws::WebIdentityProvider;
use federated_credentials::context::Context;
use federated_credentials::source::{FnTokenSource, SubjectTokenSource};
use federated_credentials::token::{SubjectToken, TokenType};
use federated_credentials_testkit::{AwsStsEmulator, GcpMetadataEmulator, RoleSpec};

/// A source implemented as a type: for example a SPIFFE Workload API client.
#[derive(Debug)]
struct SpiffeJwtSvid {
    /// Stands in for the Workload API socket in this example.
    issuer: GcpMetadataEmulator,
}

#[async_trait]
impl SubjectTokenSource for SpiffeJwtSvid {
    async fn subject_token(&self, _ctx: &Context) -> Result<SubjectToken, Error> {
        let jwt = self
            .issuer
            .issue_identity_token("sts.amazonaws.com", std::time::Duration::from_secs(300));
        Ok(SubjectToken::new(jwt, TokenType::Jwt))
    }

    fn name(&self) -> &'static str {
        "spiffe-jwt-svid"
    }
}

#[tokio::main(flavor = "current_thread")]
async fn main() -> Result<(), Box<dyn std::error::Error>> {
    let issuer = GcpMetadataEmulator::start().await?;
    let sts = AwsStsEmulator::start().await?;
    let role = sts.role_arn("custom");
    sts.add_role(RoleSpec::new(&role).google_oaud("sts.amazonaws.com"));

    // 1. a closure
    let issuer_for_closure = GcpMetadataEmulator::start().await?;
    let jwt = issuer_for_closure
        .issue_identity_token("sts.amazonaws.com", std::time::Duration::from_secs(300));
    let from_closure = FnTokenSource::new(move || {
        let jwt = jwt.clone();
        async move { Ok(SubjectToken::new(jwt, TokenType::Jwt)) }
    });
    let provider = WebIdentityProvider::builder()
        .token_source(from_closure)
        .role_arn(&role)
        .configure_sts(|s| s.endpoint_url(sts.endpoint()))
        .build()?;
    println!(
        "closure source   -> {}",
        provider.credentials().await?.assumed_role_arn()
    );

    // 2. a type implementing SubjectTokenSource
    let provider = WebIdentityProvider::builder()
        .token_source(SpiffeJwtSvid { issuer })
        .role_arn(&role)
        .configure_sts(|s| s.session_name("spiffe"))
        .configure_sts(|s| s.endpoint_url(sts.endpoint()))
        .build()?;
    println!(
        "trait source     -> {}",
        provider.credentials().await?.assumed_role_arn()
    );
    Ok(())
}
