use std::io::IsTerminal;

use clap::Parser;
use tracing_subscriber::layer::SubscriberExt;
use tracing_subscriber::util::SubscriberInitExt;
use tracing_subscriber::EnvFilter;

/// Each Argon2 password hash needs a 19 MiB block. glibc's malloc keeps such blocks in
/// per-thread heaps once its mmap threshold has adapted to them, so a few dozen sign-ins left the
/// server hundreds of MiB bigger for good. jemalloc serves blocks above 8 MiB from an arena of
/// their own that gives pages back as soon as they are freed (docs/reliability.md, "Password
/// hashing and memory").
#[cfg(not(target_env = "msvc"))]
#[global_allocator]
static ALLOCATOR: tikv_jemallocator::Jemalloc = tikv_jemallocator::Jemalloc;

/// jemalloc's options, read before `main`. Freed pages go back to the system about a second after
/// they were last used (the default waits ten), and a background thread does it, so a server
/// that falls quiet (a crowd of sockets just closed) shrinks without waiting for its next
/// allocation. `_rjem_` is the prefix tikv-jemalloc gives jemalloc's symbols.
#[cfg(not(target_env = "msvc"))]
#[unsafe(export_name = "_rjem_malloc_conf")]
static MALLOC_CONF: &u8 = &b"background_thread:true,dirty_decay_ms:1000,muzzy_decay_ms:0\0"[0];

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    // Colours for a person at a terminal; none in a file, a pipe or a log collector. Traces
    // also go to an OpenTelemetry collector when the environment names one (`telemetry.rs`).
    let telemetry = baton::telemetry::Telemetry::from_env()?;
    let (telemetry, tracer) = telemetry.map_or((None, None), |(t, tracer)| (Some(t), Some(tracer)));
    tracing_subscriber::registry()
        .with(EnvFilter::try_from_env("BATON_LOG").unwrap_or_else(|_| EnvFilter::new("info")))
        .with(tracing_subscriber::fmt::layer().with_ansi(std::io::stdout().is_terminal()))
        .with(tracer.map(|t| tracing_opentelemetry::layer().with_tracer(t)))
        .init();
    let result = run_command().await;
    if let Some(telemetry) = telemetry {
        telemetry.shutdown().await;
    }
    result
}

async fn run_command() -> anyhow::Result<()> {
    let mut cli = baton::config::Cli::parse();
    let command = cli.command.take();
    let config = cli.into_config();
    match command {
        Some(baton::config::Command::Migrate) => baton::migrate(&config).await,
        Some(baton::config::Command::Doctor) => {
            if !baton::doctor::run(&config).await? {
                std::process::exit(1);
            }
            Ok(())
        }
        Some(baton::config::Command::Backup { file }) => {
            let summary = baton::backup::backup(&config, &file).await?;
            println!(
                "backup written to {}: database {} bytes, {} attachment files",
                file.display(),
                summary.database_bytes,
                summary.attachments
            );
            Ok(())
        }
        Some(baton::config::Command::LoadTestAccounts {
            workspaces,
            teammates,
        }) => {
            let accounts = baton::load_test::accounts(&config, workspaces, teammates).await?;
            println!("{accounts}");
            Ok(())
        }
        Some(baton::config::Command::Restore { file, force }) => {
            baton::backup::restore(&config, &file, force).await?;
            println!(
                "restored {} into {}; start Baton to use it",
                file.display(),
                config.data_dir.display()
            );
            Ok(())
        }
        None => baton::run(config).await,
    }
}
