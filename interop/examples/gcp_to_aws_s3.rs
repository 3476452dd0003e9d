//! GCP → AWS with the AWS SDK: an S3 client whose credentials come from this workload's
//! Google identity. On a GCE VM or GKE pod:
//!
//! ```sh
//! AWS_ROLE_ARN=arn:aws:iam::123456789012:role/gcp-workload \
//! FEDERATED_CREDENTIALS_GCP_AUDIENCE=sts.amazonaws.com AWS_REGION=us-east-1 \
//!   cargo run -p federated-credentials-interop --example gcp_to_aws_s3
//! ```
//!
//! Set `AWS_ENDPOINT_URL` to try it against a local S3 (moto, localstack).

use aws_config::BehaviorVersion;
use federated_credentials::aws::WebIdentityProvider;

#[tokio::main]
async fn main() -> Result<(), Box<dyn std::error::Error>> {
    // AWS_ROLE_ARN plus AWS_WEB_IDENTITY_TOKEN_FILE or FEDERATED_CREDENTIALS_GCP_AUDIENCE;
    // a misconfiguration is reported here, naming the variable.
    let provider = WebIdentityProvider::from_env()?;
    // Fail fast at startup instead of on the first request.
    let creds = provider.credentials().await?;
    println!("assumed {}", creds.assumed_role_arn());

    let config = aws_config::defaults(BehaviorVersion::latest())
        .credentials_provider(provider)
        .load()
        .await;
    let s3 = aws_sdk_s3::Client::new(&config);
    for bucket in s3.list_buckets().send().await?.buckets() {
        println!("{}", bucket.name().unwrap_or_default());
    }
    Ok(())
}
