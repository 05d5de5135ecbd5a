// Reading the browser's address: `/?token=T&session=ID` (the URL `devflow serve` prints).
// The token moves to sessionStorage and leaves the address bar, so it does not end up in
// bookmarks, history or a screenshot. Pure over its inputs.

export const TOKEN_KEY = "devflow.token";

export interface Boot {
  token: string | null;
  sessionId: string | null;
  /** The address to show instead, without the token (null: leave it as it is). */
  cleanUrl: string | null;
}

export function readAddress(href: string, stored: string | null): Boot {
  const url = new URL(href);
  const fromUrl = url.searchParams.get("token");
  const sessionId = url.searchParams.get("session");
  if (fromUrl !== null) {
    url.searchParams.delete("token");
    return { token: fromUrl || stored, sessionId, cleanUrl: url.pathname + url.search + url.hash };
  }
  return { token: stored, sessionId, cleanUrl: null };
}

/** The address for an open session, keeping whatever else the address had. */
export function addressFor(href: string, sessionId: string | null): string {
  const url = new URL(href);
  url.searchParams.delete("token");
  if (sessionId) url.searchParams.set("session", sessionId);
  else url.searchParams.delete("session");
  return url.pathname + url.search + url.hash;
}
