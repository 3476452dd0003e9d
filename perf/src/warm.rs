//! Item 1: warm read latency with criterion: one task, and 2/8/64 concurrent tasks.

use std::future::Future;
use std::path::Path;
use std::sync::Arc;
use std::time::{Duration, Instant};

use aws_credential_types::provider::SharedCredentialsProvider;
use aws_smithy_async::rt::sleep::{SharedAsyncSleep, TokioSleep};
use aws_smithy_async::time::SharedTimeSource;
use aws_smithy_runtime::client::identity::IdentityCache;
use aws_smithy_runtime_api::client::identity::SharedIdentityCache;
use aws_smithy_runtime_api::client::identity::{ResolveCachedIdentity, SharedIdentityResolver};
use aws_smithy_runtime_api::client::runtime_components::{
    RuntimeComponents, RuntimeComponentsBuilder,
};
use aws_smithy_types::config_bag::ConfigBag;
use criterion::Criterion;
use federated_credentials::aws::WebIdentityProvider;
use federated_credentials::google::ExternalAccountCredentials;
use gcp_auth::TokenProvider;

use crate::world::{AwsToGcp, GcpToAws};
use crate::{Row, ns, peers};

pub const TASKS: [usize; 4] = [1, 2, 8, 64];

/// One library's warm read. Each task clones the reader once and then calls `read` in a
/// loop, so the harness adds no per-read reference counting of its own.
pub trait WarmRead: Clone + Send + Sync + 'static {
    fn read(&self) -> impl Future<Output = ()> + Send;
}

/// Runs `iters` reads split over `tasks` tasks; the time per read (wall time over all
/// reads, so with more tasks than cores it is the inverse of throughput).
async fn per_read<R: WarmRead>(reader: R, tasks: usize, iters: u64) -> Duration {
    let per_task = iters.div_ceil(tasks as u64).max(1);
    let start = Instant::now();
    let handles: Vec<_> = (0..tasks)
        .map(|_| {
            let reader = reader.clone();
            tokio::spawn(async move {
                for _ in 0..per_task {
                    reader.read().await;
                }
            })
        })
        .collect();
    for h in handles {
        h.await.unwrap();
    }
    start
        .elapsed()
        .mul_f64(iters as f64 / (per_task * tasks as u64) as f64)
}

fn bench<R: WarmRead>(c: &mut Criterion, rt: &tokio::runtime::Runtime, name: &str, reader: R) {
    let mut group = c.benchmark_group(name.to_string());
    for tasks in TASKS {
        let reader = reader.clone();
        group.bench_function(tasks.to_string(), move |b| {
            let reader = reader.clone();
            b.to_async(rt)
                .iter_custom(move |iters| per_read(reader.clone(), tasks, iters))
        });
    }
    group.finish();
}

#[derive(Clone)]
struct OursAws(WebIdentityProvider);
impl WarmRead for OursAws {
    async fn read(&self) {
        std::hint::black_box(self.0.credentials().await.unwrap());
    }
}

#[derive(Clone)]
struct OursGoogleAccessToken(ExternalAccountCredentials);
impl WarmRead for OursGoogleAccessToken {
    async fn read(&self) {
        std::hint::black_box(self.0.access_token().await.unwrap());
    }
}

#[derive(Clone)]
struct OursGoogleHeaders(ExternalAccountCredentials);
impl WarmRead for OursGoogleHeaders {
    async fn read(&self) {
        std::hint::black_box(self.0.headers().await.unwrap());
    }
}

#[derive(Clone)]
struct GoogleCloudAuthHeaders(google_cloud_auth::credentials::Credentials);
impl WarmRead for GoogleCloudAuthHeaders {
    async fn read(&self) {
        std::hint::black_box(self.0.headers(http::Extensions::new()).await.unwrap());
    }
}

#[derive(Clone)]
struct AwsSdkIdentityCache {
    cache: SharedIdentityCache,
    resolver: SharedIdentityResolver,
    components: Arc<RuntimeComponents>,
    bag: Arc<ConfigBag>,
}
impl WarmRead for AwsSdkIdentityCache {
    async fn read(&self) {
        // the resolver by value is the SDK's API; an SDK client clones it the same way
        std::hint::black_box(
            self.cache
                .resolve_cached_identity(self.resolver.clone(), &self.components, &self.bag)
                .await
                .unwrap(),
        );
    }
}

#[derive(Clone)]
struct GcpAuthToken(Arc<gcp_auth::CustomServiceAccount>);
impl WarmRead for GcpAuthToken {
    async fn read(&self) {
        std::hint::black_box(self.0.token(&[peers::SCOPE]).await.unwrap());
    }
}

fn estimate(dir: &Path, name: &str, tasks: usize) -> f64 {
    let path = dir
        .join(name)
        .join(tasks.to_string())
        .join("new/estimates.json");
    let v: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(&path).unwrap_or_default())
            .unwrap_or_default();
    v["median"]["point_estimate"].as_f64().unwrap_or(f64::NAN)
}

pub fn run(rt: &tokio::runtime::Runtime) -> Vec<Row> {
    let quick = std::env::var_os("PERF_QUICK").is_some();
    let out = tempfile::tempdir().unwrap();
    let mut c = Criterion::default()
        .output_directory(out.path())
        .without_plots()
        .warm_up_time(Duration::from_millis(if quick { 300 } else { 1000 }))
        .measurement_time(Duration::from_millis(if quick { 700 } else { 3000 }))
        .sample_size(if quick { 10 } else { 30 });

    // ours, both directions, warmed against the emulators
    let g2a = rt.block_on(GcpToAws::start());
    // (on the system clock, as in production: a clock read is part of every warm read)
    let aws = rt
        .block_on(g2a.builder_with_clock(None).build_and_prefetch())
        .unwrap();
    let a2g = rt.block_on(AwsToGcp::start(Duration::ZERO));
    let google = rt.block_on(async {
        let g = a2g.ours(None);
        g.cache().prefetch().await.unwrap();
        g
    });
    // google-cloud-auth with the same external_account configuration, warmed
    let gca = rt.block_on(async {
        let c = a2g.theirs();
        c.headers(http::Extensions::new()).await.unwrap();
        c
    });
    // the AWS SDK's identity cache (aws-smithy-runtime lazy cache) in front of our provider,
    // as an AWS SDK client uses it
    let sdk_cache = IdentityCache::lazy().build();
    let resolver = SharedIdentityResolver::new(SharedCredentialsProvider::new(aws.clone()));
    let components = Arc::new(
        RuntimeComponentsBuilder::for_tests()
            .with_time_source(Some(SharedTimeSource::default()))
            .with_sleep_impl(Some(SharedAsyncSleep::new(TokioSleep::new())))
            .build()
            .unwrap(),
    );
    let bag = Arc::new(ConfigBag::base());
    rt.block_on(async {
        sdk_cache
            .resolve_cached_identity(resolver.clone(), &components, &bag)
            .await
    })
    .unwrap();
    // gcp_auth: a service account key whose token_uri is a loopback token endpoint
    let (gcp_auth_provider, _server) = rt.block_on(peers::gcp_auth_provider());
    let gcp_auth_provider = Arc::new(gcp_auth_provider);
    rt.block_on(gcp_auth_provider.token(&[peers::SCOPE]))
        .unwrap();

    bench(&mut c, rt, "ours-aws-credentials", OursAws(aws.clone()));
    bench(
        &mut c,
        rt,
        "ours-google-access_token",
        OursGoogleAccessToken(google.clone()),
    );
    bench(
        &mut c,
        rt,
        "ours-google-headers",
        OursGoogleHeaders(google.clone()),
    );
    bench(
        &mut c,
        rt,
        "google-cloud-auth-headers",
        GoogleCloudAuthHeaders(gca.clone()),
    );
    bench(
        &mut c,
        rt,
        "aws-sdk-identity-cache",
        AwsSdkIdentityCache {
            cache: sdk_cache.clone(),
            resolver: resolver.clone(),
            components: components.clone(),
            bag: bag.clone(),
        },
    );
    bench(
        &mut c,
        rt,
        "gcp_auth-token",
        GcpAuthToken(gcp_auth_provider.clone()),
    );

    let mut rows = Vec::new();
    for tasks in TASKS {
        let ours_aws = estimate(out.path(), "ours-aws-credentials", tasks);
        let ours_google = estimate(out.path(), "ours-google-access_token", tasks);
        let ours_headers = estimate(out.path(), "ours-google-headers", tasks);
        let gca = estimate(out.path(), "google-cloud-auth-headers", tasks);
        let sdk = estimate(out.path(), "aws-sdk-identity-cache", tasks);
        let gcp_auth = estimate(out.path(), "gcp_auth-token", tasks);
        let ours_best = ours_aws.max(ours_google);
        let fastest_peer = gca.min(sdk).min(gcp_auth);
        let what = format!(
            "warm read, {tasks} task{}",
            if tasks == 1 { "" } else { "s" }
        );
        rows.push(Row::new(
            "1",
            what.clone(),
            format!("{} (AWS `credentials()`)", ns(ours_aws)),
            format!("{} (AWS SDK `IdentityCache::lazy()`)", ns(sdk)),
            format!("{:.1}x", sdk / ours_aws),
        ));
        rows.push(Row::new(
            "1",
            what.clone(),
            format!("{} (Google `access_token()`)", ns(ours_google)),
            format!("{} (google-cloud-auth `headers()`)", ns(gca)),
            format!("{:.1}x", gca / ours_google),
        ));
        rows.push(Row::new(
            "1",
            what.clone(),
            format!("{} (Google `headers()`)", ns(ours_headers)),
            format!("{} (google-cloud-auth `headers()`)", ns(gca)),
            format!("{:.1}x", gca / ours_headers),
        ));
        rows.push(Row::new(
            "1",
            what.clone(),
            format!("{} (Google `access_token()`)", ns(ours_google)),
            format!("{} (gcp_auth `token()`)", ns(gcp_auth)),
            format!("{:.1}x", gcp_auth / ours_google),
        ));
        rows.push(Row::new(
            "1",
            what,
            format!("{} (slower of ours)", ns(ours_best)),
            format!("{} (fastest peer)", ns(fastest_peer)),
            format!("{:.1}x", fastest_peer / ours_best),
        ));
    }
    rows
}
