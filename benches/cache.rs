//! The cached path: what a warm `credentials()` read costs, alone and with concurrent
//! readers. Run with `cargo bench --bench cache`.

use std::sync::Arc;
use std::time::{Duration, SystemTime};

use async_trait::async_trait;
use criterion::{Criterion, criterion_group, criterion_main};
use federated_credentials::Error;
use federated_credentials::cache::{CachePolicy, CredentialCache, Fetch};
use federated_credentials::context::SystemClock;
use federated_credentials::exchange::AwsCredentials;

struct OneHour;

#[async_trait]
impl Fetch for OneHour {
    type Credential = AwsCredentials;
    async fn fetch(&self) -> Result<AwsCredentials, Error> {
        Ok(AwsCredentials::new(
            "ASIABENCHMARKEXAMPLE",
            "secret",
            Some("token".into()),
            SystemTime::now() + Duration::from_secs(3600),
            "arn:aws:sts::123456789012:assumed-role/bench/s",
        ))
    }
}

fn warm_read(c: &mut Criterion) {
    let rt = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .unwrap();
    let cache = CredentialCache::new(OneHour, Arc::new(SystemClock), CachePolicy::aws_sts());
    rt.block_on(cache.get()).unwrap();

    c.bench_function("warm read, one task", |b| {
        b.to_async(&rt)
            .iter(|| async { cache.get().await.unwrap() })
    });
    for tasks in [8usize, 64] {
        c.bench_function(
            &format!("warm read, {tasks} concurrent tasks x 100 reads"),
            |b| {
                b.to_async(&rt).iter(|| {
                    let cache = cache.clone();
                    async move {
                        let handles: Vec<_> = (0..tasks)
                            .map(|_| {
                                let cache = cache.clone();
                                tokio::spawn(async move {
                                    for _ in 0..100 {
                                        std::hint::black_box(cache.get().await.unwrap());
                                    }
                                })
                            })
                            .collect();
                        for h in handles {
                            h.await.unwrap();
                        }
                    }
                })
            },
        );
    }
}

criterion_group!(benches, warm_read);
criterion_main!(benches);
