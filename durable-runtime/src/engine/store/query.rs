//! Listing and purging: filters, pages and the continuation token.

use chrono::{DateTime, Utc};

use super::InstanceRecord;
use crate::instance_id::is_entity_id;
use crate::status::RuntimeStatus;
use crate::version::sort_key;

/// Where a listing continues: the last instance of the previous page, in the listing's
/// order (creation time, then id).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PageCursor {
    /// Creation time of the last instance seen.
    pub created_at: DateTime<Utc>,
    /// Id of the last instance seen.
    pub instance_id: String,
}

impl PageCursor {
    /// The opaque continuation token clients pass back.
    pub fn to_token(&self) -> String {
        let text = format!(
            "{}:{}",
            self.created_at.timestamp_millis(),
            self.instance_id
        );
        text.bytes().map(|b| format!("{b:02x}")).collect()
    }

    /// Reads a continuation token; `None` when it was not made by [`PageCursor::to_token`].
    pub fn from_token(token: &str) -> Option<PageCursor> {
        if !token.len().is_multiple_of(2) {
            return None;
        }
        let bytes: Option<Vec<u8>> = (0..token.len())
            .step_by(2)
            .map(|i| u8::from_str_radix(token.get(i..i + 2)?, 16).ok())
            .collect();
        let text = String::from_utf8(bytes?).ok()?;
        let (millis, instance_id) = text.split_once(':')?;
        Some(PageCursor {
            created_at: DateTime::from_timestamp_millis(millis.parse().ok()?)?,
            instance_id: instance_id.to_owned(),
        })
    }
}

/// Which instances to list.
#[derive(Debug, Clone, Default)]
pub struct InstanceQuery {
    /// Only ids starting with this.
    pub instance_id_prefix: Option<String>,
    /// Only instances of this orchestrator (exactly this name).
    pub name: Option<String>,
    /// Only instances of this orchestration version (as versions compare: `1.0` is
    /// `01.0`, text ignores case).
    pub version: Option<String>,
    /// Only instances created at or after this.
    pub created_from: Option<DateTime<Utc>>,
    /// Only instances created at or before this.
    pub created_to: Option<DateTime<Utc>>,
    /// Only instances last changed at or after this (an entity's last operation).
    pub updated_from: Option<DateTime<Utc>>,
    /// Only instances last changed at or before this.
    pub updated_to: Option<DateTime<Utc>>,
    /// Only these statuses (all when empty).
    pub statuses: Vec<RuntimeStatus>,
    /// Most instances in one page.
    pub page_size: usize,
    /// Continue after this instance.
    pub after: Option<PageCursor>,
    /// List entities (`@name@key` rows) instead of orchestration instances.
    pub entities: bool,
}

impl InstanceQuery {
    /// Whether an instance passes the filters (not the paging): orchestration instances,
    /// or with `entities` only entities.
    pub fn matches(&self, record: &InstanceRecord) -> bool {
        is_entity_id(&record.instance_id) == self.entities
            && self
                .instance_id_prefix
                .as_deref()
                .is_none_or(|prefix| record.instance_id.starts_with(prefix))
            && self.name.as_deref().is_none_or(|name| record.name == name)
            && self.version.as_deref().is_none_or(|version| {
                sort_key(Some(version)) == sort_key(record.version.as_deref())
            })
            && self
                .created_from
                .is_none_or(|from| record.created_at >= from)
            && self.created_to.is_none_or(|to| record.created_at <= to)
            && self
                .updated_from
                .is_none_or(|from| record.updated_at >= from)
            && self.updated_to.is_none_or(|to| record.updated_at <= to)
            && (self.statuses.is_empty() || self.statuses.contains(&record.status))
    }

    /// The page size a store uses: at least one.
    pub(crate) fn page_limit(&self) -> usize {
        self.page_size.max(1)
    }
}

/// One page of a listing.
#[derive(Debug, Clone)]
pub struct InstancePage {
    /// The instances, ordered by creation time, then id.
    pub instances: Vec<InstanceRecord>,
    /// Where the next page starts, when there may be more.
    pub next: Option<PageCursor>,
}

impl InstancePage {
    /// The page of `query` out of the matching instances in listing order, read up to one
    /// more than the page holds (which says there is a next page).
    pub(crate) fn cut(mut instances: Vec<InstanceRecord>, query: &InstanceQuery) -> InstancePage {
        let page_size = query.page_limit();
        let more = instances.len() > page_size;
        instances.truncate(page_size);
        let next = more
            .then(|| instances.last())
            .flatten()
            .map(|last| PageCursor {
                created_at: last.created_at,
                instance_id: last.instance_id.clone(),
            });
        InstancePage { instances, next }
    }
}

/// A queued message or activity call, as the invariant check reads it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct QueuedWork {
    /// The instance it is for.
    pub instance_id: String,
    /// When a message becomes visible; `None` for an activity call.
    pub visible_at: Option<DateTime<Utc>>,
}

/// Which finished instances to purge.
#[derive(Debug, Clone)]
pub struct PurgeFilter {
    /// Created at or after this.
    pub created_from: DateTime<Utc>,
    /// Created at or before this.
    pub created_to: Option<DateTime<Utc>>,
    /// Only these statuses (all finished ones when empty); running ones are never purged.
    pub statuses: Vec<RuntimeStatus>,
}

impl PurgeFilter {
    /// Whether a finished instance passes the filter.
    pub fn matches(&self, record: &InstanceRecord) -> bool {
        record.status.is_terminal()
            && record.created_at >= self.created_from
            && self.created_to.is_none_or(|to| record.created_at <= to)
            && (self.statuses.is_empty() || self.statuses.contains(&record.status))
    }
}

/// What a store holds and what waits in its queues, for monitoring (the host's
/// `/metrics`): cheap counts, read at scrape time.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Backlog {
    /// Orchestration instances (not entities) by status; statuses with none are left out.
    pub instances: Vec<(RuntimeStatus, u64)>,
    /// Entities that have a row.
    pub entities: u64,
    /// Messages visible now (due timers included) that no turn has consumed yet.
    pub ready_messages: u64,
    /// Since when the oldest of them has been visible.
    pub oldest_ready_message: Option<DateTime<Utc>>,
    /// Activity calls that no worker holds.
    pub ready_activities: u64,
}

impl Backlog {
    /// How many orchestration instances have `status`.
    pub fn instances_with(&self, status: RuntimeStatus) -> u64 {
        self.instances
            .iter()
            .find(|(s, _)| *s == status)
            .map_or(0, |(_, n)| *n)
    }

    /// Counts `status` once more `count` times (for stores that count in code).
    pub(crate) fn add_instances(&mut self, status: RuntimeStatus, count: u64) {
        match self.instances.iter_mut().find(|(s, _)| *s == status) {
            Some((_, n)) => *n += count,
            None => self.instances.push((status, count)),
        }
    }
}
