#!/usr/bin/env bash
# Fuzz microprop for a bounded time; fails on a crash.
#
#   fuzz/run.sh [SECONDS] [TARGET...]     (default: 60 s each, all six targets)
#
# Targets: blob, safetensors (the loaders), ops (fast against reference
# kernels), train (training invariants), checkpoint (restore from arbitrary
# flash), import (the CLI's import under a 512 MB memory limit).
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
((${#targets[@]})) || targets=(blob safetensors ops train checkpoint import)

# Extra libFuzzer flags per target. A unit running 30 s is a hang, a crash
# (libFuzzer's default waits 20 min, past CI's time). import: an allocation
# sized from a file's declared spec instead of its bytes is a crash too
# (-malloc_limit_mb defaults to the RSS limit).
declare -A flags=(
  [ops]="-timeout=30"
  [train]="-timeout=30"
  [checkpoint]="-timeout=30"
  [import]="-timeout=30 -rss_limit_mb=512"
)
# ...and under that limit ASan's quarantine of freed memory (256 MB by
# default) must not count as the target's: 16 MB (peak RSS 118 MB instead
# of over 512 MB after loading a 2,000-file corpus; live heap 25 MB).
declare -A asan=(
  [import]="quarantine_size_mb=16"
)

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

# Several targets: build them all in one cargo run first (parallel, and
# each `run` below then finds its binary up to date).
if ((${#targets[@]} > 1)); then
  "${fuzz[@]}" build -a
fi

for t in "${targets[@]}"; do
  mkdir -p "corpus/$t"
  echo "=== fuzz $t for ${secs}s (${fuzz[*]})"
  # -a: debug assertions and overflow checks on, so arithmetic overflow is a
  # crash too.
  # shellcheck disable=SC2086 # the flags are words
  ASAN_OPTIONS="${ASAN_OPTIONS:-}${ASAN_OPTIONS:+:}${asan[$t]:-}" \
    "${fuzz[@]}" run -a "$t" "corpus/$t" "seeds/$t" -- -max_total_time="$secs" -print_final_stats=1 ${flags[$t]:-}
done
