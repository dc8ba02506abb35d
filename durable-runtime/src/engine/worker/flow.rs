//! What follows what in this worker: the activities a write leased here run at once, and
//! an instance the store handed over with a finished call takes its next turn here. The
//! dispatchers start each chain; everything after it runs without a fetch.

use std::sync::Arc;

use super::Shared;
use super::turn::{FollowUp, Leased};
use super::{activities, orchestrations};
use crate::store::{ActivityWorkItem, OrchestrationWorkItem};

/// Runs a dispatcher's leased instance: its turn, then what the commit leased here.
pub(super) async fn run_instance(shared: Arc<Shared>, item: OrchestrationWorkItem) {
    let leased = orchestrations::run_turn(&shared, item).await;
    run_leased(&shared, leased);
}

/// Runs a dispatcher's leased activity call, then what its report handed over.
pub(super) async fn run_activity(shared: Arc<Shared>, item: ActivityWorkItem) {
    // A call fetched from the store runs in a trace of its own (its row keeps no context).
    let next = activities::execute(&shared, item, None).await;
    follow(&shared, next).await;
}

/// Runs the activities a write leased to this worker, each on its own task, within the
/// limit on concurrent activities. Calls already started (by a run-ahead) are not started
/// again: their running functions are waited for, keeping the permits they hold.
pub(super) fn run_leased(shared: &Arc<Shared>, leased: Leased) {
    let Leased {
        items,
        mut started,
        trace,
    } = leased;
    for item in items {
        let task_shared = shared.clone();
        let trace = trace.clone();
        let already = started
            .iter()
            .position(|s| s.task_id == item.task_id)
            .map(|index| started.swap_remove(index));
        shared.spawn_fast(Box::pin(async move {
            let shared = task_shared;
            let next = match already {
                Some(already) => {
                    let next = activities::finish(&shared, item, already.running).await;
                    drop(already.permit);
                    next
                }
                None => {
                    let Ok(permit) = shared.activity_permits.clone().acquire_owned().await else {
                        return;
                    };
                    if shared.is_stopping() {
                        let _ = shared.store.abandon_activity(&shared.owner, item.id).await;
                        return;
                    }
                    let next = activities::execute(&shared, item, trace.as_ref()).await;
                    drop(permit);
                    next
                }
            };
            follow(&shared, next).await;
        }));
    }
}

/// Runs what a write handed to this worker.
async fn follow(shared: &Arc<Shared>, next: FollowUp) {
    match next {
        FollowUp::Activities(leased) => run_leased(shared, leased),
        FollowUp::Turn(work) => {
            let Ok(permit) = shared.orchestration_permits.clone().acquire_owned().await else {
                return;
            };
            let leased = orchestrations::run_turn(shared, *work).await;
            drop(permit);
            run_leased(shared, leased);
        }
        FollowUp::Nothing => {}
    }
}
