//! Retry policies for activity and sub-orchestration calls. Waits between attempts are
//! durable timers, so every attempt shows in history and a restart mid-backoff loses
//! nothing.

use std::fmt;
use std::panic::Location;
use std::sync::Arc;
use std::time::Duration;

use serde_json::Value;

use crate::history::FailureDetails;

/// How to make a call again for another attempt: what was called, and where in the
/// orchestrator's code (for non-determinism messages).
#[derive(Debug, Clone)]
pub(crate) enum Reissue {
    /// An activity call.
    Activity {
        name: String,
        input: Value,
        location: &'static Location<'static>,
    },
    /// A sub-orchestration; without an instance id each attempt is a new child.
    SubOrchestrator {
        name: String,
        instance_id: Option<String>,
        input: Value,
        location: &'static Location<'static>,
    },
}

impl Reissue {
    /// The called function's name.
    pub(crate) fn name(&self) -> &str {
        match self {
            Reissue::Activity { name, .. } | Reissue::SubOrchestrator { name, .. } => name,
        }
    }

    /// Where the orchestrator made the call.
    pub(crate) fn location(&self) -> &'static Location<'static> {
        match self {
            Reissue::Activity { location, .. } | Reissue::SubOrchestrator { location, .. } => {
                location
            }
        }
    }
}

/// Decides whether a failure is worth retrying.
type RetryPredicate = Arc<dyn Fn(&FailureDetails) -> bool + Send + Sync>;

/// When and how often to retry a failed call (the Durable Functions `RetryOptions`).
#[derive(Clone)]
pub struct RetryOptions {
    first_retry_interval: Duration,
    max_number_of_attempts: u32,
    backoff_coefficient: f64,
    max_retry_interval: Duration,
    retry_timeout: Option<Duration>,
    handle: Option<RetryPredicate>,
}

impl fmt::Debug for RetryOptions {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("RetryOptions")
            .field("first_retry_interval", &self.first_retry_interval)
            .field("max_number_of_attempts", &self.max_number_of_attempts)
            .field("backoff_coefficient", &self.backoff_coefficient)
            .field("max_retry_interval", &self.max_retry_interval)
            .field("retry_timeout", &self.retry_timeout)
            .field(
                "handle",
                &self.handle.as_ref().map(|_| "Fn(&FailureDetails) -> bool"),
            )
            .finish()
    }
}

impl RetryOptions {
    /// Retries up to `max_number_of_attempts` attempts in all (the first call counts),
    /// waiting `first_retry_interval` before the first retry.
    pub fn new(first_retry_interval: Duration, max_number_of_attempts: u32) -> Self {
        RetryOptions {
            first_retry_interval,
            max_number_of_attempts: max_number_of_attempts.max(1),
            backoff_coefficient: 1.0,
            max_retry_interval: Duration::MAX,
            retry_timeout: None,
            handle: None,
        }
    }

    /// Each wait is the previous one times `coefficient` (at least 1).
    pub fn with_backoff_coefficient(mut self, coefficient: f64) -> Self {
        self.backoff_coefficient = if coefficient.is_finite() {
            coefficient.max(1.0)
        } else {
            1.0
        };
        self
    }

    /// No wait is longer than this.
    pub fn with_max_retry_interval(mut self, interval: Duration) -> Self {
        self.max_retry_interval = interval;
        self
    }

    /// No retry starts later than this after the first attempt.
    pub fn with_retry_timeout(mut self, timeout: Duration) -> Self {
        self.retry_timeout = Some(timeout);
        self
    }

    /// Retries only failures for which `handle` returns true.
    pub fn with_handle(
        mut self,
        handle: impl Fn(&FailureDetails) -> bool + Send + Sync + 'static,
    ) -> Self {
        self.handle = Some(Arc::new(handle));
        self
    }

    /// The most attempts, the first one included.
    pub fn max_number_of_attempts(&self) -> u32 {
        self.max_number_of_attempts
    }

    /// How long to wait after failed attempt number `attempt` (1-based).
    pub fn delay_after(&self, attempt: u32) -> Duration {
        let factor = self
            .backoff_coefficient
            .powi(i32::try_from(attempt.saturating_sub(1)).unwrap_or(i32::MAX));
        let seconds = self.first_retry_interval.as_secs_f64() * factor;
        let delay = Duration::try_from_secs_f64(seconds).unwrap_or(Duration::MAX);
        delay.min(self.max_retry_interval)
    }

    /// Whether to retry after failed attempt number `attempt`, `elapsed` after the first.
    pub(crate) fn should_retry(
        &self,
        attempt: u32,
        failure: &FailureDetails,
        elapsed_at_retry: Duration,
    ) -> bool {
        attempt < self.max_number_of_attempts
            && self.handle.as_ref().is_none_or(|handle| handle(failure))
            && self
                .retry_timeout
                .is_none_or(|timeout| elapsed_at_retry <= timeout)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn delays_grow_by_the_coefficient_up_to_the_cap() {
        let options = RetryOptions::new(Duration::from_secs(1), 5)
            .with_backoff_coefficient(2.0)
            .with_max_retry_interval(Duration::from_secs(5));
        let delays: Vec<u64> = (1..=5).map(|a| options.delay_after(a).as_secs()).collect();
        assert_eq!(delays, [1, 2, 4, 5, 5]);
    }

    #[test]
    fn attempts_timeout_and_handle_limit_retries() {
        let failure = FailureDetails::new("Transient", "try again");
        let options = RetryOptions::new(Duration::from_secs(1), 3)
            .with_retry_timeout(Duration::from_secs(10))
            .with_handle(|f| f.error_type == "Transient");
        assert!(options.should_retry(1, &failure, Duration::from_secs(1)));
        assert!(!options.should_retry(3, &failure, Duration::from_secs(1)));
        assert!(!options.should_retry(1, &failure, Duration::from_secs(11)));
        let fatal = FailureDetails::new("Fatal", "no");
        assert!(!options.should_retry(1, &fatal, Duration::from_secs(1)));
    }
}
