// The status bar item's text, from the events the host relays: the current command's status,
// like the panel's chip. Pure.

import type { CommandStatus, Event } from "../panel/api.ts";

export interface StatusView {
  text: string;
  tooltip: string;
}

const ICONS: Record<CommandStatus, string> = {
  QUEUED: "$(clock)",
  ANALYZING: "$(loading~spin)",
  PATCHING: "$(loading~spin)",
  READY: "$(check)",
  FAILED: "$(error)",
};

export class StatusModel {
  private sessionId: string | null = null;
  private status: CommandStatus | null = null;
  private summary: string | null = null;
  private lastSeq = 0;
  private connected = false;

  /** The session the panel shows; events of others are ignored. */
  follow(sessionId: string | null): void {
    if (sessionId === this.sessionId) return;
    this.sessionId = sessionId;
    this.status = null;
    this.summary = null;
    this.lastSeq = 0;
  }

  connection(open: boolean): void {
    this.connected = open;
  }

  /** Folds an event in; true when the view changed. */
  apply(event: Event): boolean {
    if (event.sessionId !== this.sessionId || event.seq <= this.lastSeq) return false;
    this.lastSeq = event.seq;
    if (event.type === "COMMAND_STATUS") {
      this.status = event.data.status;
      this.summary = event.data.errorSummary ?? null;
      return true;
    }
    if (event.type === "PATCH_FAILED") {
      this.summary = event.data.summary;
      return true;
    }
    return false;
  }

  view(): StatusView {
    if (!this.connected) return { text: "$(debug-disconnect) devflow", tooltip: "devflow is not running" };
    if (!this.sessionId) return { text: "$(eye) devflow", tooltip: "devflow: open the preview" };
    if (!this.status) return { text: "$(eye) devflow", tooltip: "devflow: no commands yet" };
    const tooltip = this.status === "FAILED" && this.summary ? `devflow: FAILED — ${this.summary}` : `devflow: ${this.status}`;
    return { text: `${ICONS[this.status]} devflow: ${this.status}`, tooltip };
  }
}
