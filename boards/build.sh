#!/usr/bin/env bash
# Build every board example in release (CI does this: there is no hardware
# here) and print the flash and RAM each build uses, read from its ELF:
# flash = text + data (code, read-only data, the digits set, .data's image),
# static RAM = data + bss (the arena, RTT buffers); the stack takes the rest
# of RAM (flip-link puts it below the statics).
#
#   bash boards/build.sh                          # build all, print the table
#   bash boards/build.sh --write docs/boards.md   # also write it
#   bash boards/build.sh pico                     # one board
#
# Needs the thumb targets, flip-link (cargo install flip-link --version
# 0.1.12 --locked) and llvm-size (Debian: llvm).
set -euo pipefail
here=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
write=
boards=()
while (($#)); do
    case $1 in
    --write) write=$2; shift ;;
    *) boards+=("$1") ;;
    esac
    shift
done
((${#boards[@]})) || boards=(nrf52840-dk microbit-v2 pico stm32f411)
command -v flip-link >/dev/null || { echo "boards/build.sh: needs flip-link (cargo install flip-link --version 0.1.12 --locked)" >&2; exit 1; }
size=$(command -v llvm-size || ls "$(rustc --print sysroot)"/lib/rustlib/*/bin/llvm-size 2>/dev/null | head -1)
[[ -n $size ]] || { echo "boards/build.sh: needs llvm-size (apt-get install llvm)" >&2; exit 1; }

declare -A chip=([nrf52840-dk]="nRF52840, Cortex-M4F, 1 MiB / 256 KiB" [microbit-v2]="nRF52833, Cortex-M4F, 512 / 128 KiB"
    [pico]="RP2040, Cortex-M0+, 2 MiB / 256 KiB" [stm32f411]="STM32F411CE, Cortex-M4F, 512 / 128 KiB")
declare -A elem=([nrf52840-dk]=f32 [microbit-v2]=f32 [pico]="Q10" [stm32f411]=f32)
declare -A hal=([nrf52840-dk]="embassy-nrf 0.11 \`Nvmc\`" [microbit-v2]="embassy-nrf 0.11 \`Nvmc\`; \`lsm303agr\` 1.1 over \`Twim\`"
    [pico]="embassy-rp 0.10 \`Flash\` (blocking)" [stm32f411]="stm32f4xx-hal 0.23 \`UnlockedFlash\`")
commas() { echo "$1" | rev | sed 's/\([0-9]\{3\}\)/\1,/g; s/,$//' | rev; }
rows=()
for b in "${boards[@]}"; do
    echo "=== build $b" >&2
    (cd "$here/$b" && cargo build --release >&2)
    t=$(sed -n 's/^target = "\(.*\)"/\1/p' "$here/$b/.cargo/config.toml")
    read -r text data bss _ < <("$size" "$here/target/$t/release/$b" | tail -1)
    rows+=("| \`$b\` | ${chip[$b]} | ${elem[$b]} | ${hal[$b]} | $(commas $((text + data))) B | $(commas $((data + bss))) B |")
done
table=$(
    echo "| board | chip, core, flash / RAM | trains in | flash driver (and sensor) | flash used | static RAM |"
    echo "|---|---|---|---|---:|---:|"
    printf '%s\n' "${rows[@]}"
)
echo "$table"
if [[ -n $write ]]; then
    {
        echo "# Board examples: flash and RAM per build"
        echo
        echo "Written by \`bash boards/build.sh --write docs/boards.md\`: each board"
        echo "example built in release (\`opt-level = \"s\"\`, fat LTO), its ELF read"
        echo "with \`llvm-size\`. Flash used counts code, read-only data (the digits set,"
        echo "about 117 KB) and \`.data\`'s image; static RAM counts \`.data\` and \`.bss\`"
        echo "(the arena, the RTT buffers); the stack has the rest of RAM. Every"
        echo "example learns the digits (64-16-10) on the device and checkpoints after"
        echo "each epoch into the last part of the chip's flash; none of them has run"
        echo "on hardware in CI (there is none here)."
        echo
        echo "$table"
    } >"$write"
    echo "wrote $write" >&2
fi
