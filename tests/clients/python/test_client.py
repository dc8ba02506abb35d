"""DurableOrchestrationClient (azure-functions-durable 1.7.0) against a running durable-rs host:
the orchestration methods.

Each test makes its own instances (unique ids). State the test needs before it calls the method
under test is set up with plain HTTP calls (``harness.raw*``), and effects are checked the same
way, so a test fails at the client method it is about. Assertions are the documented results
of the client methods, i.e. what a Python user of the official client gets back.

Orchestrators used (from the host binary, see ``test-host functions``):
  HelloCities             no input; outputs the three greetings
  RecordTick              outputs its input unchanged (an echo)
  EventsInOrder           sleeps 300 ms, then takes three ``Item`` events; outputs them in order
  ApprovalWorkflow        input {"timeoutSeconds": n}; waits for ``Approval`` (a bool)
  NeedsAFix               input: a file path; fails until the file exists (for rewind)
  UnhandledActivityFailure  fails
"""

import datetime as dt
import json
import os
import tempfile
import time

import azure.functions as func
import pytest
from azure.durable_functions import DurableOrchestrationClient, OrchestrationRuntimeStatus as RS

from harness import (
    GREETINGS, HUB, CONNECTION, raw, raw_start, raw_status, wait_runtime, wait_terminal,
    wait_status, binding_dict,
)


def utcnow() -> dt.datetime:
    return dt.datetime.now(dt.timezone.utc)


def raw_event(instance_id: str, event: str, value) -> None:
    r = raw("POST", f"/instances/{instance_id}/raiseEvent/{event}", json.dumps(value).encode(), "application/json")
    assert r["status"] == 202, r


def raw_terminate(instance_id: str) -> None:
    raw("POST", f"/instances/{instance_id}/terminate?reason=cleanup")


def start_events_in_order_running(instance_id: str) -> None:
    raw_start("EventsInOrder", instance_id)
    wait_runtime(instance_id, "Running")


def start_completed_hello(instance_id: str) -> dict:
    raw_start("HelloCities", instance_id)
    s = wait_terminal(instance_id)
    assert s["runtimeStatus"] == "Completed", s
    return s


# =========================================================================== start_new

def test_start_new_without_instance_id_returns_a_new_id(client, run):
    instance_id = run(client.start_new("HelloCities"))
    assert isinstance(instance_id, str) and instance_id
    s = wait_terminal(instance_id)
    assert s["runtimeStatus"] == "Completed"
    assert s["output"] == GREETINGS


def test_start_new_with_instance_id_returns_that_id(client, run, uid):
    wanted = uid()
    instance_id = run(client.start_new("HelloCities", wanted))
    assert instance_id == wanted
    s = wait_terminal(wanted)
    assert s["runtimeStatus"] == "Completed"
    assert s["output"] == GREETINGS


INPUTS = {
    "object": {"a": 1, "s": "x y", "nested": {"list": [1, 2.5, None, True]}},
    "array": [1, "two", None, {"three": 3}],
    "string": "plain text",
    "integer": 42,
    "float": 2.5,
    "bool": True,
    "none": None,
}


@pytest.mark.parametrize("kind", list(INPUTS))
def test_start_new_input_reaches_the_orchestrator(client, run, uid, kind):
    """RecordTick returns its input: the output must be the value the Python user passed."""
    value = INPUTS[kind]
    instance_id = run(client.start_new("RecordTick", uid(), value))
    s = wait_terminal(instance_id)
    assert s["runtimeStatus"] == "Completed", s
    assert s["output"] == value, (
        f"the orchestrator received {s['output']!r} instead of {value!r} "
        f"(input as stored by the host: {s.get('input')!r})")


def test_start_new_typed_input(client, run, uid):
    """ApprovalWorkflow takes {"timeoutSeconds": n}: started from Python it must wait for approval."""
    instance_id = run(client.start_new("ApprovalWorkflow", uid(), {"timeoutSeconds": 60}))
    try:
        s = wait_status(instance_id, lambda s: s["runtimeStatus"] != "Pending", what="not Pending")
        assert s["runtimeStatus"] == "Running", s
        s = wait_status(instance_id, lambda s: s.get("customStatus") is not None, what="a custom status")
        assert s["customStatus"] == "Waiting for approval"
    finally:
        raw_terminate(instance_id)


def test_start_new_with_version(client, run, uid):
    """start_new(version=...) adds ?version=...; the host must accept (at least ignore) it."""
    instance_id = run(client.start_new("HelloCities", uid(), version="1.0 beta"))
    s = wait_terminal(instance_id)
    assert s["output"] == GREETINGS


def test_start_new_unknown_orchestrator_raises(client, run, uid):
    with pytest.raises(Exception) as err:
        run(client.start_new("NoSuchOrchestrator", uid()))
    assert "NoSuchOrchestrator" in str(err.value)


def test_start_new_with_id_of_running_instance_raises(client, run, uid):
    instance_id = uid()
    start_events_in_order_running(instance_id)
    try:
        with pytest.raises(Exception) as err:
            run(client.start_new("EventsInOrder", instance_id))
        # The client raises the host's error body (the extension: 409 {"Message": ...}).
        assert instance_id in str(err.value), err.value
    finally:
        raw_terminate(instance_id)


# =========================================================================== get_status

def test_get_status_of_completed_instance(client, run, uid):
    instance_id = uid()
    start_completed_hello(instance_id)
    before = utcnow()
    status = run(client.get_status(instance_id))
    assert status, "status must be truthy for an existing instance"
    assert status.name == "HelloCities"
    assert status.instance_id == instance_id
    assert status.runtime_status == RS.Completed
    assert status.output == GREETINGS
    assert isinstance(status.created_time, dt.datetime)
    assert isinstance(status.last_updated_time, dt.datetime)
    assert status.created_time.tzinfo is not None
    assert abs((before - status.created_time).total_seconds()) < 300
    assert status.last_updated_time >= status.created_time


def test_get_status_of_running_instance_with_custom_status(client, run, uid):
    instance_id = uid()
    raw_start("ApprovalWorkflow", instance_id, {"timeoutSeconds": 60})
    try:
        wait_status(instance_id, lambda s: s.get("customStatus") == "Waiting for approval", what="waiting")
        status = run(client.get_status(instance_id))
        assert status
        assert status.runtime_status == RS.Running
        assert status.custom_status == "Waiting for approval"
        assert status.output is None
    finally:
        raw_terminate(instance_id)


def test_get_status_show_input(client, run, uid):
    instance_id = uid()
    value = {"a": 1, "b": [1, 2], "c": "x y"}
    raw_start("RecordTick", instance_id, value)
    wait_terminal(instance_id)
    status = run(client.get_status(instance_id, show_input=True))
    assert status.input_ == value
    assert status.output == value


def _event_types(history):
    return [e.get("EventType") for e in history]


def test_get_status_show_history(client, run, uid):
    instance_id = uid()
    start_completed_hello(instance_id)
    status = run(client.get_status(instance_id, show_history=True))
    assert status.runtime_status == RS.Completed
    # The client keeps unknown keys as attributes: the extension's field is historyEvents.
    history = getattr(status, "historyEvents", None)
    assert isinstance(history, list), f"no historyEvents on the status: {vars(status)}"
    types = _event_types(history)
    assert types[0] == "ExecutionStarted"
    assert "ExecutionCompleted" in types
    assert types.count("TaskScheduled") == 3
    assert types.count("TaskCompleted") == 3
    # Without showHistoryOutput the results of the tasks are left out.
    assert all("Result" not in e for e in history if e.get("EventType") == "TaskCompleted")


def test_get_status_show_history_output(client, run, uid):
    instance_id = uid()
    start_completed_hello(instance_id)
    status = run(client.get_status(instance_id, show_history=True, show_history_output=True, show_input=True))
    history = getattr(status, "historyEvents", None)
    assert isinstance(history, list), f"no historyEvents on the status: {vars(status)}"
    results = [e.get("Result") for e in history if e.get("EventType") == "TaskCompleted"]
    assert results == GREETINGS


def test_get_status_of_unknown_instance_is_falsy(client, run, uid):
    status = run(client.get_status(uid("missing")))
    assert not status
    assert status.runtime_status is None


# =========================================================================== get_status_all / get_status_by

def test_get_status_all_includes_new_instances(client, run, uid):
    ids = [uid("a"), uid("b")]
    for i in ids:
        start_completed_hello(i)
    statuses = run(client.get_status_all())
    assert isinstance(statuses, list)
    by_id = {s.instance_id: s for s in statuses}
    for i in ids:
        assert i in by_id, f"{i} missing from get_status_all ({len(statuses)} statuses)"
        assert by_id[i].runtime_status == RS.Completed
        assert by_id[i].name == "HelloCities"


def test_get_status_by_created_time(client, run, uid):
    t0 = utcnow() - dt.timedelta(seconds=2)
    ids = [uid("a"), uid("b")]
    for i in ids:
        start_completed_hello(i)
    t1 = utcnow() + dt.timedelta(seconds=2)
    inside = {s.instance_id for s in run(client.get_status_by(created_time_from=t0, created_time_to=t1))}
    assert set(ids) <= inside
    before = {s.instance_id for s in run(client.get_status_by(created_time_to=t0 - dt.timedelta(minutes=1)))}
    assert not set(ids) & before
    after = {s.instance_id for s in run(client.get_status_by(created_time_from=t1))}
    assert not set(ids) & after


def test_get_status_by_runtime_status(client, run, uid):
    t0 = utcnow() - dt.timedelta(seconds=2)
    running, done = uid("running"), uid("done")
    start_events_in_order_running(running)
    start_completed_hello(done)
    try:
        got = {s.instance_id: s for s in run(client.get_status_by(created_time_from=t0, runtime_status=[RS.Running]))}
        assert running in got and done not in got
        assert got[running].runtime_status == RS.Running
        got = {s.instance_id for s in run(client.get_status_by(
            created_time_from=t0, runtime_status=[RS.Completed, RS.Failed]))}
        assert done in got and running not in got
    finally:
        raw_terminate(running)


def test_get_status_by_instance_id_prefix(client, run, uid):
    prefix = uid("pfx")
    ids = [prefix + "-1", prefix + "-2"]
    other = uid("other")
    for i in ids + [other]:
        start_completed_hello(i)
    got = {s.instance_id for s in run(client.get_status_by(instance_id_prefix=prefix))}
    assert got == set(ids)


# =========================================================================== raise_event

def test_raise_event_delivers_the_data(client, run, uid):
    instance_id = uid()
    start_events_in_order_running(instance_id)
    values = [1, {"k": "v"}, "three"]
    for v in values:
        assert run(client.raise_event(instance_id, "Item", v)) is None
    s = wait_terminal(instance_id)
    assert s["runtimeStatus"] == "Completed", s
    assert s["output"] == values


def test_raise_event_approves_a_typed_wait(client, run, uid):
    instance_id = uid()
    raw_start("ApprovalWorkflow", instance_id, {"timeoutSeconds": 60})
    wait_status(instance_id, lambda s: s.get("customStatus") == "Waiting for approval", what="waiting")
    run(client.raise_event(instance_id, "Approval", True))
    s = wait_terminal(instance_id)
    try:
        assert s["runtimeStatus"] == "Completed", s
        assert s["output"] == "Approved"
    finally:
        raw_terminate(instance_id)


def test_raise_event_with_task_hub_and_connection(client, run, uid):
    instance_id = uid()
    start_events_in_order_running(instance_id)
    for _ in range(3):
        run(client.raise_event(instance_id, "Item", None, task_hub_name=HUB, connection_name=CONNECTION))
    s = wait_terminal(instance_id)
    assert s["runtimeStatus"] == "Completed", s
    assert len(s["output"]) == 3


def test_raise_event_unknown_instance_raises(client, run, uid):
    with pytest.raises(Exception) as err:
        run(client.raise_event(uid("missing"), "Item", 1))
    assert "No instance with ID" in str(err.value)


def test_raise_event_finished_instance_raises(client, run, uid):
    instance_id = uid()
    start_completed_hello(instance_id)
    with pytest.raises(Exception) as err:
        run(client.raise_event(instance_id, "Item", 1))
    assert "gone" in str(err.value)


# =========================================================================== terminate / suspend / resume

def test_terminate_running_instance(client, run, uid):
    instance_id = uid()
    start_events_in_order_running(instance_id)
    assert run(client.terminate(instance_id, "stopped by test")) is None
    s = wait_terminal(instance_id)
    assert s["runtimeStatus"] == "Terminated"
    assert s["output"] == "stopped by test"


def test_terminate_finished_instance_returns_quietly(client, run, uid):
    instance_id = uid()
    start_completed_hello(instance_id)
    assert run(client.terminate(instance_id, "too late")) is None
    assert raw_status(instance_id)["json"]["runtimeStatus"] == "Completed"


def test_terminate_unknown_instance_raises(client, run, uid):
    with pytest.raises(Exception, match="No instance with ID"):
        run(client.terminate(uid("missing"), "nothing to stop"))


def test_suspend_running_instance(client, run, uid):
    instance_id = uid()
    start_events_in_order_running(instance_id)
    try:
        assert run(client.suspend(instance_id, "pause for test")) is None
        wait_runtime(instance_id, "Suspended")
        # Events that arrive while suspended are kept, not processed.
        for v in (1, 2, 3):
            raw_event(instance_id, "Item", v)
        time.sleep(0.8)
        assert raw_status(instance_id)["json"]["runtimeStatus"] == "Suspended"
    finally:
        raw_terminate(instance_id)


def test_resume_suspended_instance(client, run, uid):
    instance_id = uid()
    start_events_in_order_running(instance_id)
    assert raw("POST", f"/instances/{instance_id}/suspend?reason=setup")["status"] == 202
    wait_runtime(instance_id, "Suspended")
    for v in (1, 2, 3):
        raw_event(instance_id, "Item", v)
    assert run(client.resume(instance_id, "carry on")) is None
    s = wait_terminal(instance_id)
    assert s["runtimeStatus"] == "Completed", s
    assert s["output"] == [1, 2, 3]


def test_suspend_unknown_instance_raises(client, run, uid):
    with pytest.raises(Exception, match="No instance with ID"):
        run(client.suspend(uid("missing"), "r"))


def test_resume_unknown_instance_raises(client, run, uid):
    with pytest.raises(Exception, match="No instance with ID"):
        run(client.resume(uid("missing"), "r"))


# =========================================================================== rewind

def test_rewind_failed_instance(client, run, uid):
    instance_id = uid()
    marker = os.path.join(tempfile.mkdtemp(prefix="df-rewind-"), "fixed")
    raw_start("NeedsAFix", instance_id, marker)
    s = wait_terminal(instance_id)
    assert s["runtimeStatus"] == "Failed", s
    open(marker, "w").close()
    assert run(client.rewind(instance_id, "the file is there now")) is None
    # The rewind is queued (202): the instance may still read Failed for a moment.
    s = wait_runtime(instance_id, "Completed")
    assert s["output"] == ["Hello before!", "fixed", "Hello after!"]


def test_rewind_completed_instance_raises_with_the_reason(client, run, uid):
    """The extension refuses with 412 and a JSON-string body, which the client raises as the
    message; any other refusal ends in the client's "Received unexpected payload" fallback."""
    instance_id = uid()
    start_completed_hello(instance_id)
    with pytest.raises(Exception) as err:
        run(client.rewind(instance_id, "nothing to fix"))
    assert not str(err.value).startswith("Received unexpected payload"), err.value


def test_rewind_unknown_instance_raises(client, run, uid):
    with pytest.raises(Exception) as err:
        run(client.rewind(uid("missing"), "r"))
    assert "No instance with ID" in str(err.value)


# =========================================================================== restart

def _restarted_id(result):
    """restart() returns the response body when there is one (with the extension: the
    check-status payload, a dict) and the instance id otherwise."""
    if isinstance(result, dict):
        return result.get("id")
    return result


def test_restart_with_new_instance_id(client, run, uid):
    instance_id = uid()
    value = {"restart": "me", "n": 1}
    raw_start("RecordTick", instance_id, value)
    wait_terminal(instance_id)
    result = run(client.restart(instance_id))
    assert isinstance(result, (str, dict)), result
    new_id = _restarted_id(result)
    assert isinstance(new_id, str) and new_id and new_id != instance_id
    s = wait_terminal(new_id)
    assert s["runtimeStatus"] == "Completed"
    assert s["name"] == "RecordTick"
    assert s["output"] == value, "a restart runs again with the original input"


def test_restart_with_same_instance_id(client, run, uid):
    instance_id = uid()
    start_events_in_order_running(instance_id)
    for v in (1, 2, 3):
        raw_event(instance_id, "Item", v)
    assert wait_terminal(instance_id)["runtimeStatus"] == "Completed"
    result = run(client.restart(instance_id, restart_with_new_instance_id=False))
    assert _restarted_id(result) == instance_id
    try:
        # The instance runs again from the start: it waits for its events once more.
        s = wait_status(instance_id, lambda s: s["runtimeStatus"] in ("Pending", "Running"), what="running again")
        assert s["output"] is None
    finally:
        raw_terminate(instance_id)


def test_restart_unknown_instance_raises(client, run, uid):
    # The client's 404 branch, or the extension's own answer (400, "unexpected status code 400").
    with pytest.raises(Exception, match="No instance with ID|unexpected status code 400"):
        run(client.restart(uid("missing")))


# =========================================================================== purge

def test_purge_instance_history(client, run, uid):
    instance_id = uid()
    start_completed_hello(instance_id)
    result = run(client.purge_instance_history(instance_id))
    assert result.instances_deleted == 1
    assert raw_status(instance_id)["status"] == 404


def test_purge_instance_history_of_unknown_instance_deletes_nothing(client, run, uid):
    result = run(client.purge_instance_history(uid("missing")))
    assert result.instances_deleted == 0


def test_purge_instance_history_by(client, run, uid):
    t0 = utcnow() - dt.timedelta(seconds=2)
    done = [uid("a"), uid("b")]
    for i in done:
        start_completed_hello(i)
    running = uid("running")
    start_events_in_order_running(running)
    try:
        result = run(client.purge_instance_history_by(
            created_time_from=t0, created_time_to=utcnow() + dt.timedelta(seconds=2),
            runtime_status=[RS.Completed]))
        assert result.instances_deleted >= 2
        for i in done:
            assert raw_status(i)["status"] == 404, f"{i} was not purged"
        assert raw_status(running)["status"] in (200, 202), "a Running instance must not be purged"
    finally:
        raw_terminate(running)


def test_purge_instance_history_by_requires_created_time_from(client, run):
    with pytest.raises(ValueError):
        run(client.purge_instance_history_by(created_time_from=None))


# =========================================================================== wait_for_completion_or_create_check_status_response

REQUEST_URL = "http://app.example.test:8080/api/orchestrators/Start"


def request() -> func.HttpRequest:
    return func.HttpRequest(method="POST", url=REQUEST_URL, body=b"")


def test_wait_for_completion_returns_200_with_output(client, run, uid):
    instance_id = uid()
    raw_start("HelloCities", instance_id)
    resp = run(client.wait_for_completion_or_create_check_status_response(request(), instance_id, 15000, 200))
    assert resp.status_code == 200, resp.get_body()
    assert resp.headers.get("Content-Type") == "application/json"
    assert json.loads(resp.get_body()) == GREETINGS


def test_wait_for_completion_times_out_with_202_check_status(client, run, uid):
    instance_id = uid()
    start_events_in_order_running(instance_id)
    try:
        resp = run(client.wait_for_completion_or_create_check_status_response(request(), instance_id, 1500, 300))
        assert resp.status_code == 202
        payload = json.loads(resp.get_body())
        assert payload["id"] == instance_id
        assert resp.headers["Location"] == payload["statusQueryGetUri"]
        assert resp.headers["Retry-After"] == "10"
        assert payload["statusQueryGetUri"].startswith(f"http://app.example.test:8080/runtime/webhooks/durabletask/instances/{instance_id}?")
    finally:
        raw_terminate(instance_id)


def test_wait_for_completion_of_failed_instance_returns_500(client, run, uid):
    instance_id = uid()
    raw_start("UnhandledActivityFailure", instance_id)
    resp = run(client.wait_for_completion_or_create_check_status_response(request(), instance_id, 15000, 200))
    assert resp.status_code == 500
    body = json.loads(resp.get_body())
    assert body["runtimeStatus"] == "Failed"
    assert body["instanceId"] == instance_id


def test_wait_for_completion_of_terminated_instance_returns_200_with_status(client, run, uid):
    instance_id = uid()
    start_events_in_order_running(instance_id)
    raw("POST", f"/instances/{instance_id}/terminate?reason=stop")
    wait_runtime(instance_id, "Terminated")
    resp = run(client.wait_for_completion_or_create_check_status_response(request(), instance_id, 5000, 200))
    assert resp.status_code == 200
    body = json.loads(resp.get_body())
    assert body["runtimeStatus"] == "Terminated"
    assert body["output"] == "stop"


# =========================================================================== construction

def test_client_is_built_from_the_binding_json_string(binding_json):
    c = DurableOrchestrationClient(binding_json)
    assert c._orchestration_bindings.task_hub_name == HUB
    assert c._orchestration_bindings.rpc_base_url == binding_dict()["rpcBaseUrl"]


# =========================================================================== paging (keep last: makes >100 instances)

def test_get_status_all_with_more_than_one_page(client, run, uid):
    """The Python client reads only the first page (it ignores x-ms-continuation-token, and the
    extension's default page size is 100), so with more than 100 instances a Python user gets
    a full first page of distinct, valid statuses; instances past it are out of reach (the same
    against Azure)."""
    ids = [uid(f"n{i:03d}") for i in range(120)]
    for i in ids:
        raw_start("HelloCities", i)
    for i in ids:
        wait_terminal(i)
    statuses = run(client.get_status_all())
    listed = [s.instance_id for s in statuses]
    assert len(listed) >= 100, f"only {len(listed)} statuses in the first page"
    assert len(set(listed)) == len(listed), "duplicate instances in one page"
    assert all(s and s.runtime_status is not None and s.name for s in statuses)
