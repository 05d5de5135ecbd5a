// Splits a unified diff into files and classified lines for colour-coded display. Pure and
// tolerant: a line it does not recognise is shown as plain text, never dropped.

export type DiffLineKind = "file" | "hunk" | "add" | "del" | "context" | "note";

export interface DiffLine {
  kind: DiffLineKind;
  text: string;
  /** Line number in the old file (context and deletions). */
  oldLine: number | null;
  /** Line number in the new file (context and additions). */
  newLine: number | null;
}

export interface DiffFile {
  path: string;
  added: number;
  removed: number;
  lines: DiffLine[];
}

const HUNK = /^@@ -(\d+)(?:,\d+)? \+(\d+)(?:,\d+)? @@/;

function stripPrefix(path: string): string {
  const clean = path.split("\t")[0]!.trim();
  return clean.startsWith("a/") || clean.startsWith("b/") ? clean.slice(2) : clean;
}

export function parseUnifiedDiff(text: string): DiffFile[] {
  const files: DiffFile[] = [];
  let file: DiffFile | null = null;
  let oldLine = 0;
  let newLine = 0;
  let inHunk = false;
  const lines = text.replace(/\r\n/g, "\n").split("\n");
  if (lines.length > 0 && lines[lines.length - 1] === "") lines.pop();
  for (let i = 0; i < lines.length; i++) {
    const line = lines[i]!;
    const next = lines[i + 1];
    if (line.startsWith("--- ") && next !== undefined && next.startsWith("+++ ")) {
      const oldPath = stripPrefix(line.slice(4));
      const newPath = stripPrefix(next.slice(4));
      file = {
        path: newPath === "/dev/null" ? oldPath : newPath,
        added: 0,
        removed: 0,
        lines: [],
      };
      files.push(file);
      file.lines.push({ kind: "file", text: line, oldLine: null, newLine: null });
      file.lines.push({ kind: "file", text: next, oldLine: null, newLine: null });
      i += 1;
      inHunk = false;
      continue;
    }
    if (file === null) {
      file = { path: "", added: 0, removed: 0, lines: [] };
      files.push(file);
    }
    const hunk = HUNK.exec(line);
    if (hunk) {
      oldLine = Number(hunk[1]);
      newLine = Number(hunk[2]);
      inHunk = true;
      file.lines.push({ kind: "hunk", text: line, oldLine: null, newLine: null });
      continue;
    }
    if (inHunk && line.startsWith("+")) {
      file.added += 1;
      file.lines.push({ kind: "add", text: line, oldLine: null, newLine: newLine++ });
    } else if (inHunk && line.startsWith("-")) {
      file.removed += 1;
      file.lines.push({ kind: "del", text: line, oldLine: oldLine++, newLine: null });
    } else if (inHunk && (line.startsWith(" ") || line === "")) {
      file.lines.push({ kind: "context", text: line, oldLine: oldLine++, newLine: newLine++ });
    } else {
      file.lines.push({ kind: "note", text: line, oldLine: null, newLine: null });
    }
  }
  return files;
}
