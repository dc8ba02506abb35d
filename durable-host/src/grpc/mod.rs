//! The Durable Task sidecar gRPC service (`TaskHubSidecarService`): the protocol the
//! official Durable Task SDKs (Python, JavaScript, Java, .NET, Go) speak as clients and
//! workers. Served on its own port (`--grpc-listen`) when configured.
//!
//! - [`proto`]: the protocol's messages and service, generated from
//!   `proto/durable_task.proto` (the project's own text of the protocol's facts).
//! - [`client_calls`]: start, get, wait, query, raise, terminate, suspend, resume, rewind,
//!   restart, purge, history and entity calls, on the host's `DurableClient`.
//! - [`workers`]: remote workers connected over `GetWorkItems`, the work items handed to
//!   them, and the engine's view of them; [`actions`]: their answers read as this host's.
//! - [`history`] and [`convert`]: this host's history, payloads, times, statuses and
//!   errors as the protocol has them.

pub mod actions;
pub mod client_calls;
pub mod convert;
pub mod entities;
pub mod history;
mod service;
pub mod workers;

use std::net::SocketAddr;
use std::sync::Arc;

use durable_runtime::DurableClient;
use tokio::net::TcpListener;

use crate::http::KeyCheck;

/// The protocol's messages and the generated service. The protocol declares no package.
#[allow(missing_docs, clippy::all, clippy::pedantic)]
pub mod proto {
    tonic::include_proto!("_");
}

/// The metadata key that carries the system key, as the Functions host's header does.
pub const KEY_METADATA: &str = "x-functions-key";

/// What the sidecar service needs from the host.
pub struct SidecarOptions {
    /// The client the calls are answered with.
    pub client: DurableClient,
    /// Checks the system key of each call; `None` when auth is off.
    pub keys: Option<KeyCheck>,
    /// Where connected workers are kept (the same the host's worker hands remote work to).
    pub workers: Arc<workers::WorkerHub>,
}

/// Serves the sidecar service on `listener` until `shutdown` resolves.
pub async fn serve(
    listener: TcpListener,
    options: SidecarOptions,
    shutdown: impl std::future::Future<Output = ()> + Send + 'static,
) -> Result<(), String> {
    let address: Option<SocketAddr> = listener.local_addr().ok();
    let keys = options.keys.map(Arc::new);
    let service =
        proto::task_hub_sidecar_service_server::TaskHubSidecarServiceServer::with_interceptor(
            service::Sidecar::new(options.client, options.workers),
            move |request: tonic::Request<()>| check_key(keys.as_deref(), request),
        );
    // Keepalive pings find a worker whose network went away without closing its stream,
    // so its open work goes back to the store.
    tonic::transport::Server::builder()
        .http2_keepalive_interval(Some(std::time::Duration::from_secs(10)))
        .http2_keepalive_timeout(Some(std::time::Duration::from_secs(20)))
        .add_service(service)
        .serve_with_incoming_shutdown(
            tokio_stream::wrappers::TcpListenerStream::new(listener),
            shutdown,
        )
        .await
        .map_err(|e| match address {
            Some(address) => format!("the gRPC listener on {address} failed: {e}"),
            None => format!("the gRPC listener failed: {e}"),
        })
}

/// Lets a call through when auth is off or it carries the system key.
fn check_key(
    keys: Option<&KeyCheck>,
    request: tonic::Request<()>,
) -> Result<tonic::Request<()>, tonic::Status> {
    let Some(keys) = keys else {
        return Ok(request);
    };
    let presented = request
        .metadata()
        .get(KEY_METADATA)
        .and_then(|value| value.to_str().ok());
    match presented {
        Some(key) if keys.is_system_key(key) => Ok(request),
        Some(_) => Err(tonic::Status::permission_denied(format!(
            "the `{KEY_METADATA}` metadata is not this host's system key"
        ))),
        None => Err(tonic::Status::unauthenticated(format!(
            "the host's system key is required as `{KEY_METADATA}` call metadata"
        ))),
    }
}
