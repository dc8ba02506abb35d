//! The runtime status of an instance, named as in Durable Functions. The payloads that
//! carry it are in [`crate::wire`].

use std::fmt;
use std::str::FromStr;

use serde::{Deserialize, Serialize};

/// The runtime status of an orchestration instance, named as in Durable Functions.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub enum RuntimeStatus {
    /// Created, not yet started by a worker.
    Pending,
    /// Started and not finished.
    Running,
    /// Finished with an output.
    Completed,
    /// Restarted itself with `continue_as_new`; the next execution is about to run.
    ContinuedAsNew,
    /// Finished with an unhandled error.
    Failed,
    /// Stopped by a terminate request.
    Terminated,
    /// Paused by a suspend request.
    Suspended,
}

impl RuntimeStatus {
    /// Every status, in the order of the enum.
    pub const ALL: [RuntimeStatus; 7] = [
        RuntimeStatus::Pending,
        RuntimeStatus::Running,
        RuntimeStatus::Completed,
        RuntimeStatus::ContinuedAsNew,
        RuntimeStatus::Failed,
        RuntimeStatus::Terminated,
        RuntimeStatus::Suspended,
    ];

    /// The name used on the wire and in the store.
    pub fn as_str(self) -> &'static str {
        match self {
            RuntimeStatus::Pending => "Pending",
            RuntimeStatus::Running => "Running",
            RuntimeStatus::Completed => "Completed",
            RuntimeStatus::ContinuedAsNew => "ContinuedAsNew",
            RuntimeStatus::Failed => "Failed",
            RuntimeStatus::Terminated => "Terminated",
            RuntimeStatus::Suspended => "Suspended",
        }
    }

    /// Completed, Failed or Terminated: nothing more will happen to this execution.
    pub fn is_terminal(self) -> bool {
        matches!(
            self,
            RuntimeStatus::Completed | RuntimeStatus::Failed | RuntimeStatus::Terminated
        )
    }
}

impl fmt::Display for RuntimeStatus {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

impl FromStr for RuntimeStatus {
    type Err = String;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        RuntimeStatus::ALL
            .into_iter()
            .find(|status| status.as_str().eq_ignore_ascii_case(s))
            .ok_or_else(|| {
                let names: Vec<&str> = RuntimeStatus::ALL.iter().map(|s| s.as_str()).collect();
                format!(
                    "unknown runtime status `{s}`; expected one of: {}",
                    names.join(", ")
                )
            })
    }
}
