"""The model request (Contract 1): a frozen value type and its strict parser.

A request says what the model needs (framework and version range, Python, precision, GPU memory
and count, CPU architectures, artifact format facts, extra component constraints). Parsing is
strict: an unknown key, framework, precision or a malformed PEP 440 specifier raises
`InvalidRequest` naming the field, so a typo never silently widens a selection.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from packaging.specifiers import InvalidSpecifier, SpecifierSet
from packaging.version import InvalidVersion, Version

from modelfile.facts import ModelFacts
from solver.errors import InvalidRequest
from solver.sizing.estimate import MemoryEstimate, Serving, estimate_memory

__all__ = [
    "ARCHES",
    "FORMAT_KINDS",
    "FRAMEWORKS",
    "PRECISIONS",
    "REQUIRE_KINDS",
    "SEGMENTS",
    "ArtifactFormat",
    "ModelRequest",
    "parse_request",
]

FRAMEWORKS = ("pytorch", "tensorflow", "onnxruntime", "tensorrt", "jax", "vllm", "sglang", "tensorrt-llm", "none")
PRECISIONS = ("fp32", "tf32", "fp16", "bf16", "fp8", "int8", "fp4")
ARCHES = ("x86_64", "aarch64")
FORMAT_KINDS = ("onnx", "tensorrt-engine", "torchscript", "savedmodel", "safetensors")
# Bounds that keep hostile numbers (NaN, 1e400, 400-digit integers) out of the solver's arithmetic.
MAX_GPU_MEMORY_GIB = 1_048_576
MAX_GPU_COUNT = 65_536
REQUIRE_KINDS = ("cuda", "cudnn", "tensorrt", "python", "pytorch", "tensorflow", "onnxruntime", "jax", "vllm", "sglang",
                 "tensorrt-llm")
# GPU market segments of the catalog (`gpus[].segment`); "embedded" is accepted for jetson.
SEGMENTS = ("datacenter", "workstation", "consumer", "jetson")
# Hardware planning proposes these unless the request names its own `segments`: what a platform
# team buys for servers. Consumer cards and embedded boards are there on request.
DEFAULT_PLANNING_SEGMENTS = ("datacenter", "workstation")
_KEYS = {"name", "framework", "framework_version", "python", "precision", "min_gpu_memory_gib", "gpu_count",
         "arch", "format", "requires", "artifact", "serving", "strict", "segments"}
_SERVING_KEYS = {"max_model_len", "max_num_seqs", "tensor_parallel"}
_FORMAT_KEYS = {"kind", "opset", "tensorrt_version", "compute_capability"}


@dataclass(frozen=True)
class ArtifactFormat:
    kind: str
    opset: int | None = None
    tensorrt_version: Version | None = None
    compute_capability: Version | None = None


@dataclass(frozen=True)
class ModelRequest:
    """A parsed Contract-1 request. Hashable, so per-request facts can be cached."""

    framework: str = "none"
    name: str | None = None
    framework_version: SpecifierSet | None = None
    python: SpecifierSet | None = None
    precision: str | None = None
    min_gpu_memory_gib: float | None = None
    gpu_count: int = 1
    arch: tuple[str, ...] | None = None
    format: ArtifactFormat | None = None
    requires: tuple[tuple[str, SpecifierSet], ...] = ()
    artifact: ModelFacts | None = None      # facts read from the model file (`artifact:`)
    serving: Serving | None = None          # LLM serving shape (`serving:`)
    memory: MemoryEstimate | None = None    # set when min_gpu_memory_gib was estimated from `artifact`
    strict: bool = False  # refuse runtimes whose verdict rests on facts the catalog lacks ("unverified")
    segments: tuple[str, ...] | None = None   # planning mode only; None = DEFAULT_PLANNING_SEGMENTS

    @property
    def planning_segments(self) -> tuple[str, ...]:
        return self.segments if self.segments is not None else DEFAULT_PLANNING_SEGMENTS

    @property
    def uses_gpu(self) -> bool:
        return self.gpu_count > 0

    @property
    def min_memory_mib(self) -> int:
        return int(round((self.min_gpu_memory_gib or 0) * 1024))

    def required(self, kind: str) -> SpecifierSet | None:
        for k, spec in self.requires:
            if k == kind:
                return spec
        return None


def _text(value: Any, field: str) -> str:
    if isinstance(value, bool) or not isinstance(value, str | int | float):
        raise InvalidRequest(field, f"expected a string, got {type(value).__name__}")
    return str(value).strip()


def parse_spec_field(value: Any, field: str, error: type[ValueError] = InvalidRequest) -> SpecifierSet:
    """A PEP 440 specifier; a bare version means that series ("2.6" -> "==2.6.*")."""
    text = _text(value, field)
    try:
        if text and text[0].isdigit():
            v = Version(text)
            text = f"=={v}.*" if len(v.release) <= 2 else f"=={v}"
        return SpecifierSet(text)
    except (InvalidSpecifier, InvalidVersion) as e:
        raise error(field, f"not a valid PEP 440 specifier: {value!r} ({e})") from e  # type: ignore[call-arg]


def parse_version_field(value: Any, field: str, error: type[ValueError] = InvalidRequest) -> Version:
    text = _text(value, field)
    try:
        return Version(text)
    except InvalidVersion as e:
        raise error(field, f"not a valid version: {value!r}") from e  # type: ignore[call-arg]


def _choice(value: Any, field: str, choices: tuple[str, ...]) -> str:
    text = _text(value, field).lower()
    if text not in choices:
        raise InvalidRequest(field, f"unknown value {value!r}; expected one of: {', '.join(choices)}")
    return text


def _int(value: Any, field: str, minimum: int, maximum: int = 2**31 - 1) -> int:
    if isinstance(value, bool) or not isinstance(value, int):
        raise InvalidRequest(field, f"expected an integer, got {_short(value)}")
    if not minimum <= value <= maximum:
        raise InvalidRequest(field, f"must be between {minimum} and {maximum}, got {_short(value)}")
    return value


def _short(value: Any) -> str:
    """repr() of a value for a message, cut short (a 5,000-digit integer must not fill the screen)."""
    if isinstance(value, int) and abs(value) >= 10**30:
        return f"an integer of {len(str(abs(value)))} digits"
    text = repr(value)
    return text if len(text) <= 60 else text[:57] + "..."


def _format(raw: Any) -> ArtifactFormat:
    if not isinstance(raw, Mapping):
        raise InvalidRequest("format", "expected a mapping with at least `kind`")
    unknown = sorted(set(raw) - _FORMAT_KEYS)
    if unknown:
        raise InvalidRequest(f"format.{unknown[0]}", f"unknown field; known: {', '.join(sorted(_FORMAT_KEYS))}")
    if "kind" not in raw:
        raise InvalidRequest("format.kind", "required")
    kind = _choice(raw["kind"], "format.kind", FORMAT_KINDS)
    opset = raw.get("opset")
    trt = raw.get("tensorrt_version")
    cc = raw.get("compute_capability")
    return ArtifactFormat(
        kind=kind,
        opset=_int(opset, "format.opset", 1, 10_000) if opset is not None else None,
        tensorrt_version=parse_version_field(trt, "format.tensorrt_version") if trt is not None else None,
        compute_capability=parse_version_field(cc, "format.compute_capability") if cc is not None else None,
    )


def _requires(raw: Any) -> tuple[tuple[str, SpecifierSet], ...]:
    if raw is None:
        return ()
    if not isinstance(raw, Mapping):
        raise InvalidRequest("requires", "expected a mapping of component kind to PEP 440 specifier")
    out = []
    for kind, spec in raw.items():
        if kind not in REQUIRE_KINDS:
            raise InvalidRequest(f"requires.{kind}", f"unknown component kind; known: {', '.join(REQUIRE_KINDS)}")
        out.append((str(kind), parse_spec_field(spec, f"requires.{kind}")))
    return tuple(sorted(out, key=lambda kv: kv[0]))


def _arch(raw: Any) -> tuple[str, ...] | None:
    if raw is None:
        return None
    items = [raw] if isinstance(raw, str) else raw
    if not isinstance(items, list | tuple) or not items:
        raise InvalidRequest("arch", "expected a non-empty list of CPU architectures (x86_64, aarch64)")
    return tuple(dict.fromkeys(_choice(a, f"arch[{i}]", ARCHES) for i, a in enumerate(items)))


def _serving(raw: Any) -> Serving | None:
    if raw is None:
        return None
    if not isinstance(raw, Mapping):
        raise InvalidRequest("serving", "expected a mapping with max_model_len, max_num_seqs, tensor_parallel")
    unknown = sorted(str(k) for k in set(raw) - _SERVING_KEYS)
    if unknown:
        raise InvalidRequest(f"serving.{unknown[0]}", f"unknown field; known: {', '.join(sorted(_SERVING_KEYS))}")
    length = raw.get("max_model_len")
    return Serving(
        max_model_len=_int(length, "serving.max_model_len", 1) if length is not None else None,
        max_num_seqs=_int(raw.get("max_num_seqs", 1), "serving.max_num_seqs", 1),
        tensor_parallel=_int(raw.get("tensor_parallel", 1), "serving.tensor_parallel", 1),
    )


def _artifact(raw: Any) -> ModelFacts | None:
    if raw is None:
        return None
    if isinstance(raw, str):
        raise InvalidRequest("artifact", f"{raw!r} is a path: read it first (`rtfit select` and the flow runner do; "
                             "over HTTP send the facts `rtfit model inspect --json` prints)")
    if not isinstance(raw, Mapping):
        raise InvalidRequest("artifact", "expected a path or the facts `rtfit model inspect --json` prints")
    try:
        return ModelFacts.from_dict(raw)
    except (TypeError, ValueError) as e:
        raise InvalidRequest("artifact", str(e)) from e


def _segments(raw: Any) -> tuple[str, ...] | None:
    if raw is None:
        return None
    items = [raw] if isinstance(raw, str) else raw
    if not isinstance(items, list | tuple) or not items:
        raise InvalidRequest("segments", f"expected a non-empty list of GPU segments ({', '.join(SEGMENTS)})")
    out = []
    for i, s in enumerate(items):
        text = _text(s, f"segments[{i}]").lower().replace(" ", "").replace("-", "")
        text = {"embedded": "jetson", "datacentre": "datacenter", "dc": "datacenter"}.get(text, text)
        out.append(_choice(text, f"segments[{i}]", SEGMENTS))
    return tuple(dict.fromkeys(out))


def parse_request(data: Mapping[str, Any]) -> ModelRequest:
    """Parse a Contract-1 mapping (from YAML or JSON) into a `ModelRequest`."""
    if not isinstance(data, Mapping):
        raise InvalidRequest("", "a model request must be a mapping (YAML/JSON object)")
    unknown = sorted(str(k) for k in set(data) - _KEYS)
    if unknown:
        raise InvalidRequest(unknown[0], f"unknown field; known: {', '.join(sorted(_KEYS))}")
    framework = _choice(data.get("framework") or "none", "framework", FRAMEWORKS)
    fv = data.get("framework_version")
    if fv is not None and framework == "none":
        raise InvalidRequest("framework_version", "needs a framework (framework is none)")
    py = data.get("python")
    precision = data.get("precision")
    mem = data.get("min_gpu_memory_gib")
    if mem is not None and (
        isinstance(mem, bool) or not isinstance(mem, int | float) or not 0 <= mem <= MAX_GPU_MEMORY_GIB
    ):  # NaN fails both comparisons
        raise InvalidRequest("min_gpu_memory_gib", f"expected a number from 0 to {MAX_GPU_MEMORY_GIB}, got {_short(mem)}")
    count = data.get("gpu_count")
    name = data.get("name")
    artifact = _artifact(data.get("artifact"))
    serving = _serving(data.get("serving"))
    tp = serving.tensor_parallel if serving is not None else 1
    if count is None:
        count = tp
    elif serving is not None and count and _int(count, "gpu_count", 0, MAX_GPU_COUNT) < tp:
        raise InvalidRequest("gpu_count", f"{count} GPUs cannot hold serving.tensor_parallel = {tp}")
    memory = None
    if artifact is not None and mem is None and count:
        precision_name = _choice(precision, "precision", PRECISIONS) if precision is not None else None
        memory = estimate_memory(artifact, precision=precision_name, serving=serving)
        mem = round(memory.per_gpu_gib, 2)
    return ModelRequest(
        name=_text(name, "name") if name is not None else None,
        framework=framework,
        framework_version=parse_spec_field(fv, "framework_version") if fv is not None else None,
        python=parse_spec_field(py, "python") if py is not None else None,
        precision=_choice(precision, "precision", PRECISIONS) if precision is not None else None,
        min_gpu_memory_gib=float(mem) if mem is not None else None,
        gpu_count=_int(1 if count is None else count, "gpu_count", 0, MAX_GPU_COUNT),
        arch=_arch(data.get("arch")),
        format=_format(data["format"]) if data.get("format") is not None else None,
        requires=_requires(data.get("requires")),
        artifact=artifact,
        serving=serving,
        memory=memory,
        strict=_bool(data.get("strict", False), "strict"),
        segments=_segments(data.get("segments")),
    )


def _bool(value: Any, field: str) -> bool:
    if value is None:
        return False
    if not isinstance(value, bool):
        raise InvalidRequest(field, f"expected true or false, got {value!r}")
    return value
