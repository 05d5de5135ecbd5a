// The session's timeline as a fold over its events: one entry per command (with every event
// that carries its id) and one per session-level event. Pure. Events at or below the last
// seq already folded are ignored, which is what makes a replay after a reconnect safe:
// nothing is shown twice.

import type { Command, CommandStatus, Event, Patch } from "./api.ts";

export const TERMINAL: ReadonlySet<CommandStatus> = new Set<CommandStatus>(["READY", "FAILED"]);

export interface CommandEntry {
  kind: "command";
  commandId: string;
  firstSeq: number;
  status: CommandStatus;
  /** Unix ms of the first event seen for the command (its QUEUED event). */
  queuedAt: number;
  /** Unix ms of READY/FAILED. */
  finishedAt: number | null;
  events: Event[];
  errorSummary: string | null;
  logsUrl: string | null;
  /** Patches applied by this command, in order. */
  patchIds: string[];
  rolledBack: Set<string>;
  /** Filled in by `command/get` (the instruction is not in the events). */
  command: Command | null;
  /** Filled in by `patch/get`. */
  patches: Map<string, Patch>;
}

export interface SessionEntry {
  kind: "session";
  event: Event;
}

export type Entry = CommandEntry | SessionEntry;

/** What one folded event changed. */
export interface Change {
  entry: Entry;
  /** The entry did not exist before this event. */
  created: boolean;
  event: Event;
}

export class Timeline {
  readonly entries: Entry[] = [];
  readonly commands = new Map<string, CommandEntry>();
  private readonly patchOwner = new Map<string, string>();
  private seq = 0;

  /** The newest seq folded in; subscribe with this as `afterSeq` to resume. */
  get lastSeq(): number {
    return this.seq;
  }

  /** Folds one event in; null when it was already seen. */
  apply(event: Event): Change | null {
    if (event.seq <= this.seq) return null;
    this.seq = event.seq;
    const commandId = event.commandId ?? this.commandOfPatch(event);
    if (commandId === undefined) {
      const entry: SessionEntry = { kind: "session", event };
      this.entries.push(entry);
      return { entry, created: true, event };
    }
    let entry = this.commands.get(commandId);
    const created = entry === undefined;
    if (entry === undefined) {
      entry = {
        kind: "command",
        commandId,
        firstSeq: event.seq,
        status: "QUEUED",
        queuedAt: event.at,
        finishedAt: null,
        events: [],
        errorSummary: null,
        logsUrl: null,
        patchIds: [],
        rolledBack: new Set(),
        command: null,
        patches: new Map(),
      };
      this.commands.set(commandId, entry);
      this.entries.push(entry);
    }
    entry.events.push(event);
    switch (event.type) {
      case "COMMAND_STATUS":
        entry.status = event.data.status;
        if (event.data.status === "QUEUED") entry.queuedAt = event.at;
        if (TERMINAL.has(event.data.status)) entry.finishedAt = event.at;
        if (event.data.errorSummary) entry.errorSummary = event.data.errorSummary;
        break;
      case "PATCH_FAILED":
        entry.errorSummary = event.data.summary;
        entry.logsUrl = event.data.logsUrl;
        // Rolled back = the workspace is as before the command: every patch it applied so far
        // is undone (one the browser's verification failed after PATCH_APPLY_COMPLETED too).
        if (event.data.rolledBack) for (const patchId of entry.patchIds) this.markRolledBack(entry, patchId, event.at);
        break;
      case "PATCH_APPLY_COMPLETED":
        if (!entry.patchIds.includes(event.data.patchId)) entry.patchIds.push(event.data.patchId);
        this.patchOwner.set(event.data.patchId, commandId);
        break;
      case "ROLLBACK_COMPLETED":
        this.markRolledBack(entry, event.data.patchId, event.at);
        break;
      default:
        break;
    }
    return { entry, created, event };
  }

  private markRolledBack(entry: CommandEntry, patchId: string, at: number): void {
    entry.rolledBack.add(patchId);
    const patch = entry.patches.get(patchId);
    if (patch) entry.patches.set(patchId, { ...patch, state: "ROLLED_BACK", rolledBackAt: at });
  }

  /** Records a fetched patch, keeping a rollback already seen in the events. */
  setPatch(patch: Patch): CommandEntry | null {
    const entry = this.commands.get(patch.commandId);
    if (!entry) return null;
    const rolledBack = entry.rolledBack.has(patch.patchId) || patch.state === "ROLLED_BACK";
    if (patch.state === "ROLLED_BACK") entry.rolledBack.add(patch.patchId);
    entry.patches.set(patch.patchId, rolledBack ? { ...patch, state: "ROLLED_BACK" } : patch);
    if (!entry.patchIds.includes(patch.patchId)) entry.patchIds.push(patch.patchId);
    return entry;
  }

  /** The command the status chip shows: the oldest one still running, else the newest. */
  current(): CommandEntry | null {
    let newest: CommandEntry | null = null;
    for (const entry of this.commands.values()) {
      if (!TERMINAL.has(entry.status)) return entry;
      newest = entry;
    }
    return newest;
  }

  /** Patches applied and not rolled back, oldest first. */
  appliedPatches(): string[] {
    const applied: string[] = [];
    for (const entry of this.commands.values()) {
      for (const id of entry.patchIds) if (!entry.rolledBack.has(id)) applied.push(id);
    }
    return applied;
  }

  private commandOfPatch(event: Event): string | undefined {
    if (event.type === "ROLLBACK_COMPLETED") return this.patchOwner.get(event.data.patchId);
    return undefined;
  }
}

/** Milliseconds as the chip shows them: `850 ms`, `4.2 s`, `3 min 05 s`. */
export function formatElapsed(ms: number): string {
  const value = Math.max(0, ms);
  if (value < 1000) return `${Math.round(value)} ms`;
  if (value < 60_000) return `${(value / 1000).toFixed(1)} s`;
  const minutes = Math.floor(value / 60_000);
  const seconds = Math.floor((value % 60_000) / 1000);
  return `${minutes} min ${String(seconds).padStart(2, "0")} s`;
}

function list(files: readonly string[]): string {
  if (files.length <= 3) return files.join(", ");
  return `${files.slice(0, 3).join(", ")} and ${files.length - 3} more`;
}

/** One line for a person, per event. */
export function describeEvent(event: Event): string {
  switch (event.type) {
    case "SESSION_READY":
      return `Preview ready at ${event.data.previewUrl}`;
    case "SESSION_STATUS":
      return `Session ${event.data.status}${event.data.reason ? `: ${event.data.reason}` : ""}`;
    case "SESSION_PAUSED":
      return event.data.paused ? "Queue paused" : "Queue resumed";
    case "COMMAND_STATUS":
      // A failure's summary has its own box on the card; the event line stays short.
      return event.data.status;
    case "INFERENCE_STARTED":
      return `Asking the ${event.data.proposer} proposer (attempt ${event.data.attempt})`;
    case "INFERENCE_COMPLETED":
      return `Proposal for ${list(event.data.filesToEdit)}: ${event.data.reason} (confidence ${Math.round(
        event.data.confidence * 100,
      )}%)`;
    case "PATCH_APPLY_STARTED":
      return `Applying the patch to ${list(event.data.files)}`;
    case "PATCH_APPLY_COMPLETED": {
      const inexact = event.data.hunks.filter((h) => h.result !== "exact").length;
      const hunks = `${event.data.hunks.length} hunk${event.data.hunks.length === 1 ? "" : "s"}`;
      return `Patch applied to ${list(event.data.files)} (${hunks}${inexact ? `, ${inexact} not exact` : ""})`;
    }
    case "PREVIEW_UPDATED":
      return `Preview updated${event.data.cssOnly ? " (styles only)" : ""}`;
    case "PATCH_FAILED":
      return `Patch failed: ${event.data.summary}${event.data.rolledBack ? " — rolled back" : ""}${
        event.data.willRetry ? " — asking once more" : ""
      }`;
    case "ROLLBACK_COMPLETED":
      return `Rolled back ${list(event.data.files)}`;
    case "SETTINGS_UPDATED":
      return "Settings updated";
    case "REFERENCE_UPDATED":
      return "FrontSwatch reference updated";
    case "LOG":
      return `${event.data.level}: ${event.data.message}`;
    case "PREVIEW_ERROR":
      return `Page error: ${event.data.message}`;
    case "DRIFT_REPORT": {
      const drift = `Drift score ${Math.round(event.data.report.score * 100)}% on-token`;
      const fidelity = event.data.fidelity;
      if (!fidelity) return drift;
      return `${drift}; SSIM to “${fidelity.screen}” ${fidelity.before.ssim.toFixed(3)} → ${fidelity.after.ssim.toFixed(3)}`;
    }
  }
}
