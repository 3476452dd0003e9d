//! The GCP → AWS flow end to end, on this machine: loopback emulators of the GCE metadata
//! server and AWS STS stand in for the clouds, and the crate does exactly what it does in
//! production against them.
//!
//! ```sh
//! cargo run --example demo --features testkit
//! ```

use std::time::Duration;

use aws_credential_types::provider::ProvideCredentials;
use federated_credentials::aws::WebIdentityProvider;
use federated_credentials::context::{Context, StaticEnv};
use federated_credentials::source::{GcpMetadataIdentityToken, SubjectTokenSource};
use federated_credentials::testkit::{AwsStsEmulator, Fault, GcpMetadataEmulator, RoleSpec};
use federated_credentials::token::format_rfc3339;

const AUDIENCE: &str = "sts.amazonaws.com";

#[tokio::main(flavor = "current_thread")]
async fn main() -> Result<(), Box<dyn std::error::Error>> {
    println!("federated-credentials demo: a Google Cloud workload gets AWS credentials, keyless\n");

    // 1. The clouds, on loopback.
    let mds = GcpMetadataEmulator::start().await?;
    let sts = AwsStsEmulator::start().await?;
    let sa = mds.default_service_account().clone();
    let role_arn = sts.role_arn("gcp-workload");
    sts.add_role(
        RoleSpec::new(&role_arn)
            .google_aud(&sa.unique_id) // accounts.google.com:aud  = the token's azp
            .google_oaud(AUDIENCE), // accounts.google.com:oaud = the token's aud
    );
    println!("1. emulators up");
    println!(
        "   GCE metadata server  http://{}  (service account {})",
        mds.host(),
        sa.email
    );
    println!("   AWS STS              {}", sts.endpoint());
    println!(
        "   role {role_arn} trusts accounts.google.com with aud={} oaud={AUDIENCE}\n",
        sa.unique_id
    );

    // Everything the crate reads from outside comes through the context: here the
    // environment points it at the emulators, as GCE_METADATA_HOST would on a real machine.
    let ctx = Context::builder()
        .env(StaticEnv::from_pairs([
            ("GCE_METADATA_HOST", mds.host()),
            ("AWS_REGION", "us-east-1".to_string()),
        ]))
        .build();

    // 2. Who am I? The metadata server's identity token.
    let source = GcpMetadataIdentityToken::new(AUDIENCE);
    let token = source.subject_token(&ctx).await?;
    let claims = federated_credentials::jwt::decode_unverified(token.token().expose_secret())?;
    println!(
        "2. identity token from the metadata server: {}",
        token.token()
    );
    println!(
        "   iss={} azp={} email={} expires {}\n",
        claims.iss.as_deref().unwrap_or("-"),
        claims.azp.as_deref().unwrap_or("-"),
        claims.email.as_deref().unwrap_or("-"),
        token.expires_at().map(format_rfc3339).unwrap_or_default()
    );

    // 3. Trade it at STS, through the provider every AWS SDK client can use.
    let provider = WebIdentityProvider::builder()
        .context(ctx.clone())
        .token_source(source)
        .role_arn(&role_arn)
        .session_name("demo")
        .sts_endpoint(sts.endpoint())
        .build()?;
    let creds = provider.credentials().await?;
    println!("3. AssumeRoleWithWebIdentity");
    println!("   assumed role  {}", creds.assumed_role_arn());
    println!("   account       {}", creds.account_id().unwrap_or("-"));
    println!("   access key    {}", creds.access_key_id());
    println!("   expires       {}", format_rfc3339(creds.expiration()));
    println!(
        "   as the SDK sees it: {:?}\n",
        provider.provide_credentials().await?
    );

    // 4. Cached: the next thousand reads cost nothing upstream.
    let before = (mds.request_count(), sts.request_count());
    for _ in 0..1000 {
        provider.credentials().await?;
    }
    println!(
        "4. 1000 more reads: {} metadata and {} STS requests (was {} and {})\n",
        mds.request_count(),
        sts.request_count(),
        before.0,
        before.1
    );

    // 5. Upstream hiccups are retried; misconfigurations say what to fix.
    sts.push_fault(Fault::status(503));
    provider.invalidate();
    provider.credentials().await?;
    println!(
        "5. STS answered 503 once: retried, credentials served ({} STS requests so far)",
        sts.request_count()
    );
    let wrong = WebIdentityProvider::builder()
        .context(ctx.clone())
        .token_source(GcpMetadataIdentityToken::new("wrong-audience"))
        .role_arn(&role_arn)
        .sts_endpoint(sts.endpoint())
        .build()?;
    match wrong.credentials().await {
        Ok(_) => println!("   unexpected: the wrong audience was accepted"),
        Err(e) => println!("   a token for the wrong audience: {e}"),
    }
    match WebIdentityProvider::builder()
        .context(ctx)
        .token_source(GcpMetadataIdentityToken::new(AUDIENCE))
        .role_arn("my-role")
        .duration(Duration::from_secs(60))
        .build()
    {
        Ok(_) => println!("   unexpected: a bad role ARN was accepted"),
        Err(e) => println!("   a bad role ARN: {e}"),
    }
    println!("\ndone: no keys were stored anywhere.");
    Ok(())
}
