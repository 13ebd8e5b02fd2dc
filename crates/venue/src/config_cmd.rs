//! `venue serve` and `venue config example|check`: thin shells over
//! `venue-server`.

use std::path::{Path, PathBuf};
use std::process::ExitCode;
use venue_server::config;
use venue_server::serve::Overrides;

/// The configuration file's settings (the built-in demo without one) with
/// the command line's overrides; prints the error itself.
fn settings(config_path: &Option<PathBuf>, overrides: &Overrides) -> Option<config::Settings> {
    let loaded = match config_path {
        Some(path) => config::load(path).map_err(|e| format!("{}: {e}", path.display())),
        None => Ok(config::demo()),
    };
    match loaded {
        Ok(mut settings) => {
            overrides.apply(&mut settings);
            Some(settings)
        }
        Err(message) => {
            eprintln!("venue: configuration error: {message}");
            None
        }
    }
}

pub fn serve(config_path: Option<PathBuf>, overrides: Overrides) -> ExitCode {
    let Some(settings) = settings(&config_path, &overrides) else { return ExitCode::FAILURE };
    match venue_server::serve(settings, config_path) {
        Ok(()) => ExitCode::SUCCESS,
        Err(message) => {
            eprintln!("venue: {message}");
            ExitCode::FAILURE
        }
    }
}

pub fn example() -> ExitCode {
    print!("{}", config::DEMO);
    ExitCode::SUCCESS
}

pub fn check(file: &Path) -> ExitCode {
    match config::load(file) {
        Ok(settings) => {
            println!(
                "{}: ok ({} assets, {} instruments, {} fee tiers, {} accounts)",
                file.display(),
                settings.engine.assets.len(),
                settings.engine.instruments.len(),
                settings.engine.fee_tiers.len(),
                settings.accounts.len()
            );
            ExitCode::SUCCESS
        }
        Err(e) => {
            eprintln!("{}: {e}", file.display());
            ExitCode::FAILURE
        }
    }
}

/// Runs a post-trade command on the configuration's settings: prints its
/// summary (exit 0) or its error (exit 1).
pub fn posttrade(
    config_path: &Option<PathBuf>,
    data_dir: Option<PathBuf>,
    command: impl FnOnce(&config::Settings) -> Result<String, String>,
) -> ExitCode {
    let overrides = Overrides { data_dir, ..Overrides::default() };
    let Some(settings) = settings(config_path, &overrides) else { return ExitCode::FAILURE };
    match command(&settings) {
        Ok(summary) => {
            print!("{summary}");
            ExitCode::SUCCESS
        }
        Err(message) => {
            eprintln!("venue: {message}");
            ExitCode::FAILURE
        }
    }
}
