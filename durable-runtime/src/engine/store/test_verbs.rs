//! The store's verbs in the short forms tests use: one item at a time, one kind of
//! write each, so a test reads as the promise it checks.

use std::time::Duration;

use async_trait::async_trait;

use super::{
    ActivityCompletion, ActivityFetch, ActivityWorkItem, FetchOptions, NewInstance,
    OrchestrationWorkItem, Store, StoreError, TurnClaim, TurnCommit, TurnWrite,
};
use crate::history::HistoryEvent;

/// Short forms of the store's verbs for one item or one kind of write, so each test reads
/// as the promise it checks.
#[async_trait]
pub(crate) trait Verbs {
    /// Leases one instance with its history.
    async fn fetch_one(
        &self,
        owner: &str,
        lease: Duration,
    ) -> Result<Option<OrchestrationWorkItem>, StoreError>;

    /// Leases one instance; the store may leave its history out.
    async fn fetch_one_lean(
        &self,
        owner: &str,
        lease: Duration,
    ) -> Result<Option<OrchestrationWorkItem>, StoreError>;

    /// Leases one activity call.
    async fn fetch_activity(
        &self,
        owner: &str,
        lease: Duration,
    ) -> Result<Option<ActivityWorkItem>, StoreError>;

    /// Commits a turn of a leased instance; its activities wait for a fetch.
    async fn commit_leased(&self, owner: &str, turn: TurnCommit) -> Result<(), StoreError>;

    /// Commits a turn of a leased instance and leases its activities to `owner`.
    async fn commit_leasing(
        &self,
        owner: &str,
        turn: TurnCommit,
        lease: Duration,
    ) -> Result<Vec<ActivityWorkItem>, StoreError>;

    /// Creates an instance with its first turn, leasing the turn's activities to `owner`.
    async fn commit_creating(
        &self,
        owner: &str,
        new: NewInstance,
        turn: TurnCommit,
        lease: Duration,
    ) -> Result<Vec<ActivityWorkItem>, StoreError>;

    /// Completes a call with its instance's next turn; `None` when the store declines.
    async fn commit_completing(
        &self,
        owner: &str,
        item: &ActivityWorkItem,
        turn: TurnCommit,
        lease: Duration,
    ) -> Result<Option<Vec<ActivityWorkItem>>, StoreError>;

    /// Completes a call and queues its result.
    async fn complete(
        &self,
        owner: &str,
        item: &ActivityWorkItem,
        result: HistoryEvent,
    ) -> Result<(), StoreError>;

    /// Completes a call, queues its result and leases its free instance to `owner`.
    async fn complete_leasing(
        &self,
        owner: &str,
        item: &ActivityWorkItem,
        result: HistoryEvent,
        lease: Duration,
    ) -> Result<Option<OrchestrationWorkItem>, StoreError>;
}

#[async_trait]
impl<S: Store + ?Sized> Verbs for S {
    async fn fetch_one(
        &self,
        owner: &str,
        lease: Duration,
    ) -> Result<Option<OrchestrationWorkItem>, StoreError> {
        let options = FetchOptions {
            lease,
            max: 1,
            with_history: true,
            versions: None,
            names: None,
            entity_names: None,
        };
        Ok(self.fetch_orchestrations(owner, options).await?.pop())
    }

    async fn fetch_one_lean(
        &self,
        owner: &str,
        lease: Duration,
    ) -> Result<Option<OrchestrationWorkItem>, StoreError> {
        let options = FetchOptions {
            lease,
            max: 1,
            with_history: false,
            versions: None,
            names: None,
            entity_names: None,
        };
        Ok(self.fetch_orchestrations(owner, options).await?.pop())
    }

    async fn fetch_activity(
        &self,
        owner: &str,
        lease: Duration,
    ) -> Result<Option<ActivityWorkItem>, StoreError> {
        Ok(self
            .fetch_activities(
                owner,
                ActivityFetch {
                    lease,
                    max: 1,
                    names: None,
                },
            )
            .await?
            .pop())
    }

    async fn commit_leased(&self, owner: &str, turn: TurnCommit) -> Result<(), StoreError> {
        let write = TurnWrite {
            turn,
            claim: TurnClaim::Leased,
            lease_activities: None,
        };
        let leased = self.commit(owner, write).await?;
        assert!(leased.is_empty(), "nothing is leased unless asked");
        Ok(())
    }

    async fn commit_leasing(
        &self,
        owner: &str,
        turn: TurnCommit,
        lease: Duration,
    ) -> Result<Vec<ActivityWorkItem>, StoreError> {
        let write = TurnWrite {
            turn,
            claim: TurnClaim::Leased,
            lease_activities: Some(lease),
        };
        self.commit(owner, write).await
    }

    async fn commit_creating(
        &self,
        owner: &str,
        new: NewInstance,
        turn: TurnCommit,
        lease: Duration,
    ) -> Result<Vec<ActivityWorkItem>, StoreError> {
        let write = TurnWrite {
            turn,
            claim: TurnClaim::Creates(new),
            lease_activities: Some(lease),
        };
        self.commit(owner, write).await
    }

    async fn commit_completing(
        &self,
        owner: &str,
        item: &ActivityWorkItem,
        turn: TurnCommit,
        lease: Duration,
    ) -> Result<Option<Vec<ActivityWorkItem>>, StoreError> {
        let write = TurnWrite {
            turn,
            claim: TurnClaim::CompletesActivity(item.clone()),
            lease_activities: Some(lease),
        };
        match self.commit(owner, write).await {
            Ok(leased) => Ok(Some(leased)),
            Err(StoreError::LeaseLost(_)) => Ok(None),
            Err(error) => Err(error),
        }
    }

    async fn complete(
        &self,
        owner: &str,
        item: &ActivityWorkItem,
        result: HistoryEvent,
    ) -> Result<(), StoreError> {
        let completion = ActivityCompletion {
            item: item.clone(),
            result,
            lease_instance: None,
            versions: None,
            names: None,
        };
        let taken = self.complete_activity(owner, completion).await?;
        assert!(taken.is_none(), "no instance is leased unless asked");
        Ok(())
    }

    async fn complete_leasing(
        &self,
        owner: &str,
        item: &ActivityWorkItem,
        result: HistoryEvent,
        lease: Duration,
    ) -> Result<Option<OrchestrationWorkItem>, StoreError> {
        let completion = ActivityCompletion {
            item: item.clone(),
            result,
            lease_instance: Some(lease),
            versions: None,
            names: None,
        };
        self.complete_activity(owner, completion).await
    }
}
