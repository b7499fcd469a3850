"""`rtfit catalog why` names one cuDNN: the `components` verdict names the cuDNN of the completion
the later rules judge (`cudnn`, `cudnn-driver`), not the catalog's first record that meets the need
(seen in a new-user trial: tensorflow 2.21.0 on a T4 said "cuDNN 9.10.2 covers CUDA 12.9" and then
judged "cuDNN 9.28.0 for CUDA 12.9")."""

from __future__ import annotations

import re

import pytest

from catalog import compat, load_catalog
from catalog.gpunames import resolve_gpu

CAT = load_catalog()


def _named(message: str) -> str:
    found = re.match(r"cuDNN (\S+) ", message)
    assert found, message
    return found.group(1)


@pytest.mark.parametrize("framework", ["tensorflow", "onnxruntime", "jax"])
def test_components_verdict_names_the_judged_cudnn(framework):
    gpu = resolve_gpu(CAT, "T4")
    judged = 0
    for ref in CAT.builds(framework):
        if not ref.build.gpu or "cudnn" not in ref.build.needs or gpu.cc is None:
            continue
        checks, cuda, cudnn = compat.why_best_option(CAT, ref, gpu)
        comp = [c for c in checks if c.rule == "components"]
        if cudnn is None or not comp:
            continue
        judged += 1
        assert _named(comp[0].message) == str(cudnn), (ref.label, comp[0].message, str(cudnn))
        later = [c for c in checks if c.rule in ("cudnn", "cudnn-no-gpu-support")]
        assert later and all(_named(c.message) == str(cudnn) for c in later), (ref.label, [c.message for c in later])
    assert judged, f"no {framework} build with a cuDNN need was judged"
