// Finding the `devflow` binary for `devflow lsp`: the `devflow.path` setting when set,
// else `devflow` on PATH. Pure: the file check is passed in.

import { delimiter, isAbsolute, join } from "node:path";

export type Resolved = { ok: true; path: string } | { ok: false; message: string };

export function resolveDaemon(
  setting: string | undefined,
  pathVariable: string | undefined,
  isExecutable: (path: string) => boolean,
): Resolved {
  const configured = setting?.trim();
  if (configured) {
    if (!isAbsolute(configured)) {
      const found = searchPath(configured, pathVariable, isExecutable);
      if (found) return { ok: true, path: found };
    }
    if (isExecutable(configured)) return { ok: true, path: configured };
    return { ok: false, message: `devflow.path is set to ${configured}, which is not an executable file.` };
  }
  const found = searchPath("devflow", pathVariable, isExecutable);
  if (found) return { ok: true, path: found };
  return {
    ok: false,
    message:
      "Cannot find the devflow binary on PATH. Build it (scripts/devflow in the devflow repository) and set devflow.path to it.",
  };
}

function searchPath(name: string, pathVariable: string | undefined, isExecutable: (path: string) => boolean): string | null {
  for (const dir of (pathVariable ?? "").split(delimiter)) {
    if (!dir) continue;
    const candidate = join(dir, name);
    if (isExecutable(candidate)) return candidate;
  }
  return null;
}

/** The arguments of `devflow lsp`. */
export function lspArgs(stateDir: string | undefined): string[] {
  const dir = stateDir?.trim();
  return dir ? ["lsp", "--state-dir", dir] : ["lsp"];
}
