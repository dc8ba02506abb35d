//! Link-time registration of the functions a host can run.
//!
//! Each attribute macro adds one `static` descriptor to a [`linkme`] distributed slice. The
//! host reads the slices once at start-up through [`Registry::discover`], which refuses
//! duplicate or invalid names and says where each offending function is defined.

use std::collections::HashMap;
use std::fmt;
use std::future::Future;
use std::pin::Pin;

use linkme::distributed_slice;
use serde_json::Value;

use crate::activity::ActivityContext;
use crate::history::FailureDetails;
use crate::orchestration::OrchestrationContext;

/// A boxed, sendable future: what every erased invoker returns.
pub type BoxFuture<T> = Pin<Box<dyn Future<Output = T> + Send + 'static>>;

/// What an erased function invocation produces: a JSON result or the failure's details.
pub type InvocationResult = Result<Value, FailureDetails>;

/// Where a function was defined, for messages that point the user at their code.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct SourceLocation {
    /// The source file, as `file!()` gives it.
    pub file: &'static str,
    /// The line of the function's name.
    pub line: u32,
}

impl fmt::Display for SourceLocation {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}:{}", self.file, self.line)
    }
}

/// A registered activity function.
pub struct ActivityDescriptor {
    /// The name orchestrators call it by.
    pub name: &'static str,
    /// Where the function is defined.
    pub location: SourceLocation,
    /// Decodes the JSON input, runs the function and encodes its result.
    pub invoke: fn(ActivityContext, Value) -> BoxFuture<InvocationResult>,
}

/// A registered orchestrator function.
pub struct OrchestratorDescriptor {
    /// The name instances are started by.
    pub name: &'static str,
    /// Where the function is defined.
    pub location: SourceLocation,
    /// Starts the orchestrator; its input is read from the context.
    pub invoke: fn(OrchestrationContext) -> BoxFuture<InvocationResult>,
}

/// A registered entity function.
pub struct EntityDescriptor {
    /// Its name, as registered.
    pub name: &'static str,
    /// Where it is defined.
    pub location: SourceLocation,
    /// Runs one operation; the state change and return value are left in the operation's
    /// effects when its context is dropped.
    pub invoke: fn(crate::entity::EntityOperation) -> BoxFuture<InvocationResult>,
}

/// Who may call an HTTP-triggered client function, as Azure Functions' `authLevel`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum AuthLevel {
    /// Anyone.
    Anonymous,
    /// Callers with the function key (or the system key).
    Function,
    /// Callers with the system key.
    Admin,
}

impl fmt::Display for AuthLevel {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            AuthLevel::Anonymous => "anonymous",
            AuthLevel::Function => "function",
            AuthLevel::Admin => "admin",
        })
    }
}

/// How a client function is triggered.
pub enum ClientTrigger {
    /// An HTTP route under the host's route prefix (`/api` by default).
    Http {
        /// The route, in axum syntax (`orchestrators/{name}`), without the prefix.
        route: &'static str,
        /// Upper-case HTTP methods the route answers.
        methods: &'static [&'static str],
        /// Who may call it.
        auth: AuthLevel,
        /// Adds the route to the router the host serves.
        mount: fn(axum::Router) -> axum::Router,
    },
    /// A cron schedule (see [`crate::schedule::Schedule`]): fired once per tick across all
    /// hosts of a task hub.
    Timer {
        /// The schedule as written.
        schedule: &'static str,
        /// Runs the function for one tick.
        invoke:
            fn(crate::DurableClient, crate::schedule::TimerInfo) -> BoxFuture<Result<(), String>>,
    },
}

/// A registered client function.
pub struct ClientDescriptor {
    /// The function's name.
    pub name: &'static str,
    /// Where the function is defined.
    pub location: SourceLocation,
    /// What triggers it.
    pub trigger: ClientTrigger,
}

/// Every `#[activity_trigger]` linked into the binary.
#[distributed_slice]
pub static ACTIVITIES: [ActivityDescriptor];

/// Every `#[orchestration_trigger]` linked into the binary.
#[distributed_slice]
pub static ORCHESTRATORS: [OrchestratorDescriptor];

/// Every `#[entity_trigger]` linked into the binary.
#[distributed_slice]
pub static ENTITIES: [EntityDescriptor];

/// Every `#[client]` linked into the binary.
#[distributed_slice]
pub static CLIENTS: [ClientDescriptor];

/// The kind of a registered function, for listings and messages.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum FunctionKind {
    /// `#[activity_trigger]`
    Activity,
    /// `#[orchestration_trigger]`
    Orchestrator,
    /// `#[entity_trigger]`
    Entity,
    /// `#[client]`
    Client,
}

impl fmt::Display for FunctionKind {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            FunctionKind::Activity => "activity",
            FunctionKind::Orchestrator => "orchestrator",
            FunctionKind::Entity => "entity",
            FunctionKind::Client => "client",
        })
    }
}

/// One line of the function listing.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FunctionInfo {
    /// The registered name.
    pub name: &'static str,
    /// Which kind of function it is.
    pub kind: FunctionKind,
    /// Where it is defined.
    pub location: SourceLocation,
    /// The trigger, for client functions (`POST /api/orchestrators/{name}`).
    pub trigger: Option<String>,
}

/// Why the registered functions cannot be served.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum RegistryError {
    /// Two functions share a name (names are compared ignoring case, as in Azure Functions).
    #[error(
        "function name `{name}` is registered twice: {first_kind} at {first} and {second_kind} at {second}"
    )]
    Duplicate {
        /// The name as the second function spells it.
        name: String,
        /// Kind of the first definition.
        first_kind: FunctionKind,
        /// Location of the first definition.
        first: SourceLocation,
        /// Kind of the second definition.
        second_kind: FunctionKind,
        /// Location of the second definition.
        second: SourceLocation,
    },
    /// A timer trigger's schedule does not parse.
    #[error("timer schedule `{schedule}` of `{name}` at {location} is invalid: {reason}")]
    InvalidSchedule {
        /// The function's name.
        name: String,
        /// The schedule as written.
        schedule: String,
        /// Where the function is defined.
        location: SourceLocation,
        /// What is wrong with it.
        reason: String,
    },
    /// A name breaks the naming rules.
    #[error("function name `{name}` at {location} is invalid: {reason}")]
    InvalidName {
        /// The offending name.
        name: String,
        /// Where it is defined.
        location: SourceLocation,
        /// Which rule it breaks.
        reason: &'static str,
    },
}

/// Checks a function name against the Azure Functions rules: an ASCII letter first, then
/// letters, digits, `_` or `-`, at most 128 characters.
pub fn validate_function_name(name: &str) -> Result<(), &'static str> {
    let mut chars = name.chars();
    match chars.next() {
        None => return Err("it is empty"),
        Some(c) if !c.is_ascii_alphabetic() => return Err("it must start with an ASCII letter"),
        Some(_) => {}
    }
    if name.len() > 128 {
        return Err("it is longer than 128 characters");
    }
    if !chars.all(|c| c.is_ascii_alphanumeric() || c == '_' || c == '-') {
        return Err("only ASCII letters, digits, `_` and `-` are allowed");
    }
    Ok(())
}

/// A stand-in for an activity in a test: runs instead of the registered function (or of
/// one registered elsewhere) under the same name.
pub type ActivityDouble =
    std::sync::Arc<dyn Fn(ActivityContext, Value) -> BoxFuture<InvocationResult> + Send + Sync>;

/// The functions one host serves, looked up by name.
pub struct Registry {
    activities: HashMap<&'static str, &'static ActivityDescriptor>,
    /// Test doubles, by activity name: they win over `activities`.
    doubles: HashMap<String, ActivityDouble>,
    orchestrators: HashMap<&'static str, &'static OrchestratorDescriptor>,
    /// By lower-case name: entity names ignore case.
    entities: HashMap<String, &'static EntityDescriptor>,
    clients: Vec<&'static ClientDescriptor>,
}

impl Registry {
    /// Reads the link-time slices and checks every name.
    pub fn discover() -> Result<Registry, Vec<RegistryError>> {
        Registry::from_parts(&ACTIVITIES, &ORCHESTRATORS, &ENTITIES, &CLIENTS)
    }

    /// Builds a registry from explicit descriptor lists (tests, embedding).
    pub fn from_parts(
        activities: &'static [ActivityDescriptor],
        orchestrators: &'static [OrchestratorDescriptor],
        entities: &'static [EntityDescriptor],
        clients: &'static [ClientDescriptor],
    ) -> Result<Registry, Vec<RegistryError>> {
        let mut errors = Vec::new();
        let mut seen: HashMap<String, (FunctionKind, SourceLocation)> = HashMap::new();
        let mut check = |name: &'static str, kind: FunctionKind, location: SourceLocation| {
            if let Err(reason) = validate_function_name(name) {
                errors.push(RegistryError::InvalidName {
                    name: name.to_owned(),
                    location,
                    reason,
                });
            }
            match seen.get(&name.to_ascii_lowercase()) {
                Some(&(first_kind, first)) => errors.push(RegistryError::Duplicate {
                    name: name.to_owned(),
                    first_kind,
                    first,
                    second_kind: kind,
                    second: location,
                }),
                None => {
                    seen.insert(name.to_ascii_lowercase(), (kind, location));
                }
            }
        };
        for a in activities {
            check(a.name, FunctionKind::Activity, a.location);
        }
        for o in orchestrators {
            check(o.name, FunctionKind::Orchestrator, o.location);
        }
        for e in entities {
            check(e.name, FunctionKind::Entity, e.location);
        }
        for c in clients {
            check(c.name, FunctionKind::Client, c.location);
        }
        for c in clients {
            if let ClientTrigger::Timer { schedule, .. } = &c.trigger
                && let Err(reason) = crate::schedule::Schedule::parse(schedule)
            {
                errors.push(RegistryError::InvalidSchedule {
                    name: c.name.to_owned(),
                    schedule: (*schedule).to_owned(),
                    location: c.location,
                    reason,
                });
            }
        }
        if !errors.is_empty() {
            return Err(errors);
        }
        Ok(Registry {
            activities: activities.iter().map(|a| (a.name, a)).collect(),
            doubles: HashMap::new(),
            orchestrators: orchestrators.iter().map(|o| (o.name, o)).collect(),
            entities: entities
                .iter()
                .map(|e| (e.name.to_lowercase(), e))
                .collect(),
            clients: clients.iter().collect(),
        })
    }

    /// The activity registered under `name`.
    pub fn activity(&self, name: &str) -> Option<&'static ActivityDescriptor> {
        self.activities.get(name).copied()
    }

    /// Runs `double` whenever activity `name` is called (see [`crate::testing`]).
    pub(crate) fn with_activity_double(mut self, name: &str, double: ActivityDouble) -> Self {
        self.doubles.insert(name.to_owned(), double);
        self
    }

    /// The test double that stands in for activity `name`, if any.
    pub(crate) fn activity_double(&self, name: &str) -> Option<&ActivityDouble> {
        self.doubles.get(name)
    }

    /// The orchestrator registered under `name`.
    pub fn orchestrator(&self, name: &str) -> Option<&'static OrchestratorDescriptor> {
        self.orchestrators.get(name).copied()
    }

    /// The names of the registered orchestrators.
    pub fn orchestrator_names(&self) -> impl Iterator<Item = &'static str> + '_ {
        self.orchestrators.keys().copied()
    }

    /// The names of the registered activities and of their test doubles.
    pub fn activity_names(&self) -> impl Iterator<Item = &str> + '_ {
        self.activities
            .keys()
            .copied()
            .chain(self.doubles.keys().map(String::as_str))
    }

    /// The names of the registered entities, lower case (as entity rows are named).
    pub fn entity_names(&self) -> impl Iterator<Item = &str> + '_ {
        self.entities.keys().map(String::as_str)
    }

    /// The entity registered under `name`, whatever its case.
    pub fn entity(&self, name: &str) -> Option<&'static EntityDescriptor> {
        self.entities.get(&name.to_lowercase()).copied()
    }

    /// Every client function, in link order.
    pub fn clients(&self) -> &[&'static ClientDescriptor] {
        &self.clients
    }

    /// Every function, sorted by kind and name, for the `functions` listing.
    pub fn functions(&self) -> Vec<FunctionInfo> {
        let mut out: Vec<FunctionInfo> = self
            .orchestrators
            .values()
            .map(|o| FunctionInfo {
                name: o.name,
                kind: FunctionKind::Orchestrator,
                location: o.location,
                trigger: None,
            })
            .chain(self.activities.values().map(|a| FunctionInfo {
                name: a.name,
                kind: FunctionKind::Activity,
                location: a.location,
                trigger: None,
            }))
            .chain(self.entities.values().map(|e| FunctionInfo {
                name: e.name,
                kind: FunctionKind::Entity,
                location: e.location,
                trigger: None,
            }))
            .chain(self.clients.iter().map(|c| FunctionInfo {
                name: c.name,
                kind: FunctionKind::Client,
                location: c.location,
                trigger: Some(match &c.trigger {
                    ClientTrigger::Http {
                        route,
                        methods,
                        auth,
                        ..
                    } => format!("{} /api/{route} ({auth})", methods.join(",")),
                    ClientTrigger::Timer { schedule, .. } => format!("timer {schedule}"),
                }),
            }))
            .collect();
        out.sort_by(|a, b| (a.kind as u8, a.name).cmp(&(b.kind as u8, b.name)));
        out
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn location(line: u32) -> SourceLocation {
        SourceLocation {
            file: "src/functions.rs",
            line,
        }
    }

    fn activity(_: ActivityContext, _: Value) -> BoxFuture<InvocationResult> {
        Box::pin(async { Ok(Value::Null) })
    }

    fn entity(_: crate::entity::EntityOperation) -> BoxFuture<InvocationResult> {
        Box::pin(async { Ok(Value::Null) })
    }

    static ACTIVITIES: [ActivityDescriptor; 1] = [ActivityDescriptor {
        name: "Counter",
        location: SourceLocation {
            file: "src/functions.rs",
            line: 1,
        },
        invoke: activity,
    }];

    static ENTITIES: [EntityDescriptor; 2] = [
        EntityDescriptor {
            name: "counter",
            location: SourceLocation {
                file: "src/functions.rs",
                line: 2,
            },
            invoke: entity,
        },
        EntityDescriptor {
            name: "Account",
            location: SourceLocation {
                file: "src/functions.rs",
                line: 3,
            },
            invoke: entity,
        },
    ];

    #[test]
    fn entity_names_clash_with_other_kinds_and_are_found_in_any_case() {
        let errors = match Registry::from_parts(&ACTIVITIES, &[], &ENTITIES, &[]) {
            Ok(_) => panic!("a duplicate name is refused"),
            Err(errors) => errors,
        };
        assert_eq!(
            errors,
            [RegistryError::Duplicate {
                name: "counter".to_owned(),
                first_kind: FunctionKind::Activity,
                first: location(1),
                second_kind: FunctionKind::Entity,
                second: location(2),
            }]
        );
        let registry = match Registry::from_parts(&[], &[], &ENTITIES, &[]) {
            Ok(registry) => registry,
            Err(errors) => panic!("{errors:?}"),
        };
        assert_eq!(registry.entity("ACCOUNT").map(|e| e.name), Some("Account"));
        assert_eq!(registry.entity("Counter").map(|e| e.name), Some("counter"));
        assert!(registry.entity("missing").is_none());
        assert!(
            registry
                .functions()
                .iter()
                .any(|f| f.name == "Account" && f.kind == FunctionKind::Entity)
        );
    }
}
