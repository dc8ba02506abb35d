//! A bank account as a typed entity: the `impl` block's `pub` methods are its operations,
//! and orchestrations call them through a typed proxy
//! (`ctx.entity::<Account>("alice").deposit(50).await?`).

use durable_runtime::prelude::*;
use serde::{Deserialize, Serialize};

/// The state of one account (one entity per key): its balance, which never goes below zero.
#[derive(Debug, Default, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Account {
    /// The money in the account.
    pub balance: i64,
}

/// Operations: `deposit`, `withdraw`, `balance`, and the implicit `delete`.
#[entity_trigger(name = "Account")]
impl Account {
    /// Adds `amount` to the balance.
    pub fn deposit(&mut self, amount: i64) {
        self.balance += amount;
    }

    /// Takes `amount` from the balance; refused, with the balance unchanged, when the
    /// balance is smaller.
    pub fn withdraw(&mut self, amount: i64) -> Result<(), String> {
        if amount > self.balance {
            return Err(format!(
                "insufficient funds: cannot withdraw {amount} from a balance of {}",
                self.balance
            ));
        }
        self.balance -= amount;
        Ok(())
    }

    /// The current balance (0 for an account that has none yet; reading creates nothing).
    pub fn balance(&self) -> i64 {
        self.balance
    }
}

#[cfg(test)]
mod tests {
    use durable_runtime::engine::registry::ENTITIES;
    use durable_runtime::testing::run_operation;
    use serde_json::{Value, json};

    use super::*;

    fn account(balance: i64) -> Option<Account> {
        Some(Account { balance })
    }

    #[test]
    fn the_impl_block_registers_the_account_entity() {
        assert!(ENTITIES.iter().any(|e| e.name == "Account"));
        assert_eq!(<Account as TypedEntity>::NAME, "Account");
    }

    #[tokio::test]
    async fn deposit_withdraw_and_balance() {
        let (state, _) = run_operation::<Account>("alice", None, "deposit", 50)
            .await
            .expect("deposit succeeds");
        assert_eq!(state, account(50));
        let (state, result) = run_operation::<Account>("alice", state, "withdraw", 20)
            .await
            .expect("withdraw succeeds");
        assert_eq!((state.clone(), result), (account(30), Value::Null));
        let (state, result) = run_operation::<Account>("alice", state, "Balance", ())
            .await
            .expect("balance succeeds");
        assert_eq!((state, result), (account(30), json!(30)));
    }

    #[tokio::test]
    async fn an_overdraft_fails_with_the_reason() {
        let failure = run_operation::<Account>("alice", account(10), "withdraw", 11)
            .await
            .expect_err("refused");
        assert_eq!(
            failure.error_message,
            "insufficient funds: cannot withdraw 11 from a balance of 10"
        );
        // The method refuses before changing anything (the host would roll back anyway).
        let mut direct = Account { balance: 10 };
        assert!(direct.withdraw(11).is_err());
        assert_eq!(direct.balance(), 10);
    }

    #[tokio::test]
    async fn unknown_operations_list_the_known_ones() {
        let failure = run_operation::<Account>("alice", account(1), "transfer", 1)
            .await
            .expect_err("no such operation");
        assert_eq!(
            failure.error_message,
            "entity `@account@alice` has no operation `transfer`; expected one of: `deposit`, \
             `withdraw`, `balance`, `delete` (names ignore case)"
        );
    }

    #[tokio::test]
    async fn delete_is_implicit_and_reading_creates_nothing() {
        let (state, _) = run_operation::<Account>("alice", account(5), "delete", ())
            .await
            .expect("delete succeeds");
        assert_eq!(state, None);
        let (state, result) = run_operation::<Account>("bob", None, "balance", ())
            .await
            .expect("balance succeeds");
        assert_eq!((state, result), (None, json!(0)));
    }
}
