import assert from "node:assert/strict";
import { test } from "node:test";

import { Backoff } from "../src/panel/backoff.ts";
import { addressFor, readAddress } from "../src/panel/boot.ts";
import { InputHistory } from "../src/panel/input-history.ts";
import { groupTokens } from "../src/panel/reference-view.ts";
import type { ResolvedToken } from "../src/panel/api.ts";

test("up walks back through instructions and down returns to the draft", () => {
  const history = new InputHistory();
  history.seed(["make it blue", "bigger headings"]);
  assert.equal(history.previous("half typed"), "bigger headings");
  assert.equal(history.previous("bigger headings"), "make it blue");
  assert.equal(history.previous("make it blue"), null);
  assert.equal(history.next(), "bigger headings");
  assert.equal(history.next(), "half typed");
  assert.equal(history.next(), null);
});

test("sending records the instruction once and ends browsing", () => {
  const history = new InputHistory();
  history.push("見出しをもっと大きく");
  history.push("見出しをもっと大きく");
  history.push("  ");
  assert.equal(history.previous(""), "見出しをもっと大きく");
  assert.equal(history.previous(""), null);
  history.push("round the corners");
  assert.equal(history.browsing, false);
  assert.equal(history.previous(""), "round the corners");
});

test("the token leaves the address, the session stays", () => {
  const boot = readAddress("http://127.0.0.1:7878/?token=abc&session=s1", null);
  assert.deepEqual(boot, { token: "abc", sessionId: "s1", cleanUrl: "/?session=s1" });
  const later = readAddress("http://127.0.0.1:7878/?session=s1", "abc");
  assert.deepEqual(later, { token: "abc", sessionId: "s1", cleanUrl: null });
  assert.equal(addressFor("http://127.0.0.1:7878/?session=s1&token=x", "s2"), "/?session=s2");
  assert.equal(addressFor("http://127.0.0.1:7878/?session=s1", null), "/");
});

test("reconnect delays grow, stay capped and restart after success", () => {
  const backoff = new Backoff(250, 5000, () => 1);
  assert.deepEqual([1, 2, 3, 4, 5, 6, 7].map(() => backoff.next()), [250, 500, 1000, 2000, 4000, 5000, 5000]);
  backoff.reset();
  assert.equal(backoff.next(), 250);
});

test("tokens are grouped the way a designer reads them", () => {
  const token = (path: string, type: string, value: string): ResolvedToken => ({
    path,
    type,
    value,
    description: null,
    aliasOf: null,
  });
  const groups = groupTokens([
    token("color.brand.primary", "color", "#4f46e5"),
    token("font.size.lg", "dimension", "20px"),
    token("font.size.sm", "dimension", "0.75rem"),
    token("spacing.2", "dimension", "8px"),
    token("radius.md", "dimension", "6px"),
    token("font.family.body", "fontFamily", "Inter, sans-serif"),
    token("duration.fast", "duration", "150ms"),
  ]);
  assert.deepEqual(groups.colors.map((t) => t.path), ["color.brand.primary"]);
  assert.deepEqual(groups.typeScale.map((t) => t.path), ["font.size.sm", "font.size.lg"]);
  assert.deepEqual(groups.spacing.map((t) => t.path), ["spacing.2"]);
  assert.deepEqual(groups.radius.map((t) => t.path), ["radius.md"]);
  assert.deepEqual(groups.fonts.map((t) => t.path), ["font.family.body"]);
  assert.deepEqual(groups.other.map((t) => t.path), ["duration.fast"]);
});
