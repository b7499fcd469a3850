"""Node groups: nodes that are identical for every rule and the policy collapse into one.

An inventory of 10,000 nodes usually holds a few dozen distinct (GPU product, driver, CPU arch,
cached set, free GPUs, cluster) combinations. Each node contributes one *slot* per GPU product it
carries (or one CPU slot); identical slots form a `NodeGroup` whose members differ only in name.
Base groups depend only on (inventory, catalog revision, label keys the policy scores) and are
memoised on the inventory; the request-dependent node checks (arch allowed, GPU memory, count,
free GPUs, precision, engine CC) are added per request by `node_checks`.
"""

from __future__ import annotations

from collections import defaultdict
from dataclasses import dataclass

from packaging.version import Version

from catalog import Catalog, GpuProduct
from catalog.compat import Check, current_driver, gpu_host_arch, gpu_platform, rules_driver
from catalog.gpunames import inventory_product, shared_name_note
from solver.errors import InvalidInventory
from solver.facts.candidates import Target
from solver.index.catalog_index import CatalogIndex
from solver.inputs.inventory import Inventory, Node
from solver.inputs.request import ModelRequest
from solver.rules.definitions import target_failures

__all__ = ["NodeGroup", "base_groups", "cpu_groups", "node_checks", "node_rule_names", "planning_driver", "planning_groups", "resolve_gpu",
           "resolve_inventory", "slot_driver"]


@dataclass(frozen=True)
class NodeGroup:
    index: int
    nodes: tuple[str, ...]                 # member names, sorted; () in planning mode
    cluster: str | None
    labels: tuple[tuple[str, str], ...]    # only the label keys the policy scores
    arch: str
    driver: Version | None
    target: Target
    gpu_product: str | None                # NVML name (catalog name when known)
    gpu_id: str | None                     # catalog record id, None for unknown products
    memory_mib: int | None
    count: int                             # GPUs of this product one replica can use on a member node
    free: int                              # (a MIG slot: count 1, free = its free MIG devices)
    cached: frozenset[str]
    node_checks: tuple[Check, ...] = ()
    mig_profile: str | None = None         # the slot's units are MIG devices of this profile
    name_note: str | None = None           # a shared NVML name resolved to its smallest module (gpunames)

    @property
    def representative(self) -> str | None:
        return self.nodes[0] if self.nodes else None


def resolve_gpu(catalog: Catalog, product: str, memory_mib: int | None, cc: Version | None,
                where: str) -> tuple[str, str | None, int | None, Version, str | None]:
    """(name, catalog id, memory MiB, CC, product platform) of an inventory GPU entry."""
    known: GpuProduct | None = inventory_product(catalog, product, memory_mib)  # shared name: smallest module
    if known is None:
        from catalog.gpunames import GpuNameError, resolve_gpu

        try:   # a short name people type ("4090", "A10G"): one product only (catalog.gpunames)
            known = resolve_gpu(catalog, product)
        except GpuNameError as e:
            if cc is None:   # ambiguous, or unknown: the resolver's message names the options
                raise InvalidInventory(f"{where}.product", f"{e}; or, for a GPU the catalog lacks, give its "
                                       "compute_capability (and memory_mib)") from None
    if known is not None:
        return known.name, known.id, memory_mib or known.memory_mib, cc or known.cc, known.platform
    return product, None, memory_mib, cc, None


def _slots(catalog: Catalog, node: Node, i: int) -> list[tuple]:
    """(name, id, memory, CC, platform, MIG profile, note, count, free) per product (and MIG profile) of a node.

    `note`: a GPU known by a shared NVML name ("Orin (nvgpu)") without its memory is the smallest
    module of that name (`gpunames.inventory_product`); the note says so in answers.

    A MIG slot's count is 1: a process uses one MIG device (see `inventory`); `free` stays the
    number of free devices, the capacity batch placement shares out."""
    merged: dict[tuple, list[int]] = {}
    for j, g in enumerate(node.gpus):
        name, gid, mem, cc, platform = resolve_gpu(catalog, g.product, g.unit_memory_mib, g.compute_capability,
                                                   f"nodes[{i}].gpus[{j}]")
        if g.mig_profile is not None:   # a MIG device never has the whole GPU's memory
            mem = g.unit_memory_mib
        note = shared_name_note(catalog, g.product) if g.memory_mib is None and gid is not None else None
        key = (name, gid, mem, cc, platform, g.mig_profile, note)
        tot = merged.setdefault(key, [0, 0])
        tot[0] += g.count
        tot[1] += g.free
    return [(*k, 1 if k[5] is not None else c, f) for k, (c, f) in merged.items()]


def slot_driver(catalog: Catalog, node: Node, gpu_id: str | None) -> Version | None:
    """The driver the rules judge for `node`'s GPU `gpu_id` (`compat.rules_driver`: a Jetson's
    driver by the CUDA version it supports; any other GPU's as reported)."""
    if node.driver_version is None and node.cuda_driver_version is None and node.l4t_version is None:
        return None
    gpu = catalog.record(gpu_id) if gpu_id is not None else None
    return rules_driver(catalog, gpu if isinstance(gpu, GpuProduct) else None, node.driver_version,
                        cuda_driver=node.cuda_driver_version, l4t=node.l4t_version)


def resolve_inventory(catalog: Catalog, inventory: Inventory) -> None:
    """Resolve every GPU entry now (raises InvalidInventory for unknown products without a CC)."""
    for i, node in enumerate(inventory.nodes):
        _slots(catalog, node, i)


def base_groups(catalog: Catalog, inventory: Inventory, label_keys: tuple[str, ...] = ()) -> tuple[NodeGroup, ...]:
    """Request-independent groups of an inventory (a `FleetIndex` keeps them per catalog revision)."""
    members: dict[tuple, list[str]] = defaultdict(list)
    for i, node in enumerate(inventory.nodes):
        labels = tuple((k, v) for k, v in node.labels if k in label_keys)
        slots = _slots(catalog, node, i)
        if not slots:
            common = (node.cluster, labels, node.arch, node.driver_version, node.cached_components)
            members[(*common, None, None, None, None, None, None, None, 0, 0)].append(node.name)
        for slot in slots:
            driver = slot_driver(catalog, node, slot[1])
            members[(node.cluster, labels, node.arch, driver, node.cached_components, *slot)].append(node.name)
    # Order first (stable sort on the same key as before: first member, product), then build each
    # frozen group once with its final index (no `replace` per group).
    order = sorted(members, key=lambda k: (min(members[k]), k[5] or "", k[10] or ""))
    targets: dict[tuple, Target] = {}
    groups = []
    for i, key in enumerate(order):
        cluster, labels, arch, driver, cached, name, gid, mem, cc, platform, mig, note, count, free = key
        gpu_plat = platform if platform is not None else arch
        tkey = (gpu_plat if cc is not None else arch, cc, name, driver)
        target = targets.get(tkey)
        if target is None:
            target = targets[tkey] = Target(platform=tkey[0], cc=cc, product=name, driver=driver)
        groups.append(NodeGroup(index=i, nodes=tuple(sorted(members[key])), cluster=cluster, labels=labels,
                                arch=arch, driver=driver, target=target, gpu_product=name, gpu_id=gid,
                                memory_mib=mem, count=count, free=free, cached=cached, mig_profile=mig,
                                name_note=note))
    return tuple(groups)


def cpu_groups(inventory: Inventory, label_keys: tuple[str, ...] = ()) -> tuple[NodeGroup, ...]:
    """Groups for CPU-only requests: one slot per node; `free` counts all its free GPUs."""
    members: dict[tuple, list[str]] = defaultdict(list)
    for node in inventory.nodes:
        labels = tuple((k, v) for k, v in node.labels if k in label_keys) if label_keys and node.labels else ()
        count = free = 0
        for g in node.gpus:
            count += g.count
            free += g.free
        members[(node.cluster, labels, node.arch, node.driver_version, node.cached_components, count, free)].append(
            node.name)
    # Groups are ordered by first member (node names are unique: one CPU group per node); each
    # frozen group is built once with its final index and shares one Target per arch.
    order = sorted(members, key=lambda k: min(members[k]))
    targets: dict[str, Target] = {}
    groups = []
    for i, key in enumerate(order):
        cluster, labels, arch, driver, cached, count, free = key
        target = targets.get(arch)
        if target is None:
            target = targets[arch] = Target(platform=arch)
        groups.append(NodeGroup(index=i, nodes=tuple(sorted(members[key])), cluster=cluster, labels=labels,
                                arch=arch, driver=driver, target=target, gpu_product=None, gpu_id=None,
                                memory_mib=None, count=count, free=free, cached=cached))
    return tuple(groups)


def planning_driver(catalog: Catalog, cc: Version | None = None) -> Version | None:
    """The driver assumed in planning mode: the newest any catalog CUDA toolkit requires.

    For a GPU whose architecture has a last driver branch (R580 for Maxwell, Pascal, Volta), the
    newest such minimum within that branch: a current driver for that GPU, not one that dropped it.
    """
    return current_driver(catalog, cc)  # keeps the catalog's spelling


def planning_groups(catalog: Catalog, request: ModelRequest) -> tuple[NodeGroup, ...]:
    """One group per catalog GPU product of the request's planning segments (hardware planning:
    no inventory, no node names)."""
    count = max(request.gpu_count, 1)
    allowed = request.arch or ("x86_64", "aarch64")
    segments = request.planning_segments
    groups = []
    for gpu in sorted(catalog.gpus, key=lambda g: g.name):
        if gpu.segment not in segments:
            continue
        driver = planning_driver(catalog, gpu.cc)
        # a GPU that exists on one host arch only (Thor, T4000: aarch64) is planned on it; a request
        # that does not allow that arch then refuses it (arch-not-allowed), never plans it elsewhere
        host = gpu_host_arch(gpu) or ("x86_64" if "x86_64" in allowed else allowed[0])
        platform = gpu_platform(gpu, host)
        arch = "aarch64" if platform in ("jetson", "aarch64") else "x86_64"
        target = Target(platform=platform, cc=gpu.cc, product=gpu.name, driver=driver)
        groups.append(NodeGroup(index=len(groups), nodes=(), cluster=None, labels=(), arch=arch, driver=driver,
                                target=target, gpu_product=gpu.name, gpu_id=gpu.id, memory_mib=gpu.memory_mib,
                                count=count, free=count, cached=frozenset()))
    return tuple(groups)


def node_rule_names(ix: CatalogIndex, request: ModelRequest, group: NodeGroup,
                    target_rules: dict | None = None) -> tuple[str, ...]:
    """`tuple(c.rule for c in node_checks(...))` without building messages (`target_rules`: a memo)."""
    out: list[str] = []
    if request.arch is not None and group.arch not in request.arch:
        out.append("arch-not-allowed")
    if not request.uses_gpu:
        return tuple(out)
    if group.target.cc is None:
        out.append("no-gpu")
        return tuple(out)
    need = request.min_memory_mib
    if need and (group.memory_mib is None or group.memory_mib < need):
        out.append("gpu-memory")
    if group.count < request.gpu_count:
        out.append("gpu-count")
    elif group.free < request.gpu_count:
        out.append("no-free-gpu")
    memo = target_rules if target_rules is not None else {}
    found = memo.get(group.target)
    if found is None:
        found = memo[group.target] = tuple(c.rule for c in target_failures(ix, request, group.target))
    return (*out, *found)


def node_checks(ix: CatalogIndex, request: ModelRequest, group: NodeGroup) -> tuple[Check, ...]:
    """Node rules for one group: arch allowed, GPU presence/memory/count/free, precision, engine CC."""
    out: list[Check] = []
    where = f"node {group.representative}" if group.nodes else (group.gpu_product or "this product")
    if request.arch is not None and group.arch not in request.arch:
        out.append(Check("arch-not-allowed", False, f"{where} is {group.arch}; the request allows "
                         f"{', '.join(request.arch)}", (), f"allow arch {group.arch}",
                         component="arch", need=", ".join(request.arch), have=group.arch))
    if not request.uses_gpu:
        return tuple(out)
    if group.target.cc is None:
        out.append(Check("no-gpu", False, f"{where} has no GPU; the request needs {request.gpu_count}", (),
                         component="gpu", need=f"{request.gpu_count} GPU(s)", have="no GPU"))
        return tuple(out)
    need = request.min_memory_mib
    if need and (group.memory_mib is None or group.memory_mib < need):
        have = f"{group.memory_mib} MiB" if group.memory_mib is not None else "unknown memory"
        what = f"{group.gpu_product} MIG {group.mig_profile}" if group.mig_profile else group.gpu_product
        out.append(Check("gpu-memory", False, f"{what} on {where} has {have}; the model needs "
                         f"{request.min_gpu_memory_gib:g} GiB ({need} MiB) per GPU"
                         + (f" ({group.name_note})" if group.name_note else ""), (),
                         f"use a GPU with >= {request.min_gpu_memory_gib:g} GiB",
                         component="gpu", need=f"{need} MiB per GPU", have=have))
    if group.count < request.gpu_count and group.mig_profile is not None:
        out.append(Check("gpu-count", False, f"{where} offers {group.gpu_product} as MIG {group.mig_profile} "
                         f"devices; a process can use one MIG device (NVIDIA MIG User Guide: only enumeration "
                         f"of a single MIG instance is supported) and the model needs {request.gpu_count} GPUs",
                         (), f"use {request.gpu_count} whole GPUs on one node (MIG disabled), or one MIG device",
                         component="gpu", need=f"{request.gpu_count} whole GPU(s)",
                         have=f"MIG {group.mig_profile} devices"))
    elif group.count < request.gpu_count:
        out.append(Check("gpu-count", False, f"{where} has {group.count} x {group.gpu_product}; the model needs "
                         f"{request.gpu_count}", (), f"use a node with >= {request.gpu_count} GPUs",
                         component="gpu", need=f"{request.gpu_count} GPU(s)", have=f"{group.count} GPU(s)"))
    elif group.free < request.gpu_count:
        out.append(Check("no-free-gpu", False, f"{where} has {group.free} of {group.count} {group.gpu_product} "
                         f"free; the model needs {request.gpu_count}", (),
                         f"free {request.gpu_count - group.free} more GPU(s), or wait for them to be freed",
                         component="gpu", need=f"{request.gpu_count} free GPU(s)", have=f"{group.free} free"))
    out.extend(target_failures(ix, request, group.target))
    return tuple(out)
