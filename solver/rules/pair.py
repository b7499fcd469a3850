"""Pair rules: a runtime candidate on a target (GPU product, platform, driver), memoised.

Split from `rules.py` (which re-exports every name here): the pair rules are judged for every
(candidate, target) of a fleet, so they come in three forms sharing the catalog's `compat`
checks: `pair_failures` (every failing `Check`, memoised per pair signature and target),
`pair_failure_rules` (only the rule names, with the driver-independent part judged once per
(pair signature, platform, compute capability)), and `pair_ok` / `pair_need` (the verdict: a
driver-independent part plus one driver comparison). Tests hold the three forms together.
"""

from __future__ import annotations

import itertools

import numpy as np
from packaging.version import Version

from catalog import Catalog
from catalog.compat import (
    Check,
    binary_path,
    check_cudnn_driver,
    check_cudnn_gpu,
    check_driver,
    check_kernels,
    check_platform,
    check_toolkit_arch,
    cudnn_supports,
    driver_cuda,
    driver_requirement,
)
from catalog.versions import spec_allows
from solver.facts.candidates import Candidate, Target

__all__ = ["FREE", "NEVER", "need_met", "pair_failure_rules", "pair_failure_rules_many", "pair_failures", "pair_need",
           "pair_ok", "pair_signature", "pair_signature_id", "table_signatures"]

_CHECK_MEMO: dict[tuple, Check] = {}


def _memo_check(key: tuple, make):  # type: ignore[no-untyped-def]
    """A catalog check memoised per catalog and arguments (checks are pure functions of them)."""
    found = _CHECK_MEMO.get(key)
    if found is None:
        if len(_CHECK_MEMO) > 100_000:
            _CHECK_MEMO.clear()
        found = _CHECK_MEMO[key] = make()
    return found


def pair_signature(cand: Candidate) -> tuple:
    """What the pair rules read of a candidate (everything but Python; the label names it in messages)."""
    ref = cand.build
    return (id(ref.build) if ref else None, ref.version if ref else None, cand.label, cand.gpu, cand.cuda,
            cand.cudnn, cand.cudnn_ccs, cand.cudnn_min_driver)


_SIG_IDS: dict[tuple, int] = {}
_SIG_OF: dict[Candidate, int] = {}
_SIG_NUMBERS = itertools.count()


def pair_signature_id(cand: Candidate) -> int:
    """A process-wide small int per distinct `pair_signature` (memoised per candidate object).

    Memo tables keyed by the signature hash a tuple of Versions on every lookup; this id is
    hashed by the candidate's identity once, then as an int.
    """
    found = _SIG_OF.get(cand)
    if found is None:
        if len(_SIG_OF) > 500_000:
            _SIG_OF.clear()
        if len(_SIG_IDS) > 500_000:   # ids are never reused: memos keyed by an old id only miss
            _SIG_IDS.clear()
        sig = pair_signature(cand)
        found = _SIG_IDS.get(sig)
        if found is None:
            found = _SIG_IDS[sig] = next(_SIG_NUMBERS)
        _SIG_OF[cand] = found
    return found


_TABLE_SIGS: dict[tuple, tuple[np.ndarray, list[Candidate], tuple[Candidate, ...]]] = {}


def table_signatures(cat: Catalog, table_key: object, cands: tuple[Candidate, ...]) -> tuple[np.ndarray, list[Candidate]]:
    """(pair signature number per candidate of a table, the first candidate of each), per table.

    `pair_failure_rules_many` wants the same representatives for the same table: these are they.
    """
    key = (table_key, id(cat))
    found = _TABLE_SIGS.get(key)
    if found is None or found[2] is not cands:
        if len(_TABLE_SIGS) > 256:
            _TABLE_SIGS.clear()
        sig_id: dict[int, int] = {}
        reps: list[Candidate] = []
        ids = np.zeros(len(cands), dtype=np.int64)
        for c in cands:
            sig = pair_signature_id(c)
            i = sig_id.get(sig)
            if i is None:
                i = sig_id[sig] = len(reps)
                reps.append(c)
            ids[c.index] = i
        found = _TABLE_SIGS[key] = (ids, reps, cands)
    return found[0], found[1]


def _pair_checks(cat: Catalog, cand: Candidate, target: Target, stop: bool) -> list[Check]:
    out: list[Check] = []
    ref = cand.build
    at = (cat.revision, id(cat))
    bkey = (id(ref.build), ref.version) if ref is not None else None
    if ref is not None:
        c = _memo_check(("platform", *at, bkey, target.platform), lambda: check_platform(ref, target.platform))
        if not c.ok:
            out.append(c)
            if stop:
                return out
    if target.cc is None or not cand.gpu:
        return out
    cc = target.cc
    path = "ptx"
    if ref is not None:
        c = _memo_check(("kernels", *at, bkey, cc), lambda: check_kernels(cat, ref, cc))
        if not c.ok:
            out.append(c)
            if stop:
                return out
        path = _binary_path(ref.build, cc) or "ptx"
    cuda = cand.cuda
    if cuda is not None:
        c = _memo_check(("toolkit", *at, cuda, cc), lambda: check_toolkit_arch(cat, cuda, cc))
        if not c.ok:
            out.append(c)
            if stop:
                return out
        cudnn = cand.cudnn
        if cudnn is not None and cand.cudnn_ccs is not None and not cudnn_supports(cand.cudnn_ccs, cc):
            out.append(_memo_check(("cudnn-gpu", *at, cudnn, cuda, cc, cand.label or ""),
                                   lambda: check_cudnn_gpu(cat, cudnn, cuda, cc, by=cand.label or "")))
            if stop:
                return out
        driver = target.driver
        dcuda = driver_cuda(cat, ref.build if ref is not None else None, cuda, path)  # type: ignore[arg-type]
        c = _memo_check(("driver", *at, dcuda, driver, path), lambda: check_driver(cat, dcuda, driver, path))
        if not c.ok:
            out.append(c)
            if stop:
                return out
        if cand.cudnn_min_driver is not None and cudnn is not None and (
                driver is None or driver < cand.cudnn_min_driver[0]):
            if driver is not None:
                out.append(_memo_check(("cudnn-driver", *at, cudnn, cuda, driver),
                                       lambda: check_cudnn_driver(cat, cudnn, cuda, driver)))
    return out


_PATH_MEMO: dict[tuple, str | None] = {}


def _binary_path(build, cc: Version) -> str | None:  # type: ignore[no-untyped-def]
    key = (id(build), build.sass, build.ptx, cc)
    if key not in _PATH_MEMO:
        if len(_PATH_MEMO) > 100_000:
            _PATH_MEMO.clear()
        _PATH_MEMO[key] = binary_path(build, cc)
    return _PATH_MEMO[key]


_SPLIT_MEMO: dict[tuple, tuple] = {}


def pair_failure_rules(cat: Catalog, cand: Candidate, target: Target) -> tuple[str, ...]:
    """`tuple(c.rule for c in pair_failures(cat, cand, target))`, split for reuse across drivers.

    The checks before the driver's (platform, kernels, toolkit, cuDNN GPU) do not read the
    driver: they are judged once per (pair signature, platform, compute capability); per target
    only the (memoised) driver checks are added. Same rules, same order as `_pair_checks`.
    """
    at = (cat.revision, id(cat))
    key = (*at, pair_signature_id(cand), target.platform, target.cc)
    split = _SPLIT_MEMO.get(key)
    if split is None:
        if len(_SPLIT_MEMO) > 200_000:
            _SPLIT_MEMO.clear()
        no_driver = Target(platform=target.platform, cc=target.cc, product=target.product, driver=None)
        head = _pair_checks(cat, cand, no_driver, stop=False)
        # the driver checks are the tail of `_pair_checks`; they apply iff a CUDA GPU runtime met the GPU
        runs_driver = target.cc is not None and cand.gpu and cand.cuda is not None
        if runs_driver:  # without a driver `check_driver` fails last ("no-driver"): re-judged per driver
            head = head[:-1]
        path = (_binary_path(cand.build.build, target.cc) or "ptx") if cand.build is not None and \
            target.cc is not None else "ptx"
        dcuda = driver_cuda(cat, cand.build.build if cand.build is not None else None, cand.cuda, path) \
            if runs_driver else None  # type: ignore[arg-type]
        split = _SPLIT_MEMO[key] = (tuple(c.rule for c in head), runs_driver, path, dcuda)
    names, runs_driver, path, dcuda = split
    if not runs_driver:
        return names
    cuda, driver = cand.cuda, target.driver
    out = list(names)
    c = _memo_check(("driver", *at, dcuda, driver, path), lambda: check_driver(cat, dcuda, driver, path))
    if not c.ok:
        out.append(c.rule)
    cudnn = cand.cudnn
    if cand.cudnn_min_driver is not None and cudnn is not None and driver is not None \
            and driver < cand.cudnn_min_driver[0]:
        out.append(_memo_check(("cudnn-driver", *at, cudnn, cuda, driver),
                               lambda: check_cudnn_driver(cat, cudnn, cuda, driver)).rule)
    return tuple(out)


_MANY_MEMO: dict[tuple, tuple] = {}
_MANY_DONE: dict[tuple, list[tuple[str, ...]]] = {}   # per driver too: the whole answer


def pair_failure_rules_many(cat: Catalog, reps: list[Candidate], target: Target, table_key: object) \
        -> list[tuple[str, ...]]:
    """`[pair_failure_rules(cat, c, target) for c in reps]`, cheaper over many drivers.

    `reps` must be the same list for the same `table_key`. The driver-independent part of each
    rep is kept per (table, platform, compute capability); reps needing the same driver checks
    (cuda, binary path, cuDNN and its minimum driver) share one class, judged once per driver.
    The answer is memoised per (table, platform, compute capability, driver); callers must not
    change it.
    """
    at = (cat.revision, id(cat))
    done_key = (*at, table_key, target.platform, target.cc, target.driver)
    done = _MANY_DONE.get(done_key)
    if done is not None:
        return done
    key = (*at, table_key, target.platform, target.cc)
    found = _MANY_MEMO.get(key)
    if found is None:
        if len(_MANY_MEMO) > 4096:
            _MANY_MEMO.clear()
        heads: list[tuple[str, ...]] = []
        cls: list[int] = []
        classes: dict[tuple, int] = {}
        reps_of: list[Candidate] = []
        for c in reps:
            pair_failure_rules(cat, c, target)   # fills _SPLIT_MEMO
            names, runs_driver, path, dcuda = _SPLIT_MEMO[(*at, pair_signature_id(c), target.platform, target.cc)]
            heads.append(names)
            if not runs_driver:
                cls.append(-1)
                continue
            ck = (c.cuda, dcuda, path, c.cudnn, c.cudnn_min_driver[0] if c.cudnn_min_driver is not None else None)
            if ck not in classes:
                classes[ck] = len(reps_of)
                reps_of.append(c)
            cls.append(classes[ck])
        found = _MANY_MEMO[key] = (heads, cls, reps_of)
    heads, cls, reps_of = found
    tails = []
    for c in reps_of:   # the driver checks of one class, as `pair_failure_rules` appends them
        full = pair_failure_rules(cat, c, target)
        names = _SPLIT_MEMO[(*at, pair_signature_id(c), target.platform, target.cc)][0]
        tails.append(full[len(names):])
    if len(_MANY_DONE) > 4096:
        _MANY_DONE.clear()
    done = _MANY_DONE[done_key] = [h if k < 0 else h + tails[k] if tails[k] else h
                                   for h, k in zip(heads, cls, strict=True)]
    return done


_FAIL_MEMO: dict[tuple, tuple[Check, ...]] = {}


def pair_failures(cat: Catalog, cand: Candidate, target: Target) -> tuple[Check, ...]:
    """Every pair rule that rejects `cand` on `target` (empty tuple: the pair is legal).

    Memoised per (catalog, pair signature, target): Python never matters to the pair rules.
    """
    key = (cat.revision, id(cat), pair_signature_id(cand), target)
    found = _FAIL_MEMO.get(key)
    if found is None:
        if len(_FAIL_MEMO) > 200_000:
            _FAIL_MEMO.clear()
        found = _FAIL_MEMO[key] = tuple(_pair_checks(cat, cand, target, stop=False))
    return found


_OK_MEMO: dict[tuple, bool] = {}


def pair_ok(cat: Catalog, cand: Candidate, target: Target) -> bool:
    """Fast verdict, equal to `not pair_failures(...)` (a test holds them together).

    Uses the same catalog primitives as the `compat` checks (`binary_path`, `driver_requirement`,
    `Architecture.buildable_with`) without building messages, memoised on what the pair rules
    read (the build, CUDA, cuDNN facts and the target; Python does not matter to them).
    """
    sig = (cat.revision, id(cand.build.build) if cand.build else None, cand.build.version if cand.build else None,
           cand.cuda, cand.cudnn, cand.cudnn_ccs, cand.cudnn_min_driver, target)
    found = _OK_MEMO.get(sig)
    if found is None:
        if len(_OK_MEMO) > 200_000:
            _OK_MEMO.clear()
        found = _OK_MEMO[sig] = _pair_ok(cat, cand, target)
    return found


_REQ_MEMO: dict[tuple, tuple | None] = {}


def _driver_requirement(cat: Catalog, cuda: Version, path: str) -> tuple | None:
    key = (cat.revision, id(cat), cuda, path)
    if key not in _REQ_MEMO:
        if len(_REQ_MEMO) > 10_000:
            _REQ_MEMO.clear()
        _REQ_MEMO[key] = driver_requirement(cat, cuda, path)  # type: ignore[arg-type]
    return _REQ_MEMO[key]


NEVER = "never"   # `pair_need`: no driver makes the pair legal
FREE = "free"     # `pair_need`: legal without looking at the driver (CPU runtime or CPU target)


def pair_need(cat: Catalog, cand: Candidate, platform: str, cc: Version | None) -> Version | str:
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
    if cand.cuda is None:
        return FREE
    arch = cat.architecture(cc)
    if arch is None or not arch.buildable_with(cand.cuda):
        return NEVER
    if cand.cudnn is not None and cand.cudnn_ccs is not None and not cudnn_supports(cand.cudnn_ccs, cc):
        return NEVER
    req = _driver_requirement(cat, driver_cuda(cat, ref.build if ref is not None else None, cand.cuda, path),
                              path)
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


def _pair_ok(cat: Catalog, cand: Candidate, target: Target) -> bool:
    return need_met(pair_need(cat, cand, target.platform, target.cc), target.driver)
