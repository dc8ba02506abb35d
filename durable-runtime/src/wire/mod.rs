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
pub use history::{HistoryEventWire, history_to_wire};
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
