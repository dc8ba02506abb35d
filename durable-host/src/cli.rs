//! The host binary's command line: `serve` (default) and the management commands, which
//! work on the store directly, whether or not a host is serving it.

use std::process::ExitCode;
use std::sync::Arc;

use chrono::{DateTime, Utc};
use clap::{Parser, Subcommand};
use durable_runtime::client::ClientOptions;
use durable_runtime::engine::registry::Registry;
use durable_runtime::engine::store::{InstanceQuery, PurgeFilter};
use durable_runtime::wire::InstanceList;
use durable_runtime::{
    DurableClient, DurableError, HistoryEventWire, ListOptions, OrchestrationStatus, PurgeOptions,
    RestartOptions, RuntimeStatus, StartOptions, StatusOptions, TerminateOptions,
};
use serde_json::Value;

use crate::config::{ConfigArgs, HostConfig, StoreUrl};
use crate::keys::{HostKeys, Rotation};
use crate::server::{ConnectedStore, connect_store, host_clock, serve};
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
        /// Begin at this time (RFC 3339, e.g. 2024-01-31T12:00:00Z); Pending until then.
        #[arg(long, value_name = "TIME")]
        at: Option<String>,
        /// The orchestration version the instance starts with [default: --default-version].
        #[arg(long = "version", value_name = "VERSION")]
        instance_version: Option<String>,
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
    /// List instances, oldest first.
    List {
        /// Only these statuses (comma-separated: Running,Failed,...).
        #[arg(long, value_name = "STATUS")]
        status: Option<String>,
        /// Only ids starting with this.
        #[arg(long)]
        prefix: Option<String>,
        /// Only instances created at or after this time (RFC 3339).
        #[arg(long, value_name = "TIME")]
        from: Option<String>,
        /// Only instances created at or before this time (RFC 3339).
        #[arg(long, value_name = "TIME")]
        to: Option<String>,
        /// Only instances of this orchestration version.
        #[arg(long = "version", value_name = "VERSION")]
        instance_version: Option<String>,
        /// Most instances to print.
        #[arg(long, default_value_t = 100)]
        top: usize,
        /// Continue a listing where an earlier one stopped.
        #[arg(long, value_name = "TOKEN")]
        continuation: Option<String>,
        /// Print JSON: {"instances": [...], "continuationToken": ...}.
        #[arg(long)]
        json: bool,
    },
    /// Send an external event to an instance.
    Raise {
        /// The instance id.
        id: String,
        /// The event's name.
        event: String,
        /// The event's data, as JSON [default: null].
        data: Option<String>,
    },
    /// Terminate a running, pending or suspended instance.
    Terminate {
        /// The instance id.
        id: String,
        /// Why.
        #[arg(long, default_value = "")]
        reason: String,
        /// Terminate its running sub-orchestrations too.
        #[arg(long)]
        recursive: bool,
    },
    /// Suspend an instance: what arrives is kept until it resumes.
    Suspend {
        /// The instance id.
        id: String,
        /// Why.
        #[arg(long, default_value = "")]
        reason: String,
    },
    /// Resume a suspended instance.
    Resume {
        /// The instance id.
        id: String,
        /// Why.
        #[arg(long, default_value = "")]
        reason: String,
    },
    /// Retry a failed instance from its point of failure.
    Rewind {
        /// The instance id.
        id: String,
        /// Why.
        #[arg(long, default_value = "")]
        reason: String,
    },
    /// Start an instance's orchestrator again with its input; prints the new id.
    Restart {
        /// The instance id.
        id: String,
        /// Reuse the same id (the instance must have finished).
        #[arg(long)]
        same_id: bool,
    },
    /// Delete finished instances with their history: one by id, or all created since a time.
    Purge {
        /// The instance id.
        id: Option<String>,
        /// Purge finished instances created at or after this time (RFC 3339).
        #[arg(long, value_name = "TIME", conflicts_with = "id")]
        from: Option<String>,
        /// ... and at or before this time.
        #[arg(long, value_name = "TIME", requires = "from")]
        to: Option<String>,
        /// ... and only these statuses (comma-separated).
        #[arg(long, value_name = "STATUS", requires = "from")]
        status: Option<String>,
        /// With an instance id: its sub-orchestrations too.
        #[arg(long, requires = "id")]
        recursive: bool,
    },
    /// Release entity locks held by orchestrations that have ended or no longer exist.
    CleanEntities,
    /// Check the store's invariants (histories well formed, rows agree with their
    /// histories, no work for finished or purged instances, no lock held by a finished
    /// orchestration); exits 1 when one is broken. Run it with no host working.
    Check {
        /// Print the report as JSON.
        #[arg(long)]
        json: bool,
    },
    /// Print the host's keys (made on first use), or rotate them.
    Keys {
        /// Print JSON.
        #[arg(long)]
        json: bool,
        /// What to do with the keys [default: print them].
        #[command(subcommand)]
        action: Option<KeysAction>,
    },
}

/// What `keys` does besides printing.
#[derive(Debug, Subcommand)]
enum KeysAction {
    /// Replace keys with new random ones (both when neither flag is given). A running host
    /// refuses the old key at once; rotating the system key also retires every instance
    /// token (valid for `--token-grace-seconds` more on running hosts).
    Rotate {
        /// Rotate the system key (and the instance-token secret).
        #[arg(long)]
        system: bool,
        /// Rotate the function key.
        #[arg(long)]
        function: bool,
    },
}

/// A command's failure: bad input (exit 2) or a failure to carry it out (exit 1); or its
/// reader went away (`| head`), which ends it quietly with success.
enum Failure {
    Usage(String),
    Runtime(String),
    OutputClosed,
}

/// Writes to standard output.
fn emit(text: &str) -> Result<(), Failure> {
    use std::io::Write;
    let mut out = std::io::stdout().lock();
    match out.write_all(text.as_bytes()).and_then(|()| out.flush()) {
        Ok(()) => Ok(()),
        Err(error) if error.kind() == std::io::ErrorKind::BrokenPipe => Err(Failure::OutputClosed),
        Err(error) => Err(Failure::Runtime(format!(
            "cannot write the output: {error}"
        ))),
    }
}

/// `println!` for command output: a closed pipe ends the command instead of a panic.
macro_rules! say {
    () => {
        emit("\n")?
    };
    ($($arg:tt)*) => {
        emit(&format!("{}\n", format_args!($($arg)*)))?
    };
}

/// `print!` for command output, like [`say!`].
macro_rules! say_raw {
    ($($arg:tt)*) => {
        emit(&format!($($arg)*))?
    };
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
    run(Cli::parse())
}

/// Runs the command line `args` (the first one is the program's name), as [`main`] does
/// with the process's own.
pub fn main_with_args<I, T>(args: I) -> ExitCode
where
    I: IntoIterator<Item = T>,
    T: Into<std::ffi::OsString> + Clone,
{
    match Cli::try_parse_from(args) {
        Ok(cli) => run(cli),
        Err(error) => {
            let _ = error.print();
            ExitCode::from(u8::try_from(error.exit_code()).unwrap_or(2))
        }
    }
}

fn run(cli: Cli) -> ExitCode {
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
    if let Err(error) = durable_runtime::engine::failpoints::check_environment() {
        eprintln!("error: {error}");
        return ExitCode::from(2);
    }
    let exporter = match init_tracing(&config) {
        Ok(exporter) => exporter,
        Err(error) => {
            eprintln!("error: {error}");
            return ExitCode::from(1);
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
            Command::Functions => print_functions(&registry),
            Command::Keys { json, action: None } => print_keys(&config, json),
            Command::Keys {
                json,
                action: Some(KeysAction::Rotate { system, function }),
            } => {
                let both = !system && !function;
                let rotation = Rotation {
                    system: system || both,
                    function: function || both,
                };
                HostKeys::rotate(&config.data_dir, rotation).map_err(Failure::Usage)?;
                print_keys(&config, json)
            }
            command => manage(command, config, registry).await,
        }
    });
    drop(runtime);
    exporter.shutdown();
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
        Err(Failure::OutputClosed) => ExitCode::SUCCESS,
    }
}

/// Logs to stderr, filtered by `DURABLE_LOG` (default `info`). Lines that orchestrator
/// code logs while it replays recorded history are dropped, so each appears once. With
/// `--otlp-endpoint`, spans are exported too.
fn init_tracing(config: &HostConfig) -> Result<TraceExport, String> {
    use tracing_subscriber::layer::SubscriberExt;
    use tracing_subscriber::util::SubscriberInitExt;
    use tracing_subscriber::{EnvFilter, Layer, filter};

    let levels = EnvFilter::try_from_env("DURABLE_LOG").unwrap_or_else(|_| EnvFilter::new("info"));
    // Dynamic: the answer changes from poll to poll, so it must not be cached per callsite.
    let replay_safe = filter::dynamic_filter_fn(|_, _| {
        !durable_runtime::orchestration::is_replaying_on_this_thread()
    });
    // Colours only for a person at a terminal: a file, a pipe or a journal gets plain text.
    let colour = std::io::IsTerminal::is_terminal(&std::io::stderr())
        && std::env::var_os("NO_COLOR").is_none_or(|value| value.is_empty());
    let output = tracing_subscriber::fmt::layer()
        .with_writer(std::io::stderr)
        .with_ansi(colour)
        .with_filter(replay_safe)
        .with_filter(levels);
    let registry = tracing_subscriber::registry().with(output);
    #[cfg(feature = "otlp")]
    if let Some(endpoint) = &config.otlp_endpoint {
        let (exporter, layer) = crate::otlp::Exporter::start(endpoint)?;
        let _ = registry
            .with(layer.with_filter(filter::LevelFilter::INFO))
            .try_init();
        return Ok(TraceExport(Some(exporter)));
    }
    let _ = config;
    let _ = registry.try_init();
    Ok(TraceExport::default())
}

/// The span exporter, when there is one, to flush before the process exits.
#[derive(Default)]
struct TraceExport(#[cfg(feature = "otlp")] Option<crate::otlp::Exporter>);

impl TraceExport {
    fn shutdown(self) {
        #[cfg(feature = "otlp")]
        if let Some(exporter) = self.0 {
            exporter.shutdown();
        }
    }
}

fn print_functions(registry: &Registry) -> Result<(), Failure> {
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
    say_raw!(
        "{}",
        table::render(&["Name", "Kind", "Trigger", "Defined at"], &rows)
    );
    Ok(())
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
    let ConnectedStore { store, clock } = connect_store(&config, host_clock(), false)
        .await
        .map_err(Failure::Runtime)?;
    let client = DurableClient::new(
        store.clone(),
        registry,
        clock.clone(),
        ClientOptions {
            hub: config.hub.clone(),
            base_url: format!("http://{}", config.listen),
            webhook_path: config.webhook_path.clone(),
            default_version: config.versioning.default_version.clone(),
            max_payload_bytes: config.max_payload_bytes,
            ..ClientOptions::default()
        },
    );
    match command {
        Command::Start {
            name,
            id,
            input,
            at,
            instance_version,
        } => {
            let input: Value = match input {
                Some(text) => serde_json::from_str(&text)
                    .map_err(|e| Failure::Usage(format!("--input is not valid JSON: {e}")))?,
                None => Value::Null,
            };
            let options = StartOptions {
                instance_id: id,
                start_at: parse_time("--at", at.as_deref())?,
                version: instance_version,
                ..StartOptions::default()
            };
            let id = client.start_new_with_options(&name, options, input).await?;
            say!("{id}");
            Ok(())
        }
        Command::Status { id, history, json } => {
            let status = find(&client, &id, history).await?;
            if json {
                say!("{}", to_json(&status));
                return Ok(());
            }
            say_raw!("{}", describe(&status));
            if let Some(events) = &status.history_events {
                say!();
                say_raw!("{}", history_table(events));
            }
            Ok(())
        }
        Command::History { id, json } => {
            let status = find(&client, &id, true).await?;
            let events = status.history_events.unwrap_or_default();
            if json {
                say!("{}", to_json(&events));
            } else {
                say_raw!("{}", history_table(&events));
            }
            Ok(())
        }
        Command::List {
            status,
            prefix,
            from,
            to,
            instance_version,
            top,
            continuation,
            json,
        } => {
            let query = InstanceQuery {
                instance_id_prefix: prefix,
                version: instance_version,
                created_from: parse_time("--from", from.as_deref())?,
                created_to: parse_time("--to", to.as_deref())?,
                statuses: parse_statuses(status.as_deref())?,
                page_size: top.max(1),
                after: None,
                entities: false,
                ..InstanceQuery::default()
            };
            let options = ListOptions {
                show_input: true,
                continuation_token: continuation,
            };
            let page = client.list_instances(&query, options).await?;
            if json {
                let body = InstanceList {
                    instances: page.instances,
                    continuation_token: page.continuation_token,
                };
                say!("{}", to_json(&body));
                return Ok(());
            }
            let rows: Vec<Vec<String>> = page
                .instances
                .iter()
                .map(|s| {
                    vec![
                        s.instance_id.clone(),
                        s.name.clone(),
                        s.runtime_status.to_string(),
                        s.version.clone().unwrap_or_default(),
                        s.created_time.to_rfc3339(),
                        s.last_updated_time.to_rfc3339(),
                    ]
                })
                .collect();
            let headers = [
                "Instance", "Name", "Status", "Version", "Created", "Updated",
            ];
            say_raw!("{}", table::render(&headers, &rows));
            if let Some(token) = page.continuation_token {
                say!("more: --continuation {token}");
            }
            Ok(())
        }
        Command::Raise { id, event, data } => {
            let data: Value = match data {
                Some(text) => serde_json::from_str(&text).map_err(|e| {
                    Failure::Usage(format!("the event data is not valid JSON: {e}"))
                })?,
                None => Value::Null,
            };
            client.raise_event(&id, &event, data).await?;
            say!("raised {event} at {id}");
            Ok(())
        }
        Command::Terminate {
            id,
            reason,
            recursive,
        } => {
            client
                .terminate(&id, TerminateOptions { reason, recursive })
                .await?;
            say!("terminate requested for {id}");
            Ok(())
        }
        Command::Suspend { id, reason } => {
            client.suspend(&id, &reason).await?;
            say!("suspend requested for {id}");
            Ok(())
        }
        Command::Resume { id, reason } => {
            client.resume(&id, &reason).await?;
            say!("resume requested for {id}");
            Ok(())
        }
        Command::Rewind { id, reason } => {
            client.rewind(&id, &reason).await?;
            say!("rewind requested for {id}");
            Ok(())
        }
        Command::Restart { id, same_id } => {
            let options = RestartOptions {
                new_instance_id: !same_id,
            };
            let new_id = client.restart(&id, options).await?;
            say!("{new_id}");
            Ok(())
        }
        Command::Purge {
            id,
            from,
            to,
            status,
            recursive,
        } => {
            let count = match (id, from) {
                (Some(id), _) => match client
                    .purge_instance_with_options(&id, PurgeOptions { recursive })
                    .await?
                {
                    0 => return Err(Failure::Usage(format!("no instance with id `{id}` exists"))),
                    count => count,
                },
                (None, Some(from)) => {
                    let filter = PurgeFilter {
                        created_from: parse_time("--from", Some(&from))?
                            .ok_or_else(|| Failure::Usage("--from is required".into()))?,
                        created_to: parse_time("--to", to.as_deref())?,
                        statuses: parse_statuses(status.as_deref())?,
                    };
                    client.purge_instances(&filter).await?
                }
                (None, None) => {
                    return Err(Failure::Usage(
                        "purge needs an instance id or --from TIME".into(),
                    ));
                }
            };
            say!("purged {count} instance(s)");
            Ok(())
        }
        Command::CleanEntities => {
            let cleaned = client.clean_entity_storage().await?;
            say!(
                "released {} orphaned lock(s)",
                cleaned.orphaned_locks_released
            );
            Ok(())
        }
        Command::Check { json } => {
            let report = durable_runtime::engine::check::check_store(store.as_ref(), clock.now())
                .await
                .map_err(|e| Failure::Runtime(format!("the store cannot be read: {e}")))?;
            if json {
                say!("{}", to_json(&report));
            } else {
                for violation in &report.violations {
                    say!(
                        "{}: {}: {}",
                        violation.instance_id.as_deref().unwrap_or("-"),
                        violation.rule,
                        violation.detail
                    );
                }
                say!(
                    "checked {} instances and {} entities: {}",
                    report.instances,
                    report.entities,
                    match report.violations.len() {
                        0 => "every invariant holds".to_owned(),
                        n => format!("{n} broken"),
                    }
                );
            }
            if report.is_clean() {
                Ok(())
            } else {
                Err(Failure::Runtime(format!(
                    "{} invariant(s) broken",
                    report.violations.len()
                )))
            }
        }
        Command::Serve | Command::Functions | Command::Keys { .. } => Ok(()),
    }
}

async fn find(
    client: &DurableClient,
    id: &str,
    with_history: bool,
) -> Result<OrchestrationStatus, Failure> {
    let options = if with_history {
        // The history table shows inputs and results.
        StatusOptions::with_history()
    } else {
        StatusOptions::default()
    };
    let status = client
        .get_status(id, options)
        .await?
        .ok_or_else(|| Failure::Usage(format!("no instance with id `{id}` exists")))?;
    Ok(status)
}

fn parse_time(flag: &str, text: Option<&str>) -> Result<Option<DateTime<Utc>>, Failure> {
    text.map(|text| {
        DateTime::parse_from_rfc3339(text)
            .map(|t| t.with_timezone(&Utc))
            .map_err(|_| {
                Failure::Usage(format!(
                    "{flag} `{text}` is not a time like 2024-01-31T12:00:00Z"
                ))
            })
    })
    .transpose()
}

fn parse_statuses(text: Option<&str>) -> Result<Vec<RuntimeStatus>, Failure> {
    text.unwrap_or_default()
        .split(',')
        .map(str::trim)
        .filter(|s| !s.is_empty())
        .map(|s| s.parse().map_err(Failure::Usage))
        .collect()
}

/// What `keys --json` prints: the keys, never the token secret.
#[derive(serde::Serialize)]
struct PrintedKeys<'a> {
    #[serde(rename = "systemKey")]
    system_key: &'a str,
    #[serde(rename = "functionKey")]
    function_key: &'a str,
}

fn print_keys(config: &HostConfig, json: bool) -> Result<(), Failure> {
    let keys = HostKeys::load_or_create(&config.data_dir).map_err(Failure::Runtime)?;
    if json {
        let printed = PrintedKeys {
            system_key: &keys.system_key,
            function_key: &keys.function_key,
        };
        say!("{}", to_json(&printed));
    } else {
        say!("system key    {}", keys.system_key);
        say!("function key  {}", keys.function_key);
    }
    Ok(())
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
        ("Version", status.version.clone().unwrap_or_default()),
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
fn history_table(events: &[HistoryEventWire]) -> String {
    let shown = |value: &Option<Value>| value.as_ref().map(compact).unwrap_or_default();
    let rows: Vec<Vec<String>> = events
        .iter()
        .map(|event| {
            vec![
                event.event_type.clone(),
                event
                    .timestamp
                    .to_rfc3339_opts(chrono::SecondsFormat::Millis, true),
                event.function_name.clone().unwrap_or_default(),
                shown(&event.input),
                match &event.failure_details {
                    Some(failure) => serde_json::to_value(failure)
                        .map(|failure| compact(&failure))
                        .unwrap_or_default(),
                    None => shown(&event.result),
                },
                event
                    .orchestration_status
                    .map(|status| status.to_string())
                    .unwrap_or_default(),
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
