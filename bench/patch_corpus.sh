#!/usr/bin/env bash
# Builds the release `devflow` and the `patch_corpus` benchmark, then runs devflow apply,
# GNU patch and git apply over tests/corpus side by side; prints a markdown table
# (see BENCHMARKS.md, "Patch corpus").
#   bench/patch_corpus.sh                 5 timed rounds
#   bench/patch_corpus.sh --rounds 10 --cases   more rounds, and every case's outcome
set -euo pipefail
cd "$(dirname "$0")/.."
. scripts/env.sh # CARGO_TARGET_DIR from the environment, else $HOME/.cache/devflow/target

for tool in patch git; do
  if ! command -v "$tool" >/dev/null 2>&1; then
    echo "bench/patch_corpus.sh: \`$tool\` is not installed (apt-get install -y $tool)" >&2
    exit 3
  fi
done

cargo build --release --quiet -p devflow-daemon --bin devflow -p devflow-bench --bin patch_corpus

echo "date:    $(date -u +%Y-%m-%dT%H:%M:%SZ)"
echo "machine: $(nproc) cores, load $(cut -d' ' -f1-3 /proc/loadavg)"
echo "build:   release, $(rustc --version), commit $(git rev-parse --short HEAD 2>/dev/null || echo '?')$(git diff --quiet 2>/dev/null || echo ' + uncommitted changes')"
echo "tools:   $(patch --version | head -1), $(git --version)"
echo
"$CARGO_TARGET_DIR/release/patch_corpus" --bin "$CARGO_TARGET_DIR/release/devflow" "$@"
