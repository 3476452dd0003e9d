//! Tests of [`Clouds`] with this crate's clients: the wiring, the environment and the
//! credential configuration it hands out.

use std::time::{SystemTime, UNIX_EPOCH};

use super::*;
use federated_credentials::aws::WebIdentityProvider;
use federated_credentials::config::ExternalAccountConfig;
use federated_credentials::google::ExternalAccountCredentials;
use federated_credentials::source::{GcpMetadataIdentityToken, StaticToken, SubjectTokenSource};
use federated_credentials::token::TokenType;

#[tokio::test]
async fn gcp_to_aws_from_the_environment() {
    let clouds = Clouds::start().await.unwrap();
    let provider = WebIdentityProvider::builder()
        .context(clouds.context())
        .configure_from_env()
        .build()
        .unwrap();
    let credentials = provider.credentials().await.unwrap();
    assert!(
        credentials
            .assumed_role_arn()
            .contains("assumed-role/workload")
    );
    assert!(
        clouds
            .aws_sts
            .credentials_for(credentials.access_key_id())
            .is_some()
    );
}

#[tokio::test]
async fn aws_to_gcp_from_the_configuration() {
    let clouds = Clouds::start().await.unwrap();
    let value = clouds.external_account_config();
    assert_eq!(value["credential_source"]["environment_id"], "aws1");
    let config = ExternalAccountConfig::from_value(&value).unwrap();
    assert_eq!(config.audience, AWS_PROVIDER_AUDIENCE);
    let credentials = ExternalAccountCredentials::builder()
        .context(clouds.context())
        .config(config)
        .build()
        .unwrap();
    assert_eq!(credentials.service_account(), Some(SERVICE_ACCOUNT));
    credentials.access_token().await.unwrap();
    // IMDSv2 session token, region, role, credentials; then Google STS and IAM.
    assert_eq!(
        (clouds.imds.put_count(), clouds.google_sts.request_count()),
        (1, 1)
    );
    assert_eq!(clouds.iam.request_count(), 1);
    assert_eq!(
        clouds.iam.issued_access_tokens()[0].service_account,
        SERVICE_ACCOUNT
    );
}

#[tokio::test]
async fn the_configuration_file_is_found_through_the_environment() {
    let clouds = Clouds::start().await.unwrap();
    let dir = tempfile::tempdir().unwrap();
    let path = clouds.write_external_account_config(dir.path()).unwrap();
    let env = StaticEnv::from_pairs(clouds.env())
        .with("GOOGLE_APPLICATION_CREDENTIALS", path.display().to_string());
    let config = ExternalAccountConfig::from_env(&Context::builder().env(env).build()).unwrap();
    assert_eq!(config.token_url, clouds.google_sts.token_url());
    let from_file = ExternalAccountCredentials::builder()
        .context(clouds.context())
        .config(ExternalAccountConfig::from_file(path).unwrap())
        .build()
        .unwrap();
    from_file.access_token().await.unwrap();
    assert_eq!(clouds.iam.request_count(), 1);
}

#[tokio::test]
async fn environment_and_context() {
    let clouds = Clouds::start().await.unwrap();
    assert_eq!(clouds.role_arn(), "arn:aws:iam::123456789012:role/workload");
    let env = clouds.env();
    assert!(env.contains(&("AWS_ROLE_ARN".to_string(), clouds.role_arn())));
    assert!(env.contains(&("GCE_METADATA_HOST".to_string(), clouds.gcp_metadata.host())));
    assert!(env.contains(&(
        "AWS_ENDPOINT_URL_STS".to_string(),
        clouds.aws_sts.endpoint()
    )));

    let ctx = clouds.context();
    assert_eq!(ctx.env().get("AWS_REGION").as_deref(), Some("us-east-1"));
    assert_eq!(
        ctx.env().get("HOME"),
        None,
        "nothing from the real environment"
    );
    // Sources read GCE_METADATA_HOST from it:
    GcpMetadataIdentityToken::new(AWS_AUDIENCE)
        .subject_token(&ctx)
        .await
        .unwrap();
    assert_eq!(clouds.gcp_metadata.request_count(), 1);
}

#[tokio::test]
async fn explicit_wiring_with_the_constants() {
    let clouds = Clouds::start().await.unwrap();
    // The role trusts tokens requested for AWS_AUDIENCE.
    let provider = WebIdentityProvider::builder()
        .token_source(
            GcpMetadataIdentityToken::new(AWS_AUDIENCE).metadata_host(clouds.gcp_metadata.host()),
        )
        .role_arn(clouds.role_arn())
        .configure_sts(|s| s.endpoint_url(clouds.aws_sts.endpoint()))
        .build()
        .unwrap();
    assert!(provider.credentials().await.is_ok());

    // The OIDC provider trusts the shared Google identity.
    let exp = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .unwrap()
        .as_secs()
        + 3600;
    let jwt = GoogleIdentity::shared().sign(&json!({"sub": "workload", "exp": exp}));
    let credentials = ExternalAccountCredentials::builder()
        .audience(OIDC_PROVIDER_AUDIENCE)
        .token_source(StaticToken::new(jwt, TokenType::Jwt))
        .token_url(clouds.google_sts.token_url())
        .build()
        .unwrap();
    assert!(credentials.access_token().await.is_ok());
}
