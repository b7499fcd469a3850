"""What a wheel's `Requires-Dist` says about the NVIDIA libraries it runs with.

PyTorch, TensorFlow (`and-cuda` extra), JAX's CUDA plugins and others depend on NVIDIA's runtime
wheels with exact pins (`nvidia-cudnn-cu12==9.1.0.70`) or ranges (`nvidia-cudnn-cu12>=9.8,<10`).
This module evaluates each requirement's environment marker for the wheel's own platform and
Python, keeps the NVIDIA ones, and maps them to catalog components:

    nvidia-cuda-runtime[-cuXY] / cuda-toolkit[...]  -> cuda    (series "12.1" from "12.1.105")
    nvidia-cudnn-cuXY                               -> cudnn   (full version, "9.1.0.70")
    nvidia-cublas[-cuXY]                            -> cublas
    nvidia-nccl-cuXY                                -> nccl

Serving engines pin the PyTorch they were built against and the package holding their GPU
kernels (SGLang: `torch==2.14.1`, `sglang-kernel==0.4.10`; the kernel wheel was `sgl-kernel`
before 0.4). Those pins are kept too and map to `pytorch` and `sglang-kernel`, the `bundled`
kinds of an engine build.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

from packaging.markers import InvalidMarker, UndefinedComparison
from packaging.requirements import InvalidRequirement, Requirement
from packaging.version import InvalidVersion, Version

__all__ = ["COMPONENT_PACKAGES", "KERNEL_PACKAGES", "Pin", "component_of", "components", "nvidia_pins"]

COMPONENT_PACKAGES: dict[str, tuple[str, ...]] = {
    "cuda": ("nvidia-cuda-runtime", "cuda-toolkit"),
    "cudnn": ("nvidia-cudnn",),
    "cublas": ("nvidia-cublas",),
    "nccl": ("nvidia-nccl",),
    "pytorch": ("torch",),
    "sglang-kernel": ("sglang-kernel", "sgl-kernel"),
}
# packages that hold an engine's GPU code (its own wheel has none): a pin on one is a GPU dependency
KERNEL_PACKAGES = ("sglang-kernel", "sgl-kernel")
_SUFFIX = re.compile(r"-cu\d+$")
_NVIDIA = re.compile(r"^(nvidia-|cuda-toolkit$|cuda-bindings$|tensorrt|torch$|sglang-kernel$|sgl-kernel$)")


@dataclass(frozen=True)
class Pin:
    """One NVIDIA requirement of a wheel, as written, with the extra that enables it (if any)."""

    name: str
    spec: str
    extra: str | None = None

    def to_dict(self) -> dict[str, str | None]:
        return {"name": self.name, "spec": self.spec, "extra": self.extra}

    @property
    def exact(self) -> str | None:
        """The pinned version for `==X` (no wildcard), else None."""
        m = re.fullmatch(r"===?\s*([0-9][0-9A-Za-z.+!-]*)", self.spec)
        return m.group(1) if m else None


def _env(python: str, machine: str, system: str, extra: str) -> dict[str, str]:
    return {"python_version": python, "python_full_version": python + ".0", "platform_machine": machine,
            "platform_system": system, "sys_platform": system.lower(), "os_name": "posix" if system == "Linux"
            else "nt", "implementation_name": "cpython", "platform_python_implementation": "CPython",
            "extra": extra}


def nvidia_pins(requires_dist: list[str], *, python: str, machine: str, system: str = "Linux") -> list[Pin]:
    """The NVIDIA requirements that apply to a wheel for `python` ("3.12") on `machine` ("x86_64"),
    with an engine's `torch` and GPU-kernel package pins (see the module docstring).

    A requirement gated by an extra (`extra == "and-cuda"`) is kept with that extra named; one
    whose marker excludes this platform (e.g. `platform_machine == "x86_64"` on aarch64) is dropped.
    """
    pins: list[Pin] = []
    for line in requires_dist:
        try:
            req = Requirement(line)
        except InvalidRequirement:
            continue
        name = req.name.lower().replace("_", "-")
        if not _NVIDIA.match(name):
            continue
        extra = None
        if req.marker is not None:
            text = str(req.marker)
            m = re.search(r"extra\s*==\s*['\"]([^'\"]+)['\"]", text)
            extra = m.group(1) if m else None
            try:
                if not req.marker.evaluate(_env(python, machine, system, extra or "")):
                    continue
            except (InvalidMarker, UndefinedComparison):
                continue
        extras = f"[{','.join(sorted(req.extras))}]" if req.extras else ""
        pins.append(Pin(name + extras, str(req.specifier), extra))
    return pins


def component_of(name: str) -> str | None:
    """The catalog component a requirement names (cuda, cudnn, cublas, nccl, pytorch, sglang-kernel), else None."""
    base = _SUFFIX.sub("", name.split("[", 1)[0])
    for comp, packages in COMPONENT_PACKAGES.items():
        if base in packages:
            return comp
    return None


# NVIDIA wheels versioned like the CUDA toolkit itself (12.6.85 = CUDA 12.6): a range on any of them
# bounds the CUDA a wheel runs with (jax-cuda12-plugin: runtime >=12.1.105 but ptxas from nvcc >=12.6.85)
_CUDA_VERSIONED = ("nvidia-cuda-runtime", "nvidia-cuda-nvcc", "nvidia-cuda-nvrtc", "nvidia-cuda-cupti",
                   "nvidia-nvjitlink", "cuda-toolkit")


def _cuda_range(pins: list[Pin]) -> str | None:
    """The CUDA range all CUDA-versioned requirements allow together, `-cuXY` names adding `==XY.*`."""
    parts: list[str] = []
    for pin in pins:
        base = pin.name.split("[", 1)[0]
        stem = _SUFFIX.sub("", base)
        if stem not in _CUDA_VERSIONED:
            continue
        parts += [p.strip() for p in pin.spec.split(",") if p.strip()]
        m = _SUFFIX.search(base)
        if m:
            parts.append(f"=={m.group(0)[3:]}.*")
    if not parts:
        return None
    return ",".join(sorted(set(parts), key=lambda p: (p.lstrip("<>=!~"), p)))


def components(pins: list[Pin]) -> dict[str, str]:
    """{component: version} from exact pins; CUDA as its series ("12.1"), others in full.

    Requirements with a range instead of a pin are reported as the range ("cudnn": ">=9.8,<10");
    a CUDA range joins the ranges of every CUDA-versioned wheel (runtime, nvcc, nvrtc, nvJitLink,
    CUPTI) and the major a `-cuXY` name implies. When pins of one component disagree (two
    extras), the first unconditional one wins.
    """
    out: dict[str, str] = {}
    if not any(component_of(p.name) == "cuda" and p.exact for p in pins):
        joined = _cuda_range(pins)
        if joined:
            out["cuda"] = joined
    for pin in sorted(pins, key=lambda p: p.extra is not None):
        comp = component_of(pin.name)
        if comp is None or comp in out:
            continue
        exact = pin.exact
        if exact is None:
            if pin.spec:  # an unversioned requirement says nothing about the version
                out[comp] = pin.spec
            continue
        if comp == "cuda":
            try:
                v = Version(exact)
            except InvalidVersion:
                continue
            out[comp] = f"{v.major}.{v.minor}"
        else:
            out[comp] = exact
    return out
