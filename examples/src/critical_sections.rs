//! Critical sections: orchestrations that hold entity locks while they read and change
//! several entities, so nobody else's operations interleave.

use durable_runtime::prelude::*;
use serde::{Deserialize, Serialize};

use crate::account::Account;

/// The docs' Synchronize sample: inside a critical section on one counter, read its value
/// and write back the value plus one. The read and the write are two operations; without
/// the lock, two instances could read the same value and one increment would be lost.
/// The input is the counter's key.
#[orchestration_trigger(name = "Synchronize")]
pub async fn synchronize(ctx: OrchestrationContext) -> Result<i64, DurableError> {
    let key: String = ctx.get_input()?;
    let counter = EntityId::new("Counter", key);
    let _section = ctx.lock([&counter]).await?;
    let value: i64 = ctx.call_entity(&counter, "get", ()).await?;
    ctx.call_entity::<()>(&counter, "reset", ()).await?;
    ctx.call_entity::<()>(&counter, "add", value + 1).await?;
    Ok(value + 1)
}

/// A transfer between two accounts.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct TransferRequest {
    /// The account the money leaves.
    pub from: String,
    /// The account it goes to.
    pub to: String,
    /// How much.
    pub amount: i64,
}

/// Moves money between two [`Account`] entities under a lock on both: the balance check,
/// the withdrawal and the deposit happen with no other operation in between, so the total
/// never changes and no balance goes below zero. Returns whether the money moved (false
/// when the balance was too low). Calls go through the typed proxies of `Account`.
#[orchestration_trigger(name = "Transfer")]
pub async fn transfer(ctx: OrchestrationContext) -> Result<bool, DurableError> {
    let request: TransferRequest = ctx.get_input()?;
    if request.amount <= 0 {
        return Err(DurableError::custom("a transfer moves a positive amount"));
    }
    let from = ctx.entity::<Account>(request.from);
    let to = ctx.entity::<Account>(request.to);
    let _section = ctx.lock([from.entity_id(), to.entity_id()]).await?;
    if from.balance().await? < request.amount {
        return Ok(false);
    }
    from.withdraw(request.amount).await?;
    to.deposit(request.amount).await?;
    Ok(true)
}
