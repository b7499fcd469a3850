"""Version and range helpers on top of `packaging` (never a re-implementation of it).

Catalog versions are `packaging.version.Version`; ranges are `SpecifierSet`. A few domain
comparisons need more than PEP 440 equality: a PyTorch wheel bundles cuDNN "9.1.0.70" and the
cuDNN release record is "9.1.0" (a *prefix* match); a wheel's "cu124" means CUDA 12.4 (a
major.minor *series* match against toolkit "12.4.1"). Those live here, once.
"""

from __future__ import annotations

import re

from packaging.specifiers import InvalidSpecifier, SpecifierSet
from packaging.version import InvalidVersion, Version

__all__ = [
    "DriverVersion",
    "InvalidSpecifier",
    "InvalidVersion",
    "SpecifierSet",
    "TegraDriver",
    "Version",
    "cuda_from_variant",
    "is_prefix",
    "parse_driver",
    "parse_spec",
    "parse_version",
    "same_series",
    "series",
    "spec_allows",
]

_CU_VARIANT = re.compile(r"^cu(\d{2,3})$")


def parse_version(text: object) -> Version:
    """Parse a version written as a string (numbers from YAML are refused: `12.10` != `12.1`)."""
    if not isinstance(text, str):
        raise InvalidVersion(f"expected a quoted version string, got {type(text).__name__} {text!r}")
    return Version(text.strip())


class DriverVersion(Version):
    """An NVIDIA driver version that prints as written: "580.65.06", not PEP 440's "580.65.6".

    Compares, hashes and sorts exactly like `Version`; only `str()` keeps the vendor's spelling,
    so messages such as "upgrade the driver to >= 580.65.06" match what nvidia-smi shows.
    """

    def __init__(self, text: str) -> None:
        super().__init__(text)
        self._text = text.strip()

    def __str__(self) -> str:
        return self._text

    def __reduce__(self) -> tuple[type[DriverVersion], tuple[str]]:
        # `Version` pickles its slots only; keep the spelling (the compiled catalog cache pickles these).
        return (DriverVersion, (self._text,))


class TegraDriver(DriverVersion):
    """A Jetson (Tegra) driver as the rules compare it: by the CUDA version it supports.

    Tegra drivers are numbered apart from the desktop/data-center drivers that CUDA's Table 3
    minimums and driver-branch windows describe (an AGX Thor on JetPack 7.0 reports driver 580.00
    with CUDA 13.0, below CUDA 13.0's desktop minimum 580.65.06; catalog fact jet.tegra_driver_numbers).
    So it compares, hashes for ordering and sorts as `equivalent`: the desktop minimum of the CUDA
    series it supports (`cuda`), which meets exactly the rules a desktop driver of that CUDA meets.
    `reported` is what the node reported (None: no driver number, e.g. a JetPack 5 node known by
    its L4T release only); `basis` says where `cuda` came from. `cuda` None: the CUDA version is
    unknown and `equivalent` is the reported number itself (judged as a desktop number, which
    Tegra numbers trail: conservative), and the answer carries the gap (`gap`).
    Equality also needs the same report, so memo tables never mix a Tegra and a desktop driver.
    """

    def __init__(self, reported: str | None, equivalent: Version, cuda: Version | None, basis: str) -> None:
        super().__init__(str(equivalent))
        self.reported = reported
        self.equivalent = equivalent
        self.cuda = cuda
        self.basis = basis
        if cuda is None:
            self._text = (f"{reported} (Jetson driver; its CUDA version unknown, so compared as a desktop driver: "
                          "report cuda_driver_version or l4t_version)")
        else:
            self._text = f"{reported or 'none reported'} (Jetson driver for CUDA {cuda}, {basis}; compared as {equivalent})"

    @property
    def gap(self) -> str | None:
        """The fact a verdict on this driver lacks (None: its CUDA version is known)."""
        if self.cuda is not None:
            return None
        return (f"the CUDA version of Jetson driver {self.reported} is unknown (no cuda_driver_version or l4t_version "
                "in the inventory, and the catalog records no JetPack with that driver number): it was compared with "
                "the desktop driver minimums, which Jetson driver numbers do not follow")

    def __eq__(self, other: object) -> bool:
        if not isinstance(other, TegraDriver):
            return False
        return (self.reported, self.cuda, self.equivalent) == (other.reported, other.cuda, other.equivalent)

    def __ne__(self, other: object) -> bool:
        return not self.__eq__(other)

    def __hash__(self) -> int:
        return hash(("tegra", self.reported, self.cuda, self.equivalent))

    def __reduce__(self) -> tuple:  # type: ignore[override]
        return (TegraDriver, (self.reported, self.equivalent, self.cuda, self.basis))


def parse_driver(text: object) -> DriverVersion:
    """Parse a driver version string ("535.104.05"); refuses unquoted YAML numbers."""
    if not isinstance(text, str):
        raise InvalidVersion(f"expected a quoted driver version string, got {type(text).__name__} {text!r}")
    return DriverVersion(text)


def parse_spec(text: object) -> SpecifierSet:
    """Parse a PEP 440 specifier set; a bare version "1.2" means "==1.2"."""
    if not isinstance(text, str):
        raise InvalidSpecifier(f"expected a quoted specifier string, got {type(text).__name__} {text!r}")
    text = text.strip()
    if text and text[0].isdigit():
        parse_version(text)
        text = f"=={text}"
    return SpecifierSet(text)


def spec_allows(spec: SpecifierSet, version: Version) -> bool:
    """True when `version` satisfies `spec` (pre-releases allowed: catalog data is explicit).

    `===X` (arbitrary equality) means "exactly this build": a valid version X is compared as a
    version, local label included, not as a string, because catalog versions are normalised
    (2.0.0+nv23.05 reads as 2.0.0+nv23.5, and a string comparison would miss the very label a
    user copied from `rtfit catalog list`)."""
    if not any(s.operator == "===" for s in spec):
        return spec.contains(version, prereleases=True)
    for one in spec:
        if one.operator == "===":
            try:
                if Version(one.version) != version:
                    return False
            except InvalidVersion:
                if str(version).lower() != one.version.lower():
                    return False
        elif not one.contains(version, prereleases=True):
            return False
    return True


def series(version: Version, parts: int = 2) -> tuple[int, ...]:
    """The first `parts` numbers of a version, zero-padded: 12.4.1 -> (12, 4)."""
    release = tuple(version.release) + (0,) * parts
    return release[:parts]


def same_series(a: Version, b: Version, parts: int = 2) -> bool:
    return series(a, parts) == series(b, parts)


def is_prefix(prefix: Version, full: Version) -> bool:
    """True when `prefix`'s release numbers start `full`'s: 9.1.0 is a prefix of 9.1.0.70."""
    p, f = tuple(prefix.release), tuple(full.release)
    return len(p) <= len(f) and f[: len(p)] == p


def cuda_from_variant(variant: str | None) -> Version | None:
    """The CUDA series a wheel label names: "cu124" -> 12.4, "cu118" -> 11.8, "cpu" -> None."""
    if not variant:
        return None
    m = _CU_VARIANT.match(variant)
    if not m:
        return None
    digits = m.group(1)
    return Version(f"{digits[:-1]}.{digits[-1]}")
