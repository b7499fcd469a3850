"""README.md's recipe section is the bundled catalog's current answer, not hand-typed text."""

from __future__ import annotations

import importlib.util
from pathlib import Path

ROOT = Path(__file__).resolve().parents[3]


def _script():
    spec = importlib.util.spec_from_file_location("readme_recipes", ROOT / "scripts" / "readme_recipes.py")
    module = importlib.util.module_from_spec(spec)  # type: ignore[arg-type]
    spec.loader.exec_module(module)  # type: ignore[union-attr]
    return module


def test_readme_recipes_are_the_catalogs_current_answers() -> None:
    script = _script()
    readme = (ROOT / "README.md").read_text()
    new = script.section()
    assert script.replaced(readme, new) == readme, (
        "README.md's recipes differ from the catalog's answers: run .venv/bin/python scripts/readme_recipes.py --write")
    # one request per framework family the catalog installs, each with its requirement lines
    families = {request["framework"] for _, request, _ in script.FAMILIES}
    assert families >= {"pytorch", "tensorflow", "onnxruntime", "tensorrt", "jax", "vllm", "sglang", "tensorrt-llm"}
    # the full recipe of each: requirements, uv, stage, pixi.toml, Dockerfile and (a GPU answer) Kubernetes
    for form in ("requirements", "uv", "stage", "pixi", "dockerfile"):
        assert new.count(f"# --emit {form}") == len(script.FAMILIES), form
    assert new.count("# install.kubernetes") == len(script.FAMILIES)   # every README request runs on a GPU
    assert new.count("nvidia.com/gpu.product") == len(script.FAMILIES)
