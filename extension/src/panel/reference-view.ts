// The FrontSwatch side: the reference screen, the design tokens grouped the way a designer
// reads them (colours, type scale, spacing, radius, fonts, the rest) and the drift score.
// `groupTokens` is pure; `renderReference` only builds DOM from a value.

import type { Reference, ReferenceScreen, ResolvedToken } from "./api.ts";
import { h } from "./dom.ts";
import { attachImage, attachPage, type LoadResource } from "./resource.ts";

export type ReferenceState =
  | { kind: "no-session" }
  | { kind: "loading" }
  /** The session has no reference yet. */
  | { kind: "none"; message: string }
  /** This daemon cannot serve references (NOT_CONFIGURED). */
  | { kind: "unavailable"; message: string }
  | { kind: "error"; message: string }
  | { kind: "ready"; reference: Reference };

export interface TokenGroups {
  colors: ResolvedToken[];
  typeScale: ResolvedToken[];
  spacing: ResolvedToken[];
  radius: ResolvedToken[];
  fonts: ResolvedToken[];
  other: ResolvedToken[];
}

function segments(token: ResolvedToken): string[] {
  return token.path.toLowerCase().split(/[.\-_/]/);
}

function parsePx(value: string): number | null {
  const match = /^(-?\d*\.?\d+)(px|rem|em)?$/.exec(value.trim());
  if (!match) return null;
  const number = Number(match[1]);
  return match[2] === "rem" || match[2] === "em" ? number * 16 : number;
}

/** Sorts dimension tokens by size, unknown sizes last, so a scale reads small to large. */
function bySize(a: ResolvedToken, b: ResolvedToken): number {
  return (parsePx(a.value) ?? Infinity) - (parsePx(b.value) ?? Infinity);
}

export function groupTokens(tokens: readonly ResolvedToken[]): TokenGroups {
  const groups: TokenGroups = { colors: [], typeScale: [], spacing: [], radius: [], fonts: [], other: [] };
  for (const token of tokens) {
    const parts = segments(token);
    const has = (...words: string[]): boolean => parts.some((p) => words.some((w) => p.includes(w)));
    const type = token.type.toLowerCase();
    if (type === "color") groups.colors.push(token);
    else if (type === "fontfamily") groups.fonts.push(token);
    else if (type === "dimension" && has("radius", "radii", "rounded", "corner")) groups.radius.push(token);
    else if (type === "dimension" && has("font", "text", "type", "heading", "size") && !has("spac", "space", "gap"))
      groups.typeScale.push(token);
    else if (type === "dimension" && has("spac", "space", "gap", "margin", "padding", "inset"))
      groups.spacing.push(token);
    else groups.other.push(token);
  }
  groups.typeScale.sort(bySize);
  groups.spacing.sort(bySize);
  groups.radius.sort(bySize);
  return groups;
}

/** Group words that the section heading already says. */
const GROUP_WORDS = new Set(["color", "colors", "colour", "colours", "font", "fonts", "space", "spacing", "radius", "radii", "size", "sizes", "typography"]);

/** The path without the group it is listed under: `color.brand.primary` → `brand.primary`. */
export function shortName(path: string): string {
  const parts = path.split(".");
  while (parts.length > 1 && GROUP_WORDS.has(parts[0]!.toLowerCase())) parts.shift();
  return parts.join(".");
}

function tokenName(token: ResolvedToken): HTMLElement {
  const full = token.aliasOf ? `${token.path} → {${token.aliasOf}}` : token.path;
  const name = h("span", { class: "token-name", title: token.description ? `${full}\n${token.description}` : full });
  // Long paths wrap at their dots before anywhere else.
  shortName(token.path)
    .split(".")
    .forEach((part, i) => {
      if (i > 0) name.append(".", document.createElement("wbr"));
      name.append(part);
    });
  return name;
}

function tokenValue(token: ResolvedToken): HTMLElement {
  return h("code", { class: "token-value" }, token.value);
}

function section(title: string, items: HTMLElement[], listClass: string): HTMLElement | null {
  if (items.length === 0) return null;
  const id = `ref-${title.toLowerCase().replace(/\W+/g, "-")}`;
  return h(
    "section",
    { class: "token-group", attrs: { "aria-labelledby": id } },
    h("h3", { id, text: title }),
    h("ul", { class: listClass }, ...items),
  );
}

function colorItem(token: ResolvedToken): HTMLElement {
  const chip = h("span", { class: "swatch", attrs: { "aria-hidden": "true" } });
  chip.style.background = token.value;
  return h("li", { class: "color" }, chip, h("span", { class: "token-text" }, tokenName(token), tokenValue(token)));
}

function typeItem(token: ResolvedToken): HTMLElement {
  const sample = h("span", { class: "type-sample", attrs: { "aria-hidden": "true" } }, "Aa");
  const px = parsePx(token.value);
  sample.style.fontSize = px !== null ? `${Math.min(px, 48)}px` : token.value;
  return h("li", { class: "type" }, sample, h("span", { class: "token-text" }, tokenName(token), tokenValue(token)));
}

function barItem(token: ResolvedToken): HTMLElement {
  const bar = h("span", { class: "space-bar", attrs: { "aria-hidden": "true" } });
  const px = parsePx(token.value);
  bar.style.width = px !== null ? `${Math.min(Math.max(px, 1), 160)}px` : "0";
  return h("li", { class: "space" }, bar, h("span", { class: "token-text" }, tokenName(token), tokenValue(token)));
}

function radiusItem(token: ResolvedToken): HTMLElement {
  const box = h("span", { class: "radius-box", attrs: { "aria-hidden": "true" } });
  box.style.borderRadius = token.value;
  return h("li", { class: "radius" }, box, h("span", { class: "token-text" }, tokenName(token), tokenValue(token)));
}

function fontItem(token: ResolvedToken): HTMLElement {
  const sample = h("span", { class: "font-sample" }, "The quick brown fox");
  sample.style.fontFamily = token.value;
  return h("li", { class: "font" }, h("span", { class: "token-text" }, tokenName(token), tokenValue(token)), sample);
}

function plainItem(token: ResolvedToken): HTMLElement {
  return h("li", { class: "plain" }, h("span", { class: "token-text" }, tokenName(token), tokenValue(token)));
}

function screenView(screen: ReferenceScreen, load: LoadResource): HTMLElement {
  if (screen.mediaType.startsWith("image/")) {
    const img = h("img", { class: "screen", attrs: { alt: `Reference screen “${screen.name}”` } });
    void attachImage(img, screen.url, load);
    return img;
  }
  // An HTML screen is shown without scripts: it is only a picture (see attachPage).
  const frame = h("iframe", {
    class: "screen",
    title: `Reference screen “${screen.name}”`,
    attrs: { sandbox: "" },
  });
  void attachPage(frame, screen.url, load);
  return frame;
}

function screensView(screens: ReferenceScreen[], actions: ReferenceActions): HTMLElement | null {
  if (screens.length === 0) return null;
  // The pane is drawn again whenever the reference is refetched: keep the person's choice.
  const shown = Math.max(0, screens.findIndex((s) => s.name === actions.chosenScreen));
  const holder = h("div", { class: "screen-holder" }, screenView(screens[shown]!, actions.loadResource));
  const children: HTMLElement[] = [h("h3", { id: "ref-screens", text: "Screens" })];
  if (screens.length > 1) {
    const picker = h(
      "select",
      { attrs: { "aria-label": "Reference screen" } },
      ...screens.map((s, i) => h("option", { attrs: { value: String(i), ...(i === shown ? { selected: "" } : {}) } }, s.name)),
    );
    picker.addEventListener("change", () => {
      const screen = screens[Number(picker.value)];
      if (!screen) return;
      actions.screenChosen(screen.name);
      holder.replaceChildren(screenView(screen, actions.loadResource));
    });
    children.push(picker);
  }
  children.push(holder);
  return h("section", { class: "token-group screens", attrs: { "aria-labelledby": "ref-screens" } }, ...children);
}

export function driftView(score: number | null): HTMLElement {
  if (score === null) {
    return h("p", { class: "drift muted" }, "Drift score: not computed yet");
  }
  const percent = Math.round(score * 100);
  const tone = percent >= 80 ? "good" : percent >= 50 ? "fair" : "poor";
  return h(
    "div",
    { class: `drift ${tone}` },
    h("span", { class: "drift-label", id: "drift-label" }, "On-token"),
    h("meter", {
      attrs: {
        min: "0",
        max: "1",
        low: "0.5",
        high: "0.8",
        optimum: "1",
        value: String(score),
        "aria-labelledby": "drift-label",
        "aria-valuetext": `${percent}% of the site's style values are on the reference tokens`,
      },
    }),
    h("strong", { class: "drift-value" }, `${percent}%`),
  );
}

export interface ReferenceActions {
  /** Loads a reference screen through the link. */
  loadResource: LoadResource;
  /** Offered in the empty state when the daemon can take a reference. */
  chooseReferenceFile: (() => void) | null;
  /** The screen the person last picked (by name); the first screen when absent. */
  chosenScreen: string | null;
  /** The person picked another screen. */
  screenChosen: (name: string) => void;
}

/**
 * What a newly loaded state changes in the pane: nothing (the same reference, the same
 * score: a DRIFT_REPORT or a patch that left both as they were), only the drift score, or
 * everything. Redrawing the whole pane reloads its screen pictures and resets its scroll.
 */
export function referenceRedraw(shown: ReferenceState, loaded: ReferenceState): "none" | "drift" | "all" {
  if (shown.kind !== "ready" || loaded.kind !== "ready") return "all";
  const { driftScore: shownScore, ...shownRest } = shown.reference;
  const { driftScore: loadedScore, ...loadedRest } = loaded.reference;
  if (JSON.stringify(shownRest) !== JSON.stringify(loadedRest)) return "all";
  return shownScore === loadedScore ? "none" : "drift";
}

/** The FrontSwatch pane's body for a state. */
export function renderReference(state: ReferenceState, actions: ReferenceActions): HTMLElement {
  const empty = (title: string, text: string, action?: HTMLElement | null): HTMLElement =>
    h("div", { class: "empty small" }, h("p", { class: "empty-title" }, title), h("p", { class: "muted" }, text), action);
  switch (state.kind) {
    case "no-session":
      return empty("No session", "Open a session to see its design reference.");
    case "loading":
      return h("p", { class: "muted", attrs: { "aria-busy": "true" } }, "Loading the reference…");
    case "unavailable":
      return empty("Reference not available", state.message);
    case "error":
      return empty("The reference could not be loaded", state.message);
    case "none": {
      const button = actions.chooseReferenceFile
        ? h("button", { class: "secondary", attrs: { type: "button" }, on: { click: actions.chooseReferenceFile } }, "Add a reference…")
        : null;
      return empty("No FrontSwatch reference yet", state.message, button);
    }
    case "ready": {
      const reference = state.reference;
      const groups = groupTokens(reference.tokens);
      const parts = [
        driftView(reference.driftScore),
        screensView(reference.screens, actions),
        section("Colours", groups.colors.map(colorItem), "swatches"),
        section("Type scale", groups.typeScale.map(typeItem), "scale"),
        section("Spacing", groups.spacing.map(barItem), "scale"),
        section("Radius", groups.radius.map(radiusItem), "radii"),
        section("Fonts", groups.fonts.map(fontItem), "fonts"),
        section("Other tokens", groups.other.map(plainItem), "plain-list"),
      ];
      if (reference.tokens.length === 0 && reference.screens.length === 0) {
        parts.push(empty("Empty reference", "The reference has no tokens and no screens."));
      }
      return h("div", { class: "reference" }, ...parts);
    }
  }
}
