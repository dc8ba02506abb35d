"""Harness for driving a running durable-rs host with the official Python client
(azure-functions-durable 1.7.0).

Configuration (environment):

* ``DURABLE_TEST_BASE_URL``   the host, e.g. ``http://127.0.0.1:7071`` (required)
* ``DURABLE_TEST_SYSTEM_KEY`` the host's system key; empty when it runs with ``--auth none``
* ``DURABLE_TEST_TASK_HUB``   task hub name (default ``DurableFunctionsHub``)
* ``DURABLE_TEST_WEBHOOK_PATH`` (default ``/runtime/webhooks/durabletask``)
* ``DURABLE_TEST_RPC_BASE_URL`` what the binding's ``rpcBaseUrl`` says (default
  ``BASE + WEBHOOK_PATH + "/"``, the public management API; the Python client sends every
  call there, without any key)
* ``DURABLE_TEST_LOG``        if set, a JSON-lines file that gets one record per test with
  every HTTP exchange the test made (the client's, on the wire, and the raw set-up calls)

The client is built exactly as a Functions host hands it over: from the JSON *string* of the
durable client binding (``DurableOrchestrationClient(binding_json, invocation_id)``).

Every HTTP exchange of the client is recorded on the wire (an aiohttp ``TraceConfig`` on the
client's shared session) and printed in the report of a failing test.
"""

import asyncio
import json
import os
import time
import urllib.error
import urllib.parse
import urllib.request
import uuid
from typing import Any, Callable, Dict, List, Optional

import aiohttp
import pytest

from azure.durable_functions import DurableOrchestrationClient
from azure.durable_functions.models.utils import http_utils

# --------------------------------------------------------------------------- configuration

BASE = os.environ.get("DURABLE_TEST_BASE_URL", "").rstrip("/")
KEY = os.environ.get("DURABLE_TEST_SYSTEM_KEY", "")
HUB = os.environ.get("DURABLE_TEST_TASK_HUB", "DurableFunctionsHub")
WEBHOOK_PATH = "/" + os.environ.get("DURABLE_TEST_WEBHOOK_PATH", "/runtime/webhooks/durabletask").strip("/")
WEBHOOK = BASE + WEBHOOK_PATH
RPC_BASE_URL = os.environ.get("DURABLE_TEST_RPC_BASE_URL", WEBHOOK + "/")
CONNECTION = "Storage"

GREETINGS = ["Hello Tokyo!", "Hello Seattle!", "Hello London!"]
TERMINAL = {"Completed", "Failed", "Terminated", "Canceled"}


def pytest_configure(config):
    if not BASE:
        raise pytest.UsageError("set DURABLE_TEST_BASE_URL to the host's base URL, e.g. http://127.0.0.1:7071")


def binding_dict(base: str = None, key: str = None) -> Dict[str, Any]:
    """The durable client binding a Functions host passes (the extension's shape, BindingHelper.cs)."""
    b = (base or BASE).rstrip("/") + WEBHOOK_PATH
    key = KEY if key is None else key
    code_q = f"?code={key}" if key else ""
    code_a = f"&code={key}" if key else ""
    q = f"taskHub={HUB}&connection={CONNECTION}{code_a}"
    return {
        "taskHubName": HUB,
        "creationUrls": {
            "createNewInstancePostUri": f"{b}/orchestrators/{{functionName}}[/{{instanceId}}]{code_q}",
            "createAndWaitOnNewInstancePostUri": (
                f"{b}/orchestrators/{{functionName}}[/{{instanceId}}]"
                f"?timeout={{timeoutInSeconds}}&pollingInterval={{intervalInSeconds}}{code_a}"
            ),
        },
        "managementUrls": {
            "id": "INSTANCEID",
            "statusQueryGetUri": f"{b}/instances/INSTANCEID?{q}",
            "sendEventPostUri": f"{b}/instances/INSTANCEID/raiseEvent/{{eventName}}?{q}",
            "terminatePostUri": f"{b}/instances/INSTANCEID/terminate?reason={{text}}&{q}",
            "rewindPostUri": f"{b}/instances/INSTANCEID/rewind?reason={{text}}&{q}",
            "purgeHistoryDeleteUri": f"{b}/instances/INSTANCEID?{q}",
            "restartPostUri": f"{b}/instances/INSTANCEID/restart?{q}",
            "suspendPostUri": f"{b}/instances/INSTANCEID/suspend?reason={{text}}&{q}",
            "resumePostUri": f"{b}/instances/INSTANCEID/resume?reason={{text}}&{q}",
        },
        "baseUrl": b,
        "requiredQueryStringParameters": f"code={key}" if key else "",
        "rpcBaseUrl": RPC_BASE_URL,
    }


# --------------------------------------------------------------------------- wire recording

EXCHANGES: List[Dict[str, Any]] = []


def _text(chunks: List[bytes]) -> str:
    data = b"".join(chunks)
    try:
        return data.decode("utf-8")
    except UnicodeDecodeError:
        return repr(data)


def _trace_config() -> aiohttp.TraceConfig:
    tc = aiohttp.TraceConfig()

    async def on_start(session, ctx, params):
        ctx.entry = {
            "via": "python-client",
            "method": params.method,
            "url": str(params.url),
            "request_headers": {},
            "_req": [],
            "_res": [],
        }
        EXCHANGES.append(ctx.entry)

    async def on_headers_sent(session, ctx, params):
        ctx.entry["request_headers"] = dict(params.headers)

    async def on_chunk_sent(session, ctx, params):
        ctx.entry["_req"].append(params.chunk)

    async def on_chunk_received(session, ctx, params):
        ctx.entry["_res"].append(params.chunk)

    async def on_end(session, ctx, params):
        ctx.entry["status"] = params.response.status
        ctx.entry["response_headers"] = {
            k: v for k, v in params.response.headers.items()
            if k.lower() in ("content-type", "location", "retry-after", "x-ms-continuation-token")
        }

    async def on_exception(session, ctx, params):
        ctx.entry["exception"] = repr(params.exception)

    tc.on_request_start.append(on_start)
    tc.on_request_headers_sent.append(on_headers_sent)
    tc.on_request_chunk_sent.append(on_chunk_sent)
    tc.on_response_chunk_received.append(on_chunk_received)
    tc.on_request_end.append(on_end)
    tc.on_request_exception.append(on_exception)
    return tc


def _finish(entry: Dict[str, Any]) -> Dict[str, Any]:
    out = {k: v for k, v in entry.items() if not k.startswith("_")}
    if "_req" in entry:
        out["request_body"] = _text(entry["_req"])
    if "_res" in entry:
        out["response_body"] = _text(entry["_res"])
    return out


def format_exchanges(entries: List[Dict[str, Any]]) -> str:
    lines = []
    for e in map(_finish, entries):
        hdr = e.get("request_headers", {})
        ct = hdr.get("Content-Type") or hdr.get("content-type")
        lines.append(f"[{e['via']}] {e['method']} {e['url']}")
        if ct or e.get("request_body"):
            lines.append(f"    > Content-Type: {ct}  body: {e.get('request_body', '')!r}")
        if "exception" in e:
            lines.append(f"    < EXCEPTION {e['exception']}")
        lines.append(f"    < {e.get('status')} {e.get('response_headers', {})} {e.get('response_body', '')[:600]}")
    return "\n".join(lines)


@pytest.hookimpl(hookwrapper=True)
def pytest_runtest_makereport(item, call):
    outcome = yield
    report = outcome.get_result()
    if report.when == "call" or (report.when == "setup" and report.failed):
        if EXCHANGES:
            if report.failed:
                report.sections.append(("HTTP exchanges", format_exchanges(EXCHANGES)))
        log = os.environ.get("DURABLE_TEST_LOG")
        if log:
            with open(log, "a", encoding="utf-8") as f:
                f.write(json.dumps({
                    "suite": "python",
                    "test": item.nodeid,
                    "outcome": report.outcome,
                    "error": (str(call.excinfo.value)[:2000] if call.excinfo else None),
                    "exchanges": [_finish(e) for e in EXCHANGES],
                }) + "\n")


@pytest.fixture(autouse=True)
def _clear_exchanges():
    EXCHANGES.clear()
    yield


# --------------------------------------------------------------------------- event loop + client

@pytest.fixture(scope="session")
def loop():
    """One event loop for the whole run: the client's aiohttp session is a module global that
    belongs to the loop it was made in."""
    lp = asyncio.new_event_loop()

    async def make_session():
        # Same settings as http_utils._get_session, plus the wire recorder.
        return aiohttp.ClientSession(
            timeout=aiohttp.ClientTimeout(total=240, sock_connect=10, sock_read=None),
            connector=aiohttp.TCPConnector(limit=30, limit_per_host=30, enable_cleanup_closed=True),
            trace_configs=[_trace_config()],
        )

    http_utils._client_session = lp.run_until_complete(make_session())
    yield lp
    lp.run_until_complete(http_utils._close_session())
    lp.close()


@pytest.fixture
def run(loop) -> Callable:
    return loop.run_until_complete


@pytest.fixture
def binding_json() -> str:
    return json.dumps(binding_dict())


@pytest.fixture
def client(binding_json, loop) -> DurableOrchestrationClient:
    # What DFApp.durable_client_input does: the binding JSON string plus the invocation id.
    return DurableOrchestrationClient(binding_json, str(uuid.uuid4()))


@pytest.fixture
def uid(request) -> Callable[[str], str]:
    """Unique instance ids / entity keys for this test."""
    stem = request.node.name.replace("[", "-").replace("]", "").replace("_", "-")[:40]
    run_tag = uuid.uuid4().hex[:8]

    def make(tag: str = "") -> str:
        return f"py-{stem}-{tag}{'-' if tag else ''}{run_tag}"
    return make


# --------------------------------------------------------------------------- raw HTTP (set-up and checks)

def raw(method: str, url_or_path: str, body: Optional[bytes] = None,
        content_type: Optional[str] = None, with_key: bool = True) -> Dict[str, Any]:
    """A plain HTTP call to the management API (with the system key when there is one), for
    setting up state and checking effects independently of the client method under test."""
    if url_or_path.startswith("http"):
        url = url_or_path
    else:
        url = WEBHOOK + url_or_path
    if with_key and KEY and "code=" not in url:
        url += ("&" if "?" in url else "?") + "code=" + KEY
    req = urllib.request.Request(url, data=body, method=method)
    if content_type:
        req.add_header("Content-Type", content_type)
    entry = {"via": "raw", "method": method, "url": url,
             "request_headers": {"Content-Type": content_type} if content_type else {},
             "_req": [body or b""], "_res": []}
    EXCHANGES.append(entry)
    try:
        with urllib.request.urlopen(req, timeout=30) as resp:
            status, headers, data = resp.status, dict(resp.headers), resp.read()
    except urllib.error.HTTPError as err:
        status, headers, data = err.code, dict(err.headers), err.read()
    entry["_res"].append(data)
    entry["status"] = status
    entry["response_headers"] = {k: v for k, v in headers.items() if k.lower() in ("content-type", "location")}
    text = data.decode("utf-8", "replace")
    try:
        parsed = json.loads(text) if text.strip() else None
    except ValueError:
        parsed = text
    return {"status": status, "headers": headers, "json": parsed, "text": text}


def raw_start(name: str, instance_id: str, input_value: Any = None, has_input: bool = False) -> Dict[str, Any]:
    """Starts an instance with a plain JSON body (as curl or the JS client would)."""
    body = json.dumps(input_value).encode() if has_input or input_value is not None else None
    r = raw("POST", f"/orchestrators/{name}/{urllib.parse.quote(instance_id)}", body,
            "application/json" if body is not None else None)
    assert r["status"] == 202, f"set-up start of {name} failed: {r}"
    return r


def raw_status(instance_id: str, query: str = "") -> Dict[str, Any]:
    return raw("GET", f"/instances/{urllib.parse.quote(instance_id)}{query}")


def wait_status(instance_id: str, pred: Callable[[Dict[str, Any]], bool], timeout: float = 20.0,
                what: str = "") -> Dict[str, Any]:
    """Polls GET /instances/{id} (raw) until pred(status json) holds; returns the status json."""
    deadline = time.monotonic() + timeout
    last = None
    n = 0
    while time.monotonic() < deadline:
        r = raw_status(instance_id)
        # Keep the log readable: only the first and the last poll stay in it.
        n += 1
        if n > 2:
            del EXCHANGES[-2]
        last = r
        if r["status"] in (200, 202) and isinstance(r["json"], dict) and pred(r["json"]):
            return r["json"]
        time.sleep(0.1)
    raise AssertionError(f"instance {instance_id} never reached {what or 'the expected state'}; last: {last}")


def wait_runtime(instance_id: str, *statuses: str, timeout: float = 20.0) -> Dict[str, Any]:
    return wait_status(instance_id, lambda s: s.get("runtimeStatus") in statuses, timeout, "/".join(statuses))


def wait_terminal(instance_id: str, timeout: float = 20.0) -> Dict[str, Any]:
    return wait_status(instance_id, lambda s: s.get("runtimeStatus") in TERMINAL, timeout, "a terminal state")


def wait_entity(name: str, key: str, pred: Callable[[Dict[str, Any]], bool], timeout: float = 10.0) -> Dict[str, Any]:
    deadline = time.monotonic() + timeout
    last = None
    n = 0
    while time.monotonic() < deadline:
        last = raw("GET", f"/entities/{name}/{urllib.parse.quote(key)}")
        n += 1
        if n > 2:
            del EXCHANGES[-2]
        if pred(last):
            return last
        time.sleep(0.1)
    return last
