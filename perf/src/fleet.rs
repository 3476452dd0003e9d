//! Item 6, the fleet simulation: 10,000 providers started in the same second with 1-hour
//! credentials, 6 hours on tokio's paused clock, with an in-memory upstream that counts per
//! second.

use std::sync::Arc;
use std::sync::atomic::{AtomicU32, Ordering};
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use async_trait::async_trait;
use federated_credentials::Error;
use federated_credentials::cache::{COLD_START_MIN_FRACTION, CachePolicy, CredentialCache, Fetch};
use federated_credentials::context::{Clock, TokioClock};
use federated_credentials::token::Expiry;
use plotters::prelude::*;

use crate::Row;

const PROVIDERS: usize = 10_000;
const SECS: usize = 6 * 3600;

struct Cred(SystemTime);

impl Expiry for Cred {
    fn expires_at(&self) -> Option<SystemTime> {
        Some(self.0)
    }
}

struct SimFetch {
    clock: TokioClock,
    start: SystemTime,
    per_second: Arc<Vec<AtomicU32>>,
}

#[async_trait]
impl Fetch for SimFetch {
    type Credential = Cred;
    async fn fetch(&self) -> Result<Cred, Error> {
        let now = self.clock.now();
        let s = now.duration_since(self.start).unwrap().as_secs() as usize;
        if let Some(c) = self.per_second.get(s) {
            c.fetch_add(1, Ordering::Relaxed);
        }
        Ok(Cred(now + Duration::from_secs(3600)))
    }
}

fn simulate(policy: CachePolicy) -> Vec<u32> {
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .start_paused(true)
        .build()
        .unwrap();
    rt.block_on(async {
        let per_second: Arc<Vec<AtomicU32>> =
            Arc::new((0..=SECS).map(|_| AtomicU32::new(0)).collect());
        let clock = TokioClock::starting_at(UNIX_EPOCH + Duration::from_secs(1_800_000_000));
        let mut caches = Vec::with_capacity(PROVIDERS);
        for _ in 0..PROVIDERS {
            let f = SimFetch {
                clock,
                start: clock.now(),
                per_second: per_second.clone(),
            };
            let c = CredentialCache::new(f, Arc::new(clock), policy);
            c.prefetch().await.unwrap();
            caches.push(c);
        }
        tokio::time::sleep(Duration::from_secs(SECS as u64)).await;
        drop(caches);
        per_second
            .iter()
            .take(SECS)
            .map(|c| c.load(Ordering::Relaxed))
            .collect()
    })
}

/// The same fleet as one provider per process (10,000 pods): each cache's jitter and start
/// fractions are then independent uniform draws, not members of one process's sequence.
/// Modelled with the cache's schedule (the first refresh after the cold start at
/// `COLD_START_MIN_FRACTION`..1 of the usual time-to-refresh, then every
/// `lifetime − window − jitter × u`, from `policy`'s accessors) and seeded i.i.d. draws,
/// since 10,000 processes cannot be started here; the in-process simulation above checks
/// that the schedule is the cache's.
fn model_separate_processes(policy: &CachePolicy, seed: u64) -> Vec<u32> {
    model_independent_caches(policy, seed, PROVIDERS, Phase::ColdStart)
}

/// Where the modelled caches start.
#[derive(Clone, Copy)]
enum Phase {
    /// All fetched in the same second, then the cache's schedule.
    ColdStart,
    /// The floor for independent callers: each already at a uniformly random point of its
    /// refresh period (what no schedule of independent callers can beat on average).
    Uniform,
}

/// `caches` independent caches (one per process, or one broker per host), as above.
fn model_independent_caches(
    policy: &CachePolicy,
    seed: u64,
    caches: usize,
    phase: Phase,
) -> Vec<u32> {
    let mut rng = fastrand::Rng::with_seed(seed);
    let mut per_second = vec![0u32; SECS + 1];
    let lifetime = 3600.0;
    for _ in 0..caches {
        let (u, start) = (rng.f64(), rng.f64());
        let lead = policy.window().as_secs_f64() + policy.jitter_range().as_secs_f64() * u;
        let period = lifetime - lead;
        let mut t = match phase {
            // first fetch somewhere in the start-up second, the first refresh spread
            Phase::ColdStart => {
                let t0 = rng.f64();
                per_second[0] += 1;
                t0 + period * (COLD_START_MIN_FRACTION + (1.0 - COLD_START_MIN_FRACTION) * start)
            }
            Phase::Uniform => period * start,
        };
        while (t as usize) < SECS {
            per_second[t as usize] += 1;
            t += period;
        }
    }
    per_second.truncate(SECS);
    per_second
}

/// Sums per-second counts into `bin`-second buckets.
fn binned(v: &[u32], bin: usize) -> Vec<u32> {
    v.chunks(bin).map(|c| c.iter().sum()).collect()
}

fn peak_mean(v: &[u32]) -> (u32, f64) {
    let steady = &v[1..];
    let peak = *steady.iter().max().unwrap();
    (
        peak,
        steady.iter().map(|&c| c as f64).sum::<f64>() / steady.len() as f64,
    )
}

fn plot(on: &[u32], off: &[u32], path: &std::path::Path) -> Result<(), Box<dyn std::error::Error>> {
    let bin = 30;
    let series = |v: &[u32]| -> Vec<(f64, f64)> {
        v.chunks(bin)
            .enumerate()
            .map(|(i, c)| ((i * bin) as f64 / 3600.0, *c.iter().max().unwrap() as f64))
            .collect()
    };
    let root = SVGBackend::new(path, (900, 600)).into_drawing_area();
    root.fill(&WHITE)?;
    let (top, bottom) = root.split_vertically(300);
    for (area, data, title, color) in [
        (
            &top,
            series(on),
            "jitter on (default CachePolicy::aws_sts)",
            &BLUE,
        ),
        (&bottom, series(off), "jitter off", &RED),
    ] {
        let ymax = data.iter().skip(1).map(|p| p.1).fold(1.0, f64::max) * 1.1;
        let mut chart = ChartBuilder::on(area)
            .caption(
                format!("{PROVIDERS} providers, 1-hour credentials: {title}"),
                ("sans-serif", 16),
            )
            .margin(8)
            .x_label_area_size(30)
            .y_label_area_size(50)
            .build_cartesian_2d(0f64..6f64, 0f64..ymax)?;
        chart
            .configure_mesh()
            .x_desc("hours (the start-up second, 10,000 first fetches, is left out)")
            .y_desc("peak req/s per 30 s")
            .draw()?;
        chart.draw_series(LineSeries::new(data.into_iter().skip(1), color))?;
    }
    root.present()?;
    Ok(())
}

pub fn run() -> Vec<Row> {
    let started = std::time::Instant::now();
    let on = simulate(CachePolicy::aws_sts());
    let off = simulate(CachePolicy::aws_sts().jitter(Duration::ZERO));
    // worst of 5 seeds, so the figure is not one lucky draw
    let (peak_sep, mean_sep) = (0..5)
        .map(|seed| peak_mean(&model_separate_processes(&CachePolicy::aws_sts(), seed)))
        .max_by(|a, b| (a.0 as f64 / a.1).total_cmp(&(b.0 as f64 / b.1)))
        .unwrap();
    // One broker per host: 10,000 processes on 100 hosts are 100 caches upstream. At 100
    // callers, per-second counts are 0 or 1, so the shape is measured per minute and per
    // 5 minutes, each against the floor for independent callers in the same bins.
    const HOSTS: usize = 100;
    let worst_binned = |caches: usize, phase: Phase, bin: usize| {
        (0..5)
            .map(|seed| {
                peak_mean(&binned(
                    &model_independent_caches(&CachePolicy::aws_sts(), seed, caches, phase),
                    bin,
                ))
            })
            .max_by(|a, b| (a.0 as f64 / a.1).total_cmp(&(b.0 as f64 / b.1)))
            .unwrap()
    };
    let (peak_brk, mean_brk) = worst_binned(HOSTS, Phase::ColdStart, 60);
    let (peak_brk5, mean_brk5) = worst_binned(HOSTS, Phase::ColdStart, 300);
    let (peak_floor, mean_floor) = worst_binned(HOSTS, Phase::Uniform, 60);
    let (peak_floor5, mean_floor5) = worst_binned(HOSTS, Phase::Uniform, 300);
    let (peak_sep_min, mean_sep_min) = worst_binned(PROVIDERS, Phase::ColdStart, 60);
    let (peak_sep_floor, mean_sep_floor) = worst_binned(PROVIDERS, Phase::Uniform, 1);
    let (peak_on, mean_on) = peak_mean(&on);
    let (peak_off, mean_off) = peak_mean(&off);
    let path =
        std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../docs/fleet-simulation.svg");
    if let Err(e) = plot(&on, &off, &path) {
        eprintln!("plot failed: {e}");
    }
    eprintln!(
        "fleet simulation: 2 x {PROVIDERS} providers x 6 h in {:.1} s",
        started.elapsed().as_secs_f64()
    );
    vec![
        Row::new(
            "6",
            format!(
                "fleet: {PROVIDERS} providers, 1 h credentials, 6 simulated hours, after the start-up second ({} first fetches)",
                on[0]
            ),
            format!(
                "jitter on: peak {peak_on}/s, mean {mean_on:.2}/s = {:.1}x mean",
                peak_on as f64 / mean_on
            ),
            format!(
                "jitter off: peak {peak_off}/s, mean {mean_off:.2}/s = {:.0}x mean",
                peak_off as f64 / mean_off
            ),
            "",
        ),
        Row::new(
            "6",
            format!(
                "fleet as {PROVIDERS} separate processes (one provider each; model of the cache's schedule with independent draws, worst of 5 seeds)"
            ),
            format!(
                "peak {peak_sep}/s, mean {mean_sep:.2}/s = {:.1}x mean",
                peak_sep as f64 / mean_sep
            ),
            format!(
                "floor (independent callers at uniformly random phases): {:.1}x",
                peak_sep_floor as f64 / mean_sep_floor
            ),
            "",
        ),
        Row::new(
            "7",
            format!(
                "fleet: {PROVIDERS} processes on {HOSTS} hosts with one broker each (model as above, worst of 5 seeds; after the start-up minute)"
            ),
            format!(
                "{HOSTS} callers upstream: per 5 min peak {peak_brk5}, mean {mean_brk5:.1} = {:.1}x mean (floor {:.1}x); per min peak {peak_brk}, mean {mean_brk:.2} = {:.1}x (floor {:.1}x)",
                peak_brk5 as f64 / mean_brk5,
                peak_floor5 as f64 / mean_floor5,
                peak_brk as f64 / mean_brk,
                peak_floor as f64 / mean_floor,
            ),
            format!(
                "{PROVIDERS} separate processes: peak {peak_sep_min}/min, mean {mean_sep_min:.1}/min = {:.1}x mean",
                peak_sep_min as f64 / mean_sep_min
            ),
            format!("{:.0}x fewer upstream requests", mean_sep_min / mean_brk),
        ),
    ]
}
