"""A local HTTP double of the Kubernetes API server: the few endpoints the runner's client uses.

Runs on 127.0.0.1 in a thread. Jobs whose command mentions "fail" fail, others succeed, after the
first status read (so the runner sees them Running once). Deployments report one ready replica.
Everything created is recorded in `objects` for the tests to inspect and schema-validate.
"""

from __future__ import annotations

import json
import re
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any
from urllib.parse import parse_qs, urlparse

_CREATE = re.compile(r"^/(?:api/v1|apis/[a-z.]+/v[0-9a-z]+)/namespaces/(?P<ns>[^/]+)/(?P<res>[a-z]+)$")
_ITEM = re.compile(r"^/(?:api/v1|apis/[a-z.]+/v[0-9a-z]+)/namespaces/(?P<ns>[^/]+)/(?P<res>[a-z]+)/(?P<name>[^/]+)(?P<sub>/status|/log)?$")


class KubeDouble:
    def __init__(self) -> None:
        self.objects: dict[tuple[str, str], dict[str, Any]] = {}
        self.reads: dict[str, int] = {}
        self.requests: list[tuple[str, str]] = []
        double = self

        class Handler(BaseHTTPRequestHandler):
            def log_message(self, *args: Any) -> None:
                pass

            def _send(self, code: int, body: Any, ctype: str = "application/json") -> None:
                data = body.encode() if isinstance(body, str) else json.dumps(body).encode()
                self.send_response(code)
                self.send_header("Content-Type", ctype)
                self.send_header("Content-Length", str(len(data)))
                self.end_headers()
                self.wfile.write(data)

            def do_POST(self) -> None:
                double.requests.append(("POST", self.path))
                m = _CREATE.match(urlparse(self.path).path)
                body = json.loads(self.rfile.read(int(self.headers["Content-Length"])))
                if m is None:
                    return self._send(404, {"kind": "Status", "code": 404})
                key = (m["res"], body["metadata"]["name"])
                if key in double.objects:
                    return self._send(409, {"kind": "Status", "code": 409, "reason": "AlreadyExists"})
                double.objects[key] = body
                return self._send(201, body)

            def do_PATCH(self) -> None:
                double.requests.append(("PATCH", self.path))
                m = _ITEM.match(urlparse(self.path).path)
                body = json.loads(self.rfile.read(int(self.headers["Content-Length"])))
                double.objects[(m["res"], m["name"])] = body
                return self._send(200, body)

            def do_DELETE(self) -> None:
                double.requests.append(("DELETE", self.path))
                m = _ITEM.match(urlparse(self.path).path)
                double.objects.pop((m["res"], m["name"]), None)
                return self._send(200, {"kind": "Status", "status": "Success"})

            def do_GET(self) -> None:
                double.requests.append(("GET", self.path))
                url = urlparse(self.path)
                m = _ITEM.match(url.path)
                if m is None:
                    lm = _CREATE.match(url.path)
                    if lm and lm["res"] == "pods":
                        sel = parse_qs(url.query).get("labelSelector", [""])[0]
                        job = sel.removeprefix("job-name=")
                        pods = [{"metadata": {"name": f"{job}-pod"}}] if ("jobs", job) in double.objects else []
                        return self._send(200, {"kind": "PodList", "apiVersion": "v1", "metadata": {}, "items": pods})
                    return self._send(404, {"kind": "Status", "code": 404})
                if m["res"] == "pods" and m["sub"] == "/log":
                    return self._send(200, f"log of {m['name']}\n", "text/plain")
                obj = double.objects.get((m["res"], m["name"]))
                if obj is None:
                    return self._send(404, {"kind": "Status", "code": 404, "reason": "NotFound"})
                n = double.reads[m["name"]] = double.reads.get(m["name"], 0) + 1
                out = dict(obj)
                if m["res"] == "jobs":
                    cmd = " ".join(obj["spec"]["template"]["spec"]["containers"][0]["command"])
                    out["status"] = {"active": 1} if n < 2 else ({"failed": 1} if "fail" in cmd else {"succeeded": 1})
                elif m["res"] == "deployments":
                    out["status"] = {"readyReplicas": 1 if n >= 2 else 0, "replicas": 1}
                return self._send(200, out)

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}"
        self.thread = threading.Thread(target=self.server.serve_forever, daemon=True)

    def __enter__(self) -> KubeDouble:
        self.thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.server.shutdown()
        self.server.server_close()

    def api_client(self) -> Any:
        import kubernetes.client

        cfg = kubernetes.client.Configuration()
        cfg.host = self.url
        return kubernetes.client.ApiClient(cfg)
