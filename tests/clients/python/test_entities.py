"""DurableOrchestrationClient entity methods: signal_entity, read_entity_state.

Counter entity (examples/src/counter.rs): ops ``add`` (an integer), ``reset``, ``get``, ``delete``.
"""

import json

import pytest
from azure.durable_functions import EntityId

from harness import CONNECTION, HUB, raw, wait_entity


def raw_signal(key: str, op: str, value=None) -> None:
    body = json.dumps(value).encode() if value is not None else None
    r = raw("POST", f"/entities/Counter/{key}?op={op}", body, "application/json" if body else None)
    assert r["status"] == 202, r


def state_is(value):
    return lambda r: r["status"] == 200 and r["json"] == value


def test_signal_entity_with_input(client, run, uid):
    key = uid()
    assert run(client.signal_entity(EntityId("Counter", key), "add", 5)) is None
    r = wait_entity("Counter", key, state_is(5))
    assert r["status"] == 200, f"the entity has no state after `add 5`: {r}"
    assert r["json"] == 5


def test_signal_entity_twice_adds_up(client, run, uid):
    key = uid()
    run(client.signal_entity(EntityId("Counter", key), "add", 2))
    run(client.signal_entity(EntityId("Counter", key), "add", 3))
    r = wait_entity("Counter", key, state_is(5))
    assert r["status"] == 200 and r["json"] == 5, r


def test_signal_entity_without_input(client, run, uid):
    key = uid()
    raw_signal(key, "add", 3)
    assert wait_entity("Counter", key, state_is(3))["json"] == 3
    assert run(client.signal_entity(EntityId("Counter", key), "reset")) is None
    r = wait_entity("Counter", key, state_is(0))
    assert r["status"] == 200 and r["json"] == 0, r


def test_signal_entity_with_task_hub_and_connection(client, run, uid):
    key = uid()
    run(client.signal_entity(EntityId("Counter", key), "reset", None,
                             task_hub_name=HUB, connection_name=CONNECTION))
    r = wait_entity("Counter", key, state_is(0))
    assert r["status"] == 200 and r["json"] == 0, r


def test_read_entity_state_of_existing_entity(client, run, uid):
    key = uid()
    raw_signal(key, "add", 7)
    assert wait_entity("Counter", key, state_is(7))["json"] == 7
    result = run(client.read_entity_state(EntityId("Counter", key)))
    assert result.entity_exists is True
    assert result.entity_state == 7


def test_read_entity_state_with_task_hub_and_connection(client, run, uid):
    key = uid()
    raw_signal(key, "add", 4)
    wait_entity("Counter", key, state_is(4))
    result = run(client.read_entity_state(EntityId("Counter", key), task_hub_name=HUB, connection_name=CONNECTION))
    assert result.entity_exists is True
    assert result.entity_state == 4


def test_read_entity_state_of_missing_entity(client, run, uid):
    result = run(client.read_entity_state(EntityId("Counter", uid("missing"))))
    assert result.entity_exists is False
    assert result.entity_state is None


def test_entity_listing(client):
    """GET entities[/{name}] exists on the host, but the Python client has no method for it."""
    methods = [m for m in dir(client) if "entit" in m.lower() and not m.startswith("_")]
    assert set(methods) == {"read_entity_state", "signal_entity"}, methods
    pytest.skip("azure-functions-durable 1.7.0 has no entity listing (only read_entity_state and signal_entity)")
