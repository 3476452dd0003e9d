//! AWS → GCP from each AWS compute platform, with the environment that platform sets and the
//! unchanged `create-cred-config --aws` file: whose credentials signed the subject token, and
//! that the EC2 instance metadata service (the node's identity) was not asked when a
//! higher-precedence source was configured.
//!
//! | platform | what it sets |
//! |---|---|
//! | Lambda | `AWS_ACCESS_KEY_ID`, `AWS_SECRET_ACCESS_KEY`, `AWS_SESSION_TOKEN`, `AWS_REGION` |
//! | EKS IRSA | `AWS_ROLE_ARN`, `AWS_WEB_IDENTITY_TOKEN_FILE`, `AWS_REGION` (IMDS reachable: the node) |
//! | Fargate, ECS on EC2, CodeBuild | `AWS_CONTAINER_CREDENTIALS_RELATIVE_URI`, `ECS_CONTAINER_METADATA_URI_V4`, `AWS_REGION` (on EC2 IMDS is the node) |
//! | EKS Pod Identity | `AWS_CONTAINER_CREDENTIALS_FULL_URI` (169.254.170.23), `AWS_CONTAINER_AUTHORIZATION_TOKEN_FILE`, `AWS_REGION` |
//! | EC2 | nothing: IMDS |
//!
//! The emulators stand in for 169.254.170.2 (`FEDERATED_CREDENTIALS_CONTAINER_HOST`) and
//! 169.254.170.23 (a loopback FULL_URI), so no test needs a link-local address.

use std::time::{Duration, UNIX_EPOCH};

use federated_credentials::config::ExternalAccountConfig;
use federated_credentials::context::{Context, InstantSleep, ManualClock, StaticEnv};
use federated_credentials::exchange::{AssumeRoleWithWebIdentity, Exchange};
use federated_credentials::google::ExternalAccountCredentials;
use federated_credentials::source::aws::{Aws1Source, AwsIdentitySource, Ec2InstanceMetadata};
use federated_credentials::source::{AwsSignedRequestToken, SubjectTokenSource, TokenFile};
use federated_credentials::{ErrorKind, Service};
use federated_credentials_testkit::{
    AWS_AUDIENCE, AWS_PROVIDER_AUDIENCE, AwsStsEmulator, CONTAINER_CREDENTIALS_PATH, Clouds,
    ContainerCredentialsEmulator, Fault, RoleSpec,
};

const START: u64 = 1_800_000_000;

struct World {
    clock: ManualClock,
    clouds: Clouds,
    container: ContainerCredentialsEmulator,
    dir: tempfile::TempDir,
}

impl World {
    async fn new() -> Self {
        Self::with(ContainerCredentialsEmulator::builder()).await
    }

    async fn with(
        container: federated_credentials_testkit::ContainerCredentialsEmulatorBuilder,
    ) -> Self {
        let clock = ManualClock::new(UNIX_EPOCH + Duration::from_secs(START));
        let clouds = Clouds::start_with_clock(clock.clone()).await.unwrap();
        let container = container.clock(clock.clone()).start().await.unwrap();
        let c = container.credentials();
        clouds.google_sts.trust_aws_session_key(
            c.access_key_id,
            c.secret_access_key,
            c.session_token,
            c.account_id,
        );
        Self {
            clock,
            clouds,
            container,
            dir: tempfile::tempdir().unwrap(),
        }
    }

    fn ctx(&self, env: &[(&str, String)]) -> Context {
        Context::builder()
            .clock(self.clock.clone())
            .env(StaticEnv::from_pairs(
                env.iter().map(|(k, v)| (k.to_string(), v.clone())),
            ))
            .sleep(InstantSleep)
            .build()
    }

    fn aws1(&self) -> Aws1Source {
        Aws1Source::new(
            Ec2InstanceMetadata::builder()
                .region_url(self.clouds.imds.availability_zone_url())
                .credentials_url(self.clouds.imds.credentials_url())
                .session_token_url(self.clouds.imds.token_url())
                .build()
                .unwrap(),
        )
    }

    /// The access key id that signed a subject token from the `aws1` chain in `env`.
    async fn signer(&self, env: &[(&str, String)]) -> Result<String, federated_credentials::Error> {
        let token = AwsSignedRequestToken::new(self.aws1(), AWS_PROVIDER_AUDIENCE)
            .subject_token(&self.ctx(env))
            .await?;
        Ok(signing_key(token.token().expose_secret()))
    }

    /// The container environment of ECS (relative URI, task metadata).
    fn ecs_env(&self) -> Vec<(&'static str, String)> {
        vec![
            (
                "AWS_CONTAINER_CREDENTIALS_RELATIVE_URI",
                CONTAINER_CREDENTIALS_PATH.to_string(),
            ),
            (
                "FEDERATED_CREDENTIALS_CONTAINER_HOST",
                self.container.host(),
            ),
            (
                "ECS_CONTAINER_METADATA_URI_V4",
                self.container.task_metadata_url(),
            ),
            ("AWS_REGION", "eu-west-1".into()),
        ]
    }

    fn imds_requests(&self) -> usize {
        self.clouds.imds.request_count()
    }
}

/// The access key id in the `Credential=` of a signed `GetCallerIdentity` subject token.
fn signing_key(token: &str) -> String {
    let raw = format!("x={token}");
    let (_, json) = url::form_urlencoded::parse(raw.as_bytes()).next().unwrap();
    let json: serde_json::Value = serde_json::from_str(&json).unwrap();
    let auth = json["headers"]
        .as_array()
        .unwrap()
        .iter()
        .find(|h| h["key"] == "Authorization")
        .unwrap()["value"]
        .as_str()
        .unwrap()
        .to_string();
    let start = auth.find("Credential=").unwrap() + "Credential=".len();
    auth[start..].split('/').next().unwrap().to_string()
}

#[tokio::test]
async fn fargate_and_ecs_on_ec2_sign_with_the_task_role_through_the_config_file() {
    let w = World::new().await;
    // The unchanged gcloud file (IMDS URLs and all), as on EC2.
    let path = w
        .clouds
        .write_external_account_config(w.dir.path())
        .unwrap();
    let creds = ExternalAccountCredentials::builder()
        .context(w.ctx(&w.ecs_env()))
        .config(ExternalAccountConfig::from_file(&path).unwrap())
        .build()
        .unwrap();
    creds.access_token().await.unwrap();
    let subject = w
        .clouds
        .google_sts
        .last_request()
        .unwrap()
        .form_param("subject_token")
        .unwrap();
    assert_eq!(
        signing_key(&subject),
        w.container.credentials().access_key_id
    );
    assert_ne!(
        signing_key(&subject),
        w.clouds.imds.credentials().access_key_id
    );
    assert_eq!(w.imds_requests(), 0, "the node's IMDS was asked");
    // Steady state: the container credentials are cached; a refresh is STS + IAM only.
    let container_before = w.container.request_count();
    creds.cache().invalidate();
    creds.access_token().await.unwrap();
    assert_eq!(w.container.request_count(), container_before);
}

#[tokio::test]
async fn the_region_comes_from_the_task_metadata_when_aws_region_is_unset() {
    let w =
        World::with(ContainerCredentialsEmulator::builder().availability_zone("ap-southeast-2b"))
            .await;
    let env: Vec<_> = w
        .ecs_env()
        .into_iter()
        .filter(|(k, _)| *k != "AWS_REGION")
        .collect();
    assert_eq!(
        w.aws1().region(&w.ctx(&env)).await.unwrap(),
        "ap-southeast-2"
    );
    assert_eq!(w.imds_requests(), 0);
    // Without task metadata it is IMDS's turn.
    let bare: Vec<_> = env
        .into_iter()
        .filter(|(k, _)| *k != "ECS_CONTAINER_METADATA_URI_V4")
        .collect();
    assert_eq!(w.aws1().region(&w.ctx(&bare)).await.unwrap(), "us-east-1");
}

#[tokio::test]
async fn eks_pod_identity_reads_the_rotated_token_file_on_every_fetch() {
    let w = World::with(ContainerCredentialsEmulator::builder().authorization("pod-token-1")).await;
    let token_file = w.dir.path().join("eks-pod-identity-token");
    std::fs::write(&token_file, "pod-token-1").unwrap();
    let env = vec![
        (
            "AWS_CONTAINER_CREDENTIALS_FULL_URI",
            w.container.credentials_url(),
        ),
        (
            "AWS_CONTAINER_AUTHORIZATION_TOKEN_FILE",
            token_file.to_str().unwrap().to_string(),
        ),
        ("AWS_REGION", "us-west-2".into()),
    ];
    let aws1 = w.aws1();
    let ctx = w.ctx(&env);
    let first = aws1.credentials(&ctx).await.unwrap();
    assert_eq!(
        first.access_key_id(),
        w.container.credentials().access_key_id
    );
    assert_eq!(
        w.container.last_request().unwrap().header("authorization"),
        Some("pod-token-1")
    );
    // EKS rotates the token and the agent the credentials; near expiry we fetch again with
    // the file's new contents.
    std::fs::write(&token_file, "pod-token-2").unwrap();
    w.container.set_authorization(Some("pod-token-2".into()));
    w.container.rotate_credentials();
    w.clock.advance(Duration::from_secs(6 * 3600 - 4 * 60));
    let second = aws1.credentials(&ctx).await.unwrap();
    assert_eq!(
        second.access_key_id(),
        w.container.credentials().access_key_id
    );
    assert_ne!(second.access_key_id(), first.access_key_id());
    assert_eq!(w.imds_requests(), 0);
}

#[tokio::test]
async fn a_configured_container_endpoint_that_refuses_is_an_error_not_the_node_role() {
    let w = World::with(ContainerCredentialsEmulator::builder().authorization("right")).await;
    let env = vec![
        (
            "AWS_CONTAINER_CREDENTIALS_FULL_URI",
            w.container.credentials_url(),
        ),
        ("AWS_CONTAINER_AUTHORIZATION_TOKEN", "wrong".to_string()),
        ("AWS_REGION", "us-west-2".into()),
    ];
    let err = w.signer(&env).await.unwrap_err();
    assert_eq!(err.service(), Service::AwsContainerCredentials);
    assert_eq!(err.http_status(), Some(403));
    let text = err.to_string();
    assert!(text.contains("not falling back to IMDS"), "{text}");
    assert!(text.contains("AWS_CONTAINER_AUTHORIZATION_TOKEN"), "{text}");
    assert!(!text.contains("wrong"), "the token leaked: {text}");
    assert_eq!(w.imds_requests(), 0, "fell through to the node's identity");

    // A disallowed plain-http host is refused before any request.
    let env = vec![
        (
            "AWS_CONTAINER_CREDENTIALS_FULL_URI",
            "http://169.254.169.254/latest/meta-data/iam/security-credentials/node".to_string(),
        ),
        ("AWS_REGION", "us-west-2".into()),
    ];
    let err = w.signer(&env).await.unwrap_err();
    assert_eq!(err.kind(), ErrorKind::Configuration);
    assert_eq!(w.imds_requests(), 0);
}

#[tokio::test]
async fn eks_irsa_assumes_the_role_with_the_token_file_and_never_asks_imds() {
    let w = World::new().await;
    let role = w.clouds.aws_sts.role_arn("irsa-pod");
    w.clouds.aws_sts.add_role(RoleSpec::new(&role));
    let token_file = w.dir.path().join("irsa-token");
    let issue = || {
        w.clouds
            .gcp_metadata
            .issue_identity_token(AWS_AUDIENCE, Duration::from_secs(3600))
    };
    std::fs::write(&token_file, issue()).unwrap();
    let env = vec![
        ("AWS_ROLE_ARN", role.clone()),
        (
            "AWS_WEB_IDENTITY_TOKEN_FILE",
            token_file.to_str().unwrap().to_string(),
        ),
        ("AWS_ROLE_SESSION_NAME", "irsa-session".into()),
        ("AWS_ENDPOINT_URL_STS", w.clouds.aws_sts.endpoint()),
        ("AWS_REGION", "us-east-2".into()),
        // Also configured, but lower in the precedence: never used.
        (
            "AWS_CONTAINER_CREDENTIALS_FULL_URI",
            w.container.credentials_url(),
        ),
    ];
    let signer = w.signer(&env).await.unwrap();
    let issued = w.clouds.aws_sts.issued_credentials();
    assert_eq!(issued.len(), 1);
    assert_eq!(signer, issued[0].access_key_id);
    assert_eq!(issued[0].role_session_name, "irsa-session");
    assert_eq!(w.imds_requests() + w.container.request_count(), 0);

    // A broken token file is an error naming IRSA, not a fall-through.
    std::fs::write(&token_file, "").unwrap();
    let aws1 = w.aws1();
    let err = aws1.credentials(&w.ctx(&env)).await.unwrap_err();
    assert!(
        err.to_string().contains("AWS_WEB_IDENTITY_TOKEN_FILE"),
        "{err}"
    );
    assert_eq!(w.imds_requests() + w.container.request_count(), 0);
}

#[tokio::test]
async fn lambda_keys_and_plain_ec2() {
    let w = World::new().await;
    let lambda = vec![
        ("AWS_ACCESS_KEY_ID", "ASIALAMBDAEXAMPLE".to_string()),
        ("AWS_SECRET_ACCESS_KEY", "lambda-secret-access-key".into()),
        ("AWS_SESSION_TOKEN", "lambda-session-token".into()),
        ("AWS_REGION", "eu-central-1".into()),
    ];
    assert_eq!(w.signer(&lambda).await.unwrap(), "ASIALAMBDAEXAMPLE");
    assert_eq!(w.imds_requests() + w.container.request_count(), 0);
    // EC2: nothing set, IMDS it is.
    assert_eq!(
        w.signer(&[]).await.unwrap(),
        w.clouds.imds.credentials().access_key_id
    );
    assert_eq!(w.container.request_count(), 0);
}

/// Requests per Google token refresh through the unchanged config file (with service-account
/// impersonation), per platform: the numbers of docs/aws-to-gcp.md §3.4. Cold is a new
/// process; steady is a refresh with the AWS credentials still cached.
#[tokio::test]
async fn requests_per_refresh_on_each_platform() {
    // (platform, cold, steady): every upstream counted (IMDS, container endpoint, AWS STS,
    // Google STS, IAM).
    let expected = [
        ("Lambda", 2, 2),
        ("EKS IRSA", 3, 2),
        ("ECS / Fargate / CodeBuild", 3, 2),
        ("ECS without AWS_REGION", 4, 2),
        ("EKS Pod Identity", 3, 2),
        ("EC2", 6, 2),
    ];
    let mut measured = Vec::new();
    for (platform, _, _) in expected {
        let w = World::new().await;
        let token_file = w.dir.path().join("irsa-token");
        let role = w.clouds.aws_sts.role_arn("irsa-pod");
        std::fs::write(
            &token_file,
            w.clouds
                .gcp_metadata
                .issue_identity_token(AWS_AUDIENCE, Duration::from_secs(3600)),
        )
        .unwrap();
        // IRSA: Google STS must know the keys AWS STS will issue. Two emulators with one seed
        // issue the same first keys: a probe tells them, the other serves the platform.
        let seeded = || {
            AwsStsEmulator::builder()
                .clock(w.clock.clone())
                .seed(7)
                .role(RoleSpec::new(&role))
                .start()
        };
        let probe = seeded().await.unwrap();
        let irsa_sts = seeded().await.unwrap();
        let first = AssumeRoleWithWebIdentity::new(&role)
            .endpoint_url(probe.endpoint())
            .exchange(
                &w.ctx(&[]),
                &TokenFile::text(&token_file)
                    .subject_token(&w.ctx(&[]))
                    .await
                    .unwrap(),
            )
            .await
            .unwrap();
        let first = first.sdk_credentials();
        w.clouds.google_sts.trust_aws_session_key(
            first.access_key_id(),
            first.secret_access_key(),
            first.session_token().unwrap(),
            irsa_sts.account_id(),
        );
        let env: Vec<(&str, String)> = match platform {
            "Lambda" => {
                let c = w.container.credentials();
                vec![
                    ("AWS_ACCESS_KEY_ID", c.access_key_id),
                    ("AWS_SECRET_ACCESS_KEY", c.secret_access_key),
                    ("AWS_SESSION_TOKEN", c.session_token),
                    ("AWS_REGION", "eu-central-1".into()),
                ]
            }
            "EKS IRSA" => vec![
                ("AWS_ROLE_ARN", role.clone()),
                (
                    "AWS_WEB_IDENTITY_TOKEN_FILE",
                    token_file.to_str().unwrap().to_string(),
                ),
                ("AWS_ENDPOINT_URL_STS", irsa_sts.endpoint()),
                ("AWS_REGION", "us-east-2".into()),
            ],
            "ECS / Fargate / CodeBuild" => w.ecs_env(),
            "ECS without AWS_REGION" => w
                .ecs_env()
                .into_iter()
                .filter(|(k, _)| *k != "AWS_REGION")
                .collect(),
            "EKS Pod Identity" => vec![
                (
                    "AWS_CONTAINER_CREDENTIALS_FULL_URI",
                    w.container.credentials_url(),
                ),
                ("AWS_REGION", "us-west-2".into()),
            ],
            _ => vec![],
        };
        let path = w
            .clouds
            .write_external_account_config(w.dir.path())
            .unwrap();
        let creds = ExternalAccountCredentials::builder()
            .context(w.ctx(&env))
            .config(ExternalAccountConfig::from_file(&path).unwrap())
            .build()
            .unwrap();
        let total = || {
            w.clouds.imds.request_count()
                + w.container.request_count()
                + irsa_sts.request_count()
                + w.clouds.google_sts.request_count()
                + w.clouds.iam.request_count()
        };
        creds.access_token().await.unwrap();
        let cold = total();
        creds.cache().invalidate();
        creds.access_token().await.unwrap();
        measured.push((platform, cold, total() - cold));
    }
    for (platform, cold, steady) in &measured {
        eprintln!("{platform}: {cold} cold, {steady} steady");
    }
    assert_eq!(measured, expected);
}

/// The region step on ECS under the faults of the fault matrix that apply to a region (it has
/// no expiry): transient failures are retried, everything else is an error that names the task
/// metadata and says to set `AWS_REGION`, and none of them falls through to IMDS.
#[tokio::test]
async fn the_task_metadata_region_under_faults() {
    let w =
        World::with(ContainerCredentialsEmulator::builder().availability_zone("sa-east-1a")).await;
    let env: Vec<_> = w
        .ecs_env()
        .into_iter()
        .filter(|(k, _)| *k != "AWS_REGION")
        .collect();
    let other_host = format!(
        "http://127.0.0.2:{}/task",
        w.container.host().rsplit(':').next().unwrap()
    );
    let retried = [
        Fault::status(500),
        Fault::status(503),
        Fault::Status {
            status: 429,
            body: String::new(),
            headers: vec![("retry-after".into(), "1".into())],
        },
        Fault::CloseConnection,
        Fault::ResetMidBody,
        Fault::Truncated,
    ];
    for fault in retried {
        let before = w.container.request_count();
        w.container.push_fault(fault.clone());
        let region = w.aws1().region(&w.ctx(&env)).await;
        assert_eq!(region.unwrap(), "sa-east-1", "{fault:?}");
        assert_eq!(w.container.request_count(), before + 2, "{fault:?}");
    }
    let refused = [
        (Fault::status(404), "HTTP 404"),
        (Fault::status(403), "HTTP 403"),
        (Fault::Body("<html>gateway</html>".into()), "set AWS_REGION"),
        (
            Fault::Body("{\"AvailabilityZone\": 7}".into()),
            "set AWS_REGION",
        ),
        (
            Fault::Body("{\"AvailabilityZone\": \"nowhere\"}".into()),
            "",
        ),
        (Fault::HugeBody { bytes: 64 << 20 }, ""),
        (Fault::Redirect(other_host), ""),
    ];
    for (fault, says) in refused {
        w.container.push_fault(fault.clone());
        let err = w.aws1().region(&w.ctx(&env)).await.unwrap_err();
        assert_eq!(
            err.service(),
            Service::AwsContainerCredentials,
            "{fault:?}: {err}"
        );
        assert!(
            !err.is_transient() || matches!(fault, Fault::HugeBody { .. }),
            "{fault:?}: {err}"
        );
        assert!(err.to_string().contains(says), "{fault:?}: {err}");
        assert_eq!(w.container.pending_faults(), 0, "{fault:?}");
    }
    assert!(
        w.container.body_bytes_sent() < 16 << 20,
        "the huge body was read to the end"
    );
    assert_eq!(
        w.imds_requests(),
        0,
        "a failing task metadata fell through to IMDS"
    );
}
