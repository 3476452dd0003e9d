//! How to test your own service offline with the testkit: start the clouds in one line, point
//! your code at them, script an outage, and assert on what reached "AWS".
//!
//! In your crate, put this in `tests/` with `federated-credentials-testkit = "..."` under
//! `[dev-dependencies]`. Here it is an example so that it compiles and runs in our CI:
//! `cargo run --example testkit_in_your_tests`.

use std::time::Duration;

use federated_credentials::aws::WebIdentityProvider;
use federated_credentials::context::{ManualClock, StaticEnv};
use federated_credentials_testkit::{Clouds, Fault, StsErrorCode};

/// The code under test: something of yours that needs AWS credentials.
async fn upload_report(
    provider: &WebIdentityProvider,
) -> Result<String, federated_credentials::Error> {
    let creds = provider.credentials().await?;
    Ok(format!(
        "would sign the upload with {}",
        creds.access_key_id()
    ))
}

#[tokio::main(flavor = "current_thread")]
async fn main() -> Result<(), Box<dyn std::error::Error>> {
    // One line: five emulators, wired to trust each other, sharing a clock you control.
    let clock = ManualClock::new(std::time::SystemTime::now());
    let clouds = Clouds::start_with_clock(clock.clone()).await?;
    let ctx = federated_credentials::context::Context::builder()
        .clock(clock.clone())
        .env(StaticEnv::from_pairs(clouds.env()))
        .build();
    let provider = WebIdentityProvider::builder()
        .context(ctx)
        .configure_from_env()
        .build()?;

    // The happy path.
    println!("{}", upload_report(&provider).await?);
    assert_eq!(clouds.aws_sts.request_count(), 1);
    let sent = clouds.aws_sts.last_request().expect("a request");
    assert_eq!(sent.form_param("RoleArn"), Some(clouds.role_arn()));

    // An outage while the credential is cached: your service keeps working.
    clouds.aws_sts.push_fault_times(Fault::status(503), 100);
    clock.advance(Duration::from_secs(10 * 60));
    println!("{}", upload_report(&provider).await?);

    // Past expiry with STS still down: your code sees a typed, transient error.
    clock.advance(Duration::from_secs(3600));
    let err = upload_report(&provider).await.unwrap_err();
    println!(
        "after expiry, STS down: {err} (transient: {})",
        err.is_transient()
    );
    assert!(err.is_transient());

    // A permanent failure: the trust policy says no.
    clouds.aws_sts.clear_faults();
    clouds.aws_sts.push_error(StsErrorCode::AccessDenied);
    provider.cache().invalidate();
    let err = upload_report(&provider).await.unwrap_err();
    assert_eq!(err.upstream_code(), Some("AccessDenied"));
    println!(
        "trust policy rejects: {}",
        err.upstream_code().unwrap_or_default()
    );
    Ok(())
}
