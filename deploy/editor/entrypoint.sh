#!/bin/sh
# Starts code-server for one devflow session, as the daemon does for a local session: the
# workspace (cloned when DEVFLOW_REPOSITORY_URL is set), user settings that point the
# extension at the session's daemon, `--auth none` (the daemon in front checks the signed
# editor grant; the task's security group admits only it), telemetry, update checks and the
# gallery off. Secrets never reach code-server's environment (its terminals would show them).
set -eu
: "${DEVFLOW_SESSION_ID:?the session id}"
: "${DEVFLOW_DAEMON_URL:?the URL of the daemon that fronts this editor}"
workspace="${DEVFLOW_WORKSPACE:-$HOME/workspace}"
umask 077
mkdir -p "$HOME/data/User" "$workspace"
if [ -n "${DEVFLOW_REPOSITORY_URL:-}" ] && [ -z "$(ls -A "$workspace")" ]; then
  git clone --depth 1 ${DEVFLOW_BRANCH:+--branch "$DEVFLOW_BRANCH"} "$DEVFLOW_REPOSITORY_URL" "$workspace"
fi
node /opt/devflow/settings.mjs "$HOME/data/User/settings.json"
printf 'bind-addr: 0.0.0.0:%s\nauth: none\ncert: false\n' "${PORT:-8080}" > "$HOME/config.yaml"
# The token is in the settings file now; the task role's credentials are for ECS, not the IDE.
unset DEVFLOW_TOKEN AWS_CONTAINER_CREDENTIALS_RELATIVE_URI AWS_CONTAINER_CREDENTIALS_FULL_URI \
  AWS_ACCESS_KEY_ID AWS_SECRET_ACCESS_KEY AWS_SESSION_TOKEN
exec node /opt/code-server/node_modules/code-server/out/node/entry.js \
  --config "$HOME/config.yaml" --user-data-dir "$HOME/data" --extensions-dir /opt/devflow/extensions \
  --auth none --disable-telemetry --disable-update-check --disable-workspace-trust \
  --disable-getting-started-override --bind-addr "0.0.0.0:${PORT:-8080}" "$workspace"
