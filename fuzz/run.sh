#!/usr/bin/env bash
# Fuzz microprop's loaders for a bounded time; fails on a crash.
#
#   fuzz/run.sh [SECONDS] [TARGET...]     (default: 60 s each, blob safetensors)
#
# Installs cargo-fuzz if missing. Uses the `nightly` toolchain when rustup
# has one; otherwise stable with RUSTC_BOOTSTRAP=1 (cargo-fuzz passes -Z
# flags: sanitizer, coverage instrumentation). New inputs go to corpus/<t>
# (ignored), the committed seeds/<t> are read, a crash lands in
# artifacts/<t>/ and makes this script exit non-zero.
set -euo pipefail
cd "$(dirname "$0")"
secs=${1:-60}
shift || true
targets=("$@")
((${#targets[@]})) || targets=(blob safetensors)

command -v cargo-fuzz >/dev/null 2>&1 || cargo install cargo-fuzz --locked
if rustup toolchain list 2>/dev/null | grep -q '^nightly'; then
  fuzz=(cargo +nightly fuzz)
else
  export RUSTC_BOOTSTRAP=1
  fuzz=(cargo fuzz)
fi
# The fuzz crate is its own workspace: a CARGO_TARGET_DIR meant for the
# main workspace would mix nightly/instrumented builds into it.
unset CARGO_TARGET_DIR

for t in "${targets[@]}"; do
  mkdir -p "corpus/$t"
  echo "=== fuzz $t for ${secs}s (${fuzz[*]})"
  # -a: debug assertions and overflow checks on, so arithmetic overflow is a
  # crash too.
  "${fuzz[@]}" run -a "$t" "corpus/$t" "seeds/$t" -- -max_total_time="$secs" -print_final_stats=1
done
