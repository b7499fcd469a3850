"""Hostile numbers in a model request (NaN, infinities, 400-digit integers) are refused by the
parser with an InvalidRequest naming the field; `rtfit select` exits 2 with one line, no traceback."""

from __future__ import annotations

import math
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest

from solver import parse_request
from solver.errors import InvalidRequest

BASE = {"name": "m", "framework": "pytorch"}


@pytest.mark.parametrize(
    "field,value",
    [
        ("min_gpu_memory_gib", math.nan),
        ("min_gpu_memory_gib", math.inf),
        ("min_gpu_memory_gib", -math.inf),
        ("min_gpu_memory_gib", 10**400),
        ("gpu_count", 10**400),
        ("gpu_count", -(10**400)),
        ("gpu_count", 2**63),
    ],
)
def test_non_finite_and_huge_numbers_are_invalid_requests(field: str, value: Any) -> None:
    with pytest.raises(InvalidRequest) as info:
        parse_request({**BASE, field: value})
    assert info.value.field == field
    assert len(str(info.value)) < 300  # a 400-digit number is not echoed in full


def test_huge_opset_is_an_invalid_request() -> None:
    with pytest.raises(InvalidRequest) as info:
        parse_request({**BASE, "format": {"kind": "onnx", "opset": 10**400}})
    assert info.value.field == "format.opset"


def test_ordinary_numbers_still_parse() -> None:
    request = parse_request({**BASE, "min_gpu_memory_gib": 22.5, "gpu_count": 8})
    assert request.min_gpu_memory_gib == 22.5 and request.gpu_count == 8


@pytest.mark.parametrize("text", ["min_gpu_memory_gib: .nan", "min_gpu_memory_gib: .inf", "gpu_count: " + "9" * 400])
def test_rtfit_select_on_hostile_yaml_exits_2_without_traceback(tmp_path: Path, text: str) -> None:
    model = tmp_path / "model.yaml"
    model.write_text("name: m\nframework: pytorch\n" + text + "\n")
    done = subprocess.run([sys.executable, "-m", "rtfit", "select", "-m", str(model)],
                          capture_output=True, text=True, timeout=120)
    assert done.returncode == 2, (done.returncode, done.stderr[-500:])
    assert "Traceback" not in done.stderr and "error:" in done.stderr
