//! `durable-bench`: runs one of the W1–W5 or idle workloads on an in-process durable-rs
//! runtime (store, worker and client in this process, no HTTP) and prints its figures as
//! one JSON line.
//!
//! ```sh
//! cargo run --release -p durable-bench -- w1 --store sqlite --n 1000
//! ```
//!
//! `DURABLE_DURABILITY=normal` runs SQLite with `synchronous=NORMAL`, as the host's
//! `--durability normal` does; `DURABLE_RUN_AHEAD_MS=0` turns running ahead off, as the
//! host's `--run-ahead-ms 0` does.

mod functions;
mod over_http;
mod workloads;

use std::process::ExitCode;
use std::time::Duration;

use clap::Parser;
use clap::error::ErrorKind;

use crate::workloads::{StoreKind, Workload};

/// Runs a durable-rs workload in process and prints its figures as one JSON line.
#[derive(Debug, Parser)]
#[command(version, about, long_about = None)]
struct Cli {
    /// The workload.
    #[arg(value_enum)]
    workload: Workload,
    /// The store: sqlite, memory, or a postgres:// URL (a fresh task hub in it).
    #[arg(long, default_value = "sqlite", value_parser = StoreKind::parse)]
    store: StoreKind,
    /// Workers sharing the store, as separate hosts would (PostgreSQL only).
    #[arg(long, default_value = "1", value_parser = positive)]
    hosts: u64,
    /// The workload's size [default: w1 1000, w2 1000, w3 200, w4 1000, w5 100, idle 10000].
    #[arg(long, value_parser = positive)]
    n: Option<u64>,
    /// How to drive the runtime: in this process, or over HTTP against a host process this
    /// binary starts (`w1` and `w3` only).
    #[arg(long, value_enum, default_value = "in-process")]
    via: Via,
    /// With `--via http`: send the requests to this endpoint (a peer running the same chain
    /// of three, answering 200 with the three greetings) instead of a host started here.
    #[arg(long, value_name = "URL", requires = "via")]
    url: Option<String>,
    /// Concurrent HTTP clients for `w1 --via http` [default: N].
    #[arg(long, value_parser = positive)]
    clients: Option<u64>,
    /// Give up (exit 1) after this many seconds.
    #[arg(long, value_name = "SECONDS", default_value = "900", value_parser = positive)]
    timeout: u64,
}

/// How a workload drives the runtime.
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
enum Via {
    /// Store, worker and client in this process.
    InProcess,
    /// A real host process over HTTP (keep-alive connections).
    Http,
}

/// Parses a whole number of at least 1.
fn positive(text: &str) -> Result<u64, String> {
    match text.parse::<u64>() {
        Ok(0) => Err("must be at least 1".to_owned()),
        Ok(value) => Ok(value),
        Err(_) => Err("expected a whole number of at least 1".to_owned()),
    }
}

/// A clap error as one line: its message without the usage and help hints.
fn one_line(error: &clap::Error) -> String {
    let rendered = error.render().to_string();
    let parts: Vec<&str> = rendered
        .lines()
        .take_while(|line| !line.starts_with("Usage:") && !line.starts_with("For more information"))
        .map(str::trim)
        .filter(|line| !line.is_empty())
        .collect();
    let message = parts.join(" ");
    let message = message.strip_prefix("error: ").unwrap_or(&message);
    format!("error: {message} (see --help)")
}

fn main() -> ExitCode {
    // `durable-bench host ...` serves the bench's functions as a host process (what
    // `--via http` drives).
    let mut args = std::env::args_os();
    if args.nth(1).is_some_and(|first| first == "host") {
        return durable_host::run_with_args(std::iter::once("durable-bench".into()).chain(args));
    }
    let cli = match Cli::try_parse() {
        Ok(cli) => cli,
        Err(error)
            if matches!(
                error.kind(),
                ErrorKind::DisplayHelp | ErrorKind::DisplayVersion
            ) =>
        {
            let _ = error.print();
            return ExitCode::SUCCESS;
        }
        Err(error) => {
            eprintln!("{}", one_line(&error));
            return ExitCode::from(2);
        }
    };
    let n = cli.n.unwrap_or_else(|| cli.workload.default_n());
    if n < cli.workload.min_n() {
        eprintln!(
            "error: {} needs --n of at least {}",
            cli.workload.name(),
            cli.workload.min_n()
        );
        return ExitCode::from(2);
    }
    let runtime = match tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
    {
        Ok(runtime) => runtime,
        Err(error) => {
            eprintln!("error: cannot start the async runtime: {error}");
            return ExitCode::from(1);
        }
    };
    let timeout = Duration::from_secs(cli.timeout);
    let hosts = usize::try_from(cli.hosts).unwrap_or(1);
    let result = match cli.via {
        Via::InProcess => {
            runtime.block_on(workloads::run(cli.workload, &cli.store, hosts, n, timeout))
        }
        Via::Http if !matches!(cli.workload, Workload::W1 | Workload::W3) => {
            eprintln!("error: --via http runs w1 and w3 only");
            return ExitCode::from(2);
        }
        Via::Http => {
            let clients = usize::try_from(cli.clients.unwrap_or(n)).unwrap_or(usize::MAX);
            runtime.block_on(over_http::run(
                cli.workload,
                &cli.store,
                n,
                clients,
                cli.url.as_deref(),
            ))
        }
    };
    match result.and_then(|report| serde_json::to_string(&report).map_err(|e| e.to_string())) {
        Ok(line) => {
            println!("{line}");
            ExitCode::SUCCESS
        }
        Err(message) => {
            eprintln!(
                "error: {} on {}: {message}",
                cli.workload.name(),
                cli.store.name()
            );
            ExitCode::from(1)
        }
    }
}
