import assert from "node:assert/strict";
import { test } from "node:test";

import type { Command, Event } from "../src/panel/api.ts";
import { describeFidelity, describeVerification, formatShare } from "../src/panel/pictures-view.ts";
import { describeEvent } from "../src/panel/timeline.ts";

test("a changed share reads as a percentage that never hides a change", () => {
  assert.equal(formatShare(0), "0%");
  assert.equal(formatShare(0.00001), "<0.1%");
  assert.equal(formatShare(0.0312), "3.1%");
  assert.equal(formatShare(0.456), "46%");
  assert.equal(formatShare(1), "100%");
});

test("the verification line says browser or HTTP-only, and why", () => {
  assert.equal(describeVerification({ mode: "browser", problems: [] }), "Verified in a browser: no new errors");
  assert.equal(
    describeVerification({ mode: "browser", problems: ["uncaught exception: Uncaught Error: boom", "the page is blank"] }),
    "Verified in a browser: 2 new problems",
  );
  assert.equal(
    describeVerification({ mode: "http", problems: [], note: "no Chromium found" }),
    "Verified over HTTP only (no Chromium found)",
  );
  assert.equal(describeVerification({ mode: "http", problems: ["the page answers HTTP 500"] }), "HTTP check failed");
});

test("fidelity before and after is one line, in the card and on DRIFT_REPORT", () => {
  const fidelity = {
    screen: "home",
    viewport: "desktop" as const,
    before: { ssim: 0.8922, paletteDistance: 0.3 },
    after: { ssim: 1, paletteDistance: 0 },
  };
  assert.equal(
    describeFidelity({ fidelity } as unknown as Command),
    "Reference “home” (desktop): SSIM 0.892, palette ΔE 0.3 → SSIM 1.000, palette ΔE 0.0",
  );
  assert.equal(describeFidelity({ fidelity: null } as unknown as Command), null);
  const report = { score: 0.5, entries: [], kinds: [] };
  const event = { sessionId: "s", seq: 1, at: 0, type: "DRIFT_REPORT", data: { report, fidelity } } as Event;
  assert.equal(describeEvent(event), "Drift score 50% on-token; SSIM to “home” 0.892 → 1.000");
  const plain = { sessionId: "s", seq: 2, at: 0, type: "DRIFT_REPORT", data: { report } } as Event;
  assert.equal(describeEvent(plain), "Drift score 50% on-token");
});
