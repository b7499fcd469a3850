"""Record what PyPI's wheel metadata says the framework builds pin (evidence for the offline tests).

Run from the repository root (needs the registry; metadata only, no wheel is downloaded):

    .venv/bin/python tests/solver/install/record_evidence.py > tests/solver/install/data/pypi_pins.json

For each PyPI default torch build and each TensorFlow release in the catalog (newest patch of a
series), `pip install --dry-run --no-deps --report` reads the wheel's METADATA (PEP 658) for a
CPython 3.11 manylinux x86_64 target, and the Requires-Dist lines naming NVIDIA wheels are kept.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import tempfile

from catalog import load_catalog

_PLATFORMS = ("manylinux_2_28_x86_64", "manylinux_2_27_x86_64", "manylinux_2_17_x86_64", "manylinux2014_x86_64",
              "manylinux1_x86_64")


def requires(spec: str, python: str = "3.11") -> list[str] | None:
    with tempfile.TemporaryDirectory() as d:
        argv = [sys.executable, "-m", "pip", "install", "--dry-run", "--no-deps", "--ignore-installed", "--quiet",
                "--report", f"{d}/r.json", "--target", f"{d}/t", "--python-version", python,
                "--implementation", "cp", "--only-binary=:all:"]
        for p in _PLATFORMS:
            argv += ["--platform", p]
        proc = subprocess.run([*argv, spec], capture_output=True, text=True,
                              env={**os.environ, "PIP_CONSTRAINT": "/dev/null"})
        if proc.returncode != 0:
            return None
        with open(f"{d}/r.json") as f:
            meta = json.load(f)["install"][0]["metadata"]
    return [r for r in meta.get("requires_dist", []) if r.startswith("nvidia-")]


def main() -> None:
    cat = load_catalog()
    out: dict[str, dict[str, list[str]]] = {"pytorch": {}, "tensorflow": {}}
    for rel in cat.releases("pytorch"):
        if any(b.variant is None and b.gpu for b in rel.builds):
            v = max(rel.versions)
            found = requires(f"torch=={v}")
            if found is not None:
                out["pytorch"][str(v)] = found
    for rel in cat.releases("tensorflow"):
        v = max(rel.versions)
        found = requires(f"tensorflow[and-cuda]=={v}")
        if found is not None:
            out["tensorflow"][str(v)] = found
    json.dump({"python": "3.11", "platform": "manylinux x86_64", "requires_dist": out}, sys.stdout, indent=1,
              sort_keys=True)
    sys.stdout.write("\n")


if __name__ == "__main__":
    main()
