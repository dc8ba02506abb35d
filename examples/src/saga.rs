//! A saga: each step has a compensation, run in reverse when a later step fails.

use durable_runtime::prelude::*;
use serde::{Deserialize, Serialize};

/// Input of `OrderSaga`.
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct OrderRequest {
    /// The step that should fail, if any: `ChargeCustomer` or `CreateShipment`.
    #[serde(default)]
    pub fail_at: Option<String>,
}

/// What the saga did.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct OrderOutcome {
    /// Steps that completed, in order.
    pub ran: Vec<String>,
    /// Compensations that ran, in order.
    pub compensated: Vec<String>,
    /// The failure that stopped the saga.
    pub failed: Option<String>,
}

/// One saga step; fails when asked to.
async fn step(name: &str, fail_at: Option<String>) -> Result<String, String> {
    if fail_at.as_deref() == Some(name) {
        Err(format!("{name} failed"))
    } else {
        Ok(format!("{name} done"))
    }
}

/// Reserves stock.
#[activity_trigger(name = "CheckInventory")]
pub async fn check_inventory(fail_at: Option<String>) -> Result<String, String> {
    step("CheckInventory", fail_at).await
}

/// Takes the payment.
#[activity_trigger(name = "ChargeCustomer")]
pub async fn charge_customer(fail_at: Option<String>) -> Result<String, String> {
    step("ChargeCustomer", fail_at).await
}

/// Books the delivery.
#[activity_trigger(name = "CreateShipment")]
pub async fn create_shipment(fail_at: Option<String>) -> Result<String, String> {
    step("CreateShipment", fail_at).await
}

/// Undoes a step.
#[activity_trigger(name = "Compensate")]
pub async fn compensate(step: String) -> String {
    format!("undo {step}")
}

/// Runs the three steps; on a failure, compensates the completed ones in reverse order.
/// A compensation must not be lost to a passing fault, so each one retries (three
/// attempts, a second apart, on durable timers).
#[orchestration_trigger(name = "OrderSaga")]
pub async fn order_saga(
    ctx: OrchestrationContext,
    request: Option<OrderRequest>,
) -> Result<OrderOutcome, DurableError> {
    let fail_at = request.unwrap_or_default().fail_at;
    let mut outcome = OrderOutcome::default();
    let compensation_retry = RetryOptions::new(std::time::Duration::from_secs(1), 3);
    for name in ["CheckInventory", "ChargeCustomer", "CreateShipment"] {
        match ctx.call_activity::<String>(name, &fail_at).await {
            Ok(_) => outcome.ran.push(name.to_owned()),
            Err(error) => {
                outcome.failed = Some(
                    error
                        .task_failure()
                        .map(|f| f.error_message.clone())
                        .unwrap_or_else(|| error.to_string()),
                );
                for done in outcome.ran.clone().into_iter().rev() {
                    let _: String = ctx
                        .call_activity("Compensate", &done)
                        .with_retry(compensation_retry.clone())
                        .await?;
                    outcome.compensated.push(done);
                }
                break;
            }
        }
    }
    Ok(outcome)
}
