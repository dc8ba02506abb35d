// createCheckStatusResponse / createHttpManagementPayload (no HTTP call by the client; they copy
// the binding's managementUrls), plus construction of the client from binding data.
"use strict";

const assert = require("node:assert/strict");
const { DurableClient } = require("durable-functions/lib/src/durableClient/DurableClient");
const { BASE, HUB, KEY, WEBHOOK_PATH, CONNECTION, HttpRequest, bindingData, clientTest } = require("./harness");

const REQUEST_URL = "http://app.example.test:8080/api/orchestrators/Start?x=1";

function expectedLinks(id, origin) {
  const out = {};
  for (const [k, v] of Object.entries(bindingData().managementUrls)) {
    out[k] = (origin ? v.replace(BASE, origin) : v).replace("INSTANCEID", id);
  }
  return out;
}

clientTest("createCheckStatusResponse", async ({ client, uid }) => {
  const id = uid();
  const resp = client.createCheckStatusResponse(new HttpRequest({ method: "POST", url: REQUEST_URL }), id);
  assert.equal(resp.status, 202);
  const payload = await resp.json();
  assert.deepEqual(payload, expectedLinks(id, "http://app.example.test:8080"));
  const q = `taskHub=${HUB}&connection=${CONNECTION}${KEY ? `&code=${KEY}` : ""}`;
  assert.equal(payload.statusQueryGetUri, `http://app.example.test:8080${WEBHOOK_PATH}/instances/${id}?${q}`);
  assert.equal(resp.headers.get("Location"), payload.statusQueryGetUri);
  assert.equal(resp.headers.get("Retry-After"), "10");
  assert.match(resp.headers.get("Content-Type"), /^application\/json/);
});

clientTest("createCheckStatusResponse without a request keeps the binding's origin", async ({ client, uid }) => {
  const id = uid();
  const resp = client.createCheckStatusResponse(undefined, id);
  assert.deepEqual(await resp.json(), expectedLinks(id));
});

clientTest("createHttpManagementPayload", async ({ client, uid }) => {
  const id = uid();
  const payload = client.createHttpManagementPayload(id);
  assert.deepEqual(payload, expectedLinks(id));
  assert.deepEqual(Object.keys(payload).sort(), [
    "id", "purgeHistoryDeleteUri", "restartPostUri", "resumePostUri", "rewindPostUri",
    "sendEventPostUri", "statusQueryGetUri", "suspendPostUri", "terminatePostUri",
  ]);
});

clientTest("getClient and new DurableClient build the same client", async ({ client }) => {
  assert.equal(client.constructor.name, "DurableClient");
  const direct = new DurableClient(bindingData());
  assert.equal(direct.taskHubName, HUB);
  assert.equal(client.taskHubName, HUB);
  assert.deepEqual(client.clientData, direct.clientData);
  assert.deepEqual(client.uniqueWebhookOrigins, [BASE]);
});
