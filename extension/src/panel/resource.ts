// Daemon resources the panel shows — a command's screenshots and difference images, the
// reference screens — put into <img> and <iframe> elements through the link. The browser
// host points them at the daemon's URL (token in the query); a webview has no HTTP route to
// `devflow lsp`, so its link reads the bytes with `resource/read` and they go in as a
// `data:` URL (images) or as `srcdoc` (HTML pages). An element says `data-state` =
// loading / loaded / error, and on failure why, in its alt text or title.

import type { ResourceSource } from "./api.ts";

export type LoadResource = (url: string) => Promise<ResourceSource>;

/** What an <img> `src` becomes. */
export function imageSrc(source: ResourceSource): string {
  return source.kind === "url" ? source.url : `data:${source.mediaType};base64,${source.base64}`;
}

/** The bytes of an inline source as UTF-8 text (an HTML page). */
export function sourceText(source: Extract<ResourceSource, { kind: "bytes" }>): string {
  const binary = atob(source.base64);
  const bytes = new Uint8Array(binary.length);
  for (let i = 0; i < binary.length; i++) bytes[i] = binary.charCodeAt(i);
  return new TextDecoder().decode(bytes);
}

function failure(error: unknown): string {
  return error instanceof Error && error.message ? error.message : "the daemon did not answer";
}

/** Loads `url` into `img`; `alt` is what the picture shows, kept when it loads. */
export async function attachImage(img: HTMLImageElement, url: string, load: LoadResource): Promise<void> {
  const alt = img.alt;
  img.dataset["state"] = "loading";
  img.setAttribute("aria-busy", "true");
  try {
    img.src = imageSrc(await load(url));
    img.dataset["state"] = "loaded";
  } catch (error) {
    img.dataset["state"] = "error";
    img.alt = `${alt}: could not be loaded (${failure(error)})`;
    img.title = img.alt;
  } finally {
    img.removeAttribute("aria-busy");
  }
}

/**
 * Loads the HTML page at `url` into `frame`, which never runs its scripts. Over HTTP the
 * daemon's sandbox CSP lets its inline styles apply. Inline, the page is a `srcdoc` and
 * inherits the webview's CSP, which refuses inline styles; so the frame is same-origin
 * (still without scripts) and the panel gives the page its `<style>`s and `style`
 * attributes back through CSSOM, which a CSP does not govern.
 */
export async function attachPage(frame: HTMLIFrameElement, url: string, load: LoadResource): Promise<void> {
  frame.dataset["state"] = "loading";
  frame.setAttribute("aria-busy", "true");
  try {
    const source = await load(url);
    if (source.kind === "url") {
      frame.setAttribute("sandbox", "");
      frame.src = source.url;
    } else {
      frame.setAttribute("sandbox", "allow-same-origin");
      frame.addEventListener("load", () => restyle(frame), { once: true });
      frame.srcdoc = sourceText(source);
    }
    frame.dataset["state"] = "loaded";
  } catch (error) {
    frame.dataset["state"] = "error";
    frame.setAttribute("sandbox", "");
    frame.title = `${frame.title}: could not be loaded (${failure(error)})`;
    frame.srcdoc = escapeText(frame.title);
  } finally {
    frame.removeAttribute("aria-busy");
  }
}

function escapeText(text: string): string {
  return text.replace(/&/g, "&amp;").replace(/</g, "&lt;").replace(/>/g, "&gt;");
}

/** The page's own styles applied through CSSOM (see `attachPage`). */
function restyle(frame: HTMLIFrameElement): void {
  const doc = frame.contentDocument;
  const view = doc?.defaultView as (Window & typeof globalThis) | null | undefined;
  if (!doc || !view) return;
  const sheets: CSSStyleSheet[] = [];
  for (const style of doc.querySelectorAll("style")) {
    // A sheet must be made by the document that adopts it.
    const sheet = new view.CSSStyleSheet();
    sheet.replaceSync(style.textContent ?? "");
    sheets.push(sheet);
  }
  doc.adoptedStyleSheets = sheets;
  for (const element of doc.querySelectorAll<HTMLElement>("[style]")) {
    element.style.cssText = element.getAttribute("style") ?? "";
  }
}
