"""Selection over HTTP: Contract 3 answers, caching, stale-node exclusion, audit, batch."""

from __future__ import annotations

from typing import Any

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import select

import solver
from metadata_service.tables import SelectionAudit

from .conftest import FakeClock, Tokens, node_entry

PYTORCH = {"framework": "pytorch", "framework_version": ">=2.3"}


def _register(client: TestClient, tokens: Tokens, entry: dict[str, Any], who: str = "admin") -> None:
    r = client.put(f"/v1/nodes/{entry['name']}/heartbeat", json={"node": entry}, headers=tokens.h(who))
    assert r.status_code == 200, r.text


def _select(client: TestClient, tokens: Tokens, body: dict[str, Any]) -> Any:
    return client.post("/v1/select", json=body, headers=tokens.h("reader"))


def _audits(client: TestClient) -> list[SelectionAudit]:
    assert client.app.state.rtfit.selection.flush_audits()   # rows are written off the request path
    db = client.app.state.rtfit.db
    with db.read_session() as session:
        return list(session.execute(select(SelectionAudit).order_by(SelectionAudit.id)).scalars())


def test_select_answers_exactly_what_the_solver_answers(client: TestClient, tokens: Tokens) -> None:
    entry = node_entry()
    _register(client, tokens, entry)
    r = _select(client, tokens, {"model": PYTORCH, "top": 2})
    assert r.status_code == 200, r.text
    answer = r.json()
    import catalog

    expected = solver.select(
        catalog.load_catalog(), solver.parse_request(PYTORCH), solver.parse_inventory({"nodes": [entry]}), top=2
    ).to_dict()
    assert answer == expected
    assert answer["feasible"] is True
    assert answer["choice"]["node"] == "node-a"
    assert "pytorch" in answer["choice"]["runtime"] and "cuda" in answer["choice"]["runtime"]
    assert answer["catalog_revision"] == client.get("/v1/catalog", headers=tokens.h("reader")).json()["revision"]


def test_infeasible_is_a_200_answer(client: TestClient, tokens: Tokens) -> None:
    _register(client, tokens, node_entry())
    r = _select(client, tokens, {"model": {"framework": "pytorch", "min_gpu_memory_gib": 70}})
    assert r.status_code == 200
    body = r.json()
    assert body["feasible"] is False
    assert body["conflicts"] and all({"rule", "message"} <= set(c) for c in body["conflicts"])


def test_bad_requests_name_the_field(client: TestClient, tokens: Tokens) -> None:
    cases = [
        ({"model": {"framework": "pytorhc"}}, "model.framework"),
        ({"model": PYTORCH, "top": 0}, "top"),
        ({"model": PYTORCH, "model_name": "x"}, "body"),
        ({}, "body"),
        ({"model_name": "never-registered"}, "model_name"),
        ({"model": PYTORCH, "where": {"zone": "a"}}, "where.zone"),
    ]
    for body, field in cases:
        r = _select(client, tokens, body)
        assert r.status_code == 422, (body, r.text)
        assert r.json()["field"] == field, (body, r.json())


def test_cache_hit_until_inventory_changes(client: TestClient, tokens: Tokens) -> None:
    _register(client, tokens, node_entry())
    first = _select(client, tokens, {"model": PYTORCH}).json()
    second = _select(client, tokens, {"model": PYTORCH}).json()
    assert first == second
    audits = _audits(client)
    assert [a.cached for a in audits] == [False, True]
    assert audits[0].inventory_revision == audits[1].inventory_revision
    assert audits[1].solve_seconds == 0.0
    # Key order of the request does not matter (canonical JSON).
    _select(client, tokens, {"model": dict(reversed(list(PYTORCH.items())))})
    assert _audits(client)[-1].cached is True
    # A content change of a node bumps the inventory revision: the next answer is recomputed.
    _register(client, tokens, node_entry(driver_version="555.42.02"))
    _select(client, tokens, {"model": PYTORCH})
    last = _audits(client)[-1]
    assert last.cached is False and last.inventory_revision > audits[0].inventory_revision
    metrics = client.get("/metrics").text
    assert 'rtfit_selections_total{cache="hit",kind="single",outcome="feasible"} 2.0' in metrics


def test_audit_rows_name_one_stored_answer_by_hash(client: TestClient, tokens: Tokens) -> None:
    from metadata_service.storage.selections import answer_digest, audit_answer
    from metadata_service.tables import SelectionAnswer

    _register(client, tokens, node_entry())
    answers = [_select(client, tokens, {"model": PYTORCH}).json() for _ in range(3)]
    audits = _audits(client)
    assert [a.cached for a in audits] == [False, True, True]
    assert {a.answer_hash for a in audits} == {answer_digest(answers[0])}
    assert all(a.answer is None for a in audits)      # the rows hold the hash only
    with client.app.state.rtfit.db.read_session() as session:
        stored = list(session.execute(select(SelectionAnswer)).scalars())
        assert len(stored) == 1 and stored[0].answer == answers[0]
        assert all(audit_answer(session, a) == answers[0] for a in audits)


def test_stale_nodes_are_excluded_from_selection(client: TestClient, tokens: Tokens, clock: FakeClock) -> None:
    _register(client, tokens, node_entry("node-a"))
    clock.advance(45)
    _register(client, tokens, node_entry("node-b", cluster="cloud"))
    first = _select(client, tokens, {"model": PYTORCH, "top": 5}).json()
    used = {first["choice"]["node"], *(a["node"] for a in first.get("alternatives", []))}
    assert used == {"node-a", "node-b"}
    clock.advance(30)  # node-a silent for 75 s > TTL 60 s; the cached answer must not be reused
    second = _select(client, tokens, {"model": PYTORCH, "top": 5}).json()
    used = {second["choice"]["node"], *(a["node"] for a in second.get("alternatives", []))}
    assert used == {"node-b"}
    assert _audits(client)[-1].cached is False
    clock.advance(60)  # now both are stale: infeasible, still 200
    third = _select(client, tokens, {"model": PYTORCH})
    assert third.status_code == 200 and third.json()["feasible"] is False


def test_where_filters_nodes_and_model_name_resolves(client: TestClient, tokens: Tokens) -> None:
    _register(client, tokens, node_entry("node-a"))
    _register(client, tokens, node_entry("node-b", cluster="cloud", labels={"zone": "b"}))
    r = client.post("/v1/models", json={"name": "det", "request": PYTORCH}, headers=tokens.h("admin"))
    assert r.status_code == 201
    for where, node in [({"cluster": "cloud"}, "node-b"), ({"labels": {"zone": "a"}}, "node-a"),
                        ({"nodes": ["node-b"]}, "node-b")]:
        answer = _select(client, tokens, {"model_name": "det", "where": where}).json()
        assert answer["choice"]["node"] == node, (where, answer)
    none = _select(client, tokens, {"model_name": "det", "where": {"cluster": "mars"}}).json()
    assert none["feasible"] is False


def test_plan_mode_ignores_nodes(client: TestClient, tokens: Tokens) -> None:
    answer = _select(client, tokens, {"model": PYTORCH, "plan": True}).json()
    assert answer["feasible"] is True
    assert answer["choice"]["node"] is None


@pytest.mark.skipif(not hasattr(solver, "select_batch"), reason="solver.select_batch is not exported yet")
def test_batch_selection(client: TestClient, tokens: Tokens) -> None:
    _register(client, tokens, node_entry("node-a"))
    _register(client, tokens, node_entry("node-b", cluster="cloud"))
    body = {"models": [PYTORCH, {"framework": "onnxruntime"}]}
    r = client.post("/v1/select/batch", json=body, headers=tokens.h("reader"))
    assert r.status_code == 200, r.text
    answer = r.json()
    assert set(answer) >= {"feasible", "catalog_revision", "placements"}
    assert len(answer["placements"]) == 2
    r = client.post("/v1/select/batch", json={"models": [PYTORCH, {"framework": "x"}]}, headers=tokens.h("reader"))
    assert r.status_code == 422 and r.json()["field"] == "models[1].framework"


def test_select_with_install_adds_the_recipe(client: TestClient, tokens: Tokens) -> None:
    import catalog
    from solver.install import install_for_answer

    entry = node_entry()
    _register(client, tokens, entry)
    plain = _select(client, tokens, {"model": PYTORCH})
    assert plain.status_code == 200 and "install" not in plain.json()
    r = _select(client, tokens, {"model": PYTORCH, "install": True})
    assert r.status_code == 200, r.text
    answer = r.json()
    install = answer.pop("install")
    assert answer == plain.json()
    assert install == install_for_answer(catalog.load_catalog(), "pytorch", answer, node_arch={"node-a": "x86_64"})
    assert install["kubernetes"]["nodeSelector"]["nvidia.com/gpu.product"] == "NVIDIA-L4"
    assert install["pip"]["requirements"] and install["stage"]
    bad = _select(client, tokens, {"model": PYTORCH, "install": "yes please"})
    assert bad.status_code == 422


def test_select_with_artifact_facts_gets_a_verdict_and_paths_are_refused(client: TestClient, tokens: Tokens) -> None:
    from pathlib import Path

    from modelfile import inspect_artifact

    _register(client, tokens, node_entry())
    facts = inspect_artifact(Path(__file__).parents[1] / "modelfile" / "data" / "llama-3.1-8b").to_dict()
    model = {"framework": "pytorch", "artifact": facts, "serving": {"max_model_len": 8192, "max_num_seqs": 16}}
    r = _select(client, tokens, {"model": model})
    assert r.status_code == 200, r.text
    body = r.json()
    assert body["verdict"] == "runnable-with-change" and body["memory"]["per_gpu_gib"] > 30
    assert {c["change"] for c in body["changes"]} >= {"smaller context", "more GPUs"}
    refused = _select(client, tokens, {"model": {"framework": "pytorch", "artifact": "/etc/passwd"}})
    assert refused.status_code == 422 and "is a path" in refused.text


def test_batch_quotas_cap_each_cluster_and_are_part_of_the_cache_key(client: TestClient, tokens: Tokens) -> None:
    # two 2-GPU L4 nodes in "gold", one in "std"; three 2-GPU requests. With at most 2 GPUs in
    # gold for this batch, one request is left out and told which quota bit.
    for name, cluster in (("node-a", "gold"), ("node-b", "gold"), ("node-c", "std")):
        _register(client, tokens, node_entry(name, cluster=cluster))
    two = {**PYTORCH, "gpu_count": 2}
    body: dict[str, Any] = {"models": [two, two, two]}
    free = client.post("/v1/select/batch", json=body, headers=tokens.h("reader"))
    assert free.status_code == 200, free.text
    assert free.json()["feasible"] is True
    capped = client.post("/v1/select/batch", json={**body, "quotas": {"gold": 2}}, headers=tokens.h("reader"))
    assert capped.status_code == 200, capped.text
    placements = capped.json()["placements"]
    cluster = {"node-a": "gold", "node-b": "gold", "node-c": "std"}
    used = [cluster[p["choice"]["node"]] for p in placements if p["feasible"]]
    assert sorted(used) == ["gold", "std"]
    left = [p for p in placements if not p["feasible"]]
    assert len(left) == 1 and "gold (2)" in left[0]["conflicts"][0]["message"]
    # the answer equals the solver's own with the same quotas
    inv = {"nodes": [node_entry(n, cluster=c) for n, c in cluster.items()]}
    import catalog

    direct = solver.select_batch(catalog.load_catalog(), [two, two, two], inv, quotas={"gold": 2}).to_dict()
    assert capped.json() == direct
    # the quota is part of the request: the audit row records it, a zero quota is honoured
    assert _audits(client)[-1].request["quotas"] == {"gold": 2}
    none = client.post("/v1/select/batch", json={**body, "quotas": {"gold": 0, "std": 0}}, headers=tokens.h("reader"))
    assert none.status_code == 200 and not any(p["feasible"] for p in none.json()["placements"])


@pytest.mark.parametrize("quotas, field", [({"gold": -1}, "quotas.gold"), ({"gold": "many"}, "quotas.gold"),
                                           ({"gold": 1.5}, "quotas.gold"), ([2], "quotas"), ({"": 2}, "quotas")])
def test_batch_quotas_bad_input_is_a_422_naming_the_field(client: TestClient, tokens: Tokens, quotas: Any,
                                                          field: str) -> None:
    _register(client, tokens, node_entry())
    r = client.post("/v1/select/batch", json={"models": [PYTORCH], "quotas": quotas}, headers=tokens.h("reader"))
    assert r.status_code == 422, r.text
    assert r.json()["field"].startswith(field), r.json()


def test_why_not_judges_every_rule_for_one_node(client: TestClient, tokens: Tokens) -> None:
    _register(client, tokens, node_entry())
    r = _select(client, tokens, {"model": {"framework": "pytorch", "min_gpu_memory_gib": 70}, "why_not": "node-a"})
    assert r.status_code == 200, r.text
    body = r.json()
    assert body["node"] == "node-a" and body["usable"] is False and body["feasible"] is False
    rules = {v["rule"]: v for v in body["verdicts"]}
    assert rules["gpu-memory"]["ok"] is False and rules["gpu-memory"]["component"] == "gpu"
    assert {"arch-not-allowed", "gpu-count", "no-kernel-for-gpu", "driver-too-old"} <= set(rules)
    assert all({"ok", "message", "records", "sources"} <= set(v) for v in body["verdicts"])
    assert any(v["sources"] and v["sources"][0]["url"].startswith("http") for v in body["verdicts"])
    assert body["answer"]["feasible"] is False


def test_why_not_an_unknown_node_is_a_422_naming_the_field(client: TestClient, tokens: Tokens) -> None:
    _register(client, tokens, node_entry())
    r = _select(client, tokens, {"model": PYTORCH, "why_not": "nope"})
    assert r.status_code == 422, r.text
    assert "nope" in r.text and "why_not" in r.text


def test_a_jetson_registered_with_its_driver_facts_is_placed(client: TestClient, tokens: Tokens) -> None:
    """cuda_driver_version / l4t_version (optional Contract 2 node fields) reach the solver through
    the service: an AGX Thor whose Tegra driver number is below CUDA 13.0's desktop minimum is placed
    by the CUDA version it reports; without the fact it is refused, as before."""
    thor = node_entry("thor", arch="aarch64", driver_version="580.01", cuda_driver_version="13.0",
                      l4t_version="38.2.1", gpus=[{"product": "NVIDIA Thor"}], cached_components=[])
    _register(client, tokens, thor)
    body = {"model": {"framework": "pytorch", "framework_version": "==2.15.0"}}
    answer = _select(client, tokens, body).json()
    assert answer["feasible"] and answer["choice"]["node"] == "thor", answer
    inv = client.get("/v1/inventory", headers=tokens.h("reader")).json()
    stored = next(n for n in inv["nodes"] if n["name"] == "thor")
    assert (stored["cuda_driver_version"], stored["l4t_version"]) == ("13.0", "38.2.1")
    _register(client, tokens, {k: v for k, v in thor.items() if k not in ("cuda_driver_version", "l4t_version")})
    assert not _select(client, tokens, body).json()["feasible"]
    bad = client.put("/v1/nodes/thor/heartbeat", json={"node": {**thor, "cuda_driver_version": "13"}},
                     headers=tokens.h("admin"))
    assert bad.status_code == 422 and bad.json()["field"] == "node.cuda_driver_version"
