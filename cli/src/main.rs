//! `healthlake-monitor`: the monitor's core from a terminal.

mod demo;
mod dry_run;
mod file_store;
mod output;
mod scan;
mod stdout;

use clap::{Parser, Subcommand};
use std::process::ExitCode;

#[derive(Parser)]
#[command(
    name = "healthlake-monitor",
    version,
    about = "Watches Amazon HealthLake data stores and alerts when one fails"
)]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand)]
enum Command {
    /// Runs a self-contained demo on an in-process HealthLake emulator: no AWS account needed.
    Demo(demo::Args),
    /// Runs one scan against the endpoint the standard AWS configuration gives.
    Scan(Box<scan::Args>),
}

#[tokio::main]
async fn main() -> ExitCode {
    tracing_subscriber::fmt()
        .with_env_filter(
            tracing_subscriber::EnvFilter::try_from_default_env().unwrap_or_else(|_| "off".into()),
        )
        .with_writer(std::io::stderr)
        .init();
    let result = match Cli::parse().command {
        Command::Demo(args) => demo::run(args).await,
        Command::Scan(args) => scan::run(*args).await,
    };
    match result {
        Ok(code) => code,
        Err(e) => {
            output::complain(&format!("{e:#}"));
            ExitCode::from(2)
        }
    }
}
