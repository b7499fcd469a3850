"""rtfit node agent: what a node really has (driver, GPUs, MIG, cached runtime components),
reported to the metadata service as Contract 2 heartbeats and, optionally, as NFD node labels.

Only :mod:`node_agent.nvml` imports nvidia-ml-py, lazily; importing this package never needs a
GPU or a driver. See docs/agent.md.
"""

from node_agent.devices import (
    DeviceSnapshot,
    DeviceSource,
    Gpu,
    MigDevice,
    NullDeviceSource,
    open_device_source,
)
from node_agent.errors import AgentError
from node_agent.inventory import build_inventory, inventory_hash

__all__ = [
    "AgentError",
    "DeviceSnapshot",
    "DeviceSource",
    "Gpu",
    "MigDevice",
    "NullDeviceSource",
    "build_inventory",
    "inventory_hash",
    "open_device_source",
]
