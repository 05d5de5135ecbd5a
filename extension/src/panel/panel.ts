// The panel: the one object that owns the UI's lifetime (its DOM, timers, listeners and the
// link to the daemon). Layout is fixed: preview left, FrontSwatch right, instruction box
// at the bottom, header on top. State flows one way: daemon events → Timeline (pure fold) →
// DOM; user actions → daemon calls → events.

import {
  DaemonError,
  type ConnectionState,
  type DaemonLink,
  type Event,
  type Session,
} from "./api.ts";
import { append, clear, h, setLabel } from "./dom.ts";
import { InputHistory } from "./input-history.ts";
import { driftView, referenceRedraw, renderReference, type ReferenceState } from "./reference-view.ts";
import { CommandCard, renderSessionEvent } from "./timeline-view.ts";
import { formatElapsed, Timeline, TERMINAL, type Entry } from "./timeline.ts";

/** What differs between the browser and the editor webview. */
export interface PanelHost {
  /** The session to open first (from `?session=` or the editor's state). */
  initialSessionId: string | null;
  /** The open session changed (the browser puts it in the address bar). */
  sessionChanged(sessionId: string | null): void;
  /** Prefilled folder for "open a folder" (the editor's workspace folder). */
  workspaceFolder: string | null;
}

const MAX_INSTRUCTION = 5000;

type Disposer = () => void;

function uuid(): string {
  if (typeof crypto !== "undefined" && "randomUUID" in crypto) return crypto.randomUUID();
  return `${Date.now().toString(16)}-${Math.random().toString(16).slice(2)}`;
}

function errorText(error: unknown): string {
  if (error instanceof DaemonError) return error.message;
  if (error instanceof Error) return error.message;
  return String(error);
}

export class Panel {
  private readonly disposers: Disposer[] = [];
  private sessions: Session[] = [];
  private session: Session | null = null;
  private sessionId: string | null;
  private timeline = new Timeline();
  private cards = new Map<string, CommandCard>();
  private readonly history = new InputHistory();
  /** Events up to this seq are a replay: they build the timeline but trigger nothing. */
  private replayUntil = 0;
  /** A catch-up after a reconnect saw a preview change: reload once it is done. */
  private previewStale = false;
  /** The replay in progress follows a reconnect (not the first load of the session). */
  private catchingUp = false;
  private subscribed: string | null = null;
  private subscribing: Promise<void> | null = null;
  private referenceState: ReferenceState = { kind: "no-session" };
  private referenceTimer: ReturnType<typeof setTimeout> | null = null;
  /** The reference screen the person picked, kept when the pane is drawn again. */
  private chosenScreen: string | null = null;
  private reloadTimer: ReturnType<typeof setTimeout> | null = null;
  private tickTimer: ReturnType<typeof setInterval> | null = null;
  private previewReloads = 0;
  private readonly changedFiles = new Set<string>();
  private changedDocument = false;
  /** The preview URL whose page announced devflow's reload client. */
  private selfReloadingPreview: string | null = null;
  private sending = false;
  private stickToBottom = true;
  /** Elements picked in the preview (pick mode); the next command carries them as its target. */
  private picked: PickedElement[] = [];
  private picking = false;

  // DOM
  private readonly root: HTMLElement;
  private readonly picker: HTMLSelectElement;
  private readonly newButton: HTMLButtonElement;
  private readonly chip: HTMLDivElement;
  private readonly chipText: HTMLSpanElement;
  private readonly chipElapsed: HTMLSpanElement;
  private readonly pauseButton: HTMLButtonElement;
  private readonly stopButton: HTMLButtonElement;
  private readonly connection: HTMLSpanElement;
  private readonly previewPane: HTMLElement;
  private readonly previewFrame: HTMLIFrameElement;
  private readonly previewEmpty: HTMLDivElement;
  private readonly previewLink: HTMLAnchorElement;
  private readonly reloadButton: HTMLButtonElement;
  private readonly side: HTMLElement;
  private readonly referenceBody: HTMLDivElement;
  private readonly timelineList: HTMLOListElement;
  private readonly timelineEmpty: HTMLParagraphElement;
  private readonly timelineScroller: HTMLElement;
  private readonly form: HTMLFormElement;
  private readonly input: HTMLTextAreaElement;
  private readonly sendButton: HTMLButtonElement;
  private readonly pickButton: HTMLButtonElement;
  private readonly targetChips: HTMLDivElement;
  private readonly hint: HTMLParagraphElement;
  private readonly inputError: HTMLParagraphElement;
  private readonly announcer: HTMLDivElement;
  private readonly dialog: HTMLDialogElement;
  private readonly dialogError: HTMLParagraphElement;
  private readonly dialogBusy: HTMLParagraphElement;
  private readonly folderInput: HTMLInputElement;
  private readonly nameInput: HTMLInputElement;
  private readonly zipInput: HTMLInputElement;
  private readonly referenceInput: HTMLInputElement;
  private readonly dropOverlay: HTMLDivElement;

  constructor(
    private readonly container: HTMLElement,
    private readonly link: DaemonLink,
    private readonly host: PanelHost,
  ) {
    this.sessionId = host.initialSessionId;

    // Header
    this.picker = h("select", { id: "session-picker", class: "session-picker" });
    this.newButton = h("button", { id: "new-session", attrs: { type: "button", "aria-haspopup": "dialog" } }, "New session…");
    // Only the status word is a live region; the ticking elapsed time is not announced.
    this.chipText = h("span", { id: "status-text", class: "chip-text", role: "status" }, "IDLE");
    this.chipElapsed = h("span", { id: "status-elapsed", class: "chip-elapsed" });
    this.chip = h(
      "div",
      { id: "status-chip", class: "chip", attrs: { "data-status": "IDLE" } },
      h("span", { class: "chip-dot", attrs: { "aria-hidden": "true" } }),
      this.chipText,
      this.chipElapsed,
    );
    this.pauseButton = h("button", { id: "pause", class: "secondary", attrs: { type: "button", "aria-pressed": "false" } }, "Pause");
    this.stopButton = h("button", { id: "stop", class: "secondary", attrs: { type: "button" } }, "Stop");
    this.connection = h("span", { id: "connection", class: "connection", attrs: { "data-state": link.state } });

    // Preview (left)
    this.previewFrame = h("iframe", {
      id: "preview",
      class: "preview-frame",
      title: "Live preview of your site",
      attrs: {
        sandbox: "allow-scripts allow-same-origin allow-forms allow-popups allow-modals",
        referrerpolicy: "no-referrer",
      },
    });
    this.previewFrame.hidden = true;
    this.previewEmpty = h("div", { id: "preview-empty", class: "empty" });
    this.previewLink = h("a", { id: "preview-url", class: "preview-url muted", attrs: { target: "_blank", rel: "noopener" } });
    this.reloadButton = h("button", { id: "reload-preview", class: "secondary small", attrs: { type: "button" } }, "Reload");
    this.previewPane = h(
      "section",
      { id: "preview-pane", class: "pane preview-pane", attrs: { "aria-labelledby": "preview-heading" } },
      h("div", { class: "pane-bar" }, h("h2", { id: "preview-heading" }, "Preview"), this.previewLink, this.reloadButton),
      h("div", { class: "preview-stage" }, this.previewFrame, this.previewEmpty),
    );

    // FrontSwatch + activity (right)
    this.referenceBody = h("div", { id: "reference-body", class: "pane-body" });
    this.timelineList = h("ol", { id: "timeline", class: "timeline", attrs: { "aria-label": "Commands and events" } });
    this.timelineEmpty = h("p", { class: "muted timeline-empty" }, "No commands yet. Type an instruction below.");
    this.timelineScroller = h("div", { class: "pane-body timeline-scroller", attrs: { tabindex: "0", "aria-label": "Activity" } }, this.timelineEmpty, this.timelineList);
    const side = (this.side = h(
      "aside",
      { id: "side", class: "side", attrs: { "aria-label": "FrontSwatch reference and activity" } },
      h(
        "section",
        { id: "reference-pane", class: "pane reference-pane", attrs: { "aria-labelledby": "reference-heading" } },
        h("div", { class: "pane-bar" }, h("h2", { id: "reference-heading" }, "FrontSwatch"), h("span", { class: "muted" }, "ideal design")),
        this.referenceBody,
      ),
      h(
        "section",
        { id: "timeline-pane", class: "pane timeline-pane", attrs: { "aria-labelledby": "timeline-heading" } },
        h("div", { class: "pane-bar" }, h("h2", { id: "timeline-heading" }, "Activity")),
        this.timelineScroller,
      ),
    ));

    // Instruction (bottom)
    this.input = h("textarea", {
      id: "instruction",
      class: "instruction",
      attrs: {
        rows: "2",
        maxlength: String(MAX_INSTRUCTION),
        placeholder: "Describe a design change — e.g. “make the buttons use the brand colour” or 「見出しをもっと大きく」",
        "aria-describedby": "instruction-hint instruction-error",
        autocomplete: "off",
        spellcheck: "true",
      },
    });
    this.sendButton = h("button", { id: "send", class: "primary", attrs: { type: "submit" } }, "Send");
    this.pickButton = h(
      "button",
      {
        id: "pick",
        class: "secondary",
        title: "Pick an element in the preview (Shift+click for several, Esc to stop)",
        attrs: { type: "button", "aria-pressed": "false" },
      },
      "Pick",
    );
    this.targetChips = h("div", { id: "target-chips", class: "target-chips", hidden: true, attrs: { "aria-label": "Picked elements" } });
    this.hint = h("p", { id: "instruction-hint", class: "hint muted" });
    this.inputError = h("p", { id: "instruction-error", class: "input-error", role: "alert" });
    this.form = h(
      "form",
      { id: "instruction-form", class: "instruct", attrs: { "aria-label": "Instruction", novalidate: "" } },
      h("label", { class: "instruct-label", attrs: { for: "instruction" } }, "Instruction"),
      this.targetChips,
      h("div", { class: "instruct-row" }, this.input, this.pickButton, this.sendButton),
      h("div", { class: "instruct-foot" }, this.hint, this.inputError),
    );

    // New-session dialog
    this.nameInput = h("input", { id: "session-name", attrs: { type: "text", autocomplete: "off", maxlength: "200" } });
    this.folderInput = h("input", {
      id: "folder-path",
      attrs: { type: "text", autocomplete: "off", placeholder: "/home/you/my-site", spellcheck: "false" },
    });
    if (host.workspaceFolder) this.folderInput.value = host.workspaceFolder;
    this.zipInput = h("input", { id: "zip-input", class: "visually-hidden", attrs: { type: "file", accept: ".zip,application/zip", tabindex: "-1", "aria-hidden": "true" } });
    this.referenceInput = h("input", {
      id: "reference-input",
      class: "visually-hidden",
      attrs: { type: "file", accept: ".json,.zip,application/json,application/zip", tabindex: "-1", "aria-hidden": "true" },
    });
    this.dialogError = h("p", { id: "new-session-error", class: "input-error", role: "alert" });
    this.dialogBusy = h("p", { id: "new-session-busy", class: "muted", role: "status" });
    const dropZone = h(
      "div",
      { id: "drop-zone", class: "drop-zone" },
      h("p", {}, "Drop a site .zip here"),
      h("p", { class: "muted" }, "or"),
      h("button", { id: "choose-zip", class: "secondary", attrs: { type: "button" }, on: { click: () => this.zipInput.click() } }, "Choose a .zip file…"),
    );
    this.dialog = h(
      "dialog",
      { id: "new-session-dialog", class: "dialog", attrs: { "aria-labelledby": "new-session-title" } },
      h(
        "form",
        { attrs: { method: "dialog" } },
        h("h2", { id: "new-session-title" }, "New session"),
        h("div", { class: "field" }, h("label", { attrs: { for: "session-name" } }, "Name (optional)"), this.nameInput),
        h("section", { class: "dialog-section", attrs: { "aria-labelledby": "upload-heading" } }, h("h3", { id: "upload-heading" }, "Upload a site"), dropZone),
        h(
          "section",
          { class: "dialog-section", attrs: { "aria-labelledby": "folder-heading" } },
          h("h3", { id: "folder-heading" }, host.workspaceFolder ? "Use this workspace folder" : "Open a folder"),
          h("label", { attrs: { for: "folder-path" } }, "Folder path on the daemon's machine"),
          h(
            "div",
            { class: "row" },
            this.folderInput,
            h("button", { id: "open-folder", class: "primary", attrs: { type: "button" }, on: { click: () => void this.createFromFolder() } }, "Open"),
          ),
        ),
        this.dialogBusy,
        this.dialogError,
        h("div", { class: "dialog-actions" }, h("button", { id: "cancel-new-session", class: "secondary", attrs: { value: "cancel" } }, "Cancel")),
      ),
      this.zipInput,
    );
    this.announcer = h("div", { class: "visually-hidden", attrs: { "aria-live": "polite" } });
    this.dropOverlay = h("div", { class: "drop-overlay", hidden: true, attrs: { "aria-hidden": "true" } }, h("p", {}, "Drop the .zip to open it as a new session"));

    this.root = h(
      "div",
      { id: "devflow", class: "app" },
      h(
        "header",
        { class: "topbar" },
        h("h1", { class: "brand" }, "devflow"),
        h("label", { class: "visually-hidden", attrs: { for: "session-picker" } }, "Session"),
        this.picker,
        this.newButton,
        h("span", { class: "spacer" }),
        this.chip,
        this.pauseButton,
        this.stopButton,
        this.connection,
      ),
      h("main", { class: "split" }, this.previewPane, side),
      this.form,
      this.dialog,
      this.referenceInput,
      this.announcer,
      this.dropOverlay,
    );
    clear(container);
    container.appendChild(this.root);
    this.wire();
  }

  /** Starts talking to the daemon. */
  start(): void {
    this.disposers.push(this.link.onState((state) => this.onConnection(state)));
    this.disposers.push(this.link.onEvent((event) => this.onEvent(event)));
    this.renderAll();
    if (this.link.state === "open") void this.onConnection("open");
  }

  dispose(): void {
    for (const dispose of this.disposers.splice(0)) dispose();
    for (const timer of [this.referenceTimer, this.reloadTimer]) if (timer) clearTimeout(timer);
    if (this.tickTimer) clearInterval(this.tickTimer);
    this.link.dispose();
    clear(this.container);
  }

  // ---------------------------------------------------------------- wiring

  private listen<K extends keyof HTMLElementEventMap>(
    target: HTMLElement | Document | Window,
    type: K,
    handler: (event: HTMLElementEventMap[K]) => void,
  ): void {
    target.addEventListener(type, handler as EventListener);
    this.disposers.push(() => target.removeEventListener(type, handler as EventListener));
  }

  private wire(): void {
    this.listen(this.picker, "change", () => {
      const id = this.picker.value;
      if (id) void this.selectSession(id);
    });
    this.listen(this.newButton, "click", () => this.openDialog());
    this.listen(this.pauseButton, "click", () => void this.togglePause());
    this.listen(this.stopButton, "click", () => void this.toggleRunning());
    this.listen(this.reloadButton, "click", () => this.reloadPreview());
    this.listen(this.timelineScroller, "scroll", () => {
      const scroller = this.timelineScroller;
      this.stickToBottom = scroller.scrollHeight - scroller.scrollTop - scroller.clientHeight < 40;
    });
    this.listen(this.pickButton, "click", () => this.setPicking(!this.picking));
    // Esc leaves pick mode wherever the focus is: in the preview its client sees the key, here the panel does.
    this.listen(document, "keydown", (event) => {
      if (this.picking && event.key === "Escape") {
        event.preventDefault();
        this.setPicking(false);
      }
    });
    this.listen(this.form, "submit", (event) => {
      event.preventDefault();
      void this.send();
    });
    this.listen(this.input, "keydown", (event) => this.onInputKey(event));
    this.listen(this.input, "input", () => {
      this.inputError.textContent = "";
      this.renderInput();
    });
    this.listen(this.zipInput, "change", () => {
      const file = this.zipInput.files?.[0];
      this.zipInput.value = "";
      if (file) void this.createFromZip(file);
    });
    this.listen(this.referenceInput, "change", () => {
      const file = this.referenceInput.files?.[0];
      this.referenceInput.value = "";
      if (file) void this.uploadReference(file);
    });
    // Enter in a dialog field would submit (and so close) the dialog's form; it opens instead.
    this.listen(this.folderInput, "keydown", (event) => {
      if (event.key !== "Enter" || event.isComposing) return;
      event.preventDefault();
      void this.createFromFolder();
    });
    this.listen(this.nameInput, "keydown", (event) => {
      if (event.key === "Enter" && !event.isComposing) event.preventDefault();
    });
    this.listen(this.dialog, "close", () => {
      this.dialogError.textContent = "";
      this.dialogBusy.textContent = "";
      this.newButton.focus();
    });
    // A preview whose page runs devflow's reload client says so once loaded; from then on
    // the page reloads itself on changes (swapping stylesheets in place) and the panel keeps
    // its hands off the frame. Both the sender and its origin are checked.
    const onMessage = (event: MessageEvent): void => {
      const url = this.session?.previewUrl;
      if (!url || event.source !== this.previewFrame.contentWindow) return;
      if (event.origin !== new URL(url).origin) return;
      const data: unknown = event.data;
      if (typeof data !== "object" || data === null) return;
      const type = (data as { type?: unknown }).type;
      if (type === "devflow:reload-client") {
        this.selfReloadingPreview = url;
      } else if (type === "devflow:picked") {
        const picked = readPicked(data);
        if (picked) this.addPicked(picked, (data as { add?: unknown }).add === true);
      } else if (type === "devflow:pick-ended") {
        this.picking = false;
        this.renderPicked();
      }
    };
    window.addEventListener("message", onMessage);
    this.disposers.push(() => window.removeEventListener("message", onMessage));
    // A .zip dropped anywhere on the panel opens it as a new session.
    let depth = 0;
    const hasFiles = (event: DragEvent): boolean => Array.from(event.dataTransfer?.types ?? []).includes("Files");
    this.listen(document, "dragenter", (event) => {
      if (!hasFiles(event)) return;
      depth += 1;
      this.dropOverlay.hidden = false;
    });
    this.listen(document, "dragleave", (event) => {
      if (!hasFiles(event)) return;
      depth = Math.max(0, depth - 1);
      if (depth === 0) this.dropOverlay.hidden = true;
    });
    this.listen(document, "dragover", (event) => {
      if (hasFiles(event)) event.preventDefault();
    });
    this.listen(document, "drop", (event) => {
      if (!hasFiles(event)) return;
      event.preventDefault();
      depth = 0;
      this.dropOverlay.hidden = true;
      const file = event.dataTransfer?.files[0];
      if (!file) return;
      if (!file.name.toLowerCase().endsWith(".zip")) {
        this.announce(`${file.name} is not a .zip file`);
        if (this.dialog.open) this.dialogError.textContent = `${file.name} is not a .zip file.`;
        return;
      }
      void this.createFromZip(file);
    });
  }

  private onInputKey(event: KeyboardEvent): void {
    if (event.isComposing || event.keyCode === 229) return; // an IME is composing (Japanese input)
    if (event.key === "Enter" && !event.shiftKey && !event.altKey && !event.ctrlKey && !event.metaKey) {
      event.preventDefault();
      void this.send();
      return;
    }
    const atStart = this.input.selectionStart === 0 && this.input.selectionEnd === 0;
    const onFirstLine = !this.input.value.slice(0, this.input.selectionStart).includes("\n");
    const onLastLine = !this.input.value.slice(this.input.selectionEnd).includes("\n");
    if (event.key === "ArrowUp" && (atStart || onFirstLine) && !event.shiftKey) {
      const previous = this.history.previous(this.input.value);
      if (previous !== null) {
        event.preventDefault();
        this.input.value = previous;
        this.input.setSelectionRange(previous.length, previous.length);
        this.renderInput();
      }
    } else if (event.key === "ArrowDown" && onLastLine && this.history.browsing && !event.shiftKey) {
      const next = this.history.next();
      if (next !== null) {
        event.preventDefault();
        this.input.value = next;
        this.input.setSelectionRange(next.length, next.length);
        this.renderInput();
      }
    } else if (event.key === "Escape" && this.input.value) {
      this.input.value = "";
      this.renderInput();
    }
  }

  // ---------------------------------------------------------------- daemon

  private async onConnection(state: ConnectionState): Promise<void> {
    this.renderConnection(state);
    this.renderInput();
    if (state !== "open") {
      this.subscribed = null;
      return;
    }
    try {
      await this.refreshSessions();
      if (this.sessionId && this.sessions.some((s) => s.sessionId === this.sessionId)) {
        await this.subscribe();
      } else {
        const fallback = this.defaultSession();
        if (this.sessionId && !fallback) this.announce("That session no longer exists.");
        if (fallback) await this.selectSession(fallback.sessionId);
        else this.showNoSession();
      }
    } catch (error) {
      this.announce(`Cannot load sessions: ${errorText(error)}`);
    }
  }

  private defaultSession(): Session | null {
    const live = this.sessions.filter((s) => s.status === "RUNNING" || s.status === "STARTING");
    const pool = live.length > 0 ? live : this.sessions;
    return [...pool].sort((a, b) => b.updatedAt - a.updatedAt)[0] ?? null;
  }

  private async refreshSessions(): Promise<void> {
    const list = await this.link.call("session/list", {});
    this.sessions = [...list.sessions].sort((a, b) => b.createdAt - a.createdAt);
    const current = this.sessions.find((s) => s.sessionId === this.sessionId);
    if (current) this.session = current;
    this.renderPicker();
  }

  /** Opens a session someone else created (the editor's commands). */
  async openSession(sessionId: string): Promise<void> {
    await this.refreshSessions().catch(() => undefined);
    await this.selectSession(sessionId);
  }

  /** Opens a session: a fresh timeline replayed from its first event. */
  async selectSession(sessionId: string): Promise<void> {
    if (this.subscribed && this.subscribed !== sessionId) {
      const previous = this.subscribed;
      this.subscribed = null;
      this.link.call("session/unsubscribe", { sessionId: previous }).catch(() => undefined);
    }
    if (sessionId !== this.sessionId || this.session === null) {
      this.sessionId = sessionId;
      this.session = this.sessions.find((s) => s.sessionId === sessionId) ?? null;
      this.resetTimeline();
      this.referenceState = { kind: "loading" };
      this.host.sessionChanged(sessionId);
      this.history.seed(
        [...(this.session?.history ?? [])].reverse().map((item) => item.prompt),
      );
    }
    this.renderAll();
    await this.subscribe();
  }

  private resetTimeline(): void {
    this.timeline = new Timeline();
    this.cards.clear();
    clear(this.timelineList);
    this.stickToBottom = true;
    this.replayUntil = 0;
    this.previewStale = false;
    this.subscribed = null;
  }

  /** Subscribes (or resubscribes after a reconnect) from the last seq seen. */
  private subscribe(): Promise<void> {
    if (this.subscribing) return this.subscribing;
    const run = async (): Promise<void> => {
      const sessionId = this.sessionId;
      if (!sessionId || this.link.state !== "open") return;
      const resuming = this.timeline.lastSeq > 0;
      const result = await this.link.call("session/subscribe", { sessionId, afterSeq: this.timeline.lastSeq });
      if (sessionId !== this.sessionId) return;
      this.subscribed = sessionId;
      this.replayUntil = Math.max(this.replayUntil, result.lastSeq);
      this.catchingUp = resuming;
      if (!resuming) this.previewStale = false;
      await this.refreshSession();
      void this.loadReference();
      if (this.timeline.lastSeq >= this.replayUntil) this.replayDone();
    };
    const target = this.sessionId;
    this.subscribing = run()
      .catch((error: unknown) => this.announce(`Cannot follow the session: ${errorText(error)}`))
      .finally(() => {
        this.subscribing = null;
        // Another session was chosen while this subscription was on its way: follow that one.
        if (this.sessionId !== target && this.sessionId) void this.subscribe();
      });
    return this.subscribing;
  }

  private async refreshSession(): Promise<void> {
    const sessionId = this.sessionId;
    if (!sessionId) return;
    try {
      const session = await this.link.call("session/get", { sessionId });
      if (sessionId !== this.sessionId) return;
      const previewChanged = session.previewUrl !== this.session?.previewUrl;
      if (previewChanged && (this.picked.length > 0 || this.picking)) {
        // A pick belongs to the page it was made on.
        this.picked = [];
        this.picking = false;
        this.renderPicked();
      }
      this.session = session;
      const index = this.sessions.findIndex((s) => s.sessionId === sessionId);
      if (index >= 0) this.sessions[index] = session;
      else this.sessions.unshift(session);
      this.renderPicker();
      this.renderSession(previewChanged);
      for (const card of this.cards.values()) card.sessionLogsUrl = session.logsUrl;
    } catch (error) {
      if (error instanceof DaemonError && error.code === "NOT_FOUND") {
        this.sessions = this.sessions.filter((s) => s.sessionId !== sessionId);
        this.showNoSession();
      }
    }
  }

  private onEvent(event: Event): void {
    if (event.sessionId !== this.sessionId) return;
    const change = this.timeline.apply(event);
    if (!change) return; // seen before: a replay after a reconnect
    this.renderEntry(change.entry, change.created, event);
    const live = event.seq > this.replayUntil;
    if (!live) {
      if (event.type === "PREVIEW_UPDATED" && this.catchingUp) {
        for (const file of event.data.files) this.changedFiles.add(file);
        this.changedDocument ||= !event.data.cssOnly;
        this.previewStale = true;
      }
      if (event.seq === this.replayUntil) this.replayDone();
      return;
    }
    switch (event.type) {
      case "PREVIEW_UPDATED":
        this.scheduleReload(event.data.files, event.data.cssOnly);
        this.scheduleReference();
        break;
      case "SESSION_READY":
      case "SESSION_STATUS":
      case "SESSION_PAUSED":
        void this.refreshSession();
        void this.refreshSessions().catch(() => undefined);
        break;
      case "REFERENCE_UPDATED":
      case "DRIFT_REPORT":
        this.scheduleReference();
        break;
      case "COMMAND_STATUS":
        if (event.data.status === "FAILED") {
          this.announce(`Command failed: ${event.data.errorSummary ?? "see the timeline"}`);
          void this.refreshSession();
        } else if (event.data.status === "READY") {
          this.announce("Command ready");
          void this.refreshSession();
        }
        break;
      default:
        break;
    }
  }

  /** The replay has caught up: act once on what it contained. */
  private replayDone(): void {
    this.catchingUp = false;
    if (this.previewStale) {
      this.previewStale = false;
      this.scheduleReload([], false);
    }
    this.renderChip();
  }

  private async send(): Promise<void> {
    const text = this.input.value.trim();
    const reason = this.blockedReason();
    if (reason || !text || this.sending || !this.sessionId) {
      if (reason) this.inputError.textContent = reason;
      return;
    }
    this.sending = true;
    this.renderInput();
    try {
      const target = targetOf(this.picked);
      await this.link.call("command/submit", {
        sessionId: this.sessionId,
        instruction: text,
        idempotencyKey: uuid(),
        ...(target ? { target } : {}),
      });
      this.history.push(text);
      this.input.value = "";
      this.inputError.textContent = "";
    } catch (error) {
      this.inputError.textContent = `Not sent: ${errorText(error)}`;
    } finally {
      this.sending = false;
      this.renderInput();
      this.input.focus();
    }
  }

  /** Switches the preview's pick mode on or off (the page's reload client does the picking). */
  private setPicking(on: boolean): void {
    const url = this.session?.previewUrl;
    const frame = this.previewFrame.contentWindow;
    if (!url || !frame) return;
    this.picking = on;
    // Only the preview's own origin may hear it.
    frame.postMessage({ type: "devflow:pick", on }, new URL(url).origin);
    this.renderPicked();
  }

  private addPicked(picked: PickedElement, add: boolean): void {
    const others = add ? this.picked.filter((p) => p.selector !== picked.selector) : [];
    this.picked = [...others, picked];
    if (!add) this.picking = false;
    this.renderPicked();
    this.input.focus();
  }

  private renderPicked(): void {
    this.pickButton.setAttribute("aria-pressed", String(this.picking));
    this.pickButton.textContent = this.picking ? "Picking… (Esc)" : "Pick";
    this.targetChips.replaceChildren(
      ...this.picked.map((picked) => {
        const remove = h(
          "button",
          { class: "target-chip-remove", title: `Remove ${picked.label}`, attrs: { type: "button", "aria-label": `Remove ${picked.label}` } },
          "×",
        );
        remove.addEventListener("click", () => {
          this.picked = this.picked.filter((p) => p !== picked);
          this.renderPicked();
        });
        return h(
          "span",
          { class: "target-chip", title: picked.selector, attrs: { "data-selector": picked.selector } },
          h("span", { class: "target-chip-text" }, pickedLabel(picked)),
          remove,
        );
      }),
    );
    this.targetChips.hidden = this.picked.length === 0;
  }

  private async togglePause(): Promise<void> {
    const session = this.session;
    if (!session) return;
    try {
      const method = session.paused ? "session/resume" : "session/pause";
      this.session = await this.link.call(method, { sessionId: session.sessionId });
      this.renderSession(false);
    } catch (error) {
      this.announce(errorText(error));
    }
  }

  private async toggleRunning(): Promise<void> {
    const session = this.session;
    if (!session) return;
    const running = session.status === "RUNNING" || session.status === "STARTING";
    this.stopButton.disabled = true;
    try {
      this.session = await this.link.call(running ? "session/stop" : "session/start", { sessionId: session.sessionId });
      this.renderSession(true);
    } catch (error) {
      this.announce(errorText(error));
      this.renderSession(false);
    }
  }

  private async rollback(patchId: string): Promise<void> {
    const sessionId = this.sessionId;
    if (!sessionId) return;
    try {
      const result = await this.link.call("session/rollback", { sessionId, patchId });
      this.announce(`Rolled back ${result.files.join(", ")}`);
    } catch (error) {
      this.announce(`Rollback failed: ${errorText(error)}`);
      for (const card of this.cards.values()) card.rollbackFailed();
    }
  }

  private async loadReference(): Promise<void> {
    const sessionId = this.sessionId;
    if (!sessionId) return;
    if (this.referenceState.kind !== "ready") {
      this.referenceState = { kind: "loading" };
      this.renderReference();
    }
    let state: ReferenceState;
    try {
      state = { kind: "ready", reference: await this.link.call("reference/get", { sessionId }) };
    } catch (error) {
      // A lost connection says nothing about the reference: keep what is shown, the
      // resubscription after the reconnect loads it again.
      if (error instanceof DaemonError && error.code === "DISCONNECTED") return;
      if (error instanceof DaemonError && error.code === "NOT_FOUND") {
        state = {
          kind: "none",
          message: "Add design tokens (JSON) or a zip of tokens and screens/ to compare your site with its ideal design.",
        };
      } else if (error instanceof DaemonError && error.code === "NOT_CONFIGURED") {
        state = { kind: "unavailable", message: "This daemon cannot serve FrontSwatch references yet." };
      } else {
        state = { kind: "error", message: errorText(error) };
      }
    }
    if (sessionId !== this.sessionId) return;
    const redraw = referenceRedraw(this.referenceState, state);
    this.referenceState = state;
    if (redraw === "all") {
      this.renderReference();
    } else if (redraw === "drift" && state.kind === "ready") {
      this.referenceBody.querySelector(".drift")?.replaceWith(driftView(state.reference.driftScore));
    }
  }

  private scheduleReference(): void {
    if (this.referenceTimer) clearTimeout(this.referenceTimer);
    this.referenceTimer = setTimeout(() => {
      this.referenceTimer = null;
      void this.loadReference();
    }, 150);
  }

  private async uploadReference(file: File): Promise<void> {
    const sessionId = this.sessionId;
    if (!sessionId) return;
    this.referenceState = { kind: "loading" };
    this.renderReference();
    try {
      const reference = await this.link.uploadReference(sessionId, file);
      this.referenceState = { kind: "ready", reference };
    } catch (error) {
      this.referenceState = { kind: "error", message: errorText(error) };
    }
    this.renderReference();
  }

  private async fetchCommand(commandId: string): Promise<void> {
    const sessionId = this.sessionId;
    if (!sessionId) return;
    try {
      const command = await this.link.call("command/get", { sessionId, commandId });
      const entry = this.timeline.commands.get(commandId);
      if (!entry || sessionId !== this.sessionId) return;
      entry.command = command;
      if (command.patchId && !entry.patchIds.includes(command.patchId)) entry.patchIds.push(command.patchId);
      this.cards.get(commandId)?.update(Date.now());
      this.followTimeline();
    } catch {
      // The card keeps its placeholder title; the events still tell the story.
    }
  }

  private async fetchPatch(patchId: string): Promise<void> {
    const sessionId = this.sessionId;
    if (!sessionId) return;
    try {
      const patch = await this.link.call("patch/get", { sessionId, patchId });
      if (sessionId !== this.sessionId) return;
      const entry = this.timeline.setPatch(patch);
      if (entry) this.cards.get(entry.commandId)?.update(Date.now());
      this.followTimeline();
    } catch {
      // Shown as "Loading the diff…"; the next reconnect refetches.
    }
  }

  // ---------------------------------------------------------------- preview

  private scheduleReload(files: readonly string[], cssOnly: boolean): void {
    if (this.selfReloadingPreview !== null && this.selfReloadingPreview === this.session?.previewUrl) return;
    for (const file of files) this.changedFiles.add(file);
    this.changedDocument ||= !cssOnly;
    if (this.reloadTimer) clearTimeout(this.reloadTimer);
    this.reloadTimer = setTimeout(() => {
      this.reloadTimer = null;
      const changed = [...this.changedFiles];
      const documentChanged = this.changedDocument;
      this.changedFiles.clear();
      this.changedDocument = false;
      void this.refreshCached(changed).then(() => this.reloadPreview(documentChanged));
    }, 60);
  }

  /**
   * The static preview sends Last-Modified without Cache-Control, so the browser may keep
   * using a changed file for days (heuristic freshness) and an iframe navigation does not
   * revalidate. Refetching the changed files with `cache: "reload"` replaces their cache
   * entries: the preview is on a loopback port of this page's site, so it shares this
   * page's cache partition (credentials included, as the frame's own requests are).
   */
  private async refreshCached(files: readonly string[]): Promise<void> {
    const base = this.session?.previewUrl;
    if (!base) return;
    const urls = new Set<string>();
    for (const file of files) {
      try {
        urls.add(new URL(file.split("/").map(encodeURIComponent).join("/"), base).toString());
      } catch {
        // Not a path the preview serves; the reload still happens.
      }
    }
    const abort = new AbortController();
    const timer = setTimeout(() => abort.abort(), 2000);
    await Promise.allSettled(
      [...urls].map((url) => fetch(url, { cache: "reload", mode: "no-cors", credentials: "include", signal: abort.signal })),
    );
    clearTimeout(timer);
  }

  /**
   * Reloads only the iframe (the panel itself never reloads). The preview is another
   * origin, so its location cannot be reloaded from here; a navigation to the same URL
   * would take the page from the cache, so when the page itself may have changed the URL
   * carries a `devflow-reload` counter.
   */
  private reloadPreview(documentChanged = true): void {
    const url = this.session?.previewUrl;
    if (!url || this.previewFrame.hidden) return;
    this.previewReloads += 1;
    this.previewFrame.dataset["reloads"] = String(this.previewReloads);
    let target = url;
    if (documentChanged) {
      const busted = new URL(url);
      busted.searchParams.set("devflow-reload", String(this.previewReloads));
      target = busted.toString();
    }
    this.previewFrame.src = target;
  }

  // ---------------------------------------------------------------- dialog

  private openDialog(): void {
    this.dialogError.textContent = "";
    this.dialogBusy.textContent = "";
    if (!this.dialog.open) this.dialog.showModal();
    this.nameInput.focus();
  }

  private async createFromZip(file: File): Promise<void> {
    this.setDialogBusy(`Uploading ${file.name}…`);
    try {
      const name = this.nameInput.value.trim() || file.name.replace(/\.zip$/i, "");
      const created = await this.link.call("session/create", { name });
      await this.link.uploadZip(created, file);
      this.setDialogBusy("Starting the preview…");
      await this.link.call("session/start", { sessionId: created.sessionId });
      await this.opened(created.sessionId);
    } catch (error) {
      this.dialogFailed(error);
    }
  }

  private async createFromFolder(): Promise<void> {
    const path = this.folderInput.value.trim();
    if (!path) {
      this.dialogError.textContent = "Type the folder's path.";
      this.folderInput.focus();
      return;
    }
    this.setDialogBusy("Opening the folder…");
    try {
      const name = this.nameInput.value.trim();
      const created = await this.link.call("session/create", {
        source: { kind: "dir", path },
        ...(name ? { name } : {}),
      });
      await this.link.call("session/start", { sessionId: created.sessionId });
      await this.opened(created.sessionId);
    } catch (error) {
      this.dialogFailed(error);
    }
  }

  private setDialogBusy(text: string): void {
    if (!this.dialog.open) this.dialog.showModal();
    this.dialogError.textContent = "";
    this.dialogBusy.textContent = text;
  }

  private dialogFailed(error: unknown): void {
    if (!this.dialog.open) this.dialog.showModal();
    this.dialogBusy.textContent = "";
    this.dialogError.textContent = errorText(error);
  }

  private async opened(sessionId: string): Promise<void> {
    this.dialogBusy.textContent = "";
    this.nameInput.value = "";
    if (this.dialog.open) this.dialog.close();
    await this.refreshSessions();
    await this.selectSession(sessionId);
    this.input.focus();
  }

  // ---------------------------------------------------------------- render

  private renderAll(): void {
    this.renderPicker();
    this.renderSession(true);
    this.renderReference();
    this.renderTimelineEmpty();
    this.renderChip();
    this.renderConnection(this.link.state);
  }

  private showNoSession(): void {
    this.sessionId = null;
    this.session = null;
    this.resetTimeline();
    this.referenceState = { kind: "no-session" };
    this.host.sessionChanged(null);
    this.renderAll();
  }

  private renderPicker(): void {
    const options: HTMLOptionElement[] = [];
    if (!this.sessionId) options.push(h("option", { attrs: { value: "" } }, this.sessions.length ? "Choose a session…" : "No sessions yet"));
    for (const session of this.sessions) {
      const option = h("option", { attrs: { value: session.sessionId } }, `${session.name} · ${session.status.toLowerCase()}`);
      options.push(option);
    }
    this.picker.replaceChildren(...options);
    this.picker.value = this.sessionId ?? "";
    this.picker.disabled = this.sessions.length === 0;
  }

  private renderSession(previewChanged: boolean): void {
    const session = this.session;
    this.pauseButton.disabled = !session;
    setLabel(this.pauseButton, session?.paused ? "Resume" : "Pause");
    this.pauseButton.setAttribute("aria-pressed", String(Boolean(session?.paused)));
    this.pauseButton.title = session?.paused ? "Resume the queue: waiting commands run" : "Pause the queue: new commands wait";
    const running = session?.status === "RUNNING" || session?.status === "STARTING";
    this.stopButton.disabled = !session;
    setLabel(this.stopButton, running || !session ? "Stop" : "Start", running || !session ? "Stop the session" : "Start the session");
    this.renderPreview(previewChanged);
    this.renderInput();
    this.renderChip();
  }

  private renderPreview(changed: boolean): void {
    const session = this.session;
    const url = session?.status === "RUNNING" ? session.previewUrl : null;
    clear(this.previewEmpty);
    if (url) {
      this.previewEmpty.hidden = true;
      const wasHidden = this.previewFrame.hidden;
      this.previewFrame.hidden = false;
      if (changed || wasHidden || !this.previewFrame.getAttribute("src")) this.previewFrame.src = url;
      this.previewLink.href = url;
      this.previewLink.textContent = url;
      this.previewLink.hidden = false;
      this.reloadButton.disabled = false;
      return;
    }
    this.previewFrame.hidden = true;
    this.previewFrame.removeAttribute("src");
    this.previewLink.hidden = true;
    this.reloadButton.disabled = true;
    this.previewEmpty.hidden = false;
    if (!session) {
      append(
        this.previewEmpty,
        h("p", { class: "empty-title" }, "Open a site to start"),
        h("p", { class: "muted" }, "Upload a .zip of your site (drop it anywhere here) or open a folder on this machine."),
        h("button", { class: "primary", attrs: { type: "button" }, on: { click: () => this.openDialog() } }, "New session…"),
      );
    } else if (session.status === "STARTING" || session.status === "CREATED") {
      append(this.previewEmpty, h("p", { class: "empty-title" }, session.status === "STARTING" ? "Starting the preview…" : "The session has not started"));
      if (session.status === "CREATED") {
        append(this.previewEmpty, h("button", { class: "primary", attrs: { type: "button" }, on: { click: () => void this.toggleRunning() } }, "Start"));
      }
    } else {
      append(
        this.previewEmpty,
        h("p", { class: "empty-title" }, session.status === "ERROR" ? "The preview failed" : "The session is stopped"),
        session.lastErrorSummary && session.status === "ERROR" ? h("p", { class: "muted" }, session.lastErrorSummary) : null,
        h("button", { class: "primary", attrs: { type: "button" }, on: { click: () => void this.toggleRunning() } }, "Start again"),
      );
    }
  }

  private renderReference(): void {
    const canUpload = this.sessionId !== null;
    this.side.dataset["reference"] = this.referenceState.kind;
    this.referenceBody.replaceChildren(
      renderReference(this.referenceState, {
        loadResource: (url) => this.link.resourceSource(url),
        chooseReferenceFile: canUpload ? () => this.referenceInput.click() : null,
        chosenScreen: this.chosenScreen,
        screenChosen: (name) => {
          this.chosenScreen = name;
        },
      }),
    );
  }

  private blockedReason(): string | null {
    if (this.link.state === "unauthorized") return "The daemon refused the access token.";
    if (this.link.state !== "open") return "Reconnecting to the daemon…";
    const session = this.session;
    if (!session) return "Open or create a session first.";
    if (session.status === "STARTING") return "The preview is starting…";
    if (session.status !== "RUNNING") return `The session is ${session.status.toLowerCase()}: start it to send instructions.`;
    if (session.paused) return "The queue is paused: resume it to send instructions.";
    return null;
  }

  private renderInput(): void {
    const reason = this.blockedReason();
    this.input.disabled = reason !== null;
    this.sendButton.disabled = reason !== null || this.sending || this.input.value.trim() === "";
    this.form.dataset["blocked"] = reason ? "true" : "false";
    this.hint.textContent = reason ?? "Enter sends · Shift+Enter for a new line · ↑ recalls earlier instructions";
    this.hint.classList.toggle("blocked", reason !== null);
  }

  private renderConnection(state: ConnectionState): void {
    this.connection.dataset["state"] = state;
    const text: Record<ConnectionState, string> = {
      connecting: "Connecting…",
      open: "Connected",
      reconnecting: "Reconnecting…",
      unauthorized: "Token refused",
      closed: "Disconnected",
    };
    this.connection.textContent = text[state];
    this.connection.title = state === "open" ? "Connected to the devflow daemon" : "The daemon is not reachable; retrying";
  }

  private renderTimelineEmpty(): void {
    this.timelineEmpty.hidden = this.timeline.entries.length > 0;
    this.timelineEmpty.textContent = this.sessionId ? "No commands yet. Type an instruction below." : "Open a session to see its activity.";
  }

  /** Keeps the newest activity in view unless the reader has scrolled up to older entries. */
  private followTimeline(): void {
    if (this.stickToBottom) this.timelineScroller.scrollTop = this.timelineScroller.scrollHeight;
  }

  private renderEntry(entry: Entry, created: boolean, event: Event): void {
    if (entry.kind === "session") {
      this.timelineList.appendChild(renderSessionEvent(entry.event));
    } else {
      let card = this.cards.get(entry.commandId);
      if (!card || created) {
        card = new CommandCard(entry, {
          rollback: (patchId) => void this.rollback(patchId),
          openLogs: (url) => this.link.openLogs(url, this.sessionId ?? ""),
          logsHref: (url) => this.link.resourceUrl(url),
          loadResource: (url) => this.link.resourceSource(url),
          laterApplied: (patchId) => {
            const applied = this.timeline.appliedPatches();
            const index = applied.indexOf(patchId);
            return index < 0 ? 0 : applied.length - index - 1;
          },
        });
        card.sessionLogsUrl = this.session?.logsUrl ?? null;
        this.cards.set(entry.commandId, card);
        this.timelineList.appendChild(card.element);
        void this.fetchCommand(entry.commandId);
      } else {
        card.addEvent(event);
      }
      if (event.type === "PATCH_APPLY_COMPLETED") void this.fetchPatch(event.data.patchId);
      // The final command has what the events do not carry: verification and screenshots.
      if (event.type === "COMMAND_STATUS" && !created && TERMINAL.has(event.data.status)) void this.fetchCommand(entry.commandId);
      card.update(Date.now());
      // A rollback changes which patches later ones would take with them.
      if (event.type === "ROLLBACK_COMPLETED" || event.type === "PATCH_APPLY_COMPLETED") {
        for (const other of this.cards.values()) if (other !== card) other.update(Date.now());
      }
    }
    this.renderTimelineEmpty();
    this.renderChip();
    this.followTimeline();
  }

  private renderChip(): void {
    const current = this.timeline.current();
    const status = current ? current.status : "IDLE";
    this.chip.dataset["status"] = status;
    if (this.chipText.textContent !== status) this.chipText.textContent = status;
    const now = Date.now();
    this.chipElapsed.textContent = current ? formatElapsed((current.finishedAt ?? now) - current.queuedAt) : "";
    const running = current !== null && !TERMINAL.has(current.status);
    this.chip.title = current?.command ? `${status}: ${current.command.instruction}` : status;
    if (running && !this.tickTimer) {
      this.tickTimer = setInterval(() => {
        this.renderChip();
        const live = this.timeline.current();
        if (live) this.cards.get(live.commandId)?.update(Date.now());
      }, 250);
    } else if (!running && this.tickTimer) {
      clearInterval(this.tickTimer);
      this.tickTimer = null;
    }
  }

  private announce(text: string): void {
    this.announcer.textContent = text;
  }
}

/** One element picked in the preview, as its reload client described it. */
interface PickedElement {
  selector: string;
  label: string;
  pageUrl: string;
  matches: number;
  index: number;
}

function readPicked(data: object): PickedElement | null {
  const d = data as Record<string, unknown>;
  const text = (v: unknown, max: number): string | null => (typeof v === "string" && v.length > 0 && v.length <= max ? v : null);
  const count = (v: unknown): number => (typeof v === "number" && Number.isInteger(v) && v > 0 ? v : 1);
  const selector = text(d["selector"], 2000);
  if (!selector) return null;
  return {
    selector,
    label: text(d["label"], 300) ?? selector,
    pageUrl: text(d["pageUrl"], 2000) ?? "",
    matches: count(d["matches"]),
    index: count(d["index"]),
  };
}

/** "h1.title — element 1 of 1". */
export function pickedLabel(picked: PickedElement): string {
  return `${picked.label} — element ${picked.index} of ${picked.matches}`;
}

/** The command's target: one picked element, or several as one selector list. */
function targetOf(picked: PickedElement[]): { selector: string; pageUrl?: string } | null {
  const first = picked[0];
  if (!first) return null;
  const selector = picked.map((p) => p.selector).join(", ");
  return first.pageUrl ? { selector, pageUrl: first.pageUrl } : { selector };
}
