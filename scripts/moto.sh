#!/usr/bin/env bash
# Installs moto's S3-compatible server (PyPI `moto[server]`) into a cached virtualenv, once,
# for the S3 tests, and prints the path of its `moto_server`. A second run only checks that
# the install finished. DEVFLOW_MOTO_VENV moves the venv (default ~/.cache/devflow/moto-venv).
set -euo pipefail
venv="${DEVFLOW_MOTO_VENV:-$HOME/.cache/devflow/moto-venv}"
server="$venv/bin/moto_server"
# Written last: a venv without it is an interrupted install and is made again. (A venv
# cannot be built elsewhere and renamed into place: its scripts name their own path.)
done_marker="$venv/.devflow-installed"
if [ -x "$server" ] && [ -f "$done_marker" ]; then
  echo "$server"
  exit 0
fi
# One installer at a time (test binaries may ask at once); the second finds it done.
mkdir -p "$(dirname "$venv")"
exec 9>"$venv.lock"
flock 9
if [ -x "$server" ] && [ -f "$done_marker" ]; then
  echo "$server"
  exit 0
fi
if ! python3 -c 'import venv, ensurepip' >/dev/null 2>&1; then
  if [ "$(id -u)" = 0 ]; then
    echo "== installing python3-venv" >&2
    apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq python3-venv >/dev/null
  else
    echo "the S3 tests need python3 with venv: sudo apt-get install -y python3-venv" >&2
    exit 3
  fi
fi
echo "== installing moto[server] into $venv" >&2
rm -rf "$venv"
python3 -m venv "$venv"
"$venv/bin/pip" install --quiet --disable-pip-version-check 'moto[server]' >&2
touch "$done_marker"
echo "$server"
