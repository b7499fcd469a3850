"""The model registry and the flow-run routes the flow runner writes through."""

from __future__ import annotations

from fastapi.testclient import TestClient

from .conftest import FakeClock, Tokens

REQ = {"framework": "pytorch", "framework_version": ">=2.3", "precision": "bf16"}


def test_model_registry_lifecycle(client: TestClient, tokens: Tokens, clock: FakeClock) -> None:
    admin, reader = tokens.h("admin"), tokens.h("reader")
    r = client.post("/v1/models", json={"name": "detector-v3", "request": REQ}, headers=admin)
    assert r.status_code == 201
    assert r.json() == {"name": "detector-v3", "request": REQ, "created_at": clock.now, "updated_at": clock.now}
    r = client.post("/v1/models", json={"name": "detector-v3", "request": REQ}, headers=admin)
    assert r.status_code == 409 and "DELETE" in r.json()["detail"]
    client.post("/v1/models", json={"name": "a-model", "request": {"framework": "none", "gpu_count": 0}}, headers=admin)
    assert [m["name"] for m in client.get("/v1/models", headers=reader).json()] == ["a-model", "detector-v3"]
    assert client.get("/v1/models/detector-v3", headers=reader).json()["request"] == REQ
    assert client.delete("/v1/models/detector-v3", headers=admin).status_code == 204
    r = client.get("/v1/models/detector-v3", headers=reader)
    assert r.status_code == 404 and "detector-v3" in r.json()["detail"]
    assert client.delete("/v1/models/detector-v3", headers=admin).status_code == 404


def test_model_validation_names_the_field(client: TestClient, tokens: Tokens) -> None:
    cases = [
        ({"name": "m", "request": {"framework": "pytorch", "precision": "fp7"}}, "request.precision"),
        ({"name": "bad name!", "request": REQ}, "name"),
        ({"name": "m"}, "request"),
        ({"name": "m", "request": REQ, "owner": "x"}, "owner"),
    ]
    for body, field in cases:
        r = client.post("/v1/models", json=body, headers=tokens.h("admin"))
        assert r.status_code == 422, (body, r.text)
        assert r.json()["field"] == field, (body, r.json())


def test_flow_run_is_created_then_updated_by_id(client: TestClient, tokens: Tokens, clock: FakeClock) -> None:
    admin, reader = tokens.h("admin"), tokens.h("reader")
    body = {
        "id": "run-1",
        "flow": "detector-pipeline",
        "status": "Running",
        "digest": "d1",
        "backend": "local",
        "spec": {"name": "detector-pipeline", "tasks": []},
        "meta": {"flow_path": "flows/p.yaml"},
        "tasks": {"train": {"state": "Pending"}, "export": {"state": "Pending"}},
    }
    r = client.post("/v1/flows", json=body, headers=admin)
    assert r.status_code == 201, r.text
    assert r.json()["state"] == "Running" and list(r.json()["tasks"]) == ["train", "export"]
    clock.advance(3)
    update = {
        "id": "run-1",
        "flow": "detector-pipeline",
        "meta": {"pid": 42},
        "tasks": {"train": {"state": "Running", "attempts": 1, "node": "edge-01", "started_at": clock.now,
                            "runtime": {"cuda": "12.4", "pytorch": "2.4.1+cu124"}, "log": "epoch 1\n"}},
    }
    r = client.post("/v1/flows", json=update, headers=admin)
    assert r.status_code == 200
    client.post("/v1/flows", json={"id": "run-1", "flow": "detector-pipeline",
                                   "tasks": {"train": {"log": "epoch 2\n"}}}, headers=admin)
    client.post("/v1/flows", json={"id": "run-1", "flow": "detector-pipeline", "status": "Failed",
                                   "tasks": {"train": {"state": "Succeeded", "exit_code": 0, "finished_at": clock.now},
                                             "export": {"state": "Failed", "exit_code": 1, "message": "boom"}}},
                headers=admin)
    run = client.get("/v1/flows/run-1", headers=reader).json()
    assert run["state"] == "Failed"
    assert run["meta"] == {"flow_path": "flows/p.yaml", "pid": 42}
    assert run["spec"] == body["spec"]
    train = run["tasks"]["train"]
    assert (train["state"], train["attempts"], train["node"], train["exit_code"]) == ("Succeeded", 1, "edge-01", 0)
    assert train["runtime"]["pytorch"] == "2.4.1+cu124"
    assert run["tasks"]["export"]["message"] == "boom"
    r = client.get("/v1/flows/run-1/tasks/train/logs", headers=reader)
    assert r.status_code == 200 and r.headers["content-type"].startswith("text/plain")
    assert r.text == "epoch 1\nepoch 2\n"
    assert train["log_bytes"] == len(r.text)


def test_flow_state_is_derived_without_a_status(client: TestClient, tokens: Tokens) -> None:
    admin, reader = tokens.h("admin"), tokens.h("reader")
    r = client.post("/v1/flows", json={"flow": "f", "tasks": {"a": {"state": "Succeeded"}, "b": {}}}, headers=admin)
    run_id = r.json()["id"]
    assert r.json()["state"] == "Running"
    client.post("/v1/flows", json={"id": run_id, "flow": "f", "tasks": {"b": {"state": "Skipped"}}}, headers=admin)
    assert client.get(f"/v1/flows/{run_id}", headers=reader).json()["state"] == "Succeeded"


def test_flow_listing_and_errors(client: TestClient, tokens: Tokens, clock: FakeClock) -> None:
    admin, reader = tokens.h("admin"), tokens.h("reader")
    client.post("/v1/flows", json={"id": "r1", "flow": "f", "digest": "x", "status": "Running"}, headers=admin)
    clock.advance(1)
    client.post("/v1/flows", json={"id": "r2", "flow": "f", "digest": "x", "status": "Succeeded"}, headers=admin)
    clock.advance(1)
    client.post("/v1/flows", json={"id": "r3", "flow": "g"}, headers=admin)
    ids = lambda q: [r["id"] for r in client.get(f"/v1/flows?{q}", headers=reader).json()]  # noqa: E731
    assert ids("") == ["r3", "r2", "r1"]
    assert ids("flow=f") == ["r2", "r1"]
    assert ids("digest=x&state=Running") == ["r1"]
    assert ids("limit=1") == ["r3"]
    r = client.post("/v1/flows", json={"id": "r1", "flow": "other"}, headers=admin)
    assert r.status_code == 409 and "'f'" in r.json()["detail"]
    assert client.get("/v1/flows/nope", headers=reader).status_code == 404
    r = client.get("/v1/flows/r1/tasks/nope/logs", headers=reader)
    assert r.status_code == 404 and "nope" in r.json()["detail"]
    r = client.post("/v1/flows", json={"flow": "f", "tasks": {"a": {"state": "Done"}}}, headers=admin)
    assert r.status_code == 422 and r.json()["field"] == "tasks.a.state"
    r = client.post("/v1/flows", json={"tasks": {}}, headers=admin)
    assert r.status_code == 422 and r.json()["field"] == "flow"
