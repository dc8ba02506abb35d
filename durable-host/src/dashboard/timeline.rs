//! An instance's history as a timeline: each call (activity, timer, sub-orchestration,
//! entity operation, lock) a bar from when it was scheduled to when its answer arrived,
//! each event a point, placed on one time axis so a person sees where the time went.

use chrono::{DateTime, Utc};
use durable_runtime::history::{EventKind, HistoryEvent};

/// What a row of the timeline shows.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum RowKind {
    /// An activity call.
    Activity,
    /// A durable timer.
    Timer,
    /// A sub-orchestration.
    SubOrchestration,
    /// An entity operation or lock request.
    Entity,
    /// An external event that arrived.
    Event,
    /// The instance's own life: started, suspended, terminated, finished.
    Lifecycle,
}

impl RowKind {
    /// The CSS class and the word the page shows.
    pub fn as_str(self) -> &'static str {
        match self {
            RowKind::Activity => "activity",
            RowKind::Timer => "timer",
            RowKind::SubOrchestration => "sub-orchestration",
            RowKind::Entity => "entity",
            RowKind::Event => "event",
            RowKind::Lifecycle => "lifecycle",
        }
    }
}

/// How a row ended.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Outcome {
    /// Answered with a result (or fired, for a timer).
    Completed,
    /// Answered with a failure.
    Failed,
    /// No answer yet.
    Waiting,
    /// A point in time, nothing to wait for.
    Point,
}

impl Outcome {
    /// The CSS class and the word the page shows.
    pub fn as_str(self) -> &'static str {
        match self {
            Outcome::Completed => "completed",
            Outcome::Failed => "failed",
            Outcome::Waiting => "waiting",
            Outcome::Point => "point",
        }
    }
}

/// One row of the timeline.
#[derive(Debug, Clone, PartialEq)]
pub struct Row {
    /// What it is.
    pub kind: RowKind,
    /// The call's name (activity, orchestrator, operation, event name).
    pub label: String,
    /// More: a sub-orchestration's instance id, a failure's message.
    pub detail: String,
    /// The instance id a sub-orchestration row links to.
    pub link: Option<String>,
    /// When it was scheduled (or happened).
    pub start: DateTime<Utc>,
    /// When its answer arrived; `None` while it waits, or for a point.
    pub end: Option<DateTime<Utc>>,
    /// How it ended.
    pub outcome: Outcome,
    /// Where the bar starts, in percent of the axis.
    pub left: f64,
    /// How long the bar is, in percent of the axis (a thin mark for points).
    pub width: f64,
}

impl Row {
    /// The duration shown beside the bar: milliseconds, or "waiting".
    pub fn took(&self) -> String {
        match (self.outcome, self.end) {
            (Outcome::Point, _) => String::new(),
            (_, None) => "waiting".to_owned(),
            (_, Some(end)) => format_duration(end - self.start),
        }
    }
}

/// A duration as people read it: `0.4 ms`, `12 ms`, `3.4 s`, `5 min`.
pub fn format_duration(duration: chrono::Duration) -> String {
    let ms = duration.num_milliseconds().max(0);
    match ms {
        0..10 => {
            let micros = duration.num_microseconds().unwrap_or(0).max(0);
            format!("{:.1} ms", micros as f64 / 1_000.0)
        }
        10..1_000 => format!("{ms} ms"),
        1_000..60_000 => format!("{:.1} s", ms as f64 / 1_000.0),
        60_000..3_600_000 => format!("{:.1} min", ms as f64 / 60_000.0),
        _ => format!("{:.1} h", ms as f64 / 3_600_000.0),
    }
}

/// The rows so far, and the calls still waiting for their answer by the sequence number
/// the answer names.
#[derive(Default)]
struct Rows {
    rows: Vec<Row>,
    open: std::collections::HashMap<i64, usize>,
}

impl Rows {
    /// A call scheduled by `event`: a bar that waits for its answer. A call scheduled
    /// again under the same number (a rewind's retry) opens a new bar.
    fn call(
        &mut self,
        event: &HistoryEvent,
        kind: RowKind,
        label: &str,
        detail: &str,
        link: Option<&str>,
    ) {
        self.open.insert(event.event_id, self.rows.len());
        let mut call = point(kind, label, detail, event.timestamp);
        call.outcome = Outcome::Waiting;
        call.link = link.map(str::to_owned);
        self.rows.push(call);
    }

    /// The answer to call `sequence` arrived at `at`.
    fn answer(&mut self, sequence: i64, at: DateTime<Utc>, outcome: Outcome, detail: &str) {
        if let Some(index) = self.open.remove(&sequence) {
            let row = &mut self.rows[index];
            row.end = Some(at);
            row.outcome = outcome;
            if !detail.is_empty() {
                row.detail = detail.to_owned();
            }
        }
    }

    fn point(&mut self, kind: RowKind, label: &str, detail: &str, at: DateTime<Utc>) {
        self.rows.push(point(kind, label, detail, at));
    }
}

/// The timeline of `history`; `now` ends the bars of calls that still wait.
pub fn timeline(history: &[HistoryEvent], now: DateTime<Utc>) -> Vec<Row> {
    let mut rows = Rows::default();
    for event in history {
        let at = event.timestamp;
        match &event.kind {
            EventKind::TaskScheduled { name, .. } => {
                rows.call(event, RowKind::Activity, name, "", None);
            }
            EventKind::TimerCreated { fire_at } => {
                let due = format!("due {}", fire_at.format("%Y-%m-%d %H:%M:%S%.3f UTC"));
                rows.call(event, RowKind::Timer, "timer", &due, None);
            }
            EventKind::SubOrchestrationInstanceCreated {
                name, instance_id, ..
            } => rows.call(
                event,
                RowKind::SubOrchestration,
                name,
                instance_id,
                Some(instance_id),
            ),
            EventKind::EntityOperationCalled {
                operation,
                target_instance_id,
                ..
            } => rows.call(event, RowKind::Entity, operation, target_instance_id, None),
            EventKind::EntityLockRequested { lock_set, .. } => {
                rows.call(event, RowKind::Entity, "lock", &lock_set.join(", "), None);
            }
            EventKind::TaskCompleted {
                task_scheduled_id, ..
            }
            | EventKind::SubOrchestrationInstanceCompleted {
                task_scheduled_id, ..
            }
            | EventKind::EntityOperationCompleted {
                task_scheduled_id, ..
            }
            | EventKind::EntityLockGranted {
                task_scheduled_id, ..
            } => rows.answer(*task_scheduled_id, at, Outcome::Completed, ""),
            EventKind::TimerFired { timer_id, .. } => {
                rows.answer(*timer_id, at, Outcome::Completed, "");
            }
            EventKind::TaskFailed {
                task_scheduled_id,
                failure,
            }
            | EventKind::SubOrchestrationInstanceFailed {
                task_scheduled_id,
                failure,
            }
            | EventKind::EntityOperationFailed {
                task_scheduled_id,
                failure,
            } => rows.answer(
                *task_scheduled_id,
                at,
                Outcome::Failed,
                &failure.error_message,
            ),
            EventKind::EventRaised { name, .. } => rows.point(RowKind::Event, name, "", at),
            EventKind::ExecutionStarted { name, .. } => {
                rows.point(RowKind::Lifecycle, "started", name, at);
            }
            EventKind::ExecutionSuspended { reason } => {
                rows.point(RowKind::Lifecycle, "suspended", reason, at);
            }
            EventKind::ExecutionResumed { reason } => {
                rows.point(RowKind::Lifecycle, "resumed", reason, at);
            }
            EventKind::ExecutionTerminated { reason, .. } => {
                rows.point(RowKind::Lifecycle, "terminated", reason, at);
            }
            EventKind::ExecutionRewound { reason } => {
                rows.point(RowKind::Lifecycle, "rewound", reason, at);
            }
            EventKind::ExecutionCompleted {
                status, failure, ..
            } => {
                let detail = failure
                    .as_ref()
                    .map(|f| f.error_message.as_str())
                    .unwrap_or_default();
                rows.point(RowKind::Lifecycle, status.as_str(), detail, at);
            }
            _ => {}
        }
    }
    let mut rows = rows.rows;
    place(&mut rows, now);
    rows
}

/// A row for something that happened at `at`.
fn point(kind: RowKind, label: &str, detail: &str, at: DateTime<Utc>) -> Row {
    Row {
        kind,
        label: label.to_owned(),
        detail: detail.to_owned(),
        link: None,
        start: at,
        end: None,
        outcome: Outcome::Point,
        left: 0.0,
        width: 0.0,
    }
}

/// The narrowest mark, in percent of the axis.
const MIN_WIDTH: f64 = 0.4;

/// Sets each row's place on one axis from the first event to the last answer (or `now`,
/// while calls wait).
fn place(rows: &mut [Row], now: DateTime<Utc>) {
    let Some(first) = rows.iter().map(|r| r.start).min() else {
        return;
    };
    let end_of = |r: &Row| match (r.outcome, r.end) {
        (Outcome::Point, _) => r.start,
        (_, Some(end)) => end,
        (_, None) => now.max(r.start),
    };
    let last = rows.iter().map(end_of).max().unwrap_or(first);
    let span = (last - first).num_microseconds().unwrap_or(i64::MAX).max(1) as f64;
    for row in rows.iter_mut() {
        let start = (row.start - first).num_microseconds().unwrap_or(0) as f64;
        let end = (end_of(row) - first).num_microseconds().unwrap_or(0) as f64;
        // Points and short calls get a thin mark that still fits on the axis.
        row.left = (start / span * 100.0).clamp(0.0, 100.0 - MIN_WIDTH);
        row.width = ((end - start) / span * 100.0).clamp(MIN_WIDTH, 100.0 - row.left);
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use durable_runtime::history::FailureDetails;
    use serde_json::json;

    fn at(ms: i64) -> DateTime<Utc> {
        DateTime::<Utc>::UNIX_EPOCH + chrono::Duration::milliseconds(ms)
    }

    fn event(ms: i64, event_id: i64, kind: EventKind) -> HistoryEvent {
        HistoryEvent {
            event_id,
            timestamp: at(ms),
            kind,
        }
    }

    #[test]
    fn calls_become_bars_from_scheduled_to_answered_on_one_axis() {
        let history = vec![
            event(
                0,
                -1,
                EventKind::ExecutionStarted {
                    name: "Saga".into(),
                    input: json!(null),
                    execution_id: "e".into(),
                    parent: None,
                    scheduled_start: None,
                    parent_trace_context: None,
                    version: None,
                },
            ),
            event(
                0,
                0,
                EventKind::TaskScheduled {
                    name: "Reserve".into(),
                    input: json!(1),
                },
            ),
            event(
                100,
                -1,
                EventKind::TaskCompleted {
                    task_scheduled_id: 0,
                    result: json!("ok"),
                },
            ),
            event(
                100,
                1,
                EventKind::TaskScheduled {
                    name: "Charge".into(),
                    input: json!(2),
                },
            ),
            event(
                400,
                -1,
                EventKind::TaskFailed {
                    task_scheduled_id: 1,
                    failure: FailureDetails::new("Declined", "card declined"),
                },
            ),
            event(400, 2, EventKind::TimerCreated { fire_at: at(1_000) }),
        ];
        let rows = timeline(&history, at(1_000));
        let summary: Vec<(&str, &str, &str, String)> = rows
            .iter()
            .map(|r| {
                (
                    r.kind.as_str(),
                    r.label.as_str(),
                    r.outcome.as_str(),
                    r.took(),
                )
            })
            .collect();
        assert_eq!(
            summary,
            [
                ("lifecycle", "started", "point", String::new()),
                ("activity", "Reserve", "completed", "100 ms".to_owned()),
                ("activity", "Charge", "failed", "300 ms".to_owned()),
                ("timer", "timer", "waiting", "waiting".to_owned()),
            ]
        );
        assert_eq!(rows[2].detail, "card declined");
        // The axis runs from 0 to `now` (1 s), as the timer still waits.
        assert_eq!((rows[1].left, rows[1].width), (0.0, 10.0));
        assert_eq!((rows[2].left, rows[2].width), (10.0, 30.0));
        assert_eq!((rows[3].left, rows[3].width), (40.0, 60.0));
    }

    #[test]
    fn a_point_at_the_end_of_the_axis_still_fits() {
        let history = vec![
            event(
                0,
                0,
                EventKind::TaskScheduled {
                    name: "A".into(),
                    input: json!(1),
                },
            ),
            event(
                1_000,
                -1,
                EventKind::TaskCompleted {
                    task_scheduled_id: 0,
                    result: json!(1),
                },
            ),
            event(
                1_000,
                -1,
                EventKind::EventRaised {
                    name: "Done".into(),
                    input: json!(1),
                },
            ),
        ];
        let rows = timeline(&history, at(1_000));
        let last = &rows[1];
        assert!(
            last.left + last.width <= 100.0 && last.width > 0.0,
            "{last:?}"
        );
    }

    #[test]
    fn durations_read_as_people_read_them() {
        let d = chrono::Duration::milliseconds;
        assert_eq!(
            format_duration(chrono::Duration::microseconds(420)),
            "0.4 ms"
        );
        assert_eq!(format_duration(d(12)), "12 ms");
        assert_eq!(format_duration(d(3_400)), "3.4 s");
        assert_eq!(format_duration(d(300_000)), "5.0 min");
        assert_eq!(format_duration(d(7_200_000)), "2.0 h");
    }
}
