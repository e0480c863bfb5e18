"""Resumable HTTP downloads (components/storage/http.py) against a loopback server that drops connections.

Proven: a download over a link that breaks mid-file ends with exactly the right bytes in 20 of 20 randomised
trials (sizes, drop points), fetching little more than the file (it resumes, it does not restart); a part
left by an earlier run is continued from its last byte; a server without range support, or whose file
changed (If-Range), restarts from zero; a missing file and an unreachable host fail in one line.
"""
from __future__ import annotations

import hashlib
import random
import time

import pytest

from components.storage.http import DownloadError, HttpSettings, download
from tests.services import FileServer, free_port

FAST = HttpSettings(attempts=50, backoff_s=0.0, timeout_s=5.0)


def test_whole_file_in_one_request(tmp_path):
    data = random.Random(0).randbytes(300_000)
    with FileServer({"a.bin": data}) as server:
        path = download(server.url("a.bin"), tmp_path / "a.bin", FAST)
    assert path.read_bytes() == data and server.requests == 1
    assert sorted(p.name for p in tmp_path.iterdir()) == ["a.bin"]     # no .part or validator left


def test_resumes_after_dropped_connections_20_of_20(tmp_path):
    rng = random.Random(20)
    started = time.monotonic()
    resumed = 0
    for trial in range(20):
        data = rng.randbytes(rng.randrange(50_000, 1_500_000))
        with FileServer({"f.tar": data}, drop=0.8, seed=trial) as server:
            path = download(server.url("f.tar"), tmp_path / f"t{trial}" / "f.tar", FAST)
        assert hashlib.sha256(path.read_bytes()).hexdigest() == hashlib.sha256(data).hexdigest(), trial
        resumed += server.requests > 1
        # Resuming sends each byte about once; restarting after drops at random points would send ~2x or more.
        assert server.bytes_sent <= len(data) + server.requests * 2**16, (trial, server.bytes_sent, len(data))
    assert resumed >= 15, resumed
    assert time.monotonic() - started < 60


def test_continues_a_part_left_by_an_earlier_run(tmp_path):
    data = random.Random(1).randbytes(400_000)
    dest = tmp_path / "b.bin"
    with FileServer({"b.bin": data}) as server:
        download(server.url("b.bin"), dest, FAST)
        dest.rename(dest.with_name("b.bin.part"))
        dest.with_name("b.bin.part").write_bytes(data[:123_456])     # a run killed at byte 123456, no validator
        server.bytes_sent = 0
        download(server.url("b.bin"), dest, FAST)
    assert dest.read_bytes() == data
    assert server.bytes_sent == len(data) - 123_456


def test_server_without_ranges_restarts_from_zero(tmp_path):
    data = random.Random(2).randbytes(200_000)
    with FileServer({"c.bin": data}, drop=0.5, ranges=False, seed=3) as server:
        path = download(server.url("c.bin"), tmp_path / "c.bin", FAST)
    assert path.read_bytes() == data


def test_changed_file_is_fetched_again_whole(tmp_path):
    old, new = b"old" * 50_000, b"new" * 60_000
    dest = tmp_path / "d.bin"
    with FileServer({"d.bin": old}, drop=1.0, seed=5) as server:
        with pytest.raises(DownloadError):           # every answer breaks: some of `old` is left in the part
            download(server.url("d.bin"), dest, HttpSettings(attempts=2, backoff_s=0.0, timeout_s=5.0))
        assert dest.with_name("d.bin.part").exists()
        server.files["d.bin"], server.drop = new, 0.0  # upstream changed: If-Range no longer matches -> 200
        download(server.url("d.bin"), dest, FAST)
    assert dest.read_bytes() == new


def test_missing_file_and_unreachable_host_fail_in_one_line(tmp_path):
    with FileServer({}) as server:
        with pytest.raises(DownloadError, match="HTTP 404"):
            download(server.url("nope.zip"), tmp_path / "nope.zip", FAST)
    started = time.monotonic()
    with pytest.raises(DownloadError, match="gave up after 3 attempts"):
        download(f"http://127.0.0.1:{free_port()}/x", tmp_path / "x", HttpSettings(attempts=3, backoff_s=0.01))
    assert time.monotonic() - started < 10
