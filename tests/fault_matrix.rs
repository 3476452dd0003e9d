//! The fault matrix: every upstream the crate calls × every way it can fail, against the
//! loopback emulators' scripted [`Fault`]s. One test per row of the table in
//! docs/reliability.md, named `fault_matrix::<upstream>::<fault>`.
//!
//! Each upstream is driven at the step that talks to it (the source or exchange on its own,
//! with the other steps healthy), with short limits so the whole matrix runs in seconds:
//! 250 ms per attempt, 3 attempts, a 600 ms deadline; the sleep between attempts is recorded
//! instead of slept. Every call must end within its deadline plus [`MARGIN`], and every error
//! must be typed, name the service (and the step, for failures that have one), carry the
//! HTTP status and the request id when the service sends one.
//!
//! The last section runs the providers with a cached credential through an outage of each
//! upstream: callers are served the cached credential, and never past its expiry.

use std::future::Future;
use std::sync::{Arc, Mutex};
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use federated_credentials::context::{Context, ManualClock, Sleep, SleepFuture, StaticEnv};
use federated_credentials::exchange::{
    AssumeRoleWithWebIdentity, EntraTokenExchange, Exchange, GoogleStsExchange,
    ServiceAccountImpersonation,
};
use federated_credentials::http::RetryPolicy;
use federated_credentials::source::aws::{
    AwsEnvironment, AwsIdentitySource, ContainerCredentials, Ec2InstanceMetadata,
    OutboundWebIdentityToken,
};
use federated_credentials::source::{
    AzureManagedIdentityToken, GcpMetadataIdentityToken, GitHubActionsToken, SubjectTokenSource,
    UrlToken,
};
use federated_credentials::token::{AccessToken, SubjectToken, TokenType};
use federated_credentials::{Error, ErrorKind, Service};
use federated_credentials_testkit::{
    AWS_PROVIDER_AUDIENCE, AwsStsEmulator, AzureManagedIdentityEmulator, CallerCredentials, Clouds,
    ContainerCredentialsEmulator, Ec2MetadataEmulator, EntraApplication, EntraEmulator, Fault,
    FederatedCredential, GcpMetadataEmulator, GitHubActionsOidcEmulator, GoogleIdentity,
    GoogleStsEmulator, IamCredentialsEmulator, ProviderSpec, ServiceAccountSpec,
};
use serde_json::json;

/// The client's wall clock at the start of every test.
const T0: u64 = 1_800_000_000;
const ATTEMPT_TIMEOUT: Duration = Duration::from_millis(250);
const ATTEMPTS: u32 = 3;
const DEADLINE: Duration = Duration::from_millis(600);
/// Slack for a loaded CI machine on top of every deadline.
const MARGIN: Duration = Duration::from_millis(500);
/// What the upstreams' credentials live for in this matrix.
const LIFETIME: u64 = 3600;
const HOUR: i64 = 3600;

const STS_AUDIENCE: &str = "sts.amazonaws.com";
const GOOGLE_AUDIENCE: &str = "//iam.googleapis.com/projects/123456789012/locations/global/workloadIdentityPools/matrix/providers/oidc";
const SA: &str = "matrix@my-proj.iam.gserviceaccount.com";

const HTML_PAGE: &str = "<!DOCTYPE html>\n<html><head><title>502 Bad Gateway</title></head>\n<body><h1>Bad Gateway</h1><p>The proxy received an invalid response.</p></body></html>\n";
const WRONG_JSON: &str = r#"{"unexpected": true, "items": [1, 2, 3]}"#;
const WRONG_XML: &str =
    r#"<?xml version="1.0" encoding="UTF-8"?><Unexpected><Field>1</Field></Unexpected>"#;

fn at(secs: u64) -> SystemTime {
    UNIX_EPOCH + Duration::from_secs(secs)
}

/// A clock `offset` seconds away from the client's.
fn server_clock(offset: i64) -> ManualClock {
    ManualClock::new(at(T0.checked_add_signed(offset).unwrap()))
}

/// Records every wait between attempts and returns at once.
#[derive(Debug, Clone, Default)]
struct RecordingSleep(Arc<Mutex<Vec<Duration>>>);

impl RecordingSleep {
    fn take(&self) -> Vec<Duration> {
        std::mem::take(&mut *self.0.lock().unwrap())
    }
}

impl Sleep for RecordingSleep {
    fn sleep(&self, duration: Duration) -> SleepFuture {
        self.0.lock().unwrap().push(duration);
        Box::pin(std::future::ready(()))
    }
}

/// The client side: its clock, context and recorded waits.
struct Client {
    ctx: Context,
    sleeps: RecordingSleep,
}

impl Client {
    fn new() -> Self {
        let sleeps = RecordingSleep::default();
        let ctx = Context::builder()
            .clock(ManualClock::new(at(T0)))
            .env(StaticEnv::empty())
            .sleep(sleeps.clone())
            .build();
        Self { ctx, sleeps }
    }
}

/// Per-attempt timeout and retry policy of one call.
#[derive(Debug, Clone, Copy)]
struct Limits {
    attempt_timeout: Duration,
    retry: RetryPolicy,
}

impl Limits {
    fn matrix() -> Self {
        Self {
            attempt_timeout: ATTEMPT_TIMEOUT,
            retry: RetryPolicy::new(ATTEMPTS)
                .backoff(Duration::from_millis(10), Duration::from_secs(2))
                .deadline(DEADLINE),
        }
    }

    /// A longer deadline, for waits that are recorded rather than slept.
    fn patient() -> Self {
        let m = Self::matrix();
        Self {
            retry: m.retry.deadline(Duration::from_secs(5)),
            ..m
        }
    }
}

/// `url` with its `scheme://host:port` replaced by `base`, when given.
fn rebase(url: &str, base: Option<&str>) -> String {
    let Some(base) = base else {
        return url.to_string();
    };
    let parsed = url::Url::parse(url).unwrap();
    let origin = parsed.origin().ascii_serialization();
    format!("{base}{}", &url[origin.len()..])
}

/// `http://127.0.0.1:PORT` where nothing listens.
async fn refused_base() -> String {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    drop(listener);
    format!("http://{addr}")
}

/// One upstream, set up with healthy neighbours, and the step that calls it.
trait Upstream: Sized {
    /// The service its errors name.
    const SERVICE: Service;
    /// A phrase naming the step, present in every error that is not a plain HTTP answer.
    const STEP: &'static str;
    /// Whether the service sends a request id that errors must carry.
    const REQUEST_ID: bool = false;
    /// Whether an already-expired credential is retried (marked transient).
    const EXPIRED_IS_TRANSIENT: bool = false;
    /// Whether the expiry is relative (`expires_in`), so clock skew cannot affect it.
    const RELATIVE_EXPIRY: bool = false;
    /// A content type the service never sends for this answer.
    const WRONG_CONTENT_TYPE: &'static str = "text/html; charset=iso-8859-1";

    /// Starts the emulators, the upstream's clock `offset` seconds from the client's.
    fn start(offset: i64) -> impl Future<Output = Self>;
    /// Queues `fault` for the next `times` requests of the step under test.
    fn push(&self, fault: Fault, times: usize);
    /// How many requests the step under test has made.
    fn requests(&self) -> usize;
    /// Response body bytes the upstream's emulator has sent.
    fn body_bytes_sent(&self) -> u64;
    /// Runs the step (against `base` instead of the emulator, when given) and returns the
    /// expiry of what it got.
    fn call(
        &self,
        ctx: &Context,
        limits: Limits,
        base: Option<&str>,
    ) -> impl Future<Output = Result<SystemTime, Error>>;
    /// A valid answer whose credential has already expired, when the clock cannot produce
    /// one (relative expiry).
    fn expired_body() -> Option<String> {
        None
    }
}

// ---------------------------------------------------------------------------------------
// The upstreams
// ---------------------------------------------------------------------------------------

/// The GCE metadata server's identity endpoint (`GcpMetadataIdentityToken`).
struct GceMetadata {
    mds: GcpMetadataEmulator,
}

impl Upstream for GceMetadata {
    const SERVICE: Service = Service::GcpMetadata;
    const STEP: &'static str = "fetching the identity token";
    const EXPIRED_IS_TRANSIENT: bool = true;
    const WRONG_CONTENT_TYPE: &'static str = "application/json";

    async fn start(offset: i64) -> Self {
        let mds = GcpMetadataEmulator::builder()
            .clock(server_clock(offset))
            .start()
            .await
            .unwrap();
        Self { mds }
    }

    fn push(&self, fault: Fault, times: usize) {
        self.mds.push_fault_times(fault, times);
    }

    fn requests(&self) -> usize {
        self.mds.request_count()
    }

    fn body_bytes_sent(&self) -> u64 {
        self.mds.body_bytes_sent()
    }

    async fn call(
        &self,
        ctx: &Context,
        limits: Limits,
        base: Option<&str>,
    ) -> Result<SystemTime, Error> {
        let host = match base {
            Some(b) => b.trim_start_matches("http://").to_string(),
            None => self.mds.host(),
        };
        let token = GcpMetadataIdentityToken::new(STS_AUDIENCE)
            .metadata_host(host)
            .attempt_timeout(limits.attempt_timeout)
            .retry_policy(limits.retry)
            .subject_token(ctx)
            .await?;
        Ok(token.expires_at().expect("identity tokens carry exp"))
    }
}

/// AWS STS `AssumeRoleWithWebIdentity`.
struct AwsSts {
    clouds: Clouds,
    role_arn: String,
    token: String,
}

impl Upstream for AwsSts {
    const SERVICE: Service = Service::AwsSts;
    const STEP: &'static str = "AssumeRoleWithWebIdentity";
    const REQUEST_ID: bool = true;
    const WRONG_CONTENT_TYPE: &'static str = "application/json";

    async fn start(offset: i64) -> Self {
        let clouds = Clouds::start_with_clock(server_clock(offset))
            .await
            .unwrap();
        let token = clouds
            .gcp_metadata
            .issue_identity_token(STS_AUDIENCE, Duration::from_secs(LIFETIME));
        Self {
            role_arn: clouds.role_arn(),
            clouds,
            token,
        }
    }

    fn push(&self, fault: Fault, times: usize) {
        self.clouds.aws_sts.push_fault_times(fault, times);
    }

    fn requests(&self) -> usize {
        self.clouds.aws_sts.request_count()
    }

    fn body_bytes_sent(&self) -> u64 {
        self.clouds.aws_sts.body_bytes_sent()
    }

    async fn call(
        &self,
        ctx: &Context,
        limits: Limits,
        base: Option<&str>,
    ) -> Result<SystemTime, Error> {
        let creds = AssumeRoleWithWebIdentity::new(&self.role_arn)
            .session_name("matrix")
            .endpoint_url(rebase(&self.clouds.aws_sts.endpoint(), base))
            .attempt_timeout(limits.attempt_timeout)
            .retry_policy(limits.retry)
            .exchange(ctx, &SubjectToken::new(self.token.clone(), TokenType::Jwt))
            .await?;
        Ok(creds.expiration())
    }
}

/// The EC2 instance metadata service, IMDSv2; faults hit the role-credentials `GET` (the
/// session-token `PUT` and the role listing before it pass).
struct Imds {
    imds: Ec2MetadataEmulator,
}

impl Upstream for Imds {
    const SERVICE: Service = Service::AwsImds;
    const STEP: &'static str = "IMDS";

    async fn start(offset: i64) -> Self {
        let imds = Ec2MetadataEmulator::builder()
            .clock(server_clock(offset))
            .credentials_lifetime(Duration::from_secs(LIFETIME))
            .start()
            .await
            .unwrap();
        Self { imds }
    }

    fn push(&self, fault: Fault, times: usize) {
        self.imds.push_fault_times(Fault::Pass, 2);
        self.imds.push_fault_times(fault, times);
    }

    fn requests(&self) -> usize {
        self.imds
            .requests()
            .iter()
            .filter(|r| {
                r.path
                    .rsplit_once("security-credentials/")
                    .is_some_and(|(_, role)| !role.is_empty())
            })
            .count()
    }

    fn body_bytes_sent(&self) -> u64 {
        self.imds.body_bytes_sent()
    }

    async fn call(
        &self,
        ctx: &Context,
        limits: Limits,
        base: Option<&str>,
    ) -> Result<SystemTime, Error> {
        let imds = Ec2InstanceMetadata::builder()
            .region_url(rebase(&self.imds.availability_zone_url(), base))
            .credentials_url(rebase(&self.imds.credentials_url(), base))
            .session_token_url(rebase(&self.imds.token_url(), base))
            .attempt_timeout(limits.attempt_timeout)
            .retry_policy(limits.retry)
            .build()
            .unwrap();
        let creds = imds.credentials(ctx).await?;
        Ok(creds.expiry().expect("IMDS credentials expire"))
    }
}

/// The ECS/EKS container-credentials endpoint (`ContainerCredentials`, FULL_URI with an
/// authorization token, as EKS Pod Identity).
struct Container {
    endpoint: ContainerCredentialsEmulator,
}

impl Upstream for Container {
    const SERVICE: Service = Service::AwsContainerCredentials;
    const STEP: &'static str = "container credentials";

    async fn start(offset: i64) -> Self {
        let endpoint = ContainerCredentialsEmulator::builder()
            .clock(server_clock(offset))
            .credentials_lifetime(Duration::from_secs(LIFETIME))
            .authorization("matrix-token")
            .start()
            .await
            .unwrap();
        Self { endpoint }
    }

    fn push(&self, fault: Fault, times: usize) {
        self.endpoint.push_fault_times(fault, times);
    }

    fn requests(&self) -> usize {
        self.endpoint.request_count()
    }

    fn body_bytes_sent(&self) -> u64 {
        self.endpoint.body_bytes_sent()
    }

    async fn call(
        &self,
        ctx: &Context,
        limits: Limits,
        base: Option<&str>,
    ) -> Result<SystemTime, Error> {
        // The environment is the platform's: a context of its own over the client's clock
        // and sleeps.
        let ctx = ctx.with_env(StaticEnv::from_pairs([
            (
                "AWS_CONTAINER_CREDENTIALS_FULL_URI".to_string(),
                rebase(&self.endpoint.credentials_url(), base),
            ),
            (
                "AWS_CONTAINER_AUTHORIZATION_TOKEN".to_string(),
                "matrix-token".to_string(),
            ),
        ]));
        let creds = ContainerCredentials::new()
            .attempt_timeout(limits.attempt_timeout)
            .retry_policy(limits.retry)
            .credentials(&ctx)
            .await?;
        Ok(creds.expiry().expect("container credentials expire"))
    }
}

/// A JWT the Google STS emulator's OIDC provider accepts at its own clock.
fn oidc_subject_token(server_now: u64) -> String {
    GoogleIdentity::shared().sign(&json!({
        "iss": "https://issuer.example.com",
        "sub": "workload",
        "aud": GOOGLE_AUDIENCE,
        "iat": server_now,
        "exp": server_now + 600,
    }))
}

async fn google_sts(clock: ManualClock) -> GoogleStsEmulator {
    GoogleStsEmulator::builder()
        .clock(clock)
        .provider(ProviderSpec::oidc(GOOGLE_AUDIENCE).trust(GoogleIdentity::shared()))
        .start()
        .await
        .unwrap()
}

/// Google STS token exchange (RFC 8693).
struct GoogleSts {
    sts: GoogleStsEmulator,
    token: String,
}

impl Upstream for GoogleSts {
    const SERVICE: Service = Service::GoogleSts;
    const STEP: &'static str = "exchanging the subject token";
    const RELATIVE_EXPIRY: bool = true;

    async fn start(offset: i64) -> Self {
        let sts = google_sts(server_clock(offset)).await;
        let token = oidc_subject_token(T0.checked_add_signed(offset).unwrap());
        Self { sts, token }
    }

    fn push(&self, fault: Fault, times: usize) {
        self.sts.push_fault_times(fault, times);
    }

    fn requests(&self) -> usize {
        self.sts.request_count()
    }

    fn body_bytes_sent(&self) -> u64 {
        self.sts.body_bytes_sent()
    }

    async fn call(
        &self,
        ctx: &Context,
        limits: Limits,
        base: Option<&str>,
    ) -> Result<SystemTime, Error> {
        let token = GoogleStsExchange::new(GOOGLE_AUDIENCE)
            .token_url(rebase(&self.sts.token_url(), base))
            .attempt_timeout(limits.attempt_timeout)
            .retry_policy(limits.retry)
            .exchange(ctx, &SubjectToken::new(self.token.clone(), TokenType::Jwt))
            .await?;
        Ok(token.expires_at().expect("expires_in is sent"))
    }

    fn expired_body() -> Option<String> {
        Some(
            json!({
                "access_token": "ya29.already-expired",
                "issued_token_type": "urn:ietf:params:oauth:token-type:access_token",
                "token_type": "Bearer",
                "expires_in": 0
            })
            .to_string(),
        )
    }
}

/// IAM Credentials `generateAccessToken` (impersonation), with a federated token from a
/// healthy Google STS.
struct IamCredentials {
    iam: IamCredentialsEmulator,
    federated: AccessToken,
    _sts: GoogleStsEmulator,
}

impl Upstream for IamCredentials {
    const SERVICE: Service = Service::IamCredentials;
    const STEP: &'static str = "generateAccessToken";

    async fn start(offset: i64) -> Self {
        let clock = server_clock(offset);
        let sts = google_sts(clock.clone()).await;
        let iam = IamCredentialsEmulator::builder()
            .clock(clock.clone())
            .service_account(ServiceAccountSpec::new(SA, "111222333444555666777"))
            .start()
            .await
            .unwrap();
        iam.trust_sts(&sts);
        let server_ctx = Context::builder()
            .clock(clock)
            .env(StaticEnv::empty())
            .build();
        let subject = SubjectToken::new(
            oidc_subject_token(T0.checked_add_signed(offset).unwrap()),
            TokenType::Jwt,
        );
        let federated = GoogleStsExchange::new(GOOGLE_AUDIENCE)
            .token_url(sts.token_url())
            .exchange(&server_ctx, &subject)
            .await
            .unwrap();
        Self {
            iam,
            federated,
            _sts: sts,
        }
    }

    fn push(&self, fault: Fault, times: usize) {
        self.iam.push_fault_times(fault, times);
    }

    fn requests(&self) -> usize {
        self.iam.request_count()
    }

    fn body_bytes_sent(&self) -> u64 {
        self.iam.body_bytes_sent()
    }

    async fn call(
        &self,
        ctx: &Context,
        limits: Limits,
        base: Option<&str>,
    ) -> Result<SystemTime, Error> {
        let token =
            ServiceAccountImpersonation::new(rebase(&self.iam.generate_access_token_url(SA), base))
                .attempt_timeout(limits.attempt_timeout)
                .retry_policy(limits.retry)
                .exchange(ctx, &self.federated)
                .await?;
        Ok(token.expires_at().expect("expireTime is sent"))
    }
}

/// A URL-sourced subject token (`credential_source.url`), served by the metadata emulator's
/// identity endpoint.
struct UrlSource {
    mds: GcpMetadataEmulator,
}

impl Upstream for UrlSource {
    const SERVICE: Service = Service::UrlSource;
    const STEP: &'static str = "fetching the subject token";

    async fn start(offset: i64) -> Self {
        let mds = GcpMetadataEmulator::builder()
            .clock(server_clock(offset))
            .start()
            .await
            .unwrap();
        Self { mds }
    }

    fn push(&self, fault: Fault, times: usize) {
        self.mds.push_fault_times(fault, times);
    }

    fn requests(&self) -> usize {
        self.mds.request_count()
    }

    fn body_bytes_sent(&self) -> u64 {
        self.mds.body_bytes_sent()
    }

    async fn call(
        &self,
        ctx: &Context,
        limits: Limits,
        base: Option<&str>,
    ) -> Result<SystemTime, Error> {
        let url = format!(
            "http://{}/computeMetadata/v1/instance/service-accounts/default/identity?audience=matrix&format=standard",
            self.mds.host()
        );
        let token = UrlToken::new(rebase(&url, base))
            .header("Metadata-Flavor", "Google")
            .attempt_timeout(limits.attempt_timeout)
            .retry_policy(limits.retry)
            .subject_token(ctx)
            .await?;
        Ok(token.expires_at().expect("the JWT carries exp"))
    }
}

/// The GitHub Actions OIDC token endpoint (`GitHubActionsToken`).
struct GitHubActions {
    actions: GitHubActionsOidcEmulator,
}

impl Upstream for GitHubActions {
    const SERVICE: Service = Service::GitHubActions;
    const STEP: &'static str = "fetching the subject token";

    async fn start(offset: i64) -> Self {
        let actions = GitHubActionsOidcEmulator::builder()
            .clock(server_clock(offset))
            .token_lifetime(Duration::from_secs(LIFETIME))
            .start()
            .await
            .unwrap();
        Self { actions }
    }

    fn push(&self, fault: Fault, times: usize) {
        self.actions.push_fault_times(fault, times);
    }

    fn requests(&self) -> usize {
        self.actions.request_count()
    }

    fn body_bytes_sent(&self) -> u64 {
        self.actions.body_bytes_sent()
    }

    async fn call(
        &self,
        ctx: &Context,
        limits: Limits,
        base: Option<&str>,
    ) -> Result<SystemTime, Error> {
        let ctx = ctx.with_env(StaticEnv::from_pairs([
            (
                "ACTIONS_ID_TOKEN_REQUEST_URL".to_string(),
                rebase(&self.actions.request_url(), base),
            ),
            (
                "ACTIONS_ID_TOKEN_REQUEST_TOKEN".to_string(),
                self.actions.request_token(),
            ),
        ]));
        let token = GitHubActionsToken::new("matrix")
            .attempt_timeout(limits.attempt_timeout)
            .retry_policy(limits.retry)
            .subject_token(&ctx)
            .await?;
        Ok(token.expires_at().expect("the JWT carries exp"))
    }
}

/// AWS STS `GetWebIdentityToken` (`OutboundWebIdentityToken`), signed with environment keys.
struct OutboundSts {
    sts: AwsStsEmulator,
}

const OUTBOUND_KEY: &str = "ASIAMATRIXOUTBOUND01";
const OUTBOUND_SECRET: &str = "matrix/outbound/secret";

impl Upstream for OutboundSts {
    const SERVICE: Service = Service::AwsSts;
    const STEP: &'static str = "GetWebIdentityToken";
    const REQUEST_ID: bool = true;
    const EXPIRED_IS_TRANSIENT: bool = true;

    async fn start(offset: i64) -> Self {
        let sts = AwsStsEmulator::builder()
            .clock(server_clock(offset))
            .outbound_web_identity_federation(true)
            // The matrix skews the server's clock by hours on purpose.
            .max_clock_skew(Duration::from_secs(4 * 3600))
            .start()
            .await
            .unwrap();
        sts.allow_caller(CallerCredentials::role_session(
            OUTBOUND_KEY,
            OUTBOUND_SECRET,
            "matrix-session",
            "arn:aws:iam::123456789012:role/matrix",
            at(T0 + 100 * 3600),
        ));
        Self { sts }
    }

    fn push(&self, fault: Fault, times: usize) {
        self.sts.push_fault_times(fault, times);
    }

    fn requests(&self) -> usize {
        self.sts.request_count()
    }

    fn body_bytes_sent(&self) -> u64 {
        self.sts.body_bytes_sent()
    }

    async fn call(
        &self,
        ctx: &Context,
        limits: Limits,
        base: Option<&str>,
    ) -> Result<SystemTime, Error> {
        let ctx = ctx.with_env(StaticEnv::from_pairs([
            ("AWS_ACCESS_KEY_ID", OUTBOUND_KEY),
            ("AWS_SECRET_ACCESS_KEY", OUTBOUND_SECRET),
            ("AWS_SESSION_TOKEN", "matrix-session"),
        ]));
        let token = OutboundWebIdentityToken::new(AwsEnvironment::new(), "matrix")
            .region("us-east-1")
            .endpoint_url(rebase(&self.sts.endpoint(), base))
            .duration(Duration::from_secs(LIFETIME))
            .attempt_timeout(limits.attempt_timeout)
            .retry_policy(limits.retry)
            .subject_token(&ctx)
            .await?;
        Ok(token.expires_at().expect("the token expires"))
    }
}

/// The Microsoft Entra ID token endpoint (`EntraTokenExchange`), with an assertion its
/// application trusts.
struct Entra {
    entra: EntraEmulator,
    assertion: String,
}

const ENTRA_CLIENT: &str = "0000c11d-0000-4000-8000-000000000001";

impl Upstream for Entra {
    const SERVICE: Service = Service::Entra;
    const STEP: &'static str = "Entra token request";
    const RELATIVE_EXPIRY: bool = true;

    async fn start(offset: i64) -> Self {
        let server_now = T0.checked_add_signed(offset).unwrap();
        let entra = EntraEmulator::builder()
            .clock(server_clock(offset))
            .token_lifetime(Duration::from_secs(LIFETIME - 1))
            .trust_issuer("https://issuer.example.com", GoogleIdentity::shared())
            .application(EntraApplication::new(ENTRA_CLIENT).federated_credential(
                FederatedCredential::new("https://issuer.example.com", "workload"),
            ))
            .start()
            .await
            .unwrap();
        let assertion = GoogleIdentity::shared().sign(&json!({
            "iss": "https://issuer.example.com",
            "sub": "workload",
            "aud": "api://AzureADTokenExchange",
            "iat": server_now,
            "exp": server_now + 600,
        }));
        Self { entra, assertion }
    }

    fn push(&self, fault: Fault, times: usize) {
        self.entra.push_fault_times(fault, times);
    }

    fn requests(&self) -> usize {
        self.entra.request_count()
    }

    fn body_bytes_sent(&self) -> u64 {
        self.entra.body_bytes_sent()
    }

    async fn call(
        &self,
        ctx: &Context,
        limits: Limits,
        base: Option<&str>,
    ) -> Result<SystemTime, Error> {
        let token = EntraTokenExchange::new(self.entra.tenant_id(), ENTRA_CLIENT)
            .scope("https://storage.azure.com/.default")
            .authority_host(rebase(&self.entra.authority_host(), base))
            .attempt_timeout(limits.attempt_timeout)
            .retry_policy(limits.retry)
            .exchange(
                ctx,
                &SubjectToken::new(self.assertion.clone(), TokenType::Jwt),
            )
            .await?;
        Ok(token.expires_at().expect("expires_in is sent"))
    }

    fn expired_body() -> Option<String> {
        Some(
            json!({"token_type": "Bearer", "expires_in": 0, "ext_expires_in": 0, "access_token": "eyJ0.already-expired"})
                .to_string(),
        )
    }
}

/// The Azure instance metadata service's managed identity endpoint
/// (`AzureManagedIdentityToken`).
struct AzureImds {
    azure: AzureManagedIdentityEmulator,
}

impl Upstream for AzureImds {
    const SERVICE: Service = Service::AzureManagedIdentity;
    const STEP: &'static str = "managed identity token";
    const EXPIRED_IS_TRANSIENT: bool = true;

    async fn start(offset: i64) -> Self {
        let azure = AzureManagedIdentityEmulator::builder()
            .clock(server_clock(offset))
            .token_lifetime(Duration::from_secs(LIFETIME))
            .start()
            .await
            .unwrap();
        Self { azure }
    }

    fn push(&self, fault: Fault, times: usize) {
        self.azure.push_fault_times(fault, times);
    }

    fn requests(&self) -> usize {
        self.azure.request_count()
    }

    fn body_bytes_sent(&self) -> u64 {
        self.azure.body_bytes_sent()
    }

    async fn call(
        &self,
        ctx: &Context,
        limits: Limits,
        base: Option<&str>,
    ) -> Result<SystemTime, Error> {
        let ctx = ctx.with_env(StaticEnv::from_pairs([(
            "AZURE_POD_IDENTITY_AUTHORITY_HOST".to_string(),
            rebase(&self.azure.imds_endpoint(), base),
        )]));
        let token = AzureManagedIdentityToken::new("api://matrix")
            .attempt_timeout(limits.attempt_timeout)
            .retry_policy(limits.retry)
            .subject_token(&ctx)
            .await?;
        Ok(token.expires_at().expect("the token expires"))
    }
}

// ---------------------------------------------------------------------------------------
// The cases
// ---------------------------------------------------------------------------------------

/// Runs the step once with `limits`, checking the deadline.
async fn timed<U: Upstream>(
    u: &U,
    client: &Client,
    limits: Limits,
    base: Option<&str>,
) -> Result<SystemTime, Error> {
    let started = std::time::Instant::now();
    let result = u.call(&client.ctx, limits, base).await;
    let elapsed = started.elapsed();
    let bound = limits.retry.deadline_duration() + MARGIN;
    assert!(
        elapsed <= bound,
        "{:?} took {elapsed:?}, over the {bound:?} bound: {result:?}",
        U::SERVICE
    );
    result
}

/// The checks every error must pass.
fn check_error<U: Upstream>(err: &Error) {
    assert_eq!(err.service(), U::SERVICE, "{err}");
    let shown = err.to_string();
    assert!(shown.starts_with(U::SERVICE.name()), "{shown}");
    assert!(!err.message().is_empty());
    if U::REQUEST_ID && err.http_status().is_some() {
        assert!(err.request_id().is_some(), "no request id: {err}");
    }
    if matches!(err.kind(), ErrorKind::Transport) {
        assert!(shown.contains(U::STEP), "the step is not named: {shown}");
    }
}

/// A transient fault: with it on every attempt the call fails after exactly [`ATTEMPTS`]
/// attempts with a typed, transient error; with it once the call succeeds on the retry.
async fn transient<U: Upstream>(fault: Fault, expect: impl Fn(&Error)) {
    let u = U::start(0).await;
    let client = Client::new();

    u.push(fault.clone(), ATTEMPTS as usize);
    let err = timed(&u, &client, Limits::matrix(), None)
        .await
        .expect_err("fails while the fault lasts");
    check_error::<U>(&err);
    assert!(err.is_transient(), "{err}");
    expect(&err);
    assert!(
        u.requests() <= ATTEMPTS as usize && u.requests() >= 2,
        "{} attempts",
        u.requests()
    );
    assert_eq!(
        client.sleeps.take().len(),
        u.requests() - 1,
        "one wait per retry"
    );

    let before = u.requests();
    u.push(fault, 1);
    let expiry = timed(&u, &client, Limits::matrix(), None)
        .await
        .expect("recovers once the fault clears");
    assert!(expiry > at(T0));
    assert_eq!(u.requests() - before, 2, "one failed attempt, one retry");
}

/// A permanent fault: one attempt, a typed error that is not transient; the next call (fault
/// gone) succeeds.
async fn permanent<U: Upstream>(fault: Fault, kind: ErrorKind, expect: impl Fn(&Error)) {
    let u = U::start(0).await;
    let client = Client::new();
    u.push(fault, 1);
    let err = timed(&u, &client, Limits::matrix(), None)
        .await
        .expect_err("the fault is reported");
    check_error::<U>(&err);
    assert_eq!(err.kind(), kind, "{err}");
    assert!(!err.is_transient(), "{err}");
    expect(&err);
    assert_eq!(u.requests(), 1, "not retried");
    assert!(client.sleeps.take().is_empty());
    timed(&u, &client, Limits::matrix(), None)
        .await
        .expect("the next call is served");
}

fn status(code: u16) -> impl Fn(&Error) {
    move |err: &Error| {
        assert_eq!(err.kind(), ErrorKind::Upstream, "{err}");
        assert_eq!(err.http_status(), Some(code), "{err}");
    }
}

fn transport(err: &Error) {
    assert_eq!(err.kind(), ErrorKind::Transport, "{err}");
}

async fn status_500<U: Upstream>() {
    transient::<U>(Fault::status(500), status(500)).await;
}

async fn status_503<U: Upstream>() {
    transient::<U>(
        Fault::status_with_body(503, "Service Unavailable"),
        status(503),
    )
    .await;
}

/// 429 with `Retry-After: 1`: the wait honours it; one asking for longer than the deadline
/// leaves ends the call at once, reporting the delay.
async fn status_429_retry_after<U: Upstream>() {
    let u = U::start(0).await;
    let client = Client::new();
    u.push(Fault::too_many_requests(Duration::from_secs(1)), 1);
    timed(&u, &client, Limits::patient(), None)
        .await
        .expect("retried after the requested delay");
    assert_eq!(u.requests(), 2);
    let waits = client.sleeps.take();
    assert_eq!(waits.len(), 1);
    assert!(waits[0] >= Duration::from_secs(1), "waited {waits:?}");

    u.push(Fault::too_many_requests(Duration::from_secs(60)), 1);
    let err = timed(&u, &client, Limits::patient(), None)
        .await
        .expect_err("a minute does not fit in the deadline");
    check_error::<U>(&err);
    assert_eq!(err.http_status(), Some(429));
    assert!(err.is_transient());
    assert_eq!(err.retry_after(), Some(Duration::from_secs(60)));
    assert_eq!(u.requests(), 3, "not retried");
    assert!(client.sleeps.take().is_empty(), "did not wait");
}

async fn status_429<U: Upstream>() {
    transient::<U>(Fault::status(429), |err| {
        status(429)(err);
        assert_eq!(err.retry_after(), None);
    })
    .await;
}

/// Nothing listens: retried (transient), then a transport error.
async fn connection_refused<U: Upstream>() {
    let u = U::start(0).await;
    let client = Client::new();
    let base = refused_base().await;
    let err = timed(&u, &client, Limits::matrix(), Some(&base))
        .await
        .expect_err("nothing listens");
    check_error::<U>(&err);
    transport(&err);
    assert!(err.is_transient());
    assert_eq!(client.sleeps.take().len(), ATTEMPTS as usize - 1);
    assert_eq!(u.requests(), 0);
}

async fn reset_mid_body<U: Upstream>() {
    transient::<U>(Fault::ResetMidBody, transport).await;
}

async fn truncated_body<U: Upstream>() {
    transient::<U>(Fault::Truncated, transport).await;
}

/// Accepts and never answers: each attempt times out, the deadline ends the call.
async fn hang<U: Upstream>() {
    transient::<U>(Fault::Hang, |err| {
        transport(err);
        let text = err.to_string();
        assert!(
            text.contains("timed out") || text.contains("deadline"),
            "{text}"
        );
    })
    .await;
}

/// One byte per second: the attempt timeout covers the body too.
async fn drip<U: Upstream>() {
    transient::<U>(Fault::drip(Duration::from_secs(1)), transport).await;
}

async fn garbage_html<U: Upstream>() {
    permanent::<U>(
        Fault::Body(HTML_PAGE.into()),
        ErrorKind::InvalidResponse,
        |_| {},
    )
    .await;
}

async fn wrong_json<U: Upstream>() {
    permanent::<U>(
        Fault::Body(WRONG_JSON.into()),
        ErrorKind::InvalidResponse,
        |_| {},
    )
    .await;
}

async fn wrong_xml<U: Upstream>() {
    permanent::<U>(
        Fault::Body(WRONG_XML.into()),
        ErrorKind::InvalidResponse,
        |_| {},
    )
    .await;
}

/// A redirect to another host is reported, never followed (an SSRF guard).
async fn redirect_to_other_host<U: Upstream>() {
    let trap = GcpMetadataEmulator::start().await.unwrap();
    let elsewhere = format!("http://localhost:{}/steal", trap.local_addr().port());
    permanent::<U>(
        Fault::Redirect(elsewhere),
        ErrorKind::InvalidResponse,
        |err| {
            assert_eq!(err.http_status(), Some(302));
            assert!(err.to_string().contains("never followed"), "{err}");
        },
    )
    .await;
    assert_eq!(trap.request_count(), 0, "the redirect was followed");
}

/// 100 MB announced and streamed: cut at the 1 MiB cap, never buffered.
async fn huge_body<U: Upstream>() {
    let u = U::start(0).await;
    let client = Client::new();
    u.push(Fault::huge_body(100 * 1024 * 1024), 1);
    let err = timed(&u, &client, Limits::matrix(), None)
        .await
        .expect_err("over the cap");
    check_error::<U>(&err);
    assert_eq!(err.kind(), ErrorKind::InvalidResponse, "{err}");
    assert!(err.to_string().contains("limit"), "{err}");
    assert!(!err.is_transient());
    assert_eq!(u.requests(), 1);
    // The client stopped reading just past 1 MiB; socket buffers hold a few MiB more.
    let sent = u.body_bytes_sent();
    assert!(sent < 16 * 1024 * 1024, "{sent} bytes pulled");
}

/// The usual body under another `Content-Type`: tolerated (the body is what counts).
async fn wrong_content_type<U: Upstream>() {
    let u = U::start(0).await;
    let client = Client::new();
    u.push(Fault::content_type(U::WRONG_CONTENT_TYPE), 1);
    let expiry = timed(&u, &client, Limits::matrix(), None)
        .await
        .expect("content type is not consulted");
    let lifetime = if U::RELATIVE_EXPIRY {
        LIFETIME - 1
    } else {
        LIFETIME
    };
    assert_eq!(expiry, at(T0 + lifetime));
    assert_eq!(u.requests(), 1);
}

/// A well-formed answer holding a credential that expired an hour ago.
async fn expired_credential<U: Upstream>() {
    let client = Client::new();
    let (u, kind) = match U::expired_body() {
        Some(body) => {
            let u = U::start(0).await;
            u.push(Fault::Body(body), ATTEMPTS as usize);
            (u, ErrorKind::InvalidResponse)
        }
        None => (U::start(-2 * HOUR).await, ErrorKind::Expired),
    };
    let err = timed(&u, &client, Limits::matrix(), None)
        .await
        .expect_err("never accepted");
    check_error::<U>(&err);
    assert_eq!(err.kind(), kind, "{err}");
    if kind == ErrorKind::Expired {
        assert!(
            err.to_string().contains("clock"),
            "says what to check: {err}"
        );
    }
    let attempts = if U::EXPIRED_IS_TRANSIENT { ATTEMPTS } else { 1 };
    assert_eq!(u.requests(), attempts as usize, "{err}");
}

/// The upstream's clock an hour ahead: the credential looks good for two hours (for the
/// relative `expires_in`, one).
async fn clock_skew_ahead<U: Upstream>() {
    let u = U::start(HOUR).await;
    let client = Client::new();
    let expiry = timed(&u, &client, Limits::matrix(), None)
        .await
        .expect("accepted");
    let expected = if U::RELATIVE_EXPIRY {
        T0 + LIFETIME - 1
    } else {
        T0 + 2 * LIFETIME
    };
    assert_eq!(expiry, at(expected));
}

/// The upstream's clock an hour behind: a one-hour credential is already expired here, and
/// reported as such (for the relative `expires_in`, unaffected).
async fn clock_skew_behind<U: Upstream>() {
    let u = U::start(-HOUR).await;
    let client = Client::new();
    let result = timed(&u, &client, Limits::matrix(), None).await;
    if U::RELATIVE_EXPIRY {
        assert_eq!(result.expect("skew-immune"), at(T0 + LIFETIME - 1));
    } else {
        let err = result.expect_err("expires on arrival");
        check_error::<U>(&err);
        assert_eq!(err.kind(), ErrorKind::Expired, "{err}");
        assert!(err.to_string().contains("clock"), "{err}");
    }
}

macro_rules! matrix {
    ($($module:ident => $upstream:ty),* $(,)?) => {$(
        mod $module {
            use super::*;
            type U = $upstream;

            #[tokio::test] async fn status_500() { super::status_500::<U>().await }
            #[tokio::test] async fn status_503() { super::status_503::<U>().await }
            #[tokio::test] async fn status_429_retry_after() { super::status_429_retry_after::<U>().await }
            #[tokio::test] async fn status_429() { super::status_429::<U>().await }
            #[tokio::test] async fn connection_refused() { super::connection_refused::<U>().await }
            #[tokio::test] async fn reset_mid_body() { super::reset_mid_body::<U>().await }
            #[tokio::test] async fn hang() { super::hang::<U>().await }
            #[tokio::test] async fn drip() { super::drip::<U>().await }
            #[tokio::test] async fn truncated_body() { super::truncated_body::<U>().await }
            #[tokio::test] async fn garbage_html() { super::garbage_html::<U>().await }
            #[tokio::test] async fn wrong_json() { super::wrong_json::<U>().await }
            #[tokio::test] async fn wrong_xml() { super::wrong_xml::<U>().await }
            #[tokio::test] async fn redirect_to_other_host() { super::redirect_to_other_host::<U>().await }
            #[tokio::test] async fn huge_body() { super::huge_body::<U>().await }
            #[tokio::test] async fn wrong_content_type() { super::wrong_content_type::<U>().await }
            #[tokio::test] async fn expired_credential() { super::expired_credential::<U>().await }
            #[tokio::test] async fn clock_skew_ahead() { super::clock_skew_ahead::<U>().await }
            #[tokio::test] async fn clock_skew_behind() { super::clock_skew_behind::<U>().await }
        }
    )*};
}

matrix! {
    gce_metadata => GceMetadata,
    aws_sts => AwsSts,
    imds => Imds,
    container_credentials => Container,
    google_sts => GoogleSts,
    iam_credentials => IamCredentials,
    url_source => UrlSource,
    github_actions => GitHubActions,
    azure_managed_identity => AzureImds,
    aws_outbound_token => OutboundSts,
    entra => Entra,
}

// ---------------------------------------------------------------------------------------
// Outages with a credential cached
// ---------------------------------------------------------------------------------------

mod outage {
    //! Each upstream fails (persistent 503) after the providers cached a credential: callers
    //! get the cached credential through the refresh window, right up to its expiry minus the
    //! cache's 15 s buffer, then a typed error naming the failing upstream (never the expired
    //! credential); once the upstream recovers, a fresh credential.

    use super::*;
    use federated_credentials::aws::WebIdentityProvider;
    use federated_credentials::config::ExternalAccountConfig;
    use federated_credentials::google::ExternalAccountCredentials;

    const BUFFER: Duration = Duration::from_secs(15);

    fn ctx(clock: &ManualClock) -> Context {
        Context::builder()
            .clock(clock.clone())
            .env(StaticEnv::empty())
            .sleep(RecordingSleep::default())
            .build()
    }

    async fn served_through_outage<Fut>(
        clock: &ManualClock,
        expiry: SystemTime,
        get: impl Fn() -> Fut,
        outage: impl Fn(bool),
        service: Service,
    ) where
        Fut: Future<Output = Result<(String, SystemTime), Error>>,
    {
        let (first, expires) = get().await.expect("healthy");
        assert_eq!(expires, expiry);
        outage(true);
        for before in [250, 60, BUFFER.as_secs() + 1] {
            clock.set(expiry - Duration::from_secs(before));
            let (served, _) = get()
                .await
                .expect("served from the cache through the outage");
            assert_eq!(served, first, "{before} s before expiry");
        }
        for at in [expiry - BUFFER, expiry, expiry + Duration::from_secs(60)] {
            clock.set(at);
            let err = get().await.expect_err("never served past its expiry");
            assert_eq!(err.service(), service, "{err}");
            assert_eq!(err.http_status(), Some(503), "{err}");
            assert!(err.is_transient(), "{err}");
        }
        outage(false);
        let (fresh, expires) = get().await.expect("recovers with the upstream");
        assert_ne!(fresh, first);
        assert!(expires > clock_now(clock));
    }

    fn clock_now(clock: &ManualClock) -> SystemTime {
        use federated_credentials::context::Clock;
        clock.now()
    }

    /// GCP → AWS: the metadata server's token traded at AWS STS.
    async fn gcp_to_aws(fail_metadata: bool) {
        let clock = ManualClock::new(at(T0));
        let clouds = Clouds::start_with_clock(clock.clone()).await.unwrap();
        let (mds, sts, role_arn) = (&clouds.gcp_metadata, &clouds.aws_sts, clouds.role_arn());
        let limits = Limits::matrix();
        let provider = WebIdentityProvider::builder()
            .context(ctx(&clock))
            .token_source(
                GcpMetadataIdentityToken::new(STS_AUDIENCE)
                    .metadata_host(mds.host())
                    .attempt_timeout(limits.attempt_timeout)
                    .retry_policy(limits.retry),
            )
            .role_arn(&role_arn)
            .configure_sts(|s| s.session_name("outage"))
            .configure_sts(|s| s.endpoint_url(sts.endpoint()))
            .configure_sts(|s| s.retry_policy(limits.retry))
            .build()
            .unwrap();
        let get = || {
            let provider = provider.clone();
            async move {
                let c = provider.credentials().await?;
                Ok((c.access_key_id().to_string(), c.expiration()))
            }
        };
        let outage = |on: bool| {
            let push = |f: &dyn Fn(Fault, usize), clear: &dyn Fn()| {
                if on {
                    f(Fault::status(503), 100_000)
                } else {
                    clear()
                }
            };
            if fail_metadata {
                push(&|f, n| mds.push_fault_times(f, n), &|| mds.clear_faults());
            } else {
                push(&|f, n| sts.push_fault_times(f, n), &|| sts.clear_faults());
            }
        };
        let service = if fail_metadata {
            Service::GcpMetadata
        } else {
            Service::AwsSts
        };
        served_through_outage(&clock, at(T0 + LIFETIME), get, outage, service).await;
    }

    #[tokio::test]
    async fn gce_metadata() {
        gcp_to_aws(true).await;
    }

    #[tokio::test]
    async fn aws_sts() {
        gcp_to_aws(false).await;
    }

    #[derive(Clone, Copy)]
    enum Failing {
        Imds,
        GoogleSts,
        Iam,
    }

    /// AWS → GCP: IMDSv2 role credentials signed into the subject token, Google STS, then
    /// impersonation. For the IMDS outage the role credentials live as long as the Google
    /// token, so its refresh needs IMDS; otherwise they live six hours, as on EC2.
    async fn aws_to_gcp(failing: Failing) {
        let clock = ManualClock::new(at(T0));
        let imds_lifetime = match failing {
            Failing::Imds => LIFETIME,
            _ => 6 * LIFETIME,
        };
        let clouds = Clouds::builder()
            .clock(clock.clone())
            .imds(move |imds| imds.credentials_lifetime(Duration::from_secs(imds_lifetime)))
            .iam(|iam| iam.service_account(ServiceAccountSpec::new(SA, "111222333444555666777")))
            .start()
            .await
            .unwrap();
        let (imds, sts, iam) = (&clouds.imds, &clouds.google_sts, &clouds.iam);
        let aws_audience = AWS_PROVIDER_AUDIENCE;
        let trust = |c: federated_credentials_testkit::ImdsCredentials| {
            sts.trust_aws_session_key(
                c.access_key_id,
                c.secret_access_key,
                c.session_token,
                c.account_id,
            )
        };
        trust(imds.credentials());
        let config = json!({
            "type": "external_account",
            "audience": aws_audience,
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
        let creds = ExternalAccountCredentials::builder()
            .context(ctx(&clock))
            .config(ExternalAccountConfig::from_json(&config.to_string()).unwrap())
            .build()
            .unwrap();
        let get = || {
            let creds = creds.clone();
            async move {
                let t = creds.access_token().await?;
                Ok((
                    t.token().expose_secret().to_string(),
                    t.expires_at().unwrap(),
                ))
            }
        };
        let outage = |on: bool| {
            let fault = || Fault::status(503);
            match (failing, on) {
                (Failing::Imds, true) => imds.push_fault_times(fault(), 100_000),
                (Failing::Imds, false) => {
                    imds.clear_faults();
                    // EC2 has rotated the role credentials meanwhile.
                    trust(imds.rotate_credentials());
                }
                (Failing::GoogleSts, true) => sts.push_fault_times(fault(), 100_000),
                (Failing::GoogleSts, false) => sts.clear_faults(),
                (Failing::Iam, true) => iam.push_fault_times(fault(), 100_000),
                (Failing::Iam, false) => iam.clear_faults(),
            }
        };
        let service = match failing {
            Failing::Imds => Service::AwsImds,
            Failing::GoogleSts => Service::GoogleSts,
            Failing::Iam => Service::IamCredentials,
        };
        served_through_outage(&clock, at(T0 + LIFETIME), get, outage, service).await;
    }

    #[tokio::test]
    async fn imds() {
        aws_to_gcp(Failing::Imds).await;
    }

    #[tokio::test]
    async fn google_sts() {
        aws_to_gcp(Failing::GoogleSts).await;
    }

    #[tokio::test]
    async fn iam_credentials() {
        aws_to_gcp(Failing::Iam).await;
    }

    /// `credential_source.url` (the metadata emulator's identity URL) traded at Google STS.
    #[tokio::test]
    async fn url_source() {
        let clock = ManualClock::new(at(T0));
        let mds = GcpMetadataEmulator::builder()
            .clock(clock.clone())
            .start()
            .await
            .unwrap();
        let sts = super::google_sts(clock.clone()).await;
        let config = json!({
            "type": "external_account",
            "audience": GOOGLE_AUDIENCE,
            "subject_token_type": "urn:ietf:params:oauth:token-type:jwt",
            "token_url": sts.token_url(),
            "credential_source": {
                "url": format!("http://{}/computeMetadata/v1/instance/service-accounts/default/identity?audience=outage", mds.host()),
                "headers": {"Metadata-Flavor": "Google"}
            }
        });
        let creds = ExternalAccountCredentials::builder()
            .context(ctx(&clock))
            .config(ExternalAccountConfig::from_json(&config.to_string()).unwrap())
            .build()
            .unwrap();
        let get = || {
            let creds = creds.clone();
            async move {
                let t = creds.access_token().await?;
                Ok((
                    t.token().expose_secret().to_string(),
                    t.expires_at().unwrap(),
                ))
            }
        };
        let outage = |on: bool| {
            if on {
                mds.push_fault_times(Fault::status(503), 100_000);
            } else {
                mds.clear_faults();
            }
        };
        served_through_outage(
            &clock,
            at(T0 + LIFETIME - 1),
            get,
            outage,
            Service::UrlSource,
        )
        .await;
    }
}
