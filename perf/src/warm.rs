//! Item 1: warm read latency with criterion: one task, and 2/8/64 concurrent tasks.

use std::future::Future;
use std::path::Path;
use std::sync::Arc;
use std::time::{Duration, Instant};

use aws_credential_types::provider::SharedCredentialsProvider;
use aws_smithy_async::rt::sleep::{SharedAsyncSleep, TokioSleep};
use aws_smithy_async::time::SharedTimeSource;
use aws_smithy_runtime::client::identity::IdentityCache;
use aws_smithy_runtime_api::client::identity::{ResolveCachedIdentity, SharedIdentityResolver};
use aws_smithy_runtime_api::client::runtime_components::RuntimeComponentsBuilder;
use aws_smithy_types::config_bag::ConfigBag;
use criterion::Criterion;
use gcp_auth::TokenProvider;

use crate::world::{AwsToGcp, GcpToAws};
use crate::{ns, peers, Row};

pub const TASKS: [usize; 4] = [1, 2, 8, 64];

/// Runs `read` `iters` times split over `tasks` tasks; the time per read (wall time over
/// all reads, so with more tasks than cores it is the inverse of throughput).
async fn per_read<F, Fut>(read: F, tasks: usize, iters: u64) -> Duration
where
    F: Fn() -> Fut + Clone + Send + 'static,
    Fut: Future<Output = ()> + Send,
{
    let per_task = iters.div_ceil(tasks as u64).max(1);
    let start = Instant::now();
    let handles: Vec<_> = (0..tasks)
        .map(|_| {
            let read = read.clone();
            tokio::spawn(async move {
                for _ in 0..per_task {
                    read().await;
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

fn bench<F, Fut>(c: &mut Criterion, rt: &tokio::runtime::Runtime, name: &str, read: F)
where
    F: Fn() -> Fut + Clone + Send + Sync + 'static,
    Fut: Future<Output = ()> + Send,
{
    let mut group = c.benchmark_group(name.to_string());
    for tasks in TASKS {
        let read = read.clone();
        group.bench_function(tasks.to_string(), move |b| {
            let read = read.clone();
            b.to_async(rt)
                .iter_custom(move |iters| per_read(read.clone(), tasks, iters))
        });
    }
    group.finish();
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
        g.prefetch().await.unwrap();
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

    {
        let p = aws.clone();
        bench(&mut c, rt, "ours-aws-credentials", move || {
            let p = p.clone();
            async move {
                std::hint::black_box(p.credentials().await.unwrap());
            }
        });
    }
    {
        let g = google.clone();
        bench(&mut c, rt, "ours-google-access_token", move || {
            let g = g.clone();
            async move {
                std::hint::black_box(g.access_token().await.unwrap());
            }
        });
    }
    {
        let g = google.clone();
        bench(&mut c, rt, "ours-google-headers", move || {
            let g = g.clone();
            async move {
                std::hint::black_box(g.headers().await.unwrap());
            }
        });
    }
    {
        let gca = gca.clone();
        bench(&mut c, rt, "google-cloud-auth-headers", move || {
            let gca = gca.clone();
            async move {
                std::hint::black_box(gca.headers(http::Extensions::new()).await.unwrap());
            }
        });
    }
    {
        let (cache, resolver, components, bag) = (
            sdk_cache.clone(),
            resolver.clone(),
            components.clone(),
            bag.clone(),
        );
        bench(&mut c, rt, "aws-sdk-identity-cache", move || {
            let (cache, resolver, components, bag) = (
                cache.clone(),
                resolver.clone(),
                components.clone(),
                bag.clone(),
            );
            async move {
                std::hint::black_box(
                    cache
                        .resolve_cached_identity(resolver, &components, &bag)
                        .await
                        .unwrap(),
                );
            }
        });
    }
    {
        let p = gcp_auth_provider.clone();
        bench(&mut c, rt, "gcp_auth-token", move || {
            let p = p.clone();
            async move {
                std::hint::black_box(p.token(&[peers::SCOPE]).await.unwrap());
            }
        });
    }

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
