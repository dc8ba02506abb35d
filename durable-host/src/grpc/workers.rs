//! The remote workers connected over `GetWorkItems`: which names each runs, the work
//! items handed to them and not yet answered, and the engine's view of them
//! ([`RemoteWorkers`]).
//!
//! A worker is connected while its `GetWorkItems` stream is open. Work goes to the
//! connected worker that runs its name with the fewest open items; an answer arrives as
//! a separate call naming the item's completion token. When a worker's stream closes
//! (it stopped, crashed or lost the network), its open items go back to the store at
//! once, for another worker.

use std::collections::HashMap;
use std::sync::{Arc, Mutex, MutexGuard, PoisonError};

use async_trait::async_trait;
use durable_runtime::engine::registry::InvocationResult;
use durable_runtime::engine::remote::{
    RemoteActivity, RemoteDecision, RemoteEntityBatch, RemoteEntityResult, RemoteTurn,
    RemoteUnavailable, RemoteWorkers, Served,
};
use durable_runtime::engine::store::Store;
use tokio::sync::{mpsc, oneshot};
use tonic::Status;

use super::proto;
use super::proto::work_item::Request as WorkRequest;

/// Work items a connected worker may have buffered before sending stalls.
const STREAM_BUFFER: usize = 256;

/// What one connected worker runs: every name, or those its filters list (entity names
/// lower case: they match whatever the case).
#[derive(Debug, Clone)]
struct Runs {
    orchestrators: Option<Vec<String>>,
    activities: Option<Vec<String>>,
    entities: Option<Vec<String>>,
}

impl Runs {
    fn from_filters(filters: Option<&proto::WorkItemFilters>) -> Runs {
        match filters {
            None => Runs {
                orchestrators: None,
                activities: None,
                entities: None,
            },
            Some(filters) => Runs {
                orchestrators: Some(
                    filters
                        .orchestrations
                        .iter()
                        .map(|f| f.name.clone())
                        .collect(),
                ),
                activities: Some(filters.activities.iter().map(|f| f.name.clone()).collect()),
                entities: Some(
                    filters
                        .entities
                        .iter()
                        .map(|f| f.name.to_lowercase())
                        .collect(),
                ),
            },
        }
    }
}

fn runs(names: Option<&Vec<String>>, name: &str) -> bool {
    names.is_none_or(|names| names.iter().any(|n| n == name))
}

struct Connected {
    sender: mpsc::Sender<Result<proto::WorkItem, Status>>,
    runs: Runs,
    open: usize,
}

/// A work item handed out and not yet answered.
enum Open {
    Turn {
        worker: u64,
        instance_id: String,
        reply: oneshot::Sender<Result<RemoteDecision, RemoteUnavailable>>,
    },
    Activity {
        worker: u64,
        reply: oneshot::Sender<Result<InvocationResult, RemoteUnavailable>>,
    },
    Entity {
        worker: u64,
        batch: RemoteEntityBatch,
        reply: oneshot::Sender<Result<RemoteEntityResult, RemoteUnavailable>>,
    },
}

impl Open {
    fn worker(&self) -> u64 {
        match self {
            Open::Turn { worker, .. }
            | Open::Activity { worker, .. }
            | Open::Entity { worker, .. } => *worker,
        }
    }

    fn give_back(self, why: &str) {
        let unavailable = RemoteUnavailable(why.to_owned());
        match self {
            Open::Turn { reply, .. } => {
                let _ = reply.send(Err(unavailable));
            }
            Open::Activity { reply, .. } => {
                let _ = reply.send(Err(unavailable));
            }
            Open::Entity { reply, .. } => {
                let _ = reply.send(Err(unavailable));
            }
        }
    }
}

#[derive(Default)]
struct State {
    workers: HashMap<u64, Connected>,
    open: HashMap<String, Open>,
    next_id: u64,
}

/// The host's connected remote workers.
pub struct WorkerHub {
    state: Mutex<State>,
    store: Arc<dyn Store>,
}

impl std::fmt::Debug for WorkerHub {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let state = self.lock();
        f.debug_struct("WorkerHub")
            .field("workers", &state.workers.len())
            .field("open", &state.open.len())
            .finish()
    }
}

/// A connected worker's stream of work items; dropping it (the worker's stream closed)
/// disconnects the worker.
pub struct WorkStream {
    receiver: mpsc::Receiver<Result<proto::WorkItem, Status>>,
    hub: Arc<WorkerHub>,
    worker: u64,
}

impl futures::Stream for WorkStream {
    type Item = Result<proto::WorkItem, Status>;

    fn poll_next(
        mut self: std::pin::Pin<&mut Self>,
        cx: &mut std::task::Context<'_>,
    ) -> std::task::Poll<Option<Self::Item>> {
        self.receiver.poll_recv(cx)
    }
}

impl Drop for WorkStream {
    fn drop(&mut self) {
        self.hub.disconnect(self.worker);
    }
}

impl WorkerHub {
    /// No workers yet; `store` is told when what they run changes, so its dispatchers
    /// fetch again.
    pub fn new(store: Arc<dyn Store>) -> Self {
        WorkerHub {
            state: Mutex::new(State::default()),
            store,
        }
    }

    fn lock(&self) -> MutexGuard<'_, State> {
        self.state.lock().unwrap_or_else(PoisonError::into_inner)
    }

    /// Connects a worker (a `GetWorkItems` call) and returns its stream of work items.
    pub fn connect(self: &Arc<Self>, request: &proto::GetWorkItemsRequest) -> WorkStream {
        let (sender, receiver) = mpsc::channel(STREAM_BUFFER);
        let runs = Runs::from_filters(request.work_item_filters.as_ref());
        let worker = {
            let mut state = self.lock();
            state.next_id += 1;
            let id = state.next_id;
            tracing::info!(worker = id, ?runs, "a remote worker connected");
            state.workers.insert(
                id,
                Connected {
                    sender,
                    runs,
                    open: 0,
                },
            );
            id
        };
        self.wake_dispatchers();
        WorkStream {
            receiver,
            hub: self.clone(),
            worker,
        }
    }

    fn disconnect(&self, worker: u64) {
        let given_back: Vec<Open> = {
            let mut state = self.lock();
            state.workers.remove(&worker);
            let tokens: Vec<String> = state
                .open
                .iter()
                .filter(|(_, open)| open.worker() == worker)
                .map(|(token, _)| token.clone())
                .collect();
            tokens
                .iter()
                .filter_map(|token| state.open.remove(token))
                .collect()
        };
        tracing::info!(
            worker,
            open = given_back.len(),
            "a remote worker disconnected; its open work goes back to the store"
        );
        for open in given_back {
            open.give_back("the remote worker disconnected");
        }
    }

    fn wake_dispatchers(&self) {
        let signals = self.store.signals();
        signals.orchestrations.notify_one();
        signals.activities.notify_one();
    }

    fn served(&self, names: fn(&Runs) -> Option<&Vec<String>>) -> Served {
        let state = self.lock();
        let mut served = Vec::new();
        for worker in state.workers.values() {
            match names(&worker.runs) {
                None => return Served::Any,
                Some(list) => served.extend(list.iter().cloned()),
            }
        }
        Served::Names(served)
    }

    /// Hands `request` to the least busy worker that runs `name` (by `runs`), with
    /// `open` as its open item. Fails when no connected worker takes it.
    fn hand_out(
        &self,
        name: &str,
        runs_name: fn(&Runs) -> Option<&Vec<String>>,
        request: WorkRequest,
        open: impl FnOnce(u64) -> Open,
    ) -> Result<(), RemoteUnavailable> {
        let mut state = self.lock();
        state.next_id += 1;
        let token = state.next_id.to_string();
        let chosen = state
            .workers
            .iter()
            .filter(|(_, w)| runs(runs_name(&w.runs), name))
            .min_by_key(|(_, w)| w.open)
            .map(|(id, w)| (*id, w.sender.clone()));
        let Some((worker, sender)) = chosen else {
            return Err(RemoteUnavailable(format!(
                "no connected remote worker runs `{name}`"
            )));
        };
        let item = proto::WorkItem {
            request: Some(request),
            completion_token: token.clone(),
        };
        // try_send: the lock is held, so the send must not wait; a full buffer is a
        // worker that stopped reading, and the work goes elsewhere.
        sender.try_send(Ok(item)).map_err(|_| {
            RemoteUnavailable(format!("the remote worker for `{name}` is not reading"))
        })?;
        if let Some(connected) = state.workers.get_mut(&worker) {
            connected.open += 1;
        }
        state.open.insert(token, open(worker));
        Ok(())
    }

    /// Takes the open item `token` answers, if it is still open.
    fn close(&self, token: &str) -> Option<Open> {
        let mut state = self.lock();
        let open = state.open.remove(token)?;
        if let Some(worker) = state.workers.get_mut(&open.worker()) {
            worker.open = worker.open.saturating_sub(1);
        }
        Some(open)
    }

    /// `CompleteOrchestratorTask`: the answer to an open turn.
    pub fn complete_turn(&self, response: proto::OrchestratorResponse) -> Result<(), Status> {
        match self.close(&response.completion_token) {
            Some(Open::Turn {
                instance_id, reply, ..
            }) => {
                let decision = super::actions::decision(&instance_id, response);
                let _ = reply.send(Ok(decision));
                Ok(())
            }
            Some(other) => {
                other.give_back("the answer was for another kind of work item");
                Err(Status::invalid_argument(
                    "the completion token is not an orchestrator's",
                ))
            }
            None => Err(not_open(&response.completion_token)),
        }
    }

    /// `CompleteActivityTask`: the answer to an open activity call.
    pub fn complete_activity(&self, response: proto::ActivityResponse) -> Result<(), Status> {
        match self.close(&response.completion_token) {
            Some(Open::Activity { reply, .. }) => {
                let _ = reply.send(Ok(super::actions::activity_outcome(&response)));
                Ok(())
            }
            Some(other) => {
                other.give_back("the answer was for another kind of work item");
                Err(Status::invalid_argument(
                    "the completion token is not an activity's",
                ))
            }
            None => Err(not_open(&response.completion_token)),
        }
    }

    /// `CompleteEntityTask`: the answer to an open batch of entity operations.
    pub fn complete_entity(&self, result: proto::EntityBatchResult) -> Result<(), Status> {
        let token = result.completion_token.clone();
        match self.close(&token) {
            Some(Open::Entity { batch, reply, .. }) => {
                let _ = reply.send(Ok(super::entities::entity_result(&batch, result)));
                Ok(())
            }
            Some(other) => {
                other.give_back("the answer was for another kind of work item");
                Err(Status::invalid_argument(
                    "the completion token is not an entity's",
                ))
            }
            None => Err(not_open(&token)),
        }
    }

    /// `AbandonTask*WorkItem`: the worker gives an open item back.
    pub fn abandon(&self, token: &str) -> Result<(), Status> {
        let open = self.close(token).ok_or_else(|| not_open(token))?;
        open.give_back("the remote worker abandoned it");
        Ok(())
    }
}

fn not_open(token: &str) -> Status {
    Status::not_found(format!(
        "no open work item has completion token `{token}` (it was answered, given back, or its worker disconnected)"
    ))
}

#[async_trait]
impl RemoteWorkers for WorkerHub {
    fn orchestrators(&self) -> Served {
        self.served(|runs| runs.orchestrators.as_ref())
    }

    fn activities(&self) -> Served {
        self.served(|runs| runs.activities.as_ref())
    }

    fn entities(&self) -> Served {
        self.served(|runs| runs.entities.as_ref())
    }

    async fn run_entity_batch(
        &self,
        batch: RemoteEntityBatch,
    ) -> Result<RemoteEntityResult, RemoteUnavailable> {
        let (reply, answer) = oneshot::channel();
        let name = durable_runtime::EntityId::from_instance_id(&batch.instance_id)
            .map(|id| id.name.to_lowercase())
            .unwrap_or_default();
        let request = WorkRequest::EntityRequest(super::entities::entity_request(&batch));
        self.hand_out(
            &name,
            |runs| runs.entities.as_ref(),
            request,
            |worker| Open::Entity {
                worker,
                batch,
                reply,
            },
        )?;
        answer
            .await
            .unwrap_or_else(|_| Err(RemoteUnavailable("the work item was dropped".to_owned())))
    }

    async fn run_turn(&self, turn: RemoteTurn) -> Result<RemoteDecision, RemoteUnavailable> {
        let (reply, answer) = oneshot::channel();
        let request = WorkRequest::OrchestratorRequest(super::history::turn_request(&turn));
        self.hand_out(
            &turn.name,
            |runs| runs.orchestrators.as_ref(),
            request,
            |worker| Open::Turn {
                worker,
                instance_id: turn.instance_id.clone(),
                reply,
            },
        )?;
        answer
            .await
            .unwrap_or_else(|_| Err(RemoteUnavailable("the work item was dropped".to_owned())))
    }

    async fn run_activity(
        &self,
        call: RemoteActivity,
    ) -> Result<InvocationResult, RemoteUnavailable> {
        let (reply, answer) = oneshot::channel();
        let request = WorkRequest::ActivityRequest(super::actions::activity_request(&call));
        self.hand_out(
            &call.name,
            |runs| runs.activities.as_ref(),
            request,
            |worker| Open::Activity { worker, reply },
        )?;
        answer
            .await
            .unwrap_or_else(|_| Err(RemoteUnavailable("the work item was dropped".to_owned())))
    }
}
