"""Install recipes (offline): derived from catalog rows, checked against recorded registry evidence,
parsed and linted by the real tools (dockerfile-parse, hadolint, py-rattler, tomllib, packaging)."""

from __future__ import annotations

import json
import shlex
import shutil
import subprocess
import tomllib
from pathlib import Path
from typing import Any

import pytest
from packaging.requirements import Requirement
from packaging.specifiers import SpecifierSet

import catalog
import solver
from solver.install import NoRecipe, emit_text, gfd_product, install_for_answer, install_recipe, pin

DATA = Path(__file__).parent / "data"
Choices = dict[str, dict[str, Any]]   # FAMILIES name -> the solved answer's choice


@pytest.fixture(scope="module")
def cat() -> catalog.Catalog:
    return catalog.load_catalog()


def _choice(cat: catalog.Catalog, request: dict[str, Any]) -> dict[str, Any]:
    answer = solver.select(cat, request).to_dict()
    assert answer["feasible"], answer
    return answer["choice"]


@pytest.fixture(scope="module")
def choices(cat: catalog.Catalog) -> Choices:
    """Each FAMILIES request solved once per module (a solve is the slow part of these tests);
    the recipes are derived from these answers as `rtfit select --emit` derives them."""
    return {name: _choice(cat, request) for name, request in FAMILIES.items()}


# One request per framework family (the README shows these recipes).
FAMILIES = {
    "pytorch-pypi": {"framework": "pytorch", "framework_version": "==2.5.1", "python": "==3.11"},
    "pytorch-cu126": {"framework": "pytorch", "framework_version": "==2.6.0+cu126", "python": "==3.11"},
    "pytorch-ngc": {"framework": "pytorch", "framework_version": "==2.10.0+cu130", "python": "==3.12"},
    "pytorch-ngc-24": {"framework": "pytorch", "framework_version": "==2.5.0+cu124", "python": "==3.10"},
    "tensorflow": {"framework": "tensorflow", "python": "==3.11"},
    "onnxruntime-gpu": {"framework": "onnxruntime", "python": "==3.11"},
    "onnxruntime-cpu": {"framework": "onnxruntime", "python": "==3.11", "gpu_count": 0},
    "tensorrt": {"framework": "tensorrt", "python": "==3.11"},
    "jax": {"framework": "jax", "python": "==3.12"},
    "vllm": {"framework": "vllm", "python": "==3.12"},
    "sglang": {"framework": "sglang", "python": "==3.12"},
    "tensorrt-llm": {"framework": "tensorrt-llm", "python": "==3.12"},
}


def test_pytorch_label_build_needs_its_variant_index(cat: catalog.Catalog, choices: Choices) -> None:
    r = install_recipe(cat, "pytorch", choices["pytorch-cu126"])
    assert r.pip.requirements == ("torch==2.6.0+cu126",)
    assert r.pip.index_url == "https://download.pytorch.org/whl/cu126"
    assert r.pip.lines()[0] == "--index-url https://download.pytorch.org/whl/cu126"
    assert "pip.pytorch.labelled" in r.records
    assert any(s["id"] == "pt_prev_versions" for s in r.sources)


def test_pytorch_pypi_default_build_needs_no_index_and_no_extra_wheels(cat: catalog.Catalog, choices: Choices) -> None:
    r = install_recipe(cat, "pytorch", choices["pytorch-pypi"])
    assert r.pip.requirements == ("torch==2.5.1",)
    assert r.pip.index_url is None and r.pip.extra_index_urls == ()


def test_tensorflow_gpu_uses_the_and_cuda_extra(cat: catalog.Catalog, choices: Choices) -> None:
    choice = choices["tensorflow"]
    r = install_recipe(cat, "tensorflow", choice)
    assert r.pip.requirements == (f"tensorflow[and-cuda]=={choice['runtime']['tensorflow']}",)


def test_onnxruntime_gpu_vs_cpu_package_and_nvidia_wheels_pinned_to_the_runtime(cat: catalog.Catalog, choices: Choices) -> None:
    gpu = choices["onnxruntime-gpu"]
    r = install_recipe(cat, "onnxruntime", gpu)
    rt = gpu["runtime"]
    reqs = {Requirement(x).name: str(Requirement(x).specifier) for x in r.pip.requirements}
    assert reqs["onnxruntime-gpu"] == f"=={rt['onnxruntime']}"
    major = int(rt["cuda"].split(".")[0])
    wheel = {w.component: w.package for w in cat.nvidia_wheels if w.cuda_major == major}
    assert reqs[wheel["cudnn"]] == pin(catalog.versions.parse_version(rt["cudnn"]), "exact")
    assert reqs[wheel["cuda-runtime"]] == f"=={rt['cuda']}.*"
    assert {wheel[c] for c in ("cuda-nvrtc", "cublas", "cufft", "curand")} <= set(reqs)
    cpu = install_recipe(cat, "onnxruntime", choices["onnxruntime-cpu"])
    assert [Requirement(x).name for x in cpu.pip.requirements] == ["onnxruntime"]
    assert cpu.kubernetes is None


def test_tensorrt_package_per_cuda_major_with_nvidias_index(cat: catalog.Catalog, choices: Choices) -> None:
    choice = choices["tensorrt"]
    r = install_recipe(cat, "tensorrt", choice)
    major = choice["runtime"]["cuda"].split(".")[0]
    req, libs, bindings = r.pip.requirements
    assert Requirement(req).name == f"tensorrt-cu{major}"
    assert "+" not in req  # the cuXX label is a package name, not a version label
    version = str(Requirement(req).specifier)
    assert [Requirement(libs).name, str(Requirement(libs).specifier)] == [f"tensorrt-cu{major}-libs", version]
    assert [Requirement(bindings).name, str(Requirement(bindings).specifier)] == [f"tensorrt-cu{major}-bindings",
                                                                                  version]
    assert r.pip.extra_index_urls == ("https://pypi.nvidia.com",) and r.pip.index_url is None


@pytest.mark.parametrize(("version", "rule", "expected"), [
    ("9.1.0.70", "exact", "==9.1.0.70"), ("9.3.0", "exact", "==9.3.0.*"), ("12.6", "series", "==12.6.*"),
    ("13.2", "major", "==13.*"), ("12.6", "none", ""), ("10.13.3.9.post1", "exact", "==10.13.3.9.post1"),
])
def test_pin_rules(version: str, rule: str, expected: str) -> None:
    assert pin(catalog.versions.parse_version(version), rule) == expected


def test_every_recipe_names_catalog_records_and_their_sources(cat: catalog.Catalog, choices: Choices) -> None:
    for name, request in FAMILIES.items():
        d = install_recipe(cat, request["framework"], choices[name]).to_dict()
        assert d["records"] and all(cat.record(rid) is not None for rid in d["records"])
        assert d["sources"] and all(s["id"] in cat.sources and s["url"] for s in d["sources"])


# -- recorded evidence: what PyPI's wheel metadata pins (record_evidence.py) --------------------

def _pins(lines: list[str]) -> dict[str, str]:
    out = {}
    for line in lines:
        req = Requirement(line)
        if req.marker is None or req.marker.evaluate({"platform_system": "Linux", "platform_machine": "x86_64",
                                                      "extra": "and-cuda", "sys_platform": "linux"}):
            spec = [s for s in req.specifier if s.operator == "=="]
            if spec:
                out[req.name] = spec[0].version
    return out


def test_pytorch_default_builds_stage_the_cuda_wheels_their_metadata_pins(cat: catalog.Catalog) -> None:
    evidence = json.loads((DATA / "pypi_pins.json").read_text())["requires_dist"]["pytorch"]
    checked = 0
    for version, lines in evidence.items():
        pins = _pins(lines)
        ref = next(r for r in cat.builds("pytorch") if str(r.version) == version and r.build.variant is None)
        cuda, cudnn = ref.build.bundled.get("cuda"), ref.build.bundled.get("cudnn")
        cudnn_pkg = [n for n in pins if n.startswith("nvidia-cudnn-")]
        if cudnn is None or not cudnn_pkg:
            continue
        runtime = {"cuda": str(cuda), "cudnn": str(cudnn), "python": "3.11", "pytorch": version}
        r = install_recipe(cat, "pytorch", {"runtime": runtime, "gpu": None})
        staged = {c["kind"]: c["command"] for c in r.to_dict()["stage_components"]}
        cudnn_req = Requirement(shlex.split(staged["cudnn"])[shlex.split(staged["cudnn"]).index("--pip") + 1])
        assert cudnn_req.name == cudnn_pkg[0], version
        assert pins[cudnn_pkg[0]] in cudnn_req.specifier, (version, pins[cudnn_pkg[0]], str(cudnn_req))
        checked += 1
    assert checked >= 8


def test_tensorflow_and_cuda_pins_fall_inside_the_catalog_needs(cat: catalog.Catalog) -> None:
    evidence = json.loads((DATA / "pypi_pins.json").read_text())["requires_dist"]["tensorflow"]
    checked = 0
    for version, lines in evidence.items():
        pins = _pins(lines)
        cudnn = next((v for n, v in pins.items() if n.startswith("nvidia-cudnn-")), None)
        cudart = next((v for n, v in pins.items() if n.startswith("nvidia-cuda-runtime")), None)
        if cudnn is None or cudart is None:
            continue  # releases before the and-cuda extra
        ref = next(r for r in cat.builds("tensorflow") if str(r.version) == version)
        needs = ref.build.needs
        assert needs["cudnn"].contains(cudnn), (version, cudnn, str(needs["cudnn"]))
        assert SpecifierSet(str(needs["cuda"])).contains(".".join(cudart.split(".")[:2])), (version, cudart)
        checked += 1
    assert checked >= 4


def test_tensorrt_recipe_pins_the_packages_its_stub_requires(cat: catalog.Catalog) -> None:
    """tensorrt-cuXX on PyPI is a source-only stub: the recipe names the libs and bindings packages
    it pulls, pinned as the stub's own PKG-INFO Requires-Dist pins them (recorded evidence)."""
    evidence = json.loads((DATA / "tensorrt_requires.json").read_text())["requires_dist"]
    checked = 0
    for ref in cat.builds("tensorrt"):
        variant = ref.build.variant
        spec = f"tensorrt-{variant}=={ref.version}"
        if spec not in evidence:
            continue
        pins = [r for r in evidence[spec]["requires_dist"] if ";" not in r]
        r = install_recipe(cat, "tensorrt", {"runtime": {"cuda": f"{variant[2:]}.0", "python": "3.12",
                                                         "tensorrt": f"{ref.version}+{variant}"}})
        assert r.pip.requirements[0] == spec
        got = {Requirement(x).name.replace("-", "_"): str(Requirement(x).specifier) for x in r.pip.requirements[1:]}
        if pins:   # 10.9 and later declare them; earlier setup.py installs the same ==V pins
            assert got == {Requirement(x).name: str(Requirement(x).specifier) for x in pins}, (spec, pins)
        assert set(got) == {f"tensorrt_{variant}_libs", f"tensorrt_{variant}_bindings"}
        assert all(v == f"=={ref.version}" for v in got.values())
        checked += 1
    assert checked >= 30


def test_tensorrt_recipes_name_only_packages_the_registry_serves(cat: catalog.Catalog) -> None:
    """Every TensorRT build the catalog offers has its package on the registry: tensorrt-cu13 starts
    at 10.13.2.6, so 10.13.0.35 has no cu13 build (it once did, and the recipe pinned a package
    version PyPI never served). The evidence lists the (package, version) pairs PyPI lacks."""
    missing = set(json.loads((DATA / "tensorrt_requires.json").read_text())["not_on_pypi"])
    offered = []
    for ref in cat.builds("tensorrt"):
        variant = ref.build.variant
        runtime = {"cuda": f"{variant[2:]}.0" if variant else "11.8", "python": "3.10",
                   "tensorrt": f"{ref.version}+{variant}" if variant else str(ref.version)}
        offered.append(install_recipe(cat, "tensorrt", {"runtime": runtime}).pip.requirements[0])
    assert len(offered) >= 30
    assert sorted(set(offered) & missing) == []


def test_pytorch_index_lines_match_the_documented_commands(cat: catalog.Catalog) -> None:
    evidence = json.loads((DATA / "pytorch_index_commands.json").read_text())
    checked = 0
    for command in evidence["commands"]:
        args = shlex.split(command)
        torch = next(a for a in args if a.startswith("torch=="))
        url = args[args.index("--index-url") + 1]
        variant = url.rsplit("/", 1)[1]
        version = torch.split("==")[1]
        if not variant.startswith(("cu", "cpu")) or cat.find_build("pytorch", f"{version}+{variant}") is None:
            continue
        runtime = {"python": "3.11", "pytorch": f"{version}+{variant}"}
        if variant != "cpu":
            runtime["cuda"] = f"{variant[2:-1]}.{variant[-1]}"
        r = install_recipe(cat, "pytorch", {"runtime": runtime})
        assert r.pip.index_url == url, command
        assert Requirement(r.pip.requirements[0]).specifier.contains(f"{version}+{variant}")
        checked += 1
    assert checked >= 6


# -- parsed and linted by the real tools ------------------------------------------------------

def test_dockerfile_parses_and_passes_hadolint(cat: catalog.Catalog, choices: Choices, tmp_path: Path) -> None:
    from dockerfile_parse import DockerfileParser

    hadolint = shutil.which("hadolint") or str(Path(__import__("sys").executable).parent / "hadolint")
    for name, request in FAMILIES.items():
        r = install_recipe(cat, request["framework"], choices[name])
        (tmp_path / name).mkdir()
        path = tmp_path / name / "Dockerfile"
        path.write_text(r.dockerfile())
        (tmp_path / name / "pip").mkdir()
        pip_path = tmp_path / name / "pip" / "Dockerfile"
        pip_path.write_text(r.pip_dockerfile())
        parsed = DockerfileParser(path=str(pip_path))
        assert parsed.baseimage == f"python:{r.python}-slim"
        run = [i for i in parsed.structure if i["instruction"] == "RUN"]
        assert len(run) == 1 and all(req in run[0]["value"] for req in r.pip.requirements)
        base = DockerfileParser(path=str(path)).baseimage
        if r.ngc is not None and r.ngc["base"]:
            # FROM the NGC framework container, which already holds the framework build
            assert base == r.ngc["image"] and not any(req in path.read_text() for req in r.pip_framework)
        elif r.cuda_base is not None:
            # FROM NVIDIA's CUDA base image; uv provides the Python series; the pip line is the python image's
            assert base == r.cuda_base["image"] == cat.record(r.cuda_base["record"]).image
            runs = [i["value"] for i in DockerfileParser(path=str(path)).structure if i["instruction"] == "RUN"]
            assert runs == [f"uv venv --seed --python {r.python} /opt/venv", run[0]["value"]]
        else:
            assert path.read_text().endswith(pip_path.read_text())
        for p in (path, pip_path):
            lint = subprocess.run([hadolint, "--no-color", "-f", "json", str(p)], capture_output=True, text=True)
            assert lint.returncode == 0 and json.loads(lint.stdout) == [], (name, lint.stdout)


def test_hadolint_is_a_real_check(tmp_path: Path) -> None:
    hadolint = shutil.which("hadolint") or str(Path(__import__("sys").executable).parent / "hadolint")
    bad = tmp_path / "Dockerfile"
    bad.write_text("FROM python:3.11-slim\nRUN pip install torch\n")
    lint = subprocess.run([hadolint, "--no-color", "-f", "json", str(bad)], capture_output=True, text=True)
    assert lint.returncode != 0 and {f["code"] for f in json.loads(lint.stdout)} >= {"DL3013", "DL3042"}


def test_pixi_manifest_parses_and_every_dependency_is_a_conda_match_spec(cat: catalog.Catalog, choices: Choices) -> None:
    from rattler import MatchSpec

    for name, request in FAMILIES.items():
        r = install_recipe(cat, request["framework"], choices[name])
        doc = tomllib.loads(r.pixi())
        assert doc["workspace"]["channels"] == ["conda-forge"]
        deps = doc["dependencies"]
        for name, spec in deps.items():
            text = f"{name} {spec}" if isinstance(spec, str) else f"{name} {spec['version']} {spec['build']}"
            assert MatchSpec(text).name.normalized == name
        if "cuda" in r.runtime:
            assert deps["cuda-version"] == f"{doc['system-requirements']['cuda']}.*"
            assert r.runtime["cuda"].startswith(doc["system-requirements"]["cuda"])
        else:
            assert "cuda-version" not in deps and "system-requirements" not in doc


def _pixi_policy(workspace: Path, manifest: str, lock_from: str | None = None) -> subprocess.CompletedProcess[str]:
    """pixi-policy's manifest rules (it parses pixi.toml as pixi does) on `manifest`. The tool checks
    a workspace with a pixi.lock; conda-forge is not reachable here, so the lock is py-rattler's empty
    lock file for the manifest's platform and channel (no lock rule is enabled)."""
    from rattler import LockChannel, LockFile, LockPlatform

    doc = tomllib.loads(lock_from or manifest)
    workspace.mkdir()
    (workspace / "pixi.toml").write_text(manifest)
    lock = LockFile([LockPlatform(p) for p in doc["workspace"]["platforms"]])
    lock.set_channels("default", [LockChannel(f"https://conda.anaconda.org/{c}/")
                                  for c in doc["workspace"]["channels"]])
    lock.to_path(str(workspace / "pixi.lock"))
    (workspace / "pixi-policy.toml").write_text(
        '[manifest]\npython-pinned = true\nwildcard-spec = true\nrequired-platforms = ["linux-64"]\n')
    tool = shutil.which("pixi-policy") or str(Path(__import__("sys").executable).parent / "pixi-policy")
    return subprocess.run([tool, "check", "--format", "json", "--manifest-path", str(workspace / "pixi.toml")],
                          capture_output=True, text=True, cwd=workspace)


def test_pixi_manifest_passes_pixi_policys_manifest_rules(cat: catalog.Catalog, choices: Choices,
                                                          tmp_path: Path) -> None:
    for name, request in FAMILIES.items():
        r = install_recipe(cat, request["framework"], choices[name])
        proc = _pixi_policy(tmp_path / name, r.pixi())
        assert proc.returncode == 0, (name, proc.stdout[-1500:], proc.stderr[-1500:])
        report = json.loads(proc.stdout)
        assert report["summary"]["passed"] and report["findings"] == [], (name, report)


def test_pixi_policy_is_a_real_check(tmp_path: Path) -> None:
    bad = '[workspace]\nname = "x"\nchannels = ["conda-forge"]\nplatforms = ["osx-64"]\n\n' \
          '[dependencies]\npython = "*"\n'
    proc = _pixi_policy(tmp_path / "bad", bad)
    assert proc.returncode == 1, proc.stdout + proc.stderr
    rules = {f["rule"] for f in json.loads(proc.stdout)["findings"]}
    assert rules == {"manifest.python-pinned", "manifest.wildcard-spec", "manifest.required-platforms"}
    broken = _pixi_policy(tmp_path / "broken", bad.replace('python = "*"', "python = {{"), lock_from=bad)
    assert broken.returncode == 2 and "TOML parse error" in broken.stderr


def test_requirements_and_uv_text_round_trip(cat: catalog.Catalog, choices: Choices) -> None:
    r = install_recipe(cat, "pytorch", choices["pytorch-cu126"])
    lines = emit_text(r.to_dict(), "requirements").splitlines()
    assert lines == ["--index-url https://download.pytorch.org/whl/cu126", "torch==2.6.0+cu126"]
    uv = shlex.split(emit_text(r.to_dict(), "uv").split("&&")[1])
    assert uv[:3] == ["uv", "pip", "install"] and "--index-url" in uv and "torch==2.6.0+cu126" in uv


def test_kubernetes_scheduling_uses_gfd_labels(cat: catalog.Catalog) -> None:
    inventory = {"nodes": [{"name": "n1", "arch": "x86_64", "driver_version": "550.54.15",
                            "gpus": [{"product": "NVIDIA L4", "count": 2}]}]}
    answer = solver.select(cat, {"framework": "pytorch", "gpu_count": 2}, inventory).to_dict()
    k = install_for_answer(cat, "pytorch", answer, node_arch={"n1": "x86_64"})["kubernetes"]
    assert k["nodeSelector"] == {"nvidia.com/gpu.product": "NVIDIA-L4", "nvidia.com/gpu.compute.major": "8",
                                 "nvidia.com/gpu.compute.minor": "9"}
    assert k["resources"]["limits"] == {"nvidia.com/gpu": 2}
    terms = k["affinity"]["nodeAffinity"]["requiredDuringSchedulingIgnoredDuringExecution"]["nodeSelectorTerms"]
    floor = cat.mvc_floor(int(answer["choice"]["runtime"]["cuda"].split(".")[0])).min_driver.major
    assert {t["matchExpressions"][0]["key"] for t in terms} == {"nvidia.com/cuda.driver-version.major",
                                                              "nvidia.com/cuda.driver.major"}
    assert all(t["matchExpressions"][0]["values"] == [str(floor - 1)] for t in terms)
    assert gfd_product("Tesla V100-SXM2-16GB") == "Tesla-V100-SXM2-16GB"


def test_no_recipe_is_an_answer_not_a_crash(cat: catalog.Catalog) -> None:
    assert "unavailable" in install_for_answer(cat, "pytorch", {"feasible": False})
    with pytest.raises(NoRecipe, match="no pytorch build 9.9.9"):
        install_recipe(cat, "pytorch", {"runtime": {"python": "3.11", "pytorch": "9.9.9"}})
    jetson = install_for_answer(cat, "pytorch", {"feasible": True, "choice": {
        "gpu": {"product": "Jetson AGX Orin", "count": 1}, "runtime": {"pytorch": "2.5.1"}}})
    assert "JetPack" in jetson.get("unavailable", "") or "unavailable" not in jetson


def test_ngc_container_with_the_runtimes_tensorrt(cat: catalog.Catalog, choices: Choices) -> None:
    r = install_recipe(cat, "tensorrt", {"runtime": {"cuda": "12.6", "python": "3.10", "tensorrt": "10.6.0+cu12"}})
    ngc = r.to_dict()["container"]["ngc"]
    assert ngc["image"] == "nvcr.io/nvidia/tritonserver:24.11-trtllm-python-py3" and ngc["differs"] == []
    assert ngc["record"] in r.records and "triton_compat_matrix_2540" in ngc["sources"]
    other = install_recipe(cat, "tensorrt", {"runtime": {"cuda": "12.8", "python": "3.11", "tensorrt": "10.6.0+cu12"}})
    differs = other.to_dict()["container"]["ngc"]["differs"]
    assert any("python 3.10" in d for d in differs) and any("CUDA 12.6" in d for d in differs)
    newest = install_recipe(cat, "tensorrt", {"runtime": {"cuda": "13.0", "python": "3.12",
                                                         "tensorrt": "10.13.3.9.post1+cu13"}})
    assert newest.to_dict()["container"]["ngc"]["release"] == "25.12"
    older = install_recipe(cat, "tensorrt", {"runtime": {"cuda": "12.4", "python": "3.10", "tensorrt": "10.1.0+cu12"}})
    assert older.to_dict()["container"]["ngc"]["release"] == "24.07"
    none = install_recipe(cat, "tensorrt", {"runtime": {"cuda": "12.1", "python": "3.10", "tensorrt": "8.6.1+cu12"}})
    assert none.to_dict()["container"]["ngc"] is None   # no catalogued container ships TensorRT 8.6
    pt = install_recipe(cat, "pytorch", choices["pytorch-cu126"])
    assert pt.to_dict()["container"]["ngc"] is None     # no catalogued NGC PyTorch container ships 2.6
    assert pt.to_dict()["container"]["base"] == "cuda"            # NVIDIA's CUDA base image instead
    assert not newest.to_dict()["container"]["ngc"]["base"]   # a Triton server image is named, not built on


def test_ngc_framework_container_becomes_the_dockerfile_base_when_the_runtime_matches(cat: catalog.Catalog) -> None:
    row = next(r for r in cat.ngc_containers if r.kind == "framework" and r.framework == "pytorch")
    shipped = catalog.versions.parse_version(row.framework_version)
    release = ".".join(map(str, shipped.release[:3]))
    py = f"{row.python.major}.{row.python.minor}"
    build = next(b for b in cat.builds("pytorch") if str(b.version) == release and b.build.variant
                 and b.build.variant.startswith(f"cu{row.cuda.major}"))
    cuda = f"{row.cuda.major}.{build.build.variant[4:] or 0}"
    runtime = {"cuda": cuda, "python": py, "pytorch": f"{release}+{build.build.variant}"}
    d = install_recipe(cat, "pytorch", {"runtime": runtime}).to_dict()
    ngc = d["container"]["ngc"]
    assert ngc["record"] == row.id and ngc["base"] and d["container"]["base"] == "ngc"
    assert d["container"]["image"] == row.image and d["container"]["dockerfile"].count(f"FROM {row.image}") == 1
    assert "torch==" not in d["container"]["dockerfile"]          # the container holds NVIDIA's build
    assert "torch==" in d["container"]["pip_dockerfile"]          # the PyPI route stays available
    assert any(row.framework_version in x for x in ngc["differs"])  # NVIDIA's build is named as a difference
    assert "cuDNN" in ngc["unchecked"] and row.id in d["records"]
    # a different Python series, CUDA major or framework release: no base image
    for change in ({"python": "3.11"}, {"cuda": "12.8", "pytorch": f"{release}+cu128"},
                   {"pytorch": f"2.11.0+{build.build.variant}"}):
        other = {**runtime, **change}
        if cat.find_build("pytorch", other["pytorch"]) is None:
            continue
        d = install_recipe(cat, "pytorch", {"runtime": other}).to_dict()
        assert d["container"]["base"] in ("cuda", "python")
        assert d["container"]["ngc"] is None or not d["container"]["ngc"]["base"]
        assert d["container"]["pip_image"] == f"python:{other['python']}-slim"
    # a container whose CUDA minor is older than the chosen one does not match
    newer = {**runtime, "cuda": f"{row.cuda.major}.{row.cuda.minor + 1}"}
    assert install_recipe(cat, "pytorch", {"runtime": newer}).to_dict()["container"]["base"] in ("cuda", "python")


def test_jax_extra_names_the_cuda_plugin_and_vllm_stages_the_torch_it_pins(cat: catalog.Catalog, choices: Choices) -> None:
    choice = choices["jax"]
    jax = install_recipe(cat, "jax", choice)
    variant = choice["runtime"]["jax"].split("+")[1]
    rt = choice["runtime"]
    assert jax.pip.requirements[0] == f"jax[{variant}]=={rt['jax'].split('+')[0]}"
    # the plugin asks only for lower bounds; the recipe pins the runtime's CUDA and cuDNN wheels
    pins = {Requirement(x).name: str(Requirement(x).specifier) for x in jax.pip.requirements[1:]}
    major = rt["cuda"].split(".")[0]
    wheel = {w.component: w.package for w in cat.nvidia_wheels if str(w.cuda_major) == major}
    assert pins == {wheel["cuda-runtime"]: f"=={rt['cuda']}.*",
                    wheel["cudnn"]: pin(catalog.versions.parse_version(rt["cudnn"]), "exact")}
    vchoice = choices["vllm"]
    vllm = install_recipe(cat, "vllm", vchoice).to_dict()
    assert vllm["pip"]["requirements"] == [f"vllm=={vchoice['runtime']['vllm']}"]
    kinds = [c["kind"] for c in vllm["stage_components"]]
    assert kinds[:2] == ["vllm", "pytorch"] and "torch==" + vchoice["runtime"]["pytorch"] in vllm["stage"][1]


def test_sglang_and_tensorrt_llm_rows(cat: catalog.Catalog, choices: Choices) -> None:
    choice = choices["sglang"]
    sg = install_recipe(cat, "sglang", choice).to_dict()
    assert sg["pip"]["requirements"] == [f"sglang=={choice['runtime']['sglang']}"] and sg["pip"]["index_url"] is None
    assert [c["kind"] for c in sg["stage_components"]][:2] == ["sglang", "pytorch"]
    choice = choices["tensorrt-llm"]
    trtllm = install_recipe(cat, "tensorrt-llm", choice).to_dict()
    assert trtllm["pip"]["requirements"] == [f"tensorrt-llm=={choice['runtime']['tensorrt-llm']}"]
    assert trtllm["pip"]["extra_index_urls"] == ["https://pypi.nvidia.com"]
    # the CUDA 13 torch build the runtime names is staged from PyTorch's own index
    torch_stage = next(c["command"] for c in trtllm["stage_components"] if c["kind"] == "pytorch")
    assert f"torch=={choice['runtime']['pytorch']}" in torch_stage and "download.pytorch.org" in torch_stage


@pytest.mark.parametrize(("runtime", "image"), [
    # the newest release that ships the same x.y.z, on the same CUDA major with at least the chosen minor,
    # for the chosen Python series
    ({"cuda": "12.4", "python": "3.10", "pytorch": "2.5.0+cu124"}, "nvcr.io/nvidia/pytorch:24.10-py3"),
    ({"cuda": "12.1", "python": "3.10", "pytorch": "2.4.0+cu121"}, "nvcr.io/nvidia/pytorch:24.07-py3"),
    ({"cuda": "12.1", "python": "3.10", "pytorch": "2.3.0+cu121"}, "nvcr.io/nvidia/pytorch:24.04-py3"),
    ({"cuda": "13.0", "python": "3.12", "pytorch": "2.10.0+cu130"}, "nvcr.io/nvidia/pytorch:25.12-py3"),
    # no NGC match (Python 3.11: the 24.xx containers hold 3.10; CUDA 11; a patch release NVIDIA did not build):
    # NVIDIA's CUDA base image of the catalog's full version of the CUDA minor, on the newest Ubuntu recorded for it
    ({"cuda": "12.4", "python": "3.11", "pytorch": "2.5.0+cu124"}, "nvidia/cuda:12.4.1-base-ubuntu22.04"),
    ({"cuda": "11.8", "python": "3.10", "pytorch": "2.5.0+cu118"}, "nvidia/cuda:11.8.0-base-ubuntu22.04"),
    ({"cuda": "12.4", "python": "3.10", "pytorch": "2.5.1+cu124"}, "nvidia/cuda:12.4.1-base-ubuntu22.04"),
    ({"cuda": "12.6", "python": "3.11", "pytorch": "2.6.0+cu126"}, "nvidia/cuda:12.6.3-base-ubuntu24.04"),
    # CPU-only runtime: the python image
    ({"python": "3.11", "pytorch": "2.5.0+cpu"}, "python:3.11-slim"),
    # CUDA 12.8: the catalog's full version 12.8.1 has no base image recorded -> the python image, and the file says why
    ({"cuda": "12.8", "python": "3.12", "pytorch": "2.8.0+cu128"}, "python:3.12-slim"),
])
def test_dockerfile_base_is_the_matching_ngc_pytorch_release_or_the_cuda_or_python_image(
        cat: catalog.Catalog, runtime: dict[str, str], image: str) -> None:
    from dockerfile_parse import DockerfileParser

    d = install_recipe(cat, "pytorch", {"runtime": runtime}).to_dict()
    text = d["container"]["dockerfile"]
    parser = DockerfileParser(fileobj=__import__("io").BytesIO(text.encode()))
    assert d["container"]["image"] == image and parser.baseimage == image
    assert d["container"]["pip_image"] == f"python:{runtime['python']}-slim"
    ngc = d["container"]["ngc"]
    if image.startswith("nvidia/cuda:"):
        cb = d["container"]["cuda_base"]
        row = cat.record(cb["record"])
        assert d["container"]["base"] == "cuda" and row.image == image and d["container"]["base_reason"] is None
        # the exact full version: the newest toolkit of the runtime's CUDA series in the catalog
        full = max(t.version for t in cat.toolkits_in_series(catalog.versions.parse_version(runtime["cuda"])))
        assert row.cuda == full and cb["record"] in d["records"] and "install.uv_image" in d["records"]
        # the newest Ubuntu recorded for that version
        oses = [i.os for i in cat.cuda_images if i.cuda == full and i.flavor == "base"]
        assert row.os == max(oses, key=lambda o: tuple(map(int, o.removeprefix("ubuntu").split("."))))
        assert f"RUN uv venv --seed --python {runtime['python']} /opt/venv\n" in text
        # the pip line is the python image's, unchanged
        pip_run = d["container"]["pip_dockerfile"].splitlines()[-1]
        assert pip_run.startswith("RUN python -m pip install") and text.endswith(pip_run + "\n")
        assert any(s["id"] == "nvidia_cuda_container_images_dist" for s in d["sources"])
    elif "cuda" in runtime and not image.startswith("nvcr.io/"):
        assert d["container"]["base"] == "python" and d["container"]["cuda_base"] is None
        reason = d["container"]["base_reason"]
        assert reason and "no nvidia/cuda 12.8.1 base image is recorded" in reason and text.startswith(f"# {reason}\n")
    elif image.startswith("python:"):
        assert d["container"]["base"] == "python" and d["container"]["base_reason"] is None and ngc is None
        assert "nvidia/cuda" not in text and "uv venv" not in text
    if image.startswith("nvcr.io/"):
        row = cat.record(ngc["record"])
        assert d["container"]["base"] == "ngc" and row.image == image and ngc["confidence"] == row.confidence
        # NVIDIA's build is named as a difference; a row of less than high confidence says so in the file
        assert any(row.framework_version in x for x in ngc["differs"])
        assert (f"rtfit catalog show {row.id}" in d["container"]["dockerfile"]) == (row.confidence != "high")
    else:
        assert d["container"]["base"] in ("cuda", "python") and (ngc is None or not ngc["base"])


def test_cuda_images_rows_follow_nvidias_tag_scheme_and_cover_the_newest_toolkit_of_runtime_series(
        cat: catalog.Catalog) -> None:
    rows = [i for i in cat.cuda_images if i.flavor == "base"]
    assert rows and all(i.image == f"nvidia/cuda:{i.cuda}-base-{i.os}" for i in rows)
    full = {max(t.version for t in cat.toolkits_in_series(catalog.versions.parse_version(s)))
            for s in ("11.8", "12.1", "12.4", "12.6")}
    assert full <= {i.cuda for i in rows}
    bad = {"cuda_images": [{"id": "x", "cuda": "12.6.3", "os": "ubuntu24.04", "image": "nvidia/cuda:12.6.3-base",
                            "source": ["nvidia_cuda_container_images_dist"], "confidence": "high"}]}
    from catalog.fields import RecordReader
    from catalog.sections import parse_cuda_image
    problems: list = []
    r = RecordReader(file="t.yaml", section="cuda_images", index=0, raw=bad["cuda_images"][0], problems=problems)
    assert parse_cuda_image(r) is None and any(p.field == "image" for p in problems)


def test_ngc_pytorch_rows_agree_with_the_torch_builds_the_triton_matrix_names(cat: catalog.Catalog) -> None:
    """The Triton rows' notes name the torch they hold as `X.nvYY.M` (NVIDIA's PyTorch container YY.MM);
    where the catalog has that PyTorch container, its framework_version is X. Every PyTorch row's
    image is the YY.MM-py3 tag of its release."""
    import re

    framework = {r.release: r for r in cat.ngc_containers if r.kind == "framework" and r.framework == "pytorch"}
    assert len(framework) >= 10
    for r in framework.values():
        assert r.image == f"nvcr.io/nvidia/pytorch:{r.release}-py3", r.id
        assert catalog.versions.parse_version(r.framework_version).is_prerelease, r.id   # NVIDIA's a0 builds
    checked = 0
    for server in (r for r in cat.ngc_containers if r.kind == "server"):
        m = re.search(r"torch (\S+)\.nv(\d\d)\.(\d+)", server.note or "")
        if m is None:
            continue
        release = f"{m.group(2)}.{int(m.group(3)):02d}"
        if release in framework:
            assert framework[release].framework_version == m.group(1), (server.id, release)
            checked += 1
    assert checked >= 4

