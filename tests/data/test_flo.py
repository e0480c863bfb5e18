"""The Middlebury .flo format: byte layout written out by hand with struct, round trips, and every check."""
from __future__ import annotations

import struct

import numpy as np
import pytest

from components.data.flo import UNKNOWN_VALUE, flo_bytes, flow_from_flo_bytes, read_flo, unknown, write_flo
from components.errors import PixelpredError


def test_bytes_follow_the_middlebury_layout() -> None:
    flow = np.zeros((2, 3, 2), np.float32)
    flow[..., 0] = [[0.5, 1.0, -2.0], [3.25, 0.0, 7.0]]    # u
    flow[..., 1] = [[-1.5, 2.0, 4.0], [0.125, -8.0, 9.0]]  # v
    data = flo_bytes(flow)
    assert data[:4] == b"PIEH"
    assert struct.unpack("<fii", data[:12]) == (202021.25, 3, 2)  # width first, then height
    values = struct.unpack("<12f", data[12:])
    # Row-major, each pixel's (u, v) interleaved.
    assert values == (0.5, -1.5, 1.0, 2.0, -2.0, 4.0, 3.25, 0.125, 0.0, -8.0, 7.0, 9.0)


def test_round_trip_through_a_file(tmp_path) -> None:
    flow = np.random.default_rng(0).normal(0, 5, (17, 23, 2)).astype(np.float32)
    flow[3, 4] = UNKNOWN_VALUE
    write_flo(tmp_path / "a.flo", flow)
    back = read_flo(tmp_path / "a.flo")
    assert back.dtype == np.float32 and back.shape == (17, 23, 2)
    np.testing.assert_array_equal(back, flow)
    assert unknown(back).sum() == 1 and unknown(back)[3, 4]


def test_unknown_marks_huge_and_non_finite_values() -> None:
    flow = np.zeros((1, 4, 2), np.float32)
    flow[0, 1, 0], flow[0, 2, 1], flow[0, 3, 0] = 1e10, -2e9, np.nan
    assert unknown(flow).tolist() == [[False, True, True, True]]


@pytest.mark.parametrize("damage, message", [
    (lambda d: d[:-4], "needs"),                                  # truncated
    (lambda d: d + b"\0" * 8, "needs"),                           # trailing data: never silently cut
    (lambda d: struct.pack(">f", 202021.25) + d[4:], "tag"),      # big-endian tag
    (lambda d: d[:4] + struct.pack("<ii", 0, 2) + d[12:], "size"),
    (lambda d: d[:8], "header"),
])
def test_bad_files_are_refused(damage, message) -> None:
    data = flo_bytes(np.ones((2, 3, 2), np.float32))
    with pytest.raises(PixelpredError, match=message):
        flow_from_flo_bytes(damage(data))


def test_writer_refuses_a_wrong_shape() -> None:
    with pytest.raises(ValueError):
        flo_bytes(np.zeros((4, 4, 3), np.float32))
