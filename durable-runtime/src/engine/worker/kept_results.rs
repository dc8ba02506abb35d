//! Results kept from a run-ahead whose commit did not happen. The calls ran, but the turn
//! that scheduled them was never written: the store declined a result's fast path because
//! the instance was busy (an event had arrived), or the write failed. The instance's next
//! turn schedules the same calls again; when that turn runs here, each call that matches a
//! kept one (same execution, sequence number, activity and input) takes the kept outcome
//! instead of running the activity a second time.
//!
//! Taking a kept outcome is the same as the call having run once: it did, and nothing else
//! saw its result. Kept results live only in this worker and only for [`KEEP_FOR`]; a turn
//! that runs elsewhere, or later, runs the calls again (activities run at least once).

use std::collections::HashMap;
use std::time::{Duration, Instant};

use serde_json::Value;

use crate::registry::InvocationResult;

/// How long a kept result waits for its call to be scheduled again.
pub(crate) const KEEP_FOR: Duration = Duration::from_secs(60);

/// At most this many results are kept; beyond it, new ones are not.
const MAX_KEPT: usize = 10_000;

/// A call answered in line by a run-ahead, with what it returned.
pub(crate) struct RanAhead {
    /// The call's sequence number in its execution.
    pub task_id: i64,
    /// The activity.
    pub name: String,
    /// Its input.
    pub input: Value,
    /// What it returned.
    pub outcome: InvocationResult,
}

/// Which call a result answers.
#[derive(PartialEq, Eq, Hash)]
struct CallKey {
    instance_id: String,
    execution_id: String,
    task_id: i64,
}

struct Kept {
    name: String,
    input: Value,
    outcome: InvocationResult,
    kept_at: Instant,
}

/// The results this worker keeps, by call.
#[derive(Default)]
pub(crate) struct KeptResults {
    kept: HashMap<CallKey, Kept>,
}

impl KeptResults {
    /// Keeps the results of calls of one execution that ran ahead of a commit that failed.
    pub(crate) fn keep(&mut self, instance_id: &str, execution_id: &str, calls: Vec<RanAhead>) {
        if calls.is_empty() {
            return;
        }
        let now = Instant::now();
        self.kept
            .retain(|_, kept| now.duration_since(kept.kept_at) < KEEP_FOR);
        for call in calls {
            if self.kept.len() >= MAX_KEPT {
                break;
            }
            let key = CallKey {
                instance_id: instance_id.to_owned(),
                execution_id: execution_id.to_owned(),
                task_id: call.task_id,
            };
            let kept = Kept {
                name: call.name,
                input: call.input,
                outcome: call.outcome,
                kept_at: now,
            };
            self.kept.insert(key, kept);
        }
    }

    /// The kept outcome of this call, taken, when one is kept for the same activity and
    /// input and has not expired.
    pub(crate) fn take(
        &mut self,
        instance_id: &str,
        execution_id: &str,
        task_id: i64,
        name: &str,
        input: &Value,
    ) -> Option<InvocationResult> {
        // The usual case, without building a key.
        if self.kept.is_empty() {
            return None;
        }
        let key = CallKey {
            instance_id: instance_id.to_owned(),
            execution_id: execution_id.to_owned(),
            task_id,
        };
        let kept = self.kept.remove(&key)?;
        let fresh = kept.kept_at.elapsed() < KEEP_FOR;
        (fresh && kept.name == name && kept.input == *input).then_some(kept.outcome)
    }
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::*;

    fn ran(task_id: i64, input: Value) -> RanAhead {
        RanAhead {
            task_id,
            name: "Step".to_owned(),
            input,
            outcome: Ok(json!("done")),
        }
    }

    #[test]
    fn a_kept_result_answers_the_same_call_once() {
        let mut results = KeptResults::default();
        results.keep("i", "e", vec![ran(3, json!(1))]);
        assert_eq!(
            results.take("i", "e", 3, "Step", &json!(1)),
            Some(Ok(json!("done")))
        );
        assert_eq!(results.take("i", "e", 3, "Step", &json!(1)), None);
    }

    #[test]
    fn a_kept_result_answers_no_other_call() {
        let mut results = KeptResults::default();
        results.keep(
            "i",
            "e",
            vec![ran(3, json!(1)), ran(4, json!(2)), ran(5, json!(3))],
        );
        assert_eq!(results.take("i", "other", 3, "Step", &json!(1)), None);
        assert_eq!(results.take("i", "e", 4, "Step", &json!("changed")), None);
        assert_eq!(results.take("i", "e", 5, "Other", &json!(3)), None);
        assert_eq!(results.take("j", "e", 3, "Step", &json!(1)), None);
    }
}
