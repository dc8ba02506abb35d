use durable_runtime::prelude::*;

#[derive(Default, serde::Serialize, serde::Deserialize)]
pub struct Account {
    balance: i64,
}

#[entity_trigger]
impl Account {
    pub fn transfer(&mut self, _to: String, _amount: i64) {}

    pub fn close(self) -> i64 {
        self.balance
    }

    pub fn peek(&self) -> &i64 {
        &self.balance
    }

    pub fn signal(&self) {}

    pub fn Balance(&self) -> i64 {
        self.balance
    }

    pub fn balance(&self) -> i64 {
        self.balance
    }
}

fn main() {}
