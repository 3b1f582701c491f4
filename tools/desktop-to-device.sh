#!/usr/bin/env bash
# Issue 7's round trip, desktop to device, as CI runs it (from .ci/run, after
# the firmware step, so qemu-system-arm, the thumb targets and the defmt
# decoder are there):
#
#   bash tools/desktop-to-device.sh
#
# 1. microprop pretrains the digits model (the example `pretrain`, f64,
#    fixed seeds) and must reproduce the committed
#    firmware-examples/models/digits-pretrained.mpb byte for byte; it also
#    writes the parameters as PyTorch-named safetensors.
# 2. `microprop to-blob` turns that safetensors file back into a blob, which
#    must be the committed one byte for byte.
# 3. JAX -> safetensors -> microprop -> blob: `microprop to-blob` converts
#    the committed JAX-trained firmware-examples/models/digits-jax.safetensors
#    (tools/pretrain_digits_jax.py; no Python needed here).
# 4. -> firmware -> fine-tuned on the device: the `finetune` firmware is built
#    with that blob (MICROPROP_PRETRAINED_BLOB) for the M4F and the M0 and run
#    under QEMU; it must PASS (its default variant, replay + L2-SP, reaches
#    0.80 shifted and 0.88 unshifted; JAX blob: 0.827 / 0.891, every variant
#    in docs/finetuning.md), and its accuracies before fine-tuning must be
#    the ones JAX measured (digits-jax.json: images right, shifted and not).
# 5. A blob with one flipped payload bit must be refused on the device:
#    `load_blob` fails with a typed error and the firmware exits 1.
#
# The host steps use the dev profile, which `cargo test` has already built
# (the examples included); the f64 pretraining gives the same bytes in every
# profile (Rust does not contract or reassociate float operations). The firmware
# built here embeds the JAX blob; run.sh rebuilds it with the committed one. Outputs go to target/desktop-to-device/. Exits 1 on any
# failure.
set -euo pipefail
root=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
cd "$root"
out=$root/target/desktop-to-device
models=firmware-examples/models
spec="dense(64,16) relu dense(16,10)"
mkdir -p "$out"
t0=$SECONDS
step() { echo; echo "##### desktop-to-device: $* ($((SECONDS - t0)) s)"; }
fail() { echo "desktop-to-device: FAILED: $*" >&2; exit 1; }
cli() { cargo run -q -p microprop-cli --bin microprop -- "$@"; }

step "1. microprop pretrains; the committed blob must be reproduced exactly"
cargo run -q -p microprop-examples --example pretrain -- \
    --check --out "$out" --safetensors digits.safetensors

step "2. safetensors -> microprop to-blob == the committed blob"
cli to-blob "$out/digits.safetensors" -o "$out/digits.mpb"
cmp "$out/digits.mpb" "$models/digits-pretrained.mpb" ||
    fail "to-blob of the pretrained safetensors differs from $models/digits-pretrained.mpb"
echo "same bytes as $models/digits-pretrained.mpb"

step "3. JAX safetensors -> microprop to-blob"
cli to-blob "$models/digits-jax.safetensors" --spec "$spec" -o "$out/digits-jax.mpb"
cli summary "$out/digits-jax.mpb" --spec "$spec" --batch 1 --optimizer sgd

json_int() { sed -n "s/^ *\"$1\": *\([0-9]*\).*/\1/p" "$models/digits-jax.json"; }
want_shifted=$(json_int shifted_test_right)
want_plain=$(json_int unshifted_heldout_right)
[[ -n $want_shifted && -n $want_plain ]] || fail "cannot read $models/digits-jax.json"

run_finetune() { # target blob log
    (cd firmware-examples &&
        MICROPROP_PRETRAINED_BLOB=$2 cargo run -q --release --target "$1" --bin finetune) 2>&1 |
        tee "$3"
    return "${PIPESTATUS[0]}"
}

for t in thumbv7em-none-eabihf thumbv6m-none-eabi; do
    step "4. JAX blob -> finetune firmware on $t"
    log=$out/finetune-jax-$t.log
    rc=0
    run_finetune "$t" "$out/digits-jax.mpb" "$log" || rc=$?
    ((rc == 0)) && grep -q '^INFO  PASS finetune' "$log" || fail "finetune with the JAX blob on $t (rc $rc)"
    # Accuracies are printed as f32 fractions of 179 and 359 images.
    read -r got_shifted got_plain < <(sed -n 's/.*FINETUNE .*shifted_before=\([0-9.e-]*\) .*unshifted_before=\([0-9.e-]*\) .*/\1 \2/p' "$log" |
        awk '{ printf "%d %d\n", $1 * 179 + 0.5, $2 * 359 + 0.5 }')
    echo "before fine-tuning: device $got_shifted/179 shifted, $got_plain/359 unshifted; JAX $want_shifted/179, $want_plain/359"
    [[ $got_shifted == "$want_shifted" && $got_plain == "$want_plain" ]] ||
        fail "the device's accuracies before fine-tuning differ from JAX's"
done

step "5. a corrupted blob is refused on the device (exit 1, typed error)"
cp "$out/digits-jax.mpb" "$out/corrupt.mpb"
# Flip the lowest bit of byte 100 (a weight in the payload).
byte=$(od -An -tu1 -j100 -N1 "$out/corrupt.mpb" | tr -d ' ')
printf "$(printf '\\%03o' $((byte ^ 1)))" |
    dd of="$out/corrupt.mpb" bs=1 seek=100 conv=notrunc status=none
log=$out/finetune-corrupt.log
rc=0
run_finetune thumbv7em-none-eabihf "$out/corrupt.mpb" "$log" || rc=$?
((rc == 1)) && grep -q 'ERROR load_blob failed: Blob(Crc' "$log" ||
    fail "a corrupted blob was not refused with a CRC error (rc $rc)"
echo "refused as it must be"

step "all passed"
