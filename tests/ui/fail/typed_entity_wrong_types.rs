use durable_runtime::prelude::*;

pub struct Receipt(i64);

#[derive(Default, serde::Serialize, serde::Deserialize)]
pub struct Account {
    balance: i64,
}

#[entity_trigger]
impl Account {
    pub fn deposit(&mut self, amount: i64) -> Receipt {
        self.balance += amount;
        Receipt(self.balance)
    }

    pub fn balance(&self) -> i64 {
        self.balance
    }
}

#[orchestration_trigger]
async fn pay(ctx: OrchestrationContext) -> Result<(), DurableError> {
    let account = ctx.entity::<Account>("alice");
    let _: String = account.balance().await?;
    account.signal().deposit("fifty");
    Ok(())
}

fn main() {}
