// An `impl` block as an entity: `pub` methods with `&self`/`&mut self` are operations,
// called from orchestrations through typed proxies; other items stay plain Rust.
#![deny(warnings, missing_docs)]
//! Typed entities.

use durable_runtime::__private::ENTITIES;
use durable_runtime::prelude::*;
use durable_runtime::{DurableFuture, EntityProxy, EntitySignals};
use serde::{Deserialize, Serialize};

/// An account.
#[derive(Default, Serialize, Deserialize)]
pub struct Account {
    balance: i64,
    history: Vec<i64>,
}

#[entity_trigger]
impl Account {
    /// Adds to the balance.
    pub fn deposit(&mut self, amount: i64) {
        self.record(amount);
    }

    /// Takes from the balance, unless it is too small.
    pub fn withdraw(&mut self, amount: i64) -> Result<(), String> {
        if amount > self.balance {
            return Err("insufficient funds".to_owned());
        }
        self.record(-amount);
        Ok(())
    }

    /// The balance.
    pub fn balance(&self) -> i64 {
        self.balance
    }

    /// A copy of the state, `Self` included.
    pub async fn snapshot(&self) -> Option<Self> {
        Some(Account {
            balance: self.balance,
            history: self.history.clone(),
        })
    }

    /// Two values in one input.
    pub(crate) fn adjust(&mut self, (add, take): (i64, i64)) -> std::io::Result<i64> {
        self.balance += add - take;
        Ok(self.balance)
    }

    /// Not an operation: no receiver.
    pub fn opened_with(balance: i64) -> Self {
        Account {
            balance,
            history: Vec::new(),
        }
    }

    fn record(&mut self, amount: i64) {
        self.balance += amount;
        self.history.push(amount);
    }
}

#[derive(Default, Serialize, Deserialize)]
struct Tally(u32);

#[entity_trigger(name = "Votes")]
impl Tally {
    pub fn r#add(&mut self) {
        self.0 += 1;
    }

    /// Replaces the implicit `delete`.
    pub fn delete(&mut self) -> u32 {
        std::mem::take(&mut self.0)
    }
}

fn pay(account: &EntityProxy<Account>) -> DurableFuture<()> {
    account.withdraw(5)
}

fn credit(signals: EntitySignals<Account>) {
    signals.deposit(5);
}

#[orchestration_trigger]
async fn transfer(ctx: OrchestrationContext) -> Result<i64, DurableError> {
    let alice = ctx.entity::<Account>("alice");
    let bob = ctx.entity::<Account>("bob");
    assert_eq!(alice.entity_id(), &EntityId::new("Account", "alice"));
    alice.deposit(50).await?;
    pay(&alice).await?;
    credit(bob.signal());
    bob.signal().delete();
    let _: Option<Account> = alice.snapshot().await?;
    let _: i64 = alice.adjust((1, 2)).await?;
    let votes = ctx.entity::<Tally>("poll");
    votes.signal().add();
    let _: u32 = votes.delete().await?;
    alice.balance().await
}

fn main() {
    let mut names: Vec<&str> = ENTITIES
        .iter()
        .filter(|e| e.location.file.ends_with("typed_entity.rs"))
        .map(|e| e.name)
        .collect();
    names.sort_unstable();
    assert_eq!(names, ["Account", "Votes"]);
    assert_eq!(Account::opened_with(3).balance(), 3);
    let _ = transfer;
}
