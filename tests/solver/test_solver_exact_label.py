"""A request for one exact build label (`===`) selects that build, leading zeros and all."""

from __future__ import annotations

from catalog import load_catalog
from solver import select


def test_exact_label_of_a_jetson_wheel_is_selected_on_orin() -> None:
    cat = load_catalog()
    model = {"framework": "pytorch", "framework_version": "===2.0.0+nv23.05"}
    inventory = {"nodes": [{"name": "orin-1", "arch": "aarch64", "driver_version": "575.00.01",
                            "gpus": [{"product": "Orin (nvgpu)"}]}]}
    out = select(cat, model, inventory).to_dict()
    assert out["feasible"], out.get("conflicts")
    assert out["choice"]["runtime"]["pytorch"] == "2.0.0+nv23.05"
