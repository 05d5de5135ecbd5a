import assert from "node:assert/strict";
import { test } from "node:test";

import type { Reference } from "../src/panel/api.ts";
import { referenceRedraw, type ReferenceState } from "../src/panel/reference-view.ts";

const reference = (over: Partial<Reference> = {}): Reference => ({
  referenceId: "ref-1",
  tokens: [{ path: "color.primary", type: "color", value: "#0d6efd", description: null, aliasOf: null }],
  screens: [{ name: "home", mediaType: "image/png", url: "/sessions/s/reference/screens/home" }],
  driftScore: 0.42,
  ...over,
});
const ready = (r: Reference): ReferenceState => ({ kind: "ready", reference: r });

test("a reload that brings the same reference and score redraws nothing", () => {
  assert.equal(referenceRedraw(ready(reference()), ready(reference())), "none");
});

test("a new drift score alone redraws only the score", () => {
  assert.equal(referenceRedraw(ready(reference()), ready(reference({ driftScore: 0.5 }))), "drift");
  assert.equal(referenceRedraw(ready(reference({ driftScore: null })), ready(reference())), "drift");
});

test("another reference, other tokens or screens, or another kind of state redraw the pane", () => {
  assert.equal(referenceRedraw(ready(reference()), ready(reference({ referenceId: "ref-2" }))), "all");
  assert.equal(referenceRedraw(ready(reference()), ready(reference({ tokens: [] }))), "all");
  assert.equal(referenceRedraw(ready(reference()), ready(reference({ screens: [] }))), "all");
  assert.equal(referenceRedraw({ kind: "loading" }, ready(reference())), "all");
  assert.equal(referenceRedraw(ready(reference()), { kind: "error", message: "gone" }), "all");
});
