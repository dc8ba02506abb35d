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
pub mod http;
pub mod keys;
pub mod server;
mod table;
pub mod timers;

/// Runs the host's command line (`serve` by default) and returns the process exit code:
/// 0 on success, 2 for bad input (with a one-line message), 1 for other failures.
pub fn run() -> std::process::ExitCode {
    cli::main()
}
