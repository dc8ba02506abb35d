//! The timer trigger source: runs each `#[client(timer(schedule = ".."))]` function once
//! per tick of its schedule. The store arbitrates, so with several hosts on one task hub a
//! tick fires on one of them only; a tick missed while no host ran fires once at start.

use std::sync::Arc;

use chrono::{DateTime, Utc};
use durable_runtime::DurableClient;
use durable_runtime::clock::Clock;
use durable_runtime::engine::registry::{BoxFuture, ClientTrigger, Registry};
use durable_runtime::engine::store::Store;
use durable_runtime::schedule::{Schedule, TimerInfo};
use tokio::sync::watch;
use tokio::task::JoinSet;

type Invoke = fn(DurableClient, TimerInfo) -> BoxFuture<Result<(), String>>;

/// Starts one task per timer-triggered function; they stop when `stopped` turns true.
pub fn start(
    registry: &Registry,
    client: DurableClient,
    store: Arc<dyn Store>,
    clock: Arc<dyn Clock>,
    stopped: watch::Receiver<bool>,
) -> JoinSet<()> {
    let mut tasks = JoinSet::new();
    for function in registry.clients() {
        let ClientTrigger::Timer { schedule, invoke } = &function.trigger else {
            continue;
        };
        // The registry refused to start with an invalid schedule already.
        let Ok(schedule) = Schedule::parse(schedule) else {
            continue;
        };
        tasks.spawn(run(
            function.name,
            schedule,
            *invoke,
            client.clone(),
            store.clone(),
            clock.clone(),
            stopped.clone(),
        ));
    }
    tasks
}

async fn fire(name: &str, invoke: Invoke, client: &DurableClient, info: TimerInfo) {
    tracing::info!(function = name, tick = %info.scheduled_time, past_due = info.is_past_due, "timer trigger fired");
    match tokio::spawn(invoke(client.clone(), info)).await {
        Ok(Ok(())) => {}
        Ok(Err(error)) => tracing::error!(function = name, %error, "timer trigger failed"),
        Err(panic) => tracing::error!(function = name, %panic, "timer trigger panicked"),
    }
}

async fn claim(store: &dyn Store, name: &str, tick: DateTime<Utc>) -> bool {
    match store.claim_timer_tick(name, tick).await {
        Ok(claimed) => claimed,
        Err(error) => {
            tracing::warn!(function = name, %error, "cannot claim a timer tick; skipping it");
            false
        }
    }
}

async fn run(
    name: &'static str,
    schedule: Schedule,
    invoke: Invoke,
    client: DurableClient,
    store: Arc<dyn Store>,
    clock: Arc<dyn Clock>,
    mut stopped: watch::Receiver<bool>,
) {
    let now = clock.now();
    let mut last = match store.last_timer_tick(name).await {
        Ok(Some(last)) => last,
        // First start on this task hub: nothing was missed; count from now.
        Ok(None) => {
            claim(store.as_ref(), name, now).await;
            now
        }
        Err(error) => {
            tracing::warn!(function = name, %error, "cannot read the timer's last tick");
            now
        }
    };
    loop {
        let now = clock.now();
        let Some(next) = schedule.next_after(last) else {
            tracing::warn!(function = name, %schedule, "the schedule has no more ticks");
            return;
        };
        if next <= now {
            // Ticks passed while no host ran (or this one was busy): fire the last once.
            let missed = schedule.last_missed(last, now).unwrap_or(next);
            if claim(store.as_ref(), name, missed).await {
                let info = TimerInfo {
                    scheduled_time: missed,
                    is_past_due: true,
                };
                fire(name, invoke, &client, info).await;
            }
            last = missed;
            continue;
        }
        let wait = (next - now).to_std().unwrap_or_default();
        tokio::select! {
            _ = tokio::time::sleep(wait) => {}
            _ = stopped.changed() => return,
        }
        if claim(store.as_ref(), name, next).await {
            let info = TimerInfo {
                scheduled_time: next,
                is_past_due: false,
            };
            fire(name, invoke, &client, info).await;
        }
        last = next;
    }
}
