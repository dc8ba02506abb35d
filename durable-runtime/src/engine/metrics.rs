//! The engine's Prometheus metrics: what a worker counts and times as it runs turns,
//! activities and entities, and the store's backlog, read when the metrics are scraped.
//!
//! Labels are function names from the registry (never instance ids), queues and outcomes,
//! so the number of series stays bounded by the code, not by the work.

use std::sync::atomic::AtomicU64;
use std::time::Duration;

use chrono::{DateTime, Utc};
use prometheus_client::encoding::EncodeLabelSet;
use prometheus_client::metrics::counter::Counter;
use prometheus_client::metrics::family::Family;
use prometheus_client::metrics::gauge::Gauge;
use prometheus_client::metrics::histogram::{Histogram, exponential_buckets};
use prometheus_client::registry::{Registry, Unit};

use crate::status::RuntimeStatus;
use crate::store::Backlog;

/// The label of a function whose name no registered function has (an instance of an
/// orchestrator that is not in this host): one series for all of them.
pub(crate) const UNREGISTERED: &str = "unregistered";

/// A work queue of the store.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Queue {
    /// Orchestration (and entity) messages.
    Orchestration,
    /// Activity calls.
    Activity,
}

impl Queue {
    fn label(self) -> &'static str {
        match self {
            Queue::Orchestration => "orchestration",
            Queue::Activity => "activity",
        }
    }
}

/// A store call that failed.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum StoreCall {
    /// Leasing work.
    Fetch,
    /// Writing a turn.
    Commit,
    /// Reporting an activity result.
    CompleteActivity,
    /// Renewing an activity's lease.
    RenewLease,
}

impl StoreCall {
    fn label(self) -> &'static str {
        match self {
            StoreCall::Fetch => "fetch",
            StoreCall::Commit => "commit",
            StoreCall::CompleteActivity => "complete_activity",
            StoreCall::RenewLease => "renew_lease",
        }
    }
}

#[derive(Debug, Clone, Hash, PartialEq, Eq, EncodeLabelSet)]
struct OrchestratorLabels {
    orchestrator: &'static str,
}

#[derive(Debug, Clone, Hash, PartialEq, Eq, EncodeLabelSet)]
struct ActivityLabels {
    activity: &'static str,
}

#[derive(Debug, Clone, Hash, PartialEq, Eq, EncodeLabelSet)]
struct ActivityOutcomeLabels {
    activity: &'static str,
    outcome: &'static str,
}

#[derive(Debug, Clone, Hash, PartialEq, Eq, EncodeLabelSet)]
struct EntityLabels {
    entity: &'static str,
}

#[derive(Debug, Clone, Hash, PartialEq, Eq, EncodeLabelSet)]
struct QueueLabels {
    queue: &'static str,
}

#[derive(Debug, Clone, Hash, PartialEq, Eq, EncodeLabelSet)]
struct StoreCallLabels {
    call: &'static str,
}

#[derive(Debug, Clone, Hash, PartialEq, Eq, EncodeLabelSet)]
struct StatusLabels {
    status: &'static str,
}

/// Seconds, from 100 µs up to about 3 s: turns and commits.
fn turn_buckets() -> Histogram {
    Histogram::new(exponential_buckets(0.000_1, 2.0, 16))
}

/// Seconds, from 1 ms up to about 9 minutes: activity functions.
fn activity_buckets() -> Histogram {
    Histogram::new(exponential_buckets(0.001, 2.0, 20))
}

/// The metrics of one host: pass them to the worker in [`WorkerOptions`], and serve
/// [`Metrics::encode`] where Prometheus scrapes.
///
/// [`WorkerOptions`]: crate::engine::worker::WorkerOptions
#[derive(Debug)]
pub struct Metrics {
    registry: Registry,
    turns: Family<OrchestratorLabels, Counter>,
    turn_duration: Histogram,
    commit_duration: Histogram,
    activity_executions: Family<ActivityOutcomeLabels, Counter>,
    activity_duration: Family<ActivityLabels, Histogram, fn() -> Histogram>,
    entity_operations: Family<EntityLabels, Counter>,
    lease_takeovers: Family<QueueLabels, Counter>,
    stale_commits: Counter,
    poison_messages: Family<QueueLabels, Counter>,
    store_errors: Family<StoreCallLabels, Counter>,
    instances: Family<StatusLabels, Gauge>,
    entities: Gauge,
    ready: Family<QueueLabels, Gauge>,
    oldest_ready_age: Gauge<f64, AtomicU64>,
}

impl Default for Metrics {
    fn default() -> Self {
        Metrics::new()
    }
}

impl Metrics {
    /// Fresh metrics, every name under the `durable_` prefix.
    pub fn new() -> Metrics {
        let mut metrics = Metrics {
            registry: Registry::with_prefix("durable"),
            turns: Family::default(),
            turn_duration: turn_buckets(),
            commit_duration: turn_buckets(),
            activity_executions: Family::default(),
            activity_duration: Family::new_with_constructor(activity_buckets),
            entity_operations: Family::default(),
            lease_takeovers: Family::default(),
            stale_commits: Counter::default(),
            poison_messages: Family::default(),
            store_errors: Family::default(),
            instances: Family::default(),
            entities: Gauge::default(),
            ready: Family::default(),
            oldest_ready_age: Gauge::default(),
        };
        let registry = &mut metrics.registry;
        registry.register(
            "orchestration_turns",
            "Orchestration turns committed (a commit that ran ahead counts once)",
            metrics.turns.clone(),
        );
        registry.register_with_unit(
            "turn_duration",
            "Time from the start of a turn to its commit written, running ahead included",
            Unit::Seconds,
            metrics.turn_duration.clone(),
        );
        registry.register_with_unit(
            "commit_duration",
            "Time the store took to write a turn",
            Unit::Seconds,
            metrics.commit_duration.clone(),
        );
        registry.register(
            "activity_executions",
            "Activity functions run to an end, by function and outcome",
            metrics.activity_executions.clone(),
        );
        registry.register_with_unit(
            "activity_duration",
            "Time an activity function ran",
            Unit::Seconds,
            metrics.activity_duration.clone(),
        );
        registry.register(
            "entity_operations",
            "Entity operations run, by entity name",
            metrics.entity_operations.clone(),
        );
        registry.register(
            "lease_takeovers",
            "Work handed out again after an earlier hand-out ended without finishing (its lease expired or was given back)",
            metrics.lease_takeovers.clone(),
        );
        registry.register(
            "stale_commits_rejected",
            "Turn commits the store refused because the lease was lost to another worker",
            metrics.stale_commits.clone(),
        );
        registry.register(
            "poison_messages",
            "Work failed instead of run again after too many hand-outs without finishing",
            metrics.poison_messages.clone(),
        );
        registry.register(
            "store_errors",
            "Store calls of the worker that failed, by call",
            metrics.store_errors.clone(),
        );
        registry.register(
            "instances",
            "Orchestration instances in the store, by runtime status",
            metrics.instances.clone(),
        );
        registry.register(
            "entities",
            "Entities in the store",
            metrics.entities.clone(),
        );
        registry.register(
            "queue_ready",
            "Work waiting to be taken: visible orchestration messages, activity calls nobody holds",
            metrics.ready.clone(),
        );
        registry.register_with_unit(
            "queue_oldest_ready_age",
            "How long the oldest visible orchestration message has waited",
            Unit::Seconds,
            metrics.oldest_ready_age.clone(),
        );
        metrics
    }

    /// A turn of an instance of `orchestrator` was committed: `turn` from its start,
    /// `commit` in the store.
    pub(crate) fn turn_committed(
        &self,
        orchestrator: &'static str,
        turn: Duration,
        commit: Duration,
    ) {
        self.turns
            .get_or_create(&OrchestratorLabels { orchestrator })
            .inc();
        self.turn_duration.observe(turn.as_secs_f64());
        self.commit_duration.observe(commit.as_secs_f64());
    }

    /// Activity function `activity` ran for `took` and ended well or not.
    pub(crate) fn activity_finished(
        &self,
        activity: &'static str,
        completed: bool,
        took: Duration,
    ) {
        let outcome = if completed { "completed" } else { "failed" };
        self.activity_executions
            .get_or_create(&ActivityOutcomeLabels { activity, outcome })
            .inc();
        self.activity_duration
            .get_or_create(&ActivityLabels { activity })
            .observe(took.as_secs_f64());
    }

    /// An entity turn of `entity` ran `operations` operations.
    pub(crate) fn entity_operations(&self, entity: &'static str, operations: u64) {
        self.entity_operations
            .get_or_create(&EntityLabels { entity })
            .inc_by(operations);
    }

    /// A work item of `queue` came back after a hand-out that did not finish.
    pub(crate) fn lease_taken_over(&self, queue: Queue) {
        self.lease_takeovers
            .get_or_create(&QueueLabels {
                queue: queue.label(),
            })
            .inc();
    }

    /// The store refused a commit: the lease was lost.
    pub(crate) fn stale_commit(&self) {
        self.stale_commits.inc();
    }

    /// A work item of `queue` was failed as a poison message.
    pub(crate) fn poison_message(&self, queue: Queue) {
        self.poison_messages
            .get_or_create(&QueueLabels {
                queue: queue.label(),
            })
            .inc();
    }

    /// A store call failed.
    pub(crate) fn store_error(&self, call: StoreCall) {
        self.store_errors
            .get_or_create(&StoreCallLabels { call: call.label() })
            .inc();
    }

    /// The metrics in the OpenMetrics text format (what Prometheus scrapes), with the
    /// gauges set from `backlog` as read at `now` (left as they were when the store did not
    /// answer).
    pub fn encode(&self, backlog: Option<&Backlog>, now: DateTime<Utc>) -> String {
        if let Some(backlog) = backlog {
            self.set_backlog(backlog, now);
        }
        let mut text = String::new();
        // Writing into a String cannot fail.
        let _ = prometheus_client::encoding::text::encode(&mut text, &self.registry);
        text
    }

    fn set_backlog(&self, backlog: &Backlog, now: DateTime<Utc>) {
        let count = |n: u64| i64::try_from(n).unwrap_or(i64::MAX);
        for status in RuntimeStatus::ALL {
            let n = backlog.instances_with(status);
            self.instances
                .get_or_create(&StatusLabels {
                    status: status.as_str(),
                })
                .set(count(n));
        }
        self.entities.set(count(backlog.entities));
        self.ready
            .get_or_create(&QueueLabels {
                queue: Queue::Orchestration.label(),
            })
            .set(count(backlog.ready_messages));
        self.ready
            .get_or_create(&QueueLabels {
                queue: Queue::Activity.label(),
            })
            .set(count(backlog.ready_activities));
        let age = backlog
            .oldest_ready_message
            .and_then(|oldest| (now - oldest).to_std().ok())
            .unwrap_or_default();
        self.oldest_ready_age.set(age.as_secs_f64());
    }
}

/// The content type of [`Metrics::encode`]'s text.
pub const CONTENT_TYPE: &str = "application/openmetrics-text; version=1.0.0; charset=utf-8";

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn encodes_counters_histograms_and_the_backlog_under_the_prefix() {
        let metrics = Metrics::new();
        metrics.turn_committed(
            "HelloCities",
            Duration::from_millis(2),
            Duration::from_millis(1),
        );
        metrics.activity_finished("SayHello", true, Duration::from_millis(3));
        metrics.activity_finished("SayHello", false, Duration::from_millis(3));
        metrics.stale_commit();
        let now = DateTime::<Utc>::UNIX_EPOCH + chrono::Duration::seconds(100);
        let backlog = Backlog {
            instances: vec![(RuntimeStatus::Running, 3)],
            entities: 2,
            ready_messages: 5,
            oldest_ready_message: Some(now - chrono::Duration::milliseconds(1_500)),
            ready_activities: 4,
        };
        let text = metrics.encode(Some(&backlog), now);
        for line in [
            "durable_orchestration_turns_total{orchestrator=\"HelloCities\"} 1",
            "durable_turn_duration_seconds_count 1",
            "durable_commit_duration_seconds_count 1",
            "durable_activity_executions_total{activity=\"SayHello\",outcome=\"completed\"} 1",
            "durable_activity_executions_total{activity=\"SayHello\",outcome=\"failed\"} 1",
            "durable_activity_duration_seconds_count{activity=\"SayHello\"} 2",
            "durable_stale_commits_rejected_total 1",
            "durable_instances{status=\"Running\"} 3",
            "durable_instances{status=\"Completed\"} 0",
            "durable_entities 2",
            "durable_queue_ready{queue=\"orchestration\"} 5",
            "durable_queue_ready{queue=\"activity\"} 4",
            "durable_queue_oldest_ready_age_seconds 1.5",
            "# EOF",
        ] {
            assert!(text.contains(line), "{line} in:\n{text}");
        }
    }
}
