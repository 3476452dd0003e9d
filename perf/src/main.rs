//! Benchmarks of the federated-credentials cache side by side with the peers' own caches,
//! through their public APIs, in one run. Prints a table with the ratios; writes the fleet
//! simulation plot to `docs/fleet-simulation.svg`.
//!
//! ```text
//! cargo build --release --features cli --bin federated-credentials   # item 7
//! cargo run --release -p federated-credentials-perf
//! ```
//!
//! Set `PERF_QUICK=1` for shorter criterion measurements, and `PERF_ONLY=1,5` to run only
//! some items.

mod broker;
mod fleet;
mod peers;
mod warm;
mod world;

use std::fmt::Write as _;

/// One line of the results table.
pub struct Row {
    pub item: &'static str,
    pub what: String,
    pub ours: String,
    pub peer: String,
    pub ratio: String,
}

impl Row {
    pub fn new(
        item: &'static str,
        what: impl Into<String>,
        ours: impl Into<String>,
        peer: impl Into<String>,
        ratio: impl Into<String>,
    ) -> Self {
        Self {
            item,
            what: what.into(),
            ours: ours.into(),
            peer: peer.into(),
            ratio: ratio.into(),
        }
    }
}

fn main() {
    let rt = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .expect("runtime");
    let only: Option<Vec<String>> = std::env::var("PERF_ONLY")
        .ok()
        .map(|v| v.split(',').map(|s| s.trim().to_string()).collect());
    let wanted = |item: &str| only.as_ref().is_none_or(|o| o.iter().any(|x| x == item));
    let mut rows = Vec::new();
    if wanted("1") {
        eprintln!("== 1. warm read latency (criterion)");
        rows.extend(warm::run(&rt));
    }
    if wanted("2") {
        eprintln!("== 2. thundering herd");
        rows.extend(rt.block_on(peers::herd()));
    }
    if wanted("3") {
        eprintln!("== 3. refresh under load");
        rows.extend(rt.block_on(peers::refresh_under_load()));
    }
    if wanted("4") {
        eprintln!("== 4. requests per steady-state refresh");
        rows.extend(rt.block_on(peers::requests_per_refresh()));
    }
    if wanted("5") {
        eprintln!("== 5. cold fetch latency");
        rows.extend(peers::cold_fetch(&rt));
    }
    if wanted("7") {
        eprintln!("== 7. brokers: aws serve throughput, cached credential-process");
        rows.extend(rt.block_on(broker::serve_throughput()));
        rows.extend(rt.block_on(broker::cached_credential_process()));
    }
    drop(rt);
    if wanted("6") || wanted("7") {
        eprintln!("== 6. fleet simulation");
        rows.extend(fleet::run());
    }

    let mut out = String::new();
    let _ = writeln!(
        out,
        "\n| # | measurement | ours | peer | ratio |\n|---|---|---|---|---|"
    );
    for r in &rows {
        let _ = writeln!(
            out,
            "| {} | {} | {} | {} | {} |",
            r.item, r.what, r.ours, r.peer, r.ratio
        );
    }
    println!("{out}");
    println!(
        "Machine: {} logical CPUs, shared with other work; absolute times are noisy, compare ratios.",
        std::thread::available_parallelism().map_or(0, |n| n.get())
    );
}

/// Formats nanoseconds readably.
pub fn ns(v: f64) -> String {
    if v >= 1e6 {
        format!("{:.2} ms", v / 1e6)
    } else if v >= 1e3 {
        format!("{:.2} µs", v / 1e3)
    } else {
        format!("{v:.1} ns")
    }
}
