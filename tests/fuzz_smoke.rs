//! Keeps the cargo-fuzz targets from rotting on stable: every entry point of
//! `federated_credentials::fuzzing` runs over its committed seed corpus in `fuzz/corpus/`,
//! then over a few thousand cheap deterministic mutations of those seeds. Each target in
//! `fuzz/fuzz_targets/` must have an entry point and a corpus, and the other way round.
//!
//! This is a smoke test, not fuzzing: see docs/reliability.md for running the fuzzers.

use std::collections::BTreeSet;
use std::fs;
use std::path::{Path, PathBuf};

use federated_credentials::fuzzing::TARGETS;

const MUTATIONS_PER_SEED: usize = 200;

fn fuzz_dir() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("fuzz")
}

fn seeds(target: &str) -> Vec<(PathBuf, Vec<u8>)> {
    let dir = fuzz_dir().join("corpus").join(target);
    let mut seeds: Vec<_> = fs::read_dir(&dir)
        .unwrap_or_else(|e| panic!("no corpus at {}: {e}", dir.display()))
        .map(|entry| entry.unwrap().path())
        // Only the committed seeds: a local fuzzing run adds thousands of its own inputs.
        .filter(|p| {
            p.is_file()
                && p.file_name()
                    .is_some_and(|n| n.to_string_lossy().starts_with("seed-"))
        })
        .map(|p| {
            let bytes = fs::read(&p).unwrap();
            (p, bytes)
        })
        .collect();
    seeds.sort();
    seeds
}

/// A tiny deterministic PRNG (xorshift64*), so failures reproduce.
struct Rng(u64);

impl Rng {
    fn next(&mut self) -> u64 {
        self.0 ^= self.0 >> 12;
        self.0 ^= self.0 << 25;
        self.0 ^= self.0 >> 27;
        self.0.wrapping_mul(0x2545_f491_4f6c_dd1d)
    }

    fn below(&mut self, n: usize) -> usize {
        (self.next() % n.max(1) as u64) as usize
    }
}

const INTERESTING: &[&[u8]] = &[
    b"\"",
    b"<",
    b">",
    b"</",
    b"&amp;",
    b"&#x0;",
    b"{",
    b"}",
    b"[",
    b"null",
    b"-1",
    b"0",
    b"1e309",
    b"18446744073709551615",
    b"9223372036854775807",
    b"-9223372036854775808",
    b"1e20",
    b"\xff",
    b"\r\n",
    b".",
    b"=",
];

/// One random edit: flip a byte, delete a range, duplicate a range, or insert a token.
fn mutate(rng: &mut Rng, input: &[u8]) -> Vec<u8> {
    let mut out = input.to_vec();
    for _ in 0..=rng.below(3) {
        let len = out.len();
        match rng.below(4) {
            0 if len > 0 => {
                let i = rng.below(len);
                out[i] ^= 1 << rng.below(8);
            }
            1 if len > 0 => {
                let start = rng.below(len);
                let end = (start + rng.below(16)).min(len);
                out.drain(start..end);
            }
            2 if len > 0 => {
                let start = rng.below(len);
                let end = (start + rng.below(32)).min(len);
                let chunk = out[start..end].to_vec();
                let at = rng.below(out.len() + 1);
                out.splice(at..at, chunk);
            }
            _ => {
                let token = INTERESTING[rng.below(INTERESTING.len())];
                let at = rng.below(out.len() + 1);
                out.splice(at..at, token.iter().copied());
            }
        }
    }
    out
}

#[test]
fn every_target_has_an_entry_point_and_a_corpus() {
    let files: BTreeSet<String> = fs::read_dir(fuzz_dir().join("fuzz_targets"))
        .unwrap()
        .map(|e| e.unwrap().path())
        .filter(|p| p.extension().is_some_and(|x| x == "rs"))
        .map(|p| p.file_stem().unwrap().to_string_lossy().into_owned())
        .collect();
    let entries: BTreeSet<String> = TARGETS.iter().map(|(n, _)| n.to_string()).collect();
    assert_eq!(files, entries, "fuzz/fuzz_targets/*.rs vs fuzzing::TARGETS");
    let manifest = fs::read_to_string(fuzz_dir().join("Cargo.toml")).unwrap();
    for name in &entries {
        assert!(
            manifest.contains(&format!("name = \"{name}\"")),
            "fuzz/Cargo.toml has no [[bin]] {name}"
        );
        let source =
            fs::read_to_string(fuzz_dir().join(format!("fuzz_targets/{name}.rs"))).unwrap();
        assert!(
            source.contains(&format!("fuzzing::{name}(")),
            "fuzz_targets/{name}.rs does not call fuzzing::{name}"
        );
        assert!(!seeds(name).is_empty(), "fuzz/corpus/{name} is empty");
    }
}

#[test]
fn seed_corpora_and_mutations_never_panic() {
    for (name, entry) in TARGETS {
        let seeds = seeds(name);
        let mut rng = Rng(0x9e37_79b9_7f4a_7c15 ^ name.len() as u64);
        for (path, seed) in &seeds {
            entry(seed);
            for _ in 0..MUTATIONS_PER_SEED {
                let input = mutate(&mut rng, seed);
                let result = std::panic::catch_unwind(|| entry(&input));
                assert!(
                    result.is_ok(),
                    "{name} panicked on a mutation of {}: {:?}",
                    path.display(),
                    String::from_utf8_lossy(&input)
                );
            }
        }
    }
}
