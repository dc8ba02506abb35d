use durable_runtime::prelude::*;

#[derive(serde::Serialize, serde::Deserialize)]
pub struct Account {
    balance: i64,
}

#[entity_trigger]
impl Account {
    pub fn balance(&self) -> i64 {
        self.balance
    }
}

fn main() {}
