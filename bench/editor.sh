#!/usr/bin/env bash
# The editor benchmarks (BENCHMARKS.md §5): builds the release `devflow`, makes sure
# code-server and the current extension are installed (scripts/install-editor), and runs
# bench/editor.mjs with the given flags (--runs N, --requests N).
set -euo pipefail
cd "$(dirname "$0")/.."
. scripts/env.sh
cargo build --release --quiet -p devflow-daemon --bin devflow
scripts/install-editor >/dev/null
(cd tests/e2e && [ -d node_modules/playwright-core ] || PLAYWRIGHT_SKIP_BROWSER_DOWNLOAD=1 npm ci --silent)
echo "build: release, $(rustc --version), commit $(git rev-parse --short HEAD 2>/dev/null || echo '?')$(git diff --quiet 2>/dev/null || echo ' + uncommitted changes')"
exec node bench/editor.mjs "$@"
