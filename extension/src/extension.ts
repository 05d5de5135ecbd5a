// The VS Code / code-server extension host. `DevflowExtension` owns everything the
// extension creates (the link to the daemon, the panel's webview, the status bar item, the
// output channel, the commands) and disposes it all in one place. The link is `devflow lsp`
// started as a child, or — when the `devflow.daemonUrl` setting names a running
// `devflow serve`, as the daemon writes it into each session's code-server — JSON-RPC over
// WebSocket to that daemon, so the browser IDE uses the daemon it belongs to.

import { mkdtemp, rm, writeFile } from "node:fs/promises";
import { accessSync, constants } from "node:fs";
import { tmpdir } from "node:os";
import { basename, join } from "node:path";
import { randomFillSync } from "node:crypto";
import * as vscode from "vscode";
import WebSocket from "ws";
import { LanguageClient, State, type LanguageClientOptions, type ServerOptions } from "vscode-languageclient/node";

import type { ToHost, ToWebview } from "./bridge-protocol.ts";
import { Bridge, type Daemon } from "./host/bridge.ts";
import { lspArgs, resolveDaemon } from "./host/daemon-path.ts";
import { makeNonce, webviewHtml } from "./host/html.ts";
import { StatusModel } from "./host/status.ts";
import { DaemonError, type Api, type ConnectionState, type CreateSessionResult, type Event, type RollbackResult, type Session } from "./panel/api.ts";
import { WsLink, type LinkSocket } from "./panel/ws-link.ts";

const SESSION_KEY = "devflow.sessionId";
const LOG_SCHEME = "devflow-log";

function executable(path: string): boolean {
  try {
    accessSync(path, constants.X_OK);
    return true;
  } catch {
    return false;
  }
}

class DevflowExtension implements vscode.Disposable, Daemon {
  private readonly disposables: vscode.Disposable[] = [];
  private readonly output = vscode.window.createOutputChannel("devflow", { log: true });
  private readonly statusItem = vscode.window.createStatusBarItem(vscode.StatusBarAlignment.Left, 50);
  private readonly status = new StatusModel();
  private readonly logChanged = new vscode.EventEmitter<vscode.Uri>();
  private client: LanguageClient | null = null;
  /** The link to a running daemon (`devflow.daemonUrl`), used instead of `client`. */
  private link: WsLink | null = null;
  private starting: Promise<LanguageClient> | null = null;
  private panel: vscode.WebviewPanel | null = null;
  private bridge: Bridge;
  private connectionState: ConnectionState = "connecting";

  constructor(private readonly context: vscode.ExtensionContext) {
    this.disposables.push(this.output, this.statusItem);
    this.bridge = new Bridge(
      this,
      {
        writeTemp: async (name, bytes) => {
          const dir = await mkdtemp(join(tmpdir(), "devflow-upload-"));
          const path = join(dir, basename(name) || "upload");
          await writeFile(path, bytes, { mode: 0o600 });
          return path;
        },
        remove: (path) => rm(join(path, ".."), { recursive: true, force: true }),
      },
      {
        post: (message) => this.post(message),
        openLogs: (sessionId) => void this.showLogs(sessionId),
        sessionChanged: (sessionId) => {
          void this.context.workspaceState.update(SESSION_KEY, sessionId);
          this.status.follow(sessionId);
          this.renderStatus();
        },
        ready: () =>
          this.post({
            kind: "init",
            sessionId: this.sessionId,
            workspaceFolder: vscode.workspace.workspaceFolders?.[0]?.uri.fsPath ?? null,
            state: this.connectionState,
          }),
      },
    );
    this.status.follow(this.sessionId);
    this.statusItem.command = "devflow.openPreview";
    this.statusItem.name = "devflow";
    this.renderStatus();
    this.statusItem.show();
    const command = (name: string, run: () => Promise<void>): void => {
      this.disposables.push(
        vscode.commands.registerCommand(name, () =>
          run().catch((error: unknown) => this.fail(error instanceof Error ? error.message : String(error))),
        ),
      );
    };
    this.disposables.push(
      this.logChanged,
      vscode.workspace.registerTextDocumentContentProvider(LOG_SCHEME, {
        onDidChange: this.logChanged.event,
        provideTextDocumentContent: async (uri) => {
          const sessionId = uri.path.replace(/^\//, "").replace(/\.log$/, "");
          const { text } = await this.call<{ text: string }>("session/logs", { sessionId, tail: 2000 });
          return text;
        },
      }),
      vscode.window.registerWebviewPanelSerializer("devflow.panel", {
        deserializeWebviewPanel: async (panel) => this.adopt(panel),
      }),
    );
    command("devflow.openPreview", () => this.openPanel());
    command("devflow.newSessionFromFolder", () => this.newSessionFromFolder());
    command("devflow.uploadZip", () => this.uploadZip());
    command("devflow.rollbackLastPatch", () => this.rollbackLast());
    command("devflow.showLogs", async () => {
      const id = this.sessionId;
      if (id) await this.showLogs(id);
      else this.output.show(true);
    });
  }

  get running(): boolean {
    if (this.link) return this.link.state === "open";
    return this.client?.state === State.Running;
  }

  /** The session last shown here, else the one the daemon configured this editor for. */
  private get sessionId(): string | null {
    const chosen = this.context.workspaceState.get<string | null>(SESSION_KEY, null);
    if (chosen) return chosen;
    return vscode.workspace.getConfiguration("devflow").get<string>("sessionId")?.trim() || null;
  }

  async request(method: string, params: unknown): Promise<unknown> {
    const link = this.remote();
    if (link) {
      try {
        return await link.call(method as keyof Api, params as never);
      } catch (error) {
        // The same shape a language client rejects with: the seed-004 object in `data`.
        if (error instanceof DaemonError && error.api) throw Object.assign(new Error(error.message), { data: error.api });
        throw error;
      }
    }
    const client = await this.ensureClient();
    return client.sendRequest(`devflow/${method}`, params);
  }

  /** The link to the running daemon named by `devflow.daemonUrl`; null when unset. */
  private remote(): WsLink | null {
    if (this.link) return this.link;
    const config = vscode.workspace.getConfiguration("devflow");
    const baseUrl = config.get<string>("daemonUrl")?.trim();
    if (!baseUrl) return null;
    const link = new WsLink({
      baseUrl,
      token: config.get<string>("token")?.trim() ?? "",
      createSocket: (url) => new WebSocket(url) as unknown as LinkSocket,
    });
    link.onEvent((event) => {
      if (this.status.apply(event)) this.renderStatus();
      this.post({ kind: "event", event });
    });
    link.onState((state) => this.setConnection(state));
    this.link = link;
    this.output.info(`connecting to the devflow daemon at ${baseUrl}`);
    return link;
  }

  /** Opens the link to the daemon: the configured one, else `devflow lsp`. */
  private connect(): void {
    if (this.remote()) return;
    void this.ensureClient().catch((error: unknown) => this.fail(error instanceof Error ? error.message : String(error)));
  }

  private call<T>(method: string, params: unknown): Promise<T> {
    return this.request(method, params).catch((error: unknown) => {
      const data = (error as { data?: { message?: string } }).data;
      throw new Error(data?.message ?? (error instanceof Error ? error.message : String(error)));
    }) as Promise<T>;
  }

  /** Starts `devflow lsp` once; the language client restarts it if it dies. */
  private ensureClient(): Promise<LanguageClient> {
    if (this.client && this.client.state !== State.Stopped) return Promise.resolve(this.client);
    if (this.starting) return this.starting;
    const run = async (): Promise<LanguageClient> => {
      const config = vscode.workspace.getConfiguration("devflow");
      const resolved = resolveDaemon(config.get<string>("path"), process.env["PATH"], executable);
      if (!resolved.ok) throw new Error(resolved.message);
      const server: ServerOptions = {
        command: resolved.path,
        // No `transport`: with TransportKind.stdio the client would append `--stdio`, which
        // `devflow lsp` does not take; left out, it talks over the child's stdio all the same.
        args: lspArgs(config.get<string>("stateDir")),
        options: { env: { ...process.env, RUST_LOG: process.env["RUST_LOG"] ?? "info" } },
      };
      const options: LanguageClientOptions = {
        documentSelector: [],
        outputChannel: this.output,
        traceOutputChannel: this.output,
      };
      const client = new LanguageClient("devflow", "devflow", server, options);
      this.disposables.push(
        client.onDidChangeState(({ newState }) => {
          this.setConnection(newState === State.Running ? "open" : "reconnecting");
        }),
        client.onNotification("devflow/event", (event: Event) => {
          if (this.status.apply(event)) this.renderStatus();
          this.post({ kind: "event", event });
        }),
      );
      this.client = client;
      this.output.info(`starting ${resolved.path} ${lspArgs(config.get<string>("stateDir")).join(" ")}`);
      await client.start();
      this.setConnection("open");
      return client;
    };
    this.starting = run().finally(() => {
      this.starting = null;
    });
    return this.starting;
  }

  private setConnection(state: ConnectionState): void {
    this.connectionState = state;
    this.status.connection(state === "open");
    this.renderStatus();
    this.post({ kind: "state", state });
  }

  private renderStatus(): void {
    const view = this.status.view();
    this.statusItem.text = view.text;
    this.statusItem.tooltip = view.tooltip;
  }

  private post(message: ToWebview): void {
    void this.panel?.webview.postMessage(message);
  }

  private async openPanel(sessionId?: string): Promise<void> {
    if (sessionId) {
      await this.context.workspaceState.update(SESSION_KEY, sessionId);
      this.status.follow(sessionId);
    }
    this.connect();
    if (this.panel) {
      this.panel.reveal();
      if (sessionId) this.post({ kind: "open", sessionId });
      return;
    }
    const panel = vscode.window.createWebviewPanel("devflow.panel", "devflow", vscode.ViewColumn.Active, this.webviewOptions());
    this.adopt(panel);
  }

  private webviewOptions(): vscode.WebviewPanelOptions & vscode.WebviewOptions {
    return {
      enableScripts: true,
      retainContextWhenHidden: true,
      localResourceRoots: [vscode.Uri.joinPath(this.context.extensionUri, "out")],
    };
  }

  /** Fills a webview panel with the panel UI: a new one, or one VS Code restores after a reload. */
  adopt(panel: vscode.WebviewPanel): void {
    if (this.panel && this.panel !== panel) this.panel.dispose();
    const out = vscode.Uri.joinPath(this.context.extensionUri, "out");
    panel.webview.options = this.webviewOptions();
    this.connect();
    panel.iconPath = vscode.Uri.joinPath(this.context.extensionUri, "media", "icon.svg");
    panel.webview.html = webviewHtml({
      cspSource: panel.webview.cspSource,
      scriptUri: panel.webview.asWebviewUri(vscode.Uri.joinPath(out, "webview.js")).toString(),
      styleUri: panel.webview.asWebviewUri(vscode.Uri.joinPath(out, "panel.css")).toString(),
      nonce: makeNonce((bytes) => randomFillSync(bytes)),
    });
    const listener = panel.webview.onDidReceiveMessage((message: ToHost) => void this.bridge.receive(message));
    panel.onDidDispose(() => {
      listener.dispose();
      this.panel = null;
    });
    this.panel = panel;
  }

  private async newSessionFromFolder(): Promise<void> {
    const folders = vscode.workspace.workspaceFolders ?? [];
    let folder: vscode.Uri | undefined;
    if (folders.length === 1) folder = folders[0]!.uri;
    else if (folders.length > 1) {
      const pick = await vscode.window.showWorkspaceFolderPick({ placeHolder: "Folder to open as a devflow session" });
      folder = pick?.uri;
    } else {
      const picked = await vscode.window.showOpenDialog({ canSelectFolders: true, canSelectFiles: false, openLabel: "Open in devflow" });
      folder = picked?.[0];
    }
    if (!folder) return;
    const created = await this.call<CreateSessionResult>("session/create", {
      source: { kind: "dir", path: folder.fsPath },
      name: basename(folder.fsPath),
    });
    await this.call<Session>("session/start", { sessionId: created.sessionId });
    await this.openPanel(created.sessionId);
  }

  private async uploadZip(): Promise<void> {
    const picked = await vscode.window.showOpenDialog({
      canSelectFiles: true,
      canSelectMany: false,
      filters: { "Site zip": ["zip"] },
      openLabel: "Upload to devflow",
    });
    const zip = picked?.[0];
    if (!zip) return;
    const created = await this.call<CreateSessionResult>("session/create", { name: basename(zip.fsPath, ".zip") });
    await this.call("session/upload", { sessionId: created.sessionId, zipPath: zip.fsPath });
    await this.call<Session>("session/start", { sessionId: created.sessionId });
    await this.openPanel(created.sessionId);
  }

  private async rollbackLast(): Promise<void> {
    const sessionId = this.sessionId;
    if (!sessionId) {
      await this.fail("No devflow session is open. Run “devflow: Open Preview” first.");
      return;
    }
    const result = await this.call<RollbackResult>("session/rollback", { sessionId });
    void vscode.window.showInformationMessage(`devflow rolled back ${result.files.join(", ") || "the last patch"}.`);
  }

  /** The session's log as a read-only document (`devflow-log:` scheme), fetched on open. */
  private async showLogs(sessionId: string): Promise<void> {
    const uri = vscode.Uri.from({ scheme: LOG_SCHEME, path: `/${sessionId}.log` });
    this.logChanged.fire(uri);
    const document = await vscode.workspace.openTextDocument(uri);
    await vscode.languages.setTextDocumentLanguage(document, "log");
    await vscode.window.showTextDocument(document, { viewColumn: vscode.ViewColumn.Beside, preview: true });
  }

  private async fail(message: string): Promise<void> {
    this.output.error(message);
    const choice = await vscode.window.showErrorMessage(`devflow: ${message}`, "Show Output");
    if (choice) this.output.show(true);
  }

  dispose(): void {
    this.panel?.dispose();
    this.link?.dispose();
    void this.client?.stop().catch(() => undefined);
    for (const disposable of this.disposables.splice(0)) disposable.dispose();
  }
}

let extension: DevflowExtension | null = null;

export function activate(context: vscode.ExtensionContext): void {
  extension = new DevflowExtension(context);
  context.subscriptions.push(extension);
}

export function deactivate(): Promise<void> | undefined {
  extension = null;
  return undefined;
}
