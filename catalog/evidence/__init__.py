"""Evidence read from the artifacts themselves: wheels, their metadata and their GPU code.

`read_wheel` reads a local wheel (or any seekable stream of one); `registry.probe` asks the
registry (pip's resolver in metadata-only mode, the index, HTTP range reads); `check_evidence`
compares an `Evidence` with the catalog build it describes. Evidence is stored as small JSON
files under `catalog/data/evidence/` (see `record` for the format) and cited by catalog builds.
"""

from catalog.evidence.check import (
    FRAMEWORK_OF,
    Mismatch,
    check_evidence,
    checkable,
    evidence_problems,
    find_build,
)
from catalog.evidence.fatbin import FatbinEntry, FatbinError, device_code, parse_fatbin
from catalog.evidence.pins import Pin, components, nvidia_pins
from catalog.evidence.record import (
    EVIDENCE_DIR,
    Evidence,
    EvidenceInvalid,
    evidence_name,
    load_evidence,
    load_evidence_dir,
    summarise_device_code,
)
from catalog.evidence.registry import RangeFile, RegistryError, probe
from catalog.evidence.wheel import WheelError, read_wheel

__all__ = [
    "EVIDENCE_DIR",
    "FRAMEWORK_OF",
    "Evidence",
    "EvidenceInvalid",
    "FatbinEntry",
    "FatbinError",
    "Mismatch",
    "Pin",
    "RangeFile",
    "RegistryError",
    "WheelError",
    "check_evidence",
    "checkable",
    "components",
    "device_code",
    "evidence_name",
    "evidence_problems",
    "find_build",
    "load_evidence",
    "load_evidence_dir",
    "nvidia_pins",
    "parse_fatbin",
    "probe",
    "read_wheel",
    "summarise_device_code",
]
