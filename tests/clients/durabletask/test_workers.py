"""Python orchestrators and activities (the Durable Task SDK's worker, unchanged, in a
process of its own: worker_app.py) on the host, with Rust functions on either side of a
call."""

import time

import pytest
from durabletask import client as dt_client
from durabletask import entities

from conftest import start_worker, stop_worker

Status = dt_client.OrchestrationStatus


@pytest.fixture(scope="module", autouse=True)
def python_worker(tmp_path_factory):
    process = start_worker(tmp_path_factory.mktemp("worker") / "ledger.txt")
    yield process
    stop_worker(process)


def run(client, name, input=None, instance_id=None, timeout=60):
    iid = client.schedule_new_orchestration(name, input=input, instance_id=instance_id)
    state = client.wait_for_orchestration_completion(iid, timeout=timeout)
    assert state is not None
    return state


def test_python_hello_cities(client):
    state = run(client, "hello_cities")
    assert state.runtime_status == Status.COMPLETED, state.failure_details
    assert state.get_output() == ["Hello Tokyo!", "Hello Seattle!", "Hello London!"]
    names = [type(e).__name__ for e in client.get_orchestration_history(state.instance_id)]
    assert names.count("TaskScheduledEvent") == 3
    assert names.count("TaskCompletedEvent") == 3


def test_python_fan_out_and_in(client):
    state = run(client, "fan_out", input=5)
    assert state.runtime_status == Status.COMPLETED, state.failure_details
    assert state.get_output() == [f"Hello city {i}!" for i in range(5)]


def test_a_python_orchestrator_calls_a_rust_activity(client):
    state = run(client, "calls_rust_activity", input="Paris")
    assert state.runtime_status == Status.COMPLETED, state.failure_details
    assert state.get_output() == "Hello Paris!"


def test_a_python_orchestrator_calls_a_rust_sub_orchestration(client):
    state = run(client, "calls_rust_orchestration")
    assert state.runtime_status == Status.COMPLETED, state.failure_details
    assert state.get_output() == ["Hello Tokyo!", "Hello Seattle!", "Hello London!"]


def test_a_rust_orchestrator_calls_a_python_activity(client):
    state = run(client, "CallActivityByName", input={"activity": "shout", "input": "hi"})
    assert state.runtime_status == Status.COMPLETED, state.failure_details
    assert state.get_output() == ["HI!", "HI!!"]


def test_external_events_reach_a_python_orchestrator_in_order(client, uid):
    iid = client.schedule_new_orchestration("events_in_order", instance_id=uid("events"))
    for item in ["a", {"b": 2}, [3]]:
        client.raise_orchestration_event(iid, "item", data=item)
    state = client.wait_for_orchestration_completion(iid, timeout=60)
    assert state.get_output() == ["a", {"b": 2}, [3]]


def test_an_event_wins_the_race_against_a_timer(client, uid):
    iid = client.schedule_new_orchestration("approval", input=30, instance_id=uid("approve"))
    wait_for(lambda: client.get_orchestration_state(iid).get_custom_status() == "waiting for approval")
    client.raise_orchestration_event(iid, "approval", data="by the test")
    state = client.wait_for_orchestration_completion(iid, timeout=60)
    assert state.get_output() == {"approved": "by the test"}


def test_a_durable_timer_fires_for_a_python_orchestrator(client):
    state = run(client, "approval", input=1)
    assert state.get_output() == "timed out"
    state = run(client, "durable_timer", input=1.5)
    assert state.runtime_status == Status.COMPLETED, state.failure_details
    assert state.get_output() >= 1.5


def test_a_python_activity_failure_fails_or_is_caught(client):
    failed = run(client, "fails", input="Atlantis")
    assert failed.runtime_status == Status.FAILED
    assert "no flights to Atlantis" in failed.failure_details.message
    caught = run(client, "catches", input="Atlantis")
    assert caught.runtime_status == Status.COMPLETED
    assert caught.get_output() == "caught: no flights to Atlantis"


def test_continue_as_new_in_python(client):
    state = run(client, "counts_up", input=0)
    assert state.runtime_status == Status.COMPLETED, state.failure_details
    assert state.get_output() == 3


def test_a_python_orchestrator_signals_and_calls_a_rust_entity(client, uid):
    key = uid("counter")
    state = run(client, "uses_rust_counter", input=key)
    assert state.runtime_status == Status.COMPLETED, state.failure_details
    output = state.get_output()
    assert output["value"] == 5
    assert "cannot go below zero" in output["refused"]
    entity = client.get_entity(entities.EntityInstanceId("Counter", key))
    assert entity is not None and entity.get_typed_state() == 5


def test_a_python_orchestrator_calls_a_python_entity(client, uid):
    key = uid("tally")
    state = run(client, "uses_python_tally", input=key)
    assert state.runtime_status == Status.COMPLETED, state.failure_details
    output = state.get_output()
    assert output["value"] == 7, "the refused add changed nothing"
    assert "cannot go below zero" in output["refused"]
    assert client.get_entity(entities.EntityInstanceId("tally", key)).get_state(int) == 7


def test_a_python_entity_takes_signals_and_signals_rust(client, uid):
    key = uid("tally")
    tally = entities.EntityInstanceId("tally", key)
    for amount in [2, 5]:
        client.signal_entity(tally, "add", input=amount)
    wait_for(lambda: (client.get_entity(tally) or None) is not None
             and client.get_entity(tally).get_state(int) == 7)
    client.signal_entity(tally, "forward")
    counter = entities.EntityInstanceId("Counter", key)
    wait_for(lambda: client.get_entity(counter) is not None
             and client.get_entity(counter).get_state(int) == 7)
    child = uid("started-by-tally")
    client.signal_entity(tally, "start", input=child)
    wait_for(lambda: client.get_orchestration_state(child) is not None)
    done = client.wait_for_orchestration_completion(child, timeout=30)
    assert done.get_output() == ["Hello Tokyo!", "Hello Seattle!", "Hello London!"]


def test_suspend_and_terminate_a_python_orchestration(client, uid):
    iid = client.schedule_new_orchestration("events_in_order", instance_id=uid("suspend"))
    client.wait_for_orchestration_start(iid, timeout=30)
    client.suspend_orchestration(iid)
    wait_for(lambda: client.get_orchestration_state(iid).runtime_status == Status.SUSPENDED)
    client.raise_orchestration_event(iid, "item", data=1)
    client.resume_orchestration(iid)
    client.raise_orchestration_event(iid, "item", data=2)
    client.terminate_orchestration(iid, output="enough")
    state = client.wait_for_orchestration_completion(iid, timeout=30)
    assert state.runtime_status == Status.TERMINATED
    assert state.get_output() == "enough"


def wait_for(condition, timeout=30):
    deadline = time.time() + timeout
    while not condition():
        assert time.time() < deadline, "the condition never held"
        time.sleep(0.05)
