import assert from "node:assert/strict";
import { test } from "node:test";

import { parseUnifiedDiff } from "../src/panel/diff.ts";

const DIFF = `--- a/css/site.css
+++ b/css/site.css
@@ -5,3 +5,4 @@
 body {
-  color: #333;
+  color: #111;
+  margin: 0;
 }
--- a/index.html
+++ b/index.html
@@ -1 +1 @@
-<h1>Old</h1>
+<h1>New</h1>
\\ No newline at end of file
`;

test("splits a diff into files with classified, numbered lines", () => {
  const files = parseUnifiedDiff(DIFF);
  assert.deepEqual(
    files.map((f) => [f.path, f.added, f.removed]),
    [
      ["css/site.css", 2, 1],
      ["index.html", 1, 1],
    ],
  );
  const css = files[0]!.lines.filter((l) => l.kind !== "file");
  assert.deepEqual(
    css.map((l) => [l.kind, l.oldLine, l.newLine]),
    [
      ["hunk", null, null],
      ["context", 5, 5],
      ["del", 6, null],
      ["add", null, 6],
      ["add", null, 7],
      ["context", 7, 8],
    ],
  );
  assert.equal(files[1]!.lines.at(-1)!.kind, "note");
});

test("keeps prose it does not understand, and CRLF diffs read the same", () => {
  const files = parseUnifiedDiff("Here is the change:\r\n--- a/x\r\n+++ b/x\r\n@@ -1 +1 @@\r\n-a\r\n+b\r\n");
  assert.equal(files.length, 2);
  assert.equal(files[0]!.lines[0]!.kind, "note");
  assert.equal(files[1]!.path, "x");
  assert.equal(files[1]!.added, 1);
});

test("a new file is named by its new path and a deleted one by its old", () => {
  const created = parseUnifiedDiff("--- /dev/null\n+++ b/new.css\n@@ -0,0 +1 @@\n+a\n");
  assert.equal(created[0]!.path, "new.css");
  const deleted = parseUnifiedDiff("--- a/old.css\n+++ /dev/null\n@@ -1 +0,0 @@\n-a\n");
  assert.equal(deleted[0]!.path, "old.css");
});
