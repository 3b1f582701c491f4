#!/usr/bin/env bash
# List every call into a panic entry point in firmware ELFs, by the
# innermost workspace source line it comes from, and fail if one comes from
# a file that is not on the allowlist (empty: no example has a panic call
# site left in workspace code, see README.md, "No panic path"). This is the readable companion of the
# `panic-never` feature, whose link either succeeds or names one symbol.
#
#   bash firmware-examples/panic-sites.sh ELF...
#
# PANIC_ALLOW (space-separated path prefixes, relative to the repository)
# overrides the allowlist. Needs llvm-objdump and llvm-addr2line (Debian:
# llvm); without them it says so and exits 0 (the panic-never link check in
# ci.sh does not need them).
set -uo pipefail
allow=${PANIC_ALLOW:-}
for tool in llvm-objdump llvm-addr2line; do
    command -v "$tool" >/dev/null || { echo "panic-sites.sh: $tool not found, skipped"; exit 0; }
done
# Workspace code: files under the repository root (not the Rust library's
# core, not crates from the registry).
root=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
bad=0
for elf in "$@"; do
    # Call sites: `bl`/`b.w` to core's panic entry points.
    sites=$(llvm-objdump -d --no-show-raw-insn --demangle "$elf" | awk '
        /\t(bl|b\.w|b)\t/ && /<(core::panicking::|core::slice::index::|core::option::(unwrap|expect)_failed|core::result::unwrap_failed|core::str::slice_error_fail|core::cell::panic_)/ {
            split($1, a, ":"); print "0x" a[1]
        }')
    # Each site: the first frame of its inline chain that is workspace code;
    # sites inside the Rust library's own panic machinery have none and are
    # skipped.
    lines=$(for a in $sites; do
        llvm-addr2line -e "$elf" -f -i -C -p "$a" |
            sed -n 's#^.* at \(/[^ ]*\)$#\1#p; s#^ *(inlined by) .* at \(/[^ ]*\)$#\1#p' |
            sed -n "s#^$root/\\([^:]*\\):\\([0-9]*\\)\$#\\1:\\2#p" |
            head -1
    done | sort | uniq -c | sort -rn)
    n=$(awk '{s += $1} END {print s + 0}' <<<"$lines")
    echo "== $(basename "$elf"): $n panic call sites in workspace code"
    [[ -n $lines ]] && echo "$lines"
    while read -r _ loc; do
        [[ -z $loc ]] && continue
        ok=0
        for p in $allow; do [[ $loc == "$p"* ]] && ok=1; done
        if ((!ok)); then echo "panic-sites.sh: NEW panic path at $loc (not in: $allow)"; bad=1; fi
    done <<<"$lines"
done
exit $bad
