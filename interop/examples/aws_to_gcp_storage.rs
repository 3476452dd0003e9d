//! AWS → GCP with the official Google Cloud client libraries: a Cloud Storage client
//! (`google-cloud-storage`) whose credentials come from this workload's AWS identity, through
//! `google-cloud-auth`'s `Credentials`. On an EC2 instance (or with AWS credentials in the
//! environment), with the file `gcloud iam workload-identity-pools create-cred-config --aws
//! --enable-imdsv2 ...` wrote:
//!
//! ```sh
//! GOOGLE_APPLICATION_CREDENTIALS=/etc/gcp/credentials.json \
//!   cargo run -p federated-credentials-interop --example aws_to_gcp_storage -- my-bucket path/to/object
//! ```
//!
//! `interop/tests/google_cloud_storage.rs` runs the same code offline against the testkit.

use federated_credentials::google::ExternalAccountCredentials;
use federated_credentials::integrations::google_cloud_auth::GoogleCloudAuthProvider;
use google_cloud_storage::client::Storage;

#[tokio::main]
async fn main() -> Result<(), Box<dyn std::error::Error>> {
    let mut args = std::env::args().skip(1);
    let (Some(bucket), Some(object)) = (args.next(), args.next()) else {
        return Err("usage: aws_to_gcp_storage <bucket> <object>".into());
    };

    // Reads GOOGLE_APPLICATION_CREDENTIALS; a misconfiguration is reported here, naming the
    // field. Fetch once to fail fast at startup rather than on the first request.
    let google = ExternalAccountCredentials::from_env()?;
    google.cache().prefetch().await?;

    // One provider, one token cache: hand clones of `credentials` to every client.
    let credentials = GoogleCloudAuthProvider::new(google).into_credentials();
    let storage = Storage::builder()
        .with_credentials(credentials.clone())
        .build()
        .await?;

    let mut reader = storage
        .read_object(format!("projects/_/buckets/{bucket}"), object)
        .send()
        .await?;
    let mut size = 0;
    while let Some(chunk) = reader.next().await.transpose()? {
        size += chunk.len();
    }
    println!("read {size} bytes");
    Ok(())
}
