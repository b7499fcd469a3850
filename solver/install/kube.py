"""Kubernetes scheduling for a chosen GPU: GPU Feature Discovery labels and the GPU resource.

The label keys are GFD's (catalog fact `install.gfd_labels`): `nvidia.com/gpu.product` (the NVML
product name with spaces replaced by '-'), `nvidia.com/gpu.compute.major/.minor`, and the driver
major under both the current key (`nvidia.com/cuda.driver-version.major`) and the deprecated one
(`nvidia.com/cuda.driver.major`) as two alternative node-selector terms, so nodes labelled by
old and new GFD releases both match.
"""

from __future__ import annotations

from typing import Any

__all__ = ["DRIVER_KEYS", "GPU_RESOURCE", "gfd_product", "gpu_scheduling"]

GPU_RESOURCE = "nvidia.com/gpu"
PRODUCT_KEY = "nvidia.com/gpu.product"
CC_MAJOR_KEY = "nvidia.com/gpu.compute.major"
CC_MINOR_KEY = "nvidia.com/gpu.compute.minor"
DRIVER_KEYS = ("nvidia.com/cuda.driver-version.major", "nvidia.com/cuda.driver.major")


def gfd_product(name: str) -> str:
    """The `nvidia.com/gpu.product` value GFD writes for an NVML product name."""
    return "-".join(name.split())


def gpu_scheduling(*, product: str | None, compute_capability: str | None, count: int,
                   min_driver_major: int | None) -> dict[str, Any]:
    """nodeSelector, affinity and resources for a pod that needs `count` GPUs of one product."""
    selector: dict[str, str] = {}
    if product:
        selector[PRODUCT_KEY] = gfd_product(product)
    if compute_capability:
        major, _, minor = compute_capability.partition(".")
        selector[CC_MAJOR_KEY] = major
        selector[CC_MINOR_KEY] = minor or "0"
    out: dict[str, Any] = {"nodeSelector": selector,
                           "resources": {"limits": {GPU_RESOURCE: count}, "requests": {GPU_RESOURCE: count}}}
    if min_driver_major is not None:
        terms = [{"matchExpressions": [{"key": key, "operator": "Gt", "values": [str(min_driver_major - 1)]}]}
                 for key in DRIVER_KEYS]
        out["affinity"] = {"nodeAffinity": {"requiredDuringSchedulingIgnoredDuringExecution": {
            "nodeSelectorTerms": terms}}}
    return out
