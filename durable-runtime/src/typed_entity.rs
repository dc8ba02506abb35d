//! Typed entities: `#[entity_trigger]` on an `impl` block makes the type an entity whose
//! state is a value of the type and whose operations are its `pub` methods, and gives
//! orchestrations a proxy whose methods call those operations with their own input and
//! output types, checked by rustc.
//!
//! ```no_run
//! use durable_runtime::prelude::*;
//! use serde::{Deserialize, Serialize};
//!
//! #[derive(Default, Serialize, Deserialize)]
//! pub struct Account {
//!     balance: i64,
//! }
//!
//! #[entity_trigger] // registered as "Account"
//! impl Account {
//!     pub fn deposit(&mut self, amount: i64) {
//!         self.balance += amount;
//!     }
//!
//!     pub fn withdraw(&mut self, amount: i64) -> Result<(), String> {
//!         if amount > self.balance {
//!             return Err(format!("cannot withdraw {amount}: the balance is {}", self.balance));
//!         }
//!         self.balance -= amount;
//!         Ok(())
//!     }
//!
//!     pub fn balance(&self) -> i64 {
//!         self.balance
//!     }
//! }
//!
//! #[orchestration_trigger]
//! async fn pay(ctx: OrchestrationContext) -> Result<i64, DurableError> {
//!     let alice = ctx.entity::<Account>("alice");
//!     alice.withdraw(30).await?; // two-way: fails with `TaskFailed` when refused
//!     ctx.entity::<Account>("bob").signal().deposit(30); // one-way
//!     alice.balance().await
//! }
//! ```
//!
//! Inputs and outputs are checked at compile time:
//!
//! ```compile_fail
//! # use durable_runtime::prelude::*;
//! # #[derive(Default, serde::Serialize, serde::Deserialize)]
//! # pub struct Account { balance: i64 }
//! # #[entity_trigger]
//! # impl Account {
//! #     pub fn deposit(&mut self, amount: i64) { self.balance += amount; }
//! # }
//! # async fn f(ctx: OrchestrationContext) -> Result<(), DurableError> {
//! ctx.entity::<Account>("alice").deposit("fifty").await?; // expected `i64`
//! # Ok(()) }
//! ```

use std::fmt::{self, Display};
use std::sync::PoisonError;

use serde::Serialize;
use serde::de::DeserializeOwned;
use serde_json::Value;

use crate::entity::{EntityContext, EntityId, EntityOperation};
use crate::history::FailureDetails;
use crate::orchestration::{DurableFuture, OrchestrationContext};
use crate::registry::{BoxFuture, InvocationResult};

/// A type made an entity by `#[entity_trigger]` on its `impl` block. Implemented by the
/// attribute; the state of each entity (one per key) is a value of the type.
#[diagnostic::on_unimplemented(
    message = "`{Self}` is not a typed entity",
    label = "expected a type whose `impl` block has `#[entity_trigger]`",
    note = "to call an entity function by name, use `call_entity` or `signal_entity` with an `EntityId`"
)]
pub trait TypedEntity: Serialize + DeserializeOwned + Default + 'static {
    /// The name the entity is registered under (the type's name unless `name = ".."`).
    const NAME: &'static str;

    /// Two-way calls from an orchestration: one method per operation, each returning a
    /// [`DurableFuture`] of the operation's output. Made by [`OrchestrationContext::entity`].
    type Proxy;

    /// One-way signals from an orchestration: one method per operation, each returning
    /// nothing. Made by the proxy's `signal()`.
    type Signals;

    /// Not a public API: the proxy of one entity, made by [`OrchestrationContext::entity`].
    #[doc(hidden)]
    fn proxy(target: EntityTarget) -> Self::Proxy;

    /// Not a public API: runs one operation (the invoker the entity is registered with).
    #[doc(hidden)]
    fn invoke(operation: EntityOperation) -> BoxFuture<InvocationResult>;
}

/// The two-way proxy of the typed entity `E`: what [`OrchestrationContext::entity`] returns.
pub type EntityProxy<E> = <E as TypedEntity>::Proxy;

/// The one-way proxy of the typed entity `E`: what its proxy's `signal()` returns.
pub type EntitySignals<E> = <E as TypedEntity>::Signals;

impl OrchestrationContext {
    /// The typed proxy of the entity `key` of the typed entity `E`: its methods call the
    /// entity's operations (two-way, like [`call_entity`](Self::call_entity)), and its
    /// `signal()` gives methods that signal them (one-way, like
    /// [`signal_entity`](Self::signal_entity)). Nothing is sent until an operation's method
    /// is called.
    ///
    /// ```no_run
    /// # use durable_runtime::prelude::*;
    /// # #[derive(Default, serde::Serialize, serde::Deserialize)]
    /// # pub struct Account { balance: i64 }
    /// # #[entity_trigger]
    /// # impl Account {
    /// #     pub fn deposit(&mut self, amount: i64) { self.balance += amount; }
    /// #     pub fn balance(&self) -> i64 { self.balance }
    /// # }
    /// # async fn f(ctx: OrchestrationContext) -> Result<(), DurableError> {
    /// let account = ctx.entity::<Account>("alice");
    /// account.deposit(50).await?;
    /// account.signal().deposit(10);
    /// let balance: i64 = account.balance().await?;
    /// # Ok(()) }
    /// ```
    pub fn entity<E: TypedEntity>(&self, key: impl Into<String>) -> E::Proxy {
        E::proxy(EntityTarget {
            context: self.clone(),
            id: EntityId::new(E::NAME, key),
        })
    }
}

/// Runs one operation of the typed entity `E` in memory, as the host runs it: the operation
/// is found by name (ignoring case), its input decoded, and a failure (an `Err`, a bad
/// input, an unknown operation) leaves the state as it was. Returns the state afterwards
/// (`None` when the entity has none, e.g. after `delete`) and the JSON value a caller
/// would receive. For unit tests; a panic in the operation is not caught.
///
/// ```no_run
/// # use durable_runtime::prelude::*;
/// # use durable_runtime::testing::run_operation;
/// # #[derive(Default, PartialEq, Debug, serde::Serialize, serde::Deserialize)]
/// # pub struct Account { balance: i64 }
/// # #[entity_trigger]
/// # impl Account {
/// #     pub fn deposit(&mut self, amount: i64) { self.balance += amount; }
/// # }
/// # async fn f() -> Result<(), durable_runtime::FailureDetails> {
/// let (state, _) = run_operation::<Account>("alice", None, "deposit", 50).await?;
/// assert_eq!(state, Some(Account { balance: 50 }));
/// # Ok(()) }
/// ```
pub async fn run_operation<E: TypedEntity>(
    key: &str,
    state: Option<E>,
    operation: &str,
    input: impl Serialize,
) -> Result<(Option<E>, Value), FailureDetails> {
    let encode = |what: &str, e: serde_json::Error| {
        FailureDetails::new(
            "SerializationError",
            format!("the {what} cannot be serialized: {e}"),
        )
    };
    let input = serde_json::to_value(input).map_err(|e| encode("input", e))?;
    let state = state
        .map(serde_json::to_value)
        .transpose()
        .map_err(|e| encode("state", e))?;
    let id = EntityId::new(E::NAME, key);
    let (request, effects) = EntityOperation::new(id, operation.to_owned(), input, state);
    E::invoke(request).await?;
    let effects = effects
        .lock()
        .unwrap_or_else(PoisonError::into_inner)
        .take()
        .unwrap_or_default();
    if let Some(failure) = effects.failure {
        return Err(failure);
    }
    let state = effects
        .state
        .map(serde_json::from_value)
        .transpose()
        .map_err(|e| {
            FailureDetails::new(
                "StateDeserializationError",
                format!(
                    "the state does not read back as `{}`: {e}",
                    std::any::type_name::<E>()
                ),
            )
        })?;
    Ok((state, effects.result))
}

/// Not a public API: the entity a generated proxy sends its operations to, and the
/// orchestration that sends them.
#[doc(hidden)]
#[derive(Clone)]
pub struct EntityTarget {
    context: OrchestrationContext,
    id: EntityId,
}

impl EntityTarget {
    /// The entity.
    pub fn id(&self) -> &EntityId {
        &self.id
    }

    /// Calls `operation` (two-way).
    #[track_caller]
    pub fn call<R: DeserializeOwned>(
        &self,
        operation: &str,
        input: impl Serialize,
    ) -> DurableFuture<R> {
        self.context.call_entity(&self.id, operation, input)
    }

    /// Signals `operation` (one-way).
    #[track_caller]
    pub fn signal(&self, operation: &str, input: impl Serialize) {
        self.context.signal_entity(&self.id, operation, input);
    }
}

impl fmt::Debug for EntityTarget {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("EntityTarget")
            .field("id", &self.id)
            .finish_non_exhaustive()
    }
}

/// Not a public API: decodes an operation's input for the method's parameter.
#[doc(hidden)]
pub fn decode_operation_input<T, S>(ctx: &EntityContext<S>) -> Result<T, FailureDetails>
where
    T: DeserializeOwned,
    S: Serialize + DeserializeOwned + Default,
{
    ctx.get_input::<T>()
        .map_err(|e| FailureDetails::from_error(&e))
}

/// Not a public API: a method's plain output becomes the value its caller receives.
#[doc(hidden)]
pub fn encode_operation_output<S, R>(ctx: &mut EntityContext<S>, output: R) -> InvocationResult
where
    S: Serialize + DeserializeOwned + Default,
    R: Serialize,
{
    ctx.return_value(output);
    Ok(Value::Null)
}

/// Not a public API: a method's `Ok` becomes the value its caller receives; its `Err`
/// fails the operation (which rolls its state change back), as an activity's would.
#[doc(hidden)]
pub fn encode_operation_result<S, R, E>(
    ctx: &mut EntityContext<S>,
    result: Result<R, E>,
) -> InvocationResult
where
    S: Serialize + DeserializeOwned + Default,
    R: Serialize,
    E: Display,
{
    match result {
        Ok(output) => encode_operation_output(ctx, output),
        Err(error) => crate::__private::encode_activity_result::<(), E>(Err(error)),
    }
}

/// Not a public API: the implicit `delete` operation of an `impl` without its own.
#[doc(hidden)]
pub fn delete_operation<S>(ctx: &mut EntityContext<S>) -> InvocationResult
where
    S: Serialize + DeserializeOwned + Default,
{
    ctx.delete_state();
    Ok(Value::Null)
}

/// Not a public API: the failure of an operation the entity does not have.
#[doc(hidden)]
pub fn unknown_operation<S>(ctx: &EntityContext<S>, known: &[&str]) -> FailureDetails
where
    S: Serialize + DeserializeOwned + Default,
{
    let known: Vec<String> = known.iter().map(|name| format!("`{name}`")).collect();
    FailureDetails::new(
        "UnknownOperation",
        format!(
            "entity `{}` has no operation `{}`; expected one of: {} (names ignore case)",
            ctx.entity_id(),
            ctx.operation_name(),
            known.join(", ")
        ),
    )
}

/// Compile-time check that a typed entity's type can be its state.
#[doc(hidden)]
#[diagnostic::on_unimplemented(
    message = "the entity type `{Self}` cannot be an entity's state",
    label = "entity types must implement `Serialize`, `DeserializeOwned` and `Default`",
    note = "derive `Default`, `serde::Serialize` and `serde::Deserialize` for it"
)]
pub trait IsEntityState {}
impl<S: Serialize + DeserializeOwned + Default> IsEntityState for S {}

/// Used by the generated assertions: mentions `S` so the bound is checked at the user's type.
#[doc(hidden)]
pub fn assert_entity_state<S: IsEntityState>() {}

#[cfg(test)]
mod tests {
    use chrono::{DateTime, Utc};
    use serde::{Deserialize, Serialize};
    use serde_json::{Value, json};

    use super::*;
    use crate::history::{EventKind, HistoryEvent};
    use crate::orchestration::replay::Execution;
    use crate::status::RuntimeStatus;

    /// A typed entity written out by hand, as `#[entity_trigger]` expands an `impl` block
    /// with `pub fn add(&mut self, amount: i64) -> Result<i64, String>` and
    /// `pub fn coins(&self) -> i64` (this crate cannot register one: `unsafe_code` is
    /// forbidden here, and the registration's `link_section` counts as unsafe).
    #[derive(Debug, Default, PartialEq, Serialize, Deserialize)]
    struct Wallet {
        coins: i64,
    }

    struct WalletProxy(EntityTarget);
    struct WalletSignals(EntityTarget);

    impl WalletProxy {
        #[track_caller]
        fn coins(&self) -> DurableFuture<i64> {
            self.0.call("coins", ())
        }

        fn signal(&self) -> WalletSignals {
            WalletSignals(self.0.clone())
        }
    }

    impl WalletSignals {
        #[track_caller]
        fn add(&self, amount: i64) {
            self.0.signal("add", amount);
        }
    }

    fn wallet(operation: EntityOperation) -> BoxFuture<InvocationResult> {
        Box::pin(async move {
            let mut ctx = EntityContext::<Wallet>::from_operation(operation)?;
            match ctx.operation_name().to_ascii_lowercase().as_str() {
                "add" => {
                    let amount: i64 = decode_operation_input(&ctx)?;
                    let state = ctx.state_mut();
                    state.coins += amount;
                    let result = if state.coins < 0 {
                        Err(format!("cannot take {amount}"))
                    } else {
                        Ok(state.coins)
                    };
                    encode_operation_result(&mut ctx, result)
                }
                "coins" => {
                    let coins = ctx.state().coins;
                    encode_operation_output(&mut ctx, coins)
                }
                "delete" => delete_operation(&mut ctx),
                _ => Err(unknown_operation(&ctx, &["add", "coins", "delete"])),
            }
        })
    }

    impl TypedEntity for Wallet {
        const NAME: &'static str = "Wallet";
        type Proxy = WalletProxy;
        type Signals = WalletSignals;

        fn proxy(target: EntityTarget) -> WalletProxy {
            WalletProxy(target)
        }

        fn invoke(operation: EntityOperation) -> BoxFuture<InvocationResult> {
            wallet(operation)
        }
    }

    #[tokio::test]
    async fn run_operation_returns_the_new_state_and_the_callers_value() {
        let (state, result) = run_operation::<Wallet>("a", Some(Wallet { coins: 2 }), "ADD", 3)
            .await
            .expect("succeeds");
        assert_eq!(state, Some(Wallet { coins: 5 }));
        assert_eq!(result, json!(5));
        let (state, result) = run_operation::<Wallet>("a", None, "coins", ())
            .await
            .expect("succeeds");
        assert_eq!(
            (state, result),
            (None, json!(0)),
            "reading creates no state"
        );
        let (state, _) = run_operation::<Wallet>("a", Some(Wallet { coins: 1 }), "delete", ())
            .await
            .expect("succeeds");
        assert_eq!(state, None);
    }

    #[tokio::test]
    async fn failures_name_their_cause() {
        let failure = run_operation::<Wallet>("a", None, "add", -1)
            .await
            .expect_err("below zero");
        assert_eq!(
            (failure.error_type.as_str(), failure.error_message.as_str()),
            ("String", "cannot take -1")
        );
        let failure = run_operation::<Wallet>("a", None, "add", "one")
            .await
            .expect_err("not a number");
        assert_eq!(failure.error_type, "SerializationError");
        let failure = run_operation::<Wallet>("a", None, "spend", 1)
            .await
            .expect_err("no such operation");
        assert_eq!(failure.error_type, "UnknownOperation");
        assert_eq!(
            failure.error_message,
            "entity `@wallet@a` has no operation `spend`; expected one of: `add`, `coins`, \
             `delete` (names ignore case)"
        );
    }

    fn at(t: i64) -> DateTime<Utc> {
        DateTime::from_timestamp(1_704_067_200 + t, 0).expect("a valid time")
    }

    /// Signals `add` through the proxy, then calls `coins` and returns the answer.
    fn pays(ctx: OrchestrationContext) -> BoxFuture<InvocationResult> {
        Box::pin(async move {
            let wallet = ctx.entity::<Wallet>("alice");
            wallet.signal().add(2);
            match wallet.coins().await {
                Ok(coins) => crate::__private::encode_output(coins),
                Err(error) => Err(FailureDetails::from_error(&error)),
            }
        })
    }

    #[test]
    fn proxies_signal_and_call_the_entity_of_the_key() {
        let mut execution = Execution::new("payer", pays);
        let started = HistoryEvent::new(
            at(0),
            EventKind::ExecutionStarted {
                name: "Pays".to_owned(),
                input: Value::Null,
                execution_id: "e1".to_owned(),
                parent: None,
                scheduled_start: None,
                parent_trace_context: None,
                version: None,
            },
        );
        let turn = execution.run_turn(at(1), vec![started]);
        assert_eq!(turn.status, RuntimeStatus::Running, "{:?}", turn.output);
        let sent: Vec<(&str, &str, &str, &Value)> = turn
            .entity_operations
            .iter()
            .map(|m| match &m.event.kind {
                EventKind::EntityOperationSignaled {
                    operation, input, ..
                } => (m.instance_id.as_str(), "signal", operation.as_str(), input),
                EventKind::EntityOperationCalled {
                    operation, input, ..
                } => (m.instance_id.as_str(), "call", operation.as_str(), input),
                other => panic!("unexpected {other:?}"),
            })
            .collect();
        assert_eq!(
            sent,
            [
                ("@wallet@alice", "signal", "add", &json!(2)),
                ("@wallet@alice", "call", "coins", &Value::Null),
            ]
        );
        let answer = HistoryEvent::new(
            at(2),
            EventKind::EntityOperationCompleted {
                task_scheduled_id: turn.entity_operations[1].event.event_id,
                result: json!(8),
            },
        );
        let turn = execution.run_turn(at(3), vec![answer]);
        assert_eq!(turn.status, RuntimeStatus::Completed, "{:?}", turn.output);
        assert_eq!(turn.output, json!(8));
    }
}
