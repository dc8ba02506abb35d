//! `serve`: opens the store, starts the workers, serves HTTP, drains on SIGINT/SIGTERM.

use std::sync::Arc;

use durable_runtime::DurableClient;
use durable_runtime::client::ClientOptions;
use durable_runtime::clock::Clock;
use durable_runtime::engine::registry::Registry;
use durable_runtime::engine::store::{
    MemoryStore, PostgresOptions, PostgresStore, SqliteOptions, SqliteStore, Store,
};
use durable_runtime::engine::worker::{Worker, WorkerOptions};
use tokio::net::TcpListener;

use crate::config::{AuthMode, HostConfig, StoreUrl, UrlCredentialKind};
use crate::http;
use crate::keys::KeyStore;

/// The credential the management URLs of an instance carry.
struct UrlCode {
    keys: Arc<KeyStore>,
    kind: UrlCredentialKind,
}

impl durable_runtime::UrlCredential for UrlCode {
    fn code_for(&self, instance_id: &str) -> String {
        let keys = self.keys.current();
        match self.kind {
            UrlCredentialKind::InstanceToken => keys.instance_token(instance_id),
            UrlCredentialKind::SystemKey => keys.system_key,
        }
    }
}

/// An open store and the clock the host's worker and client follow with it.
pub struct ConnectedStore {
    /// The store.
    pub store: Arc<dyn Store>,
    /// The host's clock, or on PostgreSQL the database's (every host of a hub agrees).
    pub clock: Arc<dyn Clock>,
}

/// Opens the configured store. `exclusive` takes an SQLite file for this process alone;
/// a PostgreSQL hub is always shared (leases of dead hosts expire, none are released).
pub async fn connect_store(
    config: &HostConfig,
    clock: Arc<dyn Clock>,
    exclusive: bool,
) -> Result<ConnectedStore, String> {
    let store: Arc<dyn Store> = match &config.store {
        StoreUrl::Postgres(url) => return open_postgres(url, &config.hub, clock).await,
        StoreUrl::Memory => Arc::new(MemoryStore::new(clock.clone())),
        StoreUrl::Sqlite(path) => {
            let store = SqliteStore::open(
                SqliteOptions {
                    path: path.clone(),
                    exclusive,
                    durability: config.durability,
                },
                clock.clone(),
            )
            .map_err(|e| e.to_string())?;
            Arc::new(store)
        }
    };
    Ok(ConnectedStore { store, clock })
}

async fn open_postgres(
    url: &str,
    hub: &str,
    clock: Arc<dyn Clock>,
) -> Result<ConnectedStore, String> {
    let options = PostgresOptions::new(url, hub);
    let store = PostgresStore::open(options, clock).await.map_err(|e| {
        format!(
            "cannot open task hub `{hub}` in {}: {e}",
            PostgresOptions::new(url, hub).redacted_url()
        )
    })?;
    Ok(ConnectedStore {
        clock: store.clock(),
        store: Arc::new(store),
    })
}

/// The host's own clock: the system's, or skewed for a fault test.
pub fn host_clock() -> Arc<dyn Clock> {
    match durable_runtime::engine::failpoints::clock_skew() {
        Ok(Some(skew)) => Arc::new(durable_runtime::clock::SkewedClock { skew }),
        _ => Arc::new(durable_runtime::clock::SystemClock),
    }
}

/// A unique name for this process in leases.
fn worker_name() -> String {
    let host = std::env::var("HOSTNAME").unwrap_or_else(|_| "host".to_owned());
    let unique = uuid::Uuid::new_v4().simple().to_string();
    format!("{host}-{}-{}", std::process::id(), &unique[..8])
}

/// Resolves when the process is asked to stop.
async fn shutdown_signal() {
    let interrupt = tokio::signal::ctrl_c();
    #[cfg(unix)]
    {
        use tokio::signal::unix::{SignalKind, signal};
        match signal(SignalKind::terminate()) {
            Ok(mut terminate) => {
                tokio::select! {
                    _ = interrupt => {}
                    _ = terminate.recv() => {}
                }
            }
            Err(_) => {
                let _ = interrupt.await;
            }
        }
    }
    #[cfg(not(unix))]
    {
        let _ = interrupt.await;
    }
}

/// Runs the host until a stop signal; returns an error message when it cannot start.
pub async fn serve(config: HostConfig, registry: Arc<Registry>) -> Result<(), String> {
    let keys = match config.auth {
        AuthMode::Keys => Some(Arc::new(KeyStore::open(&config.data_dir)?)),
        AuthMode::None => None,
    };
    let ConnectedStore { store, clock } = connect_store(&config, host_clock(), true).await?;
    let listener = TcpListener::bind(config.listen)
        .await
        .map_err(|e| format!("cannot listen on {}: {e}", config.listen))?;
    let address = listener
        .local_addr()
        .map_err(|e| format!("cannot read the listening address: {e}"))?;
    // Said as soon as the socket is bound (requests queue until the router serves them),
    // before any work runs: whoever waits for this line learns the address even if a
    // function then takes the process down.
    let rpc_listener = match config.rpc_listen {
        Some(rpc) => Some(
            TcpListener::bind(rpc)
                .await
                .map_err(|e| format!("cannot listen on {rpc} (--rpc-listen): {e}"))?,
        ),
        None => None,
    };
    let grpc_listener = match config.grpc_listen {
        Some(grpc) => Some(
            TcpListener::bind(grpc)
                .await
                .map_err(|e| format!("cannot listen on {grpc} (--grpc-listen): {e}"))?,
        ),
        None => None,
    };
    println!("listening on http://{address}");
    if let Some(rpc) = rpc_listener.as_ref().and_then(|l| l.local_addr().ok()) {
        println!("rpc listening on http://{rpc}/durabletask/");
    }
    if let Some(grpc) = grpc_listener.as_ref().and_then(|l| l.local_addr().ok()) {
        println!("grpc listening on {grpc}");
    }
    // Answer URLs need an address a client can reach: a wildcard bind answers on loopback
    // unless a public URL is configured.
    let own_url = if address.ip().is_unspecified() {
        let loopback = match address {
            std::net::SocketAddr::V4(_) => std::net::IpAddr::from([127, 0, 0, 1]),
            std::net::SocketAddr::V6(_) => std::net::IpAddr::from(std::net::Ipv6Addr::LOCALHOST),
        };
        format!(
            "http://{}",
            std::net::SocketAddr::new(loopback, address.port())
        )
    } else {
        format!("http://{address}")
    };
    let client = DurableClient::new(
        store.clone(),
        registry.clone(),
        clock.clone(),
        ClientOptions {
            hub: config.hub.clone(),
            base_url: own_url.clone(),
            url_credential: keys.as_ref().map(|keys| {
                Arc::new(UrlCode {
                    keys: keys.clone(),
                    kind: config.url_credential,
                }) as Arc<dyn durable_runtime::UrlCredential>
            }),
            replace: config.replace,
            webhook_path: config.webhook_path.clone(),
            default_version: config.versioning.default_version.clone(),
            max_payload_bytes: config.max_payload_bytes,
            remote_functions: config.grpc_listen.is_some(),
        },
    );
    // Remote workers (other languages' SDKs) connect over the gRPC service, when it is on.
    let remote_workers = config
        .grpc_listen
        .map(|_| Arc::new(crate::grpc::workers::WorkerHub::new(store.clone())));
    let metrics = config
        .metrics
        .then(|| Arc::new(durable_runtime::engine::metrics::Metrics::new()));
    let worker = Worker::start(
        store.clone(),
        registry.clone(),
        clock.clone(),
        WorkerOptions {
            max_concurrent_activities: config.max_concurrent_activities,
            max_concurrent_orchestrations: config.max_concurrent_orchestrations,
            orchestration_cache: config.orchestration_cache,
            max_dequeue_count: config.max_dequeue_count,
            lease: config.lease,
            run_ahead: config.run_ahead,
            action_limits: durable_runtime::orchestration::ActionLimits {
                per_turn: usize::try_from(config.max_orchestration_actions).unwrap_or(usize::MAX),
                per_execution: config.max_orchestration_actions,
                max_payload_bytes: config.max_payload_bytes,
            },
            http: config.http_calls.clone(),
            metrics: metrics.clone(),
            versioning: config.versioning.clone(),
            remote: remote_workers
                .clone()
                .map(|hub| hub as Arc<dyn durable_runtime::engine::remote::RemoteWorkers>),
            ..WorkerOptions::default()
        },
        worker_name(),
    );
    let client = client.with_worker(&worker);
    let (stop_timers, timers_stopped) = tokio::sync::watch::channel(false);
    let mut timers = crate::timers::start(
        &registry,
        client.clone(),
        store.clone(),
        clock.clone(),
        timers_stopped,
    );
    let urls = http::PublicUrl {
        configured: config.public_url.clone(),
        trusted_proxies: config.trusted_proxies.clone(),
        own: own_url,
    };
    let rpc_app = http::rpc_router(
        client.clone(),
        &config.webhook_path,
        config.max_request_body,
        urls.clone(),
    );
    let key_check = keys.map(|keys| http::KeyCheck::new(keys, config.token_grace));
    let grpc_options = remote_workers.map(|workers| crate::grpc::SidecarOptions {
        client: client.clone(),
        keys: key_check.clone(),
        workers,
    });
    let app = http::router(
        client,
        &registry,
        http::RouterOptions {
            route_prefix: config.route_prefix.clone(),
            webhook_path: config.webhook_path.clone(),
            max_body: config.max_request_body,
            keys: key_check,
            urls,
            metrics,
        },
    );
    let version = config
        .versioning
        .default_version
        .as_deref()
        .unwrap_or("(none)");
    tracing::info!(%address, hub = %config.hub, store = %config.store, %version, "host started");
    let limits = http::ConnectionLimits {
        max_connections: config.max_connections,
        header_read_timeout: config.header_read_timeout,
        drain_timeout: std::time::Duration::from_secs(10),
    };
    let (stop_serving, stopped) = tokio::sync::watch::channel(false);
    let stop_on = |mut stopped: tokio::sync::watch::Receiver<bool>| async move {
        let _ = stopped.wait_for(|stop| *stop).await;
    };
    let rpc = rpc_listener.map(|rpc_listener| {
        tokio::spawn(http::serve(
            rpc_listener,
            rpc_app,
            limits,
            stop_on(stopped.clone()),
        ))
    });
    let grpc = grpc_listener
        .zip(grpc_options)
        .map(|(grpc_listener, grpc_options)| {
            let shutdown = stop_on(stopped.clone());
            tokio::spawn(async move {
                if let Err(message) =
                    crate::grpc::serve(grpc_listener, grpc_options, shutdown).await
                {
                    tracing::error!(%message, "the gRPC service stopped");
                }
            })
        });
    let public = http::serve(listener, app, limits, stop_on(stopped));
    tokio::pin!(public);
    tokio::select! {
        () = &mut public => {}
        () = shutdown_signal() => {
            let _ = stop_serving.send(true);
            public.await;
        }
    }
    let _ = stop_serving.send(true);
    if let Some(rpc) = rpc {
        let _ = rpc.await;
    }
    if let Some(grpc) = grpc {
        let _ = grpc.await;
    }
    tracing::info!("stopping: draining work in flight");
    let _ = stop_timers.send(true);
    while timers.join_next().await.is_some() {}
    worker.shutdown().await;
    Ok(())
}
