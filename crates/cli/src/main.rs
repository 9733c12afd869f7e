//! `opendts`: runs the server and manages AccessKeys.

mod accesskey;
mod serve;

use clap::{Parser, Subcommand};
use std::path::PathBuf;
use std::process::ExitCode;

#[derive(Parser)]
#[command(name = "opendts", version, about = "OpenDTS: a self-hosted Data Transmission Service speaking the DTS OpenAPI.")]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand)]
enum Command {
    /// Run the API server and the job engine.
    Serve(serve::ServeArgs),
    /// Create, list or delete AccessKeys (each one is a tenant).
    #[command(subcommand)]
    Accesskey(accesskey::AccessKeyCommand),
}

/// Where the store lives; shared by every subcommand.
#[derive(clap::Args, Clone)]
struct DataDirArg {
    /// Data directory (metadata store and encryption key).
    #[arg(long, env = "OPENDTS_DATA_DIR", default_value = "./opendts-data")]
    data_dir: PathBuf,
}

fn main() -> ExitCode {
    let cli = Cli::parse();
    let result = match cli.command {
        Command::Serve(args) => serve::run(args),
        Command::Accesskey(cmd) => accesskey::run(cmd),
    };
    match result {
        Ok(()) => ExitCode::SUCCESS,
        Err(message) => {
            eprintln!("opendts: {message}");
            ExitCode::FAILURE
        }
    }
}
