//! The one payload limit: start inputs, event data, entity operation inputs (at the
//! client), activity results and failures, orchestration outputs, custom status, what an
//! orchestration sends (call inputs, event data, continue-as-new input) and entity state
//! (inside) may each be at most this many bytes of JSON, as stored. At the
//! limit a payload round-trips unchanged; over it the client refuses it
//! ([`DurableError::PayloadTooLarge`], 413 over HTTP) and the engine fails the call or the
//! instance with a `PayloadTooLarge` failure, before anything is written.

use serde_json::Value;

use crate::error::DurableError;
use crate::history::FailureDetails;

/// The limit unless configured: 1 MiB of JSON.
pub const DEFAULT_MAX_PAYLOAD_BYTES: usize = 1 << 20;

/// Counts bytes written and stops the writer once past a limit.
struct Counter {
    written: usize,
    limit: usize,
}

impl std::io::Write for Counter {
    fn write(&mut self, bytes: &[u8]) -> std::io::Result<usize> {
        self.written += bytes.len();
        if self.written > self.limit {
            // Past the limit: stop serializing, the size is all that was asked.
            return Err(std::io::Error::other("over the limit"));
        }
        Ok(bytes.len())
    }

    fn flush(&mut self) -> std::io::Result<()> {
        Ok(())
    }
}

/// `Some(bytes)` when `value` as compact JSON is over `limit` bytes (counting stops a little
/// past the limit, so a huge value costs no more than the limit to measure).
pub(crate) fn over_limit(value: &Value, limit: usize) -> Option<usize> {
    let mut counter = Counter { written: 0, limit };
    match serde_json::to_writer(&mut counter, value) {
        Ok(()) => None,
        Err(_) => Some(counter.written),
    }
}

/// Why a payload was refused, as the message says it.
fn message(what: &str, size: usize, limit: usize) -> String {
    format!(
        "{what} is more than {limit} bytes of JSON (at least {size}); the payload limit is {limit} bytes (--max-payload-bytes)"
    )
}

/// The client's refusal of a payload over the limit.
pub(crate) fn check(what: &str, value: &Value, limit: usize) -> Result<(), DurableError> {
    match over_limit(value, limit) {
        Some(size) => Err(DurableError::PayloadTooLarge(message(what, size, limit))),
        None => Ok(()),
    }
}

/// The failure a call or an instance gets for a payload over the limit.
pub(crate) fn failure(what: &str, size: usize, limit: usize) -> FailureDetails {
    FailureDetails::new("PayloadTooLarge", message(what, size, limit))
}

/// An activity's outcome within the limit: a result over it becomes a `PayloadTooLarge`
/// failure, and a failure whose details are over it is replaced by one that says so.
pub(crate) fn bounded_outcome(
    activity: &str,
    outcome: Result<Value, FailureDetails>,
    limit: usize,
) -> Result<Value, FailureDetails> {
    match outcome {
        Ok(value) => match over_limit(&value, limit) {
            Some(size) => Err(failure(
                &format!("the result of activity `{activity}`"),
                size,
                limit,
            )),
            None => Ok(value),
        },
        Err(details) => {
            let as_json = serde_json::to_value(&details).unwrap_or(Value::Null);
            match over_limit(&as_json, limit) {
                Some(size) => Err(failure(
                    &format!(
                        "the failure of activity `{activity}` ({})",
                        details.error_type
                    ),
                    size,
                    limit,
                )),
                None => Err(details),
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::*;

    /// A JSON string value of exactly `bytes` bytes as stored.
    fn text_of(bytes: usize) -> Value {
        json!("x".repeat(bytes - 2))
    }

    #[test]
    fn a_payload_at_the_limit_passes_and_one_byte_over_does_not() {
        assert_eq!(over_limit(&text_of(1024), 1024), None);
        assert_eq!(over_limit(&text_of(1025), 1024), Some(1025));
        assert!(check("the input", &text_of(1025), 1024).is_err());
    }

    #[test]
    fn a_huge_value_is_measured_only_up_to_the_limit() {
        let huge = text_of(50_000_000);
        let measured = over_limit(&huge, 1024).expect("over");
        assert!(measured < 50_000_000, "stopped early at {measured}");
    }

    #[test]
    fn an_activity_outcome_over_the_limit_becomes_a_clear_failure() {
        let failed = bounded_outcome("MakeText", Ok(text_of(2000)), 1024).expect_err("over");
        assert_eq!(failed.error_type, "PayloadTooLarge");
        assert!(failed.error_message.contains("activity `MakeText`"));
        let long = FailureDetails::new("Boom", "y".repeat(3000));
        let replaced = bounded_outcome("MakeText", Err(long), 1024).expect_err("a failure");
        assert_eq!(replaced.error_type, "PayloadTooLarge");
        assert!(replaced.error_message.contains("(Boom)"));
        assert_eq!(
            bounded_outcome("MakeText", Ok(text_of(1024)), 1024),
            Ok(text_of(1024))
        );
    }
}
