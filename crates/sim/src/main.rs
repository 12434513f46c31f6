//! `fieldsync-sim --seeds N [--start S] [--json]`: runs seeds S..S+N of the fault
//! simulator (crates/sim/src/lib.rs) and prints a summary; exits 1 when any seed fails,
//! after printing its seed, the invariant and a shrunk trace.

use std::collections::BTreeMap;
use std::process::ExitCode;

use clap::Parser;
use sha2::{Digest, Sha256};

#[derive(Parser)]
#[command(name = "fieldsync-sim", version, about = "Deterministic fault simulator for Fieldsync sync")]
struct Cli {
    /// How many seeds to run.
    #[arg(long, default_value_t = 200)]
    seeds: u64,
    /// The first seed.
    #[arg(long, default_value_t = 0)]
    start: u64,
    /// Print the summary as one JSON line.
    #[arg(long)]
    json: bool,
    /// Print every step of each seed's trace.
    #[arg(long)]
    trace: bool,
}

fn main() -> ExitCode {
    let cli = Cli::parse();
    // The simulated server crash is a panic inside a push; it is expected, not news.
    let default_hook = std::panic::take_hook();
    std::panic::set_hook(Box::new(move |info| {
        if info.payload().downcast_ref::<&str>() != Some(&fieldsync_sim::world::CRASH) {
            default_hook(info);
        }
    }));
    let runtime = match tokio::runtime::Builder::new_multi_thread().enable_all().build() {
        Ok(rt) => rt,
        Err(e) => {
            eprintln!("fieldsync-sim: cannot start: {e}");
            return ExitCode::FAILURE;
        }
    };
    let started = std::time::Instant::now();
    let (mut failures, mut invariants) = (0u64, 0u64);
    let mut faults: BTreeMap<&'static str, u64> = BTreeMap::new();
    let mut all = Sha256::new();
    for seed in cli.start..cli.start + cli.seeds {
        let report = runtime.block_on(fieldsync_sim::run_seed(seed));
        all.update(report.trace_hash.as_bytes());
        invariants += report.invariants_checked;
        for (kind, n) in &report.faults {
            *faults.entry(kind).or_default() += n;
        }
        if cli.trace {
            eprintln!("seed {seed}:\n  {}", report.trace.join("\n  "));
        }
        if let Some(failure) = report.failure {
            failures += 1;
            let plan = fieldsync_sim::Plan::generate(seed);
            let shrunk = runtime.block_on(fieldsync_sim::shrink(seed, &plan, failure.invariant, 80));
            eprintln!("seed {seed} FAILED {failure}");
            eprintln!(
                "  shrunk to {} of {} steps (roles {:?}); replay with --start {seed} --seeds 1 --trace:",
                shrunk.steps.len(),
                plan.steps.len(),
                shrunk.roles
            );
            for step in &shrunk.steps {
                eprintln!("    {step:?}");
            }
        }
    }
    let faults_json: serde_json::Map<String, serde_json::Value> =
        faults.iter().map(|(k, v)| (k.to_string(), serde_json::Value::from(*v))).collect();
    let summary = serde_json::json!({
        "seeds": cli.seeds,
        "start": cli.start,
        "failures": failures,
        "invariants_checked": invariants,
        "faults_injected": faults_json,
        "trace_hash": hex::encode(all.finalize()),
        "seconds": (started.elapsed().as_secs_f64() * 10.0).round() / 10.0,
    });
    if cli.json {
        println!("{summary}");
    } else {
        println!(
            "{} seed(s) from {}: {failures} failure(s), {invariants} invariant checks, faults {:?}, trace hash {}, {} s",
            cli.seeds, cli.start, faults, summary["trace_hash"], summary["seconds"]
        );
    }
    if failures == 0 {
        ExitCode::SUCCESS
    } else {
        ExitCode::FAILURE
    }
}
