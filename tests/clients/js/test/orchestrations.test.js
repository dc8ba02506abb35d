// DurableClient (durable-functions 3.5.0) against a running durable-rs host: orchestration
// methods. Set-up and effect checks use plain HTTP (harness.raw*), so each test fails at the
// client method it is about. Orchestrators: see ../../python/test_client.py.
"use strict";

const assert = require("node:assert/strict");
const fs = require("node:fs");
const os = require("node:os");
const path = require("node:path");
const {
  df, HttpRequest, EXCHANGES, GREETINGS, HUB, CONNECTION, MODE,
  clientTest, raw, rawStart, rawStatus, rawTerminate, rawEvent, waitStatus, waitRuntime, waitTerminal, sleep,
} = require("./harness");

const RS = df.OrchestrationRuntimeStatus;
const TERMINAL_OR_FAILED = (s) => ["Completed", "Failed", "Terminated"].includes(s.runtimeStatus);

async function startRunningEventsInOrder(id) {
  await rawStart("EventsInOrder", id);
  await waitRuntime(id, "Running");
}

async function startCompletedHello(id) {
  await rawStart("HelloCities", id);
  const s = await waitTerminal(id);
  assert.equal(s.runtimeStatus, "Completed", JSON.stringify(s));
  return s;
}

// ============================================================ startNew

clientTest("startNew without instanceId returns a new id", async ({ client }) => {
  const id = await client.startNew("HelloCities");
  assert.equal(typeof id, "string");
  assert.ok(id.length > 0);
  const s = await waitTerminal(id);
  assert.equal(s.runtimeStatus, "Completed");
  assert.deepEqual(s.output, GREETINGS);
});

clientTest("startNew with instanceId returns that id", async ({ client, uid }) => {
  const wanted = uid();
  assert.equal(await client.startNew("HelloCities", { instanceId: wanted }), wanted);
  const s = await waitTerminal(wanted);
  assert.deepEqual(s.output, GREETINGS);
});

const INPUTS = {
  object: { a: 1, s: "x y", nested: { list: [1, 2.5, null, true] } },
  array: [1, "two", null, { three: 3 }],
  string: "plain text",
  integer: 42,
  float: 2.5,
  bool: true,
  null: null,
};
for (const [kind, value] of Object.entries(INPUTS)) {
  clientTest(`startNew input reaches the orchestrator (${kind})`, async ({ client, uid }) => {
    const id = await client.startNew("RecordTick", { instanceId: uid(), input: value });
    const s = await waitTerminal(id);
    assert.equal(s.runtimeStatus, "Completed", JSON.stringify(s));
    assert.deepEqual(s.output, value);
    assert.deepEqual(s.input, value);
  });
}

clientTest("startNew typed input (ApprovalWorkflow waits for approval)", async ({ client, uid }) => {
  const id = await client.startNew("ApprovalWorkflow", { instanceId: uid(), input: { timeoutSeconds: 60 } });
  try {
    const s = await waitStatus(id, (s) => s.customStatus != null || TERMINAL_OR_FAILED(s), { what: "a custom status" });
    assert.equal(s.runtimeStatus, "Running", JSON.stringify(s));
    assert.equal(s.customStatus, "Waiting for approval");
  } finally {
    await rawTerminate(id);
  }
});

clientTest("startNew without input (sends the body \"\")", async ({ client, uid }) => {
  const id = await client.startNew("HelloCities", { instanceId: uid() });
  const s = await waitTerminal(id);
  assert.equal(s.runtimeStatus, "Completed");
  assert.deepEqual(s.output, GREETINGS);
});

clientTest("startNew with a version (the query parameter is accepted)", async ({ client, uid }) => {
  const id = await client.startNew("HelloCities", { instanceId: uid(), version: "1.0 beta" });
  const s = await waitTerminal(id);
  assert.deepEqual(s.output, GREETINGS);
});

clientTest("startNew of an unknown orchestrator rejects", async ({ client, uid }) => {
  await assert.rejects(client.startNew("NoSuchOrchestrator", { instanceId: uid() }), /NoSuchOrchestrator/);
});

clientTest("startNew with the id of a running instance rejects", async ({ client, uid }) => {
  const id = uid();
  await startRunningEventsInOrder(id);
  try {
    // The generic error carries the host's body, which names the instance.
    await assert.rejects(client.startNew("EventsInOrder", { instanceId: id }), (e) => e.message.includes(id));
  } finally {
    await rawTerminate(id);
  }
});

// ============================================================ getStatus

clientTest("getStatus of a completed instance", async ({ client, uid }) => {
  const id = uid();
  await startCompletedHello(id);
  const s = await client.getStatus(id);
  assert.equal(s.name, "HelloCities");
  assert.equal(s.instanceId, id);
  assert.equal(s.runtimeStatus, RS.Completed);
  assert.deepEqual(s.output, GREETINGS);
  assert.ok(s.createdTime instanceof Date && !isNaN(s.createdTime));
  assert.ok(s.lastUpdatedTime instanceof Date && !isNaN(s.lastUpdatedTime));
  assert.ok(Math.abs(Date.now() - s.createdTime.getTime()) < 300000);
  assert.ok(s.lastUpdatedTime >= s.createdTime);
});

clientTest("getStatus of a running instance with a custom status", async ({ client, uid }) => {
  const id = uid();
  await rawStart("ApprovalWorkflow", id, { timeoutSeconds: 60 });
  try {
    await waitStatus(id, (s) => s.customStatus === "Waiting for approval", { what: "waiting" });
    const s = await client.getStatus(id);
    assert.equal(s.runtimeStatus, RS.Running);
    assert.equal(s.customStatus, "Waiting for approval");
    assert.equal(s.output, null);
  } finally {
    await rawTerminate(id);
  }
});

clientTest("getStatus showInput", async ({ client, uid }) => {
  const id = uid();
  const value = { a: 1, b: [1, 2], c: "x y" };
  await rawStart("RecordTick", id, value);
  await waitTerminal(id);
  const s = await client.getStatus(id, { showInput: true });
  assert.deepEqual(s.input, value);
});

function lastClientResponse() {
  const e = [...EXCHANGES].reverse().find((x) => x.via === "js-client");
  return e ? JSON.parse(e.response_body) : undefined;
}

clientTest("getStatus showHistory (the host sends historyEvents)", async ({ client, uid }) => {
  const id = uid();
  await startCompletedHello(id);
  const s = await client.getStatus(id, { showHistory: true });
  assert.equal(s.runtimeStatus, RS.Completed);
  // The 3.x client copies only `history` and drops the extension's `historyEvents` (a client
  // quirk, the same against Azure): check what the host answered on the wire.
  const wire = lastClientResponse();
  assert.ok(Array.isArray(wire.historyEvents), "no historyEvents in the host's answer");
  const types = wire.historyEvents.map((e) => e.EventType);
  assert.equal(types[0], "ExecutionStarted");
  assert.ok(types.includes("ExecutionCompleted"));
  assert.equal(types.filter((t) => t === "TaskCompleted").length, 3);
  assert.ok(wire.historyEvents.filter((e) => e.EventType === "TaskCompleted").every((e) => !("Result" in e)));
});

clientTest("getStatus showHistory + showHistoryOutput", async ({ client, uid }) => {
  const id = uid();
  await startCompletedHello(id);
  await client.getStatus(id, { showHistory: true, showHistoryOutput: true, showInput: true });
  const wire = lastClientResponse();
  assert.ok(Array.isArray(wire.historyEvents));
  assert.deepEqual(wire.historyEvents.filter((e) => e.EventType === "TaskCompleted").map((e) => e.Result), GREETINGS);
});

clientTest("getStatus history is exposed as status.history", async ({ client, uid }) => {
  const id = uid();
  await startCompletedHello(id);
  const s = await client.getStatus(id, { showHistory: true });
  assert.ok(Array.isArray(s.history), "status.history is undefined");
}, { todo: "client quirk: durable-functions 3.x reads `history`, the extension (and this host) send `historyEvents`" });

clientTest("getStatus of an unknown instance rejects with the 404", async ({ client, uid }) => {
  await assert.rejects(client.getStatus(uid("missing")), /HTTP 404/);
});

// ============================================================ getStatusAll / getStatusBy

clientTest("getStatusAll includes new instances", async ({ client, uid }) => {
  const ids = [uid("a"), uid("b")];
  for (const id of ids) await startCompletedHello(id);
  const all = await client.getStatusAll();
  assert.ok(Array.isArray(all), `not an array: ${JSON.stringify(all)}`);
  const byId = new Map(all.map((s) => [s.instanceId, s]));
  for (const id of ids) {
    assert.ok(byId.has(id), `${id} missing (${all.length} listed)`);
    assert.equal(byId.get(id).runtimeStatus, "Completed");
  }
});

clientTest("getStatusBy createdTimeFrom/createdTimeTo", async ({ client, uid }) => {
  const t0 = new Date(Date.now() - 2000);
  const ids = [uid("a"), uid("b")];
  for (const id of ids) await startCompletedHello(id);
  const t1 = new Date(Date.now() + 2000);
  const inside = new Set((await client.getStatusBy({ createdTimeFrom: t0, createdTimeTo: t1 })).map((s) => s.instanceId));
  for (const id of ids) assert.ok(inside.has(id), `${id} missing`);
  const before = new Set((await client.getStatusBy({ createdTimeTo: new Date(t0.getTime() - 60000) })).map((s) => s.instanceId));
  for (const id of ids) assert.ok(!before.has(id));
  const after = new Set((await client.getStatusBy({ createdTimeFrom: t1 })).map((s) => s.instanceId));
  for (const id of ids) assert.ok(!after.has(id));
});

clientTest("getStatusBy runtimeStatus", async ({ client, uid }) => {
  const t0 = new Date(Date.now() - 2000);
  const running = uid("running");
  const done = uid("done");
  await startRunningEventsInOrder(running);
  await startCompletedHello(done);
  try {
    let got = new Set((await client.getStatusBy({ createdTimeFrom: t0, runtimeStatus: [RS.Running] })).map((s) => s.instanceId));
    assert.ok(got.has(running) && !got.has(done));
    got = new Set((await client.getStatusBy({ createdTimeFrom: t0, runtimeStatus: [RS.Completed, RS.Failed] })).map((s) => s.instanceId));
    assert.ok(got.has(done) && !got.has(running));
  } finally {
    await rawTerminate(running);
  }
});

// ============================================================ raiseEvent

clientTest("raiseEvent delivers the data", async ({ client, uid }) => {
  const id = uid();
  await startRunningEventsInOrder(id);
  const values = [1, { k: "v" }, "three"];
  for (const v of values) assert.equal(await client.raiseEvent(id, "Item", v), undefined);
  const s = await waitTerminal(id);
  assert.equal(s.runtimeStatus, "Completed", JSON.stringify(s));
  assert.deepEqual(s.output, values);
});

clientTest("raiseEvent approves a typed wait", async ({ client, uid }) => {
  const id = uid();
  await rawStart("ApprovalWorkflow", id, { timeoutSeconds: 60 });
  await waitStatus(id, (s) => s.customStatus === "Waiting for approval", { what: "waiting" });
  await client.raiseEvent(id, "Approval", true);
  const s = await waitTerminal(id);
  assert.equal(s.runtimeStatus, "Completed", JSON.stringify(s));
  assert.equal(s.output, "Approved");
});

clientTest("raiseEvent without data (empty body) delivers null", async ({ client, uid }) => {
  const id = uid();
  await startRunningEventsInOrder(id);
  for (let i = 0; i < 3; i++) await client.raiseEvent(id, "Item", undefined);
  const s = await waitTerminal(id);
  assert.equal(s.runtimeStatus, "Completed", JSON.stringify(s));
  assert.deepEqual(s.output, [null, null, null]);
});

clientTest("raiseEvent with taskHubName and connectionName", async ({ client, uid }) => {
  const id = uid();
  await startRunningEventsInOrder(id);
  for (const v of [1, 2, 3]) await client.raiseEvent(id, "Item", v, { taskHubName: HUB, connectionName: CONNECTION });
  const s = await waitTerminal(id);
  assert.deepEqual(s.output, [1, 2, 3]);
});

clientTest("raiseEvent to an unknown instance rejects", async ({ client, uid }) => {
  await assert.rejects(client.raiseEvent(uid("missing"), "Item", 1), /No instance with ID/);
});

clientTest("raiseEvent to a finished instance resolves (410)", async ({ client, uid }) => {
  const id = uid();
  await startCompletedHello(id);
  assert.equal(await client.raiseEvent(id, "Item", 1), undefined);
});

// ============================================================ terminate / suspend / resume

clientTest("terminate a running instance", async ({ client, uid }) => {
  const id = uid();
  await startRunningEventsInOrder(id);
  assert.equal(await client.terminate(id, "stopped by test"), undefined);
  const s = await waitTerminal(id);
  assert.equal(s.runtimeStatus, "Terminated");
  assert.equal(s.output, "stopped by test");
});

clientTest("terminate a finished instance resolves", async ({ client, uid }) => {
  const id = uid();
  await startCompletedHello(id);
  assert.equal(await client.terminate(id, "too late"), undefined);
  assert.equal((await rawStatus(id)).json.runtimeStatus, "Completed");
});

clientTest("terminate an unknown instance rejects", async ({ client, uid }) => {
  await assert.rejects(client.terminate(uid("missing"), "r"), /No instance with ID/);
});

clientTest("suspend a running instance", async ({ client, uid }) => {
  const id = uid();
  await startRunningEventsInOrder(id);
  try {
    assert.equal(await client.suspend(id, "pause for test"), undefined);
    await waitRuntime(id, "Suspended");
    for (const v of [1, 2, 3]) await rawEvent(id, "Item", v);
    await sleep(800);
    assert.equal((await rawStatus(id)).json.runtimeStatus, "Suspended");
  } finally {
    await rawTerminate(id);
  }
});

clientTest("resume a suspended instance", async ({ client, uid }) => {
  const id = uid();
  await startRunningEventsInOrder(id);
  assert.equal((await raw("POST", `/instances/${id}/suspend?reason=setup`)).status, 202);
  await waitRuntime(id, "Suspended");
  for (const v of [1, 2, 3]) await rawEvent(id, "Item", v);
  assert.equal(await client.resume(id, "carry on"), undefined);
  const s = await waitTerminal(id);
  assert.equal(s.runtimeStatus, "Completed");
  assert.deepEqual(s.output, [1, 2, 3]);
});

clientTest("suspend an unknown instance rejects", async ({ client, uid }) => {
  await assert.rejects(client.suspend(uid("missing"), "r"), /No instance with ID/);
});

clientTest("resume an unknown instance rejects", async ({ client, uid }) => {
  await assert.rejects(client.resume(uid("missing"), "r"), /No instance with ID/);
});

// ============================================================ rewind

async function failedNeedsAFix(id) {
  const marker = path.join(fs.mkdtempSync(path.join(os.tmpdir(), "df-rewind-")), "fixed");
  await rawStart("NeedsAFix", id, marker);
  const s = await waitTerminal(id);
  assert.equal(s.runtimeStatus, "Failed", JSON.stringify(s));
  return marker;
}

clientTest("rewind a failed instance", async ({ client, uid }) => {
  const id = uid();
  const marker = await failedNeedsAFix(id);
  fs.writeFileSync(marker, "");
  assert.equal(await client.rewind(id, "the file is there now"), undefined);
  // The rewind is queued (202): the instance may still read Failed for a moment.
  const s = await waitRuntime(id, "Completed");
  assert.deepEqual(s.output, ["Hello before!", "fixed", "Hello after!"]);
});

clientTest("rewind with taskHubName and connectionName", async ({ client, uid }) => {
  const id = uid();
  const marker = await failedNeedsAFix(id);
  fs.writeFileSync(marker, "");
  await client.rewind(id, "fixed", { taskHubName: HUB, connectionName: CONNECTION });
  assert.equal((await waitRuntime(id, "Completed")).runtimeStatus, "Completed");
});

clientTest("rewind a completed instance rejects with the reason (412)", async ({ client, uid }) => {
  // The client's 412 branch rejects with the body (the extension sends a JSON string) or a fixed
  // message; any other status ends in the generic "unexpected status code" error.
  const id = uid();
  await startCompletedHello(id);
  await assert.rejects(client.rewind(id, "nothing to fix"), (e) => !/unexpected status code/.test(e.message));
});

clientTest("rewind an unknown instance rejects naming the instance", async ({ client, uid }) => {
  // 404: the client rejects with new Error(response.data || fixed message): a JSON-string body
  // (the extension's, on the RPC endpoint) becomes the message. The public API answers every
  // error as {"message": ...}, which this client turns into "[object Object]": in legacy mode
  // (no rpcBaseUrl) only the rejection itself is checked.
  const id = uid("missing");
  const names = process.env.DURABLE_TEST_JS_MODE === "legacy" ? () => true : (e) => e.message.includes(id);
  await assert.rejects(client.rewind(id, "r"), names);
});

// ============================================================ purge

clientTest("purgeInstanceHistory", async ({ client, uid }) => {
  const id = uid();
  await startCompletedHello(id);
  const r = await client.purgeInstanceHistory(id);
  assert.equal(r.instancesDeleted, 1);
  assert.equal((await rawStatus(id)).status, 404);
});

clientTest("purgeInstanceHistory of an unknown instance deletes nothing", async ({ client, uid }) => {
  const r = await client.purgeInstanceHistory(uid("missing"));
  assert.equal(r.instancesDeleted, 0);
});

clientTest("purgeInstanceHistoryBy", async ({ client, uid }) => {
  const t0 = new Date(Date.now() - 2000);
  const done = [uid("a"), uid("b")];
  for (const id of done) await startCompletedHello(id);
  const running = uid("running");
  await startRunningEventsInOrder(running);
  try {
    const r = await client.purgeInstanceHistoryBy({
      createdTimeFrom: t0, createdTimeTo: new Date(Date.now() + 2000), runtimeStatus: [RS.Completed],
    });
    assert.ok(r.instancesDeleted >= 2, JSON.stringify(r));
    for (const id of done) assert.equal((await rawStatus(id)).status, 404, `${id} was not purged`);
    assert.ok([200, 202].includes((await rawStatus(running)).status), "a Running instance must not be purged");
  } finally {
    await rawTerminate(running);
  }
});

// ============================================================ waitForCompletionOrCreateCheckStatusResponse

const REQUEST_URL = "http://app.example.test:8080/api/orchestrators/Start";
const request = () => new HttpRequest({ method: "POST", url: REQUEST_URL });

clientTest("waitForCompletion: completes in time -> 200 with the output", async ({ client, uid }) => {
  const id = uid();
  await rawStart("HelloCities", id);
  const resp = await client.waitForCompletionOrCreateCheckStatusResponse(request(), id, {
    timeoutInMilliseconds: 15000, retryIntervalInMilliseconds: 200,
  });
  assert.equal(resp.status, 200);
  assert.deepEqual(await resp.json(), GREETINGS);
});

clientTest("waitForCompletion: does not complete -> 202 check-status", async ({ client, uid }) => {
  const id = uid();
  await startRunningEventsInOrder(id);
  try {
    const resp = await client.waitForCompletionOrCreateCheckStatusResponse(request(), id, {
      timeoutInMilliseconds: 1500, retryIntervalInMilliseconds: 300,
    });
    assert.equal(resp.status, 202);
    const payload = await resp.json();
    assert.equal(payload.id, id);
    assert.equal(resp.headers.get("Location"), payload.statusQueryGetUri);
    assert.equal(resp.headers.get("Retry-After"), "10");
    assert.ok(payload.statusQueryGetUri.startsWith(`http://app.example.test:8080/runtime/webhooks/durabletask/instances/${id}?`));
  } finally {
    await rawTerminate(id);
  }
});

clientTest("waitForCompletion: failed -> 500 with the status", async ({ client, uid }) => {
  const id = uid();
  await rawStart("UnhandledActivityFailure", id);
  const resp = await client.waitForCompletionOrCreateCheckStatusResponse(request(), id, {
    timeoutInMilliseconds: 15000, retryIntervalInMilliseconds: 200,
  });
  assert.equal(resp.status, 500);
  const body = await resp.json();
  assert.equal(body.runtimeStatus, "Failed");
  assert.equal(body.instanceId, id);
});

clientTest("waitForCompletion: terminated -> 200 with the status", async ({ client, uid }) => {
  const id = uid();
  await startRunningEventsInOrder(id);
  await raw("POST", `/instances/${id}/terminate?reason=stop`);
  await waitRuntime(id, "Terminated");
  const resp = await client.waitForCompletionOrCreateCheckStatusResponse(request(), id, {
    timeoutInMilliseconds: 5000, retryIntervalInMilliseconds: 200,
  });
  assert.equal(resp.status, 200);
  const body = await resp.json();
  assert.equal(body.runtimeStatus, "Terminated");
  assert.equal(body.output, "stop");
});

// ============================================================ methods the 3.5.0 client does not have

clientTest("restart (not in durable-functions 3.5.0)", async ({ client, skip }) => {
  assert.equal(typeof client.restart, "undefined");
  skip("durable-functions 3.5.0 has no restart");
});

// ============================================================ paging (keep last: makes >100 instances)

clientTest("getStatusAll follows continuation tokens to every instance", async ({ client, uid }) => {
  const ids = Array.from({ length: 120 }, (_, i) => uid(`n${String(i).padStart(3, "0")}`));
  for (const id of ids) await rawStart("HelloCities", id);
  for (const id of ids) await waitTerminal(id);
  EXCHANGES.length = 0; // keep only the listing in the log
  const all = await client.getStatusAll();
  const listed = all.map((s) => s.instanceId);
  const unique = new Set(listed);
  const missing = ids.filter((id) => !unique.has(id));
  assert.equal(missing.length, 0, `${missing.length} of ${ids.length} missing (${unique.size} listed)`);
  const dups = listed.filter((id, i) => listed.indexOf(id) !== i);
  assert.deepEqual(dups, [], "instances listed twice across pages");
});
