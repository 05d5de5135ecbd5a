# Sourced by the project's scripts: where builds go, and the toolchain check.
# A build cache outside the clone, so repeat runs on one machine reuse it and a fresh clone
# still builds from nothing.
export CARGO_TARGET_DIR="${CARGO_TARGET_DIR:-$HOME/.cache/devflow/target}"
export CARGO_TERM_COLOR="${CARGO_TERM_COLOR:-never}"
if ! command -v cargo >/dev/null 2>&1; then
  echo "devflow needs a Rust toolchain (cargo); install it with rustup: https://rustup.rs" >&2
  exit 3
fi
