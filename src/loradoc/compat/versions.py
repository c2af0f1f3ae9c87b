"""Parsing helpers shared by the matrix loader, its queries and the doctor's rules.

Everything here is tolerant: a string that does not parse gives ``None``, never an exception,
because bug reports carry versions like ``"535"`` or ``"12.4 "``.
"""

from __future__ import annotations

import re

from packaging.version import InvalidVersion, Version

_VARIANT = re.compile(r"^cu(\d{1,2})(\d)$")  # cu92 (CUDA 9.2) through cu132
_CC = re.compile(r"^(\d{1,2})\.(\d)$")


def parse_version(text: str | None) -> Version | None:
    """A PEP 440 version, or None. ``"2.5.1+cu124"`` keeps its local tag."""
    if not text:
        return None
    try:
        return Version(str(text).strip())
    except InvalidVersion:
        return None


def public(text: str | None) -> str | None:
    """``"2.5.1+cu124"`` -> ``"2.5.1"``."""
    v = parse_version(text)
    return v.public if v else None


def local_tag(text: str | None) -> str | None:
    """``"2.5.1+cu124"`` -> ``"cu124"``; None without a local tag."""
    v = parse_version(text)
    return v.local if v else None


def series(text: str | None) -> str | None:
    """``"2.10.1+cu128"`` -> ``"2.10"`` (the major.minor a torch release belongs to)."""
    v = parse_version(text)
    if v is None or len(v.release) < 2:
        return None
    return f"{v.release[0]}.{v.release[1]}"


def variant_cuda(variant: str | None) -> str | None:
    """``"cu124"`` -> ``"12.4"``, ``"cu130"`` -> ``"13.0"``; None for cpu/rocm/unknown."""
    m = _VARIANT.match(variant or "")
    if not m:
        return None
    return f"{int(m.group(1))}.{m.group(2)}"


def cuda_variant(cuda: str | None) -> str | None:
    """``"12.4"`` (or ``"12.4.127"``) -> ``"cu124"``."""
    t = cuda_tuple(cuda)
    if t is None:
        return None
    return f"cu{t[0]}{t[1]}"


def cuda_tuple(cuda: str | None) -> tuple[int, int] | None:
    """``"12.4.127"`` -> ``(12, 4)``. Also the driver API's ``"12080"`` (``"9010"`` before CUDA 10),
    xformers' ``"1201"`` and a variant's ``"124"``."""
    if cuda is None:
        return None
    text = str(cuda).strip()
    if text.isdigit() and len(text) == 5:  # driver API: 1000 * major + 10 * minor ("12080")
        n = int(text)
        return (n // 1000, (n % 1000) // 10)
    if text.isdigit() and len(text) == 4 and text[0] != "1":  # driver API before CUDA 10 ("9010")
        n = int(text)
        return (n // 1000, (n % 1000) // 10)
    if text.isdigit() and len(text) == 4:  # xformers build info: 100 * major + minor ("1201")
        return (int(text[:2]), int(text[2:]))
    if text.isdigit() and len(text) == 3:  # a variant's digits ("124")
        return (int(text[:2]), int(text[2]))
    parts = text.split(".")
    try:
        major = int(parts[0])
        minor = int(parts[1]) if len(parts) > 1 and parts[1] else 0
    except ValueError:
        return None
    return (major, minor)


def cuda_str(t: tuple[int, int]) -> str:
    return f"{t[0]}.{t[1]}"


def cuda_from_driver_api(value: str | int) -> str | None:
    """cuDriverGetVersion / torch's ``found version 12080`` -> ``"12.8"``."""
    t = cuda_tuple(str(value))
    return cuda_str(t) if t else None


def driver_tuple(driver: str | None) -> tuple[int, ...] | None:
    """``"535.104.05"`` -> ``(535, 104, 5)``; ``"580"`` -> ``(580,)``."""
    if not driver:
        return None
    out: list[int] = []
    for part in str(driver).strip().split("."):
        if not part.isdigit():
            return None if not out else tuple(out)
        out.append(int(part))
    return tuple(out) if out else None


def driver_at_least(driver: str, floor: str) -> bool | None:
    """Compare driver versions numerically (``"580"`` counts as 580.0.0)."""
    d, f = driver_tuple(driver), driver_tuple(floor)
    if d is None or f is None:
        return None
    width = max(len(d), len(f))
    return d + (0,) * (width - len(d)) >= f + (0,) * (width - len(f))


def cc_tuple(cc: str | None) -> tuple[int, int] | None:
    """``"8.6"`` -> ``(8, 6)``; also ``"86"``, ``"sm_86"`` and ``"12.0"``."""
    if not cc:
        return None
    text = str(cc).strip().lower().removeprefix("sm_").removeprefix("compute_")
    m = _CC.match(text)
    if m:
        return (int(m.group(1)), int(m.group(2)))
    if text.isdigit() and 2 <= len(text) <= 3:
        return (int(text[:-1]), int(text[-1]))
    return None


def cc_str(t: tuple[int, int]) -> str:
    return f"{t[0]}.{t[1]}"


def python_mm(python: str | None) -> str | None:
    """``"3.11.7"`` -> ``"3.11"``."""
    v = parse_version(python)
    if v is None or len(v.release) < 2:
        return None
    return f"{v.release[0]}.{v.release[1]}"


def cc_at_least(cc: str | None, floor: str | None) -> bool | None:
    """``cc_at_least("7.5", "8.0")`` -> False; None when either does not parse."""
    a, b = cc_tuple(cc), cc_tuple(floor)
    if a is None or b is None:
        return None
    return a >= b
