"""A small synchronous client for a running metadata service (CLI commands, the flow runner,
`rtfit select --server`).

Every call returns the decoded JSON body of a 2xx answer, or raises `ClientError` carrying the
service's problem object (its `detail` is written for people). An infeasible selection is a 200
answer, so `select_remote` returns it like a feasible one: check `answer["feasible"]`.
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

import httpx

from .errors import ClientError

__all__ = [
    "DEFAULT_SERVER",
    "ServiceClient",
    "fetch_inventory",
    "read_token",
    "select_batch_remote",
    "select_remote",
]

DEFAULT_SERVER = "http://127.0.0.1:8000"


def read_token(token_file: Path | None) -> str | None:
    """The token from `token_file` (first non-empty line), else `RTFIT_TOKEN`, else None."""
    if token_file is not None:
        try:
            lines = [ln.strip() for ln in token_file.read_text(encoding="utf-8").splitlines()]
        except OSError as e:
            raise ClientError(f"cannot read token file {token_file}: {e.strerror}", http_status=None) from e
        for line in lines:
            if line and not line.startswith("#"):
                return line
        raise ClientError(f"token file {token_file} is empty", http_status=None)
    return os.environ.get("RTFIT_TOKEN") or None


class ServiceClient:
    def __init__(self, server: str, token: str | None, *, timeout: float = 30.0) -> None:
        headers = {"Authorization": f"Bearer {token}"} if token else {}
        self._server = server.rstrip("/")
        self._http = httpx.Client(base_url=self._server, headers=headers, timeout=timeout)

    def __enter__(self) -> ServiceClient:
        return self

    def __exit__(self, *_exc: object) -> None:
        self.close()

    def close(self) -> None:
        self._http.close()

    def request(self, method: str, path: str, **kwargs: Any) -> Any:
        try:
            response = self._http.request(method, path, **kwargs)
        except httpx.HTTPError as e:
            raise ClientError(f"cannot reach {self._server}: {e.__class__.__name__}: {e}", http_status=None) from e
        if response.status_code >= 400:
            body: dict[str, Any] = {}
            try:
                decoded = response.json()
                body = decoded if isinstance(decoded, dict) else {}
            except ValueError:
                pass
            detail = body.get("detail") or response.text[:200] or response.reason_phrase
            raise ClientError(f"{method} {path}: {response.status_code} {detail}", http_status=response.status_code, body=body)
        if response.status_code == 204:
            return None
        if response.headers.get("content-type", "").startswith("text/plain"):
            return response.text
        return response.json()

    # -- resources ---------------------------------------------------------------------------
    def nodes(self, **params: Any) -> list[dict[str, Any]]:
        return self.request("GET", "/v1/nodes", params={k: v for k, v in params.items() if v is not None})

    def node(self, name: str) -> dict[str, Any]:
        return self.request("GET", f"/v1/nodes/{name}")

    def models(self) -> list[dict[str, Any]]:
        return self.request("GET", "/v1/models")

    def model(self, name: str) -> dict[str, Any]:
        return self.request("GET", f"/v1/models/{name}")

    def add_model(self, name: str, request: dict[str, Any]) -> dict[str, Any]:
        return self.request("POST", "/v1/models", json={"name": name, "request": request})

    def delete_model(self, name: str) -> None:
        self.request("DELETE", f"/v1/models/{name}")

    def select(self, body: dict[str, Any]) -> dict[str, Any]:
        return self.request("POST", "/v1/select", json=body)

    def select_batch(self, body: dict[str, Any]) -> dict[str, Any]:
        return self.request("POST", "/v1/select/batch", json=body)

    def catalog(self) -> dict[str, Any]:
        return self.request("GET", "/v1/catalog")

    def post_flow(self, body: dict[str, Any]) -> dict[str, Any]:
        return self.request("POST", "/v1/flows", json=body)

    def flow(self, run_id: str) -> dict[str, Any]:
        return self.request("GET", f"/v1/flows/{run_id}")

    def task_log(self, run_id: str, task: str) -> str:
        return self.request("GET", f"/v1/flows/{run_id}/tasks/{task}/logs")


def select_remote(server: str, token: str | None, body: dict[str, Any], *, timeout: float = 60.0) -> dict[str, Any]:
    """`POST /v1/select` on `server`; returns the Contract 3 object (feasible or not).

    `body` is `{"model": {...Contract 1...}}` or `{"model_name": "..."}`, optionally with `top`,
    `where` ({"cluster", "labels", "nodes"}) and `plan` (true: hardware planning, node null).
    Raises `ClientError`: `.http_status` 422 (bad request, `.body["field"]` names the field),
    401/403 (token), 503 (no catalog / no solver), None (unreachable).
    """
    with ServiceClient(server, token, timeout=timeout) as client:
        return client.select(body)


def select_batch_remote(
    server: str, token: str | None, body: dict[str, Any], *, timeout: float = 120.0
) -> dict[str, Any]:
    """`POST /v1/select/batch`: `{"models": [...]}` -> `{"feasible", "catalog_revision", "placements"}`."""
    with ServiceClient(server, token, timeout=timeout) as client:
        return client.select_batch(body)


def fetch_inventory(server: str, token: str | None, *, cluster: str | None = None) -> dict[str, Any]:
    """`GET /v1/inventory`: the live nodes as a Contract 2 document `{"nodes": [...]}` (+ revision)."""
    with ServiceClient(server, token) as client:
        return client.request("GET", "/v1/inventory", params={"cluster": cluster} if cluster else None)
