"""`ServiceClient`: the one HTTP client of the metadata service (agent, runner, CLI).

Every call goes through `call`: the bearer token (a fixed one, or a token file re-read on every
call), httpx's failures wrapped into `ServiceUnreachable`, an error answer parsed once into a
`Problem` and raised as `ServiceRefused`, and retries with backoff as the client's `RetryPolicy`
says (none by default). Statuses a caller expects as outcomes (the agent's 404/409) are named in
`expect=` and returned as a `Reply` like a 2xx answer.
"""

from __future__ import annotations

import json as _json
from collections.abc import Collection, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any
from urllib.parse import quote

import httpx

from service_protocol.errors import ProtocolConfigError, ServiceCallError, ServiceRefused, ServiceUnreachable
from service_protocol.problems import parse_problem
from service_protocol.retry import NO_RETRY, RetryPolicy
from service_protocol.tokens import TOKEN_ENV, read_token

__all__ = ["DEFAULT_SERVER", "Reply", "ServiceClient", "fetch_inventory", "heartbeat_path"]

DEFAULT_SERVER = "http://127.0.0.1:8000"


@dataclass(frozen=True)
class Reply:
    """An answer the caller accepted: a 2xx, or a status it named in `expect=`."""

    status: int
    content: bytes
    content_type: str

    def data(self) -> Any:
        """The decoded body: None for an empty one, text for text/plain, else JSON."""
        if not self.content:
            return None
        if self.content_type.startswith("text/plain"):
            return self.content.decode("utf-8", errors="replace")
        return _json.loads(self.content)


def heartbeat_path(node: str) -> str:
    return f"/v1/nodes/{quote(node, safe='')}/heartbeat"


def _retry_after(headers: httpx.Headers) -> float | None:
    value = headers.get("retry-after")
    try:
        return max(0.0, float(value)) if value is not None else None
    except ValueError:
        return None  # an HTTP date: fall back to the backoff


class ServiceClient:
    """One pooled connection to `server`. `token` (fixed) or `token_file` (read on every call)."""

    def __init__(
        self,
        server: str,
        token: str | None = None,
        *,
        token_file: str | Path | None = None,
        timeout: float = 30.0,
        retry: RetryPolicy = NO_RETRY,
        http: httpx.Client | None = None,
        transport: httpx.BaseTransport | None = None,
        user_agent: str = "rtfit",
    ) -> None:
        if not server.startswith(("http://", "https://")):
            raise ProtocolConfigError(f"the server must be an http:// or https:// URL, got {server!r}")
        if token is not None and token_file is not None:
            raise ProtocolConfigError("give a token or a token file, not both")
        self.server = server.rstrip("/")
        self.retry = retry
        self._token = token
        self._token_file = Path(token_file) if token_file is not None else None
        self._owned = http is None
        self._http = http or httpx.Client(
            base_url=self.server, timeout=timeout, transport=transport, headers={"User-Agent": user_agent}
        )

    def __enter__(self) -> ServiceClient:
        return self

    def __exit__(self, *_exc: object) -> None:
        self.close()

    def close(self) -> None:
        if self._owned:
            self._http.close()

    def _headers(self) -> dict[str, str]:
        token = read_token(self._token_file) if self._token_file is not None else self._token
        return {"Authorization": f"Bearer {token}"} if token else {}

    def call(
        self,
        method: str,
        path: str,
        *,
        json: Any = None,
        params: Mapping[str, Any] | None = None,
        expect: Collection[int] = (),
        retry: RetryPolicy | None = None,
    ) -> Reply:
        """One request, retried per `retry` (default: the client's policy). Raises
        `ServiceUnreachable`, `ServiceRefused`, or `TokenFileInvalid` (a bad token file)."""
        policy = self.retry if retry is None else retry
        deadline = policy.clock() + policy.budget_s
        backoff = policy.backoff()
        tries = 0
        clean = {k: v for k, v in (params or {}).items() if v is not None} or None
        while True:
            tries += 1
            headers = self._headers()
            wait_at_least = 0.0
            try:
                response = self._http.request(method, path, json=json, params=clean, headers=headers)
            except httpx.HTTPError as e:
                failure: ServiceCallError = ServiceUnreachable(
                    f"cannot reach {self.server}: {type(e).__name__}: {e}".rstrip(": ")
                )
                cause: BaseException = e
            else:
                status = response.status_code
                if status < 400 or status in expect:
                    return Reply(status, response.content, response.headers.get("content-type", ""))
                problem = parse_problem(status, response.content, reason=response.reason_phrase)
                hint = ""
                if status == 401 and not headers.get("Authorization"):  # the usual first stumble: no token given
                    hint = f" (no token was sent: give --token-file FILE or set {TOKEN_ENV})"
                failure = ServiceRefused(f"{method} {path}: {status} {problem.summary()}{hint}", status=status,
                                         problem=problem)
                if status not in policy.statuses:
                    raise failure
                cause = failure
                wait_at_least = min(_retry_after(response.headers) or 0.0, policy.cap)
            delay = max(backoff.next_delay(), wait_at_least)
            if policy.budget_s <= 0 or policy.clock() + delay > deadline:
                if policy.budget_s > 0:
                    failure.args = (f"{failure} (gave up after {tries} tries in {policy.budget_s:g} s)",)
                if cause is failure:
                    raise failure
                raise failure from cause
            policy.sleep(delay)

    def request(self, method: str, path: str, **kwargs: Any) -> Any:
        """`call` and return the decoded body."""
        return self.call(method, path, **kwargs).data()

    # -- resources ---------------------------------------------------------------------------
    def heartbeat(self, node: str, body: Mapping[str, Any], *, expect: Collection[int] = (404, 409)) -> Reply:
        """`PUT /v1/nodes/{node}/heartbeat`; 404/409 (send the full inventory) come back as a Reply."""
        return self.call("PUT", heartbeat_path(node), json=body, expect=expect)

    def inventory(self, *, cluster: str | None = None) -> dict[str, Any]:
        """`GET /v1/inventory`: the live nodes as a Contract 2 document (+ `inventory_revision`)."""
        return self.request("GET", "/v1/inventory", params={"cluster": cluster})

    def nodes(self, **params: Any) -> list[dict[str, Any]]:
        return self.request("GET", "/v1/nodes", params=params)

    def node(self, name: str) -> dict[str, Any]:
        return self.request("GET", f"/v1/nodes/{quote(name, safe='')}")

    def models(self) -> list[dict[str, Any]]:
        return self.request("GET", "/v1/models")

    def model(self, name: str) -> dict[str, Any]:
        return self.request("GET", f"/v1/models/{quote(name, safe='')}")

    def add_model(self, name: str, request: dict[str, Any]) -> dict[str, Any]:
        return self.request("POST", "/v1/models", json={"name": name, "request": request})

    def delete_model(self, name: str) -> None:
        self.request("DELETE", f"/v1/models/{quote(name, safe='')}")

    def select(self, body: dict[str, Any]) -> dict[str, Any]:
        """`POST /v1/select`: the Contract 3 object, feasible or not (an infeasible answer is a 200)."""
        return self.request("POST", "/v1/select", json=body)

    def select_batch(self, body: dict[str, Any]) -> dict[str, Any]:
        return self.request("POST", "/v1/select/batch", json=body)

    def catalog(self) -> dict[str, Any]:
        return self.request("GET", "/v1/catalog")

    def post_flow(self, body: dict[str, Any]) -> dict[str, Any]:
        return self.request("POST", "/v1/flows", json=body)

    def flows(self, **params: Any) -> list[dict[str, Any]]:
        return self.request("GET", "/v1/flows", params=params)

    def flow(self, run_id: str) -> dict[str, Any]:
        return self.request("GET", f"/v1/flows/{quote(run_id, safe='')}")

    def task_log(self, run_id: str, task: str) -> str:
        return self.request("GET", f"/v1/flows/{quote(run_id, safe='')}/tasks/{quote(task, safe='')}/logs")


def fetch_inventory(
    server: str, token: str | None = None, *, cluster: str | None = None, retry: RetryPolicy = NO_RETRY
) -> dict[str, Any]:
    """The service's live nodes as a Contract 2 document `{"nodes": [...], "inventory_revision"}`."""
    with ServiceClient(server, token, retry=retry) as client:
        return client.inventory(cluster=cluster)
