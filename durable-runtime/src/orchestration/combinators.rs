//! Waiting for several durable calls at once, deterministically.
//!
//! Results are delivered to the orchestrator one history event at a time, in history
//! order, so `when_any` picks the call whose completion was recorded first, on replay too.

use std::future::Future;
use std::pin::Pin;
use std::task::Poll;

use serde::de::DeserializeOwned;

use super::future::DurableFuture;
use crate::error::DurableError;

/// Waits for every future and returns their outputs in the order given.
pub async fn when_all<F: Future>(futures: impl IntoIterator<Item = F>) -> Vec<F::Output> {
    futures::future::join_all(futures).await
}

/// Waits for the first of several durable calls to finish and returns its index and
/// result: the call whose outcome comes first in history, also when several were already
/// done before the wait (unlike `futures::select`, which prefers its first argument). The
/// other calls still run to the end and their results are recorded in history, but nobody
/// receives them; waits for external events among the losers stop waiting.
///
/// # Panics
///
/// When given no futures, as there is nothing to wait for.
pub async fn when_any<T: DeserializeOwned>(
    futures: impl IntoIterator<Item = DurableFuture<T>>,
) -> (usize, Result<T, DurableError>) {
    let mut futures: Vec<DurableFuture<T>> = futures.into_iter().collect();
    assert!(!futures.is_empty(), "when_any needs at least one future");
    std::future::poll_fn(move |cx| {
        let first = futures
            .iter()
            .enumerate()
            .filter_map(|(index, future)| future.ready_order().map(|order| (order, index)))
            .min();
        if let Some((_, index)) = first
            && let Poll::Ready(result) = Pin::new(&mut futures[index]).poll(cx)
        {
            return Poll::Ready((index, result));
        }
        for (index, future) in futures.iter_mut().enumerate() {
            if let Poll::Ready(result) = Pin::new(future).poll(cx) {
                return Poll::Ready((index, result));
            }
        }
        Poll::Pending
    })
    .await
}
