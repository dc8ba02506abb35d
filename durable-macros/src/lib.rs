//! Attribute macros that register Durable Functions with the durable-rs host.
//!
//! - [`macro@activity_trigger`] registers an activity,
//! - [`macro@entity_trigger`] registers an entity (a function, or an `impl` block whose
//!   methods are the operations),
//! - [`macro@orchestration_trigger`] registers an orchestrator,
//! - [`macro@client`] registers a client function (an HTTP trigger).
//!
//! Use them through `durable_runtime`, which re-exports them
//! (`use durable_runtime::prelude::*;`); this crate's expansions name items of
//! `durable_runtime` (the handle types and `durable_runtime::__private`) and do not work
//! without it.
//!
//! Each attribute adds, next to the function, a hidden block with a `static` descriptor in
//! one of the runtime's link-time lists. The host reads those lists when it starts. A
//! function is only found if its crate is linked into the host binary: a library of
//! functions must be named from the binary (`use my_functions as _;`).
//!
//! `#[activity_trigger]` and `#[orchestration_trigger]` also give the function a typed
//! handle: the function's body moves to a hidden function, and its name (with its
//! visibility and docs) becomes a `const` `ActivityHandle` or `OrchestratorHandle` that
//! orchestrators call with `ctx.call(say_hello, input)`, checked by rustc. The handle
//! dereferences to a function pointer, so `say_hello(input).await` still runs the function
//! (its future is boxed). A function whose return type cannot be named (`impl Trait`) keeps
//! its name and gets no handle. `#[client]` keeps the function exactly as written.
//!
//! The macros check the shape of the function (it is `async`, has no generics and no `self`,
//! takes the right number of parameters) and the attribute's arguments, and report every
//! problem at once, each at the offending tokens. Types are checked by rustc: the expansion
//! contains small assertions placed at your types, so "cannot be deserialized from JSON" or
//! "must be `OrchestrationContext`" errors point at the parameter that is wrong.

use proc_macro::TokenStream;

mod activity;
mod args;
mod client;
mod determinism;
mod diag;
mod emit;
mod entity;
mod entity_impl;
mod handle;
mod orchestration;
mod signature;

/// Registers an `async fn` as a Durable Functions **activity**: a unit of work that
/// orchestrators call by name, with a JSON input and a JSON output. Activities run at least
/// once, so they should be idempotent.
///
/// # Arguments
///
/// - `name = "..."`: the name orchestrators call the activity by. Default: the function's
///   identifier as written (without `r#`). Names start with an ASCII letter, continue with
///   ASCII letters, digits, `_` or `-`, and have at most 128 characters; names are compared
///   ignoring case, and the host refuses to start when two functions share one.
/// - `crate = path`: where `durable_runtime` is, when it is re-exported under another path.
///   Default: `::durable_runtime`.
///
/// # Parameters
///
/// The function takes one of:
///
/// - no parameters: the activity ignores its input;
/// - `(input: T)`: the input, decoded from JSON; `T` must implement
///   `serde::de::DeserializeOwned`;
/// - `(ctx: ActivityContext, input: T)`: the activity's context (instance id, name, ...) and
///   the input.
///
/// The parameter pattern can be any pattern, e.g. `(city, country): (String, String)`; the
/// declared type is what is decoded. An input that does not match `T` fails the activity with
/// an `InputDeserializationError`.
///
/// # Return type
///
/// The return type is read as written. If it is a path whose last segment is `Result`
/// (`Result<T, E>`, `std::io::Result<T>`, `anyhow::Result<T>`), the activity is fallible:
/// `Ok(value)` is its output and `Err(error)` fails it, with the error's `Display` text as the
/// message and its type name as the error type (`E` must implement `Display`). Any other
/// return type, including a type alias of a `Result` with another name, is the output itself.
/// Outputs must implement `serde::Serialize`; no return type means `()`, encoded as `null`.
///
/// The function's future must be `Send`.
///
/// # Typed handle
///
/// The function's name becomes a `const` `ActivityHandle<F, I, O>` (with the function's
/// visibility, docs and `#[deprecated]`), where `I` is the input type (`()` without one) and
/// `O` the output (`T` for `Result<T, E>`). Orchestrators call the activity through it with
/// `ctx.call(say_hello, "Tokyo".to_owned())`, which rustc checks; calling the handle runs the
/// function directly (`say_hello("Tokyo".to_owned()).await`, e.g. in a unit test). Calls by
/// name (`ctx.call_activity`) keep working. A local variable cannot share the function's name
/// (it would be a pattern matching the constant). Functions returning `impl Trait` get no
/// handle.
///
/// # Examples
///
/// ```ignore
/// use durable_runtime::prelude::*;
///
/// #[activity_trigger(name = "SayHello")]
/// async fn say_hello(city: String) -> String {
///     format!("Hello {city}!")
/// }
///
/// #[activity_trigger]
/// async fn resize_image(
///     ctx: ActivityContext,
///     (url, width): (String, u32),
/// ) -> anyhow::Result<Vec<u8>> {
///     tracing::info!(instance = %ctx.instance_id(), "resizing {url}");
///     Ok(resize(&download(&url).await?, width)?)
/// }
/// ```
///
/// Misuse is reported at the offending tokens:
///
/// ```ignore
/// #[activity_trigger(nmae = "SayHello")]
/// //                 ^^^^ unknown attribute `nmae` is specified for `#[activity_trigger]`;
/// //                      expected one of: `name`, `crate`
/// fn say_hello(city: String) -> String { city }
/// // ^^ `#[activity_trigger]` functions must be `async`; expected `async fn`
/// ```
#[proc_macro_attribute]
pub fn activity_trigger(args: TokenStream, item: TokenStream) -> TokenStream {
    activity::expand(args.into(), item.into()).into()
}

/// Registers a Durable Functions **entity**: named pieces of state (one per key) changed by
/// operations that run one at a time. It applies to a function (one operation handler) or
/// to an `impl` block (a typed entity: one method per operation).
///
/// On a function, the function takes one `EntityContext<S>` (the state type `S`:
/// `Serialize + DeserializeOwned + Default`) and returns `()` or `Result<(), E>` with
/// `E: Display`; an `Err` or a panic rolls back the operation's state change and is reported
/// to a caller. It may be `async` or not.
///
/// # Arguments
///
/// - `name = "..."`: the registered name (default: the function's name, or for an `impl`
///   block the type's name); entity names ignore case.
/// - `crate = path`: where `durable_runtime` is, when it is re-exported.
///
/// # Typed entities: `impl` blocks
///
/// On an inherent `impl Type` block, the type is the state (`Serialize + DeserializeOwned +
/// Default`; `Default` is an entity without state) and the block's operations are its
/// methods that
///
/// - are visible outside the type (`pub`, `pub(crate)`, ...; private methods are helpers),
/// - take `&self` (reads: an entity without state gets none) or `&mut self`,
/// - take at most one input after `self` (`T: DeserializeOwned`; pass several values as a
///   tuple or a struct),
/// - return `()`, a value `R: Serialize`, or a `Result<R, E>` with `E: Display` (a return
///   type whose last path segment is `Result`): an `Err` fails the operation, its state
///   change is rolled back and a caller gets `DurableError::TaskFailed` with the error's
///   `Display` text,
/// - may be `async`.
///
/// The operation name is the method's name (without `r#`), matched ignoring ASCII case; an
/// unknown operation fails with a message listing the known ones. Associated functions
/// without `self` are left alone. A `delete` operation that deletes the state is added
/// unless the block defines one. Methods taking `self` by value, more than one input,
/// generics, returning a borrow or `impl Trait`, and names the proxies use (`signal`,
/// `entity_id`) are compile errors at the offending tokens. The block itself is kept as
/// written, so the type stays plain Rust: unit-test it by calling its methods.
///
/// The attribute implements `durable_runtime::TypedEntity` for the type, whose associated
/// types are the generated proxies (hidden types; name them as
/// `durable_runtime::EntityProxy<Account>` and `durable_runtime::EntitySignals<Account>`).
/// In an orchestrator, `ctx.entity::<Account>("alice")` is the two-way proxy of the entity
/// with key `"alice"`: one method per operation, with the same name, visibility and docs,
/// taking the input and returning a `DurableFuture` of the output (`R` of `Result<R, E>`),
/// sent with `call_entity`; its `signal()` gives the one-way proxy, whose methods send the
/// operation with `signal_entity` and return nothing. rustc checks inputs and outputs.
///
/// ```ignore
/// use durable_runtime::prelude::*;
/// use serde::{Deserialize, Serialize};
///
/// #[derive(Default, Serialize, Deserialize)]
/// pub struct Account {
///     balance: i64,
/// }
///
/// #[entity_trigger] // registered as "Account"
/// impl Account {
///     pub fn deposit(&mut self, amount: i64) {
///         self.balance += amount;
///     }
///
///     pub fn withdraw(&mut self, amount: i64) -> Result<(), String> {
///         if amount > self.balance {
///             return Err(format!("insufficient funds: the balance is {}", self.balance));
///         }
///         self.balance -= amount;
///         Ok(())
///     }
///
///     pub fn balance(&self) -> i64 {
///         self.balance
///     }
/// }
///
/// #[orchestration_trigger]
/// async fn pay(ctx: OrchestrationContext) -> Result<i64, DurableError> {
///     let alice = ctx.entity::<Account>("alice");
///     alice.withdraw(30).await?; // two-way
///     ctx.entity::<Account>("bob").signal().deposit(30); // one-way
///     alice.balance().await
/// }
/// ```
///
/// Shapes that cannot be operations are reported at the user's tokens:
///
/// ```ignore
/// #[entity_trigger]
/// impl Account {
///     pub fn transfer(&mut self, to: String, amount: i64) {}
///     //                                     ^^^^^^^^^^^ `#[entity_trigger]` operations take
///     //    at most one input after `self`; pass several values as one tuple ... or a struct
/// }
/// ```
///
/// # Examples
///
/// ```ignore
/// use durable_runtime::prelude::*;
///
/// #[entity_trigger(name = "Counter")]
/// async fn counter(mut ctx: EntityContext<i64>) -> Result<(), DurableError> {
///     match ctx.operation_name() {
///         "add" => *ctx.state_mut() += ctx.get_input::<i64>()?,
///         "get" => ctx.return_value(*ctx.state()),
///         _ => {}
///     }
///     Ok(())
/// }
/// ```
#[proc_macro_attribute]
pub fn entity_trigger(args: TokenStream, item: TokenStream) -> TokenStream {
    entity::expand(args.into(), item.into()).into()
}

/// Registers an `async fn` as a Durable Functions **orchestrator**: deterministic code that
/// schedules activities, sub-orchestrations, timers and event waits through its
/// `OrchestrationContext`, and is replayed from its history after a restart.
///
/// # Arguments
///
/// - `name = "..."`: the name instances are started by. Default: the function's identifier
///   as written (without `r#`). Names start with an ASCII letter, continue with ASCII
///   letters, digits, `_` or `-`, and have at most 128 characters; names are compared
///   ignoring case, and the host refuses to start when two functions share one.
/// - `crate = path`: where `durable_runtime` is, when it is re-exported under another path.
///   Default: `::durable_runtime`.
///
/// # Parameters
///
/// - `(ctx: OrchestrationContext)`, or
/// - `(ctx: OrchestrationContext, input: T)`: the instance's input, decoded from JSON; `T`
///   must implement `serde::de::DeserializeOwned`.
///
/// The first parameter is the context whatever it is named; its type must be
/// `OrchestrationContext` (checked by rustc, reported at the parameter's type). Patterns are
/// allowed for the input (`Order { id, lines }: Order`).
///
/// # Return type
///
/// The return type is read as written. If it is a path whose last segment is `Result`
/// (`Result<T, DurableError>`, `anyhow::Result<T>`), the orchestrator is fallible: `Ok(value)`
/// completes the instance with that output and `Err(error)` fails it (`E` must convert into
/// `DurableError`, so `?` on `call_activity` works). Any other return type, including a type
/// alias of a `Result` with another name, is the output itself. Outputs must implement
/// `serde::Serialize`; no return type means `()`, encoded as `null`.
///
/// The function's future must be `Send`.
///
/// # Typed handle
///
/// As for activities, the function's name becomes a `const` `OrchestratorHandle<F, I, O>`:
/// `ctx.call(hello_cities, ())` starts it as a sub-orchestration, with its input and output
/// types checked by rustc. Functions returning `impl Trait` get no handle.
///
/// # Examples
///
/// ```ignore
/// use durable_runtime::prelude::*;
///
/// #[orchestration_trigger(name = "HelloCities")]
/// async fn hello_cities(ctx: OrchestrationContext) -> Result<Vec<String>, DurableError> {
///     let mut out = Vec::new();
///     for city in ["Tokyo", "Seattle", "London"] {
///         out.push(ctx.call_activity::<String>("SayHello", city).await?);
///     }
///     Ok(out)
/// }
///
/// #[orchestration_trigger]
/// async fn greet(ctx: OrchestrationContext, city: String) -> Result<String, DurableError> {
///     ctx.call(say_hello, city).await
/// }
///
/// #[orchestration_trigger]
/// async fn greet_all(ctx: OrchestrationContext) -> Result<Vec<String>, DurableError> {
///     let mut out = ctx.call(hello_cities, ()).await?;
///     out.push(ctx.call(greet, "Cairo".to_owned()).await?);
///     Ok(out)
/// }
/// ```
///
/// An orchestrator without its context is rejected:
///
/// ```ignore
/// #[orchestration_trigger]
/// async fn hello_cities() -> Vec<String> { Vec::new() }
/// //                   ^^ the first parameter of an `#[orchestration_trigger]` function
/// //                      must be `OrchestrationContext`; ...
/// ```
#[proc_macro_attribute]
pub fn orchestration_trigger(args: TokenStream, item: TokenStream) -> TokenStream {
    orchestration::expand(args.into(), item.into()).into()
}

/// Registers an `async fn` as a Durable Functions **client** function: an HTTP trigger that
/// the host serves under its route prefix (`/api` by default), typically to start or manage
/// orchestration instances through a `DurableClient`.
///
/// The function is an [axum] handler: it takes any extractors (`DurableClient`,
/// `Path<...>`, `Json<...>`, ...) and returns anything that implements `IntoResponse`. rustc
/// checks this through axum's `Handler` trait; errors point at the function's name.
///
/// # Arguments
///
/// - `http(route = "...", methods = [...])` (required): `route` is the route in axum syntax,
///   relative to the prefix (`"orchestrators/{name}"` is served at
///   `/api/orchestrators/{name}`); `methods` lists the HTTP methods it answers, any of
///   `GET`, `POST`, `PUT`, `DELETE`, `PATCH`, `HEAD`, `OPTIONS` (any case). Default methods:
///   `["GET", "POST"]`.
/// - `name = "..."`: the function's name in listings. Default: the function's identifier as
///   written (without `r#`). Same rules as for the other functions.
/// - `crate = path`: where `durable_runtime` is, when it is re-exported under another path.
///   Default: `::durable_runtime`.
///
/// The function must be `async`, without generics and without `self`.
///
/// # Examples
///
/// ```ignore
/// use durable_runtime::prelude::*;
///
/// #[client(http(route = "orchestrators/{name}", methods = ["POST"]))]
/// async fn http_start(
///     client: DurableClient,
///     Path(name): Path<String>,
///     body: Option<Json<Value>>,
/// ) -> Result<impl IntoResponse, DurableError> {
///     let id = client.start_new(&name, None, body.map(|b| b.0)).await?;
///     Ok(client.create_check_status_response(&id))
/// }
/// ```
///
/// A timer trigger runs the function once per tick of a cron schedule (`{second} {minute}
/// {hour} {day} {month} {day-of-week}`, UTC), on one host of the task hub; a tick missed
/// while no host ran runs once at start with `is_past_due` set. It takes the client and,
/// optionally, the tick's [`TimerInfo`](https://docs.rs/durable-runtime):
///
/// ```ignore
/// #[client(timer(schedule = "0 0 * * * *"))]
/// async fn hourly_cleanup(client: DurableClient, info: TimerInfo) -> Result<(), DurableError> {
///     client.start_new("Cleanup", None, info.scheduled_time).await?;
///     Ok(())
/// }
/// ```
///
/// A client without a trigger is rejected:
///
/// ```ignore
/// #[client(name = "Start")]
/// // error: missing trigger for `#[client]`; expected `http(route = "...")` or `timer(schedule = "...")`
/// async fn http_start(client: DurableClient) {}
/// ```
///
/// [axum]: https://docs.rs/axum
#[proc_macro_attribute]
pub fn client(args: TokenStream, item: TokenStream) -> TokenStream {
    client::expand(args.into(), item.into()).into()
}

/// Which attribute is being expanded.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Kind {
    Activity,
    Orchestration,
    Entity,
    Client,
}

impl Kind {
    /// The attribute's name, as users write it.
    fn attribute(self) -> &'static str {
        match self {
            Kind::Activity => "activity_trigger",
            Kind::Orchestration => "orchestration_trigger",
            Kind::Entity => "entity_trigger",
            Kind::Client => "client",
        }
    }

    /// The argument keys the attribute accepts.
    pub(crate) fn keys(self) -> &'static [&'static str] {
        match self {
            Kind::Activity | Kind::Orchestration | Kind::Entity => &["name", "crate"],
            Kind::Client => &["name", "crate", "http", "timer"],
        }
    }

    /// How the attribute's arguments are written, for "expected ..." messages.
    pub(crate) fn usage(self) -> &'static str {
        match self {
            Kind::Activity => "`#[activity_trigger(name = \"...\", crate = path)]`",
            Kind::Orchestration => "`#[orchestration_trigger(name = \"...\", crate = path)]`",
            Kind::Entity => "`#[entity_trigger(name = \"...\", crate = path)]`",
            Kind::Client => {
                "`#[client(http(route = \"...\", methods = [\"POST\"]), name = \"...\", crate = path)]`"
            }
        }
    }

    /// A function name in the style of the docs, for "expected ..." messages.
    pub(crate) fn example_ident(self) -> &'static str {
        match self {
            Kind::Activity => "say_hello",
            Kind::Orchestration => "hello_cities",
            Kind::Entity => "counter",
            Kind::Client => "http_start",
        }
    }
}

impl std::fmt::Display for Kind {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "`#[{}]`", self.attribute())
    }
}

/// Parses an attribute's arguments and the function it is applied to, reporting the errors
/// of both.
pub(crate) fn parse(
    kind: Kind,
    args: proc_macro2::TokenStream,
    item: proc_macro2::TokenStream,
) -> syn::Result<(Vec<syn::Meta>, syn::ItemFn)> {
    let mut errors = diag::Errors::default();
    let metas = errors.record(args::parse(kind, args));
    let function = errors.record(signature::parse(kind, item));
    errors.finish()?;
    match (metas, function) {
        (Some(metas), Some(function)) => Ok((metas, function)),
        _ => Err(syn::Error::new(
            proc_macro2::Span::call_site(),
            format!("{kind} could not parse its input"),
        )),
    }
}

#[cfg(test)]
mod tests {
    use proc_macro2::TokenStream;
    use quote::quote;

    /// The error messages an expansion reports; empty when it expands cleanly.
    pub(crate) fn messages(
        expand: fn(TokenStream, TokenStream) -> TokenStream,
        args: TokenStream,
        item: TokenStream,
    ) -> Vec<String> {
        let expanded = expand(args, item.clone());
        let expanded_text = expanded.to_string();
        let mut messages = Vec::new();
        let file: syn::File = syn::parse2(expanded).expect("expansion parses as items");
        for item in file.items {
            if let syn::Item::Macro(m) = item {
                let last = m.mac.path.segments.last().map(|s| s.ident.to_string());
                if last.as_deref() == Some("compile_error") {
                    let message: syn::LitStr = m.mac.parse_body().expect("a string literal");
                    messages.push(message.value());
                }
            }
        }
        if !messages.is_empty() {
            assert!(
                expanded_text.starts_with(&item.to_string()),
                "the function is kept on error: {expanded_text}"
            );
            assert!(
                !expanded_text.contains("__durable"),
                "nothing is generated on error: {expanded_text}"
            );
        }
        messages
    }

    pub(crate) fn assert_contains(haystack: &str, needle: &str) {
        assert!(
            haystack.contains(needle),
            "expected to find\n  {needle}\nin\n  {haystack}"
        );
    }

    #[test]
    fn every_attribute_rejects_non_functions() {
        for (expand, name) in [
            (
                crate::activity::expand as fn(TokenStream, TokenStream) -> TokenStream,
                "activity_trigger",
            ),
            (crate::orchestration::expand, "orchestration_trigger"),
            (crate::client::expand, "client"),
        ] {
            let messages = messages(
                expand,
                quote!(),
                quote!(
                    struct Foo {
                        a: u8,
                    }
                ),
            );
            assert_eq!(messages.len(), 1, "{messages:?}");
            assert!(
                messages[0]
                    .starts_with(&format!("`#[{name}]` can only be applied to an `async fn`")),
                "{messages:?}"
            );
        }
    }

    #[test]
    fn argument_and_item_syntax_errors_are_both_reported() {
        let messages = messages(
            crate::activity::expand,
            quote!(name = ),
            quote!(
                enum E {}
            ),
        );
        assert_eq!(messages.len(), 2, "{messages:?}");
    }
}
