//! One provider, many clients: clones of a provider share one cache, so every SDK client (and
//! every task) built from them reads the same credential and one refresh serves all.
//!
//! ```sh
//! cargo run --example shared_provider
//! ```

use aws_credential_types::provider::{ProvideCredentials, SharedCredentialsProvider};
use federated_credentials::aws::WebIdentityProvider;
use federated_credentials_testkit::Clouds;

#[tokio::main]
async fn main() -> Result<(), Box<dyn std::error::Error>> {
    let clouds = Clouds::start().await?;
    let provider = WebIdentityProvider::builder()
        .context(clouds.context())
        .configure_from_env()
        .build()?;

    // What aws-config does with `.credentials_provider(provider)`: wrap it once, then hand the
    // same SharedCredentialsProvider to every client (S3, SQS, DynamoDB, ...).
    let shared = SharedCredentialsProvider::new(provider.clone());
    let tasks: Vec<_> = (0..100)
        .map(|i| {
            let shared = shared.clone();
            tokio::spawn(async move {
                let creds = shared.provide_credentials().await.expect("credentials");
                (i, creds.access_key_id().to_string())
            })
        })
        .collect();
    let mut keys = std::collections::BTreeSet::new();
    for t in tasks {
        keys.insert(t.await?.1);
    }
    println!(
        "100 concurrent clients saw {} distinct key(s); STS was called {} time(s), the metadata server {} time(s)",
        keys.len(),
        clouds.aws_sts.request_count(),
        clouds.gcp_metadata.request_count()
    );
    assert_eq!(keys.len(), 1);
    assert_eq!(clouds.aws_sts.request_count(), 1);
    // Do not build a new provider per client: each would have its own cache and its own
    // refreshes. Clone the one you have.
    Ok(())
}
