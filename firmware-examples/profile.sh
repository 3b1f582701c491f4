#!/usr/bin/env bash
# Where a firmware's instructions go: runs one example under QEMU with a
# TCG plugin that counts executed instructions per address
# (profile/pcprof.c), then sums them by function.
#
#   bash firmware-examples/profile.sh EXAMPLE [TARGET] [TOP]
#   bash firmware-examples/profile.sh xor thumbv6m-none-eabi
#
# TARGET defaults to thumbv7em-none-eabihf (M4F). The counts cover the
# whole run (start-up, calibration, evaluation as well as training):
# divide a training function's count by the METRIC line's steps for its
# share of a step. Needs a C compiler (cc) and llvm-nm; the plugin is
# written against QEMU's plugin API version 1 (QEMU 7.2, Debian 12).
set -euo pipefail
here=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
cd "$here"
example=${1:?usage: profile.sh EXAMPLE [TARGET] [TOP]}
target=${2:-thumbv7em-none-eabihf}
top=${3:-25}
case $target in
    thumbv7em-none-eabihf) machine=mps2-an386 cpu=cortex-m4 base=0 ;;
    thumbv6m-none-eabi) machine=microbit cpu=cortex-m0 base=0 ;;
    thumbv8m.main-none-eabihf) machine=mps2-an505 cpu=cortex-m33 base=0x10000000 ;;
    thumbv7m-none-eabi) machine=mps2-an385 cpu=cortex-m3 base=0 ;;
    *) echo "profile.sh: unknown target $target" >&2; exit 2 ;;
esac
mkdir -p target/profile
plugin=target/profile/pcprof.so
[[ $plugin -nt profile/pcprof.c ]] || cc -O2 -shared -fPIC -fvisibility=hidden -o "$plugin" profile/pcprof.c
cargo build --quiet --release --bin "$example" --target "$target"
elf=target/$target/release/$example
[[ -x target/defmt-decode ]] || bash build-decoder.sh
counts=target/profile/$target-$example.counts
timeout --foreground -k 5 "${QEMU_TIMEOUT:-600}" \
    qemu-system-arm -machine "$machine" -cpu "$cpu" -nographic -monitor none -serial none \
        -semihosting-config enable=on,target=native -icount shift=0 -kernel "$elf" \
        -plugin "$plugin,out=$counts,base=$base" \
    | target/defmt-decode "$elf" | grep -E "METRIC|FAIL" || true
python3 profile/symbols.py "$elf" "$counts" "$top"
