"""The Python worker killed (SIGKILL, no goodbye) in the middle of a chain of activities
and started again: the orchestration finishes with the right output and no step that had
finished before the kill runs again. Needs a host no other worker is connected to, so it
runs in a pytest session of its own."""

import signal
import time

from durabletask import client as dt_client

from conftest import start_worker, stop_worker

Status = dt_client.OrchestrationStatus
STEPS = 8


def ledger_lines(ledger, iid):
    if not ledger.exists():
        return []
    return [int(line.split()[1]) for line in ledger.read_text().splitlines()
            if line.split()[0] == iid]


def test_a_killed_worker_loses_nothing(client, uid, tmp_path):
    ledger = tmp_path / "ledger.txt"
    first = start_worker(ledger)
    iid = client.schedule_new_orchestration("slow_chain", input=STEPS, instance_id=uid("chain"))
    deadline = time.time() + 60
    while len(ledger_lines(ledger, iid)) < 3:
        assert time.time() < deadline, "the chain never got going"
        time.sleep(0.05)
    first.send_signal(signal.SIGKILL)
    first.wait(timeout=10)
    done_before_kill = ledger_lines(ledger, iid)

    # While no worker is connected the instance waits; it does not fail.
    time.sleep(1)
    state = client.get_orchestration_state(iid)
    assert state.runtime_status == Status.RUNNING, state

    second = start_worker(ledger)
    try:
        state = client.wait_for_orchestration_completion(iid, timeout=90)
    finally:
        stop_worker(second)
    assert state.runtime_status == Status.COMPLETED, state.failure_details
    assert state.get_output() == [step * 10 for step in range(STEPS)]

    runs = ledger_lines(ledger, iid)
    assert sorted(set(runs)) == list(range(STEPS)), runs
    # The last step seen before the kill may have finished without its result reaching
    # the host, so it may run again; every step before it ran exactly once.
    for step in done_before_kill[:-1]:
        assert runs.count(step) == 1, f"step {step} ran again: {runs}"
    assert all(runs.count(step) <= 2 for step in range(STEPS)), runs


def test_another_connected_worker_takes_over_a_killed_ones_work(client, uid, tmp_path):
    ledger = tmp_path / "ledger.txt"
    doomed = start_worker(ledger)
    survivor = start_worker(ledger)
    try:
        iids = [client.schedule_new_orchestration("slow_chain", input=STEPS, instance_id=uid("pair"))
                for _ in range(2)]
        deadline = time.time() + 60
        while sum(len(ledger_lines(ledger, iid)) for iid in iids) < 4:
            assert time.time() < deadline, "the chains never got going"
            time.sleep(0.05)
        doomed.send_signal(signal.SIGKILL)
        doomed.wait(timeout=10)
        # No restart: the surviving worker finishes both chains.
        for iid in iids:
            state = client.wait_for_orchestration_completion(iid, timeout=90)
            assert state.runtime_status == Status.COMPLETED, state.failure_details
            assert state.get_output() == [step * 10 for step in range(STEPS)]
            runs = ledger_lines(ledger, iid)
            assert sorted(set(runs)) == list(range(STEPS)), runs
            assert all(runs.count(step) <= 2 for step in range(STEPS)), runs
    finally:
        stop_worker(survivor)
