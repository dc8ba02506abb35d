// The Durable Task JavaScript SDK (@microsoft/durabletask-js, unchanged) against a
// durable-rs host's gRPC service: a worker with JavaScript orchestrators and activities
// beside the host's Rust functions, and the SDK's client.
//
// Configuration (environment): DURABLE_TEST_GRPC_ADDRESS (the host's --grpc-listen
// address, required) and DURABLE_TEST_SYSTEM_KEY (sent as x-functions-key metadata).

const { test, before, after } = require("node:test");
const assert = require("node:assert/strict");
const { randomUUID } = require("node:crypto");
const grpc = require("@grpc/grpc-js");
const {
  TaskHubGrpcClient,
  TaskHubGrpcWorker,
  OrchestrationStatus,
  NoOpLogger,
  whenAll,
  EntityInstanceId,
  TaskEntity,
} = require("@microsoft/durabletask-js");

const address = process.env.DURABLE_TEST_GRPC_ADDRESS;
if (!address) {
  throw new Error("set DURABLE_TEST_GRPC_ADDRESS to the host's --grpc-listen address");
}
const key = process.env.DURABLE_TEST_SYSTEM_KEY ?? "";
const metadataGenerator = async () => {
  const metadata = new grpc.Metadata();
  if (key) metadata.set("x-functions-key", key);
  return metadata;
};
const options = { hostAddress: address, metadataGenerator, logger: new NoOpLogger() };

// ------------------------------------------------------------------- the JavaScript app

const sayHello = (_ctx, city) => `Hello ${city}!`;
const whisper = (_ctx, text) => `${text}`.toLowerCase() + "...";

async function* helloCities(ctx) {
  const results = [];
  for (const city of ["Tokyo", "Seattle", "London"]) {
    results.push(yield ctx.callActivity(sayHello, city));
  }
  return results;
}

async function* fanOut(ctx, count) {
  const calls = [];
  for (let i = 0; i < count; i++) calls.push(ctx.callActivity(sayHello, `city ${i}`));
  return yield whenAll(calls);
}

// SayHello is the Rust example's activity.
async function* callsRustActivity(ctx, city) {
  return yield ctx.callActivity("SayHello", city);
}

async function* waitsForApproval(ctx) {
  const approval = yield ctx.waitForExternalEvent("approval");
  yield ctx.createTimer(1);
  return { approved: approval };
}

// A JavaScript entity: its methods are its operations.
class Tally extends TaskEntity {
  initializeState() {
    return 0;
  }
  add(amount) {
    this.state += amount;
  }
  get() {
    return this.state;
  }
}

async function* usesTally(ctx, key) {
  const tally = new EntityInstanceId("tally_js", key);
  yield ctx.entities.callEntity(tally, "add", 2);
  yield ctx.entities.callEntity(tally, "add", 3);
  return yield ctx.entities.callEntity(tally, "get");
}

let worker;
let client;

before(async () => {
  // "auto": the worker tells the host the names it registered, so the host hands it
  // only those (the Python suite's worker takes anything the host has no function for).
  worker = new TaskHubGrpcWorker({ ...options, workItemFilters: "auto" });
  worker.addActivity(sayHello); // named after the function: sayHello
  worker.addNamedActivity("whisper_js", whisper);
  worker.addNamedOrchestrator("hello_cities_js", helloCities);
  worker.addNamedOrchestrator("fan_out_js", fanOut);
  worker.addNamedOrchestrator("calls_rust_activity_js", callsRustActivity);
  worker.addNamedOrchestrator("waits_for_approval_js", waitsForApproval);
  worker.addNamedOrchestrator("uses_tally_js", usesTally);
  worker.addNamedEntity("tally_js", () => new Tally());
  await worker.start();
  client = new TaskHubGrpcClient(options);
});

after(async () => {
  await worker.stop();
  await client.stop();
});

async function run(name, input) {
  const id = await client.scheduleNewOrchestration(name, input, `js-${randomUUID()}`);
  const state = await client.waitForOrchestrationCompletion(id, true, 60);
  assert.ok(state, `${id} finished`);
  return state;
}

const output = (state) => JSON.parse(state.serializedOutput ?? "null");

test("HelloCities written in JavaScript runs on the host", async () => {
  const state = await run("hello_cities_js");
  assert.equal(state.runtimeStatus, OrchestrationStatus.COMPLETED, state.failureDetails?.message);
  assert.deepEqual(output(state), ["Hello Tokyo!", "Hello Seattle!", "Hello London!"]);
});

test("a JavaScript fan-out and fan-in", async () => {
  const state = await run("fan_out_js", 4);
  assert.equal(state.runtimeStatus, OrchestrationStatus.COMPLETED, state.failureDetails?.message);
  assert.deepEqual(output(state), [0, 1, 2, 3].map((i) => `Hello city ${i}!`));
});

test("a JavaScript orchestrator calls a Rust activity", async () => {
  const state = await run("calls_rust_activity_js", "Paris");
  assert.equal(state.runtimeStatus, OrchestrationStatus.COMPLETED, state.failureDetails?.message);
  assert.equal(output(state), "Hello Paris!");
});

test("a Rust orchestrator calls a JavaScript activity", async () => {
  const state = await run("CallActivityByName", { activity: "whisper_js", input: "HI" });
  assert.equal(state.runtimeStatus, OrchestrationStatus.COMPLETED, state.failureDetails?.message);
  // The second call gets the first call's output.
  assert.deepEqual(output(state), ["hi...", "hi......"]);
});

test("the JavaScript client starts and waits for a Rust orchestration", async () => {
  const state = await run("HelloCities");
  assert.equal(state.runtimeStatus, OrchestrationStatus.COMPLETED, state.failureDetails?.message);
  assert.deepEqual(output(state), ["Hello Tokyo!", "Hello Seattle!", "Hello London!"]);
});

test("an external event and a timer reach a JavaScript orchestrator", async () => {
  const id = await client.scheduleNewOrchestration("waits_for_approval_js", undefined, `js-${randomUUID()}`);
  await client.waitForOrchestrationStart(id, false, 30);
  await client.raiseOrchestrationEvent(id, "approval", "by the test");
  const state = await client.waitForOrchestrationCompletion(id, true, 60);
  assert.equal(state.runtimeStatus, OrchestrationStatus.COMPLETED, state.failureDetails?.message);
  assert.deepEqual(output(state), { approved: "by the test" });
});

test("a JavaScript entity is called by a JavaScript orchestrator and signaled by the client", async () => {
  const key = randomUUID();
  const state = await run("uses_tally_js", key);
  assert.equal(state.runtimeStatus, OrchestrationStatus.COMPLETED, state.failureDetails?.message);
  assert.equal(output(state), 5);
  const tally = new EntityInstanceId("tally_js", key);
  await client.signalEntity(tally, "add", 10);
  const deadline = Date.now() + 30_000;
  let entity;
  do {
    await new Promise((resolve) => setTimeout(resolve, 50));
    entity = await client.getEntity(tally);
  } while (entity?.state !== 15 && Date.now() < deadline);
  assert.equal(entity?.state, 15);
});
