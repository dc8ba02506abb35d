//! The wire formats: every payload the HTTP management API and the CLI exchange, with the
//! field names Durable Functions clients read (`runtimeStatus`, `statusQueryGetUri`,
//! `historyEvents` with `EventType`, ...). Each type has explicit serde attributes and is
//! checked against a committed JSON fixture (`wire/fixtures/`), so a change to a name
//! shows as a failing round trip.

mod entities;
mod history;
mod management;
mod status;
pub(crate) mod time;

pub use entities::{CleanEntityStorageResult, EntityIdWire, EntityStatus};
pub use history::{HistoryEventWire, history_from_wire, history_to_wire};
pub use management::{ErrorBody, HostHealth, HttpManagementPayload, PurgeHistoryResult};
pub use status::{InstanceList, OrchestrationStatus};

#[cfg(test)]
mod tests {
    use serde::Serialize;
    use serde::de::DeserializeOwned;
    use serde_json::Value;

    use super::*;

    /// Reads a fixture as `T`, writes it back and checks that nothing changed.
    fn round_trip<T: Serialize + DeserializeOwned>(fixture: &str) -> T {
        let original: Value = serde_json::from_str(fixture).expect("the fixture is JSON");
        let read: T = serde_json::from_value(original.clone()).expect("the fixture reads");
        let written = serde_json::to_value(&read).expect("it writes");
        assert_eq!(written, original, "written back unchanged");
        read
    }

    #[test]
    fn a_status_with_its_history_round_trips() {
        let status: OrchestrationStatus = round_trip(include_str!("fixtures/status.json"));
        let events = status.history_events.expect("the fixture has a history");
        assert_eq!(events[0].event_type, "ExecutionStarted");
        assert_eq!(
            events.last().map(|e| e.event_type.as_str()),
            Some("OrchestratorCompleted")
        );
    }

    #[test]
    fn a_status_without_history_round_trips() {
        let status: OrchestrationStatus = round_trip(include_str!("fixtures/status_failed.json"));
        assert!(status.history_events.is_none());
    }

    #[test]
    fn every_kind_of_history_event_round_trips() {
        let events: Vec<HistoryEventWire> = round_trip(include_str!("fixtures/history.json"));
        assert!(events.len() > 10);
    }

    #[test]
    fn every_kind_of_history_event_reads_back_into_the_events_replay_reads() {
        let events: Vec<HistoryEventWire> =
            serde_json::from_str(include_str!("fixtures/history.json")).expect("reads");
        let typed = history_from_wire(&events).expect("every event converts");
        assert_eq!(typed.len(), events.len());
        for (typed, wire) in typed.iter().zip(&events) {
            assert_eq!(typed.kind.type_name(), wire.event_type);
            assert_eq!(typed.timestamp, wire.timestamp);
        }
        // And back: written out again, the events say what they said (the fixture joins
        // several instances' events, so the names answers look up are left out).
        let again = history_to_wire(&typed, true);
        for (again, wire) in again.iter().zip(&events) {
            assert_eq!(
                (&again.event_type, &again.event_id, &again.input),
                (&wire.event_type, &wire.event_id, &wire.input)
            );
            assert_eq!(
                (&again.result, &again.failure_details),
                (&wire.result, &wire.failure_details)
            );
        }
    }

    #[test]
    fn a_history_without_its_results_is_refused_naming_the_event() {
        let mut events: Vec<HistoryEventWire> =
            serde_json::from_str(include_str!("fixtures/history.json")).expect("reads");
        let at = events
            .iter()
            .position(|e| e.event_type == "TaskScheduled")
            .expect("a call");
        events[at].input = None;
        let error = history_from_wire(&events).expect_err("refused");
        assert!(
            error.contains(&format!("event {at} (TaskScheduled) has no Input")),
            "{error}"
        );
    }

    #[test]
    fn management_payloads_round_trip() {
        round_trip::<HttpManagementPayload>(include_str!("fixtures/management_payload.json"));
        round_trip::<PurgeHistoryResult>(include_str!("fixtures/purge_result.json"));
        round_trip::<ErrorBody>(include_str!("fixtures/error.json"));
        round_trip::<HostHealth>(include_str!("fixtures/host_health.json"));
    }

    #[test]
    fn entity_payloads_round_trip() {
        round_trip::<Vec<EntityStatus>>(include_str!("fixtures/entities.json"));
        round_trip::<CleanEntityStorageResult>(include_str!("fixtures/clean_entity_storage.json"));
    }
}
