//! Typed handles: what `#[activity_trigger]` and `#[orchestration_trigger]` put under the
//! function's name, so that [`OrchestrationContext::call`] checks a call's input and output
//! types and its target at compile time.
//!
//! The attribute moves the function to a hidden name and defines, with the function's name,
//! visibility and docs, a `const` handle that knows the registered name, the input type `I`
//! and the success type `O` (`T` of a function returning `Result<T, E>`, else the return
//! type). The handle dereferences to a function pointer to the function, so
//! `say_hello("Cairo".to_owned()).await` still runs it directly; the pointer returns the
//! function's future boxed.

use std::fmt;
use std::marker::PhantomData;
use std::ops::Deref;

use serde::Serialize;
use serde::de::DeserializeOwned;

use crate::orchestration::{DurableFuture, OrchestrationContext};

/// The typed handle of an `#[activity_trigger]` function: `F` is a pointer to the function
/// (`fn(I) -> BoxFuture<R>`), `I` its input type (`()` when it takes none) and `O` the type
/// of its output.
///
/// Call the activity from an orchestrator with [`OrchestrationContext::call`], or run the
/// function directly (in a unit test) by calling the handle: it dereferences to `F`.
pub struct ActivityHandle<F, I, O> {
    name: &'static str,
    function: F,
    types: PhantomData<fn(I) -> O>,
}

/// The typed handle of an `#[orchestration_trigger]` function: `F` is a pointer to the
/// function (`fn(OrchestrationContext, I) -> BoxFuture<R>`), `I` its input type (`()` when it
/// takes none) and `O` the type of its output.
///
/// Start it as a sub-orchestration with [`OrchestrationContext::call`].
pub struct OrchestratorHandle<F, I, O> {
    name: &'static str,
    function: F,
    types: PhantomData<fn(I) -> O>,
}

macro_rules! handle_impls {
    ($handle:ident, $what:literal) => {
        impl<F, I, O> $handle<F, I, O> {
            /// A handle to the function registered as `name`. The attribute macros create
            /// handles; nothing checks a handle made by hand against the registered function.
            #[doc(hidden)]
            pub const fn new(name: &'static str, function: F) -> Self {
                $handle {
                    name,
                    function,
                    types: PhantomData,
                }
            }

            #[doc = concat!("The name the ", $what, " is registered under.")]
            pub const fn name(&self) -> &'static str {
                self.name
            }
        }

        impl<F, I, O> Deref for $handle<F, I, O> {
            type Target = F;

            fn deref(&self) -> &F {
                &self.function
            }
        }

        impl<F: Copy, I, O> Clone for $handle<F, I, O> {
            fn clone(&self) -> Self {
                *self
            }
        }

        impl<F: Copy, I, O> Copy for $handle<F, I, O> {}

        impl<F, I, O> fmt::Debug for $handle<F, I, O> {
            fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.debug_struct(stringify!($handle))
                    .field("name", &self.name)
                    .finish_non_exhaustive()
            }
        }

        impl<F, I, O> sealed::Sealed for $handle<F, I, O> {}
    };
}

handle_impls!(ActivityHandle, "activity");
handle_impls!(OrchestratorHandle, "orchestrator");

mod sealed {
    pub trait Sealed {}
}

/// A function an orchestrator can call with [`OrchestrationContext::call`]: an
/// [`ActivityHandle`] or an [`OrchestratorHandle`]. Sealed.
#[diagnostic::on_unimplemented(
    message = "`{Self}` is not the typed handle of a durable function",
    label = "expected the name of an `#[activity_trigger]` or `#[orchestration_trigger]` function",
    note = "to call a function by its registered name, use `call_activity` or `call_sub_orchestrator`; functions that return `impl Trait` have no typed handle"
)]
pub trait FunctionHandle: sealed::Sealed {
    /// The function's input type.
    type Input;
    /// The type of the function's output (for a function returning `Result<T, E>`, `T`).
    type Output;

    /// The name the function is registered under.
    fn name(&self) -> &'static str;

    /// Schedules the call; see [`OrchestrationContext::call`].
    #[doc(hidden)]
    #[track_caller]
    fn schedule(
        &self,
        context: &OrchestrationContext,
        input: Self::Input,
    ) -> DurableFuture<Self::Output>
    where
        Self::Input: Serialize,
        Self::Output: DeserializeOwned;
}

impl<F, I, O> FunctionHandle for ActivityHandle<F, I, O> {
    type Input = I;
    type Output = O;

    fn name(&self) -> &'static str {
        self.name
    }

    fn schedule(&self, context: &OrchestrationContext, input: I) -> DurableFuture<O>
    where
        I: Serialize,
        O: DeserializeOwned,
    {
        context.call_activity(self.name, input)
    }
}

impl<F, I, O> FunctionHandle for OrchestratorHandle<F, I, O> {
    type Input = I;
    type Output = O;

    fn name(&self) -> &'static str {
        self.name
    }

    fn schedule(&self, context: &OrchestrationContext, input: I) -> DurableFuture<O>
    where
        I: Serialize,
        O: DeserializeOwned,
    {
        context.call_sub_orchestrator(self.name, input)
    }
}

impl OrchestrationContext {
    /// Calls a function through its typed handle: an activity like
    /// [`call_activity`](Self::call_activity), an orchestrator as a sub-orchestration like
    /// [`call_sub_orchestrator`](Self::call_sub_orchestrator), by its registered name.
    ///
    /// The handle is the function's own name: `#[activity_trigger]` and
    /// `#[orchestration_trigger]` define it. rustc checks that `input` has the function's
    /// input type (`()` when it takes none) and the result is the function's output type, so
    /// a wrong type or a misspelled function does not compile.
    ///
    /// ```no_run
    /// use durable_runtime::prelude::*;
    ///
    /// #[activity_trigger(name = "SayHello")]
    /// async fn say_hello(city: String) -> String {
    ///     format!("Hello {city}!")
    /// }
    ///
    /// #[orchestration_trigger(name = "HelloTokyo")]
    /// async fn hello_tokyo(ctx: OrchestrationContext) -> Result<String, DurableError> {
    ///     ctx.call(say_hello, "Tokyo".to_owned()).await
    /// }
    ///
    /// #[orchestration_trigger(name = "HelloTwice")]
    /// async fn hello_twice(ctx: OrchestrationContext) -> Result<Vec<String>, DurableError> {
    ///     let first = ctx.call(hello_tokyo, ()).await?;
    ///     Ok(vec![first, ctx.call(say_hello, "Cairo".to_owned()).await?])
    /// }
    /// ```
    ///
    /// A wrong input type is reported at the argument:
    ///
    /// ```compile_fail,E0308
    /// # use durable_runtime::prelude::*;
    /// # #[activity_trigger(name = "SayHello")]
    /// # async fn say_hello(city: String) -> String {
    /// #     format!("Hello {city}!")
    /// # }
    /// #[orchestration_trigger]
    /// async fn hello(ctx: OrchestrationContext) -> Result<String, DurableError> {
    ///     ctx.call(say_hello, 42).await // expected `String`, found integer
    /// }
    /// ```
    #[track_caller]
    pub fn call<H: FunctionHandle>(&self, function: H, input: H::Input) -> DurableFuture<H::Output>
    where
        H::Input: Serialize,
        H::Output: DeserializeOwned,
    {
        function.schedule(self, input)
    }
}

#[cfg(test)]
mod tests {
    use std::sync::atomic::{AtomicU32, Ordering};

    use chrono::{DateTime, Utc};
    use serde_json::{Value, json};

    use super::*;
    use crate::__private::encode_orchestration_result;
    use crate::error::DurableError;
    use crate::history::{EventKind, HistoryEvent};
    use crate::orchestration::replay::Execution;
    use crate::registry::{BoxFuture, InvocationResult};

    async fn say_hello(city: String) -> String {
        format!("Hello {city}!")
    }

    fn say_hello_boxed(city: String) -> BoxFuture<String> {
        Box::pin(say_hello(city))
    }

    type SayHelloFn = fn(String) -> BoxFuture<String>;
    type CountFn = fn(OrchestrationContext, u8) -> BoxFuture<u8>;

    /// As `#[activity_trigger(name = "SayHello")]` defines it.
    const SAY_HELLO: ActivityHandle<SayHelloFn, String, String> =
        ActivityHandle::new("SayHello", say_hello_boxed as SayHelloFn);

    const COUNT: OrchestratorHandle<CountFn, u8, u8> =
        OrchestratorHandle::new("Count", |_, n| Box::pin(async move { n }));

    /// The line of `calls_both`'s first call.
    static CALL_LINE: AtomicU32 = AtomicU32::new(0);

    fn calls_both(ctx: OrchestrationContext) -> BoxFuture<InvocationResult> {
        Box::pin(async move {
            CALL_LINE.store(line!() + 1, Ordering::SeqCst);
            let greeting = ctx.call(SAY_HELLO, "Tokyo".to_owned());
            let count = ctx.call(COUNT, 3);
            let both = async { Ok::<_, DurableError>((greeting.await?, count.await?)) };
            encode_orchestration_result(both.await)
        })
    }

    fn now() -> DateTime<Utc> {
        DateTime::from_timestamp(1_704_067_200, 0).expect("a valid time")
    }

    fn started() -> HistoryEvent {
        HistoryEvent::new(
            now(),
            EventKind::ExecutionStarted {
                name: "Test".to_owned(),
                input: Value::Null,
                execution_id: "execution-1".to_owned(),
                parent: None,
                scheduled_start: None,
                parent_trace_context: None,
                version: None,
            },
        )
    }

    #[test]
    fn handles_call_by_name() {
        let turn = Execution::new("typed", calls_both).run_turn(now(), vec![started()]);
        let activities: Vec<(&str, &Value)> = turn
            .activities
            .iter()
            .map(|a| (a.name.as_str(), &a.input))
            .collect();
        assert_eq!(activities, [("SayHello", &json!("Tokyo"))]);
        let children: Vec<(&str, &Value)> = turn
            .children
            .iter()
            .map(|c| (c.name.as_str(), &c.input))
            .collect();
        assert_eq!(children, [("Count", &json!(3))]);
    }

    #[test]
    fn the_call_is_located_at_the_caller() {
        let recorded = [
            started(),
            HistoryEvent::new(now(), EventKind::OrchestratorStarted),
            HistoryEvent {
                event_id: 0,
                timestamp: now(),
                kind: EventKind::TaskScheduled {
                    name: "SayGoodbye".to_owned(),
                    input: json!("Tokyo"),
                },
            },
            HistoryEvent::new(now(), EventKind::OrchestratorCompleted),
        ];
        let failure = Execution::new("typed", calls_both)
            .replay(&recorded)
            .expect_err("the code calls another activity");
        let at = format!("src/typed.rs:{}", CALL_LINE.load(Ordering::SeqCst));
        assert!(
            failure.error_message.contains(&at),
            "{at} in {}",
            failure.error_message
        );
    }

    #[test]
    fn the_handle_runs_the_function() {
        let greeting = futures::executor::block_on(SAY_HELLO("Cairo".to_owned()));
        assert_eq!(greeting, "Hello Cairo!");
        assert_eq!(SAY_HELLO.name(), "SayHello");
        assert_eq!(
            format!("{COUNT:?}"),
            "OrchestratorHandle { name: \"Count\", .. }"
        );
    }
}
