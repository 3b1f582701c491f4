"""Sum profile.sh's per-address instruction counts by function.

    python3 symbols.py ELF COUNTS [TOP]

Prints the total, then the TOP functions (default 25) with their
instructions, share, and the instructions per call counted at their entry.
"""
import bisect
import collections
import subprocess
import sys

elf, counts_path = sys.argv[1], sys.argv[2]
top = int(sys.argv[3]) if len(sys.argv) > 3 else 25
syms = []
nm = subprocess.run(["llvm-nm", "-S", "--demangle", "--defined-only", elf],
                    capture_output=True, text=True, check=True).stdout
for line in nm.splitlines():
    parts = line.split(" ", 3)
    if len(parts) == 4 and parts[2] in "tTW":
        syms.append((int(parts[0], 16) & ~1, int(parts[1], 16), parts[3]))
syms.sort()
starts = [s[0] for s in syms]
per_fn = collections.Counter()
entries = {}
total = 0
for line in open(counts_path):
    addr, n = line.split()
    addr, n = int(addr, 16), int(n)
    total += n
    i = bisect.bisect_right(starts, addr) - 1
    name = "?"
    if i >= 0 and addr < syms[i][0] + max(syms[i][1], 2):
        name = syms[i][2]
        if addr == syms[i][0]:
            entries[name] = n
    per_fn[name] += n
print(f"{total:,} instructions")
print(f"{'instructions':>14} {'share':>6} {'calls':>10} {'per call':>9}  function")
for name, n in per_fn.most_common(top):
    calls = entries.get(name, 0)
    per_call = f"{n / calls:9.1f}" if calls else f"{'':9}"
    print(f"{n:>14,} {100 * n / total:5.1f}% {calls:>10,} {per_call}  {name[:110]}")
