"""serve task: the int8 model behind HTTP (GET /healthz, POST /predict {"x": [[64 floats], ...]})."""

import json
import os
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import numpy as np
import onnxruntime as ort

art = Path(os.environ["RTFIT_ARTIFACTS"])
sess = ort.InferenceSession(str(art / "model.int8.onnx"), providers=["CPUExecutionProvider"])


class Handler(BaseHTTPRequestHandler):
    def _send(self, code: int, body: dict) -> None:
        data = json.dumps(body).encode()
        self.send_response(code)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(data)))
        self.end_headers()
        self.wfile.write(data)

    def do_GET(self) -> None:
        if self.path == "/healthz":
            self._send(200, {"status": "ok", "model": "model.int8.onnx"})
        else:
            self._send(404, {"detail": "not found"})

    def do_POST(self) -> None:
        if self.path != "/predict":
            self._send(404, {"detail": "not found"})
            return
        try:
            body = json.loads(self.rfile.read(int(self.headers.get("Content-Length", "0"))))
            x = np.asarray(body["x"], dtype=np.float32).reshape(-1, 64)
        except (ValueError, KeyError) as e:
            self._send(400, {"detail": f"bad request: {e}"})
            return
        self._send(200, {"labels": sess.run(None, {"x": x})[0].argmax(1).tolist()})


port = int(os.environ.get("PORT", "18765"))
print(f"serving on 127.0.0.1:{port}", flush=True)
ThreadingHTTPServer(("127.0.0.1", port), Handler).serve_forever()
