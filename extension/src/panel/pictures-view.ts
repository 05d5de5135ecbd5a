// A command's pictures on its timeline card: how the patch was verified (in a browser or over
// HTTP only), one before/after slider per viewport with the changed share and the
// difference image, and the fidelity to the reference screen. Images are loaded through the
// link by resource.ts (the daemon's URL over HTTP, the bytes in a webview); the difference
// image only once its box is opened.

import type { Command, FidelityScore, Screenshot, Verification } from "./api.ts";
import { h } from "./dom.ts";
import { attachImage, type LoadResource } from "./resource.ts";

/** `0.0312` → `3.1%`; anything above 0 never rounds down to `0%`. */
export function formatShare(share: number): string {
  if (share <= 0) return "0%";
  const percent = share * 100;
  if (percent < 0.1) return "<0.1%";
  return `${percent < 10 ? percent.toFixed(1) : Math.round(percent)}%`;
}

/** One line saying how the page was checked after the patch. */
export function describeVerification(verification: Verification): string {
  const problems = verification.problems.length;
  if (verification.mode === "browser") {
    return problems === 0
      ? "Verified in a browser: no new errors"
      : `Verified in a browser: ${problems} new problem${problems === 1 ? "" : "s"}`;
  }
  const why = verification.note ? ` (${verification.note})` : "";
  return problems === 0 ? `Verified over HTTP only${why}` : `HTTP check failed${why}`;
}

function score(value: FidelityScore): string {
  return `SSIM ${value.ssim.toFixed(3)}, palette ΔE ${value.paletteDistance.toFixed(1)}`;
}

/** The fidelity line: `Reference “home” (desktop): SSIM 0.892 → 1.000 …`. */
export function describeFidelity(command: Command): string | null {
  const fidelity = command.fidelity;
  if (!fidelity) return null;
  return `Reference “${fidelity.screen}” (${fidelity.viewport}): ${score(fidelity.before)} → ${score(fidelity.after)}`;
}

function label(shot: Screenshot): string {
  const name = shot.viewport === "desktop" ? "Desktop" : "Mobile";
  return `${name} ${shot.width}×${shot.height}`;
}

/** A before/after slider: the after picture over the before one, clipped at the slider. */
function slider(shot: Screenshot, load: LoadResource): HTMLElement {
  const before = h("img", {
    class: "shot-before",
    attrs: { alt: `${label(shot)} before the patch`, width: String(shot.width), height: String(shot.height) },
  });
  const after = h("img", {
    class: "shot-after",
    attrs: { alt: `${label(shot)} after the patch`, width: String(shot.width), height: String(shot.height) },
  });
  void attachImage(before, shot.before, load);
  void attachImage(after, shot.after, load);
  const frame = h("div", { class: "shot-frame" }, before, after);
  // CSSOM, not a style attribute: allowed under the panel's `style-src 'self'`.
  frame.style.aspectRatio = `${shot.width} / ${shot.height}`;
  const range = h("input", {
    class: "shot-range",
    attrs: { type: "range", min: "0", max: "100", value: "50", "aria-label": `${label(shot)}: before ← → after` },
  });
  const place = (): void => {
    // Left of the handle: before; right of it: after.
    after.style.clipPath = `inset(0 0 0 ${Number(range.value)}%)`;
  };
  range.addEventListener("input", place);
  place();
  const diff = h("img", {
    class: "shot-diff",
    attrs: { alt: `${label(shot)}: changed pixels in magenta` },
  });
  const diffBox = h("details", { class: "shot-diff-box" }, h("summary", {}, "Difference"), diff);
  diffBox.addEventListener("toggle", () => {
    if (diffBox.open && diff.dataset["state"] === undefined) void attachImage(diff, shot.diff, load);
  });
  return h(
    "figure",
    { class: "shot", attrs: { "data-viewport": shot.viewport, "data-changed-share": String(shot.changedShare) } },
    h(
      "figcaption",
      {},
      h("span", { class: "shot-name" }, label(shot)),
      h("span", { class: "shot-share muted" }, `${formatShare(shot.changedShare)} changed`),
    ),
    frame,
    range,
    diffBox,
  );
}

/** The card's pictures section, or null when the command has nothing to show. */
export function renderPictures(command: Command, load: LoadResource): HTMLElement | null {
  const verification = command.verification ?? null;
  const shots = command.screenshots ?? [];
  const fidelity = describeFidelity(command);
  if (!verification && shots.length === 0 && !fidelity) return null;
  const section = h("section", { class: "pictures", attrs: { "aria-label": "Screenshots before and after" } });
  if (verification) {
    section.appendChild(
      h("p", { class: `verification verification-${verification.mode}`, title: verification.problems.join("\n") }, describeVerification(verification)),
    );
  }
  if (fidelity) section.appendChild(h("p", { class: "fidelity muted" }, fidelity));
  if (shots.length > 0) {
    section.appendChild(h("div", { class: "shots" }, ...shots.map((shot) => slider(shot, load))));
  }
  return section;
}
