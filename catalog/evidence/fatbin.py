"""CUDA device code inside an ELF shared library, read in pure Python (no cuobjdump).

nvcc embeds the GPU code of a library in the ELF section `.nv_fatbin` (`__nv_relfatbin` for
relocatable device code). That section holds one or more *fatbin containers*; each container
holds entries, one per compiled target:

    container header (16 bytes): magic 0xBA55ED50 (u32), version (u16), header size (u16),
                                 size of the entries that follow (u64)
    entry header (>= 64 bytes):  kind (u16: 1 = PTX, 2 = ELF/SASS, 8 = LTO IR), version (u16),
                                 header size (u32), payload size (u64), compressed size (u32),
                                 ... , format minor, major (u16, u16) at 24 (for PTX: the
                                 PTX ISA version, e.g. 8.4 = CUDA 12.4's),
                                 target arch (u32, e.g. 90 for sm_90) at 28, flags (u64) at 40,
                                 uncompressed size (u64) at 56

Flags (observed with nvcc 13.0, see tests/catalog/test_evidence_fatbin.py for the compiler runs
that pin them): 0x2000 = payload LZ4-compressed, 0x8000 = payload zstd-compressed, 0x100000 =
arch-specific target (`sm_90a`), 0x200000 = family target (`sm_100f`). The header itself is never
compressed, so the target of a compressed entry is read from it without decompressing anything.

Reading is linear in the section size and bounded: every offset is checked against the data, a
malformed container raises `FatbinError` naming the offset.
"""

from __future__ import annotations

import struct
from dataclasses import dataclass
from typing import BinaryIO

from catalog.errors import CatalogError

__all__ = [
    "FATBIN_SECTIONS",
    "FatbinEntry",
    "FatbinError",
    "device_code",
    "elf_sections",
    "parse_fatbin",
]

FATBIN_SECTIONS = (".nv_fatbin", "__nv_relfatbin")
_MAGIC = 0xBA55ED50
_KINDS = {1: "ptx", 2: "sass", 8: "lto"}
_FLAG_LZ4 = 0x2000
_FLAG_ZSTD = 0x8000
_FLAG_ARCH_SPECIFIC = 0x100000
_FLAG_FAMILY = 0x200000
_ENTRY_MIN = 64
_TAIL = 1 << 16


class FatbinError(CatalogError, ValueError):
    """A library's ELF or fatbin structure is malformed; the message names where."""


@dataclass(frozen=True, order=True)
class FatbinEntry:
    """One compiled target in a fatbin: `sm_90a` SASS, `compute_80` PTX, ..."""

    kind: str  # "sass" | "ptx" | "lto" | "kind-N"
    arch: int  # 90 for sm_90 / compute_90, 100 for sm_100, 89 for sm_89
    suffix: str = ""  # "" | "a" (arch-specific) | "f" (family)
    compression: str = "none"  # "none" | "lz4" | "zstd" | "unknown"
    size: int = 0  # payload bytes as stored
    isa: str = ""  # PTX entries: the PTX ISA version ("8.4"), which names the toolkit that wrote it

    @property
    def cc(self) -> str:
        """The compute capability as the catalog writes it: 90 -> "9.0", 100 -> "10.0", 89 -> "8.9"."""
        return f"{self.arch // 10}.{self.arch % 10}"

    @property
    def name(self) -> str:
        """nvcc's name for the target: sm_90a, compute_80, lto_80."""
        prefix = {"sass": "sm", "ptx": "compute", "lto": "lto"}.get(self.kind, self.kind)
        return f"{prefix}_{self.arch}{self.suffix}"


def parse_fatbin(data: bytes, *, where: str = "fatbin") -> list[FatbinEntry]:
    """Every entry of every container in a `.nv_fatbin` section's bytes, in file order."""
    entries: list[FatbinEntry] = []
    pos = 0
    end = len(data)
    while pos + 16 <= end:
        magic, _version, header_size, size = struct.unpack_from("<IHHQ", data, pos)
        if magic != _MAGIC:
            pos += 8  # containers are 8-byte aligned; padding (zeros) may sit between them
            continue
        if header_size < 16 or pos + header_size + size > end:
            raise FatbinError(f"{where}: fatbin container at offset {pos} claims {size} bytes; "
                              f"only {end - pos - header_size} remain")
        entries.extend(_entries(data, pos + header_size, pos + header_size + size, where))
        pos += header_size + size
    return entries


def _entries(data: bytes, start: int, stop: int, where: str) -> list[FatbinEntry]:
    out = []
    pos = start
    while pos + _ENTRY_MIN <= stop:
        kind, _ver, header_size, payload = struct.unpack_from("<HHIQ", data, pos)
        if header_size < _ENTRY_MIN or pos + header_size + payload > stop:
            raise FatbinError(f"{where}: fatbin entry at offset {pos} (header {header_size} bytes, payload "
                              f"{payload}) runs past its container end {stop}")
        minor, major, arch = struct.unpack_from("<HHI", data, pos + 24)
        flags = struct.unpack_from("<Q", data, pos + 40)[0]
        if flags & _FLAG_ZSTD:
            compression = "zstd"
        elif flags & _FLAG_LZ4:
            compression = "lz4"
        else:
            compression = "none"
        suffix = "a" if flags & _FLAG_ARCH_SPECIFIC else "f" if flags & _FLAG_FAMILY else ""
        name = _KINDS.get(kind, f"kind-{kind}")
        isa = f"{major}.{minor}" if name == "ptx" else ""
        out.append(FatbinEntry(name, arch, suffix, compression, payload, isa))
        pos += header_size + payload
    return out


def elf_sections(f: BinaryIO, names: tuple[str, ...] = FATBIN_SECTIONS, *, where: str = "library",
                 limit: int = 1 << 31) -> dict[str, bytes]:
    """The bytes of the named sections of the ELF file open in `f` (seekable); {} if not ELF.

    Reads the ELF header, the section headers and the section-name table, then the named
    sections in file order (so a forward-only stream, e.g. a zip member, is read at most
    twice). Sections larger than `limit` bytes are refused.
    """
    f.seek(0)
    ident = f.read(64)
    if len(ident) < 52 or ident[:4] != b"\x7fELF":
        return {}
    is64 = ident[4] == 2
    order = "<" if ident[5] == 1 else ">"
    if is64:
        shoff, = struct.unpack_from(order + "Q", ident, 0x28)
        shentsize, shnum, shstrndx = struct.unpack_from(order + "HHH", ident, 0x3A)
        shfmt = order + "IIQQQQIIQQ"
    else:
        shoff, = struct.unpack_from(order + "I", ident, 0x20)
        shentsize, shnum, shstrndx = struct.unpack_from(order + "HHH", ident, 0x2E)
        shfmt = order + "IIIIIIIIII"
    if shoff == 0:
        return {}
    if shentsize < struct.calcsize(shfmt):
        raise FatbinError(f"{where}: ELF section header size {shentsize} is too small")
    # The section-name table usually sits just before the section headers: read both in one go, so
    # a forward-only stream (a compressed zip member) is not decompressed a third time for it.
    tail_start = max(0, shoff - _TAIL)
    f.seek(tail_start)
    tail = f.read(shoff - tail_start)
    first = f.read(shentsize)
    if len(first) < shentsize:
        raise FatbinError(f"{where}: ELF section headers at {shoff} lie past the end of the file")
    sh0 = struct.unpack_from(shfmt, first)
    if shnum == 0:
        shnum = sh0[5]  # extended numbering: the count lives in section 0's size
    if shstrndx == 0xFFFF:
        shstrndx = sh0[6]
    if shnum > 1 << 20:
        raise FatbinError(f"{where}: ELF claims {shnum} sections")
    rest = f.read(shentsize * (shnum - 1))
    if len(rest) < shentsize * (shnum - 1):
        raise FatbinError(f"{where}: ELF section header table is truncated")
    table = first + rest
    headers = [struct.unpack_from(shfmt, table, i * shentsize) for i in range(shnum)]
    if not 0 < shstrndx < shnum:
        raise FatbinError(f"{where}: ELF section-name table index {shstrndx} out of range")
    # (name, type, flags, addr, offset, size, ...)
    str_off, str_size = headers[shstrndx][4], headers[shstrndx][5]
    if str_size > limit:
        raise FatbinError(f"{where}: ELF section-name table of {str_size} bytes")
    if tail_start <= str_off and str_off + str_size <= shoff:
        strtab = tail[str_off - tail_start:str_off - tail_start + str_size]
    else:
        f.seek(str_off)
        strtab = f.read(str_size)
    wanted = []
    for h in headers:
        name_off, sh_type, offset, size = h[0], h[1], h[4], h[5]
        if sh_type == 8 or name_off >= len(strtab):  # SHT_NOBITS holds no bytes in the file
            continue
        name = strtab[name_off:strtab.find(b"\0", name_off)].decode("latin-1")
        if name in names:
            if size > limit:
                raise FatbinError(f"{where}: section {name} of {size} bytes is larger than the {limit}-byte limit")
            wanted.append((offset, size, name))
    out: dict[str, bytes] = {}
    for offset, size, name in sorted(wanted):
        f.seek(offset)
        blob = f.read(size)
        if len(blob) < size:
            raise FatbinError(f"{where}: section {name} at {offset} is truncated")
        out[name] = out.get(name, b"") + blob
    return out


def device_code(f: BinaryIO, *, where: str = "library") -> list[FatbinEntry]:
    """Every fatbin entry of the ELF file open in `f`; [] for a non-ELF file or one without GPU code."""
    entries: list[FatbinEntry] = []
    for name, blob in elf_sections(f, where=where).items():
        entries.extend(parse_fatbin(blob, where=f"{where} {name}"))
    return entries
