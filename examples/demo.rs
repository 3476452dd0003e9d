//! Both directions end to end, on this machine: loopback emulators of the GCE metadata server,
//! AWS STS, EC2 IMDS, Google STS and IAM Credentials stand in for the clouds, and the crate does
//! exactly what it does in production against them.
//!
//! ```sh
//! cargo run --example demo
//! ```

use std::time::Duration;

use aws_credential_types::provider::ProvideCredentials;
use federated_credentials::aws::WebIdentityProvider;
use federated_credentials::config::ExternalAccountConfig;
use federated_credentials::context::{Context, StaticEnv};
use federated_credentials::google::ExternalAccountCredentials;
use federated_credentials::source::{GcpMetadataIdentityToken, SubjectTokenSource};
use federated_credentials_testkit::{
    AwsStsEmulator, Ec2MetadataEmulator, Fault, GcpMetadataEmulator, GoogleStsEmulator,
    IamCredentialsEmulator, ProviderSpec, RoleSpec, ServiceAccountSpec,
};

const AUDIENCE: &str = "sts.amazonaws.com";

/// Ends the demo with an error (and a non-zero exit) when what it shows did not happen.
fn expect(holds: bool, what: &str) -> Result<(), Box<dyn std::error::Error>> {
    if holds {
        Ok(())
    } else {
        Err(format!("unexpected: {what}").into())
    }
}

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
        "   iss={} azp={} sub={} expires {}\n",
        claims.iss.as_deref().unwrap_or("-"),
        claims.azp.as_deref().unwrap_or("-"),
        claims.sub.as_deref().unwrap_or("-"),
        token.expires_at().map(rfc3339).unwrap_or_default()
    );

    // 3. Trade it at STS, through the provider every AWS SDK client can use.
    let provider = WebIdentityProvider::builder()
        .context(ctx.clone())
        .token_source(source)
        .role_arn(&role_arn)
        .configure_sts(|s| s.session_name("demo"))
        .configure_sts(|s| s.endpoint_url(sts.endpoint()))
        .build()?;
    let creds = provider.credentials().await?;
    println!("3. AssumeRoleWithWebIdentity");
    println!("   assumed role  {}", creds.assumed_role_arn());
    println!("   account       {}", creds.account_id().unwrap_or("-"));
    println!("   access key    {}", creds.access_key_id());
    println!("   expires       {}", rfc3339(creds.expiration()));
    expect(
        creds
            .assumed_role_arn()
            .contains("assumed-role/gcp-workload/demo"),
        "the assumed role is not gcp-workload/demo",
    )?;
    expect(
        creds.account_id() == Some(sts.account_id()),
        "the account id is not the role's",
    )?;
    println!(
        "   as the SDK sees it: {:?}\n",
        provider.provide_credentials().await?
    );

    // 4. Cached: the next thousand reads cost nothing upstream.
    let before = (mds.request_count(), sts.request_count());
    for _ in 0..1000 {
        provider.credentials().await?;
    }
    expect(
        (mds.request_count(), sts.request_count()) == before,
        "a cached read went upstream",
    )?;
    println!(
        "4. 1000 more reads: {} metadata and {} STS requests (was {} and {})\n",
        mds.request_count(),
        sts.request_count(),
        before.0,
        before.1
    );

    // 5. Upstream hiccups are retried; misconfigurations say what to fix.
    sts.push_fault(Fault::status(503));
    provider.cache().invalidate();
    let sts_before = sts.request_count();
    provider.credentials().await?;
    expect(
        sts.request_count() == sts_before + 2,
        "the 503 was not retried exactly once",
    )?;
    println!(
        "5. STS answered 503 once: retried, credentials served ({} STS requests so far)",
        sts.request_count()
    );
    let wrong = WebIdentityProvider::builder()
        .context(ctx.clone())
        .token_source(GcpMetadataIdentityToken::new("wrong-audience"))
        .role_arn(&role_arn)
        .configure_sts(|s| s.endpoint_url(sts.endpoint()))
        .build()?;
    match wrong.credentials().await {
        Ok(_) => expect(false, "the wrong audience was accepted")?,
        Err(e) => {
            expect(
                e.upstream_code() == Some("AccessDenied"),
                "the wrong audience was not refused by the trust policy",
            )?;
            println!("   a token for the wrong audience: {e}")
        }
    }
    match WebIdentityProvider::builder()
        .context(ctx)
        .token_source(GcpMetadataIdentityToken::new(AUDIENCE))
        .role_arn("my-role")
        .configure_sts(|s| s.duration(Duration::from_secs(60)))
        .build()
    {
        Ok(_) => expect(false, "a bad role ARN was accepted")?,
        Err(e) => {
            expect(
                e.kind() == federated_credentials::ErrorKind::Configuration,
                "a bad role ARN is not a configuration error",
            )?;
            println!("   a bad role ARN: {e}")
        }
    }
    aws_to_gcp().await?;
    println!("\ndone: no keys were stored anywhere.");
    Ok(())
}

/// The other direction: an EC2 instance's role becomes a Google service account.
async fn aws_to_gcp() -> Result<(), Box<dyn std::error::Error>> {
    const POOL_PROVIDER: &str = "//iam.googleapis.com/projects/123456789012/locations/global/workloadIdentityPools/aws-pool/providers/aws-prov";
    const SA: &str = "app@my-project.iam.gserviceaccount.com";
    println!("\n--- and back: an AWS workload gets Google Cloud access, keyless ---\n");

    let imds = Ec2MetadataEmulator::start().await?;
    let sts = GoogleStsEmulator::builder()
        .provider(ProviderSpec::aws(POOL_PROVIDER, "123456789012"))
        .start()
        .await?;
    let role = imds.credentials();
    // Google STS verifies the SigV4 signature the way AWS would, so it must know the key.
    sts.trust_aws_session_key(
        &role.access_key_id,
        &role.secret_access_key,
        &role.session_token,
        &role.account_id,
    );
    let iam = IamCredentialsEmulator::builder()
        .service_account(ServiceAccountSpec::new(SA, "111222333444555666777"))
        .start()
        .await?;
    iam.trust_sts(&sts);
    println!(
        "6. emulators up: EC2 IMDSv2 {}, Google STS {}, IAM Credentials {}",
        imds.endpoint(),
        sts.token_url(),
        iam.base_url()
    );

    // What `gcloud iam workload-identity-pools create-cred-config --aws --enable-imdsv2
    // --service-account=SA` writes, pointed at the emulators.
    let config = serde_json::json!({
        "type": "external_account",
        "audience": POOL_PROVIDER,
        "subject_token_type": "urn:ietf:params:aws:token-type:aws4_request",
        "token_url": sts.token_url(),
        "service_account_impersonation_url": iam.generate_access_token_url(SA),
        "credential_source": {
            "environment_id": "aws1",
            "region_url": imds.availability_zone_url(),
            "url": imds.credentials_url(),
            "regional_cred_verification_url": "https://sts.{region}.amazonaws.com?Action=GetCallerIdentity&Version=2011-06-15",
            "imdsv2_session_token_url": imds.token_url()
        }
    });
    let dir = tempfile::tempdir()?;
    let path = dir.path().join("config.json");
    std::fs::write(&path, serde_json::to_string_pretty(&config)?)?;
    println!("7. credential configuration written to {}", path.display());

    let google = ExternalAccountCredentials::builder()
        .context(Context::builder().env(StaticEnv::empty()).build())
        .config(ExternalAccountConfig::from_file(&path)?)
        .build()?;
    let token = google.access_token().await?;
    println!(
        "8. IMDS role {} signed GetCallerIdentity -> Google STS -> impersonated {SA}",
        role.access_key_id
    );
    println!(
        "   access token {} (Bearer), expires {}",
        token.token(),
        token.expires_at().map(rfc3339).unwrap_or_default()
    );
    println!(
        "   requests: IMDS {} (1 token PUT, region, role, credentials), Google STS {}, IAM {}",
        imds.request_count(),
        sts.request_count(),
        iam.request_count()
    );
    expect(
        (
            imds.request_count(),
            sts.request_count(),
            iam.request_count(),
        ) == (4, 1, 1),
        "AWS -> GCP did not take 4 IMDS, 1 STS and 1 IAM request",
    )?;
    expect(
        token.expires_at().is_some(),
        "the access token has no expiry",
    )?;
    Ok(())
}

/// A time as RFC 3339 in UTC, for display.
fn rfc3339(at: std::time::SystemTime) -> String {
    time::OffsetDateTime::from(at)
        .format(&time::format_description::well_known::Rfc3339)
        .unwrap_or_else(|_| format!("{at:?}"))
}
