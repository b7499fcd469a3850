"""smoke-requests task (no model: runner environment, stdlib only): a few requests to the server."""

import json
import os
import sys
import urllib.request

port = int(sys.argv[1]) if len(sys.argv) > 1 else 18765
url = f"http://127.0.0.1:{port}"
with urllib.request.urlopen(f"{url}/healthz", timeout=5) as r:
    print("healthz:", r.read().decode())
with open(os.path.join(os.environ["RTFIT_ARTIFACTS"], "sample.json")) as fh:
    sample = json.load(fh)
correct = 0
for i in range(0, 32, 8):
    req = urllib.request.Request(f"{url}/predict", data=json.dumps({"x": sample["x"][i:i + 8]}).encode(),
                                 headers={"Content-Type": "application/json"}, method="POST")
    with urllib.request.urlopen(req, timeout=5) as r:
        labels = json.loads(r.read())["labels"]
    correct += sum(int(a == b) for a, b in zip(labels, sample["y"][i:i + 8], strict=True))
print(f"4 requests, {correct}/32 correct")
if correct < 28:
    raise SystemExit("served model answers poorly")
