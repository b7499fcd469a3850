"""The selection rules, each a named unit that returns `catalog.compat.Check`s.

Three scopes, so each fact is judged once where it is cheapest:
- request rules judge a runtime candidate against the request alone (framework_version, python,
  requires, ONNX opset, TensorRT engine version);
- target rules judge a GPU product on a platform against the request (precision, engine CC);
- pair rules judge a candidate on a target (platform, kernels, toolkit <-> architecture, cuDNN,
  driver). They wrap the catalog's `compat` functions, so a refusal and its explanation share
  one implementation and one set of sources.
Node rules (arch allowed, memory, GPU count, free GPUs) live with the node groups (`groups.py`).
"""

from __future__ import annotations

from dataclasses import dataclass, replace
from typing import TYPE_CHECKING, Any

from packaging.specifiers import SpecifierSet
from packaging.version import Version

from catalog import Catalog
from catalog.compat import Check, check_driver_window, check_precision
from catalog.versions import TegraDriver, is_prefix, spec_allows
from solver.facts.candidates import Candidate, Target
from solver.inputs.request import ModelRequest

if TYPE_CHECKING:
    from solver.index.catalog_index import CatalogIndex

__all__ = [
    "PHRASES",
    "RULES",
    "Rule",
    "FREE",
    "NEVER",
    "candidate_failures",
    "request_rule_failures",
    "need_met",
    "pair_need",
    "pair_signature",
    "pair_failure_rules",
    "pair_failures",
    "pair_ok",
    "spec_allows_series",
    "target_failures",
]


@dataclass(frozen=True)
class Rule:
    name: str
    scope: str  # request | target | pair | node
    description: str


RULES: dict[str, Rule] = {r.name: r for r in (
    Rule("no-candidate", "request", "the catalog has no build of the framework for this kind of runtime"),
    Rule("no-component", "request", "the requested builds' needs match no component record of the catalog"),
    Rule("framework-version", "request", "framework version outside the request's framework_version"),
    Rule("python-version", "request", "Python outside the request's python range"),
    Rule("requires", "request", "a component outside the request's `requires` range"),
    Rule("opset-too-new", "request", "ONNX opset newer than the runtime's max_opset"),
    Rule("trt-engine-version", "request", "TensorRT engine needs the exact TensorRT version it was built with"),
    Rule("unverified", "request", "strict: the verdict rests on facts the catalog lacks"),
    Rule("trt-engine-cc", "target", "TensorRT engine runs only on the compute capability it was built on"),
    Rule("precision-unsupported", "target", "the numeric format needs a newer compute capability"),
    Rule("driver-too-old-for-gpu", "target", "the driver predates the GPU's architecture"),
    Rule("driver-too-new-for-gpu", "target", "the driver branch no longer supports the GPU's architecture"),
    Rule("unverified-driver", "target", "strict: a Jetson driver whose CUDA version is unknown"),
    Rule("platform-mismatch", "pair", "the build is not made for the platform (x86_64, aarch64, Jetson)"),
    Rule("no-kernel-for-gpu", "pair", "the build ships no SASS/PTX that runs on the GPU"),
    Rule("unverified-ptx", "pair", "strict: the GPU runs the build's PTX, compiled by a toolkit the catalog lacks"),
    Rule("toolkit-drops-arch", "pair", "the CUDA toolkit cannot target the GPU architecture"),
    Rule("unknown-architecture", "pair", "the GPU's compute capability is not in the catalog"),
    Rule("cudnn-no-gpu-support", "pair", "cuDNN does not support the GPU's compute capability"),
    Rule("driver-too-old", "pair", "the driver is older than the CUDA (or cuDNN) minimum"),
    Rule("no-driver", "pair", "the node has no NVIDIA driver"),
    Rule("unknown-cuda", "pair", "the CUDA version is not in the catalog"),
    Rule("no-nodes", "node", "the inventory has no nodes"),
    Rule("arch-not-allowed", "node", "the node's CPU architecture is not in the request's arch list"),
    Rule("no-gpu", "node", "the node has no GPU"),
    Rule("gpu-memory", "node", "the GPU has less memory than min_gpu_memory_gib"),
    Rule("gpu-count", "node", "the node has fewer GPUs of the product than gpu_count"),
    Rule("no-free-gpu", "node", "the node has fewer free GPUs than gpu_count"),
)}

# Short phrases for per-node rejection tallies ("12 nodes: driver too old").
PHRASES = {
    "framework-version": "framework version excluded by the request", "python-version": "python excluded",
    "requires": "requires: not met", "opset-too-new": "ONNX opset too new", "trt-engine-version":
    "TensorRT version differs from the engine's", "trt-engine-cc": "GPU CC differs from the engine's",
    "precision-unsupported": "precision unsupported by the GPU",
    "driver-too-old-for-gpu": "driver predates the GPU", "driver-too-new-for-gpu": "driver branch dropped the GPU", "platform-mismatch": "no build for the platform",
    "no-kernel-for-gpu": "no kernels for the GPU", "toolkit-drops-arch": "CUDA cannot target the GPU",
    "unknown-architecture": "GPU architecture unknown", "cudnn-no-gpu-support": "cuDNN does not support the GPU",
    "driver-too-old": "driver too old", "no-driver": "no NVIDIA driver", "unknown-cuda": "CUDA not in catalog",
    "arch-not-allowed": "CPU arch not allowed", "no-gpu": "no GPU", "gpu-memory": "not enough GPU memory",
    "gpu-count": "too few GPUs", "no-free-gpu": "no free GPU", "no-candidate": "no runtime in the catalog", "no-component": "no component for the build's needs",
    "no-nodes": "no nodes", "unverified": "unverified (strict)",
    "unverified-ptx": "PTX on an unrecorded toolkit (strict)",
    "unverified-driver": "Jetson driver of unknown CUDA version (strict)",
}


def spec_allows_series(spec: SpecifierSet, v: Version) -> bool:
    """A series version ("3.11", "12.4") is allowed when it or any of its patch releases is."""
    if spec_allows(spec, v):
        return True
    if len(v.release) > 2:
        return False
    return any(spec_allows(spec, Version(f"{v}.{p}")) for p in range(0, 40))


# Request rules take `memo`: a dict owned by the caller for ONE request (`RequestFacts.rule_memo`),
# so a verdict on a value (a label, a Python series, a TensorRT version) is judged once per request.


def _memo(memo: dict, key: tuple, make: Any) -> Any:
    found = memo.get(key)
    if found is None:
        found = memo.setdefault(key, make())
    return found


def _framework_ok(spec: SpecifierSet, label: str | None, version: Version, memo: dict) -> bool:
    return _memo(memo, ("fw", label, version), lambda: spec_allows(spec, Version(label) if label else version))


def _filter_check(rule: str, what: str, value: Version | str | None, spec: SpecifierSet, cand: Candidate,
                  memo: dict) -> Check:
    field = {"framework-version": "framework_version", "python-version": "python"}.get(rule, f"requires.{what}")
    of = f" (in the {cand.framework} {cand.label} runtime)" if cand.label and what != cand.framework else ""
    text = _memo(memo, ("text", rule, what), lambda: str(spec) if spec else "(any)")
    return Check(rule, False, f"{what} {value}{of} is outside the requested {field} {text}",
                 cand.build.sources if cand.build else (), f"allow {what} {value}",
                 component=what, need=f"{field} {text}", have=str(value),
                 records=(cand.build.release.id,) if cand.build else ())


def _framework_version(cat: Catalog, request: ModelRequest, cand: Candidate, memo: dict) -> list[Check]:
    if request.framework_version is not None and cand.version is not None:
        if not _framework_ok(request.framework_version, cand.label, cand.version, memo):
            return [_filter_check("framework-version", cand.framework, cand.label, request.framework_version, cand,
                                  memo)]
    return []


def _python_version(cat: Catalog, request: ModelRequest, cand: Candidate, memo: dict) -> list[Check]:
    py = request.python
    if py is not None and cand.python is not None and \
            not _memo(memo, ("py", cand.python), lambda: spec_allows_series(py, cand.python)):
        return [_filter_check("python-version", "python", cand.python, py, cand, memo)]
    return []


def _requires(cat: Catalog, request: ModelRequest, cand: Candidate, memo: dict) -> list[Check]:
    out: list[Check] = []
    for kind, spec in request.requires:
        have = cand.component_version(kind)
        if have is None:
            out.append(Check("requires", False, f"requires.{kind} {spec}: the {cand.framework} runtime "
                             f"{cand.label or ''} has no {kind}".replace("  ", " "), (),
                             component=kind, need=f"requires.{kind} {spec}", have="none"))
        elif not _memo(memo, ("req", kind, have), lambda s=spec, h=have: spec_allows_series(s, h)):
            out.append(_filter_check("requires", kind, have, spec, cand, memo))
    return out


def _opset(cat: Catalog, request: ModelRequest, cand: Candidate, memo: dict) -> list[Check]:
    fmt = request.format
    if fmt is not None and fmt.kind == "onnx" and fmt.opset is not None and cand.build is not None:
        max_opset = cand.build.release.max_opset
        if max_opset is not None and fmt.opset > max_opset:
            rel = cand.build.release
            return [Check("opset-too-new", False, f"the model uses ONNX opset {fmt.opset}, but {rel.framework} "
                          f"{rel.series} implements opsets up to {max_opset} (catalog: {rel.id}; "
                          f"{cat.cite(rel.sources)})", rel.sources,
                          f"export the model with opset <= {max_opset}, or use a newer {rel.framework}",
                          component=rel.framework, need=f"opset >= {fmt.opset}", have=f"opset <= {max_opset}",
                          records=(rel.id,))]
    return []


def _engine_version(cat: Catalog, request: ModelRequest, cand: Candidate, memo: dict) -> list[Check]:
    fmt = request.format
    if fmt is not None and fmt.kind == "tensorrt-engine" and request.uses_gpu:
        if cand.tensorrt is None:
            return [Check("trt-engine-version", False, f"a TensorRT engine needs TensorRT in the runtime; "
                          f"{cand.framework} {cand.label or ''} has none".rstrip(), (),
                          component="tensorrt", need="TensorRT in the runtime", have="none")]
        if fmt.tensorrt_version is not None:
            want, have = fmt.tensorrt_version, cand.tensorrt
            src = cand.build.sources if cand.build else ()
            return list(_memo(memo, ("trt", have, src), lambda: _engine_version_check(want, have, src)))
    return []


def _engine_version_check(want: Version, have: Version, src: tuple[str, ...]) -> tuple[Check, ...]:
    if have == want or is_prefix(have, want) or is_prefix(want, have):
        return ()
    return (Check("trt-engine-version", False, f"the engine was built with TensorRT {want}; a serialized engine "
                  f"runs only on that exact version, not TensorRT {have} (catalog fact trt.engine.version)", src,
                  f"rebuild the engine with TensorRT {have}, or use TensorRT {want}",
                  component="tensorrt", need=f"TensorRT {want}", have=f"TensorRT {have}"),)


def _unverified(cat: Catalog, request: ModelRequest, cand: Candidate, memo: dict) -> list[Check]:
    if request.strict and cand.gaps:
        return [Check("unverified", False, f"{cand.framework} {cand.label or ''} is unverified: "
                      f"{'; '.join(cand.gaps)}".replace("  ", " "), cand.build.sources if cand.build else (),
                      "add the missing facts to the catalog, or select without strict")]
    return []


# The request rules, in the order `candidate_failures` reports them; each builds its own checks.
_REQUEST_RULES = {"framework-version": _framework_version, "python-version": _python_version,
                  "requires": _requires, "opset-too-new": _opset, "trt-engine-version": _engine_version,
                  "unverified": _unverified}


def candidate_failures(cat: Catalog, request: ModelRequest, cand: Candidate,
                       memo: dict | None = None) -> tuple[Check, ...]:
    """Request rules that reject `cand` (all of them, not just the first); `memo`: see `_memo`."""
    memo = {} if memo is None else memo
    return tuple(ch for judge in _REQUEST_RULES.values() for ch in judge(cat, request, cand, memo))


def request_rule_failures(cat: Catalog, request: ModelRequest, cand: Candidate, rule: str,
                          memo: dict | None = None) -> tuple[Check, ...]:
    """The checks of one request rule rejecting `cand`: `candidate_failures` filtered by `rule`."""
    judge = _REQUEST_RULES.get(rule)
    return tuple(judge(cat, request, cand, {} if memo is None else memo)) if judge is not None else ()


def target_failures(ix: CatalogIndex, request: ModelRequest, target: Target) -> tuple[Check, ...]:
    """Target rules: precision and TensorRT-engine compute capability (memoised on what they read)."""
    if target.cc is None:
        return ()
    fmt = request.format
    engine_cc = fmt.compute_capability if fmt is not None and fmt.kind == "tensorrt-engine" else None
    key = (request.precision, engine_cc, request.strict, target)
    found = ix.target_checks.get(key)
    if found is None:
        found = ix.target_checks.setdefault(key, _target_failures(ix.catalog, request, target))
    return found


def _target_failures(cat: Catalog, request: ModelRequest, target: Target) -> tuple[Check, ...]:
    out: list[Check] = []
    prec = check_precision(cat, request.precision, target.cc)
    if not prec.ok:
        on = f" ({target.product})" if target.product else ""
        out.append(replace(prec, message=prec.message.replace("this GPU", f"this GPU{on}")))
    if request.uses_gpu and target.driver is not None:
        window = check_driver_window(cat, target.cc, target.driver)
        if not window.ok:
            out.append(window)
        gap = target.driver.gap if isinstance(target.driver, TegraDriver) else None
        if request.strict and gap:   # a Jetson driver judged by desktop numbers: unverified
            out.append(Check("unverified-driver", False, f"{target.product or 'the GPU'}: {gap}", (),
                             "give the node's cuda_driver_version (nvidia-smi's 'CUDA Version') or l4t_version, "
                             "or select without strict", component="driver", need="the driver's CUDA version",
                             have=f"driver {target.driver.reported}"))
    fmt = request.format
    if fmt is not None and fmt.kind == "tensorrt-engine" and fmt.compute_capability is not None \
            and fmt.compute_capability != target.cc:
        out.append(Check("trt-engine-cc", False, f"the TensorRT engine was built on compute capability "
                         f"{fmt.compute_capability}; engines are not portable across architectures, and "
                         f"{target.product or 'this GPU'} is CC {target.cc} (catalog fact trt.engine.hardware)", (),
                         f"use a GPU with compute capability {fmt.compute_capability}, or rebuild the engine",
                         component="gpu", need=f"CC {fmt.compute_capability}", have=f"CC {target.cc}"))
    return tuple(out)


from solver.rules.pair import (  # noqa: E402  (re-exported: the pair rules live in pairrules.py)
    FREE,
    NEVER,
    need_met,
    pair_failure_rules,
    pair_failures,
    pair_need,
    pair_ok,
    pair_signature,
)
