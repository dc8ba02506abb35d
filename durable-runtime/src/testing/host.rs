//! The test host: your functions on a worker over the memory store, with a clock that moves
//! only when the test moves it.

use std::future::Future;
use std::sync::Arc;
use std::time::{Duration, Instant};

use chrono::{DateTime, Utc};
use serde::Serialize;
use serde::de::DeserializeOwned;

use crate::activity::ActivityContext;
use crate::clock::{Clock, ManualClock};
use crate::engine::registry::{ActivityDouble, Registry};
use crate::engine::store::{MemoryStore, Store};
use crate::engine::worker::{Worker, WorkerOptions};
use crate::history::HistoryEvent;
use crate::wire::OrchestrationStatus;
use crate::{ClientOptions, DurableClient, DurableError, StatusOptions};

/// How long [`TestHost::idle`] waits for the functions to settle before it gives up.
const IDLE_TIMEOUT: Duration = Duration::from_secs(30);

/// Builds a [`TestHost`]: which activities test doubles stand in for, and where its clock
/// starts.
pub struct TestHostBuilder {
    doubles: Vec<(String, ActivityDouble)>,
    start: DateTime<Utc>,
    versioning: crate::version::Versioning,
}

impl TestHostBuilder {
    /// Runs `double` instead of activity `name` (which need not be linked into the test):
    /// it gets the activity's input decoded as `I`; `Ok` is the call's result, `Err` fails
    /// the call with the error's text, as an activity's `Err` does.
    ///
    /// ```ignore
    /// let host = TestHost::builder()
    ///     .replace_activity("ChargeCard", |card: String| async move {
    ///         Err::<String, _>(format!("card {card} declined"))
    ///     })
    ///     .start();
    /// ```
    pub fn replace_activity<I, O, E, F, Fut>(mut self, name: &str, double: F) -> Self
    where
        I: DeserializeOwned + Send + 'static,
        O: Serialize + 'static,
        E: std::fmt::Display + 'static,
        F: Fn(I) -> Fut + Send + Sync + 'static,
        Fut: Future<Output = Result<O, E>> + Send + 'static,
    {
        let double = Arc::new(double);
        let erased: ActivityDouble = Arc::new(move |_: ActivityContext, input| {
            let double = double.clone();
            Box::pin(async move {
                let input: I = crate::__private::decode_activity_input(input)?;
                crate::__private::encode_activity_result(double(input).await)
            })
        });
        self.doubles.push((name.to_owned(), erased));
        self
    }

    /// Starts the clock at `start` instead of 2025-01-01T00:00:00Z.
    pub fn clock_at(mut self, start: DateTime<Utc>) -> Self {
        self.start = start;
        self
    }

    /// Runs the worker with these versioning settings (its `defaultVersion` is given to the
    /// instances the test starts).
    pub fn versioning(mut self, versioning: crate::version::Versioning) -> Self {
        self.versioning = versioning;
        self
    }

    /// Starts the host on the current tokio runtime with every function linked into the
    /// test binary.
    ///
    /// # Panics
    ///
    /// When the linked functions do not form a valid registry (two with one name, a bad
    /// name or schedule): the messages name them, as the host's start would.
    pub fn start(self) -> TestHost {
        let registry = match Registry::discover() {
            Ok(registry) => registry,
            Err(errors) => {
                let messages: Vec<String> = errors.iter().map(ToString::to_string).collect();
                panic!(
                    "the linked functions are not valid: {}",
                    messages.join("; ")
                )
            }
        };
        let registry = self
            .doubles
            .into_iter()
            .fold(registry, |registry, (name, double)| {
                registry.with_activity_double(&name, double)
            });
        let registry = Arc::new(registry);
        let clock = Arc::new(ManualClock::new(self.start));
        let store = Arc::new(MemoryStore::new(clock.clone()));
        let worker = Worker::start(
            store.clone(),
            registry.clone(),
            clock.clone(),
            WorkerOptions {
                poll_interval: Duration::from_millis(10),
                versioning: self.versioning.clone(),
                ..WorkerOptions::default()
            },
            "test-host".to_owned(),
        );
        let client = DurableClient::new(
            store.clone(),
            registry,
            clock.clone(),
            ClientOptions {
                default_version: self.versioning.default_version,
                ..ClientOptions::default()
            },
        )
        .with_worker(&worker);
        TestHost {
            store,
            clock,
            worker: Some(worker),
            client,
        }
    }
}

/// Your functions on a real worker over the memory store, for your own tests: no host
/// process, no files, and a manual clock. Time moves only with [`advance`](Self::advance),
/// which fires every timer it passes at once, so a test of a 30-day timeout takes
/// milliseconds.
///
/// ```no_run
/// # async fn example() -> Result<(), durable_runtime::DurableError> {
/// use std::time::Duration;
/// use durable_runtime::testing::TestHost;
///
/// let host = TestHost::builder()
///     .replace_activity("SendReminder", |_: serde_json::Value| async { Ok::<_, String>(()) })
///     .start();
/// let id = host.client().start_new("ApprovalWorkflow", None, "order-7").await?;
/// host.advance(Duration::from_secs(3 * 24 * 3600)).await; // the approval deadline passes
/// let status = host.wait_for_completion(&id).await?;
/// assert_eq!(status.output, serde_json::json!("escalated"));
/// # Ok(()) }
/// ```
pub struct TestHost {
    store: Arc<MemoryStore>,
    clock: Arc<ManualClock>,
    worker: Option<Worker>,
    client: DurableClient,
}

impl TestHost {
    /// A host with every linked function as it is, the clock at 2025-01-01T00:00:00Z.
    pub fn new() -> TestHost {
        TestHost::builder().start()
    }

    /// A host with test doubles or another start time.
    pub fn builder() -> TestHostBuilder {
        TestHostBuilder {
            doubles: Vec::new(),
            start: DateTime::from_timestamp(1_735_689_600, 0).unwrap_or_default(),
            versioning: crate::version::Versioning::default(),
        }
    }

    /// The client: start instances, raise events, query, terminate, as in a client
    /// function.
    pub fn client(&self) -> &DurableClient {
        &self.client
    }

    /// The host's time: what `ctx.current_utc_datetime()` says in a new turn.
    pub fn now(&self) -> DateTime<Utc> {
        self.clock.now()
    }

    /// Waits until nothing is left to run now: every delivered message taken, every
    /// activity call finished, no turn running. Timers not yet due and instances waiting
    /// for events stay as they are.
    ///
    /// # Panics
    ///
    /// When the functions keep working for 30 seconds (an endless loop of calls).
    pub async fn idle(&self) {
        let deadline = Instant::now() + IDLE_TIMEOUT;
        // Twice in a row, a moment apart: a result handed from one task to another is
        // never seen half way.
        let mut quiet_checks = 0;
        while quiet_checks < 2 {
            if self.store.is_idle() {
                quiet_checks += 1;
            } else {
                quiet_checks = 0;
            }
            assert!(
                Instant::now() < deadline,
                "the test host's functions did not settle within {IDLE_TIMEOUT:?}"
            );
            tokio::time::sleep(Duration::from_millis(1)).await;
        }
    }

    /// Moves the clock forward by `by` once the functions are idle, and waits until the
    /// timers that came due (and everything they set off) have run.
    pub async fn advance(&self, by: Duration) {
        self.idle().await;
        self.clock.advance(by);
        self.store.signals().orchestrations.notify_one();
        self.idle().await;
    }

    /// The instance's status (with its input), or `None` when there is no such instance.
    pub async fn status(
        &self,
        instance_id: &str,
    ) -> Result<Option<OrchestrationStatus>, DurableError> {
        self.client
            .get_status(instance_id, StatusOptions::default())
            .await
    }

    /// The current execution's history, as the replay engine reads it.
    pub async fn history(&self, instance_id: &str) -> Result<Vec<HistoryEvent>, DurableError> {
        Ok(self.store.get_history(instance_id).await?)
    }

    /// Waits until the instance is Completed, Failed or Terminated and returns its status;
    /// an instance that waits for something the test has not done yet (an event, a clock
    /// that has not moved) fails with [`DurableError::Timeout`] once the host is idle.
    pub async fn wait_for_completion(
        &self,
        instance_id: &str,
    ) -> Result<OrchestrationStatus, DurableError> {
        self.idle().await;
        match self.status(instance_id).await? {
            Some(status) if status.runtime_status.is_terminal() => Ok(status),
            Some(_) => Err(DurableError::Timeout(instance_id.to_owned())),
            None => Err(DurableError::InstanceNotFound(instance_id.to_owned())),
        }
    }

    /// Stops the worker, letting running work finish.
    pub async fn shutdown(mut self) {
        if let Some(worker) = self.worker.take() {
            worker.shutdown().await;
        }
    }
}

impl Default for TestHost {
    fn default() -> Self {
        TestHost::new()
    }
}
