"""The Durable Task SDK's client (`durabletask.client.TaskHubGrpcClient`), unchanged, on
Rust orchestrations of the host: every client call a user makes, and what it must return."""

import json
import time
from datetime import datetime, timedelta, timezone

import grpc
import pytest
from durabletask import client as dt_client
from durabletask.entities import EntityInstanceId

from conftest import ADDRESS

Status = dt_client.OrchestrationStatus
GREETINGS = ["Hello Tokyo!", "Hello Seattle!", "Hello London!"]


def test_start_wait_and_read_a_rust_orchestration(client, uid):
    iid = client.schedule_new_orchestration("HelloCities", instance_id=uid("hello"))
    started = client.wait_for_orchestration_start(iid, timeout=30)
    assert started is not None and started.instance_id == iid
    assert started.runtime_status in (Status.RUNNING, Status.COMPLETED)

    done = client.wait_for_orchestration_completion(iid, timeout=30)
    assert done.runtime_status == Status.COMPLETED
    assert done.name == "HelloCities"
    assert done.get_output() == GREETINGS
    assert done.failure_details is None
    assert done.created_at <= done.last_updated_at

    again = client.get_orchestration_state(iid)
    assert again.get_output() == GREETINGS
    without = client.get_orchestration_state(iid, fetch_payloads=False)
    assert without.serialized_output is None


def test_a_new_id_is_made_when_none_is_given(client):
    iid = client.schedule_new_orchestration("HelloCities")
    assert len(iid) >= 16
    assert client.wait_for_orchestration_completion(iid, timeout=30).runtime_status == Status.COMPLETED


def test_input_reaches_the_orchestration(client, uid):
    # FanOutGreetings greets `count` cities in parallel.
    iid = client.schedule_new_orchestration("FanOutGreetings", input=4, instance_id=uid("fan"))
    done = client.wait_for_orchestration_completion(iid, timeout=30)
    assert done.runtime_status == Status.COMPLETED
    assert len(done.get_output()) == 4
    assert json.loads(done.serialized_input) == 4


def test_events_are_delivered_in_order(client, uid):
    iid = client.schedule_new_orchestration("EventsInOrder", instance_id=uid("events"))
    for item in ["a", {"b": 2}, [3]]:
        client.raise_orchestration_event(iid, "Item", data=item)
    done = client.wait_for_orchestration_completion(iid, timeout=30)
    assert done.get_output() == ["a", {"b": 2}, [3]]


def test_suspend_keeps_events_until_resume(client, uid):
    iid = client.schedule_new_orchestration("EventsInOrder", instance_id=uid("suspend"))
    client.wait_for_orchestration_start(iid, timeout=30)
    client.suspend_orchestration(iid, reason="maintenance")
    wait_for_status(client, iid, Status.SUSPENDED)
    for item in [1, 2, 3]:
        client.raise_orchestration_event(iid, "Item", data=item)
    time.sleep(0.5)
    assert client.get_orchestration_state(iid).runtime_status == Status.SUSPENDED
    client.resume_orchestration(iid, reason="done")
    done = client.wait_for_orchestration_completion(iid, timeout=30)
    assert done.runtime_status == Status.COMPLETED
    assert done.get_output() == [1, 2, 3]


def test_terminate_ends_the_instance_with_its_output(client, uid):
    iid = client.schedule_new_orchestration("EventsInOrder", instance_id=uid("terminate"))
    client.wait_for_orchestration_start(iid, timeout=30)
    client.terminate_orchestration(iid, output="stopped by the test")
    done = client.wait_for_orchestration_completion(iid, timeout=30)
    assert done.runtime_status == Status.TERMINATED
    assert done.get_output() == "stopped by the test"


def test_a_failed_orchestration_reports_its_failure(client, uid):
    iid = client.schedule_new_orchestration("UnhandledActivityFailure", instance_id=uid("fail"))
    done = client.wait_for_orchestration_completion(iid, timeout=30)
    assert done.runtime_status == Status.FAILED
    assert done.failure_details is not None
    assert done.failure_details.message
    with pytest.raises(dt_client.OrchestrationFailedError):
        done.raise_if_failed()


def test_purge_removes_an_instance_and_refuses_a_running_one(client, uid):
    iid = client.schedule_new_orchestration("HelloCities", instance_id=uid("purge"))
    client.wait_for_orchestration_completion(iid, timeout=30)
    assert client.purge_orchestration(iid).deleted_instance_count == 1
    assert client.get_orchestration_state(iid) is None
    assert client.purge_orchestration(iid).deleted_instance_count == 0

    running = client.schedule_new_orchestration("EventsInOrder", instance_id=uid("running"))
    client.wait_for_orchestration_start(running, timeout=30)
    with pytest.raises(grpc.RpcError) as refused:
        client.purge_orchestration(running)
    assert refused.value.code() == grpc.StatusCode.FAILED_PRECONDITION
    client.terminate_orchestration(running, output="cleanup")


def test_purge_by_filter_removes_only_matching_finished_instances(client, uid):
    since = datetime.now(timezone.utc) - timedelta(seconds=1)
    ids = [client.schedule_new_orchestration("HelloCities", instance_id=uid("batch")) for _ in range(2)]
    for iid in ids:
        client.wait_for_orchestration_completion(iid, timeout=30)
    running = client.schedule_new_orchestration("EventsInOrder", instance_id=uid("keep"))
    client.wait_for_orchestration_start(running, timeout=30)
    result = client.purge_orchestrations_by(created_time_from=since, runtime_status=[Status.COMPLETED])
    assert result.deleted_instance_count >= 2
    for iid in ids:
        assert client.get_orchestration_state(iid) is None
    assert client.get_orchestration_state(running).runtime_status == Status.RUNNING
    client.terminate_orchestration(running, output="cleanup")


def test_query_finds_instances_by_prefix_and_status(client, uid):
    prefix = uid("query")
    ids = [client.schedule_new_orchestration("HelloCities", instance_id=f"{prefix}-{i}") for i in range(3)]
    for iid in ids:
        client.wait_for_orchestration_completion(iid, timeout=30)
    query = dt_client.OrchestrationQuery(instance_id_prefix=prefix, fetch_inputs_and_outputs=True)
    states = client.get_all_orchestration_states(query)
    assert sorted(s.instance_id for s in states) == sorted(ids)
    assert all(s.get_output() == GREETINGS for s in states)
    running_only = dt_client.OrchestrationQuery(instance_id_prefix=prefix, runtime_status=[Status.RUNNING])
    assert client.get_all_orchestration_states(running_only) == []


def test_list_instance_ids_pages_through_finished_instances(client, uid):
    ids = [client.schedule_new_orchestration("HelloCities", instance_id=uid("ids")) for _ in range(3)]
    for iid in ids:
        client.wait_for_orchestration_completion(iid, timeout=30)
    seen, token = [], None
    while True:
        page = client.list_instance_ids(runtime_status=[Status.COMPLETED], page_size=2, continuation_token=token)
        assert len(page.items) <= 2
        seen += page.items
        token = page.continuation_token
        if not token:
            break
    assert set(ids) <= set(seen)


def test_history_lists_the_events_of_the_instance(client, uid):
    iid = client.schedule_new_orchestration("HelloCities", instance_id=uid("history"))
    client.wait_for_orchestration_completion(iid, timeout=30)
    events = client.get_orchestration_history(iid)
    names = [type(e).__name__ for e in events]
    # The protocol's order: each turn opens with OrchestratorStarted, the first one's
    # next event starts the execution.
    assert names[:2] == ["OrchestratorStartedEvent", "ExecutionStartedEvent"]
    assert names.count("OrchestratorStartedEvent") == 4
    assert names.count("TaskScheduledEvent") == 3
    assert names.count("TaskCompletedEvent") == 3
    assert "ExecutionCompletedEvent" in names
    scheduled = [e for e in events if type(e).__name__ == "TaskScheduledEvent"]
    assert all(e.name == "SayHello" for e in scheduled)


def test_restart_runs_the_orchestration_again(client, uid):
    iid = client.schedule_new_orchestration("HelloCities", instance_id=uid("restart"))
    client.wait_for_orchestration_completion(iid, timeout=30)
    again = client.restart_orchestration(iid, restart_with_new_instance_id=True)
    assert again != iid
    assert client.wait_for_orchestration_completion(again, timeout=30).get_output() == GREETINGS
    same = client.restart_orchestration(iid)
    assert same == iid
    assert client.wait_for_orchestration_completion(iid, timeout=30).runtime_status == Status.COMPLETED


def test_a_running_id_cannot_be_started_twice(client, uid):
    iid = client.schedule_new_orchestration("EventsInOrder", instance_id=uid("twice"))
    client.wait_for_orchestration_start(iid, timeout=30)
    with pytest.raises(grpc.RpcError) as refused:
        client.schedule_new_orchestration("EventsInOrder", instance_id=iid)
    assert refused.value.code() == grpc.StatusCode.ALREADY_EXISTS
    client.terminate_orchestration(iid, output="cleanup")


def test_waiting_past_the_deadline_is_a_timeout(client, uid):
    iid = client.schedule_new_orchestration("EventsInOrder", instance_id=uid("slow"))
    with pytest.raises(TimeoutError):
        client.wait_for_orchestration_completion(iid, timeout=1)
    client.terminate_orchestration(iid, output="cleanup")


def test_unknown_instances_and_names_get_clear_errors(client, uid):
    assert client.get_orchestration_state(uid("missing")) is None
    with pytest.raises(grpc.RpcError) as missing:
        client.raise_orchestration_event(uid("missing"), "Item", data=1)
    assert missing.value.code() == grpc.StatusCode.NOT_FOUND
    assert "exists" in missing.value.details()


def test_entities_are_signaled_read_and_queried(client, uid):
    key = uid("counter")
    entity = EntityInstanceId("Counter", key)
    client.signal_entity(entity, "add", input=5)
    client.signal_entity(entity, "add", input=2)
    deadline = time.time() + 30
    while True:
        found = client.get_entity(entity)
        if found is not None and found.get_state(int) == 7:
            break
        assert time.time() < deadline, "the counter never reached 7"
        time.sleep(0.1)
    assert client.get_entity(EntityInstanceId("Counter", uid("never"))) is None
    listed = client.get_all_entities(dt_client.EntityQuery(instance_id_starts_with=f"@counter@{key}", include_state=True))
    assert [str(e.id) for e in listed] == [str(entity)]
    assert listed[0].get_state(int) == 7


def test_calls_without_the_system_key_are_refused(uid):
    for metadata, code in [
        (None, grpc.StatusCode.UNAUTHENTICATED),
        ([("x-functions-key", "not-the-key")], grpc.StatusCode.PERMISSION_DENIED),
    ]:
        c = dt_client.TaskHubGrpcClient(host_address=ADDRESS, metadata=metadata)
        with pytest.raises(grpc.RpcError) as refused:
            c.schedule_new_orchestration("HelloCities", instance_id=uid("nokey"))
        assert refused.value.code() == code
        c.close()


def wait_for_status(client, iid, status, timeout=30):
    deadline = time.time() + timeout
    while True:
        state = client.get_orchestration_state(iid)
        if state is not None and state.runtime_status == status:
            return state
        assert time.time() < deadline, f"{iid} never became {status}"
        time.sleep(0.05)
