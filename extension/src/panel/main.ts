// Entry point of the panel in a plain browser (served by `devflow serve` at `/`). The VS
// Code webview has its own entry (webview.ts) with a different link to the daemon.

import { addressFor, readAddress, TOKEN_KEY } from "./boot.ts";
import { h } from "./dom.ts";
import { Panel } from "./panel.ts";
import { WsLink } from "./ws-link.ts";

function storage(): Storage | null {
  try {
    return window.sessionStorage;
  } catch {
    return null;
  }
}

function askForToken(container: HTMLElement, problem: string | null = null): void {
  const input = h("input", { id: "token-input", attrs: { type: "password", autocomplete: "off", spellcheck: "false" } });
  const form = h(
    "form",
    { class: "token-form" },
    h("h1", { class: "brand" }, "devflow"),
    h("p", {}, "This page needs the daemon's access token. Open the address that ", h("code", {}, "devflow serve"), " printed (it ends in ", h("code", {}, "?token=…"), "), or paste the token from the state dir's ", h("code", {}, "token"), " file."),
    problem ? h("p", { class: "input-error", role: "alert" }, problem) : null,
    h("label", { attrs: { for: "token-input" } }, "Access token"),
    h("div", { class: "row" }, input, h("button", { class: "primary", attrs: { type: "submit" } }, "Connect")),
  );
  form.addEventListener("submit", (event) => {
    event.preventDefault();
    const token = input.value.trim();
    if (!token) return;
    storage()?.setItem(TOKEN_KEY, token);
    start(container, token, null);
  });
  container.replaceChildren(form);
  input.focus();
}

function start(container: HTMLElement, token: string, sessionId: string | null): void {
  const link = new WsLink({ baseUrl: window.location.origin, token });
  const panel = new Panel(container, link, {
    initialSessionId: sessionId,
    workspaceFolder: null,
    sessionChanged: (id) => {
      history.replaceState(history.state, "", addressFor(window.location.href, id));
    },
  });
  window.addEventListener("pagehide", () => panel.dispose(), { once: true });
  link.onState((state) => {
    if (state !== "unauthorized") return;
    storage()?.removeItem(TOKEN_KEY);
    panel.dispose();
    askForToken(container, "The daemon refused that token.");
  });
  panel.start();
}

function main(): void {
  const container = document.getElementById("app") ?? document.body;
  const store = storage();
  const boot = readAddress(window.location.href, store?.getItem(TOKEN_KEY) ?? null);
  if (boot.cleanUrl !== null) history.replaceState(history.state, "", boot.cleanUrl);
  if (!boot.token) {
    askForToken(container);
    return;
  }
  store?.setItem(TOKEN_KEY, boot.token);
  start(container, boot.token, boot.sessionId);
}

main();
