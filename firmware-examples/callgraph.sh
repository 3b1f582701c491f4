#!/usr/bin/env bash
# What a function of a firmware may call, from its disassembly: every
# function reachable from the ones whose (demangled) name contains PATTERN
# through direct calls and tail branches. Fails (exit 1) if a soft-float
# routine is reachable, or if a reachable function calls through a register
# (a call this static walk cannot follow).
#
#   bash firmware-examples/callgraph.sh ELF PATTERN [--list]
#
# CI runs it on the M0 build of `digits-q` with PATTERN `measured_step`:
# the fixed-point training step must reach no `__aeabi_f*` / `__aeabi_d*`
# (nor the `__addsf3`-style routines they alias). Needs llvm-objdump.
set -euo pipefail
elf=$1 pattern=$2 list=${3:-}
command -v llvm-objdump >/dev/null || { echo "callgraph.sh: needs llvm-objdump (apt-get install llvm)" >&2; exit 1; }
nm=$(command -v llvm-nm || ls "$(rustc --print sysroot)"/lib/rustlib/*/bin/llvm-nm 2>/dev/null | head -1)
[[ -n $nm ]] || { echo "callgraph.sh: needs llvm-nm" >&2; exit 1; }
syms=$(mktemp)
trap 'rm -f "$syms"' EXIT
"$nm" --defined-only -n -S -C "$elf" >"$syms"
llvm-objdump -d --no-show-raw-insn "$elf" | python3 -c '
import bisect, re, sys
syms, pattern, listing = sys.argv[1], sys.argv[2], sys.argv[3] == "--list"
# Functions by address range (thumb addresses carry bit 0 in the symbol).
funcs = []
for line in open(syms):
    p = line.split(None, 3)
    if len(p) == 4 and p[2] in "tTwW":
        a, n = int(p[0], 16) & ~1, int(p[1], 16)
        funcs.append((a, a + n, p[3].strip()))
funcs.sort()
starts = [f[0] for f in funcs]
def func_at(addr):
    i = bisect.bisect_right(starts, addr) - 1
    if i >= 0 and addr < funcs[i][1]:
        return funcs[i][2]
    return None
insn = re.compile(r"^\s*([0-9a-f]+):\s+(\S+)\s*(.*)$")
branch = re.compile(r"^(bl|blx|b|b\.w|b[a-z]{2}|b[a-z]{2}\.w)$")
calls, regs = {}, {}
for line in sys.stdin:
    m = insn.match(line)
    if not m:
        continue
    addr, op, rest = int(m.group(1), 16), m.group(2), m.group(3)
    cur = func_at(addr)
    if cur is None:
        continue
    calls.setdefault(cur, set())
    if branch.match(op):
        t = re.match(r"0x([0-9a-f]+)", rest)
        if t:
            g = func_at(int(t.group(1), 16))
            if g is not None and g != cur:
                calls[cur].add(g)
    elif op in ("blx", "bx") and re.match(r"r\d+$", rest.strip()) and op == "blx":
        regs[cur] = line.strip()
soft = re.compile(r"^(__aeabi_[fd]|__aeabi_[ilu]+2[fd]|__(add|sub|mul|div|neg)[sd]f3|__(eq|ne|lt|le|gt|ge|un|cmp)[sd]f2|__(fix|fixuns)[sd]f|__float|__extendsfdf2|__truncdfsf2|compiler_builtins::float::)")
roots = [f for f in calls if pattern in f]
if not roots:
    sys.exit(f"callgraph.sh: no function matching {pattern!r}")
seen, todo, parent = set(roots), list(roots), {}
while todo:
    f = todo.pop()
    for g in sorted(calls.get(f, ())):
        if g not in seen:
            seen.add(g); parent[g] = f; todo.append(g)
def path(f):
    p = [f]
    while p[-1] in parent:
        p.append(parent[p[-1]])
    return " <- ".join(p)
bad = sorted(f for f in seen if soft.match(f))
ind = sorted(f for f in seen if f in regs)
if listing:
    for f in sorted(seen):
        print(f)
print(f"callgraph: {len(roots)} root(s) matching {pattern!r}, {len(seen)} reachable functions")
for f in bad:
    print(f"  soft-float routine reachable: {path(f)}")
for f in ind:
    print(f"  call through a register in {f}: {regs[f]}")
sys.exit(1 if bad or ind else 0)
' "$syms" "$pattern" "$list"
