// Harness for driving a running durable-rs host with the official JS client
// (durable-functions 3.5.0, @azure/functions 4.16.5).
//
// Environment:
//   DURABLE_TEST_BASE_URL     the host, e.g. http://127.0.0.1:7071 (required)
//   DURABLE_TEST_SYSTEM_KEY   the host's system key ("" when it runs with --auth none)
//   DURABLE_TEST_TASK_HUB     default DurableFunctionsHub
//   DURABLE_TEST_WEBHOOK_PATH default /runtime/webhooks/durabletask
//   DURABLE_TEST_RPC_BASE_URL the binding's rpcBaseUrl (default BASE + WEBHOOK_PATH + "/")
//   DURABLE_TEST_JS_MODE      "rpc" (default: the binding has rpcBaseUrl, as a Functions host
//                             hands it over) or "legacy" (no rpcBaseUrl: the client calls the
//                             keyed webhook URLs of the binding)
//   DURABLE_TEST_LOG          JSON-lines file: one record per test with its HTTP exchanges
//
// The client is built the official way, df.getClient(context), from an InvocationContext whose
// extraInputs carry the binding object, outside any Functions worker.
"use strict";

const fs = require("node:fs");
const assert = require("node:assert/strict");
const { test } = require("node:test");
const crypto = require("node:crypto");

const df = require("durable-functions");
const { InvocationContext, HttpRequest } = require("@azure/functions");

const BASE = (process.env.DURABLE_TEST_BASE_URL || "").replace(/\/+$/, "");
if (!BASE) {
  throw new Error("set DURABLE_TEST_BASE_URL to the host's base URL, e.g. http://127.0.0.1:7071");
}
const KEY = process.env.DURABLE_TEST_SYSTEM_KEY || "";
const HUB = process.env.DURABLE_TEST_TASK_HUB || "DurableFunctionsHub";
const WEBHOOK_PATH = "/" + (process.env.DURABLE_TEST_WEBHOOK_PATH || "/runtime/webhooks/durabletask").replace(/^\/+|\/+$/g, "");
const WEBHOOK = BASE + WEBHOOK_PATH;
const RPC_BASE_URL = process.env.DURABLE_TEST_RPC_BASE_URL || WEBHOOK + "/";
const MODE = process.env.DURABLE_TEST_JS_MODE || "rpc";
const CONNECTION = "Storage";
const GREETINGS = ["Hello Tokyo!", "Hello Seattle!", "Hello London!"];
const TERMINAL = new Set(["Completed", "Failed", "Terminated", "Canceled"]);

// A Functions host sets WEBSITE_HOSTNAME; without it getClient rewrites every URL of the
// binding to http://localhost:7071.
process.env.WEBSITE_HOSTNAME = new URL(BASE).host;

/** The durable client binding a Functions host passes (the extension's shape, BindingHelper.cs). */
function bindingData() {
  const b = WEBHOOK;
  const codeQ = KEY ? `?code=${KEY}` : "";
  const codeA = KEY ? `&code=${KEY}` : "";
  const q = `taskHub=${HUB}&connection=${CONNECTION}${codeA}`;
  const data = {
    taskHubName: HUB,
    creationUrls: {
      createNewInstancePostUri: `${b}/orchestrators/{functionName}[/{instanceId}]${codeQ}`,
      createAndWaitOnNewInstancePostUri: `${b}/orchestrators/{functionName}[/{instanceId}]?timeout={timeoutInSeconds}&pollingInterval={intervalInSeconds}${codeA}`,
    },
    managementUrls: {
      id: "INSTANCEID",
      statusQueryGetUri: `${b}/instances/INSTANCEID?${q}`,
      sendEventPostUri: `${b}/instances/INSTANCEID/raiseEvent/{eventName}?${q}`,
      terminatePostUri: `${b}/instances/INSTANCEID/terminate?reason={text}&${q}`,
      rewindPostUri: `${b}/instances/INSTANCEID/rewind?reason={text}&${q}`,
      purgeHistoryDeleteUri: `${b}/instances/INSTANCEID?${q}`,
      restartPostUri: `${b}/instances/INSTANCEID/restart?${q}`,
      suspendPostUri: `${b}/instances/INSTANCEID/suspend?reason={text}&${q}`,
      resumePostUri: `${b}/instances/INSTANCEID/resume?reason={text}&${q}`,
    },
    baseUrl: b,
    requiredQueryStringParameters: KEY ? `code=${KEY}` : "",
    rpcBaseUrl: RPC_BASE_URL,
  };
  if (MODE === "legacy") delete data.rpcBaseUrl;
  return data;
}

// ------------------------------------------------------------------ wire recording

const EXCHANGES = [];

function pickHeaders(h) {
  const out = {};
  if (!h) return out;
  const obj = typeof h.toJSON === "function" ? h.toJSON() : h;
  for (const [k, v] of Object.entries(obj)) {
    if (["content-type", "location", "retry-after", "x-ms-continuation-token", "content-length"].includes(k.toLowerCase())) {
      out[k] = v;
    }
  }
  return out;
}

function bodyText(data) {
  if (data === undefined) return "";
  return typeof data === "string" ? data : JSON.stringify(data);
}

function record(client) {
  client.axiosInstance.interceptors.response.use(
    (res) => {
      EXCHANGES.push({
        via: "js-client",
        method: (res.config.method || "").toUpperCase(),
        url: res.config.url,
        request_headers: pickHeaders(res.config.headers),
        request_body: bodyText(res.config.data),
        status: res.status,
        response_headers: pickHeaders(res.headers),
        response_body: bodyText(res.data),
      });
      return res;
    },
    (err) => {
      EXCHANGES.push({
        via: "js-client",
        method: ((err.config && err.config.method) || "").toUpperCase(),
        url: err.config && err.config.url,
        request_body: bodyText(err.config && err.config.data),
        exception: String(err),
      });
      throw err;
    },
  );
  return client;
}

function formatExchanges() {
  return EXCHANGES.map((e) => {
    const lines = [`[${e.via}] ${e.method} ${e.url}`];
    const ct = e.request_headers && (e.request_headers["Content-Type"] || e.request_headers["content-type"]);
    if (ct || e.request_body) lines.push(`    > Content-Type: ${ct}  body: ${JSON.stringify(e.request_body)}`);
    if (e.exception) lines.push(`    < EXCEPTION ${e.exception}`);
    else lines.push(`    < ${e.status} ${JSON.stringify(e.response_headers)} ${String(e.response_body).slice(0, 600)}`);
    return lines.join("\n");
  }).join("\n");
}

// ------------------------------------------------------------------ client

/** The official path: getClient(context) with the binding as the durableClient extra input. */
function makeClient() {
  const input = df.input.durableClient();
  const ctx = new InvocationContext({
    invocationId: crypto.randomUUID(),
    functionName: "DurableClientTests",
    options: { extraInputs: [input] },
  });
  ctx.extraInputs.set(input, bindingData());
  return record(df.getClient(ctx));
}

// ------------------------------------------------------------------ tests

/**
 * test() with a fresh client per test, the test's HTTP exchanges appended to a failure's
 * message and written to DURABLE_TEST_LOG.
 */
function clientTest(name, fn, options = {}) {
  test(name, options, async (t) => {
    EXCHANGES.length = 0;
    const client = makeClient();
    let error;
    let skipped = null;
    const ctx = {
      t,
      client,
      uid: makeUid(name),
      skip(reason) { skipped = reason; t.skip(reason); },
    };
    try {
      await fn(ctx);
    } catch (e) {
      error = e;
    }
    if (process.env.DURABLE_TEST_LOG) {
      fs.appendFileSync(process.env.DURABLE_TEST_LOG, JSON.stringify({
        suite: `js-${MODE}`,
        test: name,
        outcome: options.todo ? (error ? "todo-failed" : "todo-passed") : error ? "failed" : skipped ? "skipped" : "passed",
        error: error ? String(error.message).slice(0, 2000) : null,
        exchanges: EXCHANGES.slice(),
      }) + "\n");
    }
    if (error) {
      if (EXCHANGES.length && error && typeof error === "object") {
        try {
          error.message = `${error.message}\n--- HTTP exchanges ---\n${formatExchanges()}`;
        } catch (_) { /* read-only message */ }
      }
      throw error;
    }
  });
}

function makeUid(name) {
  const stem = name.toLowerCase().replace(/[^a-z0-9]+/g, "-").replace(/^-|-$/g, "").slice(0, 40);
  const run = crypto.randomBytes(4).toString("hex");
  return (tag = "") => `js-${MODE}-${stem}-${tag}${tag ? "-" : ""}${run}`;
}

// ------------------------------------------------------------------ raw HTTP (set-up, checks)

async function raw(method, urlOrPath, { body, contentType, withKey = true } = {}) {
  let url = urlOrPath.startsWith("http") ? urlOrPath : WEBHOOK + urlOrPath;
  if (withKey && KEY && !url.includes("code=")) url += (url.includes("?") ? "&" : "?") + "code=" + KEY;
  const headers = {};
  if (contentType) headers["Content-Type"] = contentType;
  const entry = { via: "raw", method, url, request_headers: headers, request_body: body || "" };
  EXCHANGES.push(entry);
  const res = await fetch(url, { method, headers, body });
  const text = await res.text();
  entry.status = res.status;
  entry.response_headers = pickHeaders(Object.fromEntries(res.headers));
  entry.response_body = text;
  let json = null;
  try { json = text.trim() ? JSON.parse(text) : null; } catch (_) { json = text; }
  return { status: res.status, headers: res.headers, json, text };
}

async function rawStart(name, instanceId, input) {
  const opts = input === undefined ? {} : { body: JSON.stringify(input), contentType: "application/json" };
  const r = await raw("POST", `/orchestrators/${name}/${encodeURIComponent(instanceId)}`, opts);
  assert.equal(r.status, 202, `set-up start of ${name} failed: ${r.text}`);
  return r;
}

const rawStatus = (id, query = "") => raw("GET", `/instances/${encodeURIComponent(id)}${query}`);
const rawTerminate = (id) => raw("POST", `/instances/${encodeURIComponent(id)}/terminate?reason=cleanup`);
async function rawEvent(id, event, value) {
  const r = await raw("POST", `/instances/${encodeURIComponent(id)}/raiseEvent/${event}`, {
    body: JSON.stringify(value), contentType: "application/json",
  });
  assert.equal(r.status, 202, r.text);
}

const sleep = (ms) => new Promise((r) => setTimeout(r, ms));

async function waitStatus(id, pred, { timeout = 20000, what = "the expected state" } = {}) {
  const deadline = Date.now() + timeout;
  let last;
  let n = 0;
  while (Date.now() < deadline) {
    last = await rawStatus(id);
    n += 1;
    if (n > 2) EXCHANGES.splice(EXCHANGES.length - 2, 1); // keep the first and the last poll
    if ((last.status === 200 || last.status === 202) && last.json && typeof last.json === "object" && pred(last.json)) {
      return last.json;
    }
    await sleep(100);
  }
  throw new Error(`instance ${id} never reached ${what}; last: ${last && last.text}`);
}
const waitRuntime = (id, ...statuses) => waitStatus(id, (s) => statuses.includes(s.runtimeStatus), { what: statuses.join("/") });
const waitTerminal = (id) => waitStatus(id, (s) => TERMINAL.has(s.runtimeStatus), { what: "a terminal state" });

async function waitEntity(name, key, pred, timeout = 10000) {
  const deadline = Date.now() + timeout;
  let last;
  let n = 0;
  while (Date.now() < deadline) {
    last = await raw("GET", `/entities/${name}/${encodeURIComponent(key)}`);
    n += 1;
    if (n > 2) EXCHANGES.splice(EXCHANGES.length - 2, 1);
    if (pred(last)) return last;
    await sleep(100);
  }
  return last;
}

module.exports = {
  BASE, KEY, HUB, WEBHOOK_PATH, WEBHOOK, MODE, CONNECTION, GREETINGS, TERMINAL,
  df, HttpRequest, EXCHANGES,
  bindingData, makeClient, clientTest,
  raw, rawStart, rawStatus, rawTerminate, rawEvent, waitStatus, waitRuntime, waitTerminal, waitEntity, sleep,
};
