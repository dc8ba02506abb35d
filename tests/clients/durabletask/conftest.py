"""pytest wiring for the Durable Task SDK suite (the `durabletask` package from PyPI)
against a running durable-rs host's gRPC service.

Configuration (environment):

* ``DURABLE_TEST_GRPC_ADDRESS`` the host's ``--grpc-listen`` address, e.g. ``127.0.0.1:4001``
  (required)
* ``DURABLE_TEST_SYSTEM_KEY``   the host's system key, sent as ``x-functions-key`` metadata
"""

import os
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
