//! Items 2 to 5: thundering herd, refresh under load, requests per refresh, cold fetch.

use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::{Duration, Instant, SystemTime};

use aws_credential_types::Credentials;
use aws_smithy_async::rt::sleep::{SharedAsyncSleep, TokioSleep};
use aws_smithy_async::time::SharedTimeSource;
use aws_smithy_runtime::client::identity::IdentityCache;
use aws_smithy_runtime_api::client::identity::{
    Identity, IdentityFuture, ResolveCachedIdentity, ResolveIdentity, SharedIdentityResolver,
};
use aws_smithy_runtime_api::client::runtime_components::{
    RuntimeComponents, RuntimeComponentsBuilder,
};
use aws_smithy_types::config_bag::ConfigBag;
use federated_credentials_testkit::Fault;
use gcp_auth::TokenProvider;
use tokio::io::{AsyncReadExt, AsyncWriteExt};

use crate::world::{AwsToGcp, GcpToAws};
use crate::{Row, ns};

pub const SCOPE: &str = "https://www.googleapis.com/auth/cloud-platform";
const HERD: usize = 10_000;

// ---------------------------------------------------------------------------------------
// gcp_auth: a service account key whose token endpoint is a loopback server that counts.

/// A minimal OAuth token endpoint: answers every request with a 1-hour token after `delay`.
pub struct TokenServer {
    pub url: String,
    pub count: Arc<AtomicUsize>,
}

pub async fn token_server(delay: Duration) -> TokenServer {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let url = format!("http://{}/token", listener.local_addr().unwrap());
    let count = Arc::new(AtomicUsize::new(0));
    let c = count.clone();
    tokio::spawn(async move {
        loop {
            let Ok((mut sock, _)) = listener.accept().await else {
                return;
            };
            let c = c.clone();
            tokio::spawn(async move {
                let mut buf = Vec::new();
                let mut chunk = [0u8; 4096];
                loop {
                    let Ok(n) = sock.read(&mut chunk).await else {
                        return;
                    };
                    if n == 0 {
                        return;
                    }
                    buf.extend_from_slice(&chunk[..n]);
                    let text = String::from_utf8_lossy(&buf);
                    if let Some(end) = text.find("\r\n\r\n") {
                        let len = text[..end]
                            .lines()
                            .find_map(|l| {
                                let (k, v) = l.split_once(':')?;
                                k.eq_ignore_ascii_case("content-length")
                                    .then(|| v.trim().parse::<usize>().ok())?
                            })
                            .unwrap_or(0);
                        if buf.len() >= end + 4 + len {
                            break;
                        }
                    }
                }
                c.fetch_add(1, Ordering::SeqCst);
                if !delay.is_zero() {
                    tokio::time::sleep(delay).await;
                }
                let body =
                    r#"{"access_token":"ya29.perf","expires_in":3600,"token_type":"Bearer"}"#;
                let resp = format!(
                    "HTTP/1.1 200 OK\r\ncontent-type: application/json\r\ncontent-length: {}\r\nconnection: close\r\n\r\n{body}",
                    body.len()
                );
                let _ = sock.write_all(resp.as_bytes()).await;
                let _ = sock.shutdown().await;
            });
        }
    });
    TokenServer { url, count }
}

/// A gcp_auth `CustomServiceAccount` with a fresh RSA key, pointed at a token server.
pub async fn gcp_auth_provider_with(
    delay: Duration,
) -> (gcp_auth::CustomServiceAccount, TokenServer) {
    use aws_lc_rs::encoding::AsDer;
    use base64::Engine;
    let server = token_server(delay).await;
    let key = aws_lc_rs::rsa::KeyPair::generate(aws_lc_rs::rsa::KeySize::Rsa2048).unwrap();
    let der = AsDer::<aws_lc_rs::encoding::Pkcs8V1Der>::as_der(&key).unwrap();
    let b64 = base64::engine::general_purpose::STANDARD.encode(der.as_ref());
    let mut pem = String::from("-----BEGIN PRIVATE KEY-----\n");
    for line in b64.as_bytes().chunks(64) {
        pem.push_str(std::str::from_utf8(line).unwrap());
        pem.push('\n');
    }
    pem.push_str("-----END PRIVATE KEY-----\n");
    let json = serde_json::json!({
        "type": "service_account",
        "project_id": "perf",
        "private_key_id": "perf",
        "private_key": pem,
        "client_email": "perf@perf.iam.gserviceaccount.com",
        "client_id": "1",
        "token_uri": server.url,
    });
    let sa = gcp_auth::CustomServiceAccount::from_json(&json.to_string()).unwrap();
    (sa, server)
}

pub async fn gcp_auth_provider() -> (gcp_auth::CustomServiceAccount, TokenServer) {
    gcp_auth_provider_with(Duration::ZERO).await
}

// ---------------------------------------------------------------------------------------
// The AWS SDK's identity cache needs runtime components and a resolver.

pub fn sdk_components() -> RuntimeComponents {
    RuntimeComponentsBuilder::for_tests()
        .with_time_source(Some(SharedTimeSource::default()))
        .with_sleep_impl(Some(SharedAsyncSleep::new(TokioSleep::new())))
        .build()
        .unwrap()
}

/// An in-memory upstream: each resolve takes `delay`, counts, and returns credentials that
/// live `lifetime`.
#[derive(Debug, Clone)]
struct CountingResolver {
    count: Arc<AtomicUsize>,
    delay: Duration,
    lifetime: Duration,
}

impl ResolveIdentity for CountingResolver {
    fn resolve_identity<'a>(
        &'a self,
        _: &'a RuntimeComponents,
        _: &'a ConfigBag,
    ) -> IdentityFuture<'a> {
        IdentityFuture::new(async move {
            self.count.fetch_add(1, Ordering::SeqCst);
            tokio::time::sleep(self.delay).await;
            let expiry = SystemTime::now() + self.lifetime;
            let creds = Credentials::new("AKID", "secret", None, Some(expiry), "perf");
            Ok(Identity::new(creds, Some(expiry)))
        })
    }
}

// ---------------------------------------------------------------------------------------

pub async fn herd() -> Vec<Row> {
    let mut rows = Vec::new();

    // ours: a cold GCP -> AWS provider; the STS answer takes 200 ms
    let w = GcpToAws::start().await;
    let provider = w.builder().build().unwrap();
    w.clouds
        .aws_sts
        .push_fault(Fault::Delay(Duration::from_millis(200)));
    let tasks: Vec<_> = (0..HERD)
        .map(|_| {
            let p = provider.clone();
            tokio::spawn(async move { p.credentials().await.is_ok() })
        })
        .collect();
    let mut ok = 0;
    for t in tasks {
        ok += t.await.unwrap() as usize;
    }
    let ours = format!(
        "{} fetch ({} metadata + {} STS requests), {ok}/{HERD} served",
        w.clouds.aws_sts.request_count(),
        w.clouds.gcp_metadata.request_count(),
        w.clouds.aws_sts.request_count()
    );

    // google-cloud-auth: a cold external_account credential, same config as ours
    let g = AwsToGcp::start(Duration::ZERO).await;
    g.clouds
        .google_sts
        .push_fault(Fault::Delay(Duration::from_millis(200)));
    let creds = g.theirs();
    let tasks: Vec<_> = (0..HERD)
        .map(|_| {
            let c = creds.clone();
            tokio::spawn(async move { c.headers(http::Extensions::new()).await.is_ok() })
        })
        .collect();
    let mut ok = 0;
    for t in tasks {
        ok += t.await.unwrap() as usize;
    }
    rows.push(Row::new(
        "2",
        format!("herd: {HERD} first calls on a cold cache"),
        ours.clone(),
        format!(
            "google-cloud-auth: {} STS + {} IAM requests, {ok}/{HERD} served",
            g.clouds.google_sts.request_count(),
            g.clouds.iam.request_count()
        ),
        "",
    ));

    // the AWS SDK identity cache over a counting in-memory upstream (200 ms)
    let count = Arc::new(AtomicUsize::new(0));
    let resolver = SharedIdentityResolver::new(CountingResolver {
        count: count.clone(),
        delay: Duration::from_millis(200),
        lifetime: Duration::from_secs(3600),
    });
    let cache = IdentityCache::lazy().build();
    let components = Arc::new(sdk_components());
    let bag = Arc::new(ConfigBag::base());
    let tasks: Vec<_> = (0..HERD)
        .map(|_| {
            let (cache, resolver, components, bag) = (
                cache.clone(),
                resolver.clone(),
                components.clone(),
                bag.clone(),
            );
            tokio::spawn(async move {
                cache
                    .resolve_cached_identity(resolver, &components, &bag)
                    .await
                    .is_ok()
            })
        })
        .collect();
    let mut ok = 0;
    for t in tasks {
        ok += t.await.unwrap() as usize;
    }
    rows.push(Row::new(
        "2",
        format!("herd: {HERD} first calls on a cold cache"),
        ours.clone(),
        format!(
            "AWS SDK identity cache: {} upstream calls, {ok}/{HERD} served",
            count.load(Ordering::SeqCst)
        ),
        "",
    ));

    // gcp_auth: a cold service account provider; the token endpoint takes 200 ms
    let (sa, server) = gcp_auth_provider_with(Duration::from_millis(200)).await;
    let sa = Arc::new(sa);
    let started = Instant::now();
    let tasks: Vec<_> = (0..HERD)
        .map(|_| {
            let sa = sa.clone();
            tokio::spawn(async move { sa.token(&[SCOPE]).await.is_ok() })
        })
        .collect();
    let mut ok = 0;
    for t in tasks {
        ok += tokio::time::timeout(Duration::from_secs(120), t)
            .await
            .map(|r| r.unwrap())
            .unwrap_or(false) as usize;
    }
    rows.push(Row::new(
        "2",
        format!("herd: {HERD} first calls on a cold cache"),
        ours,
        format!(
            "gcp_auth: {} token requests, {ok}/{HERD} served in {:.1} s",
            server.count.load(Ordering::SeqCst),
            started.elapsed().as_secs_f64()
        ),
        "",
    ));
    rows
}

/// Latency percentiles of `reads` concurrent readers over `dur`.
async fn read_latencies<F, Fut>(readers: usize, dur: Duration, read: F) -> Vec<u64>
where
    F: Fn() -> Fut + Clone + Send + 'static,
    Fut: std::future::Future<Output = ()> + Send,
{
    let handles: Vec<_> = (0..readers)
        .map(|_| {
            let read = read.clone();
            tokio::spawn(async move {
                let mut lat = Vec::new();
                let end = Instant::now() + dur;
                while Instant::now() < end {
                    let t = Instant::now();
                    read().await;
                    lat.push(t.elapsed().as_nanos() as u64);
                    if lat.len() % 64 == 0 {
                        tokio::task::yield_now().await;
                    }
                }
                lat
            })
        })
        .collect();
    let mut all = Vec::new();
    for h in handles {
        all.extend(h.await.unwrap());
    }
    all.sort_unstable();
    all
}

fn pct(sorted: &[u64], p: f64) -> f64 {
    sorted[((sorted.len() - 1) as f64 * p) as usize] as f64
}

pub async fn refresh_under_load() -> Vec<Row> {
    let mut rows = Vec::new();
    let w = GcpToAws::start().await;
    let provider = w.builder().build_and_prefetch().await.unwrap();
    let p = provider.clone();
    let read = move || {
        let p = p.clone();
        async move {
            std::hint::black_box(p.credentials().await.unwrap());
        }
    };
    let baseline = read_latencies(4, Duration::from_millis(600), read.clone()).await;
    let median = pct(&baseline, 0.5);
    let before = w.clouds.aws_sts.request_count();
    let key = provider
        .credentials()
        .await
        .unwrap()
        .access_key_id()
        .to_string();
    // due for refresh (5-25 min before expiry) but valid; upstream takes 200 ms
    w.clouds
        .aws_sts
        .push_fault(Fault::Delay(Duration::from_millis(200)));
    w.clock.advance(Duration::from_secs(56 * 60));
    let during = read_latencies(4, Duration::from_millis(600), read).await;
    let refreshed = provider.credentials().await.unwrap().access_key_id() != key;
    rows.push(Row::new(
        "3",
        "refresh under load (200 ms upstream), 4 readers: worst / p99.9 vs warm median",
        format!(
            "median {} (no refresh: p99 {}, p99.9 {}, max {}); during refresh: p99 {}, p99.9 {}, max {} = {:.0}x median; {} STS call, refreshed: {refreshed}",
            ns(median),
            ns(pct(&baseline, 0.99)),
            ns(pct(&baseline, 0.999)),
            ns(*baseline.last().unwrap() as f64),
            ns(pct(&during, 0.99)),
            ns(pct(&during, 0.999)),
            ns(*during.last().unwrap() as f64),
            *during.last().unwrap() as f64 / median,
            w.clouds.aws_sts.request_count() - before,
        ),
        "",
        "",
    ));

    // the AWS SDK identity cache: identities that expire 2 s after issue, buffer 1 s, a
    // 200 ms upstream. It has no refresh-ahead: the reload happens on the caller's path.
    let count = Arc::new(AtomicUsize::new(0));
    let resolver = SharedIdentityResolver::new(CountingResolver {
        count: count.clone(),
        delay: Duration::from_millis(200),
        lifetime: Duration::from_secs(2),
    });
    let cache = IdentityCache::lazy()
        .buffer_time(Duration::from_secs(1))
        .build();
    let components = Arc::new(sdk_components());
    let bag = Arc::new(ConfigBag::base());
    cache
        .resolve_cached_identity(resolver.clone(), &components, &bag)
        .await
        .unwrap();
    let read = move || {
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
    };
    let baseline = read_latencies(4, Duration::from_millis(300), read.clone()).await;
    let their_median = pct(&baseline, 0.5);
    let during = read_latencies(4, Duration::from_millis(1500), read).await;
    rows.push(Row::new(
        "3",
        "refresh under load, AWS SDK identity cache (no refresh-ahead)",
        "(ours: the row above)",
        format!(
            "median {}, max {} = {:.0}x median ({} reloads on the callers' path)",
            ns(their_median),
            ns(*during.last().unwrap() as f64),
            *during.last().unwrap() as f64 / their_median,
            count.load(Ordering::SeqCst) - 1
        ),
        "",
    ));
    rows
}

pub async fn requests_per_refresh() -> Vec<Row> {
    let mut rows = Vec::new();
    // ours, GCP -> AWS
    let w = GcpToAws::start().await;
    let provider = w.builder().build_and_prefetch().await.unwrap();
    let cold = w.requests();
    w.clock.advance(Duration::from_secs(3600));
    provider.credentials().await.unwrap();
    rows.push(Row::new(
        "4",
        "requests per steady-state refresh, GCP -> AWS",
        format!(
            "{} (metadata + STS; cold start {cold})",
            w.requests() - cold
        ),
        "",
        "",
    ));

    // ours, AWS -> GCP with impersonation
    let g = AwsToGcp::start(Duration::ZERO).await;
    let ours = g.ours(Some(g.clock.clone()));
    ours.cache().prefetch().await.unwrap();
    let cold = g.requests();
    g.clock.advance(Duration::from_secs(3600));
    ours.access_token().await.unwrap();
    let ours_steady = g.requests() - cold;

    // google-cloud-auth, same config. It runs on the real clock: IAM issues tokens that
    // expire in 245 s, so it refreshes 5 s after its first fetch (240 s slack).
    let g2 = AwsToGcp::start(Duration::from_secs(3600 - 245)).await;
    let theirs = g2.theirs();
    theirs.headers(http::Extensions::new()).await.unwrap();
    tokio::time::sleep(Duration::from_millis(500)).await;
    let their_cold = g2.requests();
    let iam_before = g2.clouds.iam.request_count();
    let waited = Instant::now();
    while g2.clouds.iam.request_count() == iam_before && waited.elapsed() < Duration::from_secs(30)
    {
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    tokio::time::sleep(Duration::from_millis(500)).await;
    let their_steady = g2.requests() - their_cold;
    rows.push(Row::new(
        "4",
        "requests per steady-state refresh, AWS -> GCP with impersonation",
        format!(
            "{ours_steady} (STS + IAM; IMDS cached while the instance credentials are valid; cold start {cold})"
        ),
        format!(
            "google-cloud-auth: {their_steady} (cold start {their_cold}); google-auth (Python): see docs/performance.md"
        ),
        format!("{:.1}x fewer", their_steady as f64 / ours_steady as f64),
    ));
    rows
}

pub fn cold_fetch(rt: &tokio::runtime::Runtime) -> Vec<Row> {
    let quick = std::env::var_os("PERF_QUICK").is_some();
    let g = rt.block_on(AwsToGcp::start(Duration::ZERO));
    let n = if quick { 20 } else { 100 };
    let mut ours = Vec::new();
    let mut theirs = Vec::new();
    rt.block_on(async {
        // warm up both (connection setup code paths, lazy statics)
        g.ours(None).access_token().await.unwrap();
        g.theirs().headers(http::Extensions::new()).await.unwrap();
        for _ in 0..n {
            let t = Instant::now();
            let c = g.ours(None);
            c.access_token().await.unwrap();
            ours.push(t.elapsed().as_nanos() as u64);
            drop(c);
            let t = Instant::now();
            let c = g.theirs();
            c.headers(http::Extensions::new()).await.unwrap();
            theirs.push(t.elapsed().as_nanos() as u64);
            drop(c);
        }
    });
    ours.sort_unstable();
    theirs.sort_unstable();
    let (o, t) = (pct(&ours, 0.5), pct(&theirs, 0.5));
    vec![Row::new(
        "5",
        format!(
            "cold fetch, build + first token, AWS -> GCP (aws1, IMDSv2, impersonation), median of {n}"
        ),
        ns(o),
        format!("google-cloud-auth: {}", ns(t)),
        format!("{:.2}x ({:.0}% of its time)", t / o, 100.0 * o / t),
    )]
}
