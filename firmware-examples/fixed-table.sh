#!/usr/bin/env bash
# f32 against 16-bit fixed point (Q10) on the firmware boards, from the
# logs of the last run.sh (target/logs/*.log): for each board, the same
# task in both element types, with accuracy, instructions per training
# step, arena and flash from the firmware's own METRIC and FINETUNE lines.
#
#   bash firmware-examples/fixed-table.sh                       # print the table
#   bash firmware-examples/fixed-table.sh --write docs/fixed-point.md
#
# Pairs: xor / xor-q (2-4-1, batch 4, momentum), digits-f32 / digits-q
# (64-16-10 from scratch, batch-1 fused SGD), finetune / finetune-q
# (64-16-10 fine-tuned from the pretrained blob, replay + L2-SP; on the
# micro:bit only, where both fine-tune the same model: finetune runs
# 64-32-10 on the boards with more RAM).
set -euo pipefail
here=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
write=
while (($#)); do
    case $1 in
    --write) write=$2; shift ;;
    *) echo "fixed-table.sh: unknown argument $1" >&2; exit 2 ;;
    esac
    shift
done
shopt -s nullglob
logs=("$here"/target/logs/*.log)
((${#logs[@]})) || { echo "fixed-table.sh: no logs in $here/target/logs: run run.sh" >&2; exit 1; }
table=$(python3 - "${logs[@]}" <<'PY'
import re, sys
metric, tune = {}, {}
for path in sys.argv[1:]:
    for line in open(path, errors="replace"):
        m = re.search(r"METRIC (.*?)\s+\(", line)
        if m:
            f = dict(kv.split("=", 1) for kv in m.group(1).split())
            metric[(f["example"], f["cpu"])] = f
        m = re.search(r"FINETUNE (.*?) \(pass", line)
        if m:
            f = dict(kv.split("=", 1) for kv in m.group(1).split() if "=" in kv)
            tune[(path.rsplit("-", 1)[0].split("/")[-1], f["board"], "q" if "elem" in f else "f")] = f
def commas(n): return f"{int(n):,}"
def kib(n): return f"{int(n) / 1024:.1f} KiB"
pairs = [("xor", "xor-q", "XOR 2-4-1, batch 4, momentum", "loss"),
         ("digits-f32", "digits-q", "digits 64-16-10 from scratch, batch-1 fused SGD", "test_accuracy"),
         ("finetune", "finetune-q", "digits 64-16-10 fine-tuned from the pretrained blob (replay + L2-SP)", "shifted_accuracy")]
print("| board | task | check | f32 | Q10 | instructions / step f32 | Q10 | f32 / Q10 | arena f32 | Q10 | flash f32 | Q10 |")
print("|---|---|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|")
cpus = sorted({c for (_, c) in metric}, key=lambda c: ("M4F" not in c, "M0" not in c, c))
for cpu in cpus:
    for f32, q, task, check in pairs:
        a, b = metric.get((f32, cpu)), metric.get((q, cpu))
        if b is None:
            continue
        same = a is not None and (f32 != "finetune" or "M0" in cpu)
        board = b["board"]
        def val(f):
            v = float(f[check])
            return f"{v:.4f}" if check == "loss" else f"{v:.3f}"
        def fail(f): return "" if f["passed"] == "true" else " **FAILED**"
        if same:
            ratio = int(a["instr_per_step"]) / max(1, int(b["instr_per_step"]))
            print(f"| {board} ({cpu}) | {task} | {check.replace('_', ' ')} | {val(a)}{fail(a)} | {val(b)}{fail(b)} | "
                  f"{commas(a['instr_per_step'])} | {commas(b['instr_per_step'])} | {ratio:.1f}x | "
                  f"{commas(a['arena'])} B | {commas(b['arena'])} B | {kib(a['flash'])} | {kib(b['flash'])} |")
        else:
            print(f"| {board} ({cpu}) | {task} | {check.replace('_', ' ')} | — | {val(b)}{fail(b)} | — | "
                  f"{commas(b['instr_per_step'])} | — | — | {commas(b['arena'])} B | — | {kib(b['flash'])} |")
PY
)
echo "$table"
if [[ -n $write ]]; then
    {
        echo "# Training in 16-bit fixed point: f32 against Q10 on the firmware boards"
        echo
        echo "Written by \`bash firmware-examples/fixed-table.sh --write docs/fixed-point.md\`"
        echo "from the logs of the last \`bash firmware-examples/run.sh\` (every example on"
        echo "every board under QEMU). Each row is one task in both element types, the same"
        echo "network, data, visiting order, optimizer and seed; the numbers are the"
        echo "firmware's own METRIC lines: instructions per training step from SysTick under"
        echo "QEMU's \`-icount shift=0\`, arena from the network's \`const fn\` size, flash from"
        echo "the linker's symbols (the digits set, 117 KB, is in every digits firmware's"
        echo "flash). \`finetune\` fine-tunes 64-32-10 on the boards with more RAM, so its f32"
        echo "side is compared on the micro:bit only. The format and its reasons:"
        echo "\`microprop_hal::Fixed\`; how each kernel is bounded against the \`f64\`"
        echo "reference: \`host-tests/tests/fixed.rs\`."
        echo
        echo "$table"
    } >"$write"
    echo "wrote $write" >&2
fi
