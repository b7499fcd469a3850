"""Memos of the catalog index that the selection path reads (issue #16): each is filled once per
index, keyed by everything its value reads, and answers with it equal answers without it.

- `select._choice_gaps`: the chosen runtime's gaps per (candidate table, candidate, GPU CC);
  the unrecorded-toolkit gap depends on the CC (ONNX Runtime 1.21.0: the L4 runs its SASS, the
  B200 only its PTX; see test_ptx_toolkit_gap.py);
- `filters.TableColumns`' framework-version verdicts per spec.
"""

from __future__ import annotations

from concurrent.futures import ThreadPoolExecutor

import pytest

import solver
from catalog import load_catalog
from solver.facts.problem import request_facts

DRIVER = "580.65.06"
GAP = "the CUDA toolkit that compiled onnxruntime 1.21.0 is not recorded"


@pytest.fixture(scope="module")
def cat():
    return load_catalog()


def _inv(gpu: str) -> solver.Inventory:
    return solver.parse_inventory({"nodes": [{"name": "n1", "arch": "x86_64", "driver_version": DRIVER,
                                              "gpus": [{"product": gpu}]}]})


def _gap_keys(ix: solver.CatalogIndex) -> set:
    return {k for k in ix.checks if isinstance(k, tuple) and k and k[0] == "choice-gaps"}


def test_choice_gaps_memo_is_keyed_by_the_gpu_cc(cat) -> None:
    model = solver.parse_request({"framework": "onnxruntime", "framework_version": "==1.21.0"})
    shared = solver.CatalogIndex(cat)
    got = {}
    for gpu in ("NVIDIA L4", "NVIDIA B200", "NVIDIA L4"):
        inv = _inv(gpu)
        got[gpu] = solver.select(cat, model, inv, index=solver.FleetIndex(shared, inv)).to_dict()
        assert got[gpu] == solver.select(cat, model, inv).to_dict()   # a fresh index each
    assert not any(GAP in g for g in got["NVIDIA L4"]["gaps"])
    assert any(GAP in g for g in got["NVIDIA B200"]["gaps"])
    assert len(_gap_keys(shared)) == 2                                 # one per (runtime, CC)


def test_choice_gaps_memo_is_filled_once_and_shared_across_threads(cat) -> None:
    shared = solver.CatalogIndex(cat)
    inv = _inv("NVIDIA B200")
    fleet = solver.FleetIndex(shared, inv)
    models = [{"framework": "onnxruntime", "name": f"m{i}"} for i in range(24)]
    with ThreadPoolExecutor(8) as pool:
        out = list(pool.map(lambda m: solver.select(cat, m, inv, index=fleet).to_dict(), models))
    keys = _gap_keys(shared)
    assert len(keys) == 1
    stored = shared.checks[next(iter(keys))]
    assert all(o["gaps"] == out[0]["gaps"] == list(stored) for o in out)
    assert out[0]["gaps"] == solver.select(cat, models[0], inv).to_dict()["gaps"]


def test_framework_version_verdicts_per_spec_equal_a_fresh_index(cat) -> None:
    shared = solver.CatalogIndex(cat)
    specs = [">=2.3", "<2.3", "==2.4.*", ">=2.3", "~=2.5.0", "<2.3"]
    for spec in specs:
        req = solver.parse_request({"framework": "pytorch", "framework_version": spec})
        memo = request_facts(shared, req)
        fresh = request_facts(solver.CatalogIndex(cat), req)
        assert (memo.rule_bits == fresh.rule_bits).all() and (memo.ok_mask == fresh.ok_mask).all()
    cols = shared.columns[memo.table_key]
    assert sorted(cols._version_bad) == sorted(set(specs))
    ok_new = request_facts(shared, solver.parse_request({"framework": "pytorch", "framework_version": ">=2.3"}))
    ok_old = request_facts(shared, solver.parse_request({"framework": "pytorch", "framework_version": "<2.3"}))
    assert ok_new.ok_mask.any() and ok_old.ok_mask.any() and not (ok_new.ok_mask & ok_old.ok_mask).any()
