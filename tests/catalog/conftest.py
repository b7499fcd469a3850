"""A small, valid catalog written in code, so loader tests can break one field at a time."""

from __future__ import annotations

import copy
from pathlib import Path
from typing import Any

import pytest
import yaml

SRC = ["rn"]


def mini_documents() -> dict[str, Any]:
    return {
        "sources.yaml": {"sources": [
            {"id": "rn", "doc": "CUDA release notes", "url": "https://docs.nvidia.com/cuda/", "quality": "primary"},
        ]},
        "drivers.yaml": {"driver_branches": [
            {"id": "branch.r525", "branch": 525, "max_cuda": "12.0", "source": SRC},
            {"id": "branch.r535", "branch": 535, "max_cuda": "12.2", "source": SRC},
            {"id": "branch.r550", "branch": 550, "max_cuda": "12.4", "source": SRC},
        ]},
        "cuda.yaml": {
            "cuda_toolkits": [
                {"id": "cuda.12.0.0", "version": "12.0.0", "label": "12.0 GA", "min_driver": "525.60.13", "source": SRC},
                {"id": "cuda.12.2.0", "version": "12.2.0", "label": "12.2 GA", "min_driver": "535.54.03", "source": SRC},
                {"id": "cuda.12.4.0", "version": "12.4.0", "label": "12.4 GA", "min_driver": "550.54.14", "source": SRC},
            ],
            "mvc_floors": [{"id": "mvc.12", "cuda_major": 12, "min_driver": "525.60.13", "source": SRC}],
        },
        "architectures.yaml": {"architectures": [
            {"id": "arch.sm_75", "cc": "7.5", "name": "Turing", "source": SRC},
            {"id": "arch.sm_80", "cc": "8.0", "name": "Ampere", "first_cuda": "11.0", "source": SRC},
            {"id": "arch.sm_89", "cc": "8.9", "name": "Ada", "first_cuda": "11.8", "source": SRC},
            {"id": "arch.sm_90", "cc": "9.0", "name": "Hopper", "first_cuda": "11.8", "source": SRC},
        ]},
        "gpus.yaml": {"gpus": [
            {"id": "gpu.l4", "name": "NVIDIA L4", "cc": "8.9", "architecture": "Ada", "memory_mib": 23034,
             "segment": "datacenter", "source": SRC},
            {"id": "gpu.t4", "name": "Tesla T4", "aliases": ["T4"], "cc": "7.5", "architecture": "Turing",
             "memory_mib": 15360, "segment": "datacenter", "source": SRC},
        ]},
        "cudnn.yaml": {"cudnn": [
            {"id": "cudnn.9.1.0", "version": "9.1.0", "builds": [{"cuda": ">=12.0,<13", "min_driver": "525.60.13"}],
             "source": SRC},
        ]},
        "python.yaml": {"python": [
            {"id": "python.3.10", "version": "3.10", "source": SRC},
            {"id": "python.3.11", "version": "3.11", "source": SRC},
        ]},
        "pytorch.yaml": {"framework_releases": [
            {"id": "pytorch.2.4", "framework": "pytorch", "series": "2.4", "versions": ["2.4.0", "2.4.1"],
             "python": ">=3.8,<3.13", "source": SRC,
             "builds": [{"variant": "cu124", "platforms": ["x86_64"], "bundled": {"cuda": "12.4", "cudnn": "9.1.0.70"},
                         "sass": ["7.5", "8.0"], "ptx": ["9.0"]}]},
        ]},
        "numeric_formats.yaml": {"numeric_formats": [
            {"id": "num.bf16", "precision": "bf16", "min_cc": "8.0", "source": SRC},
        ]},
    }


class _NoAliases(yaml.SafeDumper):
    def ignore_aliases(self, data: Any) -> bool:
        return True


def write_catalog(folder: Path, documents: dict[str, Any]) -> Path:
    folder.mkdir(parents=True, exist_ok=True)
    for name, doc in documents.items():
        (folder / name).write_text(yaml.dump(doc, Dumper=_NoAliases, sort_keys=False))
    return folder


@pytest.fixture
def mini_docs() -> dict[str, Any]:
    return copy.deepcopy(mini_documents())
