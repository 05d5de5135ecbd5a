// Pictures and reference screens through the link: in a webview the message link reads them
// with `resource/read` from a (fake) extension host and they go into <img> as `data:` URLs
// or into an <iframe> as `srcdoc`; the browser host keeps the daemon's URL with the token.
// Node has no DOM, so the elements are small fakes with the properties resource.ts sets.

import assert from "node:assert/strict";
import { test } from "node:test";

import type { ToHost } from "../src/bridge-protocol.ts";
import type { ApiError } from "../src/panel/api.ts";
import { MessageLink } from "../src/panel/message-link.ts";
import { attachImage, attachPage, imageSrc, sourceText } from "../src/panel/resource.ts";
import { WsLink, type LinkSocket } from "../src/panel/ws-link.ts";

const PNG_BASE64 = "iVBORw0KGgo=";
const SHOT = "/sessions/s1/screenshots/c1/desktop-after-1.png";

/** A webview link whose host answers every `resource/read` with `answer(url)`. */
function webviewLink(answer: (url: string) => { result: unknown } | { error: ApiError }): {
  link: MessageLink;
  reads: string[];
} {
  const reads: string[] = [];
  const link: MessageLink = new MessageLink((message: ToHost) => {
    if (message.kind !== "call" || message.method !== "resource/read") return;
    const url = (message.params as { url: string }).url;
    reads.push(url);
    const reply = answer(url);
    // The host answers later, as postMessage does.
    setTimeout(() => {
      if ("result" in reply) link.receive({ kind: "result", id: message.id, result: reply.result });
      else link.receive({ kind: "error", id: message.id, error: reply.error });
    }, 0);
  });
  link.receive({ kind: "init", sessionId: "s1", workspaceFolder: null, state: "open" });
  return { link, reads };
}

function notFound(url: string): ApiError {
  return {
    error: "NOT_FOUND",
    message: `no screenshot with id ${JSON.stringify(url)}`,
    details: { field: "file", value: url },
    requestId: "r",
    timestamp: 0,
  };
}

interface FakeElement {
  src: string;
  srcdoc: string;
  alt: string;
  title: string;
  dataset: Record<string, string>;
  attributes: Map<string, string>;
  loadListeners: (() => void)[];
  setAttribute(name: string, value: string): void;
  removeAttribute(name: string): void;
  addEventListener(type: string, listener: () => void): void;
}

function fakeElement(alt = "", title = ""): FakeElement {
  return {
    src: "",
    srcdoc: "",
    alt,
    title,
    dataset: {},
    attributes: new Map(),
    loadListeners: [],
    setAttribute(name, value) {
      this.attributes.set(name, value);
    },
    removeAttribute(name) {
      this.attributes.delete(name);
    },
    addEventListener(type, listener) {
      if (type === "load") this.loadListeners.push(listener);
    },
  };
}

test("in a webview a screenshot is read over the link and shown as a data: URL", async () => {
  const { link, reads } = webviewLink(() => ({ result: { mediaType: "image/png", base64: PNG_BASE64 } }));
  const img = fakeElement("Desktop 1280×800 after the patch");
  const loading = attachImage(img as unknown as HTMLImageElement, SHOT, (url) => link.resourceSource(url));
  assert.equal(img.dataset["state"], "loading");
  assert.equal(img.attributes.get("aria-busy"), "true");
  assert.equal(img.src, "", "nothing to load before the bytes arrive");
  await loading;
  assert.deepEqual(reads, [SHOT]);
  assert.equal(img.src, `data:image/png;base64,${PNG_BASE64}`);
  assert.equal(img.dataset["state"], "loaded");
  assert.equal(img.attributes.has("aria-busy"), false);
  assert.equal(img.alt, "Desktop 1280×800 after the patch");
});

test("a picture the daemon cannot find says why in place of the picture", async () => {
  const { link } = webviewLink((url) => ({ error: notFound(url) }));
  const img = fakeElement("Desktop before the patch");
  await attachImage(img as unknown as HTMLImageElement, SHOT, (url) => link.resourceSource(url));
  assert.equal(img.dataset["state"], "error");
  assert.equal(img.src, "");
  assert.match(img.alt, /^Desktop before the patch: could not be loaded \(no screenshot with id/);
  assert.equal(img.title, img.alt);
});

test("a picture asked for while devflow restarts fails at once instead of waiting", async () => {
  const sent: ToHost[] = [];
  const link = new MessageLink((message) => sent.push(message));
  const img = fakeElement("Mobile after");
  await attachImage(img as unknown as HTMLImageElement, SHOT, (url) => link.resourceSource(url));
  assert.equal(sent.length, 0);
  assert.equal(img.dataset["state"], "error");
  assert.match(img.alt, /devflow is not running/);
});

test("in a webview an HTML reference screen becomes the frame's srcdoc, same-origin without scripts", async () => {
  const html = "<html><body><h1 style=\"color: red\">理想のホーム</h1></body></html>";
  const base64 = Buffer.from(html, "utf8").toString("base64");
  const { link } = webviewLink(() => ({ result: { mediaType: "text/html", base64 } }));
  const frame = fakeElement("", "Reference screen “home”");
  await attachPage(frame as unknown as HTMLIFrameElement, "/sessions/s1/reference/screens/home", (url) =>
    link.resourceSource(url),
  );
  assert.equal(frame.srcdoc, html, "the text decodes as UTF-8");
  assert.equal(frame.src, "");
  assert.equal(frame.attributes.get("sandbox"), "allow-same-origin", "scripts never run");
  assert.equal(frame.loadListeners.length, 1, "its styles are given back once it loads");
  assert.equal(frame.dataset["state"], "loaded");
});

test("a reference screen that cannot be read leaves an explaining, sandboxed frame", async () => {
  const { link } = webviewLink((url) => ({ error: notFound(url) }));
  const frame = fakeElement("", "Reference screen “home”");
  await attachPage(frame as unknown as HTMLIFrameElement, "/sessions/s1/reference/screens/home", (url) =>
    link.resourceSource(url),
  );
  assert.equal(frame.dataset["state"], "error");
  assert.equal(frame.attributes.get("sandbox"), "");
  assert.match(frame.title, /could not be loaded \(no screenshot with id/);
  assert.match(frame.srcdoc, /could not be loaded/);
});

test("the browser host keeps loading from the daemon's URL, with the token", async () => {
  const link = new WsLink({
    baseUrl: "http://127.0.0.1:7878",
    token: "t/k",
    createSocket: () =>
      ({ readyState: 0, send() {}, close() {}, addEventListener() {} }) as unknown as LinkSocket,
  });
  try {
    const source = await link.resourceSource(`http://127.0.0.1:7878${SHOT}`);
    assert.deepEqual(source, { kind: "url", url: `http://127.0.0.1:7878${SHOT}?token=t%2Fk` });
    assert.equal(imageSrc(source), source.url);
    const frame = fakeElement();
    await attachPage(frame as unknown as HTMLIFrameElement, "http://127.0.0.1:7878/sessions/s1/reference/screens/home", (url) =>
      link.resourceSource(url),
    );
    assert.equal(frame.src, "http://127.0.0.1:7878/sessions/s1/reference/screens/home?token=t%2Fk");
    assert.equal(frame.attributes.get("sandbox"), "", "an HTML screen over HTTP stays in an opaque origin");
    assert.equal(frame.srcdoc, "");
  } finally {
    link.dispose();
  }
});

test("inline bytes decode to text as UTF-8", () => {
  const text = "<p>見出し — “quoted”</p>";
  assert.equal(sourceText({ kind: "bytes", mediaType: "text/html", base64: Buffer.from(text).toString("base64") }), text);
});
