//! The accept loop: every connection is served by hyper with a deadline on reading a
//! request's head (a slow client cannot hold a connection with a half-sent request), and
//! no more than a set number of connections are served at once (more wait in the listen
//! queue), so slow or idle clients cannot exhaust the host's file descriptors. On shutdown
//! the listener closes and connections finish the request they are on.

use std::convert::Infallible;
use std::future::Future;
use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

use axum::Router;
use axum::extract::ConnectInfo;
use hyper::body::Incoming;
use hyper_util::rt::{TokioIo, TokioTimer};
use hyper_util::server::graceful::GracefulShutdown;
use tokio::net::TcpListener;
use tokio::sync::Semaphore;
use tower::ServiceExt;

/// How the server treats connections.
#[derive(Debug, Clone, Copy)]
pub struct ConnectionLimits {
    /// Most connections served at once.
    pub max_connections: usize,
    /// Longest a client may take to send a request's head.
    pub header_read_timeout: Duration,
    /// Longest shutdown waits for connections to finish their requests.
    pub drain_timeout: Duration,
}

/// Routes answer with or without a trailing slash, as ASP.NET-hosted Durable Functions
/// does (its clients ask for `instances/`): the slash goes before routing.
pub(crate) fn trim_trailing_slash(uri: &mut hyper::Uri) {
    let path = uri.path();
    if path.len() <= 1 || !path.ends_with('/') {
        return;
    }
    let trimmed = path.trim_end_matches('/');
    let trimmed = if trimmed.is_empty() { "/" } else { trimmed };
    let path_and_query = match uri.query() {
        Some(query) => format!("{trimmed}?{query}"),
        None => trimmed.to_owned(),
    };
    let mut parts = uri.clone().into_parts();
    if let Ok(path_and_query) = path_and_query.parse() {
        parts.path_and_query = Some(path_and_query);
        if let Ok(rewritten) = hyper::Uri::from_parts(parts) {
            *uri = rewritten;
        }
    }
}

/// Serves `app` on `listener` until `shutdown` resolves, then lets connections finish.
pub async fn serve(
    listener: TcpListener,
    app: Router,
    limits: ConnectionLimits,
    shutdown: impl Future<Output = ()>,
) {
    let permits = Arc::new(Semaphore::new(limits.max_connections.max(1)));
    let graceful = GracefulShutdown::new();
    tokio::pin!(shutdown);
    loop {
        let permit = tokio::select! {
            permit = permits.clone().acquire_owned() => permit,
            () = &mut shutdown => break,
        };
        let Ok(permit) = permit else { break };
        let accepted = tokio::select! {
            accepted = listener.accept() => accepted,
            () = &mut shutdown => break,
        };
        let (stream, peer) = match accepted {
            Ok(accepted) => accepted,
            Err(error) => {
                // Out of file descriptors and the like: wait a little instead of spinning.
                tracing::warn!(%error, "accepting a connection failed");
                tokio::time::sleep(Duration::from_millis(50)).await;
                continue;
            }
        };
        let app = app.clone();
        let service = hyper::service::service_fn(move |mut request: hyper::Request<Incoming>| {
            request
                .extensions_mut()
                .insert(ConnectInfo::<SocketAddr>(peer));
            trim_trailing_slash(request.uri_mut());
            let app = app.clone();
            async move {
                let response = app.oneshot(request.map(axum::body::Body::new)).await;
                Ok::<_, Infallible>(match response {
                    Ok(response) => response,
                    Err(never) => match never {},
                })
            }
        });
        let connection = hyper::server::conn::http1::Builder::new()
            .timer(TokioTimer::new())
            .header_read_timeout(limits.header_read_timeout)
            .serve_connection(TokioIo::new(stream), service);
        let connection = graceful.watch(connection);
        tokio::spawn(async move {
            if let Err(error) = connection.await {
                tracing::debug!(%error, %peer, "a connection ended with an error");
            }
            drop(permit);
        });
    }
    drop(listener);
    if tokio::time::timeout(limits.drain_timeout, graceful.shutdown())
        .await
        .is_err()
    {
        tracing::warn!("connections still open after the drain timeout are dropped");
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_trailing_slash_goes_and_the_query_stays() {
        for (before, after) in [
            (
                "/runtime/webhooks/durabletask/instances/",
                "/runtime/webhooks/durabletask/instances",
            ),
            ("/a/b//?top=2&x=y", "/a/b?top=2&x=y"),
            ("/", "/"),
            ("/a", "/a"),
        ] {
            let mut uri: hyper::Uri = before.parse().expect("a URI");
            trim_trailing_slash(&mut uri);
            assert_eq!(uri.to_string(), after);
        }
    }
}
