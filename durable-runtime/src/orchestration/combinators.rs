//! Waiting for several durable calls at once, deterministically.
//!
//! Results are delivered to the orchestrator one history event at a time, in history
//! order, so `when_any` picks the call whose completion was recorded first, on replay too.

use std::future::Future;

/// Waits for every future and returns their outputs in the order given.
pub async fn when_all<F: Future>(futures: impl IntoIterator<Item = F>) -> Vec<F::Output> {
    futures::future::join_all(futures).await
}

/// Waits for the first future to finish and returns its index and output. The other calls
/// still run to the end and their results are recorded in history, but nobody receives
/// them; waits for external events among the losers stop waiting.
///
/// # Panics
///
/// When given no futures, as there is nothing to wait for.
pub async fn when_any<F: Future + Unpin>(
    futures: impl IntoIterator<Item = F>,
) -> (usize, F::Output) {
    let futures: Vec<F> = futures.into_iter().collect();
    assert!(!futures.is_empty(), "when_any needs at least one future");
    let (output, index, _rest) = futures::future::select_all(futures).await;
    (index, output)
}
