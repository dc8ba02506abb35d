//! Durable entities: small named pieces of state changed by operations that run one at a
//! time. An entity is identified by an [`EntityId`]; its function gets an
//! [`EntityContext`] per operation.

use std::fmt;
use std::sync::{Arc, Mutex, PoisonError};

use serde::Serialize;
use serde::de::DeserializeOwned;
use serde_json::Value;

use crate::error::DurableError;
use crate::history::FailureDetails;

/// The identity of an entity: its function's name and a key. Names compare without case,
/// as in Durable Functions; the entity's own instance id is `@name@key`, with the name in
/// lower case.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct EntityId {
    /// The entity function's name.
    pub name: String,
    /// Which entity of that function.
    pub key: String,
}

impl EntityId {
    /// The entity `key` of the entity function `name`.
    pub fn new(name: impl Into<String>, key: impl Into<String>) -> Self {
        EntityId {
            name: name.into(),
            key: key.into(),
        }
    }

    /// The reserved instance id of the entity: `@name@key`, the name in lower case.
    pub fn instance_id(&self) -> String {
        format!("@{}@{}", self.name.to_lowercase(), self.key)
    }

    /// The entity an instance id (`@name@key`) stands for; `None` when it is not one.
    pub fn from_instance_id(instance_id: &str) -> Option<EntityId> {
        let (name, key) = crate::instance_id::split_entity_id(instance_id)?;
        Some(EntityId::new(name, key))
    }
}

impl fmt::Display for EntityId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "@{}@{}", self.name.to_lowercase(), self.key)
    }
}

/// A signal an operation sends to another entity, sent when the operation succeeds.
#[derive(Debug, Clone, PartialEq)]
pub(crate) struct EntitySignal {
    pub target: EntityId,
    pub operation: String,
    pub input: Value,
}

/// What an operation left behind when its context was dropped.
/// An orchestration an operation started, created when the batch commits.
#[derive(Debug, Clone, PartialEq)]
pub(crate) struct OrchestrationStart {
    pub name: String,
    pub instance_id: String,
    pub input: Value,
}

#[derive(Debug, Default)]
pub(crate) struct OperationEffects {
    /// The state after the operation; `None` when it has none (deleted or never set).
    pub state: Option<Value>,
    pub result: Value,
    pub signals: Vec<EntitySignal>,
    pub orchestrations: Vec<OrchestrationStart>,
    /// Set when the state or the return value could not be serialized.
    pub failure: Option<FailureDetails>,
}

/// One operation handed to an entity function. Not a public API: the
/// `#[entity_trigger]` expansion turns it into an [`EntityContext`].
#[doc(hidden)]
pub struct EntityOperation {
    pub(crate) id: EntityId,
    pub(crate) operation: String,
    pub(crate) input: Value,
    pub(crate) state: Option<Value>,
    pub(crate) effects: Arc<Mutex<Option<OperationEffects>>>,
}

impl EntityOperation {
    pub(crate) fn new(
        id: EntityId,
        operation: String,
        input: Value,
        state: Option<Value>,
    ) -> (Self, Arc<Mutex<Option<OperationEffects>>>) {
        let effects = Arc::new(Mutex::new(None));
        let operation = EntityOperation {
            id,
            operation,
            input,
            state,
            effects: effects.clone(),
        };
        (operation, effects)
    }
}

/// The context an entity function gets for one operation: the operation's name and input,
/// the entity's state (`S`, `Default` when the entity has none yet) and what the operation
/// returns.
///
/// ```no_run
/// # use durable_runtime::prelude::*;
/// #[entity_trigger(name = "Counter")]
/// async fn counter(mut ctx: EntityContext<i64>) -> Result<(), DurableError> {
///     match ctx.operation_name() {
///         "add" => *ctx.state_mut() += ctx.get_input::<i64>()?,
///         "reset" => ctx.set_state(0),
///         "get" => ctx.return_value(*ctx.state()),
///         "delete" => ctx.delete_state(),
///         _ => {}
///     }
///     Ok(())
/// }
/// ```
pub struct EntityContext<S: Serialize + DeserializeOwned + Default> {
    id: EntityId,
    operation: String,
    input: Value,
    state: S,
    exists: bool,
    result: Value,
    signals: Vec<EntitySignal>,
    orchestrations: Vec<OrchestrationStart>,
    failure: Option<FailureDetails>,
    effects: Arc<Mutex<Option<OperationEffects>>>,
}

impl<S: Serialize + DeserializeOwned + Default> EntityContext<S> {
    /// Not a public API: builds the context of an operation, decoding the stored state.
    #[doc(hidden)]
    pub fn from_operation(operation: EntityOperation) -> Result<Self, FailureDetails> {
        let (state, exists) = match operation.state {
            Some(value) => (
                serde_json::from_value(value).map_err(|e| {
                    FailureDetails::new(
                        "StateDeserializationError",
                        format!(
                            "the state of entity `{}` does not match `{}`: {e}",
                            operation.id,
                            std::any::type_name::<S>()
                        ),
                    )
                })?,
                true,
            ),
            None => (S::default(), false),
        };
        Ok(EntityContext {
            id: operation.id,
            operation: operation.operation,
            input: operation.input,
            state,
            exists,
            result: Value::Null,
            signals: Vec::new(),
            orchestrations: Vec::new(),
            failure: None,
            effects: operation.effects,
        })
    }

    /// The entity this operation runs on.
    pub fn entity_id(&self) -> &EntityId {
        &self.id
    }

    /// The operation's name, as the sender wrote it.
    pub fn operation_name(&self) -> &str {
        &self.operation
    }

    /// The operation's input, decoded as `T`.
    pub fn get_input<T: DeserializeOwned>(&self) -> Result<T, DurableError> {
        crate::payload::decode(self.input.clone()).map_err(|e| {
            DurableError::Serialization(format!(
                "input of operation `{}` does not match `{}`: {e}",
                self.operation,
                std::any::type_name::<T>()
            ))
        })
    }

    /// Whether the entity has state (it was set and not deleted).
    pub fn has_state(&self) -> bool {
        self.exists
    }

    /// The state; `S::default()` when the entity has none.
    pub fn state(&self) -> &S {
        &self.state
    }

    /// The state, to change in place; the entity has state from now on.
    pub fn state_mut(&mut self) -> &mut S {
        self.exists = true;
        &mut self.state
    }

    /// Replaces the state.
    pub fn set_state(&mut self, state: S) {
        self.exists = true;
        self.state = state;
    }

    /// Deletes the state: the entity has none once the operation succeeds.
    pub fn delete_state(&mut self) {
        self.exists = false;
        self.state = S::default();
    }

    /// Sets the value a caller of this operation receives.
    pub fn return_value(&mut self, value: impl Serialize) {
        match serde_json::to_value(value) {
            Ok(value) => self.result = value,
            Err(e) => {
                self.failure = Some(FailureDetails::new(
                    "OutputSerializationError",
                    format!("the return value cannot be serialized: {e}"),
                ));
            }
        }
    }

    /// Starts an orchestration with `input` and returns its instance id: `instance_id`, or
    /// a new random one when `None`. Like signals, it starts only when this operation
    /// succeeds, in the same commit as the state change; an instance with that id that is
    /// still running is left alone.
    ///
    /// ```no_run
    /// # use durable_runtime::prelude::*;
    /// # fn f(mut ctx: EntityContext<i64>) -> Result<(), DurableError> {
    /// let id = ctx.start_new_orchestration("HelloCities", (), None)?;
    /// ctx.return_value(id);
    /// # Ok(()) }
    /// ```
    pub fn start_new_orchestration(
        &mut self,
        name: &str,
        input: impl Serialize,
        instance_id: Option<&str>,
    ) -> Result<String, DurableError> {
        let instance_id = match instance_id {
            Some(id) => {
                crate::instance_id::validate_instance_id(id)?;
                id.to_owned()
            }
            None => uuid::Uuid::new_v4().simple().to_string(),
        };
        let input = serde_json::to_value(input).map_err(|e| {
            DurableError::Serialization(format!(
                "the input of orchestration `{name}` cannot be serialized: {e}"
            ))
        })?;
        self.orchestrations.push(OrchestrationStart {
            name: name.to_owned(),
            instance_id: instance_id.clone(),
            input,
        });
        Ok(instance_id)
    }

    /// Signals an operation on another entity (one-way). It is sent only when this
    /// operation succeeds, together with its state change.
    pub fn signal_entity(&mut self, id: &EntityId, operation: &str, input: impl Serialize) {
        match serde_json::to_value(input) {
            Ok(input) => self.signals.push(EntitySignal {
                target: id.clone(),
                operation: operation.to_owned(),
                input,
            }),
            Err(e) => {
                self.failure = Some(FailureDetails::new(
                    "InputSerializationError",
                    format!("the input of signal `{operation}` cannot be serialized: {e}"),
                ));
            }
        }
    }
}

impl<S: Serialize + DeserializeOwned + Default> Drop for EntityContext<S> {
    fn drop(&mut self) {
        let mut failure = self.failure.take();
        let state = if self.exists {
            match serde_json::to_value(&self.state) {
                Ok(value) => Some(value),
                Err(e) => {
                    failure.get_or_insert_with(|| {
                        FailureDetails::new(
                            "StateSerializationError",
                            format!(
                                "the state of entity `{}` cannot be serialized: {e}",
                                self.id
                            ),
                        )
                    });
                    None
                }
            }
        } else {
            None
        };
        let effects = OperationEffects {
            state,
            result: std::mem::take(&mut self.result),
            signals: std::mem::take(&mut self.signals),
            orchestrations: std::mem::take(&mut self.orchestrations),
            failure,
        };
        *self.effects.lock().unwrap_or_else(PoisonError::into_inner) = Some(effects);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn instance_ids_fold_the_name_and_read_back() {
        let id = EntityId::new("Counter", "my@key");
        assert_eq!(id.instance_id(), "@counter@my@key");
        assert_eq!(
            EntityId::from_instance_id("@counter@my@key"),
            Some(EntityId::new("counter", "my@key"))
        );
        assert_eq!(EntityId::from_instance_id("counter@x"), None);
        assert_eq!(EntityId::from_instance_id("@@x"), None);
    }

    #[test]
    fn a_dropped_context_leaves_its_state_and_result() {
        let (operation, effects) = EntityOperation::new(
            EntityId::new("Counter", "a"),
            "add".to_owned(),
            Value::from(2),
            Some(Value::from(40)),
        );
        let mut ctx = EntityContext::<i64>::from_operation(operation).expect("state decodes");
        *ctx.state_mut() += ctx.get_input::<i64>().expect("input decodes");
        ctx.return_value("done");
        drop(ctx);
        let effects = effects
            .lock()
            .expect("not poisoned")
            .take()
            .expect("effects");
        assert_eq!(effects.state, Some(Value::from(42)));
        assert_eq!(effects.result, Value::from("done"));
    }
}
