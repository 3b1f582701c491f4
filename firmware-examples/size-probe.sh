#!/usr/bin/env bash
# Print the markdown table of the flash each layer kind, activation,
# optimizer and loss adds to a firmware: the size-probe example built once
# per variant (SIZE_PROBE=<variant>, see src/bin/size-probe.rs) for the
# Cortex-M4F (thumbv7em-none-eabihf) and the Cortex-M0 (thumbv6m-none-eabi),
# release profile. Sizes only: nothing runs, no QEMU needed.
#
#   bash firmware-examples/size-probe.sh                           # all variants
#   bash firmware-examples/size-probe.sh base adam                 # some
#   bash firmware-examples/size-probe.sh --write docs/code-size.md # also writes FILE
#
# Flash is measured as the firmware's own Report does (src/lib.rs, Memory):
# from the linker's symbols, __sidata + (__edata - __sdata) - __vector_table
# (vector table, code, read-only data and .data's image), so the numbers
# match docs/firmware.md. Builds go to target/size-probe (CARGO_TARGET_DIR),
# apart from the other builds; each variant's ELF is kept there as
# elf/<target>-<variant> for `llvm-nm --size-sort -S -C`.
set -euo pipefail
here=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
start=$PWD
all=(base tanh sigmoid leaky_relu elu softplus softmax maxout conv1d max_pool1d avg_pool1d
    conv2d momentum adam fused_sgd softmax_ce hinge l2 frozen bias_only)
declare -A what=(
    [base]="Dense(4, 8) + ReLU + Dense(8, 2), SGD, MSE, batch 1"
    [tanh]="tanh instead of ReLU"
    [sigmoid]="sigmoid instead of ReLU"
    [leaky_relu]="leaky ReLU instead of ReLU"
    [elu]="ELU instead of ReLU"
    [softplus]="softplus instead of ReLU"
    [softmax]="+ softmax layer at the end"
    [maxout]="+ Maxout(8, 8, 2) after the ReLU"
    [conv1d]="+ Conv1d(1→1, 4 steps, k 3, pad 1) + Flatten in front"
    [max_pool1d]="+ MaxPool1d(2 ch × 4, k 2) after the ReLU (last Dense 4→2)"
    [avg_pool1d]="+ AvgPool1d(2 ch × 4, k 2) after the ReLU (last Dense 4→2)"
    [conv2d]="+ Conv2d(1→1, 2×2, k 3×3, pad 1) in front"
    [momentum]="momentum instead of SGD"
    [adam]="Adam instead of SGD"
    [fused_sgd]="fused SGD (update during backward) instead of SGD"
    [softmax_ce]="softmax cross-entropy instead of MSE"
    [hinge]="multiclass hinge instead of MSE"
    [l2]="+ L2 (with_l2)"
    [frozen]="first Dense frozen (with_training)"
    [bias_only]="first Dense bias-only (with_training)"
)
targets=(thumbv7em-none-eabihf thumbv6m-none-eabi)
write= variants=()
while (($#)); do
    case $1 in
    --write) write=$2; shift ;;
    -*) echo "size-probe.sh: unknown argument $1" >&2; exit 2 ;;
    *) variants+=("$1") ;;
    esac
    shift
done
((${#variants[@]})) || variants=("${all[@]}")
[[ -z $write || $write == /* ]] || write=$start/$write
cd "$here"
rest=()
for v in "${variants[@]}"; do [[ $v == base ]] || rest+=("$v"); done
variants=(base ${rest[@]+"${rest[@]}"}) # the deltas need the base

nm=$(command -v llvm-nm || true)
if [[ -z $nm ]]; then
    nm=$(ls "$(rustc --print sysroot)"/lib/rustlib/*/bin/llvm-nm 2>/dev/null | head -1)
fi
[[ -n $nm ]] || { echo "size-probe.sh: no llvm-nm (apt-get install llvm, or rustup component add llvm-tools)" >&2; exit 1; }

export CARGO_TARGET_DIR=$here/target/size-probe
mkdir -p "$CARGO_TARGET_DIR/elf"
flash() { # elf -> flash bytes
    local addr name
    local -A sym=()
    while read -r addr _ name; do
        sym[$name]=$((16#$addr))
    done < <("$nm" "$1" | grep -E ' (__sidata|__sdata|__edata|__vector_table)$')
    ((${#sym[@]} == 4)) || { echo "size-probe.sh: $1 lacks the linker's symbols" >&2; return 1; }
    echo $((sym[__sidata] + sym[__edata] - sym[__sdata] - sym[__vector_table]))
}
commas() { # 54732 -> 54,732
    local s=$1 out=
    while ((${#s} > 3)); do out=,${s: -3}$out; s=${s:0:${#s}-3}; done
    echo "$s$out"
}
# What was measured: the commit, and whether the code that goes into the
# firmware had uncommitted changes.
commit=$(git rev-parse --short HEAD 2>/dev/null || echo unknown)
if [[ -n $(git status --porcelain -- ../core ../hal ../backends src Cargo.toml Cargo.lock 2>/dev/null) ]]; then
    commit+=" with uncommitted changes"
fi
declare -A size
for t in "${targets[@]}"; do
    for v in "${variants[@]}"; do
        echo "size-probe.sh: $t $v" >&2
        SIZE_PROBE=$v cargo build -q --release --target "$t" --bin size-probe >&2
        elf=$CARGO_TARGET_DIR/elf/$t-$v
        cp "$CARGO_TARGET_DIR/$t/release/size-probe" "$elf"
        size[$t.$v]=$(flash "$elf")
    done
done

table() {
    echo "Measured at commit $commit, $(rustc --version | cut -d' ' -f1-2)."
    echo
    echo "| variant | what it changes | flash M4F | Δ M4F | flash M0 | Δ M0 |"
    echo "|---|---|---:|---:|---:|---:|"
    for v in "${variants[@]}"; do
        local row="| $v | ${what[$v]:-?}"
        for t in "${targets[@]}"; do
            local s=${size[$t.$v]} b=${size[$t.base]}
            local d
            if [[ $v == base ]]; then d="—"; else d=$(printf '%+d B' $((s - b))); fi
            row+=" | $(commas "$s") B | $d"
        done
        echo "$row |"
    done
}

begin='<!-- size-probe.sh: table begin -->' end='<!-- size-probe.sh: table end -->'
if [[ -n $write && -f $write ]] && grep -qF "$begin" "$write" && grep -qF "$end" "$write"; then
    # Replace only the table between the markers; the prose around it stays.
    table >"$write.table"
    awk -v b="$begin" -v e="$end" -v t="$write.table" '
        $0 == b { print; while ((getline l < t) > 0) print l; skip = 1; next }
        $0 == e { skip = 0 }
        !skip' "$write" >"$write.new"
    mv "$write.new" "$write"
    rm -f "$write.table"
    echo "size-probe.sh: updated the table in $write" >&2
elif [[ -n $write ]]; then
    {
        echo "# Code size: what each layer kind, optimizer and loss adds"
        echo
        echo "Written by \`bash firmware-examples/size-probe.sh --write docs/code-size.md\`"
        echo "(40 release builds, about two minutes with a warm target/size-probe;"
        echo "sizes only, nothing runs). A second \`--write\` replaces only the table."
        echo
        echo "The probe is one firmware, \`firmware-examples/src/bin/size-probe.rs\`, whose"
        echo "network is picked at build time by \`SIZE_PROBE\`. The **base** is"
        echo "Dense(4, 8) + ReLU + Dense(8, 2), SGD, MSE, batch 1, trained a few passes"
        echo "over four rows, then one \`predict\` and the usual \`Report\` (defmt logging,"
        echo "SysTick meter, semihosting exit). Every other row changes **one thing** in"
        echo "the base; Δ is its flash minus the base's, so it is what that feature"
        echo "costs a firmware that did not have it. As in every example, the CPU backend"
        echo "is built with \`CpuBackend::with_ops::<{ CFG.ops(&NET).bits() }>\`: only the"
        echo "kernels the network issues are linked."
        echo
        echo "Flash = vector table + code + read-only data + .data's image, from the"
        echo "linker's symbols (as in [firmware.md](firmware.md)); release profile (opt-level 3,"
        echo "fat LTO). M4F: \`thumbv7em-none-eabihf\` (hardware single-precision FPU);"
        echo "M0: \`thumbv6m-none-eabi\` (no FPU: float arithmetic is software)."
        echo
        echo "$begin"
        table
        echo "$end"
    } >"$write"
    echo "size-probe.sh: wrote $write" >&2
fi
table
