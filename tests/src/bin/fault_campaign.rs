//! `fault-campaign`: a randomized fault campaign against the real monitor on
//! DynamoDB Local, moto and the HealthLake emulator (see
//! `integration_tests::campaign`). Needs the tools of `.tools/env.sh`.
//!
//! Exit codes: 0 every invariant held; 1 an invariant broke (the seed and what
//! broke are printed); 2 the campaign could not run.

use clap::Parser;
use integration_tests::campaign::{self, Config};
use std::process::ExitCode;

#[derive(Debug, Parser)]
#[command(about = "Randomized fault campaign against the healthlake-monitor delivery path")]
struct Args {
    /// The seed; a random one by default (printed first, to replay the run).
    #[arg(long)]
    seed: Option<u64>,
    /// Ticks to run at least (the phase under way then finishes).
    #[arg(long, default_value_t = 300)]
    ticks: u64,
    /// Stop after this many phases.
    #[arg(long)]
    phases: Option<u64>,
}

#[tokio::main]
async fn main() -> ExitCode {
    let args = Args::parse();
    let seed = args
        .seed
        .unwrap_or_else(|| uuid::Uuid::new_v4().as_u64_pair().0);
    println!("seed {seed}");
    let config = Config {
        seed,
        ticks: args.ticks,
        phases: args.phases,
    };
    match campaign::run(&config).await {
        Ok(report) => {
            print!("{report}");
            if report.passed() {
                ExitCode::SUCCESS
            } else {
                ExitCode::from(1)
            }
        }
        Err(err) => {
            eprintln!("fault campaign (seed {seed}) could not run: {err:#}");
            ExitCode::from(2)
        }
    }
}
