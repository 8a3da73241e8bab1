use clap::Parser;
use tracing_subscriber::EnvFilter;

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    tracing_subscriber::fmt()
        .with_env_filter(
            EnvFilter::try_from_env("BATON_LOG").unwrap_or_else(|_| EnvFilter::new("info")),
        )
        .init();
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
        None => baton::run(config).await,
    }
}
