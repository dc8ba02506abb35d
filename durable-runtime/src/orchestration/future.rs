//! The future a scheduling call returns.

use std::future::Future;
use std::marker::PhantomData;
use std::pin::Pin;
use std::task::{Context, Poll};

use chrono::{DateTime, Utc};
use serde::de::DeserializeOwned;
use serde_json::Value;

use super::context::OrchestrationContext;
use super::retry::{Reissue, RetryOptions};
use super::state::{SharedState, TaskKey, TaskOutcome, lock};
use crate::error::DurableError;

/// The result of a durable call (an activity, a sub-orchestration, a timer or an external
/// event), resolved from the orchestration's history.
///
/// Await it alone, or together with others through [`when_all`](crate::when_all),
/// [`when_any`](crate::when_any) or the `futures` combinators: results are delivered in
/// history order, so the outcome is the same live and on replay. An activity or
/// sub-orchestration call retries its failures with [`DurableFuture::with_retry`] and
/// still races and joins like any other call.
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
        /// How to make the call again, for calls that may be retried.
        reissue: Option<Reissue>,
    },
    Retrying(Box<Retrying>),
    Failed(Option<DurableError>),
    Done,
}

/// A call retried by its policy: the attempt under way, or the durable timer before the
/// next one.
struct Retrying {
    context: OrchestrationContext,
    retry: RetryOptions,
    reissue: Reissue,
    /// The attempt under way or next, 1 for the first.
    attempt: u32,
    /// When the first attempt was made (orchestration time).
    first_started: DateTime<Utc>,
    step: Step,
}

enum Step {
    Attempt(DurableFuture<Value>),
    Backoff(DurableFuture<()>),
}

impl<T> DurableFuture<T> {
    pub(crate) fn open(state: SharedState, key: TaskKey, name: String) -> Self {
        DurableFuture::with_inner(Inner::Open {
            state,
            key,
            name,
            reissue: None,
        })
    }

    pub(crate) fn failed(error: DurableError) -> Self {
        DurableFuture::with_inner(Inner::Failed(Some(error)))
    }

    fn with_inner(inner: Inner) -> Self {
        DurableFuture {
            inner,
            _output: PhantomData,
        }
    }

    /// The same call, which can be made again for a retry.
    pub(crate) fn reissued_by(mut self, how: Reissue) -> Self {
        if let Inner::Open { reissue, .. } = &mut self.inner {
            *reissue = Some(how);
        }
        self
    }

    /// The same call, retried on failure as `retry` says: after a failed attempt the
    /// orchestration waits on a durable timer and makes the call again, so every attempt
    /// is in history. The result is the first success, or the last failure when the policy
    /// gives up. The retrying call is still one future: it races in
    /// [`when_any`](crate::when_any) and joins in [`when_all`](crate::when_all) like any
    /// other, and typed calls (`ctx.call(f, x).with_retry(..)`) retry the same way.
    ///
    /// Only activity and sub-orchestration calls are retried; any other future fails with
    /// an error saying so.
    ///
    /// ```no_run
    /// # use std::time::Duration;
    /// # use durable_runtime::prelude::*;
    /// # async fn f(ctx: OrchestrationContext) -> Result<(), DurableError> {
    /// let retry = RetryOptions::new(Duration::from_secs(5), 3);
    /// let (winner, result) = when_any([
    ///     ctx.call_activity::<String>("Primary", "x").with_retry(retry.clone()),
    ///     ctx.call_activity::<String>("Fallback", "x").with_retry(retry),
    /// ])
    /// .await;
    /// # Ok(()) }
    /// ```
    pub fn with_retry(mut self, retry: RetryOptions) -> Self {
        match std::mem::replace(&mut self.inner, Inner::Done) {
            Inner::Open {
                state,
                key,
                name,
                reissue: Some(reissue),
            } => {
                let context = OrchestrationContext::sharing(state.clone());
                let first = DurableFuture::open(state, key, name);
                DurableFuture::with_inner(Inner::Retrying(Box::new(Retrying {
                    first_started: context.current_utc_datetime(),
                    context,
                    retry,
                    reissue,
                    attempt: 1,
                    step: Step::Attempt(first),
                })))
            }
            failed @ Inner::Failed(_) => DurableFuture::with_inner(failed),
            other => {
                self.inner = other;
                DurableFuture::failed(DurableError::custom(
                    "only activity and sub-orchestration calls can be retried",
                ))
            }
        }
    }

    /// When this future's outcome arrived, if it has: its place among delivered messages
    /// (0 for a call that failed before it was scheduled). A retrying call has its outcome
    /// when an attempt succeeded or failed for the last time.
    pub(crate) fn ready_order(&self) -> Option<u64> {
        match &self.inner {
            Inner::Failed(_) => Some(0),
            Inner::Done => None,
            Inner::Open { state, key, .. } => {
                let guard = lock(state);
                let task = guard.open_tasks.get(key)?;
                task.outcome.as_ref().map(|_| task.delivered)
            }
            Inner::Retrying(retrying) => retrying.ready_order(),
        }
    }

    /// The outcome of an open call that has arrived, without taking it.
    fn peek_outcome<R>(&self, read: impl FnOnce(&TaskOutcome) -> R) -> Option<R> {
        let Inner::Open { state, key, .. } = &self.inner else {
            return None;
        };
        let guard = lock(state);
        guard.open_tasks.get(key)?.outcome.as_ref().map(read)
    }
}

impl Retrying {
    /// When the call's final outcome arrived, if it has.
    fn ready_order(&self) -> Option<u64> {
        let Step::Attempt(attempt) = &self.step else {
            return None;
        };
        let order = attempt.ready_order()?;
        // Read the failure out first: deciding on a retry reads the orchestration's state.
        let failure = attempt
            .peek_outcome(|outcome| match outcome {
                TaskOutcome::Completed(_) => None,
                TaskOutcome::Failed(failure) => Some(failure.clone()),
            })
            .flatten();
        let retries = failure.is_some_and(|failure| self.next_attempt_at(&failure).is_some());
        (!retries).then_some(order)
    }

    /// When to make the next attempt after this one failed with `failure`; `None` when
    /// the policy gives up.
    fn next_attempt_at(&self, failure: &crate::history::FailureDetails) -> Option<DateTime<Utc>> {
        let delay = self.retry.delay_after(self.attempt);
        let retry_at = self.context.current_utc_datetime()
            + chrono::Duration::from_std(delay).unwrap_or(chrono::Duration::MAX);
        let elapsed = (retry_at - self.first_started).to_std().unwrap_or_default();
        self.retry
            .should_retry(self.attempt, failure, elapsed)
            .then_some(retry_at)
    }

    /// Drives the attempts and waits until an attempt succeeds or the policy gives up.
    fn poll(&mut self, cx: &mut Context<'_>) -> Poll<Result<Value, DurableError>> {
        loop {
            match &mut self.step {
                Step::Attempt(attempt) => {
                    let error = match Pin::new(attempt).poll(cx) {
                        Poll::Pending => return Poll::Pending,
                        Poll::Ready(Ok(value)) => return Poll::Ready(Ok(value)),
                        Poll::Ready(Err(error)) => error,
                    };
                    let Some(retry_at) = error.task_failure().and_then(|f| self.next_attempt_at(f))
                    else {
                        return Poll::Ready(Err(error));
                    };
                    let backoff = self.context.timer_at(retry_at, self.reissue.location());
                    self.step = Step::Backoff(backoff);
                }
                Step::Backoff(timer) => match Pin::new(timer).poll(cx) {
                    Poll::Pending => return Poll::Pending,
                    Poll::Ready(Err(error)) => return Poll::Ready(Err(error)),
                    Poll::Ready(Ok(())) => {
                        self.attempt += 1;
                        self.step = Step::Attempt(self.context.reissue(&self.reissue));
                    }
                },
            }
        }
    }
}

impl<T: DeserializeOwned> Future for DurableFuture<T> {
    type Output = Result<T, DurableError>;

    fn poll(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Self::Output> {
        let this = self.get_mut();
        let (outcome, name) = match &mut this.inner {
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
            Inner::Retrying(retrying) => {
                let result = std::task::ready!(retrying.poll(cx));
                let name = retrying.reissue.name().to_owned();
                this.inner = Inner::Done;
                return Poll::Ready(result.and_then(|value| decode(&name, value)));
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
                drop(guard);
                let Inner::Open { name, .. } = std::mem::replace(&mut this.inner, Inner::Done)
                else {
                    return Poll::Pending;
                };
                (outcome, name)
            }
        };
        Poll::Ready(match outcome {
            TaskOutcome::Completed(value) => decode(&name, value),
            TaskOutcome::Failed(details) => Err(DurableError::TaskFailed { name, details }),
        })
    }
}

/// A call's result (or an event's data) as the type its caller expects.
fn decode<T: DeserializeOwned>(name: &str, value: Value) -> Result<T, DurableError> {
    crate::payload::decode(value).map_err(|e| {
        DurableError::Serialization(format!(
            "the result of `{name}` does not match `{}`: {e}",
            std::any::type_name::<T>()
        ))
    })
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
