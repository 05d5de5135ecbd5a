#!/usr/bin/env bash
# Builds the release `devflow` and `devflow-bench` binaries and runs the benchmarks, each
# side by side with its anchor; prints a markdown table (see BENCHMARKS.md).
#   bench/run.sh                      every benchmark (a few minutes)
#   bench/run.sh latency --via sse    one of them, with its own flags (`--help` lists them)
#   bench/run.sh builtin --samples 100   builtin proposer → PREVIEW_UPDATED vs the manual path
#   bench/run.sh load                    100 sessions, 1000 subscribers, 50 commands/s for 60 s
#                                        (about 3 minutes; only when asked, never by default)
#   bench/run.sh fleet                   two fleet daemons on moto: delivery beside a SQLite
#                                        daemon, AWS requests of 1, 10, 100 sessions
#                                        (about 20 minutes; installs moto on first use)
#   bench/run.sh verify                  patch → READY with browser verification vs without,
#                                        side by side; target resolution at submit (needs Chromium)
#   bench/run.sh match-screen            "match the reference" with a PNG screen (candidate snaps
#                                        rendered) vs without one, side by side (needs Chromium)
set -euo pipefail
cd "$(dirname "$0")/.."
. scripts/env.sh # CARGO_TARGET_DIR from the environment, else $HOME/.cache/devflow/target

# 1000 WebSocket clients: a descriptor each here and in the daemon, plus the anchor's side.
need=4096
soft=$(ulimit -n)
if [ "$soft" != unlimited ] && [ "$soft" -lt "$need" ]; then
  hard=$(ulimit -Hn)
  if [ "$hard" != unlimited ] && [ "$hard" -lt "$need" ]; then
    echo "bench/run.sh: the open-file hard limit is $hard; the fan-out benchmark needs $need" >&2
    exit 3
  fi
  ulimit -n "$need"
fi

cargo build --release --quiet -p devflow-daemon -p devflow-bench

bin="$CARGO_TARGET_DIR/release/devflow"
echo "date:    $(date -u +%Y-%m-%dT%H:%M:%SZ)"
echo "machine: $(nproc) cores, $(grep -m1 'model name' /proc/cpuinfo | cut -d: -f2- | sed 's/^ *//'), load $(cut -d' ' -f1-3 /proc/loadavg)"
echo "build:   release, $(rustc --version), commit $(git rev-parse --short HEAD 2>/dev/null || echo '?')$(git diff --quiet 2>/dev/null || echo ' + uncommitted changes')"
echo "binary:  $bin"
echo "files:   ulimit -n $(ulimit -n)"
echo
"$CARGO_TARGET_DIR/release/devflow-bench" --bin "$bin" "$@"
