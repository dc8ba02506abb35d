//! The generated service trait, each method handed to the module that answers it.

use std::pin::Pin;
use std::time::Duration;

use durable_runtime::DurableClient;
use futures::Stream;
use tonic::{Request, Response, Status};

use super::client_calls;
use super::proto;
use super::proto::task_hub_sidecar_service_server::TaskHubSidecarService;
use super::workers::{WorkStream, WorkerHub};
use std::sync::Arc;

/// The sidecar service of one host.
pub struct Sidecar {
    client: DurableClient,
    workers: Arc<WorkerHub>,
}

impl Sidecar {
    /// The service answering client calls with `client` and keeping workers in `workers`.
    pub fn new(client: DurableClient, workers: Arc<WorkerHub>) -> Self {
        Sidecar { client, workers }
    }
}

/// How long a call may wait: the deadline its caller set (`grpc-timeout`: digits and a
/// unit, `H M S m u n`), a little early. At the deadline itself tonic cancels the call
/// (`CANCELLED`), and the caller must see this host's `DEADLINE_EXCEEDED` first.
fn deadline<T>(request: &Request<T>) -> Option<Duration> {
    let text = request.metadata().get("grpc-timeout")?.to_str().ok()?;
    let (digits, unit) = text.split_at(text.len().checked_sub(1)?);
    let amount: u64 = digits.parse().ok()?;
    let given = match unit {
        "H" => Duration::from_secs(amount.saturating_mul(3600)),
        "M" => Duration::from_secs(amount.saturating_mul(60)),
        "S" => Duration::from_secs(amount),
        "m" => Duration::from_millis(amount),
        "u" => Duration::from_micros(amount),
        "n" => Duration::from_nanos(amount),
        _ => return None,
    };
    let margin = (given / 20).clamp(Duration::from_millis(20), Duration::from_millis(250));
    Some(given.saturating_sub(margin))
}

type Answer<T> = Result<Response<T>, Status>;

fn answer<T>(result: Result<T, Status>) -> Answer<T> {
    result.map(Response::new)
}

#[tonic::async_trait]
impl TaskHubSidecarService for Sidecar {
    async fn hello(&self, _request: Request<()>) -> Answer<()> {
        Ok(Response::new(()))
    }

    async fn start_instance(
        &self,
        request: Request<proto::CreateInstanceRequest>,
    ) -> Answer<proto::CreateInstanceResponse> {
        answer(client_calls::start_instance(&self.client, request.into_inner()).await)
    }

    async fn get_instance(
        &self,
        request: Request<proto::GetInstanceRequest>,
    ) -> Answer<proto::GetInstanceResponse> {
        answer(client_calls::get_instance(&self.client, request.into_inner()).await)
    }

    async fn rewind_instance(
        &self,
        request: Request<proto::RewindInstanceRequest>,
    ) -> Answer<proto::RewindInstanceResponse> {
        answer(client_calls::rewind(&self.client, request.into_inner()).await)
    }

    async fn restart_instance(
        &self,
        request: Request<proto::RestartInstanceRequest>,
    ) -> Answer<proto::RestartInstanceResponse> {
        answer(client_calls::restart(&self.client, request.into_inner()).await)
    }

    async fn wait_for_instance_start(
        &self,
        request: Request<proto::GetInstanceRequest>,
    ) -> Answer<proto::GetInstanceResponse> {
        let deadline = deadline(&request);
        answer(client_calls::wait_for_start(&self.client, request.into_inner(), deadline).await)
    }

    async fn wait_for_instance_completion(
        &self,
        request: Request<proto::GetInstanceRequest>,
    ) -> Answer<proto::GetInstanceResponse> {
        let deadline = deadline(&request);
        answer(
            client_calls::wait_for_completion(&self.client, request.into_inner(), deadline).await,
        )
    }

    async fn raise_event(
        &self,
        request: Request<proto::RaiseEventRequest>,
    ) -> Answer<proto::RaiseEventResponse> {
        answer(client_calls::raise_event(&self.client, request.into_inner()).await)
    }

    async fn terminate_instance(
        &self,
        request: Request<proto::TerminateRequest>,
    ) -> Answer<proto::TerminateResponse> {
        answer(client_calls::terminate(&self.client, request.into_inner()).await)
    }

    async fn suspend_instance(
        &self,
        request: Request<proto::SuspendRequest>,
    ) -> Answer<proto::SuspendResponse> {
        answer(client_calls::suspend(&self.client, request.into_inner()).await)
    }

    async fn resume_instance(
        &self,
        request: Request<proto::ResumeRequest>,
    ) -> Answer<proto::ResumeResponse> {
        answer(client_calls::resume(&self.client, request.into_inner()).await)
    }

    async fn query_instances(
        &self,
        request: Request<proto::QueryInstancesRequest>,
    ) -> Answer<proto::QueryInstancesResponse> {
        answer(client_calls::query_instances(&self.client, request.into_inner()).await)
    }

    async fn list_instance_ids(
        &self,
        request: Request<proto::ListInstanceIdsRequest>,
    ) -> Answer<proto::ListInstanceIdsResponse> {
        answer(client_calls::list_instance_ids(&self.client, request.into_inner()).await)
    }

    async fn purge_instances(
        &self,
        request: Request<proto::PurgeInstancesRequest>,
    ) -> Answer<proto::PurgeInstancesResponse> {
        answer(client_calls::purge_instances(&self.client, request.into_inner()).await)
    }

    type StreamInstanceHistoryStream =
        Pin<Box<dyn Stream<Item = Result<proto::HistoryChunk, Status>> + Send + 'static>>;

    async fn stream_instance_history(
        &self,
        request: Request<proto::StreamInstanceHistoryRequest>,
    ) -> Answer<Self::StreamInstanceHistoryStream> {
        let chunk = client_calls::instance_history(&self.client, request.into_inner()).await?;
        let stream: Self::StreamInstanceHistoryStream =
            Box::pin(futures::stream::once(async move { Ok(chunk) }));
        Ok(Response::new(stream))
    }

    async fn signal_entity(
        &self,
        request: Request<proto::SignalEntityRequest>,
    ) -> Answer<proto::SignalEntityResponse> {
        answer(client_calls::signal_entity(&self.client, request.into_inner()).await)
    }

    async fn get_entity(
        &self,
        request: Request<proto::GetEntityRequest>,
    ) -> Answer<proto::GetEntityResponse> {
        answer(client_calls::get_entity(&self.client, request.into_inner()).await)
    }

    async fn query_entities(
        &self,
        request: Request<proto::QueryEntitiesRequest>,
    ) -> Answer<proto::QueryEntitiesResponse> {
        answer(client_calls::query_entities(&self.client, request.into_inner()).await)
    }

    async fn clean_entity_storage(
        &self,
        request: Request<proto::CleanEntityStorageRequest>,
    ) -> Answer<proto::CleanEntityStorageResponse> {
        answer(client_calls::clean_entity_storage(&self.client, request.into_inner()).await)
    }

    type GetWorkItemsStream = WorkStream;

    async fn get_work_items(
        &self,
        request: Request<proto::GetWorkItemsRequest>,
    ) -> Answer<Self::GetWorkItemsStream> {
        Ok(Response::new(self.workers.connect(request.get_ref())))
    }

    async fn complete_orchestrator_task(
        &self,
        request: Request<proto::OrchestratorResponse>,
    ) -> Answer<proto::CompleteTaskResponse> {
        self.workers.complete_turn(request.into_inner())?;
        Ok(Response::new(proto::CompleteTaskResponse {}))
    }

    async fn complete_activity_task(
        &self,
        request: Request<proto::ActivityResponse>,
    ) -> Answer<proto::CompleteTaskResponse> {
        self.workers.complete_activity(request.into_inner())?;
        Ok(Response::new(proto::CompleteTaskResponse {}))
    }

    async fn abandon_task_orchestrator_work_item(
        &self,
        request: Request<proto::AbandonOrchestrationTaskRequest>,
    ) -> Answer<proto::AbandonOrchestrationTaskResponse> {
        self.workers.abandon(&request.get_ref().completion_token)?;
        Ok(Response::new(proto::AbandonOrchestrationTaskResponse {}))
    }

    async fn complete_entity_task(
        &self,
        request: Request<proto::EntityBatchResult>,
    ) -> Answer<proto::CompleteTaskResponse> {
        self.workers.complete_entity(request.into_inner())?;
        Ok(Response::new(proto::CompleteTaskResponse {}))
    }

    async fn abandon_task_entity_work_item(
        &self,
        request: Request<proto::AbandonEntityTaskRequest>,
    ) -> Answer<proto::AbandonEntityTaskResponse> {
        self.workers.abandon(&request.get_ref().completion_token)?;
        Ok(Response::new(proto::AbandonEntityTaskResponse {}))
    }

    async fn abandon_task_activity_work_item(
        &self,
        request: Request<proto::AbandonActivityTaskRequest>,
    ) -> Answer<proto::AbandonActivityTaskResponse> {
        self.workers.abandon(&request.get_ref().completion_token)?;
        Ok(Response::new(proto::AbandonActivityTaskResponse {}))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn grpc_timeouts_are_read_in_every_unit_and_answered_a_little_early() {
        let with = |text: &str| {
            let mut request = Request::new(());
            if let Ok(value) = text.parse() {
                request.metadata_mut().insert("grpc-timeout", value);
            }
            deadline(&request)
        };
        let ms = Duration::from_millis;
        assert_eq!(with("2H"), Some(Duration::from_secs(7200) - ms(250)));
        assert_eq!(with("3M"), Some(Duration::from_secs(180) - ms(250)));
        assert_eq!(with("59S"), Some(Duration::from_secs(59) - ms(250)));
        assert_eq!(with("1500m"), Some(ms(1500 - 75)), "a twentieth early");
        assert_eq!(with("100m"), Some(ms(80)), "at least 20 ms early");
        assert_eq!(with("7u"), Some(Duration::ZERO));
        assert_eq!(with("9n"), Some(Duration::ZERO));
        assert_eq!(with("5x"), None);
        assert_eq!(with("S"), None);
    }
}
