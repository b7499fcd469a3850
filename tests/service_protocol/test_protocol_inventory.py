"""The inventory hash: one function for the agent and the service."""

from __future__ import annotations

import hashlib

import metadata_service.storage.nodes as node_store
import node_agent.inventory as agent_inventory
from service_protocol import inventory_hash

ENTRY = {
    "name": "edge-01",
    "arch": "x86_64",
    "driver_version": "550.54.15",
    "gpus": [{"product": "NVIDIA L4", "count": 1, "free": 1, "memory_used_mib": 12}],
}


def test_agent_and_service_use_the_same_function() -> None:
    assert agent_inventory.inventory_hash is inventory_hash
    assert node_store.inventory_hash is inventory_hash


def test_the_hash_is_sha256_of_the_canonical_json_without_volatile_keys() -> None:
    canonical = (
        '{"arch":"x86_64","driver_version":"550.54.15",'
        '"gpus":[{"count":1,"free":1,"product":"NVIDIA L4"}],"name":"edge-01"}'
    )
    assert inventory_hash(ENTRY) == hashlib.sha256(canonical.encode()).hexdigest()


def test_volatile_keys_do_not_change_it_and_everything_else_does() -> None:
    busy = {**ENTRY, "gpus": [{**ENTRY["gpus"][0], "memory_used_mib": 20000}]}
    assert inventory_hash(busy) == inventory_hash(ENTRY)
    in_use = {**ENTRY, "gpus": [{**ENTRY["gpus"][0], "free": 0}]}
    assert inventory_hash(in_use) != inventory_hash(ENTRY)
    reordered = dict(reversed(list(ENTRY.items())))
    assert inventory_hash(reordered) == inventory_hash(ENTRY)
    unicode_label = {**ENTRY, "labels": {"site": "Zürich"}}
    assert len(inventory_hash(unicode_label)) == 64
