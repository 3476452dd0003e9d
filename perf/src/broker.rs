//! Item 7, the brokers (issue 13):
//! * `aws serve` (`ContainerCredentialsServer`, warm cache) under 64 keep-alive clients,
//!   against the floor: a minimal hyper server answering a fixed body of the same size, on the
//!   same runtime and client, in the same run (goal: ≥ 70 % of its throughput);
//! * a cached `aws credential-process` invocation against `federated-credentials --version`
//!   (goal: ≤ 1.3x), with the upstream requests it made (goal: 0). Needs the release CLI:
//!   `cargo build --release --features cli --bin federated-credentials` (or
//!   `FEDERATED_CREDENTIALS_BIN`); without it the run fails.

use std::convert::Infallible;
use std::net::SocketAddr;
use std::sync::Arc;
use std::time::{Duration, Instant};

use bytes::Bytes;
use federated_credentials::server::{AuthToken, ContainerCredentialsServer};
use http_body_util::Full;
use hyper::server::conn::http1;
use hyper::service::service_fn;
use hyper_util::rt::TokioIo;

use crate::world::GcpToAws;
use crate::{Row, ns};

const CLIENTS: usize = 64;
const TOKEN: &str = "perf-broker-token-0123456789abcdef";

/// A hyper server that answers every request with `body`: the floor.
async fn floor_server(body: Bytes) -> SocketAddr {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    tokio::spawn(async move {
        while let Ok((tcp, _)) = listener.accept().await {
            let body = body.clone();
            tokio::spawn(async move {
                let service = service_fn(move |_req| {
                    let body = body.clone();
                    async move { Ok::<_, Infallible>(hyper::Response::new(Full::new(body))) }
                });
                let _ = http1::Builder::new()
                    .serve_connection(TokioIo::new(tcp), service)
                    .await;
            });
        }
    });
    addr
}

/// Requests/s and p50/p99 latency of `CLIENTS` keep-alive clients for `duration`.
async fn load(url: String, duration: Duration) -> (f64, Duration, Duration) {
    let client = reqwest::Client::builder()
        .pool_max_idle_per_host(CLIENTS)
        .build()
        .unwrap();
    let url = Arc::new(url);
    let started = Instant::now();
    let tasks: Vec<_> = (0..CLIENTS)
        .map(|_| {
            let (client, url) = (client.clone(), url.clone());
            tokio::spawn(async move {
                let mut latencies = Vec::new();
                while started.elapsed() < duration {
                    let t = Instant::now();
                    let response = client
                        .get(url.as_str())
                        .header("Authorization", TOKEN)
                        .send()
                        .await
                        .unwrap();
                    assert_eq!(response.status().as_u16(), 200);
                    response.bytes().await.unwrap();
                    latencies.push(t.elapsed());
                }
                latencies
            })
        })
        .collect();
    let mut all = Vec::new();
    for t in tasks {
        all.extend(t.await.unwrap());
    }
    let elapsed = started.elapsed().as_secs_f64();
    all.sort_unstable();
    let at = |q: f64| all[((all.len() as f64 * q) as usize).min(all.len() - 1)];
    (all.len() as f64 / elapsed, at(0.5), at(0.99))
}

pub async fn serve_throughput() -> Vec<Row> {
    let quick = std::env::var_os("PERF_QUICK").is_some();
    let duration = Duration::from_secs(if quick { 2 } else { 5 });
    let world = GcpToAws::start().await;
    let provider = world.builder_with_clock(None).build().unwrap();
    let server = ContainerCredentialsServer::builder()
        .provider(provider.clone())
        .auth_token(AuthToken::fixed(TOKEN))
        .bind()
        .await
        .unwrap();
    let url = server.full_uri();
    tokio::spawn(server.run(std::future::pending()));
    let body = reqwest::Client::new()
        .get(&url)
        .header("Authorization", TOKEN)
        .send()
        .await
        .unwrap()
        .bytes()
        .await
        .unwrap();
    let floor = floor_server(body.clone()).await;
    let requests_before = world.requests();
    // Alternate to share the machine's noise: floor, ours, floor, ours.
    let mut ours = Vec::new();
    let mut theirs = Vec::new();
    for _ in 0..2 {
        theirs.push(load(format!("http://{floor}/"), duration / 2).await);
        ours.push(load(url.clone(), duration / 2).await);
    }
    let best = |v: &[(f64, Duration, Duration)]| {
        v.iter()
            .copied()
            .max_by(|a, b| a.0.total_cmp(&b.0))
            .unwrap()
    };
    let (o, f) = (best(&ours), best(&theirs));
    let upstream = world.requests() - requests_before;
    vec![Row::new(
        "7",
        format!(
            "aws serve, {CLIENTS} keep-alive clients, {}-byte credential body (upstream requests during the run: {upstream})",
            body.len()
        ),
        format!(
            "{:.0} req/s, p50 {}, p99 {}",
            o.0,
            ns(o.1.as_nanos() as f64),
            ns(o.2.as_nanos() as f64)
        ),
        format!(
            "floor (hyper, fixed body): {:.0} req/s, p50 {}, p99 {}",
            f.0,
            ns(f.1.as_nanos() as f64),
            ns(f.2.as_nanos() as f64)
        ),
        format!("{:.0} % of the floor's throughput", 100.0 * o.0 / f.0),
    )]
}

fn cli_binary() -> std::path::PathBuf {
    if let Some(p) = std::env::var_os("FEDERATED_CREDENTIALS_BIN") {
        return p.into();
    }
    let p = std::path::Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("../target/release/federated-credentials");
    assert!(
        p.exists(),
        "item 7 needs the release CLI: cargo build --release --features cli --bin federated-credentials (or set FEDERATED_CREDENTIALS_BIN)"
    );
    p
}

/// Median wall time of `runs` runs of `command`.
fn median_run(mut command: impl FnMut() -> std::process::Command, runs: usize) -> Duration {
    let mut times: Vec<Duration> = (0..runs)
        .map(|_| {
            let t = Instant::now();
            let out = command().output().unwrap();
            assert!(
                out.status.success(),
                "{}",
                String::from_utf8_lossy(&out.stderr)
            );
            t.elapsed()
        })
        .collect();
    times.sort_unstable();
    times[runs / 2]
}

pub async fn cached_credential_process() -> Vec<Row> {
    let bin = cli_binary();
    let world = GcpToAws::start().await;
    let home = tempfile::tempdir().unwrap();
    let env = world.clouds.env();
    let base = {
        let (bin, home, env) = (bin.clone(), home.path().to_path_buf(), env.clone());
        move || {
            let mut c = std::process::Command::new(&bin);
            c.env_clear().env("HOME", &home).envs(env.clone());
            c
        }
    };
    let args = [
        "aws",
        "credential-process",
        "--audience",
        federated_credentials_testkit::AWS_AUDIENCE,
    ];
    // The first run fills the cache; the emulators keep answering meanwhile.
    let first = {
        let mut c = base();
        c.args(args);
        tokio::task::spawn_blocking(move || c.output().unwrap())
            .await
            .unwrap()
    };
    assert!(
        first.status.success(),
        "{}",
        String::from_utf8_lossy(&first.stderr)
    );
    let before = world.requests();
    let runs = 41;
    let (cached, version) = tokio::task::spawn_blocking({
        let base = base.clone();
        move || {
            let cached = median_run(
                || {
                    let mut c = base();
                    c.args(args);
                    c
                },
                runs,
            );
            let version = median_run(
                || {
                    let mut c = base();
                    c.arg("--version");
                    c
                },
                runs,
            );
            (cached, version)
        }
    })
    .await
    .unwrap();
    let upstream = world.requests() - before;
    vec![Row::new(
        "7",
        format!(
            "a cached aws credential-process invocation (median of {runs}; upstream requests: {upstream})"
        ),
        ns(cached.as_nanos() as f64),
        format!(
            "federated-credentials --version: {}",
            ns(version.as_nanos() as f64)
        ),
        format!("{:.2}x", cached.as_secs_f64() / version.as_secs_f64()),
    )]
}
