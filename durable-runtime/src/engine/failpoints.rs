//! Failpoints: named places in the commit paths, the turn and activity runners, the
//! dispatchers and the lease renewer where a test makes the process fail on purpose, set
//! from the environment:
//! `DURABLE_FAILPOINTS=turn.commit.after=abort;activity.run.after=sleep(500)`.
//!
//! - `abort` ends the process at once (as a power cut or kill -9 would, mid-step);
//! - `error` makes the step fail with a store error (`turn.commit.after`: the commit is
//!   durable, but the worker is told it failed);
//! - `sleep(MS)` stalls the step for that long (a slow disk, a paused worker).
//!
//! A point fires once by default; `*N` after the action (`error*3`) fires it N times, `*`
//! every time, and `@N` (`abort@3`) from the Nth time the point is reached. They are
//! compiled in only with the `failpoints` feature (the test host has it, release builds of
//! a host do not); without it every check is a constant `None` and a set
//! `DURABLE_FAILPOINTS` is refused at start.

use std::collections::HashMap;
use std::sync::Mutex;
use std::time::Duration;

/// Every failpoint, by name, with where it is.
pub const POINTS: &[(&str, &str)] = &[
    (
        "turn.commit.before",
        "a turn is ready and the worker is about to write it",
    ),
    (
        "turn.commit.after",
        "the store wrote a turn; the worker has not acted on it",
    ),
    (
        "sqlite.commit.uncommitted",
        "SQLite: a batch of writes is in its transaction, before COMMIT",
    ),
    (
        "postgres.commit.uncommitted",
        "PostgreSQL: a turn is in its transaction, before COMMIT",
    ),
    (
        "activity.run.before",
        "an activity call is leased and about to run",
    ),
    (
        "activity.run.after",
        "a dispatched activity call ran; its result is not reported yet (a call run ahead \
         of its turn's commit reports through the turn.commit points)",
    ),
    ("dispatch.fetch", "a dispatcher is about to fetch work"),
    (
        "turn.run.before",
        "an instance is leased for a turn, which is about to begin",
    ),
    (
        "lease.renew",
        "the renewer is about to extend a running activity's lease",
    ),
];

/// What a failpoint does when it is reached.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Action {
    /// End the process at once.
    Abort,
    /// Fail the step with a store error.
    Error,
    /// Stall the step.
    Sleep(Duration),
}

/// A configured failpoint: what it does and how many more times.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
struct Armed {
    action: Action,
    /// How many more times the point is passed before it fires.
    skip: u32,
    /// `None`: every time.
    remaining: Option<u32>,
}

/// The failpoints set for this process, read once.
fn armed() -> &'static Mutex<HashMap<String, Armed>> {
    static ARMED: std::sync::OnceLock<Mutex<HashMap<String, Armed>>> = std::sync::OnceLock::new();
    ARMED.get_or_init(|| {
        let text = std::env::var("DURABLE_FAILPOINTS").unwrap_or_default();
        Mutex::new(parse(&text).unwrap_or_default())
    })
}

/// Reads a `DURABLE_FAILPOINTS` value; the error names the part that is wrong.
fn parse(text: &str) -> Result<HashMap<String, Armed>, String> {
    let mut points = HashMap::new();
    for part in text
        .split([';', ','])
        .map(str::trim)
        .filter(|p| !p.is_empty())
    {
        let (name, action) = part
            .split_once('=')
            .ok_or_else(|| format!("`{part}` is not NAME=ACTION"))?;
        let name = name.trim();
        let (action, skip) = match action.split_once('@') {
            Some((action, from)) => match from.trim().parse::<u32>() {
                Ok(from @ 1..) => (action, from - 1),
                _ => {
                    return Err(format!(
                        "`{part}`: `@` takes the reach to fire from, 1 or more"
                    ));
                }
            },
            None => (action, 0),
        };
        if !POINTS.iter().any(|(known, _)| *known == name) {
            let known: Vec<&str> = POINTS.iter().map(|(known, _)| *known).collect();
            return Err(format!(
                "`{name}` is not a failpoint; there are {}",
                known.join(", ")
            ));
        }
        let (action, count) = match action.trim().split_once('*') {
            Some((action, "")) => (action, None),
            Some((action, count)) => (
                action,
                Some(
                    count
                        .parse::<u32>()
                        .map_err(|_| format!("`{part}`: the count after `*` is not a number"))?,
                ),
            ),
            None => (action.trim(), Some(1)),
        };
        let action = match action.trim() {
            "abort" => Action::Abort,
            "error" => Action::Error,
            sleep => {
                let ms = sleep
                    .strip_prefix("sleep(")
                    .and_then(|rest| rest.strip_suffix(')'))
                    .and_then(|ms| ms.parse::<u64>().ok())
                    .ok_or_else(|| format!("`{part}`: the action is abort, error or sleep(MS)"))?;
                Action::Sleep(Duration::from_millis(ms))
            }
        };
        points.insert(
            name.to_owned(),
            Armed {
                action,
                skip,
                remaining: count,
            },
        );
    }
    Ok(points)
}

/// The skew `DURABLE_TEST_CLOCK_SKEW_SECONDS` puts on the host's clock, for tests of hosts
/// whose clocks disagree; like the failpoints, only in a build with the `failpoints`
/// feature.
pub fn clock_skew() -> Result<Option<chrono::Duration>, String> {
    let text = std::env::var("DURABLE_TEST_CLOCK_SKEW_SECONDS").unwrap_or_default();
    let text = text.trim();
    if text.is_empty() {
        return Ok(None);
    }
    if !cfg!(feature = "failpoints") {
        return Err(
            "DURABLE_TEST_CLOCK_SKEW_SECONDS is set, but this build has no failpoints \
             (durable-runtime's `failpoints` feature)"
                .to_owned(),
        );
    }
    text.parse::<i64>()
        .ok()
        .and_then(chrono::Duration::try_seconds)
        .map(Some)
        .ok_or_else(|| {
            format!("DURABLE_TEST_CLOCK_SKEW_SECONDS `{text}` is not a number of seconds")
        })
}

/// Checks `DURABLE_FAILPOINTS` (and `DURABLE_TEST_CLOCK_SKEW_SECONDS`) at a host's start:
/// fine when unset; refused when it does not read, or when this build has no failpoints.
pub fn check_environment() -> Result<(), String> {
    clock_skew()?;
    let text = std::env::var("DURABLE_FAILPOINTS").unwrap_or_default();
    if text.trim().is_empty() {
        return Ok(());
    }
    if !cfg!(feature = "failpoints") {
        return Err(
            "DURABLE_FAILPOINTS is set, but this build has no failpoints (durable-runtime's \
             `failpoints` feature)"
                .to_owned(),
        );
    }
    parse(&text).map(|_| ())
}

/// What the failpoint `name` does now, if it is set and has firings left.
pub(crate) fn reached(name: &'static str) -> Option<Action> {
    if !cfg!(feature = "failpoints") {
        return None;
    }
    let mut armed = armed()
        .lock()
        .unwrap_or_else(std::sync::PoisonError::into_inner);
    let point = armed.get_mut(name)?;
    if point.skip > 0 {
        point.skip -= 1;
        return None;
    }
    match &mut point.remaining {
        Some(0) => return None,
        Some(left) => *left -= 1,
        None => {}
    }
    let action = point.action;
    drop(armed);
    tracing::warn!(failpoint = name, ?action, "failpoint reached");
    Some(action)
}

/// The error a failpoint set to `error` makes its step fail with.
fn injected(name: &str) -> crate::engine::store::StoreError {
    crate::engine::store::StoreError::Unavailable(format!("failpoint `{name}` injected an error"))
}

/// Fires the failpoint `name` if it is due: aborts here, or says how long to stall, or
/// fails the step.
fn fire(name: &'static str) -> Result<Option<Duration>, crate::engine::store::StoreError> {
    match reached(name) {
        None => Ok(None),
        Some(Action::Abort) => std::process::abort(),
        Some(Action::Sleep(pause)) => Ok(Some(pause)),
        Some(Action::Error) => Err(injected(name)),
    }
}

/// A failpoint in blocking code (a store's writer thread): aborts, sleeps the thread, or
/// fails the step.
pub(crate) fn blocking(name: &'static str) -> Result<(), crate::engine::store::StoreError> {
    if let Some(pause) = fire(name)? {
        std::thread::sleep(pause);
    }
    Ok(())
}

/// A failpoint in async code: aborts, sleeps the task, or fails the step.
pub(crate) async fn point(name: &'static str) -> Result<(), crate::engine::store::StoreError> {
    if let Some(pause) = fire(name)? {
        tokio::time::sleep(pause).await;
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_setting_names_points_actions_and_counts() {
        let points =
            parse("turn.commit.after=abort; activity.run.after=sleep(250)*, lease.renew=error*3@2")
                .expect("reads");
        assert_eq!(
            points["turn.commit.after"],
            Armed {
                action: Action::Abort,
                skip: 0,
                remaining: Some(1)
            }
        );
        assert_eq!(
            points["activity.run.after"],
            Armed {
                action: Action::Sleep(Duration::from_millis(250)),
                skip: 0,
                remaining: None
            }
        );
        assert_eq!(
            points["lease.renew"],
            Armed {
                action: Action::Error,
                skip: 1,
                remaining: Some(3)
            }
        );
    }

    #[test]
    fn a_bad_setting_says_what_is_wrong() {
        let unknown = parse("turn.comit.after=abort").expect_err("refused");
        assert!(unknown.contains("turn.comit.after") && unknown.contains("turn.commit.after"));
        assert!(
            parse("turn.commit.after")
                .expect_err("refused")
                .contains("NAME=ACTION")
        );
        assert!(
            parse("turn.commit.after=explode")
                .expect_err("refused")
                .contains("sleep(MS)")
        );
        assert!(
            parse("turn.commit.after=error*x")
                .expect_err("refused")
                .contains("count")
        );
        assert!(
            parse("turn.commit.after=error@0")
                .expect_err("refused")
                .contains("`@`")
        );
    }
}
