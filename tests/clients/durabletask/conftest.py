"""pytest wiring for the Durable Task SDK suite (the `durabletask` package from PyPI)
against a running durable-rs host's gRPC service.

Configuration (environment):

* ``DURABLE_TEST_GRPC_ADDRESS`` the host's ``--grpc-listen`` address, e.g. ``127.0.0.1:4001``
  (required)
* ``DURABLE_TEST_SYSTEM_KEY``   the host's system key, sent as ``x-functions-key`` metadata
"""

import os
import subprocess
import uuid

import pytest
from durabletask import client as dt_client

ADDRESS = os.environ.get("DURABLE_TEST_GRPC_ADDRESS", "")
KEY = os.environ.get("DURABLE_TEST_SYSTEM_KEY", "")
METADATA = [("x-functions-key", KEY)] if KEY else None


def pytest_configure(config):
    if not ADDRESS:
        raise pytest.UsageError("set DURABLE_TEST_GRPC_ADDRESS to the host's --grpc-listen address")


@pytest.fixture
def client():
    c = dt_client.TaskHubGrpcClient(host_address=ADDRESS, metadata=METADATA)
    yield c
    c.close()


@pytest.fixture
def uid():
    """A fresh instance id per call, so tests never share instances."""
    return lambda prefix="py": f"{prefix}-{uuid.uuid4().hex[:12]}"


def start_worker(ledger):
    """Starts worker_app.py in a process of its own, its output in a log next to the
    ledger (a pipe nobody reads would fill and stall it); returns it once it runs."""
    import sys
    import time

    env = dict(os.environ, DURABLE_TEST_LEDGER=str(ledger))
    here = os.path.dirname(os.path.abspath(__file__))
    log_path = f"{ledger}.worker.log"
    with open(log_path, "a") as log:
        process = subprocess.Popen(
            [sys.executable, "-u", os.path.join(here, "worker_app.py")],
            env=env,
            stdout=log,
            stderr=subprocess.STDOUT,
        )
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline:
        with open(log_path) as log:
            if "worker started" in log.read():
                return process
        if process.poll() is not None:
            break
        time.sleep(0.1)
    process.kill()
    with open(log_path) as log:
        raise AssertionError(f"the worker did not start:\n{log.read()}")


def stop_worker(process):
    process.terminate()
    try:
        process.wait(timeout=20)
    except subprocess.TimeoutExpired:
        process.kill()
