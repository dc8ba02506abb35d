//! The future a scheduling call returns.

use std::future::Future;
use std::marker::PhantomData;
use std::pin::Pin;
use std::task::{Context, Poll};

use serde::de::DeserializeOwned;

use super::state::{SharedState, TaskKey, TaskOutcome, lock};
use crate::error::DurableError;

/// The result of a durable call (an activity, a sub-orchestration, a timer or an external
/// event), resolved from the orchestration's history.
///
/// Await it alone, or together with others through [`when_all`](crate::when_all),
/// [`when_any`](crate::when_any) or the `futures` combinators: results are delivered in
/// history order, so the outcome is the same live and on replay.
#[must_use = "a durable call does nothing useful unless its result is awaited"]
pub struct DurableFuture<T> {
    inner: Inner,
    _output: PhantomData<fn() -> T>,
}

enum Inner {
    Open {
        state: SharedState,
        key: TaskKey,
        name: String,
    },
    Failed(Option<DurableError>),
    Done,
}

impl<T> DurableFuture<T> {
    pub(crate) fn open(state: SharedState, key: TaskKey, name: String) -> Self {
        DurableFuture {
            inner: Inner::Open { state, key, name },
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

impl<T> DurableFuture<T> {
    /// When this future's outcome arrived, if it has: its place among delivered messages
    /// (0 for a call that failed before it was scheduled).
    pub(crate) fn ready_order(&self) -> Option<u64> {
        match &self.inner {
            Inner::Failed(_) => Some(0),
            Inner::Done => None,
            Inner::Open { state, key, .. } => {
                let guard = lock(state);
                let task = guard.open_tasks.get(key)?;
                task.outcome.as_ref().map(|_| task.delivered)
            }
        }
    }
}

impl<T: DeserializeOwned> Future for DurableFuture<T> {
    type Output = Result<T, DurableError>;

    fn poll(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Self::Output> {
        let this = self.get_mut();
        let outcome = match &mut this.inner {
            Inner::Done => {
                return Poll::Ready(Err(DurableError::custom(
                    "a durable future was polled after it completed",
                )));
            }
            Inner::Failed(error) => {
                let error = error.take().unwrap_or_else(|| {
                    DurableError::custom("a durable future was polled after it completed")
                });
                this.inner = Inner::Done;
                return Poll::Ready(Err(error));
            }
            Inner::Open { state, key, .. } => {
                let mut guard = lock(state);
                let Some(task) = guard.open_tasks.get_mut(key) else {
                    return Poll::Pending;
                };
                let Some(outcome) = task.outcome.take() else {
                    task.waker = Some(cx.waker().clone());
                    return Poll::Pending;
                };
                guard.open_tasks.remove(key);
                outcome
            }
        };
        let Inner::Open { name, .. } = std::mem::replace(&mut this.inner, Inner::Done) else {
            return Poll::Pending;
        };
        Poll::Ready(match outcome {
            TaskOutcome::Completed(value) => serde_json::from_value(value).map_err(|e| {
                DurableError::Serialization(format!(
                    "the result of `{name}` does not match `{}`: {e}",
                    std::any::type_name::<T>()
                ))
            }),
            TaskOutcome::Failed(details) => Err(DurableError::TaskFailed { name, details }),
        })
    }
}

impl<T> Unpin for DurableFuture<T> {}

impl<T> Drop for DurableFuture<T> {
    /// A dropped wait for an external event stops waiting, so the next event with that name
    /// is kept for the next wait instead of being swallowed.
    fn drop(&mut self) {
        let Inner::Open {
            state,
            key: TaskKey::Event(waiter),
            ..
        } = &self.inner
        else {
            return;
        };
        let mut guard = lock(state);
        if guard.open_tasks.remove(&TaskKey::Event(*waiter)).is_some() {
            for waiters in guard.event_waiters.values_mut() {
                waiters.retain(|w| w != waiter);
            }
        }
    }
}
