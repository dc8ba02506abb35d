//! The future a scheduling call returns.

use std::future::Future;
use std::marker::PhantomData;
use std::pin::Pin;
use std::task::{Context, Poll};

use serde::de::DeserializeOwned;

use super::state::{SharedState, TaskOutcome, lock};
use crate::error::DurableError;

/// The result of a durable call (an activity today), resolved from the orchestration's history.
///
/// Await it alone, or together with others through `futures::future::join_all` or `select`:
/// results are delivered in history order, so the outcome is the same live and on replay.
#[must_use = "a durable call does nothing useful unless its result is awaited"]
pub struct DurableFuture<T> {
    inner: Inner,
    _output: PhantomData<fn() -> T>,
}

enum Inner {
    Scheduled {
        state: SharedState,
        sequence: i64,
        name: String,
    },
    Failed(Option<DurableError>),
}

impl<T> DurableFuture<T> {
    pub(crate) fn scheduled(state: SharedState, sequence: i64, name: String) -> Self {
        DurableFuture {
            inner: Inner::Scheduled {
                state,
                sequence,
                name,
            },
            _output: PhantomData,
        }
    }

    pub(crate) fn failed(error: DurableError) -> Self {
        DurableFuture {
            inner: Inner::Failed(Some(error)),
            _output: PhantomData,
        }
    }
}

impl<T: DeserializeOwned> Future for DurableFuture<T> {
    type Output = Result<T, DurableError>;

    fn poll(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Self::Output> {
        let this = self.get_mut();
        let (state, sequence, name) = match &mut this.inner {
            Inner::Failed(error) => {
                return Poll::Ready(Err(error.take().unwrap_or_else(|| {
                    DurableError::custom("durable future polled after completion")
                })));
            }
            Inner::Scheduled {
                state,
                sequence,
                name,
            } => (state, *sequence, name),
        };
        let mut guard = lock(state);
        let Some(task) = guard.open_tasks.get_mut(&sequence) else {
            return Poll::Ready(Err(DurableError::custom(
                "durable future polled after completion",
            )));
        };
        let Some(outcome) = task.outcome.take() else {
            task.waker = Some(cx.waker().clone());
            return Poll::Pending;
        };
        guard.open_tasks.remove(&sequence);
        drop(guard);
        Poll::Ready(match outcome {
            TaskOutcome::Completed(value) => serde_json::from_value(value).map_err(|e| {
                DurableError::Serialization(format!(
                    "the result of `{name}` does not match `{}`: {e}",
                    std::any::type_name::<T>()
                ))
            }),
            TaskOutcome::Failed(details) => Err(DurableError::TaskFailed {
                name: name.clone(),
                details,
            }),
        })
    }
}

impl<T> Unpin for DurableFuture<T> {}
