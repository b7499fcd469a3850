#!/usr/bin/env bash
# Real-GPU check for the rtfit node agent. Run from the repository root on a machine with an
# NVIDIA driver: installs the project into a fresh venv, prints the agent's inventory once and
# asserts a driver version and at least one GPU with a plausible compute capability, then runs
# the NVML tests marked `gpu`. Exit status 0 = everything held.
set -euo pipefail
cd "$(dirname "$0")/.."
VENV="${VENV:-/tmp/rtfit-gpu-smoke-venv}"
PY="${PYTHON:-python3}"

echo "== nvidia-smi"; nvidia-smi -L || echo "(nvidia-smi not found; NVML is what matters)"
echo "== venv $VENV"; "$PY" -m venv "$VENV"
"$VENV/bin/pip" install -q --disable-pip-version-check -e '.[dev]'

echo "== rtfit agent --once --print --fail-hard"
"$VENV/bin/rtfit" agent --once --print --fail-hard --name gpu-smoke | tee /tmp/rtfit-inventory.json
"$VENV/bin/python" - /tmp/rtfit-inventory.json <<'PYEOF'
import json, re, sys
entry = json.load(open(sys.argv[1]))
assert entry["driver_version"] and re.fullmatch(r"\d+\.\d+(\.\d+)?", entry["driver_version"]), entry["driver_version"]
assert entry["agent"]["source"] == "nvml", entry["agent"]["source"]
gpus = entry["gpus"]
assert sum(g["count"] for g in gpus) >= 1, "no GPU in the inventory"
for g in gpus:
    cc = tuple(int(p) for p in g["compute_capability"].split("."))
    assert cc >= (3, 0), g
    assert g["memory_mib"] >= 1024, g
print(f"OK: driver {entry['driver_version']}, CUDA {entry['agent']['cuda_driver_version']}, "
      + ", ".join(f"{g['count']}x {g['product']} (cc {g['compute_capability']}, {g['memory_mib']} MiB)" for g in gpus))
if entry["agent"]["problems"]:
    print("problems:", *entry["agent"]["problems"], sep="\n  ")
PYEOF

echo "== pytest -m gpu tests/node_agent"
"$VENV/bin/pytest" -m gpu tests/node_agent -q -rs
