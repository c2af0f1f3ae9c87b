"""Read what a compiled extension links against, without loading it.

A CUDA extension (flash-attn, torch's ``libc10.so``) tells two things in its
ELF dynamic section:

- ``DT_NEEDED`` names such as ``libcudart.so.12``: the CUDA major it was built for;
- the C++ ABI, from the mangled ``c10::Error`` constructor it defines or calls:
  ``...SourceLocationENSt7__cxx1112basic_string...`` (cxx11 ABI) versus
  ``...SourceLocationESs`` (the pre-cxx11 ABI); compat-facts §8.

Only the ELF header, program headers, dynamic section and dynamic string table
are read (a few hundred KB even for a 1 GB ``.so``). Linux only; anything
unexpected returns ``None``.
"""

from __future__ import annotations

import re
import struct
from dataclasses import dataclass, field
from typing import BinaryIO

_PT_LOAD, _PT_DYNAMIC = 1, 2
_DT_NULL, _DT_NEEDED, _DT_STRTAB, _DT_STRSZ = 0, 1, 5, 10
_MAX_STRTAB = 64 << 20

_CXX11_C10 = b"SourceLocationENSt7__cxx1112basic_string"
_OLD_C10 = b"SourceLocationESs"
_CUDART = re.compile(r"^libcudart\.so\.(\d+)")


@dataclass
class ElfInfo:
    needed: list[str] = field(default_factory=list)
    cxx11_abi: bool | None = None

    @property
    def cudart_major(self) -> str | None:
        """``"12"`` for an object that needs ``libcudart.so.12``."""
        for name in self.needed:
            m = _CUDART.match(name)
            if m:
                return m.group(1)
        return None


def read_elf(path: str) -> ElfInfo | None:
    try:
        with open(path, "rb") as fh:
            return _read(fh)
    except (OSError, struct.error, ValueError):
        return None


def abi_from_strings(blob: bytes) -> bool | None:
    """The C++ ABI a torch extension uses, from its dynamic string table."""
    if _CXX11_C10 in blob:
        return True
    if _OLD_C10 in blob:
        return False
    return None


def _read(fh: BinaryIO) -> ElfInfo | None:
    ident = fh.read(16)
    if len(ident) < 16 or ident[:4] != b"\x7fELF":
        return None
    is64 = ident[4] == 2
    end = "<" if ident[5] == 1 else ">"
    if is64:
        hdr = struct.unpack(end + "HHIQQQIHHHHHH", fh.read(48))
    else:
        hdr = struct.unpack(end + "HHIIIIIHHHHHH", fh.read(36))
    phoff, phentsize, phnum = hdr[4], hdr[8], hdr[9]
    if not phoff or not phnum or phnum > 4096:
        return None

    loads: list[tuple[int, int, int]] = []  # (vaddr, offset, filesz)
    dynamic: tuple[int, int] | None = None  # (offset, filesz)
    for i in range(phnum):
        fh.seek(phoff + i * phentsize)
        raw = fh.read(phentsize)
        if is64:
            p_type, _flags, off, vaddr, _paddr, filesz = struct.unpack(end + "IIQQQQ", raw[:40])
        else:
            p_type, off, vaddr, _paddr, filesz = struct.unpack(end + "IIIII", raw[:20])
        if p_type == _PT_LOAD:
            loads.append((vaddr, off, filesz))
        elif p_type == _PT_DYNAMIC:
            dynamic = (off, filesz)
    if dynamic is None:
        return ElfInfo()

    entry = struct.Struct(end + ("qQ" if is64 else "iI"))
    fh.seek(dynamic[0])
    data = fh.read(min(dynamic[1], 1 << 20))
    needed_offsets: list[int] = []
    strtab_addr = strsz = None
    for pos in range(0, len(data) - entry.size + 1, entry.size):
        tag, val = entry.unpack_from(data, pos)
        if tag == _DT_NULL:
            break
        if tag == _DT_NEEDED:
            needed_offsets.append(val)
        elif tag == _DT_STRTAB:
            strtab_addr = val
        elif tag == _DT_STRSZ:
            strsz = val
    if strtab_addr is None or not strsz or strsz > _MAX_STRTAB:
        return ElfInfo()
    offset = _file_offset(loads, strtab_addr)
    if offset is None:
        return ElfInfo()
    fh.seek(offset)
    strtab = fh.read(strsz)
    needed = []
    for off in needed_offsets:
        stop = strtab.find(b"\0", off)
        if 0 <= off < len(strtab) and stop > off:
            needed.append(strtab[off:stop].decode("utf-8", "replace"))
    return ElfInfo(needed=needed, cxx11_abi=abi_from_strings(strtab))


def _file_offset(loads: list[tuple[int, int, int]], addr: int) -> int | None:
    for vaddr, off, filesz in loads:
        if vaddr <= addr < vaddr + filesz:
            return addr - vaddr + off
    return None
