//! The host binary's command line: `serve` (default) and the management commands, which
//! work on the store directly, whether or not a host is serving it.

use std::process::ExitCode;
use std::sync::Arc;

use clap::{Parser, Subcommand};
use durable_runtime::client::ClientOptions;
use durable_runtime::clock::{Clock, SystemClock};
use durable_runtime::registry::Registry;
use durable_runtime::status::history_to_wire;
use durable_runtime::{DurableClient, DurableError, OrchestrationStatus};
use serde_json::Value;

use crate::config::{ConfigArgs, HostConfig, StoreUrl};
use crate::server::{open_store, serve};
use crate::table;

/// The durable-rs host: runs orchestrator, activity and client functions.
#[derive(Debug, Parser)]
#[command(version, about, long_about = None)]
pub struct Cli {
    #[command(flatten)]
    config: ConfigArgs,
    #[command(subcommand)]
    command: Option<Command>,
}

#[derive(Debug, Subcommand)]
enum Command {
    /// Serve HTTP and run the functions (the default).
    Serve,
    /// List the functions linked into this binary.
    Functions,
    /// Start an orchestration instance and print its id.
    Start {
        /// The orchestrator's name.
        name: String,
        /// The instance id [default: a new random id].
        #[arg(long)]
        id: Option<String>,
        /// The input, as JSON.
        #[arg(long, value_name = "JSON")]
        input: Option<String>,
    },
    /// Show an instance's status.
    Status {
        /// The instance id.
        id: String,
        /// Also print the history.
        #[arg(long)]
        history: bool,
        /// Print the status as JSON, as the HTTP API returns it.
        #[arg(long)]
        json: bool,
    },
    /// Print an instance's history as a table.
    History {
        /// The instance id.
        id: String,
        /// Print the history events as JSON.
        #[arg(long)]
        json: bool,
    },
}

/// A command's failure: bad input (exit 2) or a failure to carry it out (exit 1).
enum Failure {
    Usage(String),
    Runtime(String),
}

impl From<DurableError> for Failure {
    fn from(error: DurableError) -> Self {
        match error {
            DurableError::Store(_) => Failure::Runtime(error.to_string()),
            other => Failure::Usage(other.to_string()),
        }
    }
}

/// Parses the command line and runs the command.
pub fn main() -> ExitCode {
    let cli = Cli::parse();
    init_tracing();
    let registry = match Registry::discover() {
        Ok(registry) => Arc::new(registry),
        Err(errors) => {
            for error in errors {
                eprintln!("error: {error}");
            }
            return ExitCode::from(1);
        }
    };
    let config = match HostConfig::resolve(&cli.config) {
        Ok(config) => config,
        Err(error) => {
            eprintln!("error: {error}");
            return ExitCode::from(2);
        }
    };
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
    let result = runtime.block_on(async move {
        match cli.command.unwrap_or(Command::Serve) {
            Command::Serve => serve(config, registry).await.map_err(Failure::Runtime),
            Command::Functions => {
                print_functions(&registry);
                Ok(())
            }
            command => manage(command, config, registry).await,
        }
    });
    match result {
        Ok(()) => ExitCode::SUCCESS,
        Err(Failure::Usage(message)) => {
            eprintln!("error: {message}");
            ExitCode::from(2)
        }
        Err(Failure::Runtime(message)) => {
            eprintln!("error: {message}");
            ExitCode::from(1)
        }
    }
}

/// Logs to stderr, filtered by `DURABLE_LOG` (default `info`). Lines that orchestrator
/// code logs while it replays recorded history are dropped, so each appears once.
fn init_tracing() {
    use tracing_subscriber::layer::SubscriberExt;
    use tracing_subscriber::util::SubscriberInitExt;
    use tracing_subscriber::{EnvFilter, Layer, filter};

    let levels = EnvFilter::try_from_env("DURABLE_LOG").unwrap_or_else(|_| EnvFilter::new("info"));
    // Dynamic: the answer changes from poll to poll, so it must not be cached per callsite.
    let replay_safe = filter::dynamic_filter_fn(|_, _| {
        !durable_runtime::orchestration::is_replaying_on_this_thread()
    });
    let output = tracing_subscriber::fmt::layer()
        .with_writer(std::io::stderr)
        .with_filter(replay_safe)
        .with_filter(levels);
    let _ = tracing_subscriber::registry().with(output).try_init();
}

fn print_functions(registry: &Registry) {
    let rows: Vec<Vec<String>> = registry
        .functions()
        .into_iter()
        .map(|f| {
            vec![
                f.name.to_owned(),
                f.kind.to_string(),
                f.trigger.unwrap_or_default(),
                f.location.to_string(),
            ]
        })
        .collect();
    print!(
        "{}",
        table::render(&["Name", "Kind", "Trigger", "Defined at"], &rows)
    );
}

async fn manage(
    command: Command,
    config: HostConfig,
    registry: Arc<Registry>,
) -> Result<(), Failure> {
    if config.store == StoreUrl::Memory {
        return Err(Failure::Usage(
            "the memory store lives inside a serving host; management commands need a persistent store (sqlite://PATH)".into(),
        ));
    }
    let clock: Arc<dyn Clock> = Arc::new(SystemClock);
    let store = open_store(&config, clock.clone(), false).map_err(Failure::Runtime)?;
    let client = DurableClient::new(
        store,
        registry,
        clock,
        ClientOptions {
            hub: config.hub.clone(),
            base_url: format!("http://{}", config.listen),
            ..ClientOptions::default()
        },
    );
    match command {
        Command::Start { name, id, input } => {
            let input: Value = match input {
                Some(text) => serde_json::from_str(&text)
                    .map_err(|e| Failure::Usage(format!("--input is not valid JSON: {e}")))?,
                None => Value::Null,
            };
            let id = client.start_new(&name, id.as_deref(), input).await?;
            println!("{id}");
            Ok(())
        }
        Command::Status { id, history, json } => {
            let status = find(&client, &id, history).await?;
            if json {
                println!("{}", to_json(&status));
                return Ok(());
            }
            print!("{}", describe(&status));
            if let Some(events) = &status.history_events {
                println!();
                print!("{}", history_table(events));
            }
            Ok(())
        }
        Command::History { id, json } => {
            let status = find(&client, &id, true).await?;
            let events = status.history_events.unwrap_or_default();
            if json {
                println!("{}", to_json(&events));
            } else {
                print!("{}", history_table(&events));
            }
            Ok(())
        }
        Command::Serve | Command::Functions => Ok(()),
    }
}

async fn find(
    client: &DurableClient,
    id: &str,
    with_history: bool,
) -> Result<OrchestrationStatus, Failure> {
    let status = client
        .get_status(id, with_history, with_history, true)
        .await?;
    let mut status =
        status.ok_or_else(|| Failure::Usage(format!("no instance with id `{id}` exists")))?;
    if with_history {
        // The history table wants results; re-render from the store with outputs on.
        let events = client
            .store()
            .get_history(id)
            .await
            .map_err(DurableError::from)?;
        status.history_events = Some(history_to_wire(&events, true));
    }
    Ok(status)
}

fn to_json<T: serde::Serialize>(value: &T) -> String {
    serde_json::to_string_pretty(value).unwrap_or_else(|e| format!("{{\"error\": \"{e}\"}}"))
}

fn compact(value: &Value) -> String {
    match value {
        Value::Null => String::new(),
        other => other.to_string(),
    }
}

fn describe(status: &OrchestrationStatus) -> String {
    let rows = [
        ("Instance", status.instance_id.clone()),
        ("Name", status.name.clone()),
        ("Status", status.runtime_status.to_string()),
        ("Created", status.created_time.to_rfc3339()),
        ("Updated", status.last_updated_time.to_rfc3339()),
        ("Input", status.input.to_string()),
        ("Custom status", status.custom_status.to_string()),
        ("Output", status.output.to_string()),
    ];
    rows.iter()
        .map(|(label, value)| format!("{label:<14} {value}\n"))
        .collect()
}

/// The history as the Durable Functions docs show it: one row per event.
fn history_table(events: &[Value]) -> String {
    let field = |event: &Value, name: &str| event.get(name).map(compact).unwrap_or_default();
    let rows: Vec<Vec<String>> = events
        .iter()
        .map(|event| {
            vec![
                event
                    .get("EventType")
                    .and_then(Value::as_str)
                    .unwrap_or_default()
                    .to_owned(),
                event
                    .get("Timestamp")
                    .and_then(Value::as_str)
                    .unwrap_or_default()
                    .to_owned(),
                event
                    .get("FunctionName")
                    .and_then(Value::as_str)
                    .unwrap_or_default()
                    .to_owned(),
                field(event, "Input"),
                match event.get("FailureDetails") {
                    Some(failure) => compact(failure),
                    None => field(event, "Result"),
                },
                event
                    .get("OrchestrationStatus")
                    .and_then(Value::as_str)
                    .unwrap_or_default()
                    .to_owned(),
            ]
        })
        .collect();
    table::render(
        &[
            "EventType",
            "Timestamp",
            "Name",
            "Input",
            "Result",
            "Status",
        ],
        &rows,
    )
}
