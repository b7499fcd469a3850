#!/usr/bin/env bash
# Stage the demo's runtime store once (cached in .rtfit/demo-store, reused when it verifies), then
# run the flow locally. Usage: examples/mnist-lite/run.sh [extra `rtfit flow run` options]
set -euo pipefail
here="$(cd "$(dirname "$0")" && pwd)"
root="$(cd "$here/../.." && pwd)"
rtfit="${RTFIT:-$root/.venv/bin/rtfit}"
python="${PYTHON:-$root/.venv/bin/python}"
store="${RTFIT_DEMO_STORE:-$root/.rtfit/demo-store}"

stage() {  # kind version pip-specs...
  local kind="$1" version="$2"; shift 2
  if [ -f "$store/$kind/$version/manifest.json" ]; then
    return
  fi
  local args=()
  for spec in "$@"; do args+=(--pip "$spec"); done
  "$rtfit" store stage "$kind" "$version" --store "$store" --python "$python" "${args[@]}"
}

stage scikit-learn 1.9.1 scikit-learn==1.9.1
stage pytorch 2.13.0+cpu torch==2.13.0 onnx==1.23.2
stage onnxruntime 1.32.0 onnxruntime==1.32.0 onnx==1.23.2
"$rtfit" store verify --store "$store" >/dev/null
"$rtfit" store list --store "$store"
exec "$rtfit" flow run "$here/flow.yaml" --store "$store" --new "$@"
