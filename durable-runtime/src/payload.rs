//! Decoding the JSON payloads functions receive: orchestration and activity inputs, the
//! data of external events, entity operation inputs.
//!
//! Durable Functions' Python client serializes a payload and then sends that text as a
//! JSON string (`start_new(.., {"a": 1})` arrives as `"{\"a\": 1}"`), which its own
//! functions decode once more. So a payload that does not decode as the expected type, but
//! is a string holding JSON that does, is taken as that JSON: Rust functions accept what
//! the official clients send.

use serde::de::DeserializeOwned;
use serde_json::Value;

/// `value` as `T`, or, when it is a string of JSON text that decodes as `T`, that.
pub(crate) fn decode<T: DeserializeOwned>(value: Value) -> Result<T, serde_json::Error> {
    match T::deserialize(&value) {
        Ok(decoded) => Ok(decoded),
        Err(error) => match &value {
            Value::String(text) => serde_json::from_str(text).map_err(|_| error),
            _ => Err(error),
        },
    }
}

#[cfg(test)]
mod tests {
    use serde::Deserialize;
    use serde_json::json;

    use super::*;

    #[derive(Debug, PartialEq, Deserialize)]
    struct Request {
        #[serde(rename = "timeoutSeconds")]
        timeout_seconds: u64,
    }

    #[test]
    fn a_string_of_json_decodes_as_the_json_and_anything_else_as_itself() {
        let direct: Request = decode(json!({"timeoutSeconds": 5})).expect("direct");
        assert_eq!(direct.timeout_seconds, 5);
        let wrapped: Request = decode(json!("{\"timeoutSeconds\": 5}")).expect("wrapped");
        assert_eq!(wrapped, direct);
        assert!(decode::<bool>(json!("true")).expect("a wrapped bool"));
        assert_eq!(decode::<i64>(json!("5")).expect("a wrapped number"), 5);
        assert_eq!(decode::<String>(json!("5")).expect("a string stays"), "5");
        assert_eq!(
            decode::<serde_json::Value>(json!("5")).expect("any"),
            json!("5")
        );
        let error = decode::<Request>(json!("not json")).expect_err("neither");
        assert!(
            error.to_string().contains("expected struct Request"),
            "{error}"
        );
    }
}
