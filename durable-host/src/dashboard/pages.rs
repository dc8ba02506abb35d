//! The dashboard's pages: one template (in `templates/dashboard/`) and the values it shows,
//! each already formatted for people. Askama escapes every value for HTML, so ids with
//! spaces, quotes or any Unicode show as they are.

use askama::Template;

use super::timeline::Row;

/// The sign-in form.
#[derive(Template)]
#[template(path = "dashboard/login.html")]
pub struct Login {
    /// Why the last attempt failed.
    pub error: Option<String>,
}

/// What the instances page was asked for, as the form shows it again.
#[derive(Debug, Default, Clone, serde::Deserialize)]
pub struct InstanceFilters {
    /// One runtime status.
    #[serde(default, deserialize_with = "empty_as_none")]
    pub status: Option<String>,
    /// One orchestrator name.
    #[serde(default, deserialize_with = "empty_as_none")]
    pub name: Option<String>,
    /// The start of the ids.
    #[serde(default, deserialize_with = "empty_as_none")]
    pub prefix: Option<String>,
    /// Created at or after (RFC 3339).
    #[serde(default, deserialize_with = "empty_as_none")]
    pub from: Option<String>,
    /// Created at or before (RFC 3339).
    #[serde(default, deserialize_with = "empty_as_none")]
    pub to: Option<String>,
    /// The page after this continuation token.
    #[serde(default, deserialize_with = "empty_as_none")]
    pub continuation: Option<String>,
    /// Reload every few seconds.
    #[serde(default, deserialize_with = "flag")]
    pub live: bool,
}

/// An empty form field is no filter.
fn empty_as_none<'de, D: serde::Deserializer<'de>>(d: D) -> Result<Option<String>, D::Error> {
    let value: Option<String> = serde::Deserialize::deserialize(d)?;
    Ok(value.map(|v| v.trim().to_owned()).filter(|v| !v.is_empty()))
}

/// A checkbox or select: set unless empty, `0` or `false`.
fn flag<'de, D: serde::Deserializer<'de>>(d: D) -> Result<bool, D::Error> {
    let value: Option<String> = serde::Deserialize::deserialize(d)?;
    Ok(value.is_some_and(|v| !matches!(v.trim(), "" | "0" | "false" | "off")))
}

/// One instance in the list.
pub struct InstanceRow {
    /// The orchestrator.
    pub name: String,
    /// The instance id.
    pub id: String,
    /// Its runtime status.
    pub status: &'static str,
    /// When it was created.
    pub created: String,
    /// When it last changed.
    pub updated: String,
}

/// The instances page.
#[derive(Template)]
#[template(path = "dashboard/instances.html")]
pub struct Instances {
    /// The filters asked for.
    pub filters: InstanceFilters,
    /// Every status, for the filter.
    pub statuses: Vec<&'static str>,
    /// Instances by status in the whole hub.
    pub counts: Vec<(&'static str, u64)>,
    /// This page of instances.
    pub rows: Vec<InstanceRow>,
    /// The link to the next page.
    pub next: Option<String>,
}

/// One instance.
#[derive(Template)]
#[template(path = "dashboard/instance.html")]
pub struct Instance {
    /// The orchestrator.
    pub name: String,
    /// The instance id.
    pub id: String,
    /// Its runtime status.
    pub status: &'static str,
    /// When it was created.
    pub created: String,
    /// When it last changed.
    pub updated: String,
    /// The orchestration version it started with.
    pub version: Option<String>,
    /// Its parent, for a sub-orchestration.
    pub parent: Option<String>,
    /// Its sub-orchestrations.
    pub children: Vec<String>,
    /// The input, pretty JSON.
    pub input: String,
    /// The output, pretty JSON.
    pub output: String,
    /// The custom status, pretty JSON.
    pub custom_status: String,
    /// The failure's type, message and details, when it failed.
    pub failure: Option<String>,
    /// The history as a timeline.
    pub rows: Vec<Row>,
    /// How long the timeline spans.
    pub span: String,
}

/// What the API answered to an action.
#[derive(Template)]
#[template(path = "dashboard/answer.html")]
pub struct Answer {
    /// The action, as people say it.
    pub action: &'static str,
    /// The instance acted on.
    pub id: String,
    /// The instance to go back to (a restart's new instance).
    pub target: String,
    /// The status line, e.g. `202 Accepted`.
    pub status: String,
    /// The answer's body, pretty JSON.
    pub body: String,
}

/// One entity in the list.
pub struct EntityRow {
    /// The entity function's name.
    pub name: String,
    /// The entity's key.
    pub key: String,
    /// When an operation last changed it.
    pub last_operation: String,
    /// The orchestration holding its lock.
    pub locked_by: Option<String>,
    /// Operations waiting for it.
    pub queued: u64,
    /// Its state, compact JSON.
    pub state: String,
}

/// The entities page.
#[derive(Template)]
#[template(path = "dashboard/entities.html")]
pub struct Entities {
    /// The name filter asked for.
    pub name: Option<String>,
    /// This page of entities.
    pub rows: Vec<EntityRow>,
    /// The link to the next page.
    pub next: Option<String>,
}

/// One entity: its row of the list, with the state shown in full.
#[derive(Template)]
#[template(path = "dashboard/entity.html")]
pub struct Entity {
    /// What the list shows of it; `state` is pretty JSON here.
    pub entity: EntityRow,
}

/// One registered function.
pub struct FunctionRow {
    /// Its name.
    pub name: &'static str,
    /// Orchestrator, activity, entity or client.
    pub kind: String,
    /// A client function's trigger.
    pub trigger: String,
    /// Where it is defined.
    pub location: String,
}

/// The functions page.
#[derive(Template)]
#[template(path = "dashboard/functions.html")]
pub struct Functions {
    /// The functions, by kind and name.
    pub rows: Vec<FunctionRow>,
}
