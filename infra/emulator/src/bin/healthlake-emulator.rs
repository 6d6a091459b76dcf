//! `healthlake-emulator --port 4599`: serves the emulator until Ctrl-C.

use anyhow::Context;
use clap::Parser;
use healthlake_emulator::RunningEmulator;
use healthlake_emulator::cli::Cli;
use tracing_subscriber::EnvFilter;

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    tracing_subscriber::fmt()
        .with_env_filter(
            EnvFilter::try_from_default_env().unwrap_or_else(|_| EnvFilter::new("info")),
        )
        .with_writer(std::io::stderr)
        .init();
    let cli = Cli::parse();
    let addr = cli.socket_addr();
    let emulator = RunningEmulator::start(cli.config(), addr)
        .await
        .with_context(|| format!("cannot listen on {addr}"))?;
    println!("healthlake-emulator listening on {}", emulator.url());
    tokio::signal::ctrl_c()
        .await
        .context("cannot wait for Ctrl-C")?;
    emulator.shutdown().await;
    Ok(())
}
