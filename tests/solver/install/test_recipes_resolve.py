"""Install recipes against the registry: pip's own resolver (dry-run, metadata only) resolves the
generated requirement lines for each framework family PyPI serves, and the store-stage commands
build a runtime the workflow runner composes.

PyTorch's +cuXXX builds live on download.pytorch.org, which CI cannot reach: their index lines
are checked offline against the documented commands (test_recipes.py); here the PyPI default
builds are resolved. TensorRT's and TensorRT-LLM's PyPI packages are source-only stubs whose
build fetches the wheels from NVIDIA's index (also unreachable): the registry's index must list
every pinned version, and TensorRT's bindings wheel (on PyPI) must resolve for the recipe's
Python. JAX and SGLang are resolved for Python 3.12: the resolver is a current pip run from its
wheel (downloaded from the registry), because pip 23 (the virtualenv's) checks Requires-Python
against the interpreter running it, not against --python-version.
"""

from __future__ import annotations

import json
import os
import shlex
import subprocess
import sys
import tempfile
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import pytest
from packaging.requirements import Requirement
from packaging.utils import canonicalize_name

import catalog
import solver
from solver.install import InstallRecipe, install_recipe

pytestmark = pytest.mark.network

# An Ubuntu 22.04 x86_64 node (glibc 2.35) installs every manylinux wheel up to 2_35.
_PLATFORMS = (*(f"manylinux_2_{n}_x86_64" for n in range(35, 16, -1)), "manylinux2014_x86_64")
_PY = f"{sys.version_info.major}.{sys.version_info.minor}"

REQUESTS = {
    "pytorch": {"framework": "pytorch", "framework_version": "==2.5.1", "python": "==3.11"},
    "tensorflow": {"framework": "tensorflow", "python": "==3.11"},
    "onnxruntime-gpu": {"framework": "onnxruntime", "python": "==3.11"},
    "onnxruntime-cpu": {"framework": "onnxruntime", "python": "==3.11", "gpu_count": 0},
    "tensorrt": {"framework": "tensorrt", "python": "==3.11"},
    "vllm": {"framework": "vllm", "python": "==3.11"},
    "jax": {"framework": "jax", "python": "==3.12"},
    "sglang": {"framework": "sglang", "python": "==3.12"},
    "tensorrt-llm": {"framework": "tensorrt-llm", "python": "==3.12"},
}
_STUBS = ("tensorrt", "tensorrt-llm")   # source-only stubs: index listing (and TensorRT's bindings) only


def _env() -> dict[str, str]:
    # The machine's pip constraint file caps some packages; the recipe must resolve as written.
    return {**os.environ, "PIP_CONSTRAINT": "/dev/null", "PIP_DISABLE_PIP_VERSION_CHECK": "1"}


def _index_versions(name: str) -> dict[str, str]:
    """The versions the registry's index lists for `name` ({version: version})."""
    proc = subprocess.run([sys.executable, "-m", "pip", "index", "versions", name], capture_output=True, text=True,
                          env=_env(), timeout=300)
    assert proc.returncode == 0, proc.stderr[-1000:]
    line = next(x for x in proc.stdout.splitlines() if x.startswith("Available versions:"))
    return {v.strip(): v.strip() for v in line.split(":", 1)[1].split(",")}


@pytest.fixture(scope="module")
def pip_argv(tmp_path_factory: pytest.TempPathFactory) -> list[str]:
    """A current pip, run from its wheel: pip >= 24.1 applies --python-version to Requires-Python."""
    d = tmp_path_factory.mktemp("pip")
    proc = subprocess.run([sys.executable, "-m", "pip", "download", "--quiet", "--no-deps", "--only-binary=:all:",
                           "-d", str(d), "pip>=24.2"], capture_output=True, text=True, env=_env(), timeout=300)
    assert proc.returncode == 0, proc.stderr[-1000:]
    (wheel,) = d.glob("pip-*.whl")
    return [sys.executable, str(wheel / "pip")]


def _resolve(pip: list[str], requirements: list[str], index_args: list[str], python: str) -> dict[str, str]:
    """pip's resolver in dry-run mode; returns {name: version} of what it would install."""
    with tempfile.TemporaryDirectory() as d:
        argv = [*pip, "install", "--dry-run", "--ignore-installed", "--quiet",
                "--report", f"{d}/report.json", "--target", f"{d}/t", "--python-version", python,
                "--implementation", "cp", "--only-binary=:all:"]
        for p in _PLATFORMS:
            argv += ["--platform", p]
        proc = subprocess.run([*argv, *index_args, *requirements], capture_output=True, text=True, env=_env(),
                              timeout=900)
        assert proc.returncode == 0, f"pip could not resolve {requirements}: {proc.stderr[-1500:]}"
        with open(f"{d}/report.json") as f:
            report = json.load(f)
    return {canonicalize_name(i["metadata"]["name"]): i["metadata"]["version"] for i in report["install"]}


@pytest.fixture(scope="module")
def recipes() -> dict[str, InstallRecipe]:
    cat = catalog.load_catalog()
    out = {}
    for name, request in REQUESTS.items():
        answer = solver.select(cat, request).to_dict()
        assert answer["feasible"], (name, answer)
        out[name] = install_recipe(cat, request["framework"], answer["choice"])
    return out


@pytest.fixture(scope="module")
def resolved(recipes: dict[str, InstallRecipe], pip_argv: list[str]) -> dict[str, dict[str, str]]:
    """Every family resolved at once (pip waits on the network, so threads overlap the waits)."""
    jobs = {}
    with ThreadPoolExecutor(max_workers=len(recipes) + 4) as pool:
        for name, r in recipes.items():
            if name in _STUBS:
                for line in r.pip.requirements:
                    jobs[f"index:{Requirement(line).name}"] = pool.submit(_index_versions, Requirement(line).name)
                bindings = [x for x in r.pip.requirements if Requirement(x).name.endswith("-bindings")]
                if bindings:
                    jobs[f"{name}-bindings"] = pool.submit(_resolve, pip_argv, bindings, [], r.python or _PY)
            else:
                jobs[name] = pool.submit(_resolve, pip_argv, list(r.pip.requirements), r.pip.index_args(),
                                         r.python or _PY)
        return {name: job.result() for name, job in jobs.items()}


@pytest.mark.parametrize("family", ["pytorch", "tensorflow", "onnxruntime-gpu", "onnxruntime-cpu", "vllm", "jax",
                                    "sglang"])
def test_pip_lines_resolve_with_pips_resolver(family: str, recipes: dict[str, InstallRecipe],
                                              resolved: dict[str, dict[str, str]]) -> None:
    r, got = recipes[family], resolved[family]
    for line in r.pip.requirements:
        req = Requirement(line)
        name = canonicalize_name(req.name)
        assert name in got, (line, sorted(got))
        assert req.specifier.contains(got[name], prereleases=True), (line, got[name])
    runtime = r.runtime
    if "cuda" in runtime and family in ("jax", "onnxruntime-gpu"):
        # where the recipe pins the CUDA runtime wheel, what pip installs is of the runtime's CUDA series
        cudart = next(v for n, v in got.items() if n.startswith("nvidia-cuda-runtime"))
        assert cudart.startswith(runtime["cuda"] + "."), (family, cudart, runtime["cuda"])
    if "cudnn" in runtime:
        # what pip installs carries the runtime's cuDNN (the framework's own pin, the and-cuda
        # extra, or the NVIDIA wheel the recipe added)
        cudnn = next(v for n, v in got.items() if n.startswith("nvidia-cudnn-"))
        assert cudnn.startswith(runtime["cudnn"]) or runtime["cudnn"].startswith(cudnn.rsplit(".", 1)[0]), (
            family, cudnn, runtime["cudnn"])


def test_tensorrt_package_and_bindings_resolve(recipes: dict[str, InstallRecipe],
                                               resolved: dict[str, dict[str, str]]) -> None:
    """Every pinned TensorRT package (the stub, its libs and bindings) is listed by the registry's
    index at the pinned version; the bindings wheel resolves for the recipe's Python. (The libs
    package on PyPI is a wheel-stub whose build fetches the wheel from NVIDIA's index.)"""
    lines = recipes["tensorrt"].pip.requirements
    assert len(lines) == 3, lines
    for line in lines:
        req = Requirement(line)
        listed = resolved[f"index:{req.name}"]
        assert any(req.specifier.contains(v, prereleases=True) for v in listed), (line, sorted(listed))
    bindings = next(Requirement(x) for x in lines if Requirement(x).name.endswith("-bindings"))
    got = resolved["tensorrt-bindings"]
    assert bindings.specifier.contains(got[canonicalize_name(bindings.name)], prereleases=True), got


def test_store_stage_commands_build_a_runtime_the_runner_composes(tmp_path: Path) -> None:
    """Run the recipe's own `rtfit store stage` lines (a small CPU runtime), then compose it and
    import the framework from the composed PYTHONPATH in a fresh interpreter."""
    from workflow.store import RuntimeStore, compose

    cat = catalog.load_catalog()
    request = {"framework": "onnxruntime", "gpu_count": 0, "python": f"=={_PY}"}
    answer = solver.select(cat, request).to_dict()
    recipe = install_recipe(cat, "onnxruntime", answer["choice"])
    store = tmp_path / "store"
    rtfit = str(Path(sys.executable).parent / "rtfit")
    for line in recipe.stage:
        if line.startswith("#"):
            continue
        args = shlex.split(line)
        assert args[:3] == ["rtfit", "store", "stage"]
        args = [a if a != f"python{_PY}" else sys.executable for a in args[1:]]
        proc = subprocess.run([rtfit, *args, "--store", str(store)], capture_output=True, text=True, env=_env(),
                              timeout=900)
        assert proc.returncode == 0, proc.stdout[-1000:] + proc.stderr[-2000:]
    composed = compose(recipe.runtime, RuntimeStore(store), provided={"python": _PY})
    assert [m.kind for m in composed.mounts] == ["onnxruntime"]
    proc = subprocess.run([sys.executable, "-S", "-c", "import onnxruntime, sys; print(onnxruntime.__version__)"],
                          capture_output=True, text=True, env={"PYTHONPATH": composed.env["PYTHONPATH"],
                                                               "PATH": os.environ.get("PATH", "")})
    assert proc.returncode == 0, proc.stderr[-2000:]
    assert proc.stdout.strip() == recipe.runtime["onnxruntime"]


def test_tensorrt_llm_pin_is_listed_by_the_index(recipes: dict[str, InstallRecipe],
                                                 resolved: dict[str, dict[str, str]]) -> None:
    r = recipes["tensorrt-llm"]
    assert r.pip.extra_index_urls == ("https://pypi.nvidia.com",)
    (line,) = r.pip.requirements
    req = Requirement(line)
    listed = resolved[f"index:{req.name}"]
    assert any(req.specifier.contains(v, prereleases=True) for v in listed), (line, sorted(listed))
