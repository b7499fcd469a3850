"""A `where` scope is a view of the whole fleet's index, never a rebuild, and answers exactly as
the scope's nodes parsed on their own.

`FleetIndex.scoped(names)` restricts the fleet's node groups to the named nodes and derives each
table's runtime index from the fleet's (`CachedIndex.restricted`). Every answer on such a view
must equal, byte for byte, the answer on a fresh index of the same nodes: the solver sees the
same groups, in the same order, with the same best runtime per (target, cached set).
"""

from __future__ import annotations

import json
import random
from typing import Any

import pytest

import solver
from catalog import load_catalog
from solver import CatalogIndex, FleetIndex, parse_inventory, parse_policy

PRODUCTS = [("NVIDIA L4", [1, 2, 4]), ("NVIDIA H100 80GB HBM3", [1, 8]), ("Tesla T4", [1, 2]),
            ("NVIDIA A100-SXM4-80GB", [1, 4, 8])]
DRIVERS = ["470.256.02", "535.104.05", "550.54.15", "560.35.03", None]
CACHED = ["cuda/12.4.1", "cuda/11.8.0", "python/3.11.9", "cudnn/9.1.0", "torch/2.3.1"]
REQUESTS: list[dict[str, Any]] = [
    {"framework": "pytorch"}, {"framework": "pytorch", "framework_version": ">=2.3"},
    {"framework": "pytorch", "precision": "bf16", "min_gpu_memory_gib": 40},
    {"framework": "tensorflow", "gpu_count": 2}, {"framework": "onnxruntime"}, {"framework": "tensorrt"},
    {"framework": "pytorch", "gpu_count": 0}, {"framework": "pytorch", "gpu_count": 16},
    {"framework": "none", "requires": {"cuda": ">=12"}}, {"framework": "pytorch", "arch": ["aarch64"]},
]


def _fleet(seed: int, n: int) -> list[dict[str, Any]]:
    rng = random.Random(seed)
    nodes = []
    for i in range(n):
        product, counts = rng.choice(PRODUCTS)
        count = rng.choice(counts)
        gpus = [{"product": product, "count": count, "free": rng.randint(0, count)}]
        if rng.random() < 0.05:   # a second product on the box
            gpus.append({"product": "Tesla T4", "count": 1, "free": 1})
        if rng.random() < 0.03:   # the same product twice, alike but for memory: groups that tie on order
            gpus.append({"product": product, "count": 1, "free": 1, "memory_mib": 1000 + i})
        if rng.random() < 0.05:
            gpus = []
        node: dict[str, Any] = {"name": f"n{rng.randint(0, 10**6):07d}-{i}", "cluster": f"c{rng.randint(0, 5)}",
                                "arch": "x86_64", "driver_version": rng.choice(DRIVERS), "gpus": gpus,
                                "cached_components": rng.sample(CACHED, rng.randint(0, 3))}
        if rng.random() < 0.4:
            node["labels"] = {"zone": rng.choice("ab"), "tier": rng.choice(["gold", "std"])}
        nodes.append(node)
    return nodes


def _scopes(nodes: list[dict[str, Any]], rng: random.Random) -> list[list[str]]:
    names = [n["name"] for n in nodes]
    return [
        [n["name"] for n in nodes if n.get("cluster") == "c1"],                    # a cluster
        [n["name"] for n in nodes if (n.get("labels") or {}).get("zone") == "a"],  # a label (splits groups)
        rng.sample(names, 7),                                                      # a few named nodes
        rng.sample(names, len(names) // 2),
        names,                                                                     # everything
        [names[0]],
        [],
    ]


@pytest.fixture(scope="module")
def catalog_index() -> CatalogIndex:
    return CatalogIndex(load_catalog())


@pytest.mark.parametrize("seed", [1, 2, 3])
def test_a_scoped_view_answers_like_its_nodes_parsed_alone(catalog_index: CatalogIndex, seed: int) -> None:
    cat = catalog_index.catalog
    nodes = _fleet(seed, 400)
    fleet = FleetIndex(catalog_index, parse_inventory({"nodes": nodes}, cat)).warm()
    rng = random.Random(seed)
    policies = [None, parse_policy({"order": ["preference", "cached", "newest", "fit", "gpus"], "prefer_clusters": ["c2", "c1"],
                       "prefer_labels": {"tier": "gold"}})]
    compared = 0
    for scope in _scopes(nodes, rng):
        keep = set(scope)
        alone_inv = parse_inventory({"nodes": [n for n in nodes if n["name"] in keep]}, cat)
        alone = FleetIndex(catalog_index, alone_inv)
        view = fleet.scoped(scope)
        assert [n.name for n in view.inventory.nodes] == [n.name for n in alone_inv.nodes]
        for uses_gpu in (True, False):
            assert view.groups(uses_gpu) == alone.groups(uses_gpu)
        for i, request in enumerate(REQUESTS):
            for policy in policies:
                kw: dict[str, Any] = {"top": 1 + i % 3, "policy": policy}
                got = solver.select(cat, request, view.inventory, index=view, **kw).to_dict()
                want = solver.select(cat, request, alone_inv, index=alone, **kw).to_dict()
                assert json.dumps(got, sort_keys=True) == json.dumps(want, sort_keys=True), (scope[:3], request)
                compared += 1
    assert compared == 7 * len(REQUESTS) * 2


def test_a_scope_of_a_scope_is_a_view_of_the_fleet(catalog_index: CatalogIndex) -> None:
    nodes = _fleet(4, 200)
    fleet = FleetIndex(catalog_index, parse_inventory({"nodes": nodes}, catalog_index.catalog))
    names = [n["name"] for n in nodes]
    outer = fleet.scoped(names[:100])
    inner = outer.scoped(names[:10])
    assert inner.parent is fleet and len(inner.inventory.nodes) == 10
    assert fleet.scoped(["no-such-node"]).inventory.nodes == ()


def test_a_scoped_table_derives_its_runtime_index_from_the_fleet(catalog_index: CatalogIndex) -> None:
    from solver.index import cached

    nodes = _fleet(5, 300)
    cat = catalog_index.catalog
    fleet = FleetIndex(catalog_index, parse_inventory({"nodes": nodes}, cat)).warm()
    solver.select(cat, REQUESTS[0], fleet.inventory, index=fleet)
    built: list[int] = []
    real = cached.CachedIndex.__init__

    def counting(self: Any, *args: Any) -> None:
        built.append(1)
        real(self, *args)

    cached.CachedIndex.__init__ = counting  # type: ignore[method-assign]
    try:
        view = fleet.scoped([n["name"] for n in nodes if n.get("cluster") == "c3"])
        solver.select(cat, REQUESTS[0], view.inventory, index=view)
    finally:
        cached.CachedIndex.__init__ = real  # type: ignore[method-assign]
    assert built == []
    assert view.table(True).parent is fleet.table(True)
