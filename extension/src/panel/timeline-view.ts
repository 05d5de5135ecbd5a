// DOM for timeline entries: a card per command (status, instruction, its events, the error
// summary with the logs link, how the patch was verified with before/after screenshot
// sliders, each applied patch as a colour-coded diff with Rollback) and a line per
// session-level event. Cards update in place so a reader's open/closed choices
// and scroll position survive new events.

import type { Event, Patch } from "./api.ts";
import { parseUnifiedDiff } from "./diff.ts";
import { clear, h } from "./dom.ts";
import { renderPictures } from "./pictures-view.ts";
import type { LoadResource } from "./resource.ts";
import { describeEvent, formatElapsed, TERMINAL, type CommandEntry } from "./timeline.ts";

export interface CardActions {
  rollback(patchId: string): void;
  openLogs(logsUrl: string): void;
  logsHref(logsUrl: string): string;
  /** Applied patches after this one that a rollback of it also undoes. */
  laterApplied(patchId: string): number;
  /** Loads a daemon resource (a screenshot) through the link. */
  loadResource: LoadResource;
}

function clock(at: number): string {
  return new Date(at).toLocaleTimeString([], { hour: "2-digit", minute: "2-digit", second: "2-digit" });
}

export function renderDiff(unifiedDiff: string): HTMLElement {
  const files = parseUnifiedDiff(unifiedDiff);
  const wrap = h("div", { class: "diff" });
  for (const file of files) {
    const pre = h("pre", { class: "diff-body", attrs: { tabindex: "0", "aria-label": `Diff of ${file.path}` } });
    for (const line of file.lines) {
      if (line.kind === "file") continue;
      const gutter = h(
        "span",
        { class: "gutter", attrs: { "aria-hidden": "true" } },
        line.oldLine === null ? "" : String(line.oldLine),
      );
      const gutterNew = h(
        "span",
        { class: "gutter", attrs: { "aria-hidden": "true" } },
        line.newLine === null ? "" : String(line.newLine),
      );
      pre.appendChild(h("span", { class: `line ${line.kind}` }, gutter, gutterNew, h("span", { class: "code" }, line.text || " ")));
    }
    wrap.appendChild(
      h(
        "div",
        { class: "diff-file" },
        h(
          "div",
          { class: "diff-file-head" },
          h("code", {}, file.path || "(diff)"),
          h("span", { class: "stat add", attrs: { "aria-label": `${file.added} lines added` } }, `+${file.added}`),
          h("span", { class: "stat del", attrs: { "aria-label": `${file.removed} lines removed` } }, `−${file.removed}`),
        ),
        pre,
      ),
    );
  }
  return wrap;
}

export class CommandCard {
  readonly element: HTMLLIElement;
  private readonly badge: HTMLSpanElement;
  private readonly title: HTMLHeadingElement;
  private readonly elapsed: HTMLSpanElement;
  private readonly events: HTMLOListElement;
  private readonly eventsBox: HTMLDetailsElement;
  private readonly eventsSummary: HTMLElement;
  private readonly failure: HTMLDivElement;
  private readonly patchesBox: HTMLDivElement;
  private readonly picturesBox: HTMLDivElement;
  /** The command the pictures were drawn from: redrawn only when a new one is fetched. */
  private picturesOf: CommandEntry["command"] = null;
  private userToggledEvents = false;

  constructor(
    private readonly entry: CommandEntry,
    private readonly actions: CardActions,
  ) {
    const titleId = `cmd-${entry.commandId}-title`;
    this.badge = h("span", { class: "badge" });
    this.title = h("h3", { class: "cmd-title", id: titleId }, "…");
    this.elapsed = h("span", { class: "cmd-elapsed muted" });
    this.events = h("ol", { class: "events" });
    this.eventsSummary = h("summary", {}, "Events");
    this.eventsBox = h("details", { class: "events-box" }, this.eventsSummary, this.events);
    this.eventsBox.open = true;
    this.eventsBox.addEventListener("toggle", () => {
      this.userToggledEvents = true;
    });
    this.failure = h("div", { class: "failure", hidden: true });
    this.patchesBox = h("div", { class: "patches" });
    this.picturesBox = h("div", { class: "pictures-box" });
    this.element = h(
      "li",
      { class: "cmd", attrs: { "data-command-id": entry.commandId } },
      h(
        "article",
        { attrs: { "aria-labelledby": titleId } },
        h("header", { class: "cmd-head" }, this.badge, this.title, this.elapsed),
        this.eventsBox,
        this.failure,
        this.picturesBox,
        this.patchesBox,
      ),
    );
    for (const event of entry.events) this.addEvent(event);
    this.update(Date.now());
  }

  addEvent(event: Event): void {
    const offset = event.at - this.entry.queuedAt;
    this.events.appendChild(
      h(
        "li",
        { class: `event ev-${event.type.toLowerCase()}`, attrs: { "data-seq": String(event.seq), "data-type": event.type } },
        h("span", { class: "ev-time muted", title: clock(event.at) }, offset > 0 ? `+${formatElapsed(offset)}` : clock(event.at)),
        h("span", { class: "ev-text", title: event.type === "INFERENCE_COMPLETED" ? describeEvent(event) : "" }, describeEvent(event)),
      ),
    );
  }

  /** Re-reads the entry: status, title, elapsed time, failure, patches. */
  update(now: number): void {
    const entry = this.entry;
    this.element.dataset["status"] = entry.status;
    this.badge.className = `badge status-${entry.status.toLowerCase()}`;
    this.badge.textContent = entry.status;
    const command = entry.command;
    if (command) {
      const manual = command.kind.kind === "manualPatch";
      this.title.textContent = manual ? `Manual patch: ${command.instruction}` : command.instruction;
    }
    const end = entry.finishedAt ?? now;
    this.elapsed.textContent = formatElapsed(end - entry.queuedAt);
    this.eventsSummary.textContent = `${entry.events.length} event${entry.events.length === 1 ? "" : "s"}`;
    if (!this.userToggledEvents) this.eventsBox.open = !TERMINAL.has(entry.status) || entry.status === "FAILED";
    this.renderFailure();
    this.renderPictures();
    this.renderPatches();
  }

  private renderPictures(): void {
    const command = this.entry.command;
    if (command === this.picturesOf) return;
    this.picturesOf = command;
    clear(this.picturesBox);
    const pictures = command ? renderPictures(command, this.actions.loadResource) : null;
    if (pictures) this.picturesBox.appendChild(pictures);
  }

  private renderFailure(): void {
    const entry = this.entry;
    const failed = entry.status === "FAILED";
    this.failure.hidden = !failed;
    clear(this.failure);
    if (!failed) return;
    const summary = entry.errorSummary ?? entry.command?.errorSummary ?? "The command failed.";
    this.failure.appendChild(h("p", { class: "failure-summary" }, h("strong", {}, "Failed: "), summary));
    const logsUrl = entry.logsUrl;
    if (logsUrl) this.failure.appendChild(this.logsLink(logsUrl));
  }

  /** Set by the panel: the session's logs URL, for failures whose events carry none. */
  set sessionLogsUrl(url: string | null) {
    if (url && !this.entry.logsUrl) {
      this.entry.logsUrl = url;
      this.renderFailure();
    }
  }

  private logsLink(logsUrl: string): HTMLElement {
    const link = h(
      "a",
      { class: "logs-link", attrs: { href: this.actions.logsHref(logsUrl), target: "_blank", rel: "noopener" } },
      "Open the logs",
    );
    link.addEventListener("click", (event) => {
      event.preventDefault();
      this.actions.openLogs(logsUrl);
    });
    return link;
  }

  private renderPatches(): void {
    const entry = this.entry;
    clear(this.patchesBox);
    for (const patchId of entry.patchIds) {
      const patch: Patch | undefined = entry.patches.get(patchId);
      const rolledBack = entry.rolledBack.has(patchId);
      const later = rolledBack ? 0 : this.actions.laterApplied(patchId);
      const button = h(
        "button",
        {
          class: "rollback secondary",
          attrs: {
            type: "button",
            "data-patch-id": patchId,
            "aria-describedby": `cmd-${entry.commandId}-title`,
          },
          title: later > 0 ? `Also rolls back the ${later} later patch${later === 1 ? "" : "es"}` : "Restore the files as they were before this patch",
        },
        rolledBack ? "Rolled back" : "Rollback",
      );
      button.disabled = rolledBack;
      button.addEventListener("click", () => {
        button.disabled = true;
        button.textContent = "Rolling back…";
        this.actions.rollback(patchId);
      });
      const files = patch ? patch.files.map((f) => f.path).join(", ") : "";
      this.patchesBox.appendChild(
        h(
          "section",
          { class: `patch${rolledBack ? " rolled-back" : ""}`, attrs: { "data-patch-id": patchId, "aria-label": `Patch ${files}` } },
          h(
            "div",
            { class: "patch-head" },
            h("span", { class: "patch-title" }, rolledBack ? "Patch (rolled back)" : "Patch applied"),
            h("span", { class: "muted patch-files" }, files),
            button,
          ),
          patch ? renderDiff(patch.unifiedDiff) : h("p", { class: "muted" }, "Loading the diff…"),
        ),
      );
    }
  }

  /** Called by the panel when a rollback call failed, to re-enable the button. */
  rollbackFailed(): void {
    this.renderPatches();
  }
}

export function renderSessionEvent(event: Event): HTMLLIElement {
  return h(
    "li",
    { class: `session-event ev-${event.type.toLowerCase()}`, attrs: { "data-seq": String(event.seq), "data-type": event.type } },
    h("span", { class: "ev-time muted" }, clock(event.at)),
    h("span", { class: "ev-text" }, describeEvent(event)),
  );
}
