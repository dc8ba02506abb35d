"""create_check_status_response / create_http_management_payload / get_client_response_links:
no HTTP call by the client, but the URLs it hands to end users come from the binding's
managementUrls (the public webhook URLs with the key), so the last tests check that the
host serves every one of them."""

import json
import os
import tempfile
import urllib.parse

import azure.functions as func

from harness import (
    BASE, GREETINGS, KEY, HUB, CONNECTION, WEBHOOK_PATH, binding_dict, raw, raw_start,
    wait_runtime, wait_terminal, wait_status,
)

REQUEST_URL = "http://app.example.test:8080/api/orchestrators/Start?x=1"
KEY_Q = f"&code={KEY}" if KEY else ""


def expected_links(instance_id: str, origin: str = None) -> dict:
    urls = dict(binding_dict()["managementUrls"])
    out = {}
    for k, v in urls.items():
        if origin:
            v = v.replace(BASE + "/", origin + "/")
        out[k] = v.replace("INSTANCEID", instance_id)
    return out


def test_create_check_status_response(client, uid):
    instance_id = uid()
    req = func.HttpRequest(method="POST", url=REQUEST_URL, body=b"")
    resp = client.create_check_status_response(req, instance_id)
    assert resp.status_code == 202
    payload = json.loads(resp.get_body())
    assert payload == expected_links(instance_id, "http://app.example.test:8080")
    assert payload["id"] == instance_id
    q = f"taskHub={HUB}&connection={CONNECTION}{KEY_Q}"
    assert payload["statusQueryGetUri"] == (
        f"http://app.example.test:8080{WEBHOOK_PATH}/instances/{instance_id}?{q}")
    assert payload["sendEventPostUri"] == (
        f"http://app.example.test:8080{WEBHOOK_PATH}/instances/{instance_id}/raiseEvent/{{eventName}}?{q}")
    assert payload["terminatePostUri"] == (
        f"http://app.example.test:8080{WEBHOOK_PATH}/instances/{instance_id}/terminate?reason={{text}}&{q}")
    assert resp.headers["Location"] == payload["statusQueryGetUri"]
    assert resp.headers["Retry-After"] == "10"
    assert resp.headers["Content-Type"] == "application/json"


def test_create_http_management_payload(client, uid):
    instance_id = uid()
    payload = client.create_http_management_payload(instance_id)
    assert payload == expected_links(instance_id)
    assert set(payload) == {"id", "statusQueryGetUri", "sendEventPostUri", "terminatePostUri",
                            "rewindPostUri", "purgeHistoryDeleteUri", "restartPostUri",
                            "suspendPostUri", "resumePostUri"}


def test_get_client_response_links(client, uid):
    instance_id = uid()
    req = func.HttpRequest(method="GET", url=REQUEST_URL, body=b"")
    assert client.get_client_response_links(req, instance_id) == expected_links(instance_id, "http://app.example.test:8080")
    assert client.get_client_response_links(None, instance_id) == expected_links(instance_id)


def _fill(url: str, **kw) -> str:
    for k, v in kw.items():
        url = url.replace("{" + k + "}", v)
    return url


def test_management_urls_are_served_by_the_host(client, uid):
    """An end user calls the URLs of the check-status payload as they are (taskHub, connection
    and, with keys on, code in the query)."""
    instance_id = uid()
    raw_start("EventsInOrder", instance_id)
    wait_runtime(instance_id, "Running")
    links = client.create_http_management_payload(instance_id)

    r = raw("GET", links["statusQueryGetUri"], with_key=False)
    assert r["status"] == 202 and r["json"]["instanceId"] == instance_id, r

    r = raw("POST", _fill(links["sendEventPostUri"], eventName="Item"), b"1", "application/json", with_key=False)
    assert r["status"] == 202, r

    r = raw("POST", _fill(links["suspendPostUri"], text="pause"), with_key=False)
    assert r["status"] == 202, r
    wait_runtime(instance_id, "Suspended")

    r = raw("POST", _fill(links["resumePostUri"], text="go"), with_key=False)
    assert r["status"] == 202, r
    wait_runtime(instance_id, "Running")

    r = raw("POST", _fill(links["terminatePostUri"], text="done"), with_key=False)
    assert r["status"] == 202, r
    s = wait_terminal(instance_id)
    assert s["runtimeStatus"] == "Terminated" and s["output"] == "done"

    r = raw("POST", links["restartPostUri"], with_key=False)
    assert r["status"] == 202, r
    assert r["json"]["id"] != instance_id
    raw("POST", f"/instances/{r['json']['id']}/terminate?reason=cleanup")

    r = raw("DELETE", links["purgeHistoryDeleteUri"], with_key=False)
    assert r["status"] == 200 and r["json"] == {"instancesDeleted": 1}, r


def test_rewind_url_is_served_by_the_host(client, uid):
    instance_id = uid()
    marker = os.path.join(tempfile.mkdtemp(prefix="df-rewind-"), "fixed")
    raw_start("NeedsAFix", instance_id, marker)
    assert wait_terminal(instance_id)["runtimeStatus"] == "Failed"
    open(marker, "w").close()
    links = client.create_http_management_payload(instance_id)
    r = raw("POST", _fill(links["rewindPostUri"], text="fixed"), with_key=False)
    assert r["status"] == 202, r
    assert wait_runtime(instance_id, "Completed")["runtimeStatus"] == "Completed"


def test_creation_urls_are_served_by_the_host(uid):
    creation = binding_dict()["creationUrls"]
    instance_id = uid()
    url = creation["createNewInstancePostUri"].replace("{functionName}", "HelloCities").replace(
        "[/{instanceId}]", "/" + urllib.parse.quote(instance_id))
    r = raw("POST", url, with_key=False)
    assert r["status"] == 202 and r["json"]["id"] == instance_id, r
    assert wait_terminal(instance_id)["output"] == GREETINGS

    instance_id = uid("wait")
    url = (creation["createAndWaitOnNewInstancePostUri"].replace("{functionName}", "HelloCities")
           .replace("[/{instanceId}]", "/" + instance_id)
           .replace("{timeoutInSeconds}", "15").replace("{intervalInSeconds}", "1"))
    r = raw("POST", url, with_key=False)
    assert r["status"] == 200 and r["json"] == GREETINGS, r
