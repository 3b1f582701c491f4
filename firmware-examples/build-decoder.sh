#!/usr/bin/env bash
# Build the host-side defmt decoder (defmt-decode/) and put it at
# target/defmt-decode, where qemu-run.sh looks for it.
# ~1.5 min on two cores the first time (about 80 crates), seconds after.
set -euo pipefail
here=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
# .cargo/config.toml here defaults to a Cortex-M target: name the host's.
host=$(rustc -vV | sed -n 's/^host: //p')
cargo build --release --quiet --manifest-path "$here/defmt-decode/Cargo.toml" \
    --target "$host" --target-dir "$here/target/host"
install -m 755 "$here/target/host/$host/release/defmt-decode" "$here/target/defmt-decode"
