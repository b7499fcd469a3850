"""Record what PyPI's wheel metadata says the framework builds pin (evidence for the offline tests).

Run from the repository root (needs the registry; metadata only, no wheel is downloaded):

    .venv/bin/python tests/solver/install/record_evidence.py > tests/solver/install/data/pypi_pins.json
    .venv/bin/python tests/solver/install/record_evidence.py --tensorrt > tests/solver/install/data/tensorrt_requires.json

The second form downloads each catalogued `tensorrt-cuXX` source distribution (a few KB, no build)
and reads Requires-Dist from its PKG-INFO: TensorRT's PyPI packages are source-only stubs.

For each PyPI default torch build and each TensorFlow release in the catalog (newest patch of a
series), `pip install --dry-run --no-deps --report` reads the wheel's METADATA (PEP 658) for a
CPython 3.11 manylinux x86_64 target, and the Requires-Dist lines naming NVIDIA wheels are kept.
"""

from __future__ import annotations

import glob
import json
import os
import subprocess
import sys
import tarfile
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


def sdist_requires(spec: str) -> tuple[str, list[str]] | None:
    """(archive name, Requires-Dist) of a source distribution's PKG-INFO, or None when PyPI has none.
    pip prepares the metadata with setuptools (build isolation), which never runs the package's install."""
    with tempfile.TemporaryDirectory() as d:
        proc = subprocess.run([sys.executable, "-m", "pip", "download", "--no-deps", "--no-binary", ":all:", "-d", d,
                               spec], capture_output=True, text=True, env={**os.environ, "PIP_CONSTRAINT": "/dev/null"})
        files = glob.glob(f"{d}/*.tar.gz")
        if proc.returncode != 0 or not files:
            return None
        with tarfile.open(files[0]) as tar:
            member = next(m for m in tar.getmembers() if m.name.count("/") == 1 and m.name.endswith("/PKG-INFO"))
            info = tar.extractfile(member).read().decode()  # type: ignore[union-attr]
    return os.path.basename(files[0]), [x.split(":", 1)[1].strip() for x in info.splitlines()
                                        if x.startswith("Requires-Dist:")]


def tensorrt() -> None:
    cat = load_catalog()
    found: dict[str, dict[str, object]] = {}
    missing: list[str] = []
    for ref in cat.builds("tensorrt"):
        variant = ref.build.variant
        spec = f"tensorrt-{variant}=={ref.version}"
        if not variant or not variant.startswith("cu") or spec in found or spec in missing:
            continue
        got = sdist_requires(spec)
        if got is None:
            missing.append(spec)
        else:
            found[spec] = {"sdist": got[0], "requires_dist": got[1]}
    json.dump({"how": "pip download --no-deps --no-binary :all: (source distribution only), PKG-INFO Requires-Dist "
                      "read from the archive; tests/solver/install/record_evidence.py --tensorrt",
               "not_on_pypi": sorted(missing), "requires_dist": found}, sys.stdout, indent=1, sort_keys=True)
    sys.stdout.write("\n")


def main() -> None:
    if sys.argv[1:] == ["--tensorrt"]:
        tensorrt()
        return
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
