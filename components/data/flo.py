"""Middlebury `.flo` optical-flow files (the format of MPI-Sintel and of exported predictions).

Layout, little-endian: float32 tag 202021.25 (the bytes spell "PIEH"), int32 width, int32 height, then
height x width (u, v) float32 pairs, row-major and interleaved. Components beyond 1e9 in magnitude mean "unknown"
(writers use 1e10). The size is checked against the header, never silently cut or padded.
"""
from __future__ import annotations

from pathlib import Path

import numpy as np

from components.errors import PixelpredError

TAG = np.float32(202021.25)
UNKNOWN_THRESHOLD = 1e9
UNKNOWN_VALUE = np.float32(1e10)
_HEADER_BYTES = 12
_MAX_PIXELS = 10**8  # the Sintel SDK's sanity bound on width x height


def flo_bytes(flow: np.ndarray) -> bytes:
    """Flow (H, W, 2) (u = dx, v = dy, pixels) -> the bytes of a .flo file."""
    flow = np.asarray(flow)
    if flow.ndim != 3 or flow.shape[2] != 2 or flow.shape[0] < 1 or flow.shape[1] < 1:
        raise ValueError(f"flow must be H x W x 2, got {flow.shape}")
    height, width = flow.shape[:2]
    header = np.array([TAG], "<f4").tobytes() + np.array([width, height], "<i4").tobytes()
    return header + np.ascontiguousarray(flow, dtype="<f4").tobytes()


def flow_from_flo_bytes(data: bytes, where: str = ".flo data") -> np.ndarray:
    """Bytes of a .flo file -> flow (H, W, 2) float32; PixelpredError on a bad tag, size or truncation."""
    if len(data) < _HEADER_BYTES:
        raise PixelpredError(f"{where}: {len(data)} bytes, shorter than the .flo header")
    tag = np.frombuffer(data, "<f4", 1)[0]
    width, height = (int(x) for x in np.frombuffer(data, "<i4", 2, offset=4))
    if tag != TAG:
        raise PixelpredError(f"{where}: tag {tag!r} is not {TAG} ('PIEH'): not a .flo file, or big-endian")
    if width < 1 or height < 1 or width * height > _MAX_PIXELS:
        raise PixelpredError(f"{where}: implausible size {width} x {height}")
    expected = _HEADER_BYTES + 8 * width * height
    if len(data) != expected:
        raise PixelpredError(f"{where}: {len(data)} bytes, but a {width} x {height} flow needs {expected}")
    return np.frombuffer(data, "<f4", offset=_HEADER_BYTES).reshape(height, width, 2).astype(np.float32)


def write_flo(path: Path, flow: np.ndarray) -> None:
    Path(path).write_bytes(flo_bytes(flow))


def read_flo(path: Path) -> np.ndarray:
    return flow_from_flo_bytes(Path(path).read_bytes(), str(path))


def unknown(flow: np.ndarray) -> np.ndarray:
    """Flow (H, W, 2) -> (H, W) bool: True where either component is flagged unknown (|value| > 1e9) or not finite."""
    return ~np.isfinite(flow).all(axis=-1) | (np.abs(flow) > UNKNOWN_THRESHOLD).any(axis=-1)
