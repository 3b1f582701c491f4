#!/usr/bin/env bash
# The firmware's CI entry point: bash firmware-examples/ci.sh
#
# Installs nothing. Needs: qemu-system-arm (Debian: apt-get install -y
# --no-install-recommends qemu-system-arm), the rustup targets
# thumbv7em-none-eabihf thumbv6m-none-eabi thumbv8m.main-none-eabihf, and the
# rustfmt and clippy components; crates come from crates.io (or the cargo
# cache). Steps: format and lint checks, the host defmt decoder, the
# soft-float routines against the host's FPU, then every
# example built for M4F, M0 and M33 and run under QEMU with pass/fail
# (run.sh), the on-target unit tests (defmt-test), the panic-never links,
# the fixed-point call-graph check, then the table of sizes and instruction
# counts (table.sh).
# Exits non-zero if any step or any example fails.
set -euo pipefail
here=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
cd "$here"
t0=$SECONDS
step() { echo; echo "##### ci.sh: $* ($((SECONDS - t0)) s)"; }

step "prerequisites"
command -v qemu-system-arm >/dev/null || { echo "ci.sh: qemu-system-arm not found (apt-get install qemu-system-arm)" >&2; exit 1; }
qemu-system-arm --version | head -1
installed=$(rustup target list --installed)
for t in thumbv7em-none-eabihf thumbv6m-none-eabi thumbv8m.main-none-eabihf; do
    grep -qx "$t" <<<"$installed" || { echo "ci.sh: rustup target $t missing (rustup target add $t)" >&2; exit 1; }
done

step "cargo fmt --check"
cargo fmt --check
cargo fmt --check --manifest-path defmt-decode/Cargo.toml

step "cargo clippy -D warnings (firmware, M4F)"
cargo clippy --release --workspace --all-targets -- -D warnings

step "host defmt decoder"
bash build-decoder.sh
host=$(rustc -vV | sed -n 's/^host: //p')
cargo clippy --quiet --release --manifest-path defmt-decode/Cargo.toml --target "$host" \
    --target-dir target/host -- -D warnings

step "soft-float add, subtract and multiply (the M0's) against the host's FPU"
cargo test --quiet --release -p microprop-softfloat --features host-test --target "$host" \
    --target-dir target/host
cargo clippy --quiet --release -p microprop-softfloat --features host-test --all-targets \
    --target "$host" --target-dir target/host -- -D warnings

step "build and run every example on every board"
bash run.sh

step "on-target unit tests (defmt-test, tests/invariants.rs) on M4F, M0 and M33"
# A rejected call leaves the model unchanged, a blob round trip (f32 and a
# fixed-point blob into Q10), a checkpoint restore, the FPU square root
# against libm's, run on the device under
# QEMU; the test binary exits through semihosting (1 on a failed assert).
for t in thumbv7em-none-eabihf thumbv6m-none-eabi thumbv8m.main-none-eabihf; do
    cargo test --release --test invariants --target "$t"
done

step "no panic path (panic-sites.sh allowlist; panic-never link check)"
# No panic call site may be left in workspace code of the M4F builds
# (panic-sites.sh, whose allowlist is empty); then each
# example is linked with the panic-never handler: the ones in
# PANIC_NEVER_REQUIRED must link, the others only report. crash-hardfault
# (the runtime alone: logger, exit, fault handler) is the control that must
# always link; every training example and the bench must link too (the CPU
# kernels index through get/iterators, see README.md "No panic path").
bins=(xor xor-q perceptron digits digits-q digits-f32 sensor finetune finetune-q checkpoint bench motions fleet)
elfs=()
for b in "${bins[@]}"; do
    [[ -f target/thumbv7em-none-eabihf/release/$b ]] && elfs+=("target/thumbv7em-none-eabihf/release/$b")
done
bash panic-sites.sh "${elfs[@]}"
# On every board's target (M4F, M0, M33: the M0 has no FPU, so its float
# arithmetic is library calls, and its codegen differs): the control
# crash-panic panics on purpose, so its link must fail and name the symbol;
# the others must link.
required=" ${PANIC_NEVER_REQUIRED:-crash-hardfault ${bins[*]}} "
for t in thumbv7em-none-eabihf thumbv6m-none-eabi thumbv8m.main-none-eabihf; do
    pn=(cargo build -q --release --features panic-never --target "$t" --target-dir target/panic-never)
    if "${pn[@]}" --bin crash-panic 2>target/panic-never.log; then
        echo "panic-never ($t): crash-panic linked: the check is broken" >&2; exit 1
    fi
    grep -q "undefined symbol: microprop_panic_never" target/panic-never.log ||
        { cat target/panic-never.log >&2; echo "panic-never ($t): crash-panic failed for another reason" >&2; exit 1; }
    echo "panic-never ($t): crash-panic does not link, as it must"
    for b in crash-hardfault "${bins[@]}"; do
        if "${pn[@]}" --bin "$b" 2>/dev/null; then
            echo "panic-never ($t): $b links: no panic reachable"
        elif [[ $required == *" $b "* ]]; then
            echo "panic-never ($t): $b does NOT link but is required to" >&2; exit 1
        else
            echo "panic-never ($t): $b does not link yet (see panic-sites.sh above)"
        fi
    done
done

step "fixed point: the M0's training step calls no soft-float routine (callgraph.sh)"
# digits-q's step (`measured_step`, its own symbol) and everything it can
# reach through direct calls and tail branches: no __aeabi_f*/__aeabi_d*
# (nor the __addsf3-style routines behind them), and no call through a
# register the walk could not follow. The control, the same step in f32
# (digits-f32), must fail the same check.
bash callgraph.sh target/thumbv6m-none-eabi/release/digits-q measured_step
if bash callgraph.sh target/thumbv6m-none-eabi/release/digits-f32 measured_step >target/callgraph-f32.log; then
    echo "callgraph.sh passed the f32 step: the check is broken" >&2; exit 1
fi
grep -q "soft-float routine reachable: __aeabi_f" target/callgraph-f32.log ||
    { cat target/callgraph-f32.log >&2; echo "callgraph.sh failed the f32 step for another reason" >&2; exit 1; }
echo "control: the f32 step reaches $(grep -c 'soft-float routine reachable' target/callgraph-f32.log) soft-float routines, as it must"

step "table (README.md shows it)"
bash table.sh --from-logs

step "all passed"
