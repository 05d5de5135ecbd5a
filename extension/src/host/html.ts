// The webview's document: the panel bundle and stylesheet from the extension's own files,
// under a CSP that allows only those, a nonce'd script, and frames/fetches to loopback
// (the session previews). Pure.

export interface WebviewAssets {
  /** `webview.cspSource`. */
  cspSource: string;
  scriptUri: string;
  styleUri: string;
  nonce: string;
}

export function webviewCsp({ cspSource, nonce }: Pick<WebviewAssets, "cspSource" | "nonce">): string {
  return [
    "default-src 'none'",
    `script-src 'nonce-${nonce}'`,
    `style-src ${cspSource}`,
    `img-src ${cspSource} data: http://127.0.0.1:* http://localhost:*`,
    `font-src ${cspSource}`,
    "frame-src http://127.0.0.1:* http://localhost:*",
    "connect-src http://127.0.0.1:* http://localhost:*",
  ].join("; ");
}

function attr(value: string): string {
  return value.replace(/&/g, "&amp;").replace(/"/g, "&quot;").replace(/</g, "&lt;");
}

export function webviewHtml(assets: WebviewAssets): string {
  return `<!doctype html>
<html lang="en">
<head>
<meta charset="utf-8">
<meta http-equiv="Content-Security-Policy" content="${attr(webviewCsp(assets))}">
<meta name="viewport" content="width=device-width, initial-scale=1">
<title>devflow</title>
<link rel="stylesheet" href="${attr(assets.styleUri)}">
<script nonce="${attr(assets.nonce)}" src="${attr(assets.scriptUri)}" defer></script>
</head>
<body>
<div id="app"></div>
</body>
</html>
`;
}

/** A nonce from 16 random bytes. */
export function makeNonce(random: (bytes: Uint8Array) => Uint8Array): string {
  return Buffer.from(random(new Uint8Array(16))).toString("base64").replace(/[^A-Za-z0-9]/g, "");
}
