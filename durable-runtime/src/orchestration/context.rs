//! `OrchestrationContext`: the orchestrator's only door to the outside world.

use std::panic::Location;

use chrono::{DateTime, SecondsFormat, Utc};
use serde::Serialize;
use serde::de::DeserializeOwned;
use uuid::Uuid;

use super::future::DurableFuture;
use super::state::{Action, ActionKind, OpenTask, SharedState, lock};
use crate::error::DurableError;

/// Namespace of the name-based ids [`OrchestrationContext::new_guid`] makes.
const GUID_NAMESPACE: Uuid = Uuid::from_u128(0x9e95_2958_5e33_4daf_827f_2fa1_2937_b875);

/// The context an orchestrator function receives.
///
/// Every method is deterministic: on replay it gives the same answers as in the original
/// run, because answers come from the recorded history, never from the clock or the network.
/// Cloning is cheap; all clones share one orchestration.
#[derive(Clone)]
pub struct OrchestrationContext {
    state: SharedState,
}

impl OrchestrationContext {
    pub(crate) fn new(state: SharedState) -> Self {
        OrchestrationContext { state }
    }

    /// The id of this orchestration instance.
    pub fn instance_id(&self) -> String {
        lock(&self.state).instance_id.clone()
    }

    /// The orchestration's input, decoded into `T` (`serde_json::Value` takes anything).
    pub fn get_input<T: DeserializeOwned>(&self) -> Result<T, DurableError> {
        let input = lock(&self.state).input.clone();
        serde_json::from_value(input).map_err(|e| {
            DurableError::Serialization(format!(
                "the orchestration input does not match `{}`: {e}",
                std::any::type_name::<T>()
            ))
        })
    }

    /// True while the orchestrator is re-running already recorded steps. Use it to keep
    /// logs and other side effects from repeating on replay.
    pub fn is_replaying(&self) -> bool {
        lock(&self.state).is_replaying
    }

    /// The current time of the orchestration: the start of the current turn, as recorded in
    /// history. Use it instead of the system clock.
    pub fn current_utc_datetime(&self) -> DateTime<Utc> {
        lock(&self.state).current_time
    }

    /// A new id that is the same on every replay: derived from the instance id, the current
    /// orchestration time and a counter.
    pub fn new_guid(&self) -> Uuid {
        let mut state = lock(&self.state);
        let name = format!(
            "{}_{}_{}",
            state.instance_id,
            state
                .current_time
                .to_rfc3339_opts(SecondsFormat::Millis, true),
            state.guid_counter
        );
        state.guid_counter += 1;
        Uuid::new_v5(&GUID_NAMESPACE, name.as_bytes())
    }

    /// Calls the activity registered as `name` with `input` and returns its result as `R`.
    ///
    /// The call is scheduled when this method runs, not when the future is first polled,
    /// so several calls made before awaiting run in parallel.
    ///
    /// ```no_run
    /// # use durable_runtime::prelude::*;
    /// # async fn f(ctx: OrchestrationContext) -> Result<(), DurableError> {
    /// let greeting: String = ctx.call_activity("SayHello", "Tokyo").await?;
    /// # Ok(()) }
    /// ```
    #[track_caller]
    pub fn call_activity<R: DeserializeOwned>(
        &self,
        name: &str,
        input: impl Serialize,
    ) -> DurableFuture<R> {
        let location = Location::caller();
        let input = match serde_json::to_value(input) {
            Ok(input) => input,
            Err(e) => {
                return DurableFuture::failed(DurableError::Serialization(format!(
                    "the input of activity `{name}` cannot be serialized: {e}"
                )));
            }
        };
        let sequence = self.schedule(
            ActionKind::CallActivity {
                name: name.to_owned(),
                input,
            },
            location,
        );
        DurableFuture::scheduled(self.state.clone(), sequence, name.to_owned())
    }

    fn schedule(&self, kind: ActionKind, location: &'static Location<'static>) -> i64 {
        let mut state = lock(&self.state);
        let sequence = state.next_sequence;
        state.next_sequence += 1;
        state.pending.push(Action {
            sequence,
            kind,
            location,
        });
        state.open_tasks.insert(sequence, OpenTask::default());
        sequence
    }
}
