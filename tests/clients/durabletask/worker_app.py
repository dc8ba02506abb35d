"""A Durable Task worker written with the Python SDK (`durabletask.worker`), as a user
would write one: orchestrators and activities in Python, some calling the host's Rust
functions. Run as a process of its own (the tests start, kill and restart it):

    python worker_app.py

Configuration (environment): ``DURABLE_TEST_GRPC_ADDRESS``, ``DURABLE_TEST_SYSTEM_KEY``,
and ``DURABLE_TEST_LEDGER`` (a file each run of ``slow_step`` appends a line to).
"""

import os
import signal
import threading
import time
from datetime import timedelta

from durabletask import entities, task, worker

ADDRESS = os.environ["DURABLE_TEST_GRPC_ADDRESS"]
KEY = os.environ.get("DURABLE_TEST_SYSTEM_KEY", "")
LEDGER = os.environ.get("DURABLE_TEST_LEDGER", "")


# ----------------------------------------------------------------------------- activities

def say_hello(ctx: task.ActivityContext, name: str) -> str:
    return f"Hello {name}!"


def shout(ctx: task.ActivityContext, text) -> str:
    return f"{text}".upper() + "!"


def refuse(ctx: task.ActivityContext, city: str) -> str:
    raise ValueError(f"no flights to {city}")


def slow_step(ctx: task.ActivityContext, step: int) -> int:
    time.sleep(0.4)
    if LEDGER:
        with open(LEDGER, "a") as ledger:
            ledger.write(f"{ctx.orchestration_id} {step}\n")
    return step * 10


# ------------------------------------------------------------------------------- entities

def tally(ctx: entities.EntityContext, input):
    """A Python entity: add (refusing to go below zero), get, forward (signals the Rust
    Counter entity with the same key) and start (starts the Rust HelloCities)."""
    total = ctx.get_state(int, 0)
    if ctx.operation == "add":
        if total + input < 0:
            raise ValueError(f"tally cannot go below zero (it is {total})")
        ctx.set_state(total + input)
    elif ctx.operation == "get":
        return total
    elif ctx.operation == "forward":
        ctx.signal_entity(entities.EntityInstanceId("Counter", ctx.entity_id.key), "add", input=total)
    elif ctx.operation == "start":
        ctx.schedule_new_orchestration("HelloCities", instance_id=input)
    else:
        raise ValueError(f"tally has no operation {ctx.operation}")
    return None


# -------------------------------------------------------------------------- orchestrators

def hello_cities(ctx: task.OrchestrationContext, _):
    results = []
    for city in ["Tokyo", "Seattle", "London"]:
        results.append((yield ctx.call_activity(say_hello, input=city)))
    return results


def fan_out(ctx: task.OrchestrationContext, count: int):
    calls = [ctx.call_activity(say_hello, input=f"city {i}") for i in range(count)]
    return (yield task.when_all(calls))


def calls_rust_activity(ctx: task.OrchestrationContext, city: str):
    # SayHello is the Rust example's activity.
    return (yield ctx.call_activity("SayHello", input=city))


def calls_rust_orchestration(ctx: task.OrchestrationContext, _):
    # HelloCities is the Rust example's orchestration.
    return (yield ctx.call_sub_orchestrator("HelloCities", instance_id=f"{ctx.instance_id}-child"))


def approval(ctx: task.OrchestrationContext, timeout_seconds: float):
    ctx.set_custom_status("waiting for approval")
    approved = ctx.wait_for_external_event("approval")
    timeout = ctx.create_timer(timedelta(seconds=timeout_seconds))
    winner = yield task.when_any([approved, timeout])
    if winner == approved:
        return {"approved": approved.get_result()}
    return "timed out"


def durable_timer(ctx: task.OrchestrationContext, seconds: float):
    began = ctx.current_utc_datetime
    yield ctx.create_timer(timedelta(seconds=seconds))
    return (ctx.current_utc_datetime - began).total_seconds()


def events_in_order(ctx: task.OrchestrationContext, _):
    items = []
    for _ in range(3):
        items.append((yield ctx.wait_for_external_event("item")))
    return items


def fails(ctx: task.OrchestrationContext, city: str):
    return (yield ctx.call_activity(refuse, input=city))


def catches(ctx: task.OrchestrationContext, city: str):
    try:
        yield ctx.call_activity(refuse, input=city)
    except task.TaskFailedError as failure:
        return f"caught: {failure.details.message}"
    return "not caught"


def counts_up(ctx: task.OrchestrationContext, n: int):
    if n < 3:
        ctx.continue_as_new(n + 1)
        return None
    return n


def uses_rust_counter(ctx: task.OrchestrationContext, key: str):
    # Counter is the Rust example's entity: a signal (one-way), then a call (two-way) that
    # sees it, then a call that fails (the counter refuses to go below zero).
    counter = entities.EntityInstanceId("Counter", key)
    ctx.signal_entity(counter, "add", input=5)
    after_signal = yield ctx.call_entity(counter, "get")
    try:
        yield ctx.call_entity(counter, "add", input=-100)
        refused = None
    except task.TaskFailedError as failure:
        refused = failure.details.message
    return {"value": after_signal, "refused": refused}


def uses_python_tally(ctx: task.OrchestrationContext, key: str):
    # Calls the Python tally entity through the host: two adds, a refused one, a get.
    counter = entities.EntityInstanceId("tally", key)
    yield ctx.call_entity(counter, "add", input=4)
    yield ctx.call_entity(counter, "add", input=3)
    try:
        yield ctx.call_entity(counter, "add", input=-100)
        refused = None
    except task.TaskFailedError as failure:
        refused = failure.details.message
    value = yield ctx.call_entity(counter, "get")
    return {"value": value, "refused": refused}


def slow_chain(ctx: task.OrchestrationContext, count: int):
    results = []
    for step in range(count):
        results.append((yield ctx.call_activity(slow_step, input=step)))
    return results


ORCHESTRATORS = [hello_cities, fan_out, calls_rust_activity, calls_rust_orchestration, approval,
                 durable_timer, events_in_order, fails, catches, counts_up, uses_rust_counter,
                 uses_python_tally, slow_chain]
ACTIVITIES = [say_hello, shout, refuse, slow_step]


def main():
    metadata = [("x-functions-key", KEY)] if KEY else None
    w = worker.TaskHubGrpcWorker(host_address=ADDRESS, metadata=metadata)
    for orchestrator in ORCHESTRATORS:
        w.add_orchestrator(orchestrator)
    for activity in ACTIVITIES:
        w.add_activity(activity)
    w.add_entity(tally)
    stop = threading.Event()
    signal.signal(signal.SIGTERM, lambda *_: stop.set())
    signal.signal(signal.SIGINT, lambda *_: stop.set())
    w.start()
    print("worker started", flush=True)
    stop.wait()
    w.stop()


if __name__ == "__main__":
    main()
