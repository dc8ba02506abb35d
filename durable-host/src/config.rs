//! Host configuration: command-line flags over `DURABLE_*` environment variables over
//! `host.json` (the Durable Functions `extensions.durableTask` section) over defaults.

use std::net::SocketAddr;
use std::path::{Path, PathBuf};

use serde::Deserialize;

/// Settings given on the command line or in the environment (clap reads both).
#[derive(Debug, Clone, Default, clap::Args)]
pub struct ConfigArgs {
    /// Address to serve HTTP on; port 0 picks a free port [default: 127.0.0.1:7071].
    #[arg(long, env = "DURABLE_LISTEN", global = true, value_name = "ADDR")]
    pub listen: Option<String>,
    /// Folder for the embedded store and the host's keys [default: ./.durable].
    #[arg(long, env = "DURABLE_DATA_DIR", global = true, value_name = "DIR")]
    pub data_dir: Option<PathBuf>,
    /// Store URL: `sqlite://PATH`, `postgres://USER[:PASSWORD]@HOST[:PORT]/DATABASE` or
    /// `memory:` [default: the SQLite file in the data folder].
    #[arg(long, env = "DURABLE_STORE", global = true, value_name = "URL")]
    pub store: Option<String>,
    /// Task hub name; on PostgreSQL it picks the schema `durable_<hub lowercased>`
    /// [default: DurableFunctionsHub].
    #[arg(long, env = "DURABLE_HUB", global = true, value_name = "NAME")]
    pub hub: Option<String>,
    /// The host.json file to read [default: ./host.json when present].
    #[arg(long, env = "DURABLE_CONFIG", global = true, value_name = "FILE")]
    pub config: Option<PathBuf>,
    /// `keys` (default) requires the system key on the management API; `none` turns key
    /// checks off and is only allowed on a loopback address.
    #[arg(long, env = "DURABLE_AUTH", global = true, value_name = "MODE")]
    pub auth: Option<String>,
    /// How many live orchestrations to keep in memory between turns; 0 replays history on
    /// every turn [default: 5000].
    #[arg(
        long,
        env = "DURABLE_ORCHESTRATION_CACHE",
        global = true,
        value_name = "N"
    )]
    pub orchestration_cache: Option<usize>,
    /// How many times an activity may be handed out without finishing (its host died)
    /// before it fails as a poison message [default: 10].
    #[arg(
        long,
        env = "DURABLE_MAX_DEQUEUE_COUNT",
        global = true,
        value_name = "N"
    )]
    pub max_dequeue_count: Option<u32>,
    /// How long, in milliseconds, a live orchestration may run ahead of its commit: the
    /// activities it schedules run at once, in this host, and the turns their results make
    /// share one commit; 0 commits every turn before its activities start [default: 2].
    #[arg(long, env = "DURABLE_RUN_AHEAD_MS", global = true, value_name = "MS")]
    pub run_ahead_ms: Option<u64>,
    /// Export spans over OTLP/HTTP to this collector (`{URL}/v1/traces`); needs a host
    /// built with the `otlp` feature [default: off].
    #[arg(long, env = "DURABLE_OTLP_ENDPOINT", global = true, value_name = "URL")]
    pub otlp_endpoint: Option<String>,
    /// `on` (default) serves Prometheus metrics at `/metrics` (system key required) and has
    /// the worker count and time its work; `off` does neither.
    #[arg(long, env = "DURABLE_METRICS", global = true, value_name = "on|off")]
    pub metrics: Option<String>,
    /// Path of the management API [default: /runtime/webhooks/durabletask].
    #[arg(long, env = "DURABLE_WEBHOOK_PATH", global = true, value_name = "PATH")]
    pub webhook_path: Option<String>,
    /// SQLite commits: `full` waits for the disk (nothing acknowledged is lost on power
    /// loss), `normal` does not (faster; a power loss may drop the last commits) [default: full].
    #[arg(long, env = "DURABLE_DURABILITY", global = true, value_name = "MODE")]
    pub durability: Option<String>,
    /// How long a lease on work lasts before another host may take it over, in seconds; a
    /// host renews its leases while it works [default: 30].
    #[arg(long, env = "DURABLE_LEASE_SECONDS", global = true, value_name = "N")]
    pub lease_seconds: Option<u64>,
    /// Scheme, host and port the URLs in answers start with (check-status payloads,
    /// `Location`), e.g. https://durable.example.com [default: the listening address, or
    /// what a trusted proxy forwards].
    #[arg(long, env = "DURABLE_PUBLIC_URL", global = true, value_name = "URL")]
    pub public_url: Option<String>,
    /// Addresses of reverse proxies whose `X-Forwarded-Host`, `X-Forwarded-Proto` and
    /// `Host` headers are believed when building answer URLs (comma-separated) [default:
    /// none].
    #[arg(
        long,
        env = "DURABLE_TRUSTED_PROXY",
        global = true,
        value_name = "ADDR",
        value_delimiter = ','
    )]
    pub trusted_proxy: Vec<String>,
    /// What the management URLs in answers carry: `instance-token` (a token that opens
    /// only that instance's routes) or `system-key` (the Durable Functions behaviour: the
    /// key that opens every instance of the hub) [default: instance-token].
    #[arg(
        long,
        env = "DURABLE_URL_CREDENTIAL",
        global = true,
        value_name = "KIND"
    )]
    pub url_credential: Option<String>,
    /// Most actions (calls, timers, events, entity messages) one orchestration may schedule,
    /// in one turn and in its whole history; over it the instance fails
    /// [default: 100000, or host.json maxOrchestrationActions].
    #[arg(
        long,
        env = "DURABLE_MAX_ORCHESTRATION_ACTIONS",
        global = true,
        value_name = "N"
    )]
    pub max_orchestration_actions: Option<u64>,
    /// Largest payload, in bytes of JSON: start inputs, event data and entity operation
    /// inputs over it get 413; activity results and failures, orchestration outputs, custom
    /// status and entity state over it fail their call or instance [default: 1048576].
    #[arg(
        long,
        env = "DURABLE_MAX_PAYLOAD_BYTES",
        global = true,
        value_name = "N"
    )]
    pub max_payload_bytes: Option<usize>,
    /// Largest request body accepted, in bytes; larger ones get 413 [default: 16777216].
    #[arg(
        long,
        env = "DURABLE_MAX_REQUEST_BODY_BYTES",
        global = true,
        value_name = "N"
    )]
    pub max_request_body_bytes: Option<usize>,
    /// Also serve the management API without keys on this loopback address, under
    /// `/durabletask/` (and the webhook path): the `rpcBaseUrl` the official Durable
    /// Functions clients call, which send no key, as the Functions host's local listener
    /// does (e.g. 127.0.0.1:17071) [default: off].
    #[arg(long, env = "DURABLE_RPC_LISTEN", global = true, value_name = "ADDR")]
    pub rpc_listen: Option<String>,
    /// Serve the Durable Task sidecar gRPC protocol, which the official Durable Task SDKs
    /// (Python, JavaScript, Java, .NET, Go) connect to as clients and workers, on this
    /// address; a bare port is on loopback. Calls carry the system key as
    /// `x-functions-key` metadata unless `--auth none` [default: off].
    #[arg(long, env = "DURABLE_GRPC_LISTEN", global = true, value_name = "ADDR")]
    pub grpc_listen: Option<String>,
    /// Most HTTP connections served at once; more wait to be accepted [default: 1024].
    #[arg(long, env = "DURABLE_MAX_CONNECTIONS", global = true, value_name = "N")]
    pub max_connections: Option<usize>,
    /// Longest a client may take to send a request's head, in seconds; slower ones are
    /// disconnected [default: 10].
    #[arg(
        long,
        env = "DURABLE_HEADER_READ_TIMEOUT_SECONDS",
        global = true,
        value_name = "N"
    )]
    pub header_read_timeout_seconds: Option<u64>,
    /// After `keys rotate --system`, how long instance tokens made before it stay valid, in
    /// seconds [default: 0].
    #[arg(
        long,
        env = "DURABLE_TOKEN_GRACE_SECONDS",
        global = true,
        value_name = "N"
    )]
    pub token_grace_seconds: Option<u64>,
    /// Hosts durable HTTP calls (`call_http`) may reach, comma-separated: names,
    /// addresses, `*.domain`, or `*`; a link-local or cloud-metadata address is reached only
    /// when listed by itself [default: any host but those addresses].
    #[arg(
        long,
        env = "DURABLE_HTTP_ALLOW",
        global = true,
        value_name = "HOSTS",
        value_delimiter = ','
    )]
    pub http_allow: Vec<String>,
    /// A bearer token source durable HTTP calls may name, `NAME=env:VARIABLE` or
    /// `NAME=file:PATH`, read each time a request runs (repeatable; comma-separated in the
    /// environment) [default: none].
    #[arg(
        long,
        env = "DURABLE_HTTP_TOKEN",
        global = true,
        value_name = "NAME=SOURCE",
        value_delimiter = ','
    )]
    pub http_token: Vec<String>,
    /// The version of this host's orchestrator code: instances it starts get it, and
    /// sub-orchestrations inherit their parent's [default: none, or host.json
    /// defaultVersion; without one the host takes instances of any version].
    #[arg(
        long,
        env = "DURABLE_DEFAULT_VERSION",
        global = true,
        value_name = "VERSION"
    )]
    pub default_version: Option<String>,
    /// Which instances the host takes by their version: `None` (any), `Strict` (only its
    /// own version) or `CurrentOrOlder` [default: CurrentOrOlder, or host.json
    /// versionMatchStrategy].
    #[arg(
        long,
        env = "DURABLE_VERSION_MATCH",
        global = true,
        value_name = "STRATEGY"
    )]
    pub version_match: Option<String>,
    /// What the host does with instances of a version it does not take: `Reject` (leave
    /// them for a host that does) or `Fail` (fail them) [default: Reject, or host.json
    /// versionFailureStrategy].
    #[arg(
        long,
        env = "DURABLE_VERSION_FAILURE",
        global = true,
        value_name = "STRATEGY"
    )]
    pub version_failure: Option<String>,
}

/// A versioning strategy by its Durable Functions name: the flag's, else host.json's, else
/// the default.
fn strategy<T: std::str::FromStr<Err = String> + Default>(
    flag: &str,
    from_flag: Option<&str>,
    from_host_json: Option<&str>,
) -> Result<T, ConfigError> {
    match from_flag.or(from_host_json) {
        None => Ok(T::default()),
        Some(text) => text
            .trim()
            .parse()
            .map_err(|e| ConfigError(format!("{flag}: {e}"))),
    }
}

/// The versioning settings: flags over host.json, each strategy by its Durable Functions
/// name.
fn versioning(
    args: &ConfigArgs,
    durable: &DurableTaskSection,
) -> Result<durable_runtime::version::Versioning, ConfigError> {
    let default_version = args
        .default_version
        .clone()
        .or_else(|| durable.default_version.clone())
        .map(|version| version.trim().to_owned())
        .filter(|version| !version.is_empty());
    let match_strategy = strategy(
        "--version-match",
        args.version_match.as_deref(),
        durable.version_match_strategy.as_deref(),
    )?;
    let failure_strategy = strategy(
        "--version-failure",
        args.version_failure.as_deref(),
        durable.version_failure_strategy.as_deref(),
    )?;
    Ok(durable_runtime::version::Versioning {
        default_version,
        match_strategy,
        failure_strategy,
    })
}

/// What the management URLs in answers carry.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum UrlCredentialKind {
    /// An instance token: opens that instance's own routes only.
    InstanceToken,
    /// The system key, as Durable Functions does: opens every route of the hub.
    SystemKey,
}

/// Whether the host checks keys.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum AuthMode {
    /// Management routes need the system key; triggers need the key their level asks for.
    Keys,
    /// No key checks (loopback only).
    None,
}

/// Which store the host uses.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum StoreUrl {
    /// An SQLite file.
    Sqlite(PathBuf),
    /// Process memory (nothing survives a restart).
    Memory,
    /// A PostgreSQL database shared by several hosts; the hub picks the schema.
    Postgres(String),
}

impl std::fmt::Display for StoreUrl {
    /// The URL as logs may show it: a PostgreSQL password is replaced by `***`.
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            StoreUrl::Sqlite(path) => write!(f, "sqlite://{}", path.display()),
            StoreUrl::Memory => f.write_str("memory:"),
            StoreUrl::Postgres(url) => f.write_str(
                &durable_runtime::engine::store::PostgresOptions::new(url.as_str(), "")
                    .redacted_url(),
            ),
        }
    }
}

/// The OTLP collector's URL: http or https, and only in a host that can export.
fn otlp_endpoint(text: Option<&str>) -> Result<Option<String>, ConfigError> {
    let Some(text) = text.map(str::trim).filter(|t| !t.is_empty()) else {
        return Ok(None);
    };
    if !(text.starts_with("http://") || text.starts_with("https://")) {
        return Err(ConfigError(format!(
            "--otlp-endpoint `{text}` is not an http:// or https:// URL"
        )));
    }
    if !cfg!(feature = "otlp") {
        return Err(ConfigError(format!(
            "--otlp-endpoint `{text}` needs a host built with durable-host's `otlp` feature"
        )));
    }
    Ok(Some(text.to_owned()))
}

/// The resolved configuration.
#[derive(Debug, Clone)]
pub struct HostConfig {
    /// Where HTTP is served.
    pub listen: SocketAddr,
    /// The data folder.
    pub data_dir: PathBuf,
    /// The store.
    pub store: StoreUrl,
    /// The task hub's name.
    pub hub: String,
    /// Prefix of client function routes (`api`).
    pub route_prefix: String,
    /// `maxConcurrentActivityFunctions`.
    pub max_concurrent_activities: usize,
    /// `maxConcurrentOrchestratorFunctions`.
    pub max_concurrent_orchestrations: usize,
    /// Largest accepted request body, in bytes.
    pub max_request_body: usize,
    /// Whether keys are checked.
    pub auth: AuthMode,
    /// Which existing instance a start with the same id may replace.
    pub replace: durable_runtime::engine::store::ReplacePolicy,
    /// Live orchestrations kept between turns (0: replay every turn).
    pub orchestration_cache: usize,
    /// Hand-outs of an activity without finishing before it is a poison message.
    pub max_dequeue_count: u32,
    /// How long a live orchestration may run ahead of its commit (zero: never).
    pub run_ahead: std::time::Duration,
    /// Whether `/metrics` is served and the worker counts its work.
    pub metrics: bool,
    /// Where spans are exported over OTLP/HTTP, if anywhere.
    pub otlp_endpoint: Option<String>,
    /// Path of the management API.
    pub webhook_path: String,
    /// How SQLite commits wait for the disk.
    pub durability: durable_runtime::engine::store::Durability,
    /// How long a lease on work lasts before another host may take it over.
    pub lease: std::time::Duration,
    /// The base of answer URLs, when configured.
    pub public_url: Option<String>,
    /// Proxies whose forwarded headers are believed.
    pub trusted_proxies: Vec<std::net::IpAddr>,
    /// What the management URLs in answers carry.
    pub url_credential: UrlCredentialKind,
    /// How long tokens of the secret before a rotation stay valid.
    pub token_grace: std::time::Duration,
    /// Most actions one orchestration may schedule (`maxOrchestrationActions`).
    pub max_orchestration_actions: u64,
    /// Largest payload, in bytes of JSON.
    pub max_payload_bytes: usize,
    /// The key-less loopback listener of the official clients' `rpcBaseUrl`, when on.
    pub rpc_listen: Option<SocketAddr>,
    /// Where the Durable Task sidecar gRPC service listens, when on.
    pub grpc_listen: Option<SocketAddr>,
    /// Most HTTP connections served at once.
    pub max_connections: usize,
    /// Longest a client may take to send a request's head.
    pub header_read_timeout: std::time::Duration,
    /// How durable HTTP calls run: the allow-list and token sources.
    pub http_calls: std::sync::Arc<durable_runtime::http::HttpCallSettings>,
    /// The version of the host's orchestrator code and which instances it takes.
    pub versioning: durable_runtime::version::Versioning,
}

/// Reads `--grpc-listen`: an address, or a bare port on loopback. Without keys only a
/// loopback address is allowed, as for `--listen`.
fn grpc_listen(text: Option<&str>, auth: AuthMode) -> Result<Option<SocketAddr>, ConfigError> {
    let Some(text) = text.map(str::trim).filter(|t| !t.is_empty()) else {
        return Ok(None);
    };
    let address = match text.parse::<u16>() {
        Ok(port) => SocketAddr::from(([127, 0, 0, 1], port)),
        Err(_) => text.parse::<SocketAddr>().map_err(|_| {
            ConfigError(format!(
                "--grpc-listen `{text}` is not an address like 127.0.0.1:4001 or a port"
            ))
        })?,
    };
    if auth == AuthMode::None && !address.ip().is_loopback() {
        return Err(ConfigError(format!(
            "--grpc-listen {address} is refused with --auth none: anyone on the network could run and manage instances; use a loopback address"
        )));
    }
    Ok(Some(address))
}

/// Checks a `--public-url`: `http` or `https`, a host, nothing after the path.
fn public_url(url: Option<&str>) -> Result<Option<String>, ConfigError> {
    let Some(url) = url.filter(|u| !u.is_empty()) else {
        return Ok(None);
    };
    let rest = url
        .strip_prefix("https://")
        .or_else(|| url.strip_prefix("http://"));
    let valid = rest.is_some_and(|rest| {
        let host = rest.split('/').next().unwrap_or_default();
        !host.is_empty()
            && !rest.contains(['?', '#', ' '])
            && host
                .bytes()
                .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'.' | b'-' | b':' | b'[' | b']'))
    });
    if valid {
        Ok(Some(url.trim_end_matches('/').to_owned()))
    } else {
        Err(ConfigError(format!(
            "--public-url `{url}` is not a URL like https://durable.example.com (http or https, a host, no query)"
        )))
    }
}

/// The settings of durable HTTP calls: `--http-allow` and `--http-token`, with the token
/// sources linked into the binary.
fn http_calls(
    allow: &[String],
    tokens: &[String],
) -> Result<durable_runtime::http::HttpCallSettings, ConfigError> {
    use durable_runtime::http::{BearerTokenSource, HttpCallSettings};
    let mut settings = HttpCallSettings::default()
        .with_allowed_hosts(allow)
        .map_err(|e| ConfigError(format!("--http-allow: {e}")))?;
    for setting in tokens.iter().filter(|s| !s.trim().is_empty()) {
        let (name, source) = BearerTokenSource::parse_setting(setting.trim())
            .map_err(|e| ConfigError(format!("--http-token: {e}")))?;
        settings = settings.with_token_source(name, std::sync::Arc::new(source));
    }
    Ok(settings)
}

/// Reads `--trusted-proxy` addresses.
fn trusted_proxies(addresses: &[String]) -> Result<Vec<std::net::IpAddr>, ConfigError> {
    addresses
        .iter()
        .map(|text| text.trim())
        .filter(|text| !text.is_empty())
        .map(|text| {
            text.parse().map_err(|_| {
                ConfigError(format!(
                    "--trusted-proxy `{text}` is not an IP address like 10.0.0.1"
                ))
            })
        })
        .collect()
}

/// Why the configuration cannot be used; the message names the setting.
#[derive(Debug, thiserror::Error)]
#[error("{0}")]
pub struct ConfigError(pub String);

#[derive(Debug, Default, Deserialize)]
struct HostJson {
    #[serde(default)]
    extensions: Extensions,
}

#[derive(Debug, Default, Deserialize)]
struct Extensions {
    #[serde(default, rename = "durableTask")]
    durable_task: DurableTaskSection,
    #[serde(default)]
    http: HttpSection,
}

#[derive(Debug, Default, Deserialize)]
#[serde(rename_all = "camelCase")]
struct DurableTaskSection {
    hub_name: Option<String>,
    max_concurrent_activity_functions: Option<usize>,
    max_concurrent_orchestrator_functions: Option<usize>,
    storage_provider: Option<StorageProvider>,
    overridable_existing_instance_states: Option<String>,
    extended_sessions_enabled: Option<bool>,
    max_orchestration_actions: Option<u64>,
    default_version: Option<String>,
    version_match_strategy: Option<String>,
    version_failure_strategy: Option<String>,
}

#[derive(Debug, Default, Deserialize)]
#[serde(rename_all = "camelCase")]
struct StorageProvider {
    #[serde(rename = "type")]
    kind: Option<String>,
    connection_string: Option<String>,
}

#[derive(Debug, Default, Deserialize)]
#[serde(rename_all = "camelCase")]
struct HttpSection {
    route_prefix: Option<String>,
}

fn read_host_json(path: Option<&Path>) -> Result<HostJson, ConfigError> {
    let (path, required) = match path {
        Some(path) => (path.to_path_buf(), true),
        None => (PathBuf::from("host.json"), false),
    };
    match std::fs::read_to_string(&path) {
        Ok(text) => serde_json::from_str(&text)
            .map_err(|e| ConfigError(format!("{} is not valid host.json: {e}", path.display()))),
        Err(e) if e.kind() == std::io::ErrorKind::NotFound && !required => Ok(HostJson::default()),
        Err(e) => Err(ConfigError(format!("cannot read {}: {e}", path.display()))),
    }
}

/// Checks the management API's path: absolute, no trailing `/`, URL-safe characters.
fn webhook_path(path: Option<&str>) -> Result<String, ConfigError> {
    let Some(path) = path else {
        return Ok("/runtime/webhooks/durabletask".to_owned());
    };
    let valid = path.starts_with('/')
        && path.len() > 1
        && !path.ends_with('/')
        && !path.contains("//")
        && path
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || matches!(c, '/' | '-' | '_' | '.'));
    if valid {
        Ok(path.to_owned())
    } else {
        Err(ConfigError(format!(
            "--webhook-path `{path}` is not a path like /runtime/webhooks/durabletask"
        )))
    }
}

/// Parses a store URL.
pub fn parse_store_url(url: &str) -> Result<StoreUrl, ConfigError> {
    if url == "memory:" || url == "memory://" {
        return Ok(StoreUrl::Memory);
    }
    if let Some(path) = url.strip_prefix("sqlite://") {
        if path.is_empty() {
            return Err(ConfigError(
                "store URL `sqlite://` has no file path; use sqlite://PATH".into(),
            ));
        }
        return Ok(StoreUrl::Sqlite(PathBuf::from(path)));
    }
    if url.starts_with("postgres://") || url.starts_with("postgresql://") {
        return Ok(StoreUrl::Postgres(url.to_owned()));
    }
    Err(ConfigError(format!(
        "unknown store URL `{url}`; expected sqlite://PATH, postgres://USER@HOST/DATABASE or memory:"
    )))
}

fn valid_hub_name(hub: &str) -> Result<(), ConfigError> {
    let ok = (3..=50).contains(&hub.len())
        && hub.starts_with(|c: char| c.is_ascii_alphabetic())
        && hub.chars().all(|c| c.is_ascii_alphanumeric());
    if ok {
        Ok(())
    } else {
        Err(ConfigError(format!(
            "task hub name `{hub}` is invalid: use 3 to 50 ASCII letters and digits, starting with a letter"
        )))
    }
}

impl HostConfig {
    /// Resolves the configuration from flags/environment, host.json and defaults.
    pub fn resolve(args: &ConfigArgs) -> Result<HostConfig, ConfigError> {
        let json = read_host_json(args.config.as_deref())?;
        let durable = json.extensions.durable_task;
        let versioning = versioning(args, &durable)?;
        let listen_text = args.listen.as_deref().unwrap_or("127.0.0.1:7071");
        let listen: SocketAddr = listen_text.parse().map_err(|_| {
            ConfigError(format!(
                "--listen `{listen_text}` is not an address like 127.0.0.1:7071"
            ))
        })?;
        let data_dir = args
            .data_dir
            .clone()
            .unwrap_or_else(|| PathBuf::from(".durable"));
        let hub = args
            .hub
            .clone()
            .or(durable.hub_name)
            .unwrap_or_else(|| "DurableFunctionsHub".to_owned());
        valid_hub_name(&hub)?;
        let store = match &args.store {
            Some(url) => parse_store_url(url)?,
            None => match durable.storage_provider {
                Some(StorageProvider {
                    connection_string: Some(url),
                    ..
                }) => parse_store_url(&url)?,
                Some(StorageProvider {
                    kind: Some(kind), ..
                }) if kind.eq_ignore_ascii_case("memory") => StoreUrl::Memory,
                Some(StorageProvider {
                    kind: Some(kind), ..
                }) if !kind.eq_ignore_ascii_case("sqlite") => {
                    return Err(ConfigError(format!(
                        "host.json storageProvider type `{kind}` is not supported; expected sqlite or memory, or a connectionString (postgres://...)"
                    )));
                }
                _ => StoreUrl::Sqlite(data_dir.join(format!("{hub}.db"))),
            },
        };
        let auth = match args.auth.as_deref().map(str::to_ascii_lowercase).as_deref() {
            None | Some("keys") | Some("key") => AuthMode::Keys,
            Some("none") => {
                if !listen.ip().is_loopback() {
                    return Err(ConfigError(format!(
                        "--auth none is refused with a non-loopback --listen address ({listen}); anyone on the network could manage instances"
                    )));
                }
                AuthMode::None
            }
            Some(other) => {
                return Err(ConfigError(format!(
                    "--auth `{other}` is not a mode; expected keys or none"
                )));
            }
        };
        let replace = match durable.overridable_existing_instance_states.as_deref() {
            None => durable_runtime::engine::store::ReplacePolicy::NonRunning,
            Some(s) if s.eq_ignore_ascii_case("NonRunningStates") => {
                durable_runtime::engine::store::ReplacePolicy::NonRunning
            }
            Some(s) if s.eq_ignore_ascii_case("AnyState") => {
                durable_runtime::engine::store::ReplacePolicy::Any
            }
            Some(other) => {
                return Err(ConfigError(format!(
                    "host.json overridableExistingInstanceStates `{other}` is not valid; expected NonRunningStates or AnyState"
                )));
            }
        };
        let lease = match args.lease_seconds {
            None => std::time::Duration::from_secs(30),
            Some(seconds @ 1..=86_400) => std::time::Duration::from_secs(seconds),
            Some(other) => {
                return Err(ConfigError(format!(
                    "--lease-seconds {other} is out of range; expected 1 to 86400"
                )));
            }
        };
        let run_ahead = match args.run_ahead_ms {
            None => std::time::Duration::from_millis(2),
            Some(ms @ 0..=1_000) => std::time::Duration::from_millis(ms),
            Some(other) => {
                return Err(ConfigError(format!(
                    "--run-ahead-ms {other} is out of range; expected 0 to 1000"
                )));
            }
        };
        let route_prefix = json
            .extensions
            .http
            .route_prefix
            .unwrap_or_else(|| "api".to_owned())
            .trim_matches('/')
            .to_owned();
        Ok(HostConfig {
            listen,
            data_dir,
            store,
            hub,
            route_prefix,
            max_concurrent_activities: durable.max_concurrent_activity_functions.unwrap_or(100),
            max_concurrent_orchestrations: durable
                .max_concurrent_orchestrator_functions
                .unwrap_or(100),
            max_request_body: match args.max_request_body_bytes {
                None => 16 * 1024 * 1024,
                Some(n @ 1..=1_073_741_824) => n,
                Some(other) => {
                    return Err(ConfigError(format!(
                        "--max-request-body-bytes {other} is out of range; expected 1 to 1073741824"
                    )));
                }
            },
            auth,
            replace,
            max_dequeue_count: args.max_dequeue_count.unwrap_or(10).max(1),
            run_ahead,
            metrics: match args
                .metrics
                .as_deref()
                .map(str::to_ascii_lowercase)
                .as_deref()
            {
                None | Some("on") => true,
                Some("off") => false,
                Some(other) => {
                    return Err(ConfigError(format!(
                        "--metrics `{other}` is not a setting; expected on or off"
                    )));
                }
            },
            otlp_endpoint: otlp_endpoint(args.otlp_endpoint.as_deref())?,
            webhook_path: webhook_path(args.webhook_path.as_deref())?,
            durability: match args
                .durability
                .as_deref()
                .map(str::to_ascii_lowercase)
                .as_deref()
            {
                None | Some("full") => durable_runtime::engine::store::Durability::Full,
                Some("normal") => durable_runtime::engine::store::Durability::Normal,
                Some(other) => {
                    return Err(ConfigError(format!(
                        "--durability `{other}` is not a mode; expected full or normal"
                    )));
                }
            },
            public_url: public_url(args.public_url.as_deref())?,
            trusted_proxies: trusted_proxies(&args.trusted_proxy)?,
            http_calls: std::sync::Arc::new(http_calls(&args.http_allow, &args.http_token)?),
            url_credential: match args
                .url_credential
                .as_deref()
                .map(str::to_ascii_lowercase)
                .as_deref()
            {
                None | Some("instance-token") => UrlCredentialKind::InstanceToken,
                Some("system-key") => UrlCredentialKind::SystemKey,
                Some(other) => {
                    return Err(ConfigError(format!(
                        "--url-credential `{other}` is not a kind; expected instance-token or system-key"
                    )));
                }
            },
            token_grace: std::time::Duration::from_secs(args.token_grace_seconds.unwrap_or(0)),
            rpc_listen: match args.rpc_listen.as_deref().filter(|a| !a.is_empty()) {
                None => None,
                Some(text) => {
                    let address: SocketAddr = text.parse().map_err(|_| {
                        ConfigError(format!(
                            "--rpc-listen `{text}` is not an address like 127.0.0.1:17071"
                        ))
                    })?;
                    if !address.ip().is_loopback() {
                        return Err(ConfigError(format!(
                            "--rpc-listen {address} is refused: it serves the management API without keys, so only a loopback address is allowed"
                        )));
                    }
                    Some(address)
                }
            },
            grpc_listen: grpc_listen(args.grpc_listen.as_deref(), auth)?,
            max_connections: match args.max_connections {
                None => 1024,
                Some(n @ 1..=1_000_000) => n,
                Some(other) => {
                    return Err(ConfigError(format!(
                        "--max-connections {other} is out of range; expected 1 to 1000000"
                    )));
                }
            },
            header_read_timeout: match args.header_read_timeout_seconds {
                None => std::time::Duration::from_secs(10),
                Some(n @ 1..=3_600) => std::time::Duration::from_secs(n),
                Some(other) => {
                    return Err(ConfigError(format!(
                        "--header-read-timeout-seconds {other} is out of range; expected 1 to 3600"
                    )));
                }
            },
            max_orchestration_actions: match args
                .max_orchestration_actions
                .or(durable.max_orchestration_actions)
            {
                None => 100_000,
                Some(n @ 1..=10_000_000) => n,
                Some(other) => {
                    return Err(ConfigError(format!(
                        "--max-orchestration-actions {other} is out of range; expected 1 to 10000000"
                    )));
                }
            },
            max_payload_bytes: match args.max_payload_bytes {
                None => durable_runtime::payload_limit::DEFAULT_MAX_PAYLOAD_BYTES,
                Some(n @ 1_024..=268_435_456) => n,
                Some(other) => {
                    return Err(ConfigError(format!(
                        "--max-payload-bytes {other} is out of range; expected 1024 to 268435456"
                    )));
                }
            },
            orchestration_cache: args.orchestration_cache.unwrap_or(
                match durable.extended_sessions_enabled {
                    Some(false) => 0,
                    _ => 5_000,
                },
            ),
            lease,
            versioning,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn grpc_listen_addresses() {
        let loopback = |port| Some(SocketAddr::from(([127, 0, 0, 1], port)));
        assert_eq!(grpc_listen(None, AuthMode::Keys).ok(), Some(None));
        assert_eq!(grpc_listen(Some(" "), AuthMode::Keys).ok(), Some(None));
        assert_eq!(
            grpc_listen(Some("4001"), AuthMode::Keys).ok(),
            Some(loopback(4001))
        );
        assert_eq!(
            grpc_listen(Some("127.0.0.1:4002"), AuthMode::None).ok(),
            Some(loopback(4002))
        );
        assert!(grpc_listen(Some("0.0.0.0:4001"), AuthMode::Keys).is_ok());
        let open = grpc_listen(Some("0.0.0.0:4001"), AuthMode::None).err();
        assert!(open.is_some_and(|e| e.0.contains("refused with --auth none")));
        let bad = grpc_listen(Some("localhost"), AuthMode::Keys).err();
        assert!(bad.is_some_and(|e| e.0.contains("is not an address")));
    }

    #[test]
    fn store_urls() {
        assert_eq!(parse_store_url("memory:").ok(), Some(StoreUrl::Memory));
        assert_eq!(
            parse_store_url("sqlite://./x.db").ok(),
            Some(StoreUrl::Sqlite(PathBuf::from("./x.db")))
        );
        assert_eq!(
            parse_store_url("postgres://me@127.0.0.1:5432/db").ok(),
            Some(StoreUrl::Postgres("postgres://me@127.0.0.1:5432/db".into()))
        );
        assert!(matches!(
            parse_store_url("postgresql://db/x"),
            Ok(StoreUrl::Postgres(_))
        ));
        assert!(parse_store_url("mysql://x").is_err());
        assert!(parse_store_url("sqlite://").is_err());
    }

    #[test]
    fn flags_win_over_host_json() {
        let dir = tempfile::tempdir().expect("tempdir");
        let path = dir.path().join("host.json");
        std::fs::write(
            &path,
            r#"{"version":"2.0","extensions":{"durableTask":{"hubName":"FromJson","maxConcurrentActivityFunctions":3},"http":{"routePrefix":"fn"}}}"#,
        )
        .expect("write");
        let args = ConfigArgs {
            config: Some(path.clone()),
            ..ConfigArgs::default()
        };
        let config = HostConfig::resolve(&args).expect("resolves");
        assert_eq!(config.hub, "FromJson");
        assert_eq!(config.max_concurrent_activities, 3);
        assert_eq!(config.route_prefix, "fn");
        let args = ConfigArgs {
            config: Some(path),
            hub: Some("FromFlag".into()),
            ..ConfigArgs::default()
        };
        assert_eq!(
            HostConfig::resolve(&args).expect("resolves").hub,
            "FromFlag"
        );
    }

    #[test]
    fn versioning_comes_from_host_json_under_the_durable_functions_names() {
        use durable_runtime::version::{VersionFailure, VersionMatch};
        let dir = tempfile::tempdir().expect("tempdir");
        let path = dir.path().join("host.json");
        std::fs::write(
            &path,
            r#"{"extensions":{"durableTask":{"defaultVersion":"1.2","versionMatchStrategy":"Strict","versionFailureStrategy":"Fail"}}}"#,
        )
        .expect("write");
        let args = ConfigArgs {
            config: Some(path.clone()),
            ..ConfigArgs::default()
        };
        let versioning = HostConfig::resolve(&args).expect("resolves").versioning;
        assert_eq!(versioning.default_version.as_deref(), Some("1.2"));
        assert_eq!(versioning.match_strategy, VersionMatch::Strict);
        assert_eq!(versioning.failure_strategy, VersionFailure::Fail);
        let args = ConfigArgs {
            config: Some(path),
            default_version: Some("2.0".into()),
            version_match: Some("none".into()),
            ..ConfigArgs::default()
        };
        let versioning = HostConfig::resolve(&args).expect("resolves").versioning;
        assert_eq!(versioning.default_version.as_deref(), Some("2.0"));
        assert_eq!(versioning.match_strategy, VersionMatch::None);
        let defaults = HostConfig::resolve(&ConfigArgs::default())
            .expect("resolves")
            .versioning;
        assert_eq!(defaults, durable_runtime::version::Versioning::default());
        assert_eq!(defaults.match_strategy, VersionMatch::CurrentOrOlder);
        assert_eq!(defaults.failure_strategy, VersionFailure::Reject);
    }

    #[test]
    fn postgres_comes_from_host_json_and_its_password_stays_out_of_logs() {
        let dir = tempfile::tempdir().expect("tempdir");
        let path = dir.path().join("host.json");
        std::fs::write(
            &path,
            r#"{"extensions":{"durableTask":{"hubName":"Orders","storageProvider":{"type":"postgres","connectionString":"postgres://me:secret@127.0.0.1/db"}}}}"#,
        )
        .expect("write");
        let args = ConfigArgs {
            config: Some(path),
            ..ConfigArgs::default()
        };
        let config = HostConfig::resolve(&args).expect("resolves");
        assert_eq!(
            config.store,
            StoreUrl::Postgres("postgres://me:secret@127.0.0.1/db".into())
        );
        assert_eq!(config.hub, "Orders");
        assert_eq!(config.store.to_string(), "postgres://me:***@127.0.0.1/db");
    }

    #[test]
    fn the_lease_is_30_seconds_unless_set() {
        let config = HostConfig::resolve(&ConfigArgs::default()).expect("resolves");
        assert_eq!(config.lease, std::time::Duration::from_secs(30));
        let args = ConfigArgs {
            lease_seconds: Some(2),
            ..ConfigArgs::default()
        };
        let config = HostConfig::resolve(&args).expect("resolves");
        assert_eq!(config.lease, std::time::Duration::from_secs(2));
        let args = ConfigArgs {
            lease_seconds: Some(0),
            ..ConfigArgs::default()
        };
        let err = HostConfig::resolve(&args).expect_err("zero");
        assert!(err.0.contains("--lease-seconds"), "{err}");
    }

    #[test]
    fn bad_values_name_the_setting() {
        let args = ConfigArgs {
            listen: Some("nowhere".into()),
            ..ConfigArgs::default()
        };
        let err = HostConfig::resolve(&args).expect_err("bad listen");
        assert!(err.0.contains("--listen"), "{err}");
    }
}
