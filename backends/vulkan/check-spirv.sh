#!/usr/bin/env bash
# Recompiles every shaders/*.comp with glslc into a temporary folder and fails
# if any committed shaders/spv/<stem>.spv differs or is missing, or if a
# committed .spv has no shader. The invocation is build.rs's (`glslc` there):
# change both together. Set GLSLC to use a glslc that is not on PATH.
set -euo pipefail
cd "$(dirname "$0")"
glslc=${GLSLC:-glslc}
if ! command -v "$glslc" >/dev/null; then
  echo "check-spirv: cannot run \`$glslc\` (Debian/Ubuntu: apt-get install glslc, or set GLSLC)" >&2
  exit 1
fi
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT

bad=()
for comp in shaders/*.comp; do
  stem=$(basename "$comp" .comp)
  { cat shaders/common.glsl; printf '\n#line 1\n'; cat "$comp"; } >"$tmp/$stem.comp"
  glslc_args=(-fshader-stage=compute --target-env=vulkan1.0 -O -Werror)
  "$glslc" "${glslc_args[@]}" "$tmp/$stem.comp" -o "$tmp/$stem.spv"
  if [[ ! -f shaders/spv/$stem.spv ]]; then
    bad+=("shaders/spv/$stem.spv (missing)")
  elif ! cmp -s "$tmp/$stem.spv" "shaders/spv/$stem.spv"; then
    bad+=("shaders/spv/$stem.spv (differs from a fresh compile of shaders/$stem.comp)")
  fi
done
for spv in shaders/spv/*.spv; do
  [[ -e $spv ]] || continue
  stem=$(basename "$spv" .spv)
  [[ -f shaders/$stem.comp ]] || bad+=("$spv (no shaders/$stem.comp: delete it)")
done

if ((${#bad[@]})); then
  {
    echo "check-spirv: the committed SPIR-V of backends/vulkan is not what glslc makes of the shaders:"
    printf '  %s\n' "${bad[@]}"
    echo "glslc: $("$glslc" --version 2>&1 | head -n 1) (the committed files come from Debian bookworm's glslc, shaderc 2023.2)"
    echo "regenerate with: MICROPROP_GLSLC=1 cargo build -p microprop-vulkan   (then commit backends/vulkan/shaders/spv/)"
  } >&2
  exit 1
fi
echo "check-spirv: $(ls shaders/*.comp | wc -l) shaders, committed SPIR-V matches a fresh glslc compile"
