// Entry point of the panel inside a VS Code webview: the same Panel, linked to the daemon
// through the extension host (which runs `devflow lsp`) instead of a WebSocket.

import type { ToHost, ToWebview } from "../bridge-protocol.ts";
import { MessageLink } from "./message-link.ts";
import { Panel } from "./panel.ts";

interface VsCodeApi {
  postMessage(message: ToHost): void;
  getState(): { sessionId?: string | null } | undefined;
  setState(state: { sessionId: string | null }): void;
}

declare function acquireVsCodeApi(): VsCodeApi;

function main(): void {
  const vscode = acquireVsCodeApi();
  const container = document.getElementById("app") ?? document.body;
  const link = new MessageLink((message) => vscode.postMessage(message));
  let panel: Panel | null = null;

  window.addEventListener("message", (event: MessageEvent<ToWebview>) => {
    const message = event.data;
    if (!message || typeof message !== "object" || typeof message.kind !== "string") return;
    if (message.kind === "init" && panel === null) {
      panel = new Panel(container, link, {
        initialSessionId: vscode.getState()?.sessionId ?? message.sessionId,
        workspaceFolder: message.workspaceFolder,
        sessionChanged: (sessionId) => {
          vscode.setState({ sessionId });
          vscode.postMessage({ kind: "sessionChanged", sessionId });
        },
      });
      panel.start();
    }
    if (message.kind === "open") void panel?.openSession(message.sessionId);
    link.receive(message);
  });
  vscode.postMessage({ kind: "ready" });
}

main();
