// Writes code-server's user settings for one session (argv[2]): the offline settings of
// ../shared/code-server.md and the devflow extension's link to the session's daemon — the
// same keys the daemon writes for a local editor (daemon/src/editor/launch.rs).
import { writeFileSync } from "node:fs";

const settings = {
  "telemetry.telemetryLevel": "off",
  "update.mode": "none",
  "extensions.autoCheckUpdates": false,
  "extensions.autoUpdate": false,
  "extensions.ignoreRecommendations": true,
  "workbench.enableExperiments": false,
  "workbench.startupEditor": "none",
  "workbench.tips.enabled": false,
  "npm.fetchOnlinePackageInfo": false,
  "git.enabled": false,
  "security.workspace.trust.enabled": false,
  "devflow.daemonUrl": process.env.DEVFLOW_DAEMON_URL,
  "devflow.token": process.env.DEVFLOW_TOKEN ?? "",
  "devflow.sessionId": process.env.DEVFLOW_SESSION_ID,
};
writeFileSync(process.argv[2], JSON.stringify(settings, null, 2), { mode: 0o600 });
