//! The durable-rs host: configuration, HTTP server, management API, workers and CLI.
//!
//! A binary that links function crates calls [`run`] from `main`:
//!
//! ```no_run
//! fn main() -> std::process::ExitCode {
//!     durable_host::run()
//! }
//! ```
//!
//! The host finds every function registered with the attribute macros, opens the store,
//! starts the workers and serves HTTP; see `--help` for the commands and settings.

pub mod cli;
pub mod config;
pub mod dashboard;
pub mod grpc;
pub mod http;
pub mod keys;
#[cfg(feature = "otlp")]
pub mod otlp;
pub mod server;
mod table;
pub mod timers;

/// Runs the host's command line (`serve` by default) and returns the process exit code:
/// 0 on success, 2 for bad input (with a one-line message), 1 for other failures.
pub fn run() -> std::process::ExitCode {
    cli::main()
}

/// Like [`run`], with a command line of the caller's (the first argument is the program's
/// name): for a binary that serves a host as one of its own commands.
pub fn run_with_args<I, T>(args: I) -> std::process::ExitCode
where
    I: IntoIterator<Item = T>,
    T: Into<std::ffi::OsString> + Clone,
{
    cli::main_with_args(args)
}
