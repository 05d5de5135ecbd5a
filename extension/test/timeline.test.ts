import assert from "node:assert/strict";
import { test } from "node:test";

import type { Event, Patch } from "../src/panel/api.ts";
import { describeEvent, formatElapsed, Timeline } from "../src/panel/timeline.ts";

const S = "s-1";
const C = "c-1";
let at = 1_000;

function ev(seq: number, body: Record<string, unknown>, commandId?: string): Event {
  at += 10;
  return { sessionId: S, seq, at, ...(commandId ? { commandId } : {}), ...body } as Event;
}

function failedRun(): Event[] {
  return [
    ev(1, { type: "SESSION_STATUS", data: { status: "RUNNING" } }),
    ev(2, { type: "COMMAND_STATUS", data: { status: "QUEUED" } }, C),
    ev(3, { type: "COMMAND_STATUS", data: { status: "ANALYZING" } }, C),
    ev(4, { type: "INFERENCE_STARTED", data: { attempt: 1, proposer: "builtin" } }, C),
    ev(5, { type: "COMMAND_STATUS", data: { status: "FAILED", errorSummary: "no builtin proposer" } }, C),
  ];
}

test("folds a command's events into one entry with its final status and summary", () => {
  const timeline = new Timeline();
  for (const event of failedRun()) timeline.apply(event);
  assert.equal(timeline.entries.length, 2);
  const entry = timeline.commands.get(C)!;
  assert.equal(entry.status, "FAILED");
  assert.equal(entry.errorSummary, "no builtin proposer");
  assert.equal(entry.events.length, 4);
  assert.equal(entry.finishedAt! - entry.queuedAt, 30);
  assert.equal(timeline.lastSeq, 5);
});

test("a replay after a reconnect adds nothing twice", () => {
  const timeline = new Timeline();
  const events = failedRun();
  for (const event of events.slice(0, 3)) timeline.apply(event);
  // The resubscription replays from an older seq and overlaps what was seen.
  const changes = events.map((event) => timeline.apply(event));
  assert.deepEqual(
    changes.map((c) => c === null),
    [true, true, true, false, false],
  );
  assert.equal(timeline.commands.get(C)!.events.length, 4);
  assert.equal(timeline.entries.length, 2);
});

test("a rollback marks the patch of the command that applied it", () => {
  const timeline = new Timeline();
  timeline.apply(ev(1, { type: "COMMAND_STATUS", data: { status: "QUEUED" } }, C));
  timeline.apply(ev(2, { type: "PATCH_APPLY_COMPLETED", data: { patchId: "p-1", files: ["a.css"], hunks: [] } }, C));
  timeline.apply(ev(3, { type: "COMMAND_STATUS", data: { status: "READY" } }, C));
  assert.deepEqual(timeline.appliedPatches(), ["p-1"]);
  const patch = { patchId: "p-1", commandId: C, state: "APPLIED" } as Patch;
  timeline.setPatch(patch);
  // The daemon's rollback event may come without a command id.
  timeline.apply(ev(4, { type: "ROLLBACK_COMPLETED", data: { patchId: "p-1", files: ["a.css"] } }));
  const entry = timeline.commands.get(C)!;
  assert.ok(entry.rolledBack.has("p-1"));
  assert.equal(entry.patches.get("p-1")!.state, "ROLLED_BACK");
  assert.deepEqual(timeline.appliedPatches(), []);
  assert.equal(timeline.entries.length, 1);
});

test("a patch the browser's verification fails after it was announced is rolled back with the command", () => {
  const timeline = new Timeline();
  timeline.apply(ev(1, { type: "COMMAND_STATUS", data: { status: "QUEUED" } }, C));
  timeline.apply(ev(2, { type: "PATCH_APPLY_COMPLETED", data: { patchId: "p-1", files: ["a.css"], hunks: [] } }, C));
  timeline.apply(ev(3, { type: "PREVIEW_UPDATED", data: { patchId: "p-1", files: ["a.css"], cssOnly: true } }, C));
  // The patch was fetched while it still stood.
  timeline.setPatch({ patchId: "p-1", commandId: C, state: "APPLIED" } as Patch);
  assert.deepEqual(timeline.appliedPatches(), ["p-1"]);
  timeline.apply(ev(4, { type: "PREVIEW_UPDATED", data: { files: ["a.css"], cssOnly: true } }, C));
  timeline.apply(
    ev(5, { type: "PATCH_FAILED", data: { summary: "the page broke", rolledBack: true, willRetry: true, logsUrl: "x" } }, C),
  );
  const entry = timeline.commands.get(C)!;
  assert.equal(entry.patches.get("p-1")!.state, "ROLLED_BACK");
  assert.deepEqual(timeline.appliedPatches(), []);
  // A late answer to the first fetch does not bring it back.
  timeline.setPatch({ patchId: "p-1", commandId: C, state: "APPLIED" } as Patch);
  assert.equal(entry.patches.get("p-1")!.state, "ROLLED_BACK");
  // The re-inference's patch stands.
  timeline.apply(ev(6, { type: "PATCH_APPLY_COMPLETED", data: { patchId: "p-2", files: ["a.css"], hunks: [] } }, C));
  timeline.apply(ev(7, { type: "COMMAND_STATUS", data: { status: "READY" } }, C));
  assert.deepEqual(timeline.appliedPatches(), ["p-2"]);
});

test("the chip follows the oldest running command, else the newest", () => {
  const timeline = new Timeline();
  timeline.apply(ev(1, { type: "COMMAND_STATUS", data: { status: "QUEUED" } }, "a"));
  timeline.apply(ev(2, { type: "COMMAND_STATUS", data: { status: "QUEUED" } }, "b"));
  assert.equal(timeline.current()!.commandId, "a");
  timeline.apply(ev(3, { type: "COMMAND_STATUS", data: { status: "READY" } }, "a"));
  assert.equal(timeline.current()!.commandId, "b");
  timeline.apply(ev(4, { type: "COMMAND_STATUS", data: { status: "FAILED" } }, "b"));
  assert.equal(timeline.current()!.commandId, "b");
  assert.equal(new Timeline().current(), null);
});

test("elapsed time reads naturally", () => {
  assert.equal(formatElapsed(850), "850 ms");
  assert.equal(formatElapsed(4_240), "4.2 s");
  assert.equal(formatElapsed(185_000), "3 min 05 s");
  assert.equal(formatElapsed(-5), "0 ms");
});

test("every event type has a sentence", () => {
  const text = describeEvent(
    ev(1, { type: "PATCH_FAILED", data: { summary: "hunk 2 matches twice", rolledBack: true, willRetry: false, logsUrl: "x" } }),
  );
  assert.equal(text, "Patch failed: hunk 2 matches twice — rolled back");
  assert.match(
    describeEvent(ev(2, { type: "INFERENCE_COMPLETED", data: { attempt: 1, filesToEdit: ["a", "b", "c", "d"], reason: "r", confidence: 0.8 } })),
    /a, b, c and 1 more: r \(confidence 80%\)/,
  );
});
