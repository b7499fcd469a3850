"""The `install` object of a selection answer: how to obtain and schedule the chosen runtime.

Input is plain Contract-3 data (the framework and one `choice`), so the CLI, the service and
the workflow runner derive the same recipe from what they already hold. Every part names the
catalog records it came from; `sources` cites them.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from packaging.version import InvalidVersion, Version

from catalog import Catalog
from solver.install import render
from solver.install.errors import NoRecipe
from solver.install.kube import gpu_scheduling
from solver.install.pip import PipRecipe, find_build, pin, pip_recipe

__all__ = ["EMIT_FORMATS", "EMIT_KEYS", "InstallRecipe", "choice_platform", "emit_text", "install_for_answer",
           "install_recipe"]

EMIT_FORMATS = ("requirements", "uv", "pixi", "dockerfile", "stage")
# Where each emit form's text lives in the `install` object (so a remote answer renders the same).
EMIT_KEYS = {"requirements": ("requirements_txt",), "uv": ("uv",), "pixi": ("pixi_toml",),
             "dockerfile": ("container", "dockerfile"), "stage": ("stage",)}
_CONDA_PLATFORM = {"x86_64": "linux-64", "aarch64": "linux-aarch64"}
_RUNTIME_KINDS = ("cuda", "cudnn", "tensorrt", "python")
UV_IMAGE = "ghcr.io/astral-sh/uv:0.13.9"   # install.uv_image


@dataclass(frozen=True)
class InstallRecipe:
    framework: str
    runtime: Mapping[str, str]
    python: str | None
    pip: PipRecipe
    conda: tuple[tuple[str, str, str | None], ...]
    platform: str
    image: str
    stage: tuple[str, ...]
    stage_components: tuple[Mapping[str, str], ...]
    kubernetes: Mapping[str, Any] | None
    ngc: Mapping[str, Any] | None
    records: tuple[str, ...]
    sources: tuple[Mapping[str, str], ...]
    notes: tuple[str, ...] = field(default=())
    pip_framework: tuple[str, ...] = field(default=())   # the requirement lines of the framework build itself
    cuda_base: Mapping[str, Any] | None = None   # the nvidia/cuda base image when no NGC container is the base
    base_reason: str | None = None               # why a GPU runtime keeps the python image (no CUDA base recorded)

    def text(self, form: str) -> str:
        """One emit form as text (`rtfit select --emit FORM`)."""
        if form == "requirements":
            return render.requirements_txt(self.pip)
        if form == "uv":
            return render.uv_command(self.pip, self.python) + "\n"
        if form == "pixi":
            return self.pixi()
        if form == "dockerfile":
            return self.dockerfile()
        if form == "stage":
            return "\n".join(self.stage) + "\n"
        raise ValueError(f"unknown emit form {form!r}; one of {', '.join(EMIT_FORMATS)}")

    def pixi(self) -> str:
        return render.pixi_toml(name=f"rtfit-{self.framework}", platform=_CONDA_PLATFORM.get(self.platform, "linux-64"),
                                cuda=_series(self.runtime.get("cuda")), conda=list(self.conda))

    def _labels(self) -> dict[str, str]:
        return {"org.opencontainers.image.description": "rtfit runtime: " + ", ".join(
            f"{k} {v}" for k, v in self.runtime.items())}

    def pip_dockerfile(self) -> str:
        """The official Python image plus the pip lines (the NVIDIA wheels carry CUDA user space)."""
        return render.dockerfile(image=self.image, pip=self.pip, gpu="cuda" in self.runtime, labels=self._labels())

    def _ngc_base(self) -> bool:
        return self.ngc is not None and bool(self.ngc.get("base"))

    def cuda_dockerfile(self) -> str:
        """FROM NVIDIA's nvidia/cuda base image of the runtime's CUDA version; uv provides the Python series."""
        cb = self.cuda_base
        assert cb is not None and self.python
        comments = [f"{cb['image']} ({cb['record']}): NVIDIA's CUDA {cb['cuda']} base image; its "
                    f"NVIDIA_REQUIRE_CUDA (cuda>={_series(cb['cuda'])}) makes the NVIDIA Container Toolkit refuse to "
                    "start the container on a driver too old for it",
                    f"Python {self.python}: a uv-managed CPython in /opt/venv (install.uv_image); "
                    "the pip line is the same as on python:X.Y-slim"]
        return render.dockerfile(
            image=cb["image"], pip=self.pip, gpu=True, labels=self._labels(), comments=comments,
            after_from=[f"COPY --from={UV_IMAGE} /uv /uvx /bin/"],
            before_pip=["ENV UV_PYTHON_INSTALL_DIR=/opt/uv-python",
                        f"RUN uv venv --seed --python {self.python} /opt/venv",
                        "ENV PATH=/opt/venv/bin:$PATH"])

    def dockerfile(self) -> str:
        """FROM the matching NGC framework container when there is one, else (GPU runtime) NVIDIA's
        nvidia/cuda base image of the runtime's CUDA version, else `pip_dockerfile()`."""
        if not self._ngc_base():
            if self.cuda_base is not None:
                return self.cuda_dockerfile()
            if self.base_reason:
                return f"# {self.base_reason}\n" + self.pip_dockerfile()
            return self.pip_dockerfile()
        ngc = self.ngc
        comments = [f"NGC {ngc['release']} ({ngc['record']}): " + ", ".join(ngc["matches"])]
        comments += [f"differs: {d}" for d in ngc["differs"]]
        if ngc.get("unchecked"):
            comments.append(f"not recorded for this container, so not compared: {', '.join(ngc['unchecked'])}")
        if ngc.get("confidence") in ("low", "medium"):
            comments.append(f"catalog confidence {ngc['confidence']} for this container's contents: "
                            f"rtfit catalog show {ngc['record']}")
        rest = PipRecipe(tuple(r for r in self.pip.requirements if r not in self.pip_framework), self.pip.index_url,
                         self.pip.extra_index_urls, self.pip.records)
        return render.dockerfile(image=ngc["image"], pip=rest if rest.requirements else None,
                                 gpu="cuda" in self.runtime, labels=self._labels(), comments=comments)

    @property
    def container_image(self) -> str:
        if self._ngc_base():
            return self.ngc["image"]
        return self.cuda_base["image"] if self.cuda_base is not None else self.image

    @property
    def container_base(self) -> str:
        return "ngc" if self._ngc_base() else "cuda" if self.cuda_base is not None else "python"

    def to_dict(self) -> dict[str, Any]:
        return {
            "framework": self.framework,
            "python": self.python,
            "pip": {**self.pip.to_dict(), "lines": self.pip.lines()},
            "requirements_txt": render.requirements_txt(self.pip),
            "uv": render.uv_command(self.pip, self.python),
            "conda": {"channels": ["conda-forge"],
                      "dependencies": [" ".join(p for p in (n, v, b) if p) for n, v, b in self.conda],
                      "checked_against_registry": False},
            "pixi_toml": self.pixi(),
            "container": {"image": self.container_image, "dockerfile": self.dockerfile(),
                          "base": self.container_base,
                          "cuda_base": dict(self.cuda_base) if self.cuda_base is not None else None,
                          "base_reason": self.base_reason,
                          "pip_image": self.image, "pip_dockerfile": self.pip_dockerfile(),
                          "ngc": dict(self.ngc) if self.ngc is not None else None},
            "stage": list(self.stage),
            "stage_components": [dict(c) for c in self.stage_components],
            "kubernetes": dict(self.kubernetes) if self.kubernetes is not None else None,
            "records": list(self.records),
            "sources": [dict(s) for s in self.sources],
            "notes": list(self.notes),
        }


def _series(value: str | None) -> str | None:
    if not value:
        return None
    try:
        rel = Version(value).release
    except InvalidVersion:
        return None
    return f"{rel[0]}.{rel[1] if len(rel) > 1 else 0}"


def _framework_key(framework: str, runtime: Mapping[str, str]) -> str:
    if framework in runtime:
        return framework
    others = [k for k in runtime if k not in _RUNTIME_KINDS]
    if len(others) == 1:
        return others[0]
    raise NoRecipe(f"the runtime names no {framework} version")


def _min_driver_major(catalog: Catalog, cuda: Version | None) -> int | None:
    if cuda is None:
        return None
    floor = catalog.mvc_floor(cuda.major)
    if floor is not None:
        return floor.min_driver.major
    native = catalog.native_min_driver(cuda)
    return native[0].major if native is not None else None


def _ngc_row(best: Any, runtime: Mapping[str, str], matches: list[str], *, base: bool,
             extra_differs: list[str] = ()) -> dict[str, Any]:
    cuda = Version(runtime["cuda"])
    differs = list(extra_differs)
    if best.cuda.release[:2] != cuda.release[:2]:
        differs.append(f"CUDA {best.cuda.major}.{best.cuda.minor} in the container, {_series(runtime['cuda'])} chosen")
    if best.python is not None and runtime.get("python") and _series(str(best.python)) != _series(runtime["python"]):
        differs.append(f"python {_series(str(best.python))} in the container, {_series(runtime['python'])} chosen")
    if best.cudnn is not None and runtime.get("cudnn") and \
            best.cudnn.release[:2] != Version(runtime["cudnn"]).release[:2]:
        differs.append(f"cuDNN {best.cudnn} in the container, {runtime['cudnn']} chosen")
    # what the catalog row does not state, so could not be compared with the runtime
    unchecked = [name for name, value in (("cuDNN", best.cudnn), ("driver floor", best.min_driver),
                                          ("python", best.python)) if value is None]
    if best.kind == "framework":
        unchecked.append("GPU architectures of NVIDIA's build")
    return {"image": best.image, "release": best.release, "record": best.id, "kind": best.kind, "base": base,
            "unchecked": unchecked, "confidence": best.confidence,
            "framework_version": best.framework_version, "matches": matches, "differs": differs,
            "min_driver": str(best.min_driver) if best.min_driver is not None else None,
            "sources": list(best.sources)}


def _ngc_framework(catalog: Catalog, framework: str, version: Version,
                   runtime: Mapping[str, str]) -> dict[str, Any] | None:
    """The newest NGC framework container (kind framework, e.g. nvcr.io/nvidia/pytorch) that matches
    the runtime: its framework build is of the same release x.y.z (NVIDIA ships its own builds,
    e.g. 2.10.0a0+b4e4ee81d3 for 2.10.0), its CUDA has the same major and at least the chosen minor,
    and its Python is the chosen series. Such a container becomes the Dockerfile's base."""
    cuda = Version(runtime["cuda"])
    python = _series(runtime.get("python"))
    rows = []
    for r in catalog.ngc_containers:
        if r.kind != "framework" or r.framework != framework:
            continue
        try:
            shipped = Version(r.framework_version)
        except InvalidVersion:
            continue
        if shipped.release[:3] != version.release[:3] or r.cuda.major != cuda.major:
            continue
        if r.cuda.release[:2] < cuda.release[:2]:
            continue
        if python and r.python is not None and _series(str(r.python)) != python:
            continue
        rows.append(r)
    if not rows:
        return None
    best = max(rows, key=lambda r: Version(r.release))
    matches = [f"{framework} {'.'.join(map(str, version.release[:3]))}", f"CUDA {best.cuda.major}.x ({best.cuda})"]
    if best.python is not None:
        matches.append(f"python {_series(str(best.python))}")
    extra = []
    if Version(best.framework_version).public != version.public:
        extra.append(f"{framework} {best.framework_version} in the container (NVIDIA's build), "
                     f"{version} chosen")
    return _ngc_row(best, runtime, matches, base=True, extra_differs=extra)


def _ngc(catalog: Catalog, framework: str, version: Version, runtime: Mapping[str, str]) -> dict[str, Any] | None:
    """A matching NGC container with what matches and what differs, or None.

    A framework container of the chosen framework that matches the runtime (`_ngc_framework`) is
    preferred and becomes the Dockerfile's base. Otherwise, for a runtime with TensorRT, the
    newest container whose TensorRT equals the runtime's (release x.y.z) on the same CUDA major is
    named for information (e.g. a Triton server image)."""
    if not runtime.get("cuda"):
        return None
    found = _ngc_framework(catalog, framework, version, runtime)
    if found is not None:
        return found
    trt = version if framework == "tensorrt" else (Version(runtime["tensorrt"]) if runtime.get("tensorrt") else None)
    if trt is None:
        return None
    cuda = Version(runtime["cuda"])
    rows = [r for r in catalog.ngc_containers if r.tensorrt is not None and r.tensorrt.release[:3] == trt.release[:3]
            and r.cuda.major == cuda.major]
    if not rows:
        return None
    best = max(rows, key=lambda r: Version(r.release))
    matches = [f"tensorrt {best.tensorrt}", f"CUDA {best.cuda.major}.x ({best.cuda})"]
    return _ngc_row(best, runtime, matches, base=False)


def _cuda_base(catalog: Catalog, cuda: Version, python: str | None) -> tuple[dict[str, Any] | None, str | None]:
    """NVIDIA's nvidia/cuda base image for the runtime's CUDA: the catalog's full toolkit version of
    the runtime's CUDA (the newest of its major.minor series, or the exact x.y.z given), on the newest
    Ubuntu a `cuda_images` row records for exactly that version. (None, why) when there is none."""
    toolkits = catalog.toolkits_in_series(cuda)
    if not toolkits:
        return None, f"python image base: no CUDA {cuda} toolkit in the catalog, so no nvidia/cuda tag to name"
    full = max(t.version for t in toolkits)
    rows = [i for i in catalog.cuda_images if i.cuda == full and i.flavor == "base" and i.os.startswith("ubuntu")]
    if not rows:
        return None, (f"python image base: no nvidia/cuda {full} base image is recorded (cuda_images; CUDA {full} is "
                      f"the catalog's newest {_series(str(full))} toolkit)")
    if not python:
        return None, "python image base: the runtime names no Python series to install in the nvidia/cuda image"
    best = max(rows, key=lambda i: Version(i.os.removeprefix("ubuntu")))
    return {"image": best.image, "record": best.id, "cuda": str(full), "os": best.os}, None


def _component_pips(catalog: Catalog, runtime: Mapping[str, str]) -> list[tuple[str, str, PipRecipe | None]]:
    """pip lines that stage the CUDA and cuDNN components of the runtime from NVIDIA's wheels."""
    out: list[tuple[str, str, PipRecipe | None]] = []
    cuda = Version(runtime["cuda"]) if runtime.get("cuda") else None
    for kind, component in (("cuda", "cuda-runtime"), ("cudnn", "cudnn")):
        if kind not in runtime or cuda is None:
            continue
        row = next((w for w in catalog.nvidia_wheels if w.component == component and w.cuda_major == cuda.major), None)
        if row is None:
            raise NoRecipe(f"no nvidia_wheels row carries {component} for CUDA {cuda.major}")
        req = f"{row.package}{pin(Version(runtime[row.pin_from]), row.pin)}"
        out.append((kind, runtime[kind], PipRecipe((req,), None, (), (row.id,))))
    return out


def install_recipe(catalog: Catalog, framework: str, choice: Mapping[str, Any], *,
                   platform: str = "x86_64") -> InstallRecipe:
    """The recipe for one Contract-3 `choice` (node, gpu, runtime) of a `framework` request."""
    runtime = {str(k): str(v) for k, v in (choice.get("runtime") or {}).items()}
    if framework == "none":
        raise NoRecipe("a request without a framework has nothing to install")
    if platform == "jetson":
        raise NoRecipe("Jetson runtimes come with JetPack (see the jetson_stacks records), not from pip")
    key = _framework_key(framework, runtime)
    gpu = "cuda" in runtime
    ref = find_build(catalog, key, runtime[key], gpu=gpu)
    pip, row = pip_recipe(catalog, ref, runtime)
    python = _series(runtime.get("python"))
    cuda = Version(runtime["cuda"]) if gpu else None

    conda: list[tuple[str, str, str | None]] = []
    if python:
        conda.append(("python", f"{python}.*", None))
    if cuda is not None:
        conda.append(("cuda-version", f"{_series(str(cuda))}.*", None))
    if row.conda_package:
        conda.append((row.conda_package, f"=={ref.version.public}", row.conda_build))

    components: list[tuple[str, str, PipRecipe | None]] = [(key, runtime[key], pip)]
    for other in runtime:  # a framework the chosen one pins (vLLM's torch) is a component of its own
        if other not in _RUNTIME_KINDS and other != key:
            other_pip, _ = pip_recipe(catalog, find_build(catalog, other, runtime[other], gpu=gpu), runtime)
            components.append((other, runtime[other], other_pip))
    components += _component_pips(catalog, runtime)
    if python:
        components.append(("python", runtime["python"], None))
    stage = render.stage_commands(components, python=python)
    stage_components = tuple({"kind": kind, "version": version, "command": command if pip is not None else ""}
                             for (kind, version, pip), command in zip(components, stage, strict=True))

    gpu_choice = choice.get("gpu") or None
    kubernetes = None
    if gpu_choice:
        kubernetes = gpu_scheduling(product=gpu_choice.get("product"),
                                    compute_capability=gpu_choice.get("compute_capability"),
                                    count=int(gpu_choice.get("count") or 1),
                                    min_driver_major=_min_driver_major(catalog, cuda))
    ngc = _ngc(catalog, key, ref.version, runtime)
    cuda_base, base_reason = None, None
    if cuda is not None and not (ngc is not None and ngc["base"]):
        cuda_base, base_reason = _cuda_base(catalog, cuda, python)
    records = [*pip.records, *(r for _, _, p in components[1:] if p for r in p.records)]
    if ngc is not None:
        records.append(ngc["record"])
    if cuda_base is not None:
        records.append(cuda_base["record"])
    facts = ["install.python_image"] + (["install.uv_image"] if cuda_base is not None else []) + \
        (["install.gfd_labels"] if kubernetes is not None else [])
    source_ids: list[str] = list(ref.sources)
    for rid in [*records, *facts]:
        rec = catalog.record(rid)
        if rec is not None:
            source_ids += rec.sources
    sources = tuple({"id": s, "doc": catalog.sources[s].doc, "url": catalog.sources[s].url}
                    for s in dict.fromkeys(source_ids) if s in catalog.sources)
    notes = []
    if row.confidence in ("low", "medium"):
        notes.append(f"pip channel {row.id} has {row.confidence} confidence: {row.note or ''}".strip())
    notes.append("conda/pixi: package names and build globs from the catalog; the versions were not checked "
                 "against conda-forge (not reachable from rtfit's registry probes)")
    return InstallRecipe(
        framework=key, runtime=runtime, python=python, pip=pip, conda=tuple(conda), platform=platform,
        image=f"python:{python}-slim" if python else "python:3-slim", stage=tuple(stage),
        stage_components=stage_components, ngc=ngc, kubernetes=kubernetes,
        records=tuple(dict.fromkeys([*records, *facts])), sources=sources, notes=tuple(notes),
        pip_framework=pip.requirements[:1 + len(row.companions)], cuda_base=cuda_base, base_reason=base_reason,
    )


def choice_platform(catalog: Catalog, choice: Mapping[str, Any], *, node_arch: Mapping[str, str] | None = None,
                    request_arch: tuple[str, ...] | None = None) -> str:
    """x86_64, aarch64 or jetson for a choice: the node's arch (or the request's), jetson by GPU."""
    gpu = choice.get("gpu") or {}
    product = catalog.gpu(str(gpu["product"])) if gpu.get("product") else None
    if product is not None and product.platform == "jetson":
        return "jetson"
    node = choice.get("node")
    if node and node_arch and node in node_arch:
        return node_arch[node]
    return request_arch[0] if request_arch else "x86_64"


def install_for_answer(catalog: Catalog, framework: str, answer: Mapping[str, Any], *,
                       node_arch: Mapping[str, str] | None = None,
                       request_arch: tuple[str, ...] | None = None) -> dict[str, Any]:
    """The `install` value for a Contract-3 answer: the recipe of its choice, or why there is none."""
    choice = answer.get("choice") if answer.get("feasible") else None
    if not choice:
        return {"unavailable": "no feasible choice to install"}
    platform = choice_platform(catalog, choice, node_arch=node_arch, request_arch=request_arch)
    try:
        return install_recipe(catalog, framework, choice, platform=platform).to_dict()
    except NoRecipe as e:
        return {"unavailable": str(e)}


def emit_text(install: Mapping[str, Any], form: str) -> str:
    """One emit form's text from an `install` object (local or from the service)."""
    value: Any = install
    for key in EMIT_KEYS[form]:
        value = value[key]
    if isinstance(value, list):
        return "\n".join(value) + "\n"
    return value if value.endswith("\n") else value + "\n"
