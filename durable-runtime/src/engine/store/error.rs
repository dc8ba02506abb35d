//! Why a store operation failed, and whether trying again may help.

use crate::status::RuntimeStatus;

/// Why a store operation failed.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum StoreError {
    /// An instance with this id exists and has not finished.
    #[error("an instance with id `{0}` already exists and has not finished")]
    InstanceExists(String),
    /// The worker does not hold what its write needs: its lease on the instance or work item
    /// is gone (expired and taken over), or the instance is busy or has moved on.
    #[error("the lease on `{0}` was lost")]
    LeaseLost(String),
    /// The store cannot be reached or is busy; trying again later may work.
    #[error("the store is unavailable: {0}")]
    Unavailable(String),
    /// No instance has this id.
    #[error("no instance with id `{0}` exists")]
    NotFound(String),
    /// The instance has finished and takes no more events.
    #[error("instance `{0}` has finished")]
    Finished(String),
    /// The instance is in a status that does not allow the request.
    #[error("instance `{instance_id}` is {status}")]
    WrongStatus {
        /// The instance.
        instance_id: String,
        /// Its status.
        status: RuntimeStatus,
    },
    /// The stored data or the request is not what the store expects.
    #[error("store error: {0}")]
    Internal(String),
}

impl StoreError {
    /// Whether trying the same operation again later may succeed.
    pub fn is_retryable(&self) -> bool {
        matches!(self, StoreError::Unavailable(_))
    }
}
