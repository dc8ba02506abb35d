use durable_runtime::prelude::*;

#[derive(Default, serde::Serialize, serde::Deserialize)]
pub struct Account {
    balance: i64,
}

#[entity_trigger]
impl Clone for Account {
    fn clone(&self) -> Self {
        Account {
            balance: self.balance,
        }
    }
}

#[derive(Default, serde::Serialize, serde::Deserialize)]
pub struct Ledger {
    entries: Vec<i64>,
}

// Private methods are helpers: this block has no operations.
#[entity_trigger]
impl Ledger {
    fn add(&mut self, amount: i64) {
        self.entries.push(amount);
    }
}

fn main() {}
