"""Pair rules: a runtime candidate on a target (GPU product, platform, driver), memoised per catalog.

Split from `rules.py` (which re-exports every name here): the pair rules are judged for every
(candidate, target) of a fleet, so they come in three forms sharing the catalog's `compat`
checks: `pair_failures` (every failing `Check`, memoised per pair signature and target),
`pair_failure_rules` (only the rule names, with the driver-independent part judged once per
(pair signature, platform, compute capability)), and `pair_ok` / `pair_need` (the verdict: a
driver-independent part plus one driver comparison). Tests hold the three forms together.
Every memo lives in the `CatalogIndex` passed in (first argument), never at module level.
"""

from __future__ import annotations

import numpy as np
from packaging.version import Version

from catalog.compat import (
    Check,
    binary_path,
    check_cudnn_driver,
    check_cudnn_gpu,
    check_driver,
    check_kernels,
    check_platform,
    check_ptx_verified,
    check_toolkit_arch,
    cudnn_supports,
    driver_cuda,
    driver_requirement,
)
from catalog.versions import spec_allows
from solver.facts.candidates import Candidate, Target
from solver.index.catalog_index import CatalogIndex

__all__ = ["FREE", "NEVER", "need_met", "pair_failure_rules", "pair_failure_rules_many", "pair_failures", "pair_need",
           "pair_ok", "pair_signature", "pair_signature_id", "table_signatures"]

def _memo_check(ix: CatalogIndex, key: tuple, make):  # type: ignore[no-untyped-def]
    """A catalog check memoised in the catalog index by its arguments (checks are pure functions of them)."""
    found = ix.checks.get(key)
    if found is None:
        found = ix.checks.setdefault(key, make())
    return found


def pair_signature(ix: CatalogIndex, cand: Candidate) -> tuple:
    """What the pair rules read of a candidate (everything but Python; the label names it in messages)."""
    ref = cand.build
    return (ix.build_key_of(cand), ref.version if ref else None, cand.label, cand.gpu, cand.cuda,
            cand.cudnn, cand.cudnn_ccs, cand.cudnn_min_driver, _strict_ptx(cand))


def _strict_ptx(cand: Candidate) -> bool:
    """Whether the pair rules refuse this candidate's PTX (strict, and its toolkit is not recorded)."""
    return cand.strict and cand.ptx_gap is not None


def pair_signature_id(ix: CatalogIndex, cand: Candidate) -> int:
    """A small int per distinct `pair_signature` in the catalog index (memoised per candidate).

    Memo tables keyed by the signature hash a tuple of Versions on every lookup; this id is
    hashed by the candidate's identity once, then as an int.
    """
    found = ix.signature_of.get(cand)
    if found is None:
        found = ix.signature_id(cand, lambda c: pair_signature(ix, c))
    return found


def table_signatures(ix: CatalogIndex, table_key: object, cands: tuple[Candidate, ...]) \
        -> tuple[np.ndarray, list[Candidate]]:
    """(pair signature number per candidate of a table, the first candidate of each), per table.

    `pair_failure_rules_many` wants the same representatives for the same table: these are they.
    """
    found = ix.table_signatures.get(table_key)
    if found is None:
        sig_id: dict[int, int] = {}
        reps: list[Candidate] = []
        ids = np.zeros(len(cands), dtype=np.int64)
        for c in cands:
            sig = pair_signature_id(ix, c)
            i = sig_id.get(sig)
            if i is None:
                i = sig_id[sig] = len(reps)
                reps.append(c)
            ids[c.index] = i
        found = ix.table_signatures.setdefault(table_key, (ids, reps))
    return found


def _pair_checks(ix: CatalogIndex, cand: Candidate, target: Target, stop: bool) -> list[Check]:
    cat = ix.catalog
    out: list[Check] = []
    ref = cand.build
    bkey = (ix.build_key_of(cand), ref.version) if ref is not None else None
    if ref is not None:
        c = _memo_check(ix, ("platform", bkey, target.platform), lambda: check_platform(ref, target.platform))
        if not c.ok:
            out.append(c)
            if stop:
                return out
    if target.cc is None or not cand.gpu:
        return out
    cc = target.cc
    path = "ptx"
    if ref is not None:
        c = _memo_check(ix, ("kernels", bkey, cc), lambda: check_kernels(cat, ref, cc))
        if not c.ok:
            out.append(c)
            if stop:
                return out
        path = _binary_path(ix, cand, cc) or "ptx"
        if _strict_ptx(cand) and path == "ptx":
            cuda0 = cand.cuda
            c = _memo_check(ix, ("ptx-verified", bkey, cuda0, cc), lambda: check_ptx_verified(cat, ref, cuda0, cc))
            if not c.ok:
                out.append(c)
                if stop:
                    return out
    cuda = cand.cuda
    if cuda is not None:
        c = _memo_check(ix, ("toolkit", cuda, cc), lambda: check_toolkit_arch(cat, cuda, cc))
        if not c.ok:
            out.append(c)
            if stop:
                return out
        cudnn = cand.cudnn
        if cudnn is not None and cand.cudnn_ccs is not None and not cudnn_supports(cand.cudnn_ccs, cc):
            out.append(_memo_check(ix, ("cudnn-gpu", cudnn, cuda, cc, cand.label or ""),
                                   lambda: check_cudnn_gpu(cat, cudnn, cuda, cc, by=cand.label or "")))
            if stop:
                return out
        driver = target.driver
        dcuda = driver_cuda(cat, ref.build if ref is not None else None, cuda, path)  # type: ignore[arg-type]
        c = _memo_check(ix, ("driver", dcuda, driver, path), lambda: check_driver(cat, dcuda, driver, path))
        if not c.ok:
            out.append(c)
            if stop:
                return out
        if cand.cudnn_min_driver is not None and cudnn is not None and (
                driver is None or driver < cand.cudnn_min_driver[0]):
            if driver is not None:
                out.append(_memo_check(ix, ("cudnn-driver", cudnn, cuda, driver),
                                       lambda: check_cudnn_driver(cat, cudnn, cuda, driver)))
    return out


def _binary_path(ix: CatalogIndex, cand: Candidate, cc: Version) -> str | None:
    """`binary_path` of the candidate's build for `cc` (memoised per build and cc)."""
    key = (ix.build_key_of(cand), cc)
    if key not in ix.paths:
        ix.paths[key] = binary_path(cand.build.build, cc)  # type: ignore[union-attr]
    return ix.paths[key]


def pair_failure_rules(ix: CatalogIndex, cand: Candidate, target: Target) -> tuple[str, ...]:
    """`tuple(c.rule for c in pair_failures(ix, cand, target))`, split for reuse across drivers.

    The checks before the driver's (platform, kernels, toolkit, cuDNN GPU) do not read the
    driver: they are judged once per (pair signature, platform, compute capability); per target
    only the (memoised) driver checks are added. Same rules, same order as `_pair_checks`.
    """
    cat = ix.catalog
    key = (pair_signature_id(ix, cand), target.platform, target.cc)
    split = ix.split.get(key)
    if split is None:
        no_driver = Target(platform=target.platform, cc=target.cc, product=target.product, driver=None)
        head = _pair_checks(ix, cand, no_driver, stop=False)
        # the driver checks are the tail of `_pair_checks`; they apply iff a CUDA GPU runtime met the GPU
        runs_driver = target.cc is not None and cand.gpu and cand.cuda is not None
        if runs_driver:  # without a driver `check_driver` fails last ("no-driver"): re-judged per driver
            head = head[:-1]
        path = (_binary_path(ix, cand, target.cc) or "ptx") if cand.build is not None and \
            target.cc is not None else "ptx"
        dcuda = driver_cuda(cat, cand.build.build if cand.build is not None else None, cand.cuda, path) \
            if runs_driver else None  # type: ignore[arg-type]
        split = ix.split.setdefault(key, (tuple(c.rule for c in head), runs_driver, path, dcuda))
    names, runs_driver, path, dcuda = split
    if not runs_driver:
        return names
    cuda, driver = cand.cuda, target.driver
    out = list(names)
    c = _memo_check(ix, ("driver", dcuda, driver, path), lambda: check_driver(cat, dcuda, driver, path))
    if not c.ok:
        out.append(c.rule)
    cudnn = cand.cudnn
    if cand.cudnn_min_driver is not None and cudnn is not None and driver is not None \
            and driver < cand.cudnn_min_driver[0]:
        out.append(_memo_check(ix, ("cudnn-driver", cudnn, cuda, driver),
                               lambda: check_cudnn_driver(cat, cudnn, cuda, driver)).rule)
    return tuple(out)


def pair_failure_rules_many(ix: CatalogIndex, reps: list[Candidate], target: Target, table_key: object) \
        -> list[tuple[str, ...]]:
    """`[pair_failure_rules(ix, c, target) for c in reps]`, cheaper over many drivers.

    `reps` must be the same list for the same `table_key`. The driver-independent part of each
    rep is kept per (table, platform, compute capability); reps needing the same driver checks
    (cuda, binary path, cuDNN and its minimum driver) share one class, judged once per driver.
    The answer is memoised per (table, platform, compute capability, driver); callers must not
    change it.
    """
    done_key = (table_key, target.platform, target.cc, target.driver)
    done = ix.many_done.get(done_key)
    if done is not None:
        return done
    key = (table_key, target.platform, target.cc)
    found = ix.many.get(key)
    if found is None:
        heads: list[tuple[str, ...]] = []
        cls: list[int] = []
        classes: dict[tuple, int] = {}
        reps_of: list[Candidate] = []
        for c in reps:
            pair_failure_rules(ix, c, target)   # fills ix.split
            names, runs_driver, path, dcuda = ix.split[(pair_signature_id(ix, c), target.platform, target.cc)]
            heads.append(names)
            if not runs_driver:
                cls.append(-1)
                continue
            ck = (c.cuda, dcuda, path, c.cudnn, c.cudnn_min_driver[0] if c.cudnn_min_driver is not None else None)
            if ck not in classes:
                classes[ck] = len(reps_of)
                reps_of.append(c)
            cls.append(classes[ck])
        found = ix.many.setdefault(key, (heads, cls, reps_of))
    heads, cls, reps_of = found
    tails = []
    for c in reps_of:   # the driver checks of one class, as `pair_failure_rules` appends them
        full = pair_failure_rules(ix, c, target)
        names = ix.split[(pair_signature_id(ix, c), target.platform, target.cc)][0]
        tails.append(full[len(names):])
    done = [h if k < 0 else h + tails[k] if tails[k] else h for h, k in zip(heads, cls, strict=True)]
    return ix.many_done.setdefault(done_key, done)


def pair_failures(ix: CatalogIndex, cand: Candidate, target: Target) -> tuple[Check, ...]:
    """Every pair rule that rejects `cand` on `target` (empty tuple: the pair is legal).

    Memoised per (pair signature, target) in the catalog index: Python never matters to the pair rules.
    """
    key = (pair_signature_id(ix, cand), target)
    found = ix.failures.get(key)
    if found is None:
        found = ix.failures.setdefault(key, tuple(_pair_checks(ix, cand, target, stop=False)))
    return found


def pair_ok(ix: CatalogIndex, cand: Candidate, target: Target) -> bool:
    """Fast verdict, equal to `not pair_failures(...)` (a test holds them together).

    Uses the same catalog primitives as the `compat` checks (`binary_path`, `driver_requirement`,
    `Architecture.buildable_with`) without building messages, memoised on what the pair rules
    read (the build, CUDA, cuDNN facts and the target; Python does not matter to them).
    """
    sig = (ix.build_key_of(cand), cand.build.version if cand.build else None,
           cand.cuda, cand.cudnn, cand.cudnn_ccs, cand.cudnn_min_driver, _strict_ptx(cand), target)
    found = ix.ok.get(sig)
    if found is None:
        found = ix.ok.setdefault(sig, _pair_ok(ix, cand, target))
    return found


def _driver_requirement(ix: CatalogIndex, cuda: Version, path: str) -> tuple | None:
    key = (cuda, path)
    if key not in ix.driver_requirements:
        ix.driver_requirements[key] = driver_requirement(ix.catalog, cuda, path)  # type: ignore[arg-type]
    return ix.driver_requirements[key]


NEVER = "never"   # `pair_need`: no driver makes the pair legal
FREE = "free"     # `pair_need`: legal without looking at the driver (CPU runtime or CPU target)


def pair_need(ix: CatalogIndex, cand: Candidate, platform: str, cc: Version | None) -> Version | str:
    """What the pair rules need from the driver for `cand` on (platform, cc).

    NEVER (some driver-independent rule fails), FREE (no driver rule applies), or the minimum
    driver version (CUDA's minimum on the binary path, raised to cuDNN's when it has one). A
    target is legal iff `need_met(need, driver)`: the pair rules split into this
    driver-independent part and one comparison, which lets verdicts be vectorised per driver.
    """
    ref = cand.build
    if ref is not None and platform not in ref.build.platforms:
        return NEVER
    if cc is None or not cand.gpu:
        return FREE
    path = "ptx"
    if ref is not None:
        b = ref.build
        if b.cc_range is not None and not spec_allows(b.cc_range, cc):
            return NEVER
        found = binary_path(b, cc)
        if found is None:
            return NEVER
        path = found
        if path == "ptx" and _strict_ptx(cand) and cand.cuda is not None:
            return NEVER  # `check_ptx_verified` fails: strict, PTX JIT on an unrecorded toolkit
    if cand.cuda is None:
        return FREE
    arch = ix.catalog.architecture(cc)
    if arch is None or not arch.buildable_with(cand.cuda):
        return NEVER
    if cand.cudnn is not None and cand.cudnn_ccs is not None and not cudnn_supports(cand.cudnn_ccs, cc):
        return NEVER
    cat = ix.catalog
    req = _driver_requirement(ix, driver_cuda(cat, ref.build if ref is not None else None, cand.cuda, path), path)
    if req is None:
        return NEVER
    need = req[0]
    if cand.cudnn_min_driver is not None and cand.cudnn is not None and cand.cudnn_min_driver[0] > need:
        need = cand.cudnn_min_driver[0]
    return need


def need_met(need: Version | str, driver: Version | None) -> bool:
    if need is FREE or need is NEVER:
        return need is FREE
    return driver is not None and not driver < need  # type: ignore[operator]


def _pair_ok(ix: CatalogIndex, cand: Candidate, target: Target) -> bool:
    return need_met(pair_need(ix, cand, target.platform, target.cc), target.driver)
